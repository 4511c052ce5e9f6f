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
	const char *path = v ? fng__conf_str(L, v, "admin.token_file") : NULL;
	char buf[300];
	FILE *f;

	if (!path) {
		return v ? -1 : 0;
	}
	path = fng__conf_relative(L, path);
	f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		fng__conf_err(L, v, "admin.token_file %s: %s", path, f ? "empty" : strerror(errno));
		if (f) {
			fclose(f);
		}
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < 16 || strpbrk(buf, " \t")) {
		fng__conf_err(L, v, "admin.token_file %s: the token must be 16 to 256 characters "
			"without white space", path);
		return -1;
	}
	c->admin.token = fng__arena_strndup(c->arena, buf, strlen(buf));
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
