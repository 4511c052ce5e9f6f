/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CLI_H
#define FNG_GATEWAY_CLI_H

#include <stdbool.h>

struct fng_config;

/*
 * Loads path into *cfg; errors (and, with warn, warnings) go to stderr as FILE:LINE:COL lines.
 * 0, or 1 (the exit status) when it does not load.
 */
int fng__cli_load_config(const char *path, struct fng_config **cfg, bool warn);
/* `fngate invoke NAME|PATH.so --event EVENT.json` (cli_fn.c). Exit status. */
int fng__cli_invoke(int argc, char **argv);
/* `fngate new NAME`: writes NAME.c, a handler to start from, and NAME_test.c. Exit status. */
int fng__cli_new(int argc, char **argv);
/* `fngate token --key FILE ...`: prints a signed JWT (cli_token.c). Exit status. */
int fng__cli_token(int argc, char **argv);
/* `fngate keys [-c FILE] create|list|show|revoke|usage`: API keys (cli_keys.c). Exit status. */
int fng__cli_keys(int argc, char **argv);
/* `fngate ws URL`: an interactive WebSocket client (cli_ws.c, built with libwebsockets). */
int fng__cli_ws(int argc, char **argv);

#endif
