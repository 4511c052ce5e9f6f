// SPDX-License-Identifier: MIT
/*
 * fngate's command line: serve, check, routes. `serve` is the daemon in the foreground, like
 * `nginx -g 'daemon off;'`: process supervision belongs to systemd or the container runtime.
 */
#include <errno.h>
#include <getopt.h>
#include <llhttp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "sandbox.h"
#include "cli.h"
#include "config.h"
#include "errors.h"
#include "period.h"
#include "daemon.h"
#include "stages.h"

#ifndef FNG_VERSION
#define FNG_VERSION "0.0.0"
#endif

static void usage(FILE *f);

static int cmd_check(int argc, char **argv)
{
	struct fng_config *cfg;

	if (argc != 2) {
		fprintf(stderr, "usage: fngate check FILE\n");
		return 2;
	}
	if (fng__cli_load_config(argv[1], &cfg, true)) {
		return 1;
	}
	printf("%s: ok (%u API%s)\n", argv[1], cfg->napis, cfg->napis == 1 ? "" : "s");
	fng__config_unref(cfg);
	return 0;
}

/* What a route does, in a few words: "function NAME", "mock 201", "static (3 files)". */
static void describe_integration(char *out, size_t n, const struct fng_integration_cfg *in)
{
	switch (in->type) {
	case FNG_INTEGRATION_FUNCTION:
		snprintf(out, n, "function %s", in->function ? in->function : "?");
		return;
	case FNG_INTEGRATION_MOCK:
		snprintf(out, n, "mock %d%s", in->status ? in->status : 200,
			in->chunked ? " chunked" : "");
		return;
	case FNG_INTEGRATION_STATIC:
		snprintf(out, n, "static (%u file%s%s%s)", in->nfiles, in->nfiles == 1 ? "" : "s",
			in->index ? ", index " : "", in->index ? in->index : "");
		return;
	case FNG_INTEGRATION_ADMIN:
	case FNG_INTEGRATION_METRICS:
		snprintf(out, n, "admin");
		return;
	case FNG_INTEGRATION__COUNT:
		break;
	}
	snprintf(out, n, "integration type %d", (int)in->type);
}

/* " authorizer NAME" and its scopes, for a route behind one; "" otherwise. */
static const char *describe_authz(char *out, size_t n, const struct fng_route *r)
{
	size_t len;

	out[0] = '\0';
	if (!r->authorizer) {
		return out;
	}
	snprintf(out, n, "  authorizer %s", r->authorizer->name);
	for (unsigned i = 0; i < r->nscopes; i++) {
		len = strlen(out);
		snprintf(out + len, n - len, "%s%s", i ? " " : " (scopes: ", r->scopes[i]);
	}
	len = strlen(out);
	if (r->nscopes) {
		snprintf(out + len, n - len, ")");
	}
	return out;
}

static void print_route(void *ctx, const struct fng_route_key *key, const struct fng_route *r)
{
	char what[160], authz[160];

	(void)ctx;
	describe_integration(what, sizeof(what), &r->integration);
	printf("    %-8s %-40s %-24s line %d%s%s\n", key->method ? key->method : "*",
		key->method ? key->path : "$default", what, r->line,
		describe_authz(authz, sizeof(authz), r), r->api_key_required ? "  api key" : "");
}

/* The API's authorizers, and whether a resource policy or CORS applies to it. */
static void print_api_access(const struct fng_api *api)
{
	static const char *const types[] = {
		[FNG_AUTHZ_JWT] = "jwt", [FNG_AUTHZ_TOKEN] = "token", [FNG_AUTHZ_REQUEST] = "request",
	};

	for (unsigned i = 0; i < api->nauthorizers; i++) {
		const struct fng_authorizer *a = &api->authorizers[i];

		printf("  authorizer %s: %s", a->name, types[a->type]);
		if (a->type != FNG_AUTHZ_JWT) {
			printf(", function %s, cached %u s", a->fn.function, a->fn.ttl_s);
		}
		printf("\n");
	}
	if (api->policy) {
		printf("  resource policy: yes\n");
	}
	for (unsigned j = 0; j < api->nstages; j++) {
		if (api->stages[j].policy) {
			printf("  resource policy of stage %s: yes\n", api->stages[j].name);
		}
	}
	if (api->cors) {
		printf("  CORS: yes\n");
	}
}

/*
 * A WebSocket API has no router (routes are selected by a message's JSON member, not by
 * method and path): its routes in the order written, with the expression that selects them.
 */
