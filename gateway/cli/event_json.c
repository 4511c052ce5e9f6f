// SPDX-License-Identifier: MIT
/*
 * API Gateway events in JSON to the worker's event, and results back to JSON, for `fngate
 * invoke` (event_json.h). The rules follow what API Gateway itself sends and returns, so that
 * a sample event copied from its documentation or from a Lambda test console behaves here as
 * it would there:
 *
 * - payload 2.0: query parameters come from rawQueryString, decoded like the gateway does
 *   (query.h), one entry per occurrence; without rawQueryString, queryStringParameters' values
 *   are split at the commas API Gateway joined them with. Headers are kept as given (API
 *   Gateway joins repeated headers with commas, and that is what a handler behind it sees).
 * - payload 1.0: multiValueHeaders and multiValueQueryStringParameters, when present, give one
 *   entry per value (they hold every value; headers and queryStringParameters only the last);
 *   the raw query is rebuilt from the pairs, percent-encoded.
 * - WebSocket: requestContext's routeKey, eventType, connectionId and messageId.
 * - A body with isBase64Encoded is decoded; an answer whose body is not UTF-8 is returned in
 *   base64 with isBase64Encoded true.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>

#include "chars.h"
#include "event_json.h"
#include "query.h"
#include "request.h"
#include "wire_limits.h"
#include "wire_rules.h"
#include "ws.h"

static struct fng_wire_str ws_str(const char *s, size_t n)
{
	return (struct fng_wire_str){ s, n };
}

static struct fng_wire_str jstr(json_t *o, const char *key, const char *def)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	if (json_is_string(v)) {
		return ws_str(json_string_value(v), json_string_length(v));
	}
	return ws_str(def, strlen(def));
}

int fng__kvlist_add(struct fng_arena *a, struct fng_kvlist *l, struct fng_wire_str k,
	struct fng_wire_str v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct fng_wire_kv *n = fng__arena_alloc(a, cap * sizeof(*n));

		if (!n) {
			return -1;
		}
		if (l->n) {
			memcpy(n, l->v, l->n * sizeof(*n));
		}
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n++] = (struct fng_wire_kv){ k, v };
	return 0;
}

struct fng_wire_str fng__json_lower(struct fng_arena *a, const char *s, size_t n)
{
	char *d = fng__arena_alloc(a, n + 1);

	if (!d) {
		return ws_str("", 0);
	}
	memcpy(d, s, n);
	fng__lower_n(d, n);
	d[n] = '\0';
	return ws_str(d, n);
}

/*
 * Every string of the object o[key] as pairs: a string value is one pair, an array of strings
 * one pair per element (1.0's multiValue* objects). name_lower: header names.
 */
static int pairs(struct fng_arena *a, struct fng_kvlist *l, json_t *o, const char *key,
	bool name_lower)
{
	json_t *m = o ? json_object_get(o, key) : NULL, *v, *e;
	const char *k;
	size_t i;

	json_object_foreach(m, k, v) {
		struct fng_wire_str name = name_lower ? fng__json_lower(a, k, strlen(k)) :
							ws_str(k, strlen(k));

		if (json_is_string(v) &&
			fng__kvlist_add(a, l, name,
				ws_str(json_string_value(v), json_string_length(v)))) {
			return -1;
		}
		json_array_foreach(v, i, e) {
			if (json_is_string(e) &&
				fng__kvlist_add(a, l, name,
					ws_str(json_string_value(e), json_string_length(e)))) {
				return -1;
			}
		}
	}
	return 0;
}

/* 2.0 without rawQueryString: values API Gateway joined with commas, one pair each again. */
static int split_joined(struct fng_arena *a, struct fng_kvlist *l, json_t *o)
{
	json_t *m = o ? json_object_get(o, "queryStringParameters") : NULL, *v;
	const char *k;

	json_object_foreach(m, k, v) {
		const char *p = json_is_string(v) ? json_string_value(v) : NULL;

		while (p) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);

			if (fng__kvlist_add(a, l, ws_str(k, strlen(k)), ws_str(p, n))) {
				return -1;
			}
			p = comma ? comma + 1 : NULL;
		}
	}
	return 0;
}

