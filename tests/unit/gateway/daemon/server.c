// SPDX-License-Identifier: MIT
/*
 * Unit tests for the daemon log of gateway/server.c (fng__log): the queue and writer thread
 * between the loop and stderr. Here stderr is a pipe the test reads when it chooses, so a
 * stalled reader is real: a caller must never wait for it, the queue must stay within its
 * budget, the lines it drops must be counted in one "log lines dropped" line placed where
 * the gap is, the order must hold, the exit must write what is queued (with a bounded wait),
 * and a child forked while another thread logs must neither deadlock nor lose its lines.
 * Then the other reports of server.c: a failure repeated thousands of times a second logged
 * once per interval with exact counts (fng_report), the access log on a full disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "config.h"
#include "daemon.h"

/* ---- stderr as a pipe, and a reader thread that collects it ---- */

static struct {
	pthread_mutex_t lock;
	struct fng_buf got;
	int fd;                /* read end */
	pthread_t thread;
	bool running;
} rd = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static int saved_stderr = -1;

/*
 * A child of test_exit writes a byte here from an atexit hook registered before the log's
 * own, so it runs after the log's exit flush (and before a sanitizer's leak check, which
 * writes to stderr too).
 */
static int exit_mark_fd = -1;

static void exit_mark(void)
{
	if (exit_mark_fd >= 0 && write(exit_mark_fd, "x", 1) != 1) {
		_exit(3);
	}
}

/* Makes fd 2 a fresh pipe; returns its read end (nobody reads it yet). */
static int stderr_pipe(void)
{
	int p[2];

	if (saved_stderr < 0) {
		saved_stderr = dup(STDERR_FILENO);
	}
	if (pipe(p) != 0) {
		abort();
	}
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	return p[0];
}

static void *reader_main(void *arg)
{
	char buf[65536];
	ssize_t n;

	(void)arg;
	while ((n = read(rd.fd, buf, sizeof(buf))) > 0) {
		pthread_mutex_lock(&rd.lock);
		fng__buf_append(&rd.got, buf, (size_t)n);
		pthread_mutex_unlock(&rd.lock);
	}
	return NULL;
}

/* got has room for 16 MiB from the start, so the reader never allocates (see HAMMER). */
static void reader_start(int fd)
{
	rd.fd = fd;
	rd.got.len = 0;
	fng__buf_reserve(&rd.got, 16u << 20);
	rd.running = pthread_create(&rd.thread, NULL, reader_main, NULL) == 0;
}

/* Ends the pipe (fd 2 goes back to the real stderr) and waits for the reader. */
static void reader_stop(void)
{
	dup2(saved_stderr, STDERR_FILENO);
	if (rd.running) {
		pthread_join(rd.thread, NULL);
		rd.running = false;
	}
	close(rd.fd);
	rd.fd = -1;
	fng__buf_append(&rd.got, "", 1);
	rd.got.len--;
}

