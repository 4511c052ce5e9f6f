// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/router.c: route key parsing, duplicate detection and matching
 * (literal > {param} > {greedy+} > $default, segment by segment with backtracking; exact
 * method > ANY; HEAD served by GET; 405 with Allow; percent-decoding). Routes are dummy
 * objects compared by identity.
 */
#include <stdio.h>

#include "config.h"
#include "errors.h"
#include "harness.h"
#include "router.h"

#define MAXR 32

/* A table under test: the routes it was built from, by index. */
struct table {
	struct fng_arena *a;
	struct fng_router *r;
	struct fng_route routes[MAXR];
	struct fng_route_key keys[MAXR];
	unsigned n;
};

static void table_init(struct table *t)
{
	memset(t, 0, sizeof(*t));
	t->a = fng__arena_create();
	t->r = fng__router_create(t->a);
}

static void table_finish(struct table *t)
{
	fng__arena_destroy(t->a);
}

/* Adds a route; returns its index, or -1 (and reports) if parse or add failed. */
static int add(struct table *t, const char *key)
{
	const char *why = NULL;
	unsigned i = t->n;
	int err;

	err = fng__route_key_parse(t->a, key, &t->keys[i], &why);
	CHECK_INT(err, 0, "parse \"%s\"", key);
	if (err) {
		printf("# why: %s\n", why ? why : "(null)");
		return -1;
	}
	t->routes[i].key = key;
	err = fng__router_add(t->r, t->a, &t->keys[i], &t->routes[i], &why);
	CHECK_INT(err, 0, "add \"%s\"", key);
	if (err) {
		printf("# why: %s\n", why ? why : "(null)");
		return -1;
	}
	t->n++;
	return (int)i;
}

/* Adding key must fail with FNG_ECONFIG at fng__router_add (parse succeeds). */
static void add_dup(struct table *t, const char *key)
{
	struct fng_route_key k;
	struct fng_route route = { .key = key };
	const char *why = NULL;

	CHECK_INT(fng__route_key_parse(t->a, key, &k, &why), 0, "parse \"%s\"", key);
	why = NULL;
	CHECK_INT(fng__router_add(t->r, t->a, &k, &route, &why), FNG_ECONFIG,
		"\"%s\" is a duplicate", key);
	CHECK(why != NULL, "duplicate \"%s\" says why", key);
}

static int match(struct table *t, const char *method, const char *path, struct fng_route_match *m)
{
	return fng__router_match(t->r, t->a, (struct fng_str){ method, strlen(method) },
		(struct fng_str){ path, strlen(path) }, m);
}

/* method path must match route index want. */
static void expect(struct table *t, const char *method, const char *path, int want)
{
	struct fng_route_match m;
	int err = match(t, method, path, &m);

	CHECK_INT(err, 0, "%s %s matches", method, path);
	if (want < 0) {
		return;
	}
	CHECK(m.route == &t->routes[want], "%s %s -> \"%s\"", method, path, t->routes[want].key);
	if (m.route != &t->routes[want] && m.route) {
		printf("# got \"%s\"\n", m.route->key);
	}
}

static void expect_err(struct table *t, const char *method, const char *path, int want)
{
	struct fng_route_match m;
	int err = match(t, method, path, &m);

	CHECK_INT(err, want, "%s %s -> %s", method, path, fng_err_name(want));
	if (err == 0 && m.route) {
		printf("# matched \"%s\"\n", m.route->key);
	}
}

static bool has_param(const struct fng_route_match *m, const char *name, const char *value,
	size_t vlen)
{
	for (unsigned i = 0; i < m->nparams; i++) {
		if (fng__str_eq(m->params[i].name, name, strlen(name))) {
			return fng__str_eq(m->params[i].value, value, vlen);
		}
	}
	return false;
}

static bool allows(const struct fng_route_match *m, const char *method)
{
	for (unsigned i = 0; i < m->nallow; i++) {
		if (strcmp(m->allow[i], method) == 0) {
			return true;
		}
	}
	return false;
}

/* ---- route keys ---- */

static void key_ok(const char *src, const char *method, const char *path, unsigned nparams)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_route_key k;
	const char *why = NULL;
	int err = fng__route_key_parse(a, src, &k, &why);

	CHECK_INT(err, 0, "key \"%s\" parses", src);
	if (err == 0) {
		CHECK_STR(k.method, method, "key \"%s\" method", src);
		CHECK_STR(k.path, path, "key \"%s\" path", src);
		CHECK_INT(k.nparams, nparams, "key \"%s\" nparams", src);
	} else {
		printf("# why: %s\n", why);
	}
	fng__arena_destroy(a);
}

