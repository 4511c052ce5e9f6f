// SPDX-License-Identifier: MIT
/* Probe: a user namespace, the usual first step of a kernel exploit (seccomp: unshare). */
#include <sched.h>

#include "probe.h"

static int probe_unshare(struct fng_ctx *ctx)
{
	probe_note("unshare: %s", probe_rc(unshare(CLONE_NEWUSER)));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_unshare)
