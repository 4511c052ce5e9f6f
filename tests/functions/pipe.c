// SPDX-License-Identifier: MIT
/*
 * For the pipeline tests: sleeps ?sleep=MS milliseconds (default 0), then writes through
 * NULL if ?crash=1, else answers 200 with the worker's pid — so a test can tell which worker
 * served a request, and make one worker hold several invocations while the first one runs.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "fngate.h"

static int pipe_handler(struct fng_ctx *ctx)
{
	const char *s = fng_event_query(ctx, "sleep");
	const char *crash = fng_event_query(ctx, "crash");
	long ms = s ? strtol(s, NULL, 10) : 0;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (ms > 0) {
		nanosleep(&ts, NULL);
	}
	if (crash && crash[0] == '1') {
		*(volatile int *)NULL = 1;
	}
	return fng_response_printf(ctx, "%d", (int)getpid());
}
FNG_HANDLER(pipe_handler)
