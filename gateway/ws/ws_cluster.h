/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_WS_CLUSTER_H
#define FNG_GATEWAY_WS_CLUSTER_H

/*
 * WebSocket across nodes (issue 17), on the cluster's Redis client (state/cluster.h): topic
 * publications with cluster-wide sequence numbers, topic history in Redis Streams for resumes
 * on any node, and a connection registry through which @connections and handlers reach a
 * connection held by another node. Without `cluster:` none of it runs: fng__ws_cluster_on()
 * is false and every caller keeps its single-node path. docs/ARCHITECTURE.md ("WebSocket
 * across nodes") explains the design; docs/config.md ("Cluster") the failure policy.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fng_server;

/* Whether srv is a cluster node whose WebSocket fan-out goes through Redis. */
bool fng__ws_cluster_on(struct fng_server *srv);

/*
 * Starts it once the cluster client exists (subscriptions to the publication channel and
 * this node's own channel, the registry's refresh timer). 0, or a negative errno.
 * fng__ws_cluster_stop: at exit, before the cluster client closes; pending callbacks run.
 */
int fng__ws_cluster_start(struct fng_server *srv);
void fng__ws_cluster_stop(struct fng_server *srv);

/*
 * A publication's answer: seq is its cluster-wide sequence number and nodes the nodes that
 * heard it; or, when Redis could not take it, the local fallback's seq with nodes 0 and
 * local true (delivered on this node only).
 */
typedef void (*fng_ws_published_cb)(uint64_t seq, long long nodes, bool local, void *arg);

/*
 * Publishes len bytes to topic through Redis: every node (this one included) delivers it from
 * the publication channel, in the order Redis ran the publications. While Redis is down (or
 * does not answer) the message is delivered on this node only, with the next local number.
 * cb (may be NULL) runs exactly once, later. 0, -EINVAL (bad name), -ENOMEM (cb never runs).
 */
int fng__ws_cluster_publish(struct fng_server *srv, const char *topic, size_t tlen,
	const void *data, size_t len, fng_ws_published_cb cb, void *arg);

/*
 * A topic's last cluster-wide number (GET /@topics/{topic}): cb gets it with nodes 0 and local
 * false; or this node's last number with local true when Redis does not answer. As
 * fng__ws_cluster_publish for the rest.
 */
int fng__ws_cluster_last_seq(struct fng_server *srv, const char *topic, size_t tlen,
	fng_ws_published_cb cb, void *arg);

/* One entry of a topic's shared history. */
struct fng_ws_hist {
	uint64_t seq;
	const char *data;
	size_t len;
};

/*
 * A resume's history from Redis: err 0 and cur (the topic's last sequence number), last (the
 * client's position, 0 if it was beyond cur: from an earlier life of the topic) and the
 * entries after last still kept, oldest first, valid during the call; or err < 0 (Redis down
 * or slow: the caller falls back to the local history).
 */
typedef void (*fng_ws_history_cb)(int err, uint64_t cur, uint64_t last,
	const struct fng_ws_hist *e, size_t n, void *arg);
int fng__ws_cluster_history(struct fng_server *srv, const char *topic, size_t tlen,
	uint64_t last, fng_ws_history_cb cb, void *arg);

/* The registry: connection id opened here / closed here. */
void fng__ws_cluster_opened(struct fng_server *srv, const char *id);
void fng__ws_cluster_closed(struct fng_server *srv, const char *id);

/* What a request to another node's connection asks for. */
enum fng_ws_remote_op {
	FNG_WS_REMOTE_INFO = 'g',   /* GET /@connections/{id}: its JSON */
	FNG_WS_REMOTE_TEXT = 's',   /* a text message */
	FNG_WS_REMOTE_BINARY = 'b', /* a binary message */
	FNG_WS_REMOTE_CLOSE = 'c',  /* a close: code, and data is the reason */
};

/*
 * The answer: status 200 (INFO, body its JSON), 204 (done), 410 (no node holds it, or its node
 * says it is gone), 504 (its node did not answer in time), 503 (Redis down). body valid during
 * the call.
 */
typedef void (*fng_ws_remote_cb)(int status, const char *body, size_t len, void *arg);

/*
 * Sends op for connection id (not open on this node) to the node holding it. cb NULL: fire and
 * forget. Otherwise cb runs exactly once, later. 0, -EINVAL, -ENOMEM (cb never runs).
 */
int fng__ws_cluster_remote(struct fng_server *srv, enum fng_ws_remote_op op, const char *id,
	size_t idlen, int code, const void *data, size_t len, fng_ws_remote_cb cb, void *arg);

/* The metric families of WebSocket across nodes, NULL-terminated. */
struct fng_metric_def;
extern struct fng_metric_def *const fng__ws_cluster_metrics[];

#endif
