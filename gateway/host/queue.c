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
#include "metrics.h"
#include "server.h"
#include "stages.h"

/* ---- the queue: pure list work, no clock and no completion ---- */

static struct qitem *item_of(struct fng_list *it)
{
	return fng__container_of(it, struct qitem, link);
}

/*
 * Earliest deadline first. With one timeout that is arrival order, and the new request goes
 * at the tail at once; only a redeploy that changed timeout_ms makes it walk. Ordered so, the
 * head of each queue is its next deadline, which is all the deadline timer needs to look at.
 */
void fng__host_queue_push(struct fng_fn *fn, struct qitem *q)
{
	struct fng_list *it = fn->queue.prev;

	while (it != &fn->queue && item_of(it)->deadline > q->deadline) {
		it = it->prev;
	}
	fng__list_append(it->next, &q->link);
	fn->nqueue++;
}

void fng__host_queue_push_front(struct fng_fn *fn, struct qitem *q)
{
	struct fng_list *it = fn->queue.next;

	while (it != &fn->queue && item_of(it)->deadline < q->deadline) {
		it = it->next;
	}
	fng__list_append(it, &q->link);
	fn->nqueue++;
}

struct qitem *fng__host_queue_pop(struct fng_fn *fn)
{
	struct qitem *q;

	if (fng__list_empty(&fn->queue)) {
		return NULL;
	}
	q = item_of(fn->queue.next);
	fng__list_remove(&q->link);
	assert(fn->nqueue > 0);
	fn->nqueue--;
	return q;
}

struct qitem *fng__host_queue_take(struct fng_fn *fn, const struct fng_req *req)
{
	for (struct fng_list *it = fn->queue.next; it != &fn->queue; it = it->next) {
		struct qitem *q = item_of(it);

		if (q->req == req) {
			fng__list_remove(&q->link);
			assert(fn->nqueue > 0);
			fn->nqueue--;
			return q;
		}
	}
	return NULL;
}

uint64_t fng__host_queue_due(const struct fng_functions *fns)
{
	uint64_t at = UINT64_MAX;

	for (unsigned i = 0; i < fns->nfns; i++) {
		const struct fng_fn *fn = fns->fns[i];

		if (!fng__list_empty(&fn->queue) && item_of(fn->queue.next)->deadline < at) {
			at = item_of(fn->queue.next)->deadline;
		}
	}
	return at;
}

