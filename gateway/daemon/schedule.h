/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_SCHEDULE_H
#define FNG_GATEWAY_SCHEDULE_H

#include "server.h"

/* (Re)arms srv's scheduled invocations from srv->cfg: at start and after each reload. */
int fng__schedules_update(struct fng_server *srv);
/* No more ticks (drain). */
void fng__schedules_stop(struct fng_server *srv);

#endif
