// SPDX-License-Identifier: MIT
/*
 * The supervisor (zygote): forked by the gateway at start, before any secret is loaded, so
 * the workers it forks later inherit nothing worth stealing. It waits on two things — the
 * control socket (FNG_SB_SPAWN requests, answered with FNG_SB_SPAWNED and the worker's
 * socketpair end) and a signalfd (SIGCHLD: reap, answer FNG_SB_EXIT with the cause) — and
 * puts each new worker in its cgroups before letting it go on (worker.c does the rest).
 *
 * Moving a process into a cgroup costs an RCU grace period (7-20 ms here), most of a worker's
 * start-up. So the supervisor keeps one *spare*: a child forked ahead of need that has already
 * moved itself into fresh cgroups and waits on a private socket. A spawn request hands the
 * spare the request and the worker's socketpair end (the supervisor sets the memory limit
 * first); the spare goes on as that worker and a new spare is forked at once. A request that
 * finds no spare ready forks as before.
 *
 * Nothing outlives the gateway: when the control socket reads EOF or the gateway dies
 * (PR_SET_PDEATHSIG delivers SIGTERM, which the loop reads like EOF), the supervisor kills
 * and reaps every worker, removes their cgroups and exits; each worker also has
 * PR_SET_PDEATHSIG(SIGKILL) against the supervisor's death.
 *
 * The gateway side of the control socket (send a request, receive a reply with its fd) and
 * the start-up description of the confinement are here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "wire.h"

/* The supervisor's end of the control socket. */
#define CTL_FD 3

struct worker {
	pid_t pid;
	uint32_t cpu_ms; /* its RLIMIT_CPU, to tell a CPU-limit SIGKILL from another */
	uint32_t groups; /* what its serve filter allows, for verify() */
	bool learn;
	struct sock_fprog serve; /* that filter, built while it starts (filter NULL: not yet) */
};

/* A reply waiting for room in the control socket (with the fds it carries, owned). */
struct out_msg {
	union fng_sb_reply m;
	size_t len;
	int fds[2];
};

/* The spare (see above): forked, moving into its cgroups, then ready for one request. */
struct spare {
	pid_t pid;    /* 0: none */
	int chan;     /* our end of its SOCK_SEQPACKET socket */
	bool ready;   /* it said it is in its cgroups */
};

static struct {
	struct worker *w;
	size_t n, cap;
	struct out_msg *out; /* FIFO: the supervisor never blocks on a slow gateway */
	size_t nout, capout;
	int sigfd;
	int netns; /* the empty network namespace workers join, or -1 */
	pid_t self;
	struct spare spare;
	unsigned spare_deaths; /* spares in a row that died before they were ready */
	bool no_spare;         /* spares fail here: fork on demand from now on */
} sup;

/* ---- messages ---- */

/* Closes the descriptors of fds that are open and marks them closed. */
static void close_fds(int fds[2])
{
	for (int i = 0; i < 2; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
}

/* Sends one message, with the descriptors of fds that are >= 0 as SCM_RIGHTS. 0 or -errno. */
static int send_msg(int sock, const void *msg, size_t len, const int fds[2], int flags)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int pass[2], npass = 0;
	ssize_t n;

	for (int i = 0; fds && i < 2; i++) {
		if (fds[i] >= 0) {
			pass[npass++] = fds[i];
		}
	}
	if (npass) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(npass * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(npass * sizeof(int));
		memcpy(CMSG_DATA(c), pass, npass * sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

/*
 * Receives one message into buf; the first two descriptors that came with it (if any) in
 * fds[0] and fds[1] (-1 for none), others closed; *lost set when the kernel dropped
 * descriptors (no room in our table). Bytes received, 0 on EOF, -EMSGSIZE if it did not fit
 * in buf, or -errno.
 */
static ssize_t recv_msg(int sock, void *buf, size_t size, int fds[2], bool *lost)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
		.msg_controllen = sizeof(u.buf) };
	ssize_t n;

	fds[0] = fds[1] = -1;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fds[0] < 0) {
				fds[0] = got;
			} else if (fds[1] < 0) {
				fds[1] = got;
			} else {
				close(got);
			}
		}
	}
	*lost = mh.msg_flags & MSG_CTRUNC;
	if (mh.msg_flags & MSG_TRUNC) {
		close_fds(fds);
		return -EMSGSIZE;
	}
	return n;
}

