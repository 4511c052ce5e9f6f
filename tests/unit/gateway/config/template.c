// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/template.c: compiling `${...}` templates (every variable namespace,
 * `|json`, `$$`, errors with the offset of the offending `${`) and rendering them through a
 * lookup callback, as mock integrations do for each request.
 */
#include <stdio.h>

#include "errors.h"
#include "harness.h"
#include "template.h"

static struct fng_arena *arena;

static struct fng_template *compile_ok(const char *src, const char *what)
{
	struct fng_template *t = NULL;
	const char *why = NULL;
	size_t off = 12345;
	int err = fng__template_compile(arena, src, strlen(src), &t, &why, &off);

	CHECK_INT(err, 0, "compile %s", what);
	if (err) {
		printf("# why: %s at %zu\n", why ? why : "(null)", off);
		return NULL;
	}
	return t;
}

static void compile_bad(const char *src, size_t want_off, const char *what)
{
	struct fng_template *t = NULL;
	const char *why = NULL;
	size_t off = 12345;

	CHECK_INT(fng__template_compile(arena, src, strlen(src), &t, &why, &off), FNG_ECONFIG,
		"%s: \"%s\" rejected", what, src);
	CHECK_INT(off, want_off, "%s: err_off at the ${", what);
	CHECK(why != NULL && why[0], "%s: says why", what);
}

/* A single-variable template "${src}" must compile to one part of kind, name, json. */
static void one_var(const char *src, enum fng_tvar kind, const char *name, int json)
{
	struct fng_template *t = compile_ok(src, src);

	if (!t) {
		return;
	}
	CHECK_INT(t->nparts, 1, "%s: one part", src);
	CHECK_INT(t->parts[0].kind, kind, "%s: kind", src);
	CHECK_INT(t->parts[0].json, json, "%s: json flag", src);
	if (name) {
		CHECK(fng__str_eq(t->parts[0].s, name, strlen(name)), "%s: name is \"%s\"", src,
			name);
	}
	CHECK(!fng__template_is_literal(t), "%s: not literal", src);
}

static void test_compile(void)
{
	struct fng_template *t;

	t = compile_ok("", "empty");
	CHECK(t && t->nparts == 0 && fng__template_is_literal(t), "empty: no parts, literal");

	t = compile_ok("hello world", "literal");
	CHECK(t && t->nparts == 1 && t->parts[0].kind == FNG_TV_LITERAL &&
			fng__str_eq(t->parts[0].s, "hello world", 11),
		"literal: one literal part");
	CHECK(t && fng__template_is_literal(t), "literal: is_literal");

	t = compile_ok("cost: $$5 $${x} $ $a {b} $", "dollars");
	CHECK(t && t->nparts == 1 && fng__template_is_literal(t), "dollars: one literal");
	CHECK(t && fng__str_eq(t->parts[0].s, "cost: $5 ${x} $ $a {b} $", 24),
		"$$ is a literal $, a lone $ stays, $${ is not a variable");

	one_var("${request.path.id}", FNG_TV_PATH, "id", 0);
	one_var("${request.querystring.q}", FNG_TV_QUERY, "q", 0);
	one_var("${request.header.X-Trace_id}", FNG_TV_HEADER, "X-Trace_id", 0);
	one_var("${stageVariables.greeting}", FNG_TV_STAGEVAR, "greeting", 0);
	one_var("${stageVariables.a.b}", FNG_TV_STAGEVAR, "a.b", 0);
	one_var("${context.requestId}", FNG_TV_REQUEST_ID, NULL, 0);
	one_var("${context.apiId}", FNG_TV_API_ID, NULL, 0);
	one_var("${context.stage}", FNG_TV_STAGE, NULL, 0);
	one_var("${context.routeKey}", FNG_TV_ROUTE_KEY, NULL, 0);
	one_var("${context.httpMethod}", FNG_TV_METHOD, NULL, 0);
	one_var("${context.path}", FNG_TV_PATH_RAW, NULL, 0);
	one_var("${context.sourceIp}", FNG_TV_SOURCE_IP, NULL, 0);
	one_var("${context.protocol}", FNG_TV_PROTOCOL, NULL, 0);
	one_var("${context.domainName}", FNG_TV_DOMAIN, NULL, 0);
	one_var("${request.path.id|json}", FNG_TV_PATH, "id", 1);
	one_var("${context.requestId|json}", FNG_TV_REQUEST_ID, NULL, 1);

	t = compile_ok("a${context.stage}b${request.path.x|json}${request.header.h}c", "mixed");
	CHECK(t && t->nparts == 6, "mixed: 6 parts");
	if (t && t->nparts == 6) {
		CHECK(t->parts[0].kind == FNG_TV_LITERAL && fng__str_eq(t->parts[0].s, "a", 1),
			"mixed: a");
		CHECK(t->parts[1].kind == FNG_TV_STAGE && !t->parts[1].json, "mixed: stage");
		CHECK(t->parts[2].kind == FNG_TV_LITERAL && fng__str_eq(t->parts[2].s, "b", 1),
			"mixed: b");
		CHECK(t->parts[3].kind == FNG_TV_PATH && t->parts[3].json &&
				fng__str_eq(t->parts[3].s, "x", 1),
			"mixed: path x json");
		CHECK(t->parts[4].kind == FNG_TV_HEADER && !t->parts[4].json &&
				fng__str_eq(t->parts[4].s, "h", 1),
			"mixed: header h (json flag does not leak)");
		CHECK(t->parts[5].kind == FNG_TV_LITERAL && fng__str_eq(t->parts[5].s, "c", 1),
			"mixed: c");
	}
	t = compile_ok("$$${context.stage}$$", "dollars around a variable");
	CHECK(t && t->nparts == 3 && fng__str_eq(t->parts[0].s, "$", 1) &&
			t->parts[1].kind == FNG_TV_STAGE && fng__str_eq(t->parts[2].s, "$", 1),
		"$$${v}$$ is $, v, $");

	/* Errors point at the `$` of the offending `${`. */
	compile_bad("${foo.bar}", 0, "unknown namespace");
	compile_bad("abc ${request.body.x}", 4, "unknown request namespace");
	compile_bad("${context.requestId} ${context.nope}", 21, "unknown context variable");
	compile_bad("${context}", 0, "bare context");
	compile_bad("${request.path.}", 0, "empty name");
	compile_bad("${request.path}", 0, "named variable without a name");
	compile_bad("${}", 0, "empty variable");
	compile_bad("x${request.path.a b}", 1, "space in name");
	compile_bad("x${request.path.a/b}", 1, "slash in name");
	compile_bad("${context.stage|upper}", 0, "unknown filter");
	compile_bad("ok ${context.stage|json|json}", 3, "double filter");
	compile_bad("${context.stage|}", 0, "empty filter");
	compile_bad("${context.stage", 0, "unterminated");
	compile_bad("abcdef ${request.path.x", 7, "unterminated after text");
	compile_bad("${context.stage} ${", 17, "unterminated at the end");
	compile_bad("$${x} ${context.stage} ${context.stag}", 23, "after $$ and a good one");
	compile_bad("${Context.stage}", 0, "case matters");
}

