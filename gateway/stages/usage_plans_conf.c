// SPDX-License-Identifier: MIT
/*
 * The `usage_plans:` section (API Gateway's usage plans): per plan a per-key throttle, a
 * quota per day, week or month, and the API stages it is attached to, each with optional
 * per-key route throttles. Keys name their plans (state/keydb.h); stages "apikey", "throttle"
 * and "quota" apply them.
 */
#include <inttypes.h>
#include <string.h>

#include "conf.h"
#include "throttle.h"

#define POFF(member) offsetof(struct fng_usage_plan, member)

static int parse_period(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_usage_plan *p = obj;
	const char *s = v ? fng__conf_str(L, v, "quota.period") : NULL;

	if (!s) {
		return v ? -1 : 0;
	}
	if (strcmp(s, "day") == 0) {
		p->period = FNG_PERIOD_DAY;
	} else if (strcmp(s, "week") == 0) {
		p->period = FNG_PERIOD_WEEK;
	} else if (strcmp(s, "month") == 0) {
		p->period = FNG_PERIOD_MONTH;
	} else {
		fng__conf_err(L, v, "quota.period \"%s\": use day, week or month", s);
		return -1;
	}
	return 0;
}

static const struct fng_conf_key quota_keys[] = {
	{ "limit", FNG_CONF_U64, POFF(quota), 0, 1, 1000000000000ULL, .required = true },
	{ "period", FNG_CONF_FN, 0, .fn = parse_period, .required = true },
	{ "batch", FNG_CONF_U32, POFF(quota_batch), 0, 1, 1000000 },
	{ NULL },
};

static int parse_quota(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_usage_plan *p = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "quota") ||
		fng__conf_apply(L, v, quota_keys, p, "quota") != 0) {
		return -1;
	}
	if (!p->quota_batch) {
		/* 1 % of the quota, 1 to 1000: a crash under-serves at most that much. */
		uint64_t b = p->quota / 100;

		p->quota_batch = (uint32_t)(b < 1 ? 1 : b > 1000 ? 1000 : b);
	}
	if (p->quota_batch > p->quota) {
		p->quota_batch = (uint32_t)p->quota;
	}
	return 0;
}

static int parse_plan_throttle(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_usage_plan *p = obj;

	return fng__throttle_bucket_parse(L, v, &p->throttle, "usage plan throttle");
}

static int parse_store_failure(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_usage_plan *p = obj;
	const char *s = v ? fng__conf_str(L, v, "on_store_failure") : "closed";

	if (!s) {
		return -1;
	}
	if (strcmp(s, "open") == 0) {
		p->fail_open = true;
	} else if (strcmp(s, "closed") != 0) {
		fng__conf_err(L, v, "on_store_failure \"%s\": use open or closed", s);
		return -1;
	}
	return 0;
}

/* One `stages:` entry: `{ api: A, stage: S, route_throttles: {...} }`. */
static int parse_plan_stage(struct fng_conf *L, const struct fng_conf_node *v,
	struct fng_usage_plan *p)
{
	struct fng_plan_stage *ps = &p->stages[p->nstages];
	const struct fng_conf_node *a, *s, *rt;

	if (!fng__conf_want(L, v, FNG_CONF_MAP, "usage plan stage")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		const char *k = v->kids[i]->s;

		if (strcmp(k, "api") != 0 && strcmp(k, "stage") != 0 &&
			strcmp(k, "route_throttles") != 0) {
			fng__conf_err(L, v->kids[i], "unknown key \"%s\" in usage plan stage "
				"(known: api, stage, route_throttles)", k);
			return -1;
		}
	}
	a = fng__conf_lookup(v, "api");
	s = fng__conf_lookup(v, "stage");
	if (!a || !s) {
		fng__conf_err(L, v, "a usage plan stage needs api and stage");
		return -1;
	}
	ps->api = fng__config_api(L->cfg, (struct fng_str){ a->s, a->len });
	if (!ps->api) {
		fng__conf_err(L, a, "usage plan \"%s\": unknown API \"%s\"", p->name, a->s);
		return -1;
	}
	if (ps->api->protocol != FNG_API_HTTP) {
		fng__conf_err(L, a, "usage plan \"%s\": API \"%s\" is a WebSocket API (usage plans "
			"meter HTTP APIs)", p->name, a->s);
		return -1;
	}
	ps->stage = fng__api_stage(ps->api, (struct fng_str){ s->s, s->len });
	if (!ps->stage) {
		fng__conf_err(L, s, "usage plan \"%s\": API \"%s\" has no stage \"%s\"", p->name,
			a->s, s->s);
		return -1;
	}
	for (unsigned i = 0; i < p->nstages; i++) {
		if (p->stages[i].stage == ps->stage) {
			fng__conf_err(L, v, "usage plan \"%s\" lists stage \"%s\" of API \"%s\" twice",
				p->name, s->s, a->s);
			return -1;
		}
	}
	rt = fng__conf_lookup(v, "route_throttles");
	if (rt) {
		if (fng__route_throttles_parse(L, rt, &ps->route_throttles,
			    &ps->nroute_throttles) != 0) {
			return -1;
		}
		for (unsigned i = 0; i < ps->nroute_throttles; i++) {
			ps->route_throttles[i].client = NULL; /* the plan's buckets are per key */
		}
		fng__route_throttles_resolve(L, ps->api, ps->route_throttles,
			ps->nroute_throttles);
	}
	p->nstages++;
	return 0;
}

static int parse_plan_stages(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_usage_plan *p = obj;

	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "usage plan stages")) {
		return -1;
	}
	if (v->n == 0) {
		fng__conf_err(L, v, "usage plan \"%s\" needs at least one stage", p->name);
		return -1;
	}
	p->stages = fng__arena_zalloc(L->cfg->arena, v->n * sizeof(*p->stages));
	if (!p->stages) {
		fng__conf_err(L, v, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		parse_plan_stage(L, v->kids[i], p);
	}
	return 0;
}

static const struct fng_conf_key plan_keys[] = {
	{ "throttle", FNG_CONF_FN, 0, .fn = parse_plan_throttle },
	{ "quota", FNG_CONF_FN, 0, .fn = parse_quota },
	{ "on_store_failure", FNG_CONF_FN, 0, .fn = parse_store_failure },
	{ "stages", FNG_CONF_FN, 0, .fn = parse_plan_stages, .required = true },
	{ NULL },
};

static int parse_usage_plans(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "usage_plans")) {
		return -1;
	}
	c->plans = fng__arena_zalloc(c->arena, (v->n / 2 + 1) * sizeof(*c->plans));
	if (!c->plans) {
		fng__conf_err(L, v, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		struct fng_usage_plan *p = &c->plans[c->nplans];

		if (!fng__conf_name_key_ok(L, v, i, "usage plan")) {
			continue;
		}
		if (v->kids[i]->len > 64) {
			fng__conf_err(L, v->kids[i], "usage plan name is longer than 64 characters");
			continue;
		}
		p->name = fng__conf_str(L, v->kids[i], "usage plan name");
		if (fng__conf_apply(L, v->kids[i + 1], plan_keys, p, "usage plan") == 0) {
			c->nplans++;
		}
	}
	return 0;
}

const struct fng_conf_module fng__usage_plans_conf = { "usage_plans", parse_usage_plans };
