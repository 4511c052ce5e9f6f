// SPDX-License-Identifier: MIT
/*
 * The wire codec's decoders (wire.c has the encoders and the shared rules): every body is
 * proven well-formed by prevalidate() before msgpack-c sees a byte, then mapped into the
 * structs of wire.h by a table of fields per map with strict type checks.
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

/* ---- validation before msgpack-c sees a byte ---- */

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		v = v << 8 | p[i];
	}
	return v;
}

/*
 * The formats 0xc0..0xdf after their first byte: the size of a big-endian length or count
 * field, then fixed bytes (ext's type byte, a number's value). The rest are one-byte objects
 * (fixint, nil, bool) or carry their count or length in the first byte (fixmap, fixarray,
 * fixstr).
 */
struct format {
	uint8_t lenbytes, skip;
	bool container, invalid;
};

static const struct format formats[32] = {
	[0x00] = { 0, 0, false, false },  /* c0 nil */
	[0x01] = { 0, 0, false, true },   /* c1 never used */
	[0x02] = { 0, 0, false, false },  /* c2 false */
	[0x03] = { 0, 0, false, false },  /* c3 true */
	[0x04] = { 1, 0, false, false },  /* c4 bin8 */
	[0x05] = { 2, 0, false, false },  /* c5 bin16 */
	[0x06] = { 4, 0, false, false },  /* c6 bin32 */
	[0x07] = { 1, 1, false, false },  /* c7 ext8 */
	[0x08] = { 2, 1, false, false },  /* c8 ext16 */
	[0x09] = { 4, 1, false, false },  /* c9 ext32 */
	[0x0a] = { 0, 4, false, false },  /* ca float32 */
	[0x0b] = { 0, 8, false, false },  /* cb float64 */
	[0x0c] = { 0, 1, false, false },  /* cc uint8 */
	[0x0d] = { 0, 2, false, false },  /* cd uint16 */
	[0x0e] = { 0, 4, false, false },  /* ce uint32 */
	[0x0f] = { 0, 8, false, false },  /* cf uint64 */
	[0x10] = { 0, 1, false, false },  /* d0 int8 */
	[0x11] = { 0, 2, false, false },  /* d1 int16 */
	[0x12] = { 0, 4, false, false },  /* d2 int32 */
	[0x13] = { 0, 8, false, false },  /* d3 int64 */
	[0x14] = { 0, 2, false, false },  /* d4 fixext1 */
	[0x15] = { 0, 3, false, false },  /* d5 fixext2 */
	[0x16] = { 0, 5, false, false },  /* d6 fixext4 */
	[0x17] = { 0, 9, false, false },  /* d7 fixext8 */
	[0x18] = { 0, 17, false, false }, /* d8 fixext16 */
	[0x19] = { 1, 0, false, false },  /* d9 str8 */
	[0x1a] = { 2, 0, false, false },  /* da str16 */
	[0x1b] = { 4, 0, false, false },  /* db str32 */
	[0x1c] = { 2, 0, true, false },   /* dc array16 */
	[0x1d] = { 4, 0, true, false },   /* dd array32 */
	[0x1e] = { 2, 0, true, false },   /* de map16 */
	[0x1f] = { 4, 0, true, false },   /* df map32 */
};

/*
 * Proves that p[0..len) is exactly one msgpack object that msgpack-c can unpack without
 * allocating more than the input justifies: every str/bin/ext length fits in the bytes that
 * remain; every array/map count, added to what enclosing containers still promise, fits too
 * (each object takes at least one byte); containers nest at most FNG_WIRE_MAX_DEPTH deep; at
 * most FNG_WIRE_MAX_OBJECTS objects in all; nothing after the object. 0 or -EPROTO.
 */
