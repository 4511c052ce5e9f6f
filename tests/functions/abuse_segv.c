// SPDX-License-Identifier: MIT
/*
 * A store to an unmapped low address: the worker dies of SIGSEGV. Not NULL itself, which
 * UBSan would catch and report first (and its report's syscalls are not allowed).
 */
#include <stdint.h>

#include "fngate.h"

static int abuse_segv(struct fng_ctx *ctx)
{
	int *volatile bad = (int *)(uintptr_t)16;

	*bad = 1;
	return 0;
}
FNG_HANDLER(abuse_segv)
