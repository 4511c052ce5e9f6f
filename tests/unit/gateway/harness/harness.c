// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/harness/harness.c (libfngate-test, fngate_test.h), linked like a
 * user's test. A handler compiled in here (rawPath picks a scenario) covers every accessor of
 * an event and a result, repeated headers, a binary body and its JSON, failures and the
 * gateway's 502 rules (a worker bypassing the SDK is played by poking struct fng_ctx), logs,
 * WebSocket calls, JSON events and their errors, a 5 MB body both ways, an event over the
 * wire's cap, the environment, the init and shutdown hooks; handlers of tests/functions
 * cover fng_test_load()'s refusals. The check helpers run in a child, their output read back.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fngate_test.h"
#include "harness.h"
#include "sdk_internal.h"

#define NN(s) ((s) ? (s) : "(null)")
#define BIG (5 * 1024 * 1024)

static int init_calls, shutdown_calls;

static int init_hook(void)
{
	init_calls++;
	return 0;
}

static void shutdown_hook(void)
{
	shutdown_calls++;
}

static int echo(struct fng_ctx *ctx)
{
	size_t len;
	const char *body = fng_event_body(ctx, &len);

	fng_response_header(ctx, "content-type", "text/plain");
	fng_response_printf(ctx, "method=%s path=%s query=%s route=%s\n", fng_event_method(ctx),
		fng_event_raw_path(ctx), fng_event_raw_query(ctx), fng_event_route_key(ctx));
	fng_response_printf(ctx, "q=%s q1=%s tag=%s\n", NN(fng_event_query(ctx, "q")),
		NN(fng_event_query_n(ctx, "q", 1)), NN(fng_event_query(ctx, "tag")));
	fng_response_printf(ctx, "accept=%s accept1=%s\n", NN(fng_event_header(ctx, "Accept")),
		NN(fng_event_header_n(ctx, "accept", 1)));
	fng_response_printf(ctx, "name=%s var=%s cookie=%s sub=%s\n",
		NN(fng_event_path_param(ctx, "name")), NN(fng_event_stage_var(ctx, "table")),
		NN(fng_event_cookie(ctx, "sid")), NN(fng_event_authorizer(ctx, "sub")));
	fng_response_printf(ctx, "api=%s stage=%s id=%s ip=%s\n", fng_event_api(ctx),
		fng_event_stage(ctx), fng_event_request_id(ctx), fng_event_source_ip(ctx));
	fng_response_printf(ctx, "ws=%s/%s/%s\n", fng_event_type(ctx),
		fng_event_connection_id(ctx), fng_event_message_id(ctx));
	fng_response_printf(ctx, "env=%s left=%d\n", NN(fng_env(ctx, "FNG_HARNESS_TEST_ENV")),
		fng_time_left_ms(ctx) > 0 && fng_time_left_ms(ctx) <= 60000);
	fng_response_printf(ctx, "body=%zu:", len);
	return fng_response_write(ctx, body, len);
}