int fng__sb_send_spawn(int ctl, const struct fng_sb_spawn *req)
{
	return send_msg(ctl, req, sizeof(*req), NULL, 0);
}

int fng__sb_send_verify(int ctl, pid_t pid)
{
	struct fng_sb_verify m = { FNG_SB_VERIFY, pid };

	return send_msg(ctl, &m, sizeof(m), NULL, MSG_DONTWAIT);
}

int fng__sb_recv(int ctl, void *buf, size_t size, int *fd, int *logfd)
{
	bool lost = false;
	int fds[2];
	ssize_t n = recv_msg(ctl, buf, size, fds, &lost);
	uint32_t type;
	size_t want;

	*fd = -1;
	if (logfd) {
		*logfd = -1;
	}
	if (n <= 0) {
		return (int)n;
	}

	if ((size_t)n < sizeof(type)) {
		goto bad;
	}
	memcpy(&type, buf, sizeof(type));
	switch (type) {
	case FNG_SB_SPAWNED:
		want = sizeof(struct fng_sb_spawned);
		break;
	case FNG_SB_EXIT:
		want = sizeof(struct fng_sb_exit);
		break;
	case FNG_SB_VERIFIED:
		want = sizeof(struct fng_sb_verified);
		break;
	default:
		goto bad;
	}
	if ((size_t)n != want) {
		goto bad;
	}
	if (type == FNG_SB_SPAWNED) {
		struct fng_sb_spawned rep;

		memcpy(&rep, buf, sizeof(rep));
		if (rep.err == 0 && (fds[0] < 0 || fds[1] < 0) && lost) {
			/*
			 * The worker's descriptor did not fit in our table: the spawn failed
			 * after all (the worker sees its peer gone and exits; its EXIT follows
			 * under a pid the caller never heard of).
			 */
			close_fds(fds);
			rep.err = -EMFILE;
			rep.pid = -1;
			memcpy(buf, &rep, sizeof(rep));
		}
		if ((rep.err == 0) != (fds[0] >= 0 && fds[1] >= 0) || (rep.err && fds[0] >= 0)) {
			goto bad;
		}
	} else if (fds[0] >= 0) {
		goto bad;
	}
	*fd = fds[0];
	if (logfd) {
		*logfd = fds[1];
	} else if (fds[1] >= 0) {
		close(fds[1]);
	}
	return (int)type;
bad:
	close_fds(fds);
	return -EPROTO;
}

/* ---- the supervisor ---- */

/* Sends queued replies until the socket is full. */
static void flush(void)
{
	size_t done = 0;

	while (done < sup.nout) {
		struct out_msg *o = &sup.out[done];
		int rc = send_msg(CTL_FD, &o->m, o->len, o->fds, MSG_DONTWAIT);

		if (rc == -EAGAIN) {
			break;
		}
		/* Sent, or the gateway is gone (its EOF ends the loop): either way, done. */
		close_fds(o->fds);
		done++;
	}
	memmove(sup.out, sup.out + done, (sup.nout - done) * sizeof(*sup.out));
	sup.nout -= done;
}

/* Queues a reply (the open descriptors of fds now belong to the queue) and sends what fits. */
static void reply(const void *msg, size_t len, int fds[2])
{
	int none[2] = { -1, -1 };

	if (!fds) {
		fds = none;
	}
	if (sup.nout == sup.capout) {
		size_t cap = sup.capout ? sup.capout * 2 : 16;
		struct out_msg *out = realloc(sup.out, cap * sizeof(*out));

		if (!out) {
			/* No memory for a queue: wait for the gateway instead. */
			flush();
			send_msg(CTL_FD, msg, len, fds, 0);
			close_fds(fds);
			return;
		}
		sup.out = out;
		sup.capout = cap;
	}
	memcpy(&sup.out[sup.nout].m, msg, len);
	sup.out[sup.nout].len = len;
	sup.out[sup.nout].fds[0] = fds[0];
	sup.out[sup.nout].fds[1] = fds[1];
	sup.nout++;
	flush();
}

