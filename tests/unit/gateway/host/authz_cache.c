// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/host/authz_cache.c, the function authorizers' result cache, on a
 * fake clock: a hit gives back what was kept (allow and deny alike) until it expires; keys
 * are exact bytes, and two partitions (authorizers) never share an entry; the bounds in
 * entries and bytes evict the least recently used; one identity cannot take more than an
 * eighth of its partition; replacing an entry; clearing (a reload). Under ASan, every drop
 * path frees what it held. The wire form shared through Redis: a round trip (allow with a
 * context and a usage key, deny without), and Redis' bytes refused when they are not exactly
 * one answer (every truncation, a trailing byte, lengths past the end, a NUL in a principal,
 * too many context entries) or decoded within bounds whatever single bit is flipped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "authz_cache.h"
#include "harness.h"
#include "mem.h"

static const struct fng_authz_cache_limits lim = { 4, 1 << 20 };

static struct fng_req_authz answer(const char *principal, struct fng_wire_kv *kv, size_t n)
{
	return (struct fng_req_authz){ .set = true, .principal = principal, .ctx = kv,
		.nctx = n, .capctx = n };
}

static int put(struct fng_authz_cache *c, const char *part, const char *key, size_t klen,
	uint64_t expires, bool allow, const char *principal)
{
	struct fng_wire_kv kv[] = { { { "user", 4 }, { principal, strlen(principal) } } };
	struct fng_req_authz a = answer(principal, kv, 1);
	struct fng_authz_answer ans = { allow, &a };

	return fng__authz_cache_put(c, part, strlen(part), &lim, key, klen, expires, &ans);
}

/* The principal kept for key at now, "deny:P" for a deny, or "miss". */
static const char *get(struct fng_authz_cache *c, const char *part, const char *key, size_t klen,
	uint64_t now)
{
	static char out[128];
	struct fng_authz_answer ans;

	if (!fng__authz_cache_get(c, part, strlen(part), key, klen, now, &ans)) {
		return "miss";
	}
	snprintf(out, sizeof(out), "%s%s", ans.allow ? "" : "deny:", ans.authz->principal);
	return out;
}

static void test_hits_and_expiry(void)
{
	struct fng_authz_cache *c = fng__authz_cache_create();
	struct fng_authz_answer ans;

	CHECK_STR(get(c, "api\0a", "k", 1, 0), "miss", "empty: a miss");
	CHECK_INT(put(c, "p", "k1", 2, 1000, true, "ada"), 0, "kept");
	CHECK_INT(put(c, "p", "k2", 2, 1000, false, "bob"), 0, "a deny is kept too");
	CHECK_STR(get(c, "p", "k1", 2, 10), "ada", "a hit");
	CHECK_STR(get(c, "p", "k2", 2, 10), "deny:bob", "a cached deny");
	CHECK(fng__authz_cache_get(c, "p", 1, "k1", 2, 10, &ans) && ans.authz->nctx == 1 &&
			strcmp(ans.authz->ctx[0].v.p, "ada") == 0 && ans.authz->ctx[0].v.len == 3,
		"the context is kept");
	CHECK_STR(get(c, "p", "k1", 2, 999), "ada", "a hit just before the expiry");
	CHECK_STR(get(c, "p", "k1", 2, 1000), "miss", "expired at its expiry");
	CHECK_STR(get(c, "p", "k1", 2, 10), "miss", "an expired entry is dropped, not kept");
	CHECK_INT(put(c, "p", "k2", 2, 2000, true, "bob2"), 0, "replaced");
	CHECK_STR(get(c, "p", "k2", 2, 1500), "bob2", "the new answer, with its own expiry");
	{
		size_t n, bytes;

		fng__authz_cache_usage(c, "p", 1, &n, &bytes);
		CHECK(n == 1 && bytes > 0, "one entry left (%zu, %zu bytes)", n, bytes);
	}
	fng__authz_cache_destroy(c);
	fng__authz_cache_destroy(NULL);
}

