// SPDX-License-Identifier: MIT
/*
 * ws_load: the WebSocket load generator of bench/ws.sh (client engines below: libwebsockets'
 * client, or a minimal epoll one). It drives fngate and the peers (bench/ws_peer_node.js,
 * bench/ws_peer_lws.c) with one protocol of text JSON messages that all three implement
 * alike:
 *
 *   {"action":"subscribe","topic":"bench"}   the server subscribes the connection, answers
 *                                            {"subscribed":"bench"}
 *   {"action":"publish","topic":"bench","data":"#SEQ:TS#xxx..."}
 *                                            the server sends the data to every subscriber
 *                                            (fngate wraps it as {"topic":..,"seq":..,"data":..};
 *                                            the peers send the same envelope)
 *   anything else                            echoed back to the sender
 *
 * Deliveries are recognised by the "#SEQ:TS#" marker wherever it sits in the message, so the
 * envelope does not matter. TS is this process's CLOCK_MONOTONIC in ns.
 *
 *   ws_load echo      [-c CONNS=32] [-s BYTES=64] [-d SECONDS=10] [-w WARMUP=1]
 *   ws_load broadcast [-n SUBS=1000] [-m MSGS=2000] [-s BYTES=64] [-W WINDOW=32] [-r RATE=0]
 *                     [-A ADMIN_HOST:PORT [-L PIPELINE=1]]
 *   ws_load idle      [-c CONNS=5000] [-H HOLD_SECONDS=600] [--no-touch]
 *   common:           [-h HOST=127.0.0.1] -p PORT [-P PATH=/] [-T STALL_TIMEOUT=10] [-E raw|lws]
 *
 * echo: CONNS connections each do round trips of a BYTES-byte message for SECONDS (after
 * WARMUP unrecorded seconds): round trips/s and latency percentiles. Every answer is compared
 * with what was sent.
 *
 * broadcast: SUBS subscriber connections subscribe (each waits for its answer), then one more
 * connection publishes MSGS messages whose data is BYTES long; at most WINDOW of them are in
 * flight (published, not yet at every subscriber), and with RATE > 0 they are paced at RATE per
 * second. Reports deliveries/s (SUBS * MSGS over the time from the first publish to the last
 * delivery), the time from each publish to its last delivery (p50/p99/mean), the time from a
 * publish to each delivery, and per subscriber and message whether it arrived once: lost and
 * duplicate deliveries are counted. The run ends when every message is everywhere, or when
 * nothing arrived for STALL_TIMEOUT seconds (what is missing then is lost). With -A the
 * publisher is instead an HTTP/1.1 keep-alive client of fngate's admin API at ADMIN_HOST:PORT
 * (token in WS_LOAD_ADMIN_TOKEN), POSTing each message's data to /@topics/bench, with up to
 * PIPELINE requests written before their answers (HTTP/1.1 pipelining; 1 by default; raw
 * engine only).
 *
 * idle: opens CONNS connections and, unless --no-touch, makes one echo round trip on each, so
 * every connection has been through a whole message; prints {"event":"ready",...} and holds
 * them until SIGTERM/SIGINT or HOLD_SECONDS, then reports how many the server closed meanwhile.
 *
 * Two client engines (-E), both single-threaded, same logic above them:
 *
 *   lws   libwebsockets' client (poll(2) over every connection, one callback per message).
 *   raw   a minimal RFC 6455 client on epoll written here: nonblocking connect, the upgrade
 *         request (the accept key checked), masked client frames, server frames parsed straight
 *         out of one shared read buffer (fragments reassembled, pings answered). The default:
 *         at 1000 subscribers libwebsockets' client spends ~10 us of CPU per delivery (a third
 *         of it poll(2) over 1000 sockets, a quarter in lws itself), so it, not the server,
 *         would set the broadcast figure; see docs/BENCHMARKS.md.
 *
 * One JSON object per line on stdout: the results (and idle's ready event). Progress and errors
 * go to stderr. Exit status 0 when the run was complete (every connection established, nothing
 * lost, no wrong answer).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#define MAX_CONNECTING 64   /* handshakes in progress at once: spares the listen backlog */
#define MAX_SUBSCRIBING 32  /* subscribes (idle: touches) without their answer at once: fngate
			     * runs each in a worker, and its queue (256 by default) refuses more */
#define CONNECT_TRIES 3     /* per connection, for the odd refused or reset handshake */
#define TICK_US 1000        /* the timer that paces, checks deadlines and signals */
#define MSG_MAX (1u << 20)  /* largest message accepted from a server */
#define HIST_SUB_BITS 6     /* histogram precision: 1/64 (1.6%) of the value */
#define HIST_BUCKETS (64 << HIST_SUB_BITS)
#define RAW_RBUF (256u << 10) /* raw engine: the shared read buffer */
#define RAW_EVENTS 512

/* The raw engine's handshake: RFC 6455's sample key, whose accept value is known. */
#define RAW_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RAW_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

enum mode { MODE_ECHO, MODE_BROADCAST, MODE_IDLE };
enum role { ROLE_ECHO, ROLE_SUB, ROLE_PUB, ROLE_IDLE };
enum cstate { C_NEW, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_READY, C_CLOSED, C_FAILED };

/* Log-linear histogram of durations in ns: exact below 2^HIST_SUB_BITS, then 2^HIST_SUB_BITS
 * buckets per power of two. */
struct hist {
	uint64_t n, sum, min, max;
	uint64_t b[HIST_BUCKETS];
};

struct conn {
	struct lws *wsi;
	enum role role;
	enum cstate state;
	int tries;
	bool pending;      /* echo/idle: a message is out and its answer not back yet */
	bool need_send;    /* echo/idle/sub: a message is to be sent when writable */
	bool wr_req;       /* raw: in the writable queue, or waiting for EPOLLOUT */
	bool frag;         /* raw: a fragmented message is being reassembled in rx */
	bool http;         /* raw: the publisher is an HTTP client of the admin API */
	int requests;      /* http: requests without their answer yet (pipelined) */
	int fd;            /* raw: the socket */
	unsigned char *carry; /* raw: received bytes not yet a whole frame */
	size_t carry_len, carry_cap;
	unsigned char *out; /* raw: bytes not yet sent */
	size_t out_len, out_cap;
	uint64_t sent_ns;  /* when the pending message was written */
	uint64_t sent;     /* messages sent on this connection */
	unsigned char *rx; /* the message being reassembled */
	size_t rx_len, rx_cap;
	uint64_t *seen;    /* broadcast: bitmap of the sequence numbers received */
};

