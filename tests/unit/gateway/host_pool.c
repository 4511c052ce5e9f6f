// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/host_pool.c's life cycle: two function hosts, each on its own loop in
 * one process, with the test standing in for their supervisors (the far end of each control
 * socket). A .so dropped into one host's directory is deployed by that host only — its scan,
 * its store, its SPAWN request for the pre-flight worker on its own control socket — and its
 * worker and function reach that host, not the other: nothing in the host is global or
 * per-thread. Closing each host leaves its loop with no handle open. Real supervisors and
 * workers are covered by tests/integration/test_deploy.py.
 */
#include <fcntl.h>
#include <poll.h>
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
	return fng__functions_create(&h->loop, sv[0], 0, h->cfg, &h->fns);
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
	CHECK(fn && fn->pending && fn->pending->nworkers == 1, "with one worker");
	if (fn && fn->pending && fn->pending->nworkers == 1) {
		struct fng_worker *w = fng__container_of(fn->pending->workers.next,
			struct fng_worker, link);

		CHECK(w->fns == a.fns, "the worker reaches host a");
		CHECK_INT(w->state, W_SPAWNING, "and waits for its pid");
		CHECK_INT(w->spawn_id, m.spawn.id, "under the id of the SPAWN");
	}
	CHECK_INT(b.fns->nfns, 0, "host b knows no function");
	CHECK_INT(fng__functions_count(a.fns), 0, "nothing serves before its pre-flight");

	host_close(&a);
	host_close(&b);
	return fng_test_done();
}
