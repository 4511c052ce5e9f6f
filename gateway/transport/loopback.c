// SPDX-License-Identifier: MIT
/*
 * The loopback transport: an HTTP connection fed from memory. Stage tests and the fuzzer
 * drive the whole request path through it — pre-validator, llhttp, stage table, responses —
 * without a socket, deterministically and fast.
 */
#include <stdlib.h>

#include "http.h"
#include "transport.h"

static int lb_read_start(struct fng_conn *c)
{
	return 0;
}

static void lb_read_stop(struct fng_conn *c)
{
}

static int lb_flush(struct fng_conn *c)
{
	struct fng_loopback *lb = (struct fng_loopback *)c;

	if (fng__buf_append(&lb->output, c->out.p, c->out.len)) {
		return UV_ENOMEM;
	}
	c->out.len = 0;
	return 1;
}

static int lb_writev(struct fng_conn *c, const uv_buf_t *bufs, unsigned n)
{
	struct fng_loopback *lb = (struct fng_loopback *)c;

	for (unsigned i = 0; i < n; i++) {
		if (fng__buf_append(&lb->output, bufs[i].base, bufs[i].len)) {
			return UV_ENOMEM;
		}
	}
	return 1;
}

static void lb_shutdown(struct fng_conn *c)
{
	((struct fng_loopback *)c)->fin = true;
}

static void lb_close(struct fng_conn *c)
{
	struct fng_loopback *lb = (struct fng_loopback *)c;

	lb->closed = true;
	fng__conn_on_closed(c);
}

static const struct fng_transport_ops loopback_ops = {
	.name = "loopback",
	.read_start = lb_read_start,
	.read_stop = lb_read_stop,
	.flush = lb_flush,
	.writev = lb_writev,
	.shutdown = lb_shutdown,
	.close = lb_close,
};

struct fng_loopback *fng__loopback_create(struct fng_server *srv)
{
	struct fng_loopback *lb = calloc(1, sizeof(*lb));

	if (!lb) {
		return NULL;
	}
	lb->conn.peer.in4.sin_family = AF_INET;
	lb->conn.peer.in4.sin_addr.s_addr = htonl(0x7f000001);
	fng__conn_init(&lb->conn, srv, &loopback_ops);
	fng__conn_start(&lb->conn);
	return lb;
}

void fng__loopback_feed(struct fng_loopback *lb, const void *data, size_t len)
{
	if (!lb->closed) {
		fng__conn_on_data(&lb->conn, data, len);
	}
}

void fng__loopback_eof(struct fng_loopback *lb)
{
	if (!lb->closed) {
		fng__conn_on_eof(&lb->conn, 0);
	}
}

void fng__loopback_destroy(struct fng_loopback *lb)
{
	if (!lb) {
		return;
	}
	if (!lb->closed) {
		fng__conn_abort(&lb->conn);
	}
	fng__buf_finish(&lb->output);
	free(lb);
}
