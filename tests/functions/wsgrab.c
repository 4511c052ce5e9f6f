// SPDX-License-Identifier: MIT
/*
 * For the permission tests (tests/integration/test_permissions.py): a WebSocket handler that
 * reaches for connections and topics, its own or not, and answers what the SDK returned as
 * {"rc":N}. Messages: "send:ID" (fng_ws_send "grabbed"), "close:ID" (fng_ws_close 4001),
 * "sub:ID:TOPIC" and "unsub:ID:TOPIC" ((un)subscribe connection ID), "pub:TOPIC" (publish
 * "grabbed"), "flood:ID:N" (N sends: answers how many returned -1), "whoami" (its connection
 * id). A handshake with sub=TOPIC subscribes itself in $connect and logs
 * "connect sub TOPIC rc N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fngate.h"

/* Splits "A:B" at the first ':' (in place); B, or NULL without one. */
static char *split(char *s)
{
	char *colon = strchr(s, ':');

	if (!colon) {
		return NULL;
	}
	*colon = '\0';
	return colon + 1;
}

static int wsgrab(struct fng_ctx *ctx)
{
	const char *type = fng_event_type(ctx), *me = fng_event_connection_id(ctx);
	size_t len;
	const char *body = fng_event_body(ctx, &len);
	char cmd[256], *arg, *rest;
	int rc = -2;

	if (strcmp(type, "CONNECT") == 0) {
		const char *sub = fng_event_query(ctx, "sub");

		if (sub) {
			fng_log(ctx, FNG_LOG_INFO, "connect sub %s rc %d", sub,
				fng_ws_subscribe(ctx, me, sub));
		}
		return 0;
	}
	if (strcmp(type, "MESSAGE") != 0 || len >= sizeof(cmd)) {
		return 0;
	}
	memcpy(cmd, body, len);
	cmd[len] = '\0';
	if (strcmp(cmd, "whoami") == 0) {
		return fng_response_printf(ctx, "{\"connectionId\":\"%s\"}", me);
	}
	arg = split(cmd);
	if (!arg) {
		return fng_response_write(ctx, "?", 1);
	}
	if (strcmp(cmd, "send") == 0) {
		rc = fng_ws_send(ctx, arg, "grabbed", 7, 0);
	} else if (strcmp(cmd, "close") == 0) {
		rc = fng_ws_close(ctx, arg, 4001, "grabbed");
	} else if (strcmp(cmd, "pub") == 0) {
		rc = fng_ws_publish(ctx, arg, "\"grabbed\"", 9);
	} else if ((rest = split(arg)) != NULL && strcmp(cmd, "sub") == 0) {
		rc = fng_ws_subscribe(ctx, arg, rest);
	} else if (rest && strcmp(cmd, "unsub") == 0) {
		rc = fng_ws_unsubscribe(ctx, arg, rest);
	} else if (rest && strcmp(cmd, "flood") == 0) {
		int n = atoi(rest);

		rc = 0;
		for (int i = 0; i < n; i++) {
			rc += fng_ws_send(ctx, arg, "flood", 5, 0) == -1;
		}
	}
	return fng_response_printf(ctx, "{\"rc\":%d}", rc);
}
FNG_HANDLER(wsgrab)
