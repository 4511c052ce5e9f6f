// SPDX-License-Identifier: MIT
/*
 * A worker process from fork to exit. The supervisor forks it for one function; it confines
 * itself step by step — descriptors, session, rlimits, cgroups, namespaces, identity,
 * Landlock — before it loads the function's .so, because the .so's constructors and init
 * hook are the function's code too and must achieve nothing a request could not. Then
 * no_new_privs and seccomp narrow it to the runtime's serve loop (sdk/runtime.h), which
 * answers INVOKE frames on the socketpair until the gateway hangs up.
 *
 * Any step that fails before seccomp ends the worker with FNG_WORKER_EXIT_SANDBOX (or the
 * load-time codes of sandbox.h) and one line on fd 2 saying why; the supervisor turns the
 * code into the cause the gateway logs. Steps the machine does not offer (no Landlock, no
 * namespaces, no cgroups) are skipped here and named by fng__sb_describe().
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "runtime.h"

/* Address space beyond memory_mb for the runtime, libc and the loaded .so (plus frames). */
#define AS_HEADROOM ((rlim_t)64 << 20)

static const char *worker_function = "?";
static char stdout_buf[4096];

/*
 * exit_group(2) itself: a worker has nothing to flush, and sanitizer runtimes hook _exit()
 * to run a leak check (threads, ptrace) that seccomp would turn into a "seccomp" death.
 */
_Noreturn void fng__sb_hard_exit(int code)
{
	for (;;) {
		syscall(SYS_exit_group, code);
	}
}

_Noreturn void fng__worker_die(const char *what, int err, int code)
{
	if (err) {
		dprintf(STDERR_FILENO, "fngate: %s: %s: %s\n", worker_function, what,
			strerror(err));
	} else {
		dprintf(STDERR_FILENO, "fngate: %s: %s\n", worker_function, what);
	}
	fng__sb_hard_exit(code);
}

static _Noreturn void die(const char *what, int err)
{
	fng__worker_die(what, err, FNG_WORKER_EXIT_SANDBOX);
}

/* Default dispositions and an empty mask: nothing of the supervisor's signal set-up stays. */
static void reset_signals(void)
{
	sigset_t all;

	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP) {
			signal(sig, SIG_DFL);
		}
	}
	/* A gateway that hangs up makes write() fail with EPIPE, and the serve loop end. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/*
 * The socketpair becomes fd 3, the sync pipe fd 4 and the shared network namespace (if any)
 * fd 5; 0 reads /dev/null; 1 and 2 are the output pipe the gateway reads as the function's
 * log (never a descriptor of the gateway's own: a constructor could truncate its log or forge
 * lines in it); everything else is closed.
 */
static void place_fds(const struct fng_worker_start *st)
{
	int s = fcntl(st->sock, F_DUPFD, 10);
	int p = st->sync >= 0 ? fcntl(st->sync, F_DUPFD, 10) : open("/dev/null", O_RDONLY);
	int n = st->netns >= 0 ? fcntl(st->netns, F_DUPFD, 10) : -1;
	int log = fcntl(st->log, F_DUPFD, 10), null;

	/* Without a sync pipe (a spare, already in its cgroups) fd 4 is a placeholder. */
	if (s < 0 || p < 0 || log < 0 || (st->netns >= 0 && n < 0) ||
		dup2(s, FNG_WORKER_FD) < 0 || dup2(p, FNG_WORKER_SYNC_FD) < 0 ||
		(n >= 0 && dup2(n, FNG_WORKER_NETNS_FD) < 0) || dup2(log, STDOUT_FILENO) < 0 ||
		dup2(log, STDERR_FILENO) < 0) {
		fng__sb_hard_exit(FNG_WORKER_EXIT_SANDBOX);
	}
	if (close_range(n >= 0 ? FNG_WORKER_NETNS_FD + 1 : FNG_WORKER_NETNS_FD, ~0u, 0) < 0) {
		die("close_range", errno);
	}
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0) {
		die("/dev/null", errno);
	}
	if (null > FNG_WORKER_NETNS_FD) {
		close(null);
	}
}

/* The current address-space size, from /proc/self/statm. 0 if unknown. */
static rlim_t vm_size(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0) {
		close(fd);
	}
	if (n <= 0) {
		return 0;
	}
	buf[n] = '\0';
	return (rlim_t)strtoull(buf, NULL, 10) * (rlim_t)sysconf(_SC_PAGESIZE);
}

