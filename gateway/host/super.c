// SPDX-License-Identifier: MIT
/*
 * The supervisor client: the gateway's end of the control socket. SPAWN and VERIFY requests
 * wait in a send queue while the socket is full (a burst of deploys) or while there is no
 * supervisor; SPAWNED (with the worker's socket and output pipe), EXIT and VERIFIED reports are
 * read here and handed to the pool (host/pool.c).
 *
 * A supervisor that dies (killed, or a bug) is replaced: its socket reads EOF, it is reaped,
 * its workers — which die with it (PR_SET_PDEATHSIG) — are accounted for, and a new one is
 * started as a fresh image of the binary (fng__supervisor_exec: exec, not fork, so none of
 * what the gateway loaded since start is in its memory). The first replacement starts at once;
 * one that dies within SUP_YOUNG_MS of its start makes the next wait, 100 ms doubling to
 * SUP_BACKOFF_MAX_MS. While none runs, a request that needs a new worker gets 503 "function
 * NAME cannot start: no sandbox supervisor (...)" at once (host/queue.c) rather than waiting.
 *
 * The gateway is a child subreaper: the dead supervisor's workers and spare are reparented to
 * it, not to init (which in a container may never reap them), and it reaps them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "host.h"
#include "server.h"

#define SUP_YOUNG_MS 10000
#define SUP_BACKOFF_MAX_MS 10000

/* A request to the supervisor waiting in sendq. */
struct ctl_msg {
	struct fng_list link;
	uint32_t type;           /* FNG_SB_SPAWN or FNG_SB_VERIFY */
	union fng_sb_request m;
};

static void ctl_cb(uv_poll_t *p, int status, int events);

static void ctl_poll_update(struct fng_functions *fns)
{
	bool want = !fng__list_empty(&fns->sendq);

	if (want != fns->want_write && !fns->closing && fns->ctl_poll) {
		fns->want_write = want;
		uv_poll_start(fns->ctl_poll, UV_READABLE | (want ? UV_WRITABLE : 0), ctl_cb);
	}
}

/*
 * Sends queued requests while the control socket takes them. A burst (many .so files dropped
 * at once) waits here for the supervisor instead of failing.
 */
static void ctl_flush(struct fng_functions *fns)
{
	while (fns->ctl >= 0 && !fng__list_empty(&fns->sendq)) {
		struct ctl_msg *m = fng__container_of(fns->sendq.next, struct ctl_msg, link);
		int err = m->type == FNG_SB_SPAWN ? fng__sb_send_spawn(fns->ctl, &m->m.spawn) :
			fng__sb_send_verify(fns->ctl, m->m.verify.pid);

		if (err == -EAGAIN || err == -EWOULDBLOCK) {
			break;
		}
		fng__list_remove(&m->link);
		if (err && m->type == FNG_SB_SPAWN) {
			fng__host_spawn_failed(fns, m->m.spawn.id, err);
		} else if (err) {
			fng__host_verify_failed(fns, m->m.verify.pid, err);
		}
		free(m);
	}
	ctl_poll_update(fns);
}

/*
 * Queues a request to the supervisor (msg: a struct fng_sb_spawn or fng_sb_verify) and sends
 * what the socket takes. 0 or -ENOMEM.
 */
int fng__host_ctl_send(struct fng_functions *fns, uint32_t type, const void *msg)
{
	struct ctl_msg *m = calloc(1, sizeof(*m));

	if (!m) {
		return -ENOMEM;
	}
	m->type = type;
	if (type == FNG_SB_SPAWN) {
		memcpy(&m->m.spawn, msg, sizeof(m->m.spawn));
	} else {
		memcpy(&m->m.verify, msg, sizeof(m->m.verify));
	}
	fng__list_append(&fns->sendq, &m->link);
	ctl_flush(fns);
	return 0;
}

static void super_lost(struct fng_functions *fns, const char *how);
static void retry_cb(uv_timer_t *t);

