// SPDX-License-Identifier: MIT
/*
 * cpu_spin: the attacker of bench/cpu_isolation.sh (never deployed by `make demo`). Each
 * invocation spins on its CPU until the gateway's deadline kills the worker (504), so that
 * with as many requests in flight as the function has workers, every worker it has spins.
 *
 *     cc -shared -fPIC -O2 -o cpu_spin.so bench/cpu_spin.c $(pkg-config --cflags --libs fngate)
 */
#include <fngate.h>

static int cpu_spin(struct fng_ctx *ctx)
{
	for (volatile unsigned long i = 0;; i++) {
	}
	return fng_response_write(ctx, "unreachable", 11);
}
FNG_HANDLER(cpu_spin)