static int handle(struct fng_ctx *ctx)
{
	const char *p = fng_event_raw_path(ctx);
	static const unsigned char bin[] = { 0x00, 0xff, 0x10, 0x80, 'a' };
	size_t len;
	const void *body;

	if (!strcmp(p, "/headers")) {
		fng_response_status(ctx, 201);
		fng_response_header(ctx, "X-Multi", "one");
		fng_response_header(ctx, "x-multi", "two");
		fng_response_header(ctx, "X-Other", "3");
		fng_response_header(ctx, "x-rep", "a");
		fng_response_header(ctx, "x-rep", "b");
		fng_response_cookie(ctx, "a=1; Path=/");
		fng_response_cookie(ctx, "b=2");
		return fng_response_printf(ctx, "made");
	}
	if (!strcmp(p, "/binary")) {
		return fng_response_write(ctx, bin, sizeof(bin));
	}
	if (!strcmp(p, "/fail")) {
		fng_response_header(ctx, "x-partial", "1");
		fng_response_printf(ctx, "half");
		return -1;
	}
	if (!strcmp(p, "/status101")) {
		/* A worker that bypassed the SDK (which refuses 101): the gateway answers 502. */
		ctx->status = 101;
		return 0;
	}
	if (!strcmp(p, "/reserved")) {
		/* The same for a header the gateway owns: dropped, the rest kept. */
		fng_response_header(ctx, "x-kept", "1");
		fng_response_header(ctx, "x-gone", "1");
		ctx->headers[1].k = (struct fng_wire_str){ "Server", 6 };
		return 0;
	}
	if (!strcmp(p, "/cache")) {
		fng_response_cache(ctx, 30, "first");
		fng_response_cache(ctx, 10, "clock, user:42 clock");
		return fng_response_printf(ctx, "cached");
	}
	if (!strcmp(p, "/cache-fail")) {
		fng_response_cache(ctx, 10, "clock");
		return -1;
	}
	if (!strcmp(p, "/cache-101")) {
		fng_response_cache(ctx, 10, "clock");
		ctx->status = 101;
		return 0;
	}
	if (!strcmp(p, "/log")) {
		fng_log(ctx, FNG_LOG_INFO, "first %d", 1);
		fng_log(ctx, FNG_LOG_ERROR, "second\n");
		return fng_response_printf(ctx, "logged");
	}
	if (!strcmp(p, "/ws") || !strcmp(fng_event_type(ctx), "MESSAGE")) {
		fng_ws_send(ctx, "conn-1", "hi", 2, 0);
		fng_ws_send(ctx, "conn-2", bin, sizeof(bin), 1);
		fng_ws_publish(ctx, "room.1", "{\"x\":1}", 7);
		fng_ws_subscribe(ctx, "conn-1", "room.1");
		fng_ws_unsubscribe(ctx, "conn-1", "room.2");
		fng_ws_close(ctx, "conn-2", 4000, "bye");
		body = fng_event_body(ctx, &len);
		return fng_response_write(ctx, body, len);
	}
	if (!strcmp(p, "/big")) {
		body = fng_event_body(ctx, &len);
		return fng_response_write(ctx, body, len);
	}
	return echo(ctx);
}

static const struct fng_handler_desc desc = {
	FNG_ABI_VERSION, "handle", handle, init_hook, shutdown_hook,
};

static struct fng_test_result *run(struct fng_test *t, struct fng_test_event *ev)
{
	struct fng_test_result *r = fng_test_invoke(t, ev);

	if (!r) {
		printf("# invoke: %s\n", fng_test_error(t));
	}
	fng_test_event_free(ev);
	return r;
}

static struct fng_test_result *get(struct fng_test *t, const char *path)
{
	return run(t, fng_test_event_http("GET", path));
}

