// SPDX-License-Identifier: MIT
/*
 * A WebSocket API's keys: `route_selection` (compiled into the JSON members ws_conn.c reads
 * to pick a route), `websocket` (limits, keepalive, rates, the connect throttle, slow
 * consumers, message order, subprotocols; API Gateway's defaults), which route keys a
 * WebSocket API may have, and the `topics` section (every topic of a loop together:
 * topic.c).
 */
#include <stddef.h>
#include <string.h>

#include "chars.h"
#include "client_throttle.h"
#include "conf.h"
#include "topic.h"
#include "ws_conf.h"

bool fng__ws_route_key_ok(const char *k)
{
	if (k[0] == '$') {
		return strcmp(k, "$connect") == 0 || strcmp(k, "$disconnect") == 0 ||
		       strcmp(k, "$default") == 0;
	}
	return strlen(k) <= 128 && fng__is_token(k, strlen(k));
}

/* "$request.body.a.b": JSON members a, then b, of a text message. */
static int parse_route_selection(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	static const char prefix[] = "$request.body.";
	struct fng_api *api = obj;
	const char *s = v ? fng__conf_str(L, v, "route_selection") : "$request.body.action";
	char *copy, *save = NULL;

	if (!s) {
		return -1;
	}
	api->route_selection = s;
	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0 || !s[sizeof(prefix) - 1]) {
		fng__conf_err(L, v, "route_selection must be $request.body.NAME[.NAME...]");
		return -1;
	}
	copy = fng__arena_strndup(L->cfg->arena, s + sizeof(prefix) - 1,
		strlen(s) - (sizeof(prefix) - 1));
	for (char *m = strtok_r(copy, ".", &save); m; m = strtok_r(NULL, ".", &save)) {
		if (api->nselection == FNG_WS_SELECTION_DEPTH) {
			fng__conf_err(L, v, "route_selection is more than %d members deep",
				FNG_WS_SELECTION_DEPTH);
			return -1;
		}
		api->selection[api->nselection++] = m;
	}
	if (!api->nselection || s[strlen(s) - 1] == '.' || strstr(s, "..")) {
		fng__conf_err(L, v, "route_selection must be $request.body.NAME[.NAME...]");
		return -1;
	}
	return 0;
}

static int parse_subprotocols(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_ws_cfg *ws = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "subprotocols")) {
		return -1;
	}
	ws->subprotocols = fng__arena_zalloc(L->cfg->arena, (v->n + 1) * sizeof(char *));
	for (unsigned i = 0; i < v->n; i++) {
		const char *p = fng__conf_str(L, v->kids[i], "subprotocol");

		if (!p || !fng__is_token(p, strlen(p))) {
			fng__conf_err(L, v->kids[i],
				"a subprotocol is a token (RFC 6455 section 4.1)");
			continue;
		}
		ws->subprotocols[ws->nsubprotocols++] = p;
	}
	return 0;
}

/*
 * A key with two spellings: *yes is whether it says yes (no, the first, is the default; the
 * error names both).
 */
static int parse_either(struct fng_conf *L, const struct fng_conf_node *v, const char *key,
	const char *no, const char *yes, bool *out)
{
	const char *s = v ? fng__conf_str(L, v, key) : no;

	if (!s) {
		return -1;
	}
	if (strcmp(s, no) != 0 && strcmp(s, yes) != 0) {
		fng__conf_err(L, v, "%s: expected \"%s\" or \"%s\"", key, no, yes);
		return -1;
	}
	*out = strcmp(s, yes) == 0;
	return 0;
}

/* slow_consumer: "close" (the default) or "drop_oldest" (docs/config.md). */
static int parse_slow_consumer(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_ws_cfg *ws = obj;

	return parse_either(L, v, "slow_consumer", "close", "drop_oldest", &ws->drop_oldest);
}

/*
 * message_order: "connection" (the default) invokes one connection's messages one after
 * another, as they arrived; "parallel" lets up to 64 of them run at once, in any order.
 */
static int parse_message_order(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_ws_cfg *ws = obj;

	return parse_either(L, v, "message_order", "connection", "parallel", &ws->parallel);
}

