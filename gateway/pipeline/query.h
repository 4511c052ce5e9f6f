/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_QUERY_H
#define FNG_GATEWAY_QUERY_H

/*
 * The query string, one rule for everyone who reads it: the event's queryStringParameters,
 * request.querystring.NAME in templates, the admin API's and the WebSocket handshake's
 * parameters. Form-style (application/x-www-form-urlencoded, as browsers and API Gateway
 * send it): pairs split at '&', name and value at the first '=', then in names and values
 * alike '+' is a space and %XX a byte ("%2B" is a '+'). A pair with an empty name or a
 * malformed escape is skipped, as if it were not there. docs/protocol.md says the same.
 */

#include "mem.h"

/*
 * Decodes one component of a query (a name or a value) from src[0..n) into dst (room for n
 * bytes; dst may be src). Returns the decoded length, or -1 for a malformed escape.
 */
long fng__query_decode(char *dst, const char *src, size_t n);

/*
 * The next parameter of the query [*p, end), decoded into arena memory (NUL-terminated, so a
 * "%00" cuts what C strings see), *p moved past it. Returns 1 with *name and *value set (the
 * value is "" when the pair has no '='), 0 when no parameter is left, UV_ENOMEM.
 */
int fng__query_next(struct fng_arena *a, const char **p, const char *end, struct fng_str *name,
	struct fng_str *value);

#endif