static void test_accessors(struct fng_test *t)
{
	struct fng_test_event *ev = fng_test_event_http("POST", "/echo/x?q=a%20b&q=2&tag=t");
	struct fng_test_result *r;
	size_t len;
	const char *body;

	CHECK(ev != NULL, "http event");
	CHECK_INT(fng_test_event_add(ev, FNG_TEST_HEADER, "Accept", "text/html"), 0, "add header");
	fng_test_event_add(ev, FNG_TEST_HEADER, "ACCEPT", "*/*");
	fng_test_event_add(ev, FNG_TEST_PATH_PARAM, "name", "ada");
	fng_test_event_add(ev, FNG_TEST_STAGE_VAR, "table", "t1");
	fng_test_event_add(ev, FNG_TEST_COOKIE, "sid", "s3");
	fng_test_event_add(ev, FNG_TEST_AUTHORIZER, "sub", "user-7");
	fng_test_event_set(ev, FNG_TEST_ROUTE_KEY, "POST /echo/{name}");
	fng_test_event_set(ev, FNG_TEST_API, "shop");
	fng_test_event_set(ev, FNG_TEST_STAGE, "prod");
	fng_test_event_set(ev, FNG_TEST_REQUEST_ID, "req-9");
	fng_test_event_set(ev, FNG_TEST_SOURCE_IP, "203.0.113.4");
	fng_test_event_body(ev, "a\0b", 3);
	r = run(t, ev);
	CHECK_INT(fng_test_status(r), 200, "accessors: status");
	CHECK(!fng_test_handler_failed(r), "accessors: not failed");
	CHECK_STR(fng_test_header(r, "Content-Type"), "text/plain", "content-type, any case");
	body = fng_test_body(r, &len);
	CHECK_STR(body, "method=POST path=/echo/x query=q=a%20b&q=2&tag=t route=POST /echo/{name}\n"
		"q=a b q1=2 tag=t\n"
		"accept=text/html accept1=*/*\n"
		"name=ada var=t1 cookie=s3 sub=user-7\n"
		"api=shop stage=prod id=req-9 ip=203.0.113.4\n"
		"ws=//\n"
		"env=from-test left=1\n"
		"body=3:a", "what the handler saw (text up to the NUL)");
	CHECK(len > 3 && !memcmp(body + len - 3, "a\0b", 3), "the body's NUL byte came through");
	CHECK_INT(fng_test_log_count(r), 0, "no log");
	CHECK_INT(fng_test_ws_count(r), 0, "no WebSocket call");
	fng_test_result_free(r);

	/* A query added in C: the raw query string is rebuilt, percent-encoded. */
	ev = fng_test_event_http("GET", "/echo");
	fng_test_event_add(ev, FNG_TEST_QUERY, "q", "x&y");
	fng_test_event_add(ev, FNG_TEST_QUERY, "q", "2");
	r = run(t, ev);
	CHECK(strstr(fng_test_body(r, NULL), "query=q=x%26y&q=2 ") != NULL,
		"raw query rebuilt from added parameters");
	CHECK(strstr(fng_test_body(r, NULL), "q=x&y q1=2 tag=(null)") != NULL,
		"added query parameters, repeated");
	CHECK(strstr(fng_test_body(r, NULL), "route=$default") != NULL, "default route key");
	fng_test_result_free(r);

	CHECK(fng_test_event_add(NULL, FNG_TEST_HEADER, "a", "b") == -1, "add on NULL: -1");
	ev = fng_test_event_http("GET", "/");
	CHECK(fng_test_event_add(ev, (enum fng_test_list)99, "a", "b") == -1, "bad list: -1");
	CHECK(fng_test_event_add(ev, FNG_TEST_HEADER, "", "b") == -1, "empty name: -1");
	CHECK(fng_test_event_set(ev, (enum fng_test_field)99, "x") == -1, "bad field: -1");
	CHECK(fng_test_event_body(ev, NULL, 3) == -1, "NULL body with a length: -1");
	fng_test_event_free(ev);
	CHECK(fng_test_event_http(NULL, "/") == NULL, "http event without a method: NULL");
	CHECK(fng_test_event_ws(FNG_TEST_MESSAGE, "") == NULL, "ws event without an id: NULL");
}

static void test_headers(struct fng_test *t)
{
	struct fng_test_result *r = get(t, "/headers");
	const char *name = NULL, *v;
	size_t n = 0;

	CHECK_INT(fng_test_status(r), 201, "handler's status");
	CHECK_STR(fng_test_header(r, "x-multi"), "one", "first of a repeated header");
	CHECK_STR(fng_test_header_n(r, "X-MULTI", 1), "two", "second of it");
	CHECK_STR(fng_test_header_n(r, "x-multi", 2), NULL, "past the last: NULL");
	CHECK_STR(fng_test_header(r, "set-cookie"), "a=1; Path=/", "cookies as Set-Cookie");
	CHECK_STR(fng_test_header_n(r, "Set-Cookie", 1), "b=2", "second cookie");
	CHECK_STR(fng_test_header(r, "x-none"), NULL, "absent header: NULL");
	while ((v = fng_test_header_at(r, n, &name)) != NULL) {
		n++;
	}
	CHECK_INT(n, 7, "every header by position");
	CHECK_STR(fng_test_header_at(r, 2, &name), "3", "third header's value");
	CHECK_STR(name, "X-Other", "and its name as the handler wrote it");
	CHECK(strstr(NN(fng_test_result_json(r)), "\"x-rep\": \"a,b\"") != NULL,
		"2.0 JSON joins the repeated header");
	CHECK(strstr(NN(fng_test_result_json(r)), "\"cookies\": [\n    \"a=1; Path=/\"") != NULL,
		"2.0 JSON keeps cookies apart");
	fng_test_result_free(r);
}

