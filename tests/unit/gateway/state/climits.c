// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/state/climits.c and cquota.c, limits and quotas on Redis, against a real
 * redis-server the test starts on a free loopback port (skipped when there is none): the
 * lease script over two buckets (all or none, the refusing bucket named, a refusal answered
 * from memory until its bucket has a token), requests waiting on one script taking exactly
 * their tokens, the failure policy (rate/N locally, or closed) while Redis is down; quota
 * reservations capped at what other nodes left, the give-back, and a Redis that lost its data
 * holding grants while the node puts its share back.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "climits.h"
#include "cluster.h"
#include "config.h"
#include "harness.h"
#include "redis_test.h"
#include "server.h"

static int rport;
static pid_t rpid = -1;

/* redis-cli's answer to args (one line), into out. */
static void cli(char *out, size_t size, const char *args)
{
	char cmdline[512];
	FILE *f;

	snprintf(cmdline, sizeof(cmdline), "redis-cli -p %d %s 2>/dev/null", rport, args);
	out[0] = '\0';
	if ((f = popen(cmdline, "r"))) {
		if (fgets(out, (int)size, f)) {
			out[strcspn(out, "\n")] = '\0';
		}
		pclose(f);
	}
}

static bool redis_start(void)
{
	char pong[16];

	rpid = fng_test_redis_start(rport, NULL, NULL);
	for (int i = 0; i < 300 && rpid > 0; i++) {
		cli(pong, sizeof(pong), "PING");
		if (strcmp(pong, "PONG") == 0) {
			return true;
		}
		usleep(10000);
	}
	return false;
}

static void redis_stop(void)
{
	fng_test_redis_stop(rpid, SIGKILL);
	rpid = -1;
}

/* ---- the loop ---- */

struct env {
	uv_loop_t loop;
	struct fng_config cfg;
	struct fng_server srv;
	struct fng_limit_store *st;
};

static void env_init(struct env *e, uint32_t lease, bool closed)
{
	static char addr[32];

	memset(e, 0, sizeof(*e));
	uv_loop_init(&e->loop);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rport);
	e->cfg.refs = 1;
	e->cfg.throttle.memory_bytes = 1 << 20;
	e->cfg.cluster = (struct fng_cluster_cfg){
		.on = true, .redis = addr, .host = "127.0.0.1", .port = (uint16_t)rport,
		.key_prefix = "u:", .node_id = "n1",
		.connect_timeout_ms = 500, .command_timeout_ms = 300,
		.heartbeat_ms = 100, .node_ttl_ms = 500,
		.reconnect_min_ms = 20, .reconnect_max_ms = 100,
	};
	e->cfg.cluster_limits = (struct fng_cluster_limits_cfg){ .lease = lease, .lease_ms = 50,
		.expected_nodes = 2, .limits_fail_closed = closed };
	e->srv.loop = &e->loop;
	e->srv.cfg = &e->cfg;
	e->st = fng__climits_store(&e->srv);
}

static void guard_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

