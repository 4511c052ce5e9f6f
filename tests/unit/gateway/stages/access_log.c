// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/stages/access_log.c without sockets: a hand-built request rendered through
 * formats compiled as the loader compiles them, checked byte for byte (every field, the
 * default order, a chosen order, no field, JSON escaping of what the client sent, the values
 * a refused or abandoned request logs), and the stage handing its line to the connection.
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fngate.h" /* compiles beside the gateway's headers: no name collides */
#include "harness.h"
#include "access_log.h"
#include "stages.h"

/* 2026-01-01T00:00:00Z plus 123.456789 ms, and a monotonic clock 1234.567 µs after t_start. */
static const struct fng_alog_now now = {
	.mono = 5000000000ull + 1234567,
	.wall = { .tv_sec = 1767225600, .tv_nsec = 123456789 },
};

static const struct fng_route route = { .key = "GET /items/{id}" };
static struct fng_stage stage = { .name = "prod" };
static struct fng_api api = { .name = "shop" };
static struct fng_header headers[] = {
	{ FNG_STR("Host"), FNG_STR("example.com") },
	{ FNG_STR("User-Agent"), FNG_STR("curl/8.5.0") },
};

static char conn_stub;

/* An answered request through a function integration, every field with a value. */
static void req_init(struct fng_req *req, struct fng_arena *a)
{
	memset(req, 0, sizeof(*req));
	req->arena = a;
	req->conn = (struct fng_conn *)&conn_stub; /* any non-NULL: the client is still there */
	req->method = FNG_STR("GET");
	req->path = FNG_STR("/prod/items/42");
	req->http_major = 1;
	req->http_minor = 1;
	req->headers = headers;
	req->nheaders = 2;
	strcpy(req->ip, "192.0.2.7");
	strcpy(req->request_id, "0123456789abcdef");
	req->request_id_len = 16;
	req->api = &api;
	req->stage = &stage;
	req->match.route = &route;
	req->resp.status = 200;
	req->integration_status = 200;
	req->bytes_in = 78;
	req->bytes_out = 1234;
	req->t_start = 5000000000ull;
	req->t_integration_start = 5000100000ull;
	req->t_integration_end = 5000600999ull;
	req->cost.set = true;
	req->cost.cpu_us = 20123;
	req->cost.max_rss_kb = 53000;
	memcpy(req->trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", 33);
	memcpy(req->trace.parent_id, "00f067aa0ba902b7", 17);
	memcpy(req->trace.span_id, "b7ad6b7169203331", 17);
}

static const struct fng_alog_format *compile(struct fng_arena *a, const uint8_t *ids,
	unsigned n)
{
	const struct fng_alog_format *f = fng__alog_compile(a, ids, n);

	CHECK(f != NULL, "compile %u fields", n);
	return f;
}

static struct fng_buf rendered;

/* Renders req with f into a NUL-terminated string, valid until the next call. */
static const char *render(const struct fng_alog_format *f, const struct fng_req *req)
{
	rendered.len = 0;
	fng__alog_render(&rendered, f, req, &now);
	fng__buf_append(&rendered, "", 1);
	return rendered.p;
}

static const uint8_t all[FNG_ALOG__COUNT] = {
	FNG_ALOG_TIME, FNG_ALOG_REQUEST_ID, FNG_ALOG_TRACE_ID, FNG_ALOG_SPAN_ID,
	FNG_ALOG_PARENT_SPAN_ID, FNG_ALOG_IP, FNG_ALOG_METHOD, FNG_ALOG_PATH,
	FNG_ALOG_PROTOCOL, FNG_ALOG_ROUTE_KEY, FNG_ALOG_API, FNG_ALOG_STAGE, FNG_ALOG_STATUS,
	FNG_ALOG_BYTES_IN, FNG_ALOG_BYTES_OUT, FNG_ALOG_LATENCY, FNG_ALOG_INTEGRATION_LATENCY,
	FNG_ALOG_INTEGRATION_STATUS, FNG_ALOG_INTEGRATION_CPU, FNG_ALOG_INTEGRATION_MAX_RSS,
	FNG_ALOG_USER_AGENT, FNG_ALOG_ERROR,
};

static void test_table(void)
{
	bool named = true;

	for (unsigned i = 0; i < FNG_ALOG__COUNT; i++) {
		const char *name = fng__alog_field_name((enum fng_alog_field)i);

		named = named && name && fng__alog_field_find(name) == (int)i;
	}
	CHECK(named, "every field has a key, found back by name");
	CHECK_INT(fng__alog_field_find("nope"), -1, "unknown key");
	CHECK_INT(fng__alog_field_find("Status"), -1, "keys are case-sensitive");
	CHECK(fng__alog_field_name(FNG_ALOG__COUNT) == NULL, "no name past the table");
}

static void test_every_field(struct fng_arena *a)
{
	const struct fng_alog_format *f = compile(a, all, FNG_ALOG__COUNT);
	struct fng_req req;

	req_init(&req, a);
	CHECK_STR(render(f, &req),
		"{\"time\":\"2026-01-01T00:00:00.123Z\",\"requestId\":\"0123456789abcdef\","
		"\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"b7ad6b7169203331\","
		"\"parentSpanId\":\"00f067aa0ba902b7\","
		"\"ip\":\"192.0.2.7\",\"method\":\"GET\",\"path\":\"/prod/items/42\","
		"\"protocol\":\"HTTP/1.1\",\"routeKey\":\"GET /items/{id}\",\"api\":\"shop\","
		"\"stage\":\"prod\",\"status\":200,\"bytesIn\":78,\"bytesOut\":1234,"
		"\"latencyUs\":1234,\"integrationLatencyUs\":500,\"integrationStatus\":\"200\","
		"\"integrationCpuUs\":20123,\"integrationMaxRssKb\":53000,"
		"\"userAgent\":\"curl/8.5.0\",\"error\":\"\"}",
		"every field, default order, answered request");
	CHECK_INT(f->n, FNG_ALOG__COUNT, "the format has every field");
	CHECK_STR(f->items[0].pre, "\"time\":", "first key has no comma");
	CHECK_STR(f->items[1].pre, ",\"requestId\":", "later keys have theirs");
	CHECK_INT(f->items[1].pre_len, strlen(",\"requestId\":"), "pre_len");
}

/* A refused request: nothing resolved, no integration, HTTP/1.0, no User-Agent. */
static void test_refused(struct fng_arena *a)
{
	const struct fng_alog_format *f = compile(a, all, FNG_ALOG__COUNT);
	struct fng_req req;

	req_init(&req, a);
	req.http_minor = 0;
	req.api = NULL;
	req.stage = NULL;
	req.match.route = NULL;
	req.nheaders = 1;
	req.resp.status = 404;
	req.integration_status = 0;
	req.t_integration_start = req.t_integration_end = 0;
	req.cost.set = false;
	memset(&req.trace, 0, sizeof(req.trace));
	req.error = FNG_ENOT_FOUND;
	CHECK_STR(render(f, &req),
		"{\"time\":\"2026-01-01T00:00:00.123Z\",\"requestId\":\"0123456789abcdef\","
		"\"traceId\":\"\",\"spanId\":\"\",\"parentSpanId\":\"\","
		"\"ip\":\"192.0.2.7\",\"method\":\"GET\",\"path\":\"/prod/items/42\","
		"\"protocol\":\"HTTP/1.0\",\"routeKey\":\"\",\"api\":\"\",\"stage\":\"\","
		"\"status\":404,\"bytesIn\":78,\"bytesOut\":1234,\"latencyUs\":1234,"
		"\"integrationLatencyUs\":-1,\"integrationStatus\":\"\","
		"\"integrationCpuUs\":-1,\"integrationMaxRssKb\":-1,\"userAgent\":\"\","
		"\"error\":\"Not Found\"}",
		"refused request: empty names, -1 latency, default error message");

	req.error_detail = "no route matches \"GET /x\"";
	CHECK_STR(render(compile(a, (const uint8_t[]){ FNG_ALOG_ERROR }, 1), &req),
		"{\"error\":\"no route matches \\\"GET /x\\\"\"}", "error detail, escaped");
}

/* The client left before the answer: 499, unless the answer had been handed over. */
static void test_gone(struct fng_arena *a)
{
	const struct fng_alog_format *f = compile(a, (const uint8_t[]){ FNG_ALOG_STATUS }, 1);
	struct fng_req req;

	req_init(&req, a);
	req.conn = NULL;
	CHECK_STR(render(f, &req), "{\"status\":499}", "client gone before the answer");
	req.responded = true;
	CHECK_STR(render(f, &req), "{\"status\":200}", "client gone after the answer");
}

/* Whatever the client sent is escaped as RFC 8259 requires; UTF-8 passes through. */
static void test_escaping(struct fng_arena *a)
{
	static const uint8_t ids[] = { FNG_ALOG_PATH, FNG_ALOG_USER_AGENT, FNG_ALOG_METHOD };
	const struct fng_alog_format *f = compile(a, ids, 3);
	struct fng_header h[] = { { FNG_STR("user-agent"), FNG_STR("a\"b\\c\x01\x1f\x7f\t\r\n") } };
	struct fng_req req;

	req_init(&req, a);
	req.path = FNG_STR("/caf\xc3\xa9/\"x\"");
	req.headers = h;
	req.nheaders = 1;
	req.method = (struct fng_str){ "G\0T", 3 };
	CHECK_STR(render(f, &req),
		"{\"path\":\"/caf\xc3\xa9/\\\"x\\\"\","
		"\"userAgent\":\"a\\\"b\\\\c\\u0001\\u001f\\u007f\\t\\r\\n\","
		"\"method\":\"G\\u0000T\"}",
		"quotes, backslashes, control bytes, DEL and NUL escaped");
}

static void test_order_and_empty(struct fng_arena *a)
{
	static const uint8_t ids[] = { FNG_ALOG_STATUS, FNG_ALOG_REQUEST_ID, FNG_ALOG_TIME,
		FNG_ALOG_ERROR };
	struct fng_req req;

	req_init(&req, a);
	CHECK_STR(render(compile(a, ids, 4), &req),
		"{\"status\":200,\"requestId\":\"0123456789abcdef\","
		"\"time\":\"2026-01-01T00:00:00.123Z\",\"error\":\"\"}",
		"fields in the order configured");
	CHECK_STR(render(compile(a, ids, 0), &req), "{}", "no field: an empty object");
	CHECK_STR(render(NULL, &req), "{}", "no format: an empty object");
	CHECK(fng__alog_compile(a, (const uint8_t[]){ FNG_ALOG__COUNT }, 1) == NULL,
		"compile refuses an unknown field");
}

/* ---- the stage ---- */

static struct fng_buf logged;
static int nlogged;

static void log_line(struct fng_req *req, const char *line, size_t len)
{
	(void)req;
	nlogged++;
	logged.len = 0;
	fng__buf_append(&logged, line, len);
	fng__buf_append(&logged, "", 1);
}

static void test_stage(struct fng_arena *a)
{
	static const struct fng_req_ops ops = { .log = log_line };
	static const struct fng_req_ops no_log = { 0 };
	static const uint8_t ids[] = { FNG_ALOG_TIME, FNG_ALOG_STATUS };
	struct fng_config cfg = { 0 };
	struct fng_req req;

	req_init(&req, a);
	req.cfg = &cfg;
	req.ops = &ops;
	cfg.access_log.format = compile(a, ids, 2);
	CHECK_INT(fng__alog_stage_run(&req), FNG_STAGE_NEXT, "log off: next");
	CHECK_INT(nlogged, 0, "log off: no line");

	cfg.access_log.path = "-";
	CHECK_INT(fng__alog_stage_run(&req), FNG_STAGE_NEXT, "log on: next");
	CHECK_INT(nlogged, 1, "log on: one line");
	/* The clock is the real one here: only the shape of the time is known. */
	CHECK(logged.p && logged.len == sizeof("{\"time\":\"2026-01-01T00:00:00.123Z\","
						 "\"status\":200}") &&
			strncmp(logged.p, "{\"time\":\"2", 10) == 0 &&
			strcmp(logged.p + logged.len - 17, "Z\",\"status\":200}") == 0,
		"the line, stamped now, no newline: %s", logged.p ? logged.p : "");

	req.ops = &no_log;
	CHECK_INT(fng__alog_stage_run(&req), FNG_STAGE_NEXT, "no log on this connection: next");
	CHECK_INT(nlogged, 1, "no log on this connection: no line");
	fng__buf_finish(&logged);
}

int main(void)
{
	struct fng_arena *a = fng__arena_create();

	test_table();
	test_every_field(a);
	test_refused(a);
	test_gone(a);
	test_escaping(a);
	test_order_and_empty(a);
	test_stage(a);
	fng__arena_destroy(a);
	fng__buf_finish(&rendered);
	return fng_test_done();
}