/* Waits up to 10 s for child pid; kills it if it is still there. Its status, or -1. */
static int wait_child(pid_t pid)
{
	int st;

	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			return st;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The value of "key":"..." in line (up to its closing quote), copied into out. */
static bool field(const char *line, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p, *q;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(line, pat);
	if (!p) {
		return false;
	}
	p += strlen(pat);
	q = strchr(p, '"');
	if (!q || (size_t)(q - p) >= size) {
		return false;
	}
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return true;
}

/*
 * The seconds of CLOCK_REALTIME, the log's clock. Not time(): it reads the kernel's last tick
 * (up to 4 ms behind), so a line logged in a second's first milliseconds could be later
 * than a time() taken after it.
 */
static time_t realtime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* ---- the tests ---- */

static void test_lines(void)
{
	int fd = stderr_pipe();
	char *line, *save, v[64], when[32];
	int n = 0, inorder = 1;
	time_t t0 = realtime_s(), t1;
	struct tm tm;

	reader_start(fd);
	for (int i = 0; i < 100; i++) {
		char msg[32];

		snprintf(msg, sizeof(msg), "line %d", i);
		fng__log("info", msg, "k", "v", NULL);
	}
	fng__log("warn", "quote \" and\nnewline", "path", "/a\\b", "none", NULL, NULL);
	fng__log_text("error", "cut here", 3, "function", "f", NULL);
	fng__log_flush(2000);
	t1 = realtime_s();
	reader_stop();
	for (line = strtok_r(rd.got.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (n == 0) {
			bool ok = field(line, "time", v, sizeof(v)) && strlen(v) == 24;

			for (time_t t = t0; ok && t <= t1; t++) {
				gmtime_r(&t, &tm);
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.", &tm);
				if (strncmp(v, when, 20) == 0 && v[23] == 'Z') {
					break;
				}
				ok = t < t1;
			}
			CHECK(ok, "time is RFC 3339 UTC with milliseconds, and now: %s", v);
		}
		if (n < 100) {
			char want[32];

			snprintf(want, sizeof(want), "line %d", n);
			inorder &= field(line, "msg", v, sizeof(v)) && strcmp(v, want) == 0 &&
				strstr(line, "\"k\":\"v\"") && strstr(line, "\"level\":\"info\"") &&
				strncmp(line, "{\"time\":\"", 9) == 0 &&
				line[strlen(line) - 1] == '}';
		} else if (n == 100) {
			CHECK(strstr(line, "\"msg\":\"quote \\\" and\\nnewline\"") &&
					strstr(line, "\"path\":\"/a\\\\b\"") &&
					strstr(line, "\"none\":\"\""),
				"values are JSON-escaped, NULL is \"\": %s", line);
		} else if (n == 101) {
			CHECK(strstr(line, "\"msg\":\"cut\",\"function\":\"f\""),
				"fng__log_text logs len bytes of its message: %s", line);
		}
		n++;
	}
	CHECK_INT(n, 102, "every line arrives after fng__log_flush()");
	CHECK(inorder, "in order, one JSON object per line with time, level, msg and fields");
}

/*
 * Nobody reads stderr while 8 MB are logged: no call waits, the queue keeps a prefix of the
 * lines (its budget, 1 MiB, plus what the pipe holds) and counts the rest; once stderr is
 * read again the count comes as one line, then the lines logged after it.
 */
static void test_stalled_reader(void)
{
	enum { N = 40000 };
	int fd = stderr_pipe();
	char pad[200], *line, *save, v[64];
	double t0, worst = 0, total;
	long seq = 0, dropped = -1;
	int after = 0, gaps = 0, other = 0, pipe_size = fcntl(fd, F_GETPIPE_SZ);
	size_t kept = 0;

	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		double t = now_s();
		char msg[32];

		snprintf(msg, sizeof(msg), "seq %d", i);
		fng__log("info", msg, "pad", pad, NULL);
		if (now_s() - t > worst) {
			worst = now_s() - t;
		}
	}
	total = now_s() - t0;
	/*
	 * A call that waited for the reader would wait forever: the bounds are loose because
	 * this machine is shared, and a thread may not run for a second when it is busy.
	 */
	CHECK(worst < 5.0 && total < 30.0, "%d lines (%.1f MB) logged in %.2f s while nobody "
		"reads; slowest call %.1f ms", N, N * 260 / 1e6, total, worst * 1e3);
	reader_start(fd);
	fng__log_flush(5000);
	fng__log("info", "after", NULL);
	fng__log_flush(2000);
	reader_stop();
	for (line = strtok_r(rd.got.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!field(line, "msg", v, sizeof(v))) {
			other++;
		} else if (strncmp(v, "seq ", 4) == 0) {
			gaps += atol(v + 4) != seq || dropped >= 0;
			seq++;
			kept += strlen(line) + 1;
		} else if (strcmp(v, "log lines dropped") == 0) {
			char n[32];

			gaps += dropped >= 0 || !field(line, "dropped", n, sizeof(n)) ||
				!strstr(line, "\"level\":\"warn\"");
			dropped = atol(n);
		} else if (strcmp(v, "after") == 0) {
			after++;
			gaps += dropped < 0;
		} else {
			other++;
		}
	}
	CHECK(kept > (1u << 20) - 512 && kept <= (1u << 20) + (size_t)pipe_size,
		"kept %zu bytes (%ld lines): the queue's 1 MiB budget plus the pipe's %d", kept,
		seq, pipe_size);
	CHECK_INT(seq + dropped, N, "lines kept + the dropped count = lines logged (%ld dropped)",
		dropped);
	CHECK_INT(gaps, 0, "kept lines are a prefix in order, then one notice, then the rest");
	CHECK_INT(after, 1, "the line logged after the reader came back is there");
	CHECK_INT(other, 0, "nothing else on stderr");
}

/*
 * ASan's allocator (GCC 12's libsanitizer) is not fork-safe: a child forked while another
 * thread is inside malloc or free can block forever in its own first malloc (seen here: the
 * child's writer thread starting). Under ASan the children are forked with no other thread
 * logging (and the reader never allocates); the plain build runs the case in full.
 */
#ifdef __SANITIZE_ADDRESS__
#define HAMMER 0
#else
#define HAMMER 1
#endif

static atomic_bool hammering;

/* Logs in bursts, for the lock to be taken often, with pauses, for the pipe not to be full. */
static void *hammer_main(void *arg)
{
	(void)arg;
	while (atomic_load(&hammering)) {
		for (int i = 0; i < 20; i++) {
			fng__log("debug", "hammer", NULL);
		}
		usleep(500);
	}
	return NULL;
}

/*
 * fork() while another thread logs without pause: a child that logs and flushes must get
 * its line out through a writer of its own, never hang on a lock taken by a thread that does
 * not exist in it, and never write lines its parent queued.
 */
static void test_fork(void)
{
	enum { FORKS = 60 };
	int fd = stderr_pipe(), hung = 0, bad = 0;
	unsigned children = 0;
	pthread_t t;
	char *p;

	reader_start(fd);
	atomic_store(&hammering, true);
	if (HAMMER) {
		pthread_create(&t, NULL, hammer_main, NULL);
	}
	fflush(stdout);
	for (int i = 0; i < FORKS && hung + bad < 3; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			fng__log("info", "child", NULL);
			if (!fng__log_flush(5000)) {
				_exit(4);
			}
			/*
			 * Done. Not _exit(): valgrind would check for leaks, and the line the
			 * other thread was formatting at the fork is only on a stack the child
			 * does not have.
			 */
			raise(SIGKILL);
		}
		st = wait_child(pid);
		if (st == -1) {
			hung++;
		} else if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
			printf("# child %d: %s %d\n", i, WIFEXITED(st) ? "exit" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			bad++;
		}
	}
	atomic_store(&hammering, false);
	if (HAMMER) {
		pthread_join(t, NULL);
	}
	fng__log_flush(2000);
	reader_stop();
	for (p = rd.got.p; (p = strstr(p, "\"msg\":\"child\"")) != NULL; p++) {
		children++;
	}
	CHECK_INT(hung, 0, "no child forked during logging hangs in fng__log or its flush");
	CHECK_INT(bad, 0, "every child's flush finishes");
	CHECK_INT(children, FORKS, "each child's line reaches stderr (its own writer)");
}

