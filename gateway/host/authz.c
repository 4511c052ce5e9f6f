// SPDX-License-Identifier: MIT
/*
 * The function authorizers (`type: token`, `type: request`; docs/config.md, "Authorizers"),
 * as the stage "authorize" runs them before anything is invoked for a request. The caller's
 * identity sources are read from the request (missing, or a TOKEN the validation regex
 * refuses: 401, nothing invoked); the loop's cache answers an identity seen within the TTL
 * (authz_cache.h); otherwise the authorizer's function is invoked with an AUTHORIZER event
 * through the function host like any invocation (the same queue, admission, deadline and
 * sandbox), and the request waits (PENDING).
 *
 * The invocation is a request of its own (event AUTHORIZER, made by fng__req_new_event): the
 * host's queue and worker slots hold requests, and its arena holds what the event needs. It
 * points into the request it decides about, which outlives it: that one stays pending until
 * the invocation completes, also when its client goes (cancel takes the invocation out of the
 * queue, or lets the running one finish). The host completes it through fng__host_authz_done()
 * (host/queue.c, fng__host_complete), which resumes the waiting request exactly once: allowed
 * (req->authz filled), 403 for a deny, 500 "authorizer NAME failed: CAUSE" when the function
 * crashed, timed out, returned an error or answered without a decision.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "authz_cache.h"
#include "cluster.h"
#include "errors.h"
#include "host.h"
#include "server.h"
#include "stages.h"

/* One invocation of an authorizer, in its own request's arena. */
struct fng_authz_call {
	struct fng_req *req;      /* the request it decides about */
	struct fng_req *sub;      /* the invocation's own request */
	const struct fng_authorizer *a;
	struct fng_wire_str *values; /* the identity sources' values, in order */
	unsigned nvalues;
	const char *route_arn;
	char *key;                /* the cache key: the values, each length-prefixed */
	size_t klen;
	char *part;               /* the cache partition: "API\0AUTHORIZER" */
	size_t plen;
	enum fng_wire_decision decision; /* the answer, once decoded (its rest: sub->authz) */
};

/* The function host of the loop req runs on (NULL without a supervisor). */
static struct fng_functions *host_of(const struct fng_req *req)
{
	return req->srv ? req->srv->fns : NULL;
}

/* "authorizer NAME failed: CAUSE" in req's arena, as its 500's message. */
static int failed(struct fng_req *req, const struct fng_authorizer *a, const char *cause)
{
	size_t n = strlen(a->name) + strlen(cause) + 32;
	char *d = fng__arena_alloc(req->arena, n);

	if (d) {
		snprintf(d, n, "authorizer %s failed: %s", a->name, cause);
	}
	req->error_detail = d;
	return FNG_EINTERNAL;
}

/* The value of one identity source for req; false if the request has none (or it is empty). */
static bool source_value(struct fng_req *req, const struct fng_identity_source *s,
	struct fng_wire_str *out)
{
	struct fng_str v = { 0 };

	switch (s->kind) {
	case FNG_ID_HEADER: {
		const struct fng_header *h = fng__req_header(req, s->name, strlen(s->name));

		if (h) {
			v = h->value;
		}
		break;
	}
	case FNG_ID_QUERY:
		fng__req_query(req, (struct fng_str){ s->name, strlen(s->name) }, &v);
		break;
	case FNG_ID_STAGE_VAR:
		for (unsigned i = 0; req->stage && i < req->stage->nvars; i++) {
			if (strcmp(req->stage->vars[i].name, s->name) == 0) {
				v = req->stage->vars[i].value;
			}
		}
		break;
	case FNG_ID_SOURCE_IP:
		v = (struct fng_str){ req->ip, strlen(req->ip) };
		break;
	}
	*out = (struct fng_wire_str){ v.p, v.len };
	return v.len > 0;
}