static struct worker *find(pid_t pid)
{
	for (size_t i = 0; i < sup.n; i++) {
		if (sup.w[i].pid == pid) {
			return &sup.w[i];
		}
	}
	return NULL;
}

/* 0 if req is well formed: NUL-terminated strings, absolute path, env list terminated. */
static int check_spawn(const struct fng_sb_spawn *req)
{
	const char *p = req->env, *end = req->env + sizeof(req->env);

	if (!memchr(req->name, '\0', sizeof(req->name)) || !req->name[0] ||
		!memchr(req->so_path, '\0', sizeof(req->so_path)) || req->so_path[0] != '/') {
		return -EINVAL;
	}
	for (;;) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));

		if (!nul) {
			return -EINVAL;
		}
		if (nul == p) {
			return 0;
		}
		if (!memchr(p, '=', (size_t)(nul - p)) || *p == '=') {
			return -EINVAL;
		}
		p = nul + 1;
		if (p == end) {
			return -EINVAL;
		}
	}
}

/* Closes every descriptor from 3 up except keep[0..n) (ascending; -1 entries ignored). */
static int close_except(const int *keep, size_t n)
{
	unsigned from = 3;

	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)from) {
			continue;
		}
		if ((unsigned)keep[i] > from && close_range(from, (unsigned)keep[i] - 1, 0) < 0) {
			return -errno;
		}
		from = (unsigned)keep[i] + 1;
	}
	return close_range(from, ~0u, 0) < 0 ? -errno : 0;
}

/*
 * The spare, in the child: moves itself into fresh cgroups, says so, then waits for one spawn
 * request with the worker's socketpair end, and becomes that worker. Never returns.
 */
static _Noreturn void spare_main(int chan)
{
	struct fng_sb_spawn *req = malloc(sizeof(*req));
	int keep[2] = { chan < sup.netns ? chan : sup.netns, chan < sup.netns ? sup.netns : chan };
	char ok = FNG_SYNC_OK;
	bool lost;
	ssize_t n;
	int fds[2];

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != sup.self || !req ||
		close_except(keep, 2) < 0) {
		fng__sb_hard_exit(FNG_WORKER_EXIT_SANDBOX);
	}
	prctl(PR_SET_NAME, "fngate-spare", 0, 0, 0);
	if (fng__cg_create(getpid(), NULL) < 0) {
		ok = FNG_SYNC_FAILED;
	}
	/* Failing, the worker compiles its filters itself. */
	fng__seccomp_prepare();
	if (write(chan, &ok, 1) != 1 || ok != FNG_SYNC_OK) {
		fng__sb_hard_exit(FNG_WORKER_EXIT_SANDBOX);
	}
	n = recv_msg(chan, req, sizeof(*req), fds, &lost);
	if (n != (ssize_t)sizeof(*req) || fds[0] < 0 || fds[1] < 0) {
		fng__sb_hard_exit(0);
	}
	close(chan);
	fng__worker_main(req, &(struct fng_worker_start){ fds[0], -1, sup.netns, sup.self,
		fds[1] });
}