static void print_ws_routes(const struct fng_api *api)
{
	printf("  route selection: %s\n", api->route_selection ? api->route_selection
							      : "$request.body.action");
	printf("  routes:\n");
	for (unsigned i = 0; i < api->nroutes; i++) {
		const struct fng_route *r = &api->routes[i];
		char what[160], authz[160];

		describe_integration(what, sizeof(what), &r->integration);
		printf("    %-49s %-24s line %d%s\n", r->key, what, r->line,
			describe_authz(authz, sizeof(authz), r));
	}
}

static int cmd_routes(int argc, char **argv)
{
	struct fng_config *cfg;

	if (argc != 2) {
		fprintf(stderr, "usage: fngate routes FILE\n");
		return 2;
	}
	if (fng__cli_load_config(argv[1], &cfg, true)) {
		return 1;
	}
	for (unsigned i = 0; i < cfg->napis; i++) {
		const struct fng_api *api = &cfg->apis[i];
		bool ws = api->protocol == FNG_API_WEBSOCKET;

		printf("api %s (%s)%s\n", api->name, ws ? "websocket" : "http",
			api == cfg->default_api ? " (default endpoint)" : "");
		printf("  stages:");
		for (unsigned j = 0; j < api->nstages; j++) {
			printf(" %s", api->stages[j].name);
		}
		printf("\n");
		print_api_access(api);
		if (ws) {
			print_ws_routes(api);
		} else if (api->router) {
			printf("  routes, in match priority:\n");
			fng__router_walk(api->router, print_route, NULL);
		}
	}
	for (unsigned i = 0; i < cfg->nschedules; i++) {
		const struct fng_schedule *sc = &cfg->schedules[i];

		printf("schedule %s: function %s every %u ms\n", sc->name, sc->function,
			sc->every_ms);
	}
	for (unsigned i = 0; i < cfg->nplans; i++) {
		const struct fng_usage_plan *p = &cfg->plans[i];

		printf("usage plan %s:", p->name);
		if (p->throttle.rate) {
			printf(" %u/s burst %u per key,", p->throttle.rate, p->throttle.burst);
		}
		if (p->quota) {
			printf(" quota %llu a %s (batch %u),", (unsigned long long)p->quota,
				fng__period_name(p->period), p->quota_batch);
		}
		printf(" on");
		for (unsigned j = 0; j < p->nstages; j++) {
			printf(" %s/%s", p->stages[j].api->name, p->stages[j].stage->name);
		}
		printf("\n");
	}
	if (cfg->admin.listen) {
		printf("admin API on %s\n", cfg->admin.listen);
	}
	if (cfg->metrics.listen) {
		printf("metrics (/metrics, no token) on %s\n", cfg->metrics.listen);
	}
	if (cfg->cluster.on) {
		printf("cluster node %s on Redis %s (keys %s*)\n", cfg->cluster.node_id,
			cfg->cluster.redis, cfg->cluster.key_prefix);
	}
	if (cfg->metrics.off) {
		printf("metrics off (metrics.enabled: false)\n");
	}
	for (unsigned i = 0; i < cfg->ndomains; i++) {
		const struct fng_domain *d = &cfg->domains[i];

		for (unsigned j = 0; j < d->nmaps; j++) {
			printf("domain %s%s -> %s/%s\n", d->host,
				d->maps[j].base_len ? d->maps[j].base_path : "/", d->maps[j].api->name,
				d->maps[j].stage->name);
		}
	}
	printf("stages of the request path:");
	for (unsigned i = 0; i < fng__nstages; i++) {
		printf(" %s", fng__stages[i]->name);
	}
	printf("\n");
	fng__config_unref(cfg);
	return 0;
}

/*
 * Every connection costs a descriptor, and distributions start services with a soft limit of
 * 1024 (for select()'s sake, which nothing here uses) under a hard limit often a thousand
 * times higher: the soft limit is raised to the hard one, and the figure logged. Done before
 * the supervisor is forked, which gets the same room; workers set their own (64, sandbox/).
 */
/* What raise_nofile() did, for the log line written once the supervisor is forked. */
struct nofile {
	char lim[24], from[24];
	int err;
};

static void raise_nofile(struct nofile *n)
{
	struct rlimit rl;

	n->err = 0;
	n->lim[0] = n->from[0] = '\0';
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		n->err = -errno;
		return;
	}
	snprintf(n->from, sizeof(n->from), "%llu", (unsigned long long)rl.rlim_cur);
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			n->err = -errno;
			rl.rlim_cur = was;
		}
	}
	snprintf(n->lim, sizeof(n->lim), "%llu", (unsigned long long)rl.rlim_cur);
}

/*
 * Logged after the supervisor is forked, not before: the first log line starts the log's
 * writer thread, and a child forked while another thread holds an allocator lock (ASan's is
 * not fork-safe) can wait for it forever.
 */
