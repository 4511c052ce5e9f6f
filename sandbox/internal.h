/* SPDX-License-Identifier: MIT */
#ifndef FNG_SANDBOX_INTERNAL_H
#define FNG_SANDBOX_INTERNAL_H

/*
 * What the files of the sandbox share: the worker's set-up (worker.c), its seccomp policy
 * (seccomp.c), Landlock (landlock.c) and the per-worker cgroups the supervisor makes
 * (cgroup.c). Nothing here is seen by the gateway.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox.h"

/* The worker's end of its socketpair, at a fixed number so the seccomp table can name it. */
#define FNG_WORKER_FD 3
/* RLIMIT_NOFILE of a worker: its descriptors are 0 to 63. */
#define FNG_WORKER_NOFILE 64
/* The pipe the supervisor answers on once the worker sits in its cgroups (start-up only). */
#define FNG_WORKER_SYNC_FD 4
/* The supervisor's empty network namespace, until the worker has joined it (start-up only). */
#define FNG_WORKER_NETNS_FD 5

/*
 * The nice value (of the process and of its autogroup) a worker lowers itself to when there
 * is no cpu cgroup to weigh it: the gateway (nice 0) then outweighs a spinning worker ten to
 * one on a shared CPU (weights 1024 and 110).
 */
#define FNG_WORKER_NICE 10

/* The unprivileged identity workers run as when the supervisor is root (sandbox.h). */
#define FNG_WORKER_UID FNG_SB_WORKER_UID
#define FNG_WORKER_GID FNG_SB_WORKER_GID

/* What the supervisor writes on the sync pipe. */
enum {
	FNG_SYNC_OK = 'k',      /* in its cgroups, or none were asked for or available */
	FNG_SYNC_FAILED = 'f',  /* cgroups exist here but this worker's could not be made */
};

/* What the supervisor hands a worker it has just forked. */
struct fng_worker_start {
	int sock;    /* the worker's end of its socketpair */
	int sync;    /* read end of the supervisor's cgroup pipe; -1: a spare, in them already */
	int netns;   /* an empty network namespace to join, or -1: make one */
	pid_t super; /* the parent to check after PR_SET_PDEATHSIG */
	int log;     /* write end of its output pipe: becomes its stdout and stderr */
};

/*
 * The worker, from fork to exit: confines itself in DESIGN.md's order, loads req->so_path and
 * serves on its socketpair. Never returns.
 */
_Noreturn void fng__worker_main(const struct fng_sb_spawn *req, const struct fng_worker_start *st);

/* Ends the process with exit_group(2) directly (no atexit, no sanitizer exit hooks). */
_Noreturn void fng__sb_hard_exit(int code);

/* Prints "fngate: <function>: <what>: <strerror(err)>" on fd 2 and exits with code. */
_Noreturn void fng__worker_die(const char *what, int err, int code);

/*
 * Loads the worker's seccomp filter (the table in seccomp.c): default KILL_PROCESS, or in
 * learn mode a SIGSYS trap that logs the syscall's name on fd 2 and fails it with ENOSYS.
 * groups are enum fng_sb_group bits. 0 or -errno.
 */
int fng__seccomp_load(uint32_t groups, bool learn, const char *function);

/*
 * Loads the permissive load-time filter (default allow; no UNIX or exotic sockets, no new
 * namespaces, no io_uring, bpf, perf, userfaultfd, keyrings, ptrace) that confines the .so's
 * constructors and init hook together with Landlock. 0 or -errno.
 */
int fng__seccomp_load_time(void);

/*
 * Compiles the load-time filter and the default serve filter (no groups, not learning) for
 * the calling process ahead of need (a spare does, while it waits); the two calls above then
 * install them without libseccomp. 0 or -errno (then they compile as usual).
 */
int fng__seccomp_prepare(void);

/* The policy in one line, for fng__sb_describe(). */
const char *fng__seccomp_describe(void);

/*
 * The programs a worker with this pid, groups and learn mode installs — the load-time filter
 * and the serve filter — as the kernel stores them, for verification from outside. *load is
 * kept by this file (it names no pid); serve->filter is malloc'd (the caller frees it), and
 * with serve NULL only *load is wanted. 0, -ENOSYS without seccomp, or -errno.
 */