static void test_binary(struct fng_test *t)
{
	struct fng_test_result *r = get(t, "/binary");
	size_t len;
	const unsigned char *b = (const unsigned char *)fng_test_body(r, &len);
	const char *json = fng_test_result_json(r);

	CHECK_INT(len, 5, "binary body length");
	CHECK(len == 5 && b[0] == 0 && b[1] == 0xff && b[4] == 'a', "binary body bytes");
	CHECK(json && strstr(json, "\"isBase64Encoded\": true"), "JSON: isBase64Encoded");
	CHECK(json && strstr(json, "\"body\": \"AP8QgGE=\""), "JSON: body in base64");
	CHECK(fng_test_result_json(r) == json, "the JSON is made once");
	fng_test_result_free(r);
}

static void test_failures(struct fng_test *t)
{
	struct fng_test_result *r = get(t, "/fail");
	const char *json = fng_test_result_json(r);

	CHECK_INT(fng_test_status(r), 502, "handler failure: 502");
	CHECK(fng_test_handler_failed(r), "handler failure: failed");
	CHECK_STR(fng_test_header(r, "x-partial"), NULL, "nothing of the half-built response");
	CHECK_STR(fng_test_header(r, "content-type"), "application/json", "the gateway's type");
	CHECK_STR(fng_test_body(r, NULL), "{\"message\":\"function returned an error\"}\n",
		"the gateway's body");
	CHECK(json && strstr(json, "\"statusCode\": 502") && strstr(json, "\"error\""),
		"JSON: 502 and an error");
	fng_test_result_free(r);

	r = get(t, "/status101");
	CHECK_INT(fng_test_status(r), 502, "status 101 from a worker: 502");
	CHECK(!fng_test_handler_failed(r), "not the handler's failure");
	CHECK(strstr(fng_test_body(r, NULL), "not a final HTTP status") != NULL,
		"the gateway's message");
	json = fng_test_result_json(r);
	CHECK(json && strstr(json, "\"statusCode\": 502"), "JSON: 502 too");
	fng_test_result_free(r);

	r = get(t, "/reserved");
	CHECK_INT(fng_test_status(r), 200, "reserved header: still answered");
	CHECK_STR(fng_test_header(r, "server"), NULL, "a header the gateway owns is dropped");
	CHECK_STR(fng_test_header(r, "x-kept"), "1", "the others kept");
	fng_test_result_free(r);
}

static void test_cache(struct fng_test *t)
{
	struct fng_test_result *r = get(t, "/cache");

	CHECK_INT(fng_test_cache_ttl(r), 10, "cache: the TTL of the last call");
	CHECK_STR(fng_test_cache_tag(r, 0), "clock", "cache: first tag");
	CHECK_STR(fng_test_cache_tag(r, 1), "user:42", "cache: second tag");
	CHECK_STR(fng_test_cache_tag(r, 2), NULL, "cache: a repeat once, NULL past the last");
	fng_test_result_free(r);

	r = get(t, "/headers");
	CHECK_INT(fng_test_cache_ttl(r), -1, "no fng_response_cache(): -1");
	CHECK_STR(fng_test_cache_tag(r, 0), NULL, "no fng_response_cache(): no tag");
	fng_test_result_free(r);

	r = get(t, "/cache-fail");
	CHECK_INT(fng_test_cache_ttl(r), -1, "a handler failure: -1 (a 502 is never cached)");
	fng_test_result_free(r);
	r = get(t, "/cache-101");
	CHECK_INT(fng_test_status(r), 502, "cache with status 101: 502");
	CHECK_INT(fng_test_cache_ttl(r), -1, "cache with a status the gateway refuses: -1");
	fng_test_result_free(r);
	CHECK_INT(fng_test_cache_ttl(NULL), -1, "NULL result: -1");
	{
		uint64_t cpu = 0, rss = 0;

		r = get(t, "/headers");
		CHECK(fng_test_cost(r, &cpu, &rss) == 0 && rss > 0 && cpu < 10000000,
			"cost: every answer carries one (cpu %llu us, peak %llu KiB)",
			(unsigned long long)cpu, (unsigned long long)rss);
		CHECK_INT(fng_test_cost(r, NULL, NULL), 0, "cost: NULL pointers are fine");
		fng_test_result_free(r);
		CHECK_INT(fng_test_cost(NULL, &cpu, &rss), -1, "cost: NULL result: -1");
	}
	CHECK_STR(fng_test_cache_tag(NULL, 0), NULL, "NULL result: no tag");
}

