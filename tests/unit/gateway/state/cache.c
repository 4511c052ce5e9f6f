// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/state/cache.c, the local response cache store: every field round trips,
 * replacement, misses, the drop past every window, LRU eviction (a get protects), refusals
 * (-E2BIG with the old entry kept, -EINVAL over the limits), del, the purges by prefix and
 * tag, set_capacity, memory honesty (accounted bytes under the capacity and the real heap
 * growth, glibc's mallinfo2, within it too), keys alike in all but their high bits, and 100k
 * random operations against a model of which keys exist.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../alloc_faults.h"
#include "cache.h"
#include "harness.h"

#define FAR 1000000000ull /* a time no test reaches */

static struct fng_cache_stats st(struct fng_cache_store *s)
{
	struct fng_cache_stats x;

	s->ops->stats(s, &x);
	return x;
}

static int put_body(struct fng_cache_store *s, const char *key, const char *body)
{
	struct fng_cached e = {
		.status = 200, .body = body, .body_len = strlen(body),
		.fresh_ms = FAR, .stale_ms = FAR, .error_ms = FAR,
	};

	return s->ops->put(s, key, strlen(key), &e);
}

static bool has(struct fng_cache_store *s, const char *key)
{
	struct fng_cached c;

	return s->ops->get(s, key, strlen(key), 0, &c) == 0;
}

static void test_round_trip(void)
{
	struct fng_cache_store *s = fng__cache_local_create(1 << 20, 1 << 16);
	char key[] = "r1\0GET /a?x=1";
	char name[] = "content-type", value[] = "text/plain", body[] = "hello\0world";
	char t1[] = "user:1", t2[] = "";
	const char *tags[] = { t1, t2 };
	struct fng_cache_hdr hdrs[] = {
		{ name, strlen(name), value, strlen(value) },
		{ "etag", 4, "\"v1\"", 4 },
		{ "x-empty", 7, "", 0 },
	};
	struct fng_cached e = {
		.status = 203, .headers = hdrs, .nheaders = 3, .body = body,
		.body_len = sizeof(body), .stored_ms = 10, .fresh_ms = 20, .stale_ms = 30,
		.error_ms = 40, .tags = tags, .ntags = 2,
	}, c;

	CHECK_INT(s->ops->put(s, key, sizeof(key) - 1, &e), 0, "put");
	/* Scribble over the caller's copies: the store has its own. */
	memset(name, 'X', sizeof(name) - 1);
	memset(value, 'X', sizeof(value) - 1);
	memset(body, 'X', sizeof(body));
	memset(t1, 'X', sizeof(t1) - 1);
	CHECK_INT(s->ops->get(s, key, sizeof(key) - 1, 15, &c), 0, "get");
	CHECK_INT(c.status, 203, "status");
	CHECK(c.stored_ms == 10 && c.fresh_ms == 20 && c.stale_ms == 30 && c.error_ms == 40,
		"times");
	CHECK(c.body_len == 12 && !memcmp(c.body, "hello\0world", 12) && c.body != body,
		"body copied, binary");
	CHECK_INT(c.nheaders, 3, "nheaders");
	CHECK(c.headers[0].nlen == 12 && !strcmp(c.headers[0].name, "content-type") &&
		c.headers[0].vlen == 10 && !strcmp(c.headers[0].value, "text/plain"),
		"header 0, NUL-terminated copies");
	CHECK(!strcmp(c.headers[1].name, "etag") && !strcmp(c.headers[1].value, "\"v1\""),
		"header 1");
	CHECK(c.headers[2].vlen == 0 && c.headers[2].value && !*c.headers[2].value,
		"an empty value");
	CHECK(c.ntags == 2 && !strcmp(c.tags[0], "user:1") && !strcmp(c.tags[1], ""), "tags");
	CHECK_INT(st(s).entries, 1, "one entry");

	/* A miss: a prefix of the key, a longer key, the same length with another byte. */
	CHECK_INT(s->ops->get(s, key, sizeof(key) - 2, 15, &c), -ENOENT, "shorter key: miss");
	CHECK_INT(s->ops->get(s, key, sizeof(key), 15, &c), -ENOENT, "longer key: miss");
	key[sizeof(key) - 2] = '2';
	CHECK_INT(s->ops->get(s, key, sizeof(key) - 1, 15, &c), -ENOENT, "one byte off: miss");
	CHECK_INT(s->ops->get(s, "", 0, 15, &c), -ENOENT, "empty key: miss");
	key[sizeof(key) - 2] = '1';

	/* Replace, with the new entry made from the one a get found (a revalidation). */
	CHECK_INT(s->ops->get(s, key, sizeof(key) - 1, 15, &c), 0, "get again");
	uint64_t before = st(s).bytes;
	c.fresh_ms = 100;
	c.stale_ms = c.error_ms = 200;
	c.ntags = 1;
	CHECK_INT(s->ops->put(s, key, sizeof(key) - 1, &c), 0, "replace from its own pointers");
	CHECK_INT(s->ops->get(s, key, sizeof(key) - 1, 150, &c), 0, "get the replacement");
	CHECK(c.fresh_ms == 100 && c.ntags == 1 && c.body_len == 12 &&
		!memcmp(c.body, "hello\0world", 12) && !strcmp(c.headers[1].value, "\"v1\""),
		"the replacement's fields");
	CHECK(st(s).entries == 1 && st(s).bytes <= before, "still one entry, no more bytes");
	CHECK_INT(put_body(s, "other", "b"), 0, "another");
	CHECK_INT(put_body(s, "other", "a longer body than before"), 0, "replace it");
	CHECK(s->ops->get(s, "other", 5, 0, &c) == 0 && c.body_len == 25 && c.nheaders == 0 &&
		c.ntags == 0, "replaced body");
	CHECK_INT(st(s).entries, 2, "two entries");
	CHECK_INT(s->ops->put(s, "", 0, &c), 0, "the empty key is a key");
	CHECK_INT(s->ops->get(s, "", 0, 0, &c), 0, "found");
	s->ops->destroy(s);
	s = fng__cache_local_create(0, 0);
	s->ops->destroy(NULL);
	s->ops->destroy(s);
}

static void test_expiry(void)
{
	struct fng_cache_store *s = fng__cache_local_create(1 << 20, 1 << 16);
	struct fng_cached e = { .status = 200, .fresh_ms = 100, .stale_ms = 200, .error_ms = 300 };
	struct fng_cached c;

	CHECK_INT(s->ops->put(s, "k", 1, &e), 0, "put fresh till 100, stale 200, error 300");
	CHECK_INT(s->ops->get(s, "k", 1, 50, &c), 0, "fresh");
	CHECK_INT(s->ops->get(s, "k", 1, 150, &c), 0, "stale, within stale_ms: returned");
	CHECK_INT(s->ops->get(s, "k", 1, 299, &c), 0, "within error_ms: returned");
	CHECK_INT(s->ops->get(s, "k", 1, 300, &c), -ENOENT, "at error_ms: dropped");
	CHECK_INT(st(s).entries, 0, "and gone");
	e.stale_ms = 500;
	e.error_ms = 100;
	CHECK_INT(s->ops->put(s, "k", 1, &e), 0, "stale window the longer");
	CHECK_INT(s->ops->get(s, "k", 1, 499, &c), 0, "within stale_ms");
	CHECK_INT(s->ops->get(s, "k", 1, 500, &c), -ENOENT, "past both");
	e.stale_ms = e.error_ms = 0;
	CHECK_INT(s->ops->put(s, "k", 1, &e), 0, "no windows");
	CHECK_INT(s->ops->get(s, "k", 1, 99, &c), 0, "fresh still returned");
	CHECK_INT(s->ops->get(s, "k", 1, 100, &c), -ENOENT, "dropped when no longer fresh");
	CHECK_INT(st(s).bytes <= st(s).capacity, 1, "bytes within capacity");
	s->ops->destroy(s);
}

/* The cost of one more entry like put_body(s, "kN", "0123456789") in a store. */
static void entry_costs(uint64_t *table, uint64_t *entry)
{
	struct fng_cache_store *s = fng__cache_local_create(1 << 20, 1 << 16);

	put_body(s, "k0", "0123456789");
	uint64_t one = st(s).bytes;
	put_body(s, "k1", "0123456789");
	*entry = st(s).bytes - one;
	*table = one - *entry;
	s->ops->destroy(s);
}

static void test_lru(void)
{
	uint64_t table, entry;
	char k[8];

	entry_costs(&table, &entry);
	printf("# an entry with a 2-byte key and a 10-byte body: %llu bytes; empty table %llu\n",
		(unsigned long long)entry, (unsigned long long)table);

	struct fng_cache_store *s = fng__cache_local_create(table + 4 * entry + entry / 2, 1 << 16);

	for (int i = 0; i < 4; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		CHECK_INT(put_body(s, k, "0123456789"), 0, "put %s", k);
	}
	CHECK(st(s).entries == 4 && st(s).evictions == 0, "four fit");
	CHECK(has(s, "k0"), "touch k0");
	CHECK_INT(put_body(s, "k4", "0123456789"), 0, "put k4");
	CHECK(st(s).entries == 4 && st(s).evictions == 1, "one evicted");
	CHECK(!has(s, "k1"), "k1 (least recently used) went");
	CHECK_INT(put_body(s, "k5", "0123456789"), 0, "put k5");
	CHECK(!has(s, "k2") && has(s, "k0") && has(s, "k3") && has(s, "k4") && has(s, "k5"),
		"then k2; k0 kept by its get");
	CHECK(st(s).bytes <= st(s).capacity, "bytes %llu <= capacity %llu",
		(unsigned long long)st(s).bytes, (unsigned long long)st(s).capacity);

	/* set_capacity: shrink to two, the two most recently used stay. */
	has(s, "k3");
	has(s, "k0");
	s->ops->set_capacity(s, table + 2 * entry + entry / 2, 1 << 16);
	CHECK(st(s).entries == 2 && has(s, "k0") && has(s, "k3"), "shrunk to the two last used");
	CHECK(st(s).bytes <= st(s).capacity, "within the new capacity");
	s->ops->set_capacity(s, 0, 0);
	CHECK(st(s).entries == 0 && st(s).bytes == 0, "capacity 0: empty, table freed too");
	CHECK_INT(put_body(s, "k", "v"), -E2BIG, "nothing fits");
	s->ops->set_capacity(s, 1 << 20, 1 << 16);
	CHECK_INT(put_body(s, "k", "v"), 0, "grown again: fits");
	CHECK(has(s, "k"), "found");
	s->ops->destroy(s);

	/*
	 * A store whose table grew to 1024 buckets keeps 10 entries, then gets the capacity a
	 * fresh store needs for those 10: its table shrinks to fit, nothing is evicted.
	 */
	struct fng_cache_store *small = fng__cache_local_create(1 << 20, 1 << 16);

	s = fng__cache_local_create(1 << 20, 1 << 16);
	for (int i = 0; i < 1000; i++) {
		char kk[16];

		snprintf(kk, sizeof(kk), "key%03d", i);
		put_body(s, kk, "x");
		if (i < 10) {
			put_body(small, kk, "x");
		} else if (i >= 500) {
			s->ops->del(s, kk, strlen(kk));
		}
	}
	CHECK_INT(s->ops->purge_prefix(s, "key", 3), 500, "purge the 500 left (the table stays)");
	for (int i = 0; i < 10; i++) {
		char kk[16];

		snprintf(kk, sizeof(kk), "key%03d", i);
		put_body(s, kk, "x");
	}
	uint64_t large = st(s).bytes, want = st(small).bytes;

	s->ops->set_capacity(s, want, 1 << 16);
	CHECK(st(s).entries == 10 && st(s).evictions == 0 && st(s).bytes == want,
		"table shrunk: %llu bytes to %llu, 10 entries kept", (unsigned long long)large,
		(unsigned long long)st(s).bytes);
	s->ops->set_capacity(s, want - 1, 1 << 16);
	CHECK(st(s).entries == 9 && st(s).evictions == 1, "a byte less: one evicted");
	s->ops->destroy(s);
	small->ops->destroy(small);
}

static void test_refusals(void)
{
	struct fng_cache_store *s = fng__cache_local_create(1 << 20, 1000);
	static char big[1 << 21];
	struct fng_cached e = { .status = 200, .body = big, .fresh_ms = FAR }, c;
	struct fng_cache_hdr hdrs[FNG_CACHE_MAX_HEADERS + 1];
	const char *tags[FNG_CACHE_MAX_TAGS + 1];

	CHECK_INT(put_body(s, "k", "small"), 0, "put a small one");
	e.body_len = 2000;
	CHECK_INT(s->ops->put(s, "k", 1, &e), -E2BIG, "over max_entry: -E2BIG");
	CHECK(s->ops->get(s, "k", 1, 0, &c) == 0 && c.body_len == 5, "the old entry stays");
	e.body_len = 950;
	CHECK_INT(s->ops->put(s, "k", 1, &e), -E2BIG,
		"a body under max_entry, with the entry's own bytes over it");
	e.body_len = 700;
	CHECK_INT(s->ops->put(s, "k", 1, &e), 0, "well under: stored");
	e.body_len = SIZE_MAX - 10;
	CHECK_INT(s->ops->put(s, "k", 1, &e), -E2BIG, "a length that would overflow: -E2BIG");
	CHECK_INT(st(s).refused, 3, "three refused");
	s->ops->set_capacity(s, 4096, 1 << 20);
	e.body_len = 5000;
	CHECK_INT(s->ops->put(s, "k", 1, &e), -E2BIG, "over the capacity: -E2BIG");
	CHECK(s->ops->get(s, "k", 1, 0, &c) == 0 && c.body_len == 700, "the old entry stays");
	s->ops->set_capacity(s, 1 << 20, 1 << 20);

	for (unsigned i = 0; i <= FNG_CACHE_MAX_HEADERS; i++) {
		hdrs[i] = (struct fng_cache_hdr){ "x-h", 3, "v", 1 };
	}
	for (unsigned i = 0; i <= FNG_CACHE_MAX_TAGS; i++) {
		tags[i] = "t";
	}
	e.body_len = 1;
	e.headers = hdrs;
	e.nheaders = FNG_CACHE_MAX_HEADERS;
	e.tags = tags;
	e.ntags = FNG_CACHE_MAX_TAGS;
	CHECK_INT(s->ops->put(s, "m", 1, &e), 0, "the most headers and tags");
	e.nheaders++;
	CHECK_INT(s->ops->put(s, "m", 1, &e), -EINVAL, "one header more: -EINVAL");
	e.nheaders--;
	e.ntags++;
	CHECK_INT(s->ops->put(s, "m", 1, &e), -EINVAL, "one tag more: -EINVAL");
	CHECK(s->ops->get(s, "m", 1, 0, &c) == 0 && c.nheaders == FNG_CACHE_MAX_HEADERS,
		"the entry stays");
	e.ntags = 1;
	tags[0] = NULL;
	CHECK_INT(s->ops->put(s, "m", 1, &e), -EINVAL, "a NULL tag: -EINVAL");
	s->ops->destroy(s);
}

static void test_del_purge(void)
{
	struct fng_cache_store *s = fng__cache_local_create(1 << 20, 1 << 16);
	const char *ta[] = { "a", "b" }, *tb[] = { "bb", "c", "b" }, *tc[] = { "c" };
	struct fng_cached e = { .status = 200, .fresh_ms = FAR }, c;
	static const char r1a[] = "r1\0GET /a", r1b[] = "r1\0GET /b", r10[] = "r10\0GET /a",
			  r2a[] = "r2\0GET /a";

	CHECK_INT(put_body(s, "x", "1"), 0, "put");
	CHECK_INT(s->ops->del(s, "x", 1), 0, "del");
	CHECK_INT(s->ops->del(s, "x", 1), -ENOENT, "del again: -ENOENT");
	CHECK(!has(s, "x") && st(s).entries == 0, "gone");

	s->ops->put(s, r1a, sizeof(r1a) - 1, &e);
	s->ops->put(s, r1b, sizeof(r1b) - 1, &e);
	s->ops->put(s, r10, sizeof(r10) - 1, &e);
	s->ops->put(s, r2a, sizeof(r2a) - 1, &e);
	CHECK_INT(s->ops->purge_prefix(s, "r1\0", 3), 2, "purge route r1: its two");
	CHECK(s->ops->get(s, r10, sizeof(r10) - 1, 0, &c) == 0 &&
		s->ops->get(s, r2a, sizeof(r2a) - 1, 0, &c) == 0 &&
		s->ops->get(s, r1a, sizeof(r1a) - 1, 0, &c) == -ENOENT, "r10 and r2 stay");
	CHECK_INT(s->ops->purge_prefix(s, "r2\0GET /a/longer", 16), 0, "a longer prefix: none");
	CHECK_INT(s->ops->purge_prefix(s, NULL, 0), 2, "purge everything");
	CHECK_INT(st(s).entries, 0, "empty");

	e.tags = ta;
	e.ntags = 2;
	s->ops->put(s, "1", 1, &e);
	e.tags = tb;
	e.ntags = 3;
	s->ops->put(s, "2", 1, &e);
	e.tags = tc;
	e.ntags = 1;
	s->ops->put(s, "3", 1, &e);
	e.ntags = 0;
	s->ops->put(s, "4", 1, &e);
	CHECK_INT(s->ops->purge_tag(s, "", 0), 0, "the empty tag: none");
	CHECK_INT(s->ops->purge_tag(s, "bbb", 2), 1, "tag \"bb\" (by length): one");
	CHECK(has(s, "1") && !has(s, "2") && has(s, "3") && has(s, "4"), "entry 2 went");
	CHECK_INT(s->ops->purge_tag(s, "b", 1), 1, "tag b: entry 1");
	CHECK_INT(s->ops->purge_tag(s, "a", 1), 0, "tag a: already gone");
	CHECK_INT(s->ops->purge_tag(s, "c", 1), 1, "tag c: entry 3");
	CHECK(has(s, "4") && st(s).entries == 1, "the untagged entry stays");
	s->ops->destroy(s);
}

static void test_enomem(void)
{
#ifdef FAULTS
	struct fng_cache_store *s = fng__cache_local_create(1 << 20, 1 << 16);
	struct fng_cached c;
	char k[16];

	fail_in = 1;
	CHECK_INT(put_body(s, "k", "old"), -ENOMEM, "the first put, its entry not allocated");
	fail_in = 2;
	CHECK_INT(put_body(s, "k", "old"), -ENOMEM, "the first put, its table not allocated");
	fail_in = 0;
	CHECK(st(s).entries == 0 && st(s).bytes == 0, "nothing kept");
	CHECK_INT(put_body(s, "k", "old"), 0, "then stored");
	fail_in = 1;
	CHECK_INT(put_body(s, "k", "new"), -ENOMEM, "a replacement not allocated");
	fail_in = 0;
	CHECK(s->ops->get(s, "k", 1, 0, &c) == 0 && c.body_len == 3 && !memcmp(c.body, "old", 3),
		"the old entry stays");
	for (int i = 0; i < 15; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		put_body(s, k, "v");
	}
	uint64_t bytes = st(s).bytes;

	fail_in = 2;
	CHECK_INT(put_body(s, "k16", "v"), 0, "the 17th stored though the table could not grow");
	fail_in = 0;
	CHECK(st(s).entries == 17 && st(s).bytes - bytes < 200, "17 entries in 16 buckets");
	bool all = has(s, "k") && has(s, "k16");

	for (int i = 0; i < 15; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		all &= has(s, k);
	}
	CHECK(all, "all found");
	CHECK_INT(put_body(s, "k17", "v"), 0, "the next put grows the table");
	CHECK(st(s).bytes - bytes > 256, "(its 32 buckets counted)");
	s->ops->destroy(s);
#else
	printf("# allocation failures not injected (under ASan or not glibc)\n");
#endif
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Fills e (and the buffers behind it) with a varied response: mostly small bodies. */
static size_t varied(struct fng_cached *e, struct fng_cache_hdr *h, char *body, char *key,
	size_t *klen, unsigned n)
{
	static const char *tags[] = { "t0", "t1", "t2", "t3" };
	size_t payload;
	uint64_t r = rnd();

	*klen = (size_t)snprintf(key, 256, "r%u%c/%0*u", n % 7, 0, (int)(r % 150) + 1, n) + 1;
	*e = (struct fng_cached){ .status = 200, .headers = h, .nheaders = (unsigned)(r >> 8) % 9,
		.body = body, .fresh_ms = FAR, .stale_ms = FAR, .error_ms = FAR, .tags = tags,
		.ntags = (unsigned)(r >> 12) % 5 };
	switch ((r >> 16) % 16) {
	case 0:
		e->body_len = (size_t)(r >> 24) % 65536;
		break;
	case 1:
	case 2:
	case 3:
		e->body_len = (size_t)(r >> 24) % 8192;
		break;
	default:
		e->body_len = (size_t)(r >> 24) % 512;
	}
	payload = *klen + e->body_len;
	for (unsigned i = 0; i < e->nheaders; i++) {
		size_t vlen = (size_t)(r >> (i + 30)) % 60;

		h[i] = (struct fng_cache_hdr){ "x-some-header", 13, body, vlen };
		payload += 13 + h[i].vlen;
	}
	for (unsigned i = 0; i < e->ntags; i++) {
		payload += 2;
	}
	return payload;
}

static void test_memory(void)
{
	const uint64_t cap = 4u << 20;
	static char body[65536], key[256];
	struct fng_cache_hdr h[8];
	struct fng_cached e;
	size_t klen;
	bool within = true;

	memset(body, 'b', sizeof(body));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33) && !defined(UNDER_ASAN)
	struct mallinfo2 m0 = mallinfo2();
#endif
	struct fng_cache_store *s = fng__cache_local_create(cap, 256 << 10);

	for (unsigned i = 0; i < 40000; i++) {
		varied(&e, h, body, key, &klen, i);
		if (s->ops->put(s, key, klen, &e) != 0) {
			within = false;
		}
		if (st(s).bytes > cap) {
			within = false;
		}
	}
	struct fng_cache_stats x = st(s);

	CHECK(within, "40000 varied puts: all stored, bytes <= capacity after each");
	CHECK(x.evictions > 0 && x.entries + x.evictions == 40000,
		"%llu entries, %llu evictions, %llu bytes", (unsigned long long)x.entries,
		(unsigned long long)x.evictions, (unsigned long long)x.bytes);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33) && !defined(UNDER_ASAN)
	struct mallinfo2 m1 = mallinfo2();
	size_t grew = (m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd);

	CHECK(grew <= cap + (64 << 10), "real heap growth %zu <= capacity %llu + 64 KiB", grew,
		(unsigned long long)cap);
	printf("# real growth / accounted bytes: %.4f (%zu / %llu); arena growth %zu\n",
		(double)grew / (double)x.bytes, grew, (unsigned long long)x.bytes,
		(m1.arena + m1.hblkhd) - (m0.arena + m0.hblkhd));
#else
	printf("# mallinfo2 not measured (not glibc >= 2.33, or under ASan)\n");
#endif
	s->ops->destroy(s);

	/* Bytes per entry beyond the payload, small entries like an API's JSON answers. */
	s = fng__cache_local_create(64u << 20, 1 << 16);
	uint64_t payload = 0;
	const unsigned n = 50000;

	for (unsigned i = 0; i < n; i++) {
		struct fng_cache_hdr hh[] = {
			{ "content-type", 12, "application/json", 16 },
			{ "etag", 4, "\"0123456789\"", 12 },
		};
		char k[64];
		int kl = snprintf(k, sizeof(k), "r1%cGET /items/%u", 0, i);

		e = (struct fng_cached){ .status = 200, .headers = hh, .nheaders = 2, .body = body,
			.body_len = 200, .fresh_ms = FAR };
		s->ops->put(s, k, (size_t)kl, &e);
		payload += (uint64_t)kl + 200 + 12 + 16 + 4 + 12;
	}
	x = st(s);
	CHECK_INT(x.entries, n, "50000 small entries");
	printf("# small entries: %.1f bytes each for a %.1f-byte payload: %.1f overhead "
	       "(table included)\n",
		(double)x.bytes / n, (double)payload / n, (double)(x.bytes - payload) / n);
	s->ops->destroy(s);
}