static void key_bad(const char *src)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_route_key k;
	const char *why = NULL;

	CHECK_INT(fng__route_key_parse(a, src, &k, &why), FNG_ECONFIG, "key \"%s\" rejected", src);
	CHECK(why != NULL && why[0], "key \"%s\" says why", src);
	fng__arena_destroy(a);
}

static void test_keys(void)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_route_key k;
	const char *why = NULL;

	key_ok("GET /", "GET", "/", 0);
	key_ok("GET /a/b", "GET", "/a/b", 0);
	key_ok("ANY /x/{p+}", "ANY", "/x/{p+}", 1);
	key_ok("POST /a/{b}/c/{d_e-1}", "POST", "/a/{b}/c/{d_e-1}", 2);
	key_ok("GET /a/", "GET", "/a/", 0);
	key_ok("M-SEARCH /x", "M-SEARCH", "/x", 0);

	CHECK_INT(fng__route_key_parse(a, "GET /a/{b}/{c+}", &k, &why), 0, "params key");
	CHECK(k.nparams == 2 && strcmp(k.param_names[0], "b") == 0 &&
			strcmp(k.param_names[1], "c") == 0,
		"param names in order, without braces and +");
	CHECK_INT(fng__route_key_parse(a, "$default", &k, &why), 0, "$default parses");
	CHECK(k.method == NULL && k.nparams == 0, "$default has no method");

	key_bad("get /a");        /* lower-case method */
	key_bad("Get /a");
	key_bad("GET a");         /* missing slash */
	key_bad("GET");           /* no path */
	key_bad(" /a");           /* no method */
	key_bad("/a");
	key_bad("GET  /a");       /* two spaces: path would not start with / */
	key_bad("G(T /a");        /* non-token method */
	key_bad("GET /a/b{x}");   /* {x} not a whole segment */
	key_bad("GET /a/{x}b");
	key_bad("GET /a/{x");
	key_bad("GET /a/x}");
	key_bad("GET /a/{}");     /* empty name */
	key_bad("GET /a/{+}");
	key_bad("GET /a/{x y}");  /* bad name character */
	key_bad("GET /a/{x.y}");
	key_bad("GET /{p+}/a");   /* greedy not last */
	key_bad("GET /{p+}/{q}");
	key_bad("GET /a/{x}/{x}"); /* duplicate name */
	key_bad("GET /{x}/b/{x+}");
	key_bad("GET /a//b");     /* empty middle segment */
	key_bad("GET //a");
	key_bad("GET /a b");      /* space in path */
	key_bad("GET /a?b");
	key_bad("GET /a#b");
	key_bad("GET /a\x7f");
	key_bad("$DEFAULT");
	key_bad("$default ");

	/* 16 parameters are allowed, 17 are not. */
	char buf[512];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "GET ");

	for (int i = 0; i < 16; i++) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "/{p%d}", i);
	}
	CHECK_INT(fng__route_key_parse(a, buf, &k, &why), 0, "16 params accepted");
	snprintf(buf + o, sizeof(buf) - o, "/{p16}");
	key_bad(buf);
	fng__arena_destroy(a);
}

/* ---- duplicates ---- */

static void test_duplicates(void)
{
	struct table t;

	table_init(&t);
	add(&t, "GET /a/{x}");
	add_dup(&t, "GET /a/{y}");  /* same shape, other name */
	add_dup(&t, "GET /a/{x}/"); /* trailing slash is the same path */
	add(&t, "POST /a/{x}");
	add(&t, "ANY /a/{x}");
	add_dup(&t, "ANY /a/{z}");
	add(&t, "GET /a");
	add(&t, "ANY /a");          /* exact method and ANY may coexist */
	add_dup(&t, "ANY /a/");
	add(&t, "GET /a/{x+}");     /* greedy is a different shape from {x} */
	add_dup(&t, "GET /a/{rest+}");
	add(&t, "GET /a/b");        /* literal is a different shape from {x} */
	add_dup(&t, "GET /a/%62");  /* ...but %62 is b */
	add(&t, "$default");
	add_dup(&t, "$default");
	table_finish(&t);

	/* A malformed escape in a route path is a config error. */
	table_init(&t);
	{
		struct fng_route_key k;
		struct fng_route route = { .key = "GET /a%zz" };
		const char *why = NULL;

		CHECK_INT(fng__route_key_parse(t.a, "GET /a%zz", &k, &why), 0, "parse GET /a%%zz");
		CHECK_INT(fng__router_add(t.r, t.a, &k, &route, &why), FNG_ECONFIG,
			"route with malformed escape rejected");
	}
	table_finish(&t);
}

