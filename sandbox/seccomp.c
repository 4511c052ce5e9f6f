// SPDX-License-Identifier: MIT
/*
 * The worker's system call policy, loaded last before READY: after it, a handler can move
 * frames over its socketpair, write to its stdout and stderr (a pipe the gateway reads as its
 * log), manage memory, read clocks and sleep — what the runtime's serve loop needs
 * (sdk/runtime.h) — and nothing else. Anything not in the table kills the whole
 * worker (SECCOMP_RET_KILL_PROCESS, seen by the supervisor as SIGSYS: cause "seccomp"), as
 * does any system call through a foreign ABI (int 0x80, x32).
 *
 * Learn mode (spawn.learn) turns the default into a trap: a SIGSYS handler writes
 * "fngate: seccomp would deny <name> (nr N) in <function>" on fd 2 and fails the call with
 * ENOSYS, so a user can find what their handler needs. The names are resolved while setting
 * up, since libseccomp's resolver allocates and the handler may not.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

#ifdef FNG_HAVE_SECCOMP
#include <seccomp.h>

/* When a row is part of the filter. */
enum sc_when {
	ALWAYS,
	NET,      /* the function was granted FNG_SB_GROUP_NET */
};

/*
 * One rule: the system call, what happens to it, when the row applies and up to two argument
 * comparisons that must all hold (rows for the same call are alternatives; a row without
 * comparisons would override every other row for its call). Two data are placeholders:
 * SELF is the worker's own pid; OWN_FD compares the argument with "a descriptor the function
 * opened itself": 4 to 63 (RLIMIT_NOFILE), never 0-2 nor the socketpair. The kernel reads a
 * descriptor as 32 bits, so OWN_FD tests only the low half of the register, in four masked
 * ranges; a plain ">= 4" would let 0x100000002 through as fd 2.
 */
struct sc_row {
	int nr;
	uint32_t action;
	enum sc_when when;
	unsigned nargs;
	struct scmp_arg_cmp args[2];
};

#define SELF ((scmp_datum_t)-1)
#define OWN_FD_DATUM ((scmp_datum_t)-2)

static const struct {
	scmp_datum_t mask, value;
} own_fd_ranges[] = {
	{ 0xfffffffc, 4 },   /* 4-7 */
	{ 0xfffffff8, 8 },   /* 8-15 */
	{ 0xfffffff0, 16 },  /* 16-31 */
	{ 0xffffffe0, 32 },  /* 32-63 */
};
_Static_assert(FNG_WORKER_NOFILE == 64, "own_fd_ranges cover descriptors 4 to 63");
_Static_assert(FNG_WORKER_FD == 3, "own_fd_ranges start after the socketpair");

#define ALLOW SCMP_ACT_ALLOW
#define DENY(e) SCMP_ACT_ERRNO(e)
#define SYS(name) SCMP_SYS(name)
#define EQ(i, v) { .arg = (i), .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)(v) }
#define NONE_OF(i, bits) { .arg = (i), .op = SCMP_CMP_MASKED_EQ, .datum_a = (bits), .datum_b = 0 }
#define OWN_FD(i) { .arg = (i), .op = SCMP_CMP_MASKED_EQ, .datum_a = OWN_FD_DATUM }
/* The low 32 bits of the argument, masked, equal value (the high half is ignored). */
#define IN(i, mask, value) { .arg = (i), .op = SCMP_CMP_MASKED_EQ, .datum_a = (mask), \
	.datum_b = (value) }
#define GE(i, v) { .arg = (i), .op = SCMP_CMP_GE, .datum_a = (scmp_datum_t)(v) }
#define NOARGS 0, { { 0 } }

