// SPDX-License-Identifier: MIT
/*
 * Topics (topic.h): one loop's registry of named channels (srv->topics), their subscriber arrays and
 * their history rings. Publishing builds the delivery envelope and its WebSocket frame once,
 * keeps a reference in the ring and queues the same buffer on every subscriber (ws_conn.c's
 * send queue); a publish costs one allocation whatever the number of subscribers.
 *
 * Ownership: the registry holds one reference to each live topic, every message that names
 * it (in a ring or a send queue) holds another, so an evicted topic's memory lives as long as
 * a queued message still points at it. Subscriptions hold none: a topic with subscribers is
 * never evicted.
 *
 * Memory: the histories of all topics share one budget (`topics.history_bytes`) and the
 * topics one cap (`topics.max`), read from the loop's current snapshot, so that no pattern
 * of publishing (new topics without end, large messages nobody listens to) grows the gateway
 * past them. A topic is in exactly one of three states, kept by settle(): with subscribers
 * (set->busy), with a history only (set->idle, least recently published first: the first to
 * go over the budget or at the cap), or neither, and then freed at once. One loop, no lock,
 * like the connection registry.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>

#include "metrics.h"
#include "chars.h"
#include "topic.h"
#include "ws.h"
#include "ws_cluster.h"
#include "ws_conn.h"

struct fng_topic {
	struct fng_hnode hnode;
	struct fng_topics *set;    /* the registry it is (or was) in */
	struct fng_list link;      /* in set->busy or set->idle (settle()) */
	uint32_t refs;
	bool live;                 /* in the registry */
	uint64_t seq;              /* the last sequence number given */
	bool local_seq;            /* a cluster node numbered a message itself (Redis down) */
	struct fng_wssub **subs;
	size_t nsubs, capsubs;
	struct fng_wsmsg **ring;   /* history: rn messages from rhead, seq - rn + 1 .. seq */
	uint32_t rhead, rn, rcap;  /* no message: no ring (rcap 0) */
	size_t rbytes;             /* the messages' cost() */
	uint8_t nlen;
	char name[];
};

/* One loop's topics (srv->topics), made on first use. */
struct fng_topics {
	struct fng_hmap map;
	struct fng_list busy;      /* topics with subscribers */
	struct fng_list idle;      /* topics with a history only, least recently published first */
	struct fng_server *srv;    /* whose snapshot has the limits */
	uint64_t bytes;            /* what the budget counts: every ring and its messages' cost() */
};

/* The limits of the loop's snapshot; the defaults without one (or without `topics:`). */
static void limits(const struct fng_topics *set, uint64_t *budget, uint32_t *max)
{
	const struct fng_config *c = set->srv->cfg;

	*budget = c && c->topics.max ? c->topics.history_bytes : FNG_TOPIC_BUDGET;
	*max = c && c->topics.max ? c->topics.max : FNG_TOPIC_MAX;
}

/* What a message in a history costs: its frame and its header (malloc's own aside). */
static size_t cost(const struct fng_wsmsg *m)
{
	return sizeof(*m) + m->len;
}

const char *fng__topic_name(const struct fng_topic *t)
{
	return t->name;
}

struct fng_wsmsg *fng__wsmsg_create(uint8_t op, const void *p, size_t len)
{
	uint8_t h[FNG_WS_MAX_HEADER];
	size_t hl = fng__ws_header(h, op, true, len);
	struct fng_wsmsg *m;

	if (len > UINT32_MAX - hl) {
		return NULL;
	}
	m = malloc(sizeof(*m) + hl + len);
	if (!m) {
		return NULL;
	}
	m->refs = 1;
	m->len = (uint32_t)(hl + len);
	m->seq = 0;
	m->topic = NULL;
	memcpy(m->data, h, hl);
	if (len) {
		memcpy(m->data + hl, p, len);
	}
	return m;
}

static void topic_unref(struct fng_topic *t)
{
	if (--t->refs) {
		return;
	}
	free(t->subs);
	free(t->ring);
	free(t);
}

void fng__wsmsg_unref(struct fng_wsmsg *m)
{
	if (!m || --m->refs) {
		return;
	}
	if (m->topic) {
		topic_unref(m->topic);
	}
	free(m);
}