static void ctl_cb(uv_poll_t *p, int status, int events)
{
	struct fng_functions *fns = p->data;

	if (events & UV_WRITABLE) {
		ctl_flush(fns);
	}
	if (!(events & UV_READABLE) && status == 0) {
		return;
	}
	union fng_sb_reply m;

	for (int n = 0; n < 64 && fns->ctl >= 0; n++) {
		int fd = -1, outfd = -1;
		int type = fng__sb_recv(fns->ctl, &m, sizeof(m), &fd, &outfd);

		if (type == -EAGAIN || type == -EWOULDBLOCK) {
			return;
		}
		if (type <= 0) {
			super_lost(fns, type ? uv_strerror(type) : "its socket closed");
			return;
		}
		if (type == FNG_SB_SPAWNED) {
			fng__host_on_spawned(fns, &m.spawned, fd, outfd);
		} else if (type == FNG_SB_EXIT) {
			fng__host_on_exit_report(fns, &m.exit);
		} else if (type == FNG_SB_VERIFIED) {
			fng__host_on_verified(fns, &m.verified);
		}
	}
}

static void poll_closed(uv_handle_t *h)
{
	free(h);
}

void fng__host_super_attach(struct fng_functions *fns, int ctl, pid_t pid)
{
	uv_poll_t *p = malloc(sizeof(*p));

	if (!p || uv_poll_init(fns->loop, p, ctl) != 0) {
		/* Cannot watch it: close it, and the supervisor exits; the retry tries again. */
		free(p);
		close(ctl);
		waitpid(pid, NULL, 0);
		snprintf(fns->sup_error, sizeof(fns->sup_error), "no sandbox supervisor (cannot "
			"watch a new one; next try in %u ms)", SUP_BACKOFF_MAX_MS);
		fns->ctl = -1;
		fns->supervisor = -1;
		uv_timer_start(&fns->sup_retry, retry_cb, SUP_BACKOFF_MAX_MS, 0);
		return;
	}
	fcntl(ctl, F_SETFL, fcntl(ctl, F_GETFL) | O_NONBLOCK);
	p->data = fns;
	fns->ctl = ctl;
	fns->supervisor = pid;
	fns->ctl_poll = p;
	fns->want_write = false;
	fns->sup_since = uv_now(fns->loop);
	fns->sup_error[0] = '\0';
	uv_poll_start(p, UV_READABLE, ctl_cb);
	ctl_flush(fns);
}

/* Stops watching the control socket and closes it; the supervisor is left to reap. */
static void detach(struct fng_functions *fns)
{
	if (fns->ctl_poll) {
		uv_close((uv_handle_t *)fns->ctl_poll, poll_closed);
		fns->ctl_poll = NULL;
	}
	if (fns->ctl >= 0) {
		close(fns->ctl);
		fns->ctl = -1;
	}
}

/* "exit 1", "killed by SIGKILL": how a reaped process ended. */
static const char *ended(int st, char *buf, size_t size)
{
	const char *sig = WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : NULL;

	if (WIFEXITED(st)) {
		snprintf(buf, size, "exit %d", WEXITSTATUS(st));
	} else if (sig) {
		snprintf(buf, size, "killed by SIG%s", sig);
	} else {
		snprintf(buf, size, "wait status %d", st);
	}
	return buf;
}

/*
 * Reaps the orphans of a dead supervisor (reparented to us). Not the current supervisor:
 * super_lost reaps it, for its status; the others wait behind it until then.
 */
static void reap_orphans(struct fng_functions *fns)
{
	for (;;) {
		siginfo_t si = { 0 };

		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0 ||
			si.si_pid == fns->supervisor) {
			return;
		}
		waitpid(si.si_pid, NULL, WNOHANG);
	}
}

static void sigchld_cb(uv_signal_t *h, int sig)
{
	reap_orphans(h->data);
}

void fng__host_super_init(struct fng_functions *fns)
{
	uv_timer_init(fns->loop, &fns->sup_retry);
	fns->sup_retry.data = fns;
	uv_signal_init(fns->loop, &fns->sigchld);
	fns->sigchld.data = fns;
	fns->ctl = -1;
	fns->supervisor = -1;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0) {
		uv_signal_start(&fns->sigchld, sigchld_cb, SIGCHLD);
		uv_unref((uv_handle_t *)&fns->sigchld);
	}
}

