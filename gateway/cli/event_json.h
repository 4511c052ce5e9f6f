/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_EVENT_JSON_H
#define FNG_GATEWAY_EVENT_JSON_H

#include <jansson.h>

#include "mem.h"
#include "wire.h"

/*
 * `fngate invoke`'s two translations (event_json.c): an API Gateway event in JSON into the
 * event a worker gets, and the worker's result into the JSON API Gateway would return for
 * that kind of event. Three shapes, told apart as API Gateway's own documentation describes
 * them: payload 2.0 (HTTP APIs: "version": "2.0", rawPath, requestContext.http), payload 1.0
 * (REST APIs and HTTP APIs' 1.0 format: httpMethod, multiValueHeaders, ...; "version": "1.0"
 * may be absent), and a WebSocket route's event (requestContext.connectionId/eventType); and
 * a Lambda authorizer's event ("type": "TOKEN" or "REQUEST", read as 1.0 or 2.0 around its
 * own fields), which becomes fngate's AUTHORIZER event and is answered with the decision.
 */
enum fng_event_shape {
	FNG_SHAPE_V2,
	FNG_SHAPE_V1,
	FNG_SHAPE_WS,
	FNG_SHAPE_AUTHORIZER,
};

struct fng_json_event {
	struct fng_wire_event ev;
	enum fng_event_shape shape;
	struct fng_arena *arena; /* what ev points into, beside the JSON document */
};

/*
 * Fills je from the JSON event root (which must outlive je->ev). 0, or -1 with *why set: not
 * an object, a body whose base64 does not decode, out of memory. fng__json_event_finish()
 * frees what it made, also after an error.
 */
int fng__json_event_from(json_t *root, struct fng_json_event *je, const char **why);
void fng__json_event_finish(struct fng_json_event *je);

/*
 * Puts ev in a W3C trace for `fngate invoke` and the test harness: its traceparent header's
 * when valid, else a new one; requestContext.trace names a span of its own, written to tp
 * (FNG_TRACEPARENT_LEN + 1 bytes, which must outlive ev's encoding).
 */
void fng__json_event_trace(struct fng_wire_event *ev, char tp[56]);

/*
 * The response API Gateway would return for a handler's result r to an event of shape: its
 * status, headers (2.0: repeated names joined with commas, cookies apart; 1.0: the last value
 * in headers and every value in multiValueHeaders, Set-Cookie included), the body as text
 * when it is UTF-8 and in base64 with isBase64Encoded otherwise. NULL without memory.
 */
json_t *fng__json_response(const struct fng_wire_result *r, enum fng_event_shape shape);

/*
 * The pieces of the translation the test harness (gateway/harness) builds events from too.
 * A growing list of pairs in an arena (fng__kvlist_add: 0 or -1 without memory); a name in
 * lower case, as the gateway passes header names (NUL-terminated, in a); the pairs of a raw
 * query string, decoded like the gateway does (query.h), appended to l (0 or -1); and the
 * raw query string of pairs, percent-encoded but for RFC 3986's unreserved characters.
 */
struct fng_kvlist {
	struct fng_wire_kv *v;
	size_t n, cap;
};

int fng__kvlist_add(struct fng_arena *a, struct fng_kvlist *l, struct fng_wire_str k,
	struct fng_wire_str v);
struct fng_wire_str fng__json_lower(struct fng_arena *a, const char *s, size_t n);
int fng__kvlist_query(struct fng_arena *a, struct fng_kvlist *l, struct fng_wire_str raw);
struct fng_wire_str fng__kvlist_raw_query(struct fng_arena *a, const struct fng_kvlist *l);

/*
 * An authorizer's answer as JSON (AUTHORIZER events): {isAuthorized, principalId, context
 * (typed), usageIdentifierKey (when set)}; NULL when r has no decision or without memory.
 */
json_t *fng__json_authorizer_answer(const struct fng_wire_result *r);

#endif
