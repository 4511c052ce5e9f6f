// SPDX-License-Identifier: MIT
/*
 * Tests for the configuration of gateway/stages/cache.c without sockets: a stage's and a
 * route's cache blocks as the loader takes them (defaults, names lower- or upper-cased) and
 * each bad value refused at its FILE:LINE:COL.
 */
#include "cache_stage.h"
#include "conf_test.h"
#include "harness.h"

static const char config[] =
	"apis:\n"
	"  a:\n"
	"    stages:\n"
	"      s: { cache: {} }\n"
	"      t:\n"
	"        cache: { capacity_bytes: 1048576, ttl_s: 0, max_entry_bytes: 4096,\n"
	"                 stale_while_revalidate_s: 5, stale_if_error_s: 60,\n"
	"                 require_authorization: false, unauthorized_invalidation: forbid,\n"
	"                 all_routes: false, coalesce_wait_ms: 250 }\n"
	"      u: {}\n"
	"    routes:\n"
	"      \"GET /x\": { integration: { type: mock } }\n"
	"      \"ANY /y\":\n"
	"        integration: { type: mock }\n"
	"        cache: { enabled: false, ttl_s: 3600, methods: [get, post], shared: true,\n"
	"                 cookies: true, key: { query: [Lang, q], headers: [Accept-Language] } }\n";

#define STAGE(body) "apis:\n  a:\n    stages: { s: { cache: " body " } }\n" \
	"    routes: { \"GET /x\": { integration: { type: mock } } }\n"
#define ROUTE(body) "apis:\n  a:\n    stages: { s: {} }\n" \
	"    routes: { \"GET /x\": { integration: { type: mock }, cache: " body " } }\n"

static void test_errors(void)
{
	conf_test_refused(STAGE("{ ttl_s: 3601 }"), "t.yaml:3:", "ttl over 3600");
	conf_test_refused(STAGE("{ capacity_bytes: 100 }"), "capacity_bytes", "a tiny capacity");
	conf_test_refused(STAGE("{ capacity_bytes: 65536, max_entry_bytes: 1048576 }"),
		"max_entry_bytes 1048576 exceeds capacity_bytes 65536", "an entry over the capacity");
	conf_test_refused(STAGE("{ unauthorized_invalidation: fail }"),
		"cache.unauthorized_invalidation \"fail\": use ignore or forbid", "bad strategy");
	conf_test_refused(STAGE("{ tll_s: 5 }"), "unknown key \"tll_s\"", "misspelt key");
	conf_test_refused(STAGE("[]"), "t.yaml:3:", "not a map");
	conf_test_refused(ROUTE("{ ttl_s: -1 }"), "cache.ttl_s must be between 0 and 3600",
		"negative route ttl");
	conf_test_refused(ROUTE("{ ttl_s: 10s }"), "cache.ttl_s must be between 0 and 3600",
		"a ttl with a unit");
	conf_test_refused(ROUTE("{ key: { cookies: [a] } }"), "unknown key \"cookies\" in cache.key",
		"unknown key part");
	conf_test_refused(ROUTE("{ key: { headers: [\"bad header\"] } }"),
		"cache.key.headers: \"bad header\" is not a valid name", "a header that is no token");
	conf_test_refused(ROUTE("{ key: { query: [a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q] } }"),
		"cache.key.query: at most 16 names", "17 query names");
	conf_test_refused(ROUTE("{ methods: [\"G T\"] }"), "is not a valid name", "bad method");
}

static void body(struct fng_config *c)
{
	const struct fng_api *a = &c->apis[0];
	const struct fng_stage_cache *s = a->stages[0].cache, *t = a->stages[1].cache;
	const struct fng_route *x = NULL, *y = NULL;

	for (unsigned i = 0; i < a->nroutes; i++) {
		if (strcmp(a->routes[i].key, "GET /x") == 0) {
			x = &a->routes[i];
		} else {
			y = &a->routes[i];
		}
	}
	CHECK(s && s->capacity_bytes == 64 << 20 && s->ttl_s == 300 &&
		s->max_entry_bytes == 1 << 20 && !s->stale_while_revalidate_s &&
		!s->stale_if_error_s && s->require_authorization && !s->forbid_unauthorized &&
		s->all_routes && !s->coalesce_wait_ms, "an empty cache block: every default");
	CHECK(t && t->capacity_bytes == 1048576 && t->ttl_s == 0 && t->max_entry_bytes == 4096 &&
		t->stale_while_revalidate_s == 5 && t->stale_if_error_s == 60 &&
		!t->require_authorization && t->forbid_unauthorized && !t->all_routes &&
		t->coalesce_wait_ms == 250, "every stage key");
	CHECK(!a->stages[2].cache, "a stage without a cache block has none");
	CHECK(x && !x->cache, "a route without a cache block: NULL (the defaults)");
	CHECK(y && y->cache && !y->cache->enabled && y->cache->ttl_s == 3600 && y->cache->shared &&
		y->cache->cookies, "the route's flags and TTL");
	CHECK(y && y->cache->nmethods == 2 && strcmp(y->cache->methods[0], "GET") == 0 &&
		strcmp(y->cache->methods[1], "POST") == 0, "methods upper-cased");
	CHECK(y && y->cache->nquery == 2 && strcmp(y->cache->query[0], "Lang") == 0 &&
		y->cache->nheaders == 1 && strcmp(y->cache->headers[0], "accept-language") == 0,
		"query names as written, header names lower-cased");
	test_errors();
}

int main(void)
{
	return conf_test_main(config, body);
}
