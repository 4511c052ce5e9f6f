// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/state/period.c: named dates around month and year ends, leap days
 * (2024 and 2000 leap, 2100 not), weeks from Monday, times before 1970; then every day from
 * 1800 to 2200 at a few times of day, against libc's timegm() and gmtime_r().
 */
#include <time.h>

#include "harness.h"
#include "period.h"

#define DAY 86400

/* Seconds since the epoch of a UTC civil time; timegm normalizes (month 13, day 0, ...). */
static int64_t utc(int y, int mon, int d, int h, int min, int s)
{
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = min, .tm_sec = s,
	};

	return (int64_t)timegm(&tm);
}

static void named(void)
{
	int64_t t;

	t = utc(2024, 2, 29, 12, 0, 0);
	CHECK_INT(fng__period_start(FNG_PERIOD_DAY, t), utc(2024, 2, 29, 0, 0, 0), "2024-02-29 "
		"(leap): the day starts at 00:00");
	CHECK_INT(fng__period_next(FNG_PERIOD_DAY, t), utc(2024, 3, 1, 0, 0, 0), "next day "
		"2024-03-01");
	CHECK_INT(fng__period_start(FNG_PERIOD_MONTH, t), utc(2024, 2, 1, 0, 0, 0),
		"its month starts 2024-02-01");
	CHECK_INT(fng__period_next(FNG_PERIOD_MONTH, t), utc(2024, 3, 1, 0, 0, 0),
		"next month 2024-03-01");
	CHECK_INT(fng__period_start(FNG_PERIOD_WEEK, t), utc(2024, 2, 26, 0, 0, 0),
		"its week starts Monday 2024-02-26");

	t = utc(2100, 2, 28, 23, 59, 59);
	CHECK_INT(fng__period_next(FNG_PERIOD_DAY, t), utc(2100, 3, 1, 0, 0, 0),
		"2100 is not leap: after 2100-02-28 comes 03-01");
	CHECK_INT(fng__period_next(FNG_PERIOD_MONTH, t), utc(2100, 3, 1, 0, 0, 0),
		"and February 2100 ends after 28 days");
	t = utc(2000, 2, 29, 0, 0, 0);
	CHECK_INT(fng__period_start(FNG_PERIOD_DAY, t), t, "2000 is leap: 2000-02-29 exists");
	CHECK_INT(fng__period_next(FNG_PERIOD_MONTH, utc(2000, 2, 28, 5, 0, 0)),
		utc(2000, 3, 1, 0, 0, 0), "February 2000 has 29 days");
	CHECK_INT(fng__period_next(FNG_PERIOD_DAY, utc(2000, 2, 28, 5, 0, 0)), t,
		"after 2000-02-28 comes 02-29");

	t = utc(2026, 12, 31, 23, 59, 59);
	CHECK_INT(fng__period_next(FNG_PERIOD_DAY, t), utc(2027, 1, 1, 0, 0, 0),
		"year end: the next day is 2027-01-01");
	CHECK_INT(fng__period_next(FNG_PERIOD_MONTH, t), utc(2027, 1, 1, 0, 0, 0),
		"year end: the next month is January 2027");
	CHECK_INT(fng__period_start(FNG_PERIOD_MONTH, t), utc(2026, 12, 1, 0, 0, 0),
		"December 2026 starts on the 1st");
	CHECK_INT(fng__period_start(FNG_PERIOD_WEEK, t), utc(2026, 12, 28, 0, 0, 0),
		"2026-12-31 (Thursday) is in the week of Monday 12-28");
	CHECK_INT(fng__period_next(FNG_PERIOD_WEEK, t), utc(2027, 1, 4, 0, 0, 0),
		"whose next week starts 2027-01-04");
	CHECK_INT(fng__period_start(FNG_PERIOD_MONTH, utc(2027, 1, 1, 0, 0, 0)),
		utc(2027, 1, 1, 0, 0, 0), "the first second of a month starts it");

	t = utc(2026, 12, 7, 0, 0, 0);
	CHECK_INT(fng__period_start(FNG_PERIOD_WEEK, t), t, "Monday 2026-12-07 00:00 starts a week");
	CHECK_INT(fng__period_start(FNG_PERIOD_WEEK, t - 1), utc(2026, 11, 30, 0, 0, 0),
		"the second before is in the week of 11-30");
	CHECK_INT(fng__period_next(FNG_PERIOD_WEEK, t - 1), t, "whose next week is 12-07");
	CHECK_INT(fng__period_start(FNG_PERIOD_WEEK, utc(2026, 12, 13, 23, 59, 59)), t,
		"Sunday 12-13 23:59:59 is still in it");

	CHECK_INT(fng__period_start(FNG_PERIOD_DAY, -1), -DAY, "1969-12-31 23:59:59: its day "
		"starts at -86400");
	CHECK_INT(fng__period_next(FNG_PERIOD_DAY, -1), 0, "and ends at the epoch");
	CHECK_INT(fng__period_start(FNG_PERIOD_WEEK, -1), -3 * DAY, "its week: Monday 1969-12-29");
	CHECK_INT(fng__period_start(FNG_PERIOD_WEEK, 0), -3 * DAY, "1970-01-01 (Thursday) too");
	CHECK_INT(fng__period_start(FNG_PERIOD_MONTH, -1), -31 * DAY, "its month: 1969-12-01");
	CHECK_INT(fng__period_next(FNG_PERIOD_MONTH, -1), 0, "next month: January 1970");
	CHECK_INT(fng__period_start(FNG_PERIOD_DAY, -DAY), -DAY, "a day's first second before "
		"1970 starts it");

	CHECK_STR(fng__period_name(FNG_PERIOD_DAY), "day", "name of day");
	CHECK_STR(fng__period_name(FNG_PERIOD_WEEK), "week", "name of week");
	CHECK_STR(fng__period_name(FNG_PERIOD_MONTH), "month", "name of month");
}

