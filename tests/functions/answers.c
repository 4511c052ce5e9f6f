// SPDX-License-Identifier: MIT
/*
 * A handler that answers what HTTP cannot carry, the way a worker that bypassed the SDK
 * could: ?status=N puts N in the response as it is (100, 101, 600, 0, -1...), ?header=NAME
 * adds the header NAME: v (Connection, Content-Length, Proxy-...) next to x-kept: 1. The SDK
 * refuses both (fng_response_status, fng_response_header), so this writes the context
 * directly (sdk_internal.h); the gateway must answer 502 for the status, drop the header and
 * log each. The body says which request it answers ("answer PATH"), so a test can tell
 * whose answer a pipelined response is.
 */
#include <stdlib.h>
#include <string.h>

#include "sdk_internal.h"

static int answers(struct fng_ctx *ctx)
{
	const char *status = fng_event_query(ctx, "status");
	const char *header = fng_event_query(ctx, "header");

	if (status) {
		ctx->status = atoi(status);
	}
	if (header && fng_response_header(ctx, "x-placeholder", "v") == 0) {
		/* The name's bytes live in the handler's query string until the RESULT is sent. */
		ctx->headers[ctx->nheaders - 1].k = (struct fng_wire_str){ header, strlen(header) };
	}
	fng_response_header(ctx, "x-kept", "1");
	return fng_response_printf(ctx, "answer %s", fng_event_raw_path(ctx));
}
FNG_HANDLER(answers)
