// SPDX-License-Identifier: MIT
/* A descriptor from a future ABI: the worker must refuse it ("abi mismatch"). */
#include "fngate.h"

static int abi_bad(struct fng_ctx *ctx)
{
	return 0;
}

FNG_EXPORT const struct fng_handler_desc fng_handler_desc = { 999, "abi_bad", abi_bad, NULL,
	NULL };
