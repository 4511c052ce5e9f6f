/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_ORIGIN_H
#define FNG_GATEWAY_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/*
 * Web origins (RFC 6454: scheme, host, port) as a CORS configuration lists them, compiled
 * when it loads, and the match of a request's Origin header against them. Schemes and hosts
 * compare case-insensitively; a port equal to the scheme's default (http and ws 80, https
 * and wss 443) is the same origin as no port. A rule's host may be a wildcard: "*" (every
 * host of that scheme and port) or "*.example.com" (one or more labels before example.com:
 * a.example.com, a.b.example.com; neither example.com itself nor evil-example.com). The
 * origin "*" (every origin) is the set's own flag, not a rule.
 */

struct fng_origin_rule {
	const char *scheme;   /* lower case */
	size_t scheme_len;
	const char *host;     /* lower case; a wildcard's suffix: ".example.com", or "" */
	size_t host_len;
	uint16_t port;        /* 0: the scheme's default */
	bool wildcard;
};

struct fng_origin_set {
	const struct fng_origin_rule *rules;
	unsigned n;
	bool any;             /* "*": every origin */
};

/*
 * Parses a rule, "SCHEME://HOST[:PORT]" with no path, query, user or trailing slash, HOST a
 * DNS name, an IPv4 address or a bracketed IPv6 address, or a wildcard as above. Strings
 * are copied into a. On failure *why says what is wrong (and a may hold garbage).
 */
bool fng__origin_rule_parse(struct fng_arena *a, const char *s, size_t len,
	struct fng_origin_rule *out, const char **why);

/* Whether the Origin header value s (len bytes, as a browser sent it) is in set. */
bool fng__origin_match(const struct fng_origin_set *set, const char *s, size_t len);

#endif
