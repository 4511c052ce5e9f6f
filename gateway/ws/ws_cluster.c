// SPDX-License-Identifier: MIT
/*
 * WebSocket across nodes (ws_cluster.h): what topics and connections do through the cluster's
 * Redis when `cluster:` is configured. It sits between the WebSocket layer (topic.c,
 * ws_conn.c) and the cluster client (state/cluster.h), and owns the Redis side of both:
 *
 * Publications. One script INCRs the topic's counter `PREFIX ts:TOPIC`, XADDs the message to
 * the topic's stream `PREFIX t:TOPIC` (entry id SEQ-1, MAXLEN ~ FNG_TOPIC_HISTORY) and
 * PUBLISHes "SEQ TOPIC DATA" on `PREFIX pub`, atomically: Redis' order is the publications'
 * order, and every node — the publisher's too — delivers from that channel, so every
 * subscriber anywhere sees the same numbers in the same order, and one publisher's messages in
 * the order it sent them (one command connection, run in order). When Redis does not take a
 * publication (down, slow), it is delivered on this node only with the next local number; the
 * script's floor argument (the publisher's last local number) keeps a topic's numbers from
 * going back after such an outage.
 *
 * Resumes. XRANGE of the stream from the client's position (one script with the counter), so
 * that a client reconnecting to any node gets what it missed, or a gap signal when the history
 * no longer has it (topic.c holds live messages back meanwhile).
 *
 * Catch-up. A subscriber connection lost while the command connection stays up (a Redis
 * CLIENT KILL, a proxy's idle cut) hears nothing of what is published meanwhile. When it has
 * its subscriptions again (fng__cluster_on_sub_state), each topic with subscribers here reads
 * its stream from the last number delivered here + 1 with the resume's script, holding the
 * topic's live messages until the answer: the stream's entries, a gap signal for what it no
 * longer has, then the held messages, each number once and in order. A live message can also
 * reach us after the answer that already had it (two connections, two sockets): the topic
 * keeps a fence at the last number caught up until a later one arrives (or FENCE_MS), and
 * drops what is at or below it.
 *
 * The connection registry. `PREFIX c:ID` holds the node of each open connection, set at open
 * and at each heartbeat (in batches, with PX node_ttl_ms: a killed node's entries expire with
 * its node record), deleted at close. A request for a connection held elsewhere is one script
 * that looks the holder up and PUBLISHes it on the holder's channel `PREFIX n:NODE`; the
 * holder answers on ours with the request's correlation number. Requests wait at most
 * ASK_MS (then 504).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cluster.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "topic.h"
#include "ws_cluster.h"
#include "ws_conn.h"

/* Connection keys refreshed per script call at each heartbeat. */
#define REFRESH_BATCH 128
/* The shared history and counter of a topic nobody publishes to go after this (ms). */
#define TOPIC_TTL_MS "86400000"
/* The longest prefix, node id and channel names fngate builds. */
#define NAME_MAX_BYTES 256
/* Live messages held per topic during a catch-up at most (beyond, the oldest: a gap). */
#define CATCHUP_HOLD_MAX 1024
/* How long a caught-up topic drops live messages it already had (ms). */
#define FENCE_MS 2000

/* A live message held during a catch-up. */
struct held {
	uint64_t seq;
	size_t len;
	char data[];
};

/* A topic catching up from its stream (or fenced after it), in wc->catchups by name. */
struct catchup {
	struct fng_hnode hnode;
	struct fng_server *srv;
	bool inflight;              /* its stream read is out */
	bool redo;                  /* the subscriber connection was lost again meanwhile */
	bool orphan;                /* the cluster stopped: the answer only frees it */
	uint64_t fence;             /* after it: live messages at or below are duplicates */
	uint64_t fence_until;       /* uv_now() ms */
	struct held **held;
	uint32_t n, cap;
	size_t tlen;
	char topic[];
};

struct ask {
	struct fng_list link;       /* wc->asks while waiting; unlinked when done */
	uint64_t corr;
	uint64_t deadline;          /* uv_now() ms */
	fng_ws_remote_cb cb;
	void *arg;
	struct fng_ws_cluster *wc;
	bool done, eval_pending;
};

struct fng_ws_cluster {
	struct fng_server *srv;
	struct fng_cluster *c;
	uv_timer_t refresh;         /* the registry's heartbeat */
	uv_timer_t ask_timer;       /* the oldest waiting ask's deadline */
	struct fng_list asks;
	uint64_t next_corr;
	uint32_t ask_ms;
	bool local_logged;          /* this outage's "delivered on this node only" is out */
	bool stopping;
	bool sub_up;                /* the subscriber connection has its subscriptions */
	bool cmd_lost;              /* the command connection was lost too since the sub's loss */
	struct fng_hmap catchups;   /* struct catchup by topic name */
	uv_timer_t fence_timer;     /* drops the fences that have had their time */
	unsigned open_handles;      /* freed when the last one is closed */
	char pub_channel[NAME_MAX_BYTES];
	char self_channel[NAME_MAX_BYTES];
	struct fng_metric_series *m_cluster, *m_local, *m_fwd[4];
};

enum { FWD_OK, FWD_GONE, FWD_TIMEOUT, FWD_DOWN };

