// SPDX-License-Identifier: MIT
/*
 * Probe: a child process by FNG_PROBE_MODE fork, vfork, clone or clone3; a child that
 * exists creates FNG_PROBE_FILE (seccomp: clone, vfork, clone3).
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static void child(void)
{
	int fd = open(probe_env(NULL, "FNG_PROBE_FILE"), O_WRONLY | O_CREAT, 0644);

	if (fd >= 0) {
		close(fd);
	}
	_exit(0);
}

/* Alone in its frame: nothing of the caller's lives across vfork(). */
__attribute__((noinline)) static long try_vfork(void)
{
	pid_t pid = vfork();

	if (pid == 0) {
		child();
	}
	return pid;
}

static int probe_fork(struct fng_ctx *ctx)
{
	const char *mode = probe_env(ctx, "FNG_PROBE_MODE");
	long pid;

	if (strcmp(mode, "vfork") == 0) {
		pid = try_vfork();
	} else if (strcmp(mode, "clone") == 0) {
		pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	} else if (strcmp(mode, "clone3") == 0) {
		unsigned long long args[11] = { 0 };

		args[4] = SIGCHLD; /* exit_signal */
		pid = syscall(SYS_clone3, args, sizeof(args));
	} else {
		pid = fork();
	}
	if (pid == 0) {
		child();
	}
	probe_note("%s: %s", mode, probe_rc(pid));
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER(probe_fork)
