// SPDX-License-Identifier: MIT
/*
 * The plain TCP transport: libuv stream reads into one per-thread buffer (an idle connection
 * holds no read buffer), writes tried synchronously first and queued only when the socket
 * is full. TLS will be a second transport with the same ops. Its listeners accept here too,
 * with a descriptor in reserve for when the process has none left.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
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

void fng__transport_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	/* Data is consumed (or copied into c->in, or a TLS connection's rx) before read_cb returns. */
	(void)h;
	(void)suggested;
	if (read_buf_busy) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	read_buf_busy = true;
	buf->base = read_buf;
	buf->len = sizeof(read_buf);
}

void fng__transport_read_done(const uv_buf_t *buf)
{
	if (buf->base == read_buf) {
		read_buf_busy = false;
	}
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fng_conn *c = s->data;

	fng__transport_read_done(buf);
	if (nread > 0) {
		fng__conn_on_data(c, buf->base, (size_t)nread);
	} else if (nread < 0) {
		fng__conn_on_eof(c, nread == UV_EOF ? 0 : (int)nread);
	}
}

static int tcp_read_start(struct fng_conn *c)
{
	return uv_read_start((uv_stream_t *)&c->tcp, fng__transport_alloc_cb, read_cb);
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
	free(h->data);
}

static void reject_tls_close_cb(uv_handle_t *h)
{
	fng__tls_conn_discard(h->data);
}

/* ---- listeners ---- */

/*
 * libuv's uv_listen() has the same reserve trick (uv__emfile_trick in src/unix/stream.c), but
 * not what the operator needs of it: it accepts and closes the whole backlog without a word
 * (the clients see a reset or a close, the log nothing), and in 1.44, once it could not
 * reopen its reserve, it calls the connection callback with EMFILE in a loop that does not
 * return until a descriptor frees up, which only another thread can then do. So connections
 * are accepted here, from a poll handle on the listening socket. (libuv still opens its own
 * reserve with the first stream: one descriptor, unused.)
 */
#define ACCEPT_BATCH 64 /* connections per wake-up: the loop has other work too */
#define PAUSE_MS 100    /* listeners stopped when nothing can be accepted, not even by reserve */

static void listener_cb(uv_poll_t *h, int status, int events);

static int open_reserve(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void refused_say(struct fng_server *srv, const struct fng_report *r, bool over)
{
	struct rlimit rl = { 0 };
	char n[24], lim[24] = "?";

	snprintf(n, sizeof(n), "%" PRIu64, over ? r->total : r->count);
	if (over) {
		fng__log("info", "connections accepted again", "refused", n, NULL);
		return;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)rl.rlim_cur);
	}
	fng__log("warn", "out of descriptors", "error", uv_strerror(r->err), "refused", n,
		"limit", lim, "action", "new connections answered 503 and closed", NULL);
}

/*
 * Tells a connection that could not be taken so, in one non-blocking write: a 503 whose
 * message says why (fng__err_json, as every error body; without memory for it, only the
 * close), and the close. What the client already sent is read first, so that the
 * close is a FIN after the answer rather than a reset that could destroy it. A TLS listener
 * will close without it: its clients expect a handshake first.
 */
static void refuse(struct fng_server *srv, int fd)
{
	const char *server = srv->cfg->server_header;
	bool has_server = server && server[0];
	struct fng_buf body = { 0 };
	char buf[1024], rid[37];
	int len;

	for (int i = 0; i < 4 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == (ssize_t)sizeof(buf);
		i++) {
	}
	if (fng__err_json(&body, "Service Unavailable: the gateway has no file descriptor left "
			"for this connection; try again later", NULL, NULL, 0) == 0) {
		fng__server_request_id(srv, rid);
		len = snprintf(buf, sizeof(buf),
			"HTTP/1.1 503 Service Unavailable\r\n%s%s%sDate: %s\r\nx-request-id: %s\r\n"
			"Content-Type: application/json\r\nContent-Length: %zu\r\n"
			"Retry-After: 1\r\nConnection: close\r\n\r\n%.*s",
			has_server ? "Server: " : "", has_server ? server : "",
			has_server ? "\r\n" : "", fng__server_date(srv), rid, body.len,
			(int)body.len, body.p);
		if (len > 0 && (size_t)len < sizeof(buf)) {
			send(fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL); /* best effort */
		}
	}
	fng__buf_finish(&body);
	shutdown(fd, SHUT_WR);
}

