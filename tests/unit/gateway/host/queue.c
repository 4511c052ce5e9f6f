// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/host/queue.c: the per-function queue of requests waiting for a worker
 * (order, requeueing at the front, cancellation, expiry against a fake clock, admission under
 * `queue`), the choice of a worker (idle first, most recently used, pipelining only when the
 * pool is full and invocations are short) and the pipeline of a busy worker (cancel, expiry,
 * when its timer is due). These functions touch no handle and no clock: the structs are built
 * here, requests are opaque pointers never dereferenced. Dispatch to real workers is covered
 * by tests/integration/test_functions.py.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "host.h"

/* Requests are only compared by address here. */
static char reqs[8];
#define REQ(i) ((struct fng_req *)&reqs[i])

static struct qitem *item(struct fng_fn *fn, int i, uint64_t deadline)
{
	struct qitem *q = calloc(1, sizeof(*q));

	q->req = REQ(i);
	q->fn = fn;
	q->deadline = deadline;
	return q;
}

static void fn_init(struct fng_fn *fn, struct fng_gen *g)
{
	memset(fn, 0, sizeof(*fn));
	memset(g, 0, sizeof(*g));
	fng__list_init(&fn->queue);
	fng__list_init(&fn->old);
	fng__list_init(&g->workers);
	g->fn = fn;
	fn->current = g;
	fn->service_ns = SERVICE_NS_UNKNOWN;
	g->limits.concurrency = 2;
	g->limits.queue = 2;
	g->limits.pipeline = 4;
	g->limits.max_invocations = 100;
}

static struct fng_worker *worker_add(struct fng_gen *g, enum wstate state, unsigned nslots)
{
	struct fng_worker *w = calloc(1, sizeof(*w));

	w->gen = g;
	w->state = state;
	w->nslots = nslots;
	fng__list_append(&g->workers, &w->link);
	g->nworkers++;
	return w;
}

static void workers_free(struct fng_gen *g)
{
	while (!fng__list_empty(&g->workers)) {
		struct fng_worker *w = fng__container_of(g->workers.next, struct fng_worker, link);

		fng__list_remove(&w->link);
		free(w);
	}
	g->nworkers = 0;
}

static void queue_order(void)
{
	static const int want[] = { 4, 5, 1, 2 };
	struct fng_fn fn;
	struct fng_gen g;
	struct qitem *q;

	fn_init(&fn, &g);
	CHECK(fng__host_queue_pop(&fn) == NULL, "an empty queue pops nothing");
	fng__host_queue_push(&fn, item(&fn, 0, 10));
	fng__host_queue_push(&fn, item(&fn, 1, 20));
	fng__host_queue_push(&fn, item(&fn, 2, 30));
	CHECK_INT(fn.nqueue, 3, "three requests counted");
	q = fng__host_queue_pop(&fn);
	CHECK(q && q->req == REQ(0), "the oldest request comes out first");
	CHECK_INT(fn.nqueue, 2, "popping counts down");
	free(q);

	/* A worker going away puts its pipeline back, last first: the order is kept, ahead. */
	fng__host_queue_push_front(&fn, item(&fn, 5, 6));
	fng__host_queue_push_front(&fn, item(&fn, 4, 5));
	CHECK_INT(fn.nqueue, 4, "requeued requests counted");
	for (int i = 0; i < 4; i++) {
		q = fng__host_queue_pop(&fn);
		CHECK(q && q->req == REQ(want[i]), "pop %d gives request %d", i, want[i]);
		free(q);
	}
	CHECK_INT(fn.nqueue, 0, "the queue is empty again");
	CHECK(fng__list_empty(&fn.queue), "and its list too");
}

static void queue_take(void)
{
	struct fng_fn fn;
	struct fng_gen g;
	struct qitem *q;

	fn_init(&fn, &g);
	for (int i = 0; i < 3; i++) {
		fng__host_queue_push(&fn, item(&fn, i, 100));
	}
	CHECK(fng__host_queue_take(&fn, REQ(7)) == NULL, "a request not queued is not taken");
	CHECK_INT(fn.nqueue, 3, "nor counted down");
	q = fng__host_queue_take(&fn, REQ(1));
	CHECK(q && q->req == REQ(1), "a cancelled request is taken from the middle");
	CHECK_INT(fn.nqueue, 2, "and counted down");
	free(q);
	CHECK(fng__host_queue_take(&fn, REQ(1)) == NULL, "a request is taken once only");
	q = fng__host_queue_pop(&fn);
	CHECK(q && q->req == REQ(0), "the others keep their order (first)");
	free(q);
	q = fng__host_queue_pop(&fn);
	CHECK(q && q->req == REQ(2), "the others keep their order (second)");
	free(q);
}

static void queue_expiry(void)
{
	struct fng_fn fn;
	struct fng_gen g;
	struct qitem *q;

	fn_init(&fn, &g);
	q = item(&fn, 0, 1000);
	CHECK(!fng__host_qitem_expired(q, 999), "a request before its deadline is invoked");
	CHECK(fng__host_qitem_expired(q, 1000), "a request at its deadline is answered 504");
	CHECK(fng__host_qitem_expired(q, 5000), "and one past it");
	free(q);
}

