// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/query.c, the one query-string rule: '+' is a space and %XX a byte in
 * names and values alike ("%2B" a '+'), a pair without '=' has the value "", pairs with an
 * empty name or a malformed escape are left out (the pairs after them kept), repeated names
 * stay repeated. Also fng__req_query() (request.c), which must answer the first value the
 * event's queryStringParameters would hold for a name.
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "query.h"
#include "request.h"

/* Every pair of q as "name=value;" with '|' for a NUL byte, or "ENOMEM". */
static const char *pairs(struct fng_arena *a, const char *q)
{
	static char out[512];
	const char *p = q, *end = q + strlen(q);
	struct fng_str k, v;
	size_t o = 0;
	int r;

	while ((r = fng__query_next(a, &p, end, &k, &v)) > 0) {
		CHECK(k.p[k.len] == '\0' && v.p[v.len] == '\0', "%s: NUL-terminated", q);
		for (size_t i = 0; i < k.len; i++) {
			out[o++] = k.p[i] ? k.p[i] : '|';
		}
		out[o++] = '=';
		for (size_t i = 0; i < v.len; i++) {
			out[o++] = v.p[i] ? v.p[i] : '|';
		}
		out[o++] = ';';
	}
	out[o] = '\0';
	CHECK(p == end, "%s: consumed to the end", q);
	return r < 0 ? "ENOMEM" : out;
}

static void test_decode(void)
{
	static const struct {
		const char *in;
		long len;
		const char *out;
	} cases[] = {
		{ "", 0, "" },
		{ "abc", 3, "abc" },
		{ "a+b", 3, "a b" },
		{ "+++", 3, "   " },
		{ "%2B", 1, "+" },
		{ "%2b", 1, "+" },
		{ "a%2Bb+c", 5, "a+b c" },
		{ "%20", 1, " " },
		{ "%41%62c", 3, "Abc" },
		{ "%e2%82%ac", 3, "\xe2\x82\xac" },
		{ "%", -1, NULL },
		{ "a%", -1, NULL },
		{ "%4", -1, NULL },
		{ "%4G", -1, NULL },
		{ "%G4", -1, NULL },
		{ "%+1", -1, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		long n = fng__query_decode(buf, cases[i].in, strlen(cases[i].in));

		CHECK_INT(n, cases[i].len, "decode \"%s\": length", cases[i].in);
		if (n >= 0 && cases[i].out) {
			CHECK(memcmp(buf, cases[i].out, (size_t)n) == 0, "decode \"%s\": bytes",
				cases[i].in);
		}
	}
	/* In place, as the parser uses it. */
	{
		char s[] = "x+%2B+y";
		long n = fng__query_decode(s, s, strlen(s));

		CHECK(n == 5 && memcmp(s, "x + y", 5) == 0, "decode in place");
	}
	{
		char s[] = "%00";

		CHECK(fng__query_decode(s, s, 3) == 1 && s[0] == '\0', "decode %%00: a NUL byte");
	}
}

static void test_pairs(void)
{
	static const struct {
		const char *q, *want;
	} cases[] = {
		{ "", "" },
		{ "a=b", "a=b;" },
		{ "a+b=c+d", "a b=c d;" },
		{ "a%2Bb=c%2Bd", "a+b=c+d;" },
		{ "%61=%62", "a=b;" },
		{ "a", "a=;" },
		{ "a=", "a=;" },
		{ "a=&b", "a=;b=;" },
		{ "a==b", "a==b;" },
		{ "a=b=c", "a=b=c;" },
		{ "=x", "" },
		{ "=", "" },
		{ "&", "" },
		{ "&&a=1&&", "a=1;" },
		{ "=x&a=1", "a=1;" },
		{ "tag=1&tag=2&tag=3", "tag=1;tag=2;tag=3;" },
		{ "a=1&b=2&a=3", "a=1;b=2;a=3;" },
		{ "a=%zz&a=2", "a=2;" },
		{ "%zz=1&b=2", "b=2;" },
		{ "a=%&b=%4&c=3", "c=3;" },
		{ "a%=1&a=2", "a=2;" },
		{ "+=+", " = ;" },
		{ "a=%00b", "a=|b;" },
		{ "%26=%3D", "&==;" },
		{ "q=a+b&tag=1&tag=2", "q=a b;tag=1;tag=2;" },
	};
	struct fng_arena *a = fng__arena_create();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_STR(pairs(a, cases[i].q), cases[i].want, "pairs of \"%s\"", cases[i].q);
	}
	fng__arena_destroy(a);
}

/* fng__req_query() answers what the first pair of that name holds, decoded by the same rule. */
static void test_req_query(void)
{
	static const struct {
		const char *q, *name, *want; /* want NULL: not found */
	} cases[] = {
		{ "a=1", "a", "1" },
		{ "a=1", "b", NULL },
		{ "", "a", NULL },
		{ "a", "a", "" },
		{ "a=", "a", "" },
		{ "a=1&a=2", "a", "1" },
		{ "b=0&a=1&a=2", "a", "1" },
		{ "a+b=c+d", "a b", "c d" },
		{ "a+b=c+d", "a+b", NULL },
		{ "a%2Bb=c%2Bd", "a+b", "c+d" },
		{ "a=%zz&a=2", "a", "2" },
		{ "a%zz=1&a=2", "a", "2" },
		{ "=1", "", NULL },
		{ "topic=room.1&reason=bye+now", "reason", "bye now" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fng_req req;
		struct fng_str v;
		bool found;

		memset(&req, 0, sizeof(req));
		req.arena = fng__arena_create();
		req.query = (struct fng_str){ cases[i].q, strlen(cases[i].q) };
		found = fng__req_query(&req, (struct fng_str){ cases[i].name,
			strlen(cases[i].name) }, &v);
		if (!cases[i].want) {
			CHECK(!found, "req_query \"%s\" [%s]: not found", cases[i].q, cases[i].name);
		} else {
			CHECK(found && v.len == strlen(cases[i].want) &&
				memcmp(v.p, cases[i].want, v.len) == 0,
				"req_query \"%s\" [%s] = \"%s\"", cases[i].q, cases[i].name,
				cases[i].want);
		}
		fng__arena_destroy(req.arena);
	}
}

int main(void)
{
	test_decode();
	test_pairs();
	test_req_query();
	return fng_test_done();
}