/*
 * The identity of req for a: its values, and the cache key made of them, each value preceded
 * by its length (4 bytes, big-endian) so that ("a", "bc") and ("ab", "c") never share a key.
 * 0; FNG_EUNAUTHORIZED when a source is missing or a TOKEN does not match validation_regex;
 * -ENOMEM.
 */
static int identity(struct fng_req *req, const struct fng_authorizer *a,
	struct fng_wire_str *values, char **key, size_t *klen)
{
	const struct fng_authz_function *f = &a->fn;
	size_t n = 0;
	char *k;

	for (unsigned i = 0; i < f->nsources; i++) {
		if (!source_value(req, &f->sources[i], &values[i])) {
			req->error_detail = NULL; /* API Gateway's {"message":"Unauthorized"} */
			return FNG_EUNAUTHORIZED;
		}
		n += 4 + values[i].len;
	}
	if (a->type == FNG_AUTHZ_TOKEN && f->validation) {
		char *tok = fng__arena_strndup(req->arena, values[0].p, values[0].len);

		if (!tok) {
			return -ENOMEM;
		}
		if (regexec(f->validation, tok, 0, NULL, 0) != 0) {
			req->error_detail = NULL;
			return FNG_EUNAUTHORIZED;
		}
	}
	k = fng__arena_alloc(req->arena, n ? n : 1);
	if (!k) {
		return -ENOMEM;
	}
	*key = k;
	*klen = n;
	for (unsigned i = 0; i < f->nsources; i++) {
		size_t len = values[i].len;

		*k++ = (char)(len >> 24);
		*k++ = (char)(len >> 16);
		*k++ = (char)(len >> 8);
		*k++ = (char)len;
		memcpy(k, values[i].p, len);
		k += len;
	}
	return 0;
}

/* The cache partition of a: "API\0AUTHORIZER", in arena a. */
static char *partition(struct fng_arena *ar, const struct fng_route *route,
	const struct fng_authorizer *a, size_t *len)
{
	size_t an = strlen(route->api->name), nn = strlen(a->name);
	char *p = fng__arena_alloc(ar, an + nn + 1);

	if (p) {
		memcpy(p, route->api->name, an + 1);
		memcpy(p + an + 1, a->name, nn);
		*len = an + 1 + nn;
	}
	return p;
}

/* An answer (cached or fresh) applied to req: NEXT with req->authz filled, or 403. */
static int apply(struct fng_req *req, bool allow, const struct fng_req_authz *authz)
{
	if (!allow) {
		req->error_detail = NULL; /* {"message":"Forbidden"} */
		return FNG_EFORBIDDEN;
	}
	if (fng__req_authz_copy(req, authz)) {
		return -ENOMEM;
	}
	req->authz.set = true;
	return FNG_STAGE_NEXT;
}

/* "arn:fngate:execute-api:local:API/STAGE/METHOD/PATH" ("$connect" for a handshake). */
static const char *route_arn(struct fng_req *req)
{
	const char *api = req->api ? req->api->name : "", *stage = req->stage ? req->stage->name : "";
	size_t n = strlen(api) + strlen(stage) + req->method.len + req->route_path.len + 48;
	char *s = fng__arena_alloc(req->arena, n);

	if (!s) {
		return NULL;
	}
	if (req->ws.accept) {
		snprintf(s, n, "arn:fngate:execute-api:local:%s/%s/$connect", api, stage);
	} else {
		snprintf(s, n, "arn:fngate:execute-api:local:%s/%s/%.*s%.*s", api, stage,
			(int)req->method.len, req->method.p, (int)req->route_path.len,
			req->route_path.p);
	}
	return s;
}

/*
 * The invocation's request: the request's head, route and client as they are (pointing into
 * its arena, which outlives it), no body, the request's id (its log lines are the request's).
 */
static struct fng_req *sub_new(struct fng_req *req)
{
	static const struct fng_req_ops none = { 0 };
	struct fng_req *sub = fng__req_new_event(req->srv, req->cfg, &none, NULL, 0);

