// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/config/config.c, the YAML loader that turns docs/config.md into an immutable
 * snapshot. Valid files must land in the right fields with the documented defaults; every
 * invalid one must be refused with a "NAME:LINE:COL: message" line that points at the culprit.
 * Inputs that once crashed the loader run in a child process so the rest of the suite still
 * reports.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "harness.h"
#include "access_log.h"
#include "client_throttle.h"
#include "uv.h"

/* A minimal valid API, appended to snippets that test something else. */
#define MIN_API                                                                            \
	"apis:\n"                                                                          \
	"  demo:\n"                                                                        \
	"    stages:\n"                                                                    \
	"      dev: {}\n"                                                                  \
	"    routes:\n"                                                                    \
	"      \"GET /a\":\n"                                                              \
	"        integration: { type: mock }\n"

/* The head of MIN_API up to the route's settings (lines 1-6). */
#define ROUTE_HEAD                                                                         \
	"apis:\n"                                                                          \
	"  demo:\n"                                                                        \
	"    stages:\n"                                                                    \
	"      dev: {}\n"                                                                  \
	"    routes:\n"                                                                    \
	"      \"GET /a\":\n"

static struct fng_config *load(const char *yaml, int *rc, struct fng_buf *errors)
{
	struct fng_config *c = (struct fng_config *)1;

	*rc = fng__config_load_string("t.yaml", yaml, strlen(yaml), &c, errors);
	fng__buf_append(errors, "", 1);
	errors->len--;
	return c;
}

static struct fng_config *load_ok(const char *yaml, const char *what)
{
	struct fng_buf e = { 0 };
	int rc;
	struct fng_config *c = load(yaml, &rc, &e);

	CHECK_INT(rc, 0, "%s: loads", what);
	CHECK(rc != 0 || (c != NULL && e.len == 0), "%s: snapshot and no errors", what);
	if (rc) {
		printf("# errors:\n%s", e.p);
		c = NULL;
	}
	fng__buf_finish(&e);
	return c;
}

/* True if the first error line starts with one of the prefixes and contains substr. */
static bool first_line_is(const char *errs, const char *const *prefixes, const char *substr)
{
	const char *nl = strchr(errs, '\n');
	size_t llen = nl ? (size_t)(nl - errs) : strlen(errs);
	char line[1024];

	if (!nl || llen >= sizeof(line)) {
		return false;
	}
	memcpy(line, errs, llen);
	line[llen] = '\0';
	if (substr && !strstr(line, substr)) {
		return false;
	}
	for (; *prefixes; prefixes++) {
		if (strncmp(line, *prefixes, strlen(*prefixes)) == 0) {
			return true;
		}
	}
	return false;
}

static void load_err_any(const char *yaml, const char *const *prefixes, const char *substr,
	const char *what)
{
	struct fng_buf e = { 0 };
	int rc;
	struct fng_config *c = load(yaml, &rc, &e);
	bool ok;

	CHECK_INT(rc, FNG_ECONFIG, "%s: refused", what);
	CHECK(c == NULL, "%s: no snapshot", what);
	ok = rc == FNG_ECONFIG && e.p && first_line_is(e.p, prefixes, substr);
	CHECK(ok, "%s: error at %s%s%s", what, prefixes[0], substr ? "... " : "",
		substr ? substr : "");
	if (!ok) {
		printf("# errors:\n%s", e.p ? e.p : "(none)\n");
	}
	if (rc == 0) {
		fng__config_unref(c);
	}
	fng__buf_finish(&e);
}

/* The first error line must start with "t.yaml:POS: " and mention substr. */
static void load_err(const char *yaml, const char *pos, const char *substr, const char *what)
{
	char prefix[64];
	const char *prefixes[] = { prefix, NULL };

	snprintf(prefix, sizeof(prefix), "t.yaml:%s: ", pos);
	load_err_any(yaml, prefixes, substr, what);
}

/*
 * Loads yaml in a child process, for inputs that crash the loader: the child must exit
 * normally with FNG_ECONFIG and a first error line starting "t.yaml:POS: ".
 */
