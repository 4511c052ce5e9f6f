/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_FNLOG_H
#define FNG_GATEWAY_FNLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * A function's log lines on their way into the daemon log, whatever their source (a LOG
 * frame from fng_log(), a line a worker wrote to its stderr): each function has two token
 * buckets, lines and bytes of text, refilled at the rates of `functions.logs`. A line that
 * finds both buckets holding enough is logged; any other is dropped and counted, and the
 * count is logged (one warn line, "function log lines dropped") at the end of each
 * report_ms window that dropped something. The state is a few integers per function: nothing
 * is buffered, so a flood costs the gateway the decoding of its lines and no memory.
 *
 * Loop thread only. Times are milliseconds of any monotonic clock (uv_now()).
 */
struct fng_fnlog {
	uint64_t lines;       /* tokens of the line bucket, in thousandths of a line */
	uint64_t bytes;       /* tokens of the byte bucket, in thousandths of a byte */
	uint64_t refilled_ms; /* when the buckets were last topped up */
	uint64_t dropped;     /* lines dropped since the last report */
	uint64_t report_at;   /* now_ms when that count is due in the log */
	uint64_t dropped_total;
	bool primed;          /* the buckets were filled once (a zeroed state is new and full) */
};

/*
 * One line of function `function`'s log: level ("debug", "info", "warn", "error"), len bytes
 * of text (cut at FNG_WIRE_MAX_LOG; need not be NUL-terminated), the request it belongs to
 * (NULL: none known) and the stream it came by ("log": fng_log(), "stderr": the worker's
 * output). Logs it with fng__log() if cfg's limits allow, else counts it as dropped; a drop
 * count that is due is logged first. st is zeroed (or used before) memory. True: logged.
 */
bool fng__fnlog_line(struct fng_fnlog *st, const struct fng_fnlog_cfg *cfg, uint64_t now_ms,
	const char *function, const char *level, const char *text, size_t len,
	const char *request_id, const char *stream);

/*
 * Logs the drop count of st if it is due at now_ms: call it now and then (the server's sweep
 * timer does, through fng__functions_log_tick()) so that the count of a flood that stopped is
 * reported without waiting for the function's next line.
 */
void fng__fnlog_tick(struct fng_fnlog *st, uint64_t now_ms, const char *function);

#endif
