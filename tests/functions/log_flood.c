// SPDX-License-Identifier: MIT
/*
 * A log flood: logs `n` lines (query parameter, default 2000, at most 1000000) of `size`
 * bytes (default 200, at most 8000) through fng_log — or with `via=stderr`, on its stderr —
 * as fast as they go, then answers 200 with the number of lines it sent. Each line starts
 * "flood SEQ " so a test can tell which passed the gateway's rate limit.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fngate.h"

static long param(struct fng_ctx *ctx, const char *name, long def, long max)
{
	const char *v = fng_event_query(ctx, name);
	long n = v ? strtol(v, NULL, 10) : def;

	return n < 0 ? 0 : n > max ? max : n;
}

static int log_flood(struct fng_ctx *ctx)
{
	long n = param(ctx, "n", 2000, 1000000), size = param(ctx, "size", 200, 8000);
	const char *via = fng_event_query(ctx, "via");
	bool on_stderr = via && strcmp(via, "stderr") == 0;
	char pad[8001];

	memset(pad, 'x', (size_t)size);
	pad[size] = '\0';
	for (long i = 0; i < n; i++) {
		if (on_stderr) {
			fprintf(stderr, "flood %ld %.*s\n", i, (int)(size > 16 ? size - 16 : 0),
				pad);
		} else {
			fng_log(ctx, FNG_LOG_INFO, "flood %ld %.*s", i,
				(int)(size > 16 ? size - 16 : 0), pad);
		}
	}
	return fng_response_json(ctx, 200, "{\"sent\":%ld}\n", n);
}
FNG_HANDLER(log_flood)
