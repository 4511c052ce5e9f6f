// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/state/cluster.c, the cluster's Redis client, against a real redis-server
 * the test starts on a free loopback port (skipped when there is none): commands with binary
 * arguments, a callback never inside the call, scripts and their NOSCRIPT fallback after
 * SCRIPT FLUSH, a subscription made again after CLIENT KILL, the command timeout (CLIENT
 * PAUSE) with the late reply dropped, a connection silent past the stall limit made again,
 * exactly one callback per command when the server dies with commands in flight, commands
 * while down failing on the next turn, the reconnection to a server restarted on the same
 * port, AUTH with a good and a wrong password, SELECT, the close running what is pending, and
 * a connection reset by the peer noticed at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <hiredis/hiredis.h>

#include "../alloc_faults.h"
#include "cluster.h"
#include "cluster_node.h"
#include "config.h"
#include "harness.h"
#include "redis_test.h"
#include "server.h"

static char dir[] = "/tmp/fng-cluster-XXXXXX";

/* ---- the redis-server ---- */

/* Starts redis-server on port (with a password when pw), its files in dir: its pid, or -1. */
static pid_t redis_start(int port, const char *pw)
{
	return fng_test_redis_start(port, dir, pw);
}

static void redis_stop(pid_t pid, int sig)
{
	fng_test_redis_stop(pid, sig);
}

/* ---- the loop ---- */

struct env {
	uv_loop_t loop;
	struct fng_config cfg;
	struct fng_server srv;
	struct fng_cluster *c;
	int ups, downs;
	bool up;
};

static void on_state(struct fng_cluster *c, bool up, void *arg)
{
	struct env *e = arg;

	(void)c;
	e->up = up;
	if (up) {
		e->ups++;
	} else {
		e->downs++;
	}
}

static void on_state_none(struct fng_cluster *c, bool up, void *arg)
{
	(void)c;
	(void)up;
	(void)arg;
}

static void env_init(struct env *e, int port, const char *pw, uint32_t timeout_ms,
	uint32_t db)
{
	static char addr[32];

	memset(e, 0, sizeof(*e));
	uv_loop_init(&e->loop);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	e->cfg.refs = 1;
	e->cfg.cluster = (struct fng_cluster_cfg){
		.on = true, .redis = addr, .host = "127.0.0.1", .port = (uint16_t)port,
		.password = pw, .database = db, .key_prefix = "t:", .node_id = "unit",
		.connect_timeout_ms = 500, .command_timeout_ms = timeout_ms,
		.heartbeat_ms = 100, .node_ttl_ms = 500,
		.reconnect_min_ms = 20, .reconnect_max_ms = 100,
	};
	e->srv.loop = &e->loop;
	e->srv.cfg = &e->cfg;
	e->c = fng__cluster(&e->srv);
	fng__cluster_on_state(e->c, on_state, e);
}

static void env_finish(struct env *e)
{
	fng__cluster_close(&e->srv);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&e->loop), 0, "the loop closes: every handle was closed");
}