static struct fng_metric_def m_pubs = {
	"fngate_ws_cluster_publications_total", "Topic publications of this node by path: cluster "
	"(through Redis to every node), local (Redis down or slow: this node's subscribers only).",
	FNG_METRIC_COUNTER, { "path" },
};
static struct fng_metric_def m_fwd = {
	"fngate_ws_cluster_forwards_total", "Requests for connections held by other nodes "
	"(@connections, handlers' sends and closes) by result: ok, gone, timeout, down.",
	FNG_METRIC_COUNTER, { "result" },
};

struct fng_metric_def *const fng__ws_cluster_metrics[] = { &m_pubs, &m_fwd, NULL };

/*
 * KEYS: counter, stream, channel. ARGV: topic, data, floor (the publisher's last local
 * number), history length, ttl. Returns { seq, nodes that heard it }.
 */
static struct fng_cluster_script pub_script = {
	.text = "local s = redis.call('INCR', KEYS[1])\n"
		"local f = tonumber(ARGV[3])\n"
		"if s <= f then\n"
		"\ts = f + 1\n"
		"\tredis.call('SET', KEYS[1], s)\n"
		"end\n"
		"redis.call('PEXPIRE', KEYS[1], ARGV[5])\n"
		"redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], s .. '-1', 'd', ARGV[2])\n"
		"redis.call('PEXPIRE', KEYS[2], ARGV[5])\n"
		"local n = redis.call('PUBLISH', KEYS[3], s .. ' ' .. ARGV[1] .. ' ' .. ARGV[2])\n"
		"return { s, n }\n",
};

/*
 * KEYS: counter, stream. ARGV: the client's last number, history length. Returns { cur,
 * last, entries }: a position beyond the counter is from an earlier life of the topic (0).
 */
static struct fng_cluster_script hist_script = {
	.text = "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
		"local last = tonumber(ARGV[1])\n"
		"if last > cur then last = 0 end\n"
		"local from = last + 1\n"
		"local lim = cur - tonumber(ARGV[2]) + 1\n"
		"if from < lim then from = lim end\n"
		"return { cur, last, redis.call('XRANGE', KEYS[2], string.format('%d-0', from),\n"
		"\t'+', 'COUNT', ARGV[2]) }\n",
};

/*
 * After an outage: KEYS: a topic's counter. ARGV: this node's last number for it, ttl. The
 * counter is raised to it, so that the next number Redis gives is past what this node gave on
 * its own and the nodes agree again.
 */
static struct fng_cluster_script raise_script = {
	.text = "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
		"if cur < tonumber(ARGV[1]) then\n"
		"\tredis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
		"end\n"
		"return cur\n",
};

/* KEYS: connection keys. ARGV: node, ttl. */
static struct fng_cluster_script refresh_script = {
	.text = "for _, k in ipairs(KEYS) do redis.call('SET', k, ARGV[1], 'PX', ARGV[2]) end\n"
		"return #KEYS\n",
};

/*
 * KEYS: the connection's key. ARGV: prefix, this node, request. Returns 0 when no live node
 * holds it, -1 when the registry says this node (it just closed), else the PUBLISH count.
 */
static struct fng_cluster_script remote_script = {
	.text = "local n = redis.call('GET', KEYS[1])\n"
		"if not n then return 0 end\n"
		"if n == ARGV[2] then return -1 end\n"
		"if redis.call('EXISTS', ARGV[1] .. 'node:' .. n) == 0 then return 0 end\n"
		"return redis.call('PUBLISH', ARGV[1] .. 'n:' .. n, ARGV[3])\n",
};

bool fng__ws_cluster_on(struct fng_server *srv)
{
	return srv && srv->ws_cluster && !srv->ws_cluster->stopping;
}

static size_t key(struct fng_ws_cluster *wc, char *out, const char *kind, const char *name,
	size_t n)
{
	int k = snprintf(out, NAME_MAX_BYTES, "%s%s%.*s", fng__cluster_prefix(wc->c), kind, (int)n,
		name);

	return k < 0 ? 0 : (size_t)k >= NAME_MAX_BYTES ? NAME_MAX_BYTES - 1 : (size_t)k;
}

static uint64_t reply_u64(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER) {
		return r->integer > 0 ? (uint64_t)r->integer : 0;
	}
	return r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
}

/* ---- publications ---- */

struct pub {
	struct fng_server *srv;
	fng_ws_published_cb cb;
	void *arg;
	size_t tlen, len;
	char *data;                 /* after the name */
	char topic[];
};

/* A record of topic and a copy of data for a callback; NULL without memory. */
static struct pub *pub_new(struct fng_server *srv, const char *topic, size_t tlen,
	const void *data, size_t len, fng_ws_published_cb cb, void *arg)
{
	struct pub *p = malloc(sizeof(*p) + tlen + 1 + len);

	if (!p) {
		return NULL;
	}
	p->srv = srv;
	p->cb = cb;
	p->arg = arg;
	p->tlen = tlen;
	p->len = len;
	memcpy(p->topic, topic, tlen);
	p->topic[tlen] = '\0';
	p->data = p->topic + tlen + 1;
	if (len) {
		memcpy(p->data, data, len);
	}
	return p;
}

static void local_fallback(struct fng_ws_cluster *wc, const char *why)
{
	fng__metric_add(wc->m_local, 1);
	if (!wc->local_logged) {
		wc->local_logged = true;
		fng__log("warn", "ws cluster: publications delivered on this node only", "error",
			why, "node", fng__cluster_node_id(wc->c), NULL);
	}
}

