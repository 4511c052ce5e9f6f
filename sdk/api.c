// SPDX-License-Identifier: MIT
/*
 * The public handler API of fngate.h: event accessors over the decoded INVOKE, the response
 * builder whose result runtime.c encodes into RESULT, and fng_log(). Everything a handler gets
 * back lives in the invocation (the decoded frame or the scratch arena) and is released when
 * the handler returns. Like runtime.c this runs under the worker's seccomp policy: no stdio
 * streams, no system call but write(2) (fng_log), clock_gettime and getrandom (once per
 * worker, to seed the span ids of fng_trace_child()).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "fngate.h"
#include "sdk_internal.h"
#include "wire_limits.h"

/* ---- the event ---- */

/* Decoded strings are NUL-terminated; a zeroed event (no invocation) reads as "". */
static const char *str(const struct fng_wire_str *s)
{
	return s->p ? s->p : "";
}

FNG_EXPORT const char *fng_event_method(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.method) : "";
}

FNG_EXPORT const char *fng_event_raw_path(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.raw_path) : "";
}

FNG_EXPORT const char *fng_event_raw_query(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.raw_query) : "";
}

FNG_EXPORT const char *fng_event_route_key(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.route_key) : "";
}

FNG_EXPORT const char *fng_event_api(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.api) : "";
}

FNG_EXPORT const char *fng_event_stage(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.stage) : "";
}

FNG_EXPORT const char *fng_event_request_id(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.request_id) : "";
}

FNG_EXPORT const char *fng_event_source_ip(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.source_ip) : "";
}

FNG_EXPORT const char *fng_event_traceparent(const struct fng_ctx *ctx)
{
	return ctx && ctx->ev.trace ? str(&ctx->ev.traceparent) : NULL;
}

FNG_EXPORT const char *fng_event_tracestate(const struct fng_ctx *ctx)
{
	return ctx && ctx->ev.trace && ctx->ev.tracestate.len ? ctx->ev.tracestate.p : NULL;
}

/*
 * Span ids: splitmix64 over a state seeded from getrandom() the first time a worker asks
 * (fresh in every worker: no handler calls it in the supervisor the workers are forked
 * from). Unique, not secret: a span id only names a span.
 */
static uint64_t span_state;
static bool span_seeded;

static uint64_t span_next(void)
{
	uint64_t z;

	if (!span_seeded) {
		struct timespec ts;

		if (getrandom(&span_state, sizeof(span_state), GRND_NONBLOCK) !=
			(ssize_t)sizeof(span_state)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			span_state = (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec;
		}
		span_seeded = true;
	}
	do {
		z = (span_state += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
	} while (z == 0); /* an all-zero span id is invalid */
	return z;
}

FNG_EXPORT int fng_trace_child(const struct fng_ctx *ctx, char out[FNG_TRACEPARENT_LEN + 1])
{
	static const char xd[] = "0123456789abcdef";
	uint64_t span;

	if (!out) {
		return -1;
	}
	out[0] = '\0';
	if (!ctx || !ctx->ev.trace || ctx->ev.traceparent.len != FNG_TRACEPARENT_LEN) {
		return -1;
	}
	/* The decoder proved it a version 00 traceparent: only the span id changes. */
	memcpy(out, ctx->ev.traceparent.p, FNG_TRACEPARENT_LEN + 1);
	span = span_next();
	for (int i = 15; i >= 0; i--) {
		out[36 + i] = xd[span & 15];
		span >>= 4;
	}
	return 0;
}

FNG_EXPORT const char *fng_event_connection_id(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.connection_id) : "";
}

FNG_EXPORT const char *fng_event_type(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.event_type) : "";
}

FNG_EXPORT const char *fng_event_message_id(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.message_id) : "";
}

/*
 * The i-th value named name in kv[0..n). Decoded strings are NUL-terminated, so the value can
 * be returned as is; a name with a NUL inside never matches (names compare in full).
 */
static const char *kv_find(const struct fng_wire_kv *kv, size_t n, const char *name, size_t i,
	bool icase)
{
	size_t len;

	if (!kv || !name) {
		return NULL;
	}
	len = strlen(name);
	for (size_t j = 0; j < n; j++) {
		if (kv[j].k.len != len) {
			continue;
		}
		if (icase ? strncasecmp(kv[j].k.p, name, len) : memcmp(kv[j].k.p, name, len)) {
			continue;
		}
		if (i-- == 0) {
			return kv[j].v.p;
		}
	}
	return NULL;
}

