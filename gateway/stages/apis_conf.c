// SPDX-License-Identifier: MIT
/*
 * The `apis:` section: each API's protocol, stages (variables, body limit) and routes, the
 * HTTP routes compiled into the API's router (router.c), and the lookups the request path
 * uses on a snapshot (an API by name, a stage, a stage variable, a WebSocket route).
 */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "authorizers_conf.h"
#include "cache_stage.h"
#include "chars.h"
#include "cors.h"
#include "integration_conf.h"
#include "ip_policy.h"
#include "throttle.h"
#include "ws_conf.h"

static int parse_vars(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_stage *s = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "variables")) {
		return -1;
	}
	s->vars = fng__arena_zalloc(L->cfg->arena, (v->n / 2 + 1) * sizeof(*s->vars));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i], *val = v->kids[i + 1];
		const char *name, *value;

		if (!fng__conf_name_key_ok(L, v, i, "stage variable")) {
			continue;
		}
		name = fng__conf_str(L, k, "stage variable name");
		value = fng__conf_str(L, val, "stage variable value");
		if (name && value) {
			s->vars[s->nvars++] = (struct fng_var){ name, { value, val->len } };
		}
	}
	return 0;
}

#define SOFF(member) offsetof(struct fng_stage, member)

static const struct fng_conf_key stage_keys[] = {
	{ "variables", FNG_CONF_FN, 0, .fn = parse_vars },
	{ "body_bytes", FNG_CONF_U64, SOFF(body_bytes), UINT64_MAX, 0, (uint64_t)1 << 40 },
	{ "policy", FNG_CONF_FN, 0, .fn = fng__stage_policy_conf },
	{ "throttle", FNG_CONF_FN, 0, .fn = fng__stage_throttle_conf },
	{ "route_throttles", FNG_CONF_FN, 0, .fn = fng__route_throttles_conf },
	{ "client_throttle", FNG_CONF_FN, 0, .fn = fng__client_throttle_conf },
	{ "cache", FNG_CONF_FN, 0, .fn = fng__stage_cache_conf },
	{ NULL },
};

static int parse_stages(struct fng_conf *L, const struct fng_conf_node *v, struct fng_api *api)
{
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "stages")) {
		return -1;
	}
	if (v->n == 0) {
		fng__conf_err(L, v, "API \"%s\" needs at least one stage", api->name);
		return -1;
	}
	api->stages = fng__arena_zalloc(L->cfg->arena, (v->n / 2) * sizeof(*api->stages));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i];
		struct fng_stage *s = &api->stages[api->nstages];
		const struct fng_conf_node *body;

		memset(s, 0, sizeof(*s));
		if (!fng__conf_want(L, k, FNG_CONF_SCALAR, "stage name")) {
			continue;
		}
		if (strcmp(k->s, "$default") != 0 && !fng__config_name_ok(k->s)) {
			fng__conf_err(L, k,
				"stage name \"%s\" must match [A-Za-z0-9_-]+ or be $default", k->s);
			continue;
		}
		for (unsigned j = 0; j < i; j += 2) {
			if (strcmp(v->kids[j]->s, k->s) == 0) {
				fng__conf_err(L, k, "duplicate stage \"%s\"", k->s);
			}
		}
		s->name = fng__conf_str(L, k, "stage name");
		/* `dev:` with no value is a stage with every default. */
		body = v->kids[i + 1];
		if (body->type == FNG_CONF_SCALAR && body->plain && body->len == 0) {
			body = NULL;
		}
		if (fng__conf_apply(L, body, stage_keys, s, "stage") == 0) {
			if (s->body_bytes == UINT64_MAX) {
				s->body_bytes = L->cfg->limits.body_bytes; /* not set: inherit */
			} else if (s->body_bytes > L->cfg->limits.body_bytes) {
				fng__conf_err(L, v->kids[i + 1], "stage body_bytes %" PRIu64
					" exceeds server.limits.body_bytes", s->body_bytes);
			}
		}
		if (s->name && strcmp(s->name, "$default") == 0) {
			api->default_stage = s;
		}
		api->nstages++;
	}
	return 0;
}

static const struct fng_conf_key route_keys[] = {
	{ "integration", FNG_CONF_FN, 0, .fn = fng__integration_conf, .required = true },
	{ "authorizer", FNG_CONF_FN, 0, .fn = fng__route_authorizer_conf },
	{ "authorization_scopes", FNG_CONF_FN, 0, .fn = fng__route_scopes_conf },
	{ "api_key_required", FNG_CONF_BOOL, offsetof(struct fng_route, api_key_required), 0 },
	{ "cache", FNG_CONF_FN, 0, .fn = fng__route_cache_conf },
	{ NULL },
};