static void set_rlimits(const struct fng_sb_spawn *req)
{
	struct {
		int resource;
		rlim_t soft, hard;
		bool use;
	} limits[] = {
		{ RLIMIT_NOFILE, FNG_WORKER_NOFILE, FNG_WORKER_NOFILE, true },
		{ RLIMIT_CORE, 0, 0, true },
		{ RLIMIT_MEMLOCK, 0, 0, true },
		/*
		 * CPU seconds for the worker's whole life (start-up included), not per invocation:
		 * the gateway's deadline bounds one invocation. SIGXCPU at the soft limit, SIGKILL
		 * a second later if it is caught.
		 */
		{ RLIMIT_CPU, (req->cpu_ms + 999) / 1000, (req->cpu_ms + 999) / 1000 + 1,
			req->cpu_ms > 0 },
		/*
		 * A backstop for the memory cgroup (and the only memory limit without one):
		 * what the process maps now (what it inherited; huge under ASan's shadow) plus
		 * memory_mb plus room for the runtime's frame buffers both ways.
		 */
		{ RLIMIT_AS, 0, 0, req->memory_mb > 0 },
	};

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		struct rlimit rl = { limits[i].soft, limits[i].hard };

		if (!limits[i].use) {
			continue;
		}
		if (limits[i].resource == RLIMIT_AS) {
			rl.rlim_cur = rl.rlim_max = vm_size() + ((rlim_t)req->memory_mb << 20) +
				AS_HEADROOM + 2 * (rlim_t)req->max_body;
		}
		if (setrlimit(limits[i].resource, &rl) < 0) {
			die("setrlimit", errno);
		}
	}
}

/* The kernel's OOM killer picks a worker before anything else (raising needs no rights). */
static void prefer_oom_kill(void)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "1000", 4) < 0) {
			/* only a preference */
		}
		close(fd);
	}
}

/* Waits until the supervisor has put this process in its cgroups (or could not). */
static void await_cgroups(bool spare)
{
	char c = 0;
	ssize_t n;

	if (spare) {
		close(FNG_WORKER_SYNC_FD);
		return;
	}
	do {
		n = read(FNG_WORKER_SYNC_FD, &c, 1);
	} while (n < 0 && errno == EINTR);
	close(FNG_WORKER_SYNC_FD);
	if (n != 1 || c != FNG_SYNC_OK) {
		die(n == 1 ? "cgroup setup failed in the supervisor" : "supervisor gone", 0);
	}
}

/*
 * A network namespace with nothing but a downed loopback unless the function may use the
 * network — as root, the one the supervisor made for all workers (creating a namespace per
 * worker costs ~0.4 ms and more again to tear down); nothing in it can reach anything — and
 * an IPC namespace of its own (no System V IPC or POSIX queues shared with anyone). Not being
 * root, a user namespace first, which also grants the right to make the others and leaves
 * the worker an unmapped, powerless user outside. Refused namespaces are skipped:
 * fng__sb_describe() reports the same refusal at start-up.
 */
static bool enter_namespaces(const struct fng_sb_spawn *req, bool shared_net)
{
	int flags = CLONE_NEWIPC;
	bool userns = geteuid() != 0, net = !(req->groups & FNG_SB_GROUP_NET);

	if (net && shared_net && setns(FNG_WORKER_NETNS_FD, CLONE_NEWNET) == 0) {
		net = false;
	}
	if (shared_net) {
		close(FNG_WORKER_NETNS_FD);
	}
	if (net) {
		flags |= CLONE_NEWNET;
	}
	if (userns) {
		flags |= CLONE_NEWUSER;
	}
	if (unshare(flags) < 0) {
		return false;
	}
	return userns;
}

/*
 * No capabilities in any set, for good (bounding set emptied, no ambient ones), and, as root,
 * the nobody identity with no supplementary groups. no_new_privs comes here rather than just
 * before seccomp: Landlock needs it from an unprivileged process, and it keeps a setuid
 * binary from being of use to a constructor.
 */
static void drop_privileges(bool in_userns)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	struct rlimit none = { 0, 0 };

	/*
	 * Needs CAP_SETPCAP, which a container's root may lack: then the uid change and
	 * no_new_privs (no exec, no file capabilities) still leave nothing to regain.
	 */
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap) >= 0; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap) < 0) {
			break;
		}
	}
	if (geteuid() == 0 && !in_userns) {
		if (setgroups(0, NULL) < 0 ||
			setresgid(FNG_WORKER_GID, FNG_WORKER_GID, FNG_WORKER_GID) < 0 ||
			setresuid(FNG_WORKER_UID, FNG_WORKER_UID, FNG_WORKER_UID) < 0) {
			die("dropping to uid 65534", errno);
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &hdr, data) < 0) {
		die("capset", errno);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		die("PR_SET_NO_NEW_PRIVS", errno);
	}
	/* Same-uid processes (other workers) may not ptrace it or open its /proc files. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Counted per uid, and every worker is 65534: zero means this process never forks. */
	if (setrlimit(RLIMIT_NPROC, &none) < 0) {
		die("setrlimit NPROC", errno);
	}
}

