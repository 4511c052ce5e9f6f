// SPDX-License-Identifier: MIT
/*
 * The gateway ⇄ worker wire codec (docs/protocol.md), its encoders and the rules both sides
 * check (the decoders are wire_decode.c): length-prefixed frames whose bodies are
 * one msgpack map each. The gateway encodes INVOKE and SHUTDOWN and decodes what a worker
 * sends (READY, RESULT, LOG); the worker runtime does the reverse. Both sides treat the other
 * as hostile: the worker may run anything, and the gateway's frames carry client bytes.
 *
 * msgpack-c packs and unpacks, but its unpacker trusts the counts it reads (an array header
 * claiming 2^32 elements makes it reserve 96 GiB before noticing the input is 5 bytes long),
 * so every body first goes through prevalidate(): one pass that proves each length and count
 * fits in the bytes that remain, caps depth and object count and rejects trailing bytes. Only
 * then does msgpack-c build its object tree, which a table of fields per map maps into the
 * structs of wire.h with strict type checks, copying strings NUL-terminated into the handle.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "sdk_internal.h"
#include "wire.h"
#include "wire_int.h"
#include "wire_limits.h"

/* ---- buffers and frames ---- */

static int buf_reserve(struct fng_wire_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (b->cap - b->len >= extra) {
		return 0;
	}
	if (extra > SIZE_MAX - b->len) {
		return -ENOMEM;
	}
	need = b->len + extra;
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	}
	p = realloc(b->p, cap);
	if (!p) {
		return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

FNG_EXPORT void fng__wire_buf_finish(struct fng_wire_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

FNG_EXPORT long fng__wire_frame(const uint8_t *buf, size_t len, size_t max_body,
	uint8_t *type, const uint8_t **body, size_t *body_len)
{
	uint32_t n;

	if (len < 4) {
		return 0;
	}
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (n == 0) {
		return -EPROTO;
	}
	if ((size_t)n - 1 > max_body) {
		return -EMSGSIZE;
	}
#if LONG_MAX < 0x100000003
	if (n > LONG_MAX - 4) {
		return -EMSGSIZE; /* the frame size would not fit the return value */
	}
#endif
	if (len - 4 < n) {
		return 0;
	}
	*type = buf[4];
	*body = buf + FNG_WIRE_HEADER;
	*body_len = (size_t)n - 1;
	return (long)n + 4;
}

/* ---- encoding ---- */

/*
 * One frame being appended to a buffer. msgpack-c's packer reports a failed write through
 * the return value of every call; the first error sticks here instead, so the packing code
 * reads straight and checks once at the end.
 */
struct enc {
	msgpack_packer pk;
	struct fng_wire_buf *b;
	size_t start;
	int err;
};

static int enc_write(void *data, const char *p, size_t n)
{
	struct enc *e = data;

	if (e->err) {
		return -1;
	}
	if (n == 0) {
		return 0;
	}
	if (buf_reserve(e->b, n)) {
		e->err = -ENOMEM;
		return -1;
	}
	memcpy(e->b->p + e->b->len, p, n);
	e->b->len += n;
	return 0;
}

static int enc_begin(struct enc *e, struct fng_wire_buf *out, uint8_t type)
{
	e->b = out;
	e->start = out->len;
	e->err = 0;
	if (buf_reserve(out, FNG_WIRE_HEADER)) {
		return -ENOMEM;
	}
	memset(out->p + out->len, 0, FNG_WIRE_HEADER);
	out->p[out->len + 4] = type;
	out->len += FNG_WIRE_HEADER;
	msgpack_packer_init(&e->pk, e, enc_write);
	return 0;
}

/* Patches LEN in, or rolls the buffer back to where it was: nothing is appended on error. */
static int enc_end(struct enc *e)
{
	size_t n = e->b->len - e->start - 4;

	if (!e->err && n > UINT32_MAX) {
		e->err = -EMSGSIZE;
	}
	if (e->err) {
		e->b->len = e->start;
		return e->err;
	}
	e->b->p[e->start] = (uint8_t)(n >> 24);
	e->b->p[e->start + 1] = (uint8_t)(n >> 16);
	e->b->p[e->start + 2] = (uint8_t)(n >> 8);
	e->b->p[e->start + 3] = (uint8_t)n;
	return 0;
}

static void fail(struct enc *e, int err)
{
	if (!e->err) {
		e->err = err;
	}
}

static void put_raw_str(struct enc *e, const char *p, size_t n)
{
	if (n > UINT32_MAX) {
		fail(e, -EMSGSIZE);
		return;
	}
	if (!p && n) {
		fail(e, -EINVAL);
		return;
	}
	msgpack_pack_str(&e->pk, n);
	msgpack_pack_str_body(&e->pk, p, n);
}

static void put_key(struct enc *e, const char *k)
{
	put_raw_str(e, k, strlen(k));
}

static void put_str(struct enc *e, struct fng_wire_str s)
{
	put_raw_str(e, s.p, s.len);
}

static void put_bin(struct enc *e, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		fail(e, -EMSGSIZE);
		return;
	}
	if (!p && n) {
		fail(e, -EINVAL);
		return;
	}
	msgpack_pack_bin(&e->pk, n);
	msgpack_pack_bin_body(&e->pk, p, n);
}

static bool count_ok(struct enc *e, const void *p, size_t n, size_t max)
{
	if (n > max) {
		fail(e, -EMSGSIZE);
		return false;
	}
	if (!p && n) {
		fail(e, -EINVAL);
		return false;
	}
	return true;
}

/* An array of [name, value] pairs: order and repeated names survive. */
static void put_pairs(struct enc *e, const struct fng_wire_kv *kv, size_t n, size_t max)
{
	if (!count_ok(e, kv, n, max)) {
		return;
	}
	msgpack_pack_array(&e->pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(&e->pk, 2);
		put_str(e, kv[i].k);
		put_str(e, kv[i].v);
	}
}

/* A map of str → str (names are unique by construction: route parameters, variables). */
static void put_map(struct enc *e, const struct fng_wire_kv *kv, size_t n, size_t max)
{
	if (!count_ok(e, kv, n, max)) {
		return;
	}
	msgpack_pack_map(&e->pk, n);
	for (size_t i = 0; i < n; i++) {
		put_str(e, kv[i].k);
		put_str(e, kv[i].v);
	}
}

static void put_strs(struct enc *e, const struct fng_wire_str *s, size_t n, size_t max)
{
	if (!count_ok(e, s, n, max)) {
		return;
	}
	msgpack_pack_array(&e->pk, n);
	for (size_t i = 0; i < n; i++) {
		put_str(e, s[i]);
	}
}

/* requestContext.identity: {clientCert: {...}} (API Gateway's shape, plus sans and the hash). */
static void put_client_cert(struct enc *e, const struct fng_wire_event *ev)
{
	put_key(e, "identity");
	msgpack_pack_map(&e->pk, 1);
	put_key(e, "clientCert");
	msgpack_pack_map(&e->pk, 6);
	put_key(e, "subjectDN");
	put_str(e, ev->cert_subject);
	put_key(e, "issuerDN");
	put_str(e, ev->cert_issuer);
	put_key(e, "serialNumber");
	put_str(e, ev->cert_serial);
	put_key(e, "validity");
	msgpack_pack_map(&e->pk, 2);
	put_key(e, "notBefore");
	put_str(e, ev->cert_not_before);
	put_key(e, "notAfter");
	put_str(e, ev->cert_not_after);
	put_key(e, "sans");
	put_strs(e, ev->cert_sans, ev->ncert_sans, FNG_WIRE_MAX_SANS);
	put_key(e, "sha256Fingerprint");
	put_str(e, ev->cert_sha256);
}

/* An AUTHORIZER event's type: "TOKEN" or "REQUEST". */
bool fng__wire_authz_type_ok(struct fng_wire_str t)
{
	return (t.len == 5 && memcmp(t.p, "TOKEN", 5) == 0) ||
	       (t.len == 7 && memcmp(t.p, "REQUEST", 7) == 0);
}

bool fng__wire_trace_ok(const struct fng_wire_event *ev)
{
	struct fng_traceparent tp;

	if (!ev->trace) {
		return true;
	}
	return ev->traceparent.p && ev->traceparent.len == FNG_TRACEPARENT_LEN &&
	       fng__traceparent_parse(ev->traceparent.p, ev->traceparent.len, &tp) &&
	       tp.version == 0 && (!ev->tracestate.len ||
	       (ev->tracestate.p && fng__tracestate_ok(ev->tracestate.p, ev->tracestate.len)));
}

FNG_EXPORT int fng__wire_encode_invoke(struct fng_wire_buf *out, const struct fng_wire_event *ev)
{
	bool authz = ev->authz_type.len > 0;
	struct enc e;

	if (authz && !fng__wire_authz_type_ok(ev->authz_type)) {
		return -EINVAL;
	}
	if (!fng__wire_trace_ok(ev)) {
		return -EINVAL;
	}
	if (enc_begin(&e, out, FNG_WIRE_INVOKE)) {
		return -ENOMEM;
	}
	if (ev->version.len && (ev->version.len != 3 || memcmp(ev->version.p, "2.0", 3))) {
		fail(&e, -EINVAL);
	}
	/* An AUTHORIZER event has four keys more; the others' frames are as they always were. */
	msgpack_pack_map(&e.pk, authz ? 17 : 13);
	put_key(&e, "version");
	put_raw_str(&e, "2.0", 3);
	put_key(&e, "routeKey");
	put_str(&e, ev->route_key);
	put_key(&e, "rawPath");
	put_str(&e, ev->raw_path);
	put_key(&e, "rawQueryString");
	put_str(&e, ev->raw_query);
	put_key(&e, "cookies");
	put_strs(&e, ev->cookies, ev->ncookies, FNG_WIRE_MAX_COOKIES);
	put_key(&e, "headers");
	put_pairs(&e, ev->headers, ev->nheaders, FNG_WIRE_MAX_HEADERS);
	put_key(&e, "queryStringParameters");
	put_pairs(&e, ev->query, ev->nquery, FNG_WIRE_MAX_QUERY);
	put_key(&e, "pathParameters");
	put_map(&e, ev->path_params, ev->npath_params, FNG_WIRE_MAX_PARAMS);
	put_key(&e, "stageVariables");
	put_map(&e, ev->stage_vars, ev->nstage_vars, FNG_WIRE_MAX_VARS);
	put_key(&e, "body");
	put_bin(&e, ev->body, ev->body_len);
	put_key(&e, "isBase64Encoded");
	msgpack_pack_false(&e.pk);
	put_key(&e, "requestContext");
	msgpack_pack_map(&e.pk, 10 + ev->client_cert + ev->trace);
	put_key(&e, "requestId");
	put_str(&e, ev->request_id);
	put_key(&e, "apiId");
	put_str(&e, ev->api);
	put_key(&e, "stage");
	put_str(&e, ev->stage);
	put_key(&e, "domainName");
	put_str(&e, ev->domain);
	put_key(&e, "http");
	msgpack_pack_map(&e.pk, 5);
	put_key(&e, "method");
	put_str(&e, ev->method);
	put_key(&e, "path");
	put_str(&e, ev->path);
	put_key(&e, "protocol");
	put_str(&e, ev->protocol);
	put_key(&e, "sourceIp");
	put_str(&e, ev->source_ip);
	put_key(&e, "userAgent");
	put_str(&e, ev->user_agent);
	put_key(&e, "authorizer");
	put_map(&e, ev->authorizer, ev->nauthorizer, FNG_WIRE_MAX_VARS);
	put_key(&e, "timeEpoch");
	msgpack_pack_int64(&e.pk, ev->time_epoch_ms);
	put_key(&e, "connectionId");
	put_str(&e, ev->connection_id);
	put_key(&e, "eventType");
	put_str(&e, ev->event_type);
	put_key(&e, "messageId");
	put_str(&e, ev->message_id);
	if (ev->client_cert) {
		put_client_cert(&e, ev);
	}
	if (ev->trace) {
		put_key(&e, "trace");
		msgpack_pack_map(&e.pk, 2);
		put_key(&e, "traceparent");
		put_str(&e, ev->traceparent);
		put_key(&e, "tracestate");
		put_str(&e, ev->tracestate);
	}
	put_key(&e, "deadline");
	msgpack_pack_int64(&e.pk, ev->deadline_epoch_ms);
	if (authz) {
		put_key(&e, "type");
		put_str(&e, ev->authz_type);
		put_key(&e, "authorizationToken");
		put_str(&e, ev->authorization_token);
		put_key(&e, "identitySource");
		put_strs(&e, ev->identity_source, ev->nidentity_source, FNG_WIRE_MAX_IDENTITY);
		put_key(&e, "routeArn");
		put_str(&e, ev->route_arn);
	}
	return enc_end(&e);
}

/*
 * An authorizer's answer as the caps and docs/protocol.md have it: a decision, a principal and
 * a usage key within FNG_WIRE_MAX_AUTHZ_ID bytes, at most FNG_WIRE_MAX_AUTHZ_CONTEXT context
 * entries with unique non-empty keys, string values within their cap and finite numbers. The
 * one definition both sides use: the SDK before it sends, the decoder after it reads.
 */
bool fng__wire_authz_ok(const struct fng_wire_authz *a)
{
	if (a->decision != FNG_WIRE_AUTHZ_ALLOW && a->decision != FNG_WIRE_AUTHZ_DENY) {
		return false;
	}
	if (a->principal.len > FNG_WIRE_MAX_AUTHZ_ID || a->usage_key.len > FNG_WIRE_MAX_AUTHZ_ID ||
		a->ncontext > FNG_WIRE_MAX_AUTHZ_CONTEXT || (!a->context && a->ncontext) ||
		(!a->principal.p && a->principal.len) || (!a->usage_key.p && a->usage_key.len)) {
		return false;
	}
	for (size_t i = 0; i < a->ncontext; i++) {
		const struct fng_wire_ctxv *c = &a->context[i];

		if (c->k.len == 0 || c->k.len > FNG_WIRE_MAX_AUTHZ_KEY || !c->k.p) {
			return false;
		}
		switch (c->type) {
		case FNG_WIRE_CTX_STR:
			if (c->s.len > FNG_WIRE_MAX_AUTHZ_VALUE || (!c->s.p && c->s.len)) {
				return false;
			}
			break;
		case FNG_WIRE_CTX_NUM:
			if (!isfinite(c->num)) {
				return false;
			}
			break;
		case FNG_WIRE_CTX_BOOL:
			break;
		default:
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (a->context[j].k.len == c->k.len &&
				memcmp(a->context[j].k.p, c->k.p, c->k.len) == 0) {
				return false;
			}
		}
	}
	return true;
}

/* A number as msgpack has it most compactly: an integer when it is one (exactly), else float64. */
static void put_num(struct enc *e, double v)
{
	if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && v == (double)(int64_t)v) {
		msgpack_pack_int64(&e->pk, (int64_t)v);
	} else {
		msgpack_pack_double(&e->pk, v);
	}
}

