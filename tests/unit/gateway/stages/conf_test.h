/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_UNIT_STAGES_CONF_TEST_H
#define FNG_TESTS_UNIT_STAGES_CONF_TEST_H

/*
 * Loading a configuration from a string for the stage tests that check their own keys
 * (cors.c, ip_policy.c): a snapshot or NULL, and the errors as one NUL-terminated text.
 */
#include "config.h"
#include "harness.h"

static struct fng_config *conf_test_load(const char *yaml, struct fng_buf *e)
{
	struct fng_config *c = NULL;

	e->len = 0;
	if (fng__config_load_string("t.yaml", yaml, strlen(yaml), &c, e) != 0) {
		c = NULL;
	}
	fng__buf_append(e, "", 1);
	return c;
}

/* yaml must be refused with an error containing want ("t.yaml:LINE:COL: ..."). */
static void conf_test_refused(const char *yaml, const char *want, const char *what)
{
	struct fng_buf e = { 0 };
	struct fng_config *c = conf_test_load(yaml, &e);

	CHECK(!c && strstr(e.p, want), "%s: refused with \"%s\"", what, want);
	if (c || !strstr(e.p, want)) {
		printf("# errors: %s\n", e.p);
	}
	fng__config_unref(c);
	fng__buf_finish(&e);
}

/* Loads the test's config and runs body(c) on it; the test's exit status. */
static int conf_test_main(const char *yaml, void (*body)(struct fng_config *c))
{
	struct fng_buf e = { 0 };
	struct fng_config *c = conf_test_load(yaml, &e);

	CHECK(c != NULL, "the test config loads");
	if (c) {
		body(c);
	} else {
		printf("# %s\n", e.p);
	}
	fng__config_unref(c);
	fng__buf_finish(&e);
	return fng_test_done();
}

#endif
