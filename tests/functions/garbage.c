// SPDX-License-Identifier: MIT
/*
 * A handler that breaks the wire: it writes bytes that are not a frame on the worker's
 * socket (fd 3, which seccomp allows it to write) and then returns. The gateway must answer
 * 502 and replace the worker.
 */
#include <string.h>
#include <unistd.h>

#include "fngate.h"

static int garbage(struct fng_ctx *ctx)
{
	static const char junk[] = "\x00\x00\x00\x07\x03not msgpack at all";
	ssize_t n = write(3, junk, sizeof(junk) - 1);

	(void)n;
	return fng_response_write(ctx, "unreachable", 11);
}
FNG_HANDLER(garbage)