static void test_logs(struct fng_test *t)
{
	struct fng_test_result *r = get(t, "/log");
	enum fng_log_level level = FNG_LOG_DEBUG;

	CHECK_INT(fng_test_log_count(r), 2, "two log lines");
	CHECK_STR(fng_test_log(r, 0, &level), "first 1", "first line");
	CHECK_INT(level, FNG_LOG_INFO, "its level");
	CHECK_STR(fng_test_log(r, 1, &level), "second", "second line, newline trimmed");
	CHECK_INT(level, FNG_LOG_ERROR, "its level");
	CHECK_STR(fng_test_log(r, 2, NULL), NULL, "past the last: NULL");
	CHECK_STR(fng_test_body(r, NULL), "logged", "and the body");
	fng_test_result_free(r);
}

static void check_ws_calls(struct fng_test_result *r, const char *what)
{
	const struct fng_test_ws_call *c;

	CHECK_INT(fng_test_ws_count(r), 6, "%s: six WebSocket calls", what);
	c = fng_test_ws_call(r, 0);
	CHECK(c && c->kind == FNG_TEST_WS_SEND && !strcmp(c->connection_id, "conn-1") &&
		c->len == 2 && !memcmp(c->data, "hi", 2) && !c->binary && !*c->topic,
		"%s: send text", what);
	c = fng_test_ws_call(r, 1);
	CHECK(c && c->kind == FNG_TEST_WS_SEND && c->binary && c->len == 5 &&
		((const unsigned char *)c->data)[1] == 0xff, "%s: send binary", what);
	c = fng_test_ws_call(r, 2);
	CHECK(c && c->kind == FNG_TEST_WS_PUBLISH && !strcmp(c->topic, "room.1") &&
		!strcmp(c->data, "{\"x\":1}") && !*c->connection_id, "%s: publish", what);
	c = fng_test_ws_call(r, 3);
	CHECK(c && c->kind == FNG_TEST_WS_SUBSCRIBE && !strcmp(c->connection_id, "conn-1") &&
		!strcmp(c->topic, "room.1"), "%s: subscribe", what);
	c = fng_test_ws_call(r, 4);
	CHECK(c && c->kind == FNG_TEST_WS_UNSUBSCRIBE && !strcmp(c->topic, "room.2"),
		"%s: unsubscribe", what);
	c = fng_test_ws_call(r, 5);
	CHECK(c && c->kind == FNG_TEST_WS_CLOSE && !strcmp(c->connection_id, "conn-2") &&
		c->code == 4000 && !strcmp(c->data, "bye"), "%s: close", what);
	CHECK(fng_test_ws_call(r, 6) == NULL, "%s: past the last: NULL", what);
}