static void guard_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Runs the loop until *flag or ms pass; whether *flag. */
static bool run_until(struct env *e, const bool *flag, unsigned ms)
{
	uv_timer_t guard;
	bool late = false;

	uv_timer_init(&e->loop, &guard);
	guard.data = &late;
	uv_timer_start(&guard, guard_cb, ms, 0);
	while (!*flag && !late) {
		uv_run(&e->loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	return *flag;
}

static void run_for(struct env *e, unsigned ms)
{
	bool never = false;

	run_until(e, &never, ms);
}

/* ---- a command's answer ---- */

struct answer {
	int calls;
	bool done;
	bool null;
	int type;
	long long integer;
	char str[256];
	size_t len;
	uint64_t at;
};

static bool in_call;
static int calls_inside;

static void on_answer(struct fng_cluster *c, struct redisReply *r, void *arg)
{
	struct answer *a = arg;

	(void)c;
	calls_inside += in_call;
	a->calls++;
	a->done = true;
	a->null = !r;
	a->at = uv_hrtime() / 1000000;
	if (r) {
		a->type = r->type;
		a->integer = r->integer;
		a->len = r->len < sizeof(a->str) ? r->len : sizeof(a->str) - 1;
		if (r->str) {
			memcpy(a->str, r->str, a->len);
		}
		a->str[a->len] = '\0';
	}
}

static int cmd(struct env *e, struct answer *a, int argc, const char *const *argv)
{
	size_t lens[16];
	int rc;

	for (int i = 0; i < argc; i++) {
		lens[i] = strlen(argv[i]);
	}
	memset(a, 0, sizeof(*a));
	in_call = true;
	rc = fng__cluster_command(e->c, argc, argv, lens, on_answer, a);
	in_call = false;
	return rc;
}

/* Sends argv and waits for the answer (up to 2 s). */
static bool cmd_wait(struct env *e, struct answer *a, int argc, const char *const *argv)
{
	return cmd(e, a, argc, argv) == 0 && run_until(e, &a->done, 2000);
}

/* ---- the tests ---- */

static void test_commands(struct env *e)
{
	static const char val[] = "a\0b\r\n\xff";
	const char *set[3] = { "SET", "t:bin", val };
	size_t lens[3] = { 3, 5, sizeof(val) - 1 };
	const char *get[2] = { "GET", "t:bin" };
	struct answer a = { 0 };

	CHECK(run_until(e, &e->up, 2000), "the command connection comes up");
	CHECK(fng__cluster_up(e->c), "fng__cluster_up says so");
	CHECK_INT(e->ups, 1, "one state callback: up");
	CHECK_STR(fng__cluster_node_id(e->c), "unit", "node id");
	CHECK_STR(fng__cluster_prefix(e->c), "t:", "key prefix");
	{
		int n = 0;

		while (fng__cluster_on_state(e->c, on_state_none, NULL) == 0) {
			n++;
		}
		CHECK_INT(n, 7, "8 state callbacks per loop, the test's included");
	}

	in_call = true;
	CHECK_INT(fng__cluster_command(e->c, 3, set, lens, on_answer, &a), 0, "SET sent");
	in_call = false;
	CHECK(!a.done, "its callback did not run inside the call");
	CHECK(run_until(e, &a.done, 2000) && a.type == REDIS_REPLY_STATUS, "SET answered");
	CHECK(cmd_wait(e, &a, 2, get) && a.type == REDIS_REPLY_STRING, "GET answered");
	CHECK(a.len == sizeof(val) - 1 && memcmp(a.str, val, a.len) == 0,
		"the value came back byte for byte (NUL, CR LF, 0xff)");
	{
		const char *bad[1] = { "NOSUCHCOMMAND" };

		CHECK(cmd_wait(e, &a, 1, bad) && !a.null && a.type == REDIS_REPLY_ERROR,
			"an error reply is a reply");
	}
	CHECK_INT(fng__cluster_command(e->c, 0, get, lens, on_answer, &a), -EINVAL,
		"no arguments: -EINVAL up front");
	{
		const char *ping[1] = { "PING" };
		size_t l[1] = { 4 };

		CHECK_INT(fng__cluster_command(e->c, 1, ping, l, NULL, NULL), 0,
			"fire and forget (no callback)");
	}
}

static int many_ok, many_calls;

static void on_many(struct fng_cluster *c, struct redisReply *r, void *arg)
{
	(void)c;
	(void)arg;
	many_calls++;
	many_ok += r && r->type != REDIS_REPLY_ERROR;
}

/*
 * Many commands in flight at once (one loop turn sends them all: hiredis pipelines them),
 * then one at a time: each answered once, and what they cost (a TAP comment, not a check:
 * docs/ARCHITECTURE.md quotes it for the shared stores' design).
 */
static void test_many(struct env *e)
{
	const char *argv[2] = { "INCR", "t:many" };
	size_t lens[2] = { 4, 6 };
	const char *ping[1] = { "PING" };
	size_t plen[1] = { 4 };
	uint64_t t0, t1, t2;
	int n = 20000, seq = 2000;

	many_ok = many_calls = 0;
	e->cfg.cluster.command_timeout_ms = 60000; /* slow under valgrind, and not a timeout test */
	t0 = uv_hrtime();
	for (int i = 0; i < n; i++) {
		fng__cluster_command(e->c, 2, argv, lens, on_many, NULL);
	}
	while (many_calls < n) {
		uv_run(&e->loop, UV_RUN_ONCE);
	}
	t1 = uv_hrtime();
	CHECK(many_calls == n && many_ok == n, "%d commands in flight at once: each answered once",
		n);
	many_ok = many_calls = 0;
	for (int i = 0; i < seq; i++) {
		fng__cluster_command(e->c, 1, ping, plen, on_many, NULL);
		while (many_calls == i) {
			uv_run(&e->loop, UV_RUN_ONCE);
		}
	}
	t2 = uv_hrtime();
	CHECK(many_calls == seq && many_ok == seq, "%d commands one after another", seq);
	printf("# pipelined: %.0f commands/s (%.2f us each); one at a time: %.1f us per round "
		"trip\n", n / ((t1 - t0) / 1e9), (t1 - t0) / 1e3 / n, (t2 - t1) / 1e3 / seq);
	e->cfg.cluster.command_timeout_ms = 200;
}


static struct fng_cluster_script echo = {
	.text = "return KEYS[1] .. '=' .. ARGV[1]",
};

static void on_echo(struct fng_cluster *c, struct redisReply *r, void *arg)
{
	on_answer(c, r, arg);
}

#ifdef FAULTS
/*
 * The command's own record not allocated: -ENOMEM up front and no callback, for a command and
 * a script. (Only ours: hiredis 0.14 ignores a failed allocation of its callback entry in
 * __redisAsyncCommand and sends the command anyway, and its reply then trips an assertion;
 * no caller can make that path safe.)
 */
static void test_faults(struct env *e)
{
	const char *set[3] = { "SET", "t:f", "v" };
	size_t lens[3] = { 3, 3, 1 };
	struct answer a = { 0 };
	void *(*volatile alloc)(size_t) = malloc; /* called through a pointer: not elided */
	void *probe;
	int rc;

	/* Under valgrind its own malloc replaces ours: nothing would fail. */
	fail_in = 1;
	probe = alloc(16);
	fail_in = 0;
	if (probe) {
		free(probe);
		printf("# allocation failures not injectable here (valgrind?): skipped\n");
		return;
	}
	fail_in = 1;
	rc = fng__cluster_command(e->c, 3, set, lens, on_answer, &a);
	fail_in = 0;
	run_for(e, 20);
	CHECK(rc == -ENOMEM && a.calls == 0, "no memory for the command: -ENOMEM, no callback");
	fail_in = 1;
	rc = fng__cluster_eval(e->c, &echo, 1, 2, set + 1, lens + 1, on_answer, &a);
	fail_in = 0;
	run_for(e, 20);
	CHECK(rc == -ENOMEM && a.calls == 0, "no memory for the script: -ENOMEM, no callback");
	CHECK(cmd_wait(e, &a, 3, set) && !a.null, "the client works after");
}
#endif

static void test_eval(struct env *e)
{
	const char *args[2] = { "k1", "v\0x" };
	size_t lens[2] = { 2, 3 };
	const char *flush[2] = { "SCRIPT", "FLUSH" };
	struct answer a = { 0 };

	CHECK_INT(fng__cluster_eval(e->c, &echo, 1, 2, args, lens, on_echo, &a), 0, "eval sent");
	CHECK_INT(strlen(echo.sha1), 40, "the script's SHA-1 is known");
	CHECK(run_until(e, &a.done, 2000) && a.type == REDIS_REPLY_STRING &&
		a.len == 6 && memcmp(a.str, "k1=v\0x", 6) == 0,
		"eval answered (NOSCRIPT, then EVAL)");
	CHECK_INT(a.calls, 1, "one callback");
	memset(&a, 0, sizeof(a));
	fng__cluster_eval(e->c, &echo, 1, 2, args, lens, on_echo, &a);
	CHECK(run_until(e, &a.done, 2000) && a.len == 6, "eval again (EVALSHA)");
	CHECK(cmd_wait(e, &a, 2, flush) && a.type == REDIS_REPLY_STATUS, "SCRIPT FLUSH");
	memset(&a, 0, sizeof(a));
	fng__cluster_eval(e->c, &echo, 1, 2, args, lens, on_echo, &a);
	CHECK(run_until(e, &a.done, 2000) && a.type == REDIS_REPLY_STRING && a.len == 6,
		"eval after SCRIPT FLUSH: NOSCRIPT handled, one answer");
	run_for(e, 50);
	CHECK_INT(a.calls, 1, "still one callback");
	CHECK_INT(fng__cluster_eval(e->c, &echo, 3, 2, args, lens, on_echo, &a), -EINVAL,
		"more keys than arguments: -EINVAL");
}

struct inbox {
	int n;
	char last[64];
	bool got;
};

static void on_message(struct fng_cluster *c, const char *ch, size_t clen, const char *data,
	size_t dlen, void *arg)
{
	struct inbox *in = arg;

	(void)c;
	(void)ch;
	(void)clen;
	in->n++;
	in->got = true;
	snprintf(in->last, sizeof(in->last), "%.*s", (int)dlen, data);
}

/* Publishes msg until in gets it (the subscription may still be on its way): whether it did. */
static bool publish_until(struct env *e, struct inbox *in, const char *msg)
{
	const char *pub[3] = { "PUBLISH", "t:chan", msg };
	struct answer a;

	in->got = false;
	for (int i = 0; i < 60 && !in->got; i++) {
		cmd_wait(e, &a, 3, pub);
		run_until(e, &in->got, 50);
	}
	return in->got && strcmp(in->last, msg) == 0;
}

static void test_subscribe(struct env *e)
{
	static struct inbox in;
	const char *kill[4] = { "CLIENT", "KILL", "TYPE", "pubsub" };
	struct answer a;

	CHECK_INT(fng__cluster_subscribe(e->c, "t:chan", on_message, &in), 0, "subscribed");
	CHECK_INT(fng__cluster_subscribe(e->c, "t:chan", on_message, &in), -EEXIST,
		"the same channel twice: -EEXIST");
	CHECK(publish_until(e, &in, "one"), "a publication arrives");
	CHECK(cmd_wait(e, &a, 4, kill) && a.type == REDIS_REPLY_INTEGER && a.integer == 1,
		"CLIENT KILL TYPE pubsub killed the subscriber connection");
	CHECK(publish_until(e, &in, "two"), "after the kill, the subscription was made again");
	CHECK(e->up && e->downs == 0, "the command connection was not affected");
}

static void test_timeout(struct env *e)
{
	const char *pause[4] = { "CLIENT", "PAUSE", "600", "ALL" };
	const char *get[2] = { "GET", "t:bin" };
	struct answer a, b;
	uint64_t t0;

	CHECK(cmd_wait(e, &a, 4, pause) && a.type == REDIS_REPLY_STATUS, "CLIENT PAUSE 600");
	t0 = uv_hrtime() / 1000000;
	CHECK_INT(cmd(e, &b, 2, get), 0, "GET sent while paused");
	CHECK(run_until(e, &b.done, 2000) && b.null, "its callback ran with NULL");
	/* Before the pause ends: the timer answered, not the reply. */
	CHECK(b.at - t0 >= 150 && b.at - t0 < 590, "after command_timeout_ms (%llu ms)",
		(unsigned long long)(b.at - t0));
	run_for(e, 700);
	CHECK_INT(b.calls, 1, "the late reply was dropped: one callback");
	CHECK(cmd_wait(e, &a, 2, get) && !a.null, "the connection serves again after the pause");
}

/*
 * A server that answers nothing (paused past the stall limit: 2 s for a 200 ms timeout) is
 * taken for dead: the connection is made again, and comes up once the server answers.
 */
static void test_stall(struct env *e)
{
	const char *pause[4] = { "CLIENT", "PAUSE", "3000", "ALL" };
	struct answer a;
	int downs = e->downs, ups = e->ups;
	uint64_t t0;

	CHECK(cmd_wait(e, &a, 4, pause), "CLIENT PAUSE 3000");
	t0 = uv_hrtime() / 1000000;
	/* The node's heartbeat (every 100 ms here) keeps timing out meanwhile. */
	while (e->downs == downs && uv_hrtime() / 1000000 - t0 < 4000) {
		run_for(e, 50);
	}
	CHECK(e->downs == downs + 1, "a silent connection is dropped (after %llu ms)",
		(unsigned long long)(uv_hrtime() / 1000000 - t0));
	CHECK(uv_hrtime() / 1000000 - t0 >= 1900, "not before the stall limit");
	CHECK(run_until(e, &e->up, 4000) && e->ups == ups + 1,
		"and made again once the server answers");
}

static void test_death(struct env *e, pid_t *pid, int port)
{
	const char *pause[4] = { "CLIENT", "PAUSE", "3000", "ALL" };
	const char *get[2] = { "GET", "t:bin" };
	struct answer p, a[5], d;
	int downs = e->downs, ups = e->ups;
	bool all;

	/* A long timeout here: the server's death, not the timer, must end these commands. */
	e->cfg.cluster.command_timeout_ms = 5000;
	CHECK(cmd_wait(e, &p, 4, pause), "CLIENT PAUSE 3000");
	for (int i = 0; i < 5; i++) {
		cmd(e, &a[i], 2, get);
	}
	run_for(e, 50);
	redis_stop(*pid, SIGKILL);
	*pid = -1;
	all = true;
	for (int i = 0; i < 5; i++) {
		all = all && run_until(e, &a[i].done, 2000) && a[i].null;
	}
	CHECK(all, "the server died mid-command: every pending callback ran with NULL");
	run_for(e, 100);
	all = true;
	for (int i = 0; i < 5; i++) {
		all = all && a[i].calls == 1;
	}
	CHECK(all, "each exactly once");
	CHECK(!e->up && e->downs == downs + 1, "one state callback: down");
	CHECK(!fng__cluster_up(e->c), "fng__cluster_up says down");
	CHECK_INT(cmd(e, &d, 2, get), 0, "a command while down is accepted");
	CHECK(!d.done, "and does not call back inside the call");
	CHECK(run_until(e, &d.done, 500) && d.null && d.calls == 1, "it fails on a later turn");
	run_for(e, 300); /* a few reconnection attempts against the closed port */
	CHECK_INT(e->downs, downs + 1, "failed reconnections are not new downs");

	e->cfg.cluster.command_timeout_ms = 200;
	*pid = redis_start(port, NULL);
	CHECK(*pid > 0, "redis-server restarted on the same port");
	CHECK(run_until(e, &e->up, 3000), "the client reconnected by itself");
	CHECK_INT(e->ups, ups + 1, "up again");
	CHECK(cmd_wait(e, &d, 2, get) && !d.null, "commands work again");
}

static void test_close_pending(struct env *e)
{
	const char *pause[4] = { "CLIENT", "PAUSE", "1000", "ALL" };
	const char *get[2] = { "GET", "x" };
	struct answer p, a;

	e->cfg.cluster.command_timeout_ms = 5000;
	CHECK(cmd_wait(e, &p, 4, pause), "CLIENT PAUSE 1000");
	cmd(e, &a, 2, get);
	run_for(e, 20);
	fng__cluster_close(&e->srv);
	CHECK(a.done && a.null && a.calls == 1, "close ran the pending callback with NULL, once");
	CHECK(fng__cluster(&e->srv) == NULL, "a closed cluster is not handed out");
	uv_run(&e->loop, UV_RUN_DEFAULT);
	CHECK_INT(a.calls, 1, "still once after the loop ran out");
	CHECK_INT(uv_loop_close(&e->loop), 0, "the loop closes: every handle was closed");
}

static void test_auth(int port)
{
	struct env e;
	struct answer a;
	const char *get[2] = { "GET", "x" };
	pid_t pid = redis_start(port, "s3cret-pass");

	CHECK(pid > 0, "redis-server with --requirepass");
	env_init(&e, port, "s3cret-pass", 200, 2);
	CHECK(run_until(&e, &e.up, 2000), "the right password: up");
	CHECK(cmd_wait(&e, &a, 2, get) && !a.null && a.type == REDIS_REPLY_NIL,
		"commands are served");
	{
		const char *info[2] = { "CLIENT", "INFO" };

		CHECK(cmd_wait(&e, &a, 2, info) && strstr(a.str, " db=2 "),
			"database 2 was selected: %s", a.str);
	}
	env_finish(&e);

	env_init(&e, port, "wrong", 200, 0);
	run_for(&e, 300);
	CHECK(!e.up && e.ups == 0, "a wrong password: never up");
	CHECK(cmd(&e, &a, 2, get) == 0 && run_until(&e, &a.done, 500) && a.null,
		"commands fail at once");
	env_finish(&e);
	redis_stop(pid, SIGTERM);
}

/* A loopback listener on a free port for test_reset(); its fd. */
static int listen_loopback(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
		getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/*
 * A peer that resets the connection (a proxy or a firewall dropping it, a Redis killed with
 * input unread): the kernel reports an error on the socket rather than its end, and the
 * client must hear of it at once, not after the stall limit (2 s here) of a silent server.
 */
static void test_reset(void)
{
	struct env e;
	int port = 0, lfd = listen_loopback(&port), fds[4], n = 0;
	uint64_t t0;

	CHECK(lfd >= 0, "a listener standing in for Redis");
	if (lfd < 0) {
		return;
	}
	env_init(&e, port, NULL, 200, 0);
	t0 = uv_hrtime() / 1000000;
	/* Accept the client's connections and answer each set-up (CLIENT SETNAME, PING). */
	while (!e.up && uv_hrtime() / 1000000 - t0 < 3000) {
		char buf[512];
		ssize_t r;
		int fd;

		run_for(&e, 5);
		if (n < 4 && (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
			fds[n++] = fd;
		}
		for (int i = 0; i < n; i++) {
			if ((r = read(fds[i], buf, sizeof(buf) - 1)) > 0) {
				buf[r] = '\0';
				if (strstr(buf, "PING") && write(fds[i], "+OK\r\n+PONG\r\n", 12) != 12) {
					break;
				}
			}
		}
	}
	CHECK(e.up, "up against a peer that answers the set-up");
	for (int i = 0; i < n; i++) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(fds[i]); /* a reset, not an end */
	}
	t0 = uv_hrtime() / 1000000;
	while (e.up && uv_hrtime() / 1000000 - t0 < 3000) {
		run_for(&e, 5);
	}
	CHECK(!e.up && uv_hrtime() / 1000000 - t0 < 1000,
		"a reset connection is down at once (%llu ms), not after the stall limit",
		(unsigned long long)(uv_hrtime() / 1000000 - t0));
	env_finish(&e);
	close(lfd);
}

int main(void)
{
	struct env e;
	int port = fng_test_free_port();
	pid_t pid;

	signal(SIGPIPE, SIG_IGN);
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP redis-server not found\n");
		return 0;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	pid = redis_start(port, NULL);
	CHECK(pid > 0, "redis-server started on 127.0.0.1:%d", port);
	if (pid > 0) {
		env_init(&e, port, NULL, 200, 0);
		test_commands(&e);
		test_eval(&e);
		test_many(&e);
#ifdef FAULTS
		test_faults(&e);
#endif
		test_subscribe(&e);
		test_timeout(&e);
		test_stall(&e);
		test_death(&e, &pid, port);
		test_close_pending(&e);
		CHECK_INT(calls_inside, 0, "no callback ever ran inside its call");
		redis_stop(pid, SIGTERM);
		test_auth(fng_test_free_port());
		test_reset();
	}
	{
		char cmdline[64];

		snprintf(cmdline, sizeof(cmdline), "rm -rf %s", dir);
		if (system(cmdline) != 0) {
			/* a leftover temporary directory is not a failure */
		}
	}
	return fng_test_done();
}
