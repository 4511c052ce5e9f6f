// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/host/queue.c: the per-function queue of requests waiting for a worker
 * (earliest deadline first, requeueing, cancellation, expiry against a fake clock: what the
 * host's deadline timer answers and when it is due, whatever the workers do), admission
 * (under `queue`, and by the estimate of when a request would be answered against its
 * timeout), the run-time estimate, "cannot start", the choice of a worker (idle first, most recently used, pipelining only when the
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
static char reqs[16];
#define REQ(i) ((struct fng_req *)&reqs[i])

static struct qitem *item(struct fng_fn *fn, int i, uint64_t deadline)
{
	struct qitem *q = calloc(1, sizeof(*q));

	q->req = REQ(i);
	q->fn = fn;
	q->deadline = deadline;
	return q;
}

/* The host the test functions belong to: it has a supervisor (ctl) unless a case says not. */
static struct fng_functions host = { .ctl = 3 };

static void fn_init(struct fng_fn *fn, struct fng_gen *g)
{
	memset(fn, 0, sizeof(*fn));
	memset(g, 0, sizeof(*g));
	fng__list_init(&fn->queue);
	fng__list_init(&fn->old);
	fng__list_init(&g->workers);
	fn->fns = &host;
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
	/*
	 * A busy worker whose last result is being delivered (no slot left) is about to be
	 * idle: a request pipelined behind that answer on the same connection is admitted from
	 * inside the delivery, and must find room (the count once underflowed: 429).
	 */
	busy->nslots = 0;
	CHECK(fng__host_queue_admit(&fn), "a busy worker with no slot left counts as idle");
	workers_free(&g);
}

static void deadline_order(void)
{
	static const int want[] = { 3, 0, 4, 1, 5, 2 };
	struct fng_fn fn;
	struct fng_gen g;
	struct qitem *q;

	fn_init(&fn, &g);
	/* A redeploy cut the timeout: a later request can be due first. */
	fng__host_queue_push(&fn, item(&fn, 0, 100));
	fng__host_queue_push(&fn, item(&fn, 1, 200));
	fng__host_queue_push(&fn, item(&fn, 2, 300));
	fng__host_queue_push(&fn, item(&fn, 3, 50));
	/* Same deadline as a queued one: a new request goes after it, a requeued one before. */
	fng__host_queue_push(&fn, item(&fn, 5, 200));
	fng__host_queue_push_front(&fn, item(&fn, 4, 200));
	CHECK_INT(fn.nqueue, 6, "six queued");
	for (int i = 0; i < 6; i++) {
		q = fng__host_queue_pop(&fn);
		CHECK(q && q->req == REQ(want[i]), "pop %d gives request %d", i, want[i]);
		free(q);
	}
}

/*
 * What the host's deadline timer does, against a fake clock: it is due at the earliest
 * deadline of all queues and answers every request due then, in any function, with no worker
 * anywhere (a pool whose workers are all stuck or cannot start is the same to it).
 */
static void timer_expiry(void)
{
	struct fng_functions fns;
	struct fng_fn a, b;
	struct fng_gen ga, gb;
	struct qitem *q;
	int n = 0;

	memset(&fns, 0, sizeof(fns));
	fn_init(&a, &ga);
	fn_init(&b, &gb);
	a.fns = b.fns = &fns;
	fns.fns[fns.nfns++] = &a;
	fns.fns[fns.nfns++] = &b;
	CHECK(fng__host_queue_due(&fns) == UINT64_MAX, "nothing queued: never due");
	fng__host_queue_push(&a, item(&a, 0, 3000));
	fng__host_queue_push(&a, item(&a, 1, 3010));
	fng__host_queue_push(&b, item(&b, 2, 1500));
	fng__host_queue_push(&b, item(&b, 3, 9000));
	worker_add(&ga, W_BUSY, 1); /* stuck: it never answers */
	worker_add(&gb, W_STARTING, 0);
	CHECK_INT(fng__host_queue_due(&fns), 1500, "due at the earliest deadline of all queues");
	CHECK(fng__host_queue_expired(&b, 1499) == NULL, "nothing expired before it");
	q = fng__host_queue_expired(&b, 1500);
	CHECK(q && q->req == REQ(2), "at 1500 the request due then is taken off its queue");
	free(q);
	CHECK(fng__host_queue_expired(&b, 1500) == NULL, "the next of b is not due yet");
	CHECK_INT(b.nqueue, 1, "b keeps the other");
	CHECK_INT(fng__host_queue_due(&fns), 3000, "then due at a's head");
	while ((q = fng__host_queue_expired(&a, 3010)) != NULL) {
		n++;
		free(q);
	}
	CHECK_INT(n, 2, "at 3010 both of a's are answered although its worker is busy");
	CHECK_INT(fng__host_queue_due(&fns), 9000, "then due at b's last");
	q = fng__host_queue_pop(&b);
	free(q);
	CHECK(fng__host_queue_due(&fns) == UINT64_MAX, "served: nothing is due");
	workers_free(&ga);
	workers_free(&gb);
}

static void estimate(void)
{
	struct fng_fn fn;
	struct fng_gen g;
	struct fng_worker *w;

	fn_init(&fn, &g);
	g.limits.queue = 32768;
	g.limits.timeout_ms = 3000;
	CHECK_INT(fng__host_queue_estimate_ns(&fn), 0, "no run time measured: no estimate");
	fn.nqueue = 30000;
	CHECK(fng__host_queue_admit(&fn), "so a cold burst is admitted up to the bound");
	fn.nqueue = 32768;
	CHECK(!fng__host_queue_admit(&fn), "the bound holds (429)");
	CHECK(strstr(fng__host_queue_refusal(&fn), "queue is full") != NULL,
		"and says so: %s", fng__host_queue_refusal(&fn));

	fn.nqueue = 0;
	fng__host_service_sample(&fn, 1000000);
	CHECK_INT(fn.run_ns, 1000000, "the first run time is taken as it is");
	CHECK_INT(fng__host_queue_estimate_ns(&fn), 1000000, "alone: its own run time");
	w = worker_add(&g, W_BUSY, 3);
	worker_add(&g, W_BUSY, 1);
	fn.nqueue = 5;
	/* 2 running + 2 in a pipeline + 5 queued + itself = 10 over 2 workers: 5 run times. */
	CHECK_INT(fng__host_queue_estimate_ns(&fn), 5000000, "what is ahead over concurrency");
	fn.nqueue = 5995; /* 6000 with it: 3000 run times of 1 ms, the timeout exactly */
	CHECK(fng__host_queue_admit(&fn), "answered by its deadline: admitted");
	fn.nqueue = 5996;
	CHECK(!fng__host_queue_admit(&fn), "past its deadline by the estimate: 429");
	CHECK(strstr(fng__host_queue_refusal(&fn), "in time") != NULL,
		"and says why: %s", fng__host_queue_refusal(&fn));
	g.limits.timeout_ms = 6000;
	CHECK(fng__host_queue_admit(&fn), "a longer timeout lets it wait");
	w->nslots = 1;
	g.limits.timeout_ms = 3000;
	CHECK(fng__host_queue_admit(&fn), "fewer ahead in the pipeline: admitted again");

	/* Runs measured across a stalled loop move the estimate by 1/16 each at most. */
	fng__host_service_sample(&fn, 1000000000);
	CHECK_INT(fn.run_ns, 1062500, "a 1000x outlier moves it by 1/16");
	for (int i = 0; i < 10; i++) {
		fng__host_service_sample(&fn, 1000000000);
	}
	CHECK(fn.run_ns < 2000000, "ten of them less than double it (%llu ns)",
		(unsigned long long)fn.run_ns);
	for (int i = 0; i < 80; i++) {
		fng__host_service_sample(&fn, 20000000);
	}
	CHECK(fn.run_ns > 19000000, "a function that really got slower is followed (%llu ns)",
		(unsigned long long)fn.run_ns);
	for (int i = 0; i < 20; i++) {
		fng__host_service_sample(&fn, 20000);
	}
	CHECK(fn.run_ns < 40000, "and one that got faster (%llu ns)",
		(unsigned long long)fn.run_ns);
	workers_free(&g);
}

static void cannot_start(void)
{
	struct fng_fn fn;
	struct fng_gen g;
	struct fng_worker *w;

	fn_init(&fn, &g);
	CHECK(!fng__host_cannot_start(&fn, true), "no start failed: it can start");
	g.start_failures = 1;
	CHECK(fng__host_cannot_start(&fn, true), "a start failed and no worker: it cannot");
	CHECK(fng__host_cannot_start(&fn, false), "(either way)");
	w = worker_add(&g, W_STARTING, 0);
	CHECK(!fng__host_cannot_start(&fn, true), "a new attempt under way: wait for it");
	CHECK(fng__host_cannot_start(&fn, false), "but at a deadline it still cannot (503)");
	w->state = W_DEAD;
	worker_add(&g, W_RETIRING, 0);
	CHECK(fng__host_cannot_start(&fn, true), "dead and retiring workers serve nobody");
	w->state = W_IDLE;
	CHECK(!fng__host_cannot_start(&fn, false), "an idle worker serves: it can");
	w->state = W_BUSY;
	CHECK(!fng__host_cannot_start(&fn, false), "a busy one too (504 at a deadline)");
	fn.current = NULL;
	CHECK(!fng__host_cannot_start(&fn, true), "no version: not deployed, another 503");
	workers_free(&g);

	/* No supervisor (it died; the next waits out its back-off): no worker is coming. */
	fn_init(&fn, &g);
	host.ctl = -1;
	CHECK(fng__host_cannot_start(&fn, true), "no supervisor, no worker: it cannot start");
	w = worker_add(&g, W_SPAWNING, 0);
	CHECK(fng__host_cannot_start(&fn, true), "a worker asked for waits for the next "
		"supervisor: no attempt under way");
	w->state = W_IDLE;
	CHECK(!fng__host_cannot_start(&fn, true), "a live worker still serves");
	host.ctl = 3;
	w->state = W_SPAWNING;
	CHECK(!fng__host_cannot_start(&fn, true), "with a supervisor the spawn is under way");
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
	deadline_order();
	timer_expiry();
	estimate();
	cannot_start();
	pipelining();
	picking();
	pipeline_slots();
	return fng_test_done();
}