struct sock_fprog;
int fng__seccomp_expected(pid_t pid, uint32_t groups, bool learn,
	const struct sock_fprog **load, struct sock_fprog *serve);

/*
 * Checks that worker pid (our child, single-threaded, serving) is under exactly the filters
 * of fng__seccomp_expected (serve: its serve filter built ahead, or NULL to build it now):
 * read back with ptrace as root, else the filter count of
 * /proc/PID/status. 0, or -errno with why filled. If the worker died meanwhile its wait
 * status is in *wstatus (and its usage in *ru; it has been reaped), else *wstatus is -1.
 */
struct rusage;
int fng__sb_verify(pid_t pid, uint32_t groups, bool learn, const struct sock_fprog *serve,
	int *wstatus, struct rusage *ru, char *why, size_t whylen);

/* How fng__sb_verify checks on this machine, for fng__sb_describe(). */
const char *fng__sb_verify_describe(void);

/* The highest Landlock ABI the kernel offers; 0 without Landlock, -errno if refused. */
int fng__landlock_abi(void);

/*
 * Restricts the calling process to reading so_path and the system library directories, with
 * no write anywhere, no TCP bind, no TCP connect unless net, and (ABI 6) no signals or
 * abstract UNIX sockets outside its domain. Needs PR_SET_NO_NEW_PRIVS or CAP_SYS_ADMIN.
 * Returns the ABI used (> 0), 0 when the kernel has no Landlock, or -errno.
 */
int fng__landlock_apply(const char *so_path, bool net);

/* ---- cgroups (supervisor side) ---- */

enum fng_cg_mode {
	FNG_CG_NONE,
	FNG_CG_V1,
	FNG_CG_V2,
};

/*
 * Finds where this process may make worker cgroups (its own cgroup + "/fngate-<pid>", in each
 * hierarchy used) and creates those directories. Returns the memory mode; *why (static text)
 * says why it is NONE. The cpu controller is probed on its own (fng__cg_describe says which
 * is in use).
 */
enum fng_cg_mode fng__cg_setup(const char **why, int *err);

/* Removes this supervisor's directories (when empty). */
void fng__cg_teardown(void);

/*
 * Makes cgroups for process pid and moves it in: memory (limited to req->memory_mb when
 * non-zero), pids (pids.max 1) and cpu (req's weight, under watch; none with req->cpu_off:
 * the worker then stays where the supervisor is, as a process of its own). req NULL: a
 * spare, with no limits yet, in a cpu cgroup if the latest request had a CPU policy. A
 * process may do this for itself. 0 or -errno (the caller removes what was made with
 * fng__cg_remove).
 */
int fng__cg_create(pid_t pid, const struct fng_sb_spawn *req);

/*
 * Sets req's memory limit and CPU weight on pid's existing cgroups (a spare's, at hand-off):
 * cheap writes, no move. 0, -EXDEV if pid was made for the other CPU mode (in a cpu cgroup
 * and req has no CPU policy, or the reverse), or -errno.
 */
int fng__cg_limit(pid_t pid, const struct fng_sb_spawn *req);

/*
 * In the worker, after setsid(): without a cpu cgroup (unless req->cpu_off), lowers the
 * worker's own priority instead, to FNG_WORKER_NICE for the process and its autogroup.
 */
void fng__cg_cpu_fallback(const struct fng_sb_spawn *req);

/* True if the worker's memory cgroup recorded an OOM kill (or, lacking that, a failcnt). */
bool fng__cg_oom(pid_t pid);

/* Removes the reaped worker's cgroups (and takes it off the watch). */
void fng__cg_remove(pid_t pid);

/*
 * The busy-worker watch (cgroup.c): when its period has come, finds the workers with a CPU
 * policy that have been running without a pause for a while and demotes them (v1: into the
 * idle "busy" group; v2: their own cgroup idle), and gives them their place back once they
 * sleep. Returns the milliseconds until it
 * wants to run again, -1 if there is no worker to watch: the supervisor's poll timeout.
 */
int fng__cg_watch(void);

/* The mode fng__cg_setup found, as text for fng__sb_describe(). */
const char *fng__cg_describe(void);

#endif
