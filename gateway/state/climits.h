/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CLIMITS_H
#define FNG_GATEWAY_CLIMITS_H

/*
 * Limits and quotas across nodes (`cluster:`, docs/config.md "Cluster: limits and quotas").
 *
 * Limits (climits.c): a token-bucket store (core/limit.h) on Redis. A node leases a few
 * tokens at a time from every bucket of a request at once (one Lua script: GCRA for k
 * tokens across the request's buckets, all or none) and spends them locally; a lease it has
 * not spent within cluster.lease_ms goes back with its next script. Tokens are counted in
 * Redis when leased, so the buckets never give more than rate x time + burst across nodes;
 * what a lease costs is on the refusing side (tokens held by one node while another is
 * refused: at most nodes x lease per bucket at any moment). While Redis cannot answer,
 * decisions follow cluster.limits_on_failure: local buckets of rate/N and burst/N, or 503.
 *
 * Quotas (cquota.c): a counter per key, plan and period in Redis (a hash of one field per
 * node), reserved a batch at a time (the plan's quota_batch) and spent locally.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "keystate.h"
#include "limit.h"

struct fng_server;
struct fng_metric_def;

/*
 * The loop's shared limit store when `cluster:` is configured and limits are shared (created
 * on first use; it answers through take_wait); NULL otherwise (the local store applies).
 */
struct fng_limit_store *fng__climits_store(struct fng_server *srv);

/* What a shared limit store answers while Redis is down and limits fail closed. */
#define FNG_CLIMITS_DOWN (-ENOTCONN)

/* Whether quotas of srv's configuration are kept in Redis. */
bool fng__cquota_on(struct fng_server *srv);

/* fng__quota_take() (keystate.h) when fng__cquota_on(): the same contract. */
int fng__cquota_take(struct fng_server *srv, const char *id, const struct fng_usage_plan *p,
	int64_t now_s, struct fng_kwait *w, struct fng_quota_answer *ans);

/*
 * The Redis key of a quota counter: PREFIX q:PLAN:ID:PERIOD_START (a hash, a field per node).
 * Into out (n bytes, truncated); returns its length. `fngate keys usage` reads it too.
 */
size_t fng__cquota_key(char *out, size_t n, const char *prefix, const char *plan,
	const char *id, int64_t period);

/*
 * The cluster-wide use of key id in each of plans (n of them, each with a quota) in the
 * period of now_s, for GET /@keys/{id}/usage: cb gets err 0 and used[i] per plan (what the
 * nodes together have counted against the quota: granted, plus batches other nodes reserved
 * and have not spent yet, which go back after about two idle seconds), or err < 0 (Redis down
 * or slow: -ENOTCONN). cb runs exactly once, later; a negative errno up front otherwise.
 */
typedef void (*fng_cquota_usage_cb)(int err, const uint64_t *used, void *arg);
int fng__cquota_usage(struct fng_server *srv, const char *id,
	const struct fng_usage_plan *const *plans, unsigned n, int64_t now_s,
	fng_cquota_usage_cb cb, void *arg);

/*
 * A clean exit (the drain is over): every counter gives back the part of its batch it has not
 * spent, so that a node stopped cleanly loses no quota. Returns the scripts sent; the caller
 * lets the loop run until the cluster has their answers (fng__cluster_settle) before closing.
 */
unsigned fng__cquota_give_back(struct fng_server *srv);

/* Closes the stores' timers (with the server's handles). */
void fng__climits_close(struct fng_server *srv);

/*
 * A shared feature ("limits", "quotas") changes state: *degraded follows down, with a log
 * line naming policy and the fngate_cluster_store_degraded gauge. No-op when unchanged.
 */
void fng__climits_transition(struct fng_server *srv, const char *feature, bool *degraded,
	bool down, const char *policy);
/* Counts a script sent (fallback: false) or a decision of the failure policy (true). */
void fng__climits_count(struct fng_server *srv, const char *feature, bool fallback);

/* cquota.c's part of the two above. */
void fng__cquota_close(struct fng_server *srv);
void fng__cquota_free(struct fng_server *srv);

/* Frees the loop's shared stores (at exit, after the cluster's connections are closed). */
void fng__climits_free(struct fng_server *srv);

/* The families of both (registered at start-up). */
extern struct fng_metric_def *const fng__climits_metrics[];

#endif
