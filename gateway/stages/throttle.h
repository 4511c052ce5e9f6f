/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_THROTTLE_H
#define FNG_GATEWAY_THROTTLE_H

#include "conf.h"

/* Who a per-client bucket belongs to (`client_throttle.identity`). */
enum fng_throttle_identity {
	FNG_THROTTLE_SOURCE_IP,  /* req->ip, IPv6 cut to ipv6_prefix bits */
	FNG_THROTTLE_PRINCIPAL,  /* the authorizer's principal */
	FNG_THROTTLE_CLAIM,      /* a JWT claim (the authorizer context's "claims.NAME") */
	FNG_THROTTLE_API_KEY,    /* the x-api-key header's value, as sent */
};

/* A stage's per-client throttle (throttle.c). */
struct fng_client_throttle {
	struct fng_throttle t;
	enum fng_throttle_identity identity;
	const char *ctx_name;    /* FNG_THROTTLE_CLAIM: "claims.NAME" */
	size_t ctx_len;
	uint32_t ipv6_prefix;    /* 1-128 */
};

/* The stage rows `throttle`, `route_throttles`, `client_throttle` (obj: struct fng_stage). */
int fng__stage_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__route_throttles_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__client_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
/* The `server.throttle` row (obj: struct fng_config). */
int fng__server_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
/* Resolves the route keys of api's stages' route_throttles once its routes are parsed. */
void fng__api_throttles_finish(struct fng_conf *L, struct fng_api *api);

#endif