/* Forks a new spare unless there is one or spares failed. */
static void spare_make(void)
{
	int sv[2];
	pid_t pid;

	if (sup.spare.pid || sup.no_spare) {
		return;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		spare_main(sv[1]);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	sup.spare = (struct spare){ pid, sv[0], false };
}

/* Forgets the spare (its exit, if it has one, is reaped as a stranger's). */
static void spare_drop(bool kill_it)
{
	if (!sup.spare.pid) {
		return;
	}
	if (kill_it) {
		kill(sup.spare.pid, SIGKILL);
	}
	close(sup.spare.chan);
	sup.spare = (struct spare){ 0, -1, false };
}

/* The spare's one-byte report: ready, or it could not join its cgroups. */
static void spare_readable(void)
{
	char c = 0;
	ssize_t n = read(sup.spare.chan, &c, 1);

	if (n < 0 && errno == EAGAIN) {
		return;
	}
	if (n == 1 && c == FNG_SYNC_OK) {
		sup.spare.ready = true;
		sup.spare_deaths = 0;
		return;
	}
	spare_drop(true);
	if (n == 1 || ++sup.spare_deaths >= 3) {
		dprintf(STDERR_FILENO, "fngate-super: %s; forking workers on demand\n",
			n == 1 ? "a spare worker could not join its cgroups" :
				 "spare workers keep dying");
		sup.no_spare = true;
	}
}

/*
 * Hands req to the ready spare with the worker's ends (socketpair, output pipe), after
 * setting its memory limit. The spare's pid, or 0 if it cannot take it (it is then dropped).
 */
static pid_t spare_take(const struct fng_sb_spawn *req, const int ends[2])
{
	pid_t pid = sup.spare.pid;

	if (!pid || !sup.spare.ready) {
		return 0;
	}
	if (fng__cg_limit(pid, req) < 0 ||
		send_msg(sup.spare.chan, req, sizeof(*req), ends, MSG_DONTWAIT) < 0) {
		spare_drop(true);
		return 0;
	}
	spare_drop(false);
	return pid;
}

/*
 * One spawn request: a socketpair for the wire, a pipe for the worker's stdout and stderr;
 * the worker's ends go to the spare (or a new fork), the others to the gateway with SPAWNED.
 */
static void spawn(const struct fng_sb_spawn *req_in)
{
	struct fng_sb_spawned rep = { FNG_SB_SPAWNED, req_in->id, 0, -1 };
	struct fng_sb_spawn req = *req_in;
	int sv[2] = { -1, -1 }, out[2] = { -1, -1 }, sync[2] = { -1, -1 };
	int ours[2], theirs[2];
	char status = FNG_SYNC_OK;
	pid_t pid;

	rep.err = check_spawn(&req);
	if (rep.err) {
		goto reply;
	}
	if (!req.max_body) {
		req.max_body = FNG_WIRE_MAX_DEFAULT;
	}
	if (sup.n == sup.cap) {
		size_t cap = sup.cap ? sup.cap * 2 : 16;
		struct worker *w = realloc(sup.w, cap * sizeof(*w));

		if (!w) {
			rep.err = -ENOMEM;
			goto reply;
		}
		sup.w = w;
		sup.cap = cap;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
		pipe2(out, O_CLOEXEC) < 0) {
		rep.err = -errno;
		goto reply;
	}
	theirs[0] = sv[1];
	theirs[1] = out[1];
	pid = spare_take(&req, theirs);
	if (pid > 0) {
		sup.w[sup.n++] = (struct worker){ pid, req.cpu_ms, req.groups, req.learn != 0 };
		rep.pid = pid;
		spare_make();
		goto reply;
	}
	if (pipe2(sync, O_CLOEXEC) < 0) {
		rep.err = -errno;
		goto reply;
	}
	pid = fork();
	if (pid < 0) {
		rep.err = -errno;
		goto reply;
	}
	if (pid == 0) {
		struct fng_worker_start st = { sv[1], sync[0], sup.netns, sup.self, out[1] };

		fng__worker_main(&req, &st);
	}
	close(sync[0]);
	sync[0] = -1;
	if (fng__cg_create(pid, &req) < 0) {
		status = FNG_SYNC_FAILED;
	}
	if (write(sync[1], &status, 1) < 0) {
		/* the worker died already: its exit is reported as usual */
	}
	sup.w[sup.n++] = (struct worker){ pid, req.cpu_ms, req.groups, req.learn != 0 };
	rep.pid = pid;
reply:
	close_fds(sync);
	theirs[0] = sv[1];
	theirs[1] = out[1];
	close_fds(theirs);
	ours[0] = sv[0];
	ours[1] = out[0];
	if (rep.err) {
		close_fds(ours);
	}
	reply(&rep, sizeof(rep), ours);
	/*
	 * While the worker loads its .so (a millisecond), the serve filter its verification will
	 * compare with: built now, it is off the path from its READY to its first request.
	 */
	if (rep.pid > 0 && sup.n && sup.w[sup.n - 1].pid == rep.pid) {
		struct worker *w = &sup.w[sup.n - 1];
		const struct sock_fprog *load;

		if (fng__seccomp_expected(w->pid, w->groups, w->learn, &load, &w->serve) < 0) {
			w->serve.filter = NULL;
		}
	}
}

/* Worker exit codes and the causes they stand for (sandbox.h). */
static const struct {
	int code;
	const char *cause;
} exit_causes[] = {
	{ FNG_WORKER_EXIT_DLOPEN, "dlopen failed" },
	{ FNG_WORKER_EXIT_ABI, "abi mismatch" },
	{ FNG_WORKER_EXIT_INIT, "init failed" },
	{ FNG_WORKER_EXIT_SANDBOX, "sandbox setup failed" },
	{ FNG_WORKER_EXIT_PROTO, "protocol error" },
	{ FNG_WORKER_EXIT_OOM, "out of memory" },
};

/* What ended a worker, in the words of sandbox.h. */
static void cause(char *buf, size_t size, const struct worker *w, int st, const struct rusage *ru)
{
	long cpu_ms = (long)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
		(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
	const char *abbrev;

	if (WIFEXITED(st)) {
		for (size_t i = 0; i < sizeof(exit_causes) / sizeof(exit_causes[0]); i++) {
			if (WEXITSTATUS(st) == exit_causes[i].code) {
				snprintf(buf, size, "%s", exit_causes[i].cause);
				return;
			}
		}
		snprintf(buf, size, "exit %d", WEXITSTATUS(st));
		return;
	}
	if (!WIFSIGNALED(st)) {
		snprintf(buf, size, "wait status %#x", st);
		return;
	}
	switch (WTERMSIG(st)) {
	case SIGSYS: /* SECCOMP_RET_KILL_PROCESS */
		snprintf(buf, size, "seccomp");
		return;
	case SIGXCPU: /* RLIMIT_CPU, soft */
		snprintf(buf, size, "cpu limit");
		return;
	case SIGKILL:
		/* The memory cgroup's OOM killer, or RLIMIT_CPU's hard limit a second later. */
		if (fng__cg_oom(w->pid)) {
			snprintf(buf, size, "out of memory");
			return;
		}
		if (w->cpu_ms && cpu_ms >= (long)((w->cpu_ms + 999) / 1000) * 1000) {
			snprintf(buf, size, "cpu limit");
			return;
		}
		break;
	}
	abbrev = sigabbrev_np(WTERMSIG(st));
	if (abbrev) {
		snprintf(buf, size, "SIG%s", abbrev);
	} else {
		snprintf(buf, size, "signal %d", WTERMSIG(st));
	}
}

/* A child pid was reaped with status st: forget it and, with report, tell the gateway. */
static void reaped(pid_t pid, int st, const struct rusage *ru, bool report)
{
	struct fng_sb_exit ex = { FNG_SB_EXIT, 0, 0, "" };
	struct worker *w = find(pid);

	if (!w) {
		/* A spare that died before it was used (killed, or its set-up failed). */
		fng__cg_remove(pid);
		if (pid == sup.spare.pid) {
			spare_drop(false);
		}
		return;
	}
	ex.pid = pid;
	ex.wstatus = st;
	cause(ex.cause, sizeof(ex.cause), w, st, ru);
	fng__cg_remove(pid);
	free(w->serve.filter);
	*w = sup.w[--sup.n];
	if (report) {
		reply(&ex, sizeof(ex), NULL);
	}
}

static void reap(bool report)
{
	for (;;) {
		struct rusage ru;
		int st;
		pid_t pid = wait4(-1, &st, WNOHANG, &ru);

		if (pid <= 0) {
			if (pid < 0 && errno == EINTR) {
				continue;
			}
			return;
		}
		reaped(pid, st, &ru, report);
	}
}

/*
 * FNG_SB_VERIFY: checks from outside that the worker is under the filters it should have
 * installed (sandbox.h) and answers FNG_SB_VERIFIED. A worker that dies meanwhile is reaped
 * here and reported like any other.
 */
static void verify(const struct fng_sb_verify *m)
{
	struct fng_sb_verified rep = { FNG_SB_VERIFIED, m->pid, 0, "" };
	const struct worker *w = m->pid > 0 ? find(m->pid) : NULL;
	struct rusage ru = { 0 };
	int st = -1;

	if (!w) {
		rep.err = -ESRCH;
		snprintf(rep.why, sizeof(rep.why), "not a worker of this supervisor");
	} else {
		rep.err = fng__sb_verify(w->pid, w->groups, w->learn,
			w->serve.filter ? &w->serve : NULL, &st, &ru, rep.why,
			sizeof(rep.why));
	}
	reply(&rep, sizeof(rep), NULL);
	if (st >= 0) {
		reaped(m->pid, st, &ru, true);
	}
}

static _Noreturn void shutdown_all(void)
{
	if (sup.spare.pid) {
		pid_t pid = sup.spare.pid;

		spare_drop(true);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
		}
		fng__cg_remove(pid);
	}
	for (size_t i = 0; i < sup.n; i++) {
		kill(sup.w[i].pid, SIGKILL);
	}
	for (size_t i = 0; i < sup.n; i++) {
		while (waitpid(sup.w[i].pid, NULL, 0) < 0 && errno == EINTR) {
		}
		fng__cg_remove(sup.w[i].pid);
	}
	fng__cg_teardown();
	fng__sb_hard_exit(0);
}

static _Noreturn void supervise(void)
{
	union fng_sb_request *req = malloc(sizeof(*req));

	if (!req) {
		fng__sb_hard_exit(1);
	}
	for (;;) {
		struct pollfd p[3] = { { CTL_FD, POLLIN, 0 }, { sup.sigfd, POLLIN, 0 },
			{ sup.spare.pid && !sup.spare.ready ? sup.spare.chan : -1, POLLIN, 0 } };
		struct signalfd_siginfo si;
		bool term = false;

		if (sup.nout) {
			p[0].events |= POLLOUT;
		}
		/* The busy-worker watch runs when due and says when it is due again. */
		if (poll(p, 3, fng__cg_watch()) < 0) {
			if (errno == EINTR) {
				continue;
			}
			shutdown_all();
		}
		if (p[0].revents & POLLOUT) {
			flush();
		}
		while (read(sup.sigfd, &si, sizeof(si)) == sizeof(si)) {
			term = term || si.ssi_signo == SIGTERM;
		}
		reap(true);
		if (term) {
			shutdown_all();
		}
		if (p[2].revents && sup.spare.pid) {
			spare_readable();
		}
		spare_make();
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			bool lost;
			int fds[2];
			ssize_t n = recv_msg(CTL_FD, req, sizeof(*req), fds, &lost);

			close_fds(fds);
			if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -EAGAIN)) {
				shutdown_all();
			}
			if (n == (ssize_t)sizeof(req->spawn) && req->type == FNG_SB_SPAWN) {
				spawn(&req->spawn);
			} else if (n == (ssize_t)sizeof(req->verify) && req->type == FNG_SB_VERIFY) {
				verify(&req->verify);
			} else {
				dprintf(STDERR_FILENO, "fngate-super: ignoring a malformed request "
					"(%zd)\n", n);
			}
		}
	}
}

