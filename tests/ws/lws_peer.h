/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_WS_LWS_PEER_H
#define FNG_TESTS_WS_LWS_PEER_H

/*
 * The scaffolding of the WebSocket peers that run on libwebsockets' own server side, the echo
 * server that calibrates tests/ws/conformance.py (tests/ws/lws_echo.c) and the libwebsockets
 * peer of bench/ws.sh (bench/ws_peer_lws.c): a message reassembled from its fragments, the
 * queue of messages one connection still has to write, and main() with its service loop.
 * Static functions: each of those programs is one .c that includes this once.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

/* A message waiting to be written to one connection. */
struct peer_msg {
	struct peer_msg *next;
	size_t len;
	bool binary;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then the payload */
};

/* What every connection holds, inside the protocol's per-session data, zeroed on
 * LWS_CALLBACK_ESTABLISHED and released by peer_conn_finish() on LWS_CALLBACK_CLOSED. */
struct peer_conn {
	unsigned char *in; /* the message being assembled */
	size_t len, cap;
	bool binary;
	struct peer_msg *head, *tail; /* to write, in order */
};

static volatile sig_atomic_t peer_stop;

static void peer_on_signal(int sig)
{
	(void)sig;
	peer_stop = 1;
}

static void peer_conn_finish(struct peer_conn *c)
{
	free(c->in);
	c->in = NULL;
	while (c->head) {
		struct peer_msg *m = c->head;

		c->head = m->next;
		free(m);
	}
	c->tail = NULL;
}

/* Adds a copy of data to the connection's queue and asks for a WRITEABLE callback. */
static int peer_queue(struct lws *wsi, struct peer_conn *c, const void *data, size_t len,
	bool binary)
{
	struct peer_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m) {
		return -1;
	}
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	if (len) {
		memcpy(m->data + LWS_PRE, data, len);
	}
	if (c->tail) {
		c->tail->next = m;
	} else {
		c->head = m;
	}
	c->tail = m;
	lws_callback_on_writable(wsi);
	return 0;
}

/*
 * Adds one LWS_CALLBACK_RECEIVE piece to the message being assembled: 1 when the message is
 * whole (c->in, c->len, c->binary; the caller handles it, then sets c->len to 0), 0 when more
 * is to come, -1 (close the connection) past max bytes or out of memory. The buffer starts at
 * first_cap bytes and doubles.
 */
static int peer_receive(struct lws *wsi, struct peer_conn *c, const void *in, size_t len,
	size_t max, size_t first_cap)
{
	if (lws_is_first_fragment(wsi)) {
		c->len = 0;
		c->binary = lws_frame_is_binary(wsi);
	}
	if (c->len + len > max) {
		return -1;
	}
	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap : first_cap;
		unsigned char *n;

		while (cap < c->len + len) {
			cap *= 2;
		}
		n = realloc(c->in, cap);
		if (!n) {
			return -1;
		}
		c->in = n;
		c->cap = cap;
	}
	if (len) {
		memcpy(c->in + c->len, in, len);
	}
	c->len += len;
	return lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
}

/* Writes the first queued message, one write per WRITEABLE callback as lws asks: 1 when one
 * was written, 0 when the queue is empty, -1 (close the connection) when the write failed.
 * Asking for the next callback is the caller's. */
static int peer_write_next(struct lws *wsi, struct peer_conn *c)
{
	struct peer_msg *m = c->head;
	int n;

	if (!m) {
		return 0;
	}
	n = lws_write(wsi, m->data + LWS_PRE, m->len,
		m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	c->head = m->next;
	if (!c->head) {
		c->tail = NULL;
	}
	free(m);
	return n < 0 ? -1 : 1;
}

/* Serves one protocol, name with callback cb and pss_size bytes of per-session data, on
 * 127.0.0.1, port argv[1] (7681 without one), with lws validating UTF-8, until SIGTERM or
 * SIGINT. The table lives in this frame, which outlasts the context. */
static int peer_main(int argc, char **argv, const char *name, lws_callback_function *cb,
	size_t pss_size)
{
	const struct lws_protocols protocols[] = {
		{ name, cb, pss_size, 65536, 0, NULL, 0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 }
	};
	struct lws_context_creation_info info;
	struct lws_context *ctx;

	memset(&info, 0, sizeof(info));
	info.port = argc > 1 ? atoi(argv[1]) : 7681;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	lws_set_log_level(LLL_ERR, NULL);
	signal(SIGTERM, peer_on_signal);
	signal(SIGINT, peer_on_signal);
	ctx = lws_create_context(&info);
	if (!ctx) {
		return 1;
	}
	while (!peer_stop && lws_service(ctx, 0) >= 0) {
	}
	lws_context_destroy(ctx);
	return 0;
}

#endif