static struct {
	enum mode mode;
	const char *host, *path;
	int port;
	int conns, subs, size, window, rate, touch;
	double duration, warmup, hold, stall_timeout;
	long msgs;

	bool raw;
	struct lws_context *ctx;
	int ep;             /* raw: the epoll instance */
	unsigned char *rbuf;
	int *wq;            /* raw: connections asking to write */
	int nwq;
	uint64_t next_tick;
	struct conn *c;
	int nconns;         /* entries in c */
	int next;           /* next entry of c to connect */
	int *retry;         /* entries to connect again */
	int nretry;
	int connecting, open, failed, ready, closed_by_server;
	int subscribing, next_sub;
	const char *admin_host, *admin_token;
	int admin_port;
	uint64_t http_ok, http_errors;
	int http_pipeline;
	bool holding, done, stalled;
	uint64_t t0, t_phase, t_progress;
	lws_sorted_usec_list_t tick;
	struct rusage ru0;
	struct rusage ru_start; /* all zero: from the process's start */

	/* echo */
	uint64_t t_measure, t_end;
	uint64_t roundtrips, roundtrips_all, mismatches, unexpected;
	struct hist rtt;

	/* broadcast */
	struct conn *pub;
	long published, completed;
	uint64_t t_first, t_last;
	uint64_t *pub_ns, *last_ns;
	uint32_t *count;
	uint64_t delivered, dups, bad;
	struct hist lat_last, lat_each;
	unsigned char *msg; /* LWS_PRE headroom, then the message being written */
	unsigned char *expect; /* echo: the answer expected */
	int pending;        /* echo: messages whose answers are not back yet */
} R;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void hist_add(struct hist *h, uint64_t v)
{
	unsigned idx;

	if (v < (1u << HIST_SUB_BITS)) {
		idx = (unsigned)v;
	} else {
		unsigned msb = 63u - (unsigned)__builtin_clzll(v);
		unsigned shift = msb - (HIST_SUB_BITS - 1);

		idx = (shift << (HIST_SUB_BITS - 1)) + (unsigned)(v >> shift);
	}
	if (idx >= HIST_BUCKETS) {
		idx = HIST_BUCKETS - 1;
	}
	h->b[idx]++;
	if (!h->n || v < h->min) {
		h->min = v;
	}
	if (v > h->max) {
		h->max = v;
	}
	h->n++;
	h->sum += v;
}

/* The middle of bucket idx, in ns. */
static double hist_value(unsigned idx)
{
	unsigned half = 1u << (HIST_SUB_BITS - 1);
	unsigned shift;
	uint64_t lo;

	if (idx < (1u << HIST_SUB_BITS)) {
		return idx;
	}
	shift = (idx >> (HIST_SUB_BITS - 1)) - 1;
	lo = (uint64_t)((idx & (half - 1)) + half) << shift;
	return (double)lo + (double)((uint64_t)1 << shift) / 2;
}

static double hist_pct(const struct hist *h, double p)
{
	uint64_t want, seen = 0;

	if (!h->n) {
		return 0;
	}
	want = (uint64_t)(p / 100 * (double)h->n);
	if (want >= h->n) {
		want = h->n - 1;
	}
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want) {
			double v = hist_value(i);

			/* Never outside what was seen. */
			return v < (double)h->min ? (double)h->min :
				v > (double)h->max ? (double)h->max : v;
		}
	}
	return (double)h->max;
}

/* "name":{"n":..,"p50_us":..,...} */
static void hist_json(const char *name, const struct hist *h)
{
	printf("\"%s\":{\"n\":%" PRIu64 ",\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
	       "\"p99_us\":%.1f,\"p999_us\":%.1f,\"min_us\":%.1f,\"max_us\":%.1f}",
		name, h->n, h->n ? (double)h->sum / (double)h->n / 1e3 : 0,
		hist_pct(h, 50) / 1e3, hist_pct(h, 90) / 1e3, hist_pct(h, 99) / 1e3,
		hist_pct(h, 99.9) / 1e3, (double)h->min / 1e3, (double)h->max / 1e3);
}

static double cpu_seconds(const struct rusage *a, const struct rusage *b)
{
	return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec) +
		(double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec) / 1e6 +
		(double)(b->ru_stime.tv_sec - a->ru_stime.tv_sec) +
		(double)(b->ru_stime.tv_usec - a->ru_stime.tv_usec) / 1e6;
}

/* ---- connections, common to both engines ---- */

static void raw_connect(struct conn *c);
static void raw_want_write(struct conn *c);
static int raw_send(struct conn *c, const unsigned char *data, size_t len, int opcode);

static void lws_connect(struct conn *c)
{
	struct lws_client_connect_info ci;

	memset(&ci, 0, sizeof(ci));
	ci.context = R.ctx;
	ci.address = R.host;
	ci.port = R.port;
	ci.path = R.path;
	ci.host = R.host;
	ci.origin = R.host;
	ci.local_protocol_name = "bench";
	ci.opaque_user_data = c;
	ci.pwsi = &c->wsi;
	if (!lws_client_connect_via_info(&ci) && c->state == C_CONNECTING) {
		/* Failed before any callback could say so. */
		c->state = C_FAILED;
		R.connecting--;
		if (c->tries < CONNECT_TRIES) {
			R.retry[R.nretry++] = (int)(c - R.c);
		} else {
			R.failed++;
		}
	}
}

/* Starts handshakes up to MAX_CONNECTING at once; never called from inside a callback. */
static void pump_connects(void)
{
	while (R.connecting < MAX_CONNECTING && (R.nretry || R.next < R.nconns)) {
		struct conn *c = &R.c[R.nretry ? R.retry[--R.nretry] : R.next++];

		c->state = C_CONNECTING;
		c->tries++;
		R.connecting++;
		if (R.raw) {
			raw_connect(c);
		} else {
			lws_connect(c);
		}
	}
}

/* A handshake failed: try again, up to CONNECT_TRIES. */
static void conn_failed(struct conn *c, const char *why)
{
	if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
		R.connecting--;
	}
	c->state = C_FAILED;
	c->wsi = NULL;
	if (c->tries < CONNECT_TRIES && !R.holding) {
		R.retry[R.nretry++] = (int)(c - R.c);
	} else {
		R.failed++;
		fprintf(stderr, "ws_load: connection %d failed: %s\n", (int)(c - R.c), why);
	}
}

