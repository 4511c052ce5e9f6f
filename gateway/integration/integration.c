// SPDX-License-Identifier: MIT
/*
 * Integrations: the table from integration type to its ops, the mock integration, and the
 * template variable lookup every rendering integration shares.
 */
#include <uv.h>

#include "chars.h"
#include "errors.h"
#include "integration.h"
#include "stages.h"

bool fng__req_template_lookup(void *ctx, const struct fng_tpart *part, struct fng_str *value)
{
	struct fng_req *req = ctx;
	const struct fng_header *h;

	switch ((enum fng_tvar)part->kind) {
	case FNG_TV_PATH:
		for (unsigned i = 0; i < req->match.nparams; i++) {
			if (fng__str_eq(req->match.params[i].name, part->s.p, part->s.len)) {
				*value = req->match.params[i].value;
				return true;
			}
		}
		return false;
	case FNG_TV_QUERY:
		return fng__req_query(req, part->s, value);
	case FNG_TV_HEADER:
		h = fng__req_header(req, part->s.p, part->s.len);
		if (h) {
			*value = h->value;
		}
		return h != NULL;
	case FNG_TV_STAGEVAR:
		return req->stage && fng__stage_var(req->stage, part->s, value);
	case FNG_TV_REQUEST_ID:
		*value = (struct fng_str){ req->request_id, req->request_id_len };
		return true;
	case FNG_TV_API_ID:
		if (!req->api) {
			return false;
		}
		*value = (struct fng_str){ req->api->name, strlen(req->api->name) };
		return true;
	case FNG_TV_STAGE:
		if (!req->stage) {
			return false;
		}
		*value = (struct fng_str){ req->stage->name, strlen(req->stage->name) };
		return true;
	case FNG_TV_ROUTE_KEY:
		if (!req->match.route) {
			return false;
		}
		*value = (struct fng_str){ req->match.route->key, strlen(req->match.route->key) };
		return true;
	case FNG_TV_METHOD:
		*value = req->method;
		return true;
	case FNG_TV_PATH_RAW:
		*value = req->path;
		return true;
	case FNG_TV_SOURCE_IP:
		*value = (struct fng_str){ req->ip, strlen(req->ip) };
		return true;
	case FNG_TV_PROTOCOL:
		*value = req->http_minor ? FNG_STR("HTTP/1.1") : FNG_STR("HTTP/1.0");
		return true;
	case FNG_TV_DOMAIN:
		*value = req->host;
		return true;
	case FNG_TV_AUTHORIZER:
		if (fng__str_eq(part->s, "principalId", 11) && req->authz.principal) {
			*value = (struct fng_str){ req->authz.principal, strlen(req->authz.principal) };
			return true;
		}
		for (size_t i = 0; i < req->authz.nctx; i++) {
			if (fng__str_eq(part->s, req->authz.ctx[i].k.p, req->authz.ctx[i].k.len)) {
				*value = (struct fng_str){ req->authz.ctx[i].v.p,
					req->authz.ctx[i].v.len };
				return true;
			}
		}
		return false;
	case FNG_TV_LITERAL:
		break;
	}
	return false;
}

/* ---- mock: the gateway answers from config ---- */

static int mock_start(struct fng_req *req)
{
	const struct fng_integration_cfg *ic = &req->match.route->integration;
	struct fng_buf val = { 0 };
	int err = 0;

	req->resp.status = ic->status;
	req->resp.chunked = ic->chunked;
	for (unsigned i = 0; i < ic->nheaders && !err; i++) {
		val.len = 0;
		err = fng__template_render(ic->headers[i].value, &val, fng__req_template_lookup, req);
		if (err) {
			break;
		}
		/* A rendered value must not split the header: drop CR/LF and other controls. */
		for (size_t j = 0; j < val.len; j++) {
			if (!fng__is_field_byte((unsigned char)val.p[j])) {
				val.p[j] = ' ';
			}
		}
		err = fng__resp_header(req, ic->headers[i].name, ic->headers[i].name_len,
			val.p ? val.p : "", val.len);
	}
	fng__buf_finish(&val);
	if (!err) {
		err = fng__template_render(ic->body, &req->resp.body, fng__req_template_lookup, req);
	}
	return err ? err : FNG_STAGE_DONE;
}

static void mock_cancel(struct fng_req *req)
{
	/* The mock never pends. */
}

static const struct fng_integration_ops mock_ops = {
	.name = "mock",
	.start = mock_start,
	.cancel = mock_cancel,
};

/* Integration type → ops. Later integrations (function, http) register here at start-up. */
/* ---- static: files read with the config, served from memory ---- */

static int static_start(struct fng_req *req)
{
	const struct fng_integration_cfg *ic = &req->match.route->integration;
	const struct fng_route_key *k = &req->match.route->parsed;
	struct fng_str name = { ic->index, strlen(ic->index) };
	const struct fng_static_file *f = NULL;
	size_t lo = 0, hi = ic->nfiles;

	/* The file is the route's greedy parameter ({file+}); a directory gets its index. */
	if (req->match.nparams && k->path && strstr(k->path, "+}")) {
		struct fng_str v = req->match.params[req->match.nparams - 1].value;

		if (v.len && v.p[v.len - 1] != '/') {
			name = v;
		}
	}
	if (!fng__str_eq(req->method, "GET", 3) && !fng__str_eq(req->method, "HEAD", 4)) {
		req->match.nallow = 0;
		req->match.allow[req->match.nallow++] = "GET";
		req->match.allow[req->match.nallow++] = "HEAD";
		return FNG_EMETHOD_NOT_ALLOWED;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct fng_static_file *m = &ic->files[mid];
		size_t ml = strlen(m->name);
		int c = memcmp(m->name, name.p, ml < name.len ? ml : name.len);

		if (c == 0 && ml == name.len) {
			f = m;
			break;
		}
		if (c < 0 || (c == 0 && ml < name.len)) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	if (!f) {
		req->error_detail = "no such file";
		return FNG_ENOT_FOUND;
	}
	req->resp.status = 200;
	fng__resp_header(req, "content-type", 12, f->type, strlen(f->type));
	fng__resp_header(req, "cache-control", 13, "no-cache", 8);
	fng__resp_header(req, "x-content-type-options", 22, "nosniff", 7);
	if (fng__buf_append(&req->resp.body, f->data, f->len)) {
		return UV_ENOMEM;
	}
	return FNG_STAGE_DONE;
}

static const struct fng_integration_ops static_ops = {
	.name = "static",
	.start = static_start,
	.cancel = mock_cancel,
};

static const struct fng_integration_ops *ops_table[FNG_INTEGRATION__COUNT] = {
	[FNG_INTEGRATION_MOCK] = &mock_ops,
	[FNG_INTEGRATION_STATIC] = &static_ops,
};

const struct fng_integration_ops *fng__integration_ops(enum fng_integration_type type)
{
	return (unsigned)type < FNG_INTEGRATION__COUNT ? ops_table[type] : NULL;
}

const struct fng_integration_ops *fng__integration_register(enum fng_integration_type type,
	const struct fng_integration_ops *ops)
{
	const struct fng_integration_ops *old = ops_table[type];

	ops_table[type] = ops ? ops : old;
	return old;
}
