// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/stages/usage_plans_conf.c and the API key settings (apis_conf.c,
 * server_conf.c) without sockets: what the keys compile to (a plan's throttle, quota, period
 * and batch, its stages and per-key route throttles, a key's plan on a stage) and each bad
 * value refused at its FILE:LINE:COL.
 */
#include "conf_test.h"
#include "harness.h"

static const char config[] =
	"server: { state_dir: /srv/fngate/state }\n"
	"apis:\n"
	"  a:\n"
	"    api_key_header: X-Client-KEY\n"
	"    stages: { s: {}, t: {} }\n"
	"    routes:\n"
	"      \"GET /x\": { api_key_required: true, integration: { type: mock } }\n"
	"      \"GET /y\": { integration: { type: mock } }\n"
	"  b:\n"
	"    api_key_source: authorizer\n"
	"    stages: { s: {} }\n"
	"    routes: { \"GET /x\": { integration: { type: mock } } }\n"
	"usage_plans:\n"
	"  gold:\n"
	"    throttle: { rate: 100, burst: 200 }\n"
	"    quota: { limit: 1000000, period: month }\n"
	"    on_store_failure: open\n"
	"    stages:\n"
	"      - { api: a, stage: s, route_throttles: { \"GET /x\": { rate: 2, burst: 3 } } }\n"
	"      - { api: b, stage: s }\n"
	"  small:\n"
	"    quota: { limit: 50, period: week }\n"
	"    stages: [{ api: a, stage: t }]\n"
	"  tiny:\n"
	"    quota: { limit: 3, period: day, batch: 10 }\n"
	"    stages: [{ api: a, stage: s }]\n";

#define PLAN(body)                                                                         \
	"apis:\n  a:\n    stages: { s: {} }\n"                                               \
	"    routes: { \"GET /x\": { integration: { type: mock } } }\n"                       \
	"  w:\n    protocol: websocket\n    stages: { s: {} }\n"                              \
	"    routes: { $default: { integration: { type: mock } } }\n"                         \
	"usage_plans:\n  p:\n" body

static void test_errors(void)
{
	conf_test_refused(PLAN("    quota: { limit: 5, period: year }\n    stages: [{ api: a, stage: s }]\n"),
		"t.yaml:11:32: quota.period \"year\": use day, week or month", "unknown period");
	conf_test_refused(PLAN("    quota: { limit: 0, period: day }\n    stages: [{ api: a, stage: s }]\n"),
		"t.yaml:11:21: limit must be between 1", "quota limit 0");
	conf_test_refused(PLAN("    quota: { period: day }\n    stages: [{ api: a, stage: s }]\n"),
		"limit", "quota without a limit");
	conf_test_refused(PLAN("    stages: [{ api: nope, stage: s }]\n"),
		"t.yaml:11:21: usage plan \"p\": unknown API \"nope\"", "unknown API");
	conf_test_refused(PLAN("    stages: [{ api: a, stage: prod }]\n"),
		"API \"a\" has no stage \"prod\"", "unknown stage");
	conf_test_refused(PLAN("    stages: [{ api: w, stage: s }]\n"),
		"is a WebSocket API", "a WebSocket API");
	conf_test_refused(PLAN("    stages: [{ api: a, stage: s }, { api: a, stage: s }]\n"),
		"lists stage \"s\" of API \"a\" twice", "a stage twice");
	conf_test_refused(PLAN("    stages: []\n"), "needs at least one stage", "no stage");
	conf_test_refused(PLAN("    throttle: { rate: 1, burst: 1 }\n"), "stages", "stages missing");
	conf_test_refused(PLAN("    stages: [{ api: a, stage: s, route_throttles: { \"GET /z\": "
		"{ rate: 1, burst: 1 } } }]\n"), "has no route \"GET /z\"", "unknown route");
	conf_test_refused(PLAN("    stages: [{ api: a, stage: s, rate: 1 }]\n"),
		"unknown key \"rate\" in usage plan stage", "a misplaced key");
	conf_test_refused(PLAN("    on_store_failure: maybe\n    stages: [{ api: a, stage: s }]\n"),
		"on_store_failure \"maybe\": use open or closed", "bad failure policy");
	conf_test_refused("apis:\n  a:\n    api_key_header: \"x key\"\n    stages: { s: {} }\n"
		"    routes: { \"GET /x\": { integration: { type: mock } } }\n",
		"t.yaml:3:22: api_key_header \"x key\" must be a header name", "bad header name");
	conf_test_refused("apis:\n  a:\n    api_key_source: cookie\n    stages: { s: {} }\n"
		"    routes: { \"GET /x\": { integration: { type: mock } } }\n",
		"api_key_source \"cookie\": use header or authorizer", "bad key source");
	conf_test_refused("apis:\n  w:\n    protocol: websocket\n    stages: { s: {} }\n"
		"    routes: { $connect: { api_key_required: true, integration: { type: mock } } }\n",
		"api_key_required is for HTTP APIs", "a key on a WebSocket route");
	conf_test_refused("server: { state_dir: \"\" }\napis:\n  a:\n    stages: { s: {} }\n"
		"    routes: { \"GET /x\": { integration: { type: mock } } }\n",
		"state_dir must not be empty", "empty state_dir");
}

static void body(struct fng_config *c)
{
	const struct fng_api *a = &c->apis[0], *b = &c->apis[1];
	const struct fng_usage_plan *gold = fng__config_plan(c, "gold");
	const struct fng_usage_plan *small = fng__config_plan(c, "small");
	const struct fng_usage_plan *tiny = fng__config_plan(c, "tiny");
	const struct fng_plan_stage *ps = NULL;
	const char *both[] = { "nope", "small", "gold" };

	CHECK(strcmp(c->state_dir, "/srv/fngate/state") == 0, "state_dir");
	CHECK(strcmp(a->api_key_header, "x-client-key") == 0 && !a->api_key_from_authorizer,
		"api_key_header, lower-cased");
	CHECK(strcmp(b->api_key_header, "x-api-key") == 0 && b->api_key_from_authorizer,
		"api_key_source: authorizer; the header's default");
	CHECK(a->routes[0].api_key_required && !a->routes[1].api_key_required, "api_key_required");
	CHECK(c->nplans == 3 && gold && small && tiny && !fng__config_plan(c, "nope"), "three plans");
	CHECK(gold->throttle.rate == 100 && gold->throttle.burst == 200 && gold->quota == 1000000 &&
		gold->period == FNG_PERIOD_MONTH && gold->quota_batch == 1000 && gold->fail_open,
		"gold: throttle, quota, batch 1 %% capped at 1000, open");
	CHECK(small->quota == 50 && small->period == FNG_PERIOD_WEEK && small->quota_batch == 1 &&
		!small->fail_open && small->throttle.rate == 0, "small: batch at least 1, closed");
	CHECK(tiny->quota_batch == 3, "a batch larger than the quota is cut to it");
	CHECK(gold->nstages == 2 && gold->stages[0].api == a && gold->stages[0].stage ==
		&a->stages[0] && gold->stages[0].nroute_throttles == 1 &&
		gold->stages[0].route_throttles[0].route == &a->routes[0] &&
		!gold->stages[0].route_throttles[0].client &&
		gold->stages[0].route_throttles[0].t.burst == 3, "gold's stages and route throttle");
	CHECK(fng__stage_plan(c, &a->stages[1], both, 3, &ps) == small && ps == &small->stages[0],
		"a key's first plan attached to the stage is its plan there");
	CHECK(fng__stage_plan(c, &a->stages[0], both, 3, &ps) == gold, "on s: gold");
	CHECK(fng__stage_plan(c, &b->stages[0], both, 1, &ps) == NULL, "no plan of the key on b/s");
	test_errors();
}

int main(void)
{
	return conf_test_main(config, body);
}
