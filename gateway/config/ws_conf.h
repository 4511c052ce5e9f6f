/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_WS_CONF_H
#define FNG_GATEWAY_WS_CONF_H

/*
 * The keys of a WebSocket API (ws_conf.c): what they configure, and the rows and checks the
 * API table (apis_conf.c) uses.
 */

#include <stdbool.h>
#include <stdint.h>

struct fng_client_throttle;
struct fng_conf;
struct fng_conf_node;

/* A WebSocket API's limits and behaviour (`websocket:`; API Gateway's defaults). */
struct fng_ws_cfg {
	uint32_t message_bytes;    /* a message (all its fragments) at most → close 1009 */
	uint32_t frame_bytes;      /* a frame at most → close 1009 */
	uint32_t idle_ms;          /* no frame either way for this long → close 1001 */
	uint32_t max_duration_ms;  /* a connection's life at most → close 1001 */
	uint32_t ping_ms;          /* quiet for this long → the gateway pings; 0: never */
	uint32_t pong_ms;          /* no pong this long after a ping → close 1001 */
	uint32_t send_queue_bytes; /* bytes waiting to go to one client at most */
	uint32_t message_rate;     /* messages a second from one client; 0: no limit */
	uint32_t message_burst;    /* ... in a burst (0: message_rate) */
	/* Opening handshakes per client (client_throttle.h; stages/throttle.c); NULL: none. */
	const struct fng_client_throttle *connect_throttle;
	bool drop_oldest;          /* slow consumer: drop old topic messages, else close 1008 */
	bool parallel;             /* message_order: parallel (a connection's messages at once) */
	const char **subprotocols; /* the server's preference order */
	unsigned nsubprotocols;
};

/*
 * The topics of one loop as a whole (`topics:`; topic.c). A zeroed struct (a snapshot built
 * without the section's parser, as some tests do) means the defaults: max is at least 1 once
 * parsed.
 */
struct fng_topics_cfg {
	uint64_t history_bytes; /* every topic's history together at most; 0: keep none */
	uint32_t max;           /* topics at most (with or without subscribers) */
};

/* The route selection expression, compiled: JSON member names under $request.body. */
#define FNG_WS_SELECTION_DEPTH 8

/* The `route_selection` and `websocket` rows of an API; obj is the struct fng_api. */
int fng__ws_selection_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__ws_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

/* A WebSocket route key: one of the $-keys, or a name a route selection can produce. */
bool fng__ws_route_key_ok(const char *k);

#endif
