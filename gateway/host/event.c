// SPDX-License-Identifier: MIT
/*
 * The `function` integration: a request becomes an event (API Gateway payload format 2.0)
 * framed into an INVOKE and queued for its function (host/queue.c); a worker's RESULT becomes
 * the response, its headers re-checked (an untrusted worker wrote them). The request reaches
 * its function host through its server (req->srv->fns), never through a global.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chars.h"
#include "errors.h"
#include "host.h"
#include "log.h"
#include "query.h"
#include "server.h"
#include "stages.h"

/* A worker's header: the same rules as the SDK's (wire_rules.h); the worker is not trusted. */
static bool header_ok(const struct fng_wire_kv *kv)
{
	return fng__is_token(kv->k.p, kv->k.len) && fng__is_field_value(kv->v.p, kv->v.len);
}

/*
 * A status that cannot be a final answer (a 1xx, or not HTTP): the request gets 502 and the
 * operator a line naming the function and the status, at most one a second per function (a
 * handler that always answers 101 would otherwise write one line per request).
 */
static void log_bad_status(struct fng_fn *fn, const struct fng_gen *g, int64_t status)
{
	uint64_t now = uv_now(fn->fns->loop);
	char st[24], n[16];

	if (fn->bad_status_at && now - fn->bad_status_at < 1000) {
		fn->bad_status++;
		return;
	}
	snprintf(st, sizeof(st), "%" PRId64, status);
	snprintf(n, sizeof(n), "%u", fn->bad_status);
	fn->bad_status_at = now ? now : 1;
	fn->bad_status = 0;
	fng__log("error", "function answered a status that is not a final HTTP status: 502 sent",
		"function", fn->name, "version", g->version, "status", st, "not_logged_since",
		n, NULL);
}

/*
 * A worker that bypassed the SDK (which refuses them) set a framing, hop-by-hop or
 * gateway-owned header: it is dropped, and said once per version of the function.
 */
static void log_header_dropped(struct fng_fn *fn, const struct fng_gen *g, struct fng_wire_str k)
{
	char name[64];

	if (strcmp(fn->header_logged, g->version) == 0) {
		return;
	}
	snprintf(fn->header_logged, sizeof(fn->header_logged), "%s", g->version);
	snprintf(name, sizeof(name), "%.*s", (int)(k.len < 63 ? k.len : 63), k.p);
	fng__log("warn",
		"function set a header the gateway owns: dropped (logged once per version)",
		"function", fn->name, "version", g->version, "header", name, NULL);
}

/*
 * The handler's cache instruction (fng_response_cache()) into req->resp for the cache stage,
 * copied to the arena: the RESULT's memory goes with its handle. The decoder has checked it
 * against wire_rules.h (TTL range, tag count, each tag, no repeats): a worker's malformed one
 * never gets here. 0 or UV_ENOMEM.
 */
static int cache_instruction(struct fng_req *req, const struct fng_wire_cache *c)
{
	const char **tags;

	if (!c->set) {
		return 0; /* cache_ttl_s stays -1: the handler said nothing */
	}
	tags = fng__arena_alloc(req->arena, (c->ntags + 1) * sizeof(*tags));
	if (!tags) {
		return UV_ENOMEM;
	}
	for (size_t i = 0; i < c->ntags; i++) {
		tags[i] = fng__arena_strndup(req->arena, c->tags[i].p, c->tags[i].len);
		if (!tags[i]) {
			return UV_ENOMEM;
		}
	}
	req->resp.cache_ttl_s = (int32_t)c->ttl_s;
	req->resp.cache_tags = tags;
	req->resp.ncache_tags = (unsigned)c->ntags;
	return 0;
}

