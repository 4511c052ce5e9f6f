// SPDX-License-Identifier: MIT
/*
 * cache_fn: a bench-only handler for bench/cache.sh (never deployed by `make demo`).
 *
 * It answers BODY as JSON, the same bytes the benchmark's mock route answers, so that a cache
 * hit and the mock differ only in where the answer comes from. It sets no TTL of its own:
 * the stage's applies. Built with -DSLEEP_MS=200 it first sleeps that long (nanosleep, which
 * the sandbox allows): the slow function of the thundering-herd run, whose every invocation
 * is visible in the access log.
 *
 *     cc -shared -fPIC -O2 -o fast.so bench/cache_fn.c $(pkg-config --cflags --libs fngate)
 *     cc -shared -fPIC -O2 -DSLEEP_MS=200 -o slow.so bench/cache_fn.c $(pkg-config ...)
 */
#include <time.h>

#include <fngate.h>

#ifndef SLEEP_MS
#define SLEEP_MS 0
#endif

/* 100 bytes with the newline; bench/cache.sh gives its mock route the same. */
#define BODY                                                                                       \
	"{\"id\":\"item-0001\",\"name\":\"bench item\",\"price\":1999,\"currency\":\"EUR\","       \
	"\"tags\":[\"a\",\"b\"],\"stock\":42000}\n"

static int cache_fn(struct fng_ctx *ctx)
{
	if (SLEEP_MS > 0) {
		struct timespec ts = {SLEEP_MS / 1000, SLEEP_MS % 1000 * 1000000L};

		while (nanosleep(&ts, &ts) != 0) {
		}
	}
	return fng_response_json(ctx, 200, "%s", BODY);
}

FNG_HANDLER(cache_fn)
