// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/http.c and gateway/stages.c without sockets: requests go through the
 * loopback transport (pre-validator, llhttp, body decoder, stage table, integration,
 * serializer) and the bytes that would reach the client are checked. A deferred integration
 * replaces the mock to test the exactly-once contract of PENDING stages under resume, error
 * and client disconnect.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "errors.h"
#include "harness.h"
#include "http.h"
#include "transport.h"
#include "integration.h"
#include "stages.h"
#include "topic.h"

static const char config[] =
	"server:\n"
	"  listen: ['127.0.0.1:0']\n"
	"  limits: { body_bytes: 64 }\n"
	"access_log: { path: 'off' }\n"
	"apis:\n"
	"  a:\n"
	"    stages:\n"
	"      dev: { variables: { who: world } }\n"
	"    routes:\n"
	"      'GET /hi/{name}':\n"
	"        integration: { type: mock, body: 'hi ${request.path.name} ${stageVariables.who}' }\n"
	"      'POST /up':\n"
	"        integration: { type: mock, status: 201, body: 'up' }\n"
	"      'GET /c':\n"
	"        integration: { type: mock, chunked: true, body: 'chunky' }\n";

static uv_loop_t loop;
static struct fng_server srv;

static struct fng_loopback *conn(void)
{
	return fng__loopback_create(&srv);
}

static const char *out(struct fng_loopback *lb)
{
	fng__buf_append(&lb->output, "", 1);
	lb->output.len--;
	return lb->output.p ? lb->output.p : "";
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) {
		n++;
	}
	return n;
}

static void feed(struct fng_loopback *lb, const char *s)
{
	fng__loopback_feed(lb, s, strlen(s));
}

