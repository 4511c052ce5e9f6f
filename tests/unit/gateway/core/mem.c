// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/mem.c: the per-request arena (alignment, oversized blocks, defer hooks
 * run last-registered-first) and the growable byte buffer every connection writes through
 * (printf growth, JSON escaping, consume).
 */
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "mem.h"

static void test_arena_alignment(void)
{
	struct fng_arena *a = fng__arena_create();
	size_t sizes[] = { 1, 3, 7, 15, 16, 17, 31, 100, 1000, 1024, 1025, 5000 };
	int misaligned = 0;

	CHECK(a != NULL, "arena_create");
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char *p = fng__arena_alloc(a, sizes[i]);

			if (!p || ((uintptr_t)p & 15) != 0) {
				misaligned++;
				continue;
			}
			memset(p, 0xab, sizes[i]); /* ASan catches a short block */
		}
	}
	CHECK_INT(misaligned, 0, "every allocation is non-NULL and 16-byte aligned");

	char *z0 = fng__arena_alloc(a, 0), *z1 = fng__arena_alloc(a, 0);

	CHECK(z0 && z1 && z0 != z1, "alloc(0) gives distinct non-NULL pointers");
	CHECK_INT((uintptr_t)z0 & 15, 0, "alloc(0) aligned");
	fng__arena_destroy(a);
}

static void test_arena_contents(void)
{
	struct fng_arena *a = fng__arena_create();
	char *p[64];
	int bad = 0;

	/* Many small allocations across several 4 KiB blocks keep their contents apart. */
	for (int i = 0; i < 64; i++) {
		p[i] = fng__arena_alloc(a, 200);
		memset(p[i], i, 200);
	}
	for (int i = 0; i < 64; i++) {
		for (int j = 0; j < 200; j++) {
			if (p[i][j] != (char)i) {
				bad++;
			}
		}
	}
	CHECK_INT(bad, 0, "small allocations across blocks do not overlap");

	/* A large allocation gets its own block and is usable end to end. */
	size_t big = 1 << 20;
	unsigned char *q = fng__arena_alloc(a, big);

	CHECK(q != NULL, "1 MiB allocation");
	CHECK_INT((uintptr_t)q & 15, 0, "large allocation aligned");
	memset(q, 0x5a, big);
	CHECK_INT(q[0] + q[big - 1], 0x5a * 2, "large allocation writable at both ends");
	CHECK_INT(p[63][199], 63, "earlier small allocation intact after a large one");

	char *after = fng__arena_alloc(a, 32);

	CHECK(after != NULL && (after < (char *)q || after >= (char *)q + big),
		"small allocation after a large one is outside it");

	unsigned char *zz = fng__arena_zalloc(a, 3000);
	int nonzero = 0;

	for (int i = 0; i < 3000; i++) {
		nonzero += zz[i] != 0;
	}
	CHECK_INT(nonzero, 0, "zalloc zeroes (large)");

	/* Reuse of a cached block must still be zeroed by zalloc. */
	fng__arena_destroy(a);
	a = fng__arena_create();
	for (int i = 0; i < 30; i++) {
		memset(fng__arena_alloc(a, 512), 0xff, 512);
	}
	fng__arena_destroy(a);
	a = fng__arena_create();
	nonzero = 0;
	for (int i = 0; i < 30; i++) {
		unsigned char *s = fng__arena_zalloc(a, 512);

		for (int j = 0; j < 512; j++) {
			nonzero += s[j] != 0;
		}
	}
	CHECK_INT(nonzero, 0, "zalloc zeroes recycled blocks");

	char *s = fng__arena_strndup(a, "hello world", 5);

	CHECK_STR(s, "hello", "strndup copies n bytes and terminates");
	s = fng__arena_strndup(a, "", 0);
	CHECK_STR(s, "", "strndup of nothing");
	fng__arena_destroy(a);
	fng__arena_destroy(NULL); /* no-op */
	CHECK(1, "arena_destroy(NULL) is a no-op");
}

static char order[16];
static int norder;

static void hook(void *arg)
{
	order[norder++] = *(const char *)arg;
}

static void test_arena_defer(void)
{
	struct fng_arena *a = fng__arena_create();
	static const char tags[] = "abcde";

	norder = 0;
	for (int i = 0; i < 5; i++) {
		CHECK_INT(fng__arena_defer(a, hook, (void *)&tags[i]), 0, "defer %c", tags[i]);
		/* allocations between hooks must not disturb them */
		fng__arena_alloc(a, 700);
	}
	CHECK_INT(norder, 0, "hooks do not run before destroy");
	fng__arena_destroy(a);
	order[norder] = '\0';
	CHECK_STR(order, "edcba", "defer hooks run once each, last registered first");
}

