// SPDX-License-Identifier: MIT
/*
 * What workers write on their stdout and stderr: split into lines that become log lines of
 * their function (with the request running), under the function's log rate limit; a worker
 * flooding it is not read until the next log tick.
 */
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "stages.h"

/* A longer line a worker writes on its stdout or stderr is logged in pieces of this size. */
#define OUT_LINE_MAX 4096

/*
 * One line of it, as a log line of the function (with the request it was running, if any),
 * under the function's log rate limit like its fng_log() lines.
 */
static bool out_line(struct fng_worker *w, const char *p, size_t n)
{
	struct fng_functions *fns = w->fns;
	struct fng_fn *fn = w->gen->fn;

	if (n && p[n - 1] == '\r') {
		n--;
	}
	return fng__fnlog_line(&fn->log, &fns->logs, uv_now(fns->loop), fn->name, "info", p, n,
		w->nslots && w->slots[0].req ? w->slots[0].req->request_id : NULL, "stderr");
}

/*
 * Splits what the worker wrote into lines (w->line holds an unfinished one). Returns the bytes
 * of those its function's log limit dropped.
 */
static size_t out_feed(struct fng_worker *w, const char *p, size_t n)
{
	size_t dropped = 0;

	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n, room = OUT_LINE_MAX - w->line.len;
		bool end = nl != NULL;

		if (take >= room) {
			take = room;
			end = true;
			nl = NULL; /* cut: the rest is the next piece */
		}
		if (!w->line.len && end) {
			dropped += out_line(w, p, take) ? 0 : take + 1;
		} else if (fng__buf_append(&w->line, p, take) == 0 && end) {
			dropped += out_line(w, w->line.p, w->line.len) ? 0 : w->line.len + 1;
			w->line.len = 0;
		}
		p += take + (nl != NULL);
		n -= take + (nl != NULL);
	}
	return dropped;
}

/* Every worker of a host reads into the host's one buffer: reads never overlap on a loop. */
void fng__host_out_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fng_worker *w = h->data;
	struct fng_functions *fns = w->fns;

	buf->base = fns->out_buf;
	buf->len = sizeof(fns->out_buf);
}

/*
 * What a worker writes on stdout/stderr. A worker flooding over its function's log limit
 * (FLOOD_BYTES dropped in one read) is not read from until the next log tick (100 ms): its
 * pipe fills and its writes wait, instead of the gateway spending a core reading and dropping
 * gigabytes of lines.
 */
void fng__host_out_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fng_worker *w = s->data;

	if (nread > 0) {
		if (out_feed(w, buf->base, (size_t)nread) >= FLOOD_BYTES / 2) {
			uv_read_stop(s);
			w->out_paused = true;
			w->fns->out_paused = true;
		}
	} else if (nread < 0) {
		uv_read_stop(s);
		if (w->line.len) {
			out_line(w, w->line.p, w->line.len);
			w->line.len = 0;
		}
	}
}

/*
 * Reads what is in the worker's output pipe now, paused or not, and logs it with the running
 * request: before a failed invocation is answered (what it wrote is in the pipe already) and
 * when a worker is gone (its last words). Not before every RESULT: a read(2) there cost the
 * function path 15-19 % of its throughput here. There the order of readiness does the job —
 * a handler's output becomes readable before its RESULT does, and the loop handles events in
 * that order — except while a worker over its log limit is not being read.
 */
void fng__host_out_drain(struct fng_worker *w)
{
	struct fng_functions *fns = w->fns;
	uv_os_fd_t fd;

	if (!w->out_open) {
		return;
	}
	if (uv_fileno((uv_handle_t *)&w->out, &fd) == 0 && fns) {
		for (int i = 0; i < 8; i++) {
			ssize_t n = read(fd, fns->out_buf, sizeof(fns->out_buf));

			if (n <= 0) {
				break;
			}
			out_feed(w, fns->out_buf, (size_t)n);
		}
	}
	if (w->line.len) {
		out_line(w, w->line.p, w->line.len);
		w->line.len = 0;
	}
}
