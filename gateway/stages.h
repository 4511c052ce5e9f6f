/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_STAGES_H
#define FNG_GATEWAY_STAGES_H

#include "request.h"

/*
 * The request path as an ordered table of stages (stages.c). A stage returns
 * FNG_STAGE_NEXT (go on), FNG_STAGE_DONE (the response is produced: skip to the final
 * stages), FNG_STAGE_PENDING (it will call fng__req_resume() exactly once) or a negative
 * error code (the edge turns it into a status and a JSON message).
 */
enum {
	FNG_STAGE_NEXT = 0,
	FNG_STAGE_DONE = 1,
	FNG_STAGE_PENDING = 2,
};

/*
 * Runs stages from where the request stands. Head-phase stages run as soon as the head is
 * parsed; body-phase stages wait until req->body_complete. Returns true while the request is
 * still open (waiting for its body or a pending stage), false once it has been finished (its
 * ops->finish has run and req is gone).
 */
bool fng__req_run(struct fng_req *req);

/* Resumes a request whose stage returned FNG_STAGE_PENDING; rc as a stage's return value. */
void fng__req_resume(struct fng_req *req, int rc);

/* Refuses the request with err before or during the stage table; runs the final stages. */
void fng__req_fail(struct fng_req *req, int err, const char *detail);

/*
 * The client has gone: detach the connection and cancel a pending stage. The request still
 * finishes exactly once (through its pending stage's resume) and is logged with status 499.
 */
void fng__req_cancel(struct fng_req *req);

/* Destroys a request that never entered the stage table or has been finished. */
void fng__req_destroy(struct fng_req *req);

/* The stage names in order, for `fngate routes` and docs. */
extern const char *const fng__stage_names[];

#endif
