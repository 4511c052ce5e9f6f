// SPDX-License-Identifier: MIT
/*
 * The response cache's configuration (stages/cache.c): a stage's `cache` block (capacity,
 * TTL, stale windows, invalidation) and a route's (enabled, TTL, methods, key parameters,
 * shared, cookies).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cache_stage.h"
#include "chars.h"
#include "conf.h"

#define SOFF(member) offsetof(struct fng_stage_cache, member)

static int parse_invalidation(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_stage_cache *c = obj;
	const char *s = v ? fng__conf_str(L, v, "cache.unauthorized_invalidation") : "ignore";

	if (!s) {
		return -1;
	}
	if (strcmp(s, "forbid") == 0) {
		c->forbid_unauthorized = true;
	} else if (strcmp(s, "ignore") != 0) {
		fng__conf_err(L, v, "cache.unauthorized_invalidation \"%s\": use ignore or forbid", s);
		return -1;
	}
	return 0;
}

static const struct fng_conf_key stage_keys[] = {
	{ "capacity_bytes", FNG_CONF_U64, SOFF(capacity_bytes), 64 << 20, 65536, (uint64_t)1 << 40 },
	{ "ttl_s", FNG_CONF_U32, SOFF(ttl_s), 300, 0, FNG_CACHE_MAX_TTL_S },
	{ "max_entry_bytes", FNG_CONF_U64, SOFF(max_entry_bytes), 1 << 20, 1024, (uint64_t)1 << 30 },
	{ "stale_while_revalidate_s", FNG_CONF_U32, SOFF(stale_while_revalidate_s), 0, 0, 86400 },
	{ "stale_if_error_s", FNG_CONF_U32, SOFF(stale_if_error_s), 0, 0, 86400 },
	{ "require_authorization", FNG_CONF_BOOL, SOFF(require_authorization), 1 },
	{ "unauthorized_invalidation", FNG_CONF_FN, 0, .fn = parse_invalidation },
	{ "all_routes", FNG_CONF_BOOL, SOFF(all_routes), 1 },
	{ "coalesce_wait_ms", FNG_CONF_U32, SOFF(coalesce_wait_ms), 0, 0, 900000 },
	{ NULL },
};

int fng__stage_cache_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_stage *s = obj;
	struct fng_stage_cache *c;

	if (!v) {
		return 0;
	}
	c = fng__conf_apply_new(L, v, stage_keys, sizeof(*c), "cache");
	if (!c) {
		return -1;
	}
	if (c->max_entry_bytes > c->capacity_bytes) {
		fng__conf_err(L, v, "cache.max_entry_bytes %" PRIu64 " exceeds capacity_bytes %"
			PRIu64, c->max_entry_bytes, c->capacity_bytes);
		return -1;
	}
	s->cache = c;
	return 0;
}

/* A list of names into *out (arena), each checked by ok and lower-cased when lower. */
static int parse_names(struct fng_conf *L, const struct fng_conf_node *v, const char *what,
	bool lower, bool upper, const char ***out, unsigned *n)
{
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, what)) {
		return -1;
	}
	if (v->n > FNG_CACHE_MAX_KEYS) {
		fng__conf_err(L, v, "%s: at most %d names", what, FNG_CACHE_MAX_KEYS);
		return -1;
	}
	*out = fng__arena_zalloc(L->cfg->arena, (v->n + 1) * sizeof(**out));
	if (!*out) {
		fng__conf_err(L, v, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const struct fng_conf_node *k = v->kids[i];
		char *s;

		if (!fng__conf_want(L, k, FNG_CONF_SCALAR, what) || !k->len || k->len > 128 ||
			((lower || upper) && !fng__is_token(k->s, k->len))) {
			if (k->type == FNG_CONF_SCALAR) {
				fng__conf_err(L, k, "%s: \"%s\" is not a valid name", what, k->s);
			}
			return -1;
		}
		s = fng__arena_strndup(L->cfg->arena, k->s, k->len);
		if (!s) {
			fng__conf_err(L, k, "out of memory");
			return -1;
		}
		for (size_t j = 0; j < k->len; j++) {
			s[j] = lower ? fng__lower(s[j]) : upper && s[j] >= 'a' && s[j] <= 'z' ?
				(char)(s[j] - 'a' + 'A') : s[j];
		}
		(*out)[(*n)++] = s;
	}
	return 0;
}

static int parse_methods(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_route_cache *c = obj;

	if (!v) {
		static const char *const dflt[] = { "GET", "HEAD" };

		c->methods = (const char **)dflt;
		c->nmethods = 2;
		return 0;
	}
	return parse_names(L, v, "cache.methods", false, true, &c->methods, &c->nmethods);
}

static int parse_key(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_route_cache *c = obj;
	const struct fng_conf_node *q, *h;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "cache.key")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		if (strcmp(v->kids[i]->s, "query") != 0 && strcmp(v->kids[i]->s, "headers") != 0) {
			fng__conf_err(L, v->kids[i], "unknown key \"%s\" in cache.key (known: query, "
				"headers)", v->kids[i]->s);
			return -1;
		}
	}
	q = fng__conf_lookup(v, "query");
	h = fng__conf_lookup(v, "headers");
	if (q && parse_names(L, q, "cache.key.query", false, false, &c->query, &c->nquery) != 0) {
		return -1;
	}
	if (h && parse_names(L, h, "cache.key.headers", true, false, &c->headers,
		    &c->nheaders) != 0) {
		return -1;
	}
	return 0;
}

static int parse_route_ttl(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_route_cache *c = obj;
	char *end;
	long long t;

	c->ttl_s = -1;
	if (!v) {
		return 0;
	}
	t = fng__conf_want(L, v, FNG_CONF_SCALAR, "cache.ttl_s") ? strtoll(v->s, &end, 10) : -1;
	if (t < 0 || t > FNG_CACHE_MAX_TTL_S || !v->len || *end) {
		fng__conf_err(L, v, "cache.ttl_s must be between 0 and %d", FNG_CACHE_MAX_TTL_S);
		return -1;
	}
	c->ttl_s = t;
	return 0;
}

#define ROFF(member) offsetof(struct fng_route_cache, member)

static const struct fng_conf_key route_keys[] = {
	{ "enabled", FNG_CONF_BOOL, ROFF(enabled), 1 },
	{ "ttl_s", FNG_CONF_FN, 0, .fn = parse_route_ttl },
	{ "methods", FNG_CONF_FN, 0, .fn = parse_methods },
	{ "key", FNG_CONF_FN, 0, .fn = parse_key },
	{ "shared", FNG_CONF_BOOL, ROFF(shared), 0 },
	{ "cookies", FNG_CONF_BOOL, ROFF(cookies), 0 },
	{ NULL },
};

int fng__route_cache_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_route *r = obj;

	if (!v) {
		return 0;
	}
	r->cache = fng__conf_apply_new(L, v, route_keys, sizeof(struct fng_route_cache),
		"route cache");
	return r->cache ? 0 : -1;
}