static int prevalidate(const uint8_t *p, size_t len)
{
	/* left[d]: objects still to read in the container open at depth d (0: the body). */
	uint64_t left[FNG_WIRE_MAX_DEPTH + 1];
	uint64_t promised = 1; /* sum of left[] */
	size_t off = 0, objects = 0;
	int d = 0;

	left[0] = 1;
	while (d >= 0) {
		uint8_t b;
		size_t lenbytes = 0;
		uint64_t skip = 0;
		uint64_t children = 0;
		bool container = false;

		if (left[d] == 0) {
			d--;
			continue;
		}
		left[d]--;
		promised--;
		if (off >= len || ++objects > FNG_WIRE_MAX_OBJECTS) {
			return -EPROTO;
		}
		b = p[off++];
		if (b <= 0x7f || b >= 0xe0) {
			/* positive and negative fixint: the byte is the object */
		} else if (b <= 0x8f) {
			container = true;
			children = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			container = true;
			children = b & 0x0f;
		} else if (b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			const struct format *f = &formats[b - 0xc0];

			if (f->invalid) {
				return -EPROTO;
			}
			lenbytes = f->lenbytes;
			skip = f->skip;
			container = f->container;
		}
		if (lenbytes) {
			uint64_t n;

			if (len - off < lenbytes) {
				return -EPROTO;
			}
			n = be(p + off, lenbytes);
			off += lenbytes;
			if (container) {
				children = b >= 0xde ? 2 * n : n;
			} else {
				skip += n;
			}
		}
		if (skip > len - off) {
			return -EPROTO;
		}
		off += (size_t)skip;
		if (container) {
			if (d + 1 > FNG_WIRE_MAX_DEPTH || children > len - off ||
				promised + children > len - off) {
				return -EPROTO;
			}
			promised += children;
			left[++d] = children;
		}
	}
	return off == len ? 0 : -EPROTO;
}

/* ---- mapping msgpack objects into the structs ---- */

/* What a decoder hands out: an arena holding every string, array and body it returned. */
struct handle {
	struct fng__sarena a;
};

enum kind {
	K_STR,        /* str → struct fng_wire_str, copied NUL-terminated; max: byte cap or 0 */
	K_STRS,       /* array of str → const struct fng_wire_str * at off, count at noff */
	K_PAIRS,      /* array of [str, str] → const struct fng_wire_kv * at off, count at noff */
	K_MAP,        /* map str → str → const struct fng_wire_kv * at off, count at noff */
	K_BIN,        /* bin → const void * at off (NUL follows the bytes), length at noff */
	K_I64,        /* int → int64_t */
	K_U32,        /* non-negative int up to 2^32-1 → uint32_t */
	K_LEVEL,      /* int FNG_LOG_DEBUG..FNG_LOG_ERROR → int */
	K_STATUS,     /* any int32 → int (judged by the gateway) */
	K_BOOL,       /* bool → bool */
	K_FALSE,      /* the literal false (isBase64Encoded); nothing stored */
	K_OBJ,        /* map → the fields of sub, into the same struct */
	K_HEADERS,    /* K_PAIRS whose names are tokens and values free of control characters */
	K_SETCOOKIES, /* K_STRS whose items are non-empty and free of control characters */
	K_CTX,        /* map str → str|int|float|bool → const struct fng_wire_ctxv * at off,
		       * count at noff (an authorizer's context: fng__wire_authz_ok() applies after) */
	K_DECISION,   /* bool → enum fng_wire_decision: true ALLOW, false DENY */
	K_UMAX,       /* int 0..max → uint32_t */
	K_U64MAX,     /* int 0..max → uint64_t */
	K_TAGS,       /* K_STRS whose items are cache tags (fng__cache_tag_ok); max: count cap */
	K_SET,        /* K_OBJ, and true at noff (bool): an optional map whose presence counts */
};

struct fields;

/*
 * One key of a map. Every listed key is required exactly once, but those marked optional
 * (which may be missing: their target stays zero); unlisted keys are skipped.
 */
struct field {
	const char *key;
	enum kind kind;
	size_t off;  /* where the value goes in the target struct */
	size_t noff; /* where its count or length goes (K_STRS, K_PAIRS, K_MAP, K_BIN, ...) */
	size_t max;  /* element cap (containers) or byte cap (K_STR, 0: none) */
	const struct fields *sub; /* K_OBJ */
	bool optional; /* added after the first release: an older peer does not send it */
};

struct fields {
	const struct field *f;
	size_t n;
};

#define FIELDS(a) { (a), sizeof(a) / sizeof((a)[0]) }