static struct fng_topics *topics_of(struct fng_server *srv)
{
	if (!srv) {
		return NULL;
	}
	if (!srv->topics) {
		srv->topics = calloc(1, sizeof(*srv->topics));
		if (srv->topics) {
			fng__list_init(&srv->topics->busy);
			fng__list_init(&srv->topics->idle);
			srv->topics->srv = srv;
		}
	}
	return srv->topics;
}

static struct fng_topic *topic_find(struct fng_topics *set, const char *name, size_t n,
	uint64_t h)
{
	for (struct fng_hnode *x = fng__hmap_chain(&set->map, h); x; x = x->next) {
		struct fng_topic *t = fng__container_of(x, struct fng_topic, hnode);

		if (x->hash == h && t->nlen == n && memcmp(t->name, name, n) == 0) {
			return t;
		}
	}
	return NULL;
}

/* Drops the oldest message of t's history (it has one); the ring stays. */
static void hist_pop(struct fng_topic *t)
{
	struct fng_wsmsg *old = t->ring[t->rhead];

	t->rbytes -= cost(old);
	t->set->bytes -= cost(old);
	t->rhead = (t->rhead + 1) % t->rcap;
	t->rn--;
	fng__wsmsg_unref(old); /* t itself is held by the registry */
}

static void ring_free(struct fng_topic *t)
{
	t->set->bytes -= (uint64_t)t->rcap * sizeof(*t->ring);
	free(t->ring);
	t->ring = NULL;
	t->rcap = 0;
	t->rhead = 0;
}

static void ring_clear(struct fng_topic *t)
{
	while (t->rn) {
		hist_pop(t);
	}
	ring_free(t);
}

/* Takes t out of the registry (it has no subscribers); queued messages keep it alive. */
static void topic_evict(struct fng_topic *t)
{
	fng__hmap_del(&t->set->map, &t->hnode);
	fng__list_remove(&t->link);
	t->live = false;
	ring_clear(t);
	topic_unref(t);
}

/*
 * Puts t where its subscribers and history say, after either changed: busy, idle (as the
 * most recently published: a publish or its last subscriber leaving) or freed. t may be
 * gone when this returns, unless a message or the caller holds a reference.
 */
static void settle(struct fng_topic *t)
{
	if (!t->live) {
		return; /* already gone: a slow subscriber closed while a publish reached it */
	}
	fng__list_remove(&t->link);
	if (t->nsubs) {
		fng__list_append(&t->set->busy, &t->link);
	} else if (t->rn) {
		fng__list_append(&t->set->idle, &t->link);
	} else {
		topic_evict(t);
	}
}

/*
 * Brings the histories back under budget: whole histories of topics without subscribers,
 * least recently published first (their topics go with them); then, when only topics with
 * subscribers are left, the oldest messages of the largest histories. Each pass over those
 * cuts every history above 3/4 of the largest one down to that, so a pass frees at least a
 * quarter of the largest and the passes are few whatever the number of topics.
 */
static void fit(struct fng_topics *set, uint64_t budget)
{
	while (set->bytes > budget && !fng__list_empty(&set->idle)) {
		topic_evict(fng__container_of(set->idle.next, struct fng_topic, link));
	}
	while (set->bytes > budget) {
		size_t top = 0, cap;

		for (struct fng_list *x = set->busy.next; x != &set->busy; x = x->next) {
			struct fng_topic *t = fng__container_of(x, struct fng_topic, link);

			top = t->rbytes > top ? t->rbytes : top;
		}
		if (!top) {
			break; /* nothing left to drop (rings are freed with their last message) */
		}
		cap = top / 4 * 3;
		for (struct fng_list *x = set->busy.next; x != &set->busy && set->bytes > budget;
			x = x->next) {
			struct fng_topic *t = fng__container_of(x, struct fng_topic, link);

			while (t->rn && t->rbytes > cap && set->bytes > budget) {
				hist_pop(t);
			}
			if (!t->rn && t->ring) {
				ring_free(t);
			}
		}
	}
}

/*
 * The topic named name, created when create is set (evicting idle ones at the cap). A new
 * topic is in no list: the caller publishes or subscribes, then settle()s it.
 */
