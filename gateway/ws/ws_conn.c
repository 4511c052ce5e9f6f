// SPDX-License-Identifier: MIT
/*
 * A WebSocket connection after its handshake (RFC 6455 framing in ws.c). Input is decoded
 * frame by frame from the connection's buffer; data frames are assembled into messages
 * (limits, UTF-8 for text) and each message becomes an event request — the same struct
 * fng_req the HTTP path uses, with this file's ops — that walks the stage table: the route
 * stage picks the route by the API's route selection expression, the integration runs, and
 * the respond stage comes back here to send the answer as a message. Control frames are
 * answered at once. A connection's messages run one after another, in the order they arrived
 * (message_order: parallel lets them run at once); $disconnect is dispatched exactly once,
 * when the transport is gone, whatever ended it, after every message of the connection.
 *
 * Lifetime: struct fng_ws lives while its transport is open or any event request still
 * points at it (req->ws.conn); the last of them frees it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <uv.h>

#include "metrics.h"
#include "errors.h"
#include "grants.h"
#include "limit.h"
#include "stages.h"
#include "topic.h"
#include "ws.h"
#include "ws_cluster.h"
#include "ws_conn.h"

/* How long a closing handshake the server started waits for the client's close frame. */
#define CLOSE_WAIT_MS 5000
/*
 * Fan-out batching: after a flush that wrote to this many connections, the next one waits
 * FANOUT_WAIT_MS for more publications to share its writes (one syscall per subscriber for
 * several messages). Small flushes (answers, a chat room) leave at the end of the iteration.
 */
#define FANOUT_BATCH 64
#define FANOUT_WAIT_MS 1
/*
 * Events of one connection not finished (running, or waiting for the one before under
 * message_order: connection); beyond it, reading pauses. This bounds a connection's waiting
 * messages to MAX_INFLIGHT * message_bytes, as it bounded those in the stage table before.
 */
#define MAX_INFLIGHT 64

/*
 * An event that waits for the connection's previous one to finish: a message under
 * message_order: connection, or $disconnect (which comes after every message). Its body is
 * copied: the frame it came from is gone once the input is consumed.
 */
struct fng_wsev {
	struct fng_wsev *next;
	uint64_t mid;       /* the message's number (messageId), given as it arrived */
	size_t len;
	enum fng_event type;
	bool text;
	char data[];
};

struct fng_ws {
	struct fng_hnode hnode;    /* the registry, by id */
	struct fng_conn *conn;     /* NULL once the transport is gone */
	struct fng_server *srv;
	struct fng_config *cfg;    /* a reference: the API and stage below live in it */
	const struct fng_api *api;
	const struct fng_stage *stage;
	char id[17];
	char ip[48];
	struct fng_heap_node deadline; /* srv->ws_deadlines: idle, ping, pong, duration, close wait */
	uint64_t started, last_rx, ping_sent, close_at; /* uv_now() ms; 0: none */
	struct fng_buf msg;        /* the message being assembled from fragments */
	struct fng_utf8 utf8;
	uint8_t msg_op;            /* FNG_WS_TEXT or FNG_WS_BINARY while a message is open */
	unsigned inflight;         /* events not finished: running or in evq */
	unsigned running;          /* ... of them in the stage table */
	struct fng_wsev *evq, **evq_tail; /* events waiting for their turn, oldest first */
	uint64_t messages;
	int pending_code;          /* a close to send once the messages in flight are answered */
	const char *pending_reason;
	struct fng_wssub *subs;    /* its topics (topic.c) */
	char *query;               /* the handshake's query string, for its events; or NULL */
	/* What its $connect authorizer established, for its events (fng__req_authz_clone). */
	struct fng_req_authz *authz;
	/* The handshake's trace and the gateway's span for it: its events' trace and parent. */
	char trace_id[33], trace_span[17];
	uint8_t trace_flags;
	char *resume;              /* the handshake's resume=TOPIC:SEQ[,...], decoded; or NULL */
	/*
	 * The send queue: frames by reference, oldest first, qbytes in all; the first qwriting
	 * of them are being written (their memory must stay until the write completes).
	 */
	struct fng_wsmsg **q;
	uint32_t qhead, qn, qcap, qwriting;
	size_t qbytes;
	uint64_t dropped;          /* topic messages dropped for a slow consumer */
	struct fng_list dirty;     /* in srv->ws_dirty: frames queued, not yet written */
	/* Its API's series (resolved when it opens): messages in and out. */
	struct fng_metric_series *m_in, *m_out;
	bool close_sent, disconnected, paused;
	bool pumping;              /* ws_pump is starting events (a nested call returns) */
};

/* ---- metrics: per API, a bounded set (the configured WebSocket APIs) ---- */

/* Counted when scraped: a gauge kept by +1/-1 would drift across `metrics.enabled` flips. */
static void collect_open(struct fng_server *srv, struct fng_metric_def *def)
{
	fng__metrics_zero(srv, def);
	FNG_HMAP_EACH(&srv->ws_conns, n) {
		struct fng_ws *ws = fng__container_of(n, struct fng_ws, hnode);
		const char *v[] = { ws->api->name };

		fng__metric_gauge_add(fng__metric_series(srv, def, v), 1);
	}
}

static struct fng_metric_def m_open = {
	"fngate_ws_connections", "Open WebSocket connections.", FNG_METRIC_GAUGE, { "api" },
	.collect = collect_open,
};
static struct fng_metric_def m_in = {
	"fngate_ws_messages_in_total", "WebSocket messages received from clients.",
	FNG_METRIC_COUNTER, { "api" },
};
static struct fng_metric_def m_out = {
	"fngate_ws_messages_out_total",
	"WebSocket messages queued to clients (answers, pushes, topic deliveries).",
	FNG_METRIC_COUNTER, { "api" },
};
static struct fng_metric_def m_slow = {
	"fngate_ws_slow_consumer_closes_total",
	"Connections closed because their send queue was full (1008).", FNG_METRIC_COUNTER,
	{ "api" },
};
static struct fng_metric_def m_dropped = {
	"fngate_ws_dropped_total",
	"Topic messages dropped for a slow consumer under drop_oldest.", FNG_METRIC_COUNTER,
	{ "api" },
};

