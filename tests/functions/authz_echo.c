// SPDX-License-Identifier: MIT
/*
 * The handler behind an authorizer in test_authorizers.py: answers (HTTP, and WebSocket
 * MESSAGE events) with what the authorizer attached, as JSON; logs "handler TYPE" for every
 * invocation (so that a test can tell it never ran) and, on DISCONNECT, "disconnect
 * PRINCIPAL USER".
 */
#include <stdio.h>
#include <string.h>

#include "fngate.h"

static const char *or_null(struct fng_ctx *ctx, const char *key, char *buf, size_t n)
{
	const char *v = fng_event_authorizer(ctx, key);

	if (!v) {
		return "null";
	}
	snprintf(buf, n, "\"%s\"", fng_json_str(ctx, v));
	return buf;
}

static int authz_echo(struct fng_ctx *ctx)
{
	const char *type = fng_event_type(ctx);
	char p[600], u[600], n[64], b[64], a[64], f[64], s[64];

	fng_log(ctx, FNG_LOG_INFO, "handler %s", *type ? type : "HTTP");
	if (strcmp(type, "CONNECT") == 0) {
		return 0;
	}
	if (strcmp(type, "DISCONNECT") == 0) {
		const char *pr = fng_event_authorizer(ctx, "principalId");
		const char *us = fng_event_authorizer(ctx, "user");

		fng_log(ctx, FNG_LOG_INFO, "disconnect %s %s", pr ? pr : "-", us ? us : "-");
		return 0;
	}
	return fng_response_json(ctx, 200,
		"{\"principalId\":%s,\"user\":%s,\"n\":%s,\"big\":%s,\"admin\":%s,\"flag\":%s,"
		"\"sources\":%s}",
		or_null(ctx, "principalId", p, sizeof(p)), or_null(ctx, "user", u, sizeof(u)),
		or_null(ctx, "n", n, sizeof(n)), or_null(ctx, "big", b, sizeof(b)),
		or_null(ctx, "admin", a, sizeof(a)), or_null(ctx, "flag", f, sizeof(f)),
		or_null(ctx, "sources", s, sizeof(s)));
}
FNG_HANDLER(authz_echo)
