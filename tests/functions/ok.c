// SPDX-License-Identifier: MIT
/* The handler that behaves: 200 "ok", and the manifest env it sees when asked. */
#include <string.h>

#include "fngate.h"

static int ok(struct fng_ctx *ctx)
{
	const char *v = fng_env(ctx, "FNG_TEST_ECHO");

	fng_response_status(ctx, 200);
	if (v) {
		return fng_response_write(ctx, v, strlen(v));
	}
	return fng_response_write(ctx, "ok", 2);
}
FNG_HANDLER(ok)
