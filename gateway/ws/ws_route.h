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

/*
 * Checks an opening handshake (RFC 6455 section 4.2.1: Upgrade and Connection tokens, a GET
 * over HTTP/1.1, version 13, a well-formed key, no body) and sets req->ws.accept, so that the
 * response stage answers 101. 0, or an error (FNG_E*, req->error_detail set) or UV_ENOMEM.
 * For the WebSocket APIs' handshakes and the gateway's own push feeds (ws_push.h).
 */
int fng__ws_handshake_check(struct fng_req *req);

#endif
