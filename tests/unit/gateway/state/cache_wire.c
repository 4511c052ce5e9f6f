// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/state/cache_wire.c, the wire form of a response cache entry shared through
 * Redis: a round trip keeps every field and carries the times as durations (re-based on the
 * reader's clock, aged by the time spent in Redis); the TTL a copy gets; what encode refuses;
 * and bytes from Redis trusted no further than checked: every truncation, a trailing byte,
 * another magic, counts over the limits, lengths past the end (up to 2^32 - 1), a tag without
 * its NUL or with one inside, windows out of order, and every single byte flipped (decoded
 * within bounds or refused, never read past: the ASan build runs this too).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "harness.h"
#include "mem.h"

static struct fng_cache_hdr hdrs_in[] = {
	{ "content-type", 12, "text/plain", 10 },
	{ "x-empty", 7, "", 0 },
};
static const char *tags_in[] = { "user:1", "" };

static struct fng_cached sample(void)
{
	return (struct fng_cached){
		.status = 203, .headers = hdrs_in, .nheaders = 2, .body = "hello\0world",
		.body_len = 12, .stored_ms = 1000, .fresh_ms = 1500, .stale_ms = 2000,
		.error_ms = 1700, .tags = tags_in, .ntags = 2,
	};
}

static int decode(const struct fng_buf *b, uint64_t now, uint64_t waited, struct fng_cached *out)
{
	static struct fng_cache_hdr hdrs[FNG_CACHE_MAX_HEADERS];
	static const char *tags[FNG_CACHE_MAX_TAGS];

	return fng__cache_decode(b->p, b->len, now, waited, out, hdrs, tags);
}

static void test_round_trip(void)
{
	struct fng_cached e = sample(), c;
	struct fng_buf b = { 0 };

	CHECK_INT(fng__cache_encode(&e, 1100, &b), 0, "encode");
	CHECK(fng__cache_wire_ttl_ms(b.p, b.len) == 900, "TTL: the latest window (stale)");
	/* Read on another node whose clock says 50000, after 30 ms in Redis. */
	CHECK_INT(decode(&b, 50000, 30, &c), 0, "decode");
	CHECK_INT(c.status, 203, "status");
	CHECK(c.stored_ms == 50000 - 100 - 30, "stored: age 100 + 30 waited");
	CHECK(c.fresh_ms == 50000 + 400 - 30, "fresh: 400 left, less 30");
	CHECK(c.stale_ms == 50000 + 900 - 30 && c.error_ms == 50000 + 600 - 30, "windows");
	CHECK(c.nheaders == 2 && c.headers[0].nlen == 12 &&
		!memcmp(c.headers[0].name, "content-type", 12) && c.headers[0].vlen == 10 &&
		!memcmp(c.headers[0].value, "text/plain", 10) && c.headers[1].vlen == 0,
		"headers");
	CHECK(c.ntags == 2 && !strcmp(c.tags[0], "user:1") && !strcmp(c.tags[1], ""), "tags");
	CHECK(c.body_len == 12 && !memcmp(c.body, "hello\0world", 12), "binary body");
	CHECK_INT(decode(&b, 50000, 5000, &c), 0, "waited past every window");
	CHECK(c.fresh_ms == 50000 && c.stale_ms == 50000, "nothing left, not negative");
	fng__buf_finish(&b);

	e.nheaders = 0;
	e.ntags = 0;
	e.body_len = 0;
	e.body = NULL;
	CHECK_INT(fng__cache_encode(&e, 1100, &b), 0, "an empty entry");
	CHECK_INT(decode(&b, 0, 0, &c), 0, "decodes");
	CHECK(c.headers == NULL && c.tags == NULL && c.body_len == 0, "empty");
	fng__buf_finish(&b);
}

static void test_encode_refusals(void)
{
	struct fng_cached e = sample();
	struct fng_buf b = { 0 };

	CHECK_INT(fng__cache_encode(&e, 1500, &b), -EINVAL, "no longer fresh");
	e.status = 99;
	CHECK_INT(fng__cache_encode(&e, 1100, &b), -EINVAL, "status");
	e = sample();
	e.ntags = FNG_CACHE_MAX_TAGS + 1;
	CHECK_INT(fng__cache_encode(&e, 1100, &b), -EINVAL, "tags");
	fng__buf_finish(&b);
}

static void put32(char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (char)(v >> (8 * i));
	}
}

