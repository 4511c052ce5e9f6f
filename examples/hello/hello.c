// SPDX-License-Identifier: MIT
/*
 * hello: the smallest useful handler. GET /hello/{name} answers a JSON greeting, using the
 * stage variable `greeting` when the stage has one. Behind an authorizer (GET /authz/hello in
 * examples/fngate.yaml) it greets the principal the authorizer allowed, and says who it is.
 *
 *     cc -shared -fPIC -o hello.so hello.c $(pkg-config --cflags --libs fngate)
 */
#include <fngate.h>

static int hello(struct fng_ctx *ctx)
{
	const char *principal = fng_event_authorizer(ctx, "principalId");
	const char *name = fng_event_path_param(ctx, "name");
	const char *greeting = fng_event_stage_var(ctx, "greeting");

	if (!name) {
		name = principal ? principal : "world";
	}
	fng_response_json(ctx, 200, "{\"message\":\"%s, %s\",\"stage\":\"%s\"",
		fng_json_str(ctx, greeting ? greeting : "hello"), fng_json_str(ctx, name),
		fng_json_str(ctx, fng_event_stage(ctx)));
	if (principal) {
		fng_response_printf(ctx, ",\"principalId\":\"%s\"", fng_json_str(ctx, principal));
	}
	return fng_response_printf(ctx, "}\n");
}

FNG_HANDLER(hello)
