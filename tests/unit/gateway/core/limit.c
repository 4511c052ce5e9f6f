// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/core/limit.c without a loop or a clock: the bucket arithmetic (a burst
 * then the steady rate, remaining, reset and retry times, burst 0), a decision over several
 * buckets (the first empty one refuses and nothing is taken from the others), and the local
 * store under its byte budget: a million distinct identities stay within it, full buckets are
 * dropped before live ones, and the bytes per identity are measured.
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "limit.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

static struct fng_limit_ask ask(const char *key, uint32_t rate, uint32_t burst)
{
	return (struct fng_limit_ask){ key, strlen(key), rate, burst };
}

static int take1(struct fng_limit_store *s, const char *key, uint32_t rate, uint32_t burst,
	uint64_t now, struct fng_limit_answer *a)
{
	struct fng_limit_ask q = ask(key, rate, burst);

	if (s->ops->take(s, &q, 1, now, a) != 0) {
		return -1;
	}
	return a->refused < 0;
}

static void test_math(void)
{
	struct fng_limit_ask a = ask("x", 10, 5);
	uint64_t tat = 0, next, wait, now = 100 * SEC;
	uint32_t left;
	unsigned ok = 0;

	for (int i = 0; i < 10; i++) {
		if (fng__limit_gcra(&a, tat, now, &next, &left, &wait)) {
			tat = next;
			ok++;
		}
	}
	CHECK_INT(ok, 5, "a burst of 5 at one instant: 5 taken");
	CHECK(!fng__limit_gcra(&a, tat, now, &next, &left, &wait) && wait == 100 * MS,
		"the 6th waits one period (100 ms): %llu", (unsigned long long)wait);
	CHECK(fng__limit_gcra(&a, tat, now + 100 * MS, &next, &left, &wait) && left == 0,
		"one period later one token, none left");
	fng__limit_gcra(&a, 0, now, &next, &left, &wait);
	CHECK(left == 4 && wait == 100 * MS, "first of a full bucket: 4 left, full in 100 ms");
	/* Steady state: over 10 s at 1000 requests/s offered, 5 + 100 taken. */
	tat = 0;
	ok = 0;
	for (uint64_t t = 0; t <= 10 * SEC; t += MS) {
		if (fng__limit_gcra(&a, tat, now + t, &next, &left, &wait)) {
			tat = next;
			ok++;
		}
	}
	CHECK(ok >= 100 + 5 && ok <= 100 + 5 + 1, "10 s at 10/s, burst 5: %u taken", ok);
	a.burst = 0;
	CHECK(!fng__limit_gcra(&a, 0, now, &next, &left, &wait), "burst 0 refuses everything");
}

static void test_levels(void)
{
	struct fng_limit_store *s = fng__limit_local_create(1 << 20);
	struct fng_limit_ask q[3] = { ask("client", 100, 3), ask("route", 100, 10),
		ask("stage", 100, 2) };
	struct fng_limit_answer a;
	uint64_t now = SEC;

	CHECK(s->ops->take(s, q, 3, now, &a) == 0 && a.refused == -1, "first: taken");
	CHECK(a.tightest == 2 && a.remaining == 1 && a.limit == 2, "tightest is the stage's");
	CHECK(s->ops->take(s, q, 3, now, &a) == 0 && a.refused == -1, "second: taken");
	CHECK(s->ops->take(s, q, 3, now, &a) == 0 && a.refused == 2, "third: the stage refuses");
	CHECK(a.retry_ns == 10 * MS, "retry in one period of the stage's: %llu",
		(unsigned long long)a.retry_ns);
	/* Nothing was taken from client and route by the refusal: client still has 1. */
	CHECK(take1(s, "client", 100, 3, now, &a) == 1 && a.remaining == 0,
		"the refusal took nothing from the client's bucket");
	CHECK(take1(s, "client", 100, 3, now, &a) == 0, "now the client's is empty");
	q[2].burst = 100;
	CHECK(s->ops->take(s, q, 3, now, &a) == 0 && a.refused == 0,
		"the client's refuses first, in order");
	s->ops->destroy(s);
}

