// SPDX-License-Identifier: MIT
/*
 * The handler behind a JWT authorizer in test_jwt.py: answers with what the authorizer
 * attached (the principal, claims.NAME values, the scopes) as JSON, and logs "handler" for
 * every invocation, so that a test can count them (none for a refused token).
 */
#include <stdio.h>

#include "fngate.h"

static const char *quoted(struct fng_ctx *ctx, const char *key, char *buf, size_t n)
{
	const char *v = fng_event_authorizer(ctx, key);

	if (!v) {
		return "null";
	}
	snprintf(buf, n, "\"%s\"", fng_json_str(ctx, v));
	return buf;
}

static int jwt_echo(struct fng_ctx *ctx)
{
	char p[300], s[300], n[64], o[300], sc[300];

	fng_log(ctx, FNG_LOG_INFO, "handler");
	return fng_response_json(ctx, 200,
		"{\"principalId\":%s,\"sub\":%s,\"n\":%s,\"o\":%s,\"scopes\":%s}",
		quoted(ctx, "principalId", p, sizeof(p)), quoted(ctx, "claims.sub", s, sizeof(s)),
		quoted(ctx, "claims.n", n, sizeof(n)), quoted(ctx, "claims.o", o, sizeof(o)),
		quoted(ctx, "scopes", sc, sizeof(sc)));
}
FNG_HANDLER(jwt_echo)
