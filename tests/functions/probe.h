/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_FUNCTIONS_PROBE_H
#define FNG_TESTS_FUNCTIONS_PROBE_H

/*
 * Shared by the test handlers: where the test points a probe (the spawn request's env, read
 * with fng_env()) and a result line the probe answers with if it survives.
 *
 *   FNG_PROBE_FILE    a path the probe tries to create (must never exist afterwards)
 *   FNG_PROBE_SECRET  a file outside the function's directory (must never be read)
 *   FNG_PROBE_SIBLING a file next to the .so (another function's manifest: never read)
 *   FNG_PROBE_PORT    a canary TCP listener on 127.0.0.1 (must accept nothing)
 *   FNG_PROBE_UNIX    a canary UNIX listener path (must accept nothing)
 *   FNG_PROBE_ABSTRACT  a canary abstract UNIX listener name (must accept nothing)
 *   FNG_PROBE_PID     the test process (must get no signal)
 *   FNG_PROBE_MODE    which variant of the probe to run
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fngate.h"

/* A spawn env variable through fng_env(), or getenv() where there is no ctx (load time). */
static inline const char *probe_env(const struct fng_ctx *ctx, const char *name)
{
	const char *v = ctx ? fng_env(ctx, name) : getenv(name);

	return v ? v : "";
}

/* A call's outcome as text: "ok" or the errno name. */
static inline const char *probe_rc(long rc)
{
	return rc >= 0 ? "ok" : strerror(errno);
}

static char probe_out[8192];

static inline void probe_note(const char *fmt, ...)
{
	size_t len = strlen(probe_out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(probe_out + len, sizeof(probe_out) - len, fmt, ap);
	va_end(ap);
}

#endif