/* Starts a new supervisor now. */
static void replace(struct fng_functions *fns)
{
	char num[16];
	pid_t pid;
	int ctl, err = fng__supervisor_exec(&ctl, &pid);

	if (err) {
		unsigned ms = SUP_BACKOFF_MAX_MS;

		snprintf(fns->sup_error, sizeof(fns->sup_error), "no sandbox supervisor (cannot "
			"start one: %s; next try in %u ms)", strerror(-err), ms);
		snprintf(num, sizeof(num), "%u", ms);
		fng__log("error", "cannot start a new sandbox supervisor", "error", strerror(-err),
			"retryMs", num, NULL);
		uv_timer_start(&fns->sup_retry, retry_cb, ms, 0);
		return;
	}
	fng__host_super_attach(fns, ctl, pid);
	snprintf(num, sizeof(num), "%d", (int)pid);
	fng__log("info", "sandbox supervisor replaced", "pid", num, NULL);
	/* The requests for workers held meanwhile went out with the attach; the rest may go. */
	for (unsigned i = 0; i < fns->nfns; i++) {
		fng__host_pump_soon(fns, fns->fns[i]);
	}
}

static void retry_cb(uv_timer_t *t)
{
	replace(t->data);
}

/*
 * The control socket failed or closed: the supervisor died (or is dying). Reap it, account
 * for its workers, and replace it — at once, or after the back-off if it died young.
 */
static void super_lost(struct fng_functions *fns, const char *how)
{
	pid_t pid = fns->supervisor;
	uint64_t now = uv_now(fns->loop);
	unsigned delay = 0, nworkers = 0;
	char st_text[48] = "", pidnum[16], workers[16], wait[16];
	int st;

	detach(fns);
	fns->supervisor = -1;
	if (pid > 0) {
		/* It closed its socket on the way out; make sure it is gone, then reap it. */
		pid_t r;

		kill(pid, SIGKILL);
		do {
			r = waitpid(pid, &st, 0);
		} while (r < 0 && errno == EINTR);
		if (r == pid) {
			ended(st, st_text, sizeof(st_text));
		}
	}
	fns->sup_deaths = now - fns->sup_since < SUP_YOUNG_MS ? fns->sup_deaths + 1 : 1;
	if (fns->sup_deaths > 1) {
		unsigned shift = fns->sup_deaths - 2 < 7 ? fns->sup_deaths - 2 : 7;

		delay = 100u << shift;
		delay = delay < SUP_BACKOFF_MAX_MS ? delay : SUP_BACKOFF_MAX_MS;
	}
	snprintf(pidnum, sizeof(pidnum), "%d", (int)pid);
	for (const struct fng_list *it = fns->workers.next; it != &fns->workers; it = it->next) {
		nworkers++;
	}
	snprintf(workers, sizeof(workers), "%u", nworkers);
	snprintf(wait, sizeof(wait), "%u", delay);
	fng__log("error", "sandbox supervisor died: its workers died with it; replacing it",
		"pid", pidnum, "status", st_text[0] ? st_text : how, "workers", workers,
		"restartInMs", wait, NULL);
	/* Not sent: verifications are moot (their workers are dead); spawns are asked again. */
	fng__host_ctl_drop(fns);
	snprintf(fns->sup_error, sizeof(fns->sup_error),
		"no sandbox supervisor (it died %u time%s in a row; the next starts in %u ms)",
		fns->sup_deaths, fns->sup_deaths == 1 ? "" : "s", delay);
	if (delay == 0) {
		replace(fns);
	} else {
		uv_timer_start(&fns->sup_retry, retry_cb, delay, 0);
	}
	fng__host_workers_orphaned(fns);
	reap_orphans(fns);
}

void fng__host_super_close(struct fng_functions *fns)
{
	pid_t pid = fns->supervisor;

	uv_close((uv_handle_t *)&fns->sup_retry, NULL);
	uv_close((uv_handle_t *)&fns->sigchld, NULL);
	detach(fns); /* the supervisor sees EOF, kills what is left and exits */
	/* Reap it (it is our child); it needs a moment to kill and reap its workers. */
	for (int i = 0; i < 200 && pid > 0; i++) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR)) {
			break;
		}
		usleep(5000);
	}
	fns->supervisor = -1;
}

/* Drops the requests not sent yet (the host is closing, or the supervisor died). */
void fng__host_ctl_drop(struct fng_functions *fns)
{
	while (!fng__list_empty(&fns->sendq)) {
		struct ctl_msg *m = fng__container_of(fns->sendq.next, struct ctl_msg, link);

		fng__list_remove(&m->link);
		free(m);
	}
}

