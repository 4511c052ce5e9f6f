// SPDX-License-Identifier: MIT
/*
 * For the WebSocket tests: on CONNECT, refuses with 403 when the handshake's query has
 * deny=1 and logs "connect ID"; on DISCONNECT logs "disconnect ID"; on MESSAGE answers
 * "whoami" with its event fields as JSON, "silent" with nothing, "to:ID:TEXT" by pushing TEXT
 * to connection ID (fng_ws_send) and answering "sent", "kick:ID" by closing connection ID
 * with 4000 "kicked", "sub:TOPIC" / "unsub:TOPIC" by (un)subscribing itself and answering
 * "subscribed" / "unsubscribed", "pub:TOPIC:DATA" by publishing DATA (answer "published"),
 * "crash" by aborting the worker, and echoes anything else. A handshake with sub=TOPIC subscribes in $connect, one with
 * pub=TOPIC publishes "hello from ID" there; on SCHEDULE it publishes "tick" to topic
 * "ticks"; a DISCONNECT of a connection whose handshake had pub=TOPIC publishes "bye ID".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fngate.h"

static int wsecho(struct fng_ctx *ctx)
{
	const char *type = fng_event_type(ctx), *id = fng_event_connection_id(ctx);
	const char *deny = fng_event_query(ctx, "deny");
	size_t len;
	const char *body = fng_event_body(ctx, &len);

	const char *sub = fng_event_query(ctx, "sub"), *pub = fng_event_query(ctx, "pub");
	char text[160];

	if (strcmp(type, "SCHEDULE") == 0) {
		fng_log(ctx, FNG_LOG_INFO, "schedule %s", fng_event_route_key(ctx));
		return fng_ws_publish(ctx, "ticks", "tick", 4);
	}
	if (strcmp(type, "CONNECT") == 0) {
		fng_log(ctx, FNG_LOG_INFO, "connect %s", id);
		if (deny && strcmp(deny, "1") == 0) {
			fng_response_status(ctx, 403);
			return fng_response_write(ctx, "denied", 6);
		}
		if (sub) {
			fng_ws_subscribe(ctx, id, sub);
		}
		if (pub) {
			snprintf(text, sizeof(text), "hello from %s", id);
			fng_ws_publish(ctx, pub, text, strlen(text));
		}
		return 0;
	}
	if (strcmp(type, "DISCONNECT") == 0) {
		fng_log(ctx, FNG_LOG_INFO, "disconnect %s", id);
		if (pub) {
			snprintf(text, sizeof(text), "bye %s", id);
			fng_ws_publish(ctx, pub, text, strlen(text));
		}
		return 0;
	}
	if (len > 4 && len < 150 && memcmp(body, "sub:", 4) == 0) {
		snprintf(text, sizeof(text), "%.*s", (int)(len - 4), body + 4);
		if (fng_ws_subscribe(ctx, id, text) != 0) {
			return fng_response_write(ctx, "refused", 7);
		}
		return fng_response_write(ctx, "subscribed", 10);
	}
	if (len > 6 && len < 150 && memcmp(body, "unsub:", 6) == 0) {
		snprintf(text, sizeof(text), "%.*s", (int)(len - 6), body + 6);
		fng_ws_unsubscribe(ctx, id, text);
		return fng_response_write(ctx, "unsubscribed", 12);
	}
	if (len > 4 && memcmp(body, "pub:", 4) == 0 && memchr(body + 4, ':', len - 4)) {
		const char *colon = memchr(body + 4, ':', len - 4);

		snprintf(text, sizeof(text), "%.*s", (int)(colon - body - 4), body + 4);
		if (fng_ws_publish(ctx, text, colon + 1, len - (size_t)(colon + 1 - body)) != 0) {
			return fng_response_write(ctx, "refused", 7);
		}
		return fng_response_write(ctx, "published", 9);
	}
	if (len == 6 && memcmp(body, "whoami", 6) == 0) {
		return fng_response_printf(ctx, "{\"connectionId\":\"%s\",\"eventType\":\"%s\","
			"\"messageId\":\"%s\",\"routeKey\":\"%s\"}", id, type,
			fng_event_message_id(ctx), fng_event_route_key(ctx));
	}
	if (len == 5 && memcmp(body, "crash", 5) == 0) {
		abort();
	}
	if (len == 6 && memcmp(body, "silent", 6) == 0) {
		return 0;
	}
	if (len > 3 && memcmp(body, "to:", 3) == 0 && memchr(body + 3, ':', len - 3)) {
		const char *colon = memchr(body + 3, ':', len - 3);
		char target[65] = "";

		if ((size_t)(colon - body - 3) < sizeof(target)) {
			memcpy(target, body + 3, (size_t)(colon - body - 3));
		}
		if (fng_ws_send(ctx, target, colon + 1, len - (size_t)(colon + 1 - body), 0) != 0) {
			return fng_response_write(ctx, "refused", 7);
		}
		return fng_response_write(ctx, "sent", 4);
	}
	if (len > 5 && len < 70 && memcmp(body, "kick:", 5) == 0) {
		char target[65] = "";

		memcpy(target, body + 5, len - 5);
		fng_ws_close(ctx, target, 4000, "kicked");
		return fng_response_write(ctx, "kicked", 6);
	}
	return fng_response_write(ctx, body, len);
}
FNG_HANDLER(wsecho)