static void log_nofile(const struct nofile *n)
{
	if (n->err && !n->lim[0]) {
		fng__log("warn", "open files limit", "error", uv_strerror(n->err), NULL);
	} else if (n->err) {
		fng__log("warn", "open files limit", "limit", n->lim, "error", uv_strerror(n->err),
			"action", "kept: the soft limit cannot be raised to the hard one", NULL);
	} else if (strcmp(n->lim, n->from) != 0) {
		fng__log("info", "open files limit", "limit", n->lim, "raisedFrom", n->from, NULL);
	} else {
		fng__log("info", "open files limit", "limit", n->lim, NULL);
	}
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	struct fng_config *cfg;
	struct fng_server srv;
	uv_loop_t loop;
	int c, err, ctl = -1;
	pid_t sup = -1;
	struct nofile nofile;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		fprintf(stderr, "usage: fngate serve -c FILE\n");
		return 2;
	}
	raise_nofile(&nofile);
	/*
	 * The supervisor is forked first, before any configuration (and later any secret: TLS
	 * keys, JWT secrets, API keys) is in this process's memory, so no worker can find one.
	 */
	err = fng__supervisor_fork(&ctl, &sup);
	log_nofile(&nofile);
	if (err != 0) {
		fng__log("warn", "cannot start the supervisor: functions are unavailable", NULL);
		ctl = -1;
	}
	if (fng__cli_load_config(path, &cfg, false)) {
		if (ctl >= 0) {
			close(ctl);
		}
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	err = fng__server_init(&srv, &loop, cfg, path);
	if (!err) {
		err = fng__server_listen(&srv);
	}
	if (!err && ctl >= 0) {
		err = fng__functions_create(&loop, &srv, ctl, sup, cfg, &srv.fns);
		if (err) {
			fng__log("error", "cannot start the function host", "error", uv_strerror(err),
				NULL);
		}
	}
	if (!err) {
		err = fng__server_start(&srv);
	}
	if (!err) {
		uv_run(&loop, UV_RUN_DEFAULT);
		fng__log("info", "stopped", NULL);
	}
	fng__server_finish(&srv);
	uv_loop_close(&loop);
	fng__arena_cache_drain();
	return err ? 1 : 0;
}

static int cmd_ws(int argc, char **argv)
{
#ifdef FNG_HAVE_LWS
	return fng__cli_ws(argc, argv);
#else
	(void)argc;
	(void)argv;
	fprintf(stderr, "fngate ws: this fngate was built without libwebsockets\n");
	return 2;
#endif
}

/* The commands: the usage text is made from this table. */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage; /* "ARGS\n  what it does" (further lines indented by the printer) */
} commands[] = {
	{ "serve", cmd_serve, "-c FILE   run the gateway in the foreground with config FILE\n"
		"(SIGHUP reloads FILE, SIGTERM drains and exits)" },
	{ "check", cmd_check, "FILE      validate FILE; print FILE:LINE:COL errors, exit 1 if "
		"invalid" },
	{ "routes", cmd_routes, "FILE     print the route table FILE compiles to" },
	{ "invoke", fng__cli_invoke, "NAME|PATH.so --event EVENT.json\n"
		"run a function once in the sandbox with an API Gateway HTTP API\n"
		"(payload 2.0) event; print the response as JSON" },
	{ "new", fng__cli_new, "NAME        write NAME.c, a handler to start from, and its build "
		"line" },
	{ "token", fng__cli_token, "--key FILE --iss ISS --aud AUD [--sub SUB] [--scope S]\n"
		"mint a JWT signed by FILE for trying a JWT authorizer\n"
		"(`fngate token -h` for options)" },
	{ "keys", fng__cli_keys, "[-c FILE] create|list|show|revoke|usage ...\n"
		"API keys of usage plans, stored under server.state_dir\n"
		"(`fngate keys -h` for the subcommands)" },
	{ "ws", cmd_ws, "URL          an interactive WebSocket client (`fngate ws -h` for "
		"options)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fngate COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *u = commands[i].usage, *nl;

		fprintf(f, "  %s ", commands[i].name);
		while ((nl = strchr(u, '\n'))) {
			fprintf(f, "%.*s\n                  ", (int)(nl - u), u);
			u = nl + 1;
		}
		fprintf(f, "%s\n", u);
	}
	fprintf(f, "\n"
		"options:\n"
		"  -h, --help      this text\n"
		"  -V, --version   print the version\n"
		"\n"
		"Configuration reference: docs/config.md\n");
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], FNG_SB_EXEC_CMD)) {
		fng__supervisor_exec_main(argc, argv); /* a replacement supervisor: sandbox.h */
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("fngate %s (libuv %s, llhttp %d.%d.%d)\n", FNG_VERSION, uv_version_string(),
			LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "fngate: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
