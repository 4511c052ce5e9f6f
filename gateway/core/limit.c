// SPDX-License-Identifier: MIT
/*
 * Token buckets (limit.h): the GCRA arithmetic and the local store, one per loop (struct
 * fng_server's limits), that stage "throttle" asks once per request. The store is a table of
 * 16-byte slots under a byte budget; full buckets carry no information and go first when the
 * table is full. Nothing here blocks or runs on another thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <uv.h>

#include "limit.h"

#define NS 1000000000ULL

bool fng__limit_gcra(const struct fng_limit_ask *a, uint64_t tat, uint64_t now,
	uint64_t *new_tat, uint32_t *remaining, uint64_t *wait_ns)
{
	uint64_t t = NS / (a->rate ? a->rate : 1);
	uint64_t tau = (uint64_t)a->burst * t;
	uint64_t next = (tat > now ? tat : now) + t;

	*new_tat = next;
	if (next - now > tau) {
		*remaining = 0;
		*wait_ns = next - now - tau; /* until max(tat, now) + T - tau <= now */
		return false;
	}
	*remaining = (uint32_t)((now + tau - next) / t);
	*wait_ns = next - now; /* until it is full again */
	return true;
}

struct slot {
	uint64_t key; /* 0: empty */
	uint64_t tat;
};

struct local {
	struct fng_limit_store base;
	struct slot *s;
	uint64_t cap, n, max_cap, seed;
	uint64_t dropped_full, dropped_live;
};

/* FNV-1a from a secret seed, then a 64-bit finalizer: clients choose names (addresses). */
static uint64_t name_hash(const struct local *l, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = l->seed;

	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i]) * 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h ? h : 1;
}

static uint64_t find(const struct local *l, uint64_t key)
{
	uint64_t i = key & (l->cap - 1);

	while (l->s[i].key && l->s[i].key != key) {
		i = (i + 1) & (l->cap - 1);
	}
	return i;
}

