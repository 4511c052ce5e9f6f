// SPDX-License-Identifier: MIT
/* Writes a 100 MB body, ignoring errors: the payload limit must cap it. */
#include <stdlib.h>
#include <string.h>

#include "fngate.h"

static int abuse_big(struct fng_ctx *ctx)
{
	char *chunk = malloc(1 << 20);
	int refused = 0;

	if (!chunk) {
		return -1;
	}
	memset(chunk, 'x', 1 << 20);
	for (int i = 0; i < 100; i++) {
		refused += fng_response_write(ctx, chunk, 1 << 20) < 0;
	}
	free(chunk);
	return 0;
}
FNG_HANDLER(abuse_big)
