// SPDX-License-Identifier: MIT
/*
 * Requests waiting for a worker: the per-function queue (bounded by `queue`, each item with
 * its deadline, so that queueing counts against the timeout), the pipeline of invocations sent
 * behind a running one (and whether a function is pipelined at all), the deadlines of both, and
 * the pump that hands waiting requests to workers and starts new ones, once per loop
 * iteration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "host.h"
#include "server.h"
#include "stages.h"

/* ---- the queue: pure list work, no clock and no completion ---- */

void fng__host_queue_push(struct fng_fn *fn, struct qitem *q)
{
	fng__list_append(&fn->queue, &q->link);
	fn->nqueue++;
}

void fng__host_queue_push_front(struct fng_fn *fn, struct qitem *q)
{
	fng__list_append(fn->queue.next, &q->link);
	fn->nqueue++;
}

struct qitem *fng__host_queue_pop(struct fng_fn *fn)
{
	struct qitem *q;

	if (fng__list_empty(&fn->queue)) {
		return NULL;
	}
	q = fng__container_of(fn->queue.next, struct qitem, link);
	fng__list_remove(&q->link);
	assert(fn->nqueue > 0);
	fn->nqueue--;
	return q;
}

struct qitem *fng__host_queue_take(struct fng_fn *fn, const struct fng_req *req)
{
	for (struct fng_list *it = fn->queue.next; it != &fn->queue; it = it->next) {
		struct qitem *q = fng__container_of(it, struct qitem, link);

		if (q->req == req) {
			fng__list_remove(&q->link);
			assert(fn->nqueue > 0);
			fn->nqueue--;
			return q;
		}
	}
	return NULL;
}

bool fng__host_qitem_expired(const struct qitem *q, uint64_t now)
{
	return q->deadline <= now;
}

void fng__host_qitem_free(struct qitem *q)
{
	fng__wire_buf_finish(&q->frame);
	free(q);
}

/*
 * `queue` bounds the requests that must wait for a worker — in the queue or behind a running
 * invocation — once idle workers have taken theirs.
 */
bool fng__host_queue_admit(const struct fng_fn *fn)
{
	const struct fng_gen *g = fn->current;
	unsigned idle = 0, waiting = fn->nqueue;

	for (const struct fng_list *it = g->workers.next; it != &g->workers; it = it->next) {
		const struct fng_worker *w = fng__container_of(it, struct fng_worker, link);

		idle += w->state == W_IDLE;
		waiting += w->state == W_BUSY ? w->nslots - 1 : 0;
	}
	return waiting + 1 <= idle + g->limits.queue;
}

/* ---- the pipeline of a worker: pure slot work ---- */

bool fng__host_slot_cancel(struct fng_worker *w, const struct fng_req *req)
{
	for (unsigned i = 1; i < w->nslots; i++) {
		if (w->slots[i].req == req) {
			w->slots[i].req = NULL;
			return true;
		}
	}
	return false;
}

struct fng_req *fng__host_slot_expired(struct fng_worker *w, uint64_t now)
{
	for (unsigned i = 1; i < w->nslots; i++) {
		struct fng_req *r = w->slots[i].req;

		if (r && w->slots[i].deadline <= now) {
			w->slots[i].req = NULL;
			return r;
		}
	}
	return NULL;
}

uint64_t fng__host_worker_due(const struct fng_worker *w)
{
	uint64_t at = w->kill_at;

	for (unsigned i = 1; i < w->nslots; i++) {
		if (w->slots[i].req && w->slots[i].deadline < at) {
			at = w->slots[i].deadline;
		}
	}
	return at;
}

#ifndef NDEBUG
/* Whether anything in fns (a queue item, a worker's slot) still holds req. */
static bool held(const struct fng_functions *fns, const struct fng_req *req)
{
	for (const struct fng_list *it = fns->workers.next; it != &fns->workers; it = it->next) {
		const struct fng_worker *w = fng__container_of(it, struct fng_worker, all);

		for (unsigned i = 0; i < w->nslots; i++) {
			if (w->slots[i].req == req) {
				return true;
			}
		}
	}
	for (unsigned i = 0; i < fns->nfns; i++) {
		const struct fng_fn *fn = fns->fns[i];

		for (const struct fng_list *it = fn->queue.next; it != &fn->queue; it = it->next) {
			if (fng__container_of(it, struct qitem, link)->req == req) {
				return true;
			}
		}
	}
	return false;
}
#endif