	if (!sub) {
		return NULL;
	}
	sub->event = FNG_EVENT_AUTHORIZER;
	sub->method = req->method;
	sub->target = req->target;
	sub->path = req->path;
	sub->query = req->query;
	sub->host = req->host;
	sub->http_minor = req->http_minor;
	sub->headers = req->headers;
	sub->nheaders = req->nheaders;
	sub->peer = req->peer;
	memcpy(sub->ip, req->ip, sizeof(sub->ip));
	sub->client_cert = req->client_cert; /* req's reference covers it */
	memcpy(sub->request_id, req->request_id, sizeof(sub->request_id));
	sub->request_id_len = req->request_id_len;
	sub->api = req->api;
	sub->stage = req->stage;
	sub->route_path = req->route_path;
	sub->match = req->match;
	sub->ws.id = req->ws.id;
	/* The request's trace: a span of its own whose parent is the gateway's span for req. */
	fng__req_trace_join(sub, req->trace.trace_id, req->trace.span_id, req->trace.flags,
		req->trace.tracestate);
	return sub;
}

/* Queues the AUTHORIZER invocation of call on fn: PENDING, or a refusal (500). */
static int invoke(struct fng_functions *fns, struct fng_fn *fn, struct fng_authz_call *call)
{
	struct fng_req *req = call->req;
	struct qitem *q;
	int err;

	if (!fng__host_queue_admit(fn)) {
		return failed(req, call->a, fng__host_queue_refusal(fn));
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		return -ENOMEM;
	}
	err = fng__host_event_encode(call->sub, fn->current, &q->frame);
	if (err) {
		fng__host_qitem_free(q);
		return err == -EMSGSIZE ? failed(req, call->a,
			"request too large for the function payload limit") : err;
	}
	q->req = call->sub;
	q->fn = fn;
	q->deadline = uv_now(fns->loop) + fn->current->limits.timeout_ms;
	req->authz_call = call;
	fng__host_queue_push(fn, q);
	fng__host_pump_soon(fns, fn);
	return FNG_STAGE_PENDING;
}

/* The authorizer's invocation for the identity (after both caches missed): PENDING or not. */
static int fn_invoke(struct fng_req *req, const struct fng_authorizer *a,
	struct fng_wire_str *values, char *key, size_t klen, char *part, size_t plen)
{
	const struct fng_authz_function *f = &a->fn;
	struct fng_functions *fns = host_of(req);
	struct fng_authz_call *call;
	struct fng_req *sub;
	struct fng_fn *fn;
	int rc;

	fn = fns ? fng__host_fn_find(fns, f->function) : NULL;
	if (!fn || !fn->current) {
		char cause[160];

		snprintf(cause, sizeof(cause), "function %s is not deployed", f->function);
		return failed(req, a, cause);
	}
	sub = sub_new(req);
	call = sub ? fng__arena_zalloc(sub->arena, sizeof(*call)) : NULL;
	if (!call) {
		if (sub) {
			fng__req_destroy(sub);
		}
		return -ENOMEM;
	}
	*call = (struct fng_authz_call){ .req = req, .sub = sub, .a = a, .values = values,
		.nvalues = f->nsources, .key = key, .klen = klen, .part = part, .plen = plen };
	call->route_arn = route_arn(sub);
	sub->authz_call = call;
	rc = call->route_arn ? invoke(fns, fn, call) : -ENOMEM;
	if (rc != FNG_STAGE_PENDING) {
		req->authz_call = NULL;
		fng__req_destroy(sub);
	}
	return rc;
}

/* ---- the shared cache (cluster.shared_caches: authorizer; docs/config.md, "Cluster") ----
 *
 * Behind the loop's cache, `PREFIX az:API\0AUTHORIZER\0IDENTITY` holds an answer's wire form
 * (authz_cache.h) with PX the authorizer's TTL from when it answered. A local miss asks Redis
 * before invoking (the request PENDING meanwhile); no answer there, Redis down or slow (the
 * cluster's command timeout): the authorizer is invoked as without sharing. Failures are never
 * kept, here or there.
 */

