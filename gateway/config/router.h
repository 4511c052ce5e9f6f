/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_ROUTER_H
#define FNG_GATEWAY_ROUTER_H

#include "mem.h"

/*
 * The route table of one API: a trie of path segments. A request path is matched segment by
 * segment preferring literal > {param} > {greedy+}, backtracking when a branch dead-ends;
 * `$default` catches the rest. Built at config load, immutable afterwards, shared by every
 * request of a config snapshot.
 */

#define FNG_ROUTE_MAX_PARAMS 16
#define FNG_ROUTE_MAX_SEGMENTS 64
#define FNG_ROUTE_MAX_ALLOW 16

struct fng_route; /* config.h */

struct fng_param {
	struct fng_str name;
	struct fng_str value; /* percent-decoded */
};

struct fng_route_match {
	const struct fng_route *route;
	unsigned nparams;
	struct fng_param params[FNG_ROUTE_MAX_PARAMS];
	/* Methods that would have matched the path, for 405's Allow header. */
	unsigned nallow;
	const char *allow[FNG_ROUTE_MAX_ALLOW];
};

/* A parsed route key: "GET /a/{b}", "ANY /x/{p+}" or "$default". */
struct fng_route_key {
	const char *method;   /* upper-case token or "ANY"; NULL for $default */
	const char *path;
	unsigned nparams;
	const char *param_names[FNG_ROUTE_MAX_PARAMS];
};

struct fng_router;

struct fng_router *fng__router_create(struct fng_arena *a);

/*
 * Parses a route key into *key (strings from a). On error returns FNG_ECONFIG with *why set.
 */
int fng__route_key_parse(struct fng_arena *a, const char *src, struct fng_route_key *key,
	const char **why);

/*
 * Adds route (whose key is key) to the table. FNG_ECONFIG with *why on a duplicate (same
 * method and same path shape).
 */
int fng__router_add(struct fng_router *r, struct fng_arena *a, const struct fng_route_key *key,
	const struct fng_route *route, const char **why);

/*
 * Matches method + path (raw, percent-encoded, no query). Decoded parameter values are
 * allocated from a. Returns 0 (m->route set), FNG_ENOT_FOUND, FNG_EMETHOD_NOT_ALLOWED (m->allow
 * lists the methods) or FNG_EBAD_REQUEST (malformed percent-encoding, NUL, too many segments).
 */
int fng__router_match(const struct fng_router *r, struct fng_arena *a, struct fng_str method,
	struct fng_str path, struct fng_route_match *m);

/* Percent-decodes src into dst (room for n bytes). Returns the length or -1 if malformed. */
long fng__pct_decode(char *dst, const char *src, size_t n);

/* Calls fn for every route, depth first, in priority order (for `fngate routes`). */
void fng__router_walk(const struct fng_router *r,
	void (*fn)(void *ctx, const struct fng_route_key *key, const struct fng_route *route),
	void *ctx);

#endif