struct fng_metric_def *const fng__ws_metrics[] = {
	&m_open, &m_in, &m_out, &m_slow, &m_dropped, &fng__m_ws_publications,
	&fng__m_ws_deliveries, &fng__m_ws_topics, NULL,
};

static void ws_metric(struct fng_ws *ws, struct fng_metric_def *def, uint64_t n)
{
	const char *v[] = { ws->api->name };

	fng__metric_add(fng__metric_series(ws->srv, def, v), n);
}

/* The open connections by id (the loop's own: one loop, no lock). */

static struct fng_ws *reg_find(struct fng_server *srv, const char *id, size_t len)
{
	if (!srv) {
		return NULL; /* a function host without a loop's state (tests): no connection */
	}
	uint64_t h;

	if (len != 16) {
		return NULL;
	}
	h = fng__hash(id, len);
	for (struct fng_hnode *n = fng__hmap_chain(&srv->ws_conns, h); n; n = n->next) {
		struct fng_ws *ws = fng__container_of(n, struct fng_ws, hnode);

		if (n->hash == h && memcmp(ws->id, id, 16) == 0) {
			return ws;
		}
	}
	return NULL;
}

void fng__ws_new_id(char out[17], const char *api)
{
	uint8_t r[9];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = uv_hrtime();

		for (size_t i = 0; i < sizeof(r); i++) {
			r[i] = (uint8_t)(t >> (i % 8 * 8)) ^ (uint8_t)(uintptr_t)&t;
		}
	}
	fng__conn_tag(api, out);
	for (size_t i = 0, o = FNG_CONN_TAG_LEN; i < sizeof(r); i += 3) {
		uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];

		out[o++] = FNG_B64URL[v >> 18 & 63];
		out[o++] = FNG_B64URL[v >> 12 & 63];
		out[o++] = FNG_B64URL[v >> 6 & 63];
		out[o++] = FNG_B64URL[v & 63];
	}
	out[FNG_CONN_ID_LEN] = '\0';
}

static void ws_maybe_free(struct fng_ws *ws);
static struct fng_wsmsg *q_pop(struct fng_ws *ws);
static void ws_fail(struct fng_ws *ws, int code, const char *why);

/* Frees ws once nothing refers to it: no transport, no event request. */
static void ws_maybe_free(struct fng_ws *ws)
{
	if (ws->conn || ws->inflight) {
		return;
	}
	while (ws->qn) {
		fng__wsmsg_unref(q_pop(ws));
	}
	while (ws->evq) { /* none: each counts in inflight; kept for the invariant's sake */
		struct fng_wsev *e = ws->evq;

		ws->evq = e->next;
		free(e);
	}
	free(ws->q);
	free(ws->query);
	free(ws->resume);
	free(ws->authz);
	fng__buf_finish(&ws->msg);
	fng__config_unref(ws->cfg);
	free(ws);
}

/* ---- output ---- */

static void ws_close(struct fng_ws *ws, int code, const char *reason, bool now);

static void ws_flush_cb(uv_check_t *h);
static void conn_written(struct fng_ws *ws);
static void ws_flush_timer_cb(uv_timer_t *t);

static struct fng_wsmsg *q_at(const struct fng_ws *ws, uint32_t i)
{
	return ws->q[(ws->qhead + i) % ws->qcap];
}

/* Takes the oldest frame off the queue; the caller owns its reference. */
static struct fng_wsmsg *q_pop(struct fng_ws *ws)
{
	struct fng_wsmsg *m = ws->q[ws->qhead];

	ws->qhead = (ws->qhead + 1) % ws->qcap;
	ws->qn--;
	ws->qbytes -= m->len;
	return m;
}

/* Queues a reference to m (taken here). */
static int q_push(struct fng_ws *ws, struct fng_wsmsg *m)
{
	if (ws->qn == ws->qcap) {
		uint32_t cap = ws->qcap ? ws->qcap * 2 : 4;
		struct fng_wsmsg **q = malloc(cap * sizeof(*q));

		if (!q) {
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < ws->qn; i++) {
			q[i] = q_at(ws, i);
		}
		free(ws->q);
		ws->q = q;
		ws->qcap = cap;
		ws->qhead = 0;
	}
	ws->q[(ws->qhead + ws->qn) % ws->qcap] = fng__wsmsg_ref(m);
	ws->qn++;
	ws->qbytes += m->len;
	return 0;
}

/*
 * drop_oldest: takes topic messages that are not being written off the queue, oldest first,
 * until need more bytes fit. A run of dropped messages of one topic leaves one gap signal
 * where it was, so the client knows what it lost (resume can fetch it while the topic's
 * history has it). Gap signals may take the queue a few bytes past its cap. false if not
 * enough could be dropped (then the connection is closed with 1008 as under "close").
 */
static bool q_drop_oldest(struct fng_ws *ws, size_t need)
{
	size_t cap = ws->api->ws.send_queue_bytes, freed = 0;
	struct fng_wsmsg *gap = NULL;
	const struct fng_topic *gap_topic = NULL; /* compared only, while this pass runs */
	uint64_t gap_from = 0;
	uint32_t i, o;

	for (i = ws->qwriting; i < ws->qn && ws->qbytes - freed + need > cap; i++) {
		struct fng_wsmsg *m = q_at(ws, i);

		freed += m->seq ? m->len : 0;
	}
	if (ws->qbytes - freed + need > cap) {
		return false;
	}
	for (i = o = ws->qwriting, freed = 0; i < ws->qn; i++) {
		struct fng_wsmsg *m = q_at(ws, i), *g;
		bool widen;

		if (!m->seq || ws->qbytes - freed + need <= cap) {
			ws->q[(ws->qhead + o++) % ws->qcap] = m;
			continue;
		}
		/* The entry before is this topic's gap: widen it instead of adding one. */
		widen = gap && o > ws->qwriting && ws->q[(ws->qhead + o - 1) % ws->qcap] == gap &&
			gap_topic == m->topic;
		if (!widen) {
			gap_from = m->seq;
		}
		g = fng__topic_gap(m->topic, gap_from, m->seq);
		gap_topic = m->topic;
		freed += m->len;
		ws->dropped++;
		ws_metric(ws, &m_dropped, 1);
		fng__wsmsg_unref(m);
		if (!g) {
			continue;
		}
		if (widen) {
			freed += gap->len;
			fng__wsmsg_unref(gap);
			o--;
		}
		ws->q[(ws->qhead + o++) % ws->qcap] = g;
		freed -= g->len;
		gap = g;
	}
	ws->qn = o;
	ws->qbytes -= freed;
	return true;
}