static void test_hostile(void)
{
	struct fng_cached e = sample(), c;
	struct fng_buf b = { 0 }, m = { 0 };
	unsigned bad = 0;

	CHECK_INT(fng__cache_encode(&e, 1100, &b), 0, "encode");
	for (size_t n = 0; n < b.len; n++) {
		bad += fng__cache_decode(b.p, n, 0, 0, &c, (struct fng_cache_hdr[
			FNG_CACHE_MAX_HEADERS]){ 0 }, (const char *[FNG_CACHE_MAX_TAGS]){ 0 }) ==
			-EINVAL;
	}
	CHECK(bad == b.len, "every truncation refused (%u of %zu)", bad, b.len);
	fng__buf_append(&m, b.p, b.len);
	fng__buf_append(&m, "x", 1);
	CHECK_INT(decode(&m, 0, 0, &c), -EINVAL, "a trailing byte");
	fng__buf_finish(&m);
	CHECK(fng__cache_wire_ttl_ms("FNC", 3) == 0, "TTL of a fragment: 0");

#define MUTATE(what, off, stmt)                                                           \
	do {                                                                               \
		fng__buf_append(&m, b.p, b.len);                                           \
		{                                                                          \
			char *p = m.p + (off);                                             \
			stmt;                                                              \
		}                                                                          \
		CHECK_INT(decode(&m, 0, 0, &c), -EINVAL, what);                            \
		fng__buf_finish(&m);                                                       \
	} while (0)
	MUTATE("another magic", 0, p[3] = '2');
	MUTATE("status 0", 4, p[0] = 0; p[1] = 0);
	MUTATE("status 600", 4, p[0] = (char)(600 & 0xff); p[1] = (char)(600 >> 8));
	MUTATE("101 headers", 6, p[0] = 101; p[1] = 0);
	MUTATE("17 tags", 8, p[0] = 17; p[1] = 0);
	MUTATE("stale before fresh", 18, put32(p, 1));
	MUTATE("error before fresh", 22, put32(p, 1));
	MUTATE("a name past the end", 26, put32(p, 0xffffffffu));
	MUTATE("a name one past the end", 26, put32(p, (uint32_t)b.len));
	/* The body's length: the last 4 + 12 bytes. */
	MUTATE("a body past the end", b.len - 16, put32(p, 0xffffffffu));
	MUTATE("a body one short", b.len - 16, put32(p, 11));
	{
		/* The first tag: after the fixed part and the headers (4+12+4+10, 4+7+4). */
		size_t t = 26 + 30 + 15;

		MUTATE("a tag without its NUL", t + 2 + 6, p[0] = 'x');
		MUTATE("a NUL inside a tag", t + 2 + 2, p[0] = '\0');
		MUTATE("a tag length past its NUL", t, p[0] = 7);
	}
#undef MUTATE

	/* Every byte flipped: refused, or decoded with every length within the bytes. */
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			fng__buf_append(&m, b.p, b.len);
			m.p[i] ^= (char)(1 << bit);
			if (decode(&m, 0, 0, &c) == 0) {
				size_t sum = c.body_len;

				for (unsigned h = 0; h < c.nheaders; h++) {
					sum += c.headers[h].nlen + c.headers[h].vlen;
				}
				CHECK(sum <= m.len && c.nheaders <= FNG_CACHE_MAX_HEADERS &&
					c.ntags <= FNG_CACHE_MAX_TAGS,
					"flip %zu.%d within bounds", i, bit);
			}
			fng__buf_finish(&m);
		}
	}
	fng__buf_finish(&b);
}

int main(void)
{
	test_round_trip();
	test_encode_refusals();
	test_hostile();
	return fng_test_done();
}
