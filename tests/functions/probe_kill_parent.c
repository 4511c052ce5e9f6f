// SPDX-License-Identifier: MIT
/*
 * Probe: signals outside the worker, by FNG_PROBE_MODE: SIGKILL to the supervisor (parent),
 * SIGUSR1 to the test process standing in for the gateway (gateway), signal 0 to pid 1
 * (init; 0 only asks whether it may). Seccomp: kill.
 */
#include <signal.h>
#include <unistd.h>

#include "probe.h"

static int probe_kill_parent(struct fng_ctx *ctx)
{
	const char *mode = probe_env(ctx, "FNG_PROBE_MODE");
	int rc;

	if (strcmp(mode, "gateway") == 0) {
		rc = kill(atoi(probe_env(ctx, "FNG_PROBE_PID")), SIGUSR1);
	} else if (strcmp(mode, "init") == 0) {
		rc = kill(1, 0);
	} else {
		rc = kill(getppid(), SIGKILL);
	}
	probe_note("kill %s: %s", mode, probe_rc(rc));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_kill_parent)
