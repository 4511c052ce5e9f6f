// SPDX-License-Identifier: MIT
/*
 * libfngate-test (fngate_test.h): a handler called in-process, for its author's unit tests.
 * The handler runs under the real worker runtime (fng__rt_serve, sdk/runtime.c) on a thread
 * of its own, at one end of a socketpair; this file plays the gateway at the other end with
 * the real wire codec — INVOKE out, LOG / WS_* / RESULT in — and turns the RESULT into what
 * the gateway would answer (host/event.c's rules, wire_rules.h's definitions). Events come
 * from C calls or from API Gateway JSON through `fngate invoke`'s translation (event_json.c).
 *
 * The two ends never wait on each other: the runtime reads a whole INVOKE before it writes
 * anything, and we read until RESULT once the INVOKE is written, so a frame of any size up to
 * the wire's cap goes through a socketpair whose buffers are far smaller.
 */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "event_json.h"
#include "frames.h"
#include "fngate_test.h"
#include "mem.h"
#include "runtime.h"
#include "wire.h"
#include "wire_limits.h"
#include "wire_rules.h"

#define API FNG_EXPORT

/* What a manifest's timeout_ms defaults to (host/functions_conf.c). */
#define DEFAULT_TIMEOUT_MS 3000

/* A variable fng_test_env() changed, and what it was (NULL: unset). */
struct saved_env {
	char *name, *old;
};

struct fng_test {
	const struct fng_handler_desc *desc;
	void *so;                /* dlopen's handle; NULL for fng_test_open() */
	const char *function;    /* what log lines are tagged with: the handler's name */
	unsigned timeout_ms;
	int fd;                  /* our end of the socketpair, -1 until started */
	int rt_fd;               /* the runtime's end; its thread closes it when it returns */
	pthread_t thread;
	bool started;
	bool init_failed;        /* sticky: a worker whose init fails never serves */
	bool broken;             /* the conversation is out of step: no more invocations */
	int rt_err;              /* fng__rt_serve's return, once the thread has ended */
	struct fng_wire_buf in;  /* bytes read from the runtime, frames not yet consumed */
	struct saved_env *env;
	size_t nenv;
	char error[512];
};

struct fng_test_event {
	struct fng_wire_event ev; /* lists and raw query filled in at invoke */
	enum fng_event_shape shape;
	struct fng_arena *arena;  /* every string and list the event holds, but JSON's */
	json_t *root;             /* a JSON event's document, which ev points into */
	struct fng_kvlist lists[FNG_TEST_AUTHORIZER + 1];
	struct fng_wire_str *cookies;
	size_t ncookies, cap_cookies;
	bool raw_query_stale;     /* a query parameter was added: rebuild the raw string */
};

struct log_line {
	enum fng_log_level level;
	const char *text;
};

struct fng_test_result {
	int status;
	bool failed;
	enum fng_event_shape shape;
	struct fng_wire_result wire; /* the RESULT as the worker sent it */
	void *wire_handle;
	struct fng_kvlist headers;   /* what the gateway would send, NUL-terminated strings */
	const char *body;            /* NUL after the last byte */
	size_t body_len;
	struct log_line *logs;
	size_t nlogs, cap_logs;
	struct fng_test_ws_call *ws;
	size_t nws, cap_ws;
	char *json;                  /* fng_test_result_json(), made on first use */
	struct fng_arena *arena;
};

/* ---- errors ---- */

static void say(char *err, size_t errlen, const char *fmt, ...) FNG_PRINTF(3, 4);

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#define FAIL(t, ...) say((t)->error, sizeof((t)->error), __VA_ARGS__)

/* ---- the handler ---- */

static struct fng_test *test_create(const struct fng_handler_desc *desc, char *err,
	size_t errlen)
{
	struct fng_test *t;

	if (!desc || !desc->handle) {
		say(err, errlen, "no handler: the descriptor %s", desc ? "has no handler function" :
			"is NULL");
		return NULL;
	}
	if (desc->abi != FNG_ABI_VERSION) {
		say(err, errlen, "%s: built for ABI %u, this is ABI %u (rebuild it against this "
			"fngate.h)", desc->name ? desc->name : "handler", desc->abi,
			FNG_ABI_VERSION);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		say(err, errlen, "out of memory");
		return NULL;
	}
	t->desc = desc;
	t->function = desc->name ? desc->name : "";
	t->timeout_ms = DEFAULT_TIMEOUT_MS;
	t->fd = t->rt_fd = -1;
	return t;
}

API struct fng_test *fng_test_open(const struct fng_handler_desc *desc, char *err, size_t errlen)
{
	say(err, errlen, "%s", "");
	return test_create(desc, err, errlen);
}