/*
 * Queues a reference to frame m and starts sending. A client whose unsent output would pass
 * the API's send queue limit is a slow consumer: closed with 1008, or under drop_oldest its
 * oldest topic messages give way. An empty queue takes any one message (the limit bounds
 * what waits behind, not the message size: message_bytes does that), and the close frame is
 * never refused.
 */
void fng__ws_enqueue(struct fng_ws *ws, struct fng_wsmsg *m)
{
	struct fng_conn *c = ws->conn;
	bool is_close = (m->data[0] & 0x0f) == FNG_WS_CLOSE;

	/* Before FNG_CONN_WS too: what $connect subscribed to is replayed as the 101 leaves. */
	if (!c || c->state >= FNG_CONN_CLOSING || (ws->close_sent && !is_close)) {
		return;
	}
	if (!is_close && ws->qbytes && ws->qbytes + m->len > ws->api->ws.send_queue_bytes &&
		!(ws->api->ws.drop_oldest && q_drop_oldest(ws, m->len))) {
		ws_metric(ws, &m_slow, 1);
		ws_close(ws, FNG_WS_POLICY, "send queue full", true);
		return;
	}
	if (q_push(ws, m)) {
		fng__conn_abort(c);
		return;
	}
	if (!is_close) {
		fng__metric_add(ws->m_out, 1);
	}
	/*
	 * Written at the end of this loop iteration: a connection that gets many frames in one
	 * iteration (a burst of publications) gets them in one write. This also keeps writes out
	 * of the end of the handshake (conn_start), where the request still owns the
	 * connection and a failed write must not cancel it from under its own completion.
	 */
	if (fng__list_empty(&ws->dirty)) {
		struct fng_server *srv = ws->srv;

		if (fng__list_empty(&srv->ws_dirty)) {
			if (srv->ws_fanout >= FANOUT_BATCH) {
				uv_timer_start(&srv->ws_flush_timer, ws_flush_timer_cb, FANOUT_WAIT_MS,
					0);
			} else {
				uv_check_start(&srv->ws_flush, ws_flush_cb);
			}
		}
		fng__list_append(&srv->ws_dirty, &ws->dirty);
	}
}

/* Writes what was queued on each connection since the last flush. */
static void flush_dirty(struct fng_server *srv)
{
	unsigned n = 0;

	while (!fng__list_empty(&srv->ws_dirty)) {
		struct fng_ws *ws = fng__container_of(srv->ws_dirty.next, struct fng_ws, dirty);

		fng__list_remove(&ws->dirty);
		if (ws->conn && ws->conn->state == FNG_CONN_WS) {
			fng__conn_flush(ws->conn);
			n++;
		}
	}
	srv->ws_fanout = n;
}

/* After the loop iteration's I/O. */
static void ws_flush_cb(uv_check_t *h)
{
	uv_check_stop(h);
	flush_dirty(h->data);
}

static void ws_flush_timer_cb(uv_timer_t *t)
{
	flush_dirty(t->data);
}

/* Frames a message of type op and queues it. */
static void ws_send(struct fng_ws *ws, uint8_t op, const void *p, size_t len)
{
	struct fng_wsmsg *m;

	if (!ws->conn || ws->conn->state >= FNG_CONN_CLOSING ||
		(ws->close_sent && op != FNG_WS_CLOSE)) {
		return;
	}
	m = fng__wsmsg_create(op, p, len);
	if (!m) {
		fng__conn_abort(ws->conn);
		return;
	}
	fng__ws_enqueue(ws, m);
	fng__wsmsg_unref(m);
}

static bool conn_queued(const struct fng_ws *ws)
{
	return ws->qn > ws->qwriting;
}

static int conn_write(struct fng_conn *c)
{
	struct fng_ws *ws = c->ws;
	uv_buf_t b[FNG_WRITEV_MAX];
	unsigned n;
	int rc;

	if (ws->qwriting) {
		return 0;
	}
	for (n = 0; n < ws->qn && n < FNG_WRITEV_MAX; n++) {
		struct fng_wsmsg *m = q_at(ws, n);

		b[n] = uv_buf_init((char *)m->data, m->len);
	}
	if (!n) {
		return 1;
	}
	ws->qwriting = n;
	rc = c->ops->writev(c, b, n);
	if (rc == 1) {
		conn_written(ws);
	}
	return rc;
}

static void conn_written(struct fng_ws *ws)
{
	while (ws->qwriting) {
		fng__wsmsg_unref(q_pop(ws));
		ws->qwriting--;
	}
	if (!ws->qn) {
		/* An idle connection holds no queue: 5,000 idle ones would keep 240 KB. */
		free(ws->q);
		ws->q = NULL;
		ws->qcap = ws->qhead = 0;
	}
}

struct fng_wssub **fng__ws_subs(struct fng_ws *ws)
{
	return &ws->subs;
}

/*
 * Sends a close frame (once). now: the server ends the connection after it (a protocol
 * error, or the answer to the client's close); otherwise the client has CLOSE_WAIT_MS to
 * answer with its own.
 */
static void ws_close(struct fng_ws *ws, int code, const char *reason, bool now)
{
	struct fng_conn *c = ws->conn;
	uint8_t p[125];
	size_t rl = reason ? strlen(reason) : 0;

	if (!c) {
		return;
	}
	if (!ws->close_sent) {
		if (rl > sizeof(p) - 2) {
			rl = sizeof(p) - 2;
		}
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		if (rl) {
			memcpy(p + 2, reason, rl);
		}
		ws_send(ws, FNG_WS_CLOSE, p, code == FNG_WS_NO_STATUS ? 0 : rl + 2);
		ws->close_sent = true;
		ws->close_at = uv_now(ws->srv->loop) + CLOSE_WAIT_MS;
		fng__topic_unsubscribe_all(ws); /* no data frame may follow a close */
	}
	if (now && ws->conn) {
		fng__conn_finish(ws->conn);
	}
}

