// SPDX-License-Identifier: MIT
/*
 * Probe: writes around the protocol, by FNG_PROBE_MODE: to fd 0, 1, 2, or 5 (no such
 * descriptor). Seccomp kills all but fd 2, where glibc's fatal messages go: that write fails
 * with EPERM and the handler answers.
 */
#include <unistd.h>

#include "probe.h"

static int probe_write_fd(struct fng_ctx *ctx)
{
	int fd = atoi(probe_env(ctx, "FNG_PROBE_MODE"));

	probe_note("write %d: %s", fd, probe_rc(write(fd, "forged log line\n", 16)));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_write_fd)