static void pub_cb(struct fng_cluster *c, struct redisReply *r, void *arg)
{
	struct pub *p = arg;
	struct fng_ws_cluster *wc = p->srv->ws_cluster;
	uint64_t seq = 0;
	size_t n = 0;

	(void)c;
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		if (wc) {
			fng__metric_add(wc->m_cluster, 1);
		}
		if (p->cb) {
			p->cb(reply_u64(r->element[0]), (long long)reply_u64(r->element[1]), false,
				p->arg);
		}
		free(p);
		return;
	}
	/* Not taken (or not known to be): this node's subscribers get it, as on one node. */
	if (wc && !wc->stopping) {
		local_fallback(wc, r && r->type == REDIS_REPLY_ERROR ? r->str :
			"redis down or slower than command_timeout_ms");
		fng__topic_deliver(p->srv, p->topic, p->tlen, p->data, p->len, 0, true, &seq, &n);
	}
	if (p->cb) {
		p->cb(seq, 0, true, p->arg);
	}
	free(p);
}

int fng__ws_cluster_publish(struct fng_server *srv, const char *topic, size_t tlen,
	const void *data, size_t len, fng_ws_published_cb cb, void *arg)
{
	struct fng_ws_cluster *wc = srv->ws_cluster;
	char kc[NAME_MAX_BYTES], ks[NAME_MAX_BYTES], floor[24], hist[16];
	const char *argv[8];
	size_t lens[8];
	struct pub *p;
	int err;

	if (!fng__ws_cluster_on(srv) || !fng__topic_name_ok(topic, tlen)) {
		return -EINVAL;
	}
	p = pub_new(srv, topic, tlen, data, len, cb, arg);
	if (!p) {
		return -ENOMEM;
	}
	argv[0] = kc;
	lens[0] = key(wc, kc, "ts:", topic, tlen);
	argv[1] = ks;
	lens[1] = key(wc, ks, "t:", topic, tlen);
	argv[2] = wc->pub_channel;
	lens[2] = strlen(wc->pub_channel);
	argv[3] = p->topic;
	lens[3] = tlen;
	argv[4] = p->data;
	lens[4] = len;
	argv[5] = floor;
	lens[5] = (size_t)snprintf(floor, sizeof(floor), "%" PRIu64,
		fng__topic_last_seq(srv, topic, tlen));
	argv[6] = hist;
	lens[6] = (size_t)snprintf(hist, sizeof(hist), "%d", FNG_TOPIC_HISTORY);
	argv[7] = TOPIC_TTL_MS;
	lens[7] = strlen(TOPIC_TTL_MS);
	err = fng__cluster_eval(wc->c, &pub_script, 3, 8, argv, lens, pub_cb, p);
	if (err) {
		free(p);
	}
	return err;
}

static void last_cb(struct fng_cluster *c, struct redisReply *r, void *arg)
{
	struct pub *p = arg;

	(void)c;
	if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL)) {
		p->cb(r->type == REDIS_REPLY_NIL ? 0 : reply_u64(r), 0, false, p->arg);
	} else {
		p->cb(fng__topic_last_seq(p->srv, p->topic, p->tlen), 0, true, p->arg);
	}
	free(p);
}

int fng__ws_cluster_last_seq(struct fng_server *srv, const char *topic, size_t tlen,
	fng_ws_published_cb cb, void *arg)
{
	struct fng_ws_cluster *wc = srv->ws_cluster;
	char kc[NAME_MAX_BYTES];
	const char *argv[2] = { "GET", kc };
	size_t lens[2] = { 3, 0 };
	struct pub *p;
	int err;

	if (!fng__ws_cluster_on(srv) || !cb || !fng__topic_name_ok(topic, tlen)) {
		return -EINVAL;
	}
	p = pub_new(srv, topic, tlen, NULL, 0, cb, arg);
	if (!p) {
		return -ENOMEM;
	}
	lens[1] = key(wc, kc, "ts:", topic, tlen);
	err = fng__cluster_command(wc->c, 2, argv, lens, last_cb, p);
	if (err) {
		free(p);
	}
	return err;
}

/* ---- catch-up after the subscriber connection was lost ---- */

static struct catchup *catchup_find(struct fng_ws_cluster *wc, const char *topic, size_t n)
{
	uint64_t h;

	if (!wc->catchups.n) {
		return NULL;
	}
	h = fng__hash(topic, n);
	for (struct fng_hnode *x = fng__hmap_chain(&wc->catchups, h); x; x = x->next) {
		struct catchup *k = fng__container_of(x, struct catchup, hnode);

		if (x->hash == h && k->tlen == n && memcmp(k->topic, topic, n) == 0) {
			return k;
		}
	}
	return NULL;
}

static void catchup_free(struct catchup *k)
{
	for (uint32_t i = 0; i < k->n; i++) {
		free(k->held[i]);
	}
	free(k->held);
	free(k);
}

/* Out of wc's map and freed (its answer frees it when one is out). */
static void catchup_drop(struct fng_ws_cluster *wc, struct catchup *k)
{
	fng__hmap_del(&wc->catchups, &k->hnode);
	if (k->inflight) {
		k->orphan = true;
	} else {
		catchup_free(k);
	}
}

