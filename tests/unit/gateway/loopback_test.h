/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_UNIT_LOOPBACK_TEST_H
#define FNG_TESTS_UNIT_LOOPBACK_TEST_H

/*
 * For the unit tests that drive a real connection on the loopback transport
 * (gateway/transport/loopback.c) without sockets: one loop's state from a config text, input
 * fed as a string, and what the client would have received as one NUL-terminated string.
 */
#include <string.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "harness.h"
#include "transport.h"

/* srv on loop with the configuration yaml; false (and the errors printed) if it is refused. */
static inline bool lb_test_server(uv_loop_t *loop, struct fng_server *srv, const char *yaml)
{
	struct fng_config *cfg;
	struct fng_buf errors = { 0 };

	if (fng__config_load_string("t.yaml", yaml, strlen(yaml), &cfg, &errors)) {
		printf("# %.*s", (int)errors.len, errors.p);
		fng__buf_finish(&errors);
		return false;
	}
	fng__buf_finish(&errors);
	uv_loop_init(loop);
	return fng__server_init(srv, loop, cfg, NULL) == 0;
}

/* What lb's client received so far (the output stays lb's). */
static inline const char *lb_test_out(struct fng_loopback *lb)
{
	fng__buf_append(&lb->output, "", 1);
	lb->output.len--;
	return lb->output.p ? lb->output.p : "";
}

static inline void lb_test_feed(struct fng_loopback *lb, const char *s)
{
	fng__loopback_feed(lb, s, strlen(s));
}

#endif
