// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/stages/throttle.c without sockets: the throttle keys as the loader takes
 * and refuses them (FILE:LINE:COL), and what they compile to (identities, a route throttle
 * resolved to its route, shared or per client).
 */
#include "conf_test.h"
#include "harness.h"
#include "throttle.h"

static const char config[] =
	"server: { throttle: { rate: 1000, burst: 2000 }, throttle_memory_bytes: 1048576 }\n"
	"apis:\n"
	"  a:\n"
	"    rate_limit_headers: true\n"
	"    stages:\n"
	"      s:\n"
	"        throttle: { rate: 10, burst: 0 }\n"
	"        route_throttles:\n"
	"          \"GET /x\": { rate: 5, burst: 5 }\n"
	"          \"GET /y\": { rate: 2, burst: 3, identity: principal }\n"
	"        client_throttle: { rate: 1, burst: 2, identity: \"claim:sub\", ipv6_prefix: 48 }\n"
	"      plain: {}\n"
	"    routes:\n"
	"      \"GET /x\": { integration: { type: mock } }\n"
	"      \"GET /y\": { integration: { type: mock } }\n";

#define STAGE_WITH(keys)                                                                   \
	"apis:\n  a:\n    stages: { s: { " keys " } }\n"                                     \
	"    routes: { \"GET /x\": { integration: { type: mock } } }\n"

static void test_errors(void)
{
	conf_test_refused(STAGE_WITH("throttle: { rate: 0, burst: 1 }"), "t.yaml:3:", "rate 0");
	conf_test_refused(STAGE_WITH("throttle: { rate: 1 }"), "burst", "burst missing");
	conf_test_refused(STAGE_WITH("throttle: { rate: 1, burst: 1, brust: 2 }"),
		"unknown key \"brust\"", "misspelt key");
	conf_test_refused(STAGE_WITH("route_throttles: { \"GET /z\": { rate: 1, burst: 1 } }"),
		"t.yaml:3:40: route_throttles: API \"a\" has no route \"GET /z\"", "unknown route");
	conf_test_refused(STAGE_WITH("client_throttle: { rate: 1, burst: 1, identity: ip }"),
		"client_throttle.identity \"ip\": use source_ip", "unknown identity");
	conf_test_refused(STAGE_WITH("client_throttle: { rate: 1, burst: 1, identity: \"claim:\" }"),
		"client_throttle.identity", "claim without a name");
	conf_test_refused(STAGE_WITH("route_throttles: { \"GET /x\": { rate: 1, burst: 1, "
				     "identity: ip } }"),
		"t.yaml:3:80: route_throttles.identity \"ip\": use source_ip",
		"a route throttle's unknown identity, named by its owner");
	conf_test_refused(STAGE_WITH("client_throttle: { rate: 1, burst: 1, ipv6_prefix: 129 }"),
		"ipv6_prefix", "prefix 129");
	conf_test_refused("server: { throttle_memory_bytes: 100 }\n" STAGE_WITH(""),
		"throttle_memory_bytes", "a budget under 4096");
}

static void body(struct fng_config *c)
{
	const struct fng_api *a = &c->apis[0];
	const struct fng_stage *s = &a->stages[0];
	const struct fng_client_throttle *ct = s->client_throttle;

	CHECK(c->throttle.gateway.rate == 1000 && c->throttle.gateway.burst == 2000 &&
		c->throttle.memory_bytes == 1048576, "server.throttle and its budget");
	CHECK(a->rate_limit_headers && s->throttle.rate == 10 && s->throttle.burst == 0,
		"rate_limit_headers; a stage's burst may be 0");
	CHECK(ct && ct->identity == FNG_THROTTLE_CLAIM && strcmp(ct->ctx_name, "claims.sub") == 0 &&
		ct->ipv6_prefix == 48 && ct->t.rate == 1 && ct->t.burst == 2, "client_throttle");
	CHECK(s->nroute_throttles == 2 && s->route_throttles[0].route == &a->routes[0] &&
		!s->route_throttles[0].client && s->route_throttles[0].t.burst == 5,
		"a shared route throttle, resolved to its route");
	CHECK(s->route_throttles[1].route == &a->routes[1] && s->route_throttles[1].client &&
		s->route_throttles[1].client->identity == FNG_THROTTLE_PRINCIPAL,
		"a per-client route throttle");
	CHECK(!a->stages[1].client_throttle && a->stages[1].throttle.rate == 0 &&
		a->stages[1].nroute_throttles == 0, "a stage without throttles");
	test_errors();
}

int main(void)
{
	return conf_test_main(config, body);
}
