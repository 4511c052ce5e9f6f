// SPDX-License-Identifier: MIT
/* Probe: a perf event, a side channel and a kernel attack surface (seccomp: perf_event_open). */
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static int probe_perf(struct fng_ctx *ctx)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_SOFTWARE;
	attr.size = sizeof(attr);
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	probe_note("perf_event_open: %s",
		probe_rc(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0)));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_perf)
