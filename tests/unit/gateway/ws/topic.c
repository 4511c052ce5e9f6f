// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/ws/topic.c: topic names, sequence numbers, the frames it builds (a
 * message buffer, a gap signal), the ownership rule that a queued message keeps its topic
 * alive after the registry evicts it, and the memory of the topics as a whole: the history
 * budget, the cap, the order of eviction, topics freed once they hold nothing. Delivery over
 * sockets, resume and the slow-consumer policies need real connections:
 * tests/integration/test_ws_topics.py and test_ws_topic_memory.py cover them.
 *
 * The connection side is a test double. This file defines fng__ws_subs(), fng__ws_enqueue()
 * and fng__ws_server(), topic.c's only calls into ws_conn.c, so the linker never takes
 * ws_conn.c from the gateway library, and a connection here is the list of messages queued
 * on it: the one way to hold a topic message from outside topic.c. Every connection here
 * belongs to srv, one loop's state; other is a second loop's, whose topics are its own.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "harness.h"
#include "server.h"
#include "ws.h"
#include "ws_cluster.h"
#include "ws_conn.h"

#define NGOT 4

struct fng_ws {
	struct fng_wssub *subs;
	struct fng_wsmsg *got[NGOT]; /* references to what was queued, oldest first */
	size_t ngot;
	bool slow; /* closed as a slow consumer by what is queued on it: leaves its topics */
};

static struct fng_server srv, other;
/* The limits of the memory tests (srv.cfg from test_budget on; before it, the defaults). */
static struct fng_config cfg;

struct fng_server *fng__ws_server(const struct fng_ws *ws)
{
	return &srv;
}

/*
 * ws_cluster.c's side, stubbed: one node unless a test sets cluster_on; a resume's history
 * request is kept here for the test to answer.
 */
static bool cluster_on;
static fng_ws_history_cb hist_cb;
static void *hist_arg;
static uint64_t hist_last;
static int hist_calls;

bool fng__ws_cluster_on(struct fng_server *s)
{
	return cluster_on;
}

int fng__ws_cluster_publish(struct fng_server *s, const char *topic, size_t tlen,
	const void *data, size_t len, fng_ws_published_cb cb, void *arg)
{
	return -EINVAL;
}

int fng__ws_cluster_history(struct fng_server *s, const char *topic, size_t tlen,
	uint64_t last, fng_ws_history_cb cb, void *arg)
{
	hist_cb = cb;
	hist_arg = arg;
	hist_last = last;
	hist_calls++;
	return 0;
}

struct fng_wssub **fng__ws_subs(struct fng_ws *ws)
{
	return &ws->subs;
}

void fng__ws_enqueue(struct fng_ws *ws, struct fng_wsmsg *m)
{
	if (ws->slow) {
		fng__topic_unsubscribe_all(ws); /* as ws_conn.c closes a slow consumer */
		return;
	}
	if (ws->ngot < NGOT) {
		ws->got[ws->ngot++] = fng__wsmsg_ref(m);
	}
}

/* Topics this file has created so far: the registry's size, for the eviction test. */
static size_t created;

/* Whether m is a final, unmasked text frame around exactly len bytes of payload. */
static bool text_frame(const struct fng_wsmsg *m, const void *payload, size_t len)
{
	size_t hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
	uint64_t got = 0;

	if (!m || m->len != hl + len || m->data[0] != (0x80 | FNG_WS_TEXT)) {
		return false;
	}
	if (hl == 2) {
		got = m->data[1];
	} else if (m->data[1] != (hl == 4 ? 126 : 127)) {
		return false;
	}
	for (size_t i = 2; i < hl; i++) {
		got = got << 8 | m->data[i];
	}
	return got == len && memcmp(m->data + hl, payload, len) == 0;
}

static bool text_frame_str(const struct fng_wsmsg *m, const char *payload)
{
	return text_frame(m, payload, strlen(payload));
}

static void test_names(void)
{
	static const char allowed[] = "_.~:/-";
	static const char refused[] = " %@[`{;,+\"\\\x7f";
	char name[FNG_TOPIC_NAME_MAX + 1], mid[4] = "a?z";

	memset(name, 'x', sizeof(name));
	CHECK(fng__topic_name_ok("a", 1), "name: 1 character");
	CHECK(fng__topic_name_ok(name, FNG_TOPIC_NAME_MAX), "name: 128 characters");
	CHECK(!fng__topic_name_ok("", 0), "name: empty refused");
	CHECK(!fng__topic_name_ok(name, FNG_TOPIC_NAME_MAX + 1), "name: 129 characters refused");
	CHECK(fng__topic_name_ok("AZaz09", 6), "name: letters and digits");
	for (const char *p = allowed; *p; p++) {
		mid[1] = *p;
		CHECK(fng__topic_name_ok(mid, 3), "name: \"%s\" allowed", mid);
		CHECK(fng__topic_name_ok(p, 1), "name: \"%c\" alone allowed", *p);
	}
	for (const char *p = refused; *p; p++) {
		mid[1] = *p;
		CHECK(!fng__topic_name_ok(mid, 3), "name: byte 0x%02x refused", *p);
	}
	CHECK(!fng__topic_name_ok("caf\xc3\xa9", 5), "name: \"caf\xc3\xa9\" (UTF-8) refused");
	CHECK(!fng__topic_name_ok("a\0b", 3), "name: a NUL inside refused");
	CHECK(!fng__topic_name_ok("a\0", 2), "name: a NUL at the end refused");
}

