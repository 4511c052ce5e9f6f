/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_DAEMON_H
#define FNG_GATEWAY_DAEMON_H

#include "config.h"
#include "functions.h"
#include "request.h"
#include "server.h"

/*
 * The composition root (daemon.c): sets up one loop's state (server.h), binds its listeners,
 * registers the integrations that need it, starts the function host and the schedules,
 * handles SIGHUP (reload off the loop) and SIGTERM (drain), and closes everything.
 */

/* Sets up srv on loop with cfg (takes the reference). Binds nothing. */
int fng__server_init(struct fng_server *srv, uv_loop_t *loop, struct fng_config *cfg,
	const char *config_path);
/* Binds the configured listeners (SO_REUSEPORT sockets). */
int fng__server_listen(struct fng_server *srv);
/* Starts accepting and handling signals. */
int fng__server_start(struct fng_server *srv);
/* Closes every handle; call uv_run afterwards to let close callbacks run. */
void fng__server_finish(struct fng_server *srv);

/* Stop accepting, finish in-flight requests (up to drain_ms), then stop the loop. */
void fng__server_drain(struct fng_server *srv);

/* The `server.tls` row (tls_conf.c; obj: struct fng_config). */
struct fng_conf;
struct fng_conf_node;
int fng__server_tls_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

#endif
