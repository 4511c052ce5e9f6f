/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_AUTHORIZERS_CONF_H
#define FNG_GATEWAY_AUTHORIZERS_CONF_H

#include "conf.h"

/* An API's `authorizers` (obj: the struct fng_api). */
int fng__authorizers_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
/* A route's `authorizer` and `authorization_scopes` (obj: the struct fng_route, api set). */
int fng__route_authorizer_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__route_scopes_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

#endif
