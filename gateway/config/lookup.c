// SPDX-License-Identifier: MIT
/*
 * Queries over a configuration snapshot, for every layer that reads it: an API by name, a
 * stage, a stage variable, a WebSocket route by key, a custom domain, a function's policy.
 * The modules that parse these sections (stages/apis_conf.c, stages/domains_conf.c,
 * host/functions_conf.c) fill the snapshot; reading it needs no module above this one.
 */
#include <string.h>

#include "config.h"

const struct fng_route *fng__api_ws_route(const struct fng_api *api, const char *key, size_t len)
{
	for (unsigned i = 0; i < api->nroutes; i++) {
		const char *k = api->routes[i].key;

		if (strlen(k) == len && memcmp(k, key, len) == 0) {
			return &api->routes[i];
		}
	}
	return NULL;
}

const struct fng_api *fng__config_api(const struct fng_config *c, struct fng_str name)
{
	for (unsigned i = 0; i < c->napis; i++) {
		const char *n = c->apis[i].name;

		if (n && fng__str_eq(name, n, strlen(n))) {
			return &c->apis[i];
		}
	}
	return NULL;
}

const struct fng_usage_plan *fng__config_plan(const struct fng_config *c, const char *name)
{
	for (unsigned i = 0; i < c->nplans; i++) {
		if (strcmp(c->plans[i].name, name) == 0) {
			return &c->plans[i];
		}
	}
	return NULL;
}

/* The plan of c attached to stage s that is first in names (a key's plans); NULL: none. */
const struct fng_usage_plan *fng__stage_plan(const struct fng_config *c,
	const struct fng_stage *s, const char *const *names, unsigned n,
	const struct fng_plan_stage **ps)
{
	for (unsigned i = 0; i < n; i++) {
		const struct fng_usage_plan *p = fng__config_plan(c, names[i]);

		for (unsigned j = 0; p && j < p->nstages; j++) {
			if (p->stages[j].stage == s) {
				*ps = &p->stages[j];
				return p;
			}
		}
	}
	return NULL;
}

const struct fng_stage *fng__api_stage(const struct fng_api *api, struct fng_str name)
{
	for (unsigned i = 0; i < api->nstages; i++) {
		const char *s = api->stages[i].name;

		if (s && fng__str_eq(name, s, strlen(s))) {
			return &api->stages[i];
		}
	}
	return NULL;
}

bool fng__stage_var(const struct fng_stage *s, struct fng_str name, struct fng_str *value)
{
	for (unsigned i = 0; i < s->nvars; i++) {
		if (fng__str_eq(name, s->vars[i].name, strlen(s->vars[i].name))) {
			*value = s->vars[i].value;
			return true;
		}
	}
	return false;
}

const struct fng_domain *fng__config_domain(const struct fng_config *c, struct fng_str host)
{
	for (unsigned i = 0; i < c->ndomains; i++) {
		if (fng__str_ieq(host, c->domains[i].host, c->domains[i].host_len)) {
			return &c->domains[i];
		}
	}
	return NULL;
}

bool fng__policy_has_api(const struct fng_fn_policy *p, const char *api)
{
	for (unsigned i = 0; i < p->napis; i++) {
		if (strcmp(p->apis[i], api) == 0) {
			return true;
		}
	}
	return false;
}

bool fng__policy_api_ok(const struct fng_fn_policy *p, const char *api)
{
	return p->any_api || fng__policy_has_api(p, api);
}

const struct fng_fn_policy *fng__config_fn_policy(const struct fng_config *c, const char *name)
{
	for (unsigned i = 0; i < c->functions.npolicies; i++) {
		if (strcmp(c->functions.policies[i].name, name) == 0) {
			return &c->functions.policies[i];
		}
	}
	return &c->functions.default_policy;
}