/*
 * An empty network namespace for the workers (root only: joining needs CAP_SYS_ADMIN over
 * it). A throwaway child makes it; we keep a descriptor. -1 if that is refused.
 */
static int empty_netns(void)
{
	char path[64], ok = 0;
	int pfd[2], fd = -1;
	pid_t child;

	if (geteuid() != 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		return -1;
	}
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		ok = unshare(CLONE_NEWNET) == 0;
		if (write(pfd[1], &ok, 1) == 1) {
			pause();
		}
		fng__sb_hard_exit(0);
	}
	if (child > 0 && read(pfd[0], &ok, 1) == 1 && ok) {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)child);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (child > 0) {
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
		}
	}
	close(pfd[0]);
	close(pfd[1]);
	return fd;
}

/* Runs in the new child: becomes the supervisor. Never returns. */
static _Noreturn void become_supervisor(int ctl, pid_t gateway)
{
	const char *why;
	sigset_t mask;
	int c, err;

	/*
	 * SIGTERM, not SIGKILL: the loop still kills and reaps the workers and removes their
	 * cgroups, which SIGKILL would leave behind in someone else's cgroup tree.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0 || getppid() != gateway) {
		fng__sb_hard_exit(0);
	}
	/*
	 * Its own session: a terminal's ^C goes to the gateway, which decides. No working
	 * directory pinning a mount (nothing here uses relative paths).
	 */
	setsid();
	if (chdir("/") < 0) {
		/* harmless: the old one stays */
	}
	c = fcntl(ctl, F_DUPFD, 10);
	if (c < 0 || dup2(c, CTL_FD) < 0 || close_range(CTL_FD + 1, ~0u, 0) < 0) {
		fng__sb_hard_exit(1);
	}
	prctl(PR_SET_NAME, "fngate-super", 0, 0, 0);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP) {
			signal(sig, SIG_DFL);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	sup.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sup.sigfd < 0) {
		fng__sb_hard_exit(1);
	}
	sup.self = getpid();
	sup.w = NULL;
	sup.n = sup.cap = 0;
	sup.out = NULL;
	sup.nout = sup.capout = 0;
	sup.netns = empty_netns();
	sup.spare = (struct spare){ 0, -1, false };
	if (fng__cg_setup(&why, &err) == FNG_CG_NONE && err) {
		dprintf(STDERR_FILENO, "fngate-super: no worker cgroups: %s: %s\n", why,
			strerror(err));
	}
	/* A SIGTERM from the gateway's death before PDEATHSIG was armed. */
	if (getppid() != gateway) {
		shutdown_all();
	}
	spare_make();
	supervise();
}

