/* SPDX-License-Identifier: MIT */
#ifndef FNG_SDK_WIRE_INT_H
#define FNG_SDK_WIRE_INT_H

/* What wire.c (encoders) and wire_decode.c (decoders) share: the rules both check. */

#include <stdbool.h>

#include "wire.h"

/* An AUTHORIZER event's type: "TOKEN" or "REQUEST". */
bool fng__wire_authz_type_ok(struct fng_wire_str t);
/* An authorizer's answer within the wire's caps (principal, context, usage key). */
bool fng__wire_authz_ok(const struct fng_wire_authz *a);
/* A handler's cache instruction: TTL, tag count, each tag, no repeats. */
bool fng__wire_cache_ok(const struct fng_wire_cache *c);
/*
 * An event's trace context (requestContext.trace), when it has one: a version 00 traceparent
 * of exactly FNG_TRACEPARENT_LEN bytes and an empty or valid tracestate (wire_rules.h).
 */
bool fng__wire_trace_ok(const struct fng_wire_event *ev);
/* A cost within FNG_WIRE_MAX_CPU_US and FNG_WIRE_MAX_RSS_KB (or not set). */
bool fng__wire_cost_ok(const struct fng_wire_cost *c);

#endif
