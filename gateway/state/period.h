/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_PERIOD_H
#define FNG_GATEWAY_PERIOD_H

/*
 * Quota periods, in UTC: a day from 00:00, a week from Monday 00:00 (ISO 8601), a month from
 * its first day 00:00. Times are seconds since the epoch.
 */

#include <stdint.h>

#include "config.h"

/* The first second of the period holding t. */
int64_t fng__period_start(enum fng_quota_period p, int64_t t);
/* The first second of the period after the one holding t. */
int64_t fng__period_next(enum fng_quota_period p, int64_t t);
/* "day", "week", "month". */
const char *fng__period_name(enum fng_quota_period p);

#endif