static struct fng_topic *topic_get(struct fng_topics *set, const char *name, size_t n,
	bool create)
{
	uint64_t h = fng__hash(name, n), budget;
	struct fng_topic *t;
	uint32_t max;

	if (!set) {
		return NULL;
	}
	t = topic_find(set, name, n, h);
	if (t || !create) {
		return t;
	}
	limits(set, &budget, &max);
	/* A reload may have lowered the cap: as many as it takes, least recently published. */
	while (set->map.n >= max) {
		if (fng__list_empty(&set->idle)) {
			return NULL;
		}
		topic_evict(fng__container_of(set->idle.next, struct fng_topic, link));
	}
	t = calloc(1, sizeof(*t) + n + 1);
	if (!t) {
		return NULL;
	}
	t->refs = 1;
	t->set = set;
	t->live = true;
	t->nlen = (uint8_t)n;
	memcpy(t->name, name, n);
	fng__list_init(&t->link);
	if (fng__hmap_add(&set->map, &t->hnode, h)) {
		free(t);
		return NULL;
	}
	return t;
}

/* Doubles t's ring (up to FNG_TOPIC_HISTORY slots): 0 or -ENOMEM. */
static int ring_grow(struct fng_topic *t)
{
	uint32_t cap = t->rcap ? t->rcap * 2 : 8;
	struct fng_wsmsg **r = malloc(cap * sizeof(*r));

	if (!r) {
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->rn; i++) {
		r[i] = t->ring[(t->rhead + i) % t->rcap];
	}
	t->set->bytes += (uint64_t)(cap - t->rcap) * sizeof(*r);
	free(t->ring);
	t->ring = r;
	t->rcap = cap;
	t->rhead = 0;
	return 0;
}

/*
 * Keeps m (a reference) as the newest message of t's history, within the topic's own bounds
 * (the budget is fit() afterwards). The history is always the consecutive run
 * seq - rn + 1 .. seq: a message too big to keep empties it (what came before can no longer
 * be replayed without a gap anyway).
 */
static void ring_push(struct fng_topic *t, struct fng_wsmsg *m, uint64_t budget)
{
	uint64_t most = budget < FNG_TOPIC_HISTORY_BYTES ? budget : FNG_TOPIC_HISTORY_BYTES;

	while (t->rn && (t->rn == FNG_TOPIC_HISTORY || t->rbytes + cost(m) > most)) {
		hist_pop(t);
	}
	if (cost(m) > most || (t->rn == t->rcap && ring_grow(t) && !t->rn)) {
		if (t->ring && !t->rn) {
			ring_free(t);
		}
		return; /* not kept: a resume past it reports a gap */
	}
	if (t->rn == t->rcap) {
		hist_pop(t); /* no memory for a larger ring: the oldest makes room */
	}
	t->ring[(t->rhead + t->rn) % t->rcap] = fng__wsmsg_ref(m);
	t->rn++;
	t->rbytes += cost(m);
	t->set->bytes += cost(m);
}

/* Appends data as a JSON value: itself when it is JSON, else a string (base64 if binary). */
static int put_data(struct fng_buf *b, const void *data, size_t len)
{
	struct fng_utf8 u = { 0 };
	json_t *j;

	if (!fng__utf8_feed(&u, data, len) || !fng__utf8_complete(&u)) {
		word32 outlen = (word32)((len + 2) / 3 * 4 + 1);

		if (len > UINT32_MAX / 2 || fng__buf_reserve(b, outlen + 32)) {
			return -ENOMEM;
		}
		fng__buf_str(b, "\"");
		if (Base64_Encode_NoNl(data, (word32)len, (byte *)b->p + b->len, &outlen) != 0) {
			return -EINVAL;
		}
		b->len += outlen;
		return fng__buf_str(b, "\",\"encoding\":\"base64\"");
	}
	j = len ? json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
	if (j) {
		json_decref(j);
		return fng__buf_append(b, data, len);
	}
	fng__buf_str(b, "\"");
	fng__buf_json_escape(b, data, len);
	return fng__buf_str(b, "\"");
}

/* Topic names are the clients' and handlers' choice: these families carry no label. */
struct fng_metric_def fng__m_ws_publications = {
	"fngate_ws_topic_publications_total", "Messages published to topics.", FNG_METRIC_COUNTER,
};
struct fng_metric_def fng__m_ws_deliveries = {
	"fngate_ws_topic_deliveries_total",
	"Topic messages queued to subscribers (one per subscriber and publication).",
	FNG_METRIC_COUNTER,
};

