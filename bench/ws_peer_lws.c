// SPDX-License-Identifier: MIT
/*
 * ws_peer_lws: the libwebsockets peer of bench/ws.sh, a topic server on lws' own server side
 * speaking the benchmark's protocol (bench/ws_load.c): `{"action":"subscribe","topic":T}`
 * subscribes the connection and is answered `{"subscribed":T}`; `{"action":"publish",
 * "topic":T,"data":D}` sends `{"topic":T,"seq":N,"data":D}` to every subscriber of T (the
 * envelope fngate sends); any other message is echoed back with its type.
 *
 * Broadcast is done the way lws' own examples do it (minimal-ws-server's mirror protocol): a
 * published message is formatted once into a shared lws_ring, each subscriber keeps its tail,
 * lws_callback_on_writable_all_protocol() wakes every connection, and each writes one element
 * per WRITEABLE callback; lws_ring_consume_and_update_oldest_tail() frees an element when its
 * last subscriber has written it. Answers to one connection (subscribe, echo) wait in a queue
 * of that connection. One service thread. One topic at a time holds subscribers here (the
 * benchmark uses one); a subscription to another topic moves the connection. The reassembly,
 * that queue and main() are tests/ws/lws_peer.h's (shared with the conformance runner's echo
 * server), the parse of a message bench/ws_json.h's (shared with the fngate handler).
 *
 *   ws_peer_lws PORT        (127.0.0.1; stops on SIGTERM or SIGINT)
 *
 * Build: cc -O2 -I tests/ws -o ws_peer_lws bench/ws_peer_lws.c \
 *            $(pkg-config --cflags --libs libwebsockets)
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lws_peer.h"
#include "ws_json.h"

#define MAX_MESSAGE (1u << 20)
#define RING_ELEMENTS 4096 /* published messages not yet written to every subscriber, at most */
#define MAX_TOPIC 128

/* A message in the shared ring: LWS_PRE bytes of headroom, then the payload. */
struct ring_msg {
	unsigned char *buf;
	size_t len;
};

struct pss {
	struct pss *next;   /* in vhd->subs while subscribed */
	struct lws *wsi;
	uint32_t tail;      /* next ring element to write */
	bool subscribed;
	struct peer_conn c; /* the message being assembled; answers (subscribe, echo) to write */
};

struct vhd {
	struct lws_context *context;
	const struct lws_protocols *protocol;
	struct lws_ring *ring;
	struct pss *subs;
	char topic[MAX_TOPIC + 1];
	unsigned long seq;
	unsigned long dropped;
};

static void ring_msg_destroy(void *p)
{
	free(((struct ring_msg *)p)->buf);
}

static void subscribe(struct vhd *v, struct pss *p, const char *topic, size_t tn)
{
	uint32_t waiting;

	if (tn > MAX_TOPIC) {
		return;
	}
	if (strlen(v->topic) != tn || memcmp(v->topic, topic, tn)) {
		/* Another topic: this server holds one; its subscribers go. */
		while (v->subs) {
			v->subs->subscribed = false;
			v->subs = v->subs->next;
		}
		memcpy(v->topic, topic, tn);
		v->topic[tn] = '\0';
	}
	if (p->subscribed) {
		return;
	}
	/* Only what is published from now on. */
	p->tail = lws_ring_get_oldest_tail(v->ring);
	waiting = (uint32_t)lws_ring_get_count_waiting_elements(v->ring, &p->tail);
	if (waiting) {
		lws_ring_consume(v->ring, &p->tail, NULL, waiting);
	}
	p->subscribed = true;
	lws_ll_fwd_insert(p, next, v->subs);
}

static void publish(struct vhd *v, const char *topic, size_t tn, const char *data, size_t dn)
{
	struct ring_msg m;
	int n;

	if (!v->subs || strlen(v->topic) != tn || memcmp(v->topic, topic, tn)) {
		v->seq++;
		return;
	}
	if (!lws_ring_get_count_free_elements(v->ring)) {
		v->dropped++;
		if (v->dropped == 1 || !(v->dropped % 1000)) {
			lwsl_err("ring full: %lu messages dropped\n", v->dropped);
		}
		return;
	}
	m.len = tn + dn + 64;
	m.buf = malloc(LWS_PRE + m.len);
	if (!m.buf) {
		return;
	}
	n = snprintf((char *)m.buf + LWS_PRE, m.len,
		"{\"topic\":\"%.*s\",\"seq\":%lu,\"data\":%.*s}", (int)tn, topic, ++v->seq,
		(int)dn, data);
	m.len = (size_t)n;
	lws_ring_insert(v->ring, &m, 1);
	lws_callback_on_writable_all_protocol(v->context, v->protocol);
}