/* Published to topic: the sequence number, checked against want, with no recipient. */
static void publish_seq(const char *topic, uint64_t want, const char *what)
{
	uint64_t seq = 99;
	size_t rcpt = 99;

	CHECK_INT(fng__topic_publish(&srv, topic, strlen(topic), "1", 1, &seq, &rcpt), 0,
		"%s: published", what);
	CHECK(seq == want && rcpt == 0, "%s: seq %llu, no recipient", what,
		(unsigned long long)want);
	CHECK_INT(fng__topic_last_seq(&srv, topic, strlen(topic)), want, "%s: last_seq follows", what);
}

static void test_publish(void)
{
	char name[FNG_TOPIC_NAME_MAX + 1];
	struct fng_ws ws = { 0 };

	CHECK_INT(fng__topic_last_seq(&srv, "seq.t", 5), 0, "last_seq of an unknown topic is 0");
	publish_seq("seq.t", 1, "first publish");
	publish_seq("seq.t", 2, "second publish");
	publish_seq("seq.t", 3, "third publish");
	CHECK_INT(fng__topic_publish(&srv, "seq.t", 5, "", 0, NULL, NULL), 0,
		"seq and recipients may be NULL");
	CHECK_INT(fng__topic_last_seq(&srv, "seq.t", 5), 4, "... and the message still counts");
	publish_seq("seq.u", 1, "another topic starts at 1");
	CHECK_INT(fng__topic_last_seq(&srv, "seq.t", 5), 4, "... and leaves the first one alone");
	CHECK_INT(fng__topic_last_seq(&srv, "seq.", 4), 0, "a prefix of a topic is not that topic");
	created = 2;

	memset(name, 'x', sizeof(name));
	CHECK_INT(fng__topic_publish(&srv, name, sizeof(name), "1", 1, NULL, NULL), -EINVAL,
		"publish: a 129-character name is -EINVAL");
	CHECK_INT(fng__topic_publish(&srv, "", 0, "1", 1, NULL, NULL), -EINVAL,
		"publish: an empty name is -EINVAL");
	CHECK_INT(fng__topic_publish(&srv, "bad name", 8, "1", 1, NULL, NULL), -EINVAL,
		"publish: a name with a space is -EINVAL");
	CHECK_INT(fng__topic_last_seq(&srv, "bad name", 8), 0, "... and records nothing");
	CHECK_INT(fng__topic_publish(&srv, "seq.t\0x", 7, "1", 1, NULL, NULL), -EINVAL,
		"publish: a name with a NUL inside is -EINVAL");
	CHECK_INT(fng__topic_last_seq(&srv, "seq.t", 5), 4, "... and does not reach the name before it");
	CHECK_INT(fng__topic_subscribe(&ws, "bad name", 8, false, 0), -EINVAL,
		"subscribe: a bad name is -EINVAL");
	CHECK(ws.subs == NULL && ws.ngot == 0, "... and subscribes to nothing");
	/* That none of these created a topic shows in test_eviction's count. */
}

static void test_frames(void)
{
	static const size_t lens[] = { 0, 1, 125, 126, 65535, 65536 };
	uint8_t *payload = malloc(65536);
	struct fng_wsmsg *m;
	bool all = true;

	for (size_t i = 0; payload && i < 65536; i++) {
		payload[i] = (uint8_t)(i * 7);
	}
	for (size_t i = 0; payload && i < sizeof(lens) / sizeof(lens[0]); i++) {
		m = fng__wsmsg_create(FNG_WS_TEXT, payload, lens[i]);
		if (!text_frame(m, payload, lens[i]) || m->refs != 1 || m->seq || m->topic) {
			printf("# a %zu-byte payload\n", lens[i]);
			all = false;
		}
		fng__wsmsg_unref(m);
	}
	CHECK(payload && all, "wsmsg: FIN|TEXT, unmasked, 7/16/64-bit length at 0, 1, 125, "
			      "126, 65535, 65536 bytes; one reference, no topic");
	free(payload);

	m = fng__wsmsg_create(FNG_WS_BINARY, "\x00\xff", 2);
	CHECK(m && m->len == 4 && memcmp(m->data, "\x82\x02\x00\xff", 4) == 0,
		"wsmsg: a binary frame, NUL bytes kept");
	CHECK(m && fng__wsmsg_ref(m) == m && m->refs == 2, "wsmsg_ref: the same message, 2 refs");
	fng__wsmsg_unref(m);
	CHECK(m && m->refs == 1 && memcmp(m->data, "\x82\x02\x00\xff", 4) == 0,
		"wsmsg_unref: one reference left, the frame intact");
	fng__wsmsg_unref(m); /* freed: ASan reports a miscount */
	fng__wsmsg_unref(NULL);
}

/* Subscribes ws to topic and publishes data there; the message ws got (a reference). */
static struct fng_wsmsg *held_message(struct fng_ws *ws, const char *topic, const char *data)
{
	size_t tl = strlen(topic), rcpt = 0;
	uint64_t seq = 0;