static void collect_topics(struct fng_server *srv, struct fng_metric_def *def)
{
	size_t n;
	uint64_t bytes;

	fng__topics_usage(srv, &n, &bytes);
	fng__metric_set(fng__metric_series(srv, def, NULL), (double)n);
}

struct fng_metric_def fng__m_ws_topics = {
	"fngate_ws_topics", "Topics that exist (with subscribers or history).", FNG_METRIC_GAUGE,
	.collect = collect_topics,
};

/*
 * The frame {"topic","seq","data"} of a message of t; NULL (with *err) when it cannot be
 * made. The message holds a reference to t.
 */
static struct fng_wsmsg *envelope(struct fng_topic *t, uint64_t seq, const void *data,
	size_t len, int *err)
{
	struct fng_buf b = { 0 };
	struct fng_wsmsg *m;

	fng__buf_str(&b, "{\"topic\":\"");
	fng__buf_append(&b, t->name, t->nlen);
	fng__buf_str(&b, "\",\"seq\":");
	fng__buf_u64(&b, seq);
	fng__buf_str(&b, ",\"data\":");
	*err = put_data(&b, data, len);
	if (!*err) {
		*err = fng__buf_str(&b, "}");
	}
	m = *err || !b.p ? NULL : fng__wsmsg_create(FNG_WS_TEXT, b.p, b.len);
	fng__buf_finish(&b);
	if (!m) {
		*err = *err ? *err : -ENOMEM;
		return NULL;
	}
	m->seq = seq;
	m->topic = t;
	t->refs++;
	return m;
}

static void hold(struct fng_wssub *s, struct fng_wsmsg *m);

int fng__topic_deliver(struct fng_server *srv, const char *name, size_t n, const void *data,
	size_t len, uint64_t seq, bool create, uint64_t *seq_out, size_t *recipients)
{
	struct fng_topics *set = topics_of(srv);
	struct fng_topic *t;
	struct fng_wsmsg *m;
	uint64_t budget;
	uint32_t max;
	int err = 0;

	if (!fng__topic_name_ok(name, n)) {
		return -EINVAL;
	}
	t = topic_get(set, name, n, create);
	if (!t) {
		if (!create) {
			return 0; /* from another node: nobody here listens or kept its history */
		}
		return set && (limits(set, &budget, &max), set->map.n >= max) ? -ENOSPC : -ENOMEM;
	}
	limits(set, &budget, &max);
	/*
	 * A number is never given twice on one node: one at or below the last (after an outage
	 * in which this node published on its own) is moved past it.
	 */
	if (!seq || seq <= t->seq) {
		t->local_seq = t->local_seq || !seq;
		seq = t->seq + 1;
	}
	m = envelope(t, seq, data, len, &err);
	if (!m) {
		settle(t); /* a topic made for this publish goes again */
		return err;
	}
	if (seq != t->seq + 1) {
		/* Numbers this node never saw (given while the topic had nobody here). */
		while (t->rn) {
			hist_pop(t);
		}
	}
	t->seq = seq;
	ring_push(t, m, budget);
	/*
	 * Backwards: a subscriber closed as a slow consumer leaves the array right here, and
	 * its slot is taken by the last one, which has had its copy already.
	 */
	fng__metric_inc(srv, &fng__m_ws_publications, NULL);
	fng__metric_add(fng__metric_series(srv, &fng__m_ws_deliveries, NULL), t->nsubs);
	for (size_t i = t->nsubs; i-- > 0;) {
		if (t->subs[i]->resume) {
			hold(t->subs[i], m);
		} else {
			fng__ws_enqueue(t->subs[i]->ws, m);
		}
	}
	if (seq_out) {
		*seq_out = m->seq;
	}
	if (recipients) {
		*recipients = t->nsubs;
	}
	settle(t);
	fit(set, budget);
	fng__wsmsg_unref(m); /* t may go with it */
	return 0;
}

int fng__topic_publish(struct fng_server *srv, const char *name, size_t n, const void *data,
	size_t len, uint64_t *seq, size_t *recipients)
{
	if (fng__ws_cluster_on(srv)) {
		/* Every node delivers it from Redis, this one too (ws_cluster.c). */
		if (seq) {
			*seq = 0;
		}
		if (recipients) {
			*recipients = 0;
		}
		return fng__ws_cluster_publish(srv, name, n, data, len, NULL, NULL);
	}
	return fng__topic_deliver(srv, name, n, data, len, 0, true, seq, recipients);
}

