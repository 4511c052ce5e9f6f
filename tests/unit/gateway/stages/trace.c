// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/stages/trace.c and the W3C Trace Context rules it applies (sdk/wire_rules.h,
 * gateway/pipeline/trace.c), without sockets: every malformed traceparent class (lengths,
 * upper-case hex, zero ids, version ff, separators, non-hex, a later version's extra fields,
 * several headers) starts a new trace; a valid one is continued with its flags; tracestate kept
 * only when well formed (members, length, keys, values, duplicates) and with a valid
 * traceparent; the gateway's span in the response header, replacing an integration's.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "stages.h"
#include "trace.h"
#include "wire_rules.h"

extern const struct fng_stage_def fng__stage_trace;
extern const struct fng_stage_def fng__stage_trace_headers;

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"
#define VALID "00-" TID "-" PID "-01"

static bool tp_ok(const char *s)
{
	return fng__traceparent_parse(s, strlen(s), NULL);
}

static bool ts_ok(const char *s)
{
	return fng__tracestate_ok(s, strlen(s));
}

static void test_traceparent(void)
{
	static const struct {
		const char *what, *v;
	} bad[] = {
		{ "empty", "" },
		{ "one short", "00-" TID "-" PID "-0" },
		{ "version 00 with more after it", VALID "-00" },
		{ "version 00 with a byte after it", VALID "x" },
		{ "upper-case trace id", "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01" },
		{ "upper-case parent id", "00-" TID "-00F067AA0BA902B7-01" },
		{ "upper-case flags", "00-" TID "-" PID "-0A" },
		{ "upper-case version", "0A-" TID "-" PID "-01" },
		{ "zero trace id", "00-00000000000000000000000000000000-" PID "-01" },
		{ "zero parent id", "00-" TID "-0000000000000000-01" },
		{ "version ff", "ff-" TID "-" PID "-01" },
		{ "version ff, longer", "ff-" TID "-" PID "-01-00" },
		{ "'_' for the first '-'", "00_" TID "-" PID "-01" },
		{ "'_' for the second '-'", "00-" TID "_" PID "-01" },
		{ "'_' for the third '-'", "00-" TID "-" PID "_01" },
		{ "non-hex in the trace id", "00-4bf92f3577b34da6a3ce929d0e0e473g-" PID "-01" },
		{ "non-hex in the parent id", "00-" TID "-00f067aa0ba902bz-01" },
		{ "non-hex flags", "00-" TID "-" PID "-0x" },
		{ "non-hex version", "0g-" TID "-" PID "-01" },
		{ "short trace id, long parent", "00-4bf92f3577b34da6a3ce929d0e0e473-" PID "0-01" },
		{ "a later version, no '-' after the flags", "01-" TID "-" PID "-01x" },
		{ "spaces around it", " " VALID },
		{ "NUL inside", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0" },
	};
	struct fng_traceparent tp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i].v);

		if (strcmp(bad[i].what, "NUL inside") == 0) {
			n = 55;
		}
		CHECK(!fng__traceparent_parse(bad[i].v, n, &tp), "traceparent refused: %s",
			bad[i].what);
	}
	CHECK(fng__traceparent_parse(VALID, 55, &tp) && tp.version == 0 &&
			strcmp(tp.trace_id, TID) == 0 && strcmp(tp.parent_id, PID) == 0 &&
			tp.flags == 1,
		"version 00: trace id, parent id, flags");
	CHECK(fng__traceparent_parse("00-" TID "-" PID "-ff", 55, &tp) && tp.flags == 0xff,
		"every flag bit is kept");
	CHECK(tp_ok("cc-" TID "-" PID "-01") && tp_ok("cc-" TID "-" PID "-01-what-ever"),
		"a later version: its version 00 fields, with or without more after a '-'");
	CHECK(fng__traceparent_parse("fe-" TID "-" PID "-09-x", 59, &tp) && tp.version == 0xfe &&
			tp.flags == 9,
		"version fe is still a version");
}

