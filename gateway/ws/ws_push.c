// SPDX-License-Identifier: MIT
/*
 * A push-only WebSocket connection (ws_push.h) on the RFC 6455 codec of ws.c: what the
 * gateway itself streams to a client, with no API and no function behind it (the operator
 * dashboard's live feed, integration/dashboard.c). It sits where ws_conn.c sits — the
 * connection layer hands it the transport after the 101 through fng_upgrade_ops — but keeps
 * none of an API connection's machinery: no events, no topics, no registry by id.
 *
 * Its send queue holds at most one data frame, one pong and one close (a fixed array of
 * frame references), so whatever a client does, a feed holds a few frames and an input
 * buffer of one control frame at most.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "ws_push.h"
#include "ws_route.h"

#define PUSH_Q 4
#define PING_AFTER_MS 30000
#define PONG_WAIT_MS 30000
#define CLOSE_WAIT_MS 5000

/* What the handshake leaves for the connection's start (arena memory of the handshake). */
struct push_arg {
	const struct fng_ws_push_ops *ops;
	void *data;
};

struct fng_ws_push {
	struct fng_conn *conn;
	const struct fng_ws_push_ops *ops;
	void *owner;
	struct fng_wsmsg *q[PUSH_Q]; /* oldest first; the first qwriting are being written */
	unsigned qn, qwriting;
	uint64_t last_rx, ping_at, close_at; /* uv_now() ms; 0: none */
	bool close_sent;
};

static const struct fng_upgrade_ops push_upgrade;

int fng__ws_push_accept(struct fng_req *req, const struct fng_ws_push_ops *ops, void *data)
{
	struct push_arg *a;
	int err = fng__ws_handshake_check(req);

	if (err) {
		return err;
	}
	a = fng__arena_alloc(req->arena, sizeof(*a));
	if (!a) {
		return UV_ENOMEM;
	}
	*a = (struct push_arg){ ops, data };
	req->upgrade_ops = &push_upgrade;
	req->upgrade_arg = a;
	return 0;
}

void fng__ws_push_set_owner(struct fng_ws_push *p, void *owner)
{
	p->owner = owner;
}

void *fng__ws_push_owner(const struct fng_ws_push *p)
{
	return p->owner;
}

static bool q_has(const struct fng_ws_push *p, uint8_t op)
{
	for (unsigned i = 0; i < p->qn; i++) {
		if ((p->q[i]->data[0] & 0x0f) == op) {
			return true;
		}
	}
	return false;
}

/* Queues a reference to m; false if the queue is full (never for the rules of its users). */
static bool q_push(struct fng_ws_push *p, struct fng_wsmsg *m)
{
	if (p->qn == PUSH_Q) {
		return false;
	}
	p->q[p->qn++] = fng__wsmsg_ref(m);
	return true;
}

static bool is_open(const struct fng_ws_push *p)
{
	return p->conn && p->conn->state == FNG_CONN_WS && !p->close_sent;
}

int fng__ws_push_send(struct fng_ws_push *p, struct fng_wsmsg *m)
{
	if (!is_open(p)) {
		return -ENOTCONN;
	}
	if (q_has(p, FNG_WS_TEXT) || q_has(p, FNG_WS_BINARY)) {
		return -EBUSY;
	}
	if (!q_push(p, m)) {
		return -EBUSY;
	}
	fng__conn_flush(p->conn);
	return 0;
}

/* A control frame of ours (ping, pong, close); false without memory or room. */
static bool send_control(struct fng_ws_push *p, uint8_t op, const void *data, size_t len)
{
	struct fng_wsmsg *m = fng__wsmsg_create(op, data, len);
	bool ok;

	if (!m) {
		return false;
	}
	ok = q_push(p, m);
	fng__wsmsg_unref(m);
	return ok;
}

static void push_close(struct fng_ws_push *p, int code, const char *reason, bool now)
{
	uint8_t b[125];
	size_t rl = reason ? strlen(reason) : 0;

	if (!p->conn) {
		return;
	}
	if (!p->close_sent) {
		if (rl > sizeof(b) - 2) {
			rl = sizeof(b) - 2;
		}
		b[0] = (uint8_t)(code >> 8);
		b[1] = (uint8_t)code;
		memcpy(b + 2, reason ? reason : "", rl);
		p->close_sent = true;
		p->close_at = uv_now(p->conn->srv->loop) + CLOSE_WAIT_MS;
		if (!send_control(p, FNG_WS_CLOSE, b, rl + 2)) {
			fng__conn_abort(p->conn);
			return;
		}
	}
	if (now) {
		fng__conn_finish(p->conn);
	} else {
		fng__conn_flush(p->conn);
	}
}

void fng__ws_push_close(struct fng_ws_push *p, int code, const char *reason)
{
	push_close(p, code, reason, false);
}