static void test_keys(void)
{
	struct fng_authz_cache *c = fng__authz_cache_create();

	/* The caller's keys are length-prefixed values: ("a","bc") and ("ab","c") differ. */
	CHECK_INT(put(c, "p", "\0\0\0\1a\0\0\0\2bc", 11, 100, true, "one"), 0, "a|bc kept");
	CHECK_STR(get(c, "p", "\0\0\0\2ab\0\0\0\1c", 11, 0), "miss", "ab|c is another identity");
	CHECK_STR(get(c, "p", "\0\0\0\1a\0\0\0\2bc", 11, 0), "one", "a|bc hits");
	CHECK_STR(get(c, "p", "\0\0\0\1a\0\0\0\2b", 10, 0), "miss", "a prefix is another key");
	CHECK_STR(get(c, "q", "\0\0\0\1a\0\0\0\2bc", 11, 0), "miss",
		"another authorizer never shares the entry");
	CHECK_INT(put(c, "q", "\0\0\0\1a\0\0\0\2bc", 11, 100, false, "two"), 0, "same key, q");
	CHECK_STR(get(c, "p", "\0\0\0\1a\0\0\0\2bc", 11, 0), "one", "p's answer unchanged");
	CHECK_STR(get(c, "q", "\0\0\0\1a\0\0\0\2bc", 11, 0), "deny:two", "q's own");
	CHECK_INT(put(c, "p", "", 0, 100, true, "nothing"), 0, "an empty key is a key");
	CHECK_STR(get(c, "p", "", 0, 0), "nothing", "the empty key hits");
	fng__authz_cache_clear(c);
	CHECK_STR(get(c, "p", "\0\0\0\1a\0\0\0\2bc", 11, 0), "miss", "cleared (a reload)");
	CHECK_INT(put(c, "p", "x", 1, 100, true, "again"), 0, "usable after clearing");
	CHECK_STR(get(c, "p", "x", 1, 0), "again", "and hits");
	fng__authz_cache_destroy(c);
}

static void test_bounds(void)
{
	struct fng_authz_cache *c = fng__authz_cache_create();
	char key[16];
	size_t n, bytes;

	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put(c, "p", key, 2, 100, true, key);
	}
	put(c, "other", "k0", 2, 100, true, "o");
	CHECK_STR(get(c, "p", "k0", 2, 0), "k0", "k0 used: now the most recent");
	CHECK_INT(put(c, "p", "k4", 2, 100, true, "k4"), 0, "a fifth entry (the bound is 4)");
	fng__authz_cache_usage(c, "p", 1, &n, &bytes);
	CHECK_INT(n, 4, "still 4 entries");
	CHECK_STR(get(c, "p", "k1", 2, 0), "miss", "the least recently used (k1) went");
	CHECK_STR(get(c, "p", "k0", 2, 0), "k0", "k0 stayed");
	CHECK_STR(get(c, "p", "k4", 2, 0), "k4", "k4 is in");
	CHECK_STR(get(c, "other", "k0", 2, 0), "o", "another partition's bound is its own");

	/* Bytes: a partition of 8 KiB takes answers of at most 1 KiB, and 8 KiB in all. */
	{
		struct fng_authz_cache_limits small = { 1000, 8192 };
		static char big[700], huge[2000];
		struct fng_wire_kv kv = { { "v", 1 }, { big, sizeof(big) } };
		struct fng_req_authz a = answer("p", &kv, 1);
		struct fng_authz_answer ans = { true, &a };
		int kept = 0;

		memset(big, 'b', sizeof(big));
		for (int i = 0; i < 40; i++) {
			snprintf(key, sizeof(key), "b%d", i);
			kept += fng__authz_cache_put(c, "bytes", 5, &small, key, strlen(key), 100,
				&ans) == 0;
		}
		fng__authz_cache_usage(c, "bytes", 5, &n, &bytes);
		CHECK(kept == 40 && bytes <= 8192 && n >= 5 && n < 40,
			"bytes bounded: %zu entries, %zu bytes", n, bytes);
		CHECK_STR(get(c, "bytes", "b39", 3, 0), "p", "the newest is in");
		CHECK_STR(get(c, "bytes", "b0", 2, 0), "miss", "the oldest went");
		kv.v = (struct fng_wire_str){ huge, sizeof(huge) };
		memset(huge, 'h', sizeof(huge));
		CHECK_INT(fng__authz_cache_put(c, "bytes", 5, &small, "h", 1, 100, &ans), 1,
			"an answer over an eighth of the partition is not kept");
		CHECK_STR(get(c, "bytes", "h", 1, 0), "miss", "and not found");
		CHECK_STR(get(c, "bytes", "b39", 3, 0), "p", "nothing was evicted for it");
	}
	fng__authz_cache_destroy(c);
}

