// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/prevalidate.c, the byte scanner every request head passes before
 * llhttp. Each case is scanned three ways (whole buffer, one byte at a time, 7-byte chunks)
 * and the verdicts must agree, since on the wire the head arrives in arbitrary pieces.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "errors.h"
#include "harness.h"
#include "prevalidate.h"

struct limits {
	uint32_t line, head, fields;
};

static const struct limits defaults = { 8192, 32768, 100 };

struct verdict {
	int rc;
	uint32_t off;         /* pv.off when done */
	const char *error;
	uint32_t line_start;
};

static struct verdict scan_chunked(const char *buf, size_t len, struct limits lim, size_t step)
{
	struct fng_prevalid pv;
	struct verdict v = { FNG_PV_MORE, 0, NULL, 0 };
	size_t n = 0;

	fng__prevalid_init(&pv, lim.line, lim.head, lim.fields);
	while (n < len) {
		n = n + step < len ? n + step : len;
		v.rc = fng__prevalid_scan(&pv, buf, n);
		if (v.rc != FNG_PV_MORE) {
			break;
		}
	}
	v.off = pv.off;
	v.error = pv.error;
	v.line_start = fng__prevalid_line_start(&pv);
	return v;
}

/*
 * Scans buf whole, byte by byte and in 7-byte chunks; checks all three agree and returns the
 * whole-buffer verdict.
 */
static struct verdict scan(const char *buf, size_t len, struct limits lim, const char *what)
{
	struct verdict all = scan_chunked(buf, len, lim, len ? len : 1);
	size_t steps[] = { 1, 7 };

	for (size_t i = 0; i < 2; i++) {
		struct verdict part = scan_chunked(buf, len, lim, steps[i]);
		bool same = part.rc == all.rc &&
			    (all.rc != FNG_PV_DONE || part.off == all.off) &&
			    (all.rc >= 0 || (part.error && all.error &&
						    strcmp(part.error, all.error) == 0));

		CHECK(same, "%s: %zu-byte feed gives the same verdict", what, steps[i]);
		if (!same) {
			printf("# whole: rc %d off %u error %s; %zu-byte: rc %d off %u error %s\n",
				all.rc, all.off, all.error ? all.error : "-", steps[i], part.rc,
				part.off, part.error ? part.error : "-");
		}
	}
	return all;
}

/* The head (plus optional trailing bytes) must be complete and valid. */
static void ok_lim(const char *head, const char *trailer, struct limits lim, const char *what)
{
	char buf[70000];
	size_t hlen = strlen(head), tlen = strlen(trailer);
	struct verdict v;

	memcpy(buf, head, hlen);
	memcpy(buf + hlen, trailer, tlen);
	v = scan(buf, hlen + tlen, lim, what);
	CHECK_INT(v.rc, FNG_PV_DONE, "%s: accepted", what);
	if (v.rc < 0) {
		printf("# error: %s\n", v.error ? v.error : "(null)");
	} else {
		CHECK_INT(v.off, hlen, "%s: pv.off is the head length", what);
	}
}

static void ok(const char *head, const char *what)
{
	ok_lim(head, "", defaults, what);
}

static void bad_lim_n(const char *buf, size_t len, struct limits lim, int want, const char *what)
{
	struct verdict v = scan(buf, len, lim, what);

	CHECK_INT(v.rc, want, "%s: %s", what, fng_err_name(want));
	CHECK(v.rc >= 0 || (v.error != NULL && v.error[0]), "%s: pv.error set", what);
}

static void bad_lim(const char *head, struct limits lim, int want, const char *what)
{
	bad_lim_n(head, strlen(head), lim, want, what);
}

static void bad(const char *head, const char *what)
{
	bad_lim(head, defaults, FNG_EBAD_REQUEST, what);
}