static const struct sc_row policy[] = {
	/* The serve loop: frames in and out on the worker's socketpair, no other descriptor. */
	{ SYS(read), ALLOW, ALWAYS, 1, { EQ(0, FNG_WORKER_FD) } },
	{ SYS(write), ALLOW, ALWAYS, 1, { EQ(0, FNG_WORKER_FD) } },
	/*
	 * The loop waits in poll(POLLIN) (sdk/runtime.c says why). Harmless on any descriptor,
	 * and the net group's client libraries wait the same way.
	 */
	{ SYS(poll), ALLOW, ALWAYS, NOARGS },
	{ SYS(ppoll), ALLOW, ALWAYS, NOARGS },
	/*
	 * stdout and stderr are a pipe the gateway reads as the function's log (rate-limited
	 * there): a handler's fprintf(stderr), glibc's fatal messages before an abort ("***
	 * stack smashing ***") and the learn-mode trap's reports all arrive as log lines.
	 */
	{ SYS(write), ALLOW, ALWAYS, 1, { EQ(0, STDOUT_FILENO) } },
	{ SYS(writev), ALLOW, ALWAYS, 1, { EQ(0, STDOUT_FILENO) } },
	{ SYS(write), ALLOW, ALWAYS, 1, { EQ(0, STDERR_FILENO) } },
	{ SYS(writev), ALLOW, ALWAYS, 1, { EQ(0, STDERR_FILENO) } },

	/* Memory: malloc and friends. Nothing may become executable after the .so is loaded. */
	{ SYS(brk), ALLOW, ALWAYS, NOARGS },
	{ SYS(mmap), ALLOW, ALWAYS, 1, { NONE_OF(2, PROT_EXEC) } },
	{ SYS(mprotect), ALLOW, ALWAYS, 1, { NONE_OF(2, PROT_EXEC) } },
	{ SYS(munmap), ALLOW, ALWAYS, NOARGS },
	{ SYS(mremap), ALLOW, ALWAYS, NOARGS },
	{ SYS(madvise), ALLOW, ALWAYS, NOARGS },

	/*
	 * Time. Sleeping is allowed: a handler that sleeps past its deadline is the gateway's
	 * to kill (504), not a policy violation. restart_syscall resumes an interrupted sleep.
	 */
	{ SYS(clock_gettime), ALLOW, ALWAYS, NOARGS },
	{ SYS(gettimeofday), ALLOW, ALWAYS, NOARGS },
	{ SYS(nanosleep), ALLOW, ALWAYS, NOARGS },
	{ SYS(clock_nanosleep), ALLOW, ALWAYS, NOARGS },
	{ SYS(restart_syscall), ALLOW, ALWAYS, NOARGS },
	/*
	 * The runtime's accounting (sdk/runtime.c): the process's own CPU time and peak memory
	 * around each invocation, reported in its RESULT. RUSAGE_SELF only: RUSAGE_CHILDREN has
	 * nothing to say (no children) and RUSAGE_THREAD nothing more.
	 */
	{ SYS(getrusage), ALLOW, ALWAYS, 1, { EQ(0, RUSAGE_SELF) } },

	/* Odds and ends of a single-threaded C program. */
	{ SYS(futex), ALLOW, ALWAYS, NOARGS },
	{ SYS(getrandom), ALLOW, ALWAYS, NOARGS },
	{ SYS(sched_yield), ALLOW, ALWAYS, NOARGS },
	{ SYS(rt_sigreturn), ALLOW, ALWAYS, NOARGS },
	{ SYS(rt_sigprocmask), ALLOW, ALWAYS, NOARGS },
	/* Harmless, and ASan asks for it before every noreturn call (abort, longjmp). */
	{ SYS(sigaltstack), ALLOW, ALWAYS, NOARGS },
	{ SYS(exit), ALLOW, ALWAYS, NOARGS },
	{ SYS(exit_group), ALLOW, ALWAYS, NOARGS },

	/* abort(): getpid, gettid, then SIGABRT to itself — and to nobody else. */
	{ SYS(getpid), ALLOW, ALWAYS, NOARGS },
	{ SYS(gettid), ALLOW, ALWAYS, NOARGS },
	{ SYS(tgkill), ALLOW, ALWAYS, 2, { EQ(0, SELF), EQ(2, SIGABRT) } },

	/*
	 * The net group (manifest `sandbox: [net]`): outbound IPv4/IPv6 sockets and the calls
	 * client libraries make on them, on descriptors the function opened itself. DNS is not
	 * included: the resolver reads /etc, which Landlock refuses; use numeric addresses.
	 */
	{ SYS(socket), ALLOW, NET, 1, { EQ(0, AF_INET) } },
	{ SYS(socket), ALLOW, NET, 1, { EQ(0, AF_INET6) } },
	{ SYS(connect), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(shutdown), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(close), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(read), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(write), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(readv), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(writev), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(sendto), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(recvfrom), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(sendmsg), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(recvmsg), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(sendmmsg), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(recvmmsg), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(getsockopt), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(setsockopt), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(getsockname), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(getpeername), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(fcntl), ALLOW, NET, 1, { OWN_FD(0) } },
	{ SYS(ioctl), ALLOW, NET, 2, { OWN_FD(0), EQ(1, FIONBIO) } },
	{ SYS(epoll_create1), ALLOW, NET, NOARGS },
	{ SYS(epoll_ctl), ALLOW, NET, NOARGS },
	{ SYS(epoll_wait), ALLOW, NET, NOARGS },
	{ SYS(epoll_pwait), ALLOW, NET, NOARGS },
};

