// SPDX-License-Identifier: MIT
/*
 * The sections a configuration file may hold, one per module, in the order the engine
 * (config.c) parses them. This is the only file that names every module: each keeps its keys
 * in its own X_conf.c, and adding a section is its descriptor there plus a line here.
 *
 * The order is the design: server comes first (stage limits default to and are checked
 * against its limits), apis before functions (a function's policy names WebSocket APIs and
 * follows their routes) and before domains (a mapping names an API and a stage).
 */
#include <stddef.h>

#include "conf.h"

extern const struct fng_conf_module fng__server_conf;
extern const struct fng_conf_module fng__access_log_conf;
extern const struct fng_conf_module fng__apis_conf;
extern const struct fng_conf_module fng__usage_plans_conf;
extern const struct fng_conf_module fng__functions_conf;
extern const struct fng_conf_module fng__domains_conf;
extern const struct fng_conf_module fng__admin_conf;
extern const struct fng_conf_module fng__metrics_conf;
extern const struct fng_conf_module fng__schedules_conf;
extern const struct fng_conf_module fng__topics_conf;
extern const struct fng_conf_module fng__cluster_conf;

const struct fng_conf_module *const fng__conf_modules[] = {
	&fng__server_conf,
	&fng__access_log_conf,
	&fng__apis_conf,
	&fng__usage_plans_conf,
	&fng__functions_conf,
	&fng__domains_conf,
	&fng__admin_conf,
	&fng__metrics_conf,
	&fng__schedules_conf,
	&fng__topics_conf,
	&fng__cluster_conf,
	NULL,
};
