// SPDX-License-Identifier: MIT
/*
 * Where a request to a WebSocket API goes: the opening handshake (RFC 6455 section 4.2.1)
 * checked and routed to $connect, a message routed by the API's route selection expression,
 * a disconnect routed to $disconnect. Called by the route stage.
 */
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "errors.h"
#include "stages.h"
#include "ws.h"
#include "ws_conn.h"
#include "ws_route.h"

/* True if header name's comma-separated value list holds token (case-insensitive). */
static bool header_has_token(const struct fng_req *req, const char *name, const char *token)
{
	size_t tl = strlen(token);

	for (unsigned i = 0; i < req->nheaders; i++) {
		const char *p, *end;

		if (!fng__str_ieq(req->headers[i].name, name, strlen(name))) {
			continue;
		}
		p = req->headers[i].value.p;
		end = p + req->headers[i].value.len;
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *e = comma ? comma : end;

			while (p < e && (*p == ' ' || *p == '\t')) {
				p++;
			}
			while (e > p && (e[-1] == ' ' || e[-1] == '\t')) {
				e--;
			}
			if ((size_t)(e - p) == tl && strncasecmp(p, token, tl) == 0) {
				return true;
			}
			p = (comma ? comma : end) + 1;
		}
	}
	return false;
}

/* The first of the API's subprotocols (its order) that the client offered, or NULL. */
static const char *pick_subprotocol(const struct fng_req *req)
{
	const struct fng_ws_cfg *wc = &req->api->ws;

	for (unsigned i = 0; i < wc->nsubprotocols; i++) {
		if (header_has_token(req, "sec-websocket-protocol", wc->subprotocols[i])) {
			return wc->subprotocols[i];
		}
	}
	return NULL;
}

int fng__ws_handshake_check(struct fng_req *req)
{
	const struct fng_header *key = fng__req_header(req, "sec-websocket-key", 17);
	const struct fng_header *ver = fng__req_header(req, "sec-websocket-version", 21);
	char *accept;

	if (!req->upgrade || !header_has_token(req, "upgrade", "websocket") ||
		!header_has_token(req, "connection", "upgrade")) {
		req->error_detail = "this is a WebSocket API: connect with a WebSocket client";
		return FNG_EUPGRADE_REQUIRED;
	}
	if (!fng__str_eq(req->method, "GET", 3) || req->http_minor != 1) {
		req->error_detail = "a WebSocket handshake is a GET over HTTP/1.1";
		return FNG_EBAD_REQUEST;
	}
	if (!ver || !fng__str_eq(ver->value, "13", 2)) {
		req->error_detail = "unsupported Sec-WebSocket-Version (this server speaks 13)";
		return FNG_EUPGRADE_REQUIRED;
	}
	if (!key || !fng__ws_key_ok(key->value.p, key->value.len)) {
		req->error_detail = "missing or malformed Sec-WebSocket-Key";
		return FNG_EBAD_REQUEST;
	}
	if (req->has_body) {
		req->error_detail = "a WebSocket handshake has no body";
		return FNG_EBAD_REQUEST;
	}
	accept = fng__arena_alloc(req->arena, 29);
	if (!accept || fng__ws_accept(key->value.p, key->value.len, accept) != 0) {
		return UV_ENOMEM;
	}
	req->ws.accept = accept;
	return 0;
}

/*
 * A request to a WebSocket API: an opening handshake (RFC 6455 section 4.2.1), checked here,
 * routed to $connect (or, without one, answered 101 by the gateway).
 */
static int ws_handshake(struct fng_req *req)
{
	char *id;
	int err;

	if (!fng__str_eq(req->route_path, "/", 1)) {
		req->error_detail = "a WebSocket API has no paths below its stage";
		return FNG_ENOT_FOUND;
	}
	err = fng__ws_handshake_check(req);
	if (err) {
		return err;
	}
	id = fng__arena_alloc(req->arena, 17);
	if (!id) {
		return UV_ENOMEM;
	}
	fng__ws_new_id(id, req->api->name);
	req->upgrade_ops = &fng__ws_upgrade;
	req->ws.id = id;
	req->ws.protocol = pick_subprotocol(req);
	req->match.route = fng__api_ws_route(req->api, "$connect", 8);
	/*
	 * Without $connect the gateway accepts the handshake itself, yet after the stages that
	 * may refuse it (the throttles, the connect throttle among them): "integration" finds no
	 * route to run and leaves this answer.
	 */
	if (!req->match.route) {
		req->resp.status = 200;
	}
	return FNG_STAGE_NEXT;
}

/*
 * A message's route: the route selection expression's value in a JSON text message, if a
 * route has that key, else $default. A DISCONNECT goes to $disconnect, if there is one.
 * Without an event, the request is an opening handshake.
 */
int fng__ws_route(struct fng_req *req)
{
	const struct fng_api *api = req->api;
	const struct fng_route *r = NULL;

	if (req->event == FNG_EVENT_NONE) {
		return ws_handshake(req);
	}
	if (req->event == FNG_EVENT_DISCONNECT) {
		req->match.route = fng__api_ws_route(api, "$disconnect", 11);
		return req->match.route ? FNG_STAGE_NEXT : FNG_STAGE_DONE;
	}
	if (req->ws.text && req->body.len && req->body.p[0] == '{') {
		json_t *root = json_loadb(req->body.p, req->body.len, JSON_DISABLE_EOF_CHECK, NULL);
		json_t *v = root;

		for (unsigned i = 0; v && i < api->nselection; i++) {
			v = json_is_object(v) ? json_object_get(v, api->selection[i]) : NULL;
		}
		if (v && json_is_string(v)) {
			r = fng__api_ws_route(api, json_string_value(v), json_string_length(v));
		}
		json_decref(root);
	}
	if (!r) {
		r = fng__api_ws_route(api, "$default", 8);
	}
	if (!r) {
		req->error_detail = "no route matches this message and there is no $default route";
		return FNG_ENOT_FOUND;
	}
	req->match.route = r;
	return FNG_STAGE_NEXT;
}