/* One time t against libc: what its periods must be. false with a diagnostic on a mismatch. */
static bool against_libc(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int64_t day, week, month, next_month;

	gmtime_r(&tt, &tm);
	day = utc(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, 0, 0, 0);
	week = utc(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday - (tm.tm_wday + 6) % 7, 0, 0, 0);
	month = utc(tm.tm_year + 1900, tm.tm_mon + 1, 1, 0, 0, 0);
	next_month = utc(tm.tm_year + 1900, tm.tm_mon + 2, 1, 0, 0, 0);
	if (fng__period_start(FNG_PERIOD_DAY, t) != day ||
		fng__period_next(FNG_PERIOD_DAY, t) != day + DAY ||
		fng__period_start(FNG_PERIOD_WEEK, t) != week ||
		fng__period_next(FNG_PERIOD_WEEK, t) != week + 7 * DAY ||
		fng__period_start(FNG_PERIOD_MONTH, t) != month ||
		fng__period_next(FNG_PERIOD_MONTH, t) != next_month) {
		printf("# mismatch at t=%lld (%04d-%02d-%02d %02d:%02d:%02d)\n", (long long)t,
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec);
		return false;
	}
	return true;
}

int main(void)
{
	static const int offsets[] = { 0, 1, 3600, 43200, DAY - 1 };
	int64_t from = utc(1800, 1, 1, 0, 0, 0), to = utc(2200, 1, 1, 0, 0, 0);
	unsigned checked = 0, bad = 0;

	named();
	for (int64_t d = from; d < to && bad < 5; d += DAY) {
		for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
			bad += !against_libc(d + offsets[i]);
			checked++;
		}
	}
	CHECK(bad == 0, "every day of 1800-2199 at 5 times of day against timegm/gmtime_r "
		"(%u times)", checked);
	return fng_test_done();
}
