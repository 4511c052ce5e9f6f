// SPDX-License-Identifier: MIT
/*
 * A handler built the way users build theirs (a shared module against fngate.h and
 * libfngate), loaded by tests/unit/sdk/abi.c with dlopen as a worker would.
 */
#include <fngate.h>

static int inits;

static int hello(struct fng_ctx *ctx)
{
	const char *name = fng_event_path_param(ctx, "name");

	fng_response_header(ctx, "x-inits", inits == 1 ? "1" : "not 1");
	return fng_response_json(ctx, 200, "{\"hello\":\"%s\"}",
		fng_json_str(ctx, name ? name : "world"));
}

static int init(void)
{
	inits++;
	return 0;
}

FNG_HANDLER_EX(hello, init, NULL)
