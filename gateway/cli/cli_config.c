// SPDX-License-Identifier: MIT
/* Loading a configuration for a command (check, routes, serve, keys): errors to stderr. */
#include <stdio.h>

#include "cli.h"
#include "config.h"

int fng__cli_load_config(const char *path, struct fng_config **cfg, bool warn)
{
	struct fng_buf errors = { 0 };
	int err = fng__config_load(path, cfg, &errors);

	if (err) {
		if (errors.len) {
			fwrite(errors.p, 1, errors.len, stderr);
		}
		fng__buf_finish(&errors);
		return 1;
	}
	fng__buf_finish(&errors);
	if (warn && (*cfg)->warnings) {
		fputs((*cfg)->warnings, stderr);
	}
	return 0;
}
