/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_FUZZ_SERVER_H
#define FNG_TESTS_FUZZ_SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"

/*
 * For the drivers that feed a real connection: one loop's state on loop, with the config
 * text given (len bytes); aborts on any failure, which is the driver's bug, not the input's.
 */
static inline void fng_fuzz_server(uv_loop_t *loop, struct fng_server *srv, const char *config,
	size_t len)
{
	struct fng_config *cfg;
	struct fng_buf errors = { 0 };

	if (fng__config_load_string("fuzz.yaml", config, len, &cfg, &errors)) {
		fwrite(errors.p, 1, errors.len, stderr);
		abort();
	}
	fng__buf_finish(&errors);
	uv_loop_init(loop);
	if (fng__server_init(srv, loop, cfg, NULL)) {
		abort();
	}
}

#endif
