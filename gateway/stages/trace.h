/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_STAGES_TRACE_H
#define FNG_GATEWAY_STAGES_TRACE_H

#include "request.h"

/*
 * The stages "trace" and "trace_headers" (stages/trace.c): W3C Trace Context for every
 * request. Exposed for the unit tests.
 */

/*
 * Puts req in a trace from its headers: the client's when it sent exactly one valid
 * traceparent (its tracestate kept when valid), else a new one. true: the client's trace.
 */
bool fng__trace_from_headers(struct fng_req *req);

#endif
