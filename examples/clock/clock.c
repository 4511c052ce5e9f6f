// SPDX-License-Identifier: MIT
/*
 * clock: a handler whose answer may be cached. It answers when it ran and how many times this
 * worker has run it, and lets the gateway keep the answer 10 seconds under the tag "clock": on
 * a route or stage with a cache, requests within those seconds see one "time" and one "ran",
 * and the admin API's `DELETE /@cache/tags/clock` drops it sooner. Elsewhere the call is
 * ignored and every request runs the handler.
 *
 *     cc -shared -fPIC -o clock.so clock.c $(pkg-config --cflags --libs fngate)
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <fngate.h>

/* Invocations of this worker: globals live as long as the worker process (docs/sdk.md). */
static unsigned long ran;

/*
 * "2026-12-07T06:14:57.123Z". By hand rather than gmtime_r(): the first call into glibc's
 * time conversion reads the time zone files, and a serving worker may open no file.
 * Days to a civil date: Howard Hinnant's algorithm (proleptic Gregorian, any era).
 */
static void iso8601(char *out, size_t n, const struct timespec *ts)
{
	int64_t secs = ts->tv_sec, days = secs / 86400, sod = secs % 86400;
	int64_t era, doe, yoe, doy, mp, y, m, d;

	if (sod < 0) {
		sod += 86400;
		days--;
	}
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, (int)m, (int)d,
		(int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
		(int)(ts->tv_nsec / 1000000));
}

static int what_time(struct fng_ctx *ctx)
{
	struct timespec now;
	char when[96]; /* room for any year snprintf could be given */

	clock_gettime(CLOCK_REALTIME, &now);
	iso8601(when, sizeof(when), &now);
	ran++;
	/* May be cached 10 s (the stage's maximum permitting), purged with the tag "clock". */
	fng_response_cache(ctx, 10, "clock");
	return fng_response_json(ctx, 200, "{\"time\":\"%s\",\"ran\":%lu}\n", when, ran);
}

FNG_HANDLER(what_time)
