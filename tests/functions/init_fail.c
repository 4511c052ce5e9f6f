// SPDX-License-Identifier: MIT
/* An init hook that fails: the worker never serves ("init failed"). */
#include "fngate.h"

static int refuse(void)
{
	return -1;
}

static int init_fail(struct fng_ctx *ctx)
{
	return 0;
}
FNG_HANDLER_EX(init_fail, refuse, NULL)
