/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_WS_CONF_H
#define FNG_GATEWAY_WS_CONF_H

/* The keys of a WebSocket API (ws_conf.c): rows and checks the API table (apis_conf.c) uses. */

#include "conf.h"

/* The `route_selection` and `websocket` rows of an API; obj is the struct fng_api. */
int fng__ws_selection_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__ws_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

/* A WebSocket route key: one of the $-keys, or a name a route selection can produce. */
bool fng__ws_route_key_ok(const char *k);

#endif