/*
 * The replacement of a supervisor that died: a fresh image of the gateway's binary
 * (/proc/self/exe, the very file the gateway runs even if it was replaced on disk since)
 * started as "fngate FNG_SB_EXEC_CMD GATEWAY-PID" with its end of the control socket on
 * CTL_FD. Not a fork: by now the gateway holds its configuration and, later, secrets (TLS
 * keys, JWT secrets, API keys); exec leaves nothing of that in the new process. posix_spawn
 * (a vfork underneath) copies none of the gateway's memory on the way either.
 */
int fng__supervisor_exec(int *ctl, pid_t *pid)
{
	static const char exe[] = "/proc/self/exe";
	char self[16], *argv[4] = { "fngate", FNG_SB_EXEC_CMD, self, NULL };
	extern char **environ;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		return -errno;
	}
	/* dup2 onto itself would keep CLOEXEC: the child's end must not already be CTL_FD. */
	if (sv[1] == CTL_FD) {
		int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, CTL_FD + 1);

		if (moved < 0) {
			err = -errno;
			close(sv[0]);
			close(sv[1]);
			return err;
		}
		close(sv[1]);
		sv[1] = moved;
	}
	snprintf(self, sizeof(self), "%d", (int)getpid());
	sigemptyset(&none);
	sigfillset(&all);
	err = posix_spawn_file_actions_init(&fa);
	if (err == 0) {
		err = posix_spawn_file_actions_adddup2(&fa, sv[1], CTL_FD);
		if (err == 0 && (err = posix_spawnattr_init(&attr)) == 0) {
			/* No blocked signal and no handler of the gateway's reaches the new image. */
			posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
			posix_spawnattr_setsigmask(&attr, &none);
			posix_spawnattr_setsigdefault(&attr, &all);
			err = posix_spawn(pid, exe, &fa, &attr, argv, environ);
			posix_spawnattr_destroy(&attr);
		}
		posix_spawn_file_actions_destroy(&fa);
	}
	close(sv[1]);
	if (err) {
		close(sv[0]);
		return -err;
	}
	*ctl = sv[0];
	return 0;
}