static void put_bool(struct enc *e, bool v)
{
	if (v) {
		msgpack_pack_true(&e->pk);
	} else {
		msgpack_pack_false(&e->pk);
	}
}

static void put_authz(struct enc *e, const struct fng_wire_authz *a)
{
	msgpack_pack_map(&e->pk, 4);
	put_key(e, "isAuthorized");
	put_bool(e, a->decision == FNG_WIRE_AUTHZ_ALLOW);
	put_key(e, "principalId");
	put_str(e, a->principal);
	put_key(e, "context");
	msgpack_pack_map(&e->pk, a->ncontext);
	for (size_t i = 0; i < a->ncontext; i++) {
		const struct fng_wire_ctxv *c = &a->context[i];

		put_str(e, c->k);
		if (c->type == FNG_WIRE_CTX_STR) {
			put_str(e, c->s);
		} else if (c->type == FNG_WIRE_CTX_NUM) {
			put_num(e, c->num);
		} else {
			put_bool(e, c->b);
		}
	}
	put_key(e, "usageIdentifierKey");
	put_str(e, a->usage_key);
}

/*
 * A handler's cache instruction as wire_rules.h defines it: a TTL of at most FNG_CACHE_TTL_MAX
 * seconds and at most FNG_CACHE_TAGS_MAX tags, each fng__cache_tag_ok() and none twice (a
 * store indexes an entry once per tag). The encoder's check and, after it read one, the
 * decoder's.
 */