/* ---- timers ---- */

static void ws_deadline_cb(uv_timer_t *t);

/* Points the server's timer at the earliest deadline of all connections. */
static void deadlines_arm(struct fng_server *srv)
{
	struct fng_heap_node *n = fng__heap_min(&srv->ws_deadlines);
	uint64_t now = uv_now(srv->loop);

	if (!n) {
		uv_timer_stop(&srv->ws_timer);
		return;
	}
	/* Never 0: a timer re-armed for "now" inside its callback would run again at once. */
	uv_timer_start(&srv->ws_timer, ws_deadline_cb, n->at > now ? n->at - now : 1, 0);
}

/* Sets ws's next deadline: the earliest of what it waits for. */
static void ws_arm(struct fng_ws *ws)
{
	const struct fng_ws_cfg *wc = &ws->api->ws;
	struct fng_heap *h = &ws->srv->ws_deadlines;
	struct fng_heap_node *first = fng__heap_min(h);
	uint64_t before = first ? first->at : UINT64_MAX, at;

	if (!ws->conn) {
		return;
	}
	if (ws->close_sent || ws->pending_code) {
		/* Only the wait for the client's close, or for answers before ours, is left. */
		at = ws->close_at;
	} else {
		at = ws->started + wc->max_duration_ms;
		if (ws->last_rx + wc->idle_ms < at) {
			at = ws->last_rx + wc->idle_ms;
		}
		if (ws->ping_sent && ws->ping_sent + wc->pong_ms < at) {
			at = ws->ping_sent + wc->pong_ms;
		} else if (!ws->ping_sent && wc->ping_ms && ws->last_rx + wc->ping_ms < at) {
			at = ws->last_rx + wc->ping_ms;
		}
	}
	if (fng__heap_set(h, &ws->deadline, at) != 0) {
		fng__conn_abort(ws->conn); /* no memory to watch it: do not keep it unwatched */
		return;
	}
	if (fng__heap_min(h)->at != before) {
		deadlines_arm(ws->srv);
	}
}

/* ws's deadline passed: close it, ping it, or wait for what is still ahead. */
static void ws_expired(struct fng_ws *ws)
{
	const struct fng_ws_cfg *wc = &ws->api->ws;
	uint64_t now = uv_now(ws->srv->loop);

	if (ws->close_sent || ws->pending_code) {
		if (now < ws->close_at) {
			ws_arm(ws);
		} else if (ws->close_sent) {
			fng__conn_abort(ws->conn); /* the client never answered our close */
		} else {
			/* The answers in flight took too long: close without them. */
			ws_close(ws, ws->pending_code, ws->pending_reason, true);
		}
		return;
	}
	if (now >= ws->started + wc->max_duration_ms) {
		ws_close(ws, FNG_WS_GOING_AWAY, "maximum connection duration reached", false);
	} else if (now >= ws->last_rx + wc->idle_ms) {
		ws_close(ws, FNG_WS_GOING_AWAY, "idle timeout", false);
	} else if (ws->ping_sent && now >= ws->ping_sent + wc->pong_ms) {
		ws_close(ws, FNG_WS_GOING_AWAY, "no pong", false);
	} else if (!ws->ping_sent && wc->ping_ms && now >= ws->last_rx + wc->ping_ms) {
		ws_send(ws, FNG_WS_PING, "", 0);
		ws->ping_sent = now;
	}
	if (ws->conn) {
		ws_arm(ws);
	}
}

static void ws_deadline_cb(uv_timer_t *t)
{
	struct fng_server *srv = t->data;
	uint64_t now = uv_now(srv->loop);
	struct fng_heap_node *n;

	/* Each expired connection gets a later deadline or leaves the heap: this ends. */
	while ((n = fng__heap_min(&srv->ws_deadlines)) && n->at <= now) {
		struct fng_ws *ws = fng__container_of(n, struct fng_ws, deadline);

		fng__heap_del(&srv->ws_deadlines, n);
		if (ws->conn) {
			ws_expired(ws);
		}
	}
	deadlines_arm(srv);
}

/* ---- events ---- */

static void ev_respond(struct fng_req *req);
static void ev_finish(struct fng_req *req);
static void ev_log(struct fng_req *req, const char *line, size_t len);

static const struct fng_req_ops ev_ops = {
	.respond = ev_respond,
	.finish = ev_finish,
	.log = ev_log,
};

/*
 * The per-connection message rate (websocket.message_rate / message_burst): one bucket of the
 * loop's store (core/limit.h), the throttle stage's, named 'w', the API, '\0' and the
 * connection id (unique to the connection), so that it takes its memory from the same budget
 * (server.throttle_memory_bytes) and moves to a shared store with the others. A store that
 * cannot decide (no memory) admits the message: this rate spares the functions one chatty
 * client, and refusing every connection's messages for want of a table slot would be worse.
 */
static bool admit_message(struct fng_ws *ws)
{
	const struct fng_ws_cfg *wc = &ws->api->ws;
	size_t an = strlen(ws->api->name), klen = an + 2 + 16;
	char small[128], *key = small;
	struct fng_limit_store *store;
	struct fng_limit_ask a;
	struct fng_limit_answer ans;
	int err;

	if (!wc->message_rate) {
		return true;
	}
	store = fng__server_limits(ws->srv, ws->cfg->throttle.memory_bytes);
	if (!store || (klen > sizeof(small) && !(key = malloc(klen)))) {
		return true;
	}
	key[0] = 'w';
	memcpy(key + 1, ws->api->name, an + 1);
	memcpy(key + 2 + an, ws->id, 16);
	a = (struct fng_limit_ask){ key, klen, wc->message_rate,
		wc->message_burst ? wc->message_burst : wc->message_rate };
	err = store->ops->take(store, &a, 1, uv_hrtime(), &ans);
	if (key != small) {
		free(key);
	}
	return err != 0 || ans.refused < 0;
}

/* Stops reading a connection with too many events not finished. */
static void inflight_check(struct fng_ws *ws)
{
	if (ws->conn && ws->inflight >= MAX_INFLIGHT && !ws->paused) {
		ws->paused = true;
		fng__conn_pause(ws->conn, true);
	}
}

