// SPDX-License-Identifier: MIT
/*
 * Unit tests for sandbox/: a real supervisor forked from this process (standing in for the
 * gateway) spawns workers for the handlers in tests/functions and this test talks to them
 * over the wire. It checks that a well-behaved handler serves, that every probe of a
 * forbidden system call ends its worker with cause "seccomp" and leaves no trace (no file,
 * no connection to the canary listeners, no signal, the supervisor alive), that load-time
 * code (constructors, init hooks) is confined before seccomp and leaks nothing, that the
 * start-up failures and resource limits are reported with the causes of sandbox.h, that
 * learn mode logs instead of killing, and that nothing outlives the control socket or the
 * "gateway" itself. Confinement is also read back from /proc for the start-up log.
 *
 * The .so files are copied into a world-readable temporary functions/ directory (like the
 * gateway's), next to another function's "manifest" holding a secret; the secret file, the
 * file probes try to create and the canary UNIX socket are world-accessible, so only the
 * sandbox stands between a probe and them.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sandbox.h"
#include "wire.h"

#ifndef FNG_TEST_FUNCTIONS
#error "FNG_TEST_FUNCTIONS (the directory of the test handlers) is set by meson"
#endif

#if defined(__SANITIZE_ADDRESS__)
/* Let a worker's SIGSEGV/SIGABRT be what kills it, not ASan's report of it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0";
}
#endif

/*
 * CHECK evaluates its condition twice (once to print "ok", once for the diagnostic); most
 * conditions here spawn, read or reap, so they go through EXPECT, which evaluates once.
 */
#define EXPECT(cond, ...)                                                                  \
	do {                                                                               \
		bool ok_ = (cond);                                                         \
		CHECK(ok_, __VA_ARGS__);                                                   \
		if (!ok_) {                                                                \
			printf("#   %s\n", #cond);                                           \
		}                                                                          \
	} while (0)

#define SECRET_TEXT "s3cret-outside-the-function"
#define SIBLING_TEXT "s3cret-of-another-function"
#define WAIT_MS 5000

static struct {
	int ctl;
	pid_t super;
	char dir[64];          /* the temporary directory */
	char functions[96];    /* dir/functions: the .so copies and the sibling manifest */
	char probe_file[128];  /* what probes try to create */
	char secret[128];
	char sibling[128];
	char unix_path[128];
	char abstract[64];
	char stderr_path[128];
	int tcp, unix_sock, abstract_sock; /* canary listeners */
	int port;
	int saved_stderr;
	char env[4096];        /* the probes' common environment */
	size_t env_len;
} t;

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	got_usr1 = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- supervisor messages (EXITs that arrive early wait here) ---- */

static struct fng_sb_exit exits[1024];
static size_t nexits;

/*
 * Next message of type want (the spawn id for SPAWNED, the pid for VERIFIED); EXITs are
 * queued. For SPAWNED, *fd and *logfd (or NULL: closed) get the worker's socket and output
 * pipe. Type, 0, or -errno.
 */
static int sb_next(int ctl, uint32_t want, uint32_t id, void *out, int *fd, int *logfd,
	int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		union {
			struct fng_sb_spawned sp;
			struct fng_sb_exit ex;
			struct fng_sb_verified v;
		} m;
		struct pollfd p = { ctl, POLLIN, 0 };
		int64_t left = end - now_ms();
		int type, got = -1;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			return -ETIMEDOUT;
		}
		type = fng__sb_recv(ctl, &m, sizeof(m), &got, logfd);
		if (type <= 0) {
			return type;
		}
		if (type == FNG_SB_EXIT) {
			if (nexits < sizeof(exits) / sizeof(exits[0])) {
				exits[nexits++] = m.ex;
			}
			if (want == FNG_SB_EXIT) {
				return type;
			}
			continue;
		}
		if (type == FNG_SB_VERIFIED && (int)want == type && m.v.pid == (pid_t)id) {
			memcpy(out, &m.v, sizeof(m.v));
			return type;
		}
		if (want == FNG_SB_SPAWNED && type == (int)want && m.sp.id == id) {
			memcpy(out, &m.sp, sizeof(m.sp));
			*fd = got;
			return type;
		}
		if (got >= 0) {
			close(got);
		}
		if (logfd && *logfd >= 0) {
			close(*logfd);
			*logfd = -1;
		}
	}
}

/* The EXIT of pid: its cause into cause (or "(timeout)"). */
static void wait_exit(int ctl, pid_t pid, char *cause, size_t size)
{
	int64_t end = now_ms() + WAIT_MS;

	for (;;) {
		for (size_t i = 0; i < nexits; i++) {
			if (exits[i].pid == pid) {
				snprintf(cause, size, "%s", exits[i].cause);
				exits[i] = exits[--nexits];
				return;
			}
		}
		if (now_ms() >= end || sb_next(ctl, FNG_SB_EXIT, 0, NULL, NULL, NULL,
			(int)(end - now_ms())) <= 0) {
			snprintf(cause, size, "(timeout)");
			return;
		}
	}
}

/* ---- workers ---- */

struct opts {
	const char *mode;      /* FNG_PROBE_MODE */
	const char *extra_env; /* one more NAME=VALUE */
	uint32_t memory_mb, cpu_ms, groups, learn;
	uint32_t cpu_weight, cpu_off;
};

struct worker {
	pid_t pid;
	int ctl;    /* its supervisor's control socket */
	int fd;
	int log;    /* its stdout/stderr pipe */
	uint8_t *buf;
	size_t len, cap;
};

/* What workers wrote on their stdout and stderr (read when they are closed). */
static char worker_output[65536];
static size_t worker_output_len;

static uint32_t next_id = 1;

/* The path of name.so in the temporary functions/ directory (copied there on first use). */
static const char *so(const char *name)
{
	static char path[256];
	char src[512], buf[65536];
	int in, out;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s.so", t.functions, name);
	if (access(path, F_OK) == 0) {
		return path;
	}
	snprintf(src, sizeof(src), "%s/%s.so", FNG_TEST_FUNCTIONS, name);
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			break;
		}
	}
	if (in >= 0) {
		close(in);
	}
	if (out >= 0) {
		close(out);
	}
	return path;
}

static void append_env(char *env, size_t *len, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void append_env(char *env, size_t *len, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(env + *len, size - *len - 1, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < size - *len - 1) {
		*len += (size_t)n + 1;
		env[*len] = '\0';
	}
}

/* Asks ctl's supervisor for a worker running path. 0 or -errno (the SPAWNED error). */
static int spawn_on(int ctl, const char *path, const struct opts *o, struct worker *w)
{
	static struct fng_sb_spawn req;
	struct fng_sb_spawned rep;
	size_t len = t.env_len;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->log = -1;
	w->pid = -1;
	w->ctl = ctl;
	req.type = FNG_SB_SPAWN;
	req.id = next_id++;
	req.memory_mb = o ? o->memory_mb : 0;
	req.cpu_ms = o ? o->cpu_ms : 0;
	req.groups = o ? o->groups : 0;
	req.learn = o ? o->learn : 0;
	req.cpu_weight = o ? o->cpu_weight : 0;
	req.cpu_off = o ? o->cpu_off : 0;
	snprintf(req.name, sizeof(req.name), "%.*s", (int)(strcspn(name, ".")), name);
	snprintf(req.so_path, sizeof(req.so_path), "%s", path);
	memcpy(req.env, t.env, t.env_len + 1);
	if (o && o->mode) {
		append_env(req.env, &len, sizeof(req.env), "FNG_PROBE_MODE=%s", o->mode);
	}
	if (o && o->extra_env) {
		append_env(req.env, &len, sizeof(req.env), "%s", o->extra_env);
	}
	rc = fng__sb_send_spawn(ctl, &req);
	if (rc < 0) {
		return rc;
	}
	rc = sb_next(ctl, FNG_SB_SPAWNED, req.id, &rep, &w->fd, &w->log, WAIT_MS);
	if (rc < 0) {
		return rc;
	}
	if (rep.err) {
		return rep.err;
	}
	w->pid = rep.pid;
	return 0;
}

static int spawn(const char *path, const struct opts *o, struct worker *w)
{
	return spawn_on(t.ctl, path, o, w);
}

/* Appends what w wrote on its output pipe so far (waiting up to ms for the first bytes). */
static void worker_output_read(struct worker *w, int ms)
{
	struct pollfd p = { w->log, POLLIN, 0 };

	while (w->log >= 0 && poll(&p, 1, ms) > 0) {
		ssize_t n = read(w->log, worker_output + worker_output_len,
			sizeof(worker_output) - 1 - worker_output_len);

		if (n <= 0) {
			break;
		}
		worker_output_len += (size_t)n;
		worker_output[worker_output_len] = '\0';
		ms = 0;
	}
}

static void worker_close(struct worker *w)
{
	if (w->fd >= 0) {
		close(w->fd);
	}
	worker_output_read(w, 0);
	if (w->log >= 0) {
		close(w->log);
		w->log = -1;
	}
	free(w->buf);
	w->buf = NULL;
	w->fd = -1;
}

/*
 * The next frame from w: its type, and its body copied to *body (malloc'd, caller frees).
 * 1, or -EPIPE on EOF (the worker died), -ETIMEDOUT, or a framing error.
 */
static int read_frame(struct worker *w, uint8_t *type, uint8_t **body, size_t *len,
	int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		const uint8_t *b;
		long n = fng__wire_frame(w->buf, w->len, FNG_WIRE_MAX_DEFAULT, type, &b, len);
		struct pollfd p = { w->fd, POLLIN, 0 };
		int64_t left = end - now_ms();
		ssize_t r;

		if (n < 0) {
			return (int)n;
		}
		if (n > 0) {
			*body = malloc(*len + 1);
			memcpy(*body, b, *len);
			(*body)[*len] = '\0';
			memmove(w->buf, w->buf + n, w->len - (size_t)n);
			w->len -= (size_t)n;
			return 1;
		}
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			return -ETIMEDOUT;
		}
		if (w->cap - w->len < 65536) {
			w->cap = w->cap ? w->cap * 2 : 131072;
			w->buf = realloc(w->buf, w->cap);
		}
		r = read(w->fd, w->buf + w->len, w->cap - w->len);
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			return -EPIPE;
		}
		if (r < 0 && errno != EINTR) {
			return -errno;
		}
		w->len += r > 0 ? (size_t)r : 0;
	}
}