static void test_ws(struct fng_test *t)
{
	struct fng_test_event *ev;
	struct fng_test_result *r = get(t, "/ws");

	check_ws_calls(r, "HTTP event");
	fng_test_result_free(r);

	ev = fng_test_event_ws(FNG_TEST_MESSAGE, "conn-9");
	fng_test_event_body(ev, "ping", 4);
	r = run(t, ev);
	check_ws_calls(r, "MESSAGE event");
	CHECK_STR(fng_test_body(r, NULL), "ping", "MESSAGE: body back");
	CHECK(strstr(NN(fng_test_result_json(r)), "\"statusCode\": 200") != NULL,
		"MESSAGE: JSON");
	fng_test_result_free(r);

	ev = fng_test_event_ws(FNG_TEST_CONNECT, "conn-9");
	r = run(t, ev);
	CHECK(strstr(fng_test_body(r, NULL), "route=$connect\n") != NULL, "CONNECT: route");
	CHECK(strstr(fng_test_body(r, NULL), "ws=CONNECT/conn-9/\n") != NULL,
		"CONNECT: type and connection id");
	fng_test_result_free(r);

	ev = fng_test_event_ws(FNG_TEST_DISCONNECT, "conn-9");
	fng_test_event_set(ev, FNG_TEST_ROUTE_KEY, "custom");
	r = run(t, ev);
	CHECK(strstr(fng_test_body(r, NULL), "route=custom\n") != NULL, "DISCONNECT: set route");
	CHECK(strstr(fng_test_body(r, NULL), "ws=DISCONNECT/conn-9/\n") != NULL,
		"DISCONNECT: type");
	fng_test_result_free(r);
}

static void test_json_events(struct fng_test *t)
{
	char err[256], path[512];
	struct fng_test_event *ev;
	struct fng_test_result *r;
	const char *json;

	snprintf(path, sizeof(path), "%s/v1.json", FNG_INVOKE_SAMPLES);
	ev = fng_test_event_file(path, err, sizeof(err));
	CHECK(ev != NULL, "payload 1.0 file: %s", err);
	fng_test_event_add(ev, FNG_TEST_HEADER, "Accept", "text/csv");
	fng_test_event_add(ev, FNG_TEST_COOKIE, "sid", "json-added");
	r = run(t, ev);
	CHECK(strstr(fng_test_body(r, NULL), "method=PUT path=/items/42 query=tag=a&tag=b&q="
		"hello%20world route=PUT /items/{id}\n") != NULL,
		"1.0: method, path, query, route");
	CHECK(strstr(fng_test_body(r, NULL), "accept=text/csv") != NULL, "1.0: added header");
	CHECK(strstr(fng_test_body(r, NULL), "cookie=json-added") != NULL, "1.0: added cookie");
	CHECK(strstr(fng_test_body(r, NULL), "stage=prod id=id-v1 ip=203.0.113.9") != NULL,
		"1.0: context");
	json = fng_test_result_json(r);
	CHECK(json && strstr(json, "\"multiValueHeaders\""), "1.0 JSON: multiValueHeaders");
	fng_test_result_free(r);

	snprintf(path, sizeof(path), "%s/v2.json", FNG_INVOKE_SAMPLES);
	ev = fng_test_event_file(path, err, sizeof(err));
	CHECK(ev != NULL, "payload 2.0 file: %s", err);
	r = run(t, ev);
	CHECK_INT(fng_test_status(r), 200, "2.0: status");
	json = fng_test_result_json(r);
	CHECK(json && strstr(json, "\"cookies\"") && !strstr(json, "multiValueHeaders"),
		"2.0 JSON shape");
	fng_test_result_free(r);

	snprintf(path, sizeof(path), "%s/websocket.json", FNG_INVOKE_SAMPLES);
	ev = fng_test_event_file(path, err, sizeof(err));
	CHECK(ev != NULL, "WebSocket file: %s", err);
	r = run(t, ev);
	CHECK_STR(fng_test_body(r, NULL), "{\"action\":\"sendmessage\",\"text\":\"hi\"}",
		"WebSocket MESSAGE from JSON: its body");
	CHECK_INT(fng_test_ws_count(r), 6, "and the handler's WebSocket calls");
	json = fng_test_result_json(r);
	CHECK(json && strstr(json, "\"statusCode\": 200"), "WebSocket JSON");
	fng_test_result_free(r);

	ev = fng_test_event_json("{\"rawPath\": \"/echo\"", 19, err, sizeof(err));
	CHECK(ev == NULL, "truncated JSON: NULL");
	CHECK(strstr(err, "event JSON:1:") != NULL, "with line and column: %s", err);
	ev = fng_test_event_json("[1, 2]", 6, err, sizeof(err));
	CHECK(ev == NULL, "an array: NULL");
	CHECK(strstr(err, "must be a JSON object") != NULL, "said why: %s", err);
	json = "{\"body\":\"not*base64!\",\"isBase64Encoded\":true}";
	ev = fng_test_event_json(json, strlen(json), err, sizeof(err));
	CHECK(ev == NULL, "bad base64: NULL");
	CHECK(strstr(err, "not base64") != NULL, "said why: %s", err);
	ev = fng_test_event_file("/nonexistent/ev.json", err, sizeof(err));
	CHECK(ev == NULL && strstr(err, "/nonexistent/ev.json") != NULL, "missing file: %s", err);
	CHECK(fng_test_event_json(NULL, 0, err, sizeof(err)) == NULL, "NULL JSON: NULL");
}