/*
 * Whether an event of type may start now: $disconnect after every message of the connection,
 * a message after the one before unless the API runs them in parallel.
 */
static bool may_start(const struct fng_ws *ws, enum fng_event type)
{
	return !ws->running || (type == FNG_EVENT_MESSAGE && ws->api->ws.parallel);
}

/* Makes the event request for ws (type MESSAGE or DISCONNECT; body copied) and runs it. */
static void ev_start(struct fng_ws *ws, enum fng_event type, const void *body, size_t len,
	bool text, uint64_t mid)
{
	struct fng_req *req;
	char smid[24];

	req = fng__req_new_event(ws->srv, ws->cfg, &ev_ops, body, len);
	if (!req) {
		return;
	}
	req->ws.conn = ws;
	if (ws->query) {
		req->query = (struct fng_str){ ws->query, strlen(ws->query) };
	}
	req->api = ws->api;
	req->stage = ws->stage;
	req->event = type;
	req->ws.text = text;
	req->ws.id = ws->id;
	if (type == FNG_EVENT_MESSAGE) {
		snprintf(smid, sizeof(smid), "%llu", (unsigned long long)mid);
		req->ws.message_id = fng__arena_strndup(req->arena, smid, strlen(smid));
	}
	snprintf(req->ip, sizeof(req->ip), "%s", ws->ip);
	/* The connection's trace, a span of its own (the handshake's tracestate is not kept). */
	fng__req_trace_join(req, ws->trace_id, ws->trace_span, ws->trace_flags, NULL);
	ws->inflight++;
	ws->running++;
	ws->srv->nevents++;
	inflight_check(ws);
	if (ws->authz && fng__req_authz_copy(req, ws->authz)) {
		/* Without its $connect authorizer's context it would be another caller's event. */
		fng__req_fail(req, UV_ENOMEM, NULL);
		return;
	}
	fng__req_run(req);
}

/*
 * Starts the waiting events whose turn it is, oldest first. Called when an event finishes:
 * the answer of message N is queued on the connection (ev_respond) and what its handler
 * published or sent was delivered (the worker's WS_* frames are dispatched before its
 * RESULT) before message N+1 starts, so both keep the order messages arrived in. An event
 * that finishes at once (no route, a mock) finishes inside this loop: its nested call
 * returns and the loop starts the next, without recursion. ws is held meanwhile; the caller
 * frees it if it is done.
 */
static void ws_pump(struct fng_ws *ws)
{
	if (ws->pumping) {
		return;
	}
	ws->pumping = true;
	ws->inflight++;
	while (ws->evq && may_start(ws, ws->evq->type)) {
		struct fng_wsev *e = ws->evq;

		ws->evq = e->next;
		if (!ws->evq) {
			ws->evq_tail = &ws->evq;
		}
		ws->inflight--;
		ws->srv->nevents--;
		ev_start(ws, e->type, e->data, e->len, e->text, e->mid);
		free(e);
	}
	ws->inflight--;
	ws->pumping = false;
}

/*
 * An event for ws (type MESSAGE or DISCONNECT; body copied): started now if its turn has
 * come, else queued behind the events before it.
 */
static void ws_event(struct fng_ws *ws, enum fng_event type, const void *body, size_t len,
	bool text)
{
	struct fng_wsev *e;
	uint64_t mid = 0;

	if (type == FNG_EVENT_MESSAGE && !admit_message(ws)) {
		/* Refused like API Gateway's throttling, on the connection, which stays open. */
		struct fng_buf m = { 0 };

		if (fng__err_json(&m, "Too Many Requests: message rate limit exceeded", ws->id,
			    NULL, 0) == 0) {
			ws_send(ws, FNG_WS_TEXT, m.p, m.len);
		}
		fng__buf_finish(&m);
		return;
	}
	if (type == FNG_EVENT_MESSAGE) {
		mid = ++ws->messages;
	}
	if (!ws->evq && may_start(ws, type)) {
		ev_start(ws, type, body, len, text, mid);
		return;
	}
	e = malloc(sizeof(*e) + len);
	if (!e) {
		if (type == FNG_EVENT_DISCONNECT) {
			ev_start(ws, type, body, len, text, mid); /* exactly once, if out of turn */
		} else if (ws->conn) {
			ws_fail(ws, FNG_WS_INTERNAL, "out of memory");
		}
		return;
	}
	*e = (struct fng_wsev){ .mid = mid, .len = len, .type = type, .text = text };
	if (len) {
		memcpy(e->data, body, len);
	}
	if (!ws->evq) {
		ws->evq_tail = &ws->evq;
	}
	*ws->evq_tail = e;
	ws->evq_tail = &e->next;
	ws->inflight++;
	ws->srv->nevents++;
	inflight_check(ws);
}

/* The answer to a message goes back as a message; a gateway error as a JSON text message. */
static void ev_respond(struct fng_req *req)
{
	struct fng_ws *ws = req->ws.conn;
	struct fng_buf *b = &req->resp.body;

	req->bytes_out = 0;
	if (!ws->conn || req->event != FNG_EVENT_MESSAGE) {
		return;
	}
	if (req->error || req->resp.status >= 400) {
		struct fng_buf m = { 0 };
		const char *msg = req->error ? (req->error_detail ? req->error_detail :
			fng_strerror(req->error)) : "the integration answered an error";

		if (fng__err_json(&m, msg, ws->id, req->request_id, req->request_id_len) == 0) {
			ws_send(ws, FNG_WS_TEXT, m.p, m.len);
			req->bytes_out = m.len;
		}
		fng__buf_finish(&m);
		return;
	}
	if (b->len || req->resp.has_body) {
		/* The answer to a text message is text if it is UTF-8; anything else is binary. */
		struct fng_utf8 u = { 0 };
		bool text = req->ws.text && fng__utf8_feed(&u, (const uint8_t *)b->p, b->len) &&
			fng__utf8_complete(&u);

		ws_send(ws, text ? FNG_WS_TEXT : FNG_WS_BINARY, b->p, b->len);
		req->bytes_out = b->len;
	}
}

static void ev_log(struct fng_req *req, const char *line, size_t len)
{
	fng__server_log_line(req->srv, line, len);
}

