// SPDX-License-Identifier: MIT
/* Probe: creates FNG_PROBE_FILE and reads FNG_PROBE_SECRET from a handler (seccomp: openat). */
#include <fcntl.h>
#include <unistd.h>

#include "probe.h"

static int probe_open(struct fng_ctx *ctx)
{
	char buf[256] = "";
	int fd = open(probe_env(ctx, "FNG_PROBE_FILE"), O_WRONLY | O_CREAT | O_EXCL, 0644);

	probe_note("create: %s; ", probe_rc(fd));
	fd = open(probe_env(ctx, "FNG_PROBE_SECRET"), O_RDONLY);
	probe_note("secret: %s", probe_rc(fd));
	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0) {
		probe_note(" [%s]", buf);
	}
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_open)