/*
 * The children of test_exit() are a fresh image of this program (--exit-child LINES [FD]): a
 * child forked from this test process, whose reader and log writer threads run, can inherit a
 * lock another thread held at the fork (a sanitizer runtime's own), and hang before it logs a
 * line; the gateway's children that log are fresh images too. FD: write the exit mark there.
 */
static int exit_child(int argc, char **argv)
{
	int n = atoi(argv[2]);

	if (argc > 3) {
		exit_mark_fd = atoi(argv[3]);
	}
	for (int i = 0; i < n; i++) {
		fng__log("info", argc > 3 ? "nobody reads this" : "bye", NULL);
	}
	if (argc == 3) {
		fng__log("info", "stopped", NULL);
	}
	exit(0);
}

static pid_t spawn_exit_child(const char *lines, int mark_fd)
{
	char fdarg[16];
	pid_t pid;

	snprintf(fdarg, sizeof(fdarg), "%d", mark_fd);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "unit-gateway-server", "--exit-child", lines,
			mark_fd >= 0 ? fdarg : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* exit() writes what is queued; with nobody reading it gives up after its bounded wait. */
static void test_exit(void)
{
	int fd = stderr_pipe(), st, lines = 0, mark[2];
	struct pollfd pfd;
	double t0, took;
	char *p, *last = NULL, *line, *save;
	pid_t pid;

	reader_start(fd);
	fflush(stdout);
	pid = spawn_exit_child("2000", -1);
	st = wait_child(pid);
	reader_stop();
	for (p = rd.got.p; (p = strstr(p, "\"msg\":\"bye\"")) != NULL; p++) {
		lines++;
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child exits 0");
	CHECK_INT(lines, 2000, "every line queued before exit() is written");
	for (line = strtok_r(rd.got.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '{') {
			last = line; /* not a sanitizer's lines ("==PID==...") */
		}
	}
	CHECK(last && strstr(last, "\"msg\":\"stopped\"}"),
		"the last line logged is the last line written");

	/* This stderr is never read: the exit flush gives up after its bound. */
	fd = stderr_pipe();
	if (pipe(mark) != 0) {
		abort();
	}
	fflush(stdout);
	t0 = now_s();
	pid = spawn_exit_child("20000", mark[1]);
	close(mark[1]);
	pfd = (struct pollfd){ .fd = mark[0], .events = POLLIN };
	poll(&pfd, 1, 10000);
	took = now_s() - t0;
	CHECK(pfd.revents & POLLIN && took < 4.0,
		"exit with a stalled stderr takes the bounded wait: %.2f s", took);
	reader_start(fd);        /* whatever else the child writes at exit may go now */
	st = wait_child(pid);
	reader_stop();
	close(mark[0]);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "...and exits 0");
}

/* ---- reports: a repeated failure logged by episode ---- */

static struct {
	int lines, overs;
	uint64_t last;
} said;

static void count_say(struct fng_server *srv, const struct fng_report *r, bool over)
{
	(void)srv;
	if (over) {
		said.overs++;
		said.last = r->total;
	} else {
		said.lines++;
		said.last = r->count;
	}
}

static void test_report(void)
{
	struct fng_server srv = { 0 };
	struct fng_report r = { 0 };
	uv_loop_t loop;

	uv_loop_init(&loop);
	srv.loop = &loop;
	fng__report_fail(&srv, &r, 1, -EMFILE, count_say);
	CHECK(said.lines == 1 && said.last == 1, "the first failure is logged at once");
	for (int i = 0; i < 1000; i++) {
		fng__report_fail(&srv, &r, 1, -EMFILE, count_say);
		fng__report_tick(&srv, &r, count_say);
	}
	fng__report_ok(&r);
	fng__report_tick(&srv, &r, count_say);
	CHECK_INT(said.lines, 1, "no second line within the interval, however many failures");
	CHECK_INT(said.overs, 0, "nor the end of the episode while a count is held back");
	r.next_ms = 0; /* the interval is over */
	fng__report_tick(&srv, &r, count_say);
	CHECK(said.lines == 2 && said.last == 1000, "then one line with the count held back (%d, "
		"%llu)", said.lines, (unsigned long long)said.last);
	fng__report_tick(&srv, &r, count_say);
	CHECK_INT(said.overs, 0, "the end waits for an interval without failure");
	r.next_ms = 0;
	fng__report_tick(&srv, &r, count_say);
	CHECK(said.overs == 1 && said.last == 1001, "then one line with the episode's total");
	fng__report_tick(&srv, &r, count_say);
	CHECK(said.lines == 2 && said.overs == 1, "and nothing more");
	fng__report_fail(&srv, &r, 3, -ENFILE, count_say);
	CHECK(said.lines == 3 && said.last == 3 && r.err == -ENFILE,
		"a new episode's first failure is logged at once");
	fng__report_fail(&srv, &r, 2, -ENFILE, count_say);
	fng__report_flush(&srv, &r, count_say);
	CHECK(said.lines == 4 && said.last == 2, "at exit the count held back is logged");
	r.next_ms = 0;
	fng__report_tick(&srv, &r, count_say);
	CHECK_INT(said.overs, 1, "no end of an episode without a success after the last failure");
	uv_loop_close(&loop);
}

/*
 * The access log on /dev/full, where every write fails with ENOSPC: serving does not depend
 * on it, and the lines lost are counted in "access log write failed" lines.
 */
static void test_alog_full(void)
{
	static const char config[] =
		"access_log: { path: /dev/full }\n"
		"apis:\n"
		"  a:\n"
		"    stages: { dev: {} }\n"
		"    routes:\n"
		"      'GET /': { integration: { type: mock } }\n";
	struct fng_buf errors = { 0 };
	struct fng_config *cfg;
	struct fng_server srv;
	uv_loop_t loop;
	unsigned long long dropped = 0;
	int lines = 0;

	if (access("/dev/full", W_OK) != 0) {
		printf("ok - access log on /dev/full # SKIP no /dev/full\n");
		return;
	}
	if (fng__config_load_string("t.yaml", config, sizeof(config) - 1, &cfg, &errors)) {
		CHECK(false, "config: %.*s", (int)errors.len, errors.p);
		fng__buf_finish(&errors);
		return;
	}
	reader_start(stderr_pipe());
	uv_loop_init(&loop);
	CHECK_INT(fng__server_init(&srv, &loop, cfg, NULL), 0, "a server logging to /dev/full");
	for (int i = 0; i < 300; i++) {
		fng__server_log_line(&srv, "{\"line\":1}", 10);
		if (i % 100 == 99) {
			fng__server_alog_sync(&srv);
		}
	}
	fng__server_finish(&srv); /* the last count is logged at exit */
	uv_loop_close(&loop);
	fng__log_flush(2000);
	reader_stop();
	for (const char *l = rd.got.p; l && (l = strstr(l, "\"msg\":\"access log write failed\""));
		l++) {
		char v[32];

		lines++;
		if (field(l, "dropped", v, sizeof(v))) {
			dropped += strtoull(v, NULL, 10);
		}
		CHECK(field(l, "error", v, sizeof(v)) && strstr(v, "no space"),
			"the error is said: %s", v);
	}
	CHECK(lines >= 1 && lines <= 2, "one line per interval, and the tail at exit (%d)", lines);
	CHECK_INT(dropped, 300, "every line lost is counted");
	fng__buf_finish(&errors);
}

int main(int argc, char **argv)
{
	atexit(exit_mark);
	if (argc >= 3 && strcmp(argv[1], "--exit-child") == 0) {
		return exit_child(argc, argv);
	}
	signal(SIGPIPE, SIG_IGN);
	test_lines();
	test_stalled_reader();
	test_fork();
	test_exit();
	test_report();
	test_alog_full();
	fng__buf_finish(&rd.got);
	return fng_test_done();
}
