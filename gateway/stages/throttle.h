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
/* A `{ rate, burst }` mapping into t (v NULL: left as it is); -1 after an error. */
int fng__throttle_bucket_parse(struct fng_conf *L, const struct fng_conf_node *v,
	struct fng_throttle *t, const char *what);
/* A `route_throttles` mapping into *out (arena), *nout entries; -1 after an error. */
int fng__route_throttles_parse(struct fng_conf *L, const struct fng_conf_node *v,
	struct fng_route_throttle **out, unsigned *nout);
/* Points each of rts at api's route of its key, or reports the key as unknown. */
void fng__route_throttles_resolve(struct fng_conf *L, const struct fng_api *api,
	struct fng_route_throttle *rts, unsigned n);
/* Resolves the route keys of api's stages' route_throttles once its routes are parsed. */
void fng__api_throttles_finish(struct fng_conf *L, struct fng_api *api);

#endif
