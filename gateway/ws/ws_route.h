/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_WS_ROUTE_H
#define FNG_GATEWAY_WS_ROUTE_H

#include "request.h"

/*
 * Routes a request to a WebSocket API (ws_route.c): without an event (req->event NONE), an opening
 * handshake, checked (Upgrade, version 13, key) and sent to $connect (FNG_STAGE_DONE with 200
 * when the API has none: the connection opens at once); with one, a message's or a
 * disconnect's route. Returns a stage result.
 */
int fng__ws_route(struct fng_req *req);

#endif
