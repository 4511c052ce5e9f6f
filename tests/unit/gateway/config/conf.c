// SPDX-License-Identifier: MIT
/*
 * Unit tests for the configuration engine (gateway/config/conf.h, gateway/config/config.c) on its own: a key
 * table of the test's, applied by the walker the modules use, with its defaults, typed values,
 * FILE:LINE:COL errors and the getters a module's parse function calls. The modules' tables
 * are tested through whole files by tests/unit/gateway/config/config.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "harness.h"

struct thing {
	uint32_t count;
	uint64_t bytes;
	bool on;
	const char *name;
	const char *word;         /* set by parse_word */
	int word_calls;           /* parse_word's calls, also when "word" is absent */
	bool word_absent;
};

static int parse_word(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct thing *t = obj;

	t->word_calls++;
	t->word_absent = v == NULL;
	if (v) {
		t->word = fng__conf_str(L, v, "word");
	}
	return 0;
}

#define TOFF(member) offsetof(struct thing, member)

static const struct fng_conf_key thing_keys[] = {
	{ "count", FNG_CONF_U32, TOFF(count), 7, 1, 100 },
	{ "bytes", FNG_CONF_U64, TOFF(bytes), 1ull << 33, 0, 1ull << 40 },
	{ "on", FNG_CONF_BOOL, TOFF(on), 1 },
	{ "name", FNG_CONF_STR, TOFF(name), .def_str = "anon" },
	{ "word", FNG_CONF_FN, 0, .fn = parse_word },
	{ NULL },
};

static const struct fng_conf_key needy_keys[] = {
	{ "must", FNG_CONF_STR, TOFF(name), .required = true },
	{ NULL },
};

/* One load of text: the engine's state, the way config.c sets it up. */
struct load {
	struct fng_conf L;
	struct fng_config cfg;
	struct fng_buf errors;
	const struct fng_conf_node *root;
};

static void load_begin(struct load *ld, const char *text)
{
	memset(ld, 0, sizeof(*ld));
	ld->L.file = "t.yaml";
	ld->L.text = text;
	ld->L.text_len = strlen(text);
	ld->L.errors = &ld->errors;
	ld->L.tmp = fng__arena_create();
	ld->cfg.arena = fng__arena_create();
	ld->L.cfg = &ld->cfg;
	ld->root = fng__conf_parse(&ld->L, text, strlen(text));
}

/* The errors so far, NUL-terminated ("" for none). */
static const char *load_errors(struct load *ld)
{
	fng__buf_append(&ld->errors, "", 1);
	ld->errors.len--;
	return ld->errors.p;
}

static void load_end(struct load *ld)
{
	fng__buf_finish(&ld->errors);
	fng__buf_finish(&ld->L.warnings);
	fng__arena_destroy(ld->L.tmp);
	fng__arena_destroy(ld->cfg.arena);
}

static void test_defaults(void)
{
	struct load ld;
	struct thing t = { .count = 99 };

	load_begin(&ld, "{}\n");
	CHECK_INT(fng__conf_apply(&ld.L, NULL, thing_keys, &t, "thing"), 0, "no mapping: ok");
	CHECK_INT(t.count, 7, "u32 default");
	CHECK(t.bytes == 1ull << 33, "u64 default");
	CHECK(t.on, "bool default");
	CHECK_STR(t.name, "anon", "string default");
	CHECK_INT(t.word_calls, 1, "a function row runs once when its key is absent");
	CHECK(t.word_absent, "... with no value");
	CHECK_STR(load_errors(&ld), "", "no errors");
	load_end(&ld);
}

static void test_values(void)
{
	struct load ld;
	struct thing t = { 0 };

	load_begin(&ld, "count: 42\nbytes: 1099511627776\non: false\nname: \"x y\"\nword: hi\n");
	CHECK(ld.root != NULL, "parses");
	CHECK_INT(fng__conf_apply(&ld.L, ld.root, thing_keys, &t, "thing"), 0, "applies");
	CHECK_INT(t.count, 42, "u32");
	CHECK(t.bytes == 1ull << 40, "u64 at its maximum");
	CHECK(!t.on, "bool");
	CHECK_STR(t.name, "x y", "quoted string");
	CHECK_STR(t.word, "hi", "a function row gets its value");
	CHECK_INT(t.word_calls, 1, "... once");
	CHECK_STR(load_errors(&ld), "", "no errors");
	CHECK(fng__conf_lookup(ld.root, "on") != NULL, "lookup finds a key");
	CHECK_INT(fng__conf_lookup(ld.root, "on")->line, 3, "... with its value's line");
	CHECK(fng__conf_lookup(ld.root, "nope") == NULL, "lookup of a missing key");
	CHECK(fng__conf_lookup(NULL, "on") == NULL, "lookup in no mapping");
	load_end(&ld);
}