API struct fng_test *fng_test_load(const char *so_path, char *err, size_t errlen)
{
	char path[PATH_MAX];
	const struct fng_handler_desc *desc;
	struct fng_test *t;
	void *so;

	say(err, errlen, "%s", "");
	if (!so_path || !*so_path) {
		say(err, errlen, "no path to a handler .so");
		return NULL;
	}
	/* Absolute, as a worker gets it: dlopen would search the library path for a bare name. */
	if (!realpath(so_path, path)) {
		say(err, errlen, "%s: %s", so_path, strerror(errno));
		return NULL;
	}
	so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		const char *e = dlerror();

		say(err, errlen, "%s", e ? e : "dlopen failed");
		return NULL;
	}
	desc = dlsym(so, "fng_handler_desc");
	if (!desc) {
		say(err, errlen, "%s: no fng_handler_desc: not built with FNG_HANDLER()", so_path);
		dlclose(so);
		return NULL;
	}
	t = test_create(desc, err, errlen);
	if (!t) {
		dlclose(so);
		return NULL;
	}
	t->so = so;
	return t;
}

API int fng_test_env(struct fng_test *t, const char *name, const char *value)
{
	struct saved_env *e;
	const char *old;

	if (!t) {
		return -1;
	}
	if (t->started || t->init_failed) {
		FAIL(t, "fng_test_env(%s) after the init hook ran: a worker's environment is set "
			"before it", name ? name : "NULL");
		return -1;
	}
	if (!name || !*name || strchr(name, '=') || !value) {
		FAIL(t, "fng_test_env: a name without '=' and a value are needed");
		return -1;
	}
	e = realloc(t->env, (t->nenv + 1) * sizeof(*e));
	if (!e) {
		FAIL(t, "out of memory");
		return -1;
	}
	t->env = e;
	e = &t->env[t->nenv];
	old = getenv(name);
	e->name = strdup(name);
	e->old = old ? strdup(old) : NULL;
	if (!e->name || (old && !e->old) || setenv(name, value, 1)) {
		free(e->name);
		free(e->old);
		FAIL(t, "fng_test_env(%s): %s", name, strerror(errno ? errno : ENOMEM));
		return -1;
	}
	t->nenv++;
	return 0;
}

API int fng_test_timeout(struct fng_test *t, unsigned timeout_ms)
{
	if (!t) {
		return -1;
	}
	if (!timeout_ms) {
		FAIL(t, "fng_test_timeout: 0 ms");
		return -1;
	}
	t->timeout_ms = timeout_ms;
	return 0;
}

static void *serve_thread(void *arg)
{
	struct fng_test *t = arg;

	t->rt_err = fng__rt_serve(t->rt_fd, t->desc, t->function, FNG_WIRE_MAX_DEFAULT, NULL);
	/* EOF on our end: a read waiting for a frame that will not come returns. */
	close(t->rt_fd);
	t->rt_fd = -1;
	return NULL;
}

API int fng_test_start(struct fng_test *t)
{
	int sv[2], rc;

	if (!t) {
		return -1;
	}
	if (t->started) {
		return 0;
	}
	if (t->init_failed) {
		FAIL(t, "the init hook of %s failed earlier: a worker of it never serves",
			t->function);
		return -1;
	}
	if (t->desc->init && (rc = t->desc->init()) != 0) {
		t->init_failed = true;
		FAIL(t, "the init hook of %s returned %d: a deploy of it would be refused",
			t->function, rc);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		FAIL(t, "socketpair: %s", strerror(errno));
		return -1;
	}
	t->fd = sv[0];
	t->rt_fd = sv[1];
	rc = pthread_create(&t->thread, NULL, serve_thread, t);
	if (rc) {
		close(sv[0]);
		close(sv[1]);
		t->fd = t->rt_fd = -1;
		FAIL(t, "cannot start the runtime's thread: %s", strerror(rc));
		return -1;
	}
	t->started = true;
	return 0;
}

/* All of p[0..n) to the runtime; MSG_NOSIGNAL: a runtime that ended is an error, no SIGPIPE. */
static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return w < 0 ? -errno : -EIO;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void shutdown_runtime(struct fng_test *t)
{
	struct fng_wire_buf b = { 0 };

	if (!t->started) {
		return;
	}
	/* SHUTDOWN; without the frame (no memory) the EOF of shutdown(2) still ends the loop. */
	if (fng__wire_encode_empty(&b, FNG_WIRE_SHUTDOWN) || send_all(t->fd, b.p, b.len)) {
		shutdown(t->fd, SHUT_WR);
	}
	fng__wire_buf_finish(&b);
	/* Anything still coming (a conversation out of step) is read away until its EOF. */
	for (;;) {
		char sink[4096];
		ssize_t r = read(t->fd, sink, sizeof(sink));

		if (r == 0 || (r < 0 && errno != EINTR)) {
			break;
		}
	}
	pthread_join(t->thread, NULL);
	close(t->fd);
	t->fd = -1;
	t->started = false;
}

API void fng_test_close(struct fng_test *t)
{
	if (!t) {
		return;
	}
	shutdown_runtime(t);
	fng__wire_buf_finish(&t->in);
	if (t->so) {
		dlclose(t->so);
	}
	/* Put back in reverse order, so a name set twice gets its first old value. */
	while (t->nenv--) {
		struct saved_env *e = &t->env[t->nenv];

		if (e->old) {
			setenv(e->name, e->old, 1);
		} else {
			unsetenv(e->name);
		}
		free(e->name);
		free(e->old);
	}
	free(t->env);
	free(t);
}

API const char *fng_test_error(const struct fng_test *t)
{
	return t ? t->error : "no struct fng_test (NULL)";
}

