// SPDX-License-Identifier: MIT
/*
 * `fngate invoke` and `fngate new`: the function developer's commands. invoke runs a
 * handler once, in the same sandbox as `serve` (a supervisor, a confined worker, the same
 * wire), with an API Gateway HTTP API (payload 2.0) event read from JSON — like
 * `sam local invoke` — and prints the response as JSON. new writes a handler to start from
 * and its test (fngate_test.h, gateway/harness).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "event_json.h"
#include "frames.h"
#include "config.h"
#include "sandbox.h"
#include "wire.h"

/* ---- talking to the worker ---- */

/* The read end of the worker's stdout/stderr pipe: copied to our stderr as it comes. */
static int worker_out = -1;

/* Copies what the worker wrote to its stdout/stderr to ours; closes the pipe at its end. */
static void forward_output(void)
{
	char buf[4096];
	ssize_t n;

	while (worker_out >= 0 && (n = read(worker_out, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN) {
				return;
			}
			break;
		}
		if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
			break;
		}
	}
	if (worker_out >= 0) {
		close(worker_out);
		worker_out = -1;
	}
}

/* The wait before each read of the worker's socket: its output copied meanwhile, a deadline. */
struct wait_state {
	int fd;
	int64_t end_ms; /* CLOCK_MONOTONIC */
};

static int wait_worker(void *arg)
{
	struct wait_state *ws = arg;
	struct pollfd p[2] = { { .fd = ws->fd, .events = POLLIN },
		{ .fd = worker_out, .events = POLLIN } };
	struct timespec now;
	int64_t left;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left = ws->end_ms - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	r = left <= 0 ? 0 : poll(p, 2, (int)left);
	if (r == 0) {
		return -ETIMEDOUT;
	}
	if (r < 0) {
		return errno == EINTR ? 1 : -errno;
	}
	if (p[1].revents) {
		forward_output();
	}
	return p[0].revents & (POLLIN | POLLHUP | POLLERR) ? 0 : 1;
}

static int read_frame(int fd, struct fng_wire_buf *in, int timeout_ms, uint8_t *type,
	const uint8_t **body, size_t *blen, size_t *used)
{
	struct wait_state ws = { .fd = fd };
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ws.end_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + timeout_ms;
	return fng__frames_next(fd, in, wait_worker, &ws, type, body, blen, used);
}

/* Waits for the supervisor's report on pid and prints its cause. */
static void report_exit(int ctl, pid_t pid)
{
	union fng_sb_reply m;

	for (int i = 0; i < 20; i++) {
		struct pollfd p = { .fd = ctl, .events = POLLIN };
		int fd = -1, t;

		if (poll(&p, 1, 100) <= 0) {
			continue;
		}
		t = fng__sb_recv(ctl, &m, sizeof(m), &fd, NULL);
		if (fd >= 0) {
			close(fd);
		}
		if (t == FNG_SB_EXIT && m.exit.pid == pid) {
			forward_output();
			fprintf(stderr, "fngate invoke: worker exited: %.*s\n",
				(int)sizeof(m.exit.cause), m.exit.cause);
			return;
		}
		if (t <= 0) {
			return;
		}
	}
	fprintf(stderr, "fngate invoke: worker exited\n");
}

/*
 * The result as API Gateway would return it for an event of this shape; an authorizer's, its
 * decision. 0, or 1 for a failure (said on stderr for an authorizer without a decision).
 */
static int print_result(const struct fng_wire_result *r, enum fng_event_shape shape)
{
	bool authz = shape == FNG_SHAPE_AUTHORIZER && !r->failed;
	json_t *o = authz ? fng__json_authorizer_answer(r) : fng__json_response(r, shape);
	char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	if (s) {
		printf("%s\n", s);
		free(s);
	} else if (authz && r->authz.decision == FNG_WIRE_AUTHZ_NONE) {
		fprintf(stderr, "fngate invoke: the authorizer answered no decision (allow or "
			"deny): the gateway would answer 500\n");
	} else {
		fprintf(stderr, "fngate invoke: out of memory\n");
	}
	json_decref(o);
	return r->failed || !s ? 1 : 0;
}