static void load_err_isolated(const char *yaml, const char *pos, const char *what)
{
	char out[4096] = "", prefix[64];
	const char *prefixes[] = { prefix, NULL };
	int fds[2], status = 0;
	ssize_t n, got = 0;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds) != 0) {
		CHECK(0, "%s: pipe", what);
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct fng_buf e = { 0 };
		int rc;

		close(fds[0]);
		load(yaml, &rc, &e);
		if (e.len && write(fds[1], e.p, e.len) < 0) {
			_exit(3);
		}
		_exit(rc == FNG_ECONFIG ? 0 : 2);
	}
	close(fds[1]);
	while (pid > 0 && (n = read(fds[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0) {
		got += n;
	}
	close(fds[0]);
	out[got] = '\0';
	if (pid > 0) {
		waitpid(pid, &status, 0);
	}
	CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"%s: refused without crashing", what);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		printf("# child %s %d\n", WIFSIGNALED(status) ? "killed by signal" : "exited",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	snprintf(prefix, sizeof(prefix), "t.yaml:%s: ", pos);
	CHECK(first_line_is(out, prefixes, NULL), "%s: error at %s", what, pos);
}

/* ---- valid files ---- */

static const char full_yaml[] =
	"# apis come first: stage limits still derive from server, whatever the order\n"
	"apis:\n"
	"  demo:\n"
	"    stages:\n"
	"      dev:\n"
	"        variables: { greeting: hello, empty: \"\" }\n"
	"      prod:\n"
	"        variables:\n"
	"          greeting: welcome\n"
	"        body_bytes: 65536\n"
	"      $default: {}\n"
	"    routes:\n"
	"      \"GET /hello/{name}\":\n"
	"        integration:\n"
	"          type: mock\n"
	"          status: 201\n"
	"          headers: { Content-Type: application/json, X-Stage: \"${context.stage}\" }\n"
	"          body: '{\"message\": \"${stageVariables.greeting|json}, "
	"${request.path.name|json}\"}'\n"
	"          chunked: true\n"
	"      \"ANY /files/{path+}\":\n"
	"        integration: { type: mock }\n"
	"      $default:\n"
	"        integration: { type: mock, status: 404, body: nope }\n"
	"  admin:\n"
	"    stages:\n"
	"      v1: {}\n"
	"    routes:\n"
	"      \"POST /users\":\n"
	"        integration: { type: mock, chunked: false }\n"
	"server:\n"
	"  listen: [\"127.0.0.1:0\", \"[::1]:8081\"]\n"
	"  server_header: \"\"\n"
	"  default_api: admin\n"
	"  limits:\n"
	"    request_line_bytes: 4096\n"
	"    header_bytes: 16384\n"
	"    header_fields: 50\n"
	"    body_bytes: 1048576\n"
	"  timeouts:\n"
	"    header_ms: 1000\n"
	"    body_ms: 2000\n"
	"    keepalive_ms: 3000\n"
	"    send_ms: 4000\n"
	"    drain_ms: 0\n"
	"access_log:\n"
	"  path: /tmp/fngate-access.log\n"
	"  fields: [status, requestId, time, error]\n"
	"domains:\n"
	"  API.Example.com:\n"
	"    - { base_path: /, api: demo, stage: dev }\n"
	"    - { base_path: /v1/admin, api: admin, stage: v1 }\n"
	"    - { base_path: /v1, api: demo, stage: prod }\n"
	"  other.example.com:\n"
	"    - { api: demo, stage: $default }\n";

static void test_full(void)
{
	struct fng_config *c = load_ok(full_yaml, "full config");
	const struct fng_api *demo, *admin;
	const struct fng_stage *dev, *prod, *def;
	const struct fng_domain *d;
	struct fng_str v;

	if (!c) {
		return;
	}
	CHECK_STR(c->path, "t.yaml", "path is the name");
	CHECK_INT(c->nlisten, 2, "two listen addresses");
	CHECK(c->nlisten == 2 && strcmp(c->listen[0], "127.0.0.1:0") == 0 &&
			strcmp(c->listen[1], "[::1]:8081") == 0,
		"listen addresses in order");
	CHECK_STR(c->server_header, "", "server_header \"\" (omit the header)");
	CHECK_INT(c->limits.request_line_bytes, 4096, "limits.request_line_bytes");
	CHECK_INT(c->limits.header_bytes, 16384, "limits.header_bytes");
	CHECK_INT(c->limits.header_fields, 50, "limits.header_fields");
	CHECK_INT(c->limits.body_bytes, 1048576, "limits.body_bytes");
	CHECK_INT(c->timeouts.header_ms, 1000, "timeouts.header_ms");
	CHECK_INT(c->timeouts.body_ms, 2000, "timeouts.body_ms");
	CHECK_INT(c->timeouts.keepalive_ms, 3000, "timeouts.keepalive_ms");
	CHECK_INT(c->timeouts.send_ms, 4000, "timeouts.send_ms");
	CHECK_INT(c->timeouts.drain_ms, 0, "timeouts.drain_ms (0 allowed)");
	CHECK_STR(c->access_log.path, "/tmp/fngate-access.log", "access_log.path");
	CHECK_INT(c->access_log.nfields, 4, "access_log: 4 fields");
	CHECK(c->access_log.fields[0] == FNG_ALOG_STATUS &&
			c->access_log.fields[1] == FNG_ALOG_REQUEST_ID &&
			c->access_log.fields[2] == FNG_ALOG_TIME &&
			c->access_log.fields[3] == FNG_ALOG_ERROR,
		"access_log fields in the order listed");

	CHECK_INT(c->napis, 2, "two APIs");
	demo = fng__config_api(c, FNG_STR("demo"));
	admin = fng__config_api(c, FNG_STR("admin"));
	CHECK(demo && admin && demo != admin, "APIs by name");
	CHECK(fng__config_api(c, FNG_STR("dem")) == NULL, "no API by prefix");
	CHECK(c->default_api == admin, "default_api: admin");
	if (!demo || !admin) {
		fng__config_unref(c);
		return;
	}

	CHECK_INT(demo->nstages, 3, "demo: 3 stages");
	dev = fng__api_stage(demo, FNG_STR("dev"));
	prod = fng__api_stage(demo, FNG_STR("prod"));
	def = fng__api_stage(demo, FNG_STR("$default"));
	CHECK(dev && prod && def, "stages by name");
	CHECK(demo->default_stage == def && def != NULL, "demo's $default stage");
	CHECK(admin->default_stage == NULL, "admin has no $default stage");
	if (dev && prod && def) {
		CHECK_INT(dev->body_bytes, 1048576, "dev body_bytes inherits server limit");
		CHECK_INT(prod->body_bytes, 65536, "prod body_bytes lower than server");
		CHECK_INT(def->body_bytes, 1048576, "$default body_bytes inherits");
		CHECK_INT(dev->nvars, 2, "dev: 2 variables");
		CHECK(fng__stage_var(dev, FNG_STR("greeting"), &v) && fng__str_eq(v, "hello", 5),
			"dev greeting = hello");
		CHECK(fng__stage_var(dev, FNG_STR("empty"), &v) && v.len == 0, "dev empty = \"\"");
		CHECK(!fng__stage_var(dev, FNG_STR("nope"), &v), "dev has no nope");
		CHECK(fng__stage_var(prod, FNG_STR("greeting"), &v) && fng__str_eq(v, "welcome", 7),
			"prod greeting = welcome");
		CHECK_INT(def->nvars, 0, "$default: no variables");
	}

	CHECK_INT(demo->nroutes, 3, "demo: 3 routes");
	if (demo->nroutes == 3) {
		const struct fng_route *r = &demo->routes[0];
		const struct fng_integration_cfg *ic = &r->integration;
		struct fng_arena *a = fng__arena_create();
		struct fng_route_match m;

		CHECK_STR(r->key, "GET /hello/{name}", "route key as written");
		CHECK(r->line == 13, "route line %d", r->line);
		CHECK_INT(ic->type, FNG_INTEGRATION_MOCK, "mock integration");
		CHECK_INT(ic->status, 201, "status 201");
		CHECK(ic->chunked, "chunked: true");
		CHECK_INT(ic->nheaders, 2, "two headers");
		if (ic->nheaders == 2) {
			CHECK_STR(ic->headers[0].name, "content-type",
				"header names are lower-cased");
			CHECK_INT(ic->headers[0].name_len, 12, "header name length");
			CHECK(fng__template_is_literal(ic->headers[0].value) &&
					fng__str_eq(ic->headers[0].value->parts[0].s,
						"application/json", 16),
				"literal header value");
			CHECK_STR(ic->headers[1].name, "x-stage", "second header");
			CHECK(ic->headers[1].value->nparts == 1 &&
					ic->headers[1].value->parts[0].kind == FNG_TV_STAGE,
				"templated header value");
		}
		CHECK(ic->body && ic->body->nparts == 5, "body compiled to 5 parts");
		if (ic->body && ic->body->nparts == 5) {
			CHECK(ic->body->parts[1].kind == FNG_TV_STAGEVAR && ic->body->parts[1].json,
				"body part: stage variable |json");
			CHECK(ic->body->parts[3].kind == FNG_TV_PATH && ic->body->parts[3].json,
				"body part: path parameter |json");
		}
		CHECK_INT(demo->routes[1].integration.status, 200, "status defaults to 200");
		CHECK(!demo->routes[1].integration.chunked, "chunked defaults to false");
		CHECK(demo->routes[1].integration.body &&
				demo->routes[1].integration.body->nparts == 0,
			"body defaults to empty");
		CHECK_INT(demo->routes[2].integration.status, 404, "$default route status");
		CHECK(demo->routes[2].parsed.method == NULL, "$default route key");

		CHECK_INT(fng__router_match(demo->router, a, FNG_STR("GET"), FNG_STR("/hello/ada"),
				  &m),
			0, "router: GET /hello/ada");
		CHECK(m.route == &demo->routes[0], "router: GET /hello/ada -> its route");
		CHECK_INT(fng__router_match(demo->router, a, FNG_STR("PUT"),
				  FNG_STR("/files/a/b"), &m),
			0, "router: PUT /files/a/b");
		CHECK(m.route == &demo->routes[1], "router: ANY greedy route");
		CHECK_INT(fng__router_match(demo->router, a, FNG_STR("GET"), FNG_STR("/zzz"), &m),
			0, "router: GET /zzz");
		CHECK(m.route == &demo->routes[2], "router: $default");
		fng__arena_destroy(a);
	}

	CHECK_INT(c->ndomains, 2, "two domains");
	d = fng__config_domain(c, FNG_STR("api.EXAMPLE.com"));
	CHECK(d != NULL, "domain lookup is case-insensitive");
	CHECK(fng__config_domain(c, FNG_STR("api.example.co")) == NULL, "no domain by prefix");
	if (d) {
		CHECK_STR(d->host, "api.example.com", "host lower-cased");
		CHECK_INT(d->host_len, 15, "host length");
		CHECK_INT(d->nmaps, 3, "three mappings");
		if (d->nmaps == 3) {
			CHECK_STR(d->maps[0].base_path, "/v1/admin", "longest base path first");
			CHECK_INT(d->maps[0].base_len, 9, "/v1/admin length");
			CHECK(d->maps[0].api == admin && d->maps[0].stage == &admin->stages[0],
				"/v1/admin -> admin v1");
			CHECK_STR(d->maps[1].base_path, "/v1", "then /v1");
			CHECK(d->maps[1].api == demo && d->maps[1].stage == prod,
				"/v1 -> demo prod");
			CHECK_STR(d->maps[2].base_path, "", "/ last, stored as \"\"");
			CHECK_INT(d->maps[2].base_len, 0, "/ length 0");
			CHECK(d->maps[2].api == demo && d->maps[2].stage == dev, "/ -> demo dev");
		}
	}
	d = fng__config_domain(c, FNG_STR("other.example.com"));
	CHECK(d && d->nmaps == 1 && d->maps[0].base_len == 0 && d->maps[0].stage == def,
		"base_path defaults to /, stage $default");

	/* Snapshot refcounting: the last unref frees (ASan/valgrind see a leak otherwise). */
	struct fng_config *again = fng__config_ref(c);

	CHECK(again == c, "ref returns the snapshot");
	CHECK_INT(atomic_load(&c->refs), 2, "two references");
	fng__config_unref(c);
	CHECK_INT(atomic_load(&c->refs), 1, "one reference left");
	fng__config_unref(c);
	fng__config_unref(NULL);
	CHECK(1, "unref(NULL) is a no-op");
}

static void test_defaults(void)
{
	struct fng_config *c = load_ok(MIN_API, "minimal config");

	if (!c) {
		return;
	}
	CHECK(c->nlisten == 1 && strcmp(c->listen[0], "127.0.0.1:8080") == 0,
		"listen defaults to 127.0.0.1:8080");
	CHECK_STR(c->server_header, "fngate", "server_header defaults to fngate");
	CHECK_INT(c->limits.request_line_bytes, 8192, "request_line_bytes default");
	CHECK_INT(c->limits.header_bytes, 32768, "header_bytes default");
	CHECK_INT(c->limits.header_fields, 100, "header_fields default");
	CHECK_INT(c->limits.body_bytes, 10485760, "body_bytes default");
	CHECK_INT(c->timeouts.header_ms, 10000, "header_ms default");
	CHECK_INT(c->timeouts.body_ms, 30000, "body_ms default");
	CHECK_INT(c->timeouts.keepalive_ms, 75000, "keepalive_ms default");
	CHECK_INT(c->timeouts.send_ms, 60000, "send_ms default");
	CHECK_INT(c->timeouts.drain_ms, 10000, "drain_ms default");
	CHECK_STR(c->access_log.path, "-", "access_log.path defaults to -");
	CHECK_INT(c->access_log.nfields, FNG_ALOG__COUNT, "all access log fields by default");
	bool in_order = true;

	for (unsigned i = 0; i < FNG_ALOG__COUNT; i++) {
		in_order = in_order && c->access_log.fields[i] == i;
	}
	CHECK(in_order, "default fields in table order");
	CHECK_STR(fng__alog_field_name(FNG_ALOG_LATENCY), "latencyUs", "field name table");
	CHECK(c->napis == 1 && c->default_api == &c->apis[0], "single API is the default API");
	CHECK(c->napis == 1 && c->apis[0].nstages == 1 &&
			c->apis[0].stages[0].body_bytes == 10485760,
		"stage body_bytes defaults to the server limit");
	CHECK_INT(c->ndomains, 0, "no domains");
	fng__config_unref(c);

	c = load_ok("access_log: { path: off }\n" MIN_API, "access log off");
	if (c) {
		CHECK(c->access_log.path == NULL, "path: off disables the log");
		fng__config_unref(c);
	}
	c = load_ok("access_log: { fields: [] }\n" MIN_API, "no access log fields");
	if (c) {
		CHECK_INT(c->access_log.nfields, 0, "fields: [] logs no fields");
		fng__config_unref(c);
	}

	c = load_ok(MIN_API "  other:\n"
			    "    stages: { dev: {} }\n"
			    "    routes: { \"GET /b\": { integration: { type: mock } } }\n",
		"two APIs without default_api");
	if (c) {
		CHECK_INT(c->napis, 2, "two APIs");
		CHECK(c->default_api == NULL, "no default API when two are declared");
		fng__config_unref(c);
	}
	c = load_ok("server: { default_api: other }\n" MIN_API "  other:\n"
						       "    stages: { dev: {} }\n"
						       "    routes: { \"GET /b\": "
						       "{ integration: { type: mock } } }\n",
		"two APIs with default_api");
	if (c) {
		CHECK(c->napis == 2 && c->default_api == &c->apis[1], "default_api: other");
		fng__config_unref(c);
	}
	c = load_ok("server: { default_api: demo }\n" MIN_API, "default_api naming the only API");
	if (c) {
		CHECK(c->default_api == &c->apis[0], "default_api: demo");
		fng__config_unref(c);
	}

	c = load_ok("server: { limits: { body_bytes: 1000 } }\n"
		    "apis:\n"
		    "  demo:\n"
		    "    stages:\n"
		    "      same: { body_bytes: 1000 }\n"
		    "      none: { body_bytes: 0 }\n"
		    "      empty:\n"
		    "    routes: { \"GET /a\": { integration: { type: mock } } }\n",
		"stage body_bytes at the limit and 0");
	if (c) {
		const struct fng_api *api = &c->apis[0];

		CHECK_INT(api->stages[0].body_bytes, 1000, "stage body_bytes equal to the limit");
		/* "a lower body limit for this stage": 0 is lower, and means no body. */
		CHECK_INT(api->stages[1].body_bytes, 0, "stage body_bytes: 0 is kept, not widened");
		CHECK_INT(api->stages[2].body_bytes, 1000, "stage with no settings inherits");
		fng__config_unref(c);
	}

	/* JSON is YAML too. */
	c = load_ok("{\"apis\": {\"j\": {\"stages\": {\"s\": {\"variables\": {\"k\": \"v\"}}},"
		    " \"routes\": {\"GET /a\": {\"integration\": {\"type\": \"mock\","
		    " \"status\": 204, \"chunked\": true}}}}},"
		    " \"server\": {\"limits\": {\"header_fields\": 7}}}",
		"JSON config");
	if (c) {
		CHECK(c->napis == 1 && strcmp(c->apis[0].name, "j") == 0, "JSON: API j");
		CHECK_INT(c->limits.header_fields, 7, "JSON: header_fields");
		CHECK(c->apis[0].nroutes == 1 && c->apis[0].routes[0].integration.status == 204 &&
				c->apis[0].routes[0].integration.chunked,
			"JSON: integration");
		fng__config_unref(c);
	}
}

/* functions.defaults and a manifest over them: documented defaults, overrides, refusals. */
static void test_function_limits(void)
{
	struct fng_config *c = load_ok(MIN_API, "function defaults");
	struct fng_fn_limits m;
	struct fng_buf e = { 0 };
	const char *bad = "pipeline: 17\n";

	if (c) {
		const struct fng_fn_limits *d = &c->functions.defaults;

		CHECK_INT(d->timeout_ms, 3000, "timeout_ms default");
		CHECK_INT(d->memory_mb, 128, "memory_mb default");
		CHECK_INT(d->cpu_ms, 0, "cpu_ms default");
		CHECK_INT(d->concurrency, fng__fn_cpus_available(),
			"concurrency default: the CPUs available");
		CHECK_INT(d->min_warm, 1, "min_warm default");
		CHECK_INT(d->max_invocations, 100000, "max_invocations default");
		CHECK_INT(d->queue, 32768, "queue default");
		CHECK_INT(d->pipeline, 4, "pipeline default");
		fng__config_unref(c);
	}
	c = load_ok("functions: { defaults: { pipeline: 1, queue: 0 } }\n" MIN_API,
		"function defaults set");
	if (!c) {
		return;
	}
	CHECK_INT(c->functions.defaults.pipeline, 1, "defaults.pipeline");
	CHECK_INT(c->functions.defaults.queue, 0, "defaults.queue");
	CHECK_INT(fng__manifest_load_string("hello.yaml", "pipeline: 8\n", 12,
			&c->functions.defaults, NULL, &m, &e), 0, "manifest: pipeline 8");
	CHECK_INT(m.pipeline, 8, "manifest overrides pipeline");
	CHECK_INT(m.queue, 0, "manifest keeps the configured default queue");
	fng__buf_finish(&e);
	CHECK(fng__manifest_load_string("hello.yaml", bad, strlen(bad), &c->functions.defaults,
			NULL, &m, &e) != 0 && e.p && strncmp(e.p, "hello.yaml:1:", 13) == 0 &&
			strstr(e.p, "pipeline"),
		"manifest: pipeline 17 refused with its position (%.*s)",
		e.p ? (int)strcspn(e.p, "\n") : 8, e.p ? e.p : "no error");
	fng__buf_finish(&e);
	fng__config_unref(c);
	load_err("functions: { defaults: { pipeline: 0 } }\n" MIN_API, "1:36", "pipeline",
		"defaults.pipeline 0");
	/* Where copies go and how large a .so may be. */
	c = load_ok(MIN_API, "no run_dir");
	if (c) {
		CHECK(c->functions.run_dir == NULL, "run_dir: the default (chosen at start)");
		CHECK_INT(c->functions.max_so_bytes, 64u << 20, "max_so_bytes default 64 MiB");
		fng__config_unref(c);
	}
	c = load_ok("functions: { run_dir: /srv/fngate, max_so_bytes: 1048576 }\n" MIN_API,
		"run_dir and max_so_bytes set");
	if (c) {
		CHECK_STR(c->functions.run_dir, "/srv/fngate", "run_dir as given (absolute)");
		CHECK_INT(c->functions.max_so_bytes, 1048576, "max_so_bytes as given");
		fng__config_unref(c);
	}
	load_err("functions: { max_so_bytes: 10 }\n" MIN_API, "1:28", "max_so_bytes",
		"max_so_bytes below 4096");
}

/* functions.logs: the per-function log rate limit (gateway/fnlog.c uses it). */
static void test_function_logs(void)
{
	struct fng_config *c = load_ok(MIN_API, "no functions.logs");

	if (c) {
		const struct fng_fnlog_cfg *l = &c->functions.logs;

		CHECK(l->lines_per_second == 100 && l->burst_lines == 500 &&
				l->bytes_per_second == 65536 && l->burst_bytes == 262144 &&
				l->report_ms == 10000,
			"defaults: 100 lines/s, burst 500, 64 KiB/s, burst 256 KiB, report 10 s");
		fng__config_unref(c);
	}
	c = load_ok("functions: { logs: { lines_per_second: 0, burst_lines: 7, "
		"bytes_per_second: 1000, burst_bytes: 9000, report_ms: 100 } }\n" MIN_API,
		"explicit functions.logs");
	if (c) {
		const struct fng_fnlog_cfg *l = &c->functions.logs;

		CHECK(l->lines_per_second == 0 && l->burst_lines == 7 &&
				l->bytes_per_second == 1000 && l->burst_bytes == 9000 &&
				l->report_ms == 100,
			"explicit values land in the snapshot");
		fng__config_unref(c);
	}
	load_err("functions: { logs: { burst_bytes: 100 } }\n" MIN_API, "1:35", "burst_bytes",
		"burst_bytes below the longest line");
	load_err("functions: { logs: { lines: 5 } }\n" MIN_API, "1:22",
		"unknown key \"lines\" in functions.logs", "an unknown key in functions.logs");
	load_err("functions: { logs: { report_ms: 10 } }\n" MIN_API, "1:33", "report_ms",
		"report_ms under 100");
}

/* functions.max and functions.grants: what each function's manifest and workers may do. */
static const char policy_yaml[] =
	"functions:\n"
	"  max: { memory_mb: 256, cpu_ms: 60000 }\n"
	"  grants:\n"
	"    chat: { topics: [\"room.*\", lobby], sandbox: [net], learn: true, "
	"max: { memory_mb: 1024 } }\n"
	"    tool: { connections: [\"*\"], topics: [\"*\"] }\n"
	"    bridge: { connections: [feed] }\n"
	"    later: {}\n"
	"apis:\n"
	"  web:\n"
	"    stages: { s: {} }\n"
	"    routes:\n"
	"      \"GET /a\": { integration: { type: function, function: chat } }\n"
	"  chat:\n"
	"    protocol: websocket\n"
	"    stages: { live: {} }\n"
	"    routes:\n"
	"      $connect: { integration: { type: function, function: chat } }\n"
	"      $default: { integration: { type: function, function: helper } }\n"
	"  feed:\n"
	"    protocol: websocket\n"
	"    stages: { live: {} }\n"
	"    routes:\n"
	"      $default: { integration: { type: function, function: helper } }\n";

static bool has_tag(const struct fng_fn_policy *p, const char *api)
{
	char id[FNG_CONN_ID_LEN + 1] = "????AAAAAAAAAAAA";

	fng__conn_tag(api, id);
	return fng__grants_connection_ok(&p->grants, id, FNG_CONN_ID_LEN);
}

static void test_policy_defaults(void)
{
	struct fng_config *c = load_ok(MIN_API, "functions.max defaults");
	const struct fng_fn_policy *p;

	if (!c) {
		return;
	}
	CHECK_INT(c->functions.max.timeout_ms, 30000, "max.timeout_ms default");
	CHECK_INT(c->functions.max.memory_mb, 512, "max.memory_mb default");
	CHECK_INT(c->functions.max.cpu_ms, 0, "max.cpu_ms default: none");
	CHECK_INT(c->functions.max.concurrency,
		fng__fn_cpus_available() * 4 > 8 ? fng__fn_cpus_available() * 4 : 8,
		"max.concurrency default: 4x the default, at least 8");
	{
		/* A maximum under the CPUs available lowers the default the operator did not
		 * write; one the operator wrote over it is still an error. */
		struct fng_config *m = load_ok("functions: { max: { concurrency: 1 } }\n" MIN_API,
			"max.concurrency 1, no default written");

		if (m) {
			CHECK_INT(m->functions.defaults.concurrency, 1,
				"the CPUs-available default lowered to max.concurrency 1");
		}
		fng__config_unref(m);
		load_err("functions: { max: { concurrency: 1 }, defaults: { concurrency: 2 } }\n"
			MIN_API, "1:64",
			"functions.defaults.concurrency 2 is over functions.max.concurrency 1",
			"a written default over the maximum");
	}
	CHECK_INT(c->functions.max.min_warm, 2, "max.min_warm default");
	CHECK_INT(c->functions.max.queue, 131072, "max.queue default");
	p = fng__config_fn_policy(c, "anything");
	CHECK(p == &c->functions.default_policy, "a function named nowhere: the default policy");
	CHECK(p->name == NULL && p->napis == 0 && !p->any_api && !p->learn && p->groups == 0,
		"default policy: no connections, no sandbox group, no learn");
	CHECK(!fng__grants_topic_ok(&p->grants, "metrics", 7), "default policy: no topic");
	CHECK(!has_tag(p, "demo"), "default policy: its workers are told no API");
	fng__config_unref(c);
}

static void test_policy_grants(void)
{
	struct fng_config *c = load_ok(policy_yaml, "grants");
	const struct fng_fn_policy *chat, *tool, *bridge, *helper, *later;

	if (!c) {
		return;
	}
	chat = fng__config_fn_policy(c, "chat");
	tool = fng__config_fn_policy(c, "tool");
	bridge = fng__config_fn_policy(c, "bridge");
	helper = fng__config_fn_policy(c, "helper");
	later = fng__config_fn_policy(c, "later");
	CHECK_STR(chat->name, "chat", "chat has a policy");
	CHECK_STR(helper->name, "helper", "a function of WebSocket routes only has a policy");
	CHECK_STR(later->name, "later", "a grant for a function not routed (yet) is fine");
	CHECK(fng__config_fn_policy(c, "web") == &c->functions.default_policy,
		"an API name is not a function");
	CHECK_INT(chat->max.memory_mb, 1024, "grant max overrides functions.max");
	CHECK_INT(chat->max.cpu_ms, 60000, "grant max inherits functions.max");
	CHECK_INT(chat->max.timeout_ms, 30000, "... and its defaults");
	CHECK_INT(bridge->max.memory_mb, 256, "no grant max: functions.max");
	CHECK(chat->groups == 1 && chat->learn, "chat: sandbox [net] and learn granted");
	CHECK(tool->groups == 0 && !tool->learn, "tool: neither");
	/* Connections: the WebSocket APIs that route to it, plus grants.NAME.connections. */
	CHECK(fng__policy_api_ok(chat, "chat") && !fng__policy_api_ok(chat, "feed") &&
		!fng__policy_api_ok(chat, "web"), "chat: its own WebSocket API only");
	CHECK(fng__policy_api_ok(helper, "chat") && fng__policy_api_ok(helper, "feed"),
		"helper: both APIs that route to it");
	CHECK(fng__policy_api_ok(bridge, "feed") && !fng__policy_api_ok(bridge, "chat"),
		"bridge: the granted API");
	CHECK(fng__policy_api_ok(tool, "chat") && fng__policy_api_ok(tool, "feed"),
		"tool: \"*\" is every API");
	CHECK(!fng__policy_api_ok(later, "chat"), "later: none");
	CHECK(has_tag(chat, "chat") && !has_tag(chat, "feed"), "chat's workers know chat's tag");
	CHECK(has_tag(helper, "chat") && has_tag(helper, "feed"), "helper's workers know both");
	CHECK(tool->grants.any_connection, "tool's workers are told any connection");
	CHECK(!fng__grants_connection_ok(&chat->grants, "short", 5),
		"an id of another length is no connection");
	/* Topics: exact names, NAME* prefixes, * for all; none by default. */
	CHECK(fng__grants_topic_ok(&chat->grants, "room.lobby", 10) &&
		fng__grants_topic_ok(&chat->grants, "room.", 5) &&
		fng__grants_topic_ok(&chat->grants, "lobby", 5), "chat: room.* and lobby");
	CHECK(!fng__grants_topic_ok(&chat->grants, "room", 4) &&
		!fng__grants_topic_ok(&chat->grants, "lobby2", 6) &&
		!fng__grants_topic_ok(&chat->grants, "metrics", 7), "chat: nothing else");
	CHECK(fng__grants_topic_ok(&tool->grants, "x", 1), "tool: * is every topic");
	CHECK(!fng__grants_topic_ok(&helper->grants, "room.a", 6), "helper: no topic");
	fng__config_unref(c);
}

/* Loads a manifest against function fn's policy in the config yaml. */
static int manifest(const char *yaml, const char *fn, const char *text, struct fng_fn_limits *m,
	struct fng_buf *e)
{
	struct fng_config *c = load_ok(yaml, "policy config");
	char name[64];
	int rc;

	if (!c) {
		return -1;
	}
	snprintf(name, sizeof(name), "%s.yaml", fn);
	e->len = 0;
	rc = fng__manifest_load_string(name, text, strlen(text), &c->functions.defaults,
		fng__config_fn_policy(c, fn), m, e);
	fng__buf_append(e, "", 1);
	fng__config_unref(c);
	return rc;
}

/* Manifests the policy refuses: config, function, manifest, the error line's start. */
static const struct {
	const char *yaml, *fn, *text, *line, *what;
} refused[] = {
	{ MIN_API, "big", "memory_mb: 10240\n", "big.yaml:1:12: memory_mb 10240 is over the "
		"operator's maximum 512 (functions.max.memory_mb)\n", "memory_mb 10240" },
	{ MIN_API, "big", "concurrency: 8\nmin_warm: 3\n", "big.yaml:2:11: min_warm 3 is over "
		"the operator's maximum 2 (functions.max.min_warm)", "min_warm 3" },
	/* 1024: over the default maximum (4x the CPUs available, at least 8) on any machine
	 * with fewer than 256 CPUs. */
	{ MIN_API, "big", "concurrency: 1024\n", "big.yaml:1:14: concurrency 1024 is over the "
		"operator's maximum ", "concurrency 1024" },
	{ MIN_API, "big", "timeout_ms: 60000\n", "big.yaml:1:13: timeout_ms 60000 is over the "
		"operator's maximum 30000", "timeout 60 s" },
	{ MIN_API, "big", "queue: 200000\n", "big.yaml:1:8: queue 200000 is over the "
		"operator's maximum 131072", "queue 200000" },
	{ MIN_API, "net", "sandbox: [net]\n", "net.yaml:1:10: sandbox group net is not granted "
		"to function net (functions.grants.net.sandbox)", "sandbox: [net] without a grant" },
	{ MIN_API, "dbg", "learn: true\n", "dbg.yaml:1:8: learn is not granted to function dbg "
		"(functions.grants.dbg.learn)", "learn without a grant" },
	{ policy_yaml, "helper", "learn: true\n", "helper.yaml:1:8: learn is not granted",
		"learn granted to another function" },
	{ policy_yaml, "chat", "memory_mb: 2048\n", "chat.yaml:1:12: memory_mb 2048 is over the "
		"operator's maximum 1024 (functions.grants.chat.max.memory_mb)",
		"over the grant's own maximum" },
	{ policy_yaml, "helper", "cpu_ms: 0\n", "helper.yaml:1:9: cpu_ms 0 (no limit) is over "
		"the operator's maximum 60000 (functions.max.cpu_ms)",
		"cpu_ms 0 (none) with a maximum" },
	{ policy_yaml, "helper", "cpu_ms: 90000\n", "helper.yaml:1:9: cpu_ms 90000 is over the "
		"operator's maximum 60000", "cpu_ms over" },
};

static void test_policy_manifests(void)
{
	struct fng_fn_limits m;
	struct fng_buf e = { 0 };

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		const char *line = refused[i].line, *what = refused[i].what;
		int rc = manifest(refused[i].yaml, refused[i].fn, refused[i].text, &m, &e);
		bool ok = e.p && strncmp(e.p, line, strlen(line)) == 0;

		CHECK_INT(rc, UV_EPERM, "%s: refused", what);
		CHECK(ok, "%s: \"%.*s\"", what, (int)strcspn(line, "\n"), line);
		if (!ok) {
			printf("# errors:\n%s\n", e.p ? e.p : "(none)");
		}
	}
	CHECK_INT(manifest(policy_yaml, "chat", "memory_mb: 1024\nsandbox: [net]\nlearn: true\n",
		&m, &e), 0, "chat: what its grant allows");
	CHECK(m.memory_mb == 1024 && m.groups == 1 && m.learn, "chat: the manifest's values");
	CHECK_INT(m.cpu_ms, 60000, "cpu_ms not given, none by default: the maximum");
	CHECK(fng__grants_topic_ok(&m.grants, "room.x", 6) && !m.grants.any_connection &&
		m.grants.ntags == 1, "the limits carry the policy's grants for the workers");
	CHECK_INT(manifest(policy_yaml, "helper", "cpu_ms: 1000\n", &m, &e), 0, "cpu_ms 1000");
	CHECK_INT(m.cpu_ms, 1000, "cpu_ms under the maximum is kept");
	CHECK_INT(manifest(MIN_API, "plain", "", &m, &e), 0, "no manifest: the defaults");
	CHECK(m.cpu_ms == 0 && m.memory_mb == 128, "no maximum for cpu_ms: none stays none");
	CHECK_INT(manifest(MIN_API, "bad", "memory_mb: x\n", &m, &e), FNG_ECONFIG,
		"a malformed manifest is FNG_ECONFIG, not a refusal");
	fng__buf_finish(&e);
	/* The operator's own defaults are granted to every function. */
	CHECK_INT(manifest("functions: { defaults: { sandbox: [net] } }\n" MIN_API, "any",
		"sandbox: [net]\n", &m, &e), 0, "defaults.sandbox is granted to all");
	fng__buf_finish(&e);
}

static void test_policy_errors(void)
{
	load_err("functions: { max: { memory: 1 } }\n" MIN_API, "1:21", "unknown key \"memory\"",
		"unknown key in functions.max");
	load_err("functions: { max: { memory_mb: 8 } }\n" MIN_API, "1:32", "between 16",
		"functions.max.memory_mb out of range");
	load_err("functions: { grants: { f: { topic: [a] } } }\n" MIN_API, "1:29",
		"unknown key \"topic\"", "unknown key in a grant");
	load_err("functions: { grants: { f: { max: { queues: 1 } } } }\n" MIN_API, "1:36",
		"unknown key \"queues\"", "unknown key in a grant's max");
	load_err("functions: { defaults: { memory_mb: 1024 } }\n" MIN_API, "1:37",
		"functions.defaults.memory_mb 1024 is over functions.max.memory_mb 512",
		"defaults over the default maximum");
	load_err("functions:\n  defaults: { timeout_ms: 5000 }\n  max: { timeout_ms: 4000 }\n"
		 MIN_API, "2:27", "functions.defaults.timeout_ms 5000 is over functions.max",
		"defaults over a set maximum");
	load_err("functions:\n  defaults: { cpu_ms: 9000 }\n  max: { cpu_ms: 5000 }\n" MIN_API,
		"2:23", "cpu_ms 9000 is over", "defaults.cpu_ms over max.cpu_ms");
	load_err("functions: { grants: { f: { max: { memory_mb: 64 } } } }\n" MIN_API, "1:47",
		"functions.grants.f.max.memory_mb 64 is below functions.defaults.memory_mb 128",
		"a grant's max below the defaults");
	load_err("functions: { grants: { f: { connections: [nope] } } }\n" MIN_API, "1:43",
		"unknown API \"nope\"", "connections: unknown API");
	load_err("functions: { grants: { f: { connections: [demo] } } }\n" MIN_API, "1:43",
		"API \"demo\" is not a WebSocket API", "connections: an HTTP API");
	load_err("functions: { grants: { f: { connections: \"*\" } } }\n" MIN_API, "1:43",
		"connections must be a list", "connections: a scalar");
	load_err("functions: { grants: { f: { topics: [\"room*.x\"] } } }\n" MIN_API, "1:39",
		"topic pattern \"room*.x\"", "a * inside a pattern");
	load_err("functions: { grants: { f: { topics: [\"**\"] } } }\n" MIN_API, "1:39",
		"topic pattern \"**\"", "pattern **");
	load_err("functions: { grants: { f: { topics: [\"\"] } } }\n" MIN_API, "1:39",
		"topic pattern \"\"", "empty pattern");
	load_err("functions: { grants: { f: { topics: [\"a b\"] } } }\n" MIN_API, "1:39",
		"topic pattern \"a b\"", "pattern with a space");
	load_err("functions: { grants: { f: { topics: [a, b, a] } } }\n" MIN_API, "1:44",
		"topic pattern \"a\" listed twice", "duplicate pattern");
	load_err("functions: { grants: { f: { sandbox: [disk] } } }\n" MIN_API, "1:39",
		"unknown sandbox group \"disk\"", "unknown sandbox group in a grant");
	load_err("functions: { grants: { f: { learn: yes } } }\n" MIN_API, "1:36",
		"learn must be true or false", "learn not a bool");
	load_err("functions: { grants: { f.g: {} } }\n" MIN_API, "1:24",
		"function name \"f.g\" must match", "invalid function name");
	load_err("functions: { grants: { f: {}, f: {} } }\n" MIN_API, "1:31",
		"duplicate function \"f\"", "duplicate grant");
	{
		/* 1024 bytes of patterns at most: 60 names of 20 characters do not fit. */
		char yaml[4096] = "functions: { grants: { f: { topics: [";

		for (int i = 0; i < 60; i++) {
			snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "%stopic-%014d",
				i ? ", " : "", i);
		}
		strcat(yaml, "] } } }\n" MIN_API);
		load_err_any(yaml, (const char *const[]){ "t.yaml:1:", NULL },
			"topics: more than 1022 bytes", "too many pattern bytes");
	}
}