/* ---- matching ---- */

static void test_priority(void)
{
	struct table t;
	struct fng_route_match m;

	table_init(&t);
	int abc = add(&t, "GET /a/b/c");
	int axd = add(&t, "GET /a/{x}/d");
	int ax = add(&t, "GET /a/{x}");
	int ab = add(&t, "GET /a/b");
	int ag = add(&t, "GET /a/{rest+}");
	int root = add(&t, "GET /");

	expect(&t, "GET", "/a/b/c", abc);
	expect(&t, "GET", "/a/b/d", axd); /* literal b dead-ends at d: backtrack to {x} */
	CHECK_INT(match(&t, "GET", "/a/b/d", &m), 0, "match /a/b/d");
	CHECK(m.nparams == 1 && has_param(&m, "x", "b", 1), "{x} = b after backtracking");
	expect(&t, "GET", "/a/b", ab);    /* literal beats {x} */
	expect(&t, "GET", "/a/z", ax);    /* {x} beats greedy */
	expect(&t, "GET", "/a/z/d", axd);
	expect(&t, "GET", "/a/b/e", ag);  /* nothing else: greedy */
	CHECK_INT(match(&t, "GET", "/a/b/e", &m), 0, "match /a/b/e");
	CHECK(m.nparams == 1 && has_param(&m, "rest", "b/e", 3), "greedy value b/e");
	expect(&t, "GET", "/a/q/r/s/t", ag);
	CHECK_INT(match(&t, "GET", "/a/q/r/s/t", &m), 0, "match /a/q/r/s/t");
	CHECK(has_param(&m, "rest", "q/r/s/t", 7), "greedy value keeps slashes");
	expect(&t, "GET", "/", root);
	expect(&t, "GET", "/a/b/", ab);   /* trailing slash ignored */
	expect(&t, "GET", "/a/b/c/", abc);
	expect_err(&t, "GET", "/a", FNG_ENOT_FOUND);   /* greedy needs one segment */
	expect_err(&t, "GET", "/a/", FNG_ENOT_FOUND);
	expect_err(&t, "GET", "/b", FNG_ENOT_FOUND);
	expect_err(&t, "GET", "/ab", FNG_ENOT_FOUND);
	expect_err(&t, "GET", "", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "a/b", FNG_EBAD_REQUEST);
	table_finish(&t);

	/* Priority is decided from the left: a literal first segment wins even if a param
	 * route would match with an exact method further right. */
	table_init(&t);
	int anyab = add(&t, "ANY /a/b");
	int getxb = add(&t, "GET /{x}/b");

	expect(&t, "GET", "/a/b", anyab);
	expect(&t, "GET", "/z/b", getxb);
	table_finish(&t);

	/* Literal beats a greedy sibling even when it is the shorter route. */
	table_init(&t);
	int g = add(&t, "GET /{p+}");
	int lit = add(&t, "GET /x");

	expect(&t, "GET", "/x", lit);
	expect(&t, "GET", "/x/y", g);
	CHECK_INT(match(&t, "GET", "/x/y/", &m), 0, "match /x/y/");
	CHECK(has_param(&m, "p", "x/y", 3), "greedy value drops the trailing slash");
	table_finish(&t);
}

