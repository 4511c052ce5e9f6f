// SPDX-License-Identifier: MIT
/*
 * W3C Trace Context (https://www.w3.org/TR/trace-context/), two stages of the request path.
 *
 * "trace", the first head-phase stage, so that every request has a trace before anything can
 * refuse it: a request with exactly one valid `traceparent` header continues the client's
 * trace (its trace id and flags; the client's span is the parent); its `tracestate` headers,
 * joined with ',', are kept when they are well formed (32 members, 512 bytes at most), else
 * dropped. Anything else — no traceparent, a malformed one, several — starts a new trace,
 * sampled (the gateway logs every request with its trace id). The gateway's own span id is
 * new for every request. The rules are sdk/wire_rules.h's, the ones the worker's decoder
 * applies to what the gateway sends.
 *
 * A request that no client sent is in a trace before it starts: a WebSocket event in its
 * connection's (ws_conn.c), a function authorizer's invocation in the request it decides
 * about (host/authz.c), a scheduled run in a new one (here).
 *
 * "trace_headers" (final phase, before "respond"): every HTTP answer, the gateway's own
 * errors included, carries `traceparent` with the gateway's span, so the client can find
 * the request's trace; one an integration set is replaced.
 */
#include <string.h>

#include "stages.h"
#include "trace.h"
#include "wire_rules.h"

#define H(s) s, sizeof(s) - 1

/* The client's tracestate headers joined with ',' (arena), when valid; else NULL. */
static const char *tracestate(struct fng_req *req)
{
	size_t len = 0, n = 0;
	char *s, *p;

	for (unsigned i = 0; i < req->nheaders; i++) {
		if (fng__str_ieq(req->headers[i].name, H("tracestate"))) {
			len += req->headers[i].value.len + 1;
			n++;
		}
	}
	if (!n || len - 1 > FNG_TRACESTATE_MAX) {
		return NULL;
	}
	s = p = fng__arena_alloc(req->arena, len);
	if (!s) {
		return NULL;
	}
	for (unsigned i = 0; i < req->nheaders; i++) {
		if (fng__str_ieq(req->headers[i].name, H("tracestate"))) {
			if (p > s) {
				*p++ = ',';
			}
			memcpy(p, req->headers[i].value.p, req->headers[i].value.len);
			p += req->headers[i].value.len;
		}
	}
	*p = '\0';
	return fng__tracestate_ok(s, (size_t)(p - s)) && p > s ? s : NULL;
}

bool fng__trace_from_headers(struct fng_req *req)
{
	const struct fng_header *tph = NULL;
	struct fng_traceparent tp;
	unsigned n = 0;

	for (unsigned i = 0; i < req->nheaders; i++) {
		if (fng__str_ieq(req->headers[i].name, H("traceparent"))) {
			tph = &req->headers[i];
			n++;
		}
	}
	if (n != 1 || !fng__traceparent_parse(tph->value.p, tph->value.len, &tp)) {
		fng__req_trace_new(req);
		return false;
	}
	fng__req_trace_join(req, tp.trace_id, tp.parent_id, tp.flags, tracestate(req));
	return true;
}

static int trace_run(struct fng_req *req)
{
	if (req->trace.trace_id[0]) {
		return FNG_STAGE_NEXT; /* put in a trace by the code that made it */
	}
	if (req->event != FNG_EVENT_NONE) {
		fng__req_trace_new(req);
	} else {
		fng__trace_from_headers(req);
	}
	return FNG_STAGE_NEXT;
}

static int trace_headers(struct fng_req *req)
{
	struct fng_resp *r = &req->resp;
	char tp[FNG_TRACEPARENT_LEN + 1];
	unsigned k = 0;

	if (req->event != FNG_EVENT_NONE || !fng__req_traceparent(req, tp)) {
		return FNG_STAGE_NEXT;
	}
	for (unsigned i = 0; i < r->nheaders; i++) {
		if (!fng__str_ieq(r->headers[i].name, H("traceparent"))) {
			r->headers[k++] = r->headers[i];
		}
	}
	r->nheaders = k;
	/* A final stage's failure cannot become a new answer: the one we have goes out. */
	fng__resp_header(req, H("traceparent"), tp, FNG_TRACEPARENT_LEN);
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_trace = {
	.name = "trace", .run = trace_run, .phase = FNG_PHASE_HEAD,
};

const struct fng_stage_def fng__stage_trace_headers = {
	.name = "trace_headers", .run = trace_headers, .phase = FNG_PHASE_FINAL,
};
