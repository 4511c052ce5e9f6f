// SPDX-License-Identifier: MIT
/*
 * CORS (the Fetch standard's CORS protocol), two stages of one module:
 *
 * "cors" (head phase, after the resource policy and before routing): a preflight — OPTIONS
 * with Origin and Access-Control-Request-Method — to an API with `cors:` is answered here,
 * 204, whatever the routes: nothing is invoked and no authorizer runs (a browser sends no
 * credentials on a preflight). A preflight the settings do not allow (origin, method or a
 * requested header) gets the same 204 without CORS headers, which the browser takes as a
 * refusal (Amazon API Gateway answers so too).
 *
 * "cors_headers" (final phase, before "respond"): every other answer of such an API, the
 * gateway's own errors included (404, 403, 413, 429, 502...), gets Vary: Origin and, for an
 * allowed Origin, Access-Control-Allow-Origin and its companions. Access-Control-* headers an
 * integration set are dropped: with `cors:` the API's settings are the one answer (as API
 * Gateway ignores an integration's CORS headers).
 */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "chars.h"
#include "cors.h"
#include "errors.h"
#include "stages.h"

/* ---- configuration ---- */

#define CORS_LIST_MAX 256

#define COFF(member) offsetof(struct fng_cors, member)

static int parse_origins(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_cors *c = obj;
	struct fng_origin_rule *rules;
	unsigned n = 0;

	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "cors.allow_origins")) {
		return -1;
	}
	if (v->n == 0 || v->n > CORS_LIST_MAX) {
		fng__conf_err(L, v, "cors.allow_origins needs 1 to %d origins", CORS_LIST_MAX);
		return -1;
	}
	rules = fng__arena_zalloc(L->cfg->arena, v->n * sizeof(*rules));
	for (unsigned i = 0; rules && i < v->n; i++) {
		const struct fng_conf_node *e = v->kids[i];
		const char *why;

		if (!fng__conf_want(L, e, FNG_CONF_SCALAR, "an origin")) {
			continue;
		}
		if (strcmp(e->s, "*") == 0) {
			c->origins.any = true;
		} else if (fng__origin_rule_parse(L->cfg->arena, e->s, e->len, &rules[n], &why)) {
			n++;
		} else {
			fng__conf_err(L, e, "cors.allow_origins: \"%s\": %s", e->s, why);
		}
	}
	c->origins.rules = rules;
	c->origins.n = n;
	return 0;
}

/*
 * A list of tokens (methods or header names) into *out, lower-cased when fold; "*" sets *any
 * and is kept out of the list (any NULL: kept in, as one more name); *value gets the list
 * joined by ", ". Absent: def (NULL-terminated) or nothing.
 */
static int parse_tokens(struct fng_conf *L, const struct fng_conf_node *v, const char *what,
	bool fold, const char *const *def, const char ***out, unsigned *n, bool *any,
	const char **value)
{
	struct fng_buf joined = { 0 };
	unsigned cap = v ? v->n : 0;

	if (v && !fng__conf_want(L, v, FNG_CONF_SEQ, what)) {
		return -1;
	}
	if (!v) {
		while (def && def[cap]) {
			cap++;
		}
	}
	if (cap > CORS_LIST_MAX) {
		fng__conf_err(L, v, "%s has more than %d entries", what, CORS_LIST_MAX);
		return -1;
	}
	*out = fng__arena_zalloc(L->cfg->arena, (cap + 1) * sizeof(**out));
	for (unsigned i = 0; *out && i < cap; i++) {
		const char *s = v ? NULL : def[i];
		char *t;

		if (v) {
			if (!fng__conf_want(L, v->kids[i], FNG_CONF_SCALAR, what)) {
				continue;
			}
			s = v->kids[i]->s;
			if (strcmp(s, "*") == 0 && any) {
				*any = true;
				continue;
			}
			if (!fng__is_token(s, strlen(s))) {
				fng__conf_err(L, v->kids[i], "%s: \"%s\" is not a token", what, s);
				continue;
			}
		}
		t = fng__arena_strndup(L->cfg->arena, s, strlen(s));
		if (fold && t) {
			fng__lower_n(t, strlen(t));
		}
		(*out)[(*n)++] = t;
		fng__buf_printf(&joined, "%s%s", joined.len ? ", " : "", t ? t : "");
	}
	*value = joined.len ? fng__arena_strndup(L->cfg->arena, joined.p, joined.len) : NULL;
	fng__buf_finish(&joined);
	return 0;
}

static const char *const default_methods[] = { "GET", "HEAD", "POST", NULL };

static int parse_methods(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_cors *c = obj;

	return parse_tokens(L, v, "cors.allow_methods", false, default_methods, &c->methods,
		&c->nmethods, &c->any_method, &c->methods_value);
}