FNG_EXPORT const char *fng_event_path_param(const struct fng_ctx *ctx, const char *name)
{
	return ctx ? kv_find(ctx->ev.path_params, ctx->ev.npath_params, name, 0, false) : NULL;
}

FNG_EXPORT const char *fng_event_query(const struct fng_ctx *ctx, const char *name)
{
	return fng_event_query_n(ctx, name, 0);
}

FNG_EXPORT const char *fng_event_query_n(const struct fng_ctx *ctx, const char *name, size_t i)
{
	return ctx ? kv_find(ctx->ev.query, ctx->ev.nquery, name, i, false) : NULL;
}

FNG_EXPORT const char *fng_event_header(const struct fng_ctx *ctx, const char *name)
{
	return fng_event_header_n(ctx, name, 0);
}

FNG_EXPORT const char *fng_event_header_n(const struct fng_ctx *ctx, const char *name, size_t i)
{
	return ctx ? kv_find(ctx->ev.headers, ctx->ev.nheaders, name, i, true) : NULL;
}

FNG_EXPORT const char *fng_event_stage_var(const struct fng_ctx *ctx, const char *name)
{
	return ctx ? kv_find(ctx->ev.stage_vars, ctx->ev.nstage_vars, name, 0, false) : NULL;
}

FNG_EXPORT const char *fng_event_authorizer(const struct fng_ctx *ctx, const char *key)
{
	return ctx ? kv_find(ctx->ev.authorizer, ctx->ev.nauthorizer, key, 0, false) : NULL;
}

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Looks for name in one "a=1; b=2" list (a Cookie header, or one item of the event's cookies
 * array). Returns a NUL-terminated copy of the value in the scratch arena, without the
 * optional whitespace around it; NULL if absent (or out of memory).
 */
static const char *cookie_in(struct fng_ctx *ctx, const char *list, size_t list_len,
	const char *name, size_t name_len)
{
	const char *p = list, *end = list + list_len;

	while (p < end) {
		const char *item_end = memchr(p, ';', (size_t)(end - p));
		const char *eq, *ne, *v, *ve;

		if (!item_end) {
			item_end = end;
		}
		while (p < item_end && ows(*p)) {
			p++;
		}
		eq = memchr(p, '=', (size_t)(item_end - p));
		ne = eq;
		while (ne && ne > p && ows(ne[-1])) {
			ne--;
		}
		if (eq && (size_t)(ne - p) == name_len && memcmp(p, name, name_len) == 0) {
			v = eq + 1;
			ve = item_end;
			while (v < ve && ows(*v)) {
				v++;
			}
			while (ve > v && ows(ve[-1])) {
				ve--;
			}
			return fng__sarena_strndup(&ctx->scratch, v, (size_t)(ve - v));
		}
		p = item_end + 1;
	}
	return NULL;
}

FNG_EXPORT const char *fng_event_cookie(const struct fng_ctx *ctx, const char *name)
{
	/* The scratch arena is the invocation's, not part of what the caller sees as const. */
	struct fng_ctx *c = (struct fng_ctx *)ctx;
	const char *v;
	size_t len;

	if (!ctx || !name || !*name) {
		return NULL;
	}
	len = strlen(name);
	for (size_t i = 0; i < ctx->ev.ncookies; i++) {
		v = cookie_in(c, ctx->ev.cookies[i].p, ctx->ev.cookies[i].len, name, len);
		if (v) {
			return v;
		}
	}
	for (size_t i = 0; (v = fng_event_header_n(ctx, "cookie", i)) != NULL; i++) {
		v = cookie_in(c, v, strlen(v), name, len);
		if (v) {
			return v;
		}
	}
	return NULL;
}

FNG_EXPORT const void *fng_event_body(const struct fng_ctx *ctx, size_t *len)
{
	if (!ctx || !ctx->ev.body) {
		if (len) {
			*len = 0;
		}
		return "";
	}
	if (len) {
		*len = ctx->ev.body_len;
	}
	return ctx->ev.body;
}