static int copy_str(struct handle *h, const msgpack_object *o, size_t max, struct fng_wire_str *s)
{
	char *p;

	if (o->type != MSGPACK_OBJECT_STR || (max && o->via.str.size > max)) {
		return -EPROTO;
	}
	p = fng__sarena_strndup(&h->a, o->via.str.ptr, o->via.str.size);
	if (!p) {
		return -ENOMEM;
	}
	s->p = p;
	s->len = o->via.str.size;
	return 0;
}

static int get_strs(struct handle *h, const msgpack_object *o, const struct field *f,
	const struct fng_wire_str **out, size_t *n)
{
	struct fng_wire_str *s;
	int err;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > f->max) {
		return -EPROTO;
	}
	s = fng__sarena_alloc(&h->a, o->via.array.size * sizeof(*s));
	if (!s) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < o->via.array.size; i++) {
		err = copy_str(h, &o->via.array.ptr[i], f->kind == K_TAGS ? FNG_CACHE_TAG_MAX : 0,
			&s[i]);
		if (err) {
			return err;
		}
		if (f->kind == K_SETCOOKIES &&
			(s[i].len == 0 || !fng__is_field_value(s[i].p, s[i].len))) {
			return -EPROTO;
		}
		if (f->kind == K_TAGS && !fng__cache_tag_ok(s[i].p, s[i].len)) {
			return -EPROTO;
		}
	}
	*out = s;
	*n = o->via.array.size;
	return 0;
}

static int get_kvs(struct handle *h, const msgpack_object *o, const struct field *f,
	const struct fng_wire_kv **out, size_t *n)
{
	bool is_map = f->kind == K_MAP;
	size_t count;
	struct fng_wire_kv *kv;
	int err;

	if (o->type != (is_map ? MSGPACK_OBJECT_MAP : MSGPACK_OBJECT_ARRAY)) {
		return -EPROTO;
	}
	count = is_map ? o->via.map.size : o->via.array.size;
	if (count > f->max) {
		return -EPROTO;
	}
	kv = fng__sarena_alloc(&h->a, count * sizeof(*kv));
	if (!kv) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		const msgpack_object *k, *v;

		if (is_map) {
			k = &o->via.map.ptr[i].key;
			v = &o->via.map.ptr[i].val;
		} else {
			const msgpack_object *pair = &o->via.array.ptr[i];

			if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2) {
				return -EPROTO;
			}
			k = &pair->via.array.ptr[0];
			v = &pair->via.array.ptr[1];
		}
		err = copy_str(h, k, 0, &kv[i].k);
		if (!err) {
			err = copy_str(h, v, 0, &kv[i].v);
		}
		if (err) {
			return err;
		}
		if (f->kind == K_HEADERS && (!fng__is_token(kv[i].k.p, kv[i].k.len) ||
						    !fng__is_field_value(kv[i].v.p, kv[i].v.len))) {
			return -EPROTO;
		}
	}
	*out = kv;
	*n = count;
	return 0;
}

/* An authorizer's context value: str, any integer, float32/64 or bool, nothing else. */
static int get_ctxv(struct handle *h, const msgpack_object *o, struct fng_wire_ctxv *c)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		c->type = FNG_WIRE_CTX_STR;
		return copy_str(h, o, FNG_WIRE_MAX_AUTHZ_VALUE, &c->s);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		c->type = FNG_WIRE_CTX_NUM;
		c->num = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		c->type = FNG_WIRE_CTX_NUM;
		c->num = (double)o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		c->type = FNG_WIRE_CTX_NUM;
		c->num = o->via.f64;
		return 0;
	case MSGPACK_OBJECT_BOOLEAN:
		c->type = FNG_WIRE_CTX_BOOL;
		c->b = o->via.boolean;
		return 0;
	default:
		return -EPROTO;
	}
}

