// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/errors.c: the JSON error body every edge answers with (HTTP errors,
 * WebSocket error messages), its shape with and without the connection and request ids, and
 * its escaping of every byte a message or an id may hold (RFC 8259: '"', '\\' and the control
 * characters escaped, DEL too; other bytes, UTF-8 included, as they are); and the status and
 * message of a few codes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "errors.h"
#include "harness.h"
#include "mem.h"

/* The body for msg (and the ids), NUL-terminated in a static buffer. */
static const char *body(const char *msg, const char *cid, const char *rid)
{
	static char out[2048];
	struct fng_buf b = { 0 };
	int err = fng__err_json(&b, msg, cid, rid, rid ? strlen(rid) : 0);

	snprintf(out, sizeof(out), "%s%.*s", err ? "ERROR " : "", (int)b.len, b.p ? b.p : "");
	fng__buf_finish(&b);
	return out;
}

static void test_shape(void)
{
	CHECK_STR(body("Not Found", NULL, NULL), "{\"message\":\"Not Found\"}", "HTTP shape");
	CHECK_STR(body("", NULL, NULL), "{\"message\":\"\"}", "empty message");
	CHECK_STR(body("Too Many Requests: message rate limit exceeded", "AbCd0123456789-_", NULL),
		"{\"message\":\"Too Many Requests: message rate limit exceeded\","
		"\"connectionId\":\"AbCd0123456789-_\"}",
		"WebSocket shape, no request id");
	CHECK_STR(body("Bad Gateway", "AbCd0123456789-_", "req-1.2_3"),
		"{\"message\":\"Bad Gateway\",\"connectionId\":\"AbCd0123456789-_\","
		"\"requestId\":\"req-1.2_3\"}",
		"WebSocket shape with a request id");
	CHECK_STR(body("m", NULL, "r"), "{\"message\":\"m\",\"requestId\":\"r\"}",
		"request id without a connection id");
}

static void test_escaping(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "say \"hi\"", "say \\\"hi\\\"" },
		{ "back\\slash", "back\\\\slash" },
		{ "line\nbreak\r\ttab", "line\\nbreak\\r\\ttab" },
		{ "\x01\x1f", "\\u0001\\u001f" },
		{ "del\x7f", "del\\u007f" },
		{ "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac" },
		{ "</script>", "</script>" },
		{ "{\"message\":\"x\"}", "{\\\"message\\\":\\\"x\\\"}" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[256];

		snprintf(want, sizeof(want), "{\"message\":\"%s\"}", cases[i].out);
		CHECK_STR(body(cases[i].in, NULL, NULL), want, "escaped message %zu", i);
	}
	/* Every byte from 1 to 255: a control or DEL escaped as \u00XX (or its short form). */
	for (int c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 }, want[32];
		const char *got = body(in, NULL, NULL);

		if (c == '"' || c == '\\') {
			snprintf(want, sizeof(want), "{\"message\":\"\\%c\"}", c);
		} else if (c == '\n' || c == '\r' || c == '\t') {
			snprintf(want, sizeof(want), "{\"message\":\"\\%c\"}",
				c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(want, sizeof(want), "{\"message\":\"\\u%04x\"}", c);
		} else {
			snprintf(want, sizeof(want), "{\"message\":\"%c\"}", c);
		}
		CHECK(strcmp(got, want) == 0, "byte 0x%02x", c);
	}
	CHECK_STR(body("m", "a\"b", "c\\d"),
		"{\"message\":\"m\",\"connectionId\":\"a\\\"b\",\"requestId\":\"c\\\\d\"}",
		"ids escaped too");
}

static void test_map(void)
{
	CHECK_INT(fng__err_status(FNG_ENOT_FOUND), 404, "not found: 404");
	CHECK_INT(fng__err_status(FNG_ETHROTTLED), 429, "throttled: 429");
	CHECK_INT(fng__err_status(-ENOMEM), 500, "an errno: 500");
	CHECK_STR(fng_strerror(FNG_EBAD_GATEWAY), "Bad Gateway", "message of a code");
}

int main(void)
{
	test_shape();
	test_escaping();
	test_map();
	return fng_test_done();
}