/* functions.cpu_isolation: on by default, the operator's only; a manifest cannot turn it off. */
static void test_cpu_isolation(void)
{
	struct fng_config *c = load_ok(MIN_API, "cpu_isolation default");
	struct fng_fn_limits m;
	struct fng_buf e = { 0 };
	const char *man = "cpu_isolation: false\n";

	if (c) {
		CHECK(c->functions.cpu_isolation, "cpu_isolation defaults to true");
		CHECK(fng__manifest_load_string("spin.yaml", man, strlen(man),
				&c->functions.defaults, NULL, &m, &e) != 0 && e.p &&
				strstr(e.p, "cpu_isolation"),
			"a manifest may not set cpu_isolation (%.*s)",
			e.p ? (int)strcspn(e.p, "\n") : 8, e.p ? e.p : "no error");
		fng__buf_finish(&e);
		fng__config_unref(c);
	}
	c = load_ok("functions: { cpu_isolation: false }\n" MIN_API, "cpu_isolation false");
	if (c) {
		CHECK(!c->functions.cpu_isolation, "cpu_isolation: false");
		fng__config_unref(c);
	}
}

#define WS_API(extra, routes)                                                              \
	"apis:\n"                                                                          \
	"  chat:\n"                                                                        \
	"    protocol: websocket\n" extra                                                  \
	"    stages: { prod: {} }\n"                                                       \
	"    routes:\n" routes

