// SPDX-License-Identifier: MIT
/*
 * The plain TCP transport: libuv stream reads into one per-thread buffer (an idle connection
 * holds no read buffer), writes tried synchronously first and queued only when the socket
 * is full. TLS will be a second transport with the same ops.
 */
#include <stdlib.h>

#include "http.h"
#include "transport.h"

#define READ_BUF (64 * 1024)

static _Thread_local char read_buf[READ_BUF];
static _Thread_local bool read_buf_busy;

struct tcp_write {
	uv_write_t req;
	struct fng_conn *c;
	char *base;
};

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	/* Data is consumed (or copied into c->in) before read_cb returns. */
	if (read_buf_busy) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	read_buf_busy = true;
	buf->base = read_buf;
	buf->len = sizeof(read_buf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fng_conn *c = s->data;

	if (buf->base == read_buf) {
		read_buf_busy = false;
	}
	if (nread > 0) {
		fng__conn_on_data(c, buf->base, (size_t)nread);
	} else if (nread < 0) {
		fng__conn_on_eof(c, nread == UV_EOF ? 0 : (int)nread);
	}
}

static int tcp_read_start(struct fng_conn *c)
{
	return uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void tcp_read_stop(struct fng_conn *c)
{
	uv_read_stop((uv_stream_t *)&c->tcp);
}

static void write_cb(uv_write_t *req, int status)
{
	struct tcp_write *w = (struct tcp_write *)req;
	struct fng_conn *c = w->c;

	free(w->base);
	free(w);
	fng__conn_on_flushed(c, status);
}

static int tcp_flush(struct fng_conn *c)
{
	uv_buf_t b = uv_buf_init(c->out.p, (unsigned)c->out.len);
	struct tcp_write *w;
	int n, err;

	n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (n == (int)c->out.len) {
		c->out.len = 0;
		return 1;
	}
	if (n < 0 && n != UV_EAGAIN) {
		return n;
	}
	if (n > 0) {
		fng__buf_consume(&c->out, (size_t)n);
	}
	w = malloc(sizeof(*w));
	if (!w) {
		return UV_ENOMEM;
	}
	/* The write takes the buffer; the connection starts a new one. */
	w->c = c;
	w->base = c->out.p;
	b = uv_buf_init(c->out.p, (unsigned)c->out.len);
	c->out = (struct fng_buf){ 0 };
	err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (err) {
		free(w->base);
		free(w);
		return err;
	}
	return 0;
}

static int tcp_writev(struct fng_conn *c, const uv_buf_t *bufs, unsigned n)
{
	uv_buf_t rest[FNG_WRITEV_MAX];
	struct tcp_write *w;
	size_t total = 0, skip;
	unsigned k = 0;
	int sent, err;

	for (unsigned i = 0; i < n; i++) {
		total += bufs[i].len;
	}
	sent = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
	if (sent >= 0 && (size_t)sent == total) {
		return 1;
	}
	if (sent < 0 && sent != UV_EAGAIN) {
		return sent;
	}
	/* What did not fit goes by uv_write, still from the caller's buffers. */
	skip = sent > 0 ? (size_t)sent : 0;
	for (unsigned i = 0; i < n && k < FNG_WRITEV_MAX; i++) {
		if (skip >= bufs[i].len) {
			skip -= bufs[i].len;
			continue;
		}
		rest[k++] = uv_buf_init(bufs[i].base + skip, (unsigned)(bufs[i].len - skip));
		skip = 0;
	}
	w = malloc(sizeof(*w));
	if (!w) {
		return UV_ENOMEM;
	}
	w->c = c;
	w->base = NULL;
	err = uv_write(&w->req, (uv_stream_t *)&c->tcp, rest, k, write_cb);
	if (err) {
		free(w);
		return err;
	}
	return 0;
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	free(req);
}

static void tcp_shutdown(struct fng_conn *c)
{
	uv_shutdown_t *req = malloc(sizeof(*req));

	if (req && uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
		free(req);
	}
}

static void close_cb(uv_handle_t *h)
{
	fng__conn_on_closed(h->data);
	free(h->data);
}

static void tcp_close(struct fng_conn *c)
{
	uv_close((uv_handle_t *)&c->tcp, close_cb);
}

const struct fng_transport_ops fng__tcp_transport = {
	.name = "tcp",
	.read_start = tcp_read_start,
	.read_stop = tcp_read_stop,
	.flush = tcp_flush,
	.writev = tcp_writev,
	.shutdown = tcp_shutdown,
	.close = tcp_close,
};

static void reject_close_cb(uv_handle_t *h)
{
	free(h);
}

int fng__tcp_accept(struct fng_server *srv, uv_stream_t *listener,
	int (*pre_route)(struct fng_req *req))
{
	struct fng_conn *c = calloc(1, sizeof(*c));
	int len = sizeof(c->peer), err;

	if (!c) {
		return UV_ENOMEM;
	}
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	err = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (err) {
		uv_close((uv_handle_t *)&c->tcp, reject_close_cb);
		return err;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_getpeername(&c->tcp, &c->peer.sa, &len);
	c->pre_route = pre_route;
	fng__conn_init(c, srv, &fng__tcp_transport);
	fng__conn_start(c);
	return 0;
}