static void conn_closed(struct conn *c)
{
	if (c->state >= C_OPEN && c->state < C_CLOSED) {
		R.open--;
		if (!R.done) {
			R.closed_by_server++;
			if (R.closed_by_server <= 5) {
				fprintf(stderr, "ws_load: connection %d closed by the server\n",
					(int)(c - R.c));
			}
		}
	}
	c->state = C_CLOSED;
	c->wsi = NULL;
}

/* Asks for on_writable(c) once c can be written to. */
static void want_write(struct conn *c)
{
	if (c->state < C_OPEN || c->state >= C_CLOSED) {
		return;
	}
	if (R.raw) {
		raw_want_write(c);
	} else if (c->wsi) {
		lws_callback_on_writable(c->wsi);
	}
}

/* Sends the text message at R.msg + LWS_PRE. */
static int write_msg(struct conn *c, size_t len)
{
	if (R.raw) {
		return raw_send(c, R.msg + LWS_PRE, len, 1);
	}
	return lws_write(c->wsi, R.msg + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len ? -1 : 0;
}

/* Writes `{"action":A,"topic":"bench","data":"#SEQ:TS#xxx"}` at dst, where the data string is
 * size bytes long (at least the marker) or, when whole, the whole message is. Returns its
 * length. */
static size_t build_msg(unsigned char *dst, const char *action, uint64_t seq, uint64_t ts,
	int size, bool whole)
{
	char *p = (char *)dst;
	int head, mark, pad;

	head = sprintf(p, "{\"action\":\"%s\",\"topic\":\"bench\",\"data\":\"", action);
	mark = sprintf(p + head, "#%" PRIu64 ":%" PRIu64 "#", seq, ts);
	pad = whole ? size - head - mark - 2 : size - mark;
	if (pad < 0) {
		pad = 0;
	}
	memset(p + head + mark, 'x', (size_t)pad);
	memcpy(p + head + mark + pad, "\"}", 2);
	return (size_t)(head + mark + pad + 2);
}

/* The "#SEQ:TS#" marker in a message. */
static bool find_marker(const unsigned char *m, size_t len, uint64_t *seq, uint64_t *ts)
{
	const unsigned char *p = memchr(m, '#', len), *end = m + len;
	uint64_t a = 0, b = 0;

	if (!p) {
		return false;
	}
	for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
		a = a * 10 + (uint64_t)(*p - '0');
	}
	if (p >= end || *p != ':') {
		return false;
	}
	for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
		b = b * 10 + (uint64_t)(*p - '0');
	}
	if (p >= end || *p != '#') {
		return false;
	}
	*seq = a;
	*ts = b;
	return true;
}

static void note_unexpected(struct conn *c, const unsigned char *m, size_t len)
{
	if (R.unexpected++ < 5) {
		fprintf(stderr, "ws_load: connection %d: unexpected message: %.*s\n",
			(int)(c - R.c), (int)(len > 300 ? 300 : len), (const char *)m);
	}
}

static void all_subscribed(void);

/* Subscribers subscribe (idle connections make their one round trip) in order,
 * MAX_SUBSCRIBING at a time; not measured. */
static void pump_subscribes(void)
{
	int n = R.mode == MODE_BROADCAST ? R.subs : R.nconns;

	while (R.subscribing < MAX_SUBSCRIBING && R.next_sub < n &&
		R.c[R.next_sub].state == C_OPEN) {
		struct conn *c = &R.c[R.next_sub++];

		R.subscribing++;
		c->need_send = true;
		want_write(c);
	}
}

static void on_delivery(struct conn *c, const unsigned char *m, size_t len, uint64_t now)
{
	uint64_t seq, ts;

	if (!find_marker(m, len, &seq, &ts) || seq >= (uint64_t)R.msgs) {
		R.bad++;
		note_unexpected(c, m, len);
		return;
	}
	if (c->seen[seq >> 6] & ((uint64_t)1 << (seq & 63))) {
		R.dups++;
		return;
	}
	c->seen[seq >> 6] |= (uint64_t)1 << (seq & 63);
	R.delivered++;
	R.t_last = now;
	R.t_progress = now;
	hist_add(&R.lat_each, now - ts);
	if (++R.count[seq] == (uint32_t)R.subs) {
		R.last_ns[seq] = now;
		hist_add(&R.lat_last, now - R.pub_ns[seq]);
		R.completed++;
		if (R.completed == R.msgs) {
			R.done = true;
		} else {
			want_write(R.pub);
		}
	}
}

static void on_message(struct conn *c, const unsigned char *m, size_t len)
{
	uint64_t now = now_ns();

	switch (c->role) {
	case ROLE_ECHO:
	case ROLE_IDLE:
		if (!c->pending) {
			note_unexpected(c, m, len);
			return;
		}
		c->pending = false;
		R.pending--;
		/* The answer must be the message sent, byte for byte (rebuilt from seq and ts). */
		if (len != build_msg(R.expect, "echo", (uint64_t)(c - R.c), c->sent_ns, R.size,
				true) || memcmp(m, R.expect, len) != 0) {
			R.mismatches++;
			note_unexpected(c, m, len);
		}
		if (c->role == ROLE_IDLE) {
			c->state = C_READY;
			R.ready++;
			R.subscribing--;
			pump_subscribes();
			return;
		}
		R.roundtrips_all++;
		if (now >= R.t_measure && c->sent_ns >= R.t_measure && now <= R.t_end) {
			R.roundtrips++;
			hist_add(&R.rtt, now - c->sent_ns);
		}
		if (now < R.t_end && !R.done) {
			c->need_send = true;
			want_write(c);
		}
		break;
	case ROLE_SUB:
		if (c->state == C_OPEN) {
			if (len >= 12 && memmem(m, len, "\"subscribed\"", 12)) {
				c->state = C_READY;
				R.ready++;
				R.subscribing--;
				if (R.ready == R.subs) {
					all_subscribed();
				} else {
					pump_subscribes();
				}
			} else {
				note_unexpected(c, m, len);
			}
			return;
		}
		on_delivery(c, m, len, now);
		break;
	case ROLE_PUB:
		note_unexpected(c, m, len);
		break;
	}
}

