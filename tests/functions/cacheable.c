// SPDX-License-Identifier: MIT
/*
 * A handler for the response cache tests (test_cache.py), routed as "GET /c/{what}": it
 * answers what it was asked and when, so that a test can tell a stored answer from a new one,
 * and what the route's cache should make of it depends on {what}:
 *   plain    200 {"what","q","u","h","k","n"} (n: this worker's invocation count, t: its time)
 *   slow     the same after 500 ms
 *   fail     500
 *   nostore  Cache-Control: no-store          private  Cache-Control: private
 *   cookie   a Set-Cookie                     tagged   fng_response_cache(60, "tag-a, tag-b")
 *   short    fng_response_cache(1, NULL)      zero     fng_response_cache(0, NULL)
 *   mid      a 50 KB body                     big      a 300 KB body
 * A request with the header x-mode: crash aborts the worker (stale-if-error), whatever {what}.
 * q and u are query parameters and h and k headers (x-h, x-k) echoed in the body: the route
 * keys on q and x-k only, so u and x-h must never change what a client gets from the cache.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fngate.h"

static unsigned long n;
static char pad[300 * 1024];

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static int cacheable(struct fng_ctx *ctx)
{
	const char *what = or_empty(fng_event_path_param(ctx, "what"));
	const char *mode = fng_event_header(ctx, "x-mode");
	struct timespec ts;
	size_t padn = 0;

	if (mode && strcmp(mode, "crash") == 0) {
		abort();
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n++;
	if (strcmp(what, "slow") == 0) {
		struct timespec d = { 0, 500 * 1000000L };

		nanosleep(&d, NULL);
	} else if (strcmp(what, "fail") == 0) {
		fng_response_status(ctx, 500);
	} else if (strcmp(what, "nostore") == 0) {
		fng_response_header(ctx, "cache-control", "no-store");
	} else if (strcmp(what, "private") == 0) {
		fng_response_header(ctx, "cache-control", "private, max-age=60");
	} else if (strcmp(what, "cookie") == 0) {
		fng_response_cookie(ctx, "session=abc");
	} else if (strcmp(what, "tagged") == 0) {
		fng_response_cache(ctx, 60, "tag-a, tag-b");
	} else if (strcmp(what, "short") == 0) {
		fng_response_cache(ctx, 1, NULL);
	} else if (strcmp(what, "zero") == 0) {
		fng_response_cache(ctx, 0, NULL);
	} else if (strcmp(what, "mid") == 0) {
		padn = 50 * 1024;
	} else if (strcmp(what, "big") == 0) {
		padn = sizeof(pad);
	}
	fng_response_header(ctx, "content-type", "application/json");
	fng_response_printf(ctx, "{\"what\":\"%s\",\"q\":\"%s\",\"u\":\"%s\",\"h\":\"%s\","
		"\"k\":\"%s\",\"p\":\"%s\",\"n\":%lu,\"t\":%lld.%09ld,\"pad\":\"",
		fng_json_str(ctx, what),
		fng_json_str(ctx, or_empty(fng_event_query(ctx, "q"))),
		fng_json_str(ctx, or_empty(fng_event_query(ctx, "u"))),
		fng_json_str(ctx, or_empty(fng_event_header(ctx, "x-h"))),
		fng_json_str(ctx, or_empty(fng_event_header(ctx, "x-k"))),
		fng_json_str(ctx, or_empty(fng_event_authorizer(ctx, "principalId"))), n,
		(long long)ts.tv_sec, ts.tv_nsec);
	if (padn) {
		memset(pad, 'x', padn);
		fng_response_write(ctx, pad, padn);
	}
	return fng_response_printf(ctx, "\"}\n");
}
FNG_HANDLER(cacheable)
