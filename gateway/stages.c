// SPDX-License-Identifier: MIT
/*
 * The request path. Every request, answered or refused, walks the stage table below in
 * order; the table is the design (nginx's phases). Head-phase stages decide from the request
 * head alone, so a request that will be refused is refused before its body is read;
 * body-phase stages see the whole body; final stages run for every request.
 */
#include <stdio.h>
#include <time.h>
#include <uv.h>

#include <jansson.h>
#include <strings.h>

#include "errors.h"
#include "integration.h"
#include "stage_access_log.h"
#include "stages.h"
#include "ws.h"
#include "ws_conn.h"

enum phase { PHASE_HEAD, PHASE_BODY, PHASE_FINAL };

struct stage_def {
	const char *name;
	int (*run)(struct fng_req *req);
	enum phase phase;
};

/* ---- head phase ---- */

/* Host (custom domain + base path) or the default endpoint's /{stage}/ → API and stage. */
static int stage_endpoint(struct fng_req *req)
{
	const struct fng_config *cfg = req->cfg;
	struct fng_str path = req->path;
	const struct fng_domain *dom;

	if (req->ws_event) {
		return FNG_STAGE_NEXT; /* an event of a connection whose endpoint is known */
	}
	if (req->admin) {
		return fng__admin_endpoint(req);
	}
	dom = fng__config_domain(cfg, req->host);

	if (dom) {
		for (unsigned i = 0; i < dom->nmaps; i++) {
			const struct fng_mapping *m = &dom->maps[i];

			if (path.len >= m->base_len && memcmp(path.p, m->base_path, m->base_len) == 0 &&
				(path.len == m->base_len || path.p[m->base_len] == '/')) {
				req->api = m->api;
				req->stage = m->stage;
				req->route_path = (struct fng_str){ path.p + m->base_len,
					path.len - m->base_len };
				break;
			}
		}
		if (!req->api) {
			req->error_detail = "no base path mapping matches this path";
			return FNG_ENOT_FOUND;
		}
	} else {
		const struct fng_api *api = cfg->default_api;
		const char *seg = path.p + 1, *end = path.p + path.len;
		const char *slash;
		const struct fng_stage *st;

		if (!api) {
			req->error_detail = "no API is mapped to this host";
			return FNG_ENOT_FOUND;
		}
		slash = memchr(seg, '/', (size_t)(end - seg));
		st = fng__api_stage(api, (struct fng_str){ seg, (size_t)((slash ? slash : end) - seg) });
		if (st && strcmp(st->name, "$default") != 0) {
			req->route_path = slash ? (struct fng_str){ slash, (size_t)(end - slash) }
						: FNG_STR("/");
		} else if (api->default_stage) {
			st = api->default_stage;
			req->route_path = path;
		} else {
			req->error_detail = "no such stage";
			return FNG_ENOT_FOUND;
		}
		req->api = api;
		req->stage = st;
	}
	if (req->route_path.len == 0) {
		req->route_path = FNG_STR("/");
	}
	req->body_limit = req->stage->body_bytes < cfg->limits.body_bytes ? req->stage->body_bytes
									  : cfg->limits.body_bytes;
	return FNG_STAGE_NEXT;
}

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

/*
 * A request to a WebSocket API: an opening handshake (RFC 6455 section 4.2.1), checked here,
 * routed to $connect (or answered 101 at once without one).
 */
static int ws_handshake(struct fng_req *req)
{
	const struct fng_header *key = fng__req_header(req, "sec-websocket-key", 17);
	const struct fng_header *ver = fng__req_header(req, "sec-websocket-version", 21);
	char *accept, *id;

	if (!fng__str_eq(req->route_path, "/", 1)) {
		req->error_detail = "a WebSocket API has no paths below its stage";
		return FNG_ENOT_FOUND;
	}
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
	id = fng__arena_alloc(req->arena, 17);
	if (!accept || !id || fng__ws_accept(key->value.p, key->value.len, accept) != 0) {
		return UV_ENOMEM;
	}
	fng__ws_new_id(id, req->api->name);
	req->ws_accept = accept;
	req->ws_id = id;
	req->ws_protocol = pick_subprotocol(req);
	req->match.route = fng__api_ws_route(req->api, "$connect", 8);
	if (!req->match.route) {
		req->resp.status = 200;
		return FNG_STAGE_DONE;
	}
	return FNG_STAGE_NEXT;
}

/*
 * A message's route: the route selection expression's value in a JSON text message, if a
 * route has that key, else $default. A DISCONNECT goes to $disconnect, if there is one.
 */
