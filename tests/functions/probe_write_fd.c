// SPDX-License-Identifier: MIT
/*
 * Probe: writes around the protocol, by FNG_PROBE_MODE: to fd 0, 1, 2, or 5 (no such
 * descriptor), or "printf" (stdio on stdout and stderr). Seccomp kills the writes to 0 and 5;
 * stdout and stderr are the worker's own pipe, read by the gateway as the function's log.
 */
#include <unistd.h>

#include "probe.h"

static int probe_write_fd(struct fng_ctx *ctx)
{
	const char *mode = probe_env(ctx, "FNG_PROBE_MODE");
	int fd = atoi(mode);

	if (strcmp(mode, "printf") == 0) {
		probe_note("write printf: %s",
			printf("forged log line\n") == 16 && fprintf(stderr, "on stderr\n") == 10 ?
				"ok" : "failed");
		return fng_response_printf(ctx, "%s", probe_out);
	}
	probe_note("write %d: %s", fd, probe_rc(write(fd, "forged log line\n", 16)));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_write_fd)