struct fng_wsmsg *fng__topic_gap(const struct fng_topic *t, uint64_t from, uint64_t to)
{
	char p[FNG_TOPIC_NAME_MAX + 96];
	int n = snprintf(p, sizeof(p), "{\"topic\":\"%s\",\"gap\":{\"from\":%llu,\"to\":%llu}}",
		t->name, (unsigned long long)from, (unsigned long long)to);

	return fng__wsmsg_create(FNG_WS_TEXT, p, (size_t)n);
}

/* Queues what a client that saw last missed: a gap signal, then the history after it. */
static void replay(struct fng_topic *t, struct fng_ws *ws, uint64_t last)
{
	uint64_t first = t->seq - t->rn + 1; /* the oldest sequence number still kept */

	if (last == t->seq) {
		return; /* up to date */
	}
	if (last > t->seq) {
		last = 0; /* a position from an earlier run of the gateway: everything is new */
	}
	if (last + 1 < first) {
		struct fng_wsmsg *g = fng__topic_gap(t, last + 1, first - 1);

		if (g) {
			fng__ws_enqueue(ws, g);
			fng__wsmsg_unref(g);
		}
		last = first - 1;
	}
	for (uint64_t s = last + 1; s <= t->seq; s++) {
		fng__ws_enqueue(ws, t->ring[(t->rhead + (s - first)) % t->rcap]);
	}
}

/* A resume from the cluster's history: the live messages that came meanwhile, oldest first. */
struct fng_topic_resume {
	struct fng_wssub *s;       /* NULL once the subscription is gone */
	uint64_t last;             /* the client's position */
	struct fng_wsmsg **held;
	uint32_t n, cap;
};

/* Live messages held per resume at most: beyond, the oldest go (the flush reports a gap). */
#define HOLD_MAX FNG_TOPIC_HISTORY

static void hold(struct fng_wssub *s, struct fng_wsmsg *m)
{
	struct fng_topic_resume *r = s->resume;

	if (r->n == r->cap) {
		uint32_t cap = r->cap ? r->cap * 2 : 8;
		struct fng_wsmsg **a;

		if (cap > HOLD_MAX || !(a = realloc(r->held, cap * sizeof(*a)))) {
			if (!r->n) {
				return;
			}
			fng__wsmsg_unref(r->held[0]);
			memmove(r->held, r->held + 1, --r->n * sizeof(*r->held));
		} else {
			r->held = a;
			r->cap = cap;
		}
	}
	r->held[r->n++] = fng__wsmsg_ref(m);
}

/* Queues a gap signal for from..to on ws. */
static void send_gap(struct fng_topic *t, struct fng_ws *ws, uint64_t from, uint64_t to)
{
	struct fng_wsmsg *g = fng__topic_gap(t, from, to);

	if (g) {
		fng__ws_enqueue(ws, g);
		fng__wsmsg_unref(g);
	}
}

/*
 * Queues m on r's connection if it comes after *top (after a gap signal when numbers are
 * missing in between). The queue may close the connection: r->s is NULL then.
 */
static void resume_queue(struct fng_topic_resume *r, struct fng_wsmsg *m, uint64_t *top)
{
	if (!r->s || m->seq <= *top) {
		return;
	}
	if (m->seq > *top + 1) {
		send_gap(r->s->t, r->s->ws, *top + 1, m->seq - 1);
	}
	*top = m->seq;
	if (r->s) {
		fng__ws_enqueue(r->s->ws, m);
	}
}

