// SPDX-License-Identifier: MIT
/*
 * The request path. Every request, answered or refused, walks the stage table below in
 * order; the table is the design (nginx's phases). Head-phase stages decide from the request
 * head alone, so a request that will be refused is refused before its body is read;
 * body-phase stages see the whole body; final stages run for every request. The engine that
 * runs it is engine.c; each stage is a module in a file of its own.
 */
#include "stages.h"

/*
 * The request path, in order: the only list of stages. A new stage is a file of its own
 * (stages/NAME.c, exporting its `const struct fng_stage_def fng__stage_NAME`) and one line
 * here. Stages still to come slot in where the comments stand.
 */
#define STAGES(X)                                                                          \
	/* head phase */                                                                  \
	X(trace)                                                                           \
	X(client_ip)                                                                       \
	X(endpoint)                                                                        \
	X(ip_policy)                                                                       \
	X(cors)                                                                            \
	X(route)                                                                           \
	X(authorize)                                                                       \
	X(apikey)                                                                          \
	X(throttle)                                                                        \
	X(quota)                                                                           \
	X(body_limit)                                                                      \
	X(cache)                                                                           \
	/* body phase: request validation */                                              \
	X(integration)                                                                     \
	/* response transforms */                                                         \
	/* final phase: every request, answered or refused */                             \
	X(cache_store)                                                                     \
	X(throttle_headers)                                                                \
	X(cors_headers)                                                                    \
	X(trace_headers)                                                                   \
	X(respond)                                                                         \
	X(metrics)                                                                         \
	X(access_log)

#define DECLARE(name) extern const struct fng_stage_def fng__stage_##name;
STAGES(DECLARE)

#define ENTRY(name) &fng__stage_##name,
const struct fng_stage_def *const fng__stages[] = { STAGES(ENTRY) };

const unsigned fng__nstages = sizeof(fng__stages) / sizeof(fng__stages[0]);