static int get_ctx(struct handle *h, const msgpack_object *o, const struct field *f,
	const struct fng_wire_ctxv **out, size_t *n)
{
	struct fng_wire_ctxv *c;
	int err;

	if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > f->max) {
		return -EPROTO;
	}
	c = fng__sarena_alloc(&h->a, o->via.map.size * sizeof(*c));
	if (!c) {
		return -ENOMEM;
	}
	memset(c, 0, o->via.map.size * sizeof(*c));
	for (size_t i = 0; i < o->via.map.size; i++) {
		err = copy_str(h, &o->via.map.ptr[i].key, FNG_WIRE_MAX_AUTHZ_KEY, &c[i].k);
		if (!err) {
			err = get_ctxv(h, &o->via.map.ptr[i].val, &c[i]);
		}
		if (err) {
			return err;
		}
	}
	*out = c;
	*n = o->via.map.size;
	return 0;
}

static int get_int(const msgpack_object *o, int64_t lo, int64_t hi, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > (uint64_t)INT64_MAX) {
			return -EPROTO;
		}
		*v = (int64_t)o->via.u64;
	} else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
	} else {
		return -EPROTO;
	}
	return *v >= lo && *v <= hi ? 0 : -EPROTO;
}

static int decode_map(struct handle *h, const msgpack_object *o, const struct fields *fs,
	char *base);

#define AT(type, off) ((type *)(base + (off)))

static int decode_field(struct handle *h, const msgpack_object *o, const struct field *f,
	char *base)
{
	int64_t v;
	int err;

	switch (f->kind) {
	case K_STR:
		return copy_str(h, o, f->max, AT(struct fng_wire_str, f->off));
	case K_STRS:
	case K_SETCOOKIES:
	case K_TAGS:
		return get_strs(h, o, f, AT(const struct fng_wire_str *, f->off),
			AT(size_t, f->noff));
	case K_PAIRS:
	case K_MAP:
	case K_HEADERS:
		return get_kvs(h, o, f, AT(const struct fng_wire_kv *, f->off),
			AT(size_t, f->noff));
	case K_BIN: {
		char *p;

		if (o->type != MSGPACK_OBJECT_BIN) {
			return -EPROTO;
		}
		p = fng__sarena_strndup(&h->a, o->via.bin.ptr, o->via.bin.size);
		if (!p) {
			return -ENOMEM;
		}
		*AT(const void *, f->off) = p;
		*AT(size_t, f->noff) = o->via.bin.size;
		return 0;
	}
	case K_I64:
		err = get_int(o, INT64_MIN, INT64_MAX, &v);
		if (!err) {
			*AT(int64_t, f->off) = v;
		}
		return err;
	case K_U32:
		err = get_int(o, 0, UINT32_MAX, &v);
		if (!err) {
			*AT(uint32_t, f->off) = (uint32_t)v;
		}
		return err;
	case K_LEVEL:
	case K_STATUS:
		err = f->kind == K_LEVEL ? get_int(o, FNG_LOG_DEBUG, FNG_LOG_ERROR, &v)
					 : get_int(o, INT32_MIN, INT32_MAX, &v);
		if (!err) {
			*AT(int, f->off) = (int)v;
		}
		return err;
	case K_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN) {
			return -EPROTO;
		}
		*AT(bool, f->off) = o->via.boolean;
		return 0;
	case K_FALSE:
		return o->type == MSGPACK_OBJECT_BOOLEAN && !o->via.boolean ? 0 : -EPROTO;
	case K_DECISION:
		if (o->type != MSGPACK_OBJECT_BOOLEAN) {
			return -EPROTO;
		}
		*AT(enum fng_wire_decision, f->off) = o->via.boolean ? FNG_WIRE_AUTHZ_ALLOW
								      : FNG_WIRE_AUTHZ_DENY;
		return 0;
	case K_CTX:
		return get_ctx(h, o, f, AT(const struct fng_wire_ctxv *, f->off),
			AT(size_t, f->noff));
	case K_UMAX:
		err = get_int(o, 0, (int64_t)f->max, &v);
		if (!err) {
			*AT(uint32_t, f->off) = (uint32_t)v;
		}
		return err;
	case K_U64MAX:
		err = get_int(o, 0, (int64_t)f->max, &v);
		if (!err) {
			*AT(uint64_t, f->off) = (uint64_t)v;
		}
		return err;
	case K_SET:
		*AT(bool, f->noff) = true;
		return decode_map(h, o, f->sub, base);
	case K_OBJ:
		return decode_map(h, o, f->sub, base);
	}
	return -EPROTO;
}