static int parse_routes(struct fng_conf *L, const struct fng_conf_node *v, struct fng_api *api)
{
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "routes")) {
		return -1;
	}
	if (v->n == 0) {
		fng__conf_err(L, v, "API \"%s\" needs at least one route", api->name);
		return -1;
	}
	api->router = api->protocol == FNG_API_HTTP ? fng__router_create(L->cfg->arena) : NULL;
	api->routes = fng__arena_zalloc(L->cfg->arena, (v->n / 2) * sizeof(*api->routes));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i];
		struct fng_route *r = &api->routes[api->nroutes];
		const char *why = NULL;

		memset(r, 0, sizeof(*r)); /* the slot of a route that failed is reused */
		r->api = api;
		if (!fng__conf_want(L, k, FNG_CONF_SCALAR, "route key")) {
			continue;
		}
		r->key = fng__conf_str(L, k, "route key");
		r->line = k->line;
		r->col = k->col;
		if (!r->key) {
			continue;
		}
		if (api->protocol == FNG_API_WEBSOCKET) {
			if (!fng__ws_route_key_ok(r->key)) {
				fng__conf_err(L, k, "WebSocket route key \"%s\": use $connect, "
					"$disconnect, $default or a token", r->key);
				continue;
			}
			if (fng__api_ws_route(api, r->key, strlen(r->key))) {
				fng__conf_err(L, k, "duplicate route \"%s\"", r->key);
				continue;
			}
			if (fng__conf_apply(L, v->kids[i + 1], route_keys, r, "route") != 0) {
				continue;
			}
			if (r->api_key_required) {
				/* Usage plans meter HTTP APIs: a key on a WebSocket route would be refused. */
				fng__conf_err(L, k, "route \"%s\": api_key_required is for HTTP APIs (a "
					"WebSocket API checks callers with an authorizer on $connect)",
					r->key);
				continue;
			}
			api->nroutes++;
			continue;
		}
		if (fng__route_key_parse(L->cfg->arena, r->key, &r->parsed, &why)) {
			fng__conf_err(L, k, "route \"%s\": %s", r->key, why);
			continue;
		}
		if (fng__conf_apply(L, v->kids[i + 1], route_keys, r, "route") != 0) {
			continue;
		}
		if (fng__router_add(api->router, L->cfg->arena, &r->parsed, r, &why)) {
			fng__conf_err(L, k, "route \"%s\": %s", r->key, why);
			continue;
		}
		api->nroutes++;
	}
	return 0;
}

static int parse_protocol(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_api *api = obj;
	const char *s = v ? fng__conf_str(L, v, "protocol") : "http";

	if (!s) {
		return -1;
	}
	if (strcmp(s, "http") == 0) {
		api->protocol = FNG_API_HTTP;
	} else if (strcmp(s, "websocket") == 0) {
		api->protocol = FNG_API_WEBSOCKET;
	} else {
		fng__conf_err(L, v, "unknown protocol \"%s\" (known: http, websocket)", s);
		return -1;
	}
	return 0;
}

/* api_key_source: header (the default) or authorizer (its usage identifier key). */
static int parse_key_source(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_api *api = obj;
	const char *s = v ? fng__conf_str(L, v, "api_key_source") : "header";

	if (!s) {
		return -1;
	}
	if (strcmp(s, "authorizer") == 0) {
		api->api_key_from_authorizer = true;
	} else if (strcmp(s, "header") != 0) {
		fng__conf_err(L, v, "api_key_source \"%s\": use header or authorizer", s);
		return -1;
	}
	return 0;
}

static int parse_key_header(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_api *api = obj;
	char *h;

	if (!v) {
		api->api_key_header = "x-api-key";
		api->api_key_header_len = 9;
		return 0;
	}
	if (!fng__conf_str(L, v, "api_key_header")) {
		return -1;
	}
	if (v->len == 0 || v->len > 64 || !fng__is_token(v->s, v->len)) {
		fng__conf_err(L, v, "api_key_header \"%s\" must be a header name (1 to 64 token "
			"characters)", v->s);
		return -1;
	}
	h = fng__arena_strndup(L->cfg->arena, v->s, v->len);
	if (!h) {
		fng__conf_err(L, v, "out of memory");
		return -1;
	}
	fng__lower_n(h, v->len);
	api->api_key_header = h;
	api->api_key_header_len = v->len;
	return 0;
}

/* protocol comes first: the rows below it, and the routes, depend on it. */
static const struct fng_conf_key api_keys[] = {
	{ "protocol", FNG_CONF_FN, 0, .fn = parse_protocol },
	{ "route_selection", FNG_CONF_FN, 0, .fn = fng__ws_selection_conf },
	{ "websocket", FNG_CONF_FN, 0, .fn = fng__ws_conf },
	{ "policy", FNG_CONF_FN, 0, .fn = fng__api_policy_conf },
	{ "cors", FNG_CONF_FN, 0, .fn = fng__cors_conf },
	{ "authorizers", FNG_CONF_FN, 0, .fn = fng__authorizers_conf },
	{ "rate_limit_headers", FNG_CONF_BOOL, offsetof(struct fng_api, rate_limit_headers), 0 },
	{ "api_key_source", FNG_CONF_FN, 0, .fn = parse_key_source },
	{ "api_key_header", FNG_CONF_FN, 0, .fn = parse_key_header },
	{ "stages", FNG_CONF_FN, 0, .fn = fng__conf_skip, .required = true },
	{ "routes", FNG_CONF_FN, 0, .fn = fng__conf_skip, .required = true },
	{ NULL },
};

static int parse_apis(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		fng__conf_err(L, NULL, "configuration needs \"apis\"");
		return -1;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "apis")) {
		return -1;
	}
	if (v->n == 0) {
		fng__conf_err(L, v, "apis needs at least one API");
		return -1;
	}
	c->apis = fng__arena_zalloc(c->arena, (v->n / 2) * sizeof(*c->apis));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i], *body = v->kids[i + 1];
		struct fng_api *api = &c->apis[c->napis];

		memset(api, 0, sizeof(*api));
		if (!fng__conf_name_key_ok(L, v, i, "API")) {
			continue;
		}
		api->name = fng__conf_str(L, k, "API name");
		if (fng__conf_apply(L, body, api_keys, api, "API") != 0) {
			continue;
		}
		for (unsigned j = 0; j < body->n; j += 2) {
			if (strcmp(body->kids[j]->s, "stages") == 0) {
				parse_stages(L, body->kids[j + 1], api);
			} else if (strcmp(body->kids[j]->s, "routes") == 0) {
				parse_routes(L, body->kids[j + 1], api);
			}
		}
		fng__api_throttles_finish(L, api);
		c->napis++;
	}
	return 0;
}

const struct fng_conf_module fng__apis_conf = { "apis", parse_apis };