static void check_error(const char *text, const struct fng_conf_key *table, const char *want,
	const char *what)
{
	struct load ld;
	struct thing t = { 0 };
	int rc;

	load_begin(&ld, text);
	rc = ld.root ? fng__conf_apply(&ld.L, ld.root, table, &t, "thing") : -1;
	CHECK_INT(rc, -1, "%s: refused", what);
	CHECK_STR(load_errors(&ld), want, "%s: message", what);
	load_end(&ld);
}

static void test_errors(void)
{
	check_error("count: 1\nfoo: 2\n", thing_keys,
		"t.yaml:2:1: unknown key \"foo\" in thing (expected one of: count, bytes, on, "
		"name, word)\n", "unknown key");
	check_error("on: true\non: false\n", thing_keys,
		"t.yaml:2:1: duplicate key \"on\" in thing\n", "duplicate key");
	check_error("count: 101\n", thing_keys,
		"t.yaml:1:8: count must be between 1 and 100\n", "over the range");
	check_error("count: 0x10\n", thing_keys,
		"t.yaml:1:8: count must be an integer, not \"0x10\"\n", "not decimal");
	/* A quoted scalar's position is its text's, after the quote. */
	check_error("count: \"5\"\n", thing_keys,
		"t.yaml:1:9: count must be an integer, not \"5\"\n", "quoted number");
	check_error("on: yes\n", thing_keys,
		"t.yaml:1:5: on must be true or false, not \"yes\"\n", "YAML 1.1 boolean");
	check_error("name: [a]\n", thing_keys,
		"t.yaml:1:7: name must be a scalar, not a list\n", "list for a scalar");
	check_error("- a\n", thing_keys,
		"t.yaml:1:1: thing must be a mapping, not a list\n", "list for a mapping");
	check_error("other: 1\n", needy_keys,
		"t.yaml:1:1: unknown key \"other\" in thing (expected one of: must)\n"
		"t.yaml:1:1: thing needs the key \"must\"\n", "required key");
}

static void test_syntax(void)
{
	struct load ld;

	load_begin(&ld, "a: [1\n");
	CHECK(ld.root == NULL, "a syntax error gives no tree");
	CHECK(strncmp(load_errors(&ld), "t.yaml:", 7) == 0 &&
			strstr(load_errors(&ld), "YAML syntax error"),
		"... and a positioned error");
	load_end(&ld);

	/* An alias's position is its name's, after the '*'. */
	load_begin(&ld, "a: &x 1\nb: *x\n");
	CHECK(ld.root == NULL, "an alias is refused");
	CHECK_STR(load_errors(&ld), "t.yaml:2:5: YAML aliases are not supported\n", "... where");
	load_end(&ld);

	load_begin(&ld, "");
	CHECK(ld.root == NULL, "an empty text gives no tree");
	CHECK_STR(load_errors(&ld), "t.yaml:1:1: configuration is empty\n", "... and an error");
	load_end(&ld);
}

/* Errors past the 50th are counted, not written. */
static void test_error_cap(void)
{
	struct load ld;

	load_begin(&ld, "{}\n");
	for (int i = 0; i < 60; i++) {
		fng__conf_err(&ld.L, ld.root, "e%d", i);
	}
	CHECK_INT(ld.L.nerrors, 60, "every error counts");
	{
		const char *e = load_errors(&ld);
		int lines = 0;

		for (; *e; e++) {
			lines += *e == '\n';
		}
		CHECK_INT(lines, 50, "50 are written");
	}
	fng__conf_warn(&ld.L, NULL, "w");
	CHECK_INT(ld.L.nwarnings, 1, "warnings are counted apart");
	CHECK(ld.L.warnings.len && memcmp(ld.L.warnings.p, "t.yaml:1:1: w\n", 14) == 0,
		"a warning without a node is at 1:1");
	load_end(&ld);
}

