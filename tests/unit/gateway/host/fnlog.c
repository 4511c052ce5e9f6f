// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/fnlog.c, the per-function rate limit on function log lines, on a
 * fake clock: the burst, the steady rate, the byte bucket, drop counting, the report once
 * per window (from a line or from the tick) and a reload's new limits. The config keys
 * (`functions.logs`, defaults and bounds) are tested with the rest in config.c's test.
 *
 * The daemon log is a test double: this file defines fng__log() and fng__log_text(),
 * fnlog.c's only calls out, so the linker never takes server.c from the gateway library,
 * and each call is recorded.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnlog.h"
#include "harness.h"
#include "server.h"
#include "wire_limits.h"

#define NREC 64

struct rec {
	char level[8];
	char msg[64];
	size_t len;
	char kv[256]; /* "k=v;k=v;" */
};

static struct rec recs[NREC];
static unsigned nrec, nlogged;
static unsigned nreports;      /* "function log lines dropped" lines */
static uint64_t reported;      /* the sum of their counts */

static struct rec *last(void)
{
	return nrec ? &recs[(nrec - 1) % NREC] : NULL;
}

static const char *last_kv(void)
{
	return last()->kv;
}

static void record(const char *level, const char *msg, size_t len, va_list ap)
{
	struct rec *r = &recs[nrec % NREC];
	const char *k;
	size_t off = 0;

	nrec++;
	snprintf(r->level, sizeof(r->level), "%s", level);
	snprintf(r->msg, sizeof(r->msg), "%.*s", (int)(len < 63 ? len : 63), msg);
	r->len = len;
	r->kv[0] = '\0';
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);

		off += (size_t)snprintf(r->kv + off, sizeof(r->kv) - off, "%s=%s;", k, v);
	}
}

void fng__log(const char *level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	record(level, msg, strlen(msg), ap);
	va_end(ap);
	if (strcmp(msg, "function log lines dropped") == 0) {
		nreports++;
		reported += strtoull(strstr(last_kv(), "dropped=") + 8, NULL, 10);
	}
}

void fng__log_text(const char *level, const char *msg, size_t len, ...)
{
	va_list ap;

	va_start(ap, len);
	record(level, msg, len, ap);
	va_end(ap);
	nlogged++;
}


static bool line(struct fng_fnlog *st, const struct fng_fnlog_cfg *cfg, uint64_t now,
	size_t len)
{
	static char text[FNG_WIRE_MAX_LOG + 100];

	memset(text, 'a', sizeof(text));
	return fng__fnlog_line(st, cfg, now, "fn", "info", text, len, "rid", "log");
}

/* Lines of len bytes, one every step ms from *now for ms; returns how many passed. */
static unsigned run(struct fng_fnlog *st, const struct fng_fnlog_cfg *cfg, uint64_t *now,
	uint64_t ms, uint64_t step, size_t len)
{
	unsigned passed = 0;

	for (uint64_t t = 0; t < ms; t += step) {
		passed += line(st, cfg, *now + t, len);
	}
	*now += ms;
	return passed;
}

static void test_burst_and_rate(void)
{
	struct fng_fnlog_cfg cfg = { 10, 5, 0, FNG_WIRE_MAX_LOG, 1000 };
	struct fng_fnlog st = { 0 };
	uint64_t now = 5000;
	unsigned n = 0;

	for (int i = 0; i < 5; i++) {
		n += line(&st, &cfg, now, 10);
	}
	CHECK_INT(n, 5, "burst: a new function logs its burst_lines at once");
	CHECK(!line(&st, &cfg, now, 10), "burst: the next line is dropped");
	CHECK(!line(&st, &cfg, now + 99, 10), "rate 10/s: nothing back after 99 ms");
	CHECK(line(&st, &cfg, now + 100, 10), "rate 10/s: one line back after 100 ms");
	CHECK(!line(&st, &cfg, now + 100, 10), "rate 10/s: only one");
	now += 100;
	/* The bucket is empty at now: lines pass at now + 100, + 200, ... + 10000. */
	CHECK_INT(run(&st, &cfg, &now, 10001, 1, 10), 100,
		"steady: a line a millisecond for 10 s passes 10/s");
	now += 60000;
	n = 0;
	for (int i = 0; i < 10; i++) {
		n += line(&st, &cfg, now, 10);
	}
	CHECK_INT(n, 5, "a long quiet refills the bucket to burst_lines, not beyond");
}

static void test_bytes(void)
{
	struct fng_fnlog_cfg cfg = { 0, 1, 1000, 2000, 1000 };
	struct fng_fnlog st = { 0 };
	uint64_t now = 1;

	CHECK_INT(run(&st, &cfg, &now, 100, 1, 100), 20,
		"bytes: 2000-byte burst = 20 lines of 100 (no line limit)");
	CHECK_INT(run(&st, &cfg, &now, 1000, 1, 100), 10, "bytes: then 1000/s = 10 lines a second");
	now += 100000;
	CHECK(line(&st, &cfg, now, 5000), "bytes: a line longer than the bucket passes when full");
	CHECK(!line(&st, &cfg, now, 1), "bytes: ...and takes all of it");
	cfg.bytes_per_second = 0;
	CHECK_INT(run(&st, &cfg, &now, 100, 1, 8000), 100, "bytes_per_second 0: no byte limit");
	cfg.bytes_per_second = 1000;
	cfg.lines_per_second = 1;
	now += 100000;
	CHECK_INT(run(&st, &cfg, &now, 3, 1, 10), 1, "both limits: the tighter one (lines) binds");
}

