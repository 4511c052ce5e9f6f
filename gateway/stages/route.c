// SPDX-License-Identifier: MIT
/*
 * Stage "route" (head phase): the route of the API that takes the request. An HTTP API
 * matches method and route path in its router (router.c); a WebSocket API checks an opening
 * handshake or selects a message's route (ws_route.c).
 */
#include "errors.h"
#include "stages.h"
#include "ws_route.h"

static int route(struct fng_req *req)
{
	int err;

	if (req->match.route) {
		return FNG_STAGE_NEXT; /* known from the start: admin API, schedules */
	}
	if (req->api->protocol == FNG_API_WEBSOCKET) {
		return fng__ws_route(req);
	}
	err = fng__router_match(req->api->router, req->arena, req->method, req->route_path,
		&req->match);

	if (err == FNG_EBAD_REQUEST) {
		req->error_detail = "malformed percent-encoding in path";
	}
	return err ? err : FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_route = {
	.name = "route",
	.run = route,
	.phase = FNG_PHASE_HEAD,
};
