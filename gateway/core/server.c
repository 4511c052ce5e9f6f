// SPDX-License-Identifier: MIT
/*
 * One loop's state (server.h), as every layer above uses it: the Date header's text, request
 * ids, the access log's writer (lines batched and written by the thread pool) and the end
 * of a drain. The daemon (daemon.c) sets it up, starts and stops it.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

#define ALOG_FLUSH_MS 50
#define ALOG_HIGH (64 * 1024)

/* ---- date and request ids ---- */

const char *fng__server_date(struct fng_server *srv)
{
	uint64_t sec = uv_now(srv->loop) / 1000;

	if (sec != srv->date_sec || !srv->date[0]) {
		time_t t = time(NULL);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(srv->date, sizeof(srv->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		srv->date_sec = sec;
	}
	return srv->date;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void hex(char *out, uint64_t v, int digits)
{
	static const char xd[] = "0123456789abcdef";

	for (int i = digits - 1; i >= 0; i--) {
		out[i] = xd[v & 15];
		v >>= 4;
	}
}

void fng__server_request_id(struct fng_server *srv, char buf[37])
{
	/* UUID v4 layout; unique per process from a random seed, not a secret. */
	uint64_t a = splitmix64(&srv->rid_state[0]);
	uint64_t b = splitmix64(&srv->rid_state[1]);

	hex(buf, a >> 32, 8);
	buf[8] = '-';
	hex(buf + 9, a >> 16, 4);
	buf[13] = '-';
	buf[14] = '4';
	hex(buf + 15, a, 3);
	buf[18] = '-';
	hex(buf + 19, ((b >> 48) & 0x3fff) | 0x8000, 4);
	buf[23] = '-';
	hex(buf + 24, b, 12);
	buf[36] = '\0';
}

/* ---- access log ---- */

static void alog_write(struct fng_server *srv);

static void alog_write_cb(uv_fs_t *req)
{
	struct fng_server *srv = req->data;
	struct fng_accesslog *l = &srv->alog;

	uv_fs_req_cleanup(req);
	l->writing = false;
	if (l->retire_fd >= 0) {
		close(l->retire_fd); /* the log file was switched while this write was in flight */
		l->retire_fd = -1;
	}
	l->inflight.len = 0;
	if (l->pending.len) {
		alog_write(srv);
	}
}

static void alog_write(struct fng_server *srv)
{
	struct fng_accesslog *l = &srv->alog;
	struct fng_buf t;
	uv_buf_t b;

	if (l->writing || !l->pending.len || l->fd < 0) {
		return;
	}
	t = l->inflight;
	l->inflight = l->pending;
	l->pending = t;
	l->pending.len = 0;
	b = uv_buf_init(l->inflight.p, (unsigned)l->inflight.len);
	l->req.data = srv;
	if (uv_fs_write(srv->loop, &l->req, l->fd, &b, 1, -1, alog_write_cb) == 0) {
		l->writing = true;
	}
}

static void alog_timer_cb(uv_timer_t *t)
{
	alog_write(t->data);
}

void fng__server_log_line(struct fng_server *srv, const char *line, size_t len)
{
	struct fng_accesslog *l = &srv->alog;

	if (l->fd < 0) {
		return;
	}
	if (l->pending.len > 16 * ALOG_HIGH) {
		return; /* the disk is not keeping up: drop rather than grow without bound */
	}
	fng__buf_append(&l->pending, line, len);
	fng__buf_append(&l->pending, "\n", 1);
	if (l->pending.len >= ALOG_HIGH) {
		alog_write(srv);
	} else if (!uv_is_active((uv_handle_t *)&l->timer)) {
		uv_timer_start(&l->timer, alog_timer_cb, ALOG_FLUSH_MS, 0);
	}
}

void fng__server_alog_sync(struct fng_accesslog *l)
{
	struct fng_buf *bufs[2] = { &l->inflight, &l->pending };

	if (l->fd < 0) {
		return;
	}
	for (int i = l->writing ? 1 : 0; i < 2; i++) {
		size_t off = 0;

		while (off < bufs[i]->len) {
			ssize_t n = write(l->fd, bufs[i]->p + off, bufs[i]->len - off);

			if (n <= 0) {
				break;
			}
			off += (size_t)n;
		}
		bufs[i]->len = 0;
	}
}

/* ---- drain ---- */

void fng__server_drained(struct fng_server *srv)
{
	uv_stop(srv->loop);
}

void fng__server_maybe_drained(struct fng_server *srv)
{
	if (srv->draining && srv->nconns == 0 && srv->nevents == 0) {
		fng__server_drained(srv);
	}
}