int fng__kvlist_query(struct fng_arena *a, struct fng_kvlist *l, struct fng_wire_str raw)
{
	const char *p = raw.p, *end = raw.p + raw.len;
	struct fng_str k, v;
	int r;

	while ((r = fng__query_next(a, &p, end, &k, &v)) > 0) {
		if (fng__kvlist_add(a, l, ws_str(k.p, k.len), ws_str(v.p, v.len))) {
			return -1;
		}
	}
	return r < 0 ? -1 : 0;
}

struct fng_wire_str fng__kvlist_raw_query(struct fng_arena *a, const struct fng_kvlist *l)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t cap = 1;
	char *out, *o;

	for (size_t i = 0; i < l->n; i++) {
		cap += 3 * (l->v[i].k.len + l->v[i].v.len) + 2;
	}
	out = o = fng__arena_alloc(a, cap);
	if (!out) {
		return ws_str("", 0);
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct fng_wire_str *parts[2] = { &l->v[i].k, &l->v[i].v };

		if (i) {
			*o++ = '&';
		}
		for (int j = 0; j < 2; j++) {
			for (size_t c = 0; c < parts[j]->len; c++) {
				unsigned char ch = (unsigned char)parts[j]->p[c];

				if (fng__is_unreserved(ch)) {
					*o++ = (char)ch;
				} else {
					*o++ = '%';
					*o++ = hex[ch >> 4];
					*o++ = hex[ch & 15];
				}
			}
			if (j == 0) {
				*o++ = '=';
			}
		}
	}
	*o = '\0';
	return ws_str(out, (size_t)(o - out));
}

/* A JSON scalar as the text a handler reads (fng_event_authorizer); NULL without memory. */
static const char *scalar_text(struct fng_arena *a, json_t *v, size_t *len)
{
	char num[32];
	const char *s;

	if (json_is_string(v)) {
		*len = json_string_length(v);
		return json_string_value(v);
	}
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		s = num;
	} else if (json_is_real(v)) {
		s = fng__num_text(num, json_real_value(v));
	} else {
		s = json_is_true(v) ? "true" : "false";
	}
	*len = strlen(s);
	return fng__arena_strndup(a, s, *len);
}

/* The scalar members of obj, as prefix + name = text (objects, arrays and null left out). */
static int scalars(struct fng_arena *a, struct fng_kvlist *l, json_t *obj, const char *prefix)
{
	size_t plen = strlen(prefix);
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		size_t klen = strlen(k), vlen = 0;
		const char *text;
		char *name;

		if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v)) {
			continue;
		}
		text = scalar_text(a, v, &vlen);
		name = fng__arena_alloc(a, plen + klen + 1);
		if (!text || !name) {
			return -1;
		}
		memcpy(name, prefix, plen);
		memcpy(name + plen, k, klen + 1);
		if (fng__kvlist_add(a, l, ws_str(name, plen + klen), ws_str(text, vlen))) {
			return -1;
		}
	}
	return 0;
}

/*
 * requestContext.authorizer as a handler behind fngate's authorizers sees it (docs/sdk.md):
 * payload 2.0's function authorizer context ("lambda") by its keys and a JWT's claims
 * ("jwt.claims") as "claims.NAME", with "principalId" where the event has one; payload 1.0
 * and WebSocket events have the context itself as the object. Numbers and booleans become
 * their text, as the gateway passes them.
 */
static int authorizer(struct fng_arena *a, struct fng_kvlist *l, json_t *ctx)
{
	json_t *auth = ctx ? json_object_get(ctx, "authorizer") : NULL;
	json_t *lambda = json_object_get(auth, "lambda"), *jwt = json_object_get(auth, "jwt");
	json_t *principal = json_object_get(auth, "principalId");

	if (!json_is_object(auth)) {
		return 0;
	}
	if (!json_is_object(lambda) && !json_is_object(jwt)) {
		return scalars(a, l, auth, "");
	}
	if (json_is_string(principal) && fng__kvlist_add(a, l, ws_str("principalId", 11),
		ws_str(json_string_value(principal), json_string_length(principal)))) {
		return -1;
	}
	if (json_is_object(lambda) && scalars(a, l, lambda, "")) {
		return -1;
	}
	if (json_is_object(json_object_get(jwt, "claims")) &&
		scalars(a, l, json_object_get(jwt, "claims"), "claims.")) {
		return -1;
	}
	return 0;
}