/* Waits for READY. 0, or what read_frame said (-EPIPE: the worker died starting). */
/*
 * The supervisor's verdict on w's filters (FNG_SB_VERIFY, as the gateway asks after READY):
 * 0, or the -errno it answered (why, if given, receives its reason).
 */
static int64_t last_verify_us; /* how long the last verify() took */

static int verify(struct worker *w, char *why, size_t size)
{
	struct fng_sb_verified v;
	struct timespec a, b;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = fng__sb_send_verify(w->ctl, w->pid);

	if (rc == 0) {
		rc = sb_next(w->ctl, FNG_SB_VERIFIED, (uint32_t)w->pid, &v, NULL, NULL, WAIT_MS);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	last_verify_us = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
	if (rc == FNG_SB_VERIFIED) {
		rc = v.err;
		if (why) {
			snprintf(why, size, "%.*s", (int)sizeof(v.why), v.why);
		}
		if (rc) {
			printf("# worker %d not verified: %.*s\n", (int)w->pid, (int)sizeof(v.why),
				v.why);
		}
	}
	return rc < 0 ? rc : rc ? -EPROTO : 0;
}

/* READY from w (its name into name), then its filters verified by the supervisor. */
static int expect_ready(struct worker *w, char *name, size_t size)
{
	uint8_t type, *body = NULL;
	size_t len;
	int rc = read_frame(w, &type, &body, &len, WAIT_MS);

	if (rc == 1) {
		uint32_t abi = 0;
		struct fng_wire_str s = { 0 };
		void *h = NULL;

		rc = type == FNG_WIRE_READY &&
			fng__wire_decode_ready(body, len, &abi, &s, &h) == 0 ? 0 : -EPROTO;
		if (rc == 0 && name) {
			snprintf(name, size, "%.*s", (int)s.len, s.p);
		}
		fng__wire_free(h);
	}
	free(body);
	return rc ? rc : verify(w, NULL, 0);
}

static int send_invoke(struct worker *w)
{
	struct fng_wire_buf out = { 0 };
	struct timespec ts;
	struct fng_wire_event ev = { 0 };
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
#define S(f, v) ev.f = (struct fng_wire_str){ v, sizeof(v) - 1 }
	S(version, "2.0");
	S(route_key, "GET /probe");
	S(raw_path, "/probe");
	S(raw_query, "");
	S(method, "GET");
	S(path, "/probe");
	S(protocol, "HTTP/1.1");
	S(source_ip, "127.0.0.1");
	S(user_agent, "sandbox-test");
	S(request_id, "req-1");
	S(api, "test");
	S(stage, "dev");
	S(domain, "localhost");
#undef S
	ev.body = "";
	ev.time_epoch_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ev.deadline_epoch_ms = ev.time_epoch_ms + WAIT_MS;
	rc = fng__wire_encode_invoke(&out, &ev);
	for (size_t off = 0; rc == 0 && off < out.len;) {
		ssize_t n = write(w->fd, out.p + off, out.len - off);

		if (n < 0 && errno != EINTR) {
			rc = -errno;
		}
		off += n > 0 ? (size_t)n : 0;
	}
	fng__wire_buf_finish(&out);
	return rc;
}

/*
 * Sends an INVOKE and reads frames until its RESULT: status and body (malloc'd) out.
 * 0, or -EPIPE if the worker died, -ETIMEDOUT, ...
 */
/* The RESULT of the invocation sent last (what invoke() waits for). */
static int read_result(struct worker *w, int *status, char **text, size_t *text_len,
	int timeout_ms)
{
	int rc = 0;

	*text = NULL;
	while (rc == 0) {
		uint8_t type, *body = NULL;
		size_t len;

		rc = read_frame(w, &type, &body, &len, timeout_ms);
		if (rc != 1) {
			break;
		}
		rc = 0;
		if (type == FNG_WIRE_RESULT) {
			struct fng_wire_result r;
			void *h = NULL;

			rc = fng__wire_decode_result(body, len, &r, &h);
			if (rc == 0) {
				*status = r.failed ? 502 : r.status;
				*text = malloc(r.body_len + 1);
				memcpy(*text, r.body, r.body_len);
				(*text)[r.body_len] = '\0';
				if (text_len) {
					*text_len = r.body_len;
				}
			}
			fng__wire_free(h);
			free(body);
			return rc;
		}
		free(body);
	}
	return rc;
}

static int invoke(struct worker *w, int *status, char **text, size_t *text_len, int timeout_ms)
{
	int rc = send_invoke(w);

	*text = NULL;
	return rc ? rc : read_result(w, status, text, text_len, timeout_ms);
}

/* ---- side effects ---- */

static int accepted(int listener)
{
	int n = 0, c;

	while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		close(c);
		n++;
	}
	return n;
}

static bool supervisor_alive(void)
{
	return waitpid(t.super, NULL, WNOHANG) == 0 && kill(t.super, 0) == 0;
}

/* One CHECK that nothing escaped: no file, no connection, no signal, supervisor alive. */
static void check_no_trace(const char *what)
{
	char next_to_so[256];
	int tcp = accepted(t.tcp), un = accepted(t.unix_sock), abs = accepted(t.abstract_sock);
	bool file = access(t.probe_file, F_OK) == 0;
	bool dir = access("/tmp/fngate-load-probe-dir", F_OK) == 0;
	bool so_dir;

	snprintf(next_to_so, sizeof(next_to_so), "%s/pwned-by-load-probe", t.functions);
	so_dir = access(next_to_so, F_OK) == 0;
	EXPECT(!file && !dir && !so_dir && !tcp && !un && !abs && !got_usr1 && supervisor_alive(),
		"%s: no trace (file %d, /tmp dir %d, next to .so %d, tcp %d, unix %d, abstract %d, "
		"SIGUSR1 %d, supervisor alive %d)", what, file, dir, so_dir, tcp, un, abs,
		(int)got_usr1, supervisor_alive());
	unlink(t.probe_file);
	unlink(next_to_so);
	rmdir("/tmp/fngate-load-probe-dir");
	got_usr1 = 0;
}

/* ---- cases ---- */

static void test_describe(void)
{
	const char *d = fng__sb_describe();

	EXPECT(d && *d, "fng__sb_describe says something");
	printf("# sandbox: %s\n", d ? d : "(null)");
}

static void test_ok(void)
{
	struct worker w;
	char name[64] = "", cause[96], *body = NULL;
	int status = 0;

	CHECK_INT(spawn(so("ok"), NULL, &w), 0, "ok.so: spawned");
	CHECK_INT(expect_ready(&w, name, sizeof(name)), 0, "ok.so: READY");
	CHECK_STR(name, "ok", "ok.so: READY names the handler");
	CHECK_INT(invoke(&w, &status, &body, NULL, WAIT_MS), 0, "ok.so: RESULT");
	CHECK_INT(status, 200, "ok.so: status 200");
	CHECK_STR(body, "ok", "ok.so: body");
	free(body);
	body = NULL;
	EXPECT(invoke(&w, &status, &body, NULL, WAIT_MS) == 0 && status == 200 && body &&
		!strcmp(body, "ok"), "ok.so: the worker serves a second invocation");
	free(body);
	worker_close(&w);
	wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	CHECK_STR(cause, "exit 0", "ok.so: exits 0 when the gateway hangs up");

	struct opts o = { .extra_env = "FNG_TEST_ECHO=from-the-manifest" };

	body = NULL;
	EXPECT(spawn(so("ok"), &o, &w) == 0 && expect_ready(&w, NULL, 0) == 0 &&
		invoke(&w, &status, &body, NULL, WAIT_MS) == 0, "ok.so with env: serves");
	CHECK_STR(body, "from-the-manifest", "ok.so: sees the manifest env");
	free(body);
	worker_close(&w);
	wait_exit(t.ctl, w.pid, cause, sizeof(cause));
}

static int cmp_ms(const void *a, const void *b)
{
	return (int)(*(const int64_t *)a - *(const int64_t *)b);
}

/* Cold start: spawn request to READY, without and with a memory cgroup. A figure, not a gate. */
static void test_cold_start(void)
{
	enum { N = 15 };

	for (int mem = 0; mem < 2; mem++) {
		struct opts o = { .memory_mb = mem ? 64 : 0 };
		int64_t us[N], vus[N];
		int failed = 0;

		for (int i = 0; i < N; i++) {
			struct timespec a, b;
			struct worker w;
			char cause[96];

			clock_gettime(CLOCK_MONOTONIC, &a);
			if (spawn(so("ok"), &o, &w) != 0 || expect_ready(&w, NULL, 0) != 0) {
				failed++;
			}
			clock_gettime(CLOCK_MONOTONIC, &b);
			us[i] = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
			vus[i] = last_verify_us;
			worker_close(&w);
			wait_exit(t.ctl, w.pid, cause, sizeof(cause));
		}
		qsort(us, N, sizeof(us[0]), cmp_ms);
		qsort(vus, N, sizeof(vus[0]), cmp_ms);
		CHECK_INT(failed, 0, "cold start%s: %d workers ready",
			mem ? " (64 MiB cgroup)" : "", N);
		printf("# cold start%s: spawn to READY and verified median %lld us, max %lld us; "
			"the verification alone median %lld us, max %lld us\n",
			mem ? " with a memory cgroup" : "", (long long)us[N / 2],
			(long long)us[N - 1], (long long)vus[N / 2], (long long)vus[N - 1]);
	}
}

/* Reads a field ("Uid:", "CapEff:", ...) of /proc/pid/status. */
static void proc_field(pid_t pid, const char *file, const char *key, char *out, size_t size)
{
	char path[64], buf[8192];
	int fd;
	ssize_t n;

	snprintf(out, size, "?");
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0) {
		close(fd);
	}
	if (n <= 0) {
		return;
	}
	buf[n] = '\0';
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, key, strlen(key)) == 0) {
			const char *v = line + strlen(key);

			v += strspn(v, " \t");
			snprintf(out, size, "%s", v);
			return;
		}
	}
}