static void catchup_hold(struct catchup *k, uint64_t seq, const char *data, size_t len)
{
	struct held *m;

	if (k->n == k->cap) {
		uint32_t cap = k->cap ? k->cap * 2 : 8;
		struct held **a;

		if (cap > CATCHUP_HOLD_MAX || !(a = realloc(k->held, cap * sizeof(*a)))) {
			if (!k->n) {
				return;
			}
			free(k->held[0]); /* the release reports the gap */
			memmove(k->held, k->held + 1, --k->n * sizeof(*k->held));
		} else {
			k->held = a;
			k->cap = cap;
		}
	}
	m = malloc(sizeof(*m) + len);
	if (!m) {
		return;
	}
	m->seq = seq;
	m->len = len;
	memcpy(m->data, data, len);
	k->held[k->n++] = m;
}

/*
 * A live publication of topic: true when a catch-up takes it (held, or dropped as one the
 * topic already has); false: deliver it.
 */
static bool catchup_filter(struct fng_ws_cluster *wc, const char *topic, size_t n, uint64_t seq,
	const char *data, size_t len)
{
	struct catchup *k = catchup_find(wc, topic, n);

	if (!k) {
		return false;
	}
	if (k->inflight) {
		catchup_hold(k, seq, data, len);
		return true;
	}
	if (seq <= k->fence) {
		return true;
	}
	catchup_drop(wc, k); /* past the fence: whatever was in both is behind us */
	return false;
}

/* Delivers seq after *top (a gap signal first for numbers in between, when known missing). */
static void catchup_deliver(struct fng_server *srv, struct catchup *k, uint64_t seq,
	const char *data, size_t len, bool gaps, uint64_t *top)
{
	if (seq <= *top) {
		return;
	}
	if (gaps && seq > *top + 1) {
		fng__topic_gap_all(srv, k->topic, k->tlen, *top + 1, seq - 1);
	}
	fng__topic_deliver(srv, k->topic, k->tlen, data, len, seq, false, NULL, NULL);
	*top = seq;
}

static void fence_cb(uv_timer_t *t);
static int catchup_send(struct fng_ws_cluster *wc, struct catchup *k);

/* The stream's answer: its entries, the gap it cannot fill, then the held messages. */
static void catchup_cb(int err, uint64_t cur, uint64_t last, const struct fng_ws_hist *e,
	size_t n, void *arg)
{
	struct catchup *k = arg;
	struct fng_server *srv = k->srv;
	struct fng_ws_cluster *wc = srv->ws_cluster;
	uint64_t top;

	(void)last;
	k->inflight = false;
	if (k->orphan || !wc) {
		catchup_free(k);
		return;
	}
	top = fng__topic_last_seq(srv, k->topic, k->tlen);
	for (size_t i = 0; !err && i < n; i++) {
		catchup_deliver(srv, k, e[i].seq, e[i].data, e[i].len, true, &top);
	}
	if (!err && cur > top) {
		fng__topic_gap_all(srv, k->topic, k->tlen, top + 1, cur);
		top = cur;
	}
	if (err) {
		fng__log("warn", "ws cluster: catch-up of a topic failed",
			"policy", "delivering what came since", "topic", k->topic, "error",
			fng_strerror(err), NULL);
	}
	for (uint32_t i = 0; i < k->n; i++) {
		catchup_deliver(srv, k, k->held[i]->seq, k->held[i]->data, k->held[i]->len, !err,
			&top);
		free(k->held[i]);
	}
	k->n = 0;
	if (k->redo) {
		k->redo = false;
		if (catchup_send(wc, k) == 0) {
			return;
		}
	}
	k->fence = top;
	k->fence_until = uv_now(srv->loop) + FENCE_MS;
	if (!uv_is_active((uv_handle_t *)&wc->fence_timer)) {
		uv_timer_start(&wc->fence_timer, fence_cb, FENCE_MS, 0);
	}
}

static int catchup_send(struct fng_ws_cluster *wc, struct catchup *k)
{
	uint64_t last = fng__topic_last_seq(wc->srv, k->topic, k->tlen);
	int err = fng__ws_cluster_history(wc->srv, k->topic, k->tlen, last, catchup_cb, k);

	k->inflight = err == 0;
	return err;
}

static void catchup_one(const char *topic, size_t tlen, uint64_t seq, void *arg)
{
	struct fng_ws_cluster *wc = arg;
	struct catchup *k = catchup_find(wc, topic, tlen);

	(void)seq;
	if (k && k->inflight) {
		k->redo = true; /* read again from where that answer leaves the topic */
		return;
	}
	if (!k) {
		k = calloc(1, sizeof(*k) + tlen + 1);
		if (!k) {
			return;
		}
		k->srv = wc->srv;
		k->tlen = tlen;
		memcpy(k->topic, topic, tlen);
		if (fng__hmap_add(&wc->catchups, &k->hnode, fng__hash(topic, tlen)) != 0) {
			free(k);
			return;
		}
	}
	if (catchup_send(wc, k) != 0) {
		catchup_drop(wc, k);
	}
}

static void catchup_all(struct fng_ws_cluster *wc)
{
	fng__topics_each_subscribed(wc->srv, catchup_one, wc);
}