#define NROWS (sizeof(policy) / sizeof(policy[0]))

/*
 * Load time: a first, permissive filter (default allow) loaded before dlopen, for the .so's
 * constructors and init hook. The identity, Landlock and the namespaces already contain
 * files, signals and IP; these rows close what they leave open. The serve-loop filter is
 * stacked on top later, and the stricter verdict wins, so these rows matter only until then.
 */
static const struct sc_row load_policy[] = {
	/*
	 * socket(): IPv4 and IPv6 only (a network namespace with a downed loopback, or the net
	 * group). A UNIX socket could connect to any world-writable socket file on the machine
	 * (Landlock up to ABI 7 does not cover connect), and the other families (netlink,
	 * packet, alg, vsock, xdp, ...) are kernel surface no handler needs. Families are
	 * matched on the 32 bits the kernel reads; anything >= 64, including values with high
	 * bits set, is refused too.
	 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { IN(0, 0xfffffffe, 0) } },  /* 0-1 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { IN(0, 0xffffffff, 3) } },  /* 3 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { IN(0, 0xfffffffc, 4) } },  /* 4-7 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { IN(0, 0xfffffffe, 8) } },  /* 8-9 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { IN(0, 0xffffffff, 11) } }, /* 11 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { IN(0, 0xfffffffc, 12) } }, /* 12-15 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { IN(0, 0xfffffff0, 16) } }, /* 16-31 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { IN(0, 0xffffffe0, 32) } }, /* 32-63 */
	{ SYS(socket), DENY(EAFNOSUPPORT), ALWAYS, 1, { GE(0, 64) } },
	/* A user namespace would hand back capabilities over new kernel objects. */
	{ SYS(unshare), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(setns), DENY(EPERM), ALWAYS, NOARGS },
	/* Interfaces with a record of kernel exploits that no handler needs. */
	{ SYS(io_uring_setup), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(io_uring_enter), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(io_uring_register), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(bpf), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(perf_event_open), DENY(EACCES), ALWAYS, NOARGS },
	{ SYS(userfaultfd), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(keyctl), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(add_key), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(request_key), DENY(EPERM), ALWAYS, NOARGS },
	/* Other processes (Landlock and PR_SET_DUMPABLE already refuse; be explicit). */
	{ SYS(ptrace), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(process_vm_readv), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(process_vm_writev), DENY(EPERM), ALWAYS, NOARGS },
	/*
	 * No other program: fork is already impossible (RLIMIT_NPROC 0), and an exec in place
	 * (the dynamic loader copied into a memfd, say) would leave the runtime behind. memfd is
	 * refused outright: it is the way to executable memory that no file backs and Landlock
	 * cannot see; nothing a handler loads needs it.
	 */
	{ SYS(execve), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(execveat), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(memfd_create), DENY(EPERM), ALWAYS, NOARGS },
	{ SYS(memfd_secret), DENY(EPERM), ALWAYS, NOARGS },
	/*
	 * A persona is for the life of the process: READ_IMPLIES_EXEC set in init would make
	 * every later PROT_READ mapping executable, past the serve filter's PROT_EXEC rule. The
	 * serve filter has no personality row, so there it kills.
	 */
	{ SYS(personality), DENY(EPERM), ALWAYS, NOARGS },
};

#define NLOAD (sizeof(load_policy) / sizeof(load_policy[0]))

/* Learn mode: syscall names by number, and the function they are reported for. */
#define NAMES 512
static char *names[NAMES];
static const char *learn_function;

static size_t put(char *buf, size_t at, size_t size, const char *s)
{
	while (*s && at < size) {
		buf[at++] = *s++;
	}
	return at;
}

static size_t put_num(char *buf, size_t at, size_t size, long v)
{
	char tmp[24];
	size_t n = 0;
	unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0 && at < size) {
		buf[at++] = '-';
	}
	while (n && at < size) {
		buf[at++] = tmp[--n];
	}
	return at;
}

