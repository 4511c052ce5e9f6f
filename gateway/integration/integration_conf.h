/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_INTEGRATION_CONF_H
#define FNG_GATEWAY_INTEGRATION_CONF_H

/*
 * The keys of a route's `integration:` (integration_conf.c), by integration type. A type
 * kept in a file of its own (static_conf.c) exports its row here.
 */

#include "conf.h"

/*
 * An integration type: the value of `type:` that selects it and the key table of its
 * mapping, whose `type` row is fng__conf_skip (the type is read first).
 */
struct fng_integration_conf {
	const char *name;
	enum fng_integration_type type;
	const struct fng_conf_key *keys;
};

extern const struct fng_integration_conf fng__static_integration_conf;

/* A route's `integration` row (apis_conf.c); obj is the struct fng_route. */
int fng__integration_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

#endif