/* ---- events ---- */

static struct fng_wire_str str(const char *p, size_t n)
{
	return (struct fng_wire_str){ p, n };
}

/* A copy of s in the event's arena, or an empty string's {NULL, 0} without memory. */
static struct fng_wire_str copy(struct fng_test_event *e, const char *s, size_t n)
{
	char *p = fng__arena_strndup(e->arena, s, n);

	return str(p, p ? n : 0);
}

static struct fng_test_event *event_create(void)
{
	struct fng_test_event *e = calloc(1, sizeof(*e));

	if (e && !(e->arena = fng__arena_create())) {
		free(e);
		return NULL;
	}
	return e;
}

/* The defaults `fngate invoke` gives a JSON event without them (event_json.c). */
static void event_defaults(struct fng_test_event *e)
{
	struct fng_wire_event *ev = &e->ev;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	ev->version = str("2.0", 3);
	ev->route_key = str("$default", 8);
	ev->protocol = str("HTTP/1.1", 8);
	ev->source_ip = str("127.0.0.1", 9);
	ev->user_agent = str("", 0);
	ev->request_id = str("fngate-test", 11);
	ev->api = str("local", 5);
	ev->stage = str("$default", 8);
	ev->domain = str("localhost", 9);
	ev->raw_query = str("", 0);
	ev->connection_id = ev->event_type = ev->message_id = str("", 0);
	ev->time_epoch_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

API struct fng_test_event *fng_test_event_http(const char *method, const char *path)
{
	struct fng_test_event *e;
	const char *q;
	size_t plen;

	if (!method || !*method || !path) {
		return NULL;
	}
	e = event_create();
	if (!e) {
		return NULL;
	}
	event_defaults(e);
	e->shape = FNG_SHAPE_V2;
	q = strchr(path, '?');
	plen = q ? (size_t)(q - path) : strlen(path);
	e->ev.method = copy(e, method, strlen(method));
	e->ev.raw_path = e->ev.path = copy(e, path, plen);
	if (q) {
		e->ev.raw_query = copy(e, q + 1, strlen(q + 1));
	}
	if (!e->ev.method.p || !e->ev.raw_path.p || (q && !e->ev.raw_query.p) ||
		fng__kvlist_query(e->arena, &e->lists[FNG_TEST_QUERY], e->ev.raw_query)) {
		fng_test_event_free(e);
		return NULL;
	}
	return e;
}

API struct fng_test_event *fng_test_event_authorizer(const char *type, const char *const *identity,
	size_t n)
{
	static const char arn[] = "arn:fngate:execute-api:local:local/$default/GET/";
	bool token = type && strcmp(type, "TOKEN") == 0;
	struct fng_wire_str *ids;
	struct fng_test_event *e;

	if ((!token && (!type || strcmp(type, "REQUEST") != 0)) || !identity || n == 0 ||
		n > FNG_WIRE_MAX_IDENTITY) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!identity[i]) {
			return NULL;
		}
	}
	e = event_create();
	if (!e) {
		return NULL;
	}
	event_defaults(e);
	e->shape = FNG_SHAPE_AUTHORIZER;
	e->ev.method = str("GET", 3);
	e->ev.raw_path = e->ev.path = str("/", 1);
	e->ev.event_type = str("AUTHORIZER", 10);
	e->ev.authz_type = token ? str("TOKEN", 5) : str("REQUEST", 7);
	e->ev.route_arn = str(arn, strlen(arn));
	ids = fng__arena_alloc(e->arena, n * sizeof(*ids));
	for (size_t i = 0; ids && i < n; i++) {
		ids[i] = copy(e, identity[i], strlen(identity[i]));
		if (!ids[i].p) {
			ids = NULL;
		}
	}
	if (!ids) {
		fng_test_event_free(e);
		return NULL;
	}
	e->ev.identity_source = ids;
	e->ev.nidentity_source = n;
	e->ev.authorization_token = token ? ids[0] : str("", 0);
	return e;
}

API struct fng_test_event *fng_test_event_ws(enum fng_test_ws_event type,
	const char *connection_id)
{
	static const struct {
		const char *type, *route, *message_id;
	} kinds[] = {
		[FNG_TEST_CONNECT] = { "CONNECT", "$connect", "" },
		[FNG_TEST_MESSAGE] = { "MESSAGE", "$default", "fngate-test-message" },
		[FNG_TEST_DISCONNECT] = { "DISCONNECT", "$disconnect", "" },
	};
	struct fng_test_event *e;

	if ((unsigned)type > FNG_TEST_DISCONNECT || !connection_id || !*connection_id) {
		return NULL;
	}
	e = event_create();
	if (!e) {
		return NULL;
	}
	event_defaults(e);
	e->shape = FNG_SHAPE_WS;
	e->ev.method = str("", 0);
	e->ev.raw_path = e->ev.path = str("/", 1);
	e->ev.event_type = str(kinds[type].type, strlen(kinds[type].type));
	e->ev.route_key = str(kinds[type].route, strlen(kinds[type].route));
	e->ev.message_id = str(kinds[type].message_id, strlen(kinds[type].message_id));
	e->ev.connection_id = copy(e, connection_id, strlen(connection_id));
	if (!e->ev.connection_id.p) {
		fng_test_event_free(e);
		return NULL;
	}
	return e;
}

