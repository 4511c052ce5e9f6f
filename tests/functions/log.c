// SPDX-License-Identifier: MIT
/* Logs one line per level through fng_log, then answers 200 "logged". */
#include "fngate.h"

static int log_handler(struct fng_ctx *ctx)
{
	fng_log(ctx, FNG_LOG_DEBUG, "debug line %d", 1);
	fng_log(ctx, FNG_LOG_INFO, "info line for %s", fng_event_request_id(ctx));
	fng_log(ctx, FNG_LOG_WARN, "warn line with \"quotes\" and a\nnewline");
	fng_log(ctx, FNG_LOG_ERROR, "error line");
	return fng_response_write(ctx, "logged", 6);
}
FNG_HANDLER(log_handler)