static int body(struct fng_json_event *je, json_t *root, const char **why)
{
	json_t *b = json_object_get(root, "body");
	size_t n;

	if (!json_is_string(b)) {
		return 0;
	}
	n = json_string_length(b);
	if (json_is_true(json_object_get(root, "isBase64Encoded"))) {
		word32 out = (word32)(n / 4 * 3 + 3);
		byte *d = fng__arena_alloc(je->arena, out);

		if (!d || Base64_Decode((const byte *)json_string_value(b), (word32)n, d, &out)) {
			*why = d ? "isBase64Encoded is true but the body is not base64" : "out of memory";
			return -1;
		}
		je->ev.body = d;
		je->ev.body_len = out;
		return 0;
	}
	je->ev.body = json_string_value(b);
	je->ev.body_len = n;
	return 0;
}

/* A Lambda authorizer's event: "type" is TOKEN or REQUEST. */
static bool is_authorizer_event(json_t *root)
{
	const char *t = json_string_value(json_object_get(root, "type"));

	return t && (strcmp(t, "TOKEN") == 0 || strcmp(t, "REQUEST") == 0);
}

/*
 * An authorizer event's own fields: its type, the token (TOKEN), the identity sources
 * ("identitySource", an array of strings or API Gateway's comma-joined string; for a TOKEN
 * without it, the token) and the route's ARN (routeArn, or REST's methodArn).
 */
static int authorizer_fields(struct fng_arena *a, struct fng_wire_event *ev, json_t *root)
{
	json_t *ids = json_object_get(root, "identitySource"), *v;
	struct fng_wire_str *out;
	size_t n = 0, i;

	ev->event_type = ws_str("AUTHORIZER", 10);
	ev->authz_type = jstr(root, "type", "");
	ev->authorization_token = jstr(root, "authorizationToken", "");
	ev->route_arn = jstr(root, json_object_get(root, "routeArn") ? "routeArn" : "methodArn",
		"");
	out = fng__arena_alloc(a, (json_array_size(ids) + 2) * sizeof(*out));
	if (!out) {
		return -1;
	}
	json_array_foreach(ids, i, v) {
		if (json_is_string(v) && n < FNG_WIRE_MAX_IDENTITY) {
			out[n++] = ws_str(json_string_value(v), json_string_length(v));
		}
	}
	if (json_is_string(ids)) {
		out[n++] = ws_str(json_string_value(ids), json_string_length(ids));
	} else if (!ids && ev->authz_type.len == 5) {
		out[n++] = ev->authorization_token;
	}
	ev->identity_source = out;
	ev->nidentity_source = n;
	return 0;
}

static enum fng_event_shape shape_of(json_t *root, json_t *ctx)
{
	const char *v = json_string_value(json_object_get(root, "version"));

	if (ctx && (json_object_get(ctx, "connectionId") || json_object_get(ctx, "eventType"))) {
		return FNG_SHAPE_WS;
	}
	if ((v && strcmp(v, "1.0") == 0) || (!v && json_object_get(root, "httpMethod"))) {
		return FNG_SHAPE_V1;
	}
	return FNG_SHAPE_V2;
}

/*
 * What 1.0 and WebSocket events share: the client from requestContext.identity, and every
 * value of multiValueHeaders / multiValueQueryStringParameters when present (they hold all
 * of them; headers and queryStringParameters only the last).
 */
static int v1_common(struct fng_arena *a, struct fng_wire_event *ev, json_t *root,
	json_t *ident, struct fng_kvlist *hdr, struct fng_kvlist *qry)
{
	bool mh = json_is_object(json_object_get(root, "multiValueHeaders"));
	bool mq = json_is_object(json_object_get(root, "multiValueQueryStringParameters"));

	ev->source_ip = jstr(ident, "sourceIp", "127.0.0.1");
	ev->user_agent = jstr(ident, "userAgent", "");
	return pairs(a, hdr, root, mh ? "multiValueHeaders" : "headers", true) |
	       pairs(a, qry, root, mq ? "multiValueQueryStringParameters" : "queryStringParameters",
		       false);
}

