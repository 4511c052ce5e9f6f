/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_TOPIC_H
#define FNG_GATEWAY_TOPIC_H

/*
 * Topics: named channels of the whole gateway that WebSocket connections subscribe to and
 * handlers (WS_PUBLISH) or the admin API publish to. A published message is framed once, as
 * a text frame carrying {"topic","seq","data"}, and that one buffer is queued on every
 * subscriber (struct fng_wsmsg, refcounted). Each topic keeps its recent messages (a ring)
 * so that a client reconnecting with resume=TOPIC:SEQ gets what it missed, or a gap signal.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "wire_rules.h"

struct fng_ws;

/*
 * Messages a topic keeps for resuming clients, and their bytes at most (older ones go); a
 * message costs its frame and its header (struct fng_wsmsg).
 */
#define FNG_TOPIC_HISTORY 256
#define FNG_TOPIC_HISTORY_BYTES (1u << 20)
/*
 * The defaults of `topics:` (struct fng_topics_cfg): every topic's history together at most,
 * ring arrays included, and topics at most. Over the budget, the histories of topics without
 * subscribers go first (least recently published first), then the oldest messages of the
 * largest histories. At the cap, a new topic evicts the least recently published one without
 * subscribers (-ENOSPC when every topic has subscribers). A topic with no subscriber and no
 * history is freed: used again, its sequence numbers start over.
 */
#define FNG_TOPIC_BUDGET (64u << 20)
#define FNG_TOPIC_MAX 65536
/* Topics one connection may be subscribed to at most (a subscription walks them). */
#define FNG_TOPIC_PER_CONN 256

/*
 * A frame ready to send: header and payload, built once. Queued by reference on every
 * connection it goes to; freed with its last reference. seq/topic are set for topic
 * messages (the slow-consumer policy drops those and reports the gap).
 */
struct fng_server;
struct fng_ws;

struct fng_wsmsg {
	uint32_t refs;
	uint32_t len;      /* bytes in data */
	uint64_t seq;      /* topic message: its sequence number; 0 otherwise */
	struct fng_topic *topic; /* a reference while seq != 0 */
	uint8_t data[];
};

/* One subscription: in its topic's array (at idx) and in its connection's list. */
struct fng_wssub {
	struct fng_wssub *wnext;
	struct fng_topic *t;
	struct fng_ws *ws;
	size_t idx;
	/* A resume from the cluster's history in flight: live messages wait in it (topic.c). */
	struct fng_topic_resume *resume;
};

/* A frame with opcode op around len bytes of p; NULL without memory. */
struct fng_wsmsg *fng__wsmsg_create(uint8_t op, const void *p, size_t len);
static inline struct fng_wsmsg *fng__wsmsg_ref(struct fng_wsmsg *m)
{
	m->refs++;
	return m;
}
void fng__wsmsg_unref(struct fng_wsmsg *m);

const char *fng__topic_name(const struct fng_topic *t);

/*
 * Publishes len bytes to topic: appended to its history and queued on every subscriber.
 * *seq (may be NULL) gets the message's sequence number, *recipients the subscribers it was
 * queued on. -EINVAL for a bad name, -ENOSPC (too many topics), -ENOMEM.
 */
int fng__topic_publish(struct fng_server *srv, const char *topic, size_t tlen, const void *data,
	size_t len, uint64_t *seq, size_t *recipients);
/*
 * On a cluster node (ws_cluster.h) the publication goes through Redis and every node delivers
 * it from there: *seq and *recipients are 0 (the number is Redis' to give, later), and the
 * only error is -EINVAL (or -ENOMEM).
 */

/*
 * Delivers len bytes to topic with sequence number seq (0: the next local one; one not beyond
 * the topic's last is moved past it): the history and every subscriber get it. create: make
 * the topic if it does not exist (false: a message from another node for a topic nobody here
 * listens to is dropped, returning 0). As fng__topic_publish otherwise. On one node,
 * fng__topic_publish is this with seq 0; on a cluster node, ws_cluster.c calls it for every
 * publication it hears from Redis and for the ones Redis could not take.
 */
int fng__topic_deliver(struct fng_server *srv, const char *topic, size_t tlen, const void *data,
	size_t len, uint64_t seq, bool create, uint64_t *seq_out, size_t *recipients);

/*
 * Subscribes ws to topic from now on. resume: the last sequence number the client saw
 * (has_resume), whose successors still in the history are queued first, after a gap
 * signal if some are gone. On a cluster node the history is the topic's stream in Redis
 * (asked for here, live messages held back until it answers; the local history when Redis
 * does not). Subscribing twice is a no-op. 0, -EINVAL, -ENOSPC (too many
 * topics, or ws has FNG_TOPIC_PER_CONN already), -ENOMEM.
 */
int fng__topic_subscribe(struct fng_ws *ws, const char *topic, size_t tlen, bool has_resume,
	uint64_t resume);
/* 0, or -ENOENT when ws was not subscribed. */
int fng__topic_unsubscribe(struct fng_ws *ws, const char *topic, size_t tlen);
/* Ends every subscription of ws (its connection is gone). */
void fng__topic_unsubscribe_all(struct fng_ws *ws);
/* The last sequence number of topic (0: none, or no such topic). */
uint64_t fng__topic_last_seq(struct fng_server *srv, const char *topic, size_t tlen);
/*
 * Calls fn for each topic whose numbers this node gave itself since the last call (messages
 * delivered locally while Redis was down), with its last number: the cluster's counter is
 * raised to it after a reconnection (ws_cluster.c).
 */
void fng__topics_each_local(struct fng_server *srv,
	void (*fn)(const char *topic, size_t tlen, uint64_t seq, void *arg), void *arg);
/*
 * Calls fn for each topic with subscribers on this node, with its last number: a cluster node
 * whose subscriber connection was lost catches each up from its stream (ws_cluster.c).
 */
void fng__topics_each_subscribed(struct fng_server *srv,
	void (*fn)(const char *topic, size_t tlen, uint64_t seq, void *arg), void *arg);
/*
 * Queues a gap signal for from..to on every subscriber of topic (but those resuming, whose
 * replay reports gaps itself): numbers the node will never have.
 */
void fng__topic_gap_all(struct fng_server *srv, const char *topic, size_t tlen, uint64_t from,
	uint64_t to);
/* srv's topics now and the bytes their histories take (what the budget counts). */
void fng__topics_usage(struct fng_server *srv, size_t *ntopics, uint64_t *history_bytes);
/* Frees srv's topics (its connections are gone): when the loop's state goes. */
void fng__topics_free(struct fng_server *srv);

/* A gap signal {"topic":T,"gap":{"from":A,"to":B}} as a text frame. */
struct fng_wsmsg *fng__topic_gap(const struct fng_topic *t, uint64_t from, uint64_t to);

/* Appends the JSON array of ws's topic names to b. */
int fng__topic_list_json(struct fng_ws *ws, struct fng_buf *b);
/* Calls fn for every subscriber of topic (none if there is no such topic). */
void fng__topic_each_subscriber(struct fng_server *srv, const char *topic, size_t tlen,
	void (*fn)(struct fng_ws *ws, void *arg), void *arg);

/* The topics' metric families (topic.c), listed in fng__ws_metrics (ws_conn.h). */
struct fng_metric_def;
extern struct fng_metric_def fng__m_ws_publications, fng__m_ws_deliveries, fng__m_ws_topics;

#endif
