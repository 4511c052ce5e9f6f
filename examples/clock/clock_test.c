// SPDX-License-Identifier: MIT
/*
 * clock_test: the tests of clock.c through fngate's test harness (fngate_test.h): the answer's
 * shape, the count of invocations the worker keeps, and what the handler tells the gateway's
 * cache. Build and run beside clock.so:
 *
 *     cc -shared -fPIC -o clock.so clock.c $(pkg-config --cflags --libs fngate)
 *     cc -o clock_test clock_test.c $(pkg-config --cflags --libs fngate-test)
 *     ./clock_test                    # or: ./clock_test path/to/clock.so
 *
 * It prints TAP and exits non-zero when a check failed; `make test` runs it.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <fngate_test.h>

static struct fng_test_result *get(struct fng_test *t)
{
	struct fng_test_event *ev = fng_test_event_http("GET", "/dev/clock");
	struct fng_test_result *r;

	fng_test_event_set(ev, FNG_TEST_ROUTE_KEY, "GET /clock");
	r = fng_test_invoke(t, ev);
	if (!r) {
		printf("# %s\n", fng_test_error(t));
	}
	fng_test_event_free(ev);
	return r;
}

/*
 * The body's time as seconds since the epoch (timegm() is not POSIX: by hand), -1 unless it is
 * exactly {"time":"YYYY-MM-DDTHH:MM:SS.mmmZ","ran":N}\n; *ran gets N.
 */
static long long body_time(const char *body, unsigned long *ran)
{
	int y, mo, d, h, mi, s, ms;
	long long yoe, era, doy;
	char again[96];

	if (!body || sscanf(body, "{\"time\":\"%d-%d-%dT%d:%d:%d.%dZ\",\"ran\":%lu}", &y, &mo, &d,
			     &h, &mi, &s, &ms, ran) != 8) {
		return -1;
	}
	/* Read back, then written the one way it may be: every digit and byte in place. */
	snprintf(again, sizeof(again), "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\","
		"\"ran\":%lu}\n", y, mo, d, h, mi, s, ms, *ran);
	if (strcmp(again, body) != 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
		mi > 59 || s > 60) {
		return -1;
	}
	/* Days from the civil date (Howard Hinnant), the inverse of what clock.c does. */
	y -= mo <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1;
	return (era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468) * 86400 +
	       h * 3600 + mi * 60 + s;
}

int main(int argc, char **argv)
{
	const char *so = argc > 1 ? argv[1] : "./clock.so";
	struct fng_test_result *r;
	unsigned long ran = 0;
	struct fng_test *t;
	long long when;
	char err[256];

	t = fng_test_load(so, err, sizeof(err));
	if (!fng_test_check(t != NULL, "load %s", so)) {
		printf("# %s\n", err);
		return fng_test_check_end();
	}

	r = get(t);
	fng_test_check_int(fng_test_status(r), 200, "GET /clock: 200");
	fng_test_check_str(fng_test_header(r, "content-type"), "application/json", "JSON");
	when = body_time(fng_test_body(r, NULL), &ran);
	if (!fng_test_check(when >= 0, "the body is {\"time\":ISO 8601 UTC with ms,\"ran\":N}")) {
		printf("# %s", fng_test_body(r, NULL));
	}
	fng_test_check(when >= 0 && when - (long long)time(NULL) <= 1 &&
			(long long)time(NULL) - when <= 5,
		"the time is now (UTC)");
	fng_test_check_int(ran, 1, "the worker's first invocation");
	fng_test_check_int(fng_test_cache_ttl(r), 10, "cacheable for 10 s");
	fng_test_check_str(fng_test_cache_tag(r, 0), "clock", "tagged clock");
	fng_test_check_str(fng_test_cache_tag(r, 1), NULL, "and nothing else");
	fng_test_result_free(r);

	/* The same worker again: the count goes on (the gateway's cache would have answered). */
	r = get(t);
	fng_test_check(body_time(fng_test_body(r, NULL), &ran) >= 0 && ran == 2,
		"the second invocation: ran 2");
	fng_test_result_free(r);

	fng_test_close(t);
	return fng_test_check_end();
}
