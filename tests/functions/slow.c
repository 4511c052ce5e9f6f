// SPDX-License-Identifier: MIT
/*
 * Sleeps for the manifest's FNG_TEST_SLEEP_MS (default 300) and answers 200 "slept": a
 * well-behaved slow handler, for queueing, cancellation and deploy-under-load tests. Its init
 * hook sleeps FNG_TEST_INIT_SLEEP_MS (default 0): a slow start, for what happens meanwhile.
 */
#include <stdlib.h>
#include <time.h>

#include "fngate.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int init(void)
{
	const char *v = getenv("FNG_TEST_INIT_SLEEP_MS");

	sleep_ms(v ? strtol(v, NULL, 10) : 0);
	return 0;
}

static int slow(struct fng_ctx *ctx)
{
	const char *v = fng_env(ctx, "FNG_TEST_SLEEP_MS");

	sleep_ms(v ? strtol(v, NULL, 10) : 300);
	return fng_response_write(ctx, "slept", 5);
}
FNG_HANDLER_EX(slow, init, NULL)