static int on_receive(struct conn *c, struct lws *wsi, const void *in, size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		c->rx_len = 0;
	}
	if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi) && !c->rx_len) {
		/* The usual case: the whole message in one piece, no copy. */
		on_message(c, in, len);
		return 0;
	}
	if (c->rx_len + len > MSG_MAX) {
		fprintf(stderr, "ws_load: a message over %u bytes\n", MSG_MAX);
		return -1;
	}
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 1024;
		unsigned char *n;

		while (cap < c->rx_len + len) {
			cap *= 2;
		}
		n = realloc(c->rx, cap);
		if (!n) {
			return -1;
		}
		c->rx = n;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
		on_message(c, c->rx, c->rx_len);
		c->rx_len = 0;
	}
	return 0;
}

/* POST /@topics/bench with the data "#SEQ:TS#xxx" (R.size bytes) as the body: plain text,
 * which the gateway sends as a JSON string, as it does the quoted data of a publish message. */
static int http_publish(struct conn *c, uint64_t seq, uint64_t ts)
{
	char *p = (char *)R.msg + LWS_PRE;
	int head, mark, pad;
	char body[64 + 65536];

	mark = sprintf(body, "#%" PRIu64 ":%" PRIu64 "#", seq, ts);
	pad = R.size > mark ? R.size - mark : 0;
	memset(body + mark, 'x', (size_t)pad);
	head = sprintf(p, "POST /@topics/bench HTTP/1.1\r\nHost: %s:%d\r\n"
			  "Authorization: Bearer %s\r\nContent-Type: text/plain\r\n"
			  "Content-Length: %d\r\n\r\n", R.admin_host, R.admin_port,
		R.admin_token, mark + pad);
	memcpy(p + head, body, (size_t)(mark + pad));
	c->requests++;
	return raw_send(c, (unsigned char *)p, (size_t)(head + mark + pad), -1);
}

static int on_writable(struct conn *c)
{
	uint64_t now = now_ns();
	size_t len;

	switch (c->role) {
	case ROLE_ECHO:
	case ROLE_IDLE:
		if (!c->need_send || c->pending) {
			return 0;
		}
		c->need_send = false;
		c->pending = true;
		c->sent_ns = now;
		c->sent++;
		R.pending++;
		len = build_msg(R.msg + LWS_PRE, "echo", (uint64_t)(c - R.c), now, R.size, true);
		return write_msg(c, len);
	case ROLE_SUB:
		if (!c->need_send) {
			return 0;
		}
		c->need_send = false;
		len = (size_t)sprintf((char *)R.msg + LWS_PRE,
			"{\"action\":\"subscribe\",\"topic\":\"bench\"}");
		return write_msg(c, len);
	case ROLE_PUB:
		if (R.ready < R.subs || R.published >= R.msgs ||
			R.published - R.completed >= R.window) {
			return 0;
		}
		if (R.rate > 0 && R.published &&
			now < R.t_first + (uint64_t)((double)R.published * 1e9 / R.rate)) {
			return 0; /* the tick asks again */
		}
		if (c->http && c->requests >= R.http_pipeline) {
			return 0; /* an answer asks again */
		}
		if (!R.published) {
			R.t_first = now;
			R.t_progress = now;
		}
		R.pub_ns[R.published] = now;
		if (c->http) {
			if (http_publish(c, (uint64_t)R.published, now)) {
				return -1;
			}
			R.published++;
			if (R.published < R.msgs && R.published - R.completed < R.window) {
				want_write(c);
			}
			return 0;
		}
		len = build_msg(R.msg + LWS_PRE, "publish", (uint64_t)R.published, now, R.size,
			false);
		R.published++;
		if (write_msg(c, len)) {
			return -1;
		}
		if (R.published < R.msgs && R.published - R.completed < R.window) {
			want_write(c);
		}
		return 0;
	}
	return 0;
}

static void all_subscribed(void)
{
	fprintf(stderr, "ws_load: %d subscribers ready after %.2f s\n", R.subs,
		(double)(now_ns() - R.t0) / 1e9);
	want_write(R.pub);
}