FNG_EXPORT int64_t fng_time_left_ms(const struct fng_ctx *ctx)
{
	struct timespec ts;
	int64_t now;

	if (!ctx || clock_gettime(CLOCK_REALTIME, &ts)) {
		return 0;
	}
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (ctx->ev.deadline_epoch_ms < now) {
		return 0;
	}
	return ctx->ev.deadline_epoch_ms - now;
}

FNG_EXPORT const char *fng_env(const struct fng_ctx *ctx, const char *name)
{
	return name ? getenv(name) : NULL;
}

/* ---- the response ---- */

/*
 * Every response call charges what it adds to the RESULT frame against max_body, so the
 * frame the runtime encodes at the end always fits the cap the gateway reads with.
 */
static bool charge(struct fng_ctx *ctx, size_t n)
{
	if (n > ctx->max_body || ctx->budget > ctx->max_body - n) {
		/* A truncated response must never be served as if it were whole. */
		ctx->overflowed = true;
		return false;
	}
	ctx->budget += n;
	return true;
}

FNG_EXPORT int fng_response_status(struct fng_ctx *ctx, int status)
{
	/* What the gateway would answer 502 for is refused here, where the handler can see it. */
	if (!ctx || !fng__is_answer_status(status)) {
		return -1;
	}
	ctx->status = status;
	return 0;
}

FNG_EXPORT int fng_response_header(struct fng_ctx *ctx, const char *name, const char *value)
{
	size_t nlen, vlen;
	char *k, *v;

	if (!ctx || !name || !value) {
		return -1;
	}
	nlen = strlen(name);
	vlen = strlen(value);
	/* A reserved header would be dropped by the gateway: refused here instead. */
	if (!fng__is_token(name, nlen) || fng__is_reserved_header(name, nlen) ||
		!fng__is_field_value(value, vlen) || ctx->nheaders >= FNG_WIRE_MAX_HEADERS) {
		return -1;
	}
	if (ctx->nheaders == ctx->cap_headers) {
		size_t cap = ctx->cap_headers ? ctx->cap_headers * 2 : 16;
		struct fng_wire_kv *h = realloc(ctx->headers, cap * sizeof(*h));

		if (!h) {
			return -1;
		}
		ctx->headers = h;
		ctx->cap_headers = cap;
	}
	k = fng__sarena_strndup(&ctx->scratch, name, nlen);
	v = fng__sarena_strndup(&ctx->scratch, value, vlen);
	if (!k || !v || !charge(ctx, nlen + vlen + FNG__RESULT_PER_HEADER)) {
		return -1;
	}
	ctx->headers[ctx->nheaders].k = (struct fng_wire_str){ k, nlen };
	ctx->headers[ctx->nheaders++].v = (struct fng_wire_str){ v, vlen };
	return 0;
}

FNG_EXPORT int fng_response_cookie(struct fng_ctx *ctx, const char *cookie)
{
	size_t len;
	char *c;

	if (!ctx || !cookie) {
		return -1;
	}
	len = strlen(cookie);
	if (len == 0 || !fng__is_field_value(cookie, len) || ctx->ncookies >= FNG_WIRE_MAX_COOKIES) {
		return -1;
	}
	if (ctx->ncookies == ctx->cap_cookies) {
		size_t cap = ctx->cap_cookies ? ctx->cap_cookies * 2 : 8;
		struct fng_wire_str *s = realloc(ctx->cookies, cap * sizeof(*s));

		if (!s) {
			return -1;
		}
		ctx->cookies = s;
		ctx->cap_cookies = cap;
	}
	c = fng__sarena_strndup(&ctx->scratch, cookie, len);
	if (!c || !charge(ctx, len + FNG__RESULT_PER_COOKIE)) {
		return -1;
	}
	ctx->cookies[ctx->ncookies++] = (struct fng_wire_str){ c, len };
	return 0;
}