/* Takes the lists of a translated JSON event over, so that fng_test_event_add() can grow them. */
static int adopt_lists(struct fng_test_event *e)
{
	const struct {
		const struct fng_wire_kv *v;
		size_t n;
	} from[] = {
		[FNG_TEST_HEADER] = { e->ev.headers, e->ev.nheaders },
		[FNG_TEST_QUERY] = { e->ev.query, e->ev.nquery },
		[FNG_TEST_PATH_PARAM] = { e->ev.path_params, e->ev.npath_params },
		[FNG_TEST_STAGE_VAR] = { e->ev.stage_vars, e->ev.nstage_vars },
		[FNG_TEST_COOKIE] = { NULL, 0 },
		[FNG_TEST_AUTHORIZER] = { e->ev.authorizer, e->ev.nauthorizer },
	};

	for (size_t l = 0; l < sizeof(from) / sizeof(from[0]); l++) {
		for (size_t i = 0; i < from[l].n; i++) {
			const struct fng_wire_kv *kv = &from[l].v[i];

			if (fng__kvlist_add(e->arena, &e->lists[l], kv->k, kv->v)) {
				return -1;
			}
		}
	}
	/* Cookies are kept as "name=value" items: a new array of them is made on the first add. */
	e->cookies = (struct fng_wire_str *)e->ev.cookies;
	e->ncookies = e->cap_cookies = e->ev.ncookies;
	return 0;
}

static struct fng_test_event *event_from_root(json_t *root, const char *name, char *err,
	size_t errlen)
{
	struct fng_json_event je;
	struct fng_test_event *e;
	const char *why;

	if (fng__json_event_from(root, &je, &why)) {
		say(err, errlen, "%s: %s", name, why);
		fng__json_event_finish(&je);
		json_decref(root);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		say(err, errlen, "out of memory");
		fng__json_event_finish(&je);
		json_decref(root);
		return NULL;
	}
	e->ev = je.ev;
	e->shape = je.shape;
	e->arena = je.arena; /* the event's now: fng__json_event_finish() is not called */
	e->root = root;
	if (adopt_lists(e)) {
		say(err, errlen, "out of memory");
		fng_test_event_free(e);
		return NULL;
	}
	return e;
}