static void test_hostile_keys(void)
{
	struct fng_cache_store *s = fng__cache_local_create(64u << 20, 1 << 16);
	static char key[1024 + 8];
	struct fng_cached e = { .status = 200, .fresh_ms = FAR }, c;
	const unsigned n = 20000;
	bool ok = true;

	/* Long shared prefix; the keys differ only in bits a weak hash would drop. */
	memset(key, 'A', sizeof(key));
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = (uint64_t)i << 40;

		memcpy(key + 1024, &v, 8);
		e.status = (int)i;
		ok &= s->ops->put(s, key, sizeof(key), &e) == 0;
	}
	CHECK(ok && st(s).entries == n, "%u keys alike but for high bits stored", n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = (uint64_t)i << 40;

		memcpy(key + 1024, &v, 8);
		ok &= s->ops->get(s, key, sizeof(key), 0, &c) == 0 && c.status == (int)i;
	}
	CHECK(ok, "each found with its own entry");
	for (unsigned i = 0; i < n; i += 2) {
		uint64_t v = (uint64_t)i << 40;

		memcpy(key + 1024, &v, 8);
		ok &= s->ops->del(s, key, sizeof(key)) == 0;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = (uint64_t)i << 40;

		memcpy(key + 1024, &v, 8);
		ok &= (s->ops->get(s, key, sizeof(key), 0, &c) == 0) == (i % 2 == 1);
	}
	CHECK(ok && st(s).entries == n / 2, "every other one deleted, the rest found");
	s->ops->destroy(s);
}