static void test_tracestate(void)
{
	char big[600], many[400];
	size_t n = 0;

	CHECK(ts_ok("") && ts_ok("congo=t61rcWkgMzE") &&
			ts_ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
		"tracestate: empty, one member, two");
	CHECK(ts_ok("a=1 , b=2\t,\t c=3") && ts_ok("a=1,,b=2") && ts_ok(" , "),
		"optional whitespace and empty members");
	CHECK(ts_ok("tenant@sys=x") && ts_ok("0tenant@s1=x") && ts_ok("a_-*/9=v"),
		"multi-tenant keys and every key byte");
	CHECK(ts_ok("k=a b") && ts_ok("k=!\"#$%&'()*+-./:;<>?@[]^_`{|}~"),
		"value: spaces inside, every printable byte but ',' and '='");
	CHECK(!ts_ok("Congo=x"), "a key starting upper-case");
	CHECK(!ts_ok("0k=x"), "a simple key starting with a digit");
	CHECK(!ts_ok("k.x=1"), "a key with '.'");
	CHECK(!ts_ok("t@S=1") && !ts_ok("t@=1") && !ts_ok("@s=1") && !ts_ok("t@s@u=1"),
		"bad tenant@system keys");
	CHECK(!ts_ok("t@abcdefghijklmno=1"), "a system id over 14 bytes");
	CHECK(!ts_ok("=v") && !ts_ok("k=") && !ts_ok("k") && !ts_ok("k =v"),
		"empty key, empty value, no '=', a space before '='");
	CHECK(ts_ok("k=v "), "a space after a value is whitespace around the member");
	CHECK(!ts_ok("k=a=b") && !ts_ok("k=\x7f") && !ts_ok("k=\x01") && !ts_ok("k=\xc3\xa9"),
		"value bytes: '=', DEL, a control, UTF-8");
	CHECK(!ts_ok("k=1,k=2"), "a key twice");
	for (int i = 0; i < 33; i++) {
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%sk%d=v", i ? "," : "", i);
	}
	CHECK(!ts_ok(many), "33 members");
	many[strrchr(many, ',') - many] = '\0';
	CHECK(ts_ok(many), "32 members");
	memset(big, 'v', sizeof(big));
	memcpy(big, "k=", 2);
	big[2 + 256] = ',';
	memcpy(big + 259, "j=", 2);
	big[261 + 251] = '\0';
	CHECK(strlen(big) == 512 && ts_ok(big), "512 bytes");
	big[512] = 'v';
	big[513] = '\0';
	CHECK(!ts_ok(big), "513 bytes");
	memset(big, 'v', 300);
	memcpy(big, "k=", 2);
	big[300] = '\0';
	CHECK(!ts_ok(big), "a value over 256 bytes");
}

static struct fng_req *new_req(struct fng_arena *a, struct fng_header *h, unsigned n)
{
	struct fng_req *req = fng__arena_zalloc(a, sizeof(*req));

	req->arena = a;
	req->headers = h;
	req->nheaders = n;
	return req;
}

static bool hex_id(const char *s, size_t n)
{
	return strlen(s) == n && fng__lhex_ok(s, n, true);
}