static void test_names(void)
{
	struct load ld;

	load_begin(&ld, "ok_1-x: 1\n\"bad name\": 2\nok_1-x: 3\n");
	CHECK(fng__conf_name_key_ok(&ld.L, ld.root, 0, "widget"), "a good name");
	CHECK(!fng__conf_name_key_ok(&ld.L, ld.root, 2, "widget"), "a name with a space");
	CHECK(fng__conf_name_key_ok(&ld.L, ld.root, 4, "widget"), "a name given twice passes");
	CHECK_STR(load_errors(&ld),
		"t.yaml:2:2: widget name \"bad name\" must match [A-Za-z0-9_-]+\n"
		"t.yaml:3:1: duplicate widget \"ok_1-x\"\n", "... yet both are reported");
	load_end(&ld);
	CHECK(fng__config_name_ok("a-B_9"), "name_ok");
	CHECK(!fng__config_name_ok("") && !fng__config_name_ok("a.b"), "name_ok refuses");
}

/* A template error points at its `${` in the source, across the lines of a block scalar. */
static void test_template(void)
{
	struct load ld;
	const struct fng_template *t = NULL;

	load_begin(&ld, "body: |\n  hello\n  ${nope\n");
	CHECK_INT(fng__conf_template(&ld.L, fng__conf_lookup(ld.root, "body"), "body", &t), -1,
		"a bad template is refused");
	CHECK(strncmp(load_errors(&ld), "t.yaml:3:3: body: ", 18) == 0, "at its `${`: %s",
		load_errors(&ld));
	load_end(&ld);
}

static void test_relative(void)
{
	struct load ld;

	load_begin(&ld, "{}\n");
	ld.L.file = "/etc/fngate/fngate.yaml";
	CHECK_STR(fng__conf_relative(&ld.L, "functions"), "/etc/fngate/functions",
		"relative to the file's directory");
	CHECK_STR(fng__conf_relative(&ld.L, "/srv/f"), "/srv/f", "absolute as given");
	load_end(&ld);
}

static void test_read(void)
{
	char path[] = "/tmp/fngate-unit-conf-XXXXXX";
	struct fng_buf text = { 0 };
	int fd = mkstemp(path);

	CHECK(fd >= 0 && write(fd, "hello\n", 6) == 6, "a temporary file");
	close(fd);
	CHECK_INT(fng__conf_read(path, 6, &text), 0, "read at its limit");
	CHECK(text.len == 6 && memcmp(text.p, "hello\n", 6) == 0, "... whole");
	fng__buf_finish(&text);
	CHECK_INT(fng__conf_read(path, 5, &text), -EFBIG, "over the limit");
	CHECK(text.p == NULL && text.len == 0, "... the text is finished");
	unlink(path);
	CHECK_INT(fng__conf_read(path, 100, &text), -ENOENT, "a missing file");
}

/*
 * The module list: each section once, and server before apis before functions and domains
 * (those read what the ones above them built).
 */
static void test_modules(void)
{
	const char *order[] = { "server", "apis", "functions", "domains" };
	int at[4] = { -1, -1, -1, -1 };
	int n = 0;

	for (const struct fng_conf_module *const *m = fng__conf_modules; *m; m++, n++) {
		CHECK((*m)->key && (*m)->parse, "module %d has a key and a parser", n);
		for (const struct fng_conf_module *const *o = fng__conf_modules; o < m; o++) {
			CHECK(strcmp((*o)->key, (*m)->key) != 0, "section %s is listed once",
				(*m)->key);
		}
		for (int i = 0; i < 4; i++) {
			if (strcmp((*m)->key, order[i]) == 0) {
				at[i] = n;
			}
		}
	}
	CHECK(at[0] >= 0 && at[0] < at[1] && at[1] < at[2] && at[1] < at[3],
		"server, then apis, then functions and domains");
}

int main(void)
{
	test_defaults();
	test_values();
	test_errors();
	test_syntax();
	test_error_cap();
	test_names();
	test_template();
	test_relative();
	test_read();
	test_modules();
	fng__arena_cache_drain();
	return fng_test_done();
}
