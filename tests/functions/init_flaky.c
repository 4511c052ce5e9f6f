// SPDX-License-Identifier: MIT
/*
 * An init hook that starts failing after deploy: it fails while the file named by the
 * manifest's FNG_TEST_FAIL_IF exists (stat() at load time: Landlock does not cover it, and the
 * test makes the file in a directory every uid may search). The handler answers 200 "flaky".
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "fngate.h"

static int check(void)
{
	const char *path = getenv("FNG_TEST_FAIL_IF");
	struct stat st;

	return path && stat(path, &st) == 0 ? -1 : 0;
}

static int init_flaky(struct fng_ctx *ctx)
{
	return fng_response_write(ctx, "flaky", 5);
}
FNG_HANDLER_EX(init_flaky, check, NULL)