static void fence_cb(uv_timer_t *t)
{
	struct fng_ws_cluster *wc = t->data;
	uint64_t now = uv_now(wc->srv->loop), next = 0;

	FNG_HMAP_EACH(&wc->catchups, x) {
		struct catchup *k = fng__container_of(x, struct catchup, hnode);

		if (!k->inflight && k->fence_until <= now) {
			catchup_drop(wc, k);
		} else if (!k->inflight && (!next || k->fence_until < next)) {
			next = k->fence_until;
		}
	}
	if (next) {
		uv_timer_start(&wc->fence_timer, fence_cb, next - now, 0);
	}
}

static void sub_state_cb(struct fng_cluster *c, bool up, void *arg)
{
	struct fng_server *srv = arg;
	struct fng_ws_cluster *wc = srv->ws_cluster;

	(void)c;
	if (!wc || wc->stopping) {
		return;
	}
	wc->sub_up = up;
	if (!up) {
		wc->cmd_lost = !fng__cluster_up(wc->c);
		return;
	}
	/*
	 * Nothing can be missed from here on: what was, is in the streams. Unless the command
	 * connection was lost too (Redis itself went away): then publications were local on
	 * every side and the streams hold none of them; "Redis down" below is the policy.
	 */
	if (!wc->cmd_lost && fng__cluster_up(wc->c)) {
		catchup_all(wc);
	}
}

/* "SEQ TOPIC DATA" on the publication channel: this node's subscribers get it. */
static void on_publication(struct fng_cluster *c, const char *channel, size_t clen,
	const char *data, size_t dlen, void *arg)
{
	struct fng_server *srv = arg;
	const char *end = data + dlen, *p = data, *t;
	uint64_t seq = 0;

	(void)c;
	(void)channel;
	(void)clen;
	while (p < end && *p >= '0' && *p <= '9' && seq < UINT64_MAX / 10) {
		seq = seq * 10 + (uint64_t)(*p++ - '0');
	}
	if (p == end || *p != ' ' || !seq) {
		return;
	}
	t = ++p;
	p = memchr(t, ' ', (size_t)(end - t));
	if (!p || !fng__ws_cluster_on(srv)) {
		return;
	}
	if (catchup_filter(srv->ws_cluster, t, (size_t)(p - t), seq, p + 1,
		(size_t)(end - p - 1))) {
		return;
	}
	fng__topic_deliver(srv, t, (size_t)(p - t), p + 1, (size_t)(end - p - 1), seq, false, NULL,
		NULL);
}

/* ---- history ---- */

struct hist {
	fng_ws_history_cb cb;
	void *arg;
};

static void hist_cb(struct fng_cluster *c, struct redisReply *r, void *arg)
{
	struct hist *h = arg;
	struct fng_ws_hist *e = NULL;
	const redisReply *list;
	size_t n = 0;

	(void)c;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
		r->element[2]->type != REDIS_REPLY_ARRAY) {
		h->cb(-EIO, 0, 0, NULL, 0, h->arg);
		free(h);
		return;
	}
	list = r->element[2];
	e = list->elements ? calloc(list->elements, sizeof(*e)) : NULL;
	if (list->elements && !e) {
		h->cb(-ENOMEM, 0, 0, NULL, 0, h->arg);
		free(h);
		return;
	}
	/* Each entry: [ "SEQ-1", [ "d", DATA ] ]. */
	for (size_t i = 0; i < list->elements; i++) {
		const redisReply *x = list->element[i], *f;

		if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
			x->element[0]->type != REDIS_REPLY_STRING ||
			x->element[1]->type != REDIS_REPLY_ARRAY || x->element[1]->elements != 2) {
			continue;
		}
		f = x->element[1]->element[1];
		if (f->type != REDIS_REPLY_STRING) {
			continue;
		}
		e[n].seq = strtoull(x->element[0]->str, NULL, 10);
		e[n].data = f->str;
		e[n].len = f->len;
		n++;
	}
	h->cb(0, reply_u64(r->element[0]), reply_u64(r->element[1]), e, n, h->arg);
	free(e);
	free(h);
}

int fng__ws_cluster_history(struct fng_server *srv, const char *topic, size_t tlen,
	uint64_t last, fng_ws_history_cb cb, void *arg)
{
	struct fng_ws_cluster *wc = srv->ws_cluster;
	char kc[NAME_MAX_BYTES], ks[NAME_MAX_BYTES], pos[24], hist[16];
	const char *argv[4] = { kc, ks, pos, hist };
	size_t lens[4];
	struct hist *h;
	int err;

	if (!fng__ws_cluster_on(srv) || !cb) {
		return -EINVAL;
	}
	h = malloc(sizeof(*h));
	if (!h) {
		return -ENOMEM;
	}
	h->cb = cb;
	h->arg = arg;
	lens[0] = key(wc, kc, "ts:", topic, tlen);
	lens[1] = key(wc, ks, "t:", topic, tlen);
	lens[2] = (size_t)snprintf(pos, sizeof(pos), "%" PRIu64, last);
	lens[3] = (size_t)snprintf(hist, sizeof(hist), "%d", FNG_TOPIC_HISTORY);
	err = fng__cluster_eval(wc->c, &hist_script, 2, 4, argv, lens, hist_cb, h);
	if (err) {
		free(h);
	}
	return err;
}

/* ---- the connection registry ---- */