/* "soft hard" of a line of /proc/pid/limits ("Max open files"). */
static void limits_of(pid_t pid, const char *what, char *out, size_t size)
{
	char path[64], buf[4096];
	int fd;
	ssize_t n;
	const char *line;
	unsigned long long soft = 0, hard = 0;
	char s1[32] = "", s2[32] = "";

	snprintf(out, size, "?");
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0) {
		close(fd);
	}
	if (n <= 0) {
		return;
	}
	buf[n] = '\0';
	line = strstr(buf, what);
	if (!line || sscanf(line + 26, "%31s %31s", s1, s2) != 2) {
		return;
	}
	soft = strtoull(s1, NULL, 10);
	hard = strtoull(s2, NULL, 10);
	if (!strcmp(s1, "unlimited") || !strcmp(s2, "unlimited")) {
		snprintf(out, size, "%s %s", s1, s2);
	} else {
		snprintf(out, size, "%llu %llu", soft, hard);
	}
}

static bool same_ns(pid_t pid, const char *ns)
{
	char a[64], b[64], la[64] = "", lb[64] = "";

	snprintf(a, sizeof(a), "/proc/self/ns/%s", ns);
	snprintf(b, sizeof(b), "/proc/%d/ns/%s", (int)pid, ns);
	if (readlink(a, la, sizeof(la) - 1) < 0 || readlink(b, lb, sizeof(lb) - 1) < 0) {
		return true;
	}
	return strcmp(la, lb) == 0;
}

/* The confinement of a live worker, read back from /proc (and the cgroup files). */
static void test_evidence(void)
{
	const char *d = fng__sb_describe();
	struct opts o = { .memory_mb = 64, .cpu_ms = 5000 };
	struct worker w;
	char v[256], cause[96], path[512];
	int fd;

	EXPECT(spawn(so("ok"), &o, &w) == 0 && expect_ready(&w, NULL, 0) == 0,
		"evidence: worker ready");
	proc_field(w.pid, "status", "Uid:", v, sizeof(v));
	printf("# worker Uid: %s\n", v);
	if (geteuid() == 0) {
		EXPECT(strncmp(v, "65534\t65534\t65534\t65534", 23) == 0, "evidence: uid 65534");
		proc_field(w.pid, "status", "Gid:", v, sizeof(v));
		EXPECT(strncmp(v, "65534\t65534\t65534\t65534", 23) == 0, "evidence: gid 65534");
		proc_field(w.pid, "status", "Groups:", v, sizeof(v));
		CHECK_STR(v, "", "evidence: no supplementary groups");
	}
	proc_field(w.pid, "status", "CapEff:", v, sizeof(v));
	CHECK_STR(v, "0000000000000000", "evidence: no effective capabilities");
	proc_field(w.pid, "status", "CapPrm:", v, sizeof(v));
	CHECK_STR(v, "0000000000000000", "evidence: no permitted capabilities");
	proc_field(w.pid, "status", "CapBnd:", v, sizeof(v));
	CHECK_STR(v, "0000000000000000", "evidence: empty bounding set");
	proc_field(w.pid, "status", "NoNewPrivs:", v, sizeof(v));
	CHECK_STR(v, "1", "evidence: no_new_privs");
	proc_field(w.pid, "status", "Seccomp:", v, sizeof(v));
	CHECK_STR(v, "2", "evidence: seccomp filter mode");
	proc_field(w.pid, "status", "Seccomp_filters:", v, sizeof(v));
	CHECK_STR(v, "2", "evidence: two seccomp filters (load time, serve loop)");
	if (strstr(d, "net namespace") || strstr(d, "net+ipc namespaces")) {
		EXPECT(!same_ns(w.pid, "net"), "evidence: own network namespace");
		EXPECT(!same_ns(w.pid, "ipc"), "evidence: own IPC namespace");
	}
	EXPECT(getpgid(w.pid) == w.pid && getsid(w.pid) == w.pid, "evidence: own session");
	limits_of(w.pid, "Max open files", v, sizeof(v));
	EXPECT(strcmp(v, "64 64") == 0, "evidence: RLIMIT_NOFILE 64 (%s)", v);
	limits_of(w.pid, "Max core file size", v, sizeof(v));
	EXPECT(strcmp(v, "0 0") == 0, "evidence: RLIMIT_CORE 0 (%s)", v);
	limits_of(w.pid, "Max processes", v, sizeof(v));
	EXPECT(strcmp(v, "0 0") == 0, "evidence: RLIMIT_NPROC 0 (%s)", v);
	limits_of(w.pid, "Max locked memory", v, sizeof(v));
	EXPECT(strcmp(v, "0 0") == 0, "evidence: RLIMIT_MEMLOCK 0 (%s)", v);
	limits_of(w.pid, "Max cpu time", v, sizeof(v));
	EXPECT(strcmp(v, "5 6") == 0, "evidence: RLIMIT_CPU 5 s soft, 6 s hard (%s)", v);
	limits_of(w.pid, "Max address space", v, sizeof(v));
	EXPECT(strtoull(v, NULL, 10) > (64ull << 20), "evidence: RLIMIT_AS above memory_mb (%s)",
		v);
	proc_field(w.pid, "status", "Name:", v, sizeof(v));
	CHECK_STR(v, "fn:ok", "evidence: process name");
	snprintf(path, sizeof(path), "/proc/%d/fd/3", (int)w.pid);
	EXPECT(readlink(path, v, sizeof(v)) > 0, "evidence: fd 3 is open (the socketpair)");
	snprintf(path, sizeof(path), "/proc/%d/fd/5", (int)w.pid);
	EXPECT(readlink(path, v, sizeof(v)) < 0, "evidence: nothing beyond fd 3 (fd 5 closed)");

	if (strstr(d, "cgroup v1")) {
		char cg[4096];

		snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)w.pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, cg, sizeof(cg) - 1);

		if (fd >= 0) {
			close(fd);
		}
		cg[n > 0 ? n : 0] = '\0';
		char want[64];

		snprintf(want, sizeof(want), "/fngate-%d/%d\n", (int)t.super, (int)w.pid);
		char *mem = strstr(cg, ":memory:"), *pids = strstr(cg, ":pids:");

		EXPECT(mem && strstr(mem, want) && strchr(mem, '\n') >= strstr(mem, want),
			"evidence: in its own memory cgroup");
		EXPECT(pids && strstr(pids, want) && strchr(pids, '\n') >= strstr(pids, want),
			"evidence: in its own pids cgroup");
		if (mem) {
			char *end = strchr(mem, '\n');
			char limit[64] = "";

			*end = '\0';
			snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/%s",
				mem + strlen(":memory:"), "memory.limit_in_bytes");
			fd = open(path, O_RDONLY | O_CLOEXEC);
			n = fd < 0 ? -1 : read(fd, limit, sizeof(limit) - 1);
			if (fd >= 0) {
				close(fd);
			}
			EXPECT(n > 0 && strtoull(limit, NULL, 10) == 64ull << 20,
				"evidence: memory.limit_in_bytes 64 MiB");
			printf("# memory cgroup %s\n", mem + strlen(":memory:"));
			*end = '\n';
		}
		if (pids) {
			char *end = strchr(pids, '\n');
			char max[16] = "";

			*end = '\0';
			snprintf(path, sizeof(path), "/sys/fs/cgroup/pids%s/pids.max",
				pids + strlen(":pids:"));
			fd = open(path, O_RDONLY | O_CLOEXEC);
			n = fd < 0 ? -1 : read(fd, max, sizeof(max) - 1);
			if (fd >= 0) {
				close(fd);
			}
			EXPECT(n > 0 && atoi(max) == 1, "evidence: pids.max 1");
			snprintf(v, sizeof(v), "/sys/fs/cgroup/pids%s", pids + strlen(":pids:"));
			*end = '\n';
		}
		worker_close(&w);
		wait_exit(t.ctl, w.pid, cause, sizeof(cause));
		EXPECT(access(v, F_OK) < 0, "evidence: the worker's cgroup is removed after exit");
	} else {
		worker_close(&w);
		wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	}
}

/*
 * Spawns path, invokes it, expects the worker to die of cause, and no trace. A worker that
 * must spend CPU time before it dies (a CPU limit) is given longer on a loaded machine: a busy
 * worker runs in the idle CPU group (docs/config.md, "CPU isolation"), so its second of CPU
 * can take many seconds of wall time while other work runs.
 */
static void expect_death_within(const char *so_name, const struct opts *o, const char *want,
	int wait_ms)
{
	struct worker w;
	char what[128], cause[96], *body = NULL;
	int status = 0, rc;

	snprintf(what, sizeof(what), "%s%s%s", so_name, o && o->mode ? " " : "",
		o && o->mode ? o->mode : "");
	rc = spawn(so(so_name), o, &w);
	CHECK_INT(rc, 0, "%s: spawned", what);
	if (rc) {
		return;
	}
	CHECK_INT(expect_ready(&w, NULL, 0), 0, "%s: READY", what);
	rc = invoke(&w, &status, &body, NULL, wait_ms);
	EXPECT(rc == -EPIPE, "%s: no RESULT, the worker died (rc %d%s%s)", what, rc,
		body ? ", body: " : "", body ? body : "");
	free(body);
	worker_close(&w);
	wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	CHECK_STR(cause, want, "%s: cause", what);
	check_no_trace(what);
}

static void expect_death(const char *so_name, const struct opts *o, const char *want)
{
	expect_death_within(so_name, o, want, WAIT_MS);
}

static void test_probes(void)
{
	static const struct {
		const char *so, *mode;
	} probes[] = {
		{ "probe_open", NULL },
		{ "probe_socket_inet", NULL },
		{ "probe_socket_unix", NULL },
		{ "probe_connect", NULL },
		{ "probe_execve", NULL },
		{ "probe_fork", "fork" },
		{ "probe_fork", "vfork" },
		{ "probe_fork", "clone" },
		{ "probe_fork", "clone3" },
		{ "probe_ptrace", "attach" },
		{ "probe_ptrace", "traceme" },
		{ "probe_io_uring", NULL },
		{ "probe_mprotect_exec", "mmap" },
		{ "probe_mprotect_exec", "mprotect" },
		{ "probe_mprotect_exec", "pkey" },
		{ "probe_kill_parent", "parent" },
		{ "probe_kill_parent", "gateway" },
		{ "probe_kill_parent", "init" },
		{ "probe_bpf", NULL },
		{ "probe_unshare", NULL },
		{ "probe_perf", NULL },
		{ "probe_write_fd", "0" },
		{ "probe_write_fd", "5" },
		{ "probe_personality", NULL },
		{ "probe_rusage", "children" },
		{ "probe_rusage", "thread" },
	};

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct opts o = { .mode = probes[i].mode };

		expect_death(probes[i].so, &o, "seccomp");
	}
}