/* The cluster's history for a resume (ws_cluster.h): it, then the live messages held. */
static void resume_cb(int err, uint64_t cur, uint64_t last, const struct fng_ws_hist *e,
	size_t n, void *arg)
{
	struct fng_topic_resume *r = arg;
	struct fng_topic *t = r->s ? r->s->t : NULL;
	uint64_t top = last;

	if (t) {
		t->refs++; /* the connection may close (and t go) while its replay is queued */
		if (err) {
			/* Redis did not answer: the local history, as on one node. */
			replay(t, r->s->ws, r->last);
			top = t->seq;
		}
		for (size_t i = 0; !err && i < n && r->s; i++) {
			int e2;
			struct fng_wsmsg *m = envelope(t, e[i].seq, e[i].data, e[i].len, &e2);

			if (m) {
				resume_queue(r, m, &top);
				fng__wsmsg_unref(m);
			}
		}
		if (!err && r->s && cur > top) {
			send_gap(t, r->s->ws, top + 1, cur); /* the history no longer has them */
			top = cur;
		}
		for (uint32_t i = 0; i < r->n && r->s; i++) {
			resume_queue(r, r->held[i], &top);
		}
		if (r->s) {
			r->s->resume = NULL;
		}
	}
	for (uint32_t i = 0; i < r->n; i++) {
		fng__wsmsg_unref(r->held[i]);
	}
	free(r->held);
	free(r);
	if (t) {
		topic_unref(t);
	}
}

/* Starts a resume from the cluster's history for s; false when it cannot (local replay). */
static bool resume_cluster(struct fng_wssub *s, uint64_t last)
{
	struct fng_server *srv = fng__ws_server(s->ws);
	struct fng_topic_resume *r;

	if (!fng__ws_cluster_on(srv) || !(r = calloc(1, sizeof(*r)))) {
		return false;
	}
	r->s = s;
	r->last = last;
	s->resume = r;
	if (fng__ws_cluster_history(srv, s->t->name, s->t->nlen, last, resume_cb, r) != 0) {
		s->resume = NULL;
		free(r);
		return false;
	}
	return true;
}

int fng__topic_subscribe(struct fng_ws *ws, const char *name, size_t n, bool has_resume,
	uint64_t resume)
{
	struct fng_wssub **head = fng__ws_subs(ws), *s;
	struct fng_topics *set;
	struct fng_topic *t;
	uint64_t budget;
	unsigned k = 0;
	uint32_t max;

	if (!fng__topic_name_ok(name, n)) {
		return -EINVAL;
	}
	for (s = *head; s; s = s->wnext, k++) {
		if (s->t->nlen == n && memcmp(s->t->name, name, n) == 0) {
			return 0;
		}
	}
	if (k >= FNG_TOPIC_PER_CONN) {
		return -ENOSPC;
	}
	set = topics_of(fng__ws_server(ws));
	t = topic_get(set, name, n, true);
	if (!t) {
		return set && (limits(set, &budget, &max), set->map.n >= max) ? -ENOSPC : -ENOMEM;
	}
	if (t->nsubs == t->capsubs) {
		size_t cap = t->capsubs ? t->capsubs * 2 : 4;
		struct fng_wssub **a = realloc(t->subs, cap * sizeof(*a));

		if (!a) {
			settle(t); /* a topic made for this subscription goes again */
			return -ENOMEM;
		}
		t->subs = a;
		t->capsubs = cap;
	}
	s = malloc(sizeof(*s));
	if (!s) {
		settle(t);
		return -ENOMEM;
	}
	s->t = t;
	s->ws = ws;
	s->resume = NULL;
	s->idx = t->nsubs;
	t->subs[t->nsubs++] = s;
	if (t->nsubs == 1) {
		settle(t); /* a topic with subscribers is never evicted */
	}
	s->wnext = *head;
	*head = s;
	if (has_resume && !resume_cluster(s, resume)) {
		/* A slow consumer closed by the replay leaves t, which may go with it. */
		t->refs++;
		replay(t, ws, resume);
		topic_unref(t);
	}
	return 0;
}

static void sub_free(struct fng_wssub *s)
{
	struct fng_topic *t = s->t;

	if (s->resume) {
		s->resume->s = NULL; /* its answer frees it */
	}
	t->subs[s->idx] = t->subs[--t->nsubs];
	t->subs[s->idx]->idx = s->idx;
	free(s);
	if (!t->nsubs) {
		if (t->capsubs > 64) {
			free(t->subs);
			t->subs = NULL;
			t->capsubs = 0;
		}
		settle(t); /* evictable again, newest first; freed without a history */
	}
}

int fng__topic_unsubscribe(struct fng_ws *ws, const char *name, size_t n)
{
	for (struct fng_wssub **p = fng__ws_subs(ws); *p; p = &(*p)->wnext) {
		struct fng_wssub *s = *p;

		if (s->t->nlen == n && memcmp(s->t->name, name, n) == 0) {
			*p = s->wnext;
			sub_free(s);
			return 0;
		}
	}
	return -ENOENT;
}

