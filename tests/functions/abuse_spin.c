// SPDX-License-Identifier: MIT
/*
 * Spins: forever by default (RLIMIT_CPU or the gateway's deadline must end it), or, when the
 * manifest sets FNG_TEST_SPIN_MS, for that many milliseconds before it answers 200 "spun" (a
 * CPU-bound handler that ends, for the CPU weight tests).
 */
#include <stdlib.h>
#include <time.h>

#include "fngate.h"

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

static int abuse_spin(struct fng_ctx *ctx)
{
	const char *v = fng_env(ctx, "FNG_TEST_SPIN_MS");
	long ms = v ? strtol(v, NULL, 10) : -1;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (volatile unsigned long i = 1;; i++) {
		if (ms >= 0 && (i & 0xfffff) == 0 && elapsed_ms(&start) >= ms) {
			break;
		}
	}
	return fng_response_write(ctx, "spun", 4);
}
FNG_HANDLER(abuse_spin)