/* Spawns, invokes, expects a RESULT; the body is returned (malloc'd) and echoed. */
static char *expect_serve(const char *path, const struct opts *o, const char *what)
{
	struct worker w;
	char cause[96], *body = NULL;
	int status = 0, rc;

	rc = spawn(path, o, &w);
	CHECK_INT(rc, 0, "%s: spawned", what);
	if (rc) {
		return NULL;
	}
	rc = expect_ready(&w, NULL, 0);
	CHECK_INT(rc, 0, "%s: READY", what);
	if (rc == 0) {
		rc = invoke(&w, &status, &body, NULL, WAIT_MS);
		EXPECT(rc == 0 && status == 200, "%s: RESULT 200 (rc %d, status %d)", what, rc,
			status);
	}
	printf("# %s: %s\n", what, body ? body : "(no body)");
	worker_close(&w);
	wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	if (rc == 0) {
		CHECK_STR(cause, "exit 0", "%s: exits 0", what);
	} else {
		printf("# %s: cause %s\n", what, cause);
	}
	return body;
}

/* Everything the supervisor (and its spares) wrote on fd 2 so far. */
static char *captured_stderr(void)
{
	static char buf[65536];
	int fd = open(t.stderr_path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0) {
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* stdout and stderr are the worker's own pipe: writes pass and arrive there, nowhere else. */
static void test_write_output(void)
{
	static const char *const modes[] = { "1", "2", "printf" };

	for (size_t i = 0; i < 3; i++) {
		struct opts o = { .mode = modes[i] };
		char what[64], *body;
		size_t before = worker_output_len;

		snprintf(what, sizeof(what), "probe_write_fd %s", modes[i]);
		body = expect_serve(so("probe_write_fd"), &o, what);
		EXPECT(body && strstr(body, "ok"), "%s: the write succeeds", what);
		EXPECT(strstr(worker_output + before, "forged log line") != NULL,
			"%s: it arrives on the worker's output pipe", what);
		EXPECT(!strstr(captured_stderr(), "forged log line"),
			"%s: nothing reaches the supervisor's (the gateway's) stderr", what);
		free(body);
		check_no_trace(what);
	}
}

/*
 * Handlers that answer the gateway themselves, from init or a constructor, before the serve
 * filter: each says READY, and the supervisor refuses to vouch for it.
 */
static void test_selfserve(void)
{
	static const char *const modes[] = { "rt", "loop", "filter", "ctor" };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct opts o = { .mode = modes[i] };
		struct worker w;
		uint8_t type, *body = NULL;
		char why[128] = "", cause[96];
		size_t len;
		int rc = spawn(so("selfserve"), &o, &w);

		CHECK_INT(rc, 0, "selfserve %s: spawned", modes[i]);
		if (rc) {
			continue;
		}
		rc = read_frame(&w, &type, &body, &len, WAIT_MS);
		EXPECT(rc == 1 && type == FNG_WIRE_READY, "selfserve %s: says READY", modes[i]);
		free(body);
		rc = verify(&w, why, sizeof(why));
		EXPECT(rc != 0 && why[0], "selfserve %s: not verified (%s)", modes[i], why);
		kill(w.pid, SIGKILL);
		worker_close(&w);
		wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	}
	/* The runtime's entry point is not there to be called. */
	EXPECT(strstr(worker_output, "selfserve: fng__rt_serve not found") != NULL,
		"selfserve rt: fng__rt_serve cannot be found from a handler");
}

static void test_net_group(void)
{
	struct opts o = { .groups = FNG_SB_GROUP_NET };
	char *body = expect_serve(so("probe_connect"), &o, "probe_connect (net group)");

	EXPECT(body && strstr(body, "connect: ok"), "net group: connects out");
	CHECK_INT(accepted(t.tcp), 1, "net group: the canary saw the connection");
	free(body);
	o.mode = "bind";
	expect_death("probe_connect", &o, "seccomp");
}

/* Size of the supervisor's (the "gateway's") stderr file. */
static off_t stderr_size(void)
{
	struct stat st;

	return stat(t.stderr_path, &st) == 0 ? st.st_size : -1;
}

static void test_load_time(void)
{
	static const char *kinds[] = { "open", "socket", "connect", "write", "kill", "exec",
		"persona", "memfd", "stderr" };
	static const char *phases[] = { "ctor", "init" };
	static const struct {
		const char *kind, *want;
	} refusals[] = {
		{ "persona", "personality: Operation not permitted" },
		{ "memfd", "memfd_create: Operation not permitted" },
		{ "memfd", "execve ld.so: Operation not permitted" },
		{ "exec", "execve: Operation not permitted" },
		/* fd 2 is the worker's own pipe: no file to truncate, the lines go to it. */
		{ "stderr", "truncate 2: Invalid argument; write 2: ok; write 1: ok" },
	};

	for (size_t p = 0; p < 2; p++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			char name[32];
			char *body;

			off_t before = stderr_size();

			snprintf(name, sizeof(name), "%s_%s", phases[p], kinds[k]);
			body = expect_serve(so(name), NULL, name);
			for (size_t r = 0; r < sizeof(refusals) / sizeof(refusals[0]); r++) {
				if (strcmp(refusals[r].kind, kinds[k]) == 0) {
					EXPECT(body && strstr(body, refusals[r].want),
						"%s: %s", name, refusals[r].want);
				}
			}
			EXPECT(stderr_size() >= before && !strstr(captured_stderr(), "forged by"),
				"%s: the supervisor's stderr is untouched", name);
			EXPECT(body && !strstr(body, SECRET_TEXT) && !strstr(body, SIBLING_TEXT) &&
				!strstr(body, "root:") && !strstr(body, "PATH="),
				"%s: leaked no file content", name);
			EXPECT(body && !strstr(body, "connect: ok") &&
				!strstr(body, "create: ok") &&
				!strstr(body, "kill supervisor: ok") &&
				!strstr(body, "execve: ok") && !strstr(body, "fork: ok") &&
				!strstr(body, "unix socket: ok"),
				"%s: every attempt that could reach out failed", name);
			free(body);
			check_no_trace(name);
		}
	}
}

static void test_refusals(void)
{
	static const struct {
		const char *so, *cause;
	} cases[] = {
		{ "abi_bad", "abi mismatch" },
		{ "init_fail", "init failed" },
		{ "no_desc", "dlopen failed" },
	};
	struct worker w;
	char cause[96];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(spawn(so(cases[i].so), NULL, &w), 0, "%s: spawned", cases[i].so);
		CHECK_INT(expect_ready(&w, NULL, 0), -EPIPE, "%s: no READY", cases[i].so);
		worker_close(&w);
		wait_exit(t.ctl, w.pid, cause, sizeof(cause));
		CHECK_STR(cause, cases[i].cause, "%s: cause", cases[i].so);
	}
	char missing[256];

	snprintf(missing, sizeof(missing), "%s/does-not-exist.so", t.functions);
	CHECK_INT(spawn(missing, NULL, &w), 0, "missing .so: spawned");
	CHECK_INT(expect_ready(&w, NULL, 0), -EPIPE, "missing .so: no READY");
	worker_close(&w);
	wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	CHECK_STR(cause, "dlopen failed", "missing .so: cause");

	CHECK_INT(spawn("relative/path.so", NULL, &w), -EINVAL, "relative so_path: EINVAL");

	/* No descriptor left here to receive the worker's end in: the spawn reports EMFILE. */
	struct rlimit old, low;
	int fillers[64], nfill = 0, rc;

	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 64;
	setrlimit(RLIMIT_NOFILE, &low);
	while (nfill < 64 && (fillers[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		nfill++;
	}
	rc = spawn(so("ok"), NULL, &w);
	while (nfill > 0) {
		close(fillers[--nfill]);
	}
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK_INT(rc, -EMFILE, "descriptor table full: SPAWNED with EMFILE, not a lost reply");
	worker_close(&w);
	struct opts bad_env = { .extra_env = "=no-name" };

	CHECK_INT(spawn(so("ok"), &bad_env, &w), -EINVAL, "env entry without a name: EINVAL");
	EXPECT(supervisor_alive(), "the supervisor survives bad requests");
}

static void test_limits(void)
{
	struct opts mem = { .memory_mb = 64 }, cpu = { .cpu_ms = 1000 };
	struct worker w;
	char cause[96], *body = NULL;
	size_t len = 0;
	int status = 0, rc;
	int64_t t0;

	expect_death("abuse_malloc", &mem, "out of memory");
	t0 = now_ms();
	expect_death_within("abuse_spin", &cpu, "cpu limit", 40000);
	printf("# abuse_spin died after %lld ms\n", (long long)(now_ms() - t0));
	expect_death("abuse_abort", NULL, "SIGABRT");
	expect_death("abuse_segv", NULL, "SIGSEGV");

	/* Sleeping is allowed: the deadline is the gateway's (here: ours) to enforce. */
	EXPECT(spawn(so("abuse_sleep"), NULL, &w) == 0 && expect_ready(&w, NULL, 0) == 0,
		"abuse_sleep: ready");
	rc = invoke(&w, &status, &body, NULL, 300);
	CHECK_INT(rc, -ETIMEDOUT, "abuse_sleep: no answer within 300 ms");
	EXPECT(kill(w.pid, 0) == 0, "abuse_sleep: still alive (nanosleep is allowed)");
	kill(w.pid, SIGKILL);
	wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	CHECK_STR(cause, "SIGKILL", "abuse_sleep: killed by the deadline");
	worker_close(&w);
	free(body);
	body = NULL;

	/* 100 MB of body against the default cap: the frame stays under the cap. */
	EXPECT(spawn(so("abuse_big"), NULL, &w) == 0 && expect_ready(&w, NULL, 0) == 0,
		"abuse_big: ready");
	rc = invoke(&w, &status, &body, &len, WAIT_MS);
	EXPECT(rc == 0 || rc == -EPIPE, "abuse_big: a capped RESULT or a dead worker (rc %d)", rc);
	EXPECT(len <= FNG_WIRE_MAX_DEFAULT, "abuse_big: body %zu bytes, cap %zu", len,
		FNG_WIRE_MAX_DEFAULT);
	printf("# abuse_big: rc %d, status %d, %zu body bytes\n", rc, status, len);
	free(body);
	worker_close(&w);
	wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	printf("# abuse_big: exit cause %s\n", cause);
}

static void test_learn(void)
{
	struct opts o = { .learn = 1 };
	size_t before = worker_output_len;
	char *body = expect_serve(so("probe_open"), &o, "probe_open (learn mode)");
	const char *err = worker_output + before;

	EXPECT(body && strstr(body, "create: Function not implemented"),
		"learn mode: the denied call fails with ENOSYS, the worker goes on");
	EXPECT(strstr(err, "fngate: seccomp would deny openat (nr 257) in probe_open") != NULL,
		"learn mode: the worker's stderr names the syscall");
	free(body);
	check_no_trace("learn mode");
}

static bool gone(pid_t pid, int ms)
{
	int64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			return true;
		}
		usleep(5000);
	}
	return false;
}