void fng__ws_push_keepalive(struct fng_ws_push *p, uint64_t now)
{
	if (!p->conn || p->conn->state != FNG_CONN_WS) {
		return;
	}
	if ((p->close_sent && now >= p->close_at) ||
		(p->ping_at && now >= p->ping_at + PONG_WAIT_MS)) {
		fng__conn_abort(p->conn); /* no answer: nothing more can be said to it */
		return;
	}
	if (!p->close_sent && !p->ping_at && now >= p->last_rx + PING_AFTER_MS &&
		send_control(p, FNG_WS_PING, "", 0)) {
		p->ping_at = now;
		fng__conn_flush(p->conn);
	}
}

/* false: stop reading frames (closing). */
static bool on_frame(struct fng_ws_push *p, const struct fng_ws_frame *f)
{
	int code, peer;

	switch (f->opcode) {
	case FNG_WS_PING:
		/* One pong waits at a time: a client that floods pings gets fewer answers. */
		if (!p->close_sent && !q_has(p, FNG_WS_PONG)) {
			send_control(p, FNG_WS_PONG, f->payload, f->len);
		}
		return true;
	case FNG_WS_PONG:
		p->ping_at = 0;
		return true;
	case FNG_WS_CLOSE:
		code = fng__ws_close_reply(f->payload, f->len, &peer);
		if (p->close_sent) {
			fng__conn_finish(p->conn); /* the answer to ours */
		} else {
			push_close(p, code, NULL, true);
		}
		return false;
	default:
		if (p->close_sent) {
			return true; /* after our close: discarded until the client's */
		}
		push_close(p, FNG_WS_UNSUPPORTED, "this feed takes no messages", true);
		return false;
	}
}

static void push_on_data(struct fng_conn *c, const char *data, size_t len)
{
	struct fng_ws_push *p = c->push;
	size_t off = 0;

	if (len && fng__buf_append(&c->in, data, len)) {
		fng__conn_abort(c);
		return;
	}
	p->last_rx = uv_now(c->srv->loop);
	while (c->state == FNG_CONN_WS && off < c->in.len) {
		struct fng_ws_frame f;
		/* Data frames are refused anyway: no payload over a control frame's is buffered. */
		long n = fng__ws_decode((uint8_t *)c->in.p + off, c->in.len - off, 125, &f);

		if (n == 0) {
			break;
		}
		if (n < 0) {
			push_close(p, (int)-n, "protocol error", true);
			return;
		}
		off += (size_t)n;
		if (!on_frame(p, &f)) {
			return;
		}
	}
	if (c->state == FNG_CONN_WS) {
		fng__buf_consume(&c->in, off);
		if (!c->in.len) {
			fng__buf_finish(&c->in);
		}
	}
}

static void push_on_eof(struct fng_conn *c)
{
	fng__conn_abort(c);
}

static void push_on_closed(struct fng_conn *c)
{
	struct fng_ws_push *p = c->push;

	if (!p) {
		return;
	}
	c->push = NULL;
	p->conn = NULL;
	p->ops->closed(p);
	for (unsigned i = 0; i < p->qn; i++) {
		fng__wsmsg_unref(p->q[i]);
	}
	free(p);
}

static void push_drain(struct fng_conn *c)
{
	if (c->push) {
		push_close(c->push, FNG_WS_GOING_AWAY, "server shutting down", false);
	}
}

static int push_start(struct fng_conn *c, struct fng_req *req)
{
	const struct push_arg *a = req->upgrade_arg;
	struct fng_ws_push *p = calloc(1, sizeof(*p));

	if (!p) {
		return -ENOMEM;
	}
	p->conn = c;
	p->ops = a->ops;
	p->last_rx = uv_now(c->srv->loop);
	if (a->ops->opened(p, a->data) != 0) {
		free(p);
		return -ECONNREFUSED;
	}
	c->push = p;
	return 0;
}

static bool push_queued(const struct fng_conn *c)
{
	return c->push && c->push->qn > c->push->qwriting;
}

static void push_written(struct fng_conn *c)
{
	struct fng_ws_push *p = c->push;

	if (!p) {
		return;
	}
	for (unsigned i = 0; i < p->qwriting; i++) {
		fng__wsmsg_unref(p->q[i]);
	}
	memmove(p->q, p->q + p->qwriting, (p->qn - p->qwriting) * sizeof(p->q[0]));
	p->qn -= p->qwriting;
	p->qwriting = 0;
}

static int push_write(struct fng_conn *c)
{
	struct fng_ws_push *p = c->push;
	uv_buf_t b[PUSH_Q];
	unsigned n;
	int rc;

	if (p->qwriting) {
		return 0;
	}
	for (n = 0; n < p->qn; n++) {
		b[n] = uv_buf_init((char *)p->q[n]->data, p->q[n]->len);
	}
	if (!n) {
		return 1;
	}
	p->qwriting = n;
	rc = c->ops->writev(c, b, n);
	if (rc == 1) {
		push_written(c);
	}
	return rc;
}

static const struct fng_upgrade_ops push_upgrade = {
	.start = push_start,
	.on_data = push_on_data,
	.on_eof = push_on_eof,
	.on_closed = push_on_closed,
	.drain = push_drain,
	.queued = push_queued,
	.write = push_write,
	.written = push_written,
};