static void test_params(void)
{
	struct table t;
	struct fng_route_match m;

	table_init(&t);
	int r = add(&t, "GET /users/{id}/posts/{post}");
	int f = add(&t, "GET /files/{path+}");
	int sp = add(&t, "GET /hello%20world");
	int lita = add(&t, "GET /A");
	int mid = add(&t, "GET /m/{x}/n");

	CHECK_INT(match(&t, "GET", "/users/ada%20l/posts/7", &m), 0, "match with two params");
	CHECK(m.route == &t.routes[r], "route");
	CHECK_INT(m.nparams, 2, "two params");
	CHECK(m.nparams == 2 && fng__str_eq(m.params[0].name, "id", 2) &&
			fng__str_eq(m.params[0].value, "ada l", 5),
		"id = \"ada l\" (percent-decoded)");
	CHECK(m.nparams == 2 && fng__str_eq(m.params[1].name, "post", 4) &&
			fng__str_eq(m.params[1].value, "7", 1),
		"post = 7");

	CHECK_INT(match(&t, "GET", "/users/a%2Fb/posts/%e2%82%AC", &m), 0,
		"encoded slash in param");
	CHECK(has_param(&m, "id", "a/b", 3), "%%2F decodes inside one segment");
	CHECK(has_param(&m, "post", "\xe2\x82\xac", 3), "mixed-case hex decodes");

	CHECK_INT(match(&t, "GET", "/files/a/b%20c/d.txt", &m), 0, "greedy match");
	CHECK(m.route == &t.routes[f], "greedy route");
	CHECK(has_param(&m, "path", "a/b c/d.txt", 11), "greedy value decoded, slashes kept");

	expect(&t, "GET", "/hello%20world", sp); /* literal route segments are decoded too */
	expect(&t, "GET", "/%41", lita);         /* request segments are decoded */

	/* {param} never matches an empty segment. */
	expect_err(&t, "GET", "/m//n", FNG_ENOT_FOUND);
	expect(&t, "GET", "/m/x/n", mid);
	expect_err(&t, "GET", "/users//posts/1", FNG_ENOT_FOUND);
	table_finish(&t);
}

static void test_bad_paths(void)
{
	struct table t;

	table_init(&t);
	add(&t, "GET /a/{x}");
	add(&t, "GET /g/{p+}");
	add(&t, "$default");

	/* Malformed escapes are 400 even though $default would catch the path. */
	expect_err(&t, "GET", "/a/%zz", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/a/%4", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/a/%", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/a/%4/", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/a/x%g1", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/%zz/a", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/a/%00", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/g/x/%00/y", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/g/x/%zz", FNG_EBAD_REQUEST);
	expect_err(&t, "GET", "/nothing/%zz", FNG_EBAD_REQUEST);
	table_finish(&t);

	/* Up to 64 segments, then 400. */
	table_init(&t);
	int g = add(&t, "GET /{p+}");
	char path[512];
	size_t o = 0;

	for (int i = 0; i < 64; i++) {
		path[o++] = '/';
		path[o++] = 'x';
	}
	path[o] = '\0';
	expect(&t, "GET", path, g);
	strcpy(path + o, "/x");
	expect_err(&t, "GET", path, FNG_EBAD_REQUEST);
	table_finish(&t);
}

static void test_methods(void)
{
	struct table t;
	struct fng_route_match m;

	table_init(&t);
	int get = add(&t, "GET /x");
	int post = add(&t, "POST /x");
	int any = add(&t, "ANY /y");
	int yput = add(&t, "PUT /y");
	int zget = add(&t, "GET /z");
	int zhead = add(&t, "HEAD /z");
	int wany = add(&t, "ANY /w");
	int wget = add(&t, "GET /w");

	expect(&t, "GET", "/x", get);
	expect(&t, "POST", "/x", post);
	expect(&t, "HEAD", "/x", get);      /* HEAD falls back to GET */
	expect(&t, "PUT", "/y", yput);      /* exact method beats ANY at the same node */
	expect(&t, "GET", "/y", any);
	expect(&t, "DELETE", "/y", any);
	expect(&t, "HEAD", "/z", zhead);    /* an explicit HEAD route wins over GET */
	expect(&t, "GET", "/z", zget);
	expect(&t, "GET", "/w", wget);      /* order of declaration does not matter */
	expect(&t, "POST", "/w", wany);

	CHECK_INT(match(&t, "DELETE", "/x", &m), FNG_EMETHOD_NOT_ALLOWED, "DELETE /x -> 405");
	CHECK(m.route == NULL, "405 sets no route");
	CHECK_INT(m.nallow, 3, "Allow has 3 methods");
	CHECK(allows(&m, "GET") && allows(&m, "HEAD") && allows(&m, "POST"),
		"Allow: GET, HEAD, POST");
	CHECK_INT(match(&t, "get", "/x", &m), FNG_EMETHOD_NOT_ALLOWED,
		"methods are case-sensitive");
	expect_err(&t, "GET", "/nope", FNG_ENOT_FOUND);
	table_finish(&t);

	/* HEAD without GET is a 405 listing what is there. */
	table_init(&t);
	add(&t, "POST /only");
	CHECK_INT(match(&t, "HEAD", "/only", &m), FNG_EMETHOD_NOT_ALLOWED, "HEAD /only -> 405");
	CHECK(m.nallow == 1 && allows(&m, "POST"), "Allow: POST");
	table_finish(&t);

	/* The Allow list gathers methods from every route the path matches. */
	table_init(&t);
	add(&t, "GET /a/b");
	add(&t, "PUT /a/{x}");
	add(&t, "PATCH /a/{x+}");
	CHECK_INT(match(&t, "DELETE", "/a/b", &m), FNG_EMETHOD_NOT_ALLOWED, "DELETE /a/b -> 405");
	CHECK_INT(m.nallow, 4, "Allow has 4 methods");
	CHECK(allows(&m, "GET") && allows(&m, "HEAD") && allows(&m, "PUT") && allows(&m, "PATCH"),
		"Allow: GET, HEAD, PUT, PATCH");
	CHECK_INT(match(&t, "DELETE", "/a/c", &m), FNG_EMETHOD_NOT_ALLOWED, "DELETE /a/c -> 405");
	CHECK(m.nallow == 2 && allows(&m, "PUT") && allows(&m, "PATCH"), "Allow: PUT, PATCH");
	expect(&t, "PUT", "/a/b", 1);       /* backtracks from the literal's missing PUT */
	CHECK_INT(match(&t, "PUT", "/a/b", &m), 0, "PUT /a/b");
	CHECK(has_param(&m, "x", "b", 1), "PUT /a/b binds x = b");
	expect(&t, "PATCH", "/a/b", 2);
	table_finish(&t);
}

