// SPDX-License-Identifier: MIT
/* Spins forever: RLIMIT_CPU must end it ("cpu limit"). */
#include "fngate.h"

static int abuse_spin(struct fng_ctx *ctx)
{
	for (volatile unsigned long i = 0;; i++) {
	}
	return 0;
}
FNG_HANDLER(abuse_spin)
