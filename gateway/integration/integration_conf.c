// SPDX-License-Identifier: MIT
/*
 * A route's `integration:`: what answers a request once its route is chosen. The `type:` key
 * picks a row of the integration types below, whose key table parses the rest of the mapping:
 * mock (a templated response, answered by integration.c), function (a handler .so run by a
 * worker) and static (files read at load time, static_conf.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "chars.h"
#include "integration_conf.h"

static int parse_mock_headers(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_integration_cfg *ic = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "headers")) {
		return -1;
	}
	ic->headers = fng__arena_zalloc(L->cfg->arena, (v->n / 2 + 1) * sizeof(*ic->headers));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i];
		struct fng_theader *h = &ic->headers[ic->nheaders];
		char *name;

		if (!fng__conf_want(L, k, FNG_CONF_SCALAR, "header name")) {
			continue;
		}
		if (k->len == 0) {
			fng__conf_err(L, k, "empty header name");
			continue;
		}
		name = fng__arena_strndup(L->cfg->arena, k->s, k->len);
		for (size_t j = 0; j < k->len; j++) {
			unsigned char c = (unsigned char)name[j];

			if (!fng__is_tchar(c)) {
				fng__conf_err(L, k, "invalid character in header name \"%s\"",
					k->s);
				break;
			}
			name[j] = fng__lower(name[j]);
		}
		for (unsigned j = 0; j < ic->nheaders; j++) {
			if (strcmp(ic->headers[j].name, name) == 0) {
				fng__conf_err(L, k, "duplicate header \"%s\"", name);
				name = NULL;
				break;
			}
		}
		if (!name) {
			continue;
		}
		/* The same rule as for a function's headers (wire_rules.h), refused at load. */
		if (fng__is_reserved_header(name, k->len)) {
			fng__conf_err(L, k, "header \"%s\" is set by the gateway (framing, "
				"hop-by-hop and the gateway's own headers may not be configured)",
				name);
			continue;
		}
		if (fng__conf_template(L, v->kids[i + 1], "header value", &h->value) == 0) {
			const struct fng_template *t = h->value;

			/* A literal value is checked for CR/LF now; a rendered one at run time. */
			if (fng__template_is_literal(t) && t->nparts &&
				(memchr(t->parts[0].s.p, '\r', t->parts[0].s.len) ||
					memchr(t->parts[0].s.p, '\n', t->parts[0].s.len))) {
				fng__conf_err(L, v->kids[i + 1], "header value contains CR or LF");
				continue;
			}
			h->name = name;
			h->name_len = k->len;
			ic->nheaders++;
		}
	}
	return 0;
}

static int parse_mock_body(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_integration_cfg *ic = obj;
	static const struct fng_conf_node empty = {
		.type = FNG_CONF_SCALAR, .s = "", .plain = true
	};

	return fng__conf_template(L, v ? v : &empty, "body", &ic->body);
}

#define IOFF(member) offsetof(struct fng_integration_cfg, member)

static const struct fng_conf_key mock_keys[] = {
	{ "type", FNG_CONF_FN, 0, .fn = fng__conf_skip },
	/* A final status: a 1xx would make the next response answer this request. */
	{ "status", FNG_CONF_U32, IOFF(status), 200, 200, 599 },
	{ "headers", FNG_CONF_FN, 0, .fn = parse_mock_headers },
	{ "body", FNG_CONF_FN, 0, .fn = parse_mock_body },
	{ "chunked", FNG_CONF_BOOL, IOFF(chunked), 0 },
	{ NULL },
};

static int parse_function_name(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_integration_cfg *ic = obj;

	ic->function = fng__conf_str(L, v, "function");
	if (ic->function && !fng__config_name_ok(ic->function)) {
		fng__conf_err(L, v, "function name \"%s\" must match [A-Za-z0-9_-]+", ic->function);
	}
	return 0;
}

static const struct fng_conf_key function_keys[] = {
	{ "type", FNG_CONF_FN, 0, .fn = fng__conf_skip },
	{ "function", FNG_CONF_FN, 0, .fn = parse_function_name, .required = true },
	{ NULL },
};

static const struct fng_integration_conf mock_conf = { "mock", FNG_INTEGRATION_MOCK, mock_keys };
static const struct fng_integration_conf function_conf = {
	"function", FNG_INTEGRATION_FUNCTION, function_keys
};

/* The integration types; messages list them in this order. */
static const struct fng_integration_conf *const types[] = {
	&mock_conf,
	&function_conf,
	&fng__static_integration_conf,
	NULL,
};

/* The names of the types, the last one after last ("mock, function or static"). */
static void type_names(char *buf, size_t len, const char *last)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; types[i] && off < len; i++) {
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
			i == 0 ? "" : types[i + 1] ? ", " : last, types[i]->name);
	}
}

int fng__integration_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_route *r = obj;
	const struct fng_conf_node *type = NULL;
	char names[128];

	if (!fng__conf_want(L, v, FNG_CONF_MAP, "integration")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		if (v->kids[i]->type == FNG_CONF_SCALAR && strcmp(v->kids[i]->s, "type") == 0) {
			type = v->kids[i + 1];
		}
	}
	if (!type) {
		type_names(names, sizeof(names), " or ");
		fng__conf_err(L, v, "integration needs a \"type\" (%s)", names);
		return -1;
	}
	for (unsigned i = 0; type->type == FNG_CONF_SCALAR && types[i]; i++) {
		if (strcmp(type->s, types[i]->name) == 0) {
			r->integration.type = types[i]->type;
			return fng__conf_apply(L, v, types[i]->keys, &r->integration,
				"integration");
		}
	}
	type_names(names, sizeof(names), ", ");
	fng__conf_err(L, type, "unsupported integration type \"%s\" (supported: %s)",
		type->type == FNG_CONF_SCALAR ? type->s : "?", names);
	return -1;
}
