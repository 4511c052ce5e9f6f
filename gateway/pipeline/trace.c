// SPDX-License-Identifier: MIT
/*
 * A request's place in a W3C trace (req->trace): new ids, joining another request's trace,
 * and the traceparent that names the gateway's span. The stage "trace" (stages/trace.c) reads
 * the client's headers with these; a request that no client sent is put in its trace by the
 * code that makes it (a WebSocket event joins its connection's, a function authorizer's
 * invocation the request it decides about, host/authz.c and ws/ws_conn.c); the function host
 * hands the result to the handler (host/event.c).
 *
 * Ids come from splitmix64 over a per-thread state seeded once from getrandom(): a request
 * costs no system call, and every loop thread has its own sequence. Unique, not secret.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <uv.h>

#include "request.h"

static _Thread_local uint64_t state;
static _Thread_local bool seeded;

static uint64_t next64(void)
{
	uint64_t z;

	if (!seeded) {
		if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != (ssize_t)sizeof(state)) {
			state = uv_hrtime() ^ (uint64_t)(uintptr_t)&state;
		}
		seeded = true;
	}
	z = (state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void hex64(char *out, uint64_t v)
{
	static const char xd[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--) {
		out[i] = xd[v & 15];
		v >>= 4;
	}
}

void fng__trace_random_id(char *out, unsigned words)
{
	uint64_t any = 0;

	do {
		any = 0;
		for (unsigned i = 0; i < words; i++) {
			uint64_t v = next64();

			any |= v;
			hex64(out + 16 * i, v);
		}
	} while (!any); /* all zero is invalid: one chance in 2^64 per word */
	out[16 * words] = '\0';
}

void fng__req_trace_new(struct fng_req *req)
{
	fng__trace_random_id(req->trace.trace_id, 2);
	fng__trace_random_id(req->trace.span_id, 1);
	req->trace.parent_id[0] = '\0';
	req->trace.flags = FNG_TRACE_SAMPLED;
	req->trace.tracestate = NULL;
}

void fng__req_trace_join(struct fng_req *req, const char *trace_id, const char *parent_span,
	uint8_t flags, const char *tracestate)
{
	if (!trace_id || strlen(trace_id) != 32 || !parent_span || strlen(parent_span) != 16) {
		fng__req_trace_new(req);
		return;
	}
	memcpy(req->trace.trace_id, trace_id, 33);
	memcpy(req->trace.parent_id, parent_span, 17);
	fng__trace_random_id(req->trace.span_id, 1);
	req->trace.flags = flags;
	req->trace.tracestate = tracestate;
}

bool fng__req_traceparent(const struct fng_req *req, char out[56])
{
	static const char xd[] = "0123456789abcdef";

	if (!req->trace.trace_id[0]) {
		out[0] = '\0';
		return false;
	}
	memcpy(out, "00-", 3);
	memcpy(out + 3, req->trace.trace_id, 32);
	out[35] = '-';
	memcpy(out + 36, req->trace.span_id, 16);
	out[52] = '-';
	out[53] = xd[req->trace.flags >> 4];
	out[54] = xd[req->trace.flags & 15];
	out[55] = '\0';
	return true;
}
