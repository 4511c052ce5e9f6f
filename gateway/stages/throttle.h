/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_THROTTLE_H
#define FNG_GATEWAY_THROTTLE_H

#include "client_throttle.h"
#include "conf.h"

/* The stage rows `throttle`, `route_throttles`, `client_throttle` (obj: struct fng_stage). */
int fng__stage_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__route_throttles_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__client_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
/* The `server.throttle` row (obj: struct fng_config). */
int fng__server_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
/* Resolves the route keys of api's stages' route_throttles once its routes are parsed. */
void fng__api_throttles_finish(struct fng_conf *L, struct fng_api *api);

#endif