int fng__host_result_decode(struct fng_req *req, const struct fng_gen *g, const uint8_t *b,
	size_t n, int *rc, uint64_t *wall_ns)
{
	struct fng_wire_result r;
	void *h = NULL;

	if (fng__wire_decode_result(b, n, &r, &h)) {
		return -1;
	}
	for (size_t i = 0; i < r.nheaders; i++) {
		if (!header_ok(&r.headers[i])) {
			fng__wire_free(h);
			return -1;
		}
	}
	for (size_t i = 0; i < r.ncookies; i++) {
		struct fng_wire_kv kv = { { "set-cookie", 10 }, r.cookies[i] };

		if (!header_ok(&kv)) {
			fng__wire_free(h);
			return -1;
		}
	}
	*rc = FNG_STAGE_DONE;
	*wall_ns = r.cost.set ? r.cost.wall_us * 1000 : 0;
	if (req && r.cost.set) {
		/* Accounting only: the decoder bounded it; nothing is limited by it. */
		req->cost.set = true;
		req->cost.cpu_us = r.cost.cpu_us;
		req->cost.max_rss_kb = r.cost.max_rss_kb;
	}
	if (!req) {
		/* Answered already (cancelled, or timed out waiting): the result is dropped. */
	} else if (req->event == FNG_EVENT_AUTHORIZER) {
		/* An authorizer's answer is its decision; status, headers and body are not used. */
		fng__host_authz_answer(req, &r, rc);
	} else if (r.failed) {
		req->error_detail = "function returned an error";
		*rc = FNG_EBAD_GATEWAY;
	} else if (!fng__is_answer_status(r.status)) {
		req->error_detail = "function returned a status that is not a final HTTP status";
		*rc = FNG_EBAD_GATEWAY;
		log_bad_status(g->fn, g, r.status);
	} else {
		req->resp.status = (int)r.status;
		for (size_t i = 0; i < r.nheaders; i++) {
			struct fng_wire_str k = r.headers[i].k;

			if (fng__is_reserved_header(k.p, k.len)) {
				log_header_dropped(g->fn, g, k);
			} else {
				fng__resp_header(req, k.p, k.len, r.headers[i].v.p,
					r.headers[i].v.len);
			}
		}
		for (size_t i = 0; i < r.ncookies; i++) {
			fng__resp_header(req, "set-cookie", 10, r.cookies[i].p, r.cookies[i].len);
		}
		fng__resp_header(req, "x-fngate-function-version", 25, g->version,
			strlen(g->version));
		req->resp.has_body = r.has_body;
		if (fng__buf_append(&req->resp.body, r.body, r.body_len) ||
			cache_instruction(req, &r.cache)) {
			*rc = UV_ENOMEM;
		}
	}
	fng__wire_free(h);
	return 0;
}

static void kv_lower(struct fng_arena *a, struct fng_wire_kv *kv, struct fng_str name,
	struct fng_str value)
{
	char *n = fng__arena_strndup(a, name.p, name.len);

	if (n) {
		fng__lower_n(n, name.len);
	}
	kv->k = (struct fng_wire_str){ n ? n : "", n ? name.len : 0 };
	kv->v = (struct fng_wire_str){ value.p, value.len };
}

static struct fng_wire_str ws(struct fng_str s)
{
	return (struct fng_wire_str){ s.p, s.len };
}

static struct fng_wire_str wcs(const char *s)
{
	return (struct fng_wire_str){ s ? s : "", s ? strlen(s) : 0 };
}

/* requestContext.identity.clientCert from the connection's certificate (mutual TLS). */
static int client_cert(struct fng_req *req, struct fng_wire_event *ev)
{
	const struct fng_client_cert *cc = req->client_cert;
	struct fng_wire_str *sans = fng__arena_alloc(req->arena, (cc->nsans + 1) * sizeof(*sans));

	if (!sans) {
		return -ENOMEM;
	}
	for (unsigned i = 0; i < cc->nsans; i++) {
		sans[i] = wcs(cc->sans[i]);
	}
	ev->client_cert = true;
	ev->cert_subject = wcs(cc->subject);
	ev->cert_issuer = wcs(cc->issuer);
	ev->cert_serial = wcs(cc->serial);
	ev->cert_not_before = wcs(cc->not_before);
	ev->cert_not_after = wcs(cc->not_after);
	ev->cert_sha256 = wcs(cc->sha256);
	ev->cert_sans = sans;
	ev->ncert_sans = cc->nsans;
	return 0;
}

/*
 * requestContext.authorizer: what the route's authorizer established (req->authz), flat:
 * "principalId" (when there is one), then the context by its keys, a key named principalId
 * left out (the principal is the authorizer's to say, not its context's).
 */
static int authorizer_map(struct fng_req *req, struct fng_wire_event *ev)
{
	const struct fng_req_authz *a = &req->authz;
	struct fng_wire_kv *kv = fng__arena_alloc(req->arena, (a->nctx + 1) * sizeof(*kv));
	size_t n = 0;

	if (!kv) {
		return UV_ENOMEM;
	}
	if (a->principal) {
		kv[n++] = (struct fng_wire_kv){ wcs("principalId"), wcs(a->principal) };
	}
	for (size_t i = 0; i < a->nctx; i++) {
		if (!(a->ctx[i].k.len == 11 && memcmp(a->ctx[i].k.p, "principalId", 11) == 0)) {
			kv[n++] = a->ctx[i];
		}
	}
	ev->authorizer = kv;
	ev->nauthorizer = n;
	return 0;
}

