// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/integration/dashboard.c and gateway/ws/ws_push.c without sockets: an
 * admin listener's connection over the loopback transport. The page's refusals and security
 * headers; the live feed's handshake (the token, a session cookie, a foreign Origin, the cap
 * of 8 feeds), its first frame from the loop's timer (the exposition and the recent JSON), a
 * ping answered with its payload, a client's message ended with 1003, a drain with 1001, a
 * client's close answered; one data frame in flight at a time (-EBUSY for the next, a pong
 * behind it); and every connection released at the end.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "daemon.h"
#include "dashboard.h"
#include "harness.h"
#include "http.h"
#include "../loopback_test.h"
#include "transport.h"
#include "ws_push.h"

#define TOKEN "unit-admin-token-0123456789"
#define ORIGIN "Origin: http://127.0.0.1:9901\r\n"

static const char config[] =
	"server: { listen: ['127.0.0.1:0'] }\n"
	"access_log: { path: 'off' }\n"
	"admin: { listen: '127.0.0.1:0', token: '" TOKEN "' }\n"
	"apis:\n"
	"  a:\n"
	"    stages: { s: {} }\n"
	"    routes:\n"
	"      'GET /m': { integration: { type: mock, body: 'm' } }\n";

static uv_loop_t loop;
static struct fng_server srv;

static struct fng_loopback *admin_conn(void)
{
	struct fng_loopback *lb = fng__loopback_create(&srv);

	lb->conn.pre_route = fng__admin_pre_route;
	return lb;
}

static const char *out(struct fng_loopback *lb)
{
	fng__buf_append(&lb->output, "", 1);
	lb->output.len--;
	return lb->output.p ? lb->output.p : "";
}

static void feed(struct fng_loopback *lb, const char *s)
{
	fng__loopback_feed(lb, s, strlen(s));
}

/* A request's answer, on a connection of its own. */
static char *ask(const char *req)
{
	struct fng_loopback *lb = admin_conn();
	char *s;

	feed(lb, req);
	s = strdup(out(lb));
	fng__loopback_destroy(lb);
	return s;
}

static struct fng_loopback *handshake(const char *extra)
{
	struct fng_loopback *lb = admin_conn();
	char req[600];

	snprintf(req, sizeof(req), "GET /@dashboard/live HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
		"%s\r\n", extra);
	feed(lb, req);
	return lb;
}

/* The frames after the 101's head: the first at or after *off, its opcode; -1: none yet. */
static int next_frame(struct fng_loopback *lb, size_t *off, const uint8_t **p, size_t *len)
{
	const uint8_t *b = (const uint8_t *)lb->output.p;
	size_t n = lb->output.len, o = *off, h = 2;
	uint64_t l;

	if (o == 0) {
		const char *e = memmem(b, n, "\r\n\r\n", 4);

		if (!e) {
			return -1;
		}
		o = (size_t)(e + 4 - (const char *)b);
	}
	if (n < o + 2) {
		return -1;
	}
	l = b[o + 1] & 0x7f;
	if (l == 126) {
		l = (uint64_t)b[o + 2] << 8 | b[o + 3];
		h = 4;
	} else if (l == 127) {
		l = 0;
		for (int i = 0; i < 8; i++) {
			l = l << 8 | b[o + 2 + i];
		}
		h = 10;
	}
	if (n < o + h + l) {
		return -1;
	}
	*p = b + o + h;
	*len = (size_t)l;
	*off = o + h + (size_t)l;
	return b[o] & 0x0f;
}

/* A masked client frame (mask 0: the payload goes as it is). */
static void send_frame(struct fng_loopback *lb, uint8_t op, const char *payload)
{
	uint8_t f[140] = { (uint8_t)(0x80 | op), (uint8_t)(0x80 | strlen(payload)), 0, 0, 0, 0 };

	memcpy(f + 6, payload, strlen(payload));
	fng__loopback_feed(lb, f, 6 + strlen(payload));
}

/* Runs the loop until lb has a frame after *off (the feed's timer), 3 s at most. */
static int wait_frame(struct fng_loopback *lb, size_t *off, const uint8_t **p, size_t *len)
{
	uint64_t end = uv_now(&loop) + 3000;
	int op;

	while ((op = next_frame(lb, off, p, len)) < 0 && uv_now(&loop) < end) {
		uv_run(&loop, UV_RUN_ONCE);
	}
	return op;
}

static void test_refusals(void)
{
	char *s;

	s = ask("GET /@dashboard HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n\r\n");
	CHECK(strncmp(s, "HTTP/1.1 401", 12) == 0 && strstr(s, "/@dashboard/login"),
		"the page without credentials: 401 naming the login page");
	free(s);
	s = ask("GET /@dashboard HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
		"Authorization: Bearer nope-nope-nope-nope\r\n\r\n");
	CHECK(strncmp(s, "HTTP/1.1 403", 12) == 0, "a wrong token: 403");
	free(s);
	s = ask("GET /@dashboard HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
		"Cookie: fngate_dashboard=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n\r\n");
	CHECK(strncmp(s, "HTTP/1.1 401", 12) == 0, "a made-up session: 401");
	free(s);
	s = ask("GET /@dashboard HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
		"Authorization: Bearer " TOKEN "\r\n\r\n");
	CHECK(strncmp(s, "HTTP/1.1 200", 12) == 0 && strstr(s, "content-security-policy: ") &&
		strstr(s, "script-src 'self'") && strstr(s, "x-frame-options: DENY") &&
		strstr(s, "x-content-type-options: nosniff") && strstr(s, "cache-control: no-store") &&
		strstr(s, "<script src=\"/@dashboard/app.js\""),
		"the page with the token, its security headers and its script");
	free(s);
	s = ask("GET /@dashboard/login HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n\r\n");
	CHECK(strncmp(s, "HTTP/1.1 200", 12) == 0, "the login page is open");
	free(s);
	s = ask("GET /@connections HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n\r\n");
	CHECK(strncmp(s, "HTTP/1.1 401", 12) == 0, "the rest of the admin API still needs it");
	free(s);
}