	CHECK_INT(fng__topic_subscribe(ws, topic, tl, false, 0), 0, "%.10s: subscribed", topic);
	CHECK_INT(fng__topic_publish(&srv, topic, tl, data, strlen(data), &seq, &rcpt), 0,
		"%.10s: published", topic);
	CHECK(seq == 1 && rcpt == 1 && ws->ngot == 1 && ws->got[0]->seq == 1 &&
			ws->got[0]->topic && strcmp(fng__topic_name(ws->got[0]->topic), topic) == 0,
		"%.10s: seq 1, one recipient, the message names its topic", topic);
	created++;
	return ws->ngot ? ws->got[ws->ngot - 1] : NULL;
}

/* A topic name for flood topic i. */
static size_t flood_name(char *buf, size_t i)
{
	return (size_t)snprintf(buf, 32, "flood-%zu", i);
}

static bool flood_alive(size_t i)
{
	char name[32];

	return fng__topic_last_seq(&srv, name, flood_name(name, i)) == 1;
}

/* Publishes to new topics until created reaches n; false if one failed. */
static bool flood(size_t *next, size_t n)
{
	bool ok = true;

	for (; created < n; created++, (*next)++) {
		char name[32];
		uint64_t seq = 0;
		size_t len = flood_name(name, *next);

		ok = ok && fng__topic_publish(&srv, name, len, "1", 1, &seq, NULL) == 0 && seq == 1;
	}
	return ok;
}

/*
 * The registry: at FNG_TOPIC_MAX topics a new one evicts the least recently published one
 * without subscribers, and a message still held keeps its evicted topic alive.
 */
static void test_eviction(void)
{
	char kept[FNG_TOPIC_NAME_MAX + 1], want[256];
	struct fng_ws a = { 0 }, b = { 0 }, c = { 0 };
	struct fng_wsmsg *held, *k, *g;
	size_t next = 0;
	bool subs_ok = true;

	/*
	 * Topics that are subscribed to but never published come first in creation order; they
	 * must not stand in the way of evicting the idle ones behind them.
	 */
	for (int i = 0; i < 100; i++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "quiet-%d", i);

		subs_ok = subs_ok && fng__topic_subscribe(&c, name, (size_t)n, false, 0) == 0;
		created++;
	}
	CHECK(subs_ok, "100 subscribed, never published topics");

	memset(kept, 'k', FNG_TOPIC_NAME_MAX);
	kept[FNG_TOPIC_NAME_MAX] = '\0';
	held = held_message(&a, "held", "{\"a\":1}");
	CHECK(text_frame_str(held, "{\"topic\":\"held\",\"seq\":1,\"data\":{\"a\":1}}"),
		"the message: one text frame {topic, seq, data}");
	CHECK_INT(fng__topic_unsubscribe(&a, "held", 4), 0, "held: unsubscribed (evictable)");
	k = held_message(&b, kept, "2");

	publish_seq("seq.t", 5, "seq.t again");

	/* Topics so far, least recently published first: seq.u, held, kept, seq.t. */
	CHECK(flood(&next, FNG_TOPIC_MAX), "%d topics: every publish works, seq 1",
		FNG_TOPIC_MAX);
	CHECK(fng__topic_last_seq(&srv, "seq.u", 5) == 1 && flood_alive(0) && flood_alive(next - 1),
		"at %d topics nothing is evicted yet", FNG_TOPIC_MAX);
	CHECK(flood(&next, FNG_TOPIC_MAX + 1), "one topic over the limit: published");
	CHECK_INT(fng__topic_last_seq(&srv, "seq.u", 5), 0, "... the least recently published goes");
	CHECK(fng__topic_last_seq(&srv, "held", 4) == 1 && fng__topic_last_seq(&srv, "seq.t", 5) == 5,
		"... and only that one (not the first created, published since)");
	CHECK(flood(&next, FNG_TOPIC_MAX + 3), "two more: published");
	CHECK(fng__topic_last_seq(&srv, "held", 4) == 0 && fng__topic_last_seq(&srv, "seq.t", 5) == 0 &&
			fng__topic_last_seq(&srv, kept, FNG_TOPIC_NAME_MAX) == 1 && flood_alive(0),
		"... held and seq.t evicted, the topic with a subscriber between them skipped");
	CHECK(flood(&next, FNG_TOPIC_MAX + 4), "one more: published");
	CHECK(!flood_alive(0) && flood_alive(1), "... then the oldest flood topic goes");

	CHECK(held->refs == 1 && held->seq == 1 && held->topic &&
			strcmp(fng__topic_name(held->topic), "held") == 0 &&
			text_frame_str(held, "{\"topic\":\"held\",\"seq\":1,\"data\":{\"a\":1}}"),
		"a held message outlives its topic's eviction: its frame and topic intact, "
		"its history reference dropped");
	g = fng__topic_gap(held->topic, 3, 7);
	CHECK(text_frame_str(g, "{\"topic\":\"held\",\"gap\":{\"from\":3,\"to\":7}}"),
		"gap on the evicted topic: {\"topic\":\"held\",\"gap\":{\"from\":3,\"to\":7}}");
	fng__wsmsg_unref(g);
	publish_seq("held", 1, "an evicted topic published again starts over");
	CHECK(strcmp(fng__topic_name(held->topic), "held") == 0 && held->refs == 1,
		"... the held message keeps the old topic");
	fng__wsmsg_unref(held); /* the last reference: frees the evicted topic too (ASan) */

	snprintf(want, sizeof(want), "{\"topic\":\"%s\",\"gap\":{\"from\":18446744073709551614,"
		"\"to\":18446744073709551615}}", kept);
	g = k ? fng__topic_gap(k->topic, UINT64_MAX - 1, UINT64_MAX) : NULL;
	CHECK(text_frame_str(g, want),
		"gap at its longest (a 128-character name, 20-digit numbers): %zu bytes, "
		"a 16-bit length", strlen(want));
	fng__wsmsg_unref(g);
	fng__topic_unsubscribe_all(&b);
	fng__topic_unsubscribe_all(&c);
	CHECK(b.subs == NULL && c.subs == NULL, "unsubscribe_all: no topic left");
	fng__wsmsg_unref(k);
}