bool fng__wire_cache_ok(const struct fng_wire_cache *c)
{
	if (!c->set) {
		return true; /* not on the wire */
	}
	if (c->ttl_s > FNG_CACHE_TTL_MAX || c->ntags > FNG_CACHE_TAGS_MAX ||
		(!c->tags && c->ntags)) {
		return false;
	}
	for (size_t i = 0; i < c->ntags; i++) {
		if (!c->tags[i].p || !fng__cache_tag_ok(c->tags[i].p, c->tags[i].len)) {
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (c->tags[j].len == c->tags[i].len &&
				memcmp(c->tags[j].p, c->tags[i].p, c->tags[i].len) == 0) {
				return false;
			}
		}
	}
	return true;
}

static void put_cache(struct enc *e, const struct fng_wire_cache *c)
{
	msgpack_pack_map(&e->pk, 2);
	put_key(e, "ttl");
	msgpack_pack_uint32(&e->pk, c->ttl_s);
	put_key(e, "tags");
	put_strs(e, c->tags, c->ntags, FNG_CACHE_TAGS_MAX);
}

bool fng__wire_cost_ok(const struct fng_wire_cost *c)
{
	return !c->set || (c->cpu_us <= FNG_WIRE_MAX_CPU_US && c->max_rss_kb <= FNG_WIRE_MAX_RSS_KB &&
		c->wall_us <= FNG_WIRE_MAX_CPU_US);
}

