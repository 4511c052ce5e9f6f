// SPDX-License-Identifier: MIT
/* Probe: an IPv4 TCP socket connected to the canary port (seccomp: socket). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "probe.h"

static int probe_socket_inet(struct fng_ctx *ctx)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_port = htons((uint16_t)atoi(probe_env(ctx, "FNG_PROBE_PORT")));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	probe_note("socket: %s; ", probe_rc(fd));
	probe_note("connect: %s", probe_rc(connect(fd, (struct sockaddr *)&sa, sizeof(sa))));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_socket_inet)