static void test_big(struct fng_test *t)
{
	char *big = malloc(BIG + 1);
	struct fng_test_event *ev = fng_test_event_http("POST", "/big");
	struct fng_test_result *r;
	size_t len;
	const char *b;

	for (size_t i = 0; i < BIG; i++) {
		big[i] = (char)('a' + i % 26);
	}
	fng_test_event_body(ev, big, BIG);
	r = fng_test_invoke(t, ev);
	b = fng_test_body(r, &len);
	CHECK_INT(len, BIG, "5 MB body back");
	CHECK(len == BIG && !memcmp(b, big, BIG), "its bytes");
	fng_test_result_free(r);
	free(big);
	big = calloc(1, 12 * 1024 * 1024);
	fng_test_event_body(ev, big, 12 * 1024 * 1024);
	r = fng_test_invoke(t, ev);
	CHECK(r == NULL, "12 MB event: NULL");
	CHECK(strstr(fng_test_error(t), "over the wire's limits") != NULL, "said why: %s",
		fng_test_error(t));
	fng_test_event_free(ev);
	free(big);
	r = get(t, "/headers");
	CHECK_INT(fng_test_status(r), 201, "still serving after a refused event");
	fng_test_result_free(r);
}

static void test_load(void)
{
	char err[512], path[512];
	struct fng_test *t;
	struct fng_test_result *r;

	t = fng_test_load("/nonexistent/h.so", err, sizeof(err));
	CHECK(t == NULL && strstr(err, "No such file"), "missing .so: %s", err);
	snprintf(path, sizeof(path), "%s/no_desc.so", FNG_TEST_FUNCTIONS);
	t = fng_test_load(path, err, sizeof(err));
	CHECK(t == NULL && strstr(err, "no fng_handler_desc"), "no handler: %s", err);
	snprintf(path, sizeof(path), "%s/abi_bad.so", FNG_TEST_FUNCTIONS);
	t = fng_test_load(path, err, sizeof(err));
	CHECK(t == NULL && strstr(err, "ABI 999"), "ABI mismatch: %s", err);
	snprintf(path, sizeof(path), "%s/meson.build", FNG_TEST_SOURCE_FUNCTIONS);
	t = fng_test_load(path, err, sizeof(err));
	CHECK(t == NULL && *err, "not a shared object: %s", err);

	snprintf(path, sizeof(path), "%s/init_fail.so", FNG_TEST_FUNCTIONS);
	t = fng_test_load(path, err, sizeof(err));
	CHECK(t != NULL, "init_fail.so loads: %s", err);
	CHECK_INT(fng_test_start(t), -1, "its init hook fails");
	CHECK(strstr(fng_test_error(t), "init hook") && strstr(fng_test_error(t), "-1"),
		"said so: %s", fng_test_error(t));
	r = get(t, "/");
	CHECK(r == NULL && strstr(fng_test_error(t), "init hook"), "invoke after: NULL, %s",
		fng_test_error(t));
	fng_test_close(t);

	snprintf(path, sizeof(path), "%s/ok.so", FNG_TEST_FUNCTIONS);
	t = fng_test_load(path, err, sizeof(err));
	CHECK(t != NULL, "ok.so loads: %s", err);
	CHECK_INT(fng_test_env(t, "FNG_TEST_ECHO", "from-env"), 0, "manifest env");
	r = get(t, "/");
	CHECK_STR(fng_test_body(r, NULL), "from-env", "ok.so answers with its env");
	fng_test_result_free(r);
	CHECK_INT(fng_test_env(t, "FNG_TEST_ECHO", "late"), -1, "env after start: -1");
	fng_test_close(t);
	CHECK_STR(getenv("FNG_TEST_ECHO"), NULL, "env put back at close");

	CHECK(fng_test_open(NULL, err, sizeof(err)) == NULL && *err, "open NULL: %s", err);
	{
		struct fng_handler_desc old = desc;

		old.abi = 0;
		CHECK(fng_test_open(&old, err, sizeof(err)) == NULL && strstr(err, "ABI 0"),
			"open of another ABI: %s", err);
	}
}