static void test_line_fields(void)
{
	struct fng_fnlog_cfg cfg = { 100, 10, 65536, 262144, 1000 };
	struct fng_fnlog st = { 0 };

	nrec = nlogged = 0;
	CHECK(fng__fnlog_line(&st, &cfg, 1, "hello", "warn", "hi there", 2, "r-1", "log"),
		"a line passes");
	CHECK_STR(last()->level, "warn", "the line keeps its level");
	CHECK_STR(last()->msg, "hi", "the text is len bytes");
	CHECK_STR(last()->kv, "function=hello;stream=log;requestId=r-1;",
		"fields: function, stream, requestId");
	fng__fnlog_line(&st, &cfg, 1, "hello", "info", "x", 1, NULL, "stderr");
	CHECK_STR(last()->kv, "function=hello;stream=stderr;", "no request: no requestId");
	line(&st, &cfg, 1, FNG_WIRE_MAX_LOG + 50);
	CHECK_INT(last()->len, FNG_WIRE_MAX_LOG, "a line is cut at FNG_WIRE_MAX_LOG bytes");
}

static void test_reports(void)
{
	struct fng_fnlog_cfg cfg = { 10, 2, 0, FNG_WIRE_MAX_LOG, 1000 };
	struct fng_fnlog st = { 0 };
	uint64_t t0 = 100;

	nrec = nlogged = 0;
	line(&st, &cfg, t0, 1);
	line(&st, &cfg, t0, 1);
	for (int i = 0; i < 7; i++) {
		line(&st, &cfg, t0 + 10 * i, 1);
	}
	CHECK_INT(st.dropped, 7, "drops are counted");
	CHECK_INT(nrec, 2, "nothing is said at once about them");
	fng__fnlog_tick(&st, t0 + 999, "fn");
	CHECK_INT(nrec, 2, "tick: no report before report_ms after the first drop");
	fng__fnlog_tick(&st, t0 + 1000, "fn");
	CHECK_INT(nrec, 3, "tick: the report at report_ms");
	CHECK_STR(last()->msg, "function log lines dropped", "report: its message");
	CHECK_STR(last()->level, "warn", "report: warn");
	CHECK_STR(last()->kv, "function=fn;dropped=7;", "report: function and count");
	fng__fnlog_tick(&st, t0 + 5000, "fn");
	CHECK_INT(nrec, 3, "tick: once per window, nothing when nothing was dropped since");
	CHECK_INT(st.dropped_total, 7, "dropped_total keeps the sum");

	/* A sustained flood: one report per window, each with that window's count. */
	{
		unsigned passed = 0;

		nreports = 0;
		reported = 0;
		for (uint64_t t = 10000; t < 15000; t++) {
			passed += line(&st, &cfg, t, 1);
			fng__fnlog_tick(&st, t, "fn");
		}
		CHECK_INT(nreports, 4, "a 5 s flood, report_ms 1000: a report each closed window");
		CHECK(passed >= 50 && passed <= 52, "the flood passed %u lines: 2 burst + 10/s",
			passed);
		fng__fnlog_tick(&st, 15999, "fn");
		CHECK_INT(nreports, 5, "the flood stopped: the tick reports the last window");
		CHECK_INT(reported + passed, 5000, "every line of the flood is logged or counted");
		CHECK_INT(st.dropped, 0, "nothing left to report");
	}

	/* A line that passes after a window closed comes after the report of its drops. */
	st = (struct fng_fnlog){ 0 };
	line(&st, &cfg, 1, 1);
	line(&st, &cfg, 1, 1);
	line(&st, &cfg, 1, 1);
	nrec = 0;
	CHECK(line(&st, &cfg, 2000, 1), "a line after the window passes");
	CHECK_INT(nrec, 2, "...with the report logged first");
	CHECK_STR(recs[0].msg, "function log lines dropped", "report first");
	CHECK_STR(recs[1].msg, "a", "then the line");
}

static void test_reload(void)
{
	struct fng_fnlog_cfg cfg = { 100, 100, 0, FNG_WIRE_MAX_LOG, 1000 };
	struct fng_fnlog_cfg tight = { 1, 3, 0, FNG_WIRE_MAX_LOG, 1000 };
	struct fng_fnlog_cfg off = { 0, 1, 0, FNG_WIRE_MAX_LOG, 1000 };
	struct fng_fnlog st = { 0 };
	uint64_t now = 1;

	CHECK_INT(run(&st, &cfg, &now, 10, 1, 1), 10, "before the reload: 10 of a full bucket");
	CHECK_INT(run(&st, &tight, &now, 10, 1, 1), 3,
		"a smaller burst after a reload applies at once");
	CHECK_INT(run(&st, &tight, &now, 2000, 1, 1), 2, "...and the new rate");
	CHECK_INT(run(&st, &off, &now, 1000, 1, 1), 1000, "lines_per_second 0: no line limit");
}

int main(void)
{
	test_burst_and_rate();
	test_bytes();
	test_line_fields();
	test_reports();
	test_reload();
	return fng_test_done();
}