int fng__json_event_from(json_t *root, struct fng_json_event *je, const char **why)
{
	struct fng_wire_event *ev = &je->ev;
	json_t *ctx = json_object_get(root, "requestContext");
	json_t *http = ctx ? json_object_get(ctx, "http") : NULL;
	json_t *ident = ctx ? json_object_get(ctx, "identity") : NULL;
	struct fng_kvlist hdr = { 0 }, qry = { 0 }, pp = { 0 }, sv = { 0 }, au = { 0 };
	struct fng_arena *a;
	struct timespec now;
	int err = 0;

	memset(je, 0, sizeof(*je));
	*why = "out of memory";
	if (!json_is_object(root)) {
		*why = "the event must be a JSON object (an API Gateway event)";
		return -1;
	}
	a = je->arena = fng__arena_create();
	if (!a) {
		return -1;
	}
	je->shape = shape_of(root, ctx);
	/* Whatever came in, the worker gets fngate's event: payload 2.0 (docs/protocol.md). */
	ev->version = ws_str("2.0", 3);
	clock_gettime(CLOCK_REALTIME, &now);
	ev->request_id = jstr(ctx, "requestId", "fngate-invoke");
	ev->api = jstr(ctx, "apiId", "local");
	ev->stage = jstr(ctx, "stage", "$default");
	ev->domain = jstr(ctx, "domainName", "localhost");
	ev->protocol = jstr(http ? http : ctx, "protocol", "HTTP/1.1");
	err |= pairs(a, &pp, root, "pathParameters", false);
	err |= pairs(a, &sv, root, "stageVariables", false);
	err |= authorizer(a, &au, ctx);
	switch (je->shape) {
	case FNG_SHAPE_V2: {
		json_t *cookies = json_object_get(root, "cookies"), *c;
		struct fng_wire_str *ck = fng__arena_alloc(a,
			(json_array_size(cookies) + 1) * sizeof(*ck));
		size_t i;

		ev->route_key = jstr(root, "routeKey", "$default");
		ev->raw_path = jstr(root, "rawPath", "/");
		ev->raw_query = jstr(root, "rawQueryString", "");
		ev->method = jstr(http, "method", "GET");
		ev->path = jstr(http, "path", ev->raw_path.p);
		ev->source_ip = jstr(http, "sourceIp", "127.0.0.1");
		ev->user_agent = jstr(http, "userAgent", "");
		err |= pairs(a, &hdr, root, "headers", true);
		err |= json_object_get(root, "rawQueryString") ?
			fng__kvlist_query(a, &qry, ev->raw_query) : split_joined(a, &qry, root);
		if (!ck) {
			err = -1;
			break;
		}
		json_array_foreach(cookies, i, c) {
			if (json_is_string(c)) {
				ck[ev->ncookies++] = ws_str(json_string_value(c), json_string_length(c));
			}
		}
		ev->cookies = ck;
		break;
	}
	case FNG_SHAPE_V1: {
		const char *resource;

		ev->method = jstr(root, "httpMethod", "GET");
		ev->raw_path = ev->path = jstr(root, "path", "/");
		resource = jstr(root, "resource", ev->path.p).p;
		{
			size_t n = ev->method.len + 1 + strlen(resource);
			char *rk = fng__arena_alloc(a, n + 1);

			if (rk) {
				snprintf(rk, n + 1, "%s %s", ev->method.p, resource);
				ev->route_key = ws_str(rk, n);
			}
		}
		err |= v1_common(a, ev, root, ident, &hdr, &qry);
		ev->raw_query = fng__kvlist_raw_query(a, &qry);
		break;
	}
	case FNG_SHAPE_WS:
		ev->route_key = jstr(ctx, "routeKey", "$default");
		ev->event_type = jstr(ctx, "eventType", "MESSAGE");
		ev->connection_id = jstr(ctx, "connectionId", "");
		ev->message_id = jstr(ctx, "messageId", "");
		ev->method = ws_str("", 0);
		ev->raw_path = ev->path = ws_str("/", 1);
		ev->raw_query = ws_str("", 0);
		err |= v1_common(a, ev, root, ident, &hdr, &qry);
		break;
	case FNG_SHAPE_AUTHORIZER:
		break; /* never from shape_of(): set below, around a 1.0 or 2.0 event */
	}
	if (!err && is_authorizer_event(root)) {
		je->shape = FNG_SHAPE_AUTHORIZER;
		err = authorizer_fields(a, ev, root);
	}
	if (err || !ev->route_key.p) {
		return -1;
	}
	ev->headers = hdr.v;
	ev->nheaders = hdr.n;
	ev->query = qry.v;
	ev->nquery = qry.n;
	ev->path_params = pp.v;
	ev->npath_params = pp.n;
	ev->stage_vars = sv.v;
	ev->nstage_vars = sv.n;
	ev->authorizer = au.v;
	ev->nauthorizer = au.n;
	if (body(je, root, why)) {
		return -1;
	}
	ev->time_epoch_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	return 0;
}

