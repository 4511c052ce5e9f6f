// SPDX-License-Identifier: MIT
/*
 * hello: the smallest useful handler. GET /hello/{name} answers a JSON greeting, using the
 * stage variable `greeting` when the stage has one.
 *
 *     cc -shared -fPIC -o hello.so hello.c $(pkg-config --cflags --libs fngate)
 */
#include <fngate.h>

static int hello(struct fng_ctx *ctx)
{
	const char *name = fng_event_path_param(ctx, "name");
	const char *greeting = fng_event_stage_var(ctx, "greeting");

	return fng_response_json(ctx, 200, "{\"message\":\"%s, %s\",\"stage\":\"%s\"}\n",
		fng_json_str(ctx, greeting ? greeting : "hello"),
		fng_json_str(ctx, name ? name : "world"), fng_json_str(ctx, fng_event_stage(ctx)));
}

FNG_HANDLER(hello)