API struct fng_test_event *fng_test_event_json(const char *json, size_t len, char *err,
	size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	say(err, errlen, "%s", "");
	if (!json) {
		say(err, errlen, "no JSON (NULL)");
		return NULL;
	}
	root = json_loadb(json, len, 0, &jerr);
	if (!root) {
		say(err, errlen, "event JSON:%d:%d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	return event_from_root(root, "event JSON", err, errlen);
}

API struct fng_test_event *fng_test_event_file(const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	say(err, errlen, "%s", "");
	if (!path) {
		say(err, errlen, "no event file (NULL)");
		return NULL;
	}
	root = json_load_file(path, 0, &jerr);
	if (!root) {
		say(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	return event_from_root(root, path, err, errlen);
}

static int add_cookie(struct fng_test_event *e, const char *name, const char *value)
{
	size_t n = strlen(name) + 1 + strlen(value);
	char *c = fng__arena_alloc(e->arena, n + 1);

	if (!c) {
		return -1;
	}
	snprintf(c, n + 1, "%s=%s", name, value);
	if (e->ncookies == e->cap_cookies || e->cookies == e->ev.cookies) {
		size_t cap = e->ncookies * 2 + 8;
		struct fng_wire_str *v = fng__arena_alloc(e->arena, cap * sizeof(*v));

		if (!v) {
			return -1;
		}
		if (e->ncookies) {
			memcpy(v, e->cookies, e->ncookies * sizeof(*v));
		}
		e->cookies = v;
		e->cap_cookies = cap;
		e->ev.cookies = NULL; /* no longer the JSON event's array */
	}
	e->cookies[e->ncookies++] = str(c, n);
	return 0;
}

API int fng_test_event_add(struct fng_test_event *e, enum fng_test_list list, const char *name,
	const char *value)
{
	struct fng_wire_str k, v;

	if (!e || (unsigned)list > FNG_TEST_AUTHORIZER || !name || !*name || !value) {
		return -1;
	}
	if (list == FNG_TEST_COOKIE) {
		return add_cookie(e, name, value);
	}
	k = list == FNG_TEST_HEADER ? fng__json_lower(e->arena, name, strlen(name)) :
				      copy(e, name, strlen(name));
	v = copy(e, value, strlen(value));
	if (!k.p || !k.len || !v.p || fng__kvlist_add(e->arena, &e->lists[list], k, v)) {
		return -1;
	}
	if (list == FNG_TEST_QUERY) {
		e->raw_query_stale = true;
	}
	return 0;
}

API int fng_test_event_set(struct fng_test_event *e, enum fng_test_field field, const char *value)
{
	struct fng_wire_str *fields[] = {
		[FNG_TEST_ROUTE_KEY] = e ? &e->ev.route_key : NULL,
		[FNG_TEST_API] = e ? &e->ev.api : NULL,
		[FNG_TEST_STAGE] = e ? &e->ev.stage : NULL,
		[FNG_TEST_REQUEST_ID] = e ? &e->ev.request_id : NULL,
		[FNG_TEST_SOURCE_IP] = e ? &e->ev.source_ip : NULL,
		[FNG_TEST_USER_AGENT] = e ? &e->ev.user_agent : NULL,
		[FNG_TEST_MESSAGE_ID] = e ? &e->ev.message_id : NULL,
	};
	struct fng_wire_str v;

	if (!e || (unsigned)field >= sizeof(fields) / sizeof(fields[0]) || !value) {
		return -1;
	}
	v = copy(e, value, strlen(value));
	if (!v.p) {
		return -1;
	}
	*fields[field] = v;
	return 0;
}

API int fng_test_event_body(struct fng_test_event *e, const void *data, size_t len)
{
	void *p;

	if (!e || (!data && len)) {
		return -1;
	}
	p = fng__arena_alloc(e->arena, len + 1);
	if (!p) {
		return -1;
	}
	if (len) {
		memcpy(p, data, len);
	}
	e->ev.body = p;
	e->ev.body_len = len;
	return 0;
}

API void fng_test_event_free(struct fng_test_event *e)
{
	if (!e) {
		return;
	}
	fng__arena_destroy(e->arena);
	json_decref(e->root);
	free(e);
}

/* ---- invoking ---- */

/* The wire event of e for an invocation of t starting now. */
static int event_for_wire(const struct fng_test *t, const struct fng_test_event *e,
	struct fng_wire_event *ev)
{
	const struct fng_kvlist *l = e->lists;
	struct timespec now;

	*ev = e->ev;
	ev->headers = l[FNG_TEST_HEADER].v;
	ev->nheaders = l[FNG_TEST_HEADER].n;
	ev->query = l[FNG_TEST_QUERY].v;
	ev->nquery = l[FNG_TEST_QUERY].n;
	ev->path_params = l[FNG_TEST_PATH_PARAM].v;
	ev->npath_params = l[FNG_TEST_PATH_PARAM].n;
	ev->stage_vars = l[FNG_TEST_STAGE_VAR].v;
	ev->nstage_vars = l[FNG_TEST_STAGE_VAR].n;
	ev->authorizer = l[FNG_TEST_AUTHORIZER].v;
	ev->nauthorizer = l[FNG_TEST_AUTHORIZER].n;
	ev->cookies = e->cookies;
	ev->ncookies = e->ncookies;
	if (e->raw_query_stale) {
		/* In the event's arena: it is the event's raw query until the next add. */
		ev->raw_query = fng__kvlist_raw_query(e->arena, &l[FNG_TEST_QUERY]);
		if (!ev->raw_query.p) {
			return -1;
		}
	}
	clock_gettime(CLOCK_REALTIME, &now);
	ev->deadline_epoch_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
				t->timeout_ms;
	return 0;
}

/* A NUL-terminated copy of s in the result's arena ("" without memory, noticed at the end). */
static const char *rcopy(struct fng_test_result *r, const void *p, size_t n, bool *oom)
{
	char *s = fng__arena_alloc(r->arena, n + 1);

	if (!s) {
		*oom = true;
		return "";
	}
	if (n) {
		memcpy(s, p, n);
	}
	s[n] = '\0';
	return s;
}

static int add_header(struct fng_test_result *r, const char *k, size_t klen, const char *v,
	size_t vlen)
{
	bool oom = false;
	const char *name = rcopy(r, k, klen, &oom), *value = rcopy(r, v, vlen, &oom);

	return oom ? -1 : fng__kvlist_add(r->arena, &r->headers, str(name, klen), str(value, vlen));
}

/*
 * The response the gateway makes of a RESULT (host/event.c, then the error edge of
 * pipeline/request.c for a 502): the handler's status, headers minus those the gateway owns,
 * cookies as Set-Cookie and body; or 502, content-type: application/json and the message.
 * 0 or -1 without memory.
 */
static int gateway_response(struct fng_test_result *r)
{
	const struct fng_wire_result *w = &r->wire;
	const char *detail = NULL;
	struct fng_buf b = { 0 };
	bool oom = false;

	/*
	 * The gateway's words (host/event.c), so that a test may compare the body it sends. Its
	 * check of header names and values is not repeated: the wire encoder the runtime uses
	 * refuses such a RESULT, which ends the runtime (a worker would exit: 502 as well).
	 */
	if (w->failed) {
		detail = "function returned an error";
	} else if (!fng__is_answer_status(w->status)) {
		detail = "function returned a status that is not a final HTTP status";
	}
	if (detail) {
		r->status = fng__err_status(FNG_EBAD_GATEWAY);
		if (add_header(r, "content-type", 12, "application/json", 16) ||
			fng__err_json(&b, detail, NULL, NULL, 0) || fng__buf_str(&b, "\n")) {
			fng__buf_finish(&b);
			return -1;
		}
		r->body = rcopy(r, b.p, b.len, &oom);
		r->body_len = b.len;
		fng__buf_finish(&b);
		return oom ? -1 : 0;
	}
	r->status = w->status;
	for (size_t i = 0; i < w->nheaders; i++) {
		struct fng_wire_kv h = w->headers[i];

		if (!fng__is_reserved_header(h.k.p, h.k.len) &&
			add_header(r, h.k.p, h.k.len, h.v.p, h.v.len)) {
			return -1;
		}
	}
	for (size_t i = 0; i < w->ncookies; i++) {
		if (add_header(r, "set-cookie", 10, w->cookies[i].p, w->cookies[i].len)) {
			return -1;
		}
	}
	r->body = rcopy(r, w->body, w->body_len, &oom);
	r->body_len = w->body_len;
	return oom ? -1 : 0;
}

/*
 * An array of n elements of size bytes with room for one more: v itself while it has, else
 * a bigger copy (*cap updated). NULL without memory; v is still valid then.
 */
static void *grow(void *v, size_t n, size_t *cap, size_t size)
{
	size_t c = *cap ? *cap * 2 : 8;

	if (n < *cap) {
		return v;
	}
	v = realloc(v, c * size);
	if (v) {
		*cap = c;
	}
	return v;
}

static int add_log(struct fng_test_result *r, const uint8_t *b, size_t n)
{
	struct log_line *logs;
	struct fng_wire_str msg;
	void *h = NULL;
	int level, err;
	bool oom = false;

	err = fng__wire_decode_log(b, n, &level, &msg, &h);
	if (err) {
		return err;
	}
	logs = grow(r->logs, r->nlogs, &r->cap_logs, sizeof(*logs));
	if (!logs) {
		fng__wire_free(h);
		return -ENOMEM;
	}
	r->logs = logs;
	r->logs[r->nlogs] = (struct log_line){ (enum fng_log_level)level,
		rcopy(r, msg.p, msg.len, &oom) };
	fng__wire_free(h);
	if (oom) {
		return -ENOMEM;
	}
	r->nlogs++;
	return 0;
}

/* A WS_* frame of type, decoded into the next call of r. 0, -EPROTO or -ENOMEM. */
static int add_ws(struct fng_test_result *r, uint8_t type, const uint8_t *b, size_t n)
{
	struct fng_wire_str id = { "", 0 }, topic = { "", 0 }, data = { "", 0 };
	struct fng_test_ws_call *c;
	uint32_t code = 0;
	bool binary = false, oom = false;
	void *h = NULL;
	int err;

	switch (type) {
	case FNG_WIRE_WS_SEND:
		err = fng__wire_decode_ws_send(b, n, &id, &data, &binary, &h);
		break;
	case FNG_WIRE_WS_CLOSE:
		err = fng__wire_decode_ws_close(b, n, &id, &code, &data, &h);
		break;
	case FNG_WIRE_WS_PUBLISH:
		err = fng__wire_decode_ws_publish(b, n, &topic, &data, &h);
		break;
	default: /* SUBSCRIBE, UNSUBSCRIBE */
		err = fng__wire_decode_ws_sub(b, n, &id, &topic, &h);
		break;
	}
	if (err) {
		return err;
	}
	c = grow(r->ws, r->nws, &r->cap_ws, sizeof(*c));
	if (!c) {
		fng__wire_free(h);
		return -ENOMEM;
	}
	r->ws = c;
	c += r->nws;
	*c = (struct fng_test_ws_call){
		.kind = type == FNG_WIRE_WS_SEND ? FNG_TEST_WS_SEND :
			type == FNG_WIRE_WS_CLOSE ? FNG_TEST_WS_CLOSE :
			type == FNG_WIRE_WS_PUBLISH ? FNG_TEST_WS_PUBLISH :
			type == FNG_WIRE_WS_SUBSCRIBE ? FNG_TEST_WS_SUBSCRIBE :
							  FNG_TEST_WS_UNSUBSCRIBE,
		.connection_id = rcopy(r, id.p, id.len, &oom),
		.topic = rcopy(r, topic.p, topic.len, &oom),
		.data = rcopy(r, data.p, data.len, &oom),
		.len = data.len,
		.binary = binary,
		.code = (int)code,
	};
	fng__wire_free(h);
	if (oom) {
		return -ENOMEM;
	}
	r->nws++;
	return 0;
}

/*
 * Reads the runtime's frames for one invocation into r, up to and including its RESULT.
 * 0, or -errno (a frame the gateway would not accept from a worker is -EPROTO).
 */
static int collect(struct fng_test *t, struct fng_test_result *r)
{
	for (;;) {
		uint8_t type;
		const uint8_t *body;
		size_t blen, used = 0;
		int err = fng__frames_next(t->fd, &t->in, NULL, NULL, &type, &body, &blen, &used);

		if (err) {
			return err;
		}
		switch (type) {
		case FNG_WIRE_LOG:
			err = add_log(r, body, blen);
			break;
		case FNG_WIRE_WS_SEND:
		case FNG_WIRE_WS_CLOSE:
		case FNG_WIRE_WS_PUBLISH:
		case FNG_WIRE_WS_SUBSCRIBE:
		case FNG_WIRE_WS_UNSUBSCRIBE:
			err = add_ws(r, type, body, blen);
			break;
		case FNG_WIRE_RESULT:
			err = fng__wire_decode_result(body, blen, &r->wire, &r->wire_handle);
			if (!err) {
				fng__frames_consume(&t->in, used);
				return gateway_response(r) ? -ENOMEM : 0;
			}
			break;
		default:
			err = -EPROTO;
		}
		if (err) {
			return err;
		}
		fng__frames_consume(&t->in, used);
	}
}

API struct fng_test_result *fng_test_invoke(struct fng_test *t, const struct fng_test_event *e)
{
	struct fng_wire_buf out = { 0 };
	struct fng_wire_event ev;
	struct fng_test_result *r;
	char traceparent[56]; /* FNG_TRACEPARENT_LEN and its NUL */
	int err;

	if (!t) {
		return NULL;
	}
	if (!e) {
		FAIL(t, "fng_test_invoke: no event (NULL)");
		return NULL;
	}
	if (t->broken) {
		FAIL(t, "the runtime of %s stopped after an earlier error", t->function);
		return NULL;
	}
	if (fng_test_start(t)) {
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->arena = fng__arena_create()) || event_for_wire(t, e, &ev)) {
		FAIL(t, "out of memory");
		fng_test_result_free(r);
		return NULL;
	}
	r->shape = e->shape;
	fng__json_event_trace(&ev, traceparent); /* as the gateway's stage "trace" would */
	err = fng__wire_encode_invoke(&out, &ev);
	if (!err && out.len - FNG_WIRE_HEADER > FNG_WIRE_MAX_DEFAULT) {
		err = -EMSGSIZE;
	}
	if (err) {
		FAIL(t, "%s", err != -EMSGSIZE ? "out of memory" : "the event is over the wire's "
			"limits (docs/protocol.md, \"Caps\"); the gateway would refuse it");
		fng__wire_buf_finish(&out);
		fng_test_result_free(r);
		return NULL;
	}
	err = send_all(t->fd, out.p, out.len);
	fng__wire_buf_finish(&out);
	if (!err) {
		err = collect(t, r);
	}
	if (err) {
		if (err != -ENOMEM) {
			t->broken = true;
		}
		if (err == -EPIPE || err == -ECONNRESET) {
			pthread_join(t->thread, NULL);
			close(t->fd);
			t->fd = -1;
			t->started = false;
			FAIL(t, "the runtime of %s ended: %s", t->function,
				strerror(-(t->rt_err ? t->rt_err : err)));
		} else if (err == -EPROTO) {
			FAIL(t, "the runtime sent a frame the gateway would refuse");
		} else {
			FAIL(t, "%s", err == -ENOMEM ? "out of memory" : strerror(-err));
		}
		fng_test_result_free(r);
		return NULL;
	}
	return r;
}

API void fng_test_result_free(struct fng_test_result *r)
{
	if (!r) {
		return;
	}
	fng__wire_free(r->wire_handle);
	fng__arena_destroy(r->arena);
	free(r->logs);
	free(r->ws);
	free(r->json);
	free(r);
}

API int fng_test_status(const struct fng_test_result *r)
{
	return r ? r->status : 0;
}

API bool fng_test_handler_failed(const struct fng_test_result *r)
{
	return r && r->wire.failed;
}

API const char *fng_test_header_n(const struct fng_test_result *r, const char *name, size_t i)
{
	if (!r || !name) {
		return NULL;
	}
	for (size_t j = 0; j < r->headers.n; j++) {
		if (strcasecmp(r->headers.v[j].k.p, name) == 0 && i-- == 0) {
			return r->headers.v[j].v.p;
		}
	}
	return NULL;
}

API const char *fng_test_header(const struct fng_test_result *r, const char *name)
{
	return fng_test_header_n(r, name, 0);
}

API const char *fng_test_header_at(const struct fng_test_result *r, size_t i, const char **name)
{
	if (!r || i >= r->headers.n) {
		return NULL;
	}
	if (name) {
		*name = r->headers.v[i].k.p;
	}
	return r->headers.v[i].v.p;
}

API const char *fng_test_body(const struct fng_test_result *r, size_t *len)
{
	if (len) {
		*len = r ? r->body_len : 0;
	}
	return r && r->body ? r->body : "";
}

API size_t fng_test_log_count(const struct fng_test_result *r)
{
	return r ? r->nlogs : 0;
}

API const char *fng_test_log(const struct fng_test_result *r, size_t i, enum fng_log_level *level)
{
	if (!r || i >= r->nlogs) {
		return NULL;
	}
	if (level) {
		*level = r->logs[i].level;
	}
	return r->logs[i].text;
}

API size_t fng_test_ws_count(const struct fng_test_result *r)
{
	return r ? r->nws : 0;
}

API const struct fng_test_ws_call *fng_test_ws_call(const struct fng_test_result *r, size_t i)
{
	return r && i < r->nws ? &r->ws[i] : NULL;
}

/* An answer only to an AUTHORIZER event, and only with a decision (the gateway's reading). */
static const struct fng_wire_authz *answer_of(const struct fng_test_result *r)
{
	if (!r || r->shape != FNG_SHAPE_AUTHORIZER || r->wire.failed ||
		r->wire.authz.decision == FNG_WIRE_AUTHZ_NONE) {
		return NULL;
	}
	return &r->wire.authz;
}

API const char *fng_test_authorizer_decision(const struct fng_test_result *r)
{
	const struct fng_wire_authz *a = answer_of(r);

	return !a ? NULL : a->decision == FNG_WIRE_AUTHZ_ALLOW ? "allow" : "deny";
}

API const char *fng_test_authorizer_value(const struct fng_test_result *r, const char *key)
{
	struct fng_test_result *m = (struct fng_test_result *)r; /* its arena, not a change */
	const struct fng_wire_authz *a = answer_of(r);
	bool oom = false;
	char num[32];

	if (!a || !key) {
		return NULL;
	}
	if (strcmp(key, "principalId") == 0) {
		return a->principal.p;
	}
	for (size_t i = 0; i < a->ncontext; i++) {
		const struct fng_wire_ctxv *c = &a->context[i];

		if (strcmp(c->k.p, key) != 0) {
			continue;
		}
		/* The text the gateway gives the protected handler (host/authz.c). */
		if (c->type == FNG_WIRE_CTX_STR) {
			return c->s.p;
		}
		if (c->type == FNG_WIRE_CTX_BOOL) {
			return c->b ? "true" : "false";
		}
		fng__num_text(num, c->num);
		key = rcopy(m, num, strlen(num), &oom);
		return oom ? NULL : key;
	}
	return NULL;
}

API const char *fng_test_authorizer_usage_key(const struct fng_test_result *r)
{
	const struct fng_wire_authz *a = answer_of(r);

	return a && a->usage_key.len ? a->usage_key.p : NULL;
}

/* The gateway keeps a handler's cache instruction only with the answer it came with. */
static const struct fng_wire_cache *cache_of(const struct fng_test_result *r)
{
	if (!r || r->wire.failed || !fng__is_answer_status(r->wire.status) || !r->wire.cache.set) {
		return NULL;
	}
	return &r->wire.cache;
}

API int fng_test_cache_ttl(const struct fng_test_result *r)
{
	const struct fng_wire_cache *c = cache_of(r);

	return c ? (int)c->ttl_s : -1;
}

API int fng_test_cost(const struct fng_test_result *r, uint64_t *cpu_us, uint64_t *max_rss_kb)
{
	if (!r || !r->wire.cost.set) {
		return -1;
	}
	if (cpu_us) {
		*cpu_us = r->wire.cost.cpu_us;
	}
	if (max_rss_kb) {
		*max_rss_kb = r->wire.cost.max_rss_kb;
	}
	return 0;
}

API const char *fng_test_cache_tag(const struct fng_test_result *r, size_t i)
{
	const struct fng_wire_cache *c = cache_of(r);

	return c && i < c->ntags ? c->tags[i].p : NULL;
}

API const char *fng_test_result_json(const struct fng_test_result *r)
{
	struct fng_test_result *m = (struct fng_test_result *)r; /* a cache, not a change */
	json_t *o;

	if (!r) {
		return NULL;
	}
	if (!m->json) {
		o = answer_of(r) ? fng__json_authorizer_answer(&r->wire) :
			fng__json_response(&r->wire, r->shape);
		m->json = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(o);
	}
	return m->json;
}

/* ---- checks ---- */

static unsigned checks, checks_failed;

static bool check_v(bool ok, const char *what, va_list ap)
{
	checks++;
	checks_failed += !ok;
	printf("%sok %u - ", ok ? "" : "not ", checks);
	vprintf(what ? what : "", ap);
	putchar('\n');
	return ok;
}

API bool fng_test_check(bool ok, const char *what, ...)
{
	va_list ap;

	va_start(ap, what);
	ok = check_v(ok, what, ap);
	va_end(ap);
	fflush(stdout);
	return ok;
}

/* s as a C string literal, on the one line a TAP diagnostic has: "a\nb", or NULL. */
static void print_quoted(const char *s)
{
	if (!s) {
		fputs("NULL", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n') {
			fputs("\\n", stdout);
		} else if (c == '"' || c == '\\') {
			printf("\\%c", c);
		} else if (c < 0x20 || c == 0x7f) {
			printf("\\x%02x", c);
		} else {
			putchar(c);
		}
	}
	putchar('"');
}

API bool fng_test_check_str(const char *got, const char *want, const char *what, ...)
{
	bool ok = got && want ? strcmp(got, want) == 0 : got == want;
	va_list ap;

	va_start(ap, what);
	check_v(ok, what, ap);
	va_end(ap);
	if (!ok) {
		fputs("# got ", stdout);
		print_quoted(got);
		fputs(", want ", stdout);
		print_quoted(want);
		putchar('\n');
	}
	fflush(stdout);
	return ok;
}

API bool fng_test_check_int(long long got, long long want, const char *what, ...)
{
	va_list ap;

	va_start(ap, what);
	check_v(got == want, what, ap);
	va_end(ap);
	if (got != want) {
		printf("# got %lld, want %lld\n", got, want);
	}
	fflush(stdout);
	return got == want;
}

API int fng_test_check_end(void)
{
	printf("1..%u\n", checks);
	fflush(stdout);
	return checks_failed || !checks ? 1 : 0;
}
