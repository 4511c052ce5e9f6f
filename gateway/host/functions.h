/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_FUNCTIONS_H
#define FNG_GATEWAY_FUNCTIONS_H

#include <uv.h>

#include "authz.h"
#include "config.h"

/*
 * The function host, gateway side: the registry of deployed functions (hot-deployed from the
 * functions directory), a worker pool per function version, and the `function` integration
 * that invokes them. Workers are made by the supervisor (sandbox/), which the gateway forks
 * before anything else.
 */
struct fng_functions;

struct fng_server;

/* The function authorizers (`token`, `request`: host/authz.c), for the stage "authorize". */
extern const struct fng_authz_ops fng__host_authz_ops;

/*
 * Takes over the supervisor's control socket ctl. Deploys what is in cfg's functions
 * directory now (synchronously: start-up only) and watches it afterwards. srv: the loop's
 * state, where handlers' WebSocket calls go (NULL: none, as in tests).
 */
int fng__functions_create(uv_loop_t *loop, struct fng_server *srv, int ctl, pid_t supervisor,
	const struct fng_config *cfg, struct fng_functions **out);

/* A new config snapshot (SIGHUP): new defaults apply to the next deploy of each function. */
void fng__functions_reconfigure(struct fng_functions *fns, const struct fng_config *cfg);

/* Kills every worker, closes the supervisor socket and all handles; frees on loop close. */
void fng__functions_close(struct fng_functions *fns);

/* Frees fns after fng__functions_close and a loop run. NULL is a no-op. */
void fng__functions_free(struct fng_functions *fns);

/* Logs the dropped-line counts of function logs that are due (fnlog.h); now_ms is uv_now(). */
void fng__functions_log_tick(struct fng_functions *fns, uint64_t now_ms);

/* Number of functions currently serving (for logs and tests). */
unsigned fng__functions_count(const struct fng_functions *fns);
/* The deployed version of function name's timeout_ms, or 0 when it is not deployed. */
uint32_t fng__functions_timeout_ms(struct fng_functions *fns, const char *name);

/*
 * The function host's metric families (fn_metrics.c), NULL-terminated, for registration at
 * start-up; and those the request path's stage `metrics` records into itself: an
 * invocation's cost (labels function, version) and a full queue's 429 (function).
 */
struct fng_metric_def;
extern struct fng_metric_def *const fng__host_metrics[];
extern struct fng_metric_def fng__m_fn_cpu, fng__m_fn_rss, fng__m_fn_throttled;
/* And those the host's files record into (fn_metrics.c). */
extern struct fng_metric_def fng__m_fn_invocations, fng__m_fn_cold_start, fng__m_fn_respawns;

#endif