static bool trace_header(struct fng_str name)
{
	return fng__str_ieq(name, "traceparent", 11) || fng__str_ieq(name, "tracestate", 10);
}

/*
 * requestContext.trace, and the event's traceparent and tracestate headers in place of the
 * client's (trace_header() left those out): the traceparent whose parent is the gateway's span,
 * and the tracestate the stage "trace" kept, so that a handler forwarding the request's
 * headers continues the trace as it should. headers has room for two more. 0 or -ENOMEM.
 */
static int trace_context(struct fng_req *req, struct fng_wire_event *ev,
	struct fng_wire_kv *headers, size_t *nh)
{
	char *tp = fng__arena_alloc(req->arena, FNG_TRACEPARENT_LEN + 1);
	const char *ts = req->trace.tracestate;

	if (!tp) {
		return -ENOMEM;
	}
	if (!fng__req_traceparent(req, tp)) {
		return 0; /* in no trace: a request that did not run the stage "trace" */
	}
	ev->trace = true;
	ev->traceparent = wcs(tp);
	ev->tracestate = wcs(ts ? ts : "");
	headers[(*nh)++] = (struct fng_wire_kv){ wcs("traceparent"), ev->traceparent };
	if (ts) {
		headers[(*nh)++] = (struct fng_wire_kv){ wcs("tracestate"), ev->tracestate };
	}
	return 0;
}

/* The event for req (payload format 2.0 shape), framed into out. */
int fng__host_event_encode(struct fng_req *req, const struct fng_gen *g, struct fng_wire_buf *out)
{
	struct fng_arena *a = req->arena;
	struct fng_wire_event ev = { 0 };
	struct fng_wire_kv *headers, *query, *params, *vars;
	struct fng_wire_str *cookies;
	size_t nq = 0, nc = 0, nh = 0;
	const struct fng_header *ua = fng__req_header(req, "user-agent", 10);
	uv_timeval64_t now;

	headers = fng__arena_alloc(a, (req->nheaders + 2) * sizeof(*headers));
	query = fng__arena_alloc(a, (req->query.len / 2 + 2) * sizeof(*query));
	params = fng__arena_alloc(a, (req->match.nparams + 1) * sizeof(*params));
	vars = fng__arena_alloc(a, ((req->stage ? req->stage->nvars : 0) + 1) * sizeof(*vars));
	cookies = fng__arena_alloc(a, (req->nheaders * 8 + 1) * sizeof(*cookies));
	if (!headers || !query || !params || !vars || !cookies) {
		return UV_ENOMEM;
	}
	for (unsigned i = 0; i < req->nheaders; i++) {
		if (trace_header(req->headers[i].name)) {
			continue; /* the gateway's own, below */
		}
		kv_lower(a, &headers[nh++], req->headers[i].name, req->headers[i].value);
		if (fng__str_ieq(req->headers[i].name, "cookie", 6)) {
			const char *p = req->headers[i].value.p, *end = p + req->headers[i].value.len;

			while (p < end && nc < req->nheaders * 8) {
				const char *semi = memchr(p, ';', (size_t)(end - p));
				const char *e = semi ? semi : end;

				while (p < e && *p == ' ') {
					p++;
				}
				if (e > p) {
					cookies[nc++] = (struct fng_wire_str){ p, (size_t)(e - p) };
				}
				p = e + 1;
			}
		}
	}
	/* Query pairs, decoded by the one query parser (query.h: '+' is a space). */
	{
		const char *p = req->query.p, *end = p + req->query.len;
		struct fng_str k, v;
		int r;

		while ((r = fng__query_next(a, &p, end, &k, &v)) > 0) {
			query[nq].k = ws(k);
			query[nq++].v = ws(v);
		}
		if (r < 0) {
			return r;
		}
	}
	for (unsigned i = 0; i < req->match.nparams; i++) {
		params[i].k = ws(req->match.params[i].name);
		params[i].v = ws(req->match.params[i].value);
	}
	for (unsigned i = 0; req->stage && i < req->stage->nvars; i++) {
		vars[i].k = wcs(req->stage->vars[i].name);
		vars[i].v = ws(req->stage->vars[i].value);
	}
	uv_gettimeofday(&now);
	ev.version = wcs("2.0");
	ev.route_key = wcs(req->match.route->key);
	ev.raw_path = ws(req->path);
	ev.raw_query = ws(req->query);
	ev.method = ws(req->method);
	ev.path = ws(req->path);
	ev.protocol = wcs(req->http_minor ? "HTTP/1.1" : "HTTP/1.0");
	ev.source_ip = wcs(req->ip);
	ev.user_agent = ua ? ws(ua->value) : wcs("");
	ev.request_id = (struct fng_wire_str){ req->request_id, req->request_id_len };
	ev.api = wcs(req->api ? req->api->name : "");
	ev.stage = wcs(req->stage ? req->stage->name : "");
	ev.domain = ws(req->host);
	if (trace_context(req, &ev, headers, &nh)) {
		return UV_ENOMEM;
	}
	ev.headers = headers;
	ev.nheaders = nh;
	ev.query = query;
	ev.nquery = nq;
	ev.path_params = params;
	ev.npath_params = req->match.nparams;
	ev.stage_vars = vars;
	ev.nstage_vars = req->stage ? req->stage->nvars : 0;
	ev.cookies = cookies;
	ev.ncookies = nc;
	ev.body = req->body.p;
	ev.body_len = req->body.len;
	ev.connection_id = wcs(req->ws.id);
	ev.event_type = wcs(req->event ? fng__event_name(req->event) : req->ws.accept ? "CONNECT"
									    : NULL);
	ev.message_id = wcs(req->ws.message_id);
	if (req->client_cert) {
		int err = client_cert(req, &ev);

		if (err) {
			return err;
		}
	}
	if (req->event == FNG_EVENT_AUTHORIZER) {
		fng__host_authz_event(req, &ev);
	} else if (req->authz.set) {
		int err = authorizer_map(req, &ev);

		if (err) {
			return err;
		}
	}
	ev.time_epoch_ms = now.tv_sec * 1000 + now.tv_usec / 1000;
	ev.deadline_epoch_ms = ev.time_epoch_ms + g->limits.timeout_ms;
	return fng__wire_encode_invoke(out, &ev);
}