static int body_reserve(struct fng_ctx *ctx, size_t extra)
{
	struct fng_wire_buf *b = &ctx->body;
	size_t cap;
	uint8_t *p;

	if (b->cap - b->len >= extra) {
		return 0;
	}
	cap = b->cap ? b->cap : 1024;
	while (cap - b->len < extra) {
		cap *= 2; /* charge() keeps len + extra under max_body: no overflow */
	}
	p = realloc(b->p, cap);
	if (!p) {
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

FNG_EXPORT int fng_response_write(struct fng_ctx *ctx, const void *data, size_t len)
{
	if (!ctx || (!data && len)) {
		return -1;
	}
	ctx->body_written = true;
	if (len == 0) {
		return 0;
	}
	if (!charge(ctx, len)) {
		return -1;
	}
	if (body_reserve(ctx, len)) {
		ctx->budget -= len;
		return -1;
	}
	memcpy(ctx->body.p + ctx->body.len, data, len);
	ctx->body.len += len;
	return 0;
}

/* fngate.h cannot mark a va_list function for -Wformat; the definition can. */
FNG_EXPORT FNG_PRINTF(2, 0) int fng_response_vprintf(struct fng_ctx *ctx, const char *fmt,
	va_list ap)
{
	va_list aq;
	int n;

	if (!ctx || !fmt) {
		return -1;
	}
	ctx->body_written = true;
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		return -1;
	}
	if (n == 0) {
		return 0;
	}
	if (!charge(ctx, (size_t)n)) {
		return -1;
	}
	/* +1: vsnprintf writes a NUL past the text; it is not part of the body */
	if (body_reserve(ctx, (size_t)n + 1)) {
		ctx->budget -= (size_t)n;
		return -1;
	}
	vsnprintf((char *)ctx->body.p + ctx->body.len, (size_t)n + 1, fmt, ap);
	ctx->body.len += (size_t)n;
	return 0;
}

FNG_EXPORT int fng_response_printf(struct fng_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fng_response_vprintf(ctx, fmt, ap);
	va_end(ap);
	return rc;
}

FNG_EXPORT int fng_response_json(struct fng_ctx *ctx, int status, const char *fmt, ...)
{
	va_list ap;
	size_t i;
	int rc;

	if (fng_response_status(ctx, status)) {
		return -1;
	}
	for (i = 0; i < ctx->nheaders; i++) {
		const struct fng_wire_str *k = &ctx->headers[i].k;

		if (k->len == 12 && strcasecmp(k->p, "content-type") == 0) {
			break;
		}
	}
	if (i == ctx->nheaders && fng_response_header(ctx, "content-type", "application/json")) {
		return -1;
	}
	va_start(ap, fmt);
	rc = fng_response_vprintf(ctx, fmt, ap);
	va_end(ap);
	return rc;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80) {
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	}
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80) {
			return 0;
		}
		return (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/*
 * Escapes s for the inside of a JSON string literal (RFC 8259): quote, backslash and control
 * characters escaped; bytes that are not UTF-8 become U+FFFD, so the result is always valid
 * JSON text. NULL gives "". On out of memory "" too: callers pass the result to printf.
 */
FNG_EXPORT const char *fng_json_str(struct fng_ctx *ctx, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	/* The two-character escapes of RFC 8259; other control characters get \u00XX. */
	static const char short_escape[] = {
		['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',
		['\r'] = 'r', ['\t'] = 't',
	};
	const unsigned char *p = (const unsigned char *)s;
	size_t len;
	char *out, *o;

	if (!ctx || !s) {
		return "";
	}
	len = strlen(s);
	/* Worst case: every byte becomes a six-byte escape (\u00XX or \ufffd). */
	if (len > (SIZE_MAX - 1) / 6) {
		return "";
	}
	out = fng__sarena_alloc(&ctx->scratch, len * 6 + 1);
	if (!out) {
		return "";
	}
	o = out;
	while (*p) {
		unsigned char c = *p;
		size_t n;

		if (c < sizeof(short_escape) && short_escape[c]) {
			*o++ = '\\';
			*o++ = short_escape[c];
			p++;
			continue;
		}
		if (c < 0x20) {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
			p++;
			continue;
		}
		/* utf8_len never reads past the NUL: a continuation byte test fails on it. */
		n = utf8_len(p);
		if (n == 0) {
			memcpy(o, "\\ufffd", 6);
			o += 6;
			p++;
			continue;
		}
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	*o = '\0';
	return out;
}

/* ---- caching ---- */

/*
 * The tags are split and checked whole before anything changes, so a bad call leaves the
 * previous setting as it was; what the previous call charged against the frame cap is given
 * back, since its tags are no longer sent.
 */
FNG_EXPORT int fng_response_cache(struct fng_ctx *ctx, int ttl_s, const char *tags)
{
	struct fng_wire_str t[FNG_CACHE_TAGS_MAX];
	size_t n = 0, cost = FNG__RESULT_CACHE;
	const char *p = tags ? tags : "";

	if (!ctx || ttl_s < 0 || ttl_s > FNG_CACHE_TTL_MAX) {
		return -1;
	}
	while (*p) {
		size_t len, j;

		if (*p == ' ' || *p == ',') {
			p++;
			continue;
		}
		len = strcspn(p, " ,");
		if (!fng__cache_tag_ok(p, len)) {
			return -1;
		}
		for (j = 0; j < n; j++) {
			if (t[j].len == len && memcmp(t[j].p, p, len) == 0) {
				break; /* given twice: counts once */
			}
		}
		if (j == n) {
			if (n == FNG_CACHE_TAGS_MAX) {
				return -1;
			}
			t[n++] = (struct fng_wire_str){ p, len };
			cost += len + FNG__RESULT_PER_TAG;
		}
		p += len;
	}
	for (size_t i = 0; i < n; i++) {
		char *c = fng__sarena_strndup(&ctx->scratch, t[i].p, t[i].len);

		if (!c) {
			return -1;
		}
		t[i].p = c;
	}
	ctx->budget -= ctx->cache_charged;
	if (!charge(ctx, cost)) {
		ctx->budget += ctx->cache_charged;
		return -1;
	}
	memcpy(ctx->cache_tags, t, n * sizeof(t[0]));
	ctx->cache = (struct fng_wire_cache){ true, (uint32_t)ttl_s, ctx->cache_tags, n };
	ctx->cache_charged = cost;
	return 0;
}

/* ---- authorizers ---- */

static bool is_authorizer_event(const struct fng_ctx *ctx)
{
	return ctx && ctx->ev.authz_type.len > 0;
}

FNG_EXPORT const char *fng_event_authorizer_type(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.authz_type) : "";
}

FNG_EXPORT const char *fng_event_authorization_token(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.authorization_token) : "";
}

FNG_EXPORT const char *fng_event_identity_source(const struct fng_ctx *ctx, size_t i)
{
	return ctx && i < ctx->ev.nidentity_source ? str(&ctx->ev.identity_source[i]) : NULL;
}

FNG_EXPORT const char *fng_event_client_cert(const struct fng_ctx *ctx, const char *field)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{ "subjectDN", offsetof(struct fng_wire_event, cert_subject) },
		{ "issuerDN", offsetof(struct fng_wire_event, cert_issuer) },
		{ "serialNumber", offsetof(struct fng_wire_event, cert_serial) },
		{ "notBefore", offsetof(struct fng_wire_event, cert_not_before) },
		{ "notAfter", offsetof(struct fng_wire_event, cert_not_after) },
		{ "sha256Fingerprint", offsetof(struct fng_wire_event, cert_sha256) },
	};

	if (!ctx || !field || !ctx->ev.client_cert) {
		return NULL;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(field, fields[i].name) == 0) {
			return str((const struct fng_wire_str *)((const char *)&ctx->ev +
				fields[i].off));
		}
	}
	return NULL;
}