struct qitem *fng__host_queue_expired(struct fng_fn *fn, uint64_t now)
{
	if (fng__list_empty(&fn->queue) || item_of(fn->queue.next)->deadline > now) {
		return NULL;
	}
	return fng__host_queue_pop(fn);
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

/* ---- admission: by deadline, within `queue` ---- */

/*
 * The run-time estimate admission uses. fn->service_ns (the pipelining decision) starts at
 * "slow" and creeps down at 1/8 per invocation, which is right for pipelining (wrongly
 * pipelining a slow function holds requests up) and wrong here: it would refuse the first
 * burst of a fast function. So this one starts from the first measurement, follows a faster
 * run at once (half the gap per invocation) and a slower one slowly (1/16 of the gap, at most
 * 1/16 of itself, per invocation). The asymmetry is for what the gateway measures: from
 * sending an invocation to reading its RESULT, which includes the time the RESULT waited while
 * the loop did other work. A storm of connections makes every such wait long for a while;
 * an estimate that followed them would refuse the storm it is busy serving. A function that
 * really got slower is followed all the same: 2x in 12 invocations, 1000x in about 115, and
 * until then its excess requests are answered 504 at their deadline rather than 429 at once.
 */
void fng__host_service_sample(struct fng_fn *fn, uint64_t ran)
{
	uint64_t up;

	fn->service_ns = fn->service_ns - fn->service_ns / 8 + ran / 8;
	if (ran == 0) {
		ran = 1;
	}
	if (fn->run_ns == 0 || ran <= fn->run_ns) {
		fn->run_ns = fn->run_ns ? fn->run_ns - (fn->run_ns - ran) / 2 : ran;
		return;
	}
	up = ran - fn->run_ns < fn->run_ns ? ran - fn->run_ns : fn->run_ns;
	fn->run_ns += up / 16 ? up / 16 : 1;
}

/* Invocations of g running or waiting in pipelines, and its idle workers. */
static void gen_load(const struct fng_gen *g, unsigned *running, unsigned *waiting,
	unsigned *idle)
{
	*running = *waiting = *idle = 0;
	for (const struct fng_list *it = g->workers.next; it != &g->workers; it = it->next) {
		const struct fng_worker *w = fng__container_of(it, struct fng_worker, link);

		/*
		 * A busy worker whose last result is being delivered has no slot left: a request
		 * pipelined on the same client connection may be admitted from inside that
		 * delivery, before the worker is marked idle. It is idle for the count.
		 */
		*idle += w->state == W_IDLE || (w->state == W_BUSY && !w->nslots);
		if (w->state == W_BUSY && w->nslots) {
			*running += 1;
			*waiting += w->nslots - 1;
		}
	}
}

/*
 * The new request is answered once the invocations ahead of it and itself have run. They
 * share the pool's concurrency workers (the pump starts them as long as requests wait), each
 * running one at a time at the measured run time; a running invocation counts whole (it may
 * have just started). Start-up time is not counted: a cold pool's first requests are
 * admitted, and the deadline timer answers those a slow start leaves behind.
 */
static uint64_t estimate(const struct fng_fn *fn, unsigned running, unsigned waiting)
{
	uint32_t c = fn->current->limits.concurrency ? fn->current->limits.concurrency : 1;
	uint64_t jobs = (uint64_t)running + waiting + fn->nqueue + 1;

	return fn->run_ns ? (jobs + c - 1) / c * fn->run_ns : 0;
}

uint64_t fng__host_queue_estimate_ns(const struct fng_fn *fn)
{
	unsigned running, waiting, idle;

	gen_load(fn->current, &running, &waiting, &idle);
	return estimate(fn, running, waiting);
}

/*
 * NULL if fn takes one more request, else why not. `queue` bounds the requests that must wait
 * for a worker — in the queue or behind a running invocation — once idle workers have taken
 * theirs: the memory bound. Within it, a request is refused only when the estimate says it
 * cannot be answered before its timeout.
 */
static const char *refusal(const struct fng_fn *fn)
{
	const struct fng_gen *g = fn->current;
	unsigned running, waiting, idle;

	gen_load(g, &running, &waiting, &idle);
	if ((uint64_t)waiting + fn->nqueue + 1 > (uint64_t)idle + g->limits.queue) {
		return "function is at its concurrency limit and its queue is full";
	}
	if (estimate(fn, running, waiting) > (uint64_t)g->limits.timeout_ms * 1000000) {
		return "function cannot answer in time: the requests waiting for it take longer "
			"than its timeout";
	}
	return NULL;
}

bool fng__host_queue_admit(const struct fng_fn *fn)
{
	return refusal(fn) == NULL;
}

const char *fng__host_queue_refusal(const struct fng_fn *fn)
{
	const char *why = refusal(fn);

	return why ? why : "function is at its concurrency limit";
}

bool fng__host_cannot_start(const struct fng_fn *fn, bool attempt)
{
	const struct fng_gen *g = fn->current;

	bool none = fng__host_no_supervisor(fn->fns);

	if (!g || (g->start_failures == 0 && !none)) {
		return false;
	}
	for (const struct fng_list *it = g->workers.next; it != &g->workers; it = it->next) {
		enum wstate s = fng__container_of(it, struct fng_worker, link)->state;

		/* Without a supervisor, a worker asked for is not coming before the next one. */
		if (s == W_IDLE || s == W_BUSY ||
			(attempt && !none && (s == W_SPAWNING || s == W_STARTING))) {
			return false;
		}
	}
	return true;
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
	if (req->event == FNG_EVENT_AUTHORIZER) {
		fng__host_authz_done(fns, req, rc);
		return;
	}
	fng__req_resume(req, rc);
}

bool fng__host_cancel(struct fng_functions *fns, struct fng_req *req)
{
	/*
	 * Still queued, or sent but waiting behind another invocation: answer it now (its RESULT,
	 * if it runs, is dropped). Running: let the invocation finish; its answer is dropped.
	 */
	for (struct fng_list *it = fns->workers.next; it != &fns->workers; it = it->next) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, all);