static int decode_map(struct handle *h, const msgpack_object *o, const struct fields *fs,
	char *base)
{
	uint32_t seen = 0, required = 0;
	int err;

	if (o->type != MSGPACK_OBJECT_MAP) {
		return -EPROTO;
	}
	for (size_t j = 0; j < fs->n; j++) {
		required |= fs->f[j].optional ? 0 : 1u << j;
	}
	for (size_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		size_t j;

		if (k->type != MSGPACK_OBJECT_STR) {
			return -EPROTO;
		}
		for (j = 0; j < fs->n; j++) {
			const char *name = fs->f[j].key;

			if (strlen(name) == k->via.str.size &&
				memcmp(name, k->via.str.ptr, k->via.str.size) == 0) {
				break;
			}
		}
		if (j == fs->n) {
			continue; /* unknown keys are skipped (docs/protocol.md) */
		}
		if (seen & (1u << j)) {
			return -EPROTO;
		}
		seen |= 1u << j;
		err = decode_field(h, &o->via.map.ptr[i].val, &fs->f[j], base);
		if (err) {
			return err;
		}
	}
	return (seen & required) == required ? 0 : -EPROTO;
}

/*
 * The whole decode: validate, unpack, map into base through fs. On success *handle owns every
 * byte base points to; on error nothing is kept and base is zeroed.
 */