static bool result_ok(const struct fng_wire_result *r)
{
	/* Any status crosses: which ones may answer is the gateway's rule (fng__is_answer_status),
	 * so that it can name a bad one in its 502's log line rather than kill the worker. */
	if ((!r->headers && r->nheaders) || (!r->cookies && r->ncookies)) {
		return false;
	}
	for (size_t i = 0; i < r->nheaders; i++) {
		if (!fng__is_token(r->headers[i].k.p, r->headers[i].k.len) ||
			!fng__is_field_value(r->headers[i].v.p, r->headers[i].v.len)) {
			return false;
		}
	}
	for (size_t i = 0; i < r->ncookies; i++) {
		const struct fng_wire_str *c = &r->cookies[i];

		if (c->len == 0 || !fng__is_field_value(c->p, c->len)) {
			return false;
		}
	}
	if (!fng__wire_cache_ok(&r->cache) || !fng__wire_cost_ok(&r->cost)) {
		return false;
	}
	return r->authz.decision == FNG_WIRE_AUTHZ_NONE || fng__wire_authz_ok(&r->authz);
}

FNG_EXPORT int fng__wire_encode_result(struct fng_wire_buf *out, const struct fng_wire_result *r)
{
	struct enc e;

	if (!result_ok(r)) {
		return -EINVAL;
	}
	if (enc_begin(&e, out, FNG_WIRE_RESULT)) {
		return -ENOMEM;
	}
	/*
	 * The six keys every RESULT has, then the optional ones in the order they were added,
	 * each only when set: an AUTHORIZER event's answer, a handler's cache instruction, what
	 * the invocation cost.
	 */
	msgpack_pack_map(&e.pk, 6 + (r->authz.decision != FNG_WIRE_AUTHZ_NONE) + r->cache.set +
		r->cost.set);
	put_key(&e, "statusCode");
	msgpack_pack_int(&e.pk, r->status);
	put_key(&e, "headers");
	put_pairs(&e, r->headers, r->nheaders, FNG_WIRE_MAX_HEADERS);
	put_key(&e, "cookies");
	put_strs(&e, r->cookies, r->ncookies, FNG_WIRE_MAX_COOKIES);
	put_key(&e, "body");
	put_bin(&e, r->body, r->body_len);
	put_key(&e, "failed");
	put_bool(&e, r->failed);
	put_key(&e, "hasBody");
	put_bool(&e, r->has_body);
	if (r->authz.decision != FNG_WIRE_AUTHZ_NONE) {
		put_key(&e, "authorizer");
		put_authz(&e, &r->authz);
	}
	if (r->cache.set) {
		put_key(&e, "cache");
		put_cache(&e, &r->cache);
	}
	if (r->cost.set) {
		put_key(&e, "cost");
		msgpack_pack_map(&e.pk, 3);
		put_key(&e, "cpuUs");
		msgpack_pack_uint64(&e.pk, r->cost.cpu_us);
		put_key(&e, "maxRssKb");
		msgpack_pack_uint64(&e.pk, r->cost.max_rss_kb);
		put_key(&e, "wallUs");
		msgpack_pack_uint64(&e.pk, r->cost.wall_us);
	}
	return enc_end(&e);
}