uint32_t fng__functions_timeout_ms(struct fng_functions *fns, const char *name)
{
	struct fng_fn *fn = fns ? fng__host_fn_find(fns, name) : NULL;

	return fn && fn->current ? fn->current->limits.timeout_ms : 0;
}

/* The function host of the loop req runs on: its server's (NULL without a supervisor). */
static struct fng_functions *req_host(const struct fng_req *req)
{
	const struct fng_server *srv = req->srv;

	return srv ? srv->fns : NULL;
}

/*
 * The integration's start: fails up front (no deployment, queue full, event too large) or
 * queues the request and returns PENDING. Dispatch happens from a check handle right after
 * the current I/O callbacks, so no completion can run inside start().
 */
static int function_start(struct fng_req *req)
{
	struct fng_functions *fns = req_host(req);
	const char *name = req->match.route->integration.function;
	struct fng_fn *fn = fns ? fng__host_fn_find(fns, name) : NULL;
	struct qitem *q;
	int err;

	if (!fn || !fn->current) {
		char *d = fng__arena_alloc(req->arena, 128);

		if (d) {
			snprintf(d, 128, "function %s is not deployed", name);
		}
		req->error_detail = d;
		return FNG_EUNAVAILABLE;
	}
	if (!fng__host_queue_admit(fn)) {
		req->error_detail = fng__host_queue_refusal(fn);
		return FNG_ETHROTTLED;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		return UV_ENOMEM;
	}
	err = fng__host_event_encode(req, fn->current, &q->frame);
	if (err) {
		fng__host_qitem_free(q);
		req->error_detail = "request too large for the function payload limit";
		return err == -EMSGSIZE ? FNG_EBODY_TOO_LARGE : err;
	}
	q->req = req;
	q->fn = fn;
	q->deadline = uv_now(fns->loop) + fn->current->limits.timeout_ms;
	fng__host_queue_push(fn, q);
	fng__host_pump_soon(fns, fn);
	return FNG_STAGE_PENDING;
}

static void function_cancel(struct fng_req *req)
{
	struct fng_functions *fns = req_host(req);

	if (fns) {
		fng__host_cancel(fns, req);
	}
}

const struct fng_integration_ops fng__host_function_ops = {
	.name = "function",
	.start = function_start,
	.cancel = function_cancel,
};
