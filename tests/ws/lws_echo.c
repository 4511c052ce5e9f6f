// SPDX-License-Identifier: MIT
/*
 * An echo server on libwebsockets' own server side, to calibrate tests/ws/conformance.py (and
 * a peer for the WebSocket benchmarks): every message, reassembled from its fragments, goes
 * back with its type. UTF-8 is validated by lws (LWS_SERVER_OPTION_VALIDATE_UTF8).
 *
 *   lws_echo PORT        (127.0.0.1; stops on SIGTERM or SIGINT)
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#define MAX_MESSAGE (16u << 20)

/* Messages of one connection waiting to be written, in order. */
struct msg {
	struct msg *next;
	size_t len;
	int binary;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct pss {
	unsigned char *in; /* the message being assembled */
	size_t len, cap;
	int binary;
	struct msg *head, *tail;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void pss_free(struct pss *p)
{
	free(p->in);
	p->in = NULL;
	while (p->head) {
		struct msg *m = p->head;

		p->head = m->next;
		free(m);
	}
	p->tail = NULL;
}

static int receive(struct lws *wsi, struct pss *p, const void *in, size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		p->len = 0;
		p->binary = lws_frame_is_binary(wsi);
	}
	if (p->len + len > MAX_MESSAGE) {
		return -1;
	}
	if (p->len + len > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
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
		struct msg *m = malloc(sizeof(*m) + LWS_PRE + p->len);

		if (!m) {
			return -1;
		}
		m->next = NULL;
		m->len = p->len;
		m->binary = p->binary;
		if (p->len) {
			memcpy(m->data + LWS_PRE, p->in, p->len);
		}
		if (p->tail) {
			p->tail->next = m;
		} else {
			p->head = m;
		}
		p->tail = m;
		p->len = 0;
		lws_callback_on_writable(wsi);
	}
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	size_t len)
{
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(p, 0, sizeof(*p));
		break;
	case LWS_CALLBACK_RECEIVE:
		return receive(wsi, p, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (p->head) {
			struct msg *m = p->head;
			int n = lws_write(wsi, m->data + LWS_PRE, m->len,
				m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);

			p->head = m->next;
			if (!p->head) {
				p->tail = NULL;
			}
			free(m);
			if (n < 0) {
				return -1;
			}
			if (p->head) {
				lws_callback_on_writable(wsi);
			}
		}
		break;
	case LWS_CALLBACK_CLOSED:
		pss_free(p);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "echo", callback, sizeof(struct pss), 65536, 0, NULL, 0 },
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