FNG_EXPORT const char *fng_event_client_cert_san(const struct fng_ctx *ctx, size_t i)
{
	return ctx && ctx->ev.client_cert && i < ctx->ev.ncert_sans ? str(&ctx->ev.cert_sans[i])
								     : NULL;
}

FNG_EXPORT const char *fng_event_route_arn(const struct fng_ctx *ctx)
{
	return ctx ? str(&ctx->ev.route_arn) : "";
}

/*
 * A copy of s (NULL: "") in scratch, at most max bytes, its RESULT bytes charged (upper
 * bound: a str header and an entry's map overhead). false on a bad argument or no memory.
 */
static bool authz_str(struct fng_ctx *ctx, const char *s, size_t max, struct fng_wire_str *out)
{
	size_t n = s ? strlen(s) : 0;
	char *p;

	if (n > max) {
		return false;
	}
	p = fng__sarena_strndup(&ctx->scratch, s ? s : "", n);
	if (!p || !charge(ctx, n + 8)) {
		return false;
	}
	*out = (struct fng_wire_str){ p, n };
	return true;
}

static int decide(struct fng_ctx *ctx, enum fng_wire_decision d, const char *principal)
{
	struct fng_wire_str p;

	if (!is_authorizer_event(ctx) || !authz_str(ctx, principal, FNG_WIRE_MAX_AUTHZ_ID, &p)) {
		return -1;
	}
	if (ctx->authz.decision == FNG_WIRE_AUTHZ_NONE && !charge(ctx, FNG__RESULT_AUTHZ)) {
		return -1;
	}
	ctx->authz.decision = d;
	ctx->authz.principal = p;
	return 0;
}

