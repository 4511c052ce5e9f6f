// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/ws/ws_conn.c, a WebSocket connection after its handshake, without
 * sockets: a real connection on the loopback transport (as tests/fuzz/ws.c drives one), mock
 * routes answering its messages. Checked on the frames the client receives: messages answered
 * (whole and fragmented), ping answered by pong, the close handshake both ways and the codes
 * a refused frame closes with (too big, not UTF-8, unmasked, a code that may not travel), and
 * the side the admin API and handlers use (the list, a push, a close by id).
 */
#include <stdlib.h>
#include <string.h>

#include "../loopback_test.h"
#include "ws.h"
#include "ws_conn.h"

static const char config[] =
	"server: { listen: ['127.0.0.1:0'] }\n"
	"access_log: { path: 'off' }\n"
	"apis:\n"
	"  w:\n"
	"    protocol: websocket\n"
	"    websocket: { message_bytes: 64, frame_bytes: 32, ping_ms: 0 }\n"
	"    stages: { s: {} }\n"
	"    routes:\n"
	"      $connect: { integration: { type: mock } }\n"
	"      $disconnect: { integration: { type: mock } }\n"
	"      $default: { integration: { type: mock, body: '${context.routeKey}' } }\n";

static const char handshake[] =
	"GET /s HTTP/1.1\r\n"
	"Host: example.com\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"\r\n";

static uv_loop_t loop;
static struct fng_server srv;

/* A frame the client received. */
struct frame {
	uint8_t op;
	bool fin;
	size_t len;
	char p[256];
};

static void run(void)
{
	for (int i = 0; i < 3; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
	}
}

/* A connection past its 101, its output emptied; NULL if the handshake failed. */
static struct fng_loopback *open_ws(void)
{
	struct fng_loopback *lb = fng__loopback_create(&srv);

	lb_test_feed(lb, handshake);
	run();
	if (strncmp(lb_test_out(lb), "HTTP/1.1 101 ", 13) != 0) {
		printf("# handshake answered: %.80s\n", lb_test_out(lb));
		fng__loopback_destroy(lb);
		return NULL;
	}
	lb->output.len = 0;
	return lb;
}

/* A client frame: masked (unless unmasked), payload p[0..n). */
static void send_frame(struct fng_loopback *lb, uint8_t op, bool fin, const void *p, size_t n,
	bool unmasked)
{
	static const uint8_t key[4] = { 0x11, 0x22, 0x33, 0x44 };
	uint8_t f[FNG_WS_MAX_HEADER + 4 + 256];
	size_t h = fng__ws_header(f, op, fin, n);

	if (!unmasked) {
		f[1] |= 0x80;
		memcpy(f + h, key, 4);
		h += 4;
	}
	for (size_t i = 0; i < n && i < 256; i++) {
		f[h + i] = ((const uint8_t *)p)[i] ^ (unmasked ? 0 : key[i & 3]);
	}
	fng__loopback_feed(lb, f, h + n);
	run();
}

static void send_text(struct fng_loopback *lb, const char *s)
{
	send_frame(lb, FNG_WS_TEXT, true, s, strlen(s), false);
}

/*
 * The next frame the server sent, from *off in lb's output: false if there is none whole.
 * Server frames are unmasked, with short lengths here.
 */
static bool next_frame(struct fng_loopback *lb, size_t *off, struct frame *f)
{
	const uint8_t *p = (const uint8_t *)lb->output.p + *off;
	size_t left = lb->output.len - *off, h = 2;

	if (left < 2 || (p[1] & 0x80)) {
		return false;
	}
	f->op = p[0] & 0x0f;
	f->fin = p[0] & 0x80;
	f->len = p[1] & 0x7f;
	if (f->len == 126) {
		f->len = (size_t)p[2] << 8 | p[3];
		h = 4;
	}
	if (f->len > 127 || left < h + f->len) {
		return false;
	}
	memcpy(f->p, p + h, f->len);
	f->p[f->len] = '\0';
	*off += h + f->len;
	return true;
}

