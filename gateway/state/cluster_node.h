/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CLUSTER_NODE_H
#define FNG_GATEWAY_CLUSTER_NODE_H

/*
 * What the cluster client (cluster.c) offers beside cluster.h: the node set for GET /@cluster,
 * the address it talks to, and its metric families for the daemon to register.
 *
 * Node liveness: each node keeps `PREFIX node:ID` (a hash: listeners, started, pid, version,
 * seen) with a PEXPIRE of cluster.node_ttl_ms, and its id in the sorted set `PREFIX nodes`
 * scored by the record's expiry, both refreshed every cluster.heartbeat_ms and at once after a
 * (re)connection, in one script on Redis' clock. A node that stops beating is gone from both
 * within node_ttl_ms.
 */

#include <stdbool.h>

#include "cluster.h"
#include "metrics.h"

/*
 * Lists the live nodes (expired ones dropped first): cb gets an array reply
 * [now_ms, id, listeners_json, started_ms, seen_ms, id, ...] (Redis' clock), or NULL. As
 * fng__cluster_eval.
 */
int fng__cluster_nodes(struct fng_cluster *c, fng_cluster_cb cb, void *arg);

/*
 * This node leaves the node set (a drain): its record and its place are deleted and it is not
 * registered again. Best effort: while Redis is down it simply expires.
 */
struct fng_server;
void fng__cluster_leave(struct fng_server *srv);

/* `cluster.redis` as configured ("127.0.0.1:6379"). */
const char *fng__cluster_address(const struct fng_cluster *c);

/*
 * Whether two snapshots' `cluster:` sections are the same: a reload that changes it is applied
 * at the next start only (the client keeps the snapshot it was made from).
 */
struct fng_cluster_cfg;
bool fng__cluster_cfg_same(const struct fng_cluster_cfg *a, const struct fng_cluster_cfg *b);

/* The client's metric families, NULL-terminated: redis_up, reconnects, commands by result. */
extern struct fng_metric_def *const fng__cluster_metrics[];

#endif
