// SPDX-License-Identifier: MIT
/*
 * The `schedules:` section: functions the gateway invokes on a timer (schedule.c), each with
 * its pre-resolved "$schedule" route.
 */
#include <stddef.h>
#include <string.h>

#include "conf.h"

static int parse_schedule_function(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_schedule *sc = obj;

	sc->function = fng__conf_str(L, v, "function");
	if (sc->function && !fng__config_name_ok(sc->function)) {
		fng__conf_err(L, v, "function name \"%s\" must match [A-Za-z0-9_-]+", sc->function);
	}
	return 0;
}

static const struct fng_conf_key schedule_keys[] = {
	{ "function", FNG_CONF_FN, 0, .fn = parse_schedule_function, .required = true },
	{ "every_ms", FNG_CONF_U32, offsetof(struct fng_schedule, every_ms), 0, 100, 86400000,
		.required = true },
	{ "body", FNG_CONF_STR, offsetof(struct fng_schedule, body), .def_str = "" },
	{ NULL },
};

static int parse_schedules(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "schedules")) {
		return -1;
	}
	c->schedules = fng__arena_zalloc(c->arena, (v->n / 2 + 1) * sizeof(*c->schedules));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i];
		struct fng_schedule *sc = &c->schedules[c->nschedules];

		if (!fng__conf_name_key_ok(L, v, i, "schedule")) {
			continue;
		}
		sc->name = fng__conf_str(L, k, "schedule name");
		if (fng__conf_apply(L, v->kids[i + 1], schedule_keys, sc, "schedule") == 0) {
			sc->route.key = "$schedule";
			sc->route.integration.type = FNG_INTEGRATION_FUNCTION;
			sc->route.integration.function = sc->function;
			c->nschedules++;
		}
	}
	return 0;
}

const struct fng_conf_module fng__schedules_conf = { "schedules", parse_schedules };
