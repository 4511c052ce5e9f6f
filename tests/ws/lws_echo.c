// SPDX-License-Identifier: MIT
/*
 * An echo server on libwebsockets' own server side, to calibrate tests/ws/conformance.py (and
 * a peer for the WebSocket benchmarks): every message, reassembled from its fragments, goes
 * back with its type. UTF-8 is validated by lws (LWS_SERVER_OPTION_VALIDATE_UTF8). The
 * reassembly, write queue and main loop are lws_peer.h's, shared with bench/ws_peer_lws.c.
 *
 *   lws_echo PORT        (127.0.0.1; stops on SIGTERM or SIGINT)
 */
#include "lws_peer.h"

#define MAX_MESSAGE (16u << 20)

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	size_t len)
{
	struct peer_conn *c = user;
	int rc;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof(*c));
		break;
	case LWS_CALLBACK_RECEIVE:
		rc = peer_receive(wsi, c, in, len, MAX_MESSAGE, 4096);
		if (rc > 0) {
			rc = peer_queue(wsi, c, c->in, c->len, c->binary);
			c->len = 0;
		}
		return rc;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (peer_write_next(wsi, c) < 0) {
			return -1;
		}
		if (c->head) {
			lws_callback_on_writable(wsi);
		}
		break;
	case LWS_CALLBACK_CLOSED:
		peer_conn_finish(c);
		break;
	default:
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	return peer_main(argc, argv, "echo", callback, sizeof(struct peer_conn));
}