struct batch {
	struct fng_ws_cluster *wc;
	unsigned n;
	char keys[REFRESH_BATCH][NAME_MAX_BYTES];
	size_t lens[REFRESH_BATCH + 2];
	const char *argv[REFRESH_BATCH + 2];
	char ttl[16];
};

static void batch_send(struct batch *b)
{
	const char *node = fng__cluster_node_id(b->wc->c);

	if (!b->n) {
		return;
	}
	b->argv[b->n] = node;
	b->lens[b->n] = strlen(node);
	b->argv[b->n + 1] = b->ttl;
	b->lens[b->n + 1] = strlen(b->ttl);
	/* A refresh lost is made up by the next heartbeat. */
	fng__cluster_eval(b->wc->c, &refresh_script, (int)b->n, (int)b->n + 2, b->argv, b->lens,
		NULL, NULL);
	b->n = 0;
}

static void batch_add(const char *id, void *arg)
{
	struct batch *b = arg;

	b->argv[b->n] = b->keys[b->n];
	b->lens[b->n] = key(b->wc, b->keys[b->n], "c:", id, strlen(id));
	if (++b->n == REFRESH_BATCH) {
		batch_send(b);
	}
}

static void refresh_all(struct fng_ws_cluster *wc)
{
	struct batch *b;

	if (!fng__cluster_up(wc->c)) {
		return;
	}
	b = malloc(sizeof(*b));
	if (!b) {
		return;
	}
	b->wc = wc;
	b->n = 0;
	snprintf(b->ttl, sizeof(b->ttl), "%u", wc->srv->cfg->cluster.node_ttl_ms);
	fng__ws_each_id(wc->srv, batch_add, b);
	batch_send(b);
	free(b);
}

static void refresh_cb(uv_timer_t *t)
{
	refresh_all(t->data);
}

void fng__ws_cluster_opened(struct fng_server *srv, const char *id)
{
	struct fng_ws_cluster *wc = srv->ws_cluster;
	char k[NAME_MAX_BYTES], ttl[16];
	const char *node, *argv[5] = { "SET", k, NULL, "PX", ttl };
	size_t lens[5] = { 3, 0, 0, 2, 0 };

	if (!fng__ws_cluster_on(srv)) {
		return;
	}
	node = fng__cluster_node_id(wc->c);
	argv[2] = node;
	lens[1] = key(wc, k, "c:", id, strlen(id));
	lens[2] = strlen(node);
	lens[4] = (size_t)snprintf(ttl, sizeof(ttl), "%u", srv->cfg->cluster.node_ttl_ms);
	fng__cluster_command(wc->c, 5, argv, lens, NULL, NULL);
}

void fng__ws_cluster_closed(struct fng_server *srv, const char *id)
{
	struct fng_ws_cluster *wc = srv->ws_cluster;
	char k[NAME_MAX_BYTES];
	const char *argv[2] = { "DEL", k };
	size_t lens[2] = { 3, 0 };

	if (!fng__ws_cluster_on(srv)) {
		return;
	}
	lens[1] = key(wc, k, "c:", id, strlen(id));
	fng__cluster_command(wc->c, 2, argv, lens, NULL, NULL);
}

/* ---- requests for other nodes' connections ---- */

static void ask_free_maybe(struct ask *a)
{
	if (a->done && !a->eval_pending) {
		free(a);
	}
}

static void ask_finish(struct ask *a, int status, const char *body, size_t len)
{
	struct fng_ws_cluster *wc = a->wc;

	if (a->done) {
		return;
	}
	a->done = true;
	fng__list_remove(&a->link);
	if (wc) {
		fng__metric_add(wc->m_fwd[status == 410 ? FWD_GONE : status == 504 ? FWD_TIMEOUT :
			status == 503 ? FWD_DOWN : FWD_OK], 1);
	}
	if (a->cb) {
		a->cb(status, body, len, a->arg);
	}
}

static void ask_timer_cb(uv_timer_t *t)
{
	struct fng_ws_cluster *wc = t->data;
	uint64_t now = uv_now(wc->srv->loop);

	while (!fng__list_empty(&wc->asks)) {
		struct ask *a = fng__container_of(wc->asks.next, struct ask, link);

		if (a->deadline > now) {
			uv_timer_start(&wc->ask_timer, ask_timer_cb, a->deadline - now, 0);
			return;
		}
		ask_finish(a, 504, NULL, 0);
		ask_free_maybe(a);
	}
}

static void remote_cb(struct fng_cluster *c, struct redisReply *r, void *arg)
{
	struct ask *a = arg;

	(void)c;
	if (!a) {
		return; /* fire and forget */
	}
	a->eval_pending = false;
	if (!r || r->type != REDIS_REPLY_INTEGER) {
		ask_finish(a, 503, NULL, 0);
	} else if (r->integer <= 0) {
		ask_finish(a, 410, NULL, 0);
	}
	/* Otherwise the holder heard it: its answer (or the deadline) finishes a. */
	ask_free_maybe(a);
}

