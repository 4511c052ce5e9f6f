// SPDX-License-Identifier: MIT
/*
 * Request accessors and the error edge: the one place where an error code becomes a status
 * code and a JSON body.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "errors.h"
#include "query.h"
#include "request.h"
#include "server.h"

const struct fng_header *fng__req_header(const struct fng_req *req, const char *name, size_t len)
{
	for (unsigned i = 0; i < req->nheaders; i++) {
		if (fng__str_ieq(req->headers[i].name, name, len)) {
			return &req->headers[i];
		}
	}
	return NULL;
}

bool fng__req_query(struct fng_req *req, struct fng_str name, struct fng_str *value)
{
	const char *p = req->query.p, *end = req->query.p + req->query.len;
	struct fng_str k, v;

	while (fng__query_next(req->arena, &p, end, &k, &v) > 0) {
		if (k.len == name.len && memcmp(k.p, name.p, name.len) == 0) {
			*value = v;
			return true;
		}
	}
	return false;
}

int fng__resp_header(struct fng_req *req, const char *name, size_t nlen, const char *value,
	size_t vlen)
{
	struct fng_resp *r = &req->resp;
	char *n, *v;

	if (r->nheaders == r->capheaders) {
		unsigned cap = r->capheaders ? r->capheaders * 2 : 8;
		struct fng_header *h = fng__arena_alloc(req->arena, cap * sizeof(*h));

		if (!h) {
			return UV_ENOMEM;
		}
		if (r->nheaders) {
			memcpy(h, r->headers, r->nheaders * sizeof(*h));
		}
		r->headers = h;
		r->capheaders = cap;
	}
	n = fng__arena_strndup(req->arena, name, nlen);
	v = fng__arena_strndup(req->arena, value, vlen);
	if (!n || !v) {
		return UV_ENOMEM;
	}
	r->headers[r->nheaders++] = (struct fng_header){ { n, nlen }, { v, vlen } };
	return 0;
}

void fng__req_error_response(struct fng_req *req, int err, const char *detail)
{
	struct fng_resp *r = &req->resp;
	const char *msg = detail ? detail : fng_strerror(err);

	r->status = fng__err_status(err);
	r->nheaders = 0;
	r->chunked = false;
	r->body.len = 0;
	r->cache_ttl_s = -1; /* an error is not the handler's answer to cache */
	r->cache_tags = NULL;
	r->ncache_tags = 0;
	fng__resp_header(req, "content-type", 12, "application/json", 16);
	/*
	 * The gateway's own answers are JSON that nothing should sniff, frame or run anything
	 * from: said so, whatever the client (testssl.sh counts their absence as a finding).
	 */
	fng__resp_header(req, "x-content-type-options", 22, "nosniff", 7);
	fng__resp_header(req, "content-security-policy", 23,
		"default-src 'none'; frame-ancestors 'none'", 42);
	if (err == FNG_EMETHOD_NOT_ALLOWED && req->match.nallow) {
		struct fng_buf allow = { 0 };

		for (unsigned i = 0; i < req->match.nallow; i++) {
			fng__buf_printf(&allow, "%s%s", i ? ", " : "", req->match.allow[i]);
		}
		if (allow.len) {
			fng__resp_header(req, "allow", 5, allow.p, allow.len);
		}
		fng__buf_finish(&allow);
	}
	if (err == FNG_EUNAUTHORIZED && req->challenge) {
		fng__resp_header(req, "www-authenticate", 16, req->challenge,
			strlen(req->challenge));
	}
	if (err == FNG_EUPGRADE_REQUIRED) {
		/* RFC 7231 6.5.15 and RFC 6455 4.4: what to upgrade to, and which version. */
		fng__resp_header(req, "upgrade", 7, "websocket", 9);
		fng__resp_header(req, "sec-websocket-version", 21, "13", 2);
	}
	if (fng__err_json(&r->body, msg, NULL, NULL, 0) == 0) {
		fng__buf_str(&r->body, "\n");
	}
}

struct fng_req *fng__req_new_event(struct fng_server *srv, struct fng_config *cfg,
	const struct fng_req_ops *ops, const void *body, size_t len)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_req *req;

	if (!a) {
		return NULL;
	}
	req = fng__arena_zalloc(a, sizeof(*req));
	if (!req || (len && fng__buf_append(&req->body, body, len))) {
		fng__arena_destroy(a);
		return NULL;
	}
	req->arena = a;
	req->ops = ops;
	req->srv = srv;
	req->cfg = fng__config_ref(cfg);
	req->t_start = uv_hrtime();
	req->method = FNG_STR("");
	req->path = FNG_STR("");
	req->target = FNG_STR("");
	req->route_path = FNG_STR("/");
	req->http_major = 1;
	req->http_minor = 1;
	req->resp.cache_ttl_s = -1;
	fng__server_request_id(srv, req->request_id);
	req->request_id_len = 36;
	req->bytes_in = len;
	req->has_body = len > 0;
	req->body_complete = true;
	return req;
}

