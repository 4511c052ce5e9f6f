/* SPDX-License-Identifier: MIT */
#ifndef FNG_SANDBOX_SANDBOX_H
#define FNG_SANDBOX_SANDBOX_H

/*
 * Worker processes and the supervisor (zygote) that makes them. The gateway forks the
 * supervisor at start, before any secret is loaded; afterwards it asks the supervisor for
 * workers over a control socket and hears about their exits from it. Nothing here uses libuv:
 * the gateway polls the control fd itself.
 *
 * Control socket: SOCK_SEQPACKET, one message per struct below, a worker's socketpair end
 * travelling with FNG_SB_SPAWNED as SCM_RIGHTS.
 */

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Opt-in syscall groups for a function's manifest (`sandbox: [net]`). */
enum fng_sb_group {
	FNG_SB_GROUP_NET = 1u << 0, /* outbound TCP/UDP: socket, connect, poll, ... */
};

enum fng_sb_msg_type {
	FNG_SB_SPAWN = 1,   /* gateway → supervisor: struct fng_sb_spawn */
	FNG_SB_SPAWNED,     /* supervisor → gateway: struct fng_sb_spawned (+ fd) */
	FNG_SB_EXIT,        /* supervisor → gateway: struct fng_sb_exit */
};

struct fng_sb_spawn {
	uint32_t type;           /* FNG_SB_SPAWN */
	uint32_t id;             /* echoed in the reply */
	uint32_t memory_mb;      /* address-space / memory cgroup limit; 0: none */
	uint32_t cpu_ms;         /* RLIMIT_CPU, rounded up to seconds; 0: none */
	uint32_t cpu_weight;     /* the worker's CPU weight against the other workers, on cgroup
	                            v2's scale (1-10000); 0: 100 */
	uint32_t cpu_off;        /* no CPU policy: no cpu cgroup, no nice; the worker competes
	                            like any process (`cpu_isolation: false`) */
	uint32_t groups;         /* enum fng_sb_group bits */
	uint32_t learn;          /* seccomp logs denied syscalls instead of killing */
	uint64_t max_body;       /* wire frame cap */
	char name[64];           /* function name */
	char so_path[PATH_MAX];  /* absolute path of the .so */
	char env[4096];          /* NAME=VALUE\0NAME=VALUE\0\0 from the manifest */
};

struct fng_sb_spawned {
	uint32_t type;           /* FNG_SB_SPAWNED */
	uint32_t id;
	int32_t err;             /* 0, or -errno (then no fd, pid -1) */
	int32_t pid;
};

struct fng_sb_exit {
	uint32_t type;           /* FNG_SB_EXIT */
	int32_t pid;
	int32_t wstatus;         /* as from waitpid */
	char cause[96];          /* "exit 0", "SIGSEGV", "seccomp", "out of memory", "cpu limit",
	                            "init failed", "abi mismatch", "dlopen: ..." */
};

/* Worker exit codes that name a start-up failure (the cause strings above). */
enum {
	FNG_WORKER_EXIT_DLOPEN = 70,
	FNG_WORKER_EXIT_ABI = 71,
	FNG_WORKER_EXIT_INIT = 72,
	FNG_WORKER_EXIT_SANDBOX = 73,
	FNG_WORKER_EXIT_PROTO = 74,
	FNG_WORKER_EXIT_OOM = 75,
};

/*
 * Forks the supervisor. On success *ctl is the gateway's end of the control socket
 * (CLOEXEC, blocking) and *pid the supervisor's pid. The supervisor exits when *ctl closes or
 * the gateway dies (PR_SET_PDEATHSIG), killing its workers first; workers also die with it.
 */
int fng__supervisor_fork(int *ctl, pid_t *pid);

/* Sends a spawn request. 0 or -errno. */
int fng__sb_send_spawn(int ctl, const struct fng_sb_spawn *req);

/*
 * Receives one message from the supervisor into buf (room for the largest message). For
 * FNG_SB_SPAWNED with err == 0, *fd receives the worker's socketpair end (CLOEXEC,
 * blocking); otherwise *fd = -1. Returns the message type, 0 on EOF, or -errno.
 */
int fng__sb_recv(int ctl, void *buf, size_t size, int *fd);

/* How the sandbox will confine workers on this machine, for the start-up log line. */
const char *fng__sb_describe(void);

#endif