void fng__host_complete(struct fng_functions *fns, struct fng_req *req, int rc)
{
#ifndef NDEBUG
	/* Exactly once: a request still held would be answered again by its holder. */
	assert(!fns || !held(fns, req));
#else
	(void)fns;
#endif
	fng__req_resume(req, rc);
}

/* ---- waiting requests: answers and deadlines ---- */

/* Requests waiting for fn, which no longer has a version, get the 503 they would get now. */
void fng__host_queue_fail(struct fng_fn *fn, const char *detail)
{
	struct qitem *q;

	while ((q = fng__host_queue_pop(fn)) != NULL) {
		struct fng_req *r = q->req;

		fng__host_qitem_free(q);
		r->error_detail = detail;
		fng__host_complete(fn->fns, r, FNG_EUNAVAILABLE);
	}
}

static void deadline_cb(uv_timer_t *t);

/*
 * Arms the worker's timer for the earliest of: the running invocation's stop time, and the
 * deadline of a request still waiting in its pipeline.
 */
static void worker_arm(struct fng_functions *fns, struct fng_worker *w)
{
	uint64_t now = uv_now(fns->loop), at = fng__host_worker_due(w);

	uv_timer_start(&w->timer, deadline_cb, at > now ? at - now : 0, 0);
}

/* slots[0] starts running now (it was sent to an idle worker, or the one before it ended). */
void fng__host_head_started(struct fng_functions *fns, struct fng_worker *w)
{
	uint64_t now = uv_now(fns->loop);
	struct slot *h = &w->slots[0];

	w->started_ns = uv_hrtime();
	/*
	 * A request's answer is due timeout_ms after it arrived; the worker running it is
	 * stopped then. One whose time ran out while it waited was answered already: it still
	 * gets a full timeout_ms to run before its worker is reclaimed.
	 */
	w->kill_at = h->req && h->deadline > now ? h->deadline :
		now + w->gen->limits.timeout_ms;
	worker_arm(fns, w);
}

/*
 * Puts the pipelined invocations of a worker that is going away (they never started) back at
 * the front of their function's queue, in order, with their original deadlines; or, when
 * that is impossible (no deployed version, shutting down, no memory), answers them with err.
 */
static void requeue_pipeline(struct fng_functions *fns, struct fng_worker *w, int err)
{
	struct fng_fn *fn = w->gen->fn;

	for (unsigned i = w->nslots; i-- > 1;) {
		struct fng_req *req = w->slots[i].req;
		struct qitem *q;

		if (!req) {
			continue;
		}
		w->slots[i].req = NULL; /* from here on the queue or the answer below holds it */
		q = fns->closing || !fn->current ? NULL : calloc(1, sizeof(*q));
		if (q && fng__host_event_encode(req, fn->current, &q->frame) == 0) {
			q->req = req;
			q->fn = fn;
			q->deadline = w->slots[i].deadline;
			fng__host_queue_push_front(fn, q);
			continue;
		}
		if (q) {
			fng__host_qitem_free(q);
		}
		req->error_detail = "function is not available";
		fng__host_complete(fns, req, err);
	}
	w->nslots = w->nslots ? 1 : 0;
	fng__host_pump_soon(fns, fn);
}

void fng__host_worker_fail_req(struct fng_worker *w, int err, const char *detail)
{
	struct fng_req *req = w->nslots ? w->slots[0].req : NULL;

	fng__host_out_drain(w); /* what it wrote before it failed carries its request id */

	if (w->nslots > 1) {
		requeue_pipeline(w->fns, w, FNG_EUNAVAILABLE);
	}
	w->nslots = 0;
	if (req) {
		req->error_detail = detail ? fng__arena_strndup(req->arena, detail, strlen(detail))
					   : NULL;
		fng__host_complete(w->fns, req, err);
	}
}

