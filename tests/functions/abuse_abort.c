// SPDX-License-Identifier: MIT
/* abort(): the worker dies of SIGABRT (not of seccomp: abort's own calls are allowed). */
#include <stdlib.h>

#include "fngate.h"

static int abuse_abort(struct fng_ctx *ctx)
{
	abort();
}
FNG_HANDLER(abuse_abort)