static void test_valid(void)
{
	struct verdict v;
	const char *partial = "GET / HTTP/1.1\r\nHost: a\r\n";

	ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "minimal request");
	ok("GET / HTTP/1.1\r\n\r\n", "no header fields");
	ok("GET /a/b?c=d&e=%20f HTTP/1.0\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
		"query, HTTP/1.0, two fields");
	ok("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", "token method, asterisk target");
	ok("GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", "absolute form");
	ok("GET / HTTP/1.1\r\nX-Empty:\r\nX-Tab:\ta\tb\t\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
		"empty value, tabs in value, obs-text in value");
	ok("GET / HTTP/1.1\r\nX!#$%&'*+-.^_`|~1: v\r\n\r\n", "every tchar in a name");
	ok("GET / HTTP/1.1\r\nA:b\r\n\r\n", "no space after colon");
	ok("GET / HTTP/1.1\r\nA: b : c\r\n\r\n", "colon in value");
	ok_lim("POST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\n", "BODY", defaults,
		"trailing body bytes are not consumed");
	ok_lim("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", defaults,
		"pipelined request after the head is not consumed");
	ok("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "one leading empty line");
	ok("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "two leading empty lines");

	v = scan("\r\n\r\nGET / HTTP/1.1\r\n\r\n", 20, defaults, "line start");
	CHECK_INT(v.line_start, 4, "line_start skips leading empty lines");

	v = scan(partial, strlen(partial), defaults, "incomplete head");
	CHECK_INT(v.rc, FNG_PV_MORE, "incomplete head: more");
	CHECK(v.error == NULL, "incomplete head: no error");
	v = scan("", 0, defaults, "nothing");
	CHECK_INT(v.rc, FNG_PV_MORE, "no bytes: more");

	/* A scan resumes at pv.off: bytes already scanned are not looked at again. */
	{
		struct fng_prevalid pv;
		char buf[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

		fng__prevalid_init(&pv, 8192, 32768, 100);
		CHECK_INT(fng__prevalid_scan(&pv, buf, 10), FNG_PV_MORE, "first part");
		CHECK_INT(pv.off, 10, "off after first part");
		CHECK_INT(fng__prevalid_scan(&pv, buf, 10), FNG_PV_MORE, "same length again");
		CHECK_INT(fng__prevalid_scan(&pv, buf, sizeof(buf) - 1), FNG_PV_DONE, "rest");
		CHECK_INT(pv.off, sizeof(buf) - 1, "off at the end");
	}
}

static void test_line_endings(void)
{
	bad("GET / HTTP/1.1\rHost: a\r\n\r\n", "bare CR after request line");
	bad("GET / HTTP/1.1\nHost: a\r\n\r\n", "bare LF after request line");
	bad("GET / HTTP/1.1\r\nHost: a\n\r\n", "bare LF after field");
	bad("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", "bare CR in field value");
	bad("GET / HTTP/1.1\r\nHost: a\r\n\n", "bare LF as end of head");
	bad("GET / HTTP/1.1\r\nHost: a\r\n\rX", "\\r\\n\\rX");
	bad("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", "CR CR LF at end");
	bad("GET /\r HTTP/1.1\r\n\r\n", "CR in request target");
	bad("GET\r / HTTP/1.1\r\n\r\n", "CR in method");
	bad("\n GET / HTTP/1.1\r\n\r\n", "bare LF before request line");
	bad("\rGET / HTTP/1.1\r\n\r\n", "bare CR before request line");
	bad("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "three leading empty lines");
	bad("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", "obs-fold with space");
	bad("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", "obs-fold with tab");
	bad("GET / HTTP/1.1\r\n A: b\r\n\r\n", "whitespace before first field");
	bad("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "space before colon");
	bad("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", "tab before colon");
	bad("GET / HTTP/1.1\r\nHost\r\n\r\n", "field without colon");
	bad("GET / HTTP/1.1\r\n: a\r\n\r\n", "empty field name");
	bad("GET / HTTP/1.1\r\nA: b\r\n: a\r\n\r\n", "empty field name after a field");
}

static void test_bytes(void)
{
	/* A NUL in every part of the head. */
	static const char base[] = "GET /p HTTP/1.1\r\nHost: a\r\n\r\n";
	static const struct {
		size_t at;
		const char *where;
	} nul_at[] = {
		{ 0, "NUL at start" },
		{ 1, "NUL in method" },
		{ 3, "NUL after method" },
		{ 4, "NUL at target start" },
		{ 5, "NUL in target" },
		{ 6, "NUL after target" },
		{ 8, "NUL in version" },
		{ 15, "NUL instead of CR" },
		{ 16, "NUL instead of LF" },
		{ 17, "NUL at field start" },
		{ 18, "NUL in name" },
		{ 21, "NUL instead of colon" },
		{ 22, "NUL after colon" },
		{ 23, "NUL in value" },
		{ 24, "NUL instead of field CR" },
		{ 26, "NUL at end CR" },
		{ 27, "NUL instead of final LF" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(nul_at) / sizeof(nul_at[0]); i++) {
		size_t len = sizeof(base) - 1;

		memcpy(buf, base, len);
		buf[nul_at[i].at] = '\0';
		bad_lim_n(buf, len, defaults, FNG_EBAD_REQUEST, nul_at[i].where);
	}
	/* NUL inserted (not replacing) in a value. */
	bad_lim_n("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 27, defaults, FNG_EBAD_REQUEST,
		"inserted NUL in value");

	bad("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", "\\x01 in value");
	bad("GET / HTTP/1.1\r\nA: \x1b[31m\r\n\r\n", "ESC in value");
	bad("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", "DEL in value");
	bad("GET / HTTP/1.1\r\nA: \x0b\r\n\r\n", "VT in value");
	bad("GET / HTTP/1.1\r\nX(a): b\r\n\r\n", "( in field name");
	bad("GET / HTTP/1.1\r\nX/a: b\r\n\r\n", "/ in field name");
	bad("GET / HTTP/1.1\r\nX\"a: b\r\n\r\n", "quote in field name");
	bad("GET / HTTP/1.1\r\nX\xc3\xa9: b\r\n\r\n", "non-ASCII in field name");
	bad("GET / HTTP/1.1\r\nX\x01: b\r\n\r\n", "control in field name");
	bad("G(T / HTTP/1.1\r\n\r\n", "( in method");
	bad("GE\"T / HTTP/1.1\r\n\r\n", "quote in method");
	bad("G\xc3\xa9T / HTTP/1.1\r\n\r\n", "non-ASCII in method");
	bad("@GET / HTTP/1.1\r\n\r\n", "@ at method start");
	bad(" GET / HTTP/1.1\r\n\r\n", "space before method");
	bad("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", "non-ASCII in target");
	bad("GET /\x7f HTTP/1.1\r\n\r\n", "DEL in target");
	bad("GET /\ta HTTP/1.1\r\n\r\n", "tab in target");
	bad("GET /a\x01 HTTP/1.1\r\n\r\n", "control in target");
}

static void test_request_line(void)
{
	bad("GET  / HTTP/1.1\r\n\r\n", "two spaces after method");
	bad("GET /  HTTP/1.1\r\n\r\n", "two spaces after target");
	bad("GET / HTTP/1.1 \r\n\r\n", "trailing space after version");
	bad("GET HTTP/1.1\r\n\r\n", "missing target");
	bad("GET /\r\n\r\n", "missing version");
	bad("GET / \r\n\r\n", "empty version");
	bad("GET / HTTP/1.x\r\n\r\n", "HTTP/1.x");
	bad("GET / HTTP/11\r\n\r\n", "HTTP/11");
	bad("GET / HTTP/1.11\r\n\r\n", "HTTP/1.11");
	bad("GET / HTTP/1.\r\n\r\n", "HTTP/1.");
	bad("GET / http/1.1\r\n\r\n", "http/1.1");
	bad("GET / HTTPS/1.1\r\n\r\n", "HTTPS/1.1");
	bad("GET / HTTP/1.1 extra\r\n\r\n", "extra token after version");
	bad("GET\t/ HTTP/1.1\r\n\r\n", "tab as separator");
}

/* Builds "GET /aaa... HTTP/1.1" of exactly n bytes (CRLF excluded) into buf. */
static size_t request_line(char *buf, size_t n)
{
	static const char pre[] = "GET /", post[] = " HTTP/1.1";
	size_t fill = n - (sizeof(pre) - 1) - (sizeof(post) - 1), o = 0;

	memcpy(buf, pre, sizeof(pre) - 1);
	o += sizeof(pre) - 1;
	memset(buf + o, 'a', fill);
	o += fill;
	memcpy(buf + o, post, sizeof(post) - 1);
	o += sizeof(post) - 1;
	buf[o] = '\0';
	return o;
}

static void test_limits(void)
{
	char buf[70000];
	struct limits lim = { 64, 256, 3 };
	size_t o;

	/*
	 * request_line_bytes limits the request-line (RFC 9112: method SP target SP version,
	 * CRLF not included): a line of exactly the limit is accepted, one byte more is 414.
	 */
	o = request_line(buf, 64);
	strcpy(buf + o, "\r\n\r\n");
	ok_lim(buf, "", lim, "request line of exactly request_line_bytes");
	o = request_line(buf, 65);
	strcpy(buf + o, "\r\n\r\n");
	bad_lim(buf, lim, FNG_EURI_TOO_LONG, "request line one byte over the limit");
	o = request_line(buf, 63);
	strcpy(buf + o, "\r\n\r\n");
	ok_lim(buf, "", lim, "request line one byte under the limit");
	o = request_line(buf, 8192);
	strcpy(buf + o, "\r\nHost: a\r\n\r\n");
	ok_lim(buf, "", defaults, "request line of 8192 bytes with default limits");
	o = request_line(buf, 8193);
	strcpy(buf + o, "\r\nHost: a\r\n\r\n");
	bad_lim(buf, defaults, FNG_EURI_TOO_LONG, "request line of 8193 bytes, default limits");

	/* Leading empty lines do not count against the request line. */
	memcpy(buf, "\r\n\r\n", 4);
	o = request_line(buf + 4, 63);
	strcpy(buf + 4 + o, "\r\n\r\n");
	ok_lim(buf, "", lim, "leading empty lines are not part of the request line");

	/* A request line that never ends is refused once it passes the limit. */
	memset(buf, 'a', 1000);
	memcpy(buf, "GET /", 5);
	bad_lim_n(buf, 1000, lim, FNG_EURI_TOO_LONG, "endless request target");
	memset(buf, 'A', 1000);
	bad_lim_n(buf, 1000, lim, FNG_EURI_TOO_LONG, "endless method");

	/*
	 * header_bytes limits the header block: everything after the request line's CRLF up to
	 * and including the empty line that ends the head.
	 */
	static const char line[] = "GET / HTTP/1.1\r\n";
	size_t ll = sizeof(line) - 1;

	for (int extra = -1; extra <= 1; extra++) {
		/* "X: vvv\r\n\r\n" of 256 + extra bytes */
		size_t vlen = (size_t)(256 + extra) - 3 - 4;

		memcpy(buf, line, ll);
		memcpy(buf + ll, "X: ", 3);
		memset(buf + ll + 3, 'v', vlen);
		strcpy(buf + ll + 3 + vlen, "\r\n\r\n");
		if (extra <= 0) {
			ok_lim(buf, "", lim, extra ? "header block one under header_bytes"
						   : "header block of exactly header_bytes");
		} else {
			bad_lim(buf, lim, FNG_EHEADERS_TOO_LARGE,
				"header block one byte over header_bytes");
		}
	}
	/* Several fields adding up over the limit. */
	o = ll;
	memcpy(buf, line, ll);
	for (int i = 0; i < 3; i++) {
		o += (size_t)sprintf(buf + o, "F%d: %0100d\r\n", i, 0);
	}
	strcpy(buf + o, "\r\n");
	bad_lim(buf, lim, FNG_EHEADERS_TOO_LARGE, "three fields over header_bytes");
	/* An endless field value is refused once it passes the limit. */
	memcpy(buf, line, ll);
	memcpy(buf + ll, "X: ", 3);
	memset(buf + ll + 3, 'v', 2000);
	bad_lim_n(buf, ll + 2003, lim, FNG_EHEADERS_TOO_LARGE, "endless field value");
	/* With the default limits: a 32 KiB header block passes, 32 KiB + 1 does not. */
	for (int extra = 0; extra <= 1; extra++) {
		size_t vlen = (size_t)(32768 + extra) - 3 - 4;

		memcpy(buf, line, ll);
		memcpy(buf + ll, "X: ", 3);
		memset(buf + ll + 3, 'v', vlen);
		strcpy(buf + ll + 3 + vlen, "\r\n\r\n");
		if (extra == 0) {
			ok_lim(buf, "", defaults, "32768-byte header block, default limits");
		} else {
			bad_lim(buf, defaults, FNG_EHEADERS_TOO_LARGE,
				"32769-byte header block, default limits");
		}
	}

	/* header_fields: exactly the limit passes, one more is 431. */
	ok_lim("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", "", lim, "3 fields, limit 3");
	bad_lim("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", lim,
		FNG_EHEADERS_TOO_LARGE, "4 fields, limit 3");
	o = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++) {
		o += (size_t)sprintf(buf + o, "F%d: x\r\n", i);
	}
	strcpy(buf + o, "\r\n");
	ok_lim(buf, "", defaults, "100 fields with default limits");
	strcpy(buf + o, "Z: z\r\n\r\n");
	bad_lim(buf, defaults, FNG_EHEADERS_TOO_LARGE, "101 fields with default limits");
}

int main(void)
{
	test_valid();
	test_line_endings();
	test_bytes();
	test_request_line();
	test_limits();
	return fng_test_done();
}
