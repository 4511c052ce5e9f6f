// SPDX-License-Identifier: MIT
/*
 * hiredis' async context on a libuv loop (redis_uv.h). hiredis asks for read and write
 * interest through five hooks; each maps onto one uv_poll_t on the context's socket. The one
 * thing done differently from hiredis' own adapter: a poll that reports an error still makes
 * hiredis read (and write, if it wanted to), so that the read finds the error (a reset, a
 * refused connect) and hiredis ends the context with its cause at once.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "redis_uv.h"

struct redis_uv {
	uv_poll_t poll;
	redisAsyncContext *ac; /* NULL once hiredis let go of us (cleanup) */
	int events;            /* UV_READABLE | UV_WRITABLE that hiredis wants */
};

static void closed_cb(uv_handle_t *h)
{
	free(h->data);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct redis_uv *p = h->data;

	/*
	 * On an error libuv has stopped the handle and gives no events: hiredis is told as if
	 * what it waited for had come, and its read or write meets the error.
	 */
	if (status < 0) {
		events = p->events;
	}
	if (p->ac && (events & UV_READABLE)) {
		redisAsyncHandleRead(p->ac);
	}
	if (p->ac && (events & UV_WRITABLE)) {
		redisAsyncHandleWrite(p->ac);
	}
	/* Still alive after an error (the socket had nothing to say yet): watch it again. */
	if (status < 0 && p->ac && p->events) {
		uv_poll_start(&p->poll, p->events, poll_cb);
	}
}

/* hiredis wants ev (or no longer); an error's stop is undone by poll_cb, not here. */
static void want(struct redis_uv *p, int ev, bool on)
{
	int now = on ? p->events | ev : p->events & ~ev;

	if (now == p->events) {
		return;
	}
	p->events = now;
	if (now) {
		uv_poll_start(&p->poll, now, poll_cb);
	} else {
		uv_poll_stop(&p->poll);
	}
}

static void add_read(void *arg)
{
	want(arg, UV_READABLE, true);
}

static void del_read(void *arg)
{
	want(arg, UV_READABLE, false);
}

static void add_write(void *arg)
{
	want(arg, UV_WRITABLE, true);
}

static void del_write(void *arg)
{
	want(arg, UV_WRITABLE, false);
}

/* hiredis frees the context: the handle goes, its memory with it once libuv is done. */
static void cleanup(void *arg)
{
	struct redis_uv *p = arg;

	p->ac = NULL;
	p->events = 0;
	uv_close((uv_handle_t *)&p->poll, closed_cb);
}

int fng__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct redis_uv *p;

	if (ac->ev.data) {
		return REDIS_ERR;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		return REDIS_ERR;
	}
	if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
		free(p);
		return REDIS_ERR;
	}
	p->poll.data = p;
	p->ac = ac;
	ac->ev.data = p;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	return REDIS_OK;
}