/* One connection follows FNG_TOPIC_PER_CONN topics at most (a subscribe walks its list). */
static void test_per_connection(void)
{
	struct fng_ws many = { 0 };
	bool ok = true;
	char tn[32];

	for (int i = 0; i < FNG_TOPIC_PER_CONN; i++) {
		int n = snprintf(tn, sizeof(tn), "per-conn-%d", i);

		ok = ok && fng__topic_subscribe(&many, tn, (size_t)n, false, 0) == 0;
	}
	CHECK(ok, "one connection: %d topics", FNG_TOPIC_PER_CONN);
	CHECK_INT(fng__topic_subscribe(&many, "per-conn-0", 10, false, 0), 0,
		"... one of them again: a no-op");
	CHECK_INT(fng__topic_subscribe(&many, "per-conn-x", 10, false, 0), -ENOSPC,
		"... one more: -ENOSPC");
	fng__topic_unsubscribe_all(&many);
	CHECK(many.subs == NULL, "... all of them end");
}

/* Two loops in one process: each its own topics, nothing shared, each freed on its own. */
static void test_two_loops(void)
{
	uint64_t seq = 0;

	CHECK_INT(fng__topic_publish(&other, "two.loops", 9, "1", 1, &seq, NULL), 0,
		"a second loop publishes");
	CHECK_INT(seq, 1, "... its own first message");
	CHECK_INT(fng__topic_last_seq(&srv, "two.loops", 9), 0, "... which the first loop has not");
	CHECK_INT(fng__topic_publish(&srv, "two.loops", 9, "1", 1, &seq, NULL), 0,
		"the first loop publishes to the same name");
	CHECK_INT(seq, 1, "... and starts its own sequence");
	CHECK_INT(fng__topic_last_seq(&other, "two.loops", 9), 1, "... the second's is unchanged");
	fng__topics_free(&other);
	CHECK(other.topics == NULL, "the second loop's topics are freed");
	CHECK_INT(fng__topic_last_seq(&other, "two.loops", 9), 0, "... and gone from it");
	CHECK_INT(fng__topic_last_seq(&srv, "two.loops", 9), 1, "... not from the first");
}

/* Topics in srv now, and their history bytes. */
static size_t ntopics(void)
{
	size_t n;
	uint64_t b;

	fng__topics_usage(&srv, &n, &b);
	return n;
}

static uint64_t hbytes(void)
{
	size_t n;
	uint64_t b;

	fng__topics_usage(&srv, &n, &b);
	return b;
}

/* Publishes len bytes of 'x' (a JSON string: "x...x" costs len + 2) to topic; 0 or -errno. */
static int publish_len(const char *topic, size_t len, uint64_t *seq)
{
	char *p = malloc(len + 2);
	int rc;

	memset(p, 'x', len + 2);
	p[0] = p[len + 1] = '"';
	rc = fng__topic_publish(&srv, topic, strlen(topic), p, len + 2, seq, NULL);
	free(p);
	return rc;
}

/* Drops what a test connection got. */
static void drop_got(struct fng_ws *ws)
{
	while (ws->ngot) {
		fng__wsmsg_unref(ws->got[--ws->ngot]);
	}
}

/*
 * What a client resuming topic from 0 gets first: a gap signal up to the oldest message kept
 * (*gap_to; 0 without a gap) and that oldest message's seq (0: no history).
 */
static void resume_view(const char *topic, uint64_t *gap_to, uint64_t *oldest)
{
	struct fng_ws r = { 0 };
	char want[256];
	size_t i = 0;

	*gap_to = 0;
	*oldest = 0;
	fng__topic_subscribe(&r, topic, strlen(topic), true, 0);
	if (r.ngot && r.got[0]->seq == 0) {
		unsigned long long to = 0;
		const char *g = (const char *)r.got[0]->data + 2;

		snprintf(want, sizeof(want), "{\"topic\":\"%s\",\"gap\":{\"from\":1,\"to\":",
			topic);
		if (strncmp(g, want, strlen(want)) == 0) {
			to = strtoull(g + strlen(want), NULL, 10);
		}
		*gap_to = to ? to : UINT64_MAX; /* a malformed gap never matches */
		i = 1;
	}
	if (i < r.ngot) {
		*oldest = r.got[i]->seq;
	}
	fng__topic_unsubscribe_all(&r);
	drop_got(&r);
}