/* The connection is open (the server's 101 checked). */
static void established(struct conn *c)
{
	R.connecting--;
	R.open++;
	c->state = C_OPEN;
	if (c->role == ROLE_PUB) {
		if (R.ready == R.subs) {
			want_write(c);
		}
		return;
	}
	if (c->role == ROLE_IDLE && !R.touch) {
		c->state = C_READY;
		R.ready++;
		return;
	}
	if (c->role == ROLE_ECHO) {
		return; /* run_echo starts every connection at once */
	}
	if (c->role == ROLE_SUB || c->role == ROLE_IDLE) {
		pump_subscribes();
		return;
	}
	c->need_send = true;
	want_write(c);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	size_t len)
{
	struct conn *c = lws_get_opaque_user_data(wsi);

	(void)user;
	if (!c) {
		return 0;
	}
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		conn_failed(c, in ? (const char *)in : "?");
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->wsi = wsi;
		established(c);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(c, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writable(c);
	case LWS_CALLBACK_CLIENT_CLOSED:
		conn_closed(c);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "bench", callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- the raw engine ---- */

static void raw_close(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(R.ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->carry_len = 0;
	c->out_len = 0;
	c->rx_len = 0;
	c->frag = false;
}

static void raw_connect(struct conn *c)
{
	struct sockaddr_in sa;
	struct epoll_event ev;
	int one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)(c->http ? R.admin_port : R.port));
	if (inet_pton(AF_INET, c->http ? R.admin_host : R.host, &sa.sin_addr) != 1) {
		c->fd = -1;
		conn_failed(c, "not an IPv4 address");
		return;
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_failed(c, strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		raw_close(c);
		conn_failed(c, strerror(errno));
		return;
	}
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	epoll_ctl(R.ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void raw_events(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	epoll_ctl(R.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static bool raw_grow(unsigned char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 1024;
	unsigned char *p;

	if (need <= *cap) {
		return true;
	}
	while (n < need) {
		n *= 2;
	}
	p = realloc(*buf, n);
	if (!p) {
		return false;
	}
	*buf = p;
	*cap = n;
	return true;
}

/* Sends one masked frame; what the socket does not take now waits in c->out (EPOLLOUT). */
static int raw_send(struct conn *c, const unsigned char *data, size_t len, int opcode)
{
	static const unsigned char mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char f[14 + 65536 + 256], *p = f;
	ssize_t n = 0;

	if (c->fd < 0 || len > 65536 + 256) {
		return -1;
	}
	if (opcode < 0) {
		/* Not a frame: the admin API's HTTP. */
		memcpy(p, data, len);
		p += len;
		goto send;
	}
	*p++ = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		*p++ = (unsigned char)(0x80 | len);
	} else {
		*p++ = 0x80 | 126;
		*p++ = (unsigned char)(len >> 8);
		*p++ = (unsigned char)len;
	}
	memcpy(p, mask, 4);
	p += 4;
	for (size_t i = 0; i < len; i++) {
		p[i] = data[i] ^ mask[i & 3];
	}
	p += len;
send:
	if (!c->out_len) {
		n = send(c->fd, f, (size_t)(p - f), MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			return -1;
		}
		if (n < 0) {
			n = 0;
		}
		if (n == p - f) {
			return 0;
		}
	}
	if (!raw_grow(&c->out, &c->out_cap, c->out_len + (size_t)(p - f - n))) {
		return -1;
	}
	memcpy(c->out + c->out_len, f + n, (size_t)(p - f - n));
	c->out_len += (size_t)(p - f - n);
	raw_events(c, EPOLLIN | EPOLLOUT);
	return 0;
}

static void raw_want_write(struct conn *c)
{
	if (c->wr_req) {
		return;
	}
	c->wr_req = true;
	if (!c->out_len) {
		R.wq[R.nwq++] = (int)(c - R.c);
	}
	/* else: the EPOLLOUT that empties c->out queues it */
}

static void raw_fail(struct conn *c, const char *why)
{
	raw_close(c);
	if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
		conn_failed(c, why);
	} else {
		conn_closed(c);
	}
}

/* The server's answer to the upgrade request, in c->rx; frames after it go to c->carry. */
static void raw_handshake(struct conn *c)
{
	unsigned char *end = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
	size_t head, rest;

	if (!end) {
		if (c->rx_len > 16384) {
			raw_fail(c, "upgrade answer too long");
		}
		return;
	}
	head = (size_t)(end + 4 - c->rx);
	if (c->rx_len < 12 || memcmp(c->rx, "HTTP/1.1 101", 12) ||
		!memmem(c->rx, head, RAW_ACCEPT, sizeof(RAW_ACCEPT) - 1)) {
		fprintf(stderr, "ws_load: upgrade refused: %.*s\n", (int)(head > 200 ? 200 : head),
			c->rx);
		raw_fail(c, "upgrade refused");
		return;
	}
	rest = c->rx_len - head;
	if (rest) {
		if (!raw_grow(&c->carry, &c->carry_cap, rest)) {
			raw_fail(c, "out of memory");
			return;
		}
		memcpy(c->carry, c->rx + head, rest);
		c->carry_len = rest;
	}
	c->rx_len = 0;
	established(c);
}

/* Whole frames in [p, p + len): handled; returns the bytes used, or -1 to drop the connection. */
static ssize_t raw_frames(struct conn *c, const unsigned char *p, size_t len)
{
	size_t used = 0;

	while (len - used >= 2 && c->fd >= 0) {
		const unsigned char *f = p + used;
		unsigned op = f[0] & 0x0f, fin = f[0] & 0x80;
		uint64_t n = f[1] & 0x7f;
		size_t h = 2;

		if (f[1] & 0x80) {
			return -1; /* a masked server frame */
		}
		if (n == 126) {
			if (len - used < 4) {
				break;
			}
			n = (uint64_t)f[2] << 8 | f[3];
			h = 4;
		} else if (n == 127) {
			if (len - used < 10) {
				break;
			}
			n = 0;
			for (int i = 2; i < 10; i++) {
				n = n << 8 | f[i];
			}
			h = 10;
		}
		if (n > MSG_MAX) {
			return -1;
		}
		if (len - used < h + n) {
			break;
		}
		used += h + (size_t)n;
		f += h;
		switch (op) {
		case 0x1:
		case 0x2:
			if (fin && !c->frag) {
				on_message(c, f, (size_t)n);
				break;
			}
			c->frag = true;
			c->rx_len = 0;
			/* fall through */
		case 0x0:
			if (!c->frag || c->rx_len + n > MSG_MAX ||
				!raw_grow(&c->rx, &c->rx_cap, c->rx_len + (size_t)n)) {
				return -1;
			}
			memcpy(c->rx + c->rx_len, f, (size_t)n);
			c->rx_len += (size_t)n;
			if (fin) {
				c->frag = false;
				on_message(c, c->rx, c->rx_len);
				c->rx_len = 0;
			}
			break;
		case 0x8:
			return -1;
		case 0x9:
			if (raw_send(c, f, (size_t)n, 0xa)) {
				return -1;
			}
			break;
		case 0xa:
			break;
		default:
			return -1;
		}
	}
	return (ssize_t)used;
}

/* Answers of the admin API to the HTTP publisher in [p, p + len); returns the bytes used. */
static ssize_t raw_http(struct conn *c, const unsigned char *p, size_t len)
{
	size_t used = 0;

	while (used < len) {
		const unsigned char *h = p + used, *end = memmem(h, len - used, "\r\n\r\n", 4);
		const char *cl;
		size_t head, clen = 0;
		int status = 0;

		if (!end) {
			break;
		}
		head = (size_t)(end + 4 - h);
		if (head > 12 && !memcmp(h, "HTTP/1.1 ", 9)) {
			status = atoi((const char *)h + 9);
		}
		cl = memmem(h, head, "\r\nContent-Length:", 17);
		if (!cl) {
			cl = memmem(h, head, "\r\ncontent-length:", 17);
		}
		if (cl) {
			clen = (size_t)strtoul(cl + 17, NULL, 10);
		}
		if (len - used < head + clen) {
			break;
		}
		if (status == 200) {
			R.http_ok++;
		} else if (R.http_errors++ < 5) {
			fprintf(stderr, "ws_load: admin API answered: %.*s\n",
				(int)(head + clen > 300 ? 300 : head + clen), (const char *)h);
		}
		used += head + clen;
		c->requests--;
		want_write(c);
	}
	return (ssize_t)used;
}

static void raw_readable(struct conn *c)
{
	unsigned char *buf;
	size_t have;
	ssize_t n, used;

	if (c->state == C_HANDSHAKE) {
		if (!raw_grow(&c->rx, &c->rx_cap, c->rx_len + 4096)) {
			raw_fail(c, "out of memory");
			return;
		}
		n = recv(c->fd, c->rx + c->rx_len, c->rx_cap - c->rx_len, 0);
		if (n < 0 && errno == EAGAIN) {
			return;
		}
		if (n <= 0) {
			raw_fail(c, n ? strerror(errno) : "closed during the upgrade");
			return;
		}
		c->rx_len += (size_t)n;
		raw_handshake(c);
		if (c->state < C_OPEN || c->fd < 0 || !c->carry_len) {
			return;
		}
		/* Frames that came with the 101. */
		buf = c->carry;
		have = c->carry_len;
	} else {
		if (c->carry_len) {
			/* A frame begun in an earlier read: continued in its own buffer. */
			if (!raw_grow(&c->carry, &c->carry_cap, c->carry_len + 65536)) {
				raw_fail(c, "out of memory");
				return;
			}
			n = recv(c->fd, c->carry + c->carry_len, c->carry_cap - c->carry_len, 0);
		} else {
			n = recv(c->fd, R.rbuf, RAW_RBUF, 0);
		}
		if (n < 0 && errno == EAGAIN) {
			return;
		}
		if (n <= 0) {
			raw_fail(c, n ? strerror(errno) : "closed by the server");
			return;
		}
		buf = c->carry_len ? c->carry : R.rbuf;
		have = c->carry_len + (size_t)n;
	}
	used = c->http ? raw_http(c, buf, have) : raw_frames(c, buf, have);
	if (used < 0) {
		raw_fail(c, "protocol error or close frame");
		return;
	}
	if (c->fd < 0) {
		return;
	}
	have -= (size_t)used;
	if (have && buf == c->carry) {
		memmove(c->carry, c->carry + used, have);
	} else if (have) {
		if (!raw_grow(&c->carry, &c->carry_cap, have)) {
			raw_fail(c, "out of memory");
			return;
		}
		memcpy(c->carry, buf + used, have);
	}
	c->carry_len = have;
}

static void raw_writable(struct conn *c)
{
	if (c->state == C_CONNECTING) {
		char req[512];
		int err = 0, n;
		socklen_t el = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			raw_fail(c, strerror(err));
			return;
		}
		if (c->http) {
			raw_events(c, EPOLLIN);
			established(c);
			return;
		}
		n = snprintf(req, sizeof(req),
			"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
			"Connection: Upgrade\r\nSec-WebSocket-Key: " RAW_KEY "\r\n"
			"Sec-WebSocket-Version: 13\r\n\r\n", R.path, R.host, R.port);
		if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
			raw_fail(c, "upgrade request not sent whole");
			return;
		}
		c->state = C_HANDSHAKE;
		raw_events(c, EPOLLIN);
		return;
	}
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			return;
		}
		if (n <= 0) {
			raw_fail(c, strerror(errno));
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	raw_events(c, EPOLLIN);
	if (c->wr_req) {
		R.wq[R.nwq++] = (int)(c - R.c);
	}
}

/* Runs the writable queue: every connection in it gets on_writable() (which may queue it
 * again: the publisher writes its whole window in one go). */
static void raw_run_writes(void)
{
	while (R.nwq) {
		int n = R.nwq;
		int *batch = R.wq + R.nconns; /* the second half: a copy, the first refills */

		memcpy(batch, R.wq, (size_t)n * sizeof(*batch));
		R.nwq = 0;
		for (int i = 0; i < n; i++) {
			struct conn *c = &R.c[batch[i]];

			c->wr_req = false;
			if (c->fd < 0 || c->state < C_OPEN || c->state >= C_CLOSED) {
				continue;
			}
			if (on_writable(c)) {
				raw_fail(c, "write failed");
			}
		}
	}
}

static void on_tick(lws_sorted_usec_list_t *sul);

static void raw_service(void)
{
	struct epoll_event ev[RAW_EVENTS];
	uint64_t now = now_ns();
	int timeout = !R.next_tick ? 10 :
		R.next_tick > now ? (int)((R.next_tick - now + 999999) / 1000000) : 0;
	int n;

	raw_run_writes();
	n = epoll_wait(R.ep, ev, RAW_EVENTS, R.nwq ? 0 : timeout);
	for (int i = 0; i < n; i++) {
		struct conn *c = ev[i].data.ptr;

		if (c->fd < 0) {
			continue;
		}
		if (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP) && c->state == C_CONNECTING) {
			raw_writable(c);
			continue;
		}
		if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
			raw_readable(c);
		}
		if (c->fd >= 0 && ev[i].events & EPOLLOUT) {
			raw_writable(c);
		}
	}
	raw_run_writes();
	if (R.next_tick && now_ns() >= R.next_tick) {
		R.next_tick = 0;
		on_tick(NULL);
	}
}

