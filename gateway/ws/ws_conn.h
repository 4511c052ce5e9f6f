/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_WS_CONN_H
#define FNG_GATEWAY_WS_CONN_H

/*
 * A WebSocket connection, from the 101 answer to its close: the connection layer (http.c)
 * hands its input here once the handshake is done, and every client message becomes an
 * event request that walks the stage table (route selection, integration, answer sent back
 * as a message, access log). $disconnect runs exactly once per accepted connection.
 */

#include "http.h"
#include "topic.h"

struct fng_ws;

/*
 * The connection id for a new handshake to the WebSocket API named api: 16 base64url
 * characters, the tag of the API (4, sdk/grants.h) then 72 random bits.
 */
void fng__ws_new_id(char out[17], const char *api);

/*
 * The connection layer's side (http.h's fng_upgrade_ops): a handshake answered 101 makes c
 * speak WebSocket (the handshake request gives the API, stage, connection id, subprotocol
 * and client address); then input, EOF, the transport's end, the send queue, and a SIGTERM
 * drain (close with 1001 "going away").
 */
extern const struct fng_upgrade_ops fng__ws_upgrade;

/*
 * For handlers (WS_SEND / WS_CLOSE frames) and the admin API: a message to the connection
 * with this id on srv's loop, or a close with code and reason. policy: the calling function's (NULL for
 * the admin API: any connection). -ENOENT if no such connection is open, -EACCES if its API
 * is not one policy allows (nothing is sent).
 */
int fng__ws_push(struct fng_server *srv, const char *id, size_t idlen, const void *data,
	size_t len, bool binary,
	const struct fng_fn_policy *policy);
int fng__ws_close_id(struct fng_server *srv, const char *id, size_t idlen, int code,
	const char *reason, size_t rlen,
	const struct fng_fn_policy *policy);

/*
 * The name of the API of connection id: an open one, or the one whose $connect req is
 * running (req may be NULL). NULL if there is none.
 */
const char *fng__ws_api_name(struct fng_server *srv, const struct fng_req *req, const char *id,
	size_t idlen);

/* For topic.c: queues a reference to m on ws (slow-consumer policy applies); ws's topics;
 * the loop's state it belongs to. */
void fng__ws_enqueue(struct fng_ws *ws, struct fng_wsmsg *m);
struct fng_wssub **fng__ws_subs(struct fng_ws *ws);
struct fng_server *fng__ws_server(const struct fng_ws *ws);

/*
 * WS_SUBSCRIBE / WS_UNSUBSCRIBE from a handler running for req: connection id joins (on) or
 * leaves topic. A connection whose $connect is running (req is its handshake) subscribes
 * when it opens, from the topic's position at this call. 0, -ENOENT (no such connection),
 * -EACCES (its API is not one policy allows; the topic is the caller's to check), -EINVAL
 * (bad topic name), -ENOMEM.
 */
int fng__ws_subscribe(struct fng_server *srv, struct fng_req *req, const char *id, size_t idlen,
	const char *topic,
	size_t tlen, bool on, const struct fng_fn_policy *policy);

/* Admin API: ws's JSON description; the JSON list of connections (of topic when tlen). */
int fng__ws_info_json(struct fng_server *srv, const char *id, size_t idlen, struct fng_buf *b);
int fng__ws_list_json(struct fng_server *srv, const char *topic, size_t tlen, struct fng_buf *b);

/* Calls fn with the id of every open connection of srv (the cluster's registry refresh). */
void fng__ws_each_id(struct fng_server *srv, void (*fn)(const char *id, void *arg), void *arg);

/* The WebSocket metric families, NULL-terminated, for registration at start-up. */
struct fng_metric_def;
extern struct fng_metric_def *const fng__ws_metrics[];

#endif
