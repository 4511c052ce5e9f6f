// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/host/pool.c's life cycle: two function hosts, each on its own loop in
 * one process, with the test standing in for their supervisors (the far end of each control
 * socket). A .so dropped into one host's directory is deployed by that host only — its scan,
 * its store, its SPAWN request for the pre-flight worker on its own control socket — and its
 * worker and function reach that host, not the other: nothing in the host is global or
 * per-thread. Then the test plays that worker through its life — SPAWNED with its socket and
 * output pipe, READY, the sandbox verification, traffic — up to a frame the dispatch table
 * refuses in its state, which kills it. Closing each host leaves its loop with no handle open.
 * Real supervisors and workers are covered by tests/integration/test_deploy.py.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "host.h"

struct host {
	uv_loop_t loop;
	char dir[64], run[64];
	bool made;                 /* both directories exist */
	int peer;                  /* the supervisor's end of the control socket */
	struct fng_config *cfg;
	struct fng_functions *fns;
};

static int host_open(struct host *h, int i)
{
	char text[512];
	struct fng_buf errors = { 0 };
	int sv[2], rc;

	snprintf(h->dir, sizeof(h->dir), "/tmp/fngate-unit-host%d-XXXXXX", i);
	snprintf(h->run, sizeof(h->run), "/tmp/fngate-unit-run%d-XXXXXX", i);
	if (!mkdtemp(h->dir) || !mkdtemp(h->run)) {
		return -1;
	}
	h->made = true;
	if (uv_loop_init(&h->loop) ||
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		return -1;
	}
	h->peer = sv[1];
	snprintf(text, sizeof(text), "apis:\n  demo:\n    stages:\n      dev: {}\n    routes:\n"
		"      \"GET /a\":\n        integration: { type: mock }\n"
		"functions:\n  dir: \"%s\"\n  run_dir: \"%s\"\n", h->dir, h->run);
	rc = fng__config_load_string("host.yaml", text, strlen(text), &h->cfg, &errors);
	if (rc) {
		printf("# %.*s\n", (int)errors.len, errors.p ? errors.p : "");
		fng__buf_finish(&errors);
		return rc;
	}
	/* Supervisor 0: nothing to reap when the host closes. */
	return fng__functions_create(&h->loop, NULL, sv[0], 0, h->cfg, &h->fns);
}

/* Runs h's loop until its supervisor end has a message (true) or ms have passed. */
static bool host_wait(struct host *h, int ms)
{
	for (int t = 0; t < ms; t += 5) {
		struct pollfd p = { .fd = h->peer, .events = POLLIN };

		uv_run(&h->loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 5) > 0) {
			return true;
		}
	}
	return false;
}

/* Removes h's directories. */
static void host_remove(struct host *h)
{
	char cmd[200];

	if (h->made) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", h->dir, h->run);
		if (system(cmd) != 0) {
			printf("# could not remove %s\n", h->dir);
		}
	}
}

static void host_close(struct host *h)
{
	fng__functions_close(h->fns);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	fng__functions_free(h->fns);
	CHECK_INT(uv_loop_close(&h->loop), 0, "host %s: its loop has no handle left", h->dir);
	fng__config_unref(h->cfg);
	close(h->peer);
	host_remove(h);
}

/* Runs h's loop until cond holds (true) or about ms have passed. */
#define RUN_UNTIL(h, ms, cond)                                                             \
	({                                                                                 \
		bool ok_ = false;                                                          \
		for (int t_ = 0; t_ < (ms) && !(ok_ = (cond)); t_ += 2) {                  \
			uv_run(&(h)->loop, UV_RUN_NOWAIT);                                 \
			usleep(2000);                                                      \
		}                                                                          \
		ok_;                                                                       \
	})

/* A supervisor's message with the two descriptors of a new worker, as the real one sends. */
static bool send_with_fds(int sock, const void *msg, size_t len, int fd, int outfd)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u = { 0 };
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
		.msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int fds[2] = { fd, outfd };

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len;
}

/* A frame from the worker's side of its socket. */
static bool worker_says(int sock, const struct fng_wire_buf *f)
{
	return f->len && write(sock, f->p, f->len) == (ssize_t)f->len;
}

/*
 * The pre-flight worker w of host h (asked for with spawn_id) through its life, the test
 * playing both the supervisor and the worker. pid is a child of the test standing in for the
 * worker process: the host kills it in the end.
 */
