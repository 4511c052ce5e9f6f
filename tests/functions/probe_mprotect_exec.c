// SPDX-License-Identifier: MIT
/*
 * Probe: executable memory after load — by FNG_PROBE_MODE an anonymous PROT_EXEC mapping
 * (mmap), a writable page turned executable (mprotect) or the same through pkey_mprotect
 * (pkey). Seccomp refuses PROT_EXEC in all three.
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static int probe_mprotect_exec(struct fng_ctx *ctx)
{
	const char *mode = probe_env(ctx, "FNG_PROBE_MODE");
	void *p;
	long rc;

	if (strcmp(mode, "mmap") == 0) {
		p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		rc = p == MAP_FAILED ? -1 : 0;
	} else {
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			return fng_response_printf(ctx, "rw mmap failed: %s", strerror(errno));
		}
		((unsigned char *)p)[0] = 0xc3; /* ret */
		if (strcmp(mode, "pkey") == 0) {
			rc = syscall(SYS_pkey_mprotect, p, 4096, PROT_READ | PROT_EXEC, -1);
		} else {
			rc = mprotect(p, 4096, PROT_READ | PROT_EXEC);
		}
	}
	probe_note("%s exec: %s", mode, probe_rc(rc));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_mprotect_exec)
