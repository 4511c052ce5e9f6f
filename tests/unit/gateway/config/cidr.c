// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/config/cidr.c: addresses and blocks as the parser takes and refuses
 * them (prefixes 0, 32, 128, IPv4-mapped spellings, zone ids, host bits, leading zeros,
 * junk), sets merged from overlapping and adjacent blocks, lookups at range edges, and a set
 * of thousands of random blocks checked against a linear scan.
 */
#include <stdlib.h>

#include "cidr.h"
#include "harness.h"

static bool ip(const char *s, struct fng_ip *out)
{
	return fng__ip_parse(s, strlen(s), out);
}

static bool block(const char *s, struct fng_ip_range *r)
{
	const char *why = NULL;
	bool ok = fng__cidr_parse(s, strlen(s), r, &why);

	if (!ok && !why) {
		printf("# %s refused without a reason\n", s);
		return true; /* makes the caller's check fail */
	}
	return ok;
}

/* A set of the given blocks (all must parse). */
static const struct fng_cidr_set *set_of(struct fng_arena *a, const char *const *blocks)
{
	struct fng_ip_range r[32];
	unsigned n = 0;

	for (; blocks[n]; n++) {
		CHECK(block(blocks[n], &r[n]), "block %s parses", blocks[n]);
	}
	return fng__cidr_set_build(a, r, n);
}

static bool has(const struct fng_cidr_set *s, const char *addr)
{
	struct fng_ip x;

	if (!ip(addr, &x)) {
		printf("# bad test address %s\n", addr);
		return false;
	}
	return fng__cidr_set_has(s, &x);
}

static void test_addresses(void)
{
	static const char *const good[] = {
		"0.0.0.0", "255.255.255.255", "192.0.2.1", "::", "::1", "2001:db8::1",
		"::ffff:192.0.2.1", "FE80::1", "2001:0db8:0000:0000:0000:0000:0000:0001",
	};
	static const char *const bad[] = {
		"", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4",
		"1.2.3.4/32", "[::1]", "fe80::1%eth0", "fe80::1%1", "::1:", "1:2:3:4:5:6:7:8:9",
		"1.2.3.4:80", "localhost", "0x7f.0.0.1", "::ffff:999.1.1.1",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc",
	};
	struct fng_ip a, b;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(ip(good[i], &a), "address %s parses", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(!ip(bad[i], &a), "address \"%s\" is refused", bad[i]);
	}
	CHECK(!fng__ip_parse("1.2.3.4\0", 8, &a), "an embedded NUL is refused");
	CHECK(ip("192.0.2.1", &a) && ip("::ffff:192.0.2.1", &b) && a.hi == b.hi && a.lo == b.lo,
		"IPv4 and its IPv4-mapped spelling are one address");
	CHECK(ip("::192.0.2.1", &b) && (a.hi != b.hi || a.lo != b.lo),
		"the deprecated IPv4-compatible form is not IPv4");
}

static void test_blocks(void)
{
	static const char *const bad[] = {
		"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1",
		"10.0.0.0/8/8", "10.0.0.0/8 ", "::1/129", "2001:db8::1/32", "::/0x", "/8",
		"fe80::%eth0/64", "0.0.0.1/0", "::ffff:10.0.0.1/96", "10.0.0.0/1000",
	};
	struct fng_ip_range r;
	struct fng_ip x;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		CHECK(!fng__cidr_parse(bad[i], strlen(bad[i]), &r, &why) && why,
			"block \"%s\" is refused with a reason (%s)", bad[i], why ? why : "-");
	}
	why = NULL;
	fng__cidr_parse("10.0.0.1/8", 10, &r, &why);
	CHECK(why && strstr(why, "bits set"), "host bits set: the reason says so");
	CHECK(block("10.0.0.0/8", &r), "10.0.0.0/8");
	CHECK(block("0.0.0.0/0", &r) && r.first.lo == 0x0000ffff00000000ull &&
		r.last.lo == 0x0000ffffffffffffull && r.first.hi == 0 && r.last.hi == 0,
		"0.0.0.0/0 is every IPv4 address (::ffff:0:0/96)");
	CHECK(block("::/0", &r) && r.first.hi == 0 && r.first.lo == 0 && r.last.hi == ~0ull &&
		r.last.lo == ~0ull, "::/0 is every address");
	CHECK(block("192.0.2.7/32", &r) && ip("192.0.2.7", &x) && r.first.lo == x.lo &&
		r.last.lo == x.lo, "/32 is one address");
	CHECK(block("192.0.2.7", &r) && r.first.lo == r.last.lo, "a bare IPv4 address is /32");
	CHECK(block("2001:db8::7/128", &r) && r.first.hi == r.last.hi && r.first.lo == r.last.lo,
		"/128 is one address");
	CHECK(block("::ffff:10.0.0.0/104", &r) && ip("10.255.255.255", &x) && r.last.lo == x.lo,
		"::ffff:10.0.0.0/104 is 10.0.0.0/8");
	CHECK(block("2001:db8::/32", &r) && r.first.hi == 0x20010db800000000ull &&
		r.last.hi == 0x20010db8ffffffffull && r.last.lo == ~0ull, "2001:db8::/32");
	CHECK(block("8000::/1", &r) && r.first.hi == 0x8000000000000000ull, "8000::/1");
	CHECK(block("::/64", &r) && r.last.hi == 0 && r.last.lo == ~0ull, "::/64");
	CHECK(block("::1:0:0:0/80", &r), "/80 within the low half");
}