int fng__ws_cluster_remote(struct fng_server *srv, enum fng_ws_remote_op op, const char *id,
	size_t idlen, int code, const void *data, size_t len, fng_ws_remote_cb cb, void *arg)
{
	struct fng_ws_cluster *wc = srv->ws_cluster;
	char k[NAME_MAX_BYTES];
	struct fng_buf msg = { 0 };
	const char *argv[4];
	size_t lens[4];
	struct ask *a = NULL;
	uint64_t corr = 0;
	int err;

	if (!fng__ws_cluster_on(srv) || idlen != FNG_CONN_ID_LEN) {
		return -EINVAL;
	}
	if (cb) {
		a = calloc(1, sizeof(*a));
		if (!a) {
			return -ENOMEM;
		}
		corr = ++wc->next_corr;
		a->corr = corr;
		a->cb = cb;
		a->arg = arg;
		a->wc = wc;
		fng__list_init(&a->link);
	}
	/* "q CORR FROM OP CODE ID\nBODY"; CORR 0: no answer wanted. */
	fng__buf_printf(&msg, "q %" PRIu64 " %s %c %d %.*s\n", corr, fng__cluster_node_id(wc->c),
		(char)op, code, (int)idlen, id);
	if (len) {
		fng__buf_append(&msg, data, len);
	}
	if (!msg.p) {
		free(a);
		return -ENOMEM;
	}
	argv[0] = k;
	lens[0] = key(wc, k, "c:", id, idlen);
	argv[1] = fng__cluster_prefix(wc->c);
	lens[1] = strlen(argv[1]);
	argv[2] = fng__cluster_node_id(wc->c);
	lens[2] = strlen(argv[2]);
	argv[3] = msg.p;
	lens[3] = msg.len;
	err = fng__cluster_eval(wc->c, &remote_script, 1, 4, argv, lens, remote_cb, a);
	fng__buf_finish(&msg);
	if (err) {
		free(a);
		return err;
	}
	if (a) {
		a->eval_pending = true;
		a->deadline = uv_now(srv->loop) + wc->ask_ms;
		fng__list_append(&wc->asks, &a->link);
		if (!uv_is_active((uv_handle_t *)&wc->ask_timer)) {
			uv_timer_start(&wc->ask_timer, ask_timer_cb, wc->ask_ms, 0);
		}
	}
	return 0;
}

/* A request from another node for a connection of ours: done here, answered if asked. */
static void serve_request(struct fng_ws_cluster *wc, const char *p, const char *end)
{
	struct fng_server *srv = wc->srv;
	unsigned long long corr;
	char from[NAME_MAX_BYTES / 2], op, id[FNG_CONN_ID_LEN + 1];
	const char *nl = memchr(p, '\n', (size_t)(end - p)), *body;
	struct fng_buf b = { 0 }, out = { 0 };
	int code, status = 410, err, n = 0;
	size_t blen;

	if (!nl || sscanf(p, "q %llu %127s %c %d %16s%n", &corr, from, &op, &code, id, &n) != 5 ||
		p + n != nl || strlen(id) != FNG_CONN_ID_LEN) {
		return;
	}
	body = nl + 1;
	blen = (size_t)(end - body);
	switch (op) {
	case FNG_WS_REMOTE_INFO:
		err = fng__ws_info_json(srv, id, FNG_CONN_ID_LEN, &b);
		status = err ? 410 : 200;
		break;
	case FNG_WS_REMOTE_TEXT:
	case FNG_WS_REMOTE_BINARY:
		err = fng__ws_push(srv, id, FNG_CONN_ID_LEN, body, blen, op == FNG_WS_REMOTE_BINARY,
			NULL);
		status = err ? 410 : 204;
		break;
	case FNG_WS_REMOTE_CLOSE:
		err = fng__ws_close_id(srv, id, FNG_CONN_ID_LEN, code, body, blen, NULL);
		status = err ? 410 : 204;
		break;
	default:
		return;
	}
	if (corr) {
		char ch[NAME_MAX_BYTES];
		const char *argv[3] = { "PUBLISH", ch, NULL };
		size_t lens[3] = { 7, 0, 0 };

		lens[1] = key(wc, ch, "n:", from, strlen(from));
		fng__buf_printf(&out, "r %llu %d\n", corr, status);
		if (status == 200 && b.p) {
			fng__buf_append(&out, b.p, b.len);
		}
		if (out.p) {
			argv[2] = out.p;
			lens[2] = out.len;
			fng__cluster_command(wc->c, 3, argv, lens, NULL, NULL);
		}
	}
	fng__buf_finish(&b);
	fng__buf_finish(&out);
}

/* An answer to one of our requests: "r CORR STATUS\nBODY". */
static void serve_answer(struct fng_ws_cluster *wc, const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	unsigned long long corr;
	int status, n = 0;

	if (!nl || sscanf(p, "r %llu %d%n", &corr, &status, &n) != 2 || p + n != nl) {
		return;
	}
	for (struct fng_list *it = wc->asks.next; it != &wc->asks; it = it->next) {
		struct ask *a = fng__container_of(it, struct ask, link);

		if (a->corr == corr) {
			ask_finish(a, status, nl + 1, (size_t)(end - nl - 1));
			ask_free_maybe(a);
			return;
		}
	}
}

static void on_node_message(struct fng_cluster *c, const char *channel, size_t clen,
	const char *data, size_t dlen, void *arg)
{
	struct fng_server *srv = arg;
	struct fng_ws_cluster *wc = srv->ws_cluster;

	(void)c;
	(void)channel;
	(void)clen;
	if (!fng__ws_cluster_on(srv) || dlen < 2) {
		return;
	}
	if (data[0] == 'q') {
		serve_request(wc, data, data + dlen);
	} else if (data[0] == 'r') {
		serve_answer(wc, data, data + dlen);
	}
}