_Noreturn void fng__supervisor_exec_main(int argc, char **argv)
{
	char *end = NULL;
	long gateway = argc == 3 ? strtol(argv[2], &end, 10) : 0;

	/* Only what fng__supervisor_exec starts: a gateway's child, its socket on CTL_FD. */
	if (!end || *end || gateway <= 1 || getppid() != (pid_t)gateway ||
		fcntl(CTL_FD, F_GETFD) < 0) {
		fprintf(stderr, "fngate: %s is started by the gateway itself\n", FNG_SB_EXEC_CMD);
		exit(2);
	}
	become_supervisor(CTL_FD, (pid_t)gateway);
}

int fng__supervisor_fork(int *ctl, pid_t *pid)
{
	pid_t gateway = getpid(), child;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		return -errno;
	}
	child = fork();
	if (child < 0) {
		int err = errno;

		close(sv[0]);
		close(sv[1]);
		return -err;
	}
	if (child == 0) {
		become_supervisor(sv[1], gateway);
	}
	close(sv[1]);
	*ctl = sv[0];
	*pid = child;
	return 0;
}

/* ---- the start-up line ---- */

/* Tries unshare(flags) in a throwaway child. 0 or -errno. */
static int probe_unshare(int flags)
{
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		return -errno;
	}
	if (pid == 0) {
		fng__sb_hard_exit(unshare(flags) < 0 ? errno : 0);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			return -errno;
		}
	}
	return WIFEXITED(st) ? -WEXITSTATUS(st) : -ECHILD;
}

