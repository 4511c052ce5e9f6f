// SPDX-License-Identifier: MIT
/* Probe: personality(READ_IMPLIES_EXEC) while serving (seccomp: not in the serve filter). */
#include <sys/personality.h>

#include "probe.h"

static int probe_personality(struct fng_ctx *ctx)
{
	probe_note("personality: %s", probe_rc(personality(READ_IMPLIES_EXEC)));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_personality)