		if (fng__host_slot_cancel(w, req)) {
			fng__host_complete(fns, req, UV_ECANCELED);
			return true;
		}
	}
	for (unsigned i = 0; i < fns->nfns; i++) {
		struct qitem *q = fng__host_queue_take(fns->fns[i], req);

		if (q) {
			fng__host_qitem_free(q);
			fng__host_complete(fns, req, UV_ECANCELED);
			return true;
		}
	}
	return false;
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

/* "function NAME cannot start: CAUSE", in req's arena (NULL without memory). */
static const char *cannot_start_text(struct fng_req *req, const struct fng_fn *fn)
{
	char *d = fng__arena_alloc(req->arena, 256);

	if (d) {
		snprintf(d, 256, "function %s cannot start: %s", fn->name,
			fng__host_no_supervisor(fn->fns) ? fn->fns->sup_error :
			fn->current && fn->current->start_error[0] ? fn->current->start_error :
			"its workers fail to start");
	}
	return d;
}

/*
 * q's time ran out in the queue: 504, or 503 with the cause when fn cannot start a worker
 * (it did not wait for a busy pool but for a start that keeps failing).
 */
static void answer_late(struct fng_functions *fns, struct fng_fn *fn, struct qitem *q)
{
	struct fng_req *r = q->req;

	fng__host_qitem_free(q);
	if (fng__host_cannot_start(fn, false)) {
		r->error_detail = cannot_start_text(r, fn);
		fng__host_complete(fns, r, FNG_EUNAVAILABLE);
		return;
	}
	r->error_detail = "function timed out waiting for a worker";
	fng__host_complete(fns, r, FNG_EGATEWAY_TIMEOUT);
}

/*
 * The deadline timer. One per host rather than per function or generation: a queued request
 * waits for its function, not a generation (whichever version is current when a worker frees
 * takes it), and the heads of the functions' queues, each ordered by deadline, are all there
 * is to look at; one timer handle then serves any number of functions, costs the loop's timer
 * heap one entry, and is re-armed only when it fires or when a request becomes the earliest.
 * It fires for a request that was served meanwhile now and then; it then just re-arms.
 */
static void expire_cb(uv_timer_t *t);

static void expire_arm(struct fng_functions *fns, uint64_t at)
{
	uint64_t now;

	if (at == UINT64_MAX || fns->closing ||
		(uv_is_active((uv_handle_t *)&fns->expire) && fns->expire_at <= at)) {
		return;
	}
	now = uv_now(fns->loop);
	fns->expire_at = at;
	uv_timer_start(&fns->expire, expire_cb, at > now ? at - now : 0, 0);
}

static void expire_cb(uv_timer_t *t)
{
	struct fng_functions *fns = t->data;
	uint64_t now = uv_now(fns->loop);

	for (unsigned i = 0; i < fns->nfns; i++) {
		struct fng_fn *fn = fns->fns[i];
		struct qitem *q;

		while ((q = fng__host_queue_expired(fn, now)) != NULL) {
			answer_late(fns, fn, q);
		}
	}
	expire_arm(fns, fng__host_queue_due(fns));
}

void fng__host_queue_init(struct fng_functions *fns)
{
	uv_timer_init(fns->loop, &fns->expire);
	fns->expire.data = fns;
}

static void expire_closed(uv_handle_t *h)
{
}

void fng__host_queue_close(struct fng_functions *fns)
{
	uv_close((uv_handle_t *)&fns->expire, expire_closed);
}