static void worker_life(struct host *h, struct fng_fn *fn, struct fng_worker *w, pid_t pid)
{
	struct fng_gen *g = w->gen;
	struct fng_sb_spawned sp = { FNG_SB_SPAWNED, w->spawn_id, 0, pid };
	struct fng_sb_verified ok = { FNG_SB_VERIFIED, pid, 0, "" };
	struct fng_sb_exit ex = { FNG_SB_EXIT, pid, SIGKILL, "SIGKILL" };
	struct fng_wire_buf f = { 0 };
	union {
		uint32_t type;
		struct fng_sb_verify v;
		char raw[sizeof(struct fng_sb_spawn)];
	} m;
	int sv[2], out[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
		pipe2(out, O_CLOEXEC) < 0) {
		CHECK(0, "worker: socket and pipe");
		return;
	}
	CHECK(send_with_fds(h->peer, &sp, sizeof(sp), sv[1], out[1]), "SPAWNED sent");
	close(sv[1]);
	close(out[1]);
	CHECK(RUN_UNTIL(h, 2000, w->state == W_STARTING), "SPAWNED: the worker is starting");
	CHECK_INT(w->pid, pid, "with its pid");
	CHECK(w->pipe_open && w->out_open, "its socket and output pipe are watched");

	/* The worker cannot be trusted by its word: READY only asks for a verification. */
	fng__wire_encode_ready(&f, 1, "echo"); /* the ABI is the worker's check, not the host's */
	CHECK(worker_says(sv[0], &f), "READY sent");
	fng__wire_buf_finish(&f);
	CHECK(RUN_UNTIL(h, 2000, w->ready_seen), "READY seen");
	CHECK_INT(w->state, W_STARTING, "the worker still does not take traffic");
	CHECK(fn->pending == g && !fn->current, "nor does its version");
	CHECK(RUN_UNTIL(h, 2000, recv(h->peer, &m, sizeof(m), MSG_DONTWAIT) == sizeof(m.v)),
		"the host asks its supervisor to verify the sandbox");
	CHECK(m.type == FNG_SB_VERIFY && m.v.pid == pid, "a VERIFY of that pid");

	CHECK(send(h->peer, &ok, sizeof(ok), MSG_NOSIGNAL) == sizeof(ok), "VERIFIED sent");
	CHECK(RUN_UNTIL(h, 2000, w->state == W_IDLE), "verified: the worker is idle");
	CHECK(fn->current == g && !fn->pending && g->active, "its version took traffic");
	CHECK_INT(fng__functions_count(h->fns), 1, "one function serves");
	CHECK(fng__host_worker_ok(w), "an idle worker holds no invocation");

	/* READY once only; RESULT only while busy: either kills the worker. */
	fng__wire_encode_result(&f, &(struct fng_wire_result){ .status = 200 });
	CHECK(worker_says(sv[0], &f), "a RESULT no INVOKE asked for");
	fng__wire_buf_finish(&f);
	CHECK(RUN_UNTIL(h, 2000, w->state == W_DEAD), "kills the worker");
	CHECK_STR(w->cause, "an unexpected frame", "and names why");
	CHECK_INT(waitpid(pid, NULL, 0), pid, "the host killed its process");

	/* Its ending: the exit report and the socket's EOF free it (w is gone then). */
	CHECK(send(h->peer, &ex, sizeof(ex), MSG_NOSIGNAL) == sizeof(ex), "EXIT sent");
	close(sv[0]);
	close(out[0]);
	CHECK(RUN_UNTIL(h, 3000, fng__list_empty(&g->workers) || g->workers.next != &w->link),
		"the dead worker is gone from its generation");
}

int main(void)
{
	struct host a = { 0 }, b = { 0 };
	union {
		uint32_t type;
		struct fng_sb_spawn spawn;
		char raw[sizeof(struct fng_sb_spawn) + 64];
	} m;
	char path[128];
	ssize_t len;
	int fd;
	struct fng_fn *fn;

	CHECK_INT(host_open(&a, 1), 0, "host a starts on its loop");
	CHECK_INT(host_open(&b, 2), 0, "host b starts on another loop");
	if (!a.fns || !b.fns) {
		host_remove(&a);
		host_remove(&b);
		return fng_test_done();
	}
	CHECK(a.fns->loop == &a.loop && b.fns->loop == &b.loop, "each host runs on its own loop");

	/* A finished write (IN_CLOSE_WRITE) deploys at once; the content is not checked here. */
	snprintf(path, sizeof(path), "%s/echo.so", a.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, "\177ELF not really", 15) == 15, "echo.so written into a");
	close(fd);

	CHECK(host_wait(&a, 5000), "host a asks its supervisor for a worker");
	/* The supervisor's own reader (sandbox/) takes it as a plain datagram. */
	len = recv(a.peer, &m, sizeof(m), 0);
	CHECK_INT(len, sizeof(m.spawn), "the request is one message");
	CHECK_INT(m.type, FNG_SB_SPAWN, "a SPAWN");
	CHECK_STR(m.spawn.name, "echo", "for the function dropped into a's directory");
	CHECK(strncmp(m.spawn.so_path, fng__fnstore_dir(a.fns->store),
		strlen(fng__fnstore_dir(a.fns->store))) == 0,
		"of a copy in a's own store (%s)", m.spawn.so_path);
	CHECK(!host_wait(&b, 200), "host b asks its supervisor for nothing");

	fn = a.fns->nfns == 1 ? a.fns->fns[0] : NULL;
	CHECK(fn && fn->fns == a.fns, "the function reaches host a");
	CHECK(fn && fn->pending && !fn->current, "its version waits for its pre-flight");
	CHECK_INT(fng__functions_count(a.fns), 0, "nothing serves before it");
	CHECK(fn && fn->pending && fn->pending->nworkers == 1, "with one worker");
	if (fn && fn->pending && fn->pending->nworkers == 1) {
		struct fng_worker *w = fng__container_of(fn->pending->workers.next,
			struct fng_worker, link);

		pid_t pid;

		CHECK(w->fns == a.fns, "the worker reaches host a");
		CHECK_INT(w->state, W_SPAWNING, "and waits for its pid");
		CHECK_INT(w->spawn_id, m.spawn.id, "under the id of the SPAWN");
		pid = fork();
		if (pid == 0) {
			pause();
			_exit(0);
		}
		if (pid > 0) {
			worker_life(&a, fn, w, pid);
		}
	}
	CHECK_INT(b.fns->nfns, 0, "host b knows no function");

	host_close(&a);
	host_close(&b);
	return fng_test_done();
}