/* The manifest's environment and nothing else (entries checked by the supervisor). */
static void set_env(const struct fng_sb_spawn *req)
{
	const char *p = req->env, *end = req->env + sizeof(req->env);

	if (clearenv() != 0) {
		die("clearenv", ENOMEM);
	}
	while (p < end && *p) {
		size_t len = strnlen(p, (size_t)(end - p));
		char *entry = strndup(p, len);

		if (!entry || putenv(entry) != 0) {
			die("putenv", ENOMEM);
		}
		p += len + 1;
	}
}

static const struct fng_handler_desc *load(const struct fng_sb_spawn *req)
{
	const struct fng_handler_desc *desc;
	void *so = dlopen(req->so_path, RTLD_NOW | RTLD_LOCAL);

	if (!so) {
		fng__worker_die(dlerror(), 0, FNG_WORKER_EXIT_DLOPEN);
	}
	desc = dlsym(so, "fng_handler_desc");
	if (!desc) {
		fng__worker_die("no fng_handler_desc: not built with FNG_HANDLER()", 0,
			FNG_WORKER_EXIT_DLOPEN);
	}
	if (desc->abi != FNG_ABI_VERSION || !desc->handle) {
		dprintf(STDERR_FILENO, "fngate: %s: built for ABI %u, this is ABI %u\n",
			worker_function, desc->abi, FNG_ABI_VERSION);
		fng__sb_hard_exit(FNG_WORKER_EXIT_ABI);
	}
	if (desc->init && desc->init() != 0) {
		fng__worker_die("init hook failed", 0, FNG_WORKER_EXIT_INIT);
	}
	return desc;
}

_Noreturn void fng__worker_main(const struct fng_sb_spawn *req, const struct fng_worker_start *st)
{
	const struct fng_handler_desc *desc;
	char comm[16];
	int rc;

	worker_function = req->name;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != st->super) {
		fng__sb_hard_exit(FNG_WORKER_EXIT_SANDBOX);
	}
	snprintf(comm, sizeof(comm), "fn:%.12s", req->name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	reset_signals();
	place_fds(st);
	/*
	 * stdout line-buffered in a buffer of ours: stdio would otherwise size one with fstat(2)
	 * on the first printf, which the serve filter refuses. stderr is unbuffered already.
	 */
	setvbuf(stdout, stdout_buf, _IOLBF, sizeof(stdout_buf));
	if (setsid() < 0 || chdir("/") < 0) {
		die("setsid, chdir", errno);
	}
	set_rlimits(req);
	prefer_oom_kill();
	fng__cg_cpu_fallback(req);
	await_cgroups(st->sync < 0);
	drop_privileges(enter_namespaces(req, st->netns >= 0));
	/*
	 * The kernel clears the parent-death signal when the uid changes: set it again, and look
	 * again whether the supervisor died in between.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != st->super) {
		fng__sb_hard_exit(FNG_WORKER_EXIT_SANDBOX);
	}
	rc = fng__landlock_apply(req->so_path, req->groups & FNG_SB_GROUP_NET);
	if (rc < 0) {
		die("landlock", -rc);
	}
	rc = fng__seccomp_load_time();
	if (rc < 0) {
		die("load-time seccomp filter", -rc);
	}
	set_env(req);

	desc = load(req);

	rc = fng__seccomp_load(req->groups, req->learn, req->name);
	if (rc < 0) {
		die("seccomp", -rc);
	}
	rc = fng__rt_ready(FNG_WORKER_FD, desc);
	if (rc == 0) {
		rc = fng__rt_serve(FNG_WORKER_FD, desc, req->name, req->max_body, &req->grants);
	}
	switch (rc) {
	case -ENOMEM:
		fng__sb_hard_exit(FNG_WORKER_EXIT_OOM);
	case -EPROTO:
	case -EMSGSIZE:
		fng__sb_hard_exit(FNG_WORKER_EXIT_PROTO);
	default:
		/* 0: the gateway hung up or said SHUTDOWN; other errors: the socket failed under
		 * us, which is the gateway going away too. */
		fng__sb_hard_exit(0);
	}
}
