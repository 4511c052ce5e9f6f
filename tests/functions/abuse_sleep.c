// SPDX-License-Identifier: MIT
/* Sleeps 30 s: allowed by seccomp; the gateway's deadline (here: the test) must end it. */
#include <time.h>

#include "fngate.h"

static int abuse_sleep(struct fng_ctx *ctx)
{
	struct timespec ts = { 30, 0 };

	nanosleep(&ts, NULL);
	return fng_response_printf(ctx, "slept");
}
FNG_HANDLER(abuse_sleep)
