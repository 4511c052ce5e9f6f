// SPDX-License-Identifier: MIT
/*
 * The `admin:` section: the admin listener (admin.c serves its API) and its bearer token,
 * given inline or read from a file so that it need not sit in the config.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "safefile.h"

/* The admin token file: one line of at most 256 characters, and a newline. */
#define TOKEN_FILE_MAX 4096

static int parse_admin_listen(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *s = fng__conf_str(L, v, "admin.listen");
	struct sockaddr_storage ss;

	if (s && fng__config_parse_addr(s, &ss) != 0) {
		fng__conf_err(L, v, "admin.listen \"%s\" must be IPv4:PORT or [IPv6]:PORT", s);
		return -1;
	}
	c->admin.listen = s;
	return 0;
}

static int parse_admin_token(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *s = v ? fng__conf_str(L, v, "admin.token") : NULL;

	if (s && (strlen(s) < 16 || strlen(s) > 256 || strpbrk(s, " \t\r\n"))) {
		fng__conf_err(L, v, "admin.token must be 16 to 256 characters without white space");
		return -1;
	}
	c->admin.token = s;
	return 0;
}

/* The token from a file (its first line), so it need not sit in the config. */
static int parse_admin_token_file(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *t;
	size_t n;

	if (!v) {
		return 0;
	}
	t = fng__conf_first_line(L, v, "admin.token_file", TOKEN_FILE_MAX);
	if (!t) {
		return -1;
	}
	n = strlen(t);
	if (n < 16 || n > 256 || strpbrk(t, " \t")) {
		fng__conf_err(L, v, "admin.token_file %s: the token must be 16 to 256 characters "
			"without white space", fng__conf_relative(L, v->s));
		return -1;
	}
	c->admin.token = t;
	return 0;
}

static const struct fng_conf_key admin_keys[] = {
	{ "listen", FNG_CONF_FN, 0, .fn = parse_admin_listen, .required = true },
	{ "token", FNG_CONF_FN, 0, .fn = parse_admin_token },
	{ "token_file", FNG_CONF_FN, 0, .fn = parse_admin_token_file },
	{ NULL },
};

static int parse_admin(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	if (fng__conf_apply(L, v, admin_keys, obj, "admin")) {
		return -1;
	}
	if (!c->admin.token) {
		fng__conf_err(L, v, "admin needs a token (admin.token or admin.token_file)");
		return -1;
	}
	return 0;
}

const struct fng_conf_module fng__admin_conf = { "admin", parse_admin };