static void test_feed(void)
{
	struct fng_loopback *lb, *more[8];
	const uint8_t *p;
	size_t off = 0, len;
	int op;

	lb = handshake(ORIGIN);
	CHECK(strncmp(out(lb), "HTTP/1.1 401", 12) == 0, "no credentials: 401");
	fng__loopback_destroy(lb);
	lb = handshake("Origin: http://evil.test\r\nAuthorization: Bearer " TOKEN "\r\n");
	CHECK(strncmp(out(lb), "HTTP/1.1 403", 12) == 0, "another origin: 403");
	fng__loopback_destroy(lb);

	lb = handshake(ORIGIN "Authorization: Bearer " TOKEN "\r\n");
	CHECK(strncmp(out(lb), "HTTP/1.1 101", 12) == 0, "the token: 101");
	op = wait_frame(lb, &off, &p, &len);
	CHECK(op == 1 && len > 20 && memmem(p, len, "\"metrics\":\"", 11) &&
		memmem(p, len, "\"recent\":{\"errors\":[", 20), "the first frame (%d, %zu bytes)",
		op, len);
	send_frame(lb, 0x9, "hi");
	op = next_frame(lb, &off, &p, &len);
	CHECK(op == 0xa && len == 2 && memcmp(p, "hi", 2) == 0, "a ping's pong");

	/* Seven more fit; the ninth is refused. */
	for (int i = 0; i < 7; i++) {
		more[i] = handshake(ORIGIN "Authorization: Bearer " TOKEN "\r\n");
	}
	more[7] = handshake(ORIGIN "Authorization: Bearer " TOKEN "\r\n");
	CHECK(strncmp(out(more[6]), "HTTP/1.1 101", 12) == 0, "the eighth feed");
	CHECK(strncmp(out(more[7]), "HTTP/1.1 503", 12) == 0, "the ninth: 503");
	fng__loopback_destroy(more[7]);

	/* A message from the client ends its feed with 1003. */
	send_frame(lb, 0x1, "{}");
	op = next_frame(lb, &off, &p, &len);
	CHECK(op == 0x8 && len >= 2 && (p[0] << 8 | p[1]) == 1003, "a message: close 1003");
	CHECK(lb->fin, "and the end of the connection");
	fng__loopback_destroy(lb);

	/* A drain closes with 1001 and waits for the client's close. */
	off = 0;
	fng__conn_drain(&more[0]->conn);
	for (op = 0; op != 0x8 && op >= 0;) {
		op = next_frame(more[0], &off, &p, &len);
	}
	CHECK(op == 0x8 && (p[0] << 8 | p[1]) == 1001, "a drain: close 1001");
	for (int i = 0; i < 100; i++) {
		send_frame(more[0], 0x1, "after the close");
	}
	CHECK(more[0]->conn.in.len == 0, "data after our close is discarded, not kept");
	send_frame(more[0], 0x8, "\x03\xe9");
	CHECK(more[0]->fin, "the client's answer ends it");
	for (int i = 0; i < 7; i++) {
		fng__loopback_destroy(more[i]);
	}
}

/* A transport whose writes stay in flight until the test completes them. */
static struct fng_transport_ops stalled;
static unsigned stalled_writes;

static int stalled_writev(struct fng_conn *c, const uv_buf_t *bufs, unsigned n)
{
	(void)c;
	(void)bufs;
	(void)n;
	stalled_writes++;
	return 0;
}

static void test_one_frame_in_flight(void)
{
	struct fng_loopback *lb = handshake(ORIGIN "Authorization: Bearer " TOKEN "\r\n");
	struct fng_ws_push *p = lb->conn.push;
	struct fng_wsmsg *m = fng__wsmsg_create(1, "{}", 2);

	CHECK(p != NULL && m != NULL, "a feed");
	stalled = *lb->conn.ops;
	stalled.writev = stalled_writev;
	lb->conn.ops = &stalled;
	CHECK_INT(fng__ws_push_send(p, m), 0, "a frame goes out");
	CHECK_INT(stalled_writes, 1, "one write in flight");
	CHECK_INT(fng__ws_push_send(p, m), -EBUSY, "the next waits for none: -EBUSY");
	send_frame(lb, 0x9, "x");
	CHECK_INT(stalled_writes, 1, "a pong queues behind the write in flight");
	fng__conn_on_flushed(&lb->conn, 0);
	CHECK_INT(stalled_writes, 2, "the pong is written when the frame is");
	fng__conn_on_flushed(&lb->conn, 0);
	CHECK_INT(fng__ws_push_send(p, m), 0, "then a frame goes out again");
	fng__conn_on_flushed(&lb->conn, 0);
	fng__wsmsg_unref(m);
	fng__loopback_destroy(lb);
}

int main(void)
{
	if (!lb_test_server(&loop, &srv, config)) {
		return 1;
	}

	test_refusals();
	test_feed();
	test_one_frame_in_flight();

	CHECK_INT(srv.nconns, 0, "every connection released");
	fng__server_finish(&srv);
	uv_loop_close(&loop);
	fng__arena_cache_drain();
	return fng_test_done();
}