FNG_EXPORT int fng_authorizer_allow(struct fng_ctx *ctx, const char *principal)
{
	return decide(ctx, FNG_WIRE_AUTHZ_ALLOW, principal);
}

FNG_EXPORT int fng_authorizer_deny(struct fng_ctx *ctx, const char *principal)
{
	return decide(ctx, FNG_WIRE_AUTHZ_DENY, principal);
}

/*
 * The slot for key in the context: the entry already there, or a new one at the end (its key
 * copied, type and value left to the caller). NULL on a bad key, over the cap or no memory.
 */
static struct fng_wire_ctxv *context_slot(struct fng_ctx *ctx, const char *key)
{
	struct fng_wire_authz *a = &ctx->authz;
	size_t n = key ? strlen(key) : 0;
	struct fng_wire_ctxv *c;

	if (!is_authorizer_event(ctx) || n == 0 || n > FNG_WIRE_MAX_AUTHZ_KEY) {
		return NULL;
	}
	for (size_t i = 0; i < a->ncontext; i++) {
		if (ctx->authz_ctx[i].k.len == n && memcmp(ctx->authz_ctx[i].k.p, key, n) == 0) {
			return &ctx->authz_ctx[i];
		}
	}
	if (a->ncontext >= FNG_WIRE_MAX_AUTHZ_CONTEXT) {
		return NULL;
	}
	if (a->ncontext == ctx->cap_authz_ctx) {
		size_t cap = ctx->cap_authz_ctx ? ctx->cap_authz_ctx * 2 : 8;

		c = realloc(ctx->authz_ctx, cap * sizeof(*c));
		if (!c) {
			return NULL;
		}
		ctx->authz_ctx = c;
		ctx->cap_authz_ctx = cap;
	}
	c = &ctx->authz_ctx[a->ncontext];
	memset(c, 0, sizeof(*c));
	if (!authz_str(ctx, key, FNG_WIRE_MAX_AUTHZ_KEY, &c->k)) {
		return NULL;
	}
	a->ncontext++;
	return c;
}

FNG_EXPORT int fng_authorizer_context_str(struct fng_ctx *ctx, const char *key,
	const char *value)
{
	struct fng_wire_str v;
	struct fng_wire_ctxv *c;

	if (!value || !is_authorizer_event(ctx) ||
		!authz_str(ctx, value, FNG_WIRE_MAX_AUTHZ_VALUE, &v)) {
		return -1;
	}
	c = context_slot(ctx, key);
	if (!c) {
		return -1;
	}
	c->type = FNG_WIRE_CTX_STR;
	c->s = v;
	return 0;
}

FNG_EXPORT int fng_authorizer_context_num(struct fng_ctx *ctx, const char *key, double value)
{
	struct fng_wire_ctxv *c;

	if (!isfinite(value) || !(c = context_slot(ctx, key)) || !charge(ctx, 9)) {
		return -1;
	}
	c->type = FNG_WIRE_CTX_NUM;
	c->num = value;
	return 0;
}

FNG_EXPORT int fng_authorizer_context_bool(struct fng_ctx *ctx, const char *key, int value)
{
	struct fng_wire_ctxv *c = context_slot(ctx, key);

	if (!c) {
		return -1;
	}
	c->type = FNG_WIRE_CTX_BOOL;
	c->b = value != 0;
	return 0;
}

FNG_EXPORT int fng_authorizer_usage_key(struct fng_ctx *ctx, const char *key)
{
	struct fng_wire_str k;

	if (!key || !is_authorizer_event(ctx) ||
		!authz_str(ctx, key, FNG_WIRE_MAX_AUTHZ_ID, &k)) {
		return -1;
	}
	ctx->authz.usage_key = k;
	return 0;
}