static int parse_headers(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_cors *c = obj;
	const char *value;

	return parse_tokens(L, v, "cors.allow_headers", true, NULL, &c->headers, &c->nheaders,
		&c->any_header, &value);
}

static int parse_expose(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_cors *c = obj;
	const char **names;
	unsigned n = 0;

	/* "*" stays a name: the header carries it, a wildcard when there are no credentials. */
	if (parse_tokens(L, v, "cors.expose_headers", true, NULL, &names, &n, NULL,
		&c->expose_value) != 0) {
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (c->credentials && names[i] && strcmp(names[i], "*") == 0) {
			fng__conf_err(L, v, "cors: expose_headers \"*\" cannot go with "
				"allow_credentials (it would name a header \"*\"); "
				"list the headers");
			return -1;
		}
	}
	return 0;
}

/* allow_credentials first: expose_headers depends on it. */
static const struct fng_conf_key cors_keys[] = {
	{ "allow_credentials", FNG_CONF_BOOL, COFF(credentials), false },
	{ "allow_origins", FNG_CONF_FN, 0, .fn = parse_origins, .required = true },
	{ "allow_methods", FNG_CONF_FN, 0, .fn = parse_methods },
	{ "allow_headers", FNG_CONF_FN, 0, .fn = parse_headers },
	{ "expose_headers", FNG_CONF_FN, 0, .fn = parse_expose },
	{ "max_age_s", FNG_CONF_U64, COFF(max_age_s), UINT64_MAX, 0, 86400 },
	{ NULL },
};

int fng__cors_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_api *api = obj;
	struct fng_cors *c;

	if (!v) {
		return 0;
	}
	if (api->protocol != FNG_API_HTTP) {
		fng__conf_err(L, v, "cors applies to HTTP APIs (browsers do not use CORS for "
			"WebSocket connections)");
		return -1;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "cors")) {
		return -1;
	}
	c = fng__arena_zalloc(L->cfg->arena, sizeof(*c));
	if (!c || fng__conf_apply(L, v, cors_keys, c, "cors") != 0) {
		return -1;
	}
	if (c->credentials && c->origins.any) {
		/* Fetch: "*" never admits credentials; echoing every origin would. */
		fng__conf_err(L, v, "cors: allow_origins \"*\" cannot go with allow_credentials "
			"(browsers refuse it); list the origins");
		return -1;
	}
	if (c->max_age_s != UINT64_MAX) {
		char num[24];

		snprintf(num, sizeof(num), "%llu", (unsigned long long)c->max_age_s);
		c->max_age_value = fng__arena_strndup(L->cfg->arena, num, strlen(num));
	}
	api->cors = c;
	return 0;
}

/* ---- the request path ---- */

#define H(s) s, sizeof(s) - 1

static const char vary_preflight[] =
	"Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/* A preflight to an API with CORS settings; its Origin and requested method. */
static bool is_preflight(const struct fng_req *req, const struct fng_header **origin,
	const struct fng_header **method)
{
	if (req->event != FNG_EVENT_NONE || !req->api || !req->api->cors ||
		!fng__str_eq(req->method, "OPTIONS", 7)) {
		return false;
	}
	*origin = fng__req_header(req, H("origin"));
	*method = fng__req_header(req, H("access-control-request-method"));
	return *origin && *method;
}

static bool method_allowed(const struct fng_cors *c, struct fng_str m)
{
	if (m.len == 0 || !fng__is_token(m.p, m.len)) {
		return false;
	}
	if (c->any_method) {
		return true;
	}
	for (unsigned i = 0; i < c->nmethods; i++) {
		if (fng__str_eq(m, c->methods[i], strlen(c->methods[i]))) {
			return true;
		}
	}
	return false;
}

static bool header_allowed(const struct fng_cors *c, const char *p, size_t n)
{
	if (!fng__is_token(p, n)) {
		return false;
	}
	if (c->any_header) {
		return true;
	}
	for (unsigned i = 0; i < c->nheaders; i++) {
		if (fng__str_ieq((struct fng_str){ p, n }, c->headers[i], strlen(c->headers[i]))) {
			return true;
		}
	}
	return false;
}

/* Every name of Access-Control-Request-Headers (a comma list, OWS around) is allowed. */
static bool headers_allowed(const struct fng_cors *c, const struct fng_header *h)
{
	const char *p, *end;

	if (!h) {
		return true;
	}
	p = h->value.p;
	end = p + h->value.len;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *b = p, *e = comma ? comma : end;

		while (b < e && (*b == ' ' || *b == '\t')) {
			b++;
		}
		while (e > b && (e[-1] == ' ' || e[-1] == '\t')) {
			e--;
		}
		if (b < e && !header_allowed(c, b, (size_t)(e - b))) {
			return false;
		}
		p = comma ? comma + 1 : end;
	}
	return true;
}

