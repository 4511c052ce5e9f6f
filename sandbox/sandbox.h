/* SPDX-License-Identifier: MIT */
#ifndef FNG_SANDBOX_SANDBOX_H
#define FNG_SANDBOX_SANDBOX_H

/*
 * Worker processes and the supervisor (zygote) that makes them. The gateway forks the
 * supervisor at start, before any secret is loaded; afterwards it asks the supervisor for
 * workers over a control socket and hears about their exits from it. Nothing here uses libuv:
 * the gateway polls the control fd itself.
 *
 * Control socket: SOCK_SEQPACKET, one message per struct below; with FNG_SB_SPAWNED travel
 * (SCM_RIGHTS) the worker's socketpair end and the read end of the pipe that is the worker's
 * stdout and stderr (the gateway reads it as the function's log; a worker never holds a
 * descriptor of the gateway's).
 */

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The identity workers run as when the supervisor is root (nobody/nogroup). The gateway gives
 * this group, and nobody else, read access to the private copies workers load (fnstore.c).
 */
#define FNG_SB_WORKER_UID 65534
#define FNG_SB_WORKER_GID 65534

#include "grants.h"

/* Opt-in syscall groups for a function's manifest (`sandbox: [net]`). */
enum fng_sb_group {
	FNG_SB_GROUP_NET = 1u << 0, /* outbound TCP/UDP: socket, connect, poll, ... */
};

enum fng_sb_msg_type {
	FNG_SB_SPAWN = 1,   /* gateway → supervisor: struct fng_sb_spawn */
	FNG_SB_SPAWNED,     /* supervisor → gateway: struct fng_sb_spawned (+ 2 fds) */
	FNG_SB_EXIT,        /* supervisor → gateway: struct fng_sb_exit */
	FNG_SB_VERIFY,      /* gateway → supervisor: struct fng_sb_verify */
	FNG_SB_VERIFIED,    /* supervisor → gateway: struct fng_sb_verified */
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
	struct fng_grants grants; /* what the handler may do with WebSocket connections, topics */
};

struct fng_sb_spawned {
	uint32_t type;           /* FNG_SB_SPAWNED */
	uint32_t id;
	int32_t err;             /* 0, or -errno (then no fd, pid -1) */
	int32_t pid;
};

/*
 * A worker said READY: before it gets traffic, the supervisor checks from outside that it is
 * under exactly the seccomp filters the worker installs itself (the load-time filter, then the
 * serve filter for its groups and learn mode) — a handler's constructor or init hook runs
 * before the serve filter and could otherwise answer in its place without ever installing it.
 * As root the filters' programs are read back (PTRACE_SECCOMP_GET_FILTER) and compared
 * instruction by instruction; without that right, the mode and the count in /proc/PID/status.
 */
struct fng_sb_verify {
	uint32_t type;           /* FNG_SB_VERIFY */
	int32_t pid;
};

struct fng_sb_verified {
	uint32_t type;           /* FNG_SB_VERIFIED */
	int32_t pid;
	int32_t err;             /* 0: verified; else -errno and why says what differs */
	char why[96];
};

struct fng_sb_exit {
	uint32_t type;           /* FNG_SB_EXIT */
	int32_t pid;
	int32_t wstatus;         /* as from waitpid */
	char cause[96];          /* "exit 0", "SIGSEGV", "seccomp", "out of memory", "cpu limit",
	                            "init failed", "abi mismatch", "dlopen: ..." */
};

/*
 * One control-socket message, by direction: each side receives into the union of what the
 * other sends and dispatches on type (the first member of every struct above).
 */
union fng_sb_request {          /* gateway → supervisor */
	uint32_t type;
	struct fng_sb_spawn spawn;
	struct fng_sb_verify verify;
};

union fng_sb_reply {            /* supervisor → gateway: what fng__sb_recv() receives */
	uint32_t type;
	struct fng_sb_spawned spawned;
	struct fng_sb_exit exit;
	struct fng_sb_verified verified;
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

/*
 * Starts a replacement for a supervisor that died: a fresh image of the running binary (exec,
 * so that nothing the gateway has loaded since start is in its memory) that becomes the
 * supervisor. *ctl and *pid as for fng__supervisor_fork. 0 or -errno. The binary's main()
 * hands the command line FNG_SB_EXEC_CMD to fng__supervisor_exec_main() before anything else.
 */
#define FNG_SB_EXEC_CMD "__supervisor"
int fng__supervisor_exec(int *ctl, pid_t *pid);
_Noreturn void fng__supervisor_exec_main(int argc, char **argv);

/* Sends a spawn request. 0 or -errno. */
int fng__sb_send_spawn(int ctl, const struct fng_sb_spawn *req);

/* Asks for the verification of worker pid (answered with FNG_SB_VERIFIED). 0 or -errno. */
int fng__sb_send_verify(int ctl, pid_t pid);

/*
 * Receives one message from the supervisor into buf, a union fng_sb_reply (size its size). For
 * FNG_SB_SPAWNED with err == 0, *fd receives the worker's socketpair end and *logfd the read
 * end of its output pipe (both CLOEXEC, blocking); otherwise both are -1. logfd may be NULL
 * (the pipe is closed). Returns the message type, 0 on EOF, or -errno.
 */
int fng__sb_recv(int ctl, void *buf, size_t size, int *fd, int *logfd);

/* How the sandbox will confine workers on this machine, for the start-up log line. */
const char *fng__sb_describe(void);

#endif