/* A million IPv4 identities, 1 ms apart, in a 32 MiB budget: all kept, within budget. */
static void test_budget(void)
{
	uint64_t budget = 32 << 20;
	struct fng_limit_store *s = fng__limit_local_create(budget);
	struct fng_limit_stats st;
	struct fng_limit_answer a;
	unsigned refused = 0;
	uint64_t now = SEC;

	for (uint32_t i = 0; i < 1000000; i++) {
		char key[8] = { 'c', 'i', (char)(i >> 24), (char)(i >> 16), (char)(i >> 8), (char)i };
		struct fng_limit_ask q = { key, 6, 50, 50 };

		if (s->ops->take(s, &q, 1, now, &a) != 0 || a.refused >= 0) {
			refused++;
		}
	}
	fng__limit_local_stats(s, &st);
	CHECK(refused == 0, "a million identities: none refused");
	CHECK(st.buckets == 1000000 && st.bytes <= budget, "all kept: %llu buckets in %llu bytes",
		(unsigned long long)st.buckets, (unsigned long long)st.bytes);
	printf("# bytes per identity: %.1f (table %llu bytes for %llu buckets)\n",
		(double)st.bytes / (double)st.buckets, (unsigned long long)st.bytes,
		(unsigned long long)st.buckets);
	CHECK(st.dropped_full == 0 && st.dropped_live == 0, "nothing dropped");
	/* One second later all are full (50/s refills 1 token in 20 ms): the next million go
	 * into their room by dropping full buckets only. */
	now += 2 * SEC;
	for (uint32_t i = 0; i < 1000000; i++) {
		char key[8] = { 'c', 'j', (char)(i >> 24), (char)(i >> 16), (char)(i >> 8), (char)i };
		struct fng_limit_ask q = { key, 6, 50, 50 };

		s->ops->take(s, &q, 1, now, &a);
	}
	fng__limit_local_stats(s, &st);
	CHECK(st.bytes <= budget && st.dropped_full > 0 && st.dropped_live == 0,
		"a second million: full buckets dropped (%llu), no live one, %llu bytes",
		(unsigned long long)st.dropped_full, (unsigned long long)st.bytes);
	/* Now a million live ones at one instant: live buckets must go, the budget holds. */
	for (uint32_t i = 0; i < 1000000; i++) {
		char key[8] = { 'c', 'k', (char)(i >> 24), (char)(i >> 16), (char)(i >> 8), (char)i };
		struct fng_limit_ask q = { key, 6, 1, 50 };

		s->ops->take(s, &q, 1, now, &a);
	}
	fng__limit_local_stats(s, &st);
	CHECK(st.bytes <= budget, "a third million, all live: still %llu bytes (dropped live %llu)",
		(unsigned long long)st.bytes, (unsigned long long)st.dropped_live);
	s->ops->destroy(s);
}

/* A small table: the bucket that is refilling survives while the full ones are dropped. */
static void test_drop_order(void)
{
	struct fng_limit_store *s = fng__limit_local_create(4096);
	struct fng_limit_answer a;
	uint64_t now = SEC;
	char key[16];

	take1(s, "busy", 1, 2, now, &a);
	take1(s, "busy", 1, 2, now, &a); /* empty for a second */
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "idle%d", i);
		take1(s, key, 1000, 1, now, &a); /* full again 1 ms later */
		now += 2 * MS;
		if (now > SEC + 900 * MS) {
			now = SEC + 900 * MS;
		}
	}
	CHECK(take1(s, "busy", 1, 2, now, &a) == 0, "the busy client is still refused");
	s->ops->destroy(s);
}

/* A reload's smaller budget: the table is rebuilt within it, full buckets dropped first. */
static void test_set_budget(void)
{
	struct fng_limit_store *s = fng__limit_local_create(1 << 20);
	struct fng_limit_stats st;
	struct fng_limit_answer a;
	char name[32];
	uint64_t now = 1000 * SEC;
	unsigned live_kept = 0, kept;

	/* 20000 buckets: 10000 full again by now + 1 s (rate 1000), 10000 live for 100 s. */
	for (unsigned i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "%c%u", i % 2 ? 'l' : 'f', i);
		take1(s, name, i % 2 ? 1 : 1000, 100, now, &a);
		if (i % 2) {
			take1(s, name, 1, 100, now, &a); /* twice: 2 s from full */
		}
	}
	fng__limit_local_stats(s, &st);
	CHECK(st.buckets == 20000 && st.bytes <= (1 << 20), "20000 buckets in 1 MiB (%llu bytes)",
		(unsigned long long)st.bytes);
	CHECK(s->ops->set_budget(s, 256 << 10, now + SEC) == 0, "a budget of 256 KiB applied");
	fng__limit_local_stats(s, &st);
	CHECK(st.bytes <= (256 << 10) && st.buckets <= st.slots * 5 / 8,
		"the table fits it: %llu bytes, %llu of %llu slots", (unsigned long long)st.bytes,
		(unsigned long long)st.buckets, (unsigned long long)st.slots);
	CHECK(st.dropped_full == 10000, "the full buckets went first (%llu)",
		(unsigned long long)st.dropped_full);
	kept = (unsigned)st.buckets;
	for (unsigned i = 1; i < 20000; i += 2) {
		snprintf(name, sizeof(name), "l%u", i);
		take1(s, name, 1, 100, now + SEC, &a);
		live_kept += a.remaining < 99; /* this bucket remembered its two takes (fresh: 99) */
	}
	CHECK(kept == 10000 && live_kept == kept, "every live bucket kept its state (%u of %u)",
		live_kept, kept);
	CHECK(s->ops->set_budget(s, 4 << 20, now + SEC) == 0, "a larger budget: growth may go on");
	for (unsigned i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		take1(s, name, 1, 100, now + 2 * SEC, &a);
	}
	fng__limit_local_stats(s, &st);
	CHECK(st.bytes > (256 << 10) && st.bytes <= (4 << 20), "it grew past the old budget, "
		"within the new (%llu bytes)", (unsigned long long)st.bytes);
	s->ops->destroy(s);
}

int main(void)
{
	test_math();
	test_levels();
	test_budget();
	test_drop_order();
	test_set_budget();
	return fng_test_done();
}