static void deadline_cb(uv_timer_t *t)
{
	struct fng_worker *w = t->data;
	struct fng_functions *fns = w->fns;
	uint64_t now = uv_now(fns->loop);
	struct fng_req *head = w->nslots ? w->slots[0].req : NULL, *r;
	char detail[160], n[12];

	/* Requests whose time ran out while they waited behind the running one: 504, no kill. */
	while ((r = fng__host_slot_expired(w, now)) != NULL) {
		r->error_detail = "function timed out waiting for a worker";
		fng__host_complete(fns, r, FNG_EGATEWAY_TIMEOUT);
	}
	if (w->kill_at > now) {
		worker_arm(fns, w);
		return;
	}
	snprintf(w->cause, sizeof(w->cause), "timeout after %u ms", w->gen->limits.timeout_ms);
	fng__log("error", "function timed out", "function", w->gen->fn->name, "requestId",
		head ? head->request_id : "", "cause", w->cause, "requeued",
		fng__host_waiting_text(w, n), NULL);
	snprintf(detail, sizeof(detail), "function %s timed out after %u ms", w->gen->fn->name,
		w->gen->limits.timeout_ms);
	fng__host_worker_fail_req(w, FNG_EGATEWAY_TIMEOUT, detail);
	fng__host_worker_kill(w);
	uv_timer_start(&w->timer, fng__host_exit_wait_cb, EXIT_WAIT_MS, 0);
}

struct invoke_write {
	uv_write_t req;
	struct fng_buf buf;
};

static void invoke_write_cb(uv_write_t *wr, int status)
{
	struct invoke_write *iw = (struct invoke_write *)wr;

	/* A failed write shows up as the worker's death on the read side. */
	fng__buf_finish(&iw->buf);
	free(iw);
}

/* Adds q to w's invocations; its frame is written with the others at the end of the pump. */
static void worker_invoke(struct fng_functions *fns, struct fng_worker *w, struct qitem *q)
{
	assert(w->state == W_IDLE || (w->state == W_BUSY && w->nslots < MAX_PIPELINE));
	if (fng__buf_append(&w->outq, q->frame.p, q->frame.len)) {
		fng__wire_buf_finish(&q->frame);
		fng__host_complete(fns, q->req, UV_ENOMEM);
		return;
	}
	fng__wire_buf_finish(&q->frame);
	w->slots[w->nslots++] = (struct slot){ q->req, q->deadline };
	if (w->nslots == 1) {
		w->state = W_BUSY;
		fng__host_head_started(fns, w);
	} else {
		worker_arm(fns, w);
	}
	FNG_HOST_CHECK(w);
}

/*
 * Writes the INVOKE frames a pump gathered for w: usually all at once into the socket buffer
 * (one write for several invocations when requests arrive together); what does not fit is
 * queued behind in libuv. A failed write is the worker's death.
 */
static void worker_flush(struct fng_functions *fns, struct fng_worker *w)
{
	struct invoke_write *iw;
	uv_buf_t b = uv_buf_init(w->outq.p, (unsigned)w->outq.len);
	int n = uv_try_write((uv_stream_t *)&w->pipe, &b, 1);

	if (n == (int)b.len) {
		w->outq.len = 0;
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		w->outq.len = 0;
		fng__host_worker_write_failed(fns, w, n);
		return;
	}
	iw = calloc(1, sizeof(*iw));
	if (n > 0) {
		fng__buf_consume(&w->outq, (size_t)n);
	}
	if (!iw || fng__buf_append(&iw->buf, w->outq.p, w->outq.len)) {
		free(iw);
		w->outq.len = 0;
		fng__host_worker_write_failed(fns, w, 0);
		return;
	}
	w->outq.len = 0;
	b = uv_buf_init((char *)iw->buf.p, (unsigned)iw->buf.len);
	n = uv_write(&iw->req, (uv_stream_t *)&w->pipe, &b, 1, invoke_write_cb);
	if (n) {
		fng__buf_finish(&iw->buf);
		free(iw);
		fng__host_worker_write_failed(fns, w, n);
	}
}