/* A request's question to Redis; req NULL once its client left. */
struct fng_authz_ask {
	struct fng_req *req;
	const struct fng_authorizer *a;
	struct fng_wire_str *values;
	char *key, *part;          /* req's arena */
	size_t klen, plen;
};

/* The Redis key in ar: PREFIX az: PART \0 KEY; NULL without memory. */
static char *shared_key(struct fng_arena *ar, struct fng_cluster *c, const char *part,
	size_t plen, const void *key, size_t klen, size_t *len)
{
	const char *pre = fng__cluster_prefix(c);
	size_t n = strlen(pre);
	char *k = fng__arena_alloc(ar, n + 3 + plen + 1 + klen);

	if (k) {
		memcpy(k, pre, n);
		memcpy(k + n, "az:", 3);
		memcpy(k + n + 3, part, plen);
		k[n + 3 + plen] = '\0';
		memcpy(k + n + 4 + plen, key, klen);
		*len = n + 4 + plen + klen;
	}
	return k;
}

static struct fng_cluster *shared_authz(struct fng_req *req)
{
	return req->cfg->cluster.share_authorizer ? fng__cluster(req->srv) : NULL;
}

static void on_shared(struct fng_cluster *c, struct redisReply *reply, void *arg)
{
	struct fng_authz_ask ask = *(struct fng_authz_ask *)arg;
	struct fng_req *req = ask.req;
	struct fng_functions *fns;
	struct fng_req_authz authz;
	bool allow;
	int rc;

	(void)c;
	free(arg);
	if (!req) {
		return;
	}
	req->authz_ask = NULL;
	fns = host_of(req);
	if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
		reply->element[0]->type == REDIS_REPLY_STRING &&
		reply->element[1]->type == REDIS_REPLY_INTEGER &&
		reply->element[1]->integer > 0 &&
		fng__authz_wire_decode(req->arena, reply->element[0]->str, reply->element[0]->len,
			&allow, &authz) == 0) {
		const struct fng_authz_function *f = &ask.a->fn;
		struct fng_authz_cache_limits lim = { f->cache_entries, f->cache_bytes };
		struct fng_authz_answer ans = { allow, &authz };
		uint64_t ttl = (uint64_t)reply->element[1]->integer;

		if (ttl > (uint64_t)f->ttl_s * 1000) {
			ttl = (uint64_t)f->ttl_s * 1000; /* never longer than this node's TTL */
		}
		if (fns && fns->authz_cache) {
			(void)fng__authz_cache_put(fns->authz_cache, ask.part, ask.plen, &lim,
				ask.key, ask.klen, uv_now(fns->loop) + ttl, &ans);
		}
		rc = apply(req, allow, &authz);
	} else {
		rc = fn_invoke(req, ask.a, ask.values, ask.key, ask.klen, ask.part, ask.plen);
		if (rc == FNG_STAGE_PENDING) {
			return; /* the invocation resumes it */
		}
	}
	fng__req_resume(req, rc);
}

/* KEYS: the answer's key. { entry, pttl } or nil. */
static struct fng_cluster_script get_script = { .text =
	"local v = redis.call('GET', KEYS[1])\n"
	"if not v then return nil end\n"
	"return { v, redis.call('PTTL', KEYS[1]) }\n",
};

/* A local miss: PENDING while Redis is asked, else FNG_STAGE_NEXT (invoke at once). */
static int shared_ask(struct fng_req *req, const struct fng_authorizer *a,
	struct fng_wire_str *values, char *key, size_t klen, char *part, size_t plen)
{
	struct fng_cluster *c = shared_authz(req);
	struct fng_authz_ask *ask;
	const char *argv[1];
	size_t lens[1];