const char *fng__event_name(enum fng_event e)
{
	static const char *const names[] = {
		[FNG_EVENT_MESSAGE] = "MESSAGE",
		[FNG_EVENT_DISCONNECT] = "DISCONNECT",
		[FNG_EVENT_SCHEDULE] = "SCHEDULE",
		[FNG_EVENT_AUTHORIZER] = "AUTHORIZER",
	};

	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : NULL;
}

int fng__req_authz_add(struct fng_req *req, const char *name, size_t nlen, const char *value,
	size_t vlen)
{
	struct fng_req_authz *a = &req->authz;
	char *k, *v;

	if (a->nctx == a->capctx) {
		size_t cap = a->capctx ? a->capctx * 2 : 8;
		struct fng_wire_kv *n = fng__arena_alloc(req->arena, cap * sizeof(*n));

		if (!n) {
			return -ENOMEM;
		}
		if (a->nctx) {
			memcpy(n, a->ctx, a->nctx * sizeof(*n));
		}
		a->ctx = n;
		a->capctx = cap;
	}
	k = fng__arena_strndup(req->arena, name, nlen);
	v = fng__arena_strndup(req->arena, value, vlen);
	if (!k || !v) {
		return -ENOMEM;
	}
	a->ctx[a->nctx++] = (struct fng_wire_kv){ { k, nlen }, { v, vlen } };
	return 0;
}

int fng__req_authz_copy(struct fng_req *req, const struct fng_req_authz *src)
{
	struct fng_req_authz *a = &req->authz;

	memset(a, 0, sizeof(*a));
	a->set = src->set;
	if (src->principal) {
		a->principal = fng__arena_strndup(req->arena, src->principal, strlen(src->principal));
	}
	if (src->usage_key) {
		a->usage_key = fng__arena_strndup(req->arena, src->usage_key, strlen(src->usage_key));
	}
	if ((src->principal && !a->principal) || (src->usage_key && !a->usage_key)) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < src->nctx; i++) {
		const struct fng_wire_kv *kv = &src->ctx[i];

		if (fng__req_authz_add(req, kv->k.p, kv->k.len, kv->v.p, kv->v.len)) {
			return -ENOMEM;
		}
	}
	return 0;
}

/* Bytes of s and its NUL in a clone (NULL: none). */
static size_t clone_str_size(const char *s, size_t n)
{
	return s ? n + 1 : 0;
}

/* A NUL-terminated copy of s[0..n) at *at, which advances past it. */
static char *clone_str(char **at, const char *s, size_t n)
{
	char *d = *at;

	memcpy(d, s, n);
	d[n] = '\0';
	*at += n + 1;
	return d;
}

void fng__client_cert_ref(struct fng_client_cert *cc)
{
	atomic_fetch_add_explicit(&cc->refs, 1, memory_order_relaxed);
}

void fng__client_cert_unref(struct fng_client_cert *cc)
{
	if (cc && atomic_fetch_sub_explicit(&cc->refs, 1, memory_order_acq_rel) == 1) {
		free(cc);
	}
}

static void client_cert_defer(void *arg)
{
	fng__client_cert_unref(arg);
}

int fng__req_set_client_cert(struct fng_req *req, struct fng_client_cert *cc)
{
	if (!cc) {
		return 0;
	}
	if (fng__arena_defer(req->arena, client_cert_defer, cc) != 0) {
		return -ENOMEM;
	}
	fng__client_cert_ref(cc);
	req->client_cert = cc;
	return 0;
}

struct fng_req_authz *fng__req_authz_clone(const struct fng_req_authz *src, size_t *size)
{
	size_t n = sizeof(*src) + src->nctx * sizeof(*src->ctx) +
		clone_str_size(src->principal, src->principal ? strlen(src->principal) : 0) +
		clone_str_size(src->usage_key, src->usage_key ? strlen(src->usage_key) : 0);
	struct fng_req_authz *a;
	char *at;

	for (size_t i = 0; i < src->nctx; i++) {
		n += src->ctx[i].k.len + src->ctx[i].v.len + 2;
	}
	a = malloc(n);
	if (!a) {
		return NULL;
	}
	*a = (struct fng_req_authz){ .set = src->set, .nctx = src->nctx, .capctx = src->nctx };
	a->ctx = (struct fng_wire_kv *)(a + 1);
	at = (char *)(a->ctx + src->nctx);
	if (src->principal) {
		a->principal = clone_str(&at, src->principal, strlen(src->principal));
	}
	if (src->usage_key) {
		a->usage_key = clone_str(&at, src->usage_key, strlen(src->usage_key));
	}
	for (size_t i = 0; i < src->nctx; i++) {
		const struct fng_wire_kv *kv = &src->ctx[i];

		a->ctx[i].k = (struct fng_wire_str){ clone_str(&at, kv->k.p, kv->k.len), kv->k.len };
		a->ctx[i].v = (struct fng_wire_str){ clone_str(&at, kv->v.p, kv->v.len), kv->v.len };
	}
	*size = n;
	return a;
}