/*
 * Out of descriptors: the connection at the head of the backlog cannot be accepted, and the
 * listener stays readable, so the loop would wake for it again and again while its client
 * waits. The reserve is given up for a moment to take it, answer 503 and close it. err:
 * EMFILE or ENFILE. False when even that failed: the caller pauses the listeners.
 */
static bool shed(struct fng_listener *l, int err)
{
	struct fng_server *srv = l->srv;
	int fd, accept_err;

	if (srv->reserve_fd < 0) {
		srv->reserve_fd = open_reserve(); /* a descriptor may have freed up since */
		if (srv->reserve_fd < 0) {
			return false;
		}
	}
	close(srv->reserve_fd);
	fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	accept_err = errno;
	if (fd >= 0) {
		refuse(srv, fd);
		close(fd);
	}
	/* Another thread (the log's, the thread pool's) may have taken the slot meanwhile. */
	srv->reserve_fd = open_reserve();
	if (fd >= 0) {
		fng__report_fail(srv, &srv->refused, 1, err, refused_say);
		return true;
	}
	return accept_err != EMFILE && accept_err != ENFILE;
}

static void pause_cb(uv_timer_t *t)
{
	struct fng_server *srv = t->data;

	for (unsigned i = 0; i < srv->nlisteners && !srv->draining; i++) {
		struct fng_listener *l = &srv->listeners[i];

		if (!uv_is_closing((uv_handle_t *)&l->poll)) {
			uv_poll_start(&l->poll, UV_READABLE, listener_cb);
		}
	}
}

/* Stops every listener for PAUSE_MS: they all wait for the same thing. */
static void pause_listeners(struct fng_server *srv)
{
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		if (!uv_is_closing((uv_handle_t *)&srv->listeners[i].poll)) {
			uv_poll_stop(&srv->listeners[i].poll);
		}
	}
	uv_timer_start(&srv->accept_pause, pause_cb, PAUSE_MS, 0);
}

static void start_conn(struct fng_listener *l, int fd, const struct sockaddr_storage *peer,
	socklen_t len)
{
	/* A TLS listener's connections are TLS ones: the same stream under wolfSSL (tls.c). */
	struct fng_conn *c = l->tls ? fng__tls_conn_new(l->tls) : calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return;
	}
	uv_tcp_init(l->srv->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_tcp_open(&c->tcp, fd) != 0) {
		close(fd);
		uv_close((uv_handle_t *)&c->tcp, l->tls ? reject_tls_close_cb : reject_close_cb);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	memcpy(&c->peer, peer, len < sizeof(c->peer) ? len : sizeof(c->peer));
	c->pre_route = l->pre_route;
	fng__conn_init(c, l->srv, l->tls ? &fng__tls_transport : &fng__tcp_transport);
	fng__conn_start(c);
}

static void listener_cb(uv_poll_t *h, int status, int events)
{
	struct fng_listener *l = h->data;
	struct fng_server *srv = l->srv;

	if (status < 0 || srv->draining) {
		return;
	}
	for (unsigned n = 0; n < ACCEPT_BATCH; n++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd;

		fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			fng__report_ok(&srv->refused);
			start_conn(l, fd, &peer, len);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			return;
		case EMFILE:
		case ENFILE:
			if (!shed(l, -errno)) {
				pause_listeners(srv);
				return;
			}
			break;
		case EINTR:
		case ECONNABORTED:
		/* Linux passes a connection's own network errors on to accept() (accept(2)). */
		case EPROTO:
		case EPERM:
		case ENETDOWN:
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case EOPNOTSUPP:
		case ENETUNREACH:
			break;
		default:
			/* ENOMEM, ENOBUFS: the kernel is short; waking again at once spins. */
			pause_listeners(srv);
			return;
		}
	}
}

int fng__tcp_listen(struct fng_listener *l, int backlog)
{
	if (listen(l->fd, backlog) != 0) {
		return -errno;
	}
	return uv_poll_start(&l->poll, UV_READABLE, listener_cb);
}

static void listener_close_cb(uv_handle_t *h)
{
	struct fng_listener *l = h->data;

	close(l->fd);
	l->fd = -1;
}

void fng__tcp_listener_close(struct fng_listener *l)
{
	if (!uv_is_closing((uv_handle_t *)&l->poll)) {
		uv_close((uv_handle_t *)&l->poll, listener_close_cb);
	}
}

void fng__tcp_tick(struct fng_server *srv, bool at_exit)
{
	if (at_exit) {
		fng__report_flush(srv, &srv->refused, refused_say);
	} else {
		fng__report_tick(srv, &srv->refused, refused_say);
	}
}
