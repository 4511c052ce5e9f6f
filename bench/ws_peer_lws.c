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
 * benchmark uses one); a subscription to another topic moves the connection.
 *
 *   ws_peer_lws PORT        (127.0.0.1; stops on SIGTERM or SIGINT)
 *
 * Build: cc -O2 -o ws_peer_lws bench/ws_peer_lws.c $(pkg-config --cflags --libs libwebsockets)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#define MAX_MESSAGE (1u << 20)
#define RING_ELEMENTS 4096 /* published messages not yet written to every subscriber, at most */
#define MAX_TOPIC 128

/* A message in the shared ring: LWS_PRE bytes of headroom, then the payload. */
struct ring_msg {
	unsigned char *buf;
	size_t len;
};

/* A message for one connection only (subscribe answers, echoes), in order. */
struct msg {
	struct msg *next;
	size_t len;
	bool binary;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct pss {
	struct pss *next;   /* in vhd->subs while subscribed */
	struct lws *wsi;
	uint32_t tail;      /* next ring element to write */
	bool subscribed;
	unsigned char *in;  /* the message being assembled */
	size_t len, cap;
	bool binary;
	struct msg *head, *last;
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

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void ring_msg_destroy(void *p)
{
	free(((struct ring_msg *)p)->buf);
}

static int queue(struct lws *wsi, struct pss *p, const void *data, size_t len, bool binary)
{
	struct msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m) {
		return -1;
	}
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	if (len) {
		memcpy(m->data + LWS_PRE, data, len);
	}
	if (p->last) {
		p->last->next = m;
	} else {
		p->head = m;
	}
	p->last = m;
	lws_callback_on_writable(wsi);
	return 0;
}

/* Where the value of member "name" of a flat JSON object starts (after the colon), or NULL.
 * A strstr-level look-up, enough for the benchmark's messages. */
static const char *json_member(const unsigned char *in, size_t len, const char *name)
{
	char key[32];
	const char *p, *end = (const char *)in + len;
	int kl = snprintf(key, sizeof(key), "\"%s\"", name);

	p = memmem(in, len, key, (size_t)kl);
	if (!p) {
		return NULL;
	}
	for (p += kl; p < end && (*p == ' ' || *p == ':'); p++) {
	}
	return p < end ? p : NULL;
}

/* The value of member "name" as raw JSON, [*v, *v + *n): a string with its quotes (escapes
 * kept), anything else up to the object's closing brace. */
static bool json_raw(const unsigned char *in, size_t len, const char *name, const char **v,
	size_t *n)
{
	const char *p = json_member(in, len, name), *end = (const char *)in + len;

	if (!p) {
		return false;
	}
	*v = p;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\') {
				p++;
			}
		}
		if (p >= end) {
			return false;
		}
		*n = (size_t)(p + 1 - *v);
		return true;
	}
	while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r')) {
		end--;
	}
	if (end <= p || end[-1] != '}') {
		return false;
	}
	*n = (size_t)(end - 1 - p);
	return *n > 0;
}

/* The contents of string member "name" (escapes kept). */
static bool json_str(const unsigned char *in, size_t len, const char *name, const char **v,
	size_t *n)
{
	if (!json_raw(in, len, name, v, n) || **v != '"') {
		return false;
	}
	(*v)++;
	*n -= 2;
	return true;
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
	const char *action, *topic, *data;
	size_t an, tn, dn;

	if (!p->binary && json_str(p->in, p->len, "action", &action, &an) &&
		json_str(p->in, p->len, "topic", &topic, &tn)) {
		if (an == 9 && !memcmp(action, "subscribe", 9)) {
			char ack[MAX_TOPIC + 32];
			int n;

			subscribe(v, p, topic, tn);
			n = snprintf(ack, sizeof(ack), "{\"subscribed\":\"%.*s\"}", (int)tn, topic);
			return queue(wsi, p, ack, (size_t)n, false);
		}
		if (an == 7 && !memcmp(action, "publish", 7) &&
			json_raw(p->in, p->len, "data", &data, &dn)) {
			publish(v, topic, tn, data, dn);
			return 0;
		}
	}
	return queue(wsi, p, p->in, p->len, p->binary);
}

static int receive(struct lws *wsi, struct vhd *v, struct pss *p, const void *in, size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		p->len = 0;
		p->binary = lws_frame_is_binary(wsi);
	}
	if (p->len + len > MAX_MESSAGE) {
		return -1;
	}
	if (p->len + len > p->cap) {
		size_t cap = p->cap ? p->cap : 1024;
		unsigned char *n;

		while (cap < p->len + len) {
			cap *= 2;
		}
		n = realloc(p->in, cap);
		if (!n) {
			return -1;
		}
		p->in = n;
		p->cap = cap;
	}
	if (len) {
		memcpy(p->in + p->len, in, len);
	}
	p->len += len;
	if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
		int rc = on_message(wsi, v, p);

		p->len = 0;
		return rc;
	}
	return 0;
}

static int writeable(struct lws *wsi, struct vhd *v, struct pss *p)
{
	const struct ring_msg *rm;

	/* One write per callback, as lws asks: own answers first, then the topic. */
	if (p->head) {
		struct msg *m = p->head;
		int n = lws_write(wsi, m->data + LWS_PRE, m->len,
			m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);

		p->head = m->next;
		if (!p->head) {
			p->last = NULL;
		}
		free(m);
		if (n < 0) {
			return -1;
		}
	} else if (p->subscribed && (rm = lws_ring_get_element(v->ring, &p->tail))) {
		if (lws_write(wsi, rm->buf + LWS_PRE, rm->len, LWS_WRITE_TEXT) < (int)rm->len) {
			return -1;
		}
		lws_ring_consume_and_update_oldest_tail(v->ring, struct pss, &p->tail, 1, v->subs,
			tail, next);
	}
	if (p->head || (p->subscribed && lws_ring_get_element(v->ring, &p->tail))) {
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
	free(p->in);
	p->in = NULL;
	while (p->head) {
		struct msg *m = p->head;

		p->head = m->next;
		free(m);
	}
	p->last = NULL;
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

static const struct lws_protocols protocols[] = {
	{ "bench", callback, sizeof(struct pss), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *ctx;

	memset(&info, 0, sizeof(info));
	info.port = argc > 1 ? atoi(argv[1]) : 7681;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	lws_set_log_level(LLL_ERR, NULL);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	ctx = lws_create_context(&info);
	if (!ctx) {
		return 1;
	}
	while (!stop && lws_service(ctx, 0) >= 0) {
	}
	lws_context_destroy(ctx);
	return 0;
}
