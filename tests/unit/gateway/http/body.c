// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/http/body.c, the request body decoder: the chunked coding's size
 * lines and their extensions (RFC 9112 7.1.1), data CRLFs and trailers. Each case is decoded
 * three ways (whole, one byte at a time, 7-byte pieces), since on the wire a body arrives in
 * arbitrary pieces, and the verdicts and payloads must agree.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "errors.h"
#include "harness.h"

struct out {
	char data[256];
	size_t len;
};

static int collect(void *ctx, const char *p, size_t n)
{
	struct out *o = ctx;

	if (o->len + n > sizeof(o->data)) {
		return -1;
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
	return 0;
}

struct verdict {
	long rc;          /* bytes consumed when done, else the error */
	bool done;
	const char *error;
	struct out out;
};

static struct verdict decode_by(const char *buf, size_t len, size_t step)
{
	struct fng_body_parser bp;
	struct verdict v = { 0 };
	size_t off = 0;

	fng__body_init(&bp, true, 0, 32768, 100);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		long rc = fng__body_parse(&bp, buf + off, n, collect, &v.out);

		if (rc < 0) {
			v.rc = rc;
			v.error = bp.error;
			return v;
		}
		off += (size_t)rc;
		if (fng__body_done(&bp)) {
			break;
		}
	}
	v.rc = (long)off;
	v.done = fng__body_done(&bp);
	return v;
}

/* Decodes buf three ways; checks they agree and returns the whole-buffer verdict. */
static struct verdict decode(const char *buf, size_t len, const char *what)
{
	struct verdict all = decode_by(buf, len, len ? len : 1);
	size_t steps[] = { 1, 7 };

	for (size_t i = 0; i < 2; i++) {
		struct verdict part = decode_by(buf, len, steps[i]);
		bool same = part.rc == all.rc && part.done == all.done &&
			    part.out.len == all.out.len &&
			    memcmp(part.out.data, all.out.data, all.out.len) == 0 &&
			    (part.error == all.error ||
				    (part.error && all.error && !strcmp(part.error, all.error)));

		CHECK(same, "%s: same verdict fed in %zu-byte pieces", what, steps[i]);
	}
	return all;
}

/* A body "5<ext>\r\nhello\r\n0\r\n\r\n" with ext after the size. */
static void body_with_ext(char *buf, size_t size, const char *ext)
{
	snprintf(buf, size, "5%s\r\nhello\r\n0\r\n\r\n", ext);
}

static void test_valid_extensions(void)
{
	static const char *const ok[] = {
		"", ";a", ";a=b", ";a=\"b c\"", ";a=\"q\\\"x\"", ";a=\"\"", ";a=\"\\\\\"",
		";a;b=1;c=\"2\"", " ;a", "\t;a", "; a", ";a =b", ";a= b", ";a = b",
		";a=b ;c", ";a=\"x\" ;c", ";!#$%&'*+-.^_`|~09azAZ=!#$%&'*+-.^_`|~",
		";a=\"\t!#[]~\"", ";a=\"\\\t\\ \\~\"", " \t ; \t a \t = \t \"v\" \t ; \t b",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char buf[512];
		struct verdict v;

		body_with_ext(buf, sizeof(buf), ok[i]);
		v = decode(buf, strlen(buf), ok[i]);
		CHECK(v.done && v.rc == (long)strlen(buf), "valid extension [%s] accepted", ok[i]);
		CHECK(v.out.len == 5 && memcmp(v.out.data, "hello", 5) == 0,
			"[%s]: payload intact", ok[i]);
	}
	/* Extensions on the last chunk too. */
	{
		const char *b = "1;a=b\r\nx\r\n0;last=\"yes\"\r\n\r\n";
		struct verdict v = decode(b, strlen(b), "extension on the last chunk");

		CHECK(v.done && v.out.len == 1, "extension on the last chunk accepted");
	}
}

