// SPDX-License-Identifier: MIT
/*
 * For the pipeline tests: sleeps ?sleep=MS milliseconds (default 0), then stores to an
 * unmapped address if ?crash=1 (SIGSEGV), else answers 200 with the worker's pid — so a test
 * can tell which worker served a request, and make one worker hold several invocations while
 * the first one runs.
 */
#include <stdint.h>
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
		/* Not NULL itself: UBSan would report it first (tests/functions/abuse_segv.c). */
		int *volatile bad = (int *)(uintptr_t)16;

		*bad = 1;
	}
	return fng_response_printf(ctx, "%d", (int)getpid());
}
FNG_HANDLER(pipe_handler)