	if (!c || !fng__cluster_up(c) ||
		!(argv[0] = shared_key(req->arena, c, part, plen, key, klen, &lens[0])) ||
		!(ask = malloc(sizeof(*ask)))) {
		return FNG_STAGE_NEXT;
	}
	*ask = (struct fng_authz_ask){ req, a, values, key, part, klen, plen };
	if (fng__cluster_eval(c, &get_script, 1, 1, argv, lens, on_shared, ask) != 0) {
		free(ask);
		return FNG_STAGE_NEXT;
	}
	req->authz_ask = ask;
	return FNG_STAGE_PENDING;
}

/* A fresh answer to Redis too (fire and forget), within cluster.shared_cache_entry_bytes. */
static void shared_remember(const struct fng_authz_call *call, bool allow)
{
	struct fng_req *sub = call->sub;
	struct fng_cluster *c = shared_authz(sub);
	struct fng_authz_answer ans = { allow, &sub->authz };
	struct fng_buf v = { 0 };
	const char *argv[5];
	size_t lens[5];
	char px[24];

	if (!c || !(argv[1] = shared_key(sub->arena, c, call->part, call->plen, call->key,
		call->klen, &lens[1]))) {
		return;
	}
	if (fng__authz_wire_encode(&ans, &v) == 0 && v.p &&
		v.len <= sub->cfg->cluster.shared_entry_max) {
		argv[0] = "SET";
		lens[0] = 3;
		argv[2] = v.p;
		lens[2] = v.len;
		argv[3] = "PX";
		lens[3] = 2;
		lens[4] = (size_t)snprintf(px, sizeof(px), "%" PRIu64,
			(uint64_t)call->a->fn.ttl_s * 1000);
		argv[4] = px;
		fng__cluster_command(c, 5, argv, lens, NULL, NULL);
	}
	fng__buf_finish(&v);
}

static int fn_start(struct fng_req *req, const struct fng_authorizer *a,
	const struct fng_route *route)
{
	const struct fng_authz_function *f = &a->fn;
	struct fng_functions *fns = host_of(req);
	struct fng_wire_str *values;
	char *key, *part;
	size_t klen, plen = 0;
	int rc;

	values = fng__arena_alloc(req->arena, (f->nsources + 1) * sizeof(*values));
	part = partition(req->arena, route, a, &plen);
	if (!values || !part) {
		return -ENOMEM;
	}
	rc = identity(req, a, values, &key, &klen);
	if (rc) {
		return rc;
	}
	if (f->ttl_s && fns && fns->authz_cache) {
		struct fng_authz_answer hit;

		bool found = fng__authz_cache_get(fns->authz_cache, part, plen, key, klen,
			uv_now(fns->loop), &hit);

		fng__authz_cache_metric(req, a->name, found);
		if (found) {
			return apply(req, hit.allow, hit.authz);
		}
		if (shared_ask(req, a, values, key, klen, part, plen) == FNG_STAGE_PENDING) {
			return FNG_STAGE_PENDING;
		}
	}
	return fn_invoke(req, a, values, key, klen, part, plen);
}

/* A context value as the handler reads it: a string as is, a number shortest, a boolean. */
static int context_text(struct fng_req *sub, const struct fng_wire_ctxv *c)
{
	char num[32];
	const char *v = num;
	size_t n;

	switch (c->type) {
	case FNG_WIRE_CTX_STR:
		return fng__req_authz_add(sub, c->k.p, c->k.len, c->s.p, c->s.len);
	case FNG_WIRE_CTX_NUM:
		fng__num_text(num, c->num);
		break;
	case FNG_WIRE_CTX_BOOL:
		v = c->b ? "true" : "false";
		break;
	}
	n = strlen(v);
	return fng__req_authz_add(sub, c->k.p, c->k.len, v, n);
}