#define WS_ROUTE(key) "      " key ": { integration: { type: mock } }\n"

/* WebSocket APIs: defaults, route keys, route selection, the websocket block, refusals. */
static void test_websocket_api(void)
{
	struct fng_config *c = load_ok(WS_API("", WS_ROUTE("$connect") WS_ROUTE("$default")
		WS_ROUTE("sendmessage")), "websocket API");
	const struct fng_api *a;

	if (c) {
		a = &c->apis[0];
		CHECK_INT(a->protocol, FNG_API_WEBSOCKET, "protocol websocket");
		CHECK_STR(a->route_selection, "$request.body.action", "route_selection default");
		CHECK(a->nselection == 1 && strcmp(a->selection[0], "action") == 0,
			"route_selection compiled to [action]");
		CHECK_INT(a->ws.message_bytes, 131072, "message_bytes default (128 KB)");
		CHECK_INT(a->ws.frame_bytes, 32768, "frame_bytes default (32 KB)");
		CHECK_INT(a->ws.idle_ms, 600000, "idle_ms default (10 min)");
		CHECK_INT(a->ws.max_duration_ms, 7200000, "max_duration_ms default (2 h)");
		CHECK_INT(a->ws.ping_ms, 30000, "ping_ms default");
		CHECK_INT(a->ws.send_queue_bytes, 1 << 20, "send_queue_bytes default");
		CHECK(fng__api_ws_route(a, "sendmessage", 11) != NULL, "route sendmessage found");
		CHECK(fng__api_ws_route(a, "$connect", 8) != NULL, "route $connect found");
		CHECK(fng__api_ws_route(a, "$disconnect", 11) == NULL, "no $disconnect route");
		CHECK(a->router == NULL, "no HTTP router");
		fng__config_unref(c);
	}
	c = load_ok(WS_API("    route_selection: $request.body.meta.kind\n"
			"    websocket: { message_bytes: 1000, idle_ms: 500, "
			"subprotocols: [b, a] }\n",
			WS_ROUTE("$default")), "websocket API with settings");
	if (c) {
		a = &c->apis[0];
		CHECK(a->nselection == 2 && strcmp(a->selection[1], "kind") == 0,
			"route_selection meta.kind");
		CHECK_INT(a->ws.message_bytes, 1000, "message_bytes set");
		CHECK(a->ws.nsubprotocols == 2 && strcmp(a->ws.subprotocols[0], "b") == 0,
			"subprotocols in the API's order");
		fng__config_unref(c);
	}
	load_err(WS_API("", WS_ROUTE("\"GET /x\"")), "6:8", "WebSocket route key",
		"an HTTP route key in a WebSocket API");
	load_err(WS_API("", WS_ROUTE("$conect")), "6:7", "WebSocket route key",
		"a misspelt $-key");
	load_err(WS_API("", WS_ROUTE("a") WS_ROUTE("a")), "7:7", "duplicate",
		"a duplicate WebSocket route (YAML allows it, we do not)");
	load_err(WS_API("    route_selection: $request.header.x\n", WS_ROUTE("$default")), "4:22",
		"route_selection", "a route selection outside the body");
	load_err(WS_API("    route_selection: $request.body.a..b\n", WS_ROUTE("$default")), "4:22",
		"route_selection", "an empty member in the route selection");
	load_err(WS_API("    websocket: { frame_bytes: 0 }\n", WS_ROUTE("$default")), "4:31",
		"frame_bytes", "frame_bytes 0");
	load_err(WS_API("    websocket: { slow_consumer: drop_newest }\n", WS_ROUTE("$default")),
		"4:33", "slow_consumer", "an unknown slow consumer policy");
	load_err(WS_API("    websocket: { subprotocols: [\"a b\"] }\n", WS_ROUTE("$default")),
		"4:34", "subprotocol", "a subprotocol that is not a token");
	load_err("apis:\n  a:\n    protocol: grpc\n    stages: { p: {} }\n    routes:\n"
		"      \"GET /\": { integration: { type: mock } }\n", "3:15", "unknown protocol",
		"an unknown protocol");
	load_err("apis:\n  a:\n    websocket: {}\n    stages: { p: {} }\n    routes:\n"
		"      \"GET /\": { integration: { type: mock } }\n", "3:16", "protocol: websocket",
		"a websocket block on an HTTP API");
}