/* Reaps pid (a child, or an orphan we are subreaper for) within ms. */
static bool reaped(pid_t pid, int ms)
{
	int64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			return true;
		}
		usleep(5000);
	}
	return false;
}

/*
 * 400 spawns sent before reading any reply: more replies than the control socket holds, so
 * the supervisor must queue them rather than block on us while we block on it.
 */
static void test_burst(void)
{
	enum { N = 400 };
	static struct fng_sb_spawn req;
	static int fds[N];
	static pid_t pids[N];
	int sent = 0, spawned = 0, exited = 0;
	uint32_t first = next_id;
	int64_t t0 = now_ms();

	memset(&req, 0, sizeof(req));
	req.type = FNG_SB_SPAWN;
	snprintf(req.name, sizeof(req.name), "ok");
	snprintf(req.so_path, sizeof(req.so_path), "%s", so("ok"));
	for (int i = 0; i < N; i++) {
		req.id = next_id++;
		sent += fng__sb_send_spawn(t.ctl, &req) == 0;
	}
	for (int i = 0; i < N; i++) {
		struct fng_sb_spawned rep;

		fds[i] = -1;
		if (sb_next(t.ctl, FNG_SB_SPAWNED, first + (uint32_t)i, &rep, &fds[i], NULL, WAIT_MS) ==
			FNG_SB_SPAWNED && rep.err == 0) {
			spawned++;
			pids[i] = rep.pid;
		}
	}
	for (int i = 0; i < N; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
		}
	}
	for (int i = 0; i < N; i++) {
		char cause[96];

		if (fds[i] >= 0) {
			wait_exit(t.ctl, pids[i], cause, sizeof(cause));
			if (strcmp(cause, "exit 0") == 0) {
				exited++;
			} else {
				printf("# burst: worker %d: %s\n", (int)pids[i], cause);
			}
		}
	}
	CHECK_INT(sent, N, "burst: %d requests sent without reading a reply", N);
	CHECK_INT(spawned, N, "burst: %d workers spawned", N);
	CHECK_INT(exited, N, "burst: %d exits reported", N);
	printf("# burst of %d workers: %lld ms\n", N, (long long)(now_ms() - t0));
	EXPECT(supervisor_alive(), "burst: the supervisor is fine");
}

static void test_ctl_close(void)
{
	struct worker a, b;
	int ctl, status, rc;
	pid_t super;
	char *body = NULL;

	rc = fng__supervisor_fork(&ctl, &super);
	CHECK_INT(rc, 0, "second supervisor forked");
	if (rc) {
		return;
	}
	EXPECT(spawn_on(ctl, so("ok"), NULL, &a) == 0 && expect_ready(&a, NULL, 0) == 0,
		"second supervisor: worker a ready");
	EXPECT(spawn_on(ctl, so("abuse_sleep"), NULL, &b) == 0 && expect_ready(&b, NULL, 0) == 0,
		"second supervisor: worker b ready");
	CHECK_INT(invoke(&b, &status, &body, NULL, 100), -ETIMEDOUT, "worker b is busy sleeping");
	close(ctl);
	EXPECT(reaped(super, 1000), "closing ctl: the supervisor exits within 1 s");
	EXPECT(gone(a.pid, 1000) && gone(b.pid, 1000), "closing ctl: its workers are gone");
	worker_close(&a);
	worker_close(&b);
}

/* ---- cgroups ---- */

/*
 * The path of pid's cgroup in the v1 hierarchy that has controller (a "N:cpu,cpuacct:/path"
 * line of /proc/PID/cgroup counts for "cpu"), "" if there is none.
 */
static void cgroup_of(pid_t pid, const char *controller, char *out, size_t size)
{
	char path[64], buf[4096];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(buf, sizeof(buf), f)) {
		char *ctrl = strchr(buf, ':'), *rel = ctrl ? strchr(ctrl + 1, ':') : NULL;
		char *save = NULL;

		if (!rel) {
			continue;
		}
		*rel++ = '\0';
		rel[strcspn(rel, "\n")] = '\0';
		for (char *tok = strtok_r(ctrl + 1, ",", &save); tok;
			tok = strtok_r(NULL, ",", &save)) {
			if (strcmp(tok, controller) == 0) {
				snprintf(out, size, "%s", strcmp(rel, "/") ? rel : "");
			}
		}
	}
	if (f) {
		fclose(f);
	}
}

/* Where the v1 cpu controller is mounted ("" if it is not), from /proc/self/mounts. */
static void cpu_mount(char *out, size_t size)
{
	char line[1024], dir[512], type[64], opts[512];
	FILE *f = fopen("/proc/self/mounts", "re");

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %511s %63s %511s", dir, type, opts) == 3 &&
			strcmp(type, "cgroup") == 0 && (strncmp(opts, "cpu,", 4) == 0 ||
			strstr(opts, ",cpu,") || (strlen(opts) >= 4 &&
			strcmp(opts + strlen(opts) - 4, ",cpu") == 0))) {
			snprintf(out, size, "%s", dir);
		}
	}
	if (f) {
		fclose(f);
	}
}

/* A number from the cpu cgroup file mnt/rel/file ("nr_throttled N" lines: key); -2 if none. */
static long long cpu_value(const char *mnt, const char *rel, const char *file, const char *key)
{
	char path[1024], buf[256];
	long long v = -2;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s/%s", mnt, rel, file);
	f = fopen(path, "re");
	while (f && fgets(buf, sizeof(buf), f)) {
		if (!key) {
			v = atoll(buf);
			break;
		}
		if (strncmp(buf, key, strlen(key)) == 0 && buf[strlen(key)] == ' ') {
			v = atoll(buf + strlen(key) + 1);
			break;
		}
	}
	if (f) {
		fclose(f);
	}
	return v;
}

/* True if pid's cpu cgroup is its own below supervisor super's workers (its path in rel). */
static bool in_own_cpu_cgroup(pid_t super, pid_t pid, char *rel, size_t size)
{
	char want[64];
	size_t len;

	cgroup_of(pid, "cpu", rel, size);
	len = (size_t)snprintf(want, sizeof(want), "/fngate-%d/active/workers/%d", (int)super,
		(int)pid);
	return strlen(rel) >= len && strcmp(rel + strlen(rel) - len, want) == 0;
}

/* Waits up to ms for pid's cpu cgroup to be want; true if it got there. */
static bool await_cpu_cgroup(pid_t pid, const char *want, int ms)
{
	int64_t end = now_ms() + ms;
	char rel[512];

	for (;;) {
		cgroup_of(pid, "cpu", rel, sizeof(rel));
		if (strcmp(rel, want) == 0 || now_ms() >= end) {
			return strcmp(rel, want) == 0;
		}
		usleep(5000);
	}
}

/*
 * The cpu directory supervisor super (forked by this process) made, beside this process's
 * cgroup or, when a supervisor moved this process into its "active/gateway", beside that
 * one's.
 * False without v1 cpu cgroups.
 */
static bool supervisor_cpu_dir(pid_t super, char *out, size_t size)
{
	char mnt[512], own[512];

	cpu_mount(mnt, sizeof(mnt));
	if (!mnt[0] || !strstr(fng__sb_describe(), "(v1 cpu.shares)")) {
		return false;
	}
	cgroup_of(getpid(), "cpu", own, sizeof(own));
	if (strlen(own) > 15 && strcmp(own + strlen(own) - 15, "/active/gateway") == 0) {
		own[strlen(own) - 15] = '\0';
		*strrchr(own, '/') = '\0';
	}
	snprintf(out, size, "%s%s/fngate-%d", mnt, own, (int)super);
	return true;
}

/* The nice value of pid (field 19 of /proc/PID/stat); 99 if unreadable. */
static int nice_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	int nice = 99;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f && fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))) {
		/* ") S ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
		 *  cutime cstime priority nice" */
		if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d"
			" %d", &nice) != 1) {
			nice = 99;
		}
	}
	if (f) {
		fclose(f);
	}
	return nice;
}

/* Kills a worker that may be busy (a spinner never reads its socket's EOF) and reaps it. */
static void kill_worker(struct worker *w)
{
	char cause[96];

	kill(w->pid, SIGKILL);
	worker_close(w);
	wait_exit(t.ctl, w->pid, cause, sizeof(cause));
}

/* Waits up to ms until no cgroup directly below dir holds a task; true if none does. */
static bool tasks_gone(const char *dir, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		DIR *d = opendir(dir);
		struct dirent *e;
		bool busy = false;

		while (d && !busy && (e = readdir(d))) {
			char path[1024], c;
			FILE *f;

			if (e->d_type != DT_DIR || e->d_name[0] == '.') {
				continue;
			}
			snprintf(path, sizeof(path), "%s/%s/cgroup.procs", dir, e->d_name);
			f = fopen(path, "re");
			busy = f && fread(&c, 1, 1, f) == 1;
			if (f) {
				fclose(f);
			}
		}
		if (d) {
			closedir(d);
		}
		if (!busy || now_ms() >= end) {
			return !busy;
		}
		usleep(5000);
	}
}

/* This process's memory cgroup directory ("" if none). */
static void own_memory_cgroup(char *out, size_t size)
{
	char buf[4096], *line;
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0) {
		close(fd);
	}
	out[0] = '\0';
	buf[n > 0 ? n : 0] = '\0';
	line = strstr(buf, ":memory:");
	if (line) {
		line += strlen(":memory:");
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, size, "/sys/fs/cgroup/memory%s", strcmp(line, "/") ? line : "");
	}
}

/*
 * A supervisor killed outright (SIGKILL: no clean-up) takes its workers with it
 * (PR_SET_PDEATHSIG), and the next supervisor removes the cgroup directory it left.
 */
