/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_STAGES_H
#define FNG_GATEWAY_STAGES_H

#include "request.h"

/*
 * The request path as an ordered table of stages (nginx's phases). The engine (engine.c)
 * runs the table and knows no stage by name; each stage is a module of its own file in
 * gateway/stages/, and the table (stages/stages.c) is the only place that lists them.
 *
 * A stage returns FNG_STAGE_NEXT (go on), FNG_STAGE_DONE (the response is produced: skip to
 * the final stages), FNG_STAGE_PENDING (it will call fng__req_resume() exactly once) or a
 * negative error code (the edge turns it into a status and a JSON message).
 */
enum {
	FNG_STAGE_NEXT = 0,
	FNG_STAGE_DONE = 1,
	FNG_STAGE_PENDING = 2,
};

enum fng_stage_phase {
	FNG_PHASE_HEAD,  /* the head is parsed, no body byte has been read */
	FNG_PHASE_BODY,  /* the whole body is here */
	FNG_PHASE_FINAL, /* every request, answered or refused */
};

struct fng_stage_def {
	const char *name;
	int (*run)(struct fng_req *req);
	enum fng_stage_phase phase;
	/* Optional: a pending run has resumed with rc; called before the engine applies rc. */
	void (*resumed)(struct fng_req *req, int rc);
	/*
	 * Optional: the client has gone while this stage is pending. Stops what it started; the
	 * stage still calls fng__req_resume() exactly once.
	 */
	void (*cancel)(struct fng_req *req);
	/*
	 * Optional: the metric families the stage records into (core/metrics.h), NULL-terminated:
	 * registered at start-up by fng__stages_metrics_register(), so that a stage's metrics
	 * are declared where it records them and nowhere else.
	 */
	struct fng_metric_def *const *metrics;
};

/* The request path, in order (stages.c). */
extern const struct fng_stage_def *const fng__stages[];
extern const unsigned fng__nstages;

/* Registers every stage's metric families (at start-up). 0 or the first error. */
int fng__stages_metrics_register(void);
/*
 * Counts one request in def, a family whose labels are api, stage and one of the stage's own
 * (a refusal's level or reason, a cache result: a value from a fixed set).
 */
void fng__stage_metric(struct fng_req *req, struct fng_metric_def *def, const char *what);

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

#endif