/* slow_consumer, message_rate and message_burst of the websocket block. */
static void test_websocket_queue_and_rate(void)
{
	struct fng_config *c = load_ok(WS_API("", WS_ROUTE("$default")), "websocket defaults");

	if (c) {
		CHECK(!c->apis[0].ws.drop_oldest, "slow_consumer defaults to close");
		CHECK_INT(c->apis[0].ws.message_rate, 0, "message_rate defaults to 0 (no limit)");
		CHECK_INT(c->apis[0].ws.message_burst, 0, "message_burst defaults to 0 (the rate)");
		fng__config_unref(c);
	}
	c = load_ok(WS_API("    websocket: { slow_consumer: drop_oldest, message_rate: 1000000,"
			   " message_burst: 1000000 }\n", WS_ROUTE("$default")),
		"drop_oldest, rate and burst at their maximum");
	if (c) {
		CHECK(c->apis[0].ws.drop_oldest, "slow_consumer: drop_oldest");
		CHECK_INT(c->apis[0].ws.message_rate, 1000000, "message_rate 1000000");
		CHECK_INT(c->apis[0].ws.message_burst, 1000000, "message_burst 1000000");
		fng__config_unref(c);
	}
	c = load_ok(WS_API("    websocket: { slow_consumer: close, message_rate: 5 }\n",
			WS_ROUTE("$default")), "slow_consumer close, a rate without a burst");
	if (c) {
		CHECK(!c->apis[0].ws.drop_oldest, "slow_consumer: close");
		CHECK(c->apis[0].ws.message_rate == 5 && c->apis[0].ws.message_burst == 0,
			"message_rate 5, message_burst left at 0");
		fng__config_unref(c);
	}
	load_err(WS_API("    websocket: { message_rate: 1000001 }\n", WS_ROUTE("$default")),
		"4:32", "message_rate must be between 0 and 1000000", "message_rate over range");
	load_err(WS_API("    websocket: { message_burst: 1000001 }\n", WS_ROUTE("$default")),
		"4:33", "message_burst must be between 0 and 1000000", "message_burst over range");
	load_err(WS_API("    websocket: { message_rate: -1 }\n", WS_ROUTE("$default")), "4:32",
		"must be an integer", "a negative message_rate");
	load_err(WS_API("    websocket: { message_burst: 2.5 }\n", WS_ROUTE("$default")), "4:33",
		"must be an integer", "a fractional message_burst");
	load_err(WS_API("    websocket: { slow_consumer: [close] }\n", WS_ROUTE("$default")),
		"4:33", "must be a scalar", "slow_consumer as a list");
}

/*
 * connect_throttle of the websocket block: none by default; a client throttle's keys with
 * their defaults (identity source_ip, ipv6_prefix 64) and ranges; refusals at FILE:LINE:COL.
 */
static void test_websocket_connect_throttle(void)
{
	struct fng_config *c = load_ok(WS_API("", WS_ROUTE("$default")), "no connect_throttle");
	const struct fng_client_throttle *ct;

	if (c) {
		CHECK(c->apis[0].ws.connect_throttle == NULL, "connect_throttle defaults to none");
		fng__config_unref(c);
	}
	c = load_ok(WS_API("    websocket: { connect_throttle: { rate: 2, burst: 3 } }\n",
			WS_ROUTE("$connect") WS_ROUTE("$default")), "connect_throttle rate and burst");
	if (c) {
		ct = c->apis[0].ws.connect_throttle;
		CHECK(ct && ct->t.rate == 2 && ct->t.burst == 3, "rate 2, burst 3");
		CHECK(ct && ct->identity == FNG_THROTTLE_SOURCE_IP && ct->ipv6_prefix == 64,
			"identity defaults to source_ip, ipv6_prefix to 64");
		fng__config_unref(c);
	}
	c = load_ok(WS_API("    websocket: { connect_throttle: { rate: 1000000, burst: 0, "
			   "identity: \"claim:tenant\", ipv6_prefix: 128 } }\n", WS_ROUTE("$default")),
		"connect_throttle at its bounds, by claim");
	if (c) {
		ct = c->apis[0].ws.connect_throttle;
		CHECK(ct && ct->t.rate == 1000000 && ct->t.burst == 0 && ct->ipv6_prefix == 128,
			"rate 1000000, burst 0 (refuses every handshake), prefix 128");
		CHECK(ct && ct->identity == FNG_THROTTLE_CLAIM &&
			strcmp(ct->ctx_name, "claims.tenant") == 0 && ct->ctx_len == 13,
			"claim:tenant is the authorizer context's claims.tenant");
		fng__config_unref(c);
	}
	c = load_ok(WS_API("    websocket: { connect_throttle: { rate: 1, burst: 1, "
			   "identity: principal } }\n", WS_ROUTE("$default")), "by principal");
	if (c) {
		ct = c->apis[0].ws.connect_throttle;
		CHECK(ct && ct->identity == FNG_THROTTLE_PRINCIPAL, "identity principal");
		fng__config_unref(c);
	}
	load_err(WS_API("    websocket: { connect_throttle: { rate: 1, burst: 1, "
			"identity: api_key } }\n", WS_ROUTE("$default")), "4:67",
		"connect_throttle.identity api_key: a WebSocket handshake carries no accepted API key",
		"identity api_key refused");
	load_err(WS_API("    websocket: { connect_throttle: { rate: 0, burst: 1 } }\n",
			WS_ROUTE("$default")), "4:44", "rate must be between 1 and 1000000", "rate 0");
	load_err(WS_API("    websocket: { connect_throttle: { rate: 1, burst: 1000001 } }\n",
			WS_ROUTE("$default")), "4:54", "burst must be between 0 and 1000000",
		"burst over range");
	load_err(WS_API("    websocket: { connect_throttle: { rate: 1, burst: 1, identity: ip } }\n",
			WS_ROUTE("$default")), "4:67",
		"connect_throttle.identity \"ip\": use source_ip, principal, api_key or claim:NAME",
		"an unknown identity");
	load_err(WS_API("    websocket: { connect_throttle: { rate: 1, burst: 1, "
			"identity: \"claim:\" } }\n", WS_ROUTE("$default")), "4:68",
		"connect_throttle.identity \"claim:\"", "a claim without a name");
	load_err(WS_API("    websocket: { connect_throttle: { rate: 1, burst: 1, "
			"ipv6_prefix: 129 } }\n", WS_ROUTE("$default")), "4:70",
		"ipv6_prefix must be between 1 and 128", "ipv6_prefix 129");
	load_err(WS_API("    websocket: { connect_throttle: { rate: 1 } }\n", WS_ROUTE("$default")),
		"4:36", "connect_throttle needs the key \"burst\"", "burst missing");
	load_err(WS_API("    websocket: { connect_throttle: 5 }\n", WS_ROUTE("$default")), "4:36",
		"connect_throttle must be a mapping", "a scalar");
	load_err(WS_API("    websocket: { connect_throttle: { rate: 1, burst: 1, "
			"idenity: principal } }\n", WS_ROUTE("$default")), "4:57",
		"unknown key \"idenity\" in connect_throttle", "a misspelt key");
}

/* message_order: a connection's messages in order by default, parallel on request. */
static void test_websocket_message_order(void)
{
	struct fng_config *c = load_ok(WS_API("", WS_ROUTE("$default")), "message_order default");

	if (c) {
		CHECK(!c->apis[0].ws.parallel, "message_order defaults to connection");
		fng__config_unref(c);
	}
	c = load_ok(WS_API("    websocket: { message_order: parallel }\n", WS_ROUTE("$default")),
		"message_order: parallel");
	if (c) {
		CHECK(c->apis[0].ws.parallel, "message_order: parallel");
		fng__config_unref(c);
	}
	c = load_ok(WS_API("    websocket: { message_order: connection }\n", WS_ROUTE("$default")),
		"message_order: connection");
	if (c) {
		CHECK(!c->apis[0].ws.parallel, "message_order: connection");
		fng__config_unref(c);
	}
	load_err(WS_API("    websocket: { message_order: random }\n", WS_ROUTE("$default")),
		"4:33", "message_order: expected \"connection\" or \"parallel\"",
		"an unknown message order");
	load_err(WS_API("    websocket: { message_order: [parallel] }\n", WS_ROUTE("$default")),
		"4:33", "must be a scalar", "message_order as a list");
}

/* ---- a temporary directory for the file-reading keys ---- */