/* SIGSYS in learn mode: report, then return ENOSYS from the denied call. Signal-safe. */
static void learn_trap(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;
	int saved = errno, nr = si->si_syscall;
	char msg[256];
	size_t n = 0;

	n = put(msg, n, sizeof(msg), "fngate: seccomp would deny ");
	n = put(msg, n, sizeof(msg), nr >= 0 && nr < NAMES && names[nr] ? names[nr] : "?");
	n = put(msg, n, sizeof(msg), " (nr ");
	n = put_num(msg, n, sizeof(msg), nr);
	n = put(msg, n, sizeof(msg), ") in ");
	n = put(msg, n, sizeof(msg), learn_function);
	n = put(msg, n, sizeof(msg), "\n");
	if (write(STDERR_FILENO, msg, n) < 0) {
		/* nothing to do about it */
	}
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-ENOSYS;
#else
#error "learn mode needs the syscall return register of this architecture"
#endif
	errno = saved;
}

static int learn_setup(const char *function)
{
	struct sigaction sa = { 0 };

	for (int nr = 0; nr < NAMES; nr++) {
		if (!names[nr]) {
			names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		}
	}
	learn_function = function;
	sa.sa_sigaction = learn_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

/* Adds the rows of table that apply (SELF is self). 0 or -errno. */
static int add_rows(scmp_filter_ctx ctx, const struct sc_row *table, size_t n, uint32_t groups,
	pid_t self)
{
	for (size_t i = 0; i < n; i++) {
		const struct sc_row *row = &table[i];
		struct scmp_arg_cmp args[2];
		size_t nranges = 1;

		if (row->when == NET && !(groups & FNG_SB_GROUP_NET)) {
			continue;
		}
		for (unsigned a = 0; a < row->nargs; a++) {
			if (row->args[a].datum_a == OWN_FD_DATUM) {
				nranges = sizeof(own_fd_ranges) / sizeof(own_fd_ranges[0]);
			}
		}
		for (size_t r = 0; r < nranges; r++) {
			int rc;

			memcpy(args, row->args, sizeof(args));
			for (unsigned a = 0; a < row->nargs; a++) {
				if (args[a].datum_a == SELF) {
					args[a].datum_a = (scmp_datum_t)self;
				} else if (args[a].datum_a == OWN_FD_DATUM) {
					args[a].datum_a = own_fd_ranges[r].mask;
					args[a].datum_b = own_fd_ranges[r].value;
				}
			}
			rc = seccomp_rule_add_array(ctx, row->action, row->nr, row->nargs, args);
			if (rc < 0) {
				return rc;
			}
		}
	}
	return 0;
}

/*
 * A filter with default action def and the rows of table for process self, or NULL (*rc says
 * why).
 */
static scmp_filter_ctx build_for(pid_t self, uint32_t def, const struct sc_row *table,
	size_t n, uint32_t groups, int *rc)
{
	scmp_filter_ctx ctx = seccomp_init(def);

	if (!ctx) {
		*rc = -ENOMEM;
		return NULL;
	}
	/* The filter covers the native ABI only: a call through another (int 0x80) dies. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) < 0 ||
		seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1) < 0) {
		*rc = -EINVAL;
	} else {
		*rc = add_rows(ctx, table, n, groups, self);
	}
	if (*rc) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

/* build_for the calling process. */
static scmp_filter_ctx build(uint32_t def, const struct sc_row *table, size_t n,
	uint32_t groups, int *rc)
{
	return build_for(getpid(), def, table, n, groups, rc);
}

/* Builds and loads a filter; installs the learn trap first. 0 or -errno. */
static int load(uint32_t def, const struct sc_row *table, size_t n, uint32_t groups,
	bool learn, const char *function)
{
	int rc;
	scmp_filter_ctx ctx = build(def, table, n, groups, &rc);

	if (!ctx) {
		return rc;
	}
	if (learn) {
		rc = learn_setup(function);
	}
	if (rc == 0) {
		rc = seccomp_load(ctx);
	}
	seccomp_release(ctx);
	return rc;
}

/*
 * Filters a spare compiled while it waited (the common case: no groups, not learning), as
 * BPF ready for the kernel: building one with libseccomp costs a new worker ~0.1 ms each.
 * They embed the pid (SELF rows), so they are good for the process that built them only.
 */
static struct {
	pid_t pid;
	struct sock_fprog load_time, serve;
} pre;

/* The BPF of ctx, through a memfd (libseccomp 2.5 exports to a descriptor only). */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *out)
{
	int fd = memfd_create("fngate-bpf", MFD_CLOEXEC), rc = 0;
	off_t size;

	if (fd < 0) {
		return -errno;
	}
	rc = seccomp_export_bpf(ctx, fd);
	size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
	if (rc == 0 && (size <= 0 || size % sizeof(struct sock_filter) ||
		size / sizeof(struct sock_filter) > BPF_MAXINSNS)) {
		rc = -EINVAL;
	}
	if (rc == 0) {
		out->filter = malloc((size_t)size);
		if (!out->filter) {
			rc = -ENOMEM;
		} else if (pread(fd, out->filter, (size_t)size, 0) != size) {
			rc = -EIO;
			free(out->filter);
		} else {
			out->len = (unsigned short)(size / sizeof(struct sock_filter));
		}
	}
	close(fd);
	return rc;
}

int fng__seccomp_prepare(void)
{
	scmp_filter_ctx a, b;
	int rc;

	a = build(SCMP_ACT_ALLOW, load_policy, NLOAD, 0, &rc);
	if (!a) {
		return rc;
	}
	b = build(SCMP_ACT_KILL_PROCESS, policy, NROWS, 0, &rc);
	if (b) {
		rc = export_bpf(a, &pre.load_time);
		if (rc == 0) {
			rc = export_bpf(b, &pre.serve);
			if (rc) {
				free(pre.load_time.filter);
			}
		}
		seccomp_release(b);
	}
	seccomp_release(a);
	if (rc == 0) {
		pre.pid = getpid();
	}
	return rc;
}

int fng__seccomp_expected(pid_t pid, uint32_t groups, bool learn,
	const struct sock_fprog **load, struct sock_fprog *serve)
{
	/* The load-time filter names no pid: built once per process and kept. */
	static struct sock_fprog load_time;
	scmp_filter_ctx ctx;
	int rc = 0;

	if (!load_time.filter) {
		ctx = build(SCMP_ACT_ALLOW, load_policy, NLOAD, 0, &rc);
		if (!ctx) {
			return rc;
		}
		rc = export_bpf(ctx, &load_time);
		seccomp_release(ctx);
		if (rc) {
			return rc;
		}
	}
	*load = &load_time;
	if (!serve) {
		return 0;
	}
	ctx = build_for(pid, learn ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS, policy, NROWS, groups,
		&rc);
	if (!ctx) {
		return rc;
	}
	rc = export_bpf(ctx, serve);
	seccomp_release(ctx);
	return rc;
}

/* Installs a prepared filter (no_new_privs is already set: worker.c sets it first). */
static int install(struct sock_fprog *prog)
{
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0 ? -errno : 0;
}

int fng__seccomp_load_time(void)
{
	if (pre.pid == getpid()) {
		return install(&pre.load_time);
	}
	return load(SCMP_ACT_ALLOW, load_policy, NLOAD, 0, false, NULL);
}

int fng__seccomp_load(uint32_t groups, bool learn, const char *function)
{
	if (pre.pid == getpid() && !groups && !learn) {
		return install(&pre.serve);
	}
	return load(learn ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS, policy, NROWS, groups, learn,
		function);
}

const char *fng__seccomp_describe(void)
{
	static char buf[96];
	size_t always = 0, net = 0;

	for (size_t i = 0; i < NROWS; i++) {
		always += policy[i].when == ALWAYS;
		net += policy[i].when == NET;
	}
	snprintf(buf, sizeof(buf), "seccomp kill-process, %zu rules (+%zu for net), "
		"%zu-rule load-time filter", always, net, NLOAD);
	return buf;
}

#else /* !FNG_HAVE_SECCOMP */

int fng__seccomp_prepare(void)
{
	return 0;
}

int fng__seccomp_load_time(void)
{
	return 0;
}

int fng__seccomp_load(uint32_t groups, bool learn, const char *function)
{
	return 0;
}

const char *fng__seccomp_describe(void)
{
	return "NO SECCOMP FILTER (built with -Dseccomp=disabled)";
}

int fng__seccomp_expected(pid_t pid, uint32_t groups, bool learn,
	const struct sock_fprog **load, struct sock_fprog *serve)
{
	return -ENOSYS;
}

#endif