static void test_wire(void)
{
	struct fng_wire_kv kv[] = { { { "user", 4 }, { "ada", 3 } }, { { "n", 1 }, { "", 0 } } };
	struct fng_req_authz a = answer("ada", kv, 2), out;
	struct fng_authz_answer ans = { true, &a };
	struct fng_arena *ar = fng__arena_create();
	struct fng_buf b = { 0 }, m = { 0 };
	unsigned refused = 0;
	bool allow = false;

	a.usage_key = "key-ada";
	CHECK_INT(fng__authz_wire_encode(&ans, &b), 0, "encode");
	CHECK_INT(fng__authz_wire_decode(ar, b.p, b.len, &allow, &out), 0, "decode");
	CHECK(allow && out.set && !strcmp(out.principal, "ada") &&
		!strcmp(out.usage_key, "key-ada"), "allow, principal, usage key");
	CHECK(out.nctx == 2 && out.ctx[0].k.len == 4 && !memcmp(out.ctx[0].k.p, "user", 4) &&
		out.ctx[0].v.len == 3 && !memcmp(out.ctx[0].v.p, "ada", 3) &&
		out.ctx[1].v.len == 0, "context");
	for (size_t n = 0; n < b.len; n++) {
		refused += fng__authz_wire_decode(ar, b.p, n, &allow, &out) == -EINVAL;
	}
	CHECK(refused == b.len, "every truncation refused (%u of %zu)", refused, b.len);
	fng__buf_append(&m, b.p, b.len);
	fng__buf_append(&m, "", 1);
	CHECK_INT(fng__authz_wire_decode(ar, m.p, m.len, &allow, &out), -EINVAL, "trailing");
	fng__buf_finish(&m);
	fng__buf_append(&m, b.p, b.len);
	m.p[8] = (char)0xff; /* the principal's length */
	CHECK_INT(fng__authz_wire_decode(ar, m.p, m.len, &allow, &out), -EINVAL, "past the end");
	m.p[8] = 3;
	m.p[13] = '\0'; /* inside "ada" */
	CHECK_INT(fng__authz_wire_decode(ar, m.p, m.len, &allow, &out), -EINVAL, "NUL inside");
	fng__buf_finish(&m);
	fng__buf_append(&m, b.p, b.len);
	m.p[6] = (char)0xff;
	m.p[7] = (char)0xff;
	CHECK_INT(fng__authz_wire_decode(ar, m.p, m.len, &allow, &out), -EINVAL, "65535 entries");
	fng__buf_finish(&m);
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			fng__buf_append(&m, b.p, b.len);
			m.p[i] ^= (char)(1 << bit);
			if (fng__authz_wire_decode(ar, m.p, m.len, &allow, &out) == 0) {
				CHECK(out.nctx <= 2 && strlen(out.principal) <= 3,
					"flip %zu.%d within bounds", i, bit);
			}
			fng__buf_finish(&m);
		}
	}
	fng__buf_finish(&b);

	ans = (struct fng_authz_answer){ false, NULL };
	CHECK_INT(fng__authz_wire_encode(&ans, &b), 0, "a deny without an answer");
	CHECK_INT(fng__authz_wire_decode(ar, b.p, b.len, &allow, &out), 0, "decodes");
	CHECK(!allow && !out.set && !strcmp(out.principal, "") && !out.usage_key && !out.nctx,
		"deny");
	fng__buf_finish(&b);
	fng__arena_destroy(ar);
}

int main(void)
{
	test_hits_and_expiry();
	test_keys();
	test_bounds();
	test_wire();
	return fng_test_done();
}