static char tmp_root[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Writes len bytes (data NULL: zeros, as a sparse file) to tmp_root/rel, making its dirs. */
static bool put_file(const char *rel, const char *data, size_t len)
{
	char path[512];
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", tmp_root, rel);
	for (char *p = path + strlen(tmp_root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		return false;
	}
	ok = data ? write(fd, data, len) == (ssize_t)len : ftruncate(fd, (off_t)len) == 0;
	close(fd);
	return ok;
}

static bool put_text(const char *rel, const char *text)
{
	return put_file(rel, text, strlen(text));
}

/* text with every "%s" in it replaced by the temporary directory. */
static const char *in_tmp(const char *text)
{
	static char out[4096];
	size_t o = 0;

	for (const char *p = text; *p && o < sizeof(out) - sizeof(tmp_root); p++) {
		if (p[0] == '%' && p[1] == 's') {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", tmp_root);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return out;
}

/* ---- admin ---- */

static void test_admin(void)
{
	static const char token256[] =
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char yaml[1024];
	struct fng_config *c = load_ok(MIN_API, "no admin block");

	if (c) {
		CHECK(c->admin.listen == NULL && c->admin.token == NULL,
			"no admin listener by default");
		fng__config_unref(c);
	}
	c = load_ok("admin: { listen: \"127.0.0.1:9000\", token: 0123456789abcdef }\n" MIN_API,
		"admin with a 16-character token");
	if (c) {
		CHECK_STR(c->admin.listen, "127.0.0.1:9000", "admin.listen");
		CHECK_STR(c->admin.token, "0123456789abcdef", "admin.token");
		fng__config_unref(c);
	}
	snprintf(yaml, sizeof(yaml), "admin: { listen: \"[::1]:0\", token: %s }\n" MIN_API,
		token256);
	c = load_ok(yaml, "admin on IPv6 with a 256-character token");
	if (c) {
		CHECK(c->admin.token && strlen(c->admin.token) == 256, "256-character token kept");
		fng__config_unref(c);
	}
	snprintf(yaml, sizeof(yaml), "admin: { listen: \"[::1]:0\", token: %sx }\n" MIN_API,
		token256);
	load_err(yaml, "1:36", "16 to 256 characters", "a 257-character admin token");
	load_err("admin: { listen: \"127.0.0.1:9000\", token: 0123456789abcde }\n" MIN_API, "1:43",
		"admin.token must be 16 to 256 characters without white space",
		"a 15-character admin token");
	load_err("admin: { listen: \"127.0.0.1:9000\", token: \"0123456789 abcdef\" }\n" MIN_API,
		"1:44", "without white space", "a space in the admin token");
	load_err("admin: { listen: \"127.0.0.1:9000\", token: \"0123456789\\tabcdef\" }\n" MIN_API,
		"1:44", "without white space", "a tab in the admin token");
	load_err("admin: { listen: \"127.0.0.1:9000\" }\n" MIN_API, "1:8",
		"admin needs a token (admin.token or admin.token_file)", "admin without a token");
	load_err("admin: { token: 0123456789abcdef }\n" MIN_API, "1:8",
		"admin needs the key \"listen\"", "admin without listen");
	load_err("admin: { listen: localhost:9000, token: 0123456789abcdef }\n" MIN_API, "1:18",
		"admin.listen \"localhost:9000\" must be IPv4:PORT", "admin.listen not an address");
	load_err("admin: { listen: \"127.0.0.1:9000\", token: 0123456789abcdef, tls: on }\n"
		MIN_API, "1:61", "unknown key \"tls\" in admin", "an unknown key in admin");
	load_err("admin: [127.0.0.1:9000]\n" MIN_API, "1:8", "admin must be a mapping",
		"admin as a list");
}

/* admin.token_file: the first line of a file, relative to the config file. */
static void test_admin_token_file(void)
{
	struct fng_buf e = { 0 };
	struct fng_config *c = NULL;
	char path[600];

	CHECK(put_text("conf/fngate.yaml",
		      "admin: { listen: \"127.0.0.1:0\", token_file: secret/token }\n" MIN_API) &&
			put_text("conf/secret/token", "fedcba9876543210fedcba\r\nsecond line\n"),
		"token file next to a config file");
	snprintf(path, sizeof(path), "%s/conf/fngate.yaml", tmp_root);
	CHECK_INT(fng__config_load(path, &c, &e), 0, "token_file relative to the config file");
	if (c) {
		CHECK_STR(c->admin.token, "fedcba9876543210fedcba",
			"token_file: the first line, without its line end");
		fng__config_unref(c);
	}
	fng__buf_finish(&e);

	c = load_ok(in_tmp("admin: { listen: \"127.0.0.1:0\","
			   " token_file: \"%s/conf/secret/token\" }\n" MIN_API),
		"token_file as an absolute path");
	if (c) {
		CHECK_STR(c->admin.token, "fedcba9876543210fedcba", "absolute token_file read");
		fng__config_unref(c);
	}
	load_err(in_tmp("admin: { listen: \"127.0.0.1:0\", token_file: \"%s/conf/nope\" }\n"
		MIN_API), "1:46", "no such file", "a missing token_file");
	put_text("conf/empty", "");
	load_err(in_tmp("admin: { listen: \"127.0.0.1:0\", token_file: \"%s/conf/empty\" }\n"
		MIN_API), "1:46", "empty", "an empty token_file");
	put_text("conf/short", "0123456789abcde\n");
	load_err(in_tmp("admin: { listen: \"127.0.0.1:0\", token_file: \"%s/conf/short\" }\n"
		MIN_API), "1:46", "16 to 256 characters", "a 15-character token in token_file");
	put_text("conf/spaced", "0123456789 abcdef\n");
	load_err(in_tmp("admin: { listen: \"127.0.0.1:0\", token_file: \"%s/conf/spaced\" }\n"
		MIN_API), "1:46", "without white space", "a space in the token_file's token");
}

/* ---- schedules ---- */

#define SCHED(body) "schedules:\n" body MIN_API

/* cluster:'s keys for limits and quotas (state/cluster_conf.c): defaults, words, bounds. */
static void test_cluster_limits(void)
{
	struct fng_config *c;

	c = load_ok("cluster: { redis: \"127.0.0.1:7000\" }\n" MIN_API, "cluster defaults");
	if (c) {
		CHECK(!c->cluster_limits.local_limits && !c->cluster_limits.local_quotas &&
			!c->cluster_limits.limits_fail_closed, "shared limits and quotas, rate/N on failure");
		CHECK(c->cluster_limits.lease == 4 && c->cluster_limits.lease_ms == 50 &&
			c->cluster_limits.expected_nodes == 0, "lease 4 for 50 ms, N from the registry");
		fng__config_unref(c);
	}
	c = load_ok("cluster: { redis: \"127.0.0.1:7000\", limits: local, quotas: local,\n"
		"  limits_on_failure: closed, lease: 16, lease_ms: 200, expected_nodes: 3 }\n" MIN_API,
		"cluster limits set");
	if (c) {
		CHECK(c->cluster_limits.local_limits && c->cluster_limits.local_quotas &&
			c->cluster_limits.limits_fail_closed, "local, local, closed");
		CHECK(c->cluster_limits.lease == 16 && c->cluster_limits.lease_ms == 200 &&
			c->cluster_limits.expected_nodes == 3, "lease 16 for 200 ms, 3 nodes");
		fng__config_unref(c);
	}
	load_err("cluster: { redis: \"127.0.0.1:7000\", limits: sometimes }\n" MIN_API, "1:45",
		"cluster.limits must be shared or local", "cluster.limits: another word");
	load_err("cluster: { redis: \"127.0.0.1:7000\", limits_on_failure: open }\n" MIN_API,
		"1:56", "cluster.limits_on_failure must be local or closed",
		"cluster.limits_on_failure: open");
	load_err("cluster: { redis: \"127.0.0.1:7000\", lease: 0 }\n" MIN_API, "1:44", "lease",
		"cluster.lease: 0");
}

static void test_schedules(void)
{
	struct fng_config *c = load_ok(SCHED("  tick: { function: wsecho, every_ms: 100 }\n"
					     "  daily:\n"
					     "    function: report-1\n"
					     "    every_ms: 86400000\n"
					     "    body: '{\"kind\":\"daily\"}'\n"),
		"two schedules");

	if (c) {
		CHECK_INT(c->nschedules, 2, "two schedules");
		if (c->nschedules == 2) {
			const struct fng_schedule *t = &c->schedules[0], *d = &c->schedules[1];

			CHECK(strcmp(t->name, "tick") == 0 && strcmp(t->function, "wsecho") == 0 &&
					t->every_ms == 100,
				"tick: wsecho every 100 ms");
			CHECK_STR(t->body, "", "body defaults to \"\"");
			CHECK(strcmp(d->name, "daily") == 0 &&
					strcmp(d->function, "report-1") == 0 &&
					d->every_ms == 86400000,
				"daily: report-1 every 86400000 ms");
			CHECK_STR(d->body, "{\"kind\":\"daily\"}", "body as written");
			CHECK(strcmp(t->route.key, "$schedule") == 0 &&
					t->route.integration.type == FNG_INTEGRATION_FUNCTION &&
					strcmp(t->route.integration.function, "wsecho") == 0,
				"a schedule's route: $schedule, the function integration");
		}
		fng__config_unref(c);
	}
	c = load_ok(MIN_API, "no schedules");
	if (c) {
		CHECK_INT(c->nschedules, 0, "no schedules by default");
		fng__config_unref(c);
	}
	load_err(SCHED("  tick: { function: f, every_ms: 99 }\n"), "2:34",
		"every_ms must be between 100 and 86400000", "every_ms below 100");
	load_err(SCHED("  tick: { function: f, every_ms: 86400001 }\n"), "2:34",
		"every_ms must be between 100 and 86400000", "every_ms over a day");
	load_err(SCHED("  tick: { function: f }\n"), "2:9", "schedule needs the key \"every_ms\"",
		"a schedule without every_ms");
	load_err(SCHED("  tick: { every_ms: 1000 }\n"), "2:9",
		"schedule needs the key \"function\"", "a schedule without a function");
	load_err(SCHED("  tick: { function: \"a b\", every_ms: 1000 }\n"), "2:22",
		"function name \"a b\" must match", "a schedule's function name with a space");
	load_err(SCHED("  ti.ck: { function: f, every_ms: 1000 }\n"), "2:3",
		"schedule name \"ti.ck\" must match", "a schedule name with a dot");
	load_err(SCHED("  tick: { function: f, every_ms: 1000, cron: daily }\n"), "2:40",
		"unknown key \"cron\" in schedule", "an unknown key in a schedule");
	load_err(SCHED("  tick: { function: f, every_ms: 1000, body: [1] }\n"), "2:46",
		"must be a scalar", "a body that is not a string");
	load_err("schedules: [tick]\n" MIN_API, "1:12", "schedules must be a mapping",
		"schedules as a list");
}

/* ---- the static integration ---- */

#define STATIC_ROUTE(opts) ROUTE_HEAD "        integration: { type: static" opts " }\n"

/* Loads a static route over tmp_root/site; its integration, or NULL. */
static const struct fng_integration_cfg *static_ok(const char *opts, const char *what,
	struct fng_config **c)
{
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), STATIC_ROUTE("%s"), opts);
	*c = load_ok(in_tmp(yaml), what);
	return *c ? &(*c)->apis[0].routes[0].integration : NULL;
}

static const struct fng_static_file *static_file(const struct fng_integration_cfg *ic,
	const char *name)
{
	for (unsigned i = 0; i < ic->nfiles; i++) {
		if (strcmp(ic->files[i].name, name) == 0) {
			return &ic->files[i];
		}
	}
	return NULL;
}

static void test_static(void)
{
	static const struct {
		const char *name, *data, *type;
		size_t len;
	} site[] = {
		{ "index.html", "<!doctype html>home", "text/html; charset=utf-8", 19 },
		{ "app.JS", "console.log(1)", "text/javascript; charset=utf-8", 14 },
		{ "css/site.css", "body{}", "text/css; charset=utf-8", 6 },
		{ "data.json", "{\"a\":[1]}", "application/json", 9 },
		{ "blob.bin", "\x00\x01\x02", "application/octet-stream", 3 },
		{ "noext", "n", "application/octet-stream", 1 },
		{ "d1/d2/d3/d4/deep.txt", "four levels down", "text/plain; charset=utf-8", 16 },
	};
	const struct fng_integration_cfg *ic;
	const struct fng_static_file *f;
	struct fng_config *c;
	bool put = true, same = true, sorted = true;

	for (size_t i = 0; i < sizeof(site) / sizeof(site[0]); i++) {
		char rel[128];

		snprintf(rel, sizeof(rel), "site/%s", site[i].name);
		put = put && put_file(rel, site[i].data, site[i].len);
	}
	put = put && put_text("site/.secret", "hidden") && put_text("site/css/.map", "x") &&
		put_text("site/.git/config", "x") &&
		put_text("site/d1/d2/d3/d4/d5/too-deep.txt", "x");
	if (put) {
		char link[600];

		snprintf(link, sizeof(link), "%s/site/link.html", tmp_root);
		put = symlink("index.html", link) == 0;
	}
	CHECK(put, "a site in a temporary directory");

	ic = static_ok(", root: \"%s/site\"", "static root with files, dot files, a symlink", &c);
	if (ic) {
		CHECK_INT(ic->type, FNG_INTEGRATION_STATIC, "integration type static");
		CHECK_INT(ic->nfiles, sizeof(site) / sizeof(site[0]),
			"every regular file read, no dot file, no symlink, nothing below depth 4");
		CHECK_STR(ic->index, "index.html", "index defaults to index.html");
		for (size_t i = 0; i < sizeof(site) / sizeof(site[0]); i++) {
			f = static_file(ic, site[i].name);
			if (!f || f->len != site[i].len ||
				memcmp(f->data, site[i].data, site[i].len) != 0 ||
				strcmp(f->type, site[i].type) != 0) {
				printf("# %s: %s\n", site[i].name, f ? f->type : "missing");
				same = false;
			}
		}
		CHECK(same, "each file's name, bytes and content type");
		for (unsigned i = 1; i < ic->nfiles; i++) {
			sorted = sorted && strcmp(ic->files[i - 1].name, ic->files[i].name) < 0;
		}
		CHECK(sorted, "files sorted by name (the integration searches them)");
		CHECK(!static_file(ic, ".secret") && !static_file(ic, "css/.map") &&
				!static_file(ic, ".git/config"),
			"dot files and dot directories skipped");
		CHECK(!static_file(ic, "link.html"), "a symlink is not followed");
		CHECK(!static_file(ic, "d1/d2/d3/d4/d5/too-deep.txt"), "nothing below depth 4");
		fng__config_unref(c);
	}
	ic = static_ok(", root: \"%s/site/\", index: main.html", "static with an index", &c);
	if (ic) {
		CHECK_STR(ic->index, "main.html", "index as written");
		f = static_file(ic, "css/site.css");
		CHECK(f != NULL, "a root with a trailing slash: the same names");
		fng__config_unref(c);
	}

	/* Relative to the config file's directory, not the working directory. */
	{
		static const char conf[] = ROUTE_HEAD
			"        integration: { type: static, root: ../site/css }\n";
		struct fng_buf e = { 0 };
		char path[600];

		put_text("conf/static.yaml", conf);
		snprintf(path, sizeof(path), "%s/conf/static.yaml", tmp_root);
		c = NULL;
		CHECK_INT(fng__config_load(path, &c, &e), 0, "a relative root");
		ic = c ? &c->apis[0].routes[0].integration : NULL;
		CHECK(ic && ic->nfiles == 1 && strcmp(ic->files[0].name, "site.css") == 0,
			"a relative root is relative to the config file");
		fng__config_unref(c);
		fng__buf_finish(&e);
	}

	load_err(in_tmp(STATIC_ROUTE(", root: \"%s/nope\"")), "7:45", "No such file or directory",
		"a static root that does not exist");
	load_err(in_tmp(STATIC_ROUTE(", root: \"%s/site/noext\"")), "7:45", "Not a directory",
		"a static root that is a file");
	load_err(STATIC_ROUTE(""), "7:22", "integration needs the key \"root\"",
		"a static integration without a root");
	load_err(in_tmp(STATIC_ROUTE(", root: \"%s/site\", status: 200")), "7:83",
		"unknown key \"status\" in integration", "a mock key in a static integration");
	load_err(ROUTE_HEAD "        integration: { type: s3 }\n", "7:30",
		"(supported: mock, function, static)", "the unknown-type error lists static");
}

/* The caps: 256 files, 8 MiB in all. */
static void test_static_caps(void)
{
	const struct fng_integration_cfg *ic;
	struct fng_config *c;
	bool put = true;

	for (int i = 0; i < 256 && put; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "many/f%03d", i);
		put = put_text(rel, "x");
	}
	CHECK(put, "256 files");
	ic = static_ok(", root: \"%s/many\"", "256 files (the cap)", &c);
	CHECK(ic && ic->nfiles == 256, "256 files read");
	fng__config_unref(c);
	put_text("many/sub/f256", "x");
	load_err(in_tmp(STATIC_ROUTE(", root: \"%s/many\"")), "7:45", "more than 256 files",
		"257 files");

	CHECK(put_file("big/a", NULL, 4u << 20) && put_file("big/b", NULL, 4u << 20),
		"two files of 4 MiB");
	ic = static_ok(", root: \"%s/big\"", "8 MiB (the cap)", &c);
	CHECK(ic && ic->nfiles == 2 && ic->files[0].len + ic->files[1].len == 8u << 20,
		"8 MiB read");
	fng__config_unref(c);
	put_text("big/c", "x");
	load_err(in_tmp(STATIC_ROUTE(", root: \"%s/big\"")), "7:45", "8388608 bytes",
		"8 MiB and one byte");
}

static void test_load_file(void)
{
	char path[] = "/tmp/fngate-unit-config-XXXXXX";
	int fd = mkstemp(path);
	struct fng_buf e = { 0 };
	struct fng_config *c = NULL;

	CHECK(fd >= 0, "temp file");
	if (fd < 0) {
		return;
	}
	CHECK_INT(write(fd, MIN_API, strlen(MIN_API)), strlen(MIN_API), "write temp config");
	close(fd);
	CHECK_INT(fng__config_load(path, &c, &e), 0, "config_load from a file");
	CHECK(c && strcmp(c->path, path) == 0, "snapshot path is the file");
	fng__config_unref(c);
	unlink(path);
	c = (struct fng_config *)1;
	CHECK_INT(fng__config_load(path, &c, &e), FNG_ECONFIG, "missing file refused");
	CHECK(c == NULL, "missing file: no snapshot");
	fng__buf_append(&e, "", 1);
	CHECK(strncmp(e.p, path, strlen(path)) == 0 &&
			strncmp(e.p + strlen(path), ":1:1: ", 6) == 0,
		"missing file: FILE:1:1: error");
	fng__buf_finish(&e);
}

/* ---- errors ---- */

static void test_errors_keys(void)
{
	load_err("foo: 1\n" MIN_API, "1:1", "unknown key \"foo\"", "unknown top-level key");
	load_err("server:\n"
		 "  limits:\n"
		 "    foo: 1\n" MIN_API,
		"3:5", "unknown key \"foo\" in server.limits", "unknown key in server.limits");
	load_err("server:\n"
		 "  timeout: {}\n" MIN_API,
		"2:3", "unknown key \"timeout\" in server", "unknown key in server");
	load_err(ROUTE_HEAD "        integration: { type: mock, stauts: 201 }\n", "7:36",
		"unknown key \"stauts\"", "unknown key in integration");
	load_err("server: {}\n"
		 "server: {}\n" MIN_API,
		"2:1", "duplicate key \"server\"", "duplicate top-level key");
	load_err("server:\n"
		 "  limits: {}\n"
		 "  limits: {}\n" MIN_API,
		"3:3", "duplicate key \"limits\"", "duplicate nested key");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          headers:\n"
			    "            x-a: one\n"
			    "            x-a: two\n",
		"11:13", "x-a", "duplicate key in headers");
	load_err("apis:\n"
		 "  demo:\n"
		 "    stages:\n"
		 "      dev: {}\n"
		 "      dev: {}\n"
		 "    routes:\n"
		 "      \"GET /a\":\n"
		 "        integration: { type: mock }\n",
		"5:7", "duplicate stage", "duplicate stage");
	load_err("apis:\n"
		 "  demo:\n"
		 "    stages:\n"
		 "      dev: { variables: { a: 1, a: 2 } }\n"
		 "    routes:\n"
		 "      \"GET /a\":\n"
		 "        integration: { type: mock }\n",
		"4:33", "duplicate stage variable", "duplicate stage variable");
}

