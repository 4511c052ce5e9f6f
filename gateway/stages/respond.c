// SPDX-License-Identifier: MIT
/*
 * Stage "respond" (final phase): hands the response to the connection, if the client is
 * still there. Events without a client (WebSocket messages, schedules) answer through their
 * own ops, and so do the response cache's background refreshes.
 */
#include "stages.h"

/*
 * A client that has gone is not answered (the access log says 499). A schedule's tick never had
 * one to lose: its answer always goes to its own op, which drops it.
 */
static int respond(struct fng_req *req)
{
	if (fng__req_has_client(req) || req->event == FNG_EVENT_SCHEDULE || req->cache.refresh) {
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