static void admission(void)
{
	struct fng_fn fn;
	struct fng_gen g;
	struct fng_worker *busy;

	fn_init(&fn, &g); /* queue: 2 */
	CHECK(fng__host_queue_admit(&fn), "no worker yet: a request may wait (cold start)");
	fn.nqueue = 1;
	CHECK(fng__host_queue_admit(&fn), "the second waiting request is admitted");
	fn.nqueue = 2;
	CHECK(!fng__host_queue_admit(&fn), "the third is refused (429): queue is 2");
	worker_add(&g, W_IDLE, 0);
	CHECK(fng__host_queue_admit(&fn), "an idle worker takes one more");
	busy = worker_add(&g, W_BUSY, 1);
	CHECK(fng__host_queue_admit(&fn), "a busy worker running one adds no wait");
	busy->nslots = 2;
	CHECK(!fng__host_queue_admit(&fn), "one waiting behind a running invocation counts");
	fn.nqueue = 0;
	busy->nslots = 4;
	CHECK(!fng__host_queue_admit(&fn), "three waiting in a pipeline fill idle + queue");
	busy->nslots = 3;
	CHECK(fng__host_queue_admit(&fn), "two waiting in a pipeline leave room for one");
	worker_add(&g, W_STARTING, 0);
	worker_add(&g, W_RETIRING, 0);
	CHECK(fng__host_queue_admit(&fn), "starting and retiring workers change nothing");
	fn.nqueue = 1;
	CHECK(!fng__host_queue_admit(&fn), "nor make room");
	workers_free(&g);
}

static void pipelining(void)
{
	struct fng_fn fn;
	struct fng_gen g;

	fn_init(&fn, &g); /* concurrency 2, pipeline 4 */
	worker_add(&g, W_BUSY, 1);
	worker_add(&g, W_BUSY, 1);
	CHECK(!fng__host_pipelined(&fn), "a new function counts as slow: not pipelined");
	fn.service_ns = PIPELINE_MAX_SERVICE_NS - 1;
	CHECK(fng__host_pipelined(&fn), "short invocations, a full pool: pipelined");
	fn.service_ns = PIPELINE_MAX_SERVICE_NS;
	CHECK(!fng__host_pipelined(&fn), "invocations of 1 ms on average are not");
	fn.service_ns = 1000;
	g.limits.pipeline = 1;
	CHECK(!fng__host_pipelined(&fn), "pipeline: 1 turns it off");
	g.limits.pipeline = 4;
	g.limits.concurrency = 3;
	CHECK(!fng__host_pipelined(&fn), "a pool below its size starts a worker instead");
	workers_free(&g);
}

static void picking(void)
{
	struct fng_fn fn;
	struct fng_gen g;
	struct fng_worker *a, *b, *c, *d;

	fn_init(&fn, &g);
	CHECK(fng__host_pick_worker(&g, true) == NULL, "no worker: none picked");
	a = worker_add(&g, W_BUSY, 3);
	b = worker_add(&g, W_BUSY, 2);
	c = worker_add(&g, W_STARTING, 0);
	CHECK(fng__host_pick_worker(&g, false) == NULL, "busy and starting workers: none");
	CHECK(fng__host_pick_worker(&g, true) == b, "pipelined: the busy one with fewest slots");
	b->invocations = 98; /* 98 + 2 slots reach max_invocations 100 */
	CHECK(fng__host_pick_worker(&g, true) == a, "not one about to be recycled");
	a->nslots = 4;
	CHECK(fng__host_pick_worker(&g, true) == NULL, "nor one whose pipeline is full");
	d = worker_add(&g, W_IDLE, 0);
	c->state = W_IDLE;
	CHECK(fng__host_pick_worker(&g, true) == d, "idle first, the most recently used");
	CHECK(fng__host_pick_worker(&g, false) == d, "with or without pipelining");
	d->state = W_RETIRING;
	CHECK(fng__host_pick_worker(&g, false) == c, "a retiring worker is never picked");
	workers_free(&g);
}

static void pipeline_slots(void)
{
	struct fng_worker w = { .state = W_BUSY, .nslots = 4, .kill_at = 500 };

	w.slots[0] = (struct slot){ REQ(0), 100 };
	w.slots[1] = (struct slot){ REQ(1), 300 };
	w.slots[2] = (struct slot){ REQ(2), 200 };
	w.slots[3] = (struct slot){ REQ(3), 900 };
	CHECK_INT(fng__host_worker_due(&w), 200, "due at the earliest waiting deadline");
	CHECK(fng__host_slot_expired(&w, 150) == NULL, "nothing waiting expired at 150");
	CHECK(fng__host_slot_expired(&w, 300) == REQ(1), "at 300 the first expired comes out");
	CHECK(w.slots[1].req == NULL, "its slot is emptied (its RESULT will be dropped)");
	CHECK(fng__host_slot_expired(&w, 300) == REQ(2), "then the next");
	CHECK(fng__host_slot_expired(&w, 300) == NULL, "and no more");
	CHECK(w.slots[0].req == REQ(0), "the running invocation is never expired here");
	CHECK_INT(w.nslots, 4, "slots stay in place: RESULTs come in order");
	CHECK_INT(fng__host_worker_due(&w), 500, "answered slots do not count: the kill time");
	w.kill_at = 1000;
	CHECK_INT(fng__host_worker_due(&w), 900, "the last one waiting comes before the kill");

	CHECK(!fng__host_slot_cancel(&w, REQ(0)), "the running invocation is not cancelled");
	CHECK(!fng__host_slot_cancel(&w, REQ(1)), "an answered one is not there any more");
	CHECK(fng__host_slot_cancel(&w, REQ(3)), "a waiting one is cancelled");
	CHECK(w.slots[3].req == NULL, "and its slot emptied");
	CHECK(!fng__host_slot_cancel(&w, REQ(3)), "once");
	CHECK_INT(fng__host_worker_due(&w), 1000, "nothing waits: due at the kill time");
}

int main(void)
{
	queue_order();
	queue_take();
	queue_expiry();
	admission();
	pipelining();
	picking();
	pipeline_slots();
	return fng_test_done();
}