/*
 * The budget: histories of topics nobody subscribes to never take more than it, the least
 * recently published go first, and a topic goes with its history.
 */
static void test_budget(void)
{
	const uint64_t budget = 64 * 1024;
	bool ok = true;
	uint64_t seq = 0, most = 0;
	char name[32];

	fng__topics_free(&srv);
	srv.cfg = &cfg;
	cfg.topics.max = 1000;
	cfg.topics.history_bytes = budget;
	CHECK(ntopics() == 0 && hbytes() == 0, "budget: no topics, no bytes to start with");

	/* 1000-byte messages to new topics without end: the publisher of the issue. */
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "new-%d", i);
		ok = ok && publish_len(name, 1000, &seq) == 0 && seq == 1;
		most = hbytes() > most ? hbytes() : most;
		if (i == 10) {
			/* new-0 published again: it is now the most recently published. */
			ok = ok && publish_len("new-0", 1000, &seq) == 0 && seq == 2;
		}
	}
	CHECK(ok, "budget: 2000 new topics of a 1000-byte message each: every publish works");
	CHECK(most <= budget && hbytes() > budget / 2, "budget: history bytes never over %llu "
		"(at most %llu, now %llu)", (unsigned long long)budget, (unsigned long long)most,
		(unsigned long long)hbytes());
	CHECK(ntopics() < 70 && ntopics() > 30,
		"budget: the topics whose histories went are freed too (%zu left)", ntopics());
	CHECK(fng__topic_last_seq(&srv, "new-1999", 8) == 1 &&
			fng__topic_last_seq(&srv, "new-1", 5) == 0,
		"budget: the newest topics stay, the oldest went");
	snprintf(name, sizeof(name), "new-%zu", 2000 - ntopics());
	CHECK(fng__topic_last_seq(&srv, name, strlen(name)) == 1 &&
			fng__topic_last_seq(&srv, "new-0", 5) == 0,
		"budget: exactly the least recently published went (new-0 too, published at 11)");
	CHECK_INT(publish_len("new-1", 10, &seq), 0, "budget: a topic that went, published again");
	CHECK_INT(seq, 1, "... starts over at 1 (its state went with its history)");

	/* Bigger than the budget: delivered, not kept, and the topic does not stay behind. */
	{
		struct fng_ws w = { 0 };
		size_t before = ntopics();

		CHECK_INT(fng__topic_subscribe(&w, "huge", 4, false, 0), 0, "huge: subscribed");
		CHECK_INT(publish_len("huge", budget, &seq), 0, "huge: a message over the budget");
		CHECK(w.ngot == 1 && w.got[0]->seq == 1 && hbytes() <= budget,
			"... reaches its subscriber and is not kept");
		CHECK_INT(fng__topic_unsubscribe(&w, "huge", 4), 0, "huge: unsubscribed");
		CHECK_INT(ntopics(), before,
			"... a topic without subscribers and history is freed");
		CHECK(w.got[0]->topic && strcmp(fng__topic_name(w.got[0]->topic), "huge") == 0,
			"... while the message queued on the client keeps its name (ASan: no UAF)");
		drop_got(&w);
	}
	fng__topics_free(&srv);
	CHECK(ntopics() == 0 && hbytes() == 0, "budget: every topic freed");

	cfg.topics.history_bytes = 0;
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "none-%d", i);
		ok = ok && publish_len(name, 10, &seq) == 0 && seq == 1;
	}
	CHECK(ok && ntopics() == 0 && hbytes() == 0,
		"history_bytes 0: publishes work, keep nothing, leave no topic");
	cfg.topics.history_bytes = budget;
}

/*
 * The order of eviction over the budget: every history of a topic without subscribers first,
 * then the oldest messages of the largest histories of topics with subscribers; a client
 * resuming there gets the gap signal for what went.
 */
