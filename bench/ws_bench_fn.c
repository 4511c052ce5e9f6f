// SPDX-License-Identifier: MIT
/*
 * ws_bench_fn: the fngate side of bench/ws.sh, a bench-only handler for the $default route of
 * a WebSocket API (never deployed by `make demo`). It speaks the benchmark's protocol, the one
 * the peers (bench/ws_peer_node.js, bench/ws_peer_lws.c) speak:
 *
 *   {"action":"subscribe","topic":T}   fng_ws_subscribe() of this connection, answers
 *                                      {"subscribed":T}
 *   {"action":"publish","topic":T,"data":D}
 *                                      fng_ws_publish(T, D): the gateway sends every
 *                                      subscriber {"topic":T,"seq":N,"data":D}
 *   anything else                      echoed back
 *
 * Every message is one invocation in a sandboxed worker; the topic's fan-out happens in the
 * gateway. The parse is ws_json.h's, the one the libwebsockets peer uses.
 *
 *     cc -shared -fPIC -O2 -o wsbench.so bench/ws_bench_fn.c $(pkg-config --cflags --libs fngate)
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <string.h>

#include <fngate.h>

#include "ws_json.h"

#define TOPIC_MAX 128

/* The contents of string member name into out (NUL-terminated, at most max bytes). */
static bool json_str_copy(const char *in, size_t len, const char *name, char *out, size_t max)
{
	const char *v;
	size_t n;

	if (!json_str(in, len, name, &v, &n) || n > max) {
		return false;
	}
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

static int ws_bench(struct fng_ctx *ctx)
{
	char action[16], topic[TOPIC_MAX + 1];
	const char *body, *data;
	size_t len, dn;

	body = fng_event_body(ctx, &len);
	if (!body) {
		return 0;
	}
	if (json_str_copy(body, len, "action", action, sizeof(action) - 1) &&
		json_str_copy(body, len, "topic", topic, TOPIC_MAX)) {
		if (!strcmp(action, "subscribe")) {
			if (fng_ws_subscribe(ctx, fng_event_connection_id(ctx), topic)) {
				return -1;
			}
			if (fng_response_printf(ctx, "{\"subscribed\":\"%s\"}", topic) < 0) {
				return -1;
			}
			return 0;
		}
		if (!strcmp(action, "publish") && json_raw(body, len, "data", &data, &dn)) {
			/* A string with its quotes is JSON: the gateway embeds it as it is. */
			return fng_ws_publish(ctx, topic, data, dn) ? -1 : 0;
		}
	}
	return fng_response_write(ctx, body, len) ? -1 : 0;
}
FNG_HANDLER(ws_bench)