static int on_message(struct lws *wsi, struct vhd *v, struct pss *p)
{
	const char *in = (const char *)p->c.in, *action, *topic, *data;
	size_t len = p->c.len, an, tn, dn;

	if (!p->c.binary && json_str(in, len, "action", &action, &an) &&
		json_str(in, len, "topic", &topic, &tn)) {
		if (an == 9 && !memcmp(action, "subscribe", 9)) {
			char ack[MAX_TOPIC + 32];
			int n;

			subscribe(v, p, topic, tn);
			n = snprintf(ack, sizeof(ack), "{\"subscribed\":\"%.*s\"}",
				(int)(tn > MAX_TOPIC ? MAX_TOPIC : tn), topic);
			return peer_queue(wsi, &p->c, ack, (size_t)n, false);
		}
		if (an == 7 && !memcmp(action, "publish", 7) &&
			json_raw(in, len, "data", &data, &dn)) {
			publish(v, topic, tn, data, dn);
			return 0;
		}
	}
	return peer_queue(wsi, &p->c, in, len, p->c.binary);
}

static int receive(struct lws *wsi, struct vhd *v, struct pss *p, const void *in, size_t len)
{
	int rc = peer_receive(wsi, &p->c, in, len, MAX_MESSAGE, 1024);

	if (rc > 0) {
		rc = on_message(wsi, v, p);
		p->c.len = 0;
	}
	return rc;
}

static int writeable(struct lws *wsi, struct vhd *v, struct pss *p)
{
	const struct ring_msg *rm;
	int rc;

	/* One write per callback, as lws asks: own answers first, then the topic. */
	rc = peer_write_next(wsi, &p->c);
	if (rc < 0) {
		return -1;
	}
	if (!rc && p->subscribed && (rm = lws_ring_get_element(v->ring, &p->tail))) {
		if (lws_write(wsi, rm->buf + LWS_PRE, rm->len, LWS_WRITE_TEXT) < (int)rm->len) {
			return -1;
		}
		lws_ring_consume_and_update_oldest_tail(v->ring, struct pss, &p->tail, 1, v->subs,
			tail, next);
	}
	if (p->c.head || (p->subscribed && lws_ring_get_element(v->ring, &p->tail))) {
		lws_callback_on_writable(wsi);
	}
	return 0;
}

/* After a subscriber left: elements that only it still had to write are freed. */
static void update_oldest(struct vhd *v, uint32_t tail)
{
	uint32_t oldest = tail, n;
	int most = -1;

	/* With no subscriber left, everything goes. */
	n = (uint32_t)lws_ring_get_count_waiting_elements(v->ring, &oldest);
	if (n) {
		lws_ring_consume(v->ring, &oldest, NULL, n);
	}
	lws_start_foreach_llp(struct pss **, pp, v->subs) {
		int m = (int)lws_ring_get_count_waiting_elements(v->ring, &(*pp)->tail);

		if (m > most) {
			most = m;
			oldest = (*pp)->tail;
		}
	} lws_end_foreach_llp(pp, next);
	lws_ring_update_oldest_tail(v->ring, oldest);
}

static void closed(struct vhd *v, struct pss *p)
{
	if (p->subscribed) {
		lws_ll_fwd_remove(struct pss, next, p, v->subs);
		p->subscribed = false;
		update_oldest(v, p->tail);
	}
	peer_conn_finish(&p->c);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	size_t len)
{
	struct pss *p = user;
	struct vhd *v = lws_protocol_vh_priv_get(lws_get_vhost(wsi), lws_get_protocol(wsi));

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		v = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi), lws_get_protocol(wsi),
			sizeof(*v));
		if (!v) {
			return -1;
		}
		v->context = lws_get_context(wsi);
		v->protocol = lws_get_protocol(wsi);
		v->ring = lws_ring_create(sizeof(struct ring_msg), RING_ELEMENTS, ring_msg_destroy);
		return v->ring ? 0 : -1;
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		if (v && v->ring) {
			lws_ring_destroy(v->ring);
			v->ring = NULL;
		}
		break;
	case LWS_CALLBACK_ESTABLISHED:
		memset(p, 0, sizeof(*p));
		p->wsi = wsi;
		break;
	case LWS_CALLBACK_RECEIVE:
		return receive(wsi, v, p, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return writeable(wsi, v, p);
	case LWS_CALLBACK_CLOSED:
		closed(v, p);
		break;
	default:
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	return peer_main(argc, argv, "bench", callback, sizeof(struct pss));
}
