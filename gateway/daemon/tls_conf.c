// SPDX-License-Identifier: MIT
/*
 * `server.tls`: the TLS listeners, their profile and certificates, with mutual TLS per
 * certificate (transport/tls.c). Only paths are kept here: certificates, keys, CA bundles and
 * CRLs are read when the listeners start, after the sandbox supervisor has forked, so that no
 * worker ever has a private key in its memory.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "safefile.h"

static int parse_addrs(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_tls_cfg *t = obj;

	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "tls.listen")) {
		return -1;
	}
	if (v->n == 0 || v->n > 64) {
		fng__conf_err(L, v, "tls.listen needs between 1 and 64 addresses");
		return -1;
	}
	t->listen = fng__arena_alloc(L->cfg->arena, v->n * sizeof(char *));
	for (unsigned i = 0; t->listen && i < v->n; i++) {
		const char *s = fng__conf_str(L, v->kids[i], "tls.listen address");
		struct sockaddr_storage ss;

		if (s && fng__config_parse_addr(s, &ss) != 0) {
			fng__conf_err(L, v->kids[i],
				"tls.listen address \"%s\" must be IPv4:PORT or [IPv6]:PORT", s);
		} else if (s) {
			t->listen[t->nlisten++] = s;
		}
	}
	return 0;
}

static int parse_profile(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_tls_cfg *t = obj;
	const char *s = v ? fng__conf_str(L, v, "tls.profile") : "intermediate";

	if (!s) {
		return -1;
	}
	if (strcmp(s, "modern") == 0) {
		t->modern = true;
	} else if (strcmp(s, "intermediate") != 0) {
		fng__conf_err(L, v, "tls.profile \"%s\": use intermediate or modern", s);
		return -1;
	}
	return 0;
}

static int parse_unknown_sni(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_tls_cfg *t = obj;
	const char *s = v ? fng__conf_str(L, v, "tls.unknown_sni") : "default";

	if (!s) {
		return -1;
	}
	if (strcmp(s, "refuse") == 0) {
		t->refuse_unknown_sni = true;
	} else if (strcmp(s, "default") != 0) {
		fng__conf_err(L, v, "tls.unknown_sni \"%s\": use default or refuse", s);
		return -1;
	}
	return 0;
}

/*
 * A file the gateway will read: a path relative to the config, which must be readable now
 * under the rules for files the configuration names (core/safefile.h); transport/tls.c reads
 * it again, the same way, each time it builds a context. What was read is wiped: it may be a
 * private key.
 */
static int parse_file(struct fng_conf *L, const struct fng_conf_node *v, const char *what,
	const char **out)
{
	const char *s = fng__conf_str(L, v, what), *why = NULL;
	struct fng_buf text = { 0 };
	int err;

	if (!s) {
		return -1;
	}
	*out = fng__conf_relative(L, s);
	if (!*out) {
		return -1;
	}
	err = fng__safe_read_path(*out, &FNG_SAFE_NAMED(FNG_TLS_FILE_MAX), &text, &why);
	fng__buf_wipe(&text);
	if (err) {
		fng__conf_err(L, v, "%s %s: %s", what, *out, why);
		return -1;
	}
	return 0;
}

static int parse_cert_file(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return parse_file(L, v, "tls certificate cert", &((struct fng_tls_cert *)obj)->cert);
}

static int parse_key_file(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return parse_file(L, v, "tls certificate key", &((struct fng_tls_cert *)obj)->key);
}

static int parse_names(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_tls_cert *c = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "tls certificate names")) {
		return -1;
	}
	c->names = fng__arena_zalloc(L->cfg->arena, (v->n + 1) * sizeof(char *));
	for (unsigned i = 0; c->names && i < v->n; i++) {
		const char *s = fng__conf_str(L, v->kids[i], "tls certificate name");

		if (s && (!*s || strlen(s) > 253 || strpbrk(s, " /\\:@"))) {
			fng__conf_err(L, v->kids[i], "tls certificate name \"%s\" is not a host name",
				s);
			return -1;
		}
		if (s) {
			c->names[c->nnames++] = s;
		}
	}
	return 0;
}

static int parse_client_ca(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return parse_file(L, v, "tls client_auth ca", &((struct fng_tls_cert *)obj)->client_ca);
}

static int parse_client_crls(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_tls_cert *c = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "tls client_auth crl")) {
		return -1;
	}
	if (v->n > 64) {
		fng__conf_err(L, v, "tls client_auth crl takes at most 64 files");
		return -1;
	}
	c->client_crls = fng__arena_zalloc(L->cfg->arena, (v->n + 1) * sizeof(char *));
	for (unsigned i = 0; c->client_crls && i < v->n; i++) {
		if (parse_file(L, v->kids[i], "tls client_auth crl", &c->client_crls[i]) != 0) {
			return -1;
		}
		c->nclient_crls++;
	}
	return 0;
}

#define COFF(member) offsetof(struct fng_tls_cert, member)

static const struct fng_conf_key client_auth_keys[] = {
	{ "ca", FNG_CONF_FN, 0, .fn = parse_client_ca, .required = true },
	{ "required", FNG_CONF_BOOL, COFF(client_required), 1 },
	{ "crl", FNG_CONF_FN, 0, .fn = parse_client_crls },
	{ NULL },
};

/* `client_auth`: mutual TLS for this certificate's handshakes. */
static int parse_client_auth(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "tls client_auth")) {
		return -1;
	}
	return fng__conf_apply(L, v, client_auth_keys, obj, "tls client_auth");
}

static const struct fng_conf_key cert_keys[] = {
	{ "cert", FNG_CONF_FN, 0, .fn = parse_cert_file, .required = true },
	{ "key", FNG_CONF_FN, 0, .fn = parse_key_file, .required = true },
	{ "names", FNG_CONF_FN, 0, .fn = parse_names },
	{ "hsts_max_age_s", FNG_CONF_U32, COFF(hsts_max_age_s), 0, 0, 63072000 },
	{ "hsts_include_subdomains", FNG_CONF_BOOL, COFF(hsts_subdomains), 0 },
	{ "client_auth", FNG_CONF_FN, 0, .fn = parse_client_auth },
	{ NULL },
};

static int parse_certs(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_tls_cfg *t = obj;

	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "tls.certificates")) {
		return -1;
	}
	if (v->n == 0 || v->n > 256) {
		fng__conf_err(L, v, "tls.certificates needs between 1 and 256 certificates");
		return -1;
	}
	t->certs = fng__arena_zalloc(L->cfg->arena, v->n * sizeof(*t->certs));
	for (unsigned i = 0; t->certs && i < v->n; i++) {
		if (fng__conf_want(L, v->kids[i], FNG_CONF_MAP, "tls certificate") &&
			fng__conf_apply(L, v->kids[i], cert_keys, &t->certs[t->ncerts],
				"tls certificate") == 0) {
			t->ncerts++;
		}
	}
	return 0;
}

static const struct fng_conf_key tls_keys[] = {
	{ "listen", FNG_CONF_FN, 0, .fn = parse_addrs, .required = true },
	{ "profile", FNG_CONF_FN, 0, .fn = parse_profile },
	{ "unknown_sni", FNG_CONF_FN, 0, .fn = parse_unknown_sni },
	{ "certificates", FNG_CONF_FN, 0, .fn = parse_certs, .required = true },
	{ NULL },
};

int fng__server_tls_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "tls")) {
		return -1;
	}
	return fng__conf_apply(L, v, tls_keys, &c->tls, "tls");
}