static void test_nulls(void)
{
	size_t len = 9;

	CHECK_INT(fng_test_status(NULL), 0, "status of NULL");
	CHECK(!fng_test_handler_failed(NULL), "failed of NULL");
	CHECK_STR(fng_test_body(NULL, &len), "", "body of NULL");
	CHECK_INT(len, 0, "its length");
	CHECK_STR(fng_test_header(NULL, "a"), NULL, "header of NULL");
	CHECK_INT(fng_test_log_count(NULL) + fng_test_ws_count(NULL), 0, "counts of NULL");
	CHECK(fng_test_result_json(NULL) == NULL, "JSON of NULL");
	CHECK(fng_test_invoke(NULL, NULL) == NULL, "invoke NULL");
	fng_test_close(NULL);
	fng_test_event_free(NULL);
	fng_test_result_free(NULL);
}

/* The check helpers, in a child whose stdout comes back through a pipe. */
static void test_checks(void)
{
	int p[2], status;
	char out[512] = "";
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	fflush(stdout);
	if (pipe(p)) {
		CHECK(0, "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		fng_test_check(true, "fine %d", 1);
		fng_test_check_str("a", "b", "strings");
		fng_test_check_int(3, 3, "ints");
		fng_test_check_str(NULL, NULL, "nulls");
		fng_test_check_str("a\n\"b\"\t", NULL, "escaped");
		_exit(fng_test_check_end());
	}
	close(p[1]);
	while (n < sizeof(out) - 1 && (r = read(p[0], out + n, sizeof(out) - 1 - n)) > 0) {
		n += (size_t)r;
	}
	out[n] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "a failed check: exit status 1");
	CHECK_STR(out, "ok 1 - fine 1\nnot ok 2 - strings\n# got \"a\", want \"b\"\n"
		"ok 3 - ints\nok 4 - nulls\nnot ok 5 - escaped\n# got \"a\\n\\\"b\\\"\\x09\", "
		"want NULL\n1..5\n", "TAP lines, diagnostics on one line");
}

int main(void)
{
	char err[256];
	struct fng_test *t = fng_test_open(&desc, err, sizeof(err));

	CHECK(t != NULL, "open: %s", err);
	if (!t) {
		return fng_test_done();
	}
	CHECK_INT(fng_test_env(t, "FNG_HARNESS_TEST_ENV", "from-test"), 0, "env before start");
	CHECK_INT(fng_test_timeout(t, 0), -1, "timeout 0: -1");
	CHECK_INT(fng_test_timeout(t, 10000), 0, "timeout");
	CHECK_INT(init_calls, 0, "init not run at open");
	test_accessors(t);
	CHECK_INT(init_calls, 1, "init ran once, at the first invocation");
	test_headers(t);
	test_binary(t);
	test_failures(t);
	test_cache(t);
	test_logs(t);
	test_ws(t);
	test_json_events(t);
	test_big(t);
	CHECK_INT(init_calls, 1, "init ran once in all");
	CHECK_INT(shutdown_calls, 0, "no shutdown yet");
	fng_test_close(t);
	CHECK_INT(shutdown_calls, 1, "shutdown hook ran at close");
	CHECK_STR(getenv("FNG_HARNESS_TEST_ENV"), NULL, "env unset again at close");
	test_load();
	test_nulls();
	test_checks();
	return fng_test_done();
}
