// SPDX-License-Identifier: MIT
/*
 * Probe: getrusage() beyond what the runtime's accounting needs, by FNG_PROBE_MODE: "children"
 * (RUSAGE_CHILDREN) or "thread" (RUSAGE_THREAD). The serve filter allows RUSAGE_SELF only, so
 * seccomp kills either.
 */
#include <sys/resource.h>

#include "probe.h"

static int probe_rusage(struct fng_ctx *ctx)
{
	const char *mode = probe_env(ctx, "FNG_PROBE_MODE");
	struct rusage ru;

	probe_note("getrusage %s: %s", mode, probe_rc(getrusage(strcmp(mode, "thread") == 0 ?
		RUSAGE_THREAD : RUSAGE_CHILDREN, &ru)));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_rusage)
