// SPDX-License-Identifier: MIT
/* Probe: a UNIX socket connected to the canary path (seccomp: socket). */
#include <sys/socket.h>
#include <sys/un.h>

#include "probe.h"

static int probe_socket_unix(struct fng_ctx *ctx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", probe_env(ctx, "FNG_PROBE_UNIX"));
	probe_note("socket: %s; ", probe_rc(fd));
	probe_note("connect: %s", probe_rc(connect(fd, (struct sockaddr *)&sa, sizeof(sa))));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_socket_unix)