/*
 * connect_throttle: opening handshakes per client, a per-client throttle's keys; the stage
 * "throttle" takes its bucket, so that it is decided after the authorizer (an identity of
 * principal or claim:NAME) and before $connect runs.
 */
static int parse_connect_throttle(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_ws_cfg *ws = obj;

	ws->connect_throttle = NULL;
	if (!v) {
		return 0;
	}
	ws->connect_throttle = fng__client_throttle_parse(L, v, "connect_throttle");
	if (ws->connect_throttle && ws->connect_throttle->identity == FNG_THROTTLE_API_KEY) {
		/* An API key is only ever accepted on an HTTP API's key-required route. */
		fng__conf_err(L, fng__conf_lookup(v, "identity"), "connect_throttle.identity "
			"api_key: a WebSocket handshake carries no accepted API key (use source_ip, "
			"principal or claim:NAME)");
		return -1;
	}
	return ws->connect_throttle ? 0 : -1;
}

#define WOFF(member) offsetof(struct fng_ws_cfg, member)

/* API Gateway's limits: 128 KB messages, 32 KB frames, 10 min idle, 2 h connections. */
static const struct fng_conf_key ws_keys[] = {
	{ "message_bytes", FNG_CONF_U32, WOFF(message_bytes), 131072, 1, 16u << 20 },
	{ "frame_bytes", FNG_CONF_U32, WOFF(frame_bytes), 32768, 1, 16u << 20 },
	{ "idle_ms", FNG_CONF_U32, WOFF(idle_ms), 600000, 100, 86400000 },
	{ "max_duration_ms", FNG_CONF_U32, WOFF(max_duration_ms), 7200000, 100, 604800000 },
	{ "ping_ms", FNG_CONF_U32, WOFF(ping_ms), 30000, 0, 86400000 },
	{ "pong_ms", FNG_CONF_U32, WOFF(pong_ms), 10000, 10, 3600000 },
	{ "send_queue_bytes", FNG_CONF_U32, WOFF(send_queue_bytes), 1u << 20, 1024, 1u << 30 },
	{ "message_rate", FNG_CONF_U32, WOFF(message_rate), 0, 0, 1000000 },
	{ "message_burst", FNG_CONF_U32, WOFF(message_burst), 0, 0, 1000000 },
	{ "connect_throttle", FNG_CONF_FN, 0, .fn = parse_connect_throttle },
	{ "slow_consumer", FNG_CONF_FN, 0, .fn = parse_slow_consumer },
	{ "message_order", FNG_CONF_FN, 0, .fn = parse_message_order },
	{ "subprotocols", FNG_CONF_FN, 0, .fn = parse_subprotocols },
	{ NULL },
};

int fng__ws_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_api *api = obj;

	if (v && api->protocol != FNG_API_WEBSOCKET) {
		fng__conf_err(L, v, "\"websocket\" applies to APIs with protocol: websocket");
		return -1;
	}
	return fng__conf_apply(L, v, ws_keys, &api->ws, "websocket");
}

int fng__ws_selection_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_api *api = obj;

	if (v && api->protocol != FNG_API_WEBSOCKET) {
		fng__conf_err(L, v, "\"route_selection\" applies to APIs with protocol: websocket");
		return -1;
	}
	return api->protocol == FNG_API_WEBSOCKET ? parse_route_selection(L, v, obj) : 0;
}


#define TOFF(member) offsetof(struct fng_config, topics.member)

/* docs/config.md ("Topic memory") gives the reasons for the defaults. */
static const struct fng_conf_key topics_keys[] = {
	{ "history_bytes", FNG_CONF_U64, TOFF(history_bytes), FNG_TOPIC_BUDGET, 0,
		(uint64_t)1 << 40 },
	{ "max", FNG_CONF_U32, TOFF(max), FNG_TOPIC_MAX, 1, 1u << 24 },
	{ NULL },
};

static int parse_topics(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__conf_apply(L, v, topics_keys, obj, "topics");
}

const struct fng_conf_module fng__topics_conf = { "topics", parse_topics };