static void test_errors_types(void)
{
	load_err("server:\n"
		 "  limits:\n"
		 "    header_fields: abc\n" MIN_API,
		"3:20", "must be an integer", "string where an integer is expected");
	load_err("server:\n"
		 "  limits:\n"
		 "    header_fields: -1\n" MIN_API,
		"3:20", "must be an integer", "negative integer");
	load_err("server:\n"
		 "  limits:\n"
		 "    header_fields: 1.5\n" MIN_API,
		"3:20", "must be an integer", "fraction");
	load_err("server:\n"
		 "  limits: [1, 2]\n" MIN_API,
		"2:11", "server.limits must be a mapping, not a list",
		"list where a map is expected");
	load_err("server:\n"
		 "  limits: 5\n" MIN_API,
		"2:11", "must be a mapping, not a scalar", "scalar where a map is expected");
	load_err("server:\n"
		 "  listen: 127.0.0.1:80\n" MIN_API,
		"2:11", "must be a list", "scalar where a list is expected");
	load_err("server:\n"
		 "  server_header: [a]\n" MIN_API,
		"2:18", "must be a scalar", "list where a string is expected");
	load_err(ROUTE_HEAD "        integration: { type: mock, chunked: yes }\n", "7:45",
		"true or false", "bool that is not true/false");
	load_err("- a\n- b\n", "1:1", "must be a mapping", "top level is a list");

	load_err("server:\n"
		 "  limits:\n"
		 "    header_fields: 0\n" MIN_API,
		"3:20", "between 1 and 10000", "header_fields 0 out of range");
	load_err("server:\n"
		 "  limits:\n"
		 "    request_line_bytes: 63\n" MIN_API,
		"3:25", "between 64 and", "request_line_bytes below range");
	load_err("server:\n"
		 "  limits:\n"
		 "    body_bytes: 1099511627777\n" MIN_API,
		"3:17", "between 0 and 1099511627776", "body_bytes above range");
	load_err("server:\n"
		 "  timeouts:\n"
		 "    header_ms: 99999999999999999999999\n" MIN_API,
		"3:16", "must be an integer", "integer overflow");
	/* A mock's status is a final one: the same rule as a function's (wire_rules.h). */
	static const char *const statuses[] = { "600", "99", "0", "100", "101", "103", "199" };

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		char y[256];

		snprintf(y, sizeof(y),
			ROUTE_HEAD "        integration: { type: mock, status: %s }\n",
			statuses[i]);
		load_err(y, "7:44", "status must be between 200 and 599", statuses[i]);
	}
	load_err(ROUTE_HEAD "        integration: { type: mock, status: -1 }\n", "7:44",
		"must be an integer", "status -1");
	{
		struct fng_config *c = load_ok(ROUTE_HEAD
			"        integration: { type: mock, status: 200 }\n", "status 200");

		fng__config_unref(c);
		c = load_ok(ROUTE_HEAD "        integration: { type: mock, status: 599 }\n",
			"status 599");
		fng__config_unref(c);
	}
}