static void test_eviction_order(void)
{
	struct fng_ws big = { 0 }, mid = { 0 }, small = { 0 };
	uint64_t seq = 0, gap = 0, oldest = 0;
	bool ok = true;

	fng__topics_free(&srv);
	cfg.topics.history_bytes = 64 * 1024;
	CHECK_INT(fng__topic_subscribe(&big, "big", 3, false, 0), 0, "order: big subscribed");
	CHECK_INT(fng__topic_subscribe(&mid, "mid", 3, false, 0), 0, "order: mid subscribed");
	CHECK_INT(fng__topic_subscribe(&small, "small", 5, false, 0), 0, "order: small subscribed");
	for (int i = 0; i < 40; i++) {
		ok = ok && publish_len("big", 1000, &seq) == 0;
	}
	for (int i = 0; i < 14; i++) {
		ok = ok && publish_len("mid", 1000, &seq) == 0;
	}
	for (int i = 0; i < 4; i++) {
		ok = ok && publish_len("small", 1000, &seq) == 0;
	}
	CHECK(ok && hbytes() <= 64 * 1024, "order: 40 messages to big, 14 to mid, 4 to small");
	resume_view("big", &gap, &oldest);
	CHECK(gap == 0 && oldest == 1, "order: big keeps all 40 (no gap, from seq 1)");

	/* Idle topics fill the rest and more: they go, the subscribed histories stay whole. */
	for (int i = 0; i < 40; i++) {
		char name[32];

		snprintf(name, sizeof(name), "idle-%d", i);
		ok = ok && publish_len(name, 1000, &seq) == 0;
	}
	CHECK(ok && hbytes() <= 64 * 1024, "order: 40 idle topics published, within the budget");
	resume_view("big", &gap, &oldest);
	CHECK(gap == 0 && oldest == 1, "order: idle histories went first: big still whole");
	resume_view("mid", &gap, &oldest);
	CHECK(gap == 0 && oldest == 1, "order: ... and mid");
	resume_view("small", &gap, &oldest);
	CHECK(gap == 0 && oldest == 1, "order: ... and small");
	CHECK_INT(fng__topic_last_seq(&srv, "idle-0", 6), 0, "order: the oldest idle topic went");

	/*
	 * Only subscribed histories left: mid's new messages push them over, and the largest
	 * history (big) gives way, not the one published to; the others stay whole.
	 */
	CHECK_INT(fng__topic_last_seq(&srv, "idle-39", 7), 1, "order: one idle topic left");
	for (int i = 0; i < 6; i++) {
		ok = ok && publish_len("mid", 1000, &seq) == 0;
	}
	CHECK(ok && hbytes() <= 64 * 1024, "order: 6 more to mid, still within the budget");
	CHECK_INT(fng__topic_last_seq(&srv, "idle-39", 7), 0, "order: the idle one went first");
	resume_view("big", &gap, &oldest);
	CHECK(gap > 0 && oldest == gap + 1 && oldest <= 40,
		"order: big lost its oldest: a resume from 0 gets gap 1..%llu, then %llu..40",
		(unsigned long long)gap, (unsigned long long)oldest);
	resume_view("mid", &gap, &oldest);
	CHECK(gap == 0 && oldest == 1, "order: mid keeps all 20");
	resume_view("small", &gap, &oldest);
	CHECK(gap == 0 && oldest == 1, "order: small keeps all 4");
	CHECK(big.ngot == NGOT && mid.ngot == NGOT && small.ngot == NGOT,
		"order: live deliveries were all queued");
	fng__topic_unsubscribe_all(&big);
	fng__topic_unsubscribe_all(&mid);
	fng__topic_unsubscribe_all(&small);
	drop_got(&big);
	drop_got(&mid);
	drop_got(&small);
	fng__topics_free(&srv);
}

/* The cap on topics, also when a reload lowers it; subscribed topics are never evicted. */
static void test_cap(void)
{
	struct fng_ws w = { 0 };
	uint64_t seq = 0;

	fng__topics_free(&srv);
	cfg.topics.max = 3;
	CHECK_INT(fng__topic_subscribe(&w, "c1", 2, false, 0), 0, "cap 3: c1 subscribed");
	CHECK_INT(publish_len("c2", 1, &seq), 0, "cap 3: c2 published (idle, with a history)");
	CHECK_INT(publish_len("c3", 1, &seq), 0, "cap 3: c3 published");
	CHECK_INT(ntopics(), 3, "cap 3: three topics");
	CHECK_INT(publish_len("c3", 1, &seq), 0, "cap 3: c3 again (c2 now least recent)");
	CHECK_INT(publish_len("c4", 1, &seq), 0, "cap 3: a fourth topic is published");
	CHECK(ntopics() == 3 && fng__topic_last_seq(&srv, "c2", 2) == 0 &&
			fng__topic_last_seq(&srv, "c3", 2) == 2,
		"... evicting c2, the least recently published without subscribers");
	CHECK_INT(fng__topic_subscribe(&w, "c3", 2, false, 0), 0, "cap 3: c3 subscribed");
	CHECK_INT(fng__topic_subscribe(&w, "c4", 2, false, 0), 0, "cap 3: c4 subscribed");
	CHECK_INT(publish_len("c5", 1, &seq), -ENOSPC, "cap 3, all subscribed: publish -ENOSPC");
	CHECK_INT(fng__topic_subscribe(&w, "c5", 2, false, 0), -ENOSPC,
		"cap 3, all subscribed: subscribe -ENOSPC");
	CHECK_INT(ntopics(), 3, "... and neither made a topic");
	fng__topic_unsubscribe_all(&w);
	drop_got(&w);
	CHECK_INT(ntopics(), 2, "unsubscribed: c3, c4 keep their histories, c1 (none) is freed");

	cfg.topics.max = 100;
	for (int i = 0; i < 50; i++) {
		char name[32];

		snprintf(name, sizeof(name), "r-%d", i);
		publish_len(name, 1, &seq);
	}
	CHECK_INT(ntopics(), 52, "cap 100: 52 topics");
	cfg.topics.max = 10; /* a reload lowers the cap */
	CHECK_INT(publish_len("r-new", 1, &seq), 0, "cap lowered to 10: a new topic published");
	CHECK(ntopics() == 10 && fng__topic_last_seq(&srv, "r-new", 5) == 1 &&
			fng__topic_last_seq(&srv, "r-48", 4) == 1 &&
			fng__topic_last_seq(&srv, "r-40", 4) == 0,
		"... the least recently published go down to the cap (%zu topics)", ntopics());
	fng__topics_free(&srv);
	cfg.topics.max = 1000;
}

