// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/topic.c: topic names, sequence numbers, the frames it builds (a
 * message buffer, a gap signal) and the ownership rule that a queued message keeps its topic
 * alive after the registry evicts it. Delivery, resume and the slow-consumer policies need
 * real connections: tests/integration/test_ws_topics.py covers them.
 *
 * The connection side is a test double. This file defines fng__ws_subs(), fng__ws_enqueue()
 * and fng__ws_server(), topic.c's only calls into ws_conn.c, so the linker never takes
 * ws_conn.c from the gateway library, and a connection here is the list of messages queued
 * on it: the one way to hold a topic message from outside topic.c. Every connection here
 * belongs to srv, one loop's state; other is a second loop's, whose topics are its own.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "server.h"
#include "ws.h"
#include "ws_conn.h"

#define NGOT 4

struct fng_ws {
	struct fng_wssub *subs;
	struct fng_wsmsg *got[NGOT]; /* references to what was queued, oldest first */
	size_t ngot;
};

static struct fng_server srv, other;

struct fng_server *fng__ws_server(const struct fng_ws *ws)
{
	return &srv;
}

struct fng_wssub **fng__ws_subs(struct fng_ws *ws)
{
	return &ws->subs;
}

void fng__ws_enqueue(struct fng_ws *ws, struct fng_wsmsg *m)
{
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

int main(void)
{
	test_names();
	test_publish();
	test_frames();
	test_eviction();
	test_per_connection();
	test_two_loops();
	fng__topics_free(&srv);
	return fng_test_done();
}
