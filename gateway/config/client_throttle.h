/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CLIENT_THROTTLE_H
#define FNG_GATEWAY_CLIENT_THROTTLE_H

/*
 * A per-client throttle's settings: a bucket and whom it counts. Parsed here, below the
 * layers that use them (a stage's `client_throttle` and per-client `route_throttles`,
 * stages/throttle.c; a WebSocket API's `connect_throttle`, ws/ws_conf.c), so that the
 * identity keys have one parser; the buckets are taken by the throttle stage.
 */

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct fng_conf;
struct fng_conf_node;

/* Who a per-client bucket belongs to (`identity`). */
enum fng_throttle_identity {
	FNG_THROTTLE_SOURCE_IP,  /* req->ip, IPv6 cut to ipv6_prefix bits */
	FNG_THROTTLE_PRINCIPAL,  /* the authorizer's principal */
	FNG_THROTTLE_CLAIM,      /* a JWT claim (the authorizer context's "claims.NAME") */
	FNG_THROTTLE_API_KEY,    /* the x-api-key header's value, as sent */
};

struct fng_client_throttle {
	struct fng_throttle t;
	enum fng_throttle_identity identity;
	const char *ctx_name;    /* FNG_THROTTLE_CLAIM: "claims.NAME" */
	size_t ctx_len;
	uint32_t ipv6_prefix;    /* 1-128 */
};

/*
 * The mapping v, `{ rate, burst, identity, ipv6_prefix }` (identity source_ip and prefix 64
 * by default), in the config's arena; what names it in errors ("client_throttle"). NULL
 * after an error, reported at its FILE:LINE:COL.
 */
struct fng_client_throttle *fng__client_throttle_parse(struct fng_conf *L,
	const struct fng_conf_node *v, const char *what);

#endif