static int ws_route(struct fng_req *req)
{
	const struct fng_api *api = req->api;
	const struct fng_route *r = NULL;

	if (!req->ws_event) {
		return ws_handshake(req);
	}
	if (strcmp(req->ws_event, "DISCONNECT") == 0) {
		req->match.route = fng__api_ws_route(api, "$disconnect", 11);
		return req->match.route ? FNG_STAGE_NEXT : FNG_STAGE_DONE;
	}
	if (req->ws_text && req->body.len && req->body.p[0] == '{') {
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

static int stage_route(struct fng_req *req)
{
	if (req->match.route) {
		return FNG_STAGE_NEXT; /* known from the start: admin API, schedules */
	}
	if (req->api->protocol == FNG_API_WEBSOCKET) {
		return ws_route(req);
	}
	int err = fng__router_match(req->api->router, req->arena, req->method, req->route_path,
		&req->match);

	if (err == FNG_EBAD_REQUEST) {
		req->error_detail = "malformed percent-encoding in path";
	}
	return err ? err : FNG_STAGE_NEXT;
}

/* A declared body over the stage's limit is refused before it is read. */
static int stage_body_limit(struct fng_req *req)
{
	if (req->has_body && !req->chunked && req->content_length > req->body_limit) {
		req->error_detail = "request body exceeds the stage's body limit";
		return FNG_EBODY_TOO_LARGE;
	}
	return FNG_STAGE_NEXT;
}

/* ---- body phase ---- */

static const struct fng_integration_ops *pending_ops(struct fng_req *req)
{
	return req->match.route ? fng__integration_ops(req->match.route->integration.type) : NULL;
}

static int stage_integration(struct fng_req *req)
{
	const struct fng_integration_ops *ops = pending_ops(req);
	int rc;

	req->t_integration_start = uv_hrtime();
	rc = ops->start(req);
	if (rc == FNG_STAGE_DONE) {
		req->t_integration_end = uv_hrtime();
		req->integration_status = req->resp.status;
	}
	return rc;
}

/* ---- final phase ---- */

static int stage_respond(struct fng_req *req)
{
	if (req->conn) {
		req->ops->respond(req);
		req->responded = true;
	}
	return FNG_STAGE_NEXT;
}

/*
 * The request path, in order. Stages still to come slot in where the comments stand.
 */
static const struct stage_def stages[] = {
	/* head phase: the head is parsed, no body byte has been read */
	{ "endpoint", stage_endpoint, PHASE_HEAD },
	/* resource policy (IP/CIDR) */
	{ "route", stage_route, PHASE_HEAD },
	/* CORS preflight, API key, authorizer, throttle */
	{ "body_limit", stage_body_limit, PHASE_HEAD },
	/* body phase: the whole body is here */
	/* request validation, cache lookup */
	{ "integration", stage_integration, PHASE_BODY },
	/* response transforms, cache store */
	/* final phase: every request, answered or refused */
	{ "respond", stage_respond, PHASE_FINAL },
	{ "access_log", fng__stage_access_log, PHASE_FINAL },
};

#define NSTAGES (sizeof(stages) / sizeof(stages[0]))

const char *const fng__stage_names[] = {
	"endpoint", "route", "body_limit", "integration", "respond", "access_log", NULL,
};

static unsigned first_final(void)
{
	unsigned i = 0;

	while (stages[i].phase != PHASE_FINAL) {
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
	while (req->stage_idx < NSTAGES) {
		const struct stage_def *s = &stages[req->stage_idx];

		if (s->phase == PHASE_BODY && !req->body_complete) {
			return true;
		}
		if (!advance(req, s->run(req))) {
			return true;
		}
	}
	req->ops->finish(req);
	return false;
}

void fng__req_resume(struct fng_req *req, int rc)
{
	req->pending = false;
	if (stages[req->stage_idx].run == stage_integration) {
		req->t_integration_end = uv_hrtime();
		if (rc >= 0) {
			req->integration_status = req->resp.status;
		}
	}
	if (advance(req, rc)) {
		fng__req_run(req);
	}
}

void fng__req_fail(struct fng_req *req, int err, const char *detail)
{
	req->error_detail = detail;
	if (advance(req, err)) {
		fng__req_run(req);
	}
}

void fng__req_cancel(struct fng_req *req)
{
	req->conn = NULL;
	if (req->pending) {
		const struct fng_integration_ops *ops = pending_ops(req);

		if (ops && ops->cancel) {
			ops->cancel(req);
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