static void test_supervisor_killed(void)
{
	struct opts o = { .memory_mb = 64 };
	char base[512], stale[600], stale_cpu_dir[1100];
	bool stale_cpu;
	struct worker w;
	int ctl, ctl2, rc;
	pid_t super, super2;
	bool was_there, swept;

	own_memory_cgroup(base, sizeof(base));
	if (!strstr(fng__sb_describe(), "cgroup v1") || !base[0]) {
		printf("# supervisor killed: no v1 memory cgroup here, skipped\n");
		return;
	}
	rc = fng__supervisor_fork(&ctl, &super);
	CHECK_INT(rc, 0, "third supervisor forked");
	if (rc) {
		return;
	}
	rc = spawn_on(ctl, so("ok"), &o, &w);
	if (rc == 0) {
		rc = expect_ready(&w, NULL, 0);
	}
	CHECK_INT(rc, 0, "third supervisor: worker ready (in a memory cgroup)");
	snprintf(stale, sizeof(stale), "%s/fngate-%d", base, (int)super);
	stale_cpu = supervisor_cpu_dir(super, stale_cpu_dir, sizeof(stale_cpu_dir));
	kill(super, SIGKILL);
	EXPECT(reaped(super, 1000), "SIGKILL: the supervisor is gone");
	/* Orphaned, the worker comes to us (the subreaper) to be reaped once dead. */
	EXPECT(reaped(w.pid, 1000), "SIGKILL: its worker dies within 1 s (PR_SET_PDEATHSIG)");
	worker_close(&w);
	was_there = access(stale, F_OK) == 0;
	/* Its spare, killed with it, may still be on its way out on a loaded machine. */
	tasks_gone(stale, 2000);
	rc = fng__supervisor_fork(&ctl2, &super2);
	CHECK_INT(rc, 0, "fourth supervisor forked");
	if (rc == 0) {
		/* Its set-up has run once it answers a request. */
		struct opts bad = { .extra_env = "=x" };

		spawn_on(ctl2, so("ok"), &bad, &w);
		close(ctl2);
		reaped(super2, 1000);
	}
	swept = access(stale, F_OK) != 0;
	printf("# stale %s: left %d, swept %d\n", stale, was_there, swept);
	EXPECT(swept, "the next supervisor removes the killed one's cgroup directory");
	if (stale_cpu) {
		/* The killed one had put this process in its "gateway"; the next moved it out. */
		EXPECT(access(stale_cpu_dir, F_OK) < 0,
			"the next supervisor removes the killed one's cpu directory (%s)",
			stale_cpu_dir);
	}
	close(ctl);
}

/* The supervisor's spare (a child named fngate-spare), or -1. */
static pid_t find_spare(pid_t super)
{
	char path[64], buf[16];
	pid_t found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)super, (int)super);
	f = fopen(path, "r");
	if (!f) {
		return -1;
	}
	while (found < 0 && fscanf(f, "%15s", buf) == 1) {
		char comm[64] = "";
		FILE *c;

		snprintf(path, sizeof(path), "/proc/%s/comm", buf);
		c = fopen(path, "r");
		if (c && fgets(comm, sizeof(comm), c) && strcmp(comm, "fngate-spare\n") == 0) {
			found = (pid_t)atoi(buf);
		}
		if (c) {
			fclose(c);
		}
	}
	fclose(f);
	return found;
}

/* base/fngate-<super>/<pid>/file as a number; -1 if it cannot be read. */
static long long cg_value(const char *base, pid_t super, pid_t pid, const char *file)
{
	char path[700], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/fngate-%d/%d/%s", base, (int)super, (int)pid, file);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f) {
			fclose(f);
		}
		return -1;
	}
	fclose(f);
	return atoll(buf);
}

/*
 * The spare: a child the supervisor keeps in its cgroups ahead of need. The next spawn
 * becomes it (same pid), with the request's memory limit set on its cgroup and its
 * precompiled seccomp filter in force; spawns that find no spare ready fork as before, with
 * the same limits.
 */
static void test_spare(void)
{
	struct opts o = { .memory_mb = 48 };
	struct worker w, burst[3];
	char base[512], cause[96], *body = NULL;
	bool cg = strstr(fng__sb_describe(), "cgroup v1") != NULL;
	int status = 0, rc, from_spare = 0;
	pid_t spare = -1;

	own_memory_cgroup(base, sizeof(base));
	cg = cg && base[0];
	/* Ready once it sits in its memory cgroup (it says so right after). */
	for (int i = 0; i < 200; i++) {
		spare = find_spare(t.super);
		if (spare > 0 && (!cg || cg_value(base, t.super, spare, "cgroup.procs") == spare)) {
			break;
		}
		usleep(10000);
	}
	EXPECT(spare > 0, "the supervisor keeps a spare");
	usleep(50000);
	rc = spawn(so("probe_open"), &o, &w);
	CHECK_INT(rc, 0, "spare: spawned");
	if (rc) {
		return;
	}
	CHECK_INT(w.pid, spare, "spare: the worker is the spare (same pid)");
	CHECK_INT(expect_ready(&w, NULL, 0), 0, "spare: READY");
	if (cg) {
		CHECK_INT(cg_value(base, t.super, w.pid, "memory.limit_in_bytes"), 48LL << 20,
			"spare: its memory cgroup holds the request's limit");
	}
	rc = invoke(&w, &status, &body, NULL, WAIT_MS);
	EXPECT(rc == -EPIPE, "spare: probe_open gets no RESULT (rc %d)", rc);
	free(body);
	worker_close(&w);
	wait_exit(t.ctl, w.pid, cause, sizeof(cause));
	CHECK_STR(cause, "seccomp", "spare: probe_open dies of its precompiled filter");
	check_no_trace("spare: probe_open");
	{
		pid_t next = -1;

		/* The supervisor forks the replacement after it handed the old one out. */
		for (int i = 0; i < 200; i++) {
			next = find_spare(t.super);
			if (next > 0 && next != spare) {
				break;
			}
			usleep(10000);
		}
		EXPECT(next > 0 && next != spare, "spare: a new spare replaces it (within 2 s)");
	}

	/* Three at once: the first may take a spare, the others fork. All get their limit. */
	o.memory_mb = 40;
	spare = find_spare(t.super);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(spawn(so("ok"), &o, &burst[i]), 0, "burst %d: spawned", i);
	}
	for (int i = 0; i < 3; i++) {
		CHECK_INT(expect_ready(&burst[i], NULL, 0), 0, "burst %d: READY", i);
		from_spare += burst[i].pid == spare;
		if (cg) {
			CHECK_INT(cg_value(base, t.super, burst[i].pid, "memory.limit_in_bytes"),
				40LL << 20, "burst %d: memory limit", i);
		}
		body = NULL;
		rc = invoke(&burst[i], &status, &body, NULL, WAIT_MS);
		EXPECT(rc == 0 && status == 200, "burst %d: serves (rc %d, status %d)", i, rc,
			status);
		free(body);
	}
	EXPECT(from_spare <= 1, "burst: at most one came from the spare (%d)", from_spare);
	printf("# burst of 3: %d from the spare, %d forked\n", from_spare, 3 - from_spare);
	for (int i = 0; i < 3; i++) {
		worker_close(&burst[i]);
		wait_exit(t.ctl, burst[i].pid, cause, sizeof(cause));
	}
}

/*
 * CPU: the supervisor's cpu directory holds "active", with "gateway", where it moved this
 * process (standing in for the gateway), and "workers", and "busy", idle; every worker sits
 * in a cpu cgroup of its own below "workers", the spare too (so a hand-off writes values, it
 * moves nothing), holding the request's weight (cpu.shares = weight * 1024 / 100); one busy
 * for 40 ms moves into "busy" until it stops; the directory goes when the worker is reaped.
 */
/* The supervisor's spare once it waits in a cpu cgroup of its own (rel: that cgroup). */
static pid_t wait_spare(char *rel, size_t size)
{
	pid_t spare = -1;

	for (int i = 0; i < 200; i++) {
		spare = find_spare(t.super);
		if (spare > 0 && in_own_cpu_cgroup(t.super, spare, rel, size)) {
			break;
		}
		usleep(10000);
	}
	return spare;
}