void fng__host_authz_answer(struct fng_req *sub, const struct fng_wire_result *r, int *rc)
{
	struct fng_authz_call *call = sub->authz_call;
	const struct fng_wire_authz *w = &r->authz;

	if (r->failed || w->decision == FNG_WIRE_AUTHZ_NONE) {
		const char *f = call->a->fn.function;
		size_t n = strlen(f) + 96;
		char *d = fng__arena_alloc(sub->arena, n);

		if (d) {
			snprintf(d, n, r->failed ? "function %s returned an error" :
				"function %s answered malformed: no decision (allow or deny)", f);
		}
		sub->error_detail = d;
		*rc = FNG_EBAD_GATEWAY;
		return;
	}
	call->decision = w->decision;
	sub->authz.principal = fng__arena_strndup(sub->arena, w->principal.p, w->principal.len);
	if (w->usage_key.len) {
		sub->authz.usage_key = fng__arena_strndup(sub->arena, w->usage_key.p,
			w->usage_key.len);
	}
	if (!sub->authz.principal || (w->usage_key.len && !sub->authz.usage_key)) {
		*rc = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < w->ncontext; i++) {
		if (context_text(sub, &w->context[i])) {
			*rc = -ENOMEM;
			return;
		}
	}
	*rc = FNG_STAGE_DONE;
}

void fng__host_authz_event(struct fng_req *sub, struct fng_wire_event *ev)
{
	const struct fng_authz_call *call = sub->authz_call;
	bool token = call->a->type == FNG_AUTHZ_TOKEN;

	ev->authz_type = token ? (struct fng_wire_str){ "TOKEN", 5 }
			       : (struct fng_wire_str){ "REQUEST", 7 };
	ev->authorization_token = token ? call->values[0] : (struct fng_wire_str){ "", 0 };
	ev->identity_source = call->values;
	ev->nidentity_source = call->nvalues;
	ev->route_arn = (struct fng_wire_str){ call->route_arn, strlen(call->route_arn) };
}

/* Keeps a fresh answer for the call's identity while its TTL runs (a failure is not kept). */
static void remember(struct fng_functions *fns, const struct fng_authz_call *call)
{
	const struct fng_authz_function *f = &call->a->fn;
	struct fng_authz_cache_limits lim = { f->cache_entries, f->cache_bytes };
	struct fng_authz_answer ans = { call->decision == FNG_WIRE_AUTHZ_ALLOW, &call->sub->authz };

	if (!f->ttl_s || !fns || !fns->authz_cache) {
		return;
	}
	/* Not kept (too big, no memory): the next request asks the authorizer again. */
	(void)fng__authz_cache_put(fns->authz_cache, call->part, call->plen, &lim, call->key,
		call->klen, uv_now(fns->loop) + (uint64_t)f->ttl_s * 1000, &ans);
	shared_remember(call, ans.allow);
}

void fng__host_authz_done(struct fng_functions *fns, struct fng_req *sub, int rc)
{
	struct fng_authz_call *call = sub->authz_call;
	struct fng_req *req = call->req;

	if (rc == FNG_STAGE_DONE) {
		remember(fns, call);
		/* A client that left while the authorizer ran is not served for its answer. */
		rc = fng__req_has_client(req) ? apply(req, call->decision == FNG_WIRE_AUTHZ_ALLOW,
			&sub->authz) : UV_ECANCELED;
	} else if (rc != UV_ECANCELED) {
		const char *cause = sub->error_detail ? sub->error_detail : fng_strerror(rc);

		rc = failed(req, call->a, cause);
	}
	req->authz_call = NULL;
	fng__req_destroy(sub);
	fng__req_resume(req, rc);
}

static void fn_cancel(struct fng_req *req)
{
	struct fng_functions *fns = host_of(req);

	if (req->authz_ask) {
		/* Waiting for Redis: its answer, when it comes, is dropped. */
		req->authz_ask->req = NULL;
		req->authz_ask = NULL;
		fng__req_resume(req, UV_ECANCELED);
		return;
	}
	/* Queued or waiting in a pipeline: completed now. Running: its answer comes, dropped. */
	if (fns && req->authz_call) {
		fng__host_cancel(fns, req->authz_call->sub);
	}
}

const struct fng_authz_ops fng__host_authz_ops = { .start = fn_start, .cancel = fn_cancel };
