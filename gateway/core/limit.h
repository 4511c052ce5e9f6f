/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_LIMIT_H
#define FNG_GATEWAY_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/*
 * Rate limits: token buckets behind a small store interface (the seam for a cluster). A
 * decision is one call, take(), over every bucket that applies to a request, in order: the
 * first bucket without a token refuses and then nothing is taken from any of them; otherwise
 * one token is taken from each. One call per decision is what lets a shared store (Redis: one
 * script, one round trip) make the same decision atomically. Buckets are named by bytes; the
 * store does not know what a name means (stages/throttle.c builds them).
 *
 * A bucket is kept as its theoretical arrival time (GCRA, the token bucket's equivalent):
 * with T = 1 s / rate and tau = burst * T, a request at now is allowed when
 * max(tat, now) + T - now <= tau, and tat becomes max(tat, now) + T. A bucket whose tat is
 * not after now is full: it holds no information and may be dropped.
 */

struct fng_limit_ask {
	const void *key;   /* the bucket's name */
	size_t klen;
	uint32_t rate;     /* tokens per second, >= 1 */
	uint32_t burst;    /* the bucket's size; 0 refuses everything */
};

struct fng_limit_answer {
	int refused;        /* the index of the ask that refused, -1 when taken */
	unsigned tightest;  /* the ask with the fewest tokens left (RateLimit-* headers) */
	uint32_t limit;     /* its burst */
	uint32_t remaining; /* its tokens left after the decision */
	uint64_t reset_ns;  /* until it is full again */
	uint64_t retry_ns;  /* refused: until the refusing bucket has a token */
};

struct fng_limit_store;

/*
 * A decision that waits (a shared store fetching a lease): done runs once, on the loop, later
 * (never inside take_wait), with 0 and *out filled, or a negative errno. The store owns w
 * from FNG_LIMIT_PENDING until done or cancel.
 */
struct fng_limit_wait {
	struct fng_list link;
	struct fng_limit_answer *out;
	void (*done)(struct fng_limit_wait *w, int rc);
};

#define FNG_LIMIT_PENDING 1

struct fng_limit_store_ops {
	/*
	 * Decides about one request at now (monotonic nanoseconds): asks in order, n >= 1. 0 with
	 * out->refused -1 when a token was taken from every bucket, 0 with out->refused >= 0 when
	 * one refused (nothing taken), or a negative errno (nothing decided).
	 */
	int (*take)(struct fng_limit_store *s, const struct fng_limit_ask *asks, unsigned n,
		uint64_t now, struct fng_limit_answer *out);
	/*
	 * A reload's new memory budget (bytes): a store over it drops full buckets, then those
	 * nearest to full, until it fits. 0 or -ENOMEM (the store is as it was).
	 */
	int (*set_budget)(struct fng_limit_store *s, uint64_t budget, uint64_t now);
	/*
	 * Optional (a shared store): take() that may wait, answering FNG_LIMIT_PENDING (w->done
	 * follows). The asks need only live until this call returns.
	 */
	int (*take_wait)(struct fng_limit_store *s, const struct fng_limit_ask *asks, unsigned n,
		uint64_t now, struct fng_limit_answer *out, struct fng_limit_wait *w);
	/* Removes a waiting w: its done is not called. */
	void (*cancel)(struct fng_limit_store *s, struct fng_limit_wait *w);
	/* Frees the store; NULL is a no-op. */
	void (*destroy)(struct fng_limit_store *s);
};

struct fng_limit_store {
	const struct fng_limit_store_ops *ops;
};

/* Pure bucket math for one ask at now, given the bucket's tat (0: full); see above. */
bool fng__limit_gcra(const struct fng_limit_ask *a, uint64_t tat, uint64_t now,
	uint64_t *new_tat, uint32_t *remaining, uint64_t *wait_ns);

/*
 * The local store, one per loop: an open-addressed table of 16-byte slots (a seeded 64-bit
 * hash of the bucket's name and its tat) that doubles while it fits in budget bytes. When it
 * is full, full buckets are dropped first, then those nearest to full. NULL without memory.
 */
struct fng_limit_store *fng__limit_local_create(uint64_t budget);

struct fng_limit_stats {
	uint64_t buckets;       /* held now */
	uint64_t slots;         /* the table's capacity */
	uint64_t bytes;         /* the table's size */
	uint64_t dropped_full;  /* full buckets dropped to make room */
	uint64_t dropped_live;  /* buckets dropped before they were full (their clients gain) */
};

/* The local store's counters (s from fng__limit_local_create). */
void fng__limit_local_stats(const struct fng_limit_store *s, struct fng_limit_stats *out);

/* Bytes per slot, and the table's largest load (slots used / slots) before it grows. */
#define FNG_LIMIT_SLOT_BYTES 16
#define FNG_LIMIT_LOAD_NUM 3
#define FNG_LIMIT_LOAD_DEN 4

#endif