static void test_default(void)
{
	struct table t;
	struct fng_route_match m;

	table_init(&t);
	int def = add(&t, "$default");
	int get = add(&t, "GET /a/{x}");

	expect(&t, "GET", "/a/1", get);
	expect(&t, "GET", "/", def);        /* unmatched path */
	expect(&t, "GET", "/b/c/d", def);
	expect(&t, "GET", "/a//", def);
	expect(&t, "POST", "/a/1", def);    /* wrong method: $default, not 405 */
	CHECK_INT(match(&t, "POST", "/a/1", &m), 0, "POST /a/1 caught");
	CHECK_INT(m.nparams, 0, "$default binds no params");
	table_finish(&t);

	/* Only $default. */
	table_init(&t);
	def = add(&t, "$default");
	expect(&t, "DELETE", "/anything/at/all", def);
	expect(&t, "GET", "/", def);
	table_finish(&t);

	/* Empty table. */
	table_init(&t);
	expect_err(&t, "GET", "/", FNG_ENOT_FOUND);
	table_finish(&t);
}

struct walk_ctx {
	char out[512];
};

static void walk_cb(void *ctx, const struct fng_route_key *key, const struct fng_route *route)
{
	struct walk_ctx *w = ctx;
	size_t o = strlen(w->out);

	snprintf(w->out + o, sizeof(w->out) - o, "%s;", route->key);
}

static void test_walk(void)
{
	struct table t;
	struct walk_ctx w = { "" };

	table_init(&t);
	add(&t, "$default");
	add(&t, "GET /a/{p+}");
	add(&t, "GET /a/{x}");
	add(&t, "GET /a/b");
	add(&t, "POST /a/b");
	fng__router_walk(t.r, walk_cb, &w);
	CHECK_STR(w.out, "GET /a/b;POST /a/b;GET /a/{x};GET /a/{p+};$default;",
		"walk visits routes in priority order, $default last");
	table_finish(&t);
}

static void test_pct_decode(void)
{
	char out[16];

	CHECK_INT(fng__pct_decode(out, "a%41%62c", 8), 4, "decode length");
	CHECK(memcmp(out, "aAbc", 4) == 0, "decode value");
	CHECK_INT(fng__pct_decode(out, "%", 1), -1, "lone %%");
	CHECK_INT(fng__pct_decode(out, "%4", 2), -1, "short escape");
	CHECK_INT(fng__pct_decode(out, "%4G", 3), -1, "non-hex");
	CHECK_INT(fng__pct_decode(out, "+", 1), 1, "+ is not a space in paths");
	CHECK(out[0] == '+', "+ stays +");
	CHECK_INT(fng__pct_decode(out, "", 0), 0, "empty");
}

int main(void)
{
	test_keys();
	test_duplicates();
	test_priority();
	test_params();
	test_bad_paths();
	test_methods();
	test_default();
	test_walk();
	test_pct_decode();
	fng__arena_cache_drain();
	return fng_test_done();
}