const char *fng__sb_describe(void)
{
	static char buf[1024];
	static pid_t for_pid;
	static uid_t for_uid;
	char ll[96], ns[96], id[96];
	bool root = geteuid() == 0;
	int abi, rc;

	/* Computed once per process and identity (a forked child may have dropped root). */
	if (buf[0] && for_pid == getpid() && for_uid == geteuid()) {
		return buf;
	}
	for_pid = getpid();
	for_uid = geteuid();
	abi = fng__landlock_abi();
	if (abi > 0) {
		snprintf(ll, sizeof(ll), "landlock ABI %d (read .so + libs%s%s)", abi,
			abi >= 4 ? ", no TCP bind/connect" : "",
			abi >= 6 ? ", scoped signals" : "");
	} else if (abi == 0) {
		snprintf(ll, sizeof(ll), "NO landlock (kernel has none)");
	} else {
		snprintf(ll, sizeof(ll), "NO landlock (%s)", strerror(-abi));
	}
	rc = probe_unshare(CLONE_NEWNET | CLONE_NEWIPC | (root ? 0 : CLONE_NEWUSER));
	if (rc == 0) {
		snprintf(ns, sizeof(ns), root ? "empty net namespace (shared), ipc namespace" :
			"user+net+ipc namespaces");
		snprintf(id, sizeof(id), root ? "uid 65534, no capabilities" :
			"user namespace, no capabilities");
	} else {
		snprintf(ns, sizeof(ns), "NO namespaces (unshare: %s)", strerror(-rc));
		snprintf(id, sizeof(id), root ? "uid 65534, no capabilities" :
			"SAME uid as the gateway (no user namespace), no capabilities");
	}
	snprintf(buf, sizeof(buf), "%s, %s; %s; %s; %s; %s; rlimits AS CPU NOFILE=%d CORE=0 "
		"NPROC=0", fng__seccomp_describe(), fng__sb_verify_describe(), ll, fng__cg_describe(),
		ns, id, FNG_WORKER_NOFILE);
	return buf;
}