/* ---- life cycle ---- */

/* A topic this node numbered itself while Redis was down: the counter goes past it. */
static void raise_one(const char *topic, size_t tlen, uint64_t seq, void *arg)
{
	struct fng_ws_cluster *wc = arg;
	char kc[NAME_MAX_BYTES], floor[24];
	const char *argv[3] = { kc, floor, TOPIC_TTL_MS };
	size_t lens[3];

	lens[0] = key(wc, kc, "ts:", topic, tlen);
	lens[1] = (size_t)snprintf(floor, sizeof(floor), "%" PRIu64, seq);
	lens[2] = strlen(TOPIC_TTL_MS);
	fng__cluster_eval(wc->c, &raise_script, 1, 3, argv, lens, NULL, NULL);
}

static void state_cb(struct fng_cluster *c, bool up, void *arg)
{
	struct fng_server *srv = arg;
	struct fng_ws_cluster *wc = srv->ws_cluster;

	(void)c;
	if (wc && !up) {
		wc->cmd_lost = true;
	}
	if (!up || !wc || wc->stopping) {
		return;
	}
	if (wc->local_logged) {
		wc->local_logged = false;
		fng__log("info", "ws cluster: publications go to every node again", "node",
			fng__cluster_node_id(wc->c), NULL);
	}
	/* Before any publication of the new connection: they go out in order. */
	fng__topics_each_local(srv, raise_one, wc);
	refresh_all(wc); /* a restarted Redis has lost the registry */
}

int fng__ws_cluster_start(struct fng_server *srv)
{
	struct fng_cluster *c = fng__cluster(srv);
	struct fng_ws_cluster *wc;
	uint32_t hb;
	int err;

	if (!c || srv->ws_cluster) {
		return 0;
	}
	wc = calloc(1, sizeof(*wc));
	if (!wc) {
		return -ENOMEM;
	}
	wc->srv = srv;
	wc->c = c;
	fng__list_init(&wc->asks);
	wc->ask_ms = srv->cfg->cluster.command_timeout_ms * 5;
	wc->ask_ms = wc->ask_ms < 1000 ? 1000 : wc->ask_ms;
	snprintf(wc->pub_channel, sizeof(wc->pub_channel), "%spub", fng__cluster_prefix(c));
	snprintf(wc->self_channel, sizeof(wc->self_channel), "%sn:%s", fng__cluster_prefix(c),
		fng__cluster_node_id(c));
	{
		const char *v[1] = { "cluster" }, *l[1] = { "local" };
		const char *names[4] = { "ok", "gone", "timeout", "down" };

		wc->m_cluster = fng__metric_series(srv, &m_pubs, v);
		wc->m_local = fng__metric_series(srv, &m_pubs, l);
		for (int i = 0; i < 4; i++) {
			const char *x[1] = { names[i] };

			wc->m_fwd[i] = fng__metric_series(srv, &m_fwd, x);
		}
	}
	wc->cmd_lost = true; /* until both connections are up for the first time */
	srv->ws_cluster = wc;
	err = fng__cluster_subscribe(c, wc->pub_channel, on_publication, srv);
	if (!err) {
		err = fng__cluster_subscribe(c, wc->self_channel, on_node_message, srv);
	}
	if (!err) {
		err = fng__cluster_on_state(c, state_cb, srv);
	}
	if (!err) {
		err = fng__cluster_on_sub_state(c, sub_state_cb, srv);
	}
	if (err) {
		srv->ws_cluster = NULL;
		free(wc);
		return err;
	}
	uv_timer_init(srv->loop, &wc->refresh);
	wc->refresh.data = wc;
	uv_timer_init(srv->loop, &wc->ask_timer);
	wc->ask_timer.data = wc;
	uv_timer_init(srv->loop, &wc->fence_timer);
	wc->fence_timer.data = wc;
	hb = srv->cfg->cluster.heartbeat_ms;
	uv_timer_start(&wc->refresh, refresh_cb, hb, hb);
	return 0;
}

static void closed_cb(uv_handle_t *h)
{
	struct fng_ws_cluster *wc = h->data;

	if (--wc->open_handles == 0) {
		free(wc);
	}
}

void fng__ws_cluster_stop(struct fng_server *srv)
{
	struct fng_ws_cluster *wc = srv->ws_cluster;

	if (!wc || wc->stopping) {
		return;
	}
	wc->stopping = true;
	while (!fng__list_empty(&wc->asks)) {
		struct ask *a = fng__container_of(wc->asks.next, struct ask, link);

		ask_finish(a, 503, NULL, 0);
		a->wc = NULL;
		ask_free_maybe(a);
	}
	srv->ws_cluster = NULL;
	/* A stream read still out finds its record orphaned and frees it. */
	FNG_HMAP_EACH(&wc->catchups, x) {
		catchup_drop(wc, fng__container_of(x, struct catchup, hnode));
	}
	fng__hmap_finish(&wc->catchups);
	/* The subscriptions' arg is srv: with srv->ws_cluster NULL they deliver nothing. */
	wc->open_handles = 3;
	uv_close((uv_handle_t *)&wc->refresh, closed_cb);
	uv_close((uv_handle_t *)&wc->ask_timer, closed_cb);
	uv_close((uv_handle_t *)&wc->fence_timer, closed_cb);
}