/* Empties slot i, moving later slots of its cluster back (linear probing's deletion). */
static void del(struct local *l, uint64_t i)
{
	uint64_t mask = l->cap - 1, j = i;

	for (;;) {
		uint64_t k;

		j = (j + 1) & mask;
		if (!l->s[j].key) {
			break;
		}
		k = l->s[j].key & mask;
		/* The slot at j may fill the hole at i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			l->s[i] = l->s[j];
			i = j;
		}
	}
	l->s[i].key = 0;
	l->n--;
}

/* Drops the buckets full by now + slack; returns how many. */
static uint64_t drop(struct local *l, uint64_t now, uint64_t slack)
{
	uint64_t before = l->n;

	for (uint64_t i = 0; i < l->cap;) {
		if (l->s[i].key && l->s[i].tat <= now + slack) {
			del(l, i); /* a later slot may have moved into i: look at it again */
		} else {
			i++;
		}
	}
	return before - l->n;
}

/* Moves the buckets into a table of cap slots (a power of two, room for them all). */
static int resize(struct local *l, uint64_t cap)
{
	struct slot *old = l->s, *s = calloc(cap, sizeof(*s));
	uint64_t ocap = l->cap;

	if (!s) {
		return -ENOMEM;
	}
	l->s = s;
	l->cap = cap;
	for (uint64_t i = 0; i < ocap; i++) {
		if (old[i].key) {
			l->s[find(l, old[i].key)] = old[i];
		}
	}
	free(old);
	return 0;
}

static int grow(struct local *l)
{
	return resize(l, l->cap ? l->cap * 2 : 64);
}

/*
 * Room for one more bucket: the table doubles while it fits the budget; then full buckets
 * are dropped, and if that leaves it over 5/8 full, those nearest to full (the least lost).
 */
static int make_room(struct local *l, uint64_t now)
{
	uint64_t slack = 1000000; /* 1 ms, doubled until enough is dropped */

	if ((l->n + 1) * FNG_LIMIT_LOAD_DEN <= l->cap * FNG_LIMIT_LOAD_NUM) {
		return 0;
	}
	if (l->cap < l->max_cap) {
		return grow(l);
	}
	l->dropped_full += drop(l, now, 0);
	while (l->n * 8 > l->cap * 5) {
		l->dropped_live += drop(l, now, slack);
		slack *= 2;
	}
	return 0;
}

static int local_take(struct fng_limit_store *st, const struct fng_limit_ask *asks, unsigned n,
	uint64_t now, struct fng_limit_answer *out)
{
	struct local *l = (struct local *)st;

	out->refused = -1;
	out->tightest = 0;
	out->remaining = UINT32_MAX;
	out->limit = 0;
	out->reset_ns = 0;
	out->retry_ns = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t key = name_hash(l, asks[i].key, asks[i].klen), tat = 0, next, wait;
		uint32_t left;

		if (l->cap) {
			uint64_t j = find(l, key);

			tat = l->s[j].key ? l->s[j].tat : 0;
		}
		if (!fng__limit_gcra(&asks[i], tat, now, &next, &left, &wait)) {
			out->refused = (int)i;
			out->tightest = i;
			out->limit = asks[i].burst;
			out->remaining = 0;
			out->retry_ns = wait;
			out->reset_ns = tat > now ? tat - now : 0;
			return 0;
		}
		if (left < out->remaining) {
			out->tightest = i;
			out->limit = asks[i].burst;
			out->remaining = left;
			out->reset_ns = wait;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t key = name_hash(l, asks[i].key, asks[i].klen), tat, next, wait, j;
		uint32_t left;
		int err;

		if ((err = make_room(l, now)) != 0) {
			return err;
		}
		j = find(l, key);
		tat = l->s[j].key ? l->s[j].tat : 0;
		fng__limit_gcra(&asks[i], tat, now, &next, &left, &wait);
		if (!l->s[j].key) {
			l->s[j].key = key;
			l->n++;
		}
		l->s[j].tat = next;
	}
	return 0;
}

/* Slots a budget allows: a power of two, the table and the one it doubles from in budget. */
static uint64_t max_cap_of(uint64_t budget)
{
	uint64_t cap = 64;

	while (cap * 2 * FNG_LIMIT_SLOT_BYTES <= budget) {
		cap *= 2;
	}
	return cap;
}

/*
 * A new budget (a reload): growth stops at the new size; a table above it is rebuilt at it,
 * after dropping full buckets, then those nearest to full, as when it is full.
 */
static int local_set_budget(struct fng_limit_store *st, uint64_t budget, uint64_t now)
{
	struct local *l = (struct local *)st;
	uint64_t slack = 1000000;

	l->max_cap = max_cap_of(budget);
	if (l->cap <= l->max_cap) {
		return 0;
	}
	l->dropped_full += drop(l, now, 0);
	while (l->n * 8 > l->max_cap * 5) {
		l->dropped_live += drop(l, now, slack);
		slack *= 2;
	}
	return resize(l, l->max_cap);
}

static void local_destroy(struct fng_limit_store *st)
{
	struct local *l = (struct local *)st;

	if (l) {
		free(l->s);
		free(l);
	}
}

static const struct fng_limit_store_ops local_ops = {
	.take = local_take,
	.set_budget = local_set_budget,
	.destroy = local_destroy,
};

struct fng_limit_store *fng__limit_local_create(uint64_t budget)
{
	struct local *l = calloc(1, sizeof(*l));

	if (!l) {
		return NULL;
	}
	l->base.ops = &local_ops;
	l->max_cap = max_cap_of(budget);
	if (getrandom(&l->seed, sizeof(l->seed), GRND_NONBLOCK) != sizeof(l->seed)) {
		l->seed = uv_hrtime() ^ (uintptr_t)l;
	}
	l->seed ^= 0xcbf29ce484222325ULL;
	return &l->base;
}

void fng__limit_local_stats(const struct fng_limit_store *st, struct fng_limit_stats *out)
{
	const struct local *l = (const struct local *)st;

	out->buckets = l->n;
	out->slots = l->cap;
	out->bytes = l->cap * sizeof(struct slot);
	out->dropped_full = l->dropped_full;
	out->dropped_live = l->dropped_live;
}