void fng__json_event_finish(struct fng_json_event *je)
{
	fng__arena_destroy(je->arena);
	je->arena = NULL;
}

/* A JSON string of the bytes: as text when they are UTF-8, else base64 (*b64 set). */
static json_t *body_json(const void *p, size_t n, bool *b64)
{
	struct fng_utf8 u = { 0 };
	word32 out;
	char *enc;
	json_t *s;

	if (!n) {
		*b64 = false;
		return json_string("");
	}
	*b64 = !(fng__utf8_feed(&u, p, n) && fng__utf8_complete(&u));
	if (!*b64) {
		return json_stringn(p, n);
	}
	out = (word32)((n + 2) / 3 * 4 + 1);
	enc = malloc(out);
	if (!enc || Base64_Encode_NoNl(p, (word32)n, (byte *)enc, &out)) {
		free(enc);
		return NULL;
	}
	s = json_stringn(enc, out);
	free(enc);
	return s;
}

/* The values of name so far in a multi-value object, made if absent. */
static json_t *values_of(json_t *multi, const char *name)
{
	json_t *a = json_object_get(multi, name);

	if (!a) {
		a = json_array();
		json_object_set_new(multi, name, a);
	}
	return a;
}

json_t *fng__json_response(const struct fng_wire_result *r, enum fng_event_shape shape)
{
	json_t *o = json_object(), *h = json_object(), *multi = NULL, *b;
	bool b64 = false;

	if (!o || !h) {
		json_decref(o);
		json_decref(h);
		return NULL;
	}
	/* What the gateway answers too: a status that is not an HTTP answer is a 502. */
	json_object_set_new(o, "statusCode", json_integer(r->failed ||
		!fng__is_answer_status(r->status) ? 502 : r->status));
	if (shape == FNG_SHAPE_V1) {
		multi = json_object();
	}
	for (size_t i = 0; i < r->nheaders; i++) {
		char *name = strndup(r->headers[i].k.p, r->headers[i].k.len);
		json_t *prev, *v = json_stringn(r->headers[i].v.p, r->headers[i].v.len);

		if (!name || !v) {
			free(name);
			json_decref(v);
			continue;
		}
		prev = json_object_get(h, name);
		if (multi) {
			/* 1.0: every value in multiValueHeaders, the last one in headers. */
			json_array_append(values_of(multi, name), v);
			json_object_set(h, name, v);
		} else if (prev) {
			/* 2.0: API Gateway joins a repeated header with commas. */
			size_t pl = json_string_length(prev), vl = r->headers[i].v.len;
			char *j = malloc(pl + 1 + vl);

			if (j) {
				memcpy(j, json_string_value(prev), pl);
				j[pl] = ',';
				memcpy(j + pl + 1, r->headers[i].v.p, vl);
				json_object_set_new(h, name, json_stringn(j, pl + 1 + vl));
				free(j);
			}
		} else {
			json_object_set(h, name, v);
		}
		json_decref(v);
		free(name);
	}
	if (multi) {
		for (size_t i = 0; i < r->ncookies; i++) {
			json_t *c = json_stringn(r->cookies[i].p, r->cookies[i].len);

			json_array_append(values_of(multi, "Set-Cookie"), c);
			json_object_set_new(h, "Set-Cookie", c);
		}
		json_object_set_new(o, "headers", h);
		json_object_set_new(o, "multiValueHeaders", multi);
	} else {
		json_t *c = json_array();

		for (size_t i = 0; i < r->ncookies; i++) {
			json_array_append_new(c, json_stringn(r->cookies[i].p, r->cookies[i].len));
		}
		json_object_set_new(o, "headers", h);
		json_object_set_new(o, "cookies", c);
	}
	b = body_json(r->body, r->body_len, &b64);
	json_object_set_new(o, "body", b ? b : json_string(""));
	json_object_set_new(o, "isBase64Encoded", json_boolean(b64));
	if (r->failed) {
		json_object_set_new(o, "error", json_string("the handler returned an error"));
	} else if (!fng__is_answer_status(r->status)) {
		char why[96];

		snprintf(why, sizeof(why), "the handler answered status %d, which is not an HTTP "
			"answer (200-599)", r->status);
		json_object_set_new(o, "error", json_string(why));
	}
	return o;
}

