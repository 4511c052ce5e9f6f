// SPDX-License-Identifier: MIT
/* Probe: an io_uring, which would do I/O behind seccomp's back (seccomp: io_uring_setup). */
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

static int probe_io_uring(struct fng_ctx *ctx)
{
	unsigned char params[120] = { 0 }; /* struct io_uring_params */

	probe_note("io_uring_setup: %s", probe_rc(syscall(SYS_io_uring_setup, 8, params)));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_io_uring)