int fng__cli_invoke(int argc, char **argv)
{
	const char *target = NULL, *event_path = NULL;
	struct fng_fn_limits limits;
	struct fng_buf errors = { 0 };
	char so[PATH_MAX], manifest[PATH_MAX], *dot;
	char traceparent[56]; /* FNG_TRACEPARENT_LEN and its NUL */
	struct fng_sb_spawn *sp = NULL;
	struct fng_wire_buf in = { 0 }, out = { 0 };
	struct fng_json_event *je = NULL;
	const char *why;
	json_t *root = NULL;
	json_error_t jerr;
	union fng_sb_reply m;
	int ctl = -1, fd = -1, rc = 1, err;
	pid_t sup = -1, wpid = -1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--event") && i + 1 < argc) {
			event_path = argv[++i];
		} else if (!target && argv[i][0] != '-') {
			target = argv[i];
		} else {
			fprintf(stderr, "usage: fngate invoke NAME|PATH.so --event EVENT.json\n");
			return 2;
		}
	}
	if (!target || !event_path) {
		fprintf(stderr, "usage: fngate invoke NAME|PATH.so --event EVENT.json\n");
		return 2;
	}
	/* NAME means functions/NAME.so; anything ending in .so is a path. */
	if (strlen(target) > 3 && !strcmp(target + strlen(target) - 3, ".so")) {
		snprintf(so, sizeof(so), "%s", target);
	} else {
		snprintf(so, sizeof(so), "functions/%s.so", target);
	}
	if (!realpath(so, manifest)) {
		fprintf(stderr, "fngate invoke: %s: %s\n", so, strerror(errno));
		return 1;
	}
	snprintf(so, sizeof(so), "%s", manifest);
	dot = strrchr(manifest, '.');
	snprintf(dot, sizeof(manifest) - (size_t)(dot - manifest), ".yaml");
	if (fng__manifest_load(manifest, NULL, NULL, &limits, &errors)) {
		fwrite(errors.p, 1, errors.len, stderr);
		fng__buf_finish(&errors);
		return 1;
	}
	fng__buf_finish(&errors);
	root = json_load_file(event_path, 0, &jerr);
	if (!root) {
		fprintf(stderr, "%s:%d:%d: %s\n", event_path, jerr.line, jerr.column, jerr.text);
		return 1;
	}
	je = calloc(1, sizeof(*je));
	sp = calloc(1, sizeof(*sp));
	if (!je || !sp) {
		goto out;
	}
	if (fng__json_event_from(root, je, &why)) {
		fprintf(stderr, "%s: %s\n", event_path, why);
		goto out;
	}
	je->ev.deadline_epoch_ms = je->ev.time_epoch_ms + limits.timeout_ms;
	fng__json_event_trace(&je->ev, traceparent);
	err = fng__wire_encode_invoke(&out, &je->ev);
	if (err) {
		fprintf(stderr, "fngate invoke: %s\n", err == -EMSGSIZE ?
			"event too large (over the wire's limits, sdk/wire_limits.h)" :
			err == -ENOMEM ? "out of memory" : "the event cannot be encoded");
		goto out;
	}
	if (fng__supervisor_fork(&ctl, &sup)) {
		fprintf(stderr, "fngate invoke: cannot start the supervisor\n");
		goto out;
	}
	sp->type = FNG_SB_SPAWN;
	sp->id = 1;
	sp->memory_mb = limits.memory_mb;
	sp->cpu_ms = limits.cpu_ms;
	sp->groups = limits.groups;
	sp->learn = limits.learn;
	sp->max_body = FNG_WIRE_MAX_DEFAULT;
	snprintf(sp->name, sizeof(sp->name), "%s", target);
	snprintf(sp->so_path, sizeof(sp->so_path), "%s", so);
	memcpy(sp->env, limits.env, sizeof(sp->env));
	if (fng__sb_send_spawn(ctl, sp) ||
		fng__sb_recv(ctl, &m, sizeof(m), &fd, &worker_out) != FNG_SB_SPAWNED ||
		m.spawned.err || fd < 0) {
		fprintf(stderr, "fngate invoke: cannot start a worker\n");
		goto out;
	}
	fcntl(worker_out, F_SETFL, O_NONBLOCK);
	wpid = m.spawned.pid;
	{
		uint8_t type;
		const uint8_t *body;
		size_t blen, used;
		ssize_t w;
		size_t off = 0;

		err = read_frame(fd, &in, 10000, &type, &body, &blen, &used);
		if (err || type != FNG_WIRE_READY) {
			fprintf(stderr, "fngate invoke: %s did not start\n", so);
			report_exit(ctl, wpid);
			goto out;
		}
		fng__frames_consume(&in, used);
		while (off < out.len) {
			w = write(fd, out.p + off, out.len - off);
			if (w <= 0) {
				break;
			}
			off += (size_t)w;
		}
		for (;;) {
			err = read_frame(fd, &in, (int)limits.timeout_ms, &type, &body, &blen, &used);
			if (err == -ETIMEDOUT) {
				kill(wpid, SIGKILL);
				fprintf(stderr, "fngate invoke: timeout after %u ms\n", limits.timeout_ms);
				goto out;
			}
			if (err) {
				report_exit(ctl, wpid);
				goto out;
			}
			if (type == FNG_WIRE_LOG) {
				int level;
				struct fng_wire_str msg;
				void *h = NULL;

				if (fng__wire_decode_log(body, blen, &level, &msg, &h) == 0) {
					fprintf(stderr, "log: %.*s\n", (int)msg.len, msg.p);
				}
				fng__wire_free(h);
			} else if (type == FNG_WIRE_RESULT) {
				struct fng_wire_result r;
				void *h = NULL;

				if (fng__wire_decode_result(body, blen, &r, &h)) {
					fprintf(stderr, "fngate invoke: malformed result\n");
					goto out;
				}
				rc = print_result(&r, je->shape);
				if (r.cost.set) {
					/* Lambda's REPORT line, beside the response (stdout stays JSON). */
					fprintf(stderr, "report: cpu %llu us, max memory %llu KiB\n",
						(unsigned long long)r.cost.cpu_us,
						(unsigned long long)r.cost.max_rss_kb);
				}
				fng__wire_free(h);
				break;
			} else {
				fprintf(stderr, "fngate invoke: unexpected frame %u\n", type);
				goto out;
			}
			fng__frames_consume(&in, used);
		}
	}
