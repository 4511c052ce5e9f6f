// SPDX-License-Identifier: MIT
/*
 * chat: the backend of a multi-room chat (examples/chat/public/index.html is its page). A
 * client connects to ws://HOST/chat/ws?nick=NICK&room=ROOM; $connect checks both names and
 * subscribes the connection to the topic room.ROOM, whose messages the gateway delivers to
 * every member as {"topic":"room.ROOM","seq":N,"data":...}. The handler keeps no state: the
 * nick and room come from the handshake's query string, which MESSAGE and DISCONNECT events
 * carry too. Routes: $connect, say ({"action":"say","text":"..."}), $disconnect, $default.
 *
 *     cc -shared -fPIC -o chat.so chat.c $(pkg-config --cflags --libs fngate jansson)
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <fngate.h>
#include <jansson.h>

#define NICK_MAX 24
#define ROOM_MAX 32
#define TEXT_MAX 1000
#define TOPIC_PREFIX "room."

/* jansson seeds its hash tables from /dev/urandom on first use: do it before the sandbox. */
static int init(void)
{
	json_object_seed(0);
	return 0;
}

/* 1..max characters of [A-Za-z0-9_-]: safe in a topic name, a URL and a page. */
static bool valid_name(const char *s, size_t max)
{
	size_t n = 0;

	if (!s) {
		return false;
	}
	for (; s[n]; n++) {
		char c = s[n];

		if (n >= max || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				(c >= '0' && c <= '9') || c == '_' || c == '-')) {
			return false;
		}
	}
	return n > 0;
}

/* Publishes {"type":TYPE,"nick":NICK[,"text":TEXT]} to the room's topic. */
static int publish(struct fng_ctx *ctx, const char *room, const char *type, const char *nick,
		const char *text)
{
	char topic[sizeof(TOPIC_PREFIX) + ROOM_MAX];
	json_t *msg;
	char *out;
	int rc;

	msg = json_pack("{s:s, s:s}", "type", type, "nick", nick);
	if (!msg || (text && json_object_set_new(msg, "text", json_string(text)) != 0)) {
		json_decref(msg);
		return -1;
	}
	out = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!out) {
		return -1;
	}
	strcpy(topic, TOPIC_PREFIX);
	strcat(topic, room);
	rc = fng_ws_publish(ctx, topic, out, strlen(out));
	free(out);
	if (rc != 0) {
		fng_log(ctx, FNG_LOG_WARN, "publishing to %s failed", topic);
	}
	return rc;
}

/* An answer to the sender only. */
static int answer_error(struct fng_ctx *ctx, const char *why)
{
	return fng_response_printf(ctx, "{\"type\":\"error\",\"message\":\"%s\"}",
		fng_json_str(ctx, why));
}

static int on_connect(struct fng_ctx *ctx, const char *nick, const char *room)
{
	char topic[sizeof(TOPIC_PREFIX) + ROOM_MAX];

	if (!valid_name(nick, NICK_MAX)) {
		return fng_response_json(ctx, 400, "{\"message\":\"nick must be 1-%d characters "
			"of A-Z a-z 0-9 _ -\"}", NICK_MAX);
	}
	if (!valid_name(room, ROOM_MAX)) {
		return fng_response_json(ctx, 400, "{\"message\":\"room must be 1-%d characters "
			"of A-Z a-z 0-9 _ -\"}", ROOM_MAX);
	}
	strcpy(topic, TOPIC_PREFIX);
	strcat(topic, room);
	/* Subscribe first: the member sees its own join, and a resume replays before it. */
	if (fng_ws_subscribe(ctx, fng_event_connection_id(ctx), topic) != 0) {
		return fng_response_json(ctx, 500, "{\"message\":\"cannot join the room\"}");
	}
	publish(ctx, room, "join", nick, NULL);
	return 0;
}

static int on_say(struct fng_ctx *ctx, const char *nick, const char *room)
{
	size_t len;
	const char *body = fng_event_body(ctx, &len);
	json_error_t jerr;
	json_t *doc, *text;
	int rc;

	doc = json_loadb(body, len, 0, &jerr);
	if (!doc) {
		return answer_error(ctx, "the message is not JSON");
	}
	text = json_object_get(doc, "text");
	if (!json_is_string(text) || json_string_length(text) == 0) {
		rc = answer_error(ctx, "\"text\" must be a non-empty string");
	} else if (json_string_length(text) > TEXT_MAX) {
		rc = answer_error(ctx, "text is longer than 1000 bytes");
	} else if (publish(ctx, room, "say", nick, json_string_value(text)) != 0) {
		rc = answer_error(ctx, "the message could not be sent");
	} else {
		rc = 0; /* the sender sees its message come back on the topic */
	}
	json_decref(doc);
	return rc;
}

static int chat(struct fng_ctx *ctx)
{
	const char *type = fng_event_type(ctx);
	const char *nick = fng_event_query(ctx, "nick"), *room = fng_event_query(ctx, "room");

	if (strcmp(type, "CONNECT") == 0) {
		return on_connect(ctx, nick, room);
	}
	if (!type[0]) {
		return fng_response_json(ctx, 400, "{\"message\":\"chat is a WebSocket API: "
			"connect to /chat/ws?nick=NICK&room=ROOM\"}");
	}
	/* Refused at $connect otherwise; checked again since every copy goes into a topic name. */
	if (!valid_name(nick, NICK_MAX) || !valid_name(room, ROOM_MAX)) {
		return 0;
	}
	if (strcmp(type, "DISCONNECT") == 0) {
		publish(ctx, room, "leave", nick, NULL);
		return 0;
	}
	if (strcmp(fng_event_route_key(ctx), "say") == 0) {
		return on_say(ctx, nick, room);
	}
	return fng_response_printf(ctx, "{\"message\":\"unknown action\"}");
}

FNG_HANDLER_EX(chat, init, NULL)