static bool run_until(struct env *e, bool (*done)(void *), void *arg, unsigned ms)
{
	uv_timer_t guard;
	bool late = false;

	uv_timer_init(&e->loop, &guard);
	guard.data = &late;
	uv_timer_start(&guard, guard_cb, ms, 0);
	while (!done(arg) && !late) {
		uv_run(&e->loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	return done(arg);
}

static bool is_up(void *arg)
{
	return fng__cluster_up(fng__cluster(&((struct env *)arg)->srv));
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void env_finish(struct env *e)
{
	fng__climits_close(&e->srv);
	fng__cluster_close(&e->srv);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	fng__climits_free(&e->srv);
	CHECK_INT(uv_loop_close(&e->loop), 0, "the loop closes: every handle was closed");
}

/* ---- limits ---- */

struct wait {
	struct fng_limit_wait w;
	struct fng_limit_answer ans;
	int rc, calls;
};

static void wait_done(struct fng_limit_wait *w, int rc)
{
	struct wait *x = fng__container_of(w, struct wait, w);

	x->rc = rc;
	x->calls++;
}

static bool all_done(void *arg)
{
	struct wait *x = arg;

	for (int i = 0; i < 20; i++) {
		if (x[i].w.done && !x[i].calls) {
			return false;
		}
	}
	return true;
}

/* take_wait answered at once (0) or after the loop ran: 0 and *ans, or the error. */
static int take(struct env *e, const struct fng_limit_ask *asks, unsigned n,
	struct fng_limit_answer *ans)
{
	struct wait x[20] = { 0 };
	int rc;

	x[0].w.done = wait_done;
	rc = e->st->ops->take_wait(e->st, asks, n, uv_hrtime(), &x[0].ans, &x[0].w);
	if (rc == FNG_LIMIT_PENDING) {
		CHECK(x[0].calls == 0, "not answered inside the call");
		if (!run_until(e, all_done, x, 2000)) {
			return -ETIMEDOUT;
		}
		CHECK_INT(x[0].calls, 1, "answered once");
		rc = x[0].rc;
	}
	*ans = x[0].ans;
	return rc;
}

static void test_lease(void)
{
	struct env e;
	struct fng_limit_ask asks[2] = { { "wide", 4, 10, 100 }, { "narrow", 6, 1, 3 } };
	struct fng_limit_answer ans;
	struct wait x[20] = { 0 };
	char out[64];
	int ok = 0, rc;

	env_init(&e, 4, false);
	CHECK(e.st != NULL, "a shared store with cluster: configured");
	CHECK(run_until(&e, is_up, &e, 2000), "connected");
	for (int i = 0; i < 3; i++) {
		ok += take(&e, asks, 2, &ans) == 0 && ans.refused < 0;
	}
	CHECK_INT(ok, 3, "the narrow bucket's burst of 3 taken");
	rc = take(&e, asks, 2, &ans);
	CHECK(rc == 0 && ans.refused == 1, "then refused by the second bucket (%d, %d)", rc,
		ans.refused);
	CHECK(ans.retry_ns > 0 && ans.retry_ns <= 1000000000ULL, "Retry in (0, 1 s]: %llu ns",
		(unsigned long long)ans.retry_ns);
	x[0].w.done = wait_done;
	rc = e.st->ops->take_wait(e.st, asks, 2, uv_hrtime(), &x[0].ans, &x[0].w);
	CHECK(rc == 0 && x[0].ans.refused == 1, "the refusal answered from memory, no round trip");
	cli(out, sizeof(out), "GET u:l:wide");
	CHECK(strtoull(out, NULL, 10) > 0, "the wide bucket was charged too: tat %s", out);
	cli(out, sizeof(out), "PTTL u:l:narrow");
	CHECK(atoi(out) > 1000 && atoi(out) <= 3001, "the narrow one's key expires when full "
		"again: %s ms", out);

	/* 20 requests waiting on one script: exactly their 20 tokens leave the bucket. */
	{
		struct fng_limit_ask one[1] = { { "many", 4, 10, 100 } };

		memset(x, 0, sizeof(x));
		for (int i = 0; i < 20; i++) {
			x[i].w.done = wait_done;
			rc = e.st->ops->take_wait(e.st, one, 1, uv_hrtime(), &x[i].ans, &x[i].w);
			CHECK_INT(rc, FNG_LIMIT_PENDING, "request %d waits", i);
		}
		CHECK(run_until(&e, all_done, x, 2000), "all answered");
		ok = 0;
		for (int i = 0; i < 20; i++) {
			ok += x[i].calls == 1 && x[i].rc == 0 && x[i].ans.refused < 0;
		}
		CHECK_INT(ok, 20, "all 20 granted");
		cli(out, sizeof(out), "PTTL u:l:many");
		CHECK(atoi(out) > 1800 && atoi(out) <= 2001, "20 tokens of 100 ms taken, not a "
			"lease more: the bucket is full in %s ms", out);
	}
	/* A client gone while waiting: cancel, never called. */
	{
		struct fng_limit_ask one[1] = { { "gone", 4, 10, 100 } };

		memset(x, 0, sizeof(x));
		x[0].w.done = wait_done;
		CHECK_INT(e.st->ops->take_wait(e.st, one, 1, uv_hrtime(), &x[0].ans, &x[0].w),
			FNG_LIMIT_PENDING, "waits");
		e.st->ops->cancel(e.st, &x[0].w);
		run_until(&e, never, NULL, 200);
		CHECK_INT(x[0].calls, 0, "a cancelled wait is not called");
	}

	/* Redis down: local buckets of rate/N, burst/N (N = 2). */
	redis_stop();
	run_until(&e, never, NULL, 100);
	{
		struct fng_limit_ask one[1] = { { "down", 4, 10, 10 } };

		ok = 0;
		for (int i = 0; i < 10; i++) {
			ok += take(&e, one, 1, &ans) == 0 && ans.refused < 0;
		}
		CHECK_INT(ok, 5, "while Redis is down, a burst of 10 is 5 on each of 2 nodes");
	}
	CHECK(redis_start(), "redis-server started again");
	CHECK(run_until(&e, is_up, &e, 3000), "reconnected");
	env_finish(&e);

	env_init(&e, 4, true);
	redis_stop();
	run_until(&e, never, NULL, 100);
	CHECK_INT(take(&e, asks, 2, &ans), FNG_CLIMITS_DOWN, "limits_on_failure: closed");
	CHECK(redis_start(), "redis-server started again");
	env_finish(&e);
}

/* ---- quotas ---- */

struct qwait {
	struct fng_kwait w;
	int rc, calls;
};

static void qdone(struct fng_kwait *w, int rc)
{
	struct qwait *q = fng__container_of(w, struct qwait, w);

	q->rc = rc;
	q->calls++;
}

static bool qcalled(void *arg)
{
	return ((struct qwait *)arg)->calls > 0;
}

/* One request counted: 0 granted, 1 refused, or the error. */
static int quota(struct env *e, const struct fng_usage_plan *p)
{
	struct fng_quota_answer ans;
	int rc;

	for (int tries = 0; tries < 5; tries++) {
		struct qwait q = { .w.done = qdone };

		rc = fng__cquota_take(&e->srv, "kAAAA", p, time(NULL), &q.w, &ans);
		if (rc != FNG_KEYSTATE_PENDING) {
			return rc ? rc : ans.refused;
		}
		if (!run_until(e, qcalled, &q, 2000)) {
			return -ETIMEDOUT;
		}
		if (q.rc) {
			return q.rc;
		}
	}
	return -EAGAIN;
}

static void hget(char *out, size_t size, const char *key)
{
	char cmdline[200];

	snprintf(cmdline, sizeof(cmdline), "HGET %s n1", key);
	cli(out, size, cmdline);
}

static void test_quota(void)
{
	struct env e;
	struct fng_usage_plan p = { .name = "gold", .quota = 10, .quota_batch = 4,
		.period = FNG_PERIOD_DAY };
	char out[64], key[128];
	int ok = 0, rc;

	snprintf(key, sizeof(key), "u:q:gold:kAAAA:%lld",
		(long long)(time(NULL) / 86400 * 86400));
	env_init(&e, 4, false);
	CHECK(fng__cquota_on(&e.srv), "quotas shared with cluster:");
	CHECK(run_until(&e, is_up, &e, 2000), "connected");
	{
		char cmdline[200];

		snprintf(cmdline, sizeof(cmdline), "HSET %s other 5", key);
		cli(out, sizeof(out), cmdline);
	}
	for (int i = 0; i < 8; i++) {
		ok += quota(&e, &p) == 0;
	}
	CHECK_INT(ok, 5, "another node holds 5 of 10: this one grants the other 5");
	hget(out, sizeof(out), key);
	CHECK_STR(out, "5", "its field");

	/* Redis loses its data: the share is put back, grants held meanwhile (closed: -EIO). */
	p.quota = 20;
	run_until(&e, never, NULL, 1100); /* a used-up quota is asked again after 1 s */
	cli(out, sizeof(out), "FLUSHALL");
	rc = quota(&e, &p);
	CHECK_INT(rc, -EIO, "a closed plan answers the hold with -EIO");
	hget(out, sizeof(out), key);
	CHECK_STR(out, "5", "the node's share was put back");
	cli(out, sizeof(out), "EXISTS u:q-hold");
	CHECK_STR(out, "1", "the hold is on");
	p.fail_open = true;
	CHECK_INT(quota(&e, &p), 0, "an open plan serves during the hold");
	env_finish(&e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP redis-server not found\n");
		return 0;
	}
	rport = fng_test_free_port();
	CHECK(redis_start(), "redis-server started on 127.0.0.1:%d", rport);
	if (rpid > 0) {
		test_lease();
		test_quota();
	}
	redis_stop();
	return fng_test_done();
}
