// SPDX-License-Identifier: MIT
/*
 * authorizer: a function authorizer (docs/sdk.md, "Writing an authorizer") for the demo. It
 * allows a caller whose token is "allow-NAME" and denies everyone else:
 *
 *   - a TOKEN authorizer's identity is the Authorization header: "Bearer allow-ada" is
 *     allowed as principal "ada" (GET /dev/authz/hello in examples/fngate.yaml);
 *   - a REQUEST authorizer's first identity source is the token itself: the chat page's
 *     ?token=allow-NAME on its WebSocket handshake ($connect of examples/chat).
 *
 * What it attaches — the principal, and a context of a string, a number and a boolean — is
 * what the protected handler reads with fng_event_authorizer(). A real authorizer would check
 * a signature or ask an identity service here; fngate caches its answer per token (ttl_s).
 *
 *     cc -shared -fPIC -o authorizer.so authorizer.c $(pkg-config --cflags --libs fngate)
 */
#include <string.h>

#include <fngate.h>

static int authorizer(struct fng_ctx *ctx)
{
	const char *token;

	if (strcmp(fng_event_authorizer_type(ctx), "TOKEN") == 0) {
		token = fng_event_authorization_token(ctx);
		if (strncmp(token, "Bearer ", 7) != 0) {
			return fng_authorizer_deny(ctx, "");
		}
		token += 7;
	} else {
		token = fng_event_identity_source(ctx, 0);
	}
	if (!token || strncmp(token, "allow-", 6) != 0 || !token[6]) {
		return fng_authorizer_deny(ctx, "");
	}
	if (fng_authorizer_context_str(ctx, "user", token + 6) ||
		fng_authorizer_context_num(ctx, "level", 3) ||
		fng_authorizer_context_bool(ctx, "demo", 1)) {
		return -1; /* a name over 1024 bytes: the request gets 500 */
	}
	return fng_authorizer_allow(ctx, token + 6);
}

FNG_HANDLER(authorizer)