json_t *fng__json_authorizer_answer(const struct fng_wire_result *r)
{
	const struct fng_wire_authz *a = &r->authz;
	json_t *o, *ctx;

	if (r->failed || a->decision == FNG_WIRE_AUTHZ_NONE) {
		return NULL;
	}
	o = json_object();
	ctx = json_object();
	if (!o || !ctx) {
		json_decref(o);
		json_decref(ctx);
		return NULL;
	}
	json_object_set_new(o, "isAuthorized", json_boolean(a->decision == FNG_WIRE_AUTHZ_ALLOW));
	json_object_set_new(o, "principalId", json_stringn(a->principal.p, a->principal.len));
	for (size_t i = 0; i < a->ncontext; i++) {
		const struct fng_wire_ctxv *c = &a->context[i];
		bool integral = c->num >= -9007199254740992.0 && c->num <= 9007199254740992.0 &&
			c->num == (double)(json_int_t)c->num;
		json_t *v = c->type == FNG_WIRE_CTX_STR ? json_stringn(c->s.p, c->s.len) :
			    c->type == FNG_WIRE_CTX_BOOL ? json_boolean(c->b) :
			    integral ? json_integer((json_int_t)c->num) : json_real(c->num);

		json_object_setn_new(ctx, c->k.p, c->k.len, v);
	}
	json_object_set_new(o, "context", ctx);
	if (a->usage_key.len) {
		json_object_set_new(o, "usageIdentifierKey",
			json_stringn(a->usage_key.p, a->usage_key.len));
	}
	return o;
}

/*
 * (event_json.h) As the gateway's stage "trace" would: the traceparent header continued when
 * it is valid, else a new trace (sampled); a span of its own.
 */
void fng__json_event_trace(struct fng_wire_event *ev, char tp[56])
{
	struct fng_traceparent in = { .flags = 1 };
	char span[17];
	bool have = false;

	for (size_t i = 0; i < ev->nheaders && !have; i++) {
		const struct fng_wire_kv *h = &ev->headers[i];

		have = h->k.len == 11 && strncasecmp(h->k.p, "traceparent", 11) == 0 &&
		       fng__traceparent_parse(h->v.p, h->v.len, &in);
	}
	if (!have) {
		fng__trace_random_id(in.trace_id, 2);
		in.flags = 1;
	}
	fng__trace_random_id(span, 1);
	snprintf(tp, FNG_TRACEPARENT_LEN + 1, "00-%s-%s-%02x", in.trace_id, span, in.flags);
	ev->trace = true;
	ev->traceparent = (struct fng_wire_str){ tp, FNG_TRACEPARENT_LEN };
	ev->tracestate = (struct fng_wire_str){ "", 0 };
}