void fng__topic_unsubscribe_all(struct fng_ws *ws)
{
	struct fng_wssub **head = fng__ws_subs(ws);

	while (*head) {
		struct fng_wssub *s = *head;

		*head = s->wnext;
		sub_free(s);
	}
}

uint64_t fng__topic_last_seq(struct fng_server *srv, const char *name, size_t n)
{
	struct fng_topic *t = topic_get(srv ? srv->topics : NULL, name, n, false);

	return t ? t->seq : 0;
}

int fng__topic_list_json(struct fng_ws *ws, struct fng_buf *b)
{
	const char *sep = "";

	fng__buf_str(b, "[");
	for (struct fng_wssub *s = *fng__ws_subs(ws); s; s = s->wnext) {
		fng__buf_str(b, sep);
		fng__buf_str(b, "\"");
		fng__buf_append(b, s->t->name, s->t->nlen);
		fng__buf_str(b, "\"");
		sep = ",";
	}
	return fng__buf_str(b, "]");
}

void fng__topic_each_subscriber(struct fng_server *srv, const char *name, size_t n,
	void (*fn)(struct fng_ws *ws, void *arg), void *arg)
{
	struct fng_topic *t = topic_get(srv ? srv->topics : NULL, name, n, false);

	for (size_t i = 0; t && i < t->nsubs; i++) {
		fn(t->subs[i]->ws, arg);
	}
}

void fng__topics_each_local(struct fng_server *srv,
	void (*fn)(const char *topic, size_t tlen, uint64_t seq, void *arg), void *arg)
{
	struct fng_topics *set = srv->topics;
	struct fng_list *lists[2];

	if (!set) {
		return;
	}
	lists[0] = &set->busy;
	lists[1] = &set->idle;
	for (int i = 0; i < 2; i++) {
		for (struct fng_list *x = lists[i]->next; x != lists[i]; x = x->next) {
			struct fng_topic *t = fng__container_of(x, struct fng_topic, link);

			if (t->local_seq) {
				t->local_seq = false;
				fn(t->name, t->nlen, t->seq, arg);
			}
		}
	}
}

void fng__topics_each_subscribed(struct fng_server *srv,
	void (*fn)(const char *topic, size_t tlen, uint64_t seq, void *arg), void *arg)
{
	struct fng_topics *set = srv->topics;

	for (struct fng_list *x = set ? set->busy.next : NULL; x && x != &set->busy; x = x->next) {
		struct fng_topic *t = fng__container_of(x, struct fng_topic, link);

		fn(t->name, t->nlen, t->seq, arg);
	}
}

void fng__topic_gap_all(struct fng_server *srv, const char *name, size_t n, uint64_t from,
	uint64_t to)
{
	struct fng_topic *t = topic_get(srv ? srv->topics : NULL, name, n, false);
	struct fng_wsmsg *g;

	if (!t || !t->nsubs || !(g = fng__topic_gap(t, from, to))) {
		return;
	}
	t->refs++; /* a slow consumer closed by the queue may take t's last subscriber */
	for (size_t i = t->nsubs; i-- > 0;) {
		/* A resume in flight finds the gap itself among what it holds. */
		if (!t->subs[i]->resume) {
			fng__ws_enqueue(t->subs[i]->ws, g);
		}
	}
	fng__wsmsg_unref(g);
	topic_unref(t);
}

void fng__topics_usage(struct fng_server *srv, size_t *ntopics, uint64_t *history_bytes)
{
	struct fng_topics *set = srv->topics;

	*ntopics = set ? set->map.n : 0;
	*history_bytes = set ? set->bytes : 0;
}

void fng__topics_free(struct fng_server *srv)
{
	struct fng_topics *set = srv->topics;

	if (!set) {
		return;
	}
	/* The connections are gone: busy is empty unless a caller broke that rule. */
	while (!fng__list_empty(&set->idle)) {
		topic_evict(fng__container_of(set->idle.next, struct fng_topic, link));
	}
	while (!fng__list_empty(&set->busy)) {
		topic_evict(fng__container_of(set->busy.next, struct fng_topic, link));
	}
	fng__hmap_finish(&set->map);
	free(set);
	srv->topics = NULL;
}
