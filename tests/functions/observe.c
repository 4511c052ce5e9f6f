// SPDX-License-Identifier: MIT
/*
 * What the gateway observes of an invocation (tests/integration/test_trace.py): with
 * ?spin_ms=N it burns N ms of its own CPU (by CLOCK_PROCESS_CPUTIME_ID, so the time is CPU
 * time however busy the machine is), with ?touch_mb=N it allocates N MiB and writes every
 * page of them (then frees them: the peak stays), and it always answers its trace context as
 * JSON: fng_event_traceparent(), fng_event_tracestate(), the event's traceparent and
 * tracestate headers and a child traceparent from fng_trace_child(). As a function authorizer
 * it allows everyone and attaches its own traceparent ("tp"), which the handler behind it
 * answers as authorizerTraceparent.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fngate.h"

static long cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static int observe(struct fng_ctx *ctx)
{
	const char *spin = fng_event_query(ctx, "spin_ms");
	const char *touch = fng_event_query(ctx, "touch_mb");
	char child[FNG_TRACEPARENT_LEN + 1];
	int child_rc;

	if (strcmp(fng_event_type(ctx), "AUTHORIZER") == 0) {
		if (fng_authorizer_context_str(ctx, "tp", or_empty(fng_event_traceparent(ctx)))) {
			return -1;
		}
		return fng_authorizer_allow(ctx, "anyone");
	}
	if (spin) {
		long until = cpu_us() + strtol(spin, NULL, 10) * 1000;

		for (volatile unsigned long i = 0; cpu_us() < until; i++) {
		}
	}
	if (touch) {
		size_t n = (size_t)strtol(touch, NULL, 10) << 20;
		volatile char *p = malloc(n);

		if (!p) {
			return -1;
		}
		for (size_t i = 0; i < n; i += 4096) {
			p[i] = (char)i;
		}
		free((void *)p);
	}
	child_rc = fng_trace_child(ctx, child);
	return fng_response_json(ctx, 200,
		"{\"traceparent\":\"%s\",\"tracestate\":\"%s\",\"header\":\"%s\","
		"\"stateHeader\":\"%s\",\"child\":\"%s\",\"childRc\":%d,"
		"\"authorizerTraceparent\":\"%s\"}",
		fng_json_str(ctx, or_empty(fng_event_traceparent(ctx))),
		fng_json_str(ctx, or_empty(fng_event_tracestate(ctx))),
		fng_json_str(ctx, or_empty(fng_event_header(ctx, "traceparent"))),
		fng_json_str(ctx, or_empty(fng_event_header(ctx, "tracestate"))),
		fng_json_str(ctx, child), child_rc,
		fng_json_str(ctx, or_empty(fng_event_authorizer(ctx, "tp"))));
}
FNG_HANDLER(observe)