static void ev_finish(struct fng_req *req)
{
	struct fng_ws *ws = req->ws.conn;
	struct fng_server *srv = ws->srv;

	fng__req_destroy(req);
	ws->inflight--;
	ws->running--;
	srv->nevents--;
	ws_pump(ws);
	if (ws->conn && ws->pending_code && !ws->inflight) {
		ws_close(ws, ws->pending_code, ws->pending_reason, true);
	}
	if (ws->conn && ws->paused && !ws->pending_code && ws->inflight < MAX_INFLIGHT / 2) {
		ws->paused = false;
		fng__conn_pause(ws->conn, false);
	}
	ws_maybe_free(ws);
	fng__server_maybe_drained(srv);
}

/* ---- input ---- */

/*
 * Ends the connection with a close frame carrying code — after the answers to the messages
 * received before (a client sending a good message and then a bad frame gets its answer,
 * then the close). Input after this point is not read.
 */
static void ws_fail(struct fng_ws *ws, int code, const char *why)
{
	struct fng_conn *c = ws->conn;

	if (!c || ws->pending_code) {
		return;
	}
	if (!ws->inflight) {
		ws_close(ws, code, why, true);
		return;
	}
	ws->pending_code = code;
	ws->pending_reason = why;
	ws->close_at = uv_now(ws->srv->loop) + CLOSE_WAIT_MS;
	fng__conn_pause(c, true);
	fng__buf_finish(&c->in);
}

/* A data frame: part of the message being assembled. false: the connection was failed. */
static bool on_data_frame(struct fng_ws *ws, const struct fng_ws_frame *f)
{
	if (f->opcode == FNG_WS_CONT) {
		if (!ws->msg_op) {
			ws_fail(ws, FNG_WS_PROTOCOL_ERROR, "continuation without a message");
			return false;
		}
	} else {
		if (ws->msg_op) {
			ws_fail(ws, FNG_WS_PROTOCOL_ERROR, "new message inside a fragmented one");
			return false;
		}
		ws->msg_op = f->opcode;
		ws->msg.len = 0;
		ws->utf8 = (struct fng_utf8){ 0 };
	}
	if (ws->msg.len + f->len > ws->api->ws.message_bytes) {
		ws_fail(ws, FNG_WS_TOO_BIG, "message too big");
		return false;
	}
	if (ws->msg_op == FNG_WS_TEXT && (!fng__utf8_feed(&ws->utf8, f->payload, f->len) ||
		(f->fin && !fng__utf8_complete(&ws->utf8)))) {
		ws_fail(ws, FNG_WS_INVALID_DATA, "text message is not UTF-8");
		return false;
	}
	if (!f->fin) {
		if (fng__buf_append(&ws->msg, f->payload, f->len)) {
			ws_fail(ws, FNG_WS_INTERNAL, "out of memory");
			return false;
		}
		return true;
	}
	fng__metric_add(ws->m_in, 1);
	if (ws->msg.len) {
		if (fng__buf_append(&ws->msg, f->payload, f->len)) {
			ws_fail(ws, FNG_WS_INTERNAL, "out of memory");
			return false;
		}
		ws_event(ws, FNG_EVENT_MESSAGE, ws->msg.p, ws->msg.len, ws->msg_op == FNG_WS_TEXT);
	} else {
		ws_event(ws, FNG_EVENT_MESSAGE, f->payload, f->len, ws->msg_op == FNG_WS_TEXT);
	}
	ws->msg_op = 0;
	ws->msg.len = 0;
	if (ws->msg.cap > 64 * 1024) {
		fng__buf_finish(&ws->msg);
	}
	return true;
}

/* false: stop reading frames (closing). */
static bool on_frame(struct fng_ws *ws, const struct fng_ws_frame *f)
{
	int code, peer;

	ws->last_rx = uv_now(ws->srv->loop);
	switch (f->opcode) {
	case FNG_WS_PING:
		if (!ws->close_sent) {
			ws_send(ws, FNG_WS_PONG, f->payload, f->len);
		}
		return true;
	case FNG_WS_PONG:
		ws->ping_sent = 0;
		return true;
	case FNG_WS_CLOSE:
		code = fng__ws_close_reply(f->payload, f->len, &peer);
		if (ws->close_sent) {
			fng__conn_finish(ws->conn); /* the answer to ours */
		} else {
			ws_fail(ws, code, NULL); /* answered after what is in flight */
		}
		return false;
	default:
		if (ws->close_sent) {
			return true; /* after our close: discarded until the client's */
		}
		return on_data_frame(ws, f);
	}
}

static void conn_on_data(struct fng_conn *c, const char *data, size_t len)
{
	struct fng_ws *ws = c->ws;
	size_t off = 0;

	if (ws->pending_code) {
		return; /* closing after the answers in flight: nothing more is read */
	}
	if (len && fng__buf_append(&c->in, data, len)) {
		fng__conn_abort(c);
		return;
	}
	/* Nothing buffered (c->in.p NULL: no pointer arithmetic on it): no frame to decode. */
	while (ws->conn && c->state == FNG_CONN_WS && !ws->pending_code && off < c->in.len) {
		struct fng_ws_frame f;
		long n = fng__ws_decode((uint8_t *)c->in.p + off, c->in.len - off,
			ws->api->ws.frame_bytes, &f);

		if (n == 0) {
			break;
		}
		if (n < 0) {
			ws_fail(ws, (int)-n,
				-n == FNG_WS_TOO_BIG ? "frame too big" : "protocol error");
			return;
		}
		off += (size_t)n;
		if (!on_frame(ws, &f)) {
			return;
		}
	}
	/* A message that could not wait for its turn failed the connection: input is gone. */
	if (c->state == FNG_CONN_WS && !ws->pending_code) {
		fng__buf_consume(&c->in, off);
		if (!c->in.len) {
			fng__buf_finish(&c->in); /* an idle connection holds no input buffer */
		}
		ws_arm(ws);
	}
}

static void conn_on_eof(struct fng_conn *c)
{
	/* No close frame (1006): nothing can be said to this client any more. */
	fng__conn_abort(c);
}

