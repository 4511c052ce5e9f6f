// SPDX-License-Identifier: MIT
/* Probe: attaches to the supervisor, or asks to be traced (seccomp: ptrace). */
#include <sys/ptrace.h>
#include <unistd.h>

#include "probe.h"

static int probe_ptrace(struct fng_ctx *ctx)
{
	long rc;

	if (strcmp(probe_env(ctx, "FNG_PROBE_MODE"), "traceme") == 0) {
		rc = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	} else {
		rc = ptrace(PTRACE_ATTACH, getppid(), NULL, NULL);
	}
	probe_note("ptrace: %s", probe_rc(rc));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_ptrace)