static void test_cpu(void)
{
	struct opts o = { .cpu_weight = 50 };
	struct worker a, b[2];
	char mnt[512], rel[512], top[512], path[1100], busy[600], *body = NULL;
	pid_t spare = -1;
	int from_spare = 0, status = 0;

	cpu_mount(mnt, sizeof(mnt));
	if (!strstr(fng__sb_describe(), "(v1 cpu.shares)") || !mnt[0]) {
		printf("# cpu: no v1 cpu cgroups here, skipped\n");
		return;
	}
	spare = wait_spare(rel, sizeof(rel));
	EXPECT(spare > 0 && in_own_cpu_cgroup(t.super, spare, rel, sizeof(rel)),
		"cpu: the spare waits in a cpu cgroup of its own (%s)", rel);
	snprintf(top, sizeof(top), "%.*s", (int)(strstr(rel, "/active/workers/") - rel), rel);
	snprintf(busy, sizeof(busy), "%s/busy", top);
	cgroup_of(getpid(), "cpu", path, sizeof(path));
	EXPECT(strlen(path) > strlen(top) && strncmp(path, top, strlen(top)) == 0 &&
		strcmp(path + strlen(top), "/active/gateway") == 0,
		"cpu: the supervisor moved its parent, the gateway, into %s/active/gateway (%s)",
		top, path);
	CHECK_INT(cpu_value(mnt, top, "active/cpu.idle", NULL), 0, "cpu: \"active\" is not idle");
	CHECK_INT(cpu_value(mnt, top, "active/cpu.shares", NULL), 262144,
		"cpu: \"active\" weighs the most there is against \"busy\"");
	CHECK_INT(cpu_value(mnt, top, "busy/cpu.idle", NULL), 1, "cpu: \"busy\" is idle");
	/*
	 * The spare is taken once the supervisor has read that it is ready, a moment after it
	 * moved itself: on a loaded machine that moment can be late and the request forks
	 * instead. Try again with the next spare, a few times.
	 */
	for (int tries = 0;; tries++) {
		usleep(50000 << (tries < 4 ? tries : 4));
		CHECK_INT(spawn(so("abuse_spin"), &o, &a), 0, "cpu: spawned from the spare");
		if (a.pid == spare || tries == 5) {
			break;
		}
		kill_worker(&a);
		spare = wait_spare(rel, sizeof(rel));
	}
	CHECK_INT(a.pid, spare, "cpu: the worker is the spare");
	CHECK_INT(expect_ready(&a, NULL, 0), 0, "cpu: spare path: READY");
	EXPECT(in_own_cpu_cgroup(t.super, a.pid, rel, sizeof(rel)),
		"cpu: spare path: in its own cpu cgroup (%s)", rel);
	CHECK_INT(cpu_value(mnt, rel, "cpu.shares", NULL), 512,
		"cpu: spare path: cpu.shares 512 (weight 50)");
	printf("# cpu cgroup %s%s\n", mnt, rel);

	/* Two at once: the spare (replaced by now) takes one at most, the other forks. */
	o.cpu_weight = 25;
	spare = wait_spare(rel, sizeof(rel));
	for (int i = 0; i < 2; i++) {
		CHECK_INT(spawn(so("abuse_spin"), &o, &b[i]), 0, "cpu: burst %d spawned", i);
	}
	for (int i = 0; i < 2; i++) {
		CHECK_INT(expect_ready(&b[i], NULL, 0), 0, "cpu: burst %d READY", i);
		from_spare += b[i].pid == spare;
		EXPECT(in_own_cpu_cgroup(t.super, b[i].pid, rel, sizeof(rel)),
			"cpu: burst %d in its own cpu cgroup", i);
		CHECK_INT(cpu_value(mnt, rel, "cpu.shares", NULL), 256,
			"cpu: burst %d cpu.shares 256 (weight 25)", i);
	}
	EXPECT(from_spare <= 1, "cpu: at least one of the burst forked (%d from the spare)",
		from_spare);
	kill_worker(&b[0]);
	kill_worker(&b[1]);
	/* The worker spun before it was killed; what remains of it is its directory. */
	snprintf(path, sizeof(path), "%s%s", mnt, rel);
	EXPECT(access(path, F_OK) < 0 && errno == ENOENT,
		"cpu: the cpu cgroup is removed once the worker is reaped");
	kill_worker(&a);

	/* Busy for 40 ms: in "busy"; its invocation over: back in its own cgroup. */
	o.cpu_weight = 6400;
	o.extra_env = "FNG_TEST_SPIN_MS=500";
	CHECK_INT(spawn(so("abuse_spin"), &o, &a), 0, "cpu watch: spawned");
	CHECK_INT(expect_ready(&a, NULL, 0), 0, "cpu watch: READY");
	in_own_cpu_cgroup(t.super, a.pid, rel, sizeof(rel));
	CHECK_INT(cpu_value(mnt, rel, "cpu.shares", NULL), 65536,
		"cpu watch: weight 6400 is cpu.shares 65536");
	EXPECT(send_invoke(&a) == 0, "cpu watch: the worker spins for 500 ms");
	EXPECT(await_cpu_cgroup(a.pid, busy, 400),
		"cpu watch: spinning, it moves into %s within 400 ms", busy);
	EXPECT(read_result(&a, &status, &body, NULL, WAIT_MS) == 0 && status == 200,
		"cpu watch: it answers once done (status %d)", status);
	free(body);
	EXPECT(await_cpu_cgroup(a.pid, rel, 400),
		"cpu watch: asleep again, it is back in its own cgroup %s", rel);
	CHECK_INT(cpu_value(mnt, rel, "cpu.shares", NULL), 65536,
		"cpu watch: which weighs what it did");
	kill_worker(&a);
}

/*
 * cpu_off (`functions.cpu_isolation: false`): the worker gets no cpu cgroup and no nice, like
 * any process; the spare, made for the other mode, is not used for it, and the next spare
 * is made without a cpu cgroup; a request with a CPU policy again gets one (and the spare).
 */
static void test_cpu_off(void)
{
	struct opts off = { .cpu_off = 1 };
	struct worker w, on;
	char mnt[512], rel[512], own[512];
	pid_t spare = -1, next = -1;

	cpu_mount(mnt, sizeof(mnt));
	if (!strstr(fng__sb_describe(), "(v1 cpu.shares)") || !mnt[0]) {
		printf("# cpu off: no v1 cpu cgroups here, skipped\n");
		return;
	}
	cgroup_of(t.super, "cpu", own, sizeof(own));
	spare = wait_spare(rel, sizeof(rel));
	CHECK_INT(spawn(so("ok"), &off, &w), 0, "cpu off: spawned");
	CHECK_INT(expect_ready(&w, NULL, 0), 0, "cpu off: READY");
	EXPECT(w.pid != spare, "cpu off: not the spare, which sits in a cpu cgroup");
	cgroup_of(w.pid, "cpu", rel, sizeof(rel));
	CHECK_STR(rel, own, "cpu off: the worker stays in the supervisor's cpu cgroup");
	CHECK_INT(nice_of(w.pid), 0, "cpu off: nice 0");
	for (int i = 0; i < 200; i++) {
		next = find_spare(t.super);
		if (next > 0 && next != spare) {
			break;
		}
		usleep(10000);
	}
	usleep(50000);
	cgroup_of(next, "cpu", rel, sizeof(rel));
	EXPECT(next > 0 && next != spare && strcmp(rel, own) == 0,
		"cpu off: the next spare is made without a cpu cgroup (%s)", rel);
	CHECK_INT(spawn(so("ok"), NULL, &on), 0, "cpu on again: spawned");
	CHECK_INT(expect_ready(&on, NULL, 0), 0, "cpu on again: READY");
	EXPECT(on.pid != next && in_own_cpu_cgroup(t.super, on.pid, rel, sizeof(rel)),
		"cpu on again: forked into a cpu cgroup of its own, not the cgroup-less spare");
	CHECK_INT(cpu_value(mnt, rel, "cpu.shares", NULL), 1024,
		"cpu on again: weight 0 means 100, cpu.shares 1024");
	kill_worker(&w);
	kill_worker(&on);
}

/*
 * Without a cpu controller (hidden here by a tmpfs over its mount, in a mount namespace of
 * this process's own: the last test), a new supervisor's workers lower their own priority:
 * nice FNG_WORKER_NICE for the process and for its autogroup (its session).
 */
static void test_cpu_fallback(void)
{
	char mnt[512], path[64], buf[128] = "";
	struct worker w;
	int ctl, rc;
	pid_t super;
	FILE *f;

	cpu_mount(mnt, sizeof(mnt));
	if (geteuid() != 0 || !mnt[0] || unshare(CLONE_NEWNS) < 0 ||
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		mount("fngate-nocpu", mnt, "tmpfs", 0, NULL) < 0) {
		printf("# cpu fallback: cannot hide the cpu controller here, skipped\n");
		return;
	}
	rc = fng__supervisor_fork(&ctl, &super);
	CHECK_INT(rc, 0, "cpu fallback: a supervisor without a cpu controller");
	if (rc) {
		return;
	}
	rc = spawn_on(ctl, so("ok"), NULL, &w);
	if (rc == 0) {
		rc = expect_ready(&w, NULL, 0);
	}
	CHECK_INT(rc, 0, "cpu fallback: worker ready");
	CHECK_INT(nice_of(w.pid), 10, "cpu fallback: the worker runs at nice 10");
	snprintf(path, sizeof(path), "/proc/%d/autogroup", (int)w.pid);
	f = fopen(path, "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f)) {
			buf[0] = '\0';
		}
		fclose(f);
		EXPECT(strstr(buf, " nice 10") != NULL,
			"cpu fallback: so does its autogroup (%.*s)", (int)strcspn(buf, "\n"), buf);
	}
	worker_close(&w);
	close(ctl);
	EXPECT(reaped(super, 2000), "cpu fallback: the supervisor exits");
	reaped(w.pid, 1000);
}

/* A "gateway" process that starts a supervisor and a worker, then gets SIGKILLed. */
static void test_gateway_kill(void)
{
	int pfd[2];
	pid_t pids[2] = { -1, -1 }, gw;
	char path[1100];

	if (pipe(pfd) < 0) {
		EXPECT(0, "pipe");
		return;
	}
	gw = fork();
	if (gw == 0) {
		struct worker w;
		int ctl;
		pid_t super;

		close(pfd[0]);
		if (fng__supervisor_fork(&ctl, &super) == 0 &&
			spawn_on(ctl, so("ok"), NULL, &w) == 0 && expect_ready(&w, NULL, 0) == 0) {
			pids[0] = super;
			pids[1] = w.pid;
		}
		if (write(pfd[1], pids, sizeof(pids)) < 0) {
			_exit(1);
		}
		pause();
		_exit(0);
	}
	close(pfd[1]);
	EXPECT(read(pfd[0], pids, sizeof(pids)) == sizeof(pids) && pids[0] > 0 && pids[1] > 0,
		"gateway process: supervisor and worker up");
	close(pfd[0]);
	kill(gw, SIGKILL);
	waitpid(gw, NULL, 0);
	if (pids[0] > 0) {
		/* This process is the subreaper: the orphaned supervisor comes back to us. */
		EXPECT(reaped(pids[0], 1000), "gateway killed: the supervisor exits within 1 s");
		EXPECT(gone(pids[1], 1000), "gateway killed: the worker is gone within 1 s");
	}
	/* The gateway was in it: its exit has to be through before the directory goes. */
	if (pids[0] > 0 && supervisor_cpu_dir(pids[0], path, sizeof(path))) {
		EXPECT(access(path, F_OK) < 0, "gateway killed: the supervisor removed %s", path);
	}
}

/* Bytes in /proc/pid/file (-1 if unreadable), or with needle: > 0 if found, -1 if not. */
static ssize_t file_text(pid_t pid, const char *file, const char *needle)
{
	char path[64], buf[8192];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0) {
		close(fd);
	}
	if (n < 0 || !needle) {
		return n;
	}
	buf[n] = '\0';
	return strstr(buf, needle) ? 1 : -1;
}

/* What a gateway running as an unprivileged user (uid 65534) saw of its own sandbox. */
struct unpriv {
	char describe[1024];
	int ok_rc, ok_status;
	char ok_body[64];
	char uid[64], capeff[32], nnp[8], seccomp[8];
	bool own_userns, own_netns;
	char probe_cause[96];
	int ctor_rc;
	char ctor_body[1024];
};

