// SPDX-License-Identifier: MIT
/*
 * hiredis' async context on a libuv loop: fngate's own adapter, used in place of the one
 * hiredis ships (adapters/libuv.h). The shipped one, in the hiredis of Debian 12 (0.14), drops
 * the poll's error status: a connection reset by its peer (libuv reports the socket's error as
 * UV_EBADF and stops the handle) was never read, so hiredis never learnt that it had ended and
 * the connection stayed "up" until the cluster's stall limit, seconds later; a refused connect
 * waited for connect_timeout_ms the same way.
 */
#ifndef FNG_REDIS_UV_H
#define FNG_REDIS_UV_H

#include <uv.h>

struct redisAsyncContext;

/* Attaches ac to loop; REDIS_OK, or REDIS_ERR (already attached, out of memory, a bad fd). */
int fng__redis_uv_attach(struct redisAsyncContext *ac, uv_loop_t *loop);

#endif