/* The one frame the server sent since the output was last emptied, which it empties. */
static bool only_frame(struct fng_loopback *lb, struct frame *f)
{
	size_t off = 0;
	bool ok = next_frame(lb, &off, f) && off == lb->output.len;

	lb->output.len = 0;
	return ok;
}

static int close_code(const struct frame *f)
{
	return f->op == FNG_WS_CLOSE && f->len >= 2 ? (uint8_t)f->p[0] << 8 | (uint8_t)f->p[1] : -1;
}

static void test_messages(void)
{
	struct fng_loopback *lb = open_ws();
	struct frame f;

	CHECK(lb != NULL, "the handshake is answered 101");
	if (!lb) {
		return;
	}
	send_text(lb, "hello");
	CHECK(only_frame(lb, &f) && f.op == FNG_WS_TEXT && f.fin && !strcmp(f.p, "$default"),
		"a text message is answered by its route, as one text frame (%s)", f.p);
	send_frame(lb, FNG_WS_PING, true, "p1", 2, false);
	CHECK(only_frame(lb, &f) && f.op == FNG_WS_PONG && !strcmp(f.p, "p1"),
		"a ping is answered by a pong with its payload");
	send_frame(lb, FNG_WS_PONG, true, "", 0, false);
	CHECK_INT(lb->output.len, 0, "an unsolicited pong is not answered");
	send_frame(lb, FNG_WS_TEXT, false, "hel", 3, false);
	CHECK_INT(lb->output.len, 0, "the first part of a message: nothing yet");
	send_frame(lb, FNG_WS_PING, true, "", 0, false);
	CHECK(only_frame(lb, &f) && f.op == FNG_WS_PONG, "a ping between its parts is answered");
	send_frame(lb, FNG_WS_CONT, true, "lo", 2, false);
	CHECK(only_frame(lb, &f) && !strcmp(f.p, "$default"), "its last part: answered once");
	send_frame(lb, FNG_WS_BINARY, true, "\xff\x00", 2, false);
	CHECK(only_frame(lb, &f) && !strcmp(f.p, "$default"), "a binary message is answered");

	send_frame(lb, FNG_WS_CLOSE, true, "\x03\xe8" "bye", 5, false);
	CHECK(only_frame(lb, &f) && close_code(&f) == 1000,
		"the client's close (1000) is answered by a close with its code");
	CHECK(lb->fin || lb->closed, "and the connection ends");
	fng__loopback_destroy(lb);
	run();
}

/* A connection that gets input, answered by one close frame with code want. */
static void refused(const char *what, int want, uint8_t op, bool fin, const void *p, size_t n,
	bool unmasked)
{
	struct fng_loopback *lb = open_ws();
	struct frame f = { 0 };

	if (!lb) {
		CHECK(false, "%s: the handshake", what);
		return;
	}
	send_frame(lb, op, fin, p, n, unmasked);
	CHECK(only_frame(lb, &f) && close_code(&f) == want, "%s: closed with %d (got %d)", what,
		want, close_code(&f));
	CHECK(lb->fin || lb->closed, "%s: the connection ends", what);
	fng__loopback_destroy(lb);
	run();
}