/*
 * True if busy workers of fn may take more invocations behind the running one: its pool is
 * at its size (otherwise a new worker is the better place), and its invocations are short,
 * so that one waiting behind another is not held up for long.
 */
bool fng__host_pipelined(const struct fng_fn *fn)
{
	const struct fng_gen *g = fn->current;

	return g->limits.pipeline > 1 && fn->service_ns < PIPELINE_MAX_SERVICE_NS &&
		g->nworkers >= g->limits.concurrency;
}

/* A worker of g that can take one more invocation: idle (most recently used) or busy. */
struct fng_worker *fng__host_pick_worker(struct fng_gen *g, bool pipeline)
{
	struct fng_worker *best = NULL;

	/* Most recently used first: its caches are warm. */
	for (struct fng_list *it = g->workers.prev; it != &g->workers; it = it->prev) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, link);

		if (w->state == W_IDLE) {
			return w;
		}
		if (pipeline && w->state == W_BUSY && w->nslots < g->limits.pipeline &&
			w->invocations + w->nslots < g->limits.max_invocations &&
			(!best || w->nslots < best->nslots)) {
			best = w;
		}
	}
	return best;
}

/* Hands queued requests to idle workers of the current generation; starts workers. */
void fng__host_pump(struct fng_functions *fns, struct fng_fn *fn)
{
	struct fng_gen *g = fn->current;
	unsigned starting = 0, waiting = 0;
	struct fng_list *it;

	if (!g || fns->closing) {
		return;
	}
	while (!fng__list_empty(&fn->queue)) {
		struct fng_worker *idle = fng__host_pick_worker(g, fng__host_pipelined(fn));
		struct qitem *q;

		if (!idle) {
			break;
		}
		q = fng__host_queue_pop(fn);
		if (fng__host_qitem_expired(q, uv_now(fns->loop))) {
			/* Its time ran out in the queue: no worker needs to die for it. */
			struct fng_req *r = q->req;

			fng__host_qitem_free(q);
			r->error_detail = "function timed out waiting for a worker";
			fng__host_complete(fns, r, FNG_EGATEWAY_TIMEOUT);
			continue;
		}
		worker_invoke(fns, idle, q);
		free(q);
	}
	for (it = g->workers.next; it != &g->workers;) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, link);

		it = it->next; /* a failed write ends w */
		if (w->state == W_SPAWNING || w->state == W_STARTING) {
			starting++;
		} else if (w->state == W_BUSY) {
			waiting += w->nslots - 1;
		}
		if (w->outq.len && w->state == W_BUSY) {
			worker_flush(fns, w);
		}
	}
	/*
	 * Start workers for what waits — in the queue or behind a running invocation (cold
	 * start) — and keep min_warm alive.
	 */
	while (g->nworkers < g->limits.concurrency && uv_now(fns->loop) >= g->backoff_until &&
		(starting < fn->nqueue + waiting || g->nworkers < g->limits.min_warm)) {
		if (fng__host_worker_spawn(fns, g)) {
			break;
		}
		starting++;
	}
}

void fng__host_retry_cb(uv_timer_t *t)
{
	struct fng_functions *fns = t->data;

	for (unsigned i = 0; i < fns->nfns; i++) {
		fng__host_pump(fns, fns->fns[i]);
	}
}

static void pump_cb(uv_check_t *h);

/*
 * Runs fng__host_pump for fn after the current I/O callbacks: once per loop iteration, however
 * many RESULTs and requests for it came in that iteration.
 */
void fng__host_pump_soon(struct fng_functions *fns, struct fng_fn *fn)
{
	fn->pump_wanted = true;
	if (!fns->pump_pending && !fns->closing) {
		fns->pump_pending = true;
		uv_check_start(&fns->pump, pump_cb);
	}
}

static void pump_cb(uv_check_t *h)
{
	struct fng_functions *fns = h->data;

	uv_check_stop(h);
	fns->pump_pending = false;
	for (unsigned i = 0; i < fns->nfns; i++) {
		if (fns->fns[i]->pump_wanted) {
			fns->fns[i]->pump_wanted = false;
			fng__host_pump(fns, fns->fns[i]);
		}
	}
}
