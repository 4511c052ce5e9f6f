// SPDX-License-Identifier: MIT
/*
 * One loop's state (server.h), as every layer above uses it: the Date header's text, request
 * ids, the access log's writer (lines batched and written by the thread pool), the end of a
 * drain and the bucket store. The daemon (daemon.c) sets it up, starts and stops it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "limit.h"
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

/* ---- reports ---- */

void fng__report_fail(struct fng_server *srv, struct fng_report *r, uint64_t n, int err,
	fng_report_cb *say)
{
	r->count += n;
	r->total += n;
	r->err = err;
	r->ok = false;
	fng__report_tick(srv, r, say);
}

void fng__report_ok(struct fng_report *r)
{
	r->ok = true;
}

void fng__report_tick(struct fng_server *srv, struct fng_report *r, fng_report_cb *say)
{
	/* Not the loop's time, cached at the start of an iteration: the interval is a promise. */
	uint64_t now = uv_hrtime() / 1000000;

	if (now < r->next_ms) {
		return;
	}
	if (r->count) {
		say(srv, r, false);
		r->count = 0;
		r->next_ms = now + FNG_REPORT_MS;
	} else if (r->total && r->ok) {
		say(srv, r, true);
		r->total = 0;
		r->next_ms = 0; /* the next episode's first failure is logged at once */
	}
}

void fng__report_flush(struct fng_server *srv, struct fng_report *r, fng_report_cb *say)
{
	if (r->count) {
		say(srv, r, false);
		r->count = 0;
	}
}

/* ---- access log ---- */

static void alog_say(struct fng_server *srv, const struct fng_report *r, bool over)
{
	const char *path = srv->alog.path ? srv->alog.path : "-";
	char n[24];

	snprintf(n, sizeof(n), "%" PRIu64, over ? r->total : r->count);
	if (over) {
		fng__log("info", "access log written again", "path", path, "dropped", n, NULL);
		return;
	}
	fng__log("error", "access log write failed", "path", path, "error",
		r->err ? uv_strerror(r->err) : "the disk does not keep up: write queue full",
		"dropped", n, NULL);
}

static uint64_t count_lines(const char *p, size_t len)
{
	uint64_t n = 0;

	for (const char *e = p + len; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) {
		n++;
	}
	return n;
}

/*
 * Writes p[0..len) to fd, whole lines only: a full disk takes part of a batch (a short
 * write), and the line it cut is cut off the file again, so that what a reader finds is
 * lines, never a fragment that glues itself to the next line written. *written: the bytes
 * kept, up to a line's end. 0 or a negative errno. Blocking: the thread pool's, or at exit.
 */
static int alog_write_lines(int fd, const char *p, size_t len, size_t *written)
{
	size_t off = 0, keep;
	int err = 0;

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			err = n < 0 ? -errno : -ENOSPC;
			break;
		}
	}
	for (keep = off; keep > 0 && p[keep - 1] != '\n'; keep--) {
	}
	if (keep < off) {
		struct stat st;

		off_t cut = (off_t)(off - keep);

		/* The file is ours and opened for append: its end is where this batch stopped. */
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < cut ||
			ftruncate(fd, st.st_size - cut) != 0) {
			keep = off; /* the fragment stays; the lines after it are still counted */
		}
	}
	*written = keep;
	return err;
}

/* The lines of p[written..len) are lost (a batch is whole lines): count them. */
static void alog_lost(struct fng_server *srv, const char *p, size_t len, size_t written,
	int err)
{
	uint64_t n = count_lines(p + written, len - written);

	if (n) {
		fng__report_fail(srv, &srv->alog.lost, n, err, alog_say);
	}
}

static void alog_write(struct fng_server *srv);

static void alog_work_cb(uv_work_t *req)
{
	struct fng_accesslog *l = fng__container_of(req, struct fng_accesslog, work);

	l->werr = alog_write_lines(l->wfd, l->inflight.p, l->inflight.len, &l->written);
}

static void alog_after_cb(uv_work_t *req, int status)
{
	struct fng_server *srv = req->data;
	struct fng_accesslog *l = &srv->alog;

	l->writing = false;
	if (l->retire_fd >= 0) {
		close(l->retire_fd); /* the log file was switched while this write was in flight */
		l->retire_fd = -1;
	}
	if (l->werr || status) {
		alog_lost(srv, l->inflight.p, l->inflight.len, status ? 0 : l->written,
			l->werr ? l->werr : status);
	} else {
		fng__report_ok(&l->lost);
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

	if (l->writing || !l->pending.len || l->fd < 0) {
		return;
	}
	t = l->inflight;
	l->inflight = l->pending;
	l->pending = t;
	l->pending.len = 0;
	l->work.data = srv;
	l->wfd = l->fd;
	if (uv_queue_work(srv->loop, &l->work, alog_work_cb, alog_after_cb) == 0) {
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
		/* The disk is not keeping up: drop rather than grow without bound. */
		fng__report_fail(srv, &l->lost, 1, 0, alog_say);
		return;
	}
	fng__buf_append(&l->pending, line, len);
	fng__buf_append(&l->pending, "\n", 1);
	if (l->pending.len >= ALOG_HIGH) {
		alog_write(srv);
	} else if (!uv_is_active((uv_handle_t *)&l->timer)) {
		uv_timer_start(&l->timer, alog_timer_cb, ALOG_FLUSH_MS, 0);
	}
}

void fng__server_alog_sync(struct fng_server *srv)
{
	struct fng_accesslog *l = &srv->alog;
	struct fng_buf *bufs[2] = { &l->inflight, &l->pending };

	if (l->fd < 0) {
		return;
	}
	for (int i = l->writing ? 1 : 0; i < 2; i++) {
		size_t written;
		int err = alog_write_lines(l->fd, bufs[i]->p, bufs[i]->len, &written);

		if (err) {
			alog_lost(srv, bufs[i]->p, bufs[i]->len, written, err);
		}
		bufs[i]->len = 0;
	}
}

void fng__server_alog_tick(struct fng_server *srv, bool at_exit)
{
	if (at_exit) {
		fng__report_flush(srv, &srv->alog.lost, alog_say);
	} else {
		fng__report_tick(srv, &srv->alog.lost, alog_say);
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

/* ---- the bucket store ---- */

/*
 * Created on first use rather than at start: most configurations throttle nothing, and the
 * store's table is sized by the budget. The budget comes from the caller's snapshot (core
 * does not read the config); a reload's new budget applies from the next start.
 */
struct fng_limit_store *fng__server_limits(struct fng_server *srv, uint64_t budget)
{
	if (!srv->limits) {
		srv->limits = fng__limit_local_create(budget);
	}
	return srv->limits;
}