FNG_EXPORT int fng__wire_encode_log(struct fng_wire_buf *out, int level, const char *msg,
	size_t len)
{
	struct enc e;

	if (level < FNG_LOG_DEBUG || level > FNG_LOG_ERROR) {
		return -EINVAL;
	}
	if (len > FNG_WIRE_MAX_LOG) {
		return -EMSGSIZE;
	}
	if (enc_begin(&e, out, FNG_WIRE_LOG)) {
		return -ENOMEM;
	}
	msgpack_pack_map(&e.pk, 2);
	put_key(&e, "level");
	msgpack_pack_int(&e.pk, level);
	put_key(&e, "msg");
	put_raw_str(&e, msg, len);
	return enc_end(&e);
}

FNG_EXPORT int fng__wire_encode_ws_send(struct fng_wire_buf *out, const char *connection_id,
	const void *data, size_t len, bool binary)
{
	size_t n = connection_id ? strlen(connection_id) : 0;
	struct enc e;

	if (n == 0 || n > FNG_WIRE_MAX_CONNECTION_ID || (!data && len)) {
		return -EINVAL;
	}
	if (enc_begin(&e, out, FNG_WIRE_WS_SEND)) {
		return -ENOMEM;
	}
	msgpack_pack_map(&e.pk, 3);
	put_key(&e, "connectionId");
	put_raw_str(&e, connection_id, n);
	put_key(&e, "data");
	put_bin(&e, data, len);
	put_key(&e, "binary");
	if (binary) {
		msgpack_pack_true(&e.pk);
	} else {
		msgpack_pack_false(&e.pk);
	}
	return enc_end(&e);
}

