// SPDX-License-Identifier: MIT
/*
 * `apis.NAME.authorizers` and the routes' `authorizer` and `authorization_scopes` keys
 * (docs/config.md, "Authorizers"). Each authorizer is a mapping with a `type`; the keys of a
 * type are parsed by the module that runs it (jwt: auth/jwt.c) or here (token, request: the
 * function authorizers).
 */
#include <regex.h>
#include <string.h>

#include "authorizers_conf.h"
#include "chars.h"
#include "jwt.h"

#define TTL_MAX_S 3600

static void free_regex(void *re)
{
	regfree(re);
}

/* "$request.header.NAME" and the other identity sources of API Gateway. */
static int parse_source(struct fng_conf *L, const struct fng_conf_node *n,
	struct fng_identity_source *src)
{
	static const struct {
		const char *prefix;
		enum fng_identity_kind kind;
	} kinds[] = {
		{ "$request.header.", FNG_ID_HEADER },
		{ "$request.querystring.", FNG_ID_QUERY },
		{ "$stageVariables.", FNG_ID_STAGE_VAR },
	};
	const char *s = fng__conf_str(L, n, "identity source");

	if (!s) {
		return -1;
	}
	src->spec = s;
	if (strcmp(s, "$context.identity.sourceIp") == 0) {
		src->kind = FNG_ID_SOURCE_IP;
		return 0;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t plen = strlen(kinds[i].prefix);

		if (strncmp(s, kinds[i].prefix, plen) == 0 && s[plen]) {
			char *name = fng__arena_strndup(L->cfg->arena, s + plen, strlen(s + plen));

			if (!name) {
				return -1;
			}
			if (kinds[i].kind == FNG_ID_HEADER) {
				fng__lower_n(name, strlen(name));
			}
			src->kind = kinds[i].kind;
			src->name = name;
			return 0;
		}
	}
	fng__conf_err(L, n, "identity source \"%s\": use $request.header.NAME, "
		"$request.querystring.NAME, $stageVariables.NAME or $context.identity.sourceIp", s);
	return -1;
}

static int parse_sources(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_authorizer *a = obj;
	struct fng_authz_function *f = &a->fn;

	if (!v) {
		fng__conf_err(L, NULL, "authorizer \"%s\" needs identity_source", a->name);
		return -1;
	}
	if (v->type == FNG_CONF_SCALAR) {
		f->sources = fng__arena_zalloc(L->cfg->arena, sizeof(*f->sources));
		f->nsources = f->sources ? 1 : 0;
		return f->sources ? parse_source(L, v, f->sources) : -1;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "identity_source")) {
		return -1;
	}
	if (v->n == 0) {
		fng__conf_err(L, v, "identity_source needs at least one source");
		return -1;
	}
	f->sources = fng__arena_zalloc(L->cfg->arena, v->n * sizeof(*f->sources));
	if (!f->sources) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		if (parse_source(L, v->kids[i], &f->sources[f->nsources]) == 0) {
			f->nsources++;
		}
	}
	if (a->type == FNG_AUTHZ_TOKEN &&
		(f->nsources != 1 || f->sources[0].kind != FNG_ID_HEADER)) {
		fng__conf_err(L, v, "a token authorizer's identity_source is one header "
			"($request.header.NAME)");
		return -1;
	}
	return f->nsources == v->n ? 0 : -1;
}

static int parse_regex(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_authorizer *a = obj;
	regex_t *re;
	const char *s;
	int rc;

	if (!v) {
		return 0;
	}
	if (a->type != FNG_AUTHZ_TOKEN) {
		fng__conf_err(L, v, "validation_regex is for token authorizers");
		return -1;
	}
	s = fng__conf_str(L, v, "validation_regex");
	re = fng__arena_zalloc(L->cfg->arena, sizeof(*re));
	if (!s || !re) {
		return -1;
	}
	rc = regcomp(re, s, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char why[128];

		regerror(rc, re, why, sizeof(why));
		fng__conf_err(L, v, "validation_regex: %s", why);
		return -1;
	}
	if (fng__arena_defer(L->cfg->arena, free_regex, re) != 0) {
		regfree(re);
		return -1;
	}
	a->fn.validation = re;
	a->fn.validation_src = s;
	return 0;
}

#define AOFF(f) offsetof(struct fng_authorizer, f)

