// SPDX-License-Identifier: MIT
/* Quota periods in UTC (period.h): civil-calendar arithmetic, no time zone, no libc state. */
#include "period.h"

#define DAY 86400

/* Days since 1970-01-01 of y-m-1 (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Year and month of day z (days since the epoch). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Floor division: the day of t, also before 1970. */
static int64_t day_of(int64_t t)
{
	return t >= 0 ? t / DAY : -((-t + DAY - 1) / DAY);
}

int64_t fng__period_start(enum fng_quota_period p, int64_t t)
{
	int64_t d = day_of(t), y;
	unsigned m;

	switch (p) {
	case FNG_PERIOD_WEEK:
		/* 1970-01-01 was a Thursday: Monday is 3 days before it. */
		d -= ((d + 3) % 7 + 7) % 7;
		return d * DAY;
	case FNG_PERIOD_MONTH:
		civil_from_days(d, &y, &m);
		return days_from_civil(y, m) * DAY;
	case FNG_PERIOD_DAY:
	default:
		return d * DAY;
	}
}

int64_t fng__period_next(enum fng_quota_period p, int64_t t)
{
	int64_t y;
	unsigned m;

	switch (p) {
	case FNG_PERIOD_WEEK:
		return fng__period_start(p, t) + 7 * DAY;
	case FNG_PERIOD_MONTH:
		civil_from_days(day_of(t), &y, &m);
		return m == 12 ? days_from_civil(y + 1, 1) * DAY : days_from_civil(y, m + 1) * DAY;
	case FNG_PERIOD_DAY:
	default:
		return fng__period_start(p, t) + DAY;
	}
}

const char *fng__period_name(enum fng_quota_period p)
{
	return p == FNG_PERIOD_WEEK ? "week" : p == FNG_PERIOD_MONTH ? "month" : "day";
}