static int decode(const uint8_t *body, size_t len, const struct fields *fs, char *base,
	size_t size, void **handle)
{
	msgpack_unpacked u;
	struct handle *h;
	size_t off = 0;
	int err;

	memset(base, 0, size);
	*handle = NULL;
	err = prevalidate(body, len);
	if (err) {
		return err;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		return -ENOMEM;
	}
	msgpack_unpacked_init(&u);
	switch (msgpack_unpack_next(&u, (const char *)body, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		err = off == len ? 0 : -EPROTO;
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		err = -ENOMEM;
		break;
	default:
		/* After prevalidate() only a failed allocation inside msgpack-c gets here; it
		 * reports that as a parse error, and so do we. */
		err = -EPROTO;
		break;
	}
	if (err) {
		goto out;
	}
	err = decode_map(h, &u.data, fs, base);
out:
	msgpack_unpacked_destroy(&u);
	if (err) {
		fng__sarena_finish(&h->a);
		free(h);
		memset(base, 0, size);
		return err;
	}
	*handle = h;
	return 0;
}

FNG_EXPORT void fng__wire_free(void *handle)
{
	struct handle *h = handle;

	if (h) {
		fng__sarena_finish(&h->a);
		free(h);
	}
}

#define EV(m) offsetof(struct fng_wire_event, m)
#define STR(k, m, max) { k, K_STR, EV(m), 0, max, NULL }
#define KVS(k, kind, m, max) { k, kind, EV(m), EV(n##m), max, NULL }

static const struct field http_fields[] = {
	STR("method", method, 0),
	STR("path", path, 0),
	STR("protocol", protocol, 0),
	STR("sourceIp", source_ip, 0),
	STR("userAgent", user_agent, 0),
};
static const struct fields http_table = FIELDS(http_fields);

static const struct field validity_fields[] = {
	STR("notBefore", cert_not_before, 0),
	STR("notAfter", cert_not_after, 0),
};
static const struct fields validity_table = FIELDS(validity_fields);

static const struct field client_cert_fields[] = {
	STR("subjectDN", cert_subject, 0),
	STR("issuerDN", cert_issuer, 0),
	STR("serialNumber", cert_serial, 0),
	{ "validity", K_OBJ, 0, 0, 0, &validity_table },
	KVS("sans", K_STRS, cert_sans, FNG_WIRE_MAX_SANS),
	STR("sha256Fingerprint", cert_sha256, 0),
};
static const struct fields client_cert_table = FIELDS(client_cert_fields);

static const struct field identity_fields[] = {
	{ "clientCert", K_SET, 0, EV(client_cert), 0, &client_cert_table, true },
};
static const struct fields identity_table = FIELDS(identity_fields);

static const struct field trace_fields[] = {
	STR("traceparent", traceparent, FNG_TRACEPARENT_LEN),
	STR("tracestate", tracestate, FNG_TRACESTATE_MAX),
};
static const struct fields trace_table = FIELDS(trace_fields);

static const struct field context_fields[] = {
	STR("requestId", request_id, 0),
	STR("apiId", api, 0),
	STR("stage", stage, 0),
	STR("domainName", domain, 0),
	{ "http", K_OBJ, 0, 0, 0, &http_table },
	KVS("authorizer", K_MAP, authorizer, FNG_WIRE_MAX_VARS),
	{ "timeEpoch", K_I64, EV(time_epoch_ms), 0, 0, NULL },
	STR("connectionId", connection_id, 0),
	STR("eventType", event_type, 0),
	STR("messageId", message_id, 0),
	/* Mutual TLS only. */
	{ "identity", K_OBJ, 0, 0, 0, &identity_table, true },
	/* W3C trace context: checked by fng__wire_trace_ok() after. */
	{ "trace", K_SET, 0, EV(trace), 0, &trace_table, true },
};
static const struct fields context_table = FIELDS(context_fields);

static const struct field invoke_fields[] = {
	STR("version", version, 3),
	STR("routeKey", route_key, 0),
	STR("rawPath", raw_path, 0),
	STR("rawQueryString", raw_query, 0),
	KVS("cookies", K_STRS, cookies, FNG_WIRE_MAX_COOKIES),
	KVS("headers", K_PAIRS, headers, FNG_WIRE_MAX_HEADERS),
	{ "queryStringParameters", K_PAIRS, EV(query), EV(nquery), FNG_WIRE_MAX_QUERY, NULL },
	{ "pathParameters", K_MAP, EV(path_params), EV(npath_params), FNG_WIRE_MAX_PARAMS, NULL },
	KVS("stageVariables", K_MAP, stage_vars, FNG_WIRE_MAX_VARS),
	{ "body", K_BIN, EV(body), EV(body_len), 0, NULL },
	{ "isBase64Encoded", K_FALSE, 0, 0, 0, NULL },
	{ "requestContext", K_OBJ, 0, 0, 0, &context_table },
	{ "deadline", K_I64, EV(deadline_epoch_ms), 0, 0, NULL },
	/* AUTHORIZER events only: checked together by fng__wire_decode_invoke. */
	{ "type", K_STR, EV(authz_type), 0, 7, NULL, true },
	{ "authorizationToken", K_STR, EV(authorization_token), 0, 0, NULL, true },
	{ "identitySource", K_STRS, EV(identity_source), EV(nidentity_source),
		FNG_WIRE_MAX_IDENTITY, NULL, true },
	{ "routeArn", K_STR, EV(route_arn), 0, 0, NULL, true },
};
static const struct fields invoke_table = FIELDS(invoke_fields);

#undef KVS
#undef STR
#undef EV

FNG_EXPORT int fng__wire_decode_invoke(const uint8_t *body, size_t len,
	struct fng_wire_event *ev, void **handle)
{
	int err = decode(body, len, &invoke_table, (char *)ev, sizeof(*ev), handle);

	/* The authorizer keys come all four with a known type, or not at all. */
	if (!err && (ev->version.len != 3 || memcmp(ev->version.p, "2.0", 3) != 0 ||
		(ev->authz_type.p ? !fng__wire_authz_type_ok(ev->authz_type) :
		 ev->authorization_token.p || ev->identity_source || ev->route_arn.p) ||
		(ev->authz_type.p && (!ev->authorization_token.p || !ev->identity_source ||
		 !ev->route_arn.p)) || !fng__wire_trace_ok(ev))) {
		fng__wire_free(*handle);
		*handle = NULL;
		memset(ev, 0, sizeof(*ev));
		return -EPROTO;
	}
	return err;
}

#define RES(m) offsetof(struct fng_wire_result, m)

static const struct field authz_fields[] = {
	{ "isAuthorized", K_DECISION, RES(authz.decision), 0, 0, NULL },
	{ "principalId", K_STR, RES(authz.principal), 0, FNG_WIRE_MAX_AUTHZ_ID, NULL },
	{ "context", K_CTX, RES(authz.context), RES(authz.ncontext), FNG_WIRE_MAX_AUTHZ_CONTEXT,
		NULL },
	{ "usageIdentifierKey", K_STR, RES(authz.usage_key), 0, FNG_WIRE_MAX_AUTHZ_ID, NULL },
};
static const struct fields authz_table = FIELDS(authz_fields);

static const struct field cache_fields[] = {
	{ "ttl", K_UMAX, RES(cache.ttl_s), 0, FNG_CACHE_TTL_MAX, NULL },
	{ "tags", K_TAGS, RES(cache.tags), RES(cache.ntags), FNG_CACHE_TAGS_MAX, NULL },
};
static const struct fields cache_table = FIELDS(cache_fields);

static const struct field cost_fields[] = {
	{ "cpuUs", K_U64MAX, RES(cost.cpu_us), 0, FNG_WIRE_MAX_CPU_US, NULL },
	{ "maxRssKb", K_U64MAX, RES(cost.max_rss_kb), 0, FNG_WIRE_MAX_RSS_KB, NULL },
	{ "wallUs", K_U64MAX, RES(cost.wall_us), 0, FNG_WIRE_MAX_CPU_US, NULL, true },
};
static const struct fields cost_table = FIELDS(cost_fields);

static const struct field result_fields[] = {
	{ "statusCode", K_STATUS, RES(status), 0, 0, NULL },
	{ "headers", K_HEADERS, RES(headers), RES(nheaders), FNG_WIRE_MAX_HEADERS, NULL },
	{ "cookies", K_SETCOOKIES, RES(cookies), RES(ncookies), FNG_WIRE_MAX_COOKIES, NULL },
	{ "body", K_BIN, RES(body), RES(body_len), 0, NULL },
	{ "failed", K_BOOL, RES(failed), 0, 0, NULL },
	{ "hasBody", K_BOOL, RES(has_body), 0, 0, NULL },
	{ "authorizer", K_OBJ, 0, 0, 0, &authz_table, true },
	{ "cache", K_SET, 0, RES(cache.set), 0, &cache_table, true },
	{ "cost", K_SET, 0, RES(cost.set), 0, &cost_table, true },
};
static const struct fields result_table = FIELDS(result_fields);

#undef RES

FNG_EXPORT int fng__wire_decode_result(const uint8_t *body, size_t len,
	struct fng_wire_result *r, void **handle)
{
	int err = decode(body, len, &result_table, (char *)r, sizeof(*r), handle);

	if (!err && ((r->authz.decision != FNG_WIRE_AUTHZ_NONE && !fng__wire_authz_ok(&r->authz)) ||
		!fng__wire_cache_ok(&r->cache))) {
		fng__wire_free(*handle);
		*handle = NULL;
		memset(r, 0, sizeof(*r));
		return -EPROTO;
	}
	return err;
}

struct log_body {
	int level;
	struct fng_wire_str msg;
};

static const struct field log_fields[] = {
	{ "level", K_LEVEL, offsetof(struct log_body, level), 0, 0, NULL },
	{ "msg", K_STR, offsetof(struct log_body, msg), 0, FNG_WIRE_MAX_LOG, NULL },
};
static const struct fields log_table = FIELDS(log_fields);

FNG_EXPORT int fng__wire_decode_log(const uint8_t *body, size_t len, int *level,
	struct fng_wire_str *msg, void **handle)
{
	struct log_body l;
	int err = decode(body, len, &log_table, (char *)&l, sizeof(l), handle);

	*level = l.level;
	*msg = l.msg;
	return err;
}

struct ws_send_body {
	struct fng_wire_str id;
	const void *data;
	size_t len;
	bool binary;
};

static const struct field ws_send_fields[] = {
	{ "connectionId", K_STR, offsetof(struct ws_send_body, id), 0, FNG_WIRE_MAX_CONNECTION_ID,
		NULL },
	{ "data", K_BIN, offsetof(struct ws_send_body, data), offsetof(struct ws_send_body, len), 0,
		NULL },
	{ "binary", K_BOOL, offsetof(struct ws_send_body, binary), 0, 0, NULL },
};
static const struct fields ws_send_table = FIELDS(ws_send_fields);

FNG_EXPORT int fng__wire_decode_ws_send(const uint8_t *body, size_t len,
	struct fng_wire_str *connection_id, struct fng_wire_str *data, bool *binary, void **handle)
{
	struct ws_send_body b;
	int err = decode(body, len, &ws_send_table, (char *)&b, sizeof(b), handle);

	*connection_id = b.id;
	*data = (struct fng_wire_str){ b.data, b.len };
	*binary = b.binary;
	return err;
}

struct ws_close_body {
	struct fng_wire_str id;
	uint32_t code;
	struct fng_wire_str reason;
};

static const struct field ws_close_fields[] = {
	{ "connectionId", K_STR, offsetof(struct ws_close_body, id), 0, FNG_WIRE_MAX_CONNECTION_ID,
		NULL },
	{ "code", K_U32, offsetof(struct ws_close_body, code), 0, 0, NULL },
	{ "reason", K_STR, offsetof(struct ws_close_body, reason), 0, FNG_WIRE_MAX_CLOSE_REASON,
		NULL },
};
static const struct fields ws_close_table = FIELDS(ws_close_fields);

FNG_EXPORT int fng__wire_decode_ws_close(const uint8_t *body, size_t len,
	struct fng_wire_str *connection_id, uint32_t *code, struct fng_wire_str *reason,
	void **handle)
{
	struct ws_close_body b;
	int err = decode(body, len, &ws_close_table, (char *)&b, sizeof(b), handle);

	*connection_id = b.id;
	*code = b.code;
	*reason = b.reason;
	return err;
}

struct ws_publish_body {
	struct fng_wire_str topic;
	const void *data;
	size_t len;
};

static const struct field ws_publish_fields[] = {
	{ "topic", K_STR, offsetof(struct ws_publish_body, topic), 0, FNG_WIRE_MAX_TOPIC, NULL },
	{ "data", K_BIN, offsetof(struct ws_publish_body, data),
		offsetof(struct ws_publish_body, len), 0, NULL },
};
static const struct fields ws_publish_table = FIELDS(ws_publish_fields);

FNG_EXPORT int fng__wire_decode_ws_publish(const uint8_t *body, size_t len,
	struct fng_wire_str *topic, struct fng_wire_str *data, void **handle)
{
	struct ws_publish_body b;
	int err = decode(body, len, &ws_publish_table, (char *)&b, sizeof(b), handle);

	*topic = b.topic;
	*data = (struct fng_wire_str){ b.data, b.len };
	return err;
}

struct ws_sub_body {
	struct fng_wire_str id;
	struct fng_wire_str topic;
};

static const struct field ws_sub_fields[] = {
	{ "connectionId", K_STR, offsetof(struct ws_sub_body, id), 0, FNG_WIRE_MAX_CONNECTION_ID,
		NULL },
	{ "topic", K_STR, offsetof(struct ws_sub_body, topic), 0, FNG_WIRE_MAX_TOPIC, NULL },
};
static const struct fields ws_sub_table = FIELDS(ws_sub_fields);

FNG_EXPORT int fng__wire_decode_ws_sub(const uint8_t *body, size_t len,
	struct fng_wire_str *connection_id, struct fng_wire_str *topic, void **handle)
{
	struct ws_sub_body b;
	int err = decode(body, len, &ws_sub_table, (char *)&b, sizeof(b), handle);

	*connection_id = b.id;
	*topic = b.topic;
	return err;
}

struct ready_body {
	uint32_t abi;
	struct fng_wire_str name;
};

static const struct field ready_fields[] = {
	{ "abi", K_U32, offsetof(struct ready_body, abi), 0, 0, NULL },
	{ "name", K_STR, offsetof(struct ready_body, name), 0, FNG_WIRE_MAX_NAME, NULL },
};
static const struct fields ready_table = FIELDS(ready_fields);

FNG_EXPORT int fng__wire_decode_ready(const uint8_t *body, size_t len, uint32_t *abi,
	struct fng_wire_str *name, void **handle)
{
	struct ready_body r;
	int err = decode(body, len, &ready_table, (char *)&r, sizeof(r), handle);

	*abi = r.abi;
	*name = r.name;
	return err;
}