FNG_EXPORT int fng__wire_encode_ws_close(struct fng_wire_buf *out, const char *connection_id,
	uint32_t code, const char *reason)
{
	size_t n = connection_id ? strlen(connection_id) : 0, rl = reason ? strlen(reason) : 0;
	struct enc e;

	if (n == 0 || n > FNG_WIRE_MAX_CONNECTION_ID || rl > FNG_WIRE_MAX_CLOSE_REASON) {
		return -EINVAL;
	}
	if (enc_begin(&e, out, FNG_WIRE_WS_CLOSE)) {
		return -ENOMEM;
	}
	msgpack_pack_map(&e.pk, 3);
	put_key(&e, "connectionId");
	put_raw_str(&e, connection_id, n);
	put_key(&e, "code");
	msgpack_pack_uint32(&e.pk, code);
	put_key(&e, "reason");
	put_raw_str(&e, reason ? reason : "", rl);
	return enc_end(&e);
}

FNG_EXPORT int fng__wire_encode_ws_publish(struct fng_wire_buf *out, const char *topic,
	const void *data, size_t len)
{
	size_t n = topic ? strlen(topic) : 0;
	struct enc e;

	if (n == 0 || n > FNG_WIRE_MAX_TOPIC || (!data && len)) {
		return -EINVAL;
	}
	if (enc_begin(&e, out, FNG_WIRE_WS_PUBLISH)) {
		return -ENOMEM;
	}
	msgpack_pack_map(&e.pk, 2);
	put_key(&e, "topic");
	put_raw_str(&e, topic, n);
	put_key(&e, "data");
	put_bin(&e, data, len);
	return enc_end(&e);
}

FNG_EXPORT int fng__wire_encode_ws_sub(struct fng_wire_buf *out, uint8_t type,
	const char *connection_id, const char *topic)
{
	size_t n = connection_id ? strlen(connection_id) : 0, tn = topic ? strlen(topic) : 0;
	struct enc e;

	if (n == 0 || n > FNG_WIRE_MAX_CONNECTION_ID || tn == 0 || tn > FNG_WIRE_MAX_TOPIC ||
		(type != FNG_WIRE_WS_SUBSCRIBE && type != FNG_WIRE_WS_UNSUBSCRIBE)) {
		return -EINVAL;
	}
	if (enc_begin(&e, out, type)) {
		return -ENOMEM;
	}
	msgpack_pack_map(&e.pk, 2);
	put_key(&e, "connectionId");
	put_raw_str(&e, connection_id, n);
	put_key(&e, "topic");
	put_raw_str(&e, topic, tn);
	return enc_end(&e);
}

FNG_EXPORT int fng__wire_encode_ready(struct fng_wire_buf *out, uint32_t abi, const char *name)
{
	struct enc e;
	size_t n = name ? strlen(name) : 0;

	if (n > FNG_WIRE_MAX_NAME) {
		return -EMSGSIZE;
	}
	if (enc_begin(&e, out, FNG_WIRE_READY)) {
		return -ENOMEM;
	}
	msgpack_pack_map(&e.pk, 2);
	put_key(&e, "abi");
	msgpack_pack_uint32(&e.pk, abi);
	put_key(&e, "name");
	put_raw_str(&e, name, n);
	return enc_end(&e);
}

FNG_EXPORT int fng__wire_encode_empty(struct fng_wire_buf *out, uint8_t type)
{
	struct enc e;

	if (enc_begin(&e, out, type)) {
		return -ENOMEM;
	}
	msgpack_pack_map(&e.pk, 0);
	return enc_end(&e);
}