/* ---- both engines ---- */

static void service(void)
{
	if (R.raw) {
		raw_service();
	} else {
		lws_service(R.ctx, 0);
	}
}

static void schedule_tick(void)
{
	uint64_t us = R.mode == MODE_IDLE ? 100 * TICK_US : TICK_US;

	if (R.raw) {
		R.next_tick = now_ns() + us * 1000;
	} else {
		lws_sul_schedule(R.ctx, 0, &R.tick, on_tick, (lws_usec_t)us);
	}
}

/* Every TICK_US: signals, deadlines, pacing. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
	uint64_t now = now_ns();

	(void)sul;
	if (interrupted) {
		R.done = true;
	}
	switch (R.mode) {
	case MODE_ECHO:
		if (now >= R.t_end && R.t_end) {
			/* Answers still out after the end are not counted; give them 2 s. */
			if (!R.pending || now >= R.t_end + 2000000000u) {
				R.done = true;
			}
		}
		break;
	case MODE_BROADCAST:
		if (R.published && now - R.t_progress > (uint64_t)(R.stall_timeout * 1e9)) {
			R.stalled = true;
			R.done = true;
		}
		if (R.rate > 0 && R.published && R.published < R.msgs) {
			want_write(R.pub);
		}
		break;
	case MODE_IDLE:
		if (R.holding && now >= R.t_phase + (uint64_t)(R.hold * 1e9)) {
			R.done = true;
		}
		break;
	}
	/* Also once done: the next tick is what wakes lws_service() to return. */
	schedule_tick();
}

/* ---- phases ---- */

static bool all_connected(double limit_s)
{
	uint64_t t = now_ns();

	while (!R.done && !interrupted) {
		pump_connects();
		if (R.open + R.failed >= R.nconns && !R.connecting && !R.nretry) {
			break;
		}
		if (now_ns() - t > (uint64_t)(limit_s * 1e9)) {
			fprintf(stderr, "ws_load: %d of %d connections open after %.0f s\n", R.open,
				R.nconns, limit_s);
			return false;
		}
		service();
	}
	return R.failed == 0 && R.open == R.nconns;
}