static void test_sets(void)
{
	struct fng_arena *a = fng__arena_create();
	static const char *const v4[] = { "10.0.0.0/8", "192.168.1.0/24", "192.168.1.128/25",
		"192.168.2.0/24", "203.0.113.9", NULL };
	static const char *const v6[] = { "2001:db8::/32", "::1", "::ffff:198.51.100.0/120",
		NULL };
	static const char *const all[] = { "::/0", NULL };
	static const char *const all4[] = { "0.0.0.0/0", NULL };
	static const char *const top[] = { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL };
	static const char *const none[] = { NULL };
	const struct fng_cidr_set *s = set_of(a, v4);

	CHECK_INT(s->n, 3, "overlapping and adjacent blocks merge (192.168.1.0-192.168.2.255)");
	CHECK(has(s, "10.0.0.0") && has(s, "10.255.255.255") && !has(s, "11.0.0.0") &&
		!has(s, "9.255.255.255"), "10/8 edges");
	CHECK(has(s, "192.168.1.255") && has(s, "192.168.2.0") && !has(s, "192.168.3.0") &&
		!has(s, "192.168.0.255"), "merged 192.168.1.0-192.168.2.255");
	CHECK(has(s, "203.0.113.9") && !has(s, "203.0.113.8") && !has(s, "203.0.113.10"),
		"a single address");
	CHECK(has(s, "::ffff:10.1.2.3"), "a mapped peer is its IPv4 address");
	CHECK(!has(s, "::a01:203") && !has(s, "2001:db8::1"),
		"IPv6 addresses are not in v4 blocks");

	s = set_of(a, v6);
	CHECK(has(s, "2001:db8:ffff::1") && !has(s, "2001:db9::") && has(s, "::1") &&
		!has(s, "::2") && !has(s, "::"), "IPv6 blocks");
	CHECK(has(s, "198.51.100.77") && !has(s, "198.51.101.0"),
		"a mapped rule holds the IPv4 peer");
	s = set_of(a, all);
	CHECK(has(s, "::") && has(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") &&
		has(s, "1.2.3.4"), "::/0 holds everything");
	s = set_of(a, all4);
	CHECK(has(s, "0.0.0.0") && has(s, "255.255.255.255") && !has(s, "::1") &&
		!has(s, "2001:db8::1"), "0.0.0.0/0 holds IPv4 only");
	s = set_of(a, top);
	CHECK_INT(s->n, 1, "blocks at the end of the space merge without overflow");
	CHECK(has(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "the last address");
	s = set_of(a, none);
	CHECK(s && s->n == 0 && !has(s, "1.2.3.4"), "the empty set holds nothing");
	CHECK(!fng__cidr_set_has(NULL, &(struct fng_ip){ 0, 0 }), "a NULL set holds nothing");
	fng__arena_destroy(a);
}

/* Thousands of random blocks: the binary search agrees with a scan of the blocks. */
static void test_many(void)
{
	enum { N = 5000, Q = 20000 };
	struct fng_arena *a = fng__arena_create();
	struct fng_ip_range *r = malloc(N * sizeof(*r)), *copy = malloc(N * sizeof(*r));
	const struct fng_cidr_set *s;
	unsigned bad = 0;

	srand(12);
	for (unsigned i = 0; i < N; i++) {
		char txt[64];
		unsigned bits = 16 + (unsigned)rand() % 17;
		uint32_t v = ((uint32_t)rand() << 16 ^ (uint32_t)rand()) & ~0u << (32 - bits);

		snprintf(txt, sizeof(txt), "%u.%u.%u.%u/%u", v >> 24, v >> 16 & 255, v >> 8 & 255,
			v & 255, bits);
		if (!block(txt, &r[i])) {
			bad++;
		}
	}
	CHECK_INT(bad, 0, "%d random blocks parse", N);
	memcpy(copy, r, N * sizeof(*r));
	s = fng__cidr_set_build(a, r, N);
	for (unsigned q = 0; q < Q; q++) {
		struct fng_ip x = { 0, 0x0000ffff00000000ull |
			(((uint64_t)rand() << 16 ^ (uint64_t)rand()) & 0xffffffffu) };
		bool want = false;

		if (q % 2) {
			x = copy[q % N].last; /* an edge */
		}
		for (unsigned i = 0; i < N && !want; i++) {
			want = x.lo >= copy[i].first.lo && x.lo <= copy[i].last.lo;
		}
		if (fng__cidr_set_has(s, &x) != want) {
			bad++;
		}
	}
	CHECK_INT(bad, 0, "%d lookups agree with a linear scan (%u ranges)", Q, s->n);
	free(r);
	free(copy);
	fng__arena_destroy(a);
}

static void test_format(void)
{
	struct fng_ip x;
	char buf[64];

	ip("::ffff:192.0.2.1", &x);
	fng__ip_format(&x, buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.1", "a mapped address prints as IPv4");
	ip("2001:0db8:0:0::1", &x);
	fng__ip_format(&x, buf, sizeof(buf));
	CHECK_STR(buf, "2001:db8::1", "IPv6 prints canonical");
}

int main(void)
{
	test_addresses();
	test_blocks();
	test_sets();
	test_many();
	test_format();
	return fng_test_done();
}
