/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CLI_H
#define FNG_GATEWAY_CLI_H

/* `fngate invoke NAME|PATH.so --event EVENT.json` (cli_fn.c). Exit status. */
int fng__cli_invoke(int argc, char **argv);
/* `fngate new NAME`: writes NAME.c, a handler to start from, and NAME_test.c. Exit status. */
int fng__cli_new(int argc, char **argv);
/* `fngate token --key FILE ...`: prints a signed JWT (cli_token.c). Exit status. */
int fng__cli_token(int argc, char **argv);
/* `fngate ws URL`: an interactive WebSocket client (cli_ws.c, built with libwebsockets). */
int fng__cli_ws(int argc, char **argv);

#endif
