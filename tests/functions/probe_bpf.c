// SPDX-License-Identifier: MIT
/* Probe: a BPF map (seccomp: bpf). */
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static int probe_bpf(struct fng_ctx *ctx)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	probe_note("bpf: %s", probe_rc(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr))));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_bpf)
