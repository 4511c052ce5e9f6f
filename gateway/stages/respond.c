// SPDX-License-Identifier: MIT
/*
 * Stage "respond" (final phase): hands the response to the connection, if the client is
 * still there. Events without a client (WebSocket messages, schedules) answer through their
 * own ops.
 */
#include "stages.h"

static int respond(struct fng_req *req)
{
	if (fng__req_has_client(req)) {
		req->ops->respond(req);
		req->responded = true;
	}
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_respond = {
	.name = "respond",
	.run = respond,
	.phase = FNG_PHASE_FINAL,
};
