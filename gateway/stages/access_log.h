/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_STAGE_ACCESS_LOG_H
#define FNG_GATEWAY_STAGE_ACCESS_LOG_H

#include <time.h>

#include "request.h"

/*
 * The access log stage (stages/access_log.c): the last final-phase stage, one JSON line per
 * request, answered or refused. The fields a line carries are chosen by `access_log.fields`;
 * the loader compiles that list once into a format (each field's `,"key":` bytes and its
 * getter), so writing a line is a walk over the format with no lookups and no branches per
 * field.
 */

/* The fields, in the default order of a line. Each has a key and a getter (the .c's table). */
enum fng_alog_field {
	FNG_ALOG_TIME,
	FNG_ALOG_REQUEST_ID,
	FNG_ALOG_TRACE_ID,
	FNG_ALOG_SPAN_ID,
	FNG_ALOG_PARENT_SPAN_ID,
	FNG_ALOG_IP,
	FNG_ALOG_METHOD,
	FNG_ALOG_PATH,
	FNG_ALOG_PROTOCOL,
	FNG_ALOG_ROUTE_KEY,
	FNG_ALOG_API,
	FNG_ALOG_STAGE,
	FNG_ALOG_STATUS,
	FNG_ALOG_BYTES_IN,
	FNG_ALOG_BYTES_OUT,
	FNG_ALOG_LATENCY,
	FNG_ALOG_INTEGRATION_LATENCY,
	FNG_ALOG_INTEGRATION_STATUS,
	FNG_ALOG_INTEGRATION_CPU,
	FNG_ALOG_INTEGRATION_MAX_RSS,
	FNG_ALOG_USER_AGENT,
	FNG_ALOG_ERROR,
	FNG_ALOG__COUNT
};

/* The clocks a line is written at: taken once per line, passed to every getter. */
struct fng_alog_now {
	uint64_t mono;          /* uv_hrtime() nanoseconds, the clock of req->t_* */
	struct timespec wall;   /* CLOCK_REALTIME */
};

/*
 * One configured field: the bytes before its value (`"key":`, after a comma but for the first
 * field) and its getter, which appends the JSON value of the field for req (a quoted string or
 * a number) to b.
 */
struct fng_alog_item {
	const char *pre;
	size_t pre_len;
	void (*get)(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now);
};

/* A compiled `access_log.fields`: part of the config snapshot, in its arena. */
struct fng_alog_format {
	unsigned n;
	struct fng_alog_item items[];
};

/* The key of field f as `access_log.fields` and a line spell it ("requestId"). */
const char *fng__alog_field_name(enum fng_alog_field f);

/* The field whose key is name, or -1. */
int fng__alog_field_find(const char *name);

/* Compiles fields[0..n) (enum fng_alog_field values) into arena memory; NULL on failure. */
const struct fng_alog_format *fng__alog_compile(struct fng_arena *arena, const uint8_t *fields,
	unsigned n);

/* Appends the line of req for format f (NULL: no field) to b, "{...}" with no newline. */
void fng__alog_render(struct fng_buf *b, const struct fng_alog_format *f,
	const struct fng_req *req, const struct fng_alog_now *now);

/* The stage: renders the line and hands it to req->ops->log, when the log is on. */
int fng__alog_stage_run(struct fng_req *req);

#endif
