// SPDX-License-Identifier: MIT
/*
 * Sleeps for the manifest's FNG_TEST_SLEEP_MS (default 300) and answers 200 "slept": a
 * well-behaved slow handler, for queueing, cancellation and deploy-under-load tests.
 */
#include <stdlib.h>
#include <time.h>

#include "fngate.h"

static int slow(struct fng_ctx *ctx)
{
	const char *v = fng_env(ctx, "FNG_TEST_SLEEP_MS");
	long ms = v ? strtol(v, NULL, 10) : 300;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	return fng_response_write(ctx, "slept", 5);
}
FNG_HANDLER(slow)