/*
 * A topic without subscribers and without history is freed, whatever made it: a subscription
 * that ended before any publish, a connection leaving all its topics. Prints what a topic
 * costs (docs/config.md), measured with mallinfo2 where the allocator gives it.
 */
static void test_free_empty(void)
{
	enum { N = 1000 };
	struct fng_ws *ws = calloc(N, sizeof(*ws));
	struct mallinfo2 m0, m1, m2;
	bool ok = true;
	char name[32];

	fng__topics_free(&srv);
	cfg.topics.max = 100000;
	cfg.topics.history_bytes = 1u << 20;
	CHECK_INT(fng__topic_subscribe(&ws[0], "empty", 5, false, 0), 0, "empty: subscribed");
	CHECK_INT(ntopics(), 1, "empty: one topic");
	CHECK_INT(fng__topic_unsubscribe(&ws[0], "empty", 5), 0, "empty: unsubscribed");
	CHECK(ntopics() == 0 && hbytes() == 0, "empty: no subscriber, no history: freed");

	/* One room per connection, as a chat client makes them (a name of 16 characters). */
	m0 = mallinfo2();
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "room.r%010d", i);
		ok = ok && fng__topic_subscribe(&ws[i], name, strlen(name), false, 0) == 0;
	}
	m1 = mallinfo2();
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "room.r%010d", i);
		ok = ok && fng__topic_publish(&srv, name, strlen(name),
			"{\"type\":\"join\",\"nick\":\"ada\"}", 28, NULL, NULL) == 0;
	}
	m2 = mallinfo2();
	CHECK(ok && ntopics() == N, "rooms: %d topics of one subscriber each", N);
	if (m1.uordblks > m0.uordblks) {
		printf("# a topic with one subscriber and no history: %zu bytes of heap\n",
			(m1.uordblks - m0.uordblks) / N);
		printf("# ... with one ~100-byte message in its history: %zu bytes\n",
			(m2.uordblks - m0.uordblks) / N);
	}
	for (int i = 0; i < N; i++) {
		fng__topic_unsubscribe_all(&ws[i]);
		drop_got(&ws[i]);
	}
	CHECK(ntopics() == N && hbytes() > 0, "rooms left: their histories keep them");
	cfg.topics.history_bytes = 0;
	CHECK_INT(publish_len("another", 1, NULL), 0,
		"the budget lowered to 0 (a reload): a publish");
	CHECK(ntopics() == 0 && hbytes() == 0, "... drops every history, and every topic goes");
	cfg.topics.history_bytes = 64 * 1024;
	free(ws);
}

/*
 * A subscriber closed as a slow consumer by what the topic queues on it, when that leaves
 * the topic with neither subscribers nor history: the topic goes while the publish or the
 * replay is still at work on it (ASan/valgrind catch a use after free or a double free).
 */
static void test_slow_leaves(void)
{
	struct fng_ws w = { 0 };
	uint64_t seq = 0;

	fng__topics_free(&srv);
	cfg.topics.history_bytes = 0; /* nothing kept: the last subscriber leaving frees it */
	CHECK_INT(fng__topic_subscribe(&w, "slow", 4, false, 0), 0, "slow: subscribed");
	w.slow = true;
	CHECK_INT(publish_len("slow", 10, &seq), 0, "slow: a publish closes its only subscriber");
	CHECK(w.subs == NULL && ntopics() == 0 && seq == 1,
		"... which left the topic, freed with it; the publish completed");
	w.slow = false;
	CHECK_INT(publish_len("slow2", 10, &seq), 0, "slow: another topic published (seq 1)");
	CHECK_INT(ntopics(), 0, "... and not kept");
	cfg.topics.history_bytes = 64 * 1024;
	for (int i = 0; i < 3; i++) {
		publish_len("slow3", 10, &seq);
	}
	w.slow = true;
	CHECK_INT(fng__topic_subscribe(&w, "slow3", 5, true, 0), 0,
		"slow: a resume whose replay closes the client at its first message");
	CHECK(w.subs == NULL && ntopics() == 1 && fng__topic_last_seq(&srv, "slow3", 5) == 3,
		"... leaves the topic with its history, as it was");
}

/* Delivered to topic with sequence number seq (a cluster's, or 0), data "1". */
static int deliver(const char *topic, uint64_t seq, bool create)
{
	return fng__topic_deliver(&srv, topic, strlen(topic), "1", 1, seq, create, NULL, NULL);
}

/* The sequence numbers of what ws got, gap signals as 0, in a string: "7 8 0 9". */
static const char *got_seqs(const struct fng_ws *ws)
{
	static char out[256];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ws->ngot && o < sizeof(out) - 24; i++) {
		o += (size_t)snprintf(out + o, sizeof(out) - o, i ? " %llu" : "%llu",
			(unsigned long long)ws->got[i]->seq);
	}
	return out;
}