static const struct fng_conf_key function_keys[] = {
	{ "type", FNG_CONF_FN, 0, .fn = fng__conf_skip },
	{ "function", FNG_CONF_STR, AOFF(fn.function), .required = true },
	{ "identity_source", FNG_CONF_FN, 0, .fn = parse_sources },
	{ "validation_regex", FNG_CONF_FN, 0, .fn = parse_regex },
	{ "ttl_s", FNG_CONF_U32, AOFF(fn.ttl_s), 300, 0, TTL_MAX_S },
	{ "cache_entries", FNG_CONF_U32, AOFF(fn.cache_entries), 1000, 1, 100000 },
	{ "cache_bytes", FNG_CONF_U64, AOFF(fn.cache_bytes), 1 << 20, 64 << 10, 256 << 20 },
	{ NULL },
};

static const struct {
	const char *name;
	enum fng_authz_type type;
} types[] = {
	{ "jwt", FNG_AUTHZ_JWT },
	{ "token", FNG_AUTHZ_TOKEN },
	{ "request", FNG_AUTHZ_REQUEST },
};

static int parse_one(struct fng_conf *L, const struct fng_conf_node *v, struct fng_authorizer *a)
{
	const struct fng_conf_node *t = fng__conf_lookup(v, "type");
	size_t i;

	if (!fng__conf_want(L, v, FNG_CONF_MAP, "authorizer")) {
		return -1;
	}
	if (!t || t->type != FNG_CONF_SCALAR) {
		fng__conf_err(L, t ? t : v, "authorizer \"%s\" needs a type (jwt, token, request)",
			a->name);
		return -1;
	}
	for (i = 0; i < sizeof(types) / sizeof(types[0]) && strcmp(t->s, types[i].name); i++) {
	}
	if (i == sizeof(types) / sizeof(types[0])) {
		fng__conf_err(L, t, "unknown authorizer type \"%s\" (known: jwt, token, request)",
			t->s);
		return -1;
	}
	a->type = types[i].type;
	if (a->type == FNG_AUTHZ_JWT) {
		return fng__jwt_conf(L, v, &a->jwt);
	}
	return fng__conf_apply(L, v, function_keys, a, "authorizer");
}

int fng__authorizers_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_api *api = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "authorizers")) {
		return -1;
	}
	api->authorizers = fng__arena_zalloc(L->cfg->arena, (v->n / 2 + 1) *
		sizeof(*api->authorizers));
	if (!api->authorizers) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		struct fng_authorizer *a = &api->authorizers[api->nauthorizers];

		if (!fng__conf_name_key_ok(L, v, i, "authorizer")) {
			continue;
		}
		a->name = fng__conf_str(L, v->kids[i], "authorizer name");
		a->line = v->kids[i]->line;
		a->col = v->kids[i]->col;
		if (a->name && parse_one(L, v->kids[i + 1], a) == 0) {
			api->nauthorizers++;
		}
	}
	return 0;
}

int fng__route_authorizer_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_route *r = obj;
	const struct fng_api *api = r->api;
	const char *name;

	if (!v) {
		return 0;
	}
	name = fng__conf_str(L, v, "authorizer");
	if (!name) {
		return -1;
	}
	for (unsigned i = 0; i < api->nauthorizers; i++) {
		if (strcmp(api->authorizers[i].name, name) == 0) {
			r->authorizer = &api->authorizers[i];
		}
	}
	if (!r->authorizer) {
		fng__conf_err(L, v, "route \"%s\": no authorizer \"%s\" in API \"%s\"", r->key, name,
			api->name);
		return -1;
	}
	if (api->protocol == FNG_API_WEBSOCKET && strcmp(r->key, "$connect") != 0) {
		fng__conf_err(L, v, "route \"%s\": a WebSocket API is authorized on $connect only",
			r->key);
		return -1;
	}
	return 0;
}

/* Runs after `authorizer` (its row is above): scopes are checked against a JWT's claims. */
int fng__route_scopes_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_route *r = obj;

	if (!v) {
		return 0;
	}
	if (!r->authorizer || r->authorizer->type != FNG_AUTHZ_JWT) {
		fng__conf_err(L, v, "route \"%s\": authorization_scopes need a jwt authorizer",
			r->key);
		return -1;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "authorization_scopes")) {
		return -1;
	}
	r->scopes = fng__arena_zalloc(L->cfg->arena, (v->n + 1) * sizeof(*r->scopes));
	if (!r->scopes) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const char *s = fng__conf_str(L, v->kids[i], "scope");

		if (!s) {
			return -1;
		}
		r->scopes[r->nscopes++] = s;
	}
	return 0;
}