static void test_stage(struct fng_arena *a)
{
	struct fng_header valid[] = {
		{ FNG_STR("Host"), FNG_STR("a") },
		{ FNG_STR("TraceParent"), FNG_STR(VALID) },
		{ FNG_STR("tracestate"), FNG_STR("congo=t61rcWkgMzE") },
		{ FNG_STR("TRACESTATE"), FNG_STR("rojo=1") },
	};
	struct fng_header twice[] = {
		{ FNG_STR("traceparent"), FNG_STR(VALID) },
		{ FNG_STR("traceparent"), FNG_STR(VALID) },
		{ FNG_STR("tracestate"), FNG_STR("congo=t61rcWkgMzE") },
	};
	struct fng_header bad_state[] = {
		{ FNG_STR("traceparent"), FNG_STR("00-" TID "-" PID "-00") },
		{ FNG_STR("tracestate"), FNG_STR("congo=t61rcWkgMzE") },
		{ FNG_STR("tracestate"), FNG_STR("Bad=1") },
	};
	struct fng_header upper[] = {
		{ FNG_STR("traceparent"), FNG_STR("00-" TID "-00F067AA0BA902B7-01") },
	};
	struct fng_req *req, *other;
	char tp[56], tp2[56];

	req = new_req(a, valid, 4);
	CHECK_INT(fng__stage_trace.run(req), FNG_STAGE_NEXT, "stage trace: next");
	CHECK(strcmp(req->trace.trace_id, TID) == 0 && strcmp(req->trace.parent_id, PID) == 0 &&
			req->trace.flags == 1 && hex_id(req->trace.span_id, 16) &&
			strcmp(req->trace.span_id, PID) != 0,
		"valid: the client's trace and flags, its span the parent, a span of our own");
	CHECK(req->trace.tracestate &&
			strcmp(req->trace.tracestate, "congo=t61rcWkgMzE,rojo=1") == 0,
		"valid: tracestate headers joined with ','");
	CHECK(fng__req_traceparent(req, tp) && strlen(tp) == 55 &&
			strncmp(tp, "00-" TID "-", 36) == 0 &&
			strncmp(tp + 36, req->trace.span_id, 16) == 0 && strcmp(tp + 52, "-01") == 0,
		"traceparent: 00, the trace, the gateway's span, the flags: %s", tp);

	req = new_req(a, twice, 3);
	CHECK(!fng__trace_from_headers(req), "two traceparent headers: a new trace");
	CHECK(strcmp(req->trace.trace_id, TID) != 0 && hex_id(req->trace.trace_id, 32) &&
			req->trace.parent_id[0] == '\0' && req->trace.flags == FNG_TRACE_SAMPLED &&
			!req->trace.tracestate,
		"a new trace: random id, no parent, sampled, tracestate dropped");

	req = new_req(a, bad_state, 3);
	CHECK(fng__trace_from_headers(req) && req->trace.flags == 0 && !req->trace.tracestate,
		"a malformed tracestate is dropped, the traceparent and its flags (00) kept");

	req = new_req(a, upper, 1);
	CHECK(!fng__trace_from_headers(req) && req->trace.parent_id[0] == '\0',
		"upper-case hex: a new trace");

	req = new_req(a, NULL, 0);
	other = new_req(a, NULL, 0);
	fng__stage_trace.run(req);
	fng__stage_trace.run(other);
	CHECK(hex_id(req->trace.trace_id, 32) && hex_id(req->trace.span_id, 16) &&
			strcmp(req->trace.trace_id, other->trace.trace_id) != 0 &&
			strcmp(req->trace.span_id, other->trace.span_id) != 0,
		"no traceparent: a new trace each, ids differ");

	/* A request put in a trace by its maker keeps it (an event of a connection). */
	other = new_req(a, valid, 4);
	other->event = FNG_EVENT_MESSAGE;
	fng__req_trace_join(other, req->trace.trace_id, req->trace.span_id, 1, NULL);
	memcpy(tp2, other->trace.span_id, 17);
	fng__stage_trace.run(other);
	CHECK(strcmp(other->trace.trace_id, req->trace.trace_id) == 0 &&
			strcmp(other->trace.parent_id, req->trace.span_id) == 0 &&
			strcmp(other->trace.span_id, tp2) == 0 &&
			strcmp(other->trace.span_id, req->trace.span_id) != 0,
		"joined: its maker's trace, the maker's span the parent, its headers ignored");
	fng__req_trace_join(other, "short", PID, 1, NULL);
	CHECK(hex_id(other->trace.trace_id, 32) && other->trace.parent_id[0] == '\0',
		"joining a malformed trace starts a new one");

	other = new_req(a, NULL, 0);
	other->event = FNG_EVENT_SCHEDULE;
	fng__stage_trace.run(other);
	CHECK(hex_id(other->trace.trace_id, 32), "a scheduled run: a new trace");

	/* trace_headers: the gateway's span replaces an integration's traceparent. */
	req = new_req(a, valid, 4);
	fng__stage_trace.run(req);
	fng__resp_header(req, "traceparent", 11, VALID, 55);
	fng__resp_header(req, "x-a", 3, "1", 1);
	CHECK_INT(fng__stage_trace_headers.run(req), FNG_STAGE_NEXT, "trace_headers: next");
	fng__req_traceparent(req, tp);
	CHECK(req->resp.nheaders == 2 && fng__str_eq(req->resp.headers[0].name, "x-a", 3) &&
			fng__str_eq(req->resp.headers[1].name, "traceparent", 11) &&
			fng__str_eq(req->resp.headers[1].value, tp, 55),
		"trace_headers: one traceparent, the gateway's");
	other = new_req(a, NULL, 0);
	other->event = FNG_EVENT_MESSAGE;
	fng__stage_trace.run(other);
	fng__stage_trace_headers.run(other);
	CHECK_INT(other->resp.nheaders, 0, "an event's answer has no headers to carry it");
}

int main(void)
{
	struct fng_arena *a = fng__arena_create();

	test_traceparent();
	test_tracestate();
	test_stage(a);
	fng__arena_destroy(a);
	return fng_test_done();
}