/* ---- WebSocket calls and logging: frames written at once ---- */

/*
 * Writes the frame encoded into ctx->out now (rc: the encoder's result): it must reach the
 * gateway before RESULT. 0, or -1 if it could not be encoded or the call is outside the
 * function's grants (allowed false). A refused call is still sent: the gateway, which
 * decides and never trusts the worker's view, drops it and logs the refusal (rate-limited).
 */
static int send_frame(struct fng_ctx *ctx, int rc, bool allowed)
{
	if (rc == 0) {
		/* A failed write shows again, and ends the serve loop, when RESULT is written. */
		(void)fng__sdk_write_all(ctx->fd, ctx->out.p, ctx->out.len);
	}
	ctx->out.len = 0;
	return rc || !allowed ? -1 : 0;
}

static bool connection_ok(const struct fng_ctx *ctx, const char *id)
{
	return id && fng__grants_connection_ok(ctx->grants, id, strlen(id));
}

static bool topic_ok(const struct fng_ctx *ctx, const char *topic)
{
	return topic && fng__grants_topic_ok(ctx->grants, topic, strlen(topic));
}

FNG_EXPORT int fng_ws_send(struct fng_ctx *ctx, const char *connection_id, const void *data,
	size_t len, int binary)
{
	if (!ctx) {
		return -1;
	}
	ctx->out.len = 0;
	return send_frame(ctx, fng__wire_encode_ws_send(&ctx->out, connection_id, data, len,
		binary != 0), connection_ok(ctx, connection_id));
}

FNG_EXPORT int fng_ws_close(struct fng_ctx *ctx, const char *connection_id, int code,
	const char *reason)
{
	if (!ctx || code < 0 || !fng__ws_close_code_ok((uint32_t)code)) {
		return -1;
	}
	ctx->out.len = 0;
	return send_frame(ctx, fng__wire_encode_ws_close(&ctx->out, connection_id, (uint32_t)code,
		reason), connection_ok(ctx, connection_id));
}

FNG_EXPORT int fng_ws_publish(struct fng_ctx *ctx, const char *topic, const void *data,
	size_t len)
{
	if (!ctx) {
		return -1;
	}
	ctx->out.len = 0;
	return send_frame(ctx, fng__wire_encode_ws_publish(&ctx->out, topic, data, len),
		topic_ok(ctx, topic));
}

static int ws_sub(struct fng_ctx *ctx, uint8_t type, const char *connection_id,
	const char *topic)
{
	if (!ctx) {
		return -1;
	}
	ctx->out.len = 0;
	return send_frame(ctx, fng__wire_encode_ws_sub(&ctx->out, type, connection_id, topic),
		connection_ok(ctx, connection_id) && topic_ok(ctx, topic));
}

FNG_EXPORT int fng_ws_subscribe(struct fng_ctx *ctx, const char *connection_id,
	const char *topic)
{
	return ws_sub(ctx, FNG_WIRE_WS_SUBSCRIBE, connection_id, topic);
}

FNG_EXPORT int fng_ws_unsubscribe(struct fng_ctx *ctx, const char *connection_id,
	const char *topic)
{
	return ws_sub(ctx, FNG_WIRE_WS_UNSUBSCRIBE, connection_id, topic);
}

FNG_EXPORT void fng_log(struct fng_ctx *ctx, enum fng_log_level level, const char *fmt, ...)
{
	char msg[FNG_WIRE_MAX_LOG + 1];
	va_list ap;
	int n;
	int lv = (int)level;

	if (!ctx || !fmt) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0) {
		return;
	}
	if ((size_t)n >= sizeof(msg)) {
		n = (int)sizeof(msg) - 1; /* truncated */
	}
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
		n--;
	}
	if (lv < FNG_LOG_DEBUG) {
		lv = FNG_LOG_DEBUG;
	} else if (lv > FNG_LOG_ERROR) {
		lv = FNG_LOG_ERROR;
	}
	ctx->out.len = 0;
	if (fng__wire_encode_log(&ctx->out, lv, msg, (size_t)n) == 0) {
		/* A failed write shows again, and ends the serve loop, when RESULT is written. */
		(void)fng__sdk_write_all(ctx->fd, ctx->out.p, ctx->out.len);
	}
	ctx->out.len = 0;
}