struct vals {
	const char *path_id, *header_h, *stage_var, *request_id;
};

static bool lookup(void *ctx, const struct fng_tpart *part, struct fng_str *value)
{
	const struct vals *v = ctx;
	const char *s = NULL;

	switch (part->kind) {
	case FNG_TV_PATH:
		s = fng__str_eq(part->s, "id", 2) ? v->path_id : NULL;
		break;
	case FNG_TV_HEADER:
		s = fng__str_eq(part->s, "h", 1) ? v->header_h : NULL;
		break;
	case FNG_TV_STAGEVAR:
		s = fng__str_eq(part->s, "greeting", 8) ? v->stage_var : NULL;
		break;
	case FNG_TV_REQUEST_ID:
		s = v->request_id;
		break;
	default:
		break;
	}
	if (!s) {
		return false;
	}
	*value = (struct fng_str){ s, strlen(s) };
	return true;
}

static void render(const char *src, const struct vals *v, const char *want, const char *what)
{
	struct fng_template *t = compile_ok(src, what);
	struct fng_buf b = { 0 };

	if (!t) {
		return;
	}
	CHECK_INT(fng__template_render(t, &b, lookup, (void *)v), 0, "render %s", what);
	fng__buf_append(&b, "", 1);
	CHECK_STR(b.p ? b.p : "", want, "render %s", what);
	fng__buf_finish(&b);
}

static void test_render(void)
{
	struct vals v = { "42", "a \"quoted\" \\ value", "hello", "rid-1" };
	struct vals ctl = { "\x01\n\t\x1f", NULL, NULL, NULL };

	render("plain", &v, "plain", "literal");
	render("", &v, "", "empty");
	render("$$${request.path.id}$$", &v, "$42$", "dollars");
	render("id=${request.path.id} rid=${context.requestId}", &v, "id=42 rid=rid-1",
		"known values");
	render("[${request.path.nope}][${request.header.x}][${context.stage}]", &v, "[][][]",
		"missing values render empty");
	render("${stageVariables.greeting}, ${stageVariables.other}!", &v, "hello, !",
		"missing stage variable");
	render("{\"h\":\"${request.header.h|json}\"}", &v,
		"{\"h\":\"a \\\"quoted\\\" \\\\ value\"}", "json escapes quotes and backslash");
	render("${request.header.h}", &v, "a \"quoted\" \\ value", "no filter, no escaping");
	render("${request.path.id|json}", &ctl, "\\u0001\\n\\t\\u001f", "json escapes controls");
	render("${request.path.id}", &ctl, "\x01\n\t\x1f", "raw controls without the filter");
}

int main(void)
{
	arena = fng__arena_create();
	test_compile();
	test_render();
	fng__arena_destroy(arena);
	fng__arena_cache_drain();
	return fng_test_done();
}
