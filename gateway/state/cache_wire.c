// SPDX-License-Identifier: MIT
/*
 * The wire form of a response cache entry (cache.h), written to Redis by stage "cache_store"
 * when the response cache is shared (`cluster.shared_caches: [response]`) and read back by
 * stage "cache" of any node on a local miss. Everything is little-endian and length-prefixed:
 *
 *   "FNC1", u16 status, u16 nheaders, u16 ntags,
 *   u32 age_ms, u32 fresh_ms, u32 stale_ms, u32 error_ms   (durations from the writer's now:
 *                                                          age; fresh, stale and error left)
 *   nheaders x (u32 nlen, name, u32 vlen, value)
 *   ntags    x (u16 len, tag, '\0')
 *   u32 body_len, body
 *
 * A decode trusts none of it: every count is checked against the limits, every length
 * against what is left, and the bytes must end where the entry ends.
 */
#include <errno.h>
#include <string.h>

#include "cache.h"
#include "mem.h"

#define MAGIC "FNC1"
#define FIXED (4 + 2 * 3 + 4 * 4)
#define U32_MAX_MS 0xffffffffull

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

static uint32_t get16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24;
}

static uint64_t left(uint64_t until, uint64_t now)
{
	uint64_t d = until > now ? until - now : 0;

	return d > U32_MAX_MS ? U32_MAX_MS : d;
}

static int append_len(struct fng_buf *out, const void *p, size_t n, int width)
{
	uint8_t l[4];

	if (width == 2) {
		put16(l, (uint32_t)n);
	} else {
		put32(l, n);
	}
	if (fng__buf_append(out, l, (size_t)width) != 0) {
		return -ENOMEM;
	}
	return n && fng__buf_append(out, p, n) != 0 ? -ENOMEM : 0;
}

int fng__cache_encode(const struct fng_cached *e, uint64_t now_ms, struct fng_buf *out)
{
	uint8_t fixed[FIXED];
	uint64_t stale = e->stale_ms > e->fresh_ms ? e->stale_ms : e->fresh_ms;
	uint64_t error = e->error_ms > e->fresh_ms ? e->error_ms : e->fresh_ms;
	int err = 0;

	if (e->nheaders > FNG_CACHE_MAX_HEADERS || e->ntags > FNG_CACHE_MAX_TAGS ||
		e->status < 100 || e->status > 599 || e->fresh_ms <= now_ms ||
		e->body_len > UINT32_MAX) {
		return -EINVAL;
	}
	memcpy(fixed, MAGIC, 4);
	put16(fixed + 4, (uint32_t)e->status);
	put16(fixed + 6, e->nheaders);
	put16(fixed + 8, e->ntags);
	put32(fixed + 10, left(now_ms, e->stored_ms));
	put32(fixed + 14, left(e->fresh_ms, now_ms));
	put32(fixed + 18, left(stale, now_ms));
	put32(fixed + 22, left(error, now_ms));
	if (fng__buf_append(out, fixed, sizeof(fixed)) != 0) {
		return -ENOMEM;
	}
	for (unsigned i = 0; !err && i < e->nheaders; i++) {
		const struct fng_cache_hdr *h = &e->headers[i];

		if (h->nlen > UINT32_MAX || h->vlen > UINT32_MAX) {
			return -EINVAL;
		}
		err = append_len(out, h->name, h->nlen, 4);
		err = err ? err : append_len(out, h->value, h->vlen, 4);
	}
	for (unsigned i = 0; !err && i < e->ntags; i++) {
		size_t n = strlen(e->tags[i]);

		if (n > 0xffff) {
			return -EINVAL;
		}
		err = append_len(out, e->tags[i], n + 1, 2); /* the NUL goes too, not counted */
		if (!err) {
			put16((uint8_t *)out->p + out->len - n - 3, (uint32_t)n);
		}
	}
	err = err ? err : append_len(out, e->body, e->body_len, 4);
	return err;
}

uint64_t fng__cache_wire_ttl_ms(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t t;

	if (len < FIXED || memcmp(p, MAGIC, 4) != 0) {
		return 0;
	}
	t = get32(p + 14);
	t = get32(p + 18) > t ? get32(p + 18) : t;
	t = get32(p + 22) > t ? get32(p + 22) : t;
	return t;
}

/* Takes n bytes from *p (with *rest left); NULL when fewer are left. */
static const uint8_t *take(const uint8_t **p, size_t *rest, size_t n)
{
	const uint8_t *at = *p;

	if (n > *rest) {
		return NULL;
	}
	*p += n;
	*rest -= n;
	return at;
}

static uint64_t minus(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

int fng__cache_decode(const void *data, size_t len, uint64_t now_ms, uint64_t elapsed_ms,
	struct fng_cached *out, struct fng_cache_hdr *hdrs, const char **tags)
{
	const uint8_t *p = data, *f, *q;
	size_t rest = len;
	unsigned nh, nt;
	uint32_t status, fresh, stale, error;
	uint64_t age;

	f = take(&p, &rest, FIXED);
	if (!f || memcmp(f, MAGIC, 4) != 0) {
		return -EINVAL;
	}
	status = get16(f + 4);
	nh = get16(f + 6);
	nt = get16(f + 8);
	fresh = get32(f + 14);
	stale = get32(f + 18);
	error = get32(f + 22);
	if (status < 100 || status > 599 || nh > FNG_CACHE_MAX_HEADERS ||
		nt > FNG_CACHE_MAX_TAGS || stale < fresh || error < fresh) {
		return -EINVAL;
	}
	for (unsigned i = 0; i < nh; i++) {
		const uint8_t *name, *value;
		uint32_t nlen, vlen;

		if (!(q = take(&p, &rest, 4)) || !(name = take(&p, &rest, nlen = get32(q))) ||
			!(q = take(&p, &rest, 4)) || !(value = take(&p, &rest, vlen = get32(q)))) {
			return -EINVAL;
		}
		hdrs[i] = (struct fng_cache_hdr){ (const char *)name, nlen, (const char *)value,
			vlen };
	}
	for (unsigned i = 0; i < nt; i++) {
		uint32_t tl;
		const uint8_t *t;

		if (!(q = take(&p, &rest, 2)) || !(t = take(&p, &rest, (tl = get16(q)) + 1u)) ||
			t[tl] != '\0' || memchr(t, '\0', tl)) {
			return -EINVAL;
		}
		tags[i] = (const char *)t;
	}
	if (!(q = take(&p, &rest, 4)) || !(f = take(&p, &rest, get32(q))) || rest != 0) {
		return -EINVAL;
	}
	age = get32((const uint8_t *)data + 10);
	*out = (struct fng_cached){
		.status = (int)status,
		.headers = nh ? hdrs : NULL,
		.nheaders = nh,
		.body = f,
		.body_len = get32(q),
		.stored_ms = minus(now_ms, age + elapsed_ms),
		.tags = nt ? tags : NULL,
		.ntags = nt,
	};
	out->fresh_ms = now_ms + minus(fresh, elapsed_ms);
	out->stale_ms = now_ms + minus(stale, elapsed_ms);
	out->error_ms = now_ms + minus(error, elapsed_ms);
	return 0;
}