static void conn_on_closed(struct fng_conn *c)
{
	struct fng_ws *ws = c->ws;

	if (!ws) {
		return;
	}
	c->ws = NULL;
	ws->conn = NULL;
	fng__hmap_del(&ws->srv->ws_conns, &ws->hnode);
	fng__ws_cluster_closed(ws->srv, ws->id);

	fng__list_remove(&ws->dirty);
	fng__topic_unsubscribe_all(ws);
	fng__heap_del(&ws->srv->ws_deadlines, &ws->deadline);
	if (!ws->disconnected) {
		ws->disconnected = true;
		ws->inflight++; /* holds ws across an event that may finish at once (no route) */
		ws_event(ws, FNG_EVENT_DISCONNECT, NULL, 0, false);
		ws->inflight--;
	}
	ws_maybe_free(ws);
}

static void conn_drain(struct fng_conn *c)
{
	if (c->ws) {
		ws_close(c->ws, FNG_WS_GOING_AWAY, "server shutting down", false);
	}
}

static bool resume_position(const struct fng_ws *ws, const char *topic, size_t tlen,
	uint64_t *seq);

static int conn_start(struct fng_conn *c, struct fng_req *req)
{
	struct fng_ws *ws = calloc(1, sizeof(*ws));
	struct fng_str resume = { 0 };

	if (!ws) {
		return -ENOMEM;
	}
	ws->conn = c;
	ws->srv = c->srv;
	ws->cfg = fng__config_ref(req->cfg);
	ws->api = req->api;
	ws->stage = req->stage;
	snprintf(ws->id, sizeof(ws->id), "%s", req->ws.id ? req->ws.id : "");
	snprintf(ws->ip, sizeof(ws->ip), "%s", req->ip);
	memcpy(ws->trace_id, req->trace.trace_id, sizeof(ws->trace_id));
	memcpy(ws->trace_span, req->trace.span_id, sizeof(ws->trace_span));
	ws->trace_flags = req->trace.flags;
	ws->started = ws->last_rx = uv_now(c->srv->loop);
	if (req->query.len) {
		ws->query = strndup(req->query.p, req->query.len);
	}
	if (fng__req_query(req, FNG_STR("resume"), &resume) && resume.len) {
		ws->resume = strndup(resume.p, resume.len);
	}
	if (req->authz.set) {
		size_t size;

		ws->authz = fng__req_authz_clone(&req->authz, &size);
	}
	if ((req->query.len && !ws->query) || (resume.len && !ws->resume) ||
		(req->authz.set && !ws->authz) ||
		fng__hmap_add(&ws->srv->ws_conns, &ws->hnode, fng__hash(ws->id, 16)) < 0) {
		free(ws->query);
		free(ws->resume);
		free(ws->authz);
		fng__config_unref(ws->cfg);
		free(ws);
		return -ENOMEM;
	}
	fng__list_init(&ws->dirty);
	c->ws = ws;
	{
		const char *v[] = { ws->api->name };

		ws->m_in = fng__metric_series(ws->srv, &m_in, v);
		ws->m_out = fng__metric_series(ws->srv, &m_out, v);
	}
	fng__ws_cluster_opened(ws->srv, ws->id);
	/* What $connect subscribed to, from where it was then (or from the client's resume). */
	for (struct fng_ws_presub *p = req->ws.presubs; p; p = p->next) {
		uint64_t seq = p->seq;
		bool has = resume_position(ws, p->topic, p->tlen, &seq);

		/*
		 * On a cluster node, a topic this node did not know at $connect has no position
		 * here (the cluster's number is Redis'): from now on, unless the client said.
		 */
		fng__topic_subscribe(ws, p->topic, p->tlen,
			has || seq || !fng__ws_cluster_on(ws->srv), seq);
	}
	ws_arm(ws);
	return 0;
}

/*
 * The position the client gave for topic in resume=TOPIC:SEQ[,TOPIC:SEQ...] (the last
 * sequence number it saw). false (and *seq untouched) when it gave none.
 */