#define NKEYS 2000

/* 100k random operations; with room for all, the store must match the model exactly; with
 * little room, it may have lost entries to eviction but never holds one the model does not,
 * nor an old version. */
static void stress(uint64_t capacity, bool exact)
{
	static unsigned version[NKEYS];
	static bool present[NKEYS];
	struct fng_cache_store *s = fng__cache_local_create(capacity, 1 << 16);
	static const char *tagset[] = { "even", "odd", "all" };
	char key[32], body[64];
	unsigned bad = 0, gets = 0, hits = 0;

	memset(version, 0, sizeof(version));
	memset(present, 0, sizeof(present));
	for (unsigned op = 0; op < 100000; op++) {
		uint64_t r = rnd();
		unsigned k = (unsigned)(r >> 8) % NKEYS, kind = (unsigned)(r % 1000);
		size_t klen = (size_t)snprintf(key, sizeof(key), "r%u%ck%u", k % 10, 0, k) + 1;
		struct fng_cached c;

		if (kind < 450) {
			const char *tags[] = { tagset[k % 2], tagset[2] };
			struct fng_cached e = { .status = 200, .body = body, .fresh_ms = FAR,
				.tags = tags, .ntags = 2 };

			version[k]++;
			e.body_len = (size_t)snprintf(body, sizeof(body), "%u:%u", k, version[k]);
			bad += s->ops->put(s, key, klen, &e) != 0;
			present[k] = true;
		} else if (kind < 900) {
			int rc = s->ops->get(s, key, klen, 0, &c);
			char want[64];
			int wl = snprintf(want, sizeof(want), "%u:%u", k, version[k]);

			gets++;
			if (rc == 0) {
				hits++;
				bad += !present[k] || c.body_len != (size_t)wl ||
					memcmp(c.body, want, (size_t)wl);
			} else {
				bad += exact && present[k];
				present[k] = false; /* evicted */
			}
		} else if (kind < 990) {
			int rc = s->ops->del(s, key, klen);

			bad += rc == 0 ? !present[k] : exact && present[k];
			present[k] = false;
		} else if (kind < 995) {
			char p[8];
			int pl = snprintf(p, sizeof(p), "r%u", k % 10) + 1;
			uint64_t want = 0, got = s->ops->purge_prefix(s, p, (size_t)pl);

			for (unsigned i = k % 10; i < NKEYS; i += 10) {
				want += present[i];
				present[i] = false;
			}
			bad += exact ? got != want : got > want;
		} else if (kind < 999) {
			const char *t = tagset[k % 2];
			uint64_t want = 0, got = s->ops->purge_tag(s, t, strlen(t));

			for (unsigned i = k % 2; i < NKEYS; i += 2) {
				want += present[i];
				present[i] = false;
			}
			bad += exact ? got != want : got > want;
		} else {
			uint64_t want = 0, got = s->ops->purge_tag(s, "all", 3);

			for (unsigned i = 0; i < NKEYS; i++) {
				want += present[i];
				present[i] = false;
			}
			bad += exact ? got != want : got > want;
		}
		bad += st(s).bytes > capacity;
	}
	uint64_t want = 0;

	for (unsigned i = 0; i < NKEYS; i++) {
		want += present[i];
	}
	CHECK_INT(bad, 0, "100k random ops, capacity %llu: consistent with the model (%u/%u hits)",
		(unsigned long long)capacity, hits, gets);
	if (exact) {
		CHECK_INT(st(s).entries, want, "entries as the model counts");
		CHECK_INT(st(s).evictions, 0, "no evictions");
	} else {
		CHECK(st(s).entries <= want && st(s).evictions > 0,
			"%llu entries <= %llu, %llu evictions", (unsigned long long)st(s).entries,
			(unsigned long long)want, (unsigned long long)st(s).evictions);
	}
	s->ops->destroy(s);
}

int main(int argc, char **argv)
{
	(void)argc;
#if defined(__GLIBC__) && !defined(UNDER_ASAN)
	/*
	 * glibc's per-thread cache keeps up to 7 freed blocks of each small size, and mallinfo2
	 * counts them as in use: after evictions, up to ~150 KiB the store freed would look held.
	 * Measure without it (the test runs again in a fresh image).
	 */
	if (!getenv("FNG_TEST_CACHE_NO_TCACHE")) {
		setenv("FNG_TEST_CACHE_NO_TCACHE", "1", 1);
		setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
		execv("/proc/self/exe", argv);
		printf("# re-exec without the thread cache failed; measuring with it\n");
	}
#endif
	test_round_trip();
	test_expiry();
	test_lru();
	test_refusals();
	test_del_purge();
	test_enomem();
	test_memory();
	test_hostile_keys();
	stress(64u << 20, true);
	stress(40u << 10, false);
	return fng_test_done();
}