/* Allow-Origin and Allow-Credentials, for an origin the settings allow. */
static int allow_origin(struct fng_req *req, const struct fng_cors *c,
	const struct fng_header *origin)
{
	int err;

	if (c->origins.any) {
		err = fng__resp_header(req, H("access-control-allow-origin"), H("*"));
	} else {
		err = fng__resp_header(req, H("access-control-allow-origin"), origin->value.p,
			origin->value.len);
	}
	if (!err && c->credentials) {
		err = fng__resp_header(req, H("access-control-allow-credentials"), H("true"));
	}
	return err;
}

static int cors(struct fng_req *req)
{
	const struct fng_header *origin, *method, *hdrs;
	const struct fng_cors *c;
	int err;

	if (!is_preflight(req, &origin, &method)) {
		return FNG_STAGE_NEXT;
	}
	c = req->api->cors;
	hdrs = fng__req_header(req, H("access-control-request-headers"));
	req->resp.status = 204;
	req->resp.nheaders = 0;
	err = fng__resp_header(req, H("vary"), H(vary_preflight));
	if (err || !fng__origin_match(&c->origins, origin->value.p, origin->value.len) ||
		!method_allowed(c, method->value) || !headers_allowed(c, hdrs)) {
		return err ? err : FNG_STAGE_DONE;
	}
	err = allow_origin(req, c, origin);
	/* With "*" (which credentials make literal) the answer is the request's own. */
	if (!err && c->any_method) {
		err = fng__resp_header(req, H("access-control-allow-methods"), method->value.p,
			method->value.len);
	} else if (!err) {
		err = fng__resp_header(req, H("access-control-allow-methods"), c->methods_value,
			strlen(c->methods_value));
	}
	if (!err && hdrs && hdrs->value.len) {
		err = fng__resp_header(req, H("access-control-allow-headers"), hdrs->value.p,
			hdrs->value.len);
	}
	if (!err && c->max_age_value) {
		err = fng__resp_header(req, H("access-control-max-age"), c->max_age_value,
			strlen(c->max_age_value));
	}
	return err ? err : FNG_STAGE_DONE;
}

const struct fng_stage_def fng__stage_cors = {
	.name = "cors",
	.run = cors,
	.phase = FNG_PHASE_HEAD,
};

static bool is_cors_header(const struct fng_str *name)
{
	static const char prefix[] = "access-control-";

	return name->len >= sizeof(prefix) - 1 &&
		fng__str_ieq((struct fng_str){ name->p, sizeof(prefix) - 1 }, H(prefix));
}

/* Adds Origin to the response's Vary (one field, as a handler may have set one). */
static int vary_origin(struct fng_req *req)
{
	struct fng_resp *r = &req->resp;

	for (unsigned i = 0; i < r->nheaders; i++) {
		struct fng_header *h = &r->headers[i];
		char *v;

		if (!fng__str_ieq(h->name, H("vary"))) {
			continue;
		}
		v = fng__arena_alloc(req->arena, h->value.len + sizeof(", Origin"));
		if (!v) {
			return UV_ENOMEM;
		}
		memcpy(v, h->value.p, h->value.len);
		memcpy(v + h->value.len, ", Origin", sizeof(", Origin"));
		h->value = (struct fng_str){ v, h->value.len + sizeof(", Origin") - 1 };
		return 0;
	}
	return fng__resp_header(req, H("vary"), H("Origin"));
}

static int cors_headers(struct fng_req *req)
{
	const struct fng_header *origin, *method;
	const struct fng_cors *c;
	struct fng_resp *r = &req->resp;
	unsigned k = 0;

	if (req->event != FNG_EVENT_NONE || !req->api || !(c = req->api->cors) ||
		(is_preflight(req, &origin, &method) && !req->error)) {
		return FNG_STAGE_NEXT; /* not CORS, or a preflight the "cors" stage answered */
	}
	for (unsigned i = 0; i < r->nheaders; i++) {
		if (!is_cors_header(&r->headers[i].name)) {
			r->headers[k++] = r->headers[i];
		}
	}
	r->nheaders = k;
	/* A final stage's failure cannot become a new answer: the one we have goes out. */
	if (vary_origin(req)) {
		return FNG_STAGE_NEXT;
	}
	origin = fng__req_header(req, H("origin"));
	if (!origin || !fng__origin_match(&c->origins, origin->value.p, origin->value.len)) {
		return FNG_STAGE_NEXT;
	}
	if (allow_origin(req, c, origin) == 0 && c->expose_value) {
		fng__resp_header(req, H("access-control-expose-headers"), c->expose_value,
			strlen(c->expose_value));
	}
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_cors_headers = {
	.name = "cors_headers",
	.run = cors_headers,
	.phase = FNG_PHASE_FINAL,
};
