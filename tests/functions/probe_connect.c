// SPDX-License-Identifier: MIT
/*
 * Probe: TCP to the canary port. Without the net group the socket() call is fatal; with it
 * the connection must work (mode "connect"), while listening stays fatal (mode "bind").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

static int probe_connect(struct fng_ctx *ctx)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	probe_note("socket: %s; ", probe_rc(fd));
	if (strcmp(probe_env(ctx, "FNG_PROBE_MODE"), "bind") == 0) {
		probe_note("bind: %s", probe_rc(bind(fd, (struct sockaddr *)&sa, sizeof(sa))));
	} else {
		sa.sin_port = htons((uint16_t)atoi(probe_env(ctx, "FNG_PROBE_PORT")));
		probe_note("connect: %s", probe_rc(connect(fd, (struct sockaddr *)&sa,
			sizeof(sa))));
		if (write(fd, "hi", 2) != 2) {
			probe_note(" (write failed)");
		}
		close(fd);
	}
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_connect)
