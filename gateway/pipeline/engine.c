// SPDX-License-Identifier: MIT
/*
 * The stage engine: runs the ordered stage table (stages.c) for a request, from where it
 * stands, and applies each stage's result. It names no stage, no protocol and no listener:
 * what a stage needs when it is resumed or cancelled comes with its entry in the table.
 * Invariants, checked in debug and sanitizer builds: a request runs only while no stage is
 * pending, resumes exactly once per PENDING, and finishes exactly once.
 */
#include <assert.h>
#include <uv.h>

#include "errors.h"
#include "metrics.h"
#include "stages.h"

/* The index of the first final stage: where a refused or answered request goes on. */
static unsigned first_final(void)
{
	unsigned i = 0;

	while (i < fng__nstages && fng__stages[i]->phase != FNG_PHASE_FINAL) {
		i++;
	}
	return i;
}

/* Applies a stage's result; returns false if the table must stop here (PENDING). */
static bool advance(struct fng_req *req, int rc)
{
	if (rc == FNG_STAGE_PENDING) {
		req->pending = true;
		return false;
	}
	if (rc < 0) {
		req->error = rc;
		if (rc == UV_ECANCELED || rc == FNG_ECLIENT_CLOSED) {
			req->resp.status = 499;
		} else {
			fng__req_error_response(req, rc, req->error_detail);
		}
		if (req->stage_idx < first_final()) {
			req->stage_idx = first_final();
			return true;
		}
	} else if (rc == FNG_STAGE_DONE && req->stage_idx < first_final()) {
		req->stage_idx = first_final();
		return true;
	}
	req->stage_idx++;
	return true;
}

bool fng__req_run(struct fng_req *req)
{
	assert(!req->pending);
	while (req->stage_idx < fng__nstages) {
		const struct fng_stage_def *s = fng__stages[req->stage_idx];

		if (s->phase == FNG_PHASE_BODY && !req->body_complete) {
			return true;
		}
		if (!advance(req, s->run(req))) {
			return true;
		}
	}
	assert(!req->finished);
	req->finished = true;
	req->ops->finish(req);
	return false;
}

int fng__stages_metrics_register(void)
{
	for (unsigned i = 0; i < fng__nstages; i++) {
		int err = fng__stages[i]->metrics ? fng__metrics_register_all(fng__stages[i]->metrics)
						 : 0;

		if (err) {
			return err;
		}
	}
	return 0;
}

void fng__stage_metric(struct fng_req *req, struct fng_metric_def *def, const char *what)
{
	const char *v[] = { req->api ? req->api->name : "$unmatched",
		req->stage ? req->stage->name : "$unmatched", what };

	if (req->srv && !req->cfg->metrics.off) {
		fng__metric_inc(req->srv, def, v);
	}
}

void fng__req_resume(struct fng_req *req, int rc)
{
	const struct fng_stage_def *s = fng__stages[req->stage_idx];

	assert(req->pending); /* exactly once per PENDING */
	req->pending = false;
	if (s->resumed) {
		s->resumed(req, rc);
	}
	if (advance(req, rc)) {
		fng__req_run(req);
	}
}

void fng__req_fail(struct fng_req *req, int err, const char *detail)
{
	assert(!req->pending);
	req->error_detail = detail;
	if (advance(req, err)) {
		fng__req_run(req);
	}
}

void fng__req_cancel(struct fng_req *req)
{
	req->conn = NULL;
	if (req->pending) {
		const struct fng_stage_def *s = fng__stages[req->stage_idx];

		if (s->cancel) {
			s->cancel(req);
		}
		return;
	}
	fng__req_fail(req, FNG_ECLIENT_CLOSED, "client closed the connection");
}

void fng__req_destroy(struct fng_req *req)
{
	struct fng_config *cfg = req->cfg;

	fng__buf_finish(&req->body);
	fng__buf_finish(&req->resp.body);
	fng__arena_destroy(req->arena);
	fng__config_unref(cfg);
}
