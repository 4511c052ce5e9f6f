// SPDX-License-Identifier: MIT
/*
 * Per-function rate limits on function log lines (fnlog.h has the contract). It sits between
 * the function host, which decodes a worker's LOG frames (and reads its output), and the
 * daemon log: a handler that logs in a loop must neither fill the operator's disk nor crowd
 * out the lines of every other function, and whatever it loses is counted and said.
 *
 * Tokens are kept in thousandths so that rates below one per millisecond refill exactly
 * with integer arithmetic.
 */
#include <inttypes.h>
#include <stdio.h>

#include "fnlog.h"
#include "log.h"
#include "wire_limits.h"

#define MILLI 1000u

/* Adds what rate (per second) earns over elapsed ms to *tokens, up to burst. */
static void refill(uint64_t *tokens, uint32_t rate, uint32_t burst, uint64_t elapsed, bool full)
{
	uint64_t cap = (uint64_t)burst * MILLI;

	/* A bucket refills in at most burst * 1000 ms: a longer gap fills it, without overflow. */
	if (full || (rate && elapsed >= (uint64_t)burst * MILLI)) {
		*tokens = cap;
		return;
	}
	*tokens += elapsed * rate;
	if (*tokens > cap) {
		*tokens = cap; /* also where a reload made the bucket smaller */
	}
}

/* A bucket with no rate is no limit. */
static bool can_take(uint64_t tokens, uint32_t rate, uint64_t cost)
{
	return rate == 0 || tokens >= cost;
}

static void report(struct fng_fnlog *st, const char *function)
{
	char n[24];

	snprintf(n, sizeof(n), "%" PRIu64, st->dropped);
	st->dropped = 0;
	fng__log("warn", "function log lines dropped", "function", function, "dropped", n, NULL);
}

void fng__fnlog_tick(struct fng_fnlog *st, uint64_t now_ms, const char *function)
{
	if (st->dropped && now_ms >= st->report_at) {
		report(st, function);
	}
}

bool fng__fnlog_line(struct fng_fnlog *st, const struct fng_fnlog_cfg *cfg, uint64_t now_ms,
	const char *function, const char *level, const char *text, size_t len,
	const char *request_id, const char *stream)
{
	uint64_t elapsed = now_ms > st->refilled_ms ? now_ms - st->refilled_ms : 0;
	uint64_t line_cost = MILLI, byte_cost;

	fng__fnlog_tick(st, now_ms, function); /* the drops came before this line */
	if (len > FNG_WIRE_MAX_LOG) {
		len = FNG_WIRE_MAX_LOG;
	}
	refill(&st->lines, cfg->lines_per_second, cfg->burst_lines, elapsed, !st->primed);
	refill(&st->bytes, cfg->bytes_per_second, cfg->burst_bytes, elapsed, !st->primed);
	st->primed = true;
	st->refilled_ms = now_ms;
	/* A line longer than the whole byte bucket needs a full one rather than never passing. */
	byte_cost = (uint64_t)len * MILLI;
	if (byte_cost > (uint64_t)cfg->burst_bytes * MILLI) {
		byte_cost = (uint64_t)cfg->burst_bytes * MILLI;
	}
	if (!can_take(st->lines, cfg->lines_per_second, line_cost) ||
		!can_take(st->bytes, cfg->bytes_per_second, byte_cost)) {
		if (st->dropped++ == 0) {
			st->report_at = now_ms + cfg->report_ms;
		}
		st->dropped_total++;
		return false;
	}
	if (cfg->lines_per_second) {
		st->lines -= line_cost;
	}
	if (cfg->bytes_per_second) {
		st->bytes -= byte_cost;
	}
	fng__log_text(level, text, len, "function", function, "stream", stream,
		request_id ? "requestId" : NULL, request_id, NULL);
	return true;
}
