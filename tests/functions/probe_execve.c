// SPDX-License-Identifier: MIT
/* Probe: runs a shell that would create FNG_PROBE_FILE (seccomp: execve). */
#include <unistd.h>

#include "probe.h"

static int probe_execve(struct fng_ctx *ctx)
{
	char cmd[600];
	char *argv[] = { "sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "echo pwned > '%s'", probe_env(ctx, "FNG_PROBE_FILE"));
	probe_note("execve: %s", probe_rc(execve("/bin/sh", argv, NULL)));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_execve)