static void test_basic(void)
{
	struct fng_loopback *lb = conn();

	feed(lb, "GET /dev/hi/ada HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(strncmp(out(lb), "HTTP/1.1 200 OK\r\n", 17) == 0, "GET answers 200");
	CHECK(strstr(out(lb), "\r\n\r\nhi ada world") != NULL, "mock body with param and stage var");
	CHECK(strstr(out(lb), "Content-Length: 12\r\n") != NULL, "content length");
	CHECK(!lb->fin && !lb->closed, "connection stays open");
	fng__loopback_destroy(lb);
}

static void test_pipeline_split(void)
{
	const char *reqs = "GET /dev/hi/1 HTTP/1.1\r\nHost: x\r\n\r\n"
			   "POST /dev/up HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
			   "GET /dev/hi/3 HTTP/1.1\r\nHost: x\r\n\r\n";
	struct fng_loopback *whole = conn(), *bytes = conn();
	const char *a, *b, *c;

	feed(whole, reqs);
	for (const char *p = reqs; *p; p++) {
		fng__loopback_feed(bytes, p, 1);
	}
	a = strstr(out(whole), "hi 1 world");
	b = strstr(out(whole), "201 Created");
	c = strstr(out(whole), "hi 3 world");
	CHECK(a && b && c && a < b && b < c, "pipelined responses in request order");
	CHECK_INT(count(out(bytes), "HTTP/1.1 "), 3, "byte-at-a-time input gives three responses");
	CHECK(strstr(out(bytes), "hi 3 world") != NULL, "byte-at-a-time last response");
	fng__loopback_destroy(whole);
	fng__loopback_destroy(bytes);
}

static void test_continue_and_limits(void)
{
	struct fng_loopback *lb = conn();

	feed(lb, "POST /dev/up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	CHECK_STR(out(lb), "HTTP/1.1 100 Continue\r\n\r\n", "100 Continue before the body");
	feed(lb, "ok");
	CHECK(strstr(out(lb), "201 Created") != NULL, "then the response");
	fng__loopback_destroy(lb);

	lb = conn();
	feed(lb, "POST /dev/up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 65\r\n\r\n");
	CHECK(strncmp(out(lb), "HTTP/1.1 413 ", 13) == 0, "413 instead of 100 Continue");
	CHECK(strstr(out(lb), "100 Continue") == NULL, "no 100 Continue for a refused upload");
	CHECK(lb->fin, "connection closed after 413");
	fng__loopback_destroy(lb);

	lb = conn();
	feed(lb, "POST /dev/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
	CHECK(strncmp(out(lb), "HTTP/1.1 404 ", 13) == 0, "404 before the body is read");
	CHECK(strstr(out(lb), "Connection: close") != NULL, "and close: the body is unread");
	fng__loopback_destroy(lb);

	lb = conn();
	feed(lb, "POST /dev/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "40\r\n");
	feed(lb, "0123456789012345678901234567890123456789012345678901234567890123\r\n");
	feed(lb, "1\r\nx\r\n0\r\n\r\n");
	CHECK(strncmp(out(lb), "HTTP/1.1 413 ", 13) == 0, "chunked body over the limit: 413");
	fng__loopback_destroy(lb);
}

static void test_chunked_and_head(void)
{
	struct fng_loopback *lb = conn();

	feed(lb, "GET /dev/c HTTP/1.1\r\nHost: x\r\n\r\nHEAD /dev/c HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(strstr(out(lb), "Transfer-Encoding: chunked\r\n\r\n6\r\nchunky\r\n0\r\n\r\n") != NULL,
		"chunked response");
	CHECK_INT(count(out(lb), "chunky"), 1, "HEAD response has no body");
	fng__loopback_destroy(lb);

	lb = conn();
	feed(lb, "GET /dev/c HTTP/1.0\r\n\r\n");
	CHECK(strstr(out(lb), "Content-Length: 6\r\n") != NULL, "HTTP/1.0 gets Content-Length");
	CHECK(lb->fin, "HTTP/1.0 without keep-alive closes");
	fng__loopback_destroy(lb);
}

static void test_refusals(void)
{
	static const struct {
		const char *in;
		const char *status;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\rXGET / HTTP/1.1\r\n\r\n", "400" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
			"400" },
		{ "POST /dev/up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "3\r\nabcXX0\r\n\r\n", "400" },
		{ "GET /dev/hi/x HTTP/1.1\r\n\r\n", "400" },
		{ "GET /dev/hi/x HTTP/2.0\r\nHost: a\r\n\r\n", "505" },
		{ "GET /dev/hi/x HTTP/1.1\r\nHost: a\r\nExpect: x\r\n\r\n", "417" },
		{ "POST /dev/up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fng_loopback *lb = conn();
		char want[32];

		feed(lb, cases[i].in);
		feed(lb, "GET /dev/hi/smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
		snprintf(want, sizeof(want), "HTTP/1.1 %s ", cases[i].status);
		CHECK(strncmp(out(lb), want, strlen(want)) == 0, "refusal %zu answers %s", i,
			cases[i].status);
		CHECK_INT(count(out(lb), "x-request-id:"), 1, "refusal %zu: exactly one response", i);
		CHECK(strstr(out(lb), "{\"message\":\"") != NULL, "refusal %zu: JSON message", i);
		CHECK(lb->fin, "refusal %zu: connection closed", i);
		fng__loopback_destroy(lb);
	}
}

/* ---- a deferred integration: the exactly-once contract of PENDING stages ---- */

static struct {
	struct fng_req *pending;
	int starts, cancels;
	int fail_start;
} deferred;

static int deferred_start(struct fng_req *req)
{
	deferred.starts++;
	if (deferred.fail_start) {
		return FNG_EBAD_GATEWAY;
	}
	deferred.pending = req;
	return FNG_STAGE_PENDING;
}

static void deferred_cancel(struct fng_req *req)
{
	deferred.cancels++;
}

static const struct fng_integration_ops deferred_ops = {
	.name = "deferred",
	.start = deferred_start,
	.cancel = deferred_cancel,
};

static void complete(int rc, int status, const char *body)
{
	struct fng_req *req = deferred.pending;

	deferred.pending = NULL;
	if (rc >= 0) {
		req->resp.status = status;
		fng__buf_str(&req->resp.body, body);
	}
	fng__req_resume(req, rc);
}

static void test_pending(void)
{
	const struct fng_integration_ops *mock;
	struct fng_loopback *lb;

	mock = fng__integration_register(FNG_INTEGRATION_MOCK, &deferred_ops);

	/* Resumed later: the response leaves then, and the waiting pipelined request follows. */
	lb = conn();
	feed(lb, "GET /dev/hi/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /dev/hi/2 HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(deferred.pending != NULL && lb->output.len == 0, "pending: nothing answered yet");
	CHECK_INT(deferred.starts, 1, "second request waits for the first");
	complete(FNG_STAGE_DONE, 200, "one");
	CHECK(strstr(out(lb), "one") != NULL, "first response after resume");
	CHECK_INT(deferred.starts, 2, "the waiting request started after the first finished");
	complete(FNG_STAGE_DONE, 202, "two");
	CHECK(strstr(out(lb), "202 Accepted") != NULL, "second response");
	fng__loopback_destroy(lb);

	/* Resumed with an error: the edge answers 502. */
	lb = conn();
	feed(lb, "GET /dev/hi/1 HTTP/1.1\r\nHost: x\r\n\r\n");
	complete(FNG_EBAD_GATEWAY, 0, NULL);
	CHECK(strncmp(out(lb), "HTTP/1.1 502 ", 13) == 0, "resume with error: 502");
	CHECK(strstr(out(lb), "\"message\"") != NULL, "resume with error: JSON message");
	fng__loopback_destroy(lb);

	/* Fails up front: the callback never runs, the edge answers. */
	deferred.fail_start = 1;
	lb = conn();
	feed(lb, "GET /dev/hi/1 HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(deferred.pending == NULL, "failed start leaves nothing pending");
	CHECK(strncmp(out(lb), "HTTP/1.1 502 ", 13) == 0, "failed start: 502");
	fng__loopback_destroy(lb);
	deferred.fail_start = 0;

	/* Client gone while pending: cancel once, the late resume writes nothing. */
	deferred.cancels = 0;
	lb = conn();
	feed(lb, "GET /dev/hi/1 HTTP/1.1\r\nHost: x\r\n\r\n");
	fng__loopback_destroy(lb);
	CHECK_INT(deferred.cancels, 1, "disconnect cancels the pending integration once");
	CHECK(deferred.pending != NULL, "the request is still owed its resume");
	complete(UV_ECANCELED, 0, NULL);
	CHECK_INT(deferred.cancels, 1, "no second cancel");

	/* EOF while the request is pending: the client gave up; cancelled, nothing written. */
	deferred.cancels = 0;
	lb = conn();
	feed(lb, "GET /dev/hi/1 HTTP/1.1\r\nHost: x\r\n\r\n");
	fng__loopback_eof(lb);
	CHECK(lb->closed, "EOF during a pending request closes the connection");
	CHECK_INT(deferred.cancels, 1, "and cancels the integration once");
	complete(FNG_STAGE_DONE, 200, "late");
	CHECK_INT((long long)lb->output.len, 0, "the late answer is not written");
	fng__loopback_destroy(lb);

	fng__integration_register(FNG_INTEGRATION_MOCK, mock);
}

/*
 * Two loops in one process, each with its own state (server.h): a connection on each is
 * served by its own loop, counted by its own server, and what one loop publishes to a topic
 * the other does not have. serve runs one loop; nothing in the gateway assumes there is one.
 */
static void test_two_loops(struct fng_config *cfg)
{
	uv_loop_t loop2;
	struct fng_server srv2;
	struct fng_loopback *a, *b;
	uint64_t seq = 0;

	uv_loop_init(&loop2);
	CHECK_INT(fng__server_init(&srv2, &loop2, fng__config_ref(cfg), NULL), 0,
		"a second loop's state");
	a = fng__loopback_create(&srv);
	b = fng__loopback_create(&srv2);
	CHECK_INT(srv.nconns, 1, "the first loop has its connection");
	CHECK_INT(srv2.nconns, 1, "the second loop has its own");
	feed(a, "GET /dev/hi/ada HTTP/1.1\r\nHost: x\r\n\r\n");
	feed(b, "GET /dev/hi/bob HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(strstr(out(a), "\r\n\r\nhi ada world") != NULL, "the first loop answers its request");
	CHECK(strstr(out(b), "\r\n\r\nhi bob world") != NULL, "the second loop answers its own");
	CHECK_INT(fng__topic_publish(&srv2, "loops", 5, "1", 1, &seq, NULL), 0,
		"the second loop publishes to a topic");
	CHECK_INT(fng__topic_last_seq(&srv, "loops", 5), 0, "... which the first loop has not");
	fng__loopback_destroy(a);
	fng__loopback_destroy(b);
	CHECK_INT(srv2.nconns, 0, "the second loop's connection released");
	fng__server_finish(&srv2);
	CHECK_INT(uv_loop_close(&loop2), 0, "the second loop closes with nothing left on it");
}

int main(void)
{
	struct fng_config *cfg;
	struct fng_buf errors = { 0 };

	if (fng__config_load_string("t.yaml", config, sizeof(config) - 1, &cfg, &errors)) {
		printf("# %.*s", (int)errors.len, errors.p);
		return 1;
	}
	uv_loop_init(&loop);
	fng__server_init(&srv, &loop, cfg, NULL);

	test_basic();
	test_pipeline_split();
	test_continue_and_limits();
	test_chunked_and_head();
	test_refusals();
	test_pending();
	test_two_loops(cfg);

	CHECK_INT(srv.nconns, 0, "every connection released");
	fng__server_finish(&srv);
	uv_loop_close(&loop);
	fng__arena_cache_drain();
	fng__buf_finish(&errors);
	return fng_test_done();
}
