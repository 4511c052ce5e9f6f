/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CLUSTER_H
#define FNG_GATEWAY_CLUSTER_H

/*
 * The cluster (`cluster:` in the configuration): several gateways sharing one Redis server for
 * limits, quotas, WebSocket fan-out and @connections. Without `cluster:`, fng__cluster()
 * returns NULL and every feature stays local exactly as on one node.
 *
 * One struct fng_cluster per loop (struct fng_server's `cluster`), holding two hiredis async
 * connections driven by the loop through hiredis' libuv adapter: one for commands and scripts,
 * one for subscriptions (a connection in subscriber mode can run nothing else). Nothing on the
 * loop ever waits for Redis: a command is queued and its callback runs later, exactly once.
 * While Redis is down, commands fail at once (the callback runs with a NULL reply from the
 * loop's next turn, never inside the call), the connections are retried with a back-off, the
 * subscriptions are made again after each reconnection, and each feature applies its own
 * policy (docs/config.md, "Cluster").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fng_server;
struct fng_cluster;
struct redisReply;

/* This loop's cluster client, created on first use; NULL when the configuration has none. */
struct fng_cluster *fng__cluster(struct fng_server *srv);

/* Whether the command connection is up (a command now would be sent, not failed at once). */
bool fng__cluster_up(const struct fng_cluster *c);

/* This node's id (`cluster.node_id`) and the key prefix every key and channel starts with. */
const char *fng__cluster_node_id(const struct fng_cluster *c);
const char *fng__cluster_prefix(const struct fng_cluster *c);

/*
 * A command's answer: reply is hiredis' reply (owned by hiredis, valid during the call only),
 * or NULL when the command failed without one (Redis down, the connection lost before the
 * answer, the command's timeout `cluster.command_timeout_ms` passed). An error reply
 * (REDIS_REPLY_ERROR) is a reply: the callback checks its type.
 */
typedef void (*fng_cluster_cb)(struct fng_cluster *c, struct redisReply *reply, void *arg);

/*
 * Sends one command, its arguments as byte strings (binary safe). Returns 0 when cb will run
 * exactly once, later (never inside this call); a negative errno when it fails up front
 * (-ENOMEM, -EINVAL), and then cb never runs. cb may be NULL (fire and forget).
 */
int fng__cluster_command(struct fng_cluster *c, int argc, const char *const *argv,
	const size_t *lens, fng_cluster_cb cb, void *arg);

/*
 * A Lua script, run with EVALSHA (its SHA-1 computed once) and, when Redis answers NOSCRIPT
 * (a restarted server, a flushed cache), loaded with EVAL in the same call: the caller sees
 * one answer. The text is static.
 */
struct fng_cluster_script {
	const char *text;
	char sha1[41];   /* filled on first use */
};

/* Runs script with nkeys keys then the other arguments (argv[0..nkeys) are keys). As above. */
int fng__cluster_eval(struct fng_cluster *c, struct fng_cluster_script *script, int nkeys,
	int argc, const char *const *argv, const size_t *lens, fng_cluster_cb cb, void *arg);

/*
 * A subscription to channel (the prefix is not added: pass the full name): on_message runs for
 * each message with its bytes, on the loop, until the cluster is closed. Subscriptions are
 * made again after each reconnection; messages published while the connection was down are
 * not delivered (what needs them uses streams, and fng__cluster_on_sub_state says when to read
 * them back). 0 or a negative errno.
 */
typedef void (*fng_cluster_message_cb)(struct fng_cluster *c, const char *channel, size_t clen,
	const char *data, size_t dlen, void *arg);
int fng__cluster_subscribe(struct fng_cluster *c, const char *channel,
	fng_cluster_message_cb on_message, void *arg);

/*
 * Called when the command connection comes up (first time and after each reconnection) or
 * goes down: what must be re-established (a node registration, leases to forget) does it
 * here. At most 8 per loop.
 */
typedef void (*fng_cluster_state_cb)(struct fng_cluster *c, bool up, void *arg);
int fng__cluster_on_state(struct fng_cluster *c, fng_cluster_state_cb cb, void *arg);

/*
 * The same for the subscriber connection: up once Redis has confirmed every subscription on a
 * new connection (the first and each one after a loss), down when it is lost. Whatever was
 * published while it was down was not heard: a feature that needs it reads it back from where
 * it keeps it (WebSocket topics: their streams), from the up call on, when no publication can
 * be missed any more. At most 8 per loop.
 */
int fng__cluster_on_sub_state(struct fng_cluster *c, fng_cluster_state_cb cb, void *arg);

/*
 * At exit only, before fng__cluster_close (the drain is over, the loop is ours): runs the loop
 * until every command in flight has its answer, or max_ms has passed, whichever comes first,
 * so that what was sent last (quota given back, the node's goodbye) reaches Redis instead of
 * being dropped by the close. Returns at once when nothing is in flight.
 */
void fng__cluster_settle(struct fng_server *srv, uint32_t max_ms);

/* Closes the connections (at exit): pending callbacks run with NULL replies. */
void fng__cluster_close(struct fng_server *srv);

#endif