out:
	forward_output();
	if (fd >= 0) {
		close(fd);
	}
	if (ctl >= 0) {
		close(ctl); /* the supervisor kills the worker and exits */
		waitpid(sup, NULL, 0);
	}
	fng__wire_buf_finish(&in);
	fng__wire_buf_finish(&out);
	if (je) {
		fng__json_event_finish(je);
	}
	json_decref(root);
	free(je);
	free(sp);
	return rc;
}

/* What `fngate new NAME` writes, with every @NAME@ replaced by NAME. */
static const char scaffold[] =
	"// A fngate handler. Build and deploy:\n"
	"//\n"
	"//     cc -shared -fPIC -o @NAME@.so @NAME@.c $(pkg-config --cflags --libs fngate)\n"
	"//     cp @NAME@.so functions/\n"
	"//\n"
	"// Test it: @NAME@_test.c.\n"
	"//\n"
	"// Route to it in the config:\n"
	"//\n"
	"//     \"GET /@NAME@/{name}\":\n"
	"//       integration: { type: function, function: @NAME@ }\n"
	"#include <fngate.h>\n"
	"\n"
	"static int init(void)\n"
	"{\n"
	"\t/* Runs once per worker before the sandbox locks: open what you need here. */\n"
	"\treturn 0;\n"
	"}\n"
	"\n"
	"static int handle(struct fng_ctx *ctx)\n"
	"{\n"
	"\tconst char *name = fng_event_path_param(ctx, \"name\");\n"
	"\n"
	"\tfng_log(ctx, FNG_LOG_INFO, \"hello from %s\", fng_event_request_id(ctx));\n"
	"\treturn fng_response_json(ctx, 200, \"{\\\"hello\\\":\\\"%s\\\"}\\n\",\n"
	"\t\tfng_json_str(ctx, name ? name : \"world\"));\n"
	"}\n"
	"\n"
	"FNG_HANDLER_EX(handle, init, NULL)\n";