static void test_invalid_extensions(void)
{
	/* len: of ext, for the case holding a NUL (0: strlen) */
	static const struct {
		const char *ext;
		size_t len;
		const char *error;
	} bad[] = {
		{ ";x=\"abc", 0, "unterminated quoted string in chunk extension" },
		{ ";x=\"abc\\", 0, "unterminated quoted string in chunk extension" },
		{ ";=v", 0, "chunk extension without a name" },
		{ ";", 0, "chunk extension without a name" },
		{ ";;a", 0, "chunk extension without a name" },
		{ "; ", 0, "chunk extension without a name" },
		{ ";x@y=1", 0, "invalid character in chunk extension name" },
		{ ";x\"y", 0, "invalid character in chunk extension name" },
		{ ";x y", 0, "whitespace inside a chunk extension name" },
		{ ";x=a b", 0, "whitespace inside an unquoted chunk extension value" },
		{ ";x=a@b", 0, "invalid character in chunk extension value" },
		{ ";x=", 0, "chunk extension without a value after \"=\"" },
		{ ";x=;y", 0, "chunk extension without a value after \"=\"" },
		{ ";x=,", 0, "invalid character in chunk extension value" },
		{ ";x=\"a\"b", 0, "invalid character after a quoted chunk extension value" },
		{ ";x=\"a\" b", 0, "whitespace inside an unquoted chunk extension value" },
		{ ";x=a\"b\"", 0, "invalid character in chunk extension value" },
		{ ";x=\"a\x01\"", 0, "control character in chunk extension value" },
		{ ";x=\"a\x7f\"", 0, "control character in chunk extension value" },
		{ ";x=\"\\\x01\"", 0, "control character in chunk extension value" },
		{ ";x=\"\xc3\xa9\"", 0, "non-ASCII byte in chunk extension" },
		{ ";x=\"\\\x80\"", 0, "non-ASCII byte in chunk extension" },
		{ ";x=\x80", 0, "non-ASCII byte in chunk extension" },
		{ ";\xff", 0, "non-ASCII byte in chunk extension" },
		{ " ", 0, "whitespace at the end of a chunk size line" },
		{ ";a ", 0, "whitespace at the end of a chunk size line" },
		{ ";a=b\t", 0, "whitespace at the end of a chunk size line" },
		{ ";a=\"b\" ", 0, "whitespace at the end of a chunk size line" },
		{ " x", 0, "invalid character after chunk size" },
		{ ";a\0", 3, "invalid character in chunk extension name" },
		{ ";a=b\n", 0, "invalid character in chunk extension value" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[512];
		size_t n;
		struct verdict v;

		n = bad[i].len ? bad[i].len : strlen(bad[i].ext);
		buf[0] = '5';
		memcpy(buf + 1, bad[i].ext, n);
		memcpy(buf + 1 + n, "\r\nhello\r\n0\r\n\r\n", 15);
		v = decode(buf, 1 + n + 15, bad[i].error);
		CHECK_INT(v.rc, FNG_EBAD_REQUEST, "invalid extension no. %zu refused with 400", i);
		CHECK_STR(v.error, bad[i].error, "invalid extension no. %zu: message", i);
		CHECK_INT(v.out.len, 0, "invalid extension no. %zu: no payload passed on", i);
	}
}

static void test_extension_bound(void)
{
	size_t n = FNG_CHUNK_EXT_MAX;
	char *buf = malloc(n + 64);
	struct verdict v;

	/* ";a=" and a value filling the bound exactly: accepted. */
	buf[0] = '1';
	memcpy(buf + 1, ";a=", 3);
	memset(buf + 4, 'v', n - 3);
	memcpy(buf + 1 + n, "\r\nx\r\n0\r\n\r\n", 10);
	v = decode(buf, 1 + n + 10, "extensions at the bound");
	CHECK(v.done, "%zu bytes of extensions accepted", n);
	/* One byte more: refused. */
	memset(buf + 4, 'v', n - 2);
	memcpy(buf + 2 + n, "\r\nx\r\n0\r\n\r\n", 10);
	v = decode(buf, 2 + n + 10, "extensions over the bound");
	CHECK_INT(v.rc, FNG_EBAD_REQUEST, "%zu bytes of extensions refused", n + 1);
	CHECK_STR(v.error, "chunk extensions too long", "over the bound: message");
	free(buf);

	/* The bound is per size line: two lines of 3000 bytes each are fine. */
	{
		size_t len = 0;
		char *b = malloc(8000);

		for (int i = 0; i < 2; i++) {
			b[len++] = '1';
			b[len++] = ';';
			b[len++] = 'a';
			memset(b + len, 'a', 2997);
			len += 2997;
			memcpy(b + len, "\r\nx\r\n", 5);
			len += 5;
		}
		memcpy(b + len, "0\r\n\r\n", 5);
		len += 5;
		v = decode(b, len, "two long extension lines");
		CHECK(v.done && v.out.len == 2, "the extension bound is per size line");
		free(b);
	}
}

static void test_framing(void)
{
	static const struct {
		const char *body, *error;
	} bad[] = {
		{ "x\r\n", "invalid chunk size" },
		{ "5\r\nhelloX", "chunk data not followed by CRLF" },
		{ "5\rX", "bare CR in chunk size line" },
		{ "1000000000000000\r\n", "chunk size too large" },
		{ "0\r\nbad field\r\n\r\n", "invalid character in trailer field name" },
		{ "0\r\nx: a\rb", "bare CR in trailer field" },
	};
	const char *good = "3\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\nGET / HTTP/1.1\r\n";
	struct verdict v = decode(good, strlen(good), "trailer and a next request");

	CHECK(v.done && v.rc == (long)(strlen(good) - strlen("GET / HTTP/1.1\r\n")),
		"a body with a trailer ends at its final CRLF");
	CHECK(v.out.len == 3 && !memcmp(v.out.data, "abc", 3), "trailer body payload");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = decode(bad[i].body, strlen(bad[i].body), bad[i].error);
		CHECK_INT(v.rc, FNG_EBAD_REQUEST, "[%s] refused", bad[i].error);
		CHECK_STR(v.error, bad[i].error, "framing error no. %zu: message", i);
	}
}

int main(void)
{
	test_valid_extensions();
	test_invalid_extensions();
	test_extension_bound();
	test_framing();
	return fng_test_done();
}