/* Answers what waits for fn now that it cannot start a worker: 503 with the cause. */
static void queue_fail_start(struct fng_functions *fns, struct fng_fn *fn)
{
	struct qitem *q;

	while ((q = fng__host_queue_pop(fn)) != NULL) {
		struct fng_req *r = q->req;

		fng__host_qitem_free(q);
		r->error_detail = cannot_start_text(r, fn);
		fng__host_complete(fns, r, FNG_EUNAVAILABLE);
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
 * Puts the invocations of a worker that is going away from slots[first] on (they never
 * started: the pipelined ones, or all when none was sent) back at the front of their
 * function's queue, in order, with their original deadlines; or, when that is impossible (no
 * deployed version, shutting down, no memory), answers them with err.
 */
static void requeue_from(struct fng_functions *fns, struct fng_worker *w, unsigned first,
	int err)
{
	struct fng_fn *fn = w->gen->fn;

	for (unsigned i = w->nslots; i-- > first;) {
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
	w->nslots = w->nslots < first ? w->nslots : first;
	fng__host_pump_soon(fns, fn);
}


void fng__host_worker_fail_req(struct fng_worker *w, int err, const char *detail)
{
	struct fng_req *req = w->nslots ? w->slots[0].req : NULL;

	fng__host_out_drain(w); /* what it wrote before it failed carries its request id */

	if (w->nslots > 1) {
		requeue_from(w->fns, w, 1, FNG_EUNAVAILABLE);
	}
	w->nslots = 0;
	if (req) {
		fng__host_metric_fail(w, req, err);
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
		r->fn_cause = "timeout";
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
	q->req->fn_version = fng__arena_strndup(q->req->arena, w->gen->version,
		strlen(w->gen->version));
	if (!w->gen->m_invocations && fns->srv) {
		const char *v[] = { w->gen->fn->name, w->gen->version };

		w->gen->m_invocations = fng__metric_series(fns->srv, &fng__m_fn_invocations, v);
	}
	fng__metric_add(w->gen->m_invocations, 1);
	w->slots[w->nslots++] = (struct slot){ q->req, q->deadline };
	if (w->nslots == 1) {
		w->head_unsent = true;
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
		w->head_unsent = false;
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		/*
		 * Not a byte went: a worker that died between invocations (its supervisor died,
		 * it was killed) never saw any of them, the running one included. They go back
		 * to the queue, in order, rather than fail.
		 */
		w->outq.len = 0;
		if (w->head_unsent) {
			requeue_from(fns, w, 0, FNG_EUNAVAILABLE);
		}
		fng__host_worker_write_failed(fns, w, n);
		return;
	}
	w->head_unsent = false;
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
			answer_late(fns, fn, q);
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
		} else if (w->state == W_BUSY && w->nslots) {
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
	/*
	 * Its last start failed, it backs off and no worker of it is alive or starting: what
	 * waits would only wait for its deadline. 503 with the cause, now.
	 */
	if (!fng__list_empty(&fn->queue) && fng__host_cannot_start(fn, true)) {
		queue_fail_start(fns, fn);
	}
	if (!fng__list_empty(&fn->queue)) {
		expire_arm(fns, item_of(fn->queue.next)->deadline);
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
static void pump_wake_cb(uv_idle_t *h)
{
	(void)h;
}

/*
 * The pump runs as a check handle, after the loop's poll for I/O. Asked from a timer callback
 * (a schedule's tick, a WebSocket's idle or duration timeout making its $disconnect) with no
 * I/O pending, that poll would sleep until the next timer of any kind is due and the
 * invocation would wait with it; an active idle handle makes the poll return at once, and the
 * pump stops it.
 */
void fng__host_pump_soon(struct fng_functions *fns, struct fng_fn *fn)
{
	fn->pump_wanted = true;
	if (!fns->pump_pending && !fns->closing) {
		fns->pump_pending = true;
		uv_check_start(&fns->pump, pump_cb);
		uv_idle_start(&fns->pump_wake, pump_wake_cb);
	}
}

static void pump_cb(uv_check_t *h)
{
	struct fng_functions *fns = h->data;

	uv_check_stop(h);
	uv_idle_stop(&fns->pump_wake);
	fns->pump_pending = false;
	for (unsigned i = 0; i < fns->nfns; i++) {
		if (fns->fns[i]->pump_wanted) {
			fns->fns[i]->pump_wanted = false;
			fng__host_pump(fns, fns->fns[i]);
		}
	}
}