static void test_refusals(void)
{
	char big[64];
	struct fng_loopback *lb;
	struct frame f = { 0 };

	memset(big, 'x', sizeof(big));
	refused("a text frame of 33 bytes (frame_bytes 32)", FNG_WS_TOO_BIG, FNG_WS_TEXT, true, big,
		33, false);
	refused("text that is not UTF-8", FNG_WS_INVALID_DATA, FNG_WS_TEXT, true, "a\xc3(", 3,
		false);
	refused("an unmasked frame", FNG_WS_PROTOCOL_ERROR, FNG_WS_TEXT, true, "hi", 2, true);
	refused("a continuation without a message", FNG_WS_PROTOCOL_ERROR, FNG_WS_CONT, true, "x", 1,
		false);
	refused("a fragmented ping", FNG_WS_PROTOCOL_ERROR, FNG_WS_PING, false, "", 0, false);
	refused("a reserved opcode", FNG_WS_PROTOCOL_ERROR, 3, true, "", 0, false);
	refused("a close with code 1005, which may not travel", FNG_WS_PROTOCOL_ERROR, FNG_WS_CLOSE,
		true, "\x03\xed", 2, false);
	refused("a close with a one-byte payload", FNG_WS_PROTOCOL_ERROR, FNG_WS_CLOSE, true, "\x03",
		1, false);
	refused("a close with a reason that is not UTF-8", FNG_WS_INVALID_DATA, FNG_WS_CLOSE, true,
		"\x0f\xa0\xff", 3, false);

	/* 32 + 32 bytes fit message_bytes (64); one more byte does not. */
	lb = open_ws();
	if (lb) {
		send_frame(lb, FNG_WS_TEXT, false, big, 32, false);
		send_frame(lb, FNG_WS_CONT, false, big, 32, false);
		CHECK_INT(lb->output.len, 0, "a message of 64 bytes so far: nothing yet");
		send_frame(lb, FNG_WS_CONT, true, big, 1, false);
		CHECK(only_frame(lb, &f) && close_code(&f) == FNG_WS_TOO_BIG,
			"its 65th byte (message_bytes 64): closed with 1009");
		fng__loopback_destroy(lb);
		run();
	}
}

/* The admin API's and handlers' side: the connection by its id. */
static void test_by_id(void)
{
	struct fng_loopback *lb = open_ws();
	struct fng_buf b = { 0 };
	struct frame f;
	const char *p;
	char id[17] = "";

	if (!lb) {
		CHECK(false, "the handshake");
		return;
	}
	CHECK_INT(fng__ws_list_json(&srv, NULL, 0, &b), 0, "the list of open connections");
	fng__buf_append(&b, "", 1);
	p = strstr(b.p, "\"connectionId\":\"");
	if (p) {
		snprintf(id, sizeof(id), "%s", p + 16);
	}
	CHECK(strstr(b.p, "\"count\":1}") && strlen(id) == 16, "... has it, with its id (%s)", id);
	fng__buf_finish(&b);

	CHECK_INT(fng__ws_info_json(&srv, id, 16, &b), 0, "its description by id");
	fng__buf_finish(&b);
	CHECK_INT(fng__ws_push(&srv, id, 16, "pushed", 6, false, NULL), 0, "a push to it");
	run();
	CHECK(only_frame(lb, &f) && f.op == FNG_WS_TEXT && !strcmp(f.p, "pushed"),
		"... arrives as a text message");
	CHECK_INT(fng__ws_push(&srv, id, 16, "\xff", 1, false, NULL), 0, "a push that is not UTF-8");
	run();
	CHECK(only_frame(lb, &f) && f.op == FNG_WS_BINARY, "... arrives as a binary message");
	CHECK_INT(fng__ws_push(&srv, "AAAAbbbbCCCCdddd", 16, "x", 1, false, NULL), -ENOENT,
		"a push to an id that is not open: -ENOENT");
	CHECK_INT(fng__ws_close_id(&srv, id, 16, 4001, "bye", 3, NULL), 0, "a close by id");
	run();
	CHECK(only_frame(lb, &f) && close_code(&f) == 4001 && !strcmp(f.p + 2, "bye"),
		"... sends a close frame with its code and reason");
	CHECK_INT(fng__ws_push(&srv, id, 16, "late", 4, false, NULL), -ENOENT,
		"no push after the close");
	send_frame(lb, FNG_WS_CLOSE, true, "\x0f\xa1", 2, false);
	CHECK_INT(lb->output.len, 0, "the client's answering close: nothing more is sent");
	CHECK(lb->fin || lb->closed, "and the connection ends");
	fng__loopback_destroy(lb);
	run();
	CHECK_INT(fng__ws_info_json(&srv, id, 16, &b), -ENOENT, "then its id is gone");
	fng__buf_finish(&b);
}

int main(void)
{
	if (!lb_test_server(&loop, &srv, config)) {
		return 1;
	}
	test_messages();
	test_refusals();
	test_by_id();
	CHECK_INT(srv.nconns, 0, "every connection released");
	fng__server_finish(&srv);
	uv_loop_close(&loop);
	fng__arena_cache_drain();
	return fng_test_done();
}