static const char scaffold_test[] =
	"// Tests of @NAME@.c through fngate's test harness (fngate_test.h): the handler runs as\n"
	"// in a worker, minus the sandbox. Build the handler, then this, and run it; it prints\n"
	"// TAP and exits non-zero when a check fails:\n"
	"//\n"
	"//     cc -shared -fPIC -o @NAME@.so @NAME@.c $(pkg-config --cflags --libs fngate)\n"
	"//     cc -o @NAME@_test @NAME@_test.c $(pkg-config --cflags --libs fngate-test)\n"
	"//     ./@NAME@_test\n"
	"#include <stdio.h>\n"
	"\n"
	"#include <fngate_test.h>\n"
	"\n"
	"/* GET path, with the route's name parameter unless name is NULL. */\n"
	"static struct fng_test_result *get(struct fng_test *t, const char *path,\n"
	"\tconst char *name)\n"
	"{\n"
	"\tstruct fng_test_event *ev = fng_test_event_http(\"GET\", path);\n"
	"\tstruct fng_test_result *r;\n"
	"\n"
	"\tfng_test_event_set(ev, FNG_TEST_ROUTE_KEY, \"GET /@NAME@/{name}\");\n"
	"\tfng_test_event_set(ev, FNG_TEST_REQUEST_ID, \"req-1\");\n"
	"\tif (name) {\n"
	"\t\tfng_test_event_add(ev, FNG_TEST_PATH_PARAM, \"name\", name);\n"
	"\t}\n"
	"\tr = fng_test_invoke(t, ev);\n"
	"\tif (!r) {\n"
	"\t\tprintf(\"# %s\\n\", fng_test_error(t));\n"
	"\t}\n"
	"\tfng_test_event_free(ev);\n"
	"\treturn r;\n"
	"}\n"
	"\n"
	"int main(void)\n"
	"{\n"
	"\tchar err[256];\n"
	"\tstruct fng_test *t = fng_test_load(\"./@NAME@.so\", err, sizeof(err));\n"
	"\tstruct fng_test_result *r;\n"
	"\n"
	"\tif (!fng_test_check(t != NULL, \"load @NAME@.so\")) {\n"
	"\t\tprintf(\"# %s\\n\", err);\n"
	"\t\treturn fng_test_check_end();\n"
	"\t}\n"
	"\n"
	"\tr = get(t, \"/@NAME@/ada\", \"ada\");\n"
	"\tfng_test_check_int(fng_test_status(r), 200, \"GET /@NAME@/ada: 200\");\n"
	"\tfng_test_check_str(fng_test_header(r, \"content-type\"), \"application/json\",\n"
	"\t\t\"GET /@NAME@/ada: JSON\");\n"
	"\tfng_test_check_str(fng_test_body(r, NULL), \"{\\\"hello\\\":\\\"ada\\\"}\\n\",\n"
	"\t\t\"GET /@NAME@/ada: greets ada\");\n"
	"\tfng_test_check_str(fng_test_log(r, 0, NULL), \"hello from req-1\",\n"
	"\t\t\"GET /@NAME@/ada: logs the request id\");\n"
	"\tfng_test_result_free(r);\n"
	"\n"
	"\tr = get(t, \"/@NAME@\", NULL);\n"
	"\tfng_test_check_str(fng_test_body(r, NULL), \"{\\\"hello\\\":\\\"world\\\"}\\n\",\n"
	"\t\t\"no name: greets the world\");\n"
	"\tfng_test_result_free(r);\n"
	"\n"
	"\tfng_test_close(t);\n"
	"\treturn fng_test_check_end();\n"
	"}\n";

/*
 * Writes tmpl with @NAME@ replaced by name to a new file at path (O_EXCL: an existing file is
 * never overwritten). 0, or -1 with the reason on stderr.
 */
static int write_template(const char *path, const char *tmpl, const char *name)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	const char *p, *at;
	FILE *f;
	int bad;

	if (fd < 0) {
		fprintf(stderr, "fngate new: %s: %s\n", path, strerror(errno));
		return -1;
	}
	f = fdopen(fd, "w");
	if (!f) {
		fprintf(stderr, "fngate new: %s: %s\n", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	for (p = tmpl; (at = strstr(p, "@NAME@")) != NULL; p = at + 6) {
		fwrite(p, 1, (size_t)(at - p), f);
		fputs(name, f);
	}
	fputs(p, f);
	bad = ferror(f);
	if (fclose(f) || bad) {
		fprintf(stderr, "fngate new: %s: write failed\n", path);
		unlink(path);
		return -1;
	}
	return 0;
}

int fng__cli_new(int argc, char **argv)
{
	char path[PATH_MAX], test_path[PATH_MAX];
	const char *name = argc == 2 ? argv[1] : NULL;

	if (!name || !fng__config_name_ok(name)) {
		fprintf(stderr, "usage: fngate new NAME   (NAME: [A-Za-z0-9_-]+)\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s.c", name);
	snprintf(test_path, sizeof(test_path), "%s_test.c", name);
	if (write_template(path, scaffold, name)) {
		return 1;
	}
	/* Both or neither: NAME.c was ours a moment ago, so it goes if its test cannot be made. */
	if (write_template(test_path, scaffold_test, name)) {
		unlink(path);
		return 1;
	}
	printf("wrote %s and %s\n"
		"build: cc -shared -fPIC -o %s.so %s.c $(pkg-config --cflags --libs fngate)\n"
		"test:  cc -o %s_test %s_test.c $(pkg-config --cflags --libs fngate-test) && "
		"./%s_test\n",
		path, test_path, name, name, name, name, name);
	return 0;
}
