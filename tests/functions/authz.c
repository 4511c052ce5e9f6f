// SPDX-License-Identifier: MIT
/*
 * A function authorizer for the authorizer tests (test_authorizers.py), every invocation
 * logged as "authorize TYPE IDENTITY" so that a test can count them. TOKEN: "Bearer allow-NAME"
 * allows principal NAME with a context of each JSON type (user NAME, n 42.5, big 1e300, admin
 * true, flag false) and the usage key "key-NAME"; "Bearer deny-NAME" denies; "Bearer crash"
 * aborts the worker; "Bearer sleep" sleeps past any timeout; "Bearer slow-NAME" allows NAME
 * after 400 ms; "Bearer inval-NAME" allows NAME with the response cache's invalidateCache
 * permission; "Bearer garbage" answers a body
 * and no decision; "Bearer fail" returns -1. REQUEST: the identity values joined with "|" are
 * the principal, allowed unless the first one starts with "deny" ("crash|c" aborts); the
 * context says how many sources there were and the event's route ARN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fngate.h"

static int token(struct fng_ctx *ctx, const char *tok)
{
	if (strncmp(tok, "Bearer slow-", 12) == 0) {
		struct timespec ts = { 0, 400 * 1000000L };

		nanosleep(&ts, NULL);
		return fng_authorizer_allow(ctx, tok + 12);
	}
	if (strncmp(tok, "Bearer allow-", 13) == 0) {
		char key[128];

		snprintf(key, sizeof(key), "key-%s", tok + 13);
		if (fng_authorizer_context_str(ctx, "user", tok + 13) ||
			fng_authorizer_context_num(ctx, "n", 42.5) ||
			fng_authorizer_context_num(ctx, "big", 1e300) ||
			fng_authorizer_context_bool(ctx, "admin", 1) ||
			fng_authorizer_context_bool(ctx, "flag", 0) ||
			fng_authorizer_usage_key(ctx, key)) {
			return -1;
		}
		return fng_authorizer_allow(ctx, tok + 13);
	}
	if (strncmp(tok, "Bearer inval-", 13) == 0) {
		/* The response cache's invalidate permission (test_cache.py). */
		if (fng_authorizer_context_bool(ctx, "invalidateCache", 1)) {
			return -1;
		}
		return fng_authorizer_allow(ctx, tok + 13);
	}
	if (strncmp(tok, "Bearer deny-", 12) == 0) {
		return fng_authorizer_deny(ctx, tok + 12);
	}
	if (strcmp(tok, "Bearer crash") == 0) {
		abort();
	}
	if (strcmp(tok, "Bearer sleep") == 0) {
		struct timespec ts = { 30, 0 };

		nanosleep(&ts, NULL);
	}
	if (strcmp(tok, "Bearer garbage") == 0) {
		return fng_response_json(ctx, 200, "{\"policyDocument\":\"yes please\"}");
	}
	if (strcmp(tok, "Bearer fail") == 0) {
		return -1;
	}
	return fng_authorizer_deny(ctx, "");
}

static int request(struct fng_ctx *ctx)
{
	char principal[512] = "";
	size_t n = 0, i;
	const char *v;

	for (i = 0; (v = fng_event_identity_source(ctx, i)) != NULL; i++) {
		n += (size_t)snprintf(principal + n, n < sizeof(principal) ? sizeof(principal) - n : 0,
			"%s%s", i ? "|" : "", v);
		if (n >= sizeof(principal)) {
			return -1;
		}
	}
	if (fng_authorizer_context_num(ctx, "sources", (double)i) ||
		fng_authorizer_context_str(ctx, "arn", fng_event_route_arn(ctx))) {
		return -1;
	}
	if (strcmp(principal, "crash|c") == 0) {
		abort();
	}
	if (strncmp(principal, "deny", 4) == 0) {
		return fng_authorizer_deny(ctx, principal);
	}
	return fng_authorizer_allow(ctx, principal);
}

static int authz(struct fng_ctx *ctx)
{
	const char *type = fng_event_authorizer_type(ctx);

	if (strcmp(fng_event_type(ctx), "AUTHORIZER") != 0) {
		return fng_response_json(ctx, 500, "{\"error\":\"not an authorizer event\"}");
	}
	if (strcmp(type, "TOKEN") == 0) {
		const char *tok = fng_event_authorization_token(ctx);

		fng_log(ctx, FNG_LOG_INFO, "authorize TOKEN %s", tok);
		return token(ctx, tok);
	}
	fng_log(ctx, FNG_LOG_INFO, "authorize REQUEST %s",
		fng_event_identity_source(ctx, 0) ? fng_event_identity_source(ctx, 0) : "");
	return request(ctx);
}
FNG_HANDLER(authz)