static void test_buf_basic(void)
{
	struct fng_buf b = { 0 };

	CHECK_INT(fng__buf_append(&b, "", 0), 0, "append nothing");
	CHECK(b.cap == 0 && b.p == NULL, "appending nothing allocates nothing");
	CHECK_INT(fng__buf_str(&b, "abc"), 0, "append abc");
	CHECK_INT(b.len, 3, "len after append");
	CHECK(b.cap >= 3, "cap grows");
	CHECK_INT(fng__buf_u64(&b, 0), 0, "u64 0");
	CHECK_INT(fng__buf_u64(&b, UINT64_MAX), 0, "u64 max");
	CHECK_INT(fng__buf_append(&b, "", 1), 0, "append NUL");
	CHECK_STR(b.p, "abc018446744073709551615", "u64 formatting");
	fng__buf_finish(&b);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0, "finish resets");
}

static void test_buf_printf(void)
{
	struct fng_buf b = { 0 };
	char big[3000];

	CHECK_INT(fng__buf_printf(&b, "%d-%s", 42, "x"), 0, "printf into empty buffer");
	CHECK_INT(b.len, 4, "printf len");
	CHECK(memcmp(b.p, "42-x", 4) == 0, "printf contents");

	/* Longer than the buffer: must grow and redo the format, not truncate. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(fng__buf_printf(&b, "[%s]", big), 0, "printf that needs growth");
	CHECK_INT(b.len, 4 + 2 + 2999, "printf grown len");
	CHECK(b.p[4] == '[' && b.p[5] == 'q' && b.p[4 + 2999] == 'q' && b.p[4 + 3000] == ']',
		"printf grown contents intact");
	CHECK(memcmp(b.p, "42-x", 4) == 0, "earlier contents survive growth");

	/* Exactly filling the remaining room (vsnprintf needs one more for its NUL). */
	fng__buf_finish(&b);
	CHECK_INT(fng__buf_reserve(&b, 10), 0, "reserve");
	size_t room = b.cap;
	char fill[1024];

	CHECK(room < sizeof(fill), "initial capacity is small");
	memset(fill, 'f', room);
	fill[room] = '\0';
	CHECK_INT(fng__buf_printf(&b, "%s", fill), 0, "printf exactly cap bytes");
	CHECK_INT(b.len, room, "len == cap bytes");
	CHECK(b.p[room - 1] == 'f', "last byte written");
	CHECK_INT(fng__buf_printf(&b, "%s", ""), 0, "empty printf");
	CHECK_INT(b.len, room, "empty printf adds nothing");
	fng__buf_finish(&b);
}

static void check_escape(const char *in, size_t n, const char *want, const char *what)
{
	struct fng_buf b = { 0 };

	fng__buf_str(&b, "<");
	CHECK_INT(fng__buf_json_escape(&b, in, n), 0, "json escape %s", what);
	fng__buf_append(&b, ">", 2);
	CHECK_STR(b.p, want, "json escape %s", what);
	fng__buf_finish(&b);
}

static void test_json_escape(void)
{
	check_escape("plain", 5, "<plain>", "plain text");
	check_escape("", 0, "<>", "empty");
	check_escape("a\"b", 3, "<a\\\"b>", "quote");
	check_escape("a\\b", 3, "<a\\\\b>", "backslash");
	check_escape("\n\r\t", 3, "<\\n\\r\\t>", "newline, CR, tab");
	check_escape("\x01x\x1f", 3, "<\\u0001x\\u001f>", "control chars");
	check_escape("a\0b", 3, "<a\\u0000b>", "NUL");
	check_escape("caf\xc3\xa9", 5, "<caf\xc3\xa9>", "UTF-8 passes through");
	check_escape("\"\"", 2, "<\\\"\\\">", "adjacent escapes");
}

static void test_buf_consume(void)
{
	struct fng_buf b = { 0 };

	fng__buf_str(&b, "0123456789");
	fng__buf_consume(&b, 0);
	CHECK_INT(b.len, 10, "consume 0");
	fng__buf_consume(&b, 3);
	CHECK_INT(b.len, 7, "consume 3: len");
	CHECK(memcmp(b.p, "3456789", 7) == 0, "consume 3: remaining bytes moved to the front");
	fng__buf_consume(&b, 7);
	CHECK_INT(b.len, 0, "consume all");
	fng__buf_str(&b, "ab");
	fng__buf_consume(&b, 100);
	CHECK_INT(b.len, 0, "consume more than len empties");
	CHECK(b.cap > 0, "consume keeps the storage");
	fng__buf_finish(&b);
}

static void test_str(void)
{
	struct fng_str s = FNG_STR("Content-Type");

	CHECK_INT(s.len, 12, "FNG_STR length");
	CHECK(fng__str_eq(s, "Content-Type", 12), "str_eq");
	CHECK(!fng__str_eq(s, "content-type", 12), "str_eq is case-sensitive");
	CHECK(fng__str_ieq(s, "content-TYPE", 12), "str_ieq");
	CHECK(!fng__str_ieq(s, "content-typ", 11), "str_ieq checks length");
}

int main(void)
{
	test_arena_alignment();
	test_arena_contents();
	test_arena_defer();
	test_buf_basic();
	test_buf_printf();
	test_json_escape();
	test_buf_consume();
	test_str();
	fng__arena_cache_drain();
	return fng_test_done();
}