/* Framing, hop-by-hop and the gateway's own headers are refused in a mock's headers. */
static void test_errors_mock_headers(void)
{
	static const char *const names[] = { "Content-Length", "transfer-encoding", "Connection",
		"upgrade", "keep-alive", "te", "trailer", "proxy-connection", "Proxy-Authenticate",
		"date", "server", "x-request-id", "x-fngate-function-version" };
	struct fng_config *c;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char y[512];

		snprintf(y, sizeof(y), ROUTE_HEAD "        integration:\n"
					       "          type: mock\n"
					       "          headers:\n"
					       "            x-ok: 1\n"
					       "            %s: v\n",
			names[i]);
		load_err(y, "11:13", "is set by the gateway", names[i]);
	}
	c = load_ok(ROUTE_HEAD "        integration:\n"
			       "          type: mock\n"
			       "          headers: { x-content-length: 1, proxy: 2, te-x: 3, "
			       "upgrade-insecure-requests: 4 }\n",
		"look-alike header names are allowed");
	if (c) {
		CHECK_INT(c->apis[0].routes[0].integration.nheaders, 4,
			"look-alikes: four headers");
	}
	fng__config_unref(c);
}

static void test_errors_semantic(void)
{
	/* Plain keys: the column is the key's first character. */
	load_err("apis:\n"
		 "  demo:\n"
		 "    stages:\n"
		 "      dev: {}\n"
		 "    routes:\n"
		 "      GET /a/{x}:\n"
		 "        integration: { type: mock }\n"
		 "      GET /a/{y}:\n"
		 "        integration: { type: mock }\n",
		"8:7", "duplicate route", "duplicate route shape at the second key");
	load_err("apis:\n"
		 "  demo:\n"
		 "    stages:\n"
		 "      dev: {}\n"
		 "    routes:\n"
		 "      $default:\n"
		 "        integration: { type: mock }\n"
		 "      get /a:\n"
		 "        integration: { type: mock }\n",
		"8:7", "upper-case", "lower-case route method");
	load_err("apis:\n"
		 "  demo:\n"
		 "    stages:\n"
		 "      dev: {}\n"
		 "    routes:\n"
		 "      GET /a/{p+}/b:\n"
		 "        integration: { type: mock }\n",
		"6:7", "greedy", "greedy parameter not last");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: lambda\n",
		"8:17", "unsupported integration type \"lambda\"", "unknown integration type");
	load_err(ROUTE_HEAD "        integration: {}\n", "7:22", "needs a \"type\"",
		"integration without type");
	load_err(ROUTE_HEAD "        {}\n", "7:9", "needs the key \"integration\"",
		"missing integration");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          headers: { Content-Length: \"5\" }\n",
		"9:22", "set by the gateway", "reserved header");
	load_err("server:\n"
		 "  limits:\n"
		 "    body_bytes: 1000\n"
		 "apis:\n"
		 "  demo:\n"
		 "    stages:\n"
		 "      dev:\n"
		 "        body_bytes: 1001\n"
		 "    routes:\n"
		 "      GET /a:\n"
		 "        integration: { type: mock }\n",
		"8:9", "exceeds server.limits.body_bytes", "stage body_bytes above server limit");
	load_err("apis:\n"
		 "  demo:\n"
		 "    stages:\n"
		 "      dev:\n"
		 "        body_bytes: 10485761\n"
		 "    routes:\n"
		 "      GET /a:\n"
		 "        integration: { type: mock }\n",
		"5:9", "exceeds server.limits.body_bytes", "stage body_bytes above default limit");
	load_err(MIN_API "domains:\n"
			 "  api.example.com:\n"
			 "    - { base_path: /v1, api: nope, stage: dev }\n",
		"10:7", "unknown API \"nope\"", "unknown API in domains");
	load_err(MIN_API "domains:\n"
			 "  api.example.com:\n"
			 "    - { base_path: /v1, api: demo, stage: nope }\n",
		"10:7", "no stage \"nope\"", "unknown stage in domains");
	load_err(MIN_API "domains:\n"
			 "  api.example.com:\n"
			 "    - base_path: v1\n"
			 "      api: demo\n"
			 "      stage: dev\n",
		"10:7", "base_path \"v1\" must start with /", "base_path without leading slash");
	load_err(MIN_API "domains:\n"
			 "  api.example.com:\n"
			 "    - { base_path: /v1/, api: demo, stage: dev }\n",
		"10:7", "base_path", "base_path with trailing slash");
	load_err(MIN_API "domains:\n"
			 "  api.example.com:\n"
			 "    - { base_path: /v1, api: demo, stage: dev }\n"
			 "    - { base_path: /v1, api: demo, stage: dev }\n",
		"11:7", "duplicate base_path", "duplicate base_path");
	load_err(MIN_API "domains:\n"
			 "  api.example.com:\n"
			 "    - { api: demo }\n",
		"10:7", "needs the key \"stage\"", "mapping without stage");
	load_err("server:\n"
		 "  default_api: nope\n" MIN_API,
		"2:16", "unknown API \"nope\"", "default_api naming an unknown API");
	load_err("server:\n"
		 "  listen: [127.0.0.1]\n" MIN_API,
		"2:12", "IPv4:PORT", "listen address without port");
	load_err("access_log:\n"
		 "  fields: [time, nope]\n" MIN_API,
		"2:18", "unknown access log field \"nope\"", "unknown access log field");
	load_err("access_log:\n"
		 "  fields: [time, ip, time]\n" MIN_API,
		"2:22", "listed twice", "access log field listed twice");
	load_err("server: {}\n", "1:1", "needs \"apis\"", "no apis");
	load_err("apis: {}\n", "1:7", "at least one API", "empty apis");
	load_err("apis:\n"
		 "  demo:\n"
		 "    stages:\n"
		 "      dev: {}\n",
		"3:5", "needs the key \"routes\"", "API without routes");
	load_err("apis:\n"
		 "  de.mo:\n"
		 "    stages: { dev: {} }\n"
		 "    routes: { GET /a: { integration: { type: mock } } }\n",
		"2:3", "API name", "invalid API name");
}

static void test_errors_templates(void)
{
	/* The column points at the `${` inside the scalar. */
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          body: abc ${foo}\n",
		"9:21", "unknown template variable", "bad template in a plain scalar");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          body: \"abc ${foo}\"\n",
		"9:22", "unknown template variable", "bad template in a double-quoted scalar");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          body: 'abc ${foo}'\n",
		"9:22", "unknown template variable", "bad template in a single-quoted scalar");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          headers:\n"
			    "            x-a: \"x${context.nope}\"\n",
		"10:20", "header value: unknown template variable", "bad template in a header");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          body: x ${context.stage|upper}\n",
		"9:19", "unknown template filter", "unknown filter");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          body: ab ${context.stage\n",
		"9:20", "unterminated", "unterminated ${");
	/* An escape before the `${` makes the text shorter than the source. */
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          body: \"a\\tb ${foo}\"\n",
		"9:23", "unknown template variable", "bad template after an escape");
	load_err(ROUTE_HEAD "        integration:\n"
			    "          type: mock\n"
			    "          body: 'it''s ${foo}'\n",
		"9:24", "unknown template variable", "bad template after ''");

	/* Multi-line scalars: the `${` itself, or at least the start of the scalar. */
	{
		const char *pos[] = { "t.yaml:10:17: ", "t.yaml:9:17: ", NULL };

		load_err_any(ROUTE_HEAD "        integration:\n"
					"          type: mock\n"
					"          body: abc\n"
					"            def ${foo}\n",
			pos, "unknown template variable", "bad template in a folded plain scalar");
		load_err_any(ROUTE_HEAD "        integration:\n"
					"          type: mock\n"
					"          body: |\n"
					"            abc ${foo}\n",
			pos, "unknown template variable", "bad template in a block scalar");
	}
}

static void test_errors_yaml(void)
{
	const char *alias_pos[] = { "t.yaml:2:13: ", "t.yaml:2:14: ", NULL };
	const char *empty_limits[] = { "t.yaml:2:", NULL };
	const char *empty_route[] = { "t.yaml:6:", NULL };

	/* libfyaml: "wrong indentation in sequence" at the misplaced dash. */
	load_err("server:\n"
		 "  listen:\n"
		 "    - \"127.0.0.1:1\"\n"
		 "   - \"127.0.0.1:2\"\n" MIN_API,
		"4:4", "YAML", "YAML syntax error");
	load_err("", "1:1", "empty", "empty document");
	load_err("# nothing here\n", "1:1", "empty", "document with only a comment");
	load_err("--- {}\n"
		 "--- {}\n",
		"2:1", "only one YAML document", "two documents");
	load_err_any("server: &s {}\n"
		     "access_log: *s\n" MIN_API,
		alias_pos, "aliases are not supported", "alias");

	/* An empty value has no position of its own: the error names its line. */
	load_err_any("server:\n"
		     "  limits:\n" MIN_API,
		empty_limits, "must be a mapping", "empty value where a map is expected");
	load_err_any(ROUTE_HEAD "\n", empty_route, "must be a mapping", "empty route settings");

	/* Non-scalar keys are refused, not dereferenced. */
	load_err_isolated("? [x]\n"
			  ": 1\n"
			  "server: {}\n" MIN_API,
		"1:3", "sequence key at the top level");
	load_err_isolated("apis:\n"
			  "  demo:\n"
			  "    stages:\n"
			  "      ? [a]\n"
			  "      : {}\n"
			  "      dev: {}\n"
			  "    routes:\n"
			  "      GET /a:\n"
			  "        integration: { type: mock }\n",
		"4:9", "sequence key among stages");
	load_err_isolated("apis:\n"
			  "  ? { a: b }\n"
			  "  : {}\n"
			  "  demo:\n"
			  "    stages: { dev: {} }\n"
			  "    routes: { GET /a: { integration: { type: mock } } }\n",
		"2:5", "mapping key among APIs");
}

/* topics: the budget of every history together and the cap on topics (topic.c). */
static void test_topics(void)
{
	struct fng_config *c = load_ok(MIN_API, "no topics section");

	CHECK(c && c->topics.history_bytes == 64u << 20 && c->topics.max == 65536,
		"topics: 64 MiB of history, 65536 topics by default");
	fng__config_unref(c);
	c = load_ok("topics: { history_bytes: 0, max: 1 }\n" MIN_API, "topics at their least");
	CHECK(c && c->topics.history_bytes == 0 && c->topics.max == 1,
		"topics: history_bytes 0 (keep none) and max 1 are kept as given");
	fng__config_unref(c);
	load_err("topics: { max: 0 }\n" MIN_API, "1:16", "max", "topics.max 0");
	load_err("topics: { max: 16777217 }\n" MIN_API, "1:16", "max", "topics.max over 2^24");
	load_err("topics: { history_bytes: -1 }\n" MIN_API, "1:26", "history_bytes",
		"topics.history_bytes negative");
	load_err("topics: { history_bytes: 1099511627777 }\n" MIN_API, "1:26", "history_bytes",
		"topics.history_bytes over 2^40");
	load_err("topics: { budget: 1 }\n" MIN_API, "1:11", "unknown key \"budget\"",
		"topics: an unknown key");
	load_err("topics: 5\n" MIN_API, "1:9", NULL, "topics: not a mapping");
}

int main(void)
{
	test_full();
	test_defaults();
	test_function_limits();
	test_function_logs();
	test_policy_defaults();
	test_policy_grants();
	test_policy_manifests();
	test_policy_errors();
	test_cpu_isolation();
	test_websocket_api();
	test_websocket_queue_and_rate();
	test_websocket_connect_throttle();
	test_websocket_message_order();
	test_load_file();
	if (!mkdtemp(strcpy(tmp_root, "/tmp/fngate-unit-config-XXXXXX"))) {
		CHECK(0, "temporary directory");
		return fng_test_done();
	}
	test_admin();
	test_admin_token_file();
	test_schedules();
	test_cluster_limits();
	test_static();
	test_static_caps();
	nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	test_errors_keys();
	test_errors_types();
	test_errors_mock_headers();
	test_errors_semantic();
	test_errors_templates();
	test_errors_yaml();
	test_topics();
	fng__arena_cache_drain();
	return fng_test_done();
}