static void test_cluster_deliver(void)
{
	struct fng_ws w = { 0 }, w2 = { 0 };

	fng__topics_free(&srv);
	CHECK_INT(deliver("cd", 3, false), 0, "cluster: a message for a topic nobody here has");
	CHECK_INT(ntopics(), 0, "... is dropped, no topic made");
	CHECK_INT(fng__topic_subscribe(&w, "cd", 2, false, 0), 0, "cluster: subscribed");
	deliver("cd", 7, false);
	deliver("cd", 8, false);
	CHECK(strcmp(got_seqs(&w), "7 8") == 0, "the cluster's numbers: %s", got_seqs(&w));
	CHECK(text_frame_str(w.got[0], "{\"topic\":\"cd\",\"seq\":7,\"data\":1}"),
		"... in the envelope");
	deliver("cd", 5, false);
	CHECK(strcmp(got_seqs(&w), "7 8 9") == 0,
		"a number not past the last is moved past it (after a local outage): %s",
		got_seqs(&w));
	CHECK_INT(fng__topic_last_seq(&srv, "cd", 2), 9, "last_seq follows");
	CHECK_INT(fng__topic_subscribe(&w2, "cd", 2, true, 3), 0,
		"a local resume from before the first number seen");
	CHECK(strcmp(got_seqs(&w2), "0 7 8 9") == 0 &&
		text_frame_str(w2.got[0], "{\"topic\":\"cd\",\"gap\":{\"from\":4,\"to\":6}}"),
		"... a gap for what this node never saw, then its history: %s", got_seqs(&w2));
	drop_got(&w);
	drop_got(&w2);
	fng__topic_unsubscribe_all(&w);
	fng__topic_unsubscribe_all(&w2);
}

static void test_cluster_resume(void)
{
	struct fng_ws w = { 0 }, w2 = { 0 }, w3 = { 0 }, w4 = { 0 };
	struct fng_ws_hist e[2] = { { 2, "\"b\"", 3 }, { 4, "\"d\"", 3 } };

	fng__topics_free(&srv);
	cluster_on = true;
	CHECK_INT(fng__topic_subscribe(&w, "cr", 2, false, 0), 0, "resume: a live subscriber");
	for (uint64_t s = 1; s <= 3; s++) {
		deliver("cr", s, false);
	}
	drop_got(&w);
	CHECK_INT(fng__topic_subscribe(&w2, "cr", 2, true, 1), 0, "resume from 1 (cluster node)");
	CHECK(hist_calls == 1 && hist_last == 1 && w2.ngot == 0,
		"... asks the cluster's history and queues nothing yet");
	deliver("cr", 4, false);
	deliver("cr", 5, false);
	CHECK(w2.ngot == 0 && strcmp(got_seqs(&w), "4 5") == 0,
		"live messages wait for the history; others get them: %s", got_seqs(&w));
	hist_cb(0, 4, 1, e, 2, hist_arg);
	CHECK(strcmp(got_seqs(&w2), "2 0 4 5") == 0, "the history (a gap where it has a hole), "
		"then the held ones after it, once: %s", got_seqs(&w2));
	CHECK(text_frame_str(w2.got[0], "{\"topic\":\"cr\",\"seq\":2,\"data\":\"b\"}") &&
		text_frame_str(w2.got[1], "{\"topic\":\"cr\",\"gap\":{\"from\":3,\"to\":3}}"),
		"... as envelopes and a gap signal");
	drop_got(&w);
	drop_got(&w2);
	deliver("cr", 6, false);
	CHECK(strcmp(got_seqs(&w2), "6") == 0, "then live");

	CHECK_INT(fng__topic_subscribe(&w3, "cr", 2, true, 4), 0, "another resume, from 4");
	deliver("cr", 7, false);
	hist_cb(-EIO, 0, 0, NULL, 0, hist_arg);
	CHECK(strcmp(got_seqs(&w3), "5 6 7") == 0,
		"Redis not answering: the local history, the held one not twice: %s",
		got_seqs(&w3));

	CHECK_INT(fng__topic_subscribe(&w4, "cr", 2, true, 0), 0, "a resume whose client leaves");
	deliver("cr", 8, false);
	fng__topic_unsubscribe_all(&w4);
	hist_cb(0, 8, 0, e, 2, hist_arg);
	CHECK(w4.ngot == 0, "... gets nothing when the answer comes (and nothing leaks)");

	CHECK_INT(fng__topic_subscribe(&w4, "cr", 2, true, 5), 0, "a resume with nothing kept");
	hist_cb(0, 8, 5, NULL, 0, hist_arg);
	CHECK(strcmp(got_seqs(&w4), "0") == 0 &&
		text_frame_str(w4.got[0], "{\"topic\":\"cr\",\"gap\":{\"from\":6,\"to\":8}}"),
		"... is told of the gap: %s", got_seqs(&w4));
	cluster_on = false;
	{
		struct fng_ws *all[] = { &w, &w2, &w3, &w4 };

		for (size_t i = 0; i < 4; i++) {
			drop_got(all[i]);
			fng__topic_unsubscribe_all(all[i]);
		}
	}
}

int main(void)
{
	test_names();
	test_publish();
	test_frames();
	test_eviction();
	test_per_connection();
	test_two_loops();
	test_budget();
	test_eviction_order();
	test_cap();
	test_free_empty();
	test_slow_leaves();
	test_cluster_deliver();
	test_cluster_resume();
	fng__topics_free(&srv);
	return fng_test_done();
}
