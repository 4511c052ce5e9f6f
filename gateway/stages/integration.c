// SPDX-License-Identifier: MIT
/*
 * Stage "integration" (body phase): runs the route's integration (integration.c: mock,
 * static, function, admin) and times it for the access log. An integration that answers
 * later makes the stage pending; a client that goes meanwhile cancels it through the
 * integration's cancel op.
 */
#include <uv.h>

#include "integration.h"
#include "stages.h"

static const struct fng_integration_ops *pending_ops(struct fng_req *req)
{
	return req->match.route ? fng__integration_ops(req->match.route->integration.type) : NULL;
}

static int integration(struct fng_req *req)
{
	const struct fng_integration_ops *ops = pending_ops(req);
	int rc;

	if (!ops) {
		/* A WebSocket handshake without $connect: the route stage set its answer. */
		return FNG_STAGE_DONE;
	}
	req->t_integration_start = uv_hrtime();
	rc = ops->start(req);
	if (rc == FNG_STAGE_DONE) {
		req->t_integration_end = uv_hrtime();
		req->integration_status = req->resp.status;
	}
	return rc;
}

static void resumed(struct fng_req *req, int rc)
{
	req->t_integration_end = uv_hrtime();
	if (rc >= 0) {
		req->integration_status = req->resp.status;
	}
}

static void cancel(struct fng_req *req)
{
	const struct fng_integration_ops *ops = pending_ops(req);

	if (ops && ops->cancel) {
		ops->cancel(req);
	}
}

const struct fng_stage_def fng__stage_integration = {
	.name = "integration",
	.run = integration,
	.phase = FNG_PHASE_BODY,
	.resumed = resumed,
	.cancel = cancel,
};
