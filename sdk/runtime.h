/* SPDX-License-Identifier: MIT */
#ifndef FNG_SDK_RUNTIME_H
#define FNG_SDK_RUNTIME_H

/*
 * The handler runtime inside a worker process (internal; used by sandbox/worker.c). It owns
 * struct fng_ctx, decodes INVOKE frames into it, runs the handler and encodes RESULT. Its
 * serve loop needs only read, write, poll, clock_gettime, getrusage(RUSAGE_SELF) and memory
 * syscalls, so the worker's seccomp policy can be that narrow.
 */

#include <stddef.h>

#include "fngate.h"
#include "grants.h"

/* Writes the READY frame (abi, handler name) on fd. 0 or -errno. */
int fng__rt_ready(int fd, const struct fng_handler_desc *desc);

/*
 * Serves invocations on fd until the gateway closes it or sends SHUTDOWN (returns 0; the
 * shutdown hook has run for SHUTDOWN), or a protocol error (-EPROTO) or I/O error (-errno).
 * max_body caps frames both ways. function is the name log lines are tagged with. grants
 * (kept, not copied; NULL: no restriction) decide which fng_ws_* calls return -1 for a
 * connection or topic outside the function's policy.
 */
int fng__rt_serve(int fd, const struct fng_handler_desc *desc, const char *function,
	size_t max_body, const struct fng_grants *grants);

#endif
