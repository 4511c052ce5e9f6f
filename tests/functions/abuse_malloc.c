// SPDX-License-Identifier: MIT
/* Allocates and touches memory 1 MiB at a time, up to 1 GiB: the memory limit must end it. */
#include <stdlib.h>
#include <string.h>

#include "fngate.h"

static int abuse_malloc(struct fng_ctx *ctx)
{
	size_t mb;

	for (mb = 0; mb < 1024; mb++) {
		char *p = malloc(1 << 20);

		if (!p) {
			break;
		}
		memset(p, (int)mb, 1 << 20);
	}
	return fng_response_printf(ctx, "allocated %zu MiB", mb);
}
FNG_HANDLER(abuse_malloc)