static void serve_until_done(void)
{
	while (!R.done && !interrupted) {
		service();
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ws_load echo|broadcast|idle -p PORT [-h HOST] [-P PATH] [-c CONNS] "
		"[-s BYTES]\n"
		"       [-d SECONDS] [-w WARMUP] [-n SUBS] [-m MSGS] [-W WINDOW] [-r RATE] "
		"[-H HOLD]\n"
		"       [-T STALL_TIMEOUT] [-E raw|lws] [-A ADMIN_HOST:PORT [-L PIPELINE]] "
		"[--no-touch]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-touch", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	int o;

	if (argc < 2) {
		usage();
	}
	if (!strcmp(argv[1], "echo")) {
		R.mode = MODE_ECHO;
	} else if (!strcmp(argv[1], "broadcast")) {
		R.mode = MODE_BROADCAST;
	} else if (!strcmp(argv[1], "idle")) {
		R.mode = MODE_IDLE;
	} else {
		usage();
	}
	R.host = "127.0.0.1";
	R.path = "/";
	R.conns = R.mode == MODE_IDLE ? 5000 : 32;
	R.size = 64;
	R.duration = 10;
	R.warmup = 1;
	R.subs = 1000;
	R.msgs = 2000;
	R.window = 32;
	R.hold = 600;
	R.stall_timeout = 10;
	R.touch = 1;
	R.raw = true;
	R.http_pipeline = 1;
	optind = 2;
	while ((o = getopt_long(argc, argv, "h:p:P:c:s:d:w:n:m:W:r:H:T:E:A:L:", longopts, NULL)) !=
		-1) {
		switch (o) {
		case 'E':
			if (strcmp(optarg, "raw") && strcmp(optarg, "lws")) {
				usage();
			}
			R.raw = !strcmp(optarg, "raw");
			break;
		case 'h': R.host = optarg; break;
		case 'p': R.port = atoi(optarg); break;
		case 'P': R.path = optarg; break;
		case 'c': R.conns = atoi(optarg); break;
		case 's': R.size = atoi(optarg); break;
		case 'd': R.duration = atof(optarg); break;
		case 'w': R.warmup = atof(optarg); break;
		case 'n': R.subs = atoi(optarg); break;
		case 'm': R.msgs = atol(optarg); break;
		case 'W': R.window = atoi(optarg); break;
		case 'r': R.rate = atoi(optarg); break;
		case 'H': R.hold = atof(optarg); break;
		case 'T': R.stall_timeout = atof(optarg); break;
		case 'L': R.http_pipeline = atoi(optarg); break;
		case 'A': {
			char *colon = strrchr(optarg, ':');

			if (!colon) {
				usage();
			}
			*colon = '\0';
			R.admin_host = optarg;
			R.admin_port = atoi(colon + 1);
			break;
		}
		case 'N': R.touch = 0; break;
		default: usage();
		}
	}
	R.admin_token = getenv("WS_LOAD_ADMIN_TOKEN");
	if (R.admin_host && (!R.raw || !R.admin_token || strlen(R.admin_token) > 256 ||
			R.mode != MODE_BROADCAST)) {
		fprintf(stderr, "ws_load: -A needs broadcast, -E raw and WS_LOAD_ADMIN_TOKEN\n");
		exit(2);
	}
	if (R.port <= 0 || R.conns <= 0 || R.subs <= 0 || R.msgs <= 0 || R.window <= 0 ||
		R.size < 0 || R.size > 65536) {
		usage();
	}
}

static void setup_conns(void)
{
	R.nconns = R.mode == MODE_BROADCAST ? R.subs + 1 : R.conns;
	R.c = calloc((size_t)R.nconns, sizeof(*R.c));
	R.retry = calloc((size_t)R.nconns, sizeof(*R.retry));
	R.wq = calloc(2 * (size_t)R.nconns, sizeof(*R.wq));
	R.msg = malloc(LWS_PRE + 1024 + (size_t)R.size);
	R.expect = malloc(256 + (size_t)R.size);
	if (!R.c || !R.retry || !R.wq || !R.msg || !R.expect) {
		fprintf(stderr, "ws_load: out of memory\n");
		exit(1);
	}
	for (int i = 0; i < R.nconns; i++) {
		R.c[i].fd = -1;
		R.c[i].role = R.mode == MODE_ECHO ? ROLE_ECHO : R.mode == MODE_IDLE ? ROLE_IDLE :
			ROLE_SUB;
	}
	if (R.mode == MODE_BROADCAST) {
		size_t words = ((size_t)R.msgs + 63) / 64;

		/* The publisher is the last to connect: it idles least. */
		R.pub = &R.c[R.subs];
		R.pub->role = ROLE_PUB;
		R.pub->http = R.admin_host != NULL;
		for (int i = 0; i < R.subs; i++) {
			R.c[i].seen = calloc(words, sizeof(uint64_t));
			if (!R.c[i].seen) {
				fprintf(stderr, "ws_load: out of memory\n");
				exit(1);
			}
		}
		R.pub_ns = calloc((size_t)R.msgs, sizeof(*R.pub_ns));
		R.last_ns = calloc((size_t)R.msgs, sizeof(*R.last_ns));
		R.count = calloc((size_t)R.msgs, sizeof(*R.count));
		if (!R.pub_ns || !R.last_ns || !R.count) {
			fprintf(stderr, "ws_load: out of memory\n");
			exit(1);
		}
	}
}

static void report_common(const char *mode, const struct rusage *ru0, uint64_t wall_ns)
{
	struct rusage ru1;

	getrusage(RUSAGE_SELF, &ru1);
	printf("{\"mode\":\"%s\",\"engine\":\"%s\",\"port\":%d,\"path\":\"%s\",\"size\":%d,"
	       "\"failed_connects\":%d,\"closed_by_server\":%d,\"unexpected\":%" PRIu64 ","
	       "\"client_cpu_pct\":%.1f,\"client_cpu_s\":%.3f,",
		mode, R.raw ? "raw" : "lws", R.port, R.path, R.size, R.failed, R.closed_by_server,
		R.unexpected, wall_ns ? 100 * cpu_seconds(ru0, &ru1) / ((double)wall_ns / 1e9) : 0,
		cpu_seconds(&R.ru_start, &ru1));
}

static int run_echo(void)
{
	struct rusage ru0;
	uint64_t start;
	bool ok;

	ok = all_connected(60);
	fprintf(stderr, "ws_load: %d connections open\n", R.open);
	start = now_ns();
	R.t_measure = start + (uint64_t)(R.warmup * 1e9);
	R.t_end = R.t_measure + (uint64_t)(R.duration * 1e9);
	for (int i = 0; i < R.nconns; i++) {
		if (R.c[i].state == C_OPEN) {
			R.c[i].state = C_READY;
			R.c[i].need_send = true;
			want_write(&R.c[i]);
		}
	}
	schedule_tick();
	while (!R.done && !interrupted && now_ns() < R.t_measure) {
		service();
	}
	getrusage(RUSAGE_SELF, &ru0);
	serve_until_done();
	report_common("echo", &ru0, R.t_end - R.t_measure);
	printf("\"conns\":%d,\"duration_s\":%.3f,\"roundtrips\":%" PRIu64 ",\"rps\":%.1f,"
	       "\"roundtrips_all\":%" PRIu64 ",\"mismatches\":%" PRIu64 ",",
		R.nconns, R.duration, R.roundtrips, (double)R.roundtrips / R.duration,
		R.roundtrips_all, R.mismatches);
	hist_json("rtt", &R.rtt);
	ok = ok && !R.mismatches && !R.unexpected && !R.closed_by_server && R.roundtrips;
	printf(",\"ok\":%s}\n", ok ? "true" : "false");
	return ok ? 0 : 1;
}

static int run_broadcast(void)
{
	struct rusage ru0;
	uint64_t expected = (uint64_t)R.subs * (uint64_t)R.msgs, elapsed;
	bool ok;

	ok = all_connected(120);
	fprintf(stderr, "ws_load: %d connections open after %.2f s\n", R.open,
		(double)(now_ns() - R.t0) / 1e9);
	if (!ok) {
		R.done = true;
	}
	schedule_tick();
	/* Subscribing is not measured: wait for every answer (the tick ends a stall). */
	R.t_progress = now_ns();
	while (ok && !R.done && !interrupted && R.ready < R.subs) {
		service();
		if (now_ns() - R.t_progress > (uint64_t)(R.stall_timeout * 1e9) + 60000000000u) {
			fprintf(stderr, "ws_load: only %d of %d subscribed\n", R.ready, R.subs);
			ok = false;
			break;
		}
	}
	getrusage(RUSAGE_SELF, &ru0);
	if (ok) {
		serve_until_done();
	}
	elapsed = R.t_last > R.t_first ? R.t_last - R.t_first : 0;
	report_common("broadcast", &ru0, elapsed);
	printf("\"publisher\":\"%s\",\"http_pipeline\":%d,\"http_ok\":%" PRIu64 ","
	       "\"http_errors\":%" PRIu64 ",", R.admin_host ? "admin" : "ws",
		R.admin_host ? R.http_pipeline : 0, R.http_ok, R.http_errors);
	printf("\"subs\":%d,\"msgs\":%ld,\"window\":%d,\"rate\":%d,\"published\":%ld,"
	       "\"completed\":%ld,\"expected\":%" PRIu64 ",\"delivered\":%" PRIu64 ","
	       "\"lost\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"bad\":%" PRIu64 ",\"stalled\":%s,"
	       "\"elapsed_s\":%.6f,\"deliveries_per_s\":%.1f,\"publishes_per_s\":%.1f,",
		R.subs, R.msgs, R.window, R.rate, R.published, R.completed, expected, R.delivered,
		expected - R.delivered, R.dups, R.bad, R.stalled ? "true" : "false",
		(double)elapsed / 1e9, elapsed ? (double)R.delivered / ((double)elapsed / 1e9) : 0,
		elapsed ? (double)R.published / ((double)elapsed / 1e9) : 0);
	hist_json("publish_to_last", &R.lat_last);
	printf(",");
	hist_json("publish_to_each", &R.lat_each);
	ok = ok && R.delivered == expected && !R.dups && !R.bad && !R.unexpected &&
		!R.closed_by_server && !R.http_errors;
	printf(",\"ok\":%s}\n", ok ? "true" : "false");
	return ok ? 0 : 1;
}

static int run_idle(void)
{
	bool ok;
	uint64_t t;

	ok = all_connected(300);
	schedule_tick();
	t = now_ns();
	while (ok && !R.done && !interrupted && R.ready < R.nconns) {
		service();
		if (now_ns() - t > 60000000000u) {
			ok = false;
		}
	}
	printf("{\"event\":\"ready\",\"conns\":%d,\"open\":%d,\"ready\":%d,\"setup_s\":%.2f}\n",
		R.nconns, R.open, R.ready, (double)(now_ns() - R.t0) / 1e9);
	fflush(stdout);
	R.holding = true;
	R.t_phase = now_ns();
	serve_until_done();
	R.done = true;
	report_common("idle", &R.ru0, 0);
	printf("\"conns\":%d,\"ready\":%d,\"held_open\":%d,\"mismatches\":%" PRIu64,
		R.nconns, R.ready, R.open, R.mismatches);
	ok = ok && R.ready == R.nconns && R.open == R.nconns && !R.mismatches;
	printf(",\"ok\":%s}\n", ok ? "true" : "false");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	int rc;

	parse_args(argc, argv);
	setup_conns();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.pt_serv_buf_size = 32768;
	if (R.raw) {
		R.ep = epoll_create1(EPOLL_CLOEXEC);
		R.rbuf = malloc(RAW_RBUF);
		if (R.ep < 0 || !R.rbuf) {
			fprintf(stderr, "ws_load: epoll_create1: %s\n", strerror(errno));
			return 1;
		}
	} else {
		R.ctx = lws_create_context(&info);
		if (!R.ctx) {
			fprintf(stderr, "ws_load: lws_create_context failed\n");
			return 1;
		}
	}
	R.t0 = now_ns();
	getrusage(RUSAGE_SELF, &R.ru0);
	switch (R.mode) {
	case MODE_ECHO:
		rc = run_echo();
		break;
	case MODE_BROADCAST:
		rc = run_broadcast();
		break;
	default:
		rc = run_idle();
		break;
	}
	fflush(stdout);
	R.done = true;
	if (R.raw) {
		for (int i = 0; i < R.nconns; i++) {
			raw_close(&R.c[i]);
		}
	} else {
		lws_sul_cancel(&R.tick);
		lws_context_destroy(R.ctx);
	}
	return rc;
}