static bool resume_position(const struct fng_ws *ws, const char *topic, size_t tlen,
	uint64_t *seq)
{
	const char *p = ws->resume;

	while (p && *p) {
		const char *end = strchr(p, ','), *colon;

		if (!end) {
			end = p + strlen(p);
		}
		colon = memrchr(p, ':', (size_t)(end - p));
		if (colon && (size_t)(colon - p) == tlen && memcmp(p, topic, tlen) == 0 &&
			colon + 1 < end) {
			uint64_t v = 0;
			const char *d;

			for (d = colon + 1; d < end && *d >= '0' && *d <= '9' && v < UINT64_MAX / 10;
				d++) {
				v = v * 10 + (uint64_t)(*d - '0');
			}
			if (d == end) {
				*seq = v;
				return true;
			}
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

/* Whether req is the handshake of connection id (its $connect is running). */
static bool is_handshake(const struct fng_req *req, const char *id, size_t idlen)
{
	return req && req->ws.accept && req->ws.id && idlen == strlen(req->ws.id) &&
	       memcmp(req->ws.id, id, idlen) == 0;
}

const char *fng__ws_api_name(struct fng_server *srv, const struct fng_req *req, const char *id,
	size_t idlen)
{
	struct fng_ws *ws = reg_find(srv, id, idlen);

	if (ws && ws->conn) {
		return ws->api->name;
	}
	return is_handshake(req, id, idlen) ? req->api->name : NULL;
}

int fng__ws_subscribe(struct fng_server *srv, struct fng_req *req, const char *id, size_t idlen,
	const char *topic,
	size_t tlen, bool on, const struct fng_fn_policy *policy)
{
	struct fng_ws *ws = reg_find(srv, id, idlen);
	struct fng_ws_presub *p, **pp;
	unsigned k = 0;
	uint64_t seq;
	bool has;

	if (!fng__topic_name_ok(topic, tlen)) {
		return -EINVAL;
	}
	if (ws && ws->conn) {
		if (policy && !fng__policy_api_ok(policy, ws->api->name)) {
			return -EACCES;
		}
		if (!on) {
			return fng__topic_unsubscribe(ws, topic, tlen);
		}
		has = resume_position(ws, topic, tlen, &seq);
		return fng__topic_subscribe(ws, topic, tlen, has, seq);
	}
	/* The connection of the handshake this $connect runs for: it is not open yet. */
	if (!is_handshake(req, id, idlen)) {
		return -ENOENT;
	}
	if (policy && !fng__policy_api_ok(policy, req->api->name)) {
		return -EACCES;
	}
	for (pp = &req->ws.presubs; *pp; pp = &(*pp)->next, k++) {
		if ((*pp)->tlen == tlen && memcmp((*pp)->topic, topic, tlen) == 0) {
			if (!on) {
				*pp = (*pp)->next;
			}
			return 0;
		}
	}
	if (!on) {
		return -ENOENT;
	}
	if (k >= FNG_TOPIC_PER_CONN) {
		return -ENOSPC;
	}
	p = fng__arena_alloc(req->arena, sizeof(*p) + tlen + 1);
	if (!p) {
		return -ENOMEM;
	}
	p->next = NULL;
	p->seq = fng__topic_last_seq(srv, topic, tlen);
	p->tlen = tlen;
	memcpy(p->topic, topic, tlen);
	p->topic[tlen] = '\0';
	*pp = p;
	return 0;
}

static void info_json(struct fng_ws *ws, struct fng_buf *b)
{
	uint64_t now = uv_now(ws->srv->loop);
	uint64_t wall = (uint64_t)time(NULL) * 1000;

	fng__buf_str(b, "{\"connectionId\":\"");
	fng__buf_str(b, ws->id);
	fng__buf_str(b, "\",\"api\":\"");
	fng__buf_json_escape(b, ws->api->name, strlen(ws->api->name));
	fng__buf_str(b, "\",\"stage\":\"");
	fng__buf_json_escape(b, ws->stage->name, strlen(ws->stage->name));
	fng__buf_str(b, "\",\"sourceIp\":\"");
	fng__buf_str(b, ws->ip);
	fng__buf_str(b, "\",\"connectedAt\":");
	fng__buf_u64(b, wall - (now - ws->started));
	fng__buf_str(b, ",\"lastActiveAt\":");
	fng__buf_u64(b, wall - (now - ws->last_rx));
	fng__buf_str(b, ",\"messages\":");
	fng__buf_u64(b, ws->messages);
	fng__buf_str(b, ",\"queuedBytes\":");
	fng__buf_u64(b, ws->qbytes);
	fng__buf_str(b, ",\"dropped\":");
	fng__buf_u64(b, ws->dropped);
	fng__buf_str(b, ",\"topics\":");
	fng__topic_list_json(ws, b);
	fng__buf_str(b, "}");
}

int fng__ws_info_json(struct fng_server *srv, const char *id, size_t idlen, struct fng_buf *b)
{
	struct fng_ws *ws = reg_find(srv, id, idlen);

	if (!ws || !ws->conn || ws->close_sent) {
		return -ENOENT;
	}
	info_json(ws, b);
	return b->p ? 0 : -ENOMEM;
}

struct list_ctx {
	struct fng_buf *b;
	size_t n;
};

static void list_one(struct fng_ws *ws, void *arg)
{
	struct list_ctx *l = arg;

	if (!ws->conn || ws->close_sent) {
		return;
	}
	fng__buf_str(l->b, l->n++ ? "," : "");
	info_json(ws, l->b);
}

int fng__ws_list_json(struct fng_server *srv, const char *topic, size_t tlen, struct fng_buf *b)
{
	struct list_ctx l = { b, 0 };

	fng__buf_str(b, "{\"connections\":[");
	if (tlen) {
		fng__topic_each_subscriber(srv, topic, tlen, list_one, &l);
	} else {
		FNG_HMAP_EACH(&srv->ws_conns, n) {
			list_one(fng__container_of(n, struct fng_ws, hnode), &l);
		}
	}
	fng__buf_str(b, "],\"count\":");
	fng__buf_u64(b, l.n);
	fng__buf_str(b, "}");
	return b->p ? 0 : -ENOMEM;
}

int fng__ws_push(struct fng_server *srv, const char *id, size_t idlen, const void *data,
	size_t len, bool binary,
	const struct fng_fn_policy *policy)
{
	struct fng_ws *ws = reg_find(srv, id, idlen);
	struct fng_utf8 u = { 0 };

	if (!ws || !ws->conn || ws->close_sent || ws->pending_code) {
		return -ENOENT;
	}
	if (policy && !fng__policy_api_ok(policy, ws->api->name)) {
		return -EACCES;
	}
	if (!binary && (!fng__utf8_feed(&u, data, len) || !fng__utf8_complete(&u))) {
		binary = true; /* text must be UTF-8 on the wire */
	}
	ws_send(ws, binary ? FNG_WS_BINARY : FNG_WS_TEXT, data, len);
	return 0;
}

int fng__ws_close_id(struct fng_server *srv, const char *id, size_t idlen, int code,
	const char *reason, size_t rlen,
	const struct fng_fn_policy *policy)
{
	struct fng_ws *ws = reg_find(srv, id, idlen);
	char r[124];

	if (!ws || !ws->conn || ws->close_sent) {
		return -ENOENT;
	}
	if (policy && !fng__policy_api_ok(policy, ws->api->name)) {
		return -EACCES;
	}
	snprintf(r, sizeof(r), "%.*s", (int)(rlen < sizeof(r) ? rlen : sizeof(r) - 1), reason);
	ws_close(ws, code, r, false);
	ws_arm(ws);
	return 0;
}

static bool up_queued(const struct fng_conn *c)
{
	return c->ws && conn_queued(c->ws);
}

static void up_written(struct fng_conn *c)
{
	if (c->ws) {
		conn_written(c->ws);
	}
}

const struct fng_upgrade_ops fng__ws_upgrade = {
	.start = conn_start,
	.on_data = conn_on_data,
	.on_eof = conn_on_eof,
	.on_closed = conn_on_closed,
	.drain = conn_drain,
	.queued = up_queued,
	.write = conn_write,
	.written = up_written,
};

void fng__ws_each_id(struct fng_server *srv, void (*fn)(const char *id, void *arg), void *arg)
{
	FNG_HMAP_EACH(&srv->ws_conns, n) {
		fn(fng__container_of(n, struct fng_ws, hnode)->id, arg);
	}
}

struct fng_server *fng__ws_server(const struct fng_ws *ws)
{
	return ws->srv;
}