static void unpriv_child(int out)
{
	struct unpriv r = { 0 };
	struct worker w;
	char *body = NULL;
	int ctl, status = 0;
	pid_t super;

	if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		setresuid(65534, 65534, 65534) < 0) {
		_exit(1);
	}
	snprintf(r.describe, sizeof(r.describe), "%s", fng__sb_describe());
	if (fng__supervisor_fork(&ctl, &super) < 0) {
		_exit(2);
	}
	r.ok_rc = spawn_on(ctl, so("ok"), NULL, &w);
	if (r.ok_rc == 0) {
		r.ok_rc = expect_ready(&w, NULL, 0);
	}
	if (r.ok_rc == 0) {
		proc_field(w.pid, "status", "Uid:", r.uid, sizeof(r.uid));
		proc_field(w.pid, "status", "CapEff:", r.capeff, sizeof(r.capeff));
		proc_field(w.pid, "status", "NoNewPrivs:", r.nnp, sizeof(r.nnp));
		proc_field(w.pid, "status", "Seccomp:", r.seccomp, sizeof(r.seccomp));
		/* Non-dumpable, it hides its ns links from us; these files still tell. */
		r.own_userns = file_text(w.pid, "uid_map", NULL) == 0;
		r.own_netns = file_text(w.pid, "net/dev", "eth") < 0 &&
			file_text(w.pid, "net/dev", "lo:") > 0;
		r.ok_rc = invoke(&w, &status, &body, NULL, WAIT_MS);
		r.ok_status = status;
		snprintf(r.ok_body, sizeof(r.ok_body), "%s", body ? body : "");
		free(body);
		body = NULL;
	}
	worker_close(&w);
	wait_exit(ctl, w.pid, r.probe_cause, sizeof(r.probe_cause));

	if (spawn_on(ctl, so("probe_open"), NULL, &w) == 0 && expect_ready(&w, NULL, 0) == 0 &&
		invoke(&w, &status, &body, NULL, WAIT_MS) == -EPIPE) {
		wait_exit(ctl, w.pid, r.probe_cause, sizeof(r.probe_cause));
	} else {
		snprintf(r.probe_cause, sizeof(r.probe_cause), "(probe_open did not die)");
	}
	free(body);
	body = NULL;
	worker_close(&w);

	r.ctor_rc = spawn_on(ctl, so("ctor_open"), NULL, &w);
	if (r.ctor_rc == 0) {
		r.ctor_rc = expect_ready(&w, NULL, 0);
	}
	if (r.ctor_rc == 0) {
		r.ctor_rc = invoke(&w, &status, &body, NULL, WAIT_MS);
	}
	snprintf(r.ctor_body, sizeof(r.ctor_body), "%s", body ? body : "");
	free(body);
	worker_close(&w);
	close(ctl);
	waitpid(super, NULL, 0);
	if (write(out, &r, sizeof(r)) != sizeof(r)) {
		_exit(3);
	}
	_exit(0);
}

/* The same sandbox set up by an unprivileged gateway: a user namespace instead of setuid. */
static void test_unprivileged(void)
{
	static struct unpriv r;
	int pfd[2];
	pid_t pid;
	ssize_t n;

	if (geteuid() != 0) {
		printf("# unprivileged: already not root; the cases above covered it\n");
		return;
	}
	if (pipe(pfd) < 0) {
		EXPECT(0, "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		unpriv_child(pfd[1]);
	}
	close(pfd[1]);
	n = read(pfd[0], &r, sizeof(r));
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	CHECK_INT(n, sizeof(r), "unprivileged gateway: reported back");
	if (n != sizeof(r)) {
		return;
	}
	printf("# unprivileged: %s\n", r.describe);
	printf("# unprivileged worker: Uid %s, CapEff %s; ctor_open: %s\n", r.uid, r.capeff,
		r.ctor_body);
	EXPECT(strstr(r.describe, "user+net+ipc namespaces") != NULL,
		"unprivileged: workers get a user namespace");
	CHECK_INT(r.ok_rc, 0, "unprivileged: ok.so serves");
	CHECK_INT(r.ok_status, 200, "unprivileged: status 200");
	CHECK_STR(r.ok_body, "ok", "unprivileged: body");
	EXPECT(r.own_userns && r.own_netns, "unprivileged: own user and network namespaces");
	CHECK_STR(r.capeff, "0000000000000000", "unprivileged: no capabilities in it");
	CHECK_STR(r.nnp, "1", "unprivileged: no_new_privs");
	CHECK_STR(r.seccomp, "2", "unprivileged: seccomp");
	CHECK_STR(r.probe_cause, "seccomp", "unprivileged: probe_open dies of seccomp");
	CHECK_INT(r.ctor_rc, 0, "unprivileged: ctor_open serves");
	EXPECT(!strstr(r.ctor_body, SECRET_TEXT) && !strstr(r.ctor_body, SIBLING_TEXT) &&
		strstr(r.ctor_body, "Permission denied"),
		"unprivileged: the constructor read nothing (Landlock; the files are "
		"world-readable)");
	check_no_trace("unprivileged");
}

/* ---- set-up ---- */

static int listen_tcp(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0 ||
		getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int listen_unix(const char *path, bool abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (abstract) {
		memcpy(sa.sun_path + 1, path, strlen(path));
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
	} else {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 16) < 0) {
		return -1;
	}
	if (!abstract) {
		chmod(path, 0777);
	}
	return fd;
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0) {
			perror(path);
		}
		close(fd);
	}
}

static int setup(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	int err;

	snprintf(t.dir, sizeof(t.dir), "/tmp/fngate-sandbox-XXXXXX");
	if (!mkdtemp(t.dir)) {
		return -1;
	}
	/* World-accessible: only the sandbox may keep a worker (uid 65534) out. */
	chmod(t.dir, 0777);
	snprintf(t.functions, sizeof(t.functions), "%s/functions", t.dir);
	mkdir(t.functions, 0777);
	chmod(t.functions, 0777);
	snprintf(t.probe_file, sizeof(t.probe_file), "%s/created-by-a-probe", t.dir);
	snprintf(t.secret, sizeof(t.secret), "%s/secret.txt", t.dir);
	snprintf(t.sibling, sizeof(t.sibling), "%s/other.yaml", t.functions);
	snprintf(t.unix_path, sizeof(t.unix_path), "%s/canary.sock", t.dir);
	snprintf(t.abstract, sizeof(t.abstract), "fngate-canary-%d", (int)getpid());
	snprintf(t.stderr_path, sizeof(t.stderr_path), "%s/stderr", t.dir);
	write_text(t.secret, SECRET_TEXT "\n");
	write_text(t.sibling, "env:\n  TOKEN: " SIBLING_TEXT "\n");
	t.tcp = listen_tcp(&t.port);
	t.unix_sock = listen_unix(t.unix_path, false);
	t.abstract_sock = listen_unix(t.abstract, true);
	if (t.tcp < 0 || t.unix_sock < 0 || t.abstract_sock < 0) {
		return -1;
	}
	t.env_len = 0;
	append_env(t.env, &t.env_len, sizeof(t.env), "FNG_PROBE_FILE=%s", t.probe_file);
	append_env(t.env, &t.env_len, sizeof(t.env), "FNG_PROBE_SECRET=%s", t.secret);
	append_env(t.env, &t.env_len, sizeof(t.env), "FNG_PROBE_SIBLING=%s", t.sibling);
	append_env(t.env, &t.env_len, sizeof(t.env), "FNG_PROBE_PORT=%d", t.port);
	append_env(t.env, &t.env_len, sizeof(t.env), "FNG_PROBE_UNIX=%s", t.unix_path);
	append_env(t.env, &t.env_len, sizeof(t.env), "FNG_PROBE_ABSTRACT=%s", t.abstract);
	append_env(t.env, &t.env_len, sizeof(t.env), "FNG_PROBE_PID=%d", (int)getpid());
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	/* Workers inherit fd 2 from the supervisor: capture it in a file. */
	t.saved_stderr = dup(STDERR_FILENO);
	int fd = open(t.stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
		return -1;
	}
	close(fd);
	err = fng__supervisor_fork(&t.ctl, &t.super);
	return err;
}

static void teardown(void)
{
	const char *err;

	close(t.ctl);
	EXPECT(reaped(t.super, 2000), "the supervisor exits when the control socket closes");
	kill(t.super, SIGKILL);
	waitpid(t.super, NULL, WNOHANG);
	/*
	 * Orphans come to us as subreaper (workers and spares of the supervisors killed above):
	 * every one must have died, so that we soon have no child at all.
	 */
	bool none = false;

	for (int i = 0; i < 200 && !none; i++) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		none = pid < 0 && errno == ECHILD;
		if (pid == 0) {
			usleep(10000);
		}
	}
	EXPECT(none, "no process left behind");

	dup2(t.saved_stderr, STDERR_FILENO);
	close(t.saved_stderr);
	err = captured_stderr();
	for (const char *line = err; *line;) {
		size_t len = strcspn(line, "\n");

		printf("# stderr: %.*s\n", (int)len, line);
		line += len + (line[len] == '\n');
	}
	close(t.tcp);
	close(t.unix_sock);
	close(t.abstract_sock);
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t.dir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", t.dir);
	}
}

int main(void)
{
	int64_t t0 = now_ms();

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "vgpreload")) {
		/* Valgrind's JIT needs executable memory and its own system calls: no seccomp. */
		printf("1..0 # SKIP workers cannot run under valgrind\n");
		return 0;
	}
	if (strstr(fng__sb_describe(), "NO SECCOMP")) {
		printf("1..0 # SKIP built with -Dseccomp=disabled: %s\n", fng__sb_describe());
		return 0;
	}
	if (setup() < 0) {
		printf("Bail out! set-up failed: %s\n", strerror(errno));
		return 1;
	}
	test_describe();
	test_ok();
	test_evidence();
	test_cold_start();
	test_probes();
	test_write_output();
	test_selfserve();
	test_net_group();
	test_load_time();
	test_refusals();
	test_limits();
	test_learn();
	test_unprivileged();
	test_burst();
	test_spare();
	test_cpu();
	test_cpu_off();
	test_ctl_close();
	test_supervisor_killed();
	test_gateway_kill();
	test_cpu_fallback();
	teardown();
	printf("# %lld ms\n", (long long)(now_ms() - t0));
	return fng_test_done();
}
