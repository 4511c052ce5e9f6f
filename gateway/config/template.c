// SPDX-License-Identifier: MIT
/*
 * `${namespace.name|filter}` templates in the vocabulary of API Gateway's parameter mapping
 * ($request.path.x, $stageVariables.x, $context.requestId). Parsed at config load so a typo
 * is a config error with its position, never a surprise at request time.
 */
#include <uv.h>

#include "chars.h"
#include "errors.h"
#include "template.h"

static const struct {
	const char *name;
	uint8_t kind;
	bool named; /* takes a .NAME suffix */
} vars[] = {
	{ "request.path.", FNG_TV_PATH, true },
	{ "request.querystring.", FNG_TV_QUERY, true },
	{ "request.header.", FNG_TV_HEADER, true },
	{ "stageVariables.", FNG_TV_STAGEVAR, true },
	{ "context.requestId", FNG_TV_REQUEST_ID, false },
	{ "context.apiId", FNG_TV_API_ID, false },
	{ "context.stage", FNG_TV_STAGE, false },
	{ "context.routeKey", FNG_TV_ROUTE_KEY, false },
	{ "context.httpMethod", FNG_TV_METHOD, false },
	{ "context.path", FNG_TV_PATH_RAW, false },
	{ "context.sourceIp", FNG_TV_SOURCE_IP, false },
	{ "context.protocol", FNG_TV_PROTOCOL, false },
	{ "context.domainName", FNG_TV_DOMAIN, false },
	{ "context.authorizer.", FNG_TV_AUTHORIZER, true },
};

static bool name_char(char c)
{
	return fng__is_alnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

static int parse_var(const char *v, size_t n, struct fng_tpart *part, const char **why)
{
	size_t i, plen;

	part->json = 0;
	for (i = 0; i < n; i++) {
		if (v[i] == '|') {
			if (n - i - 1 == 4 && memcmp(v + i + 1, "json", 4) == 0) {
				part->json = 1;
				n = i;
				break;
			}
			*why = "unknown template filter (only |json exists)";
			return FNG_ECONFIG;
		}
	}
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		plen = strlen(vars[i].name);
		if (vars[i].named) {
			if (n <= plen || memcmp(v, vars[i].name, plen) != 0) {
				continue;
			}
			for (size_t j = plen; j < n; j++) {
				if (!name_char(v[j])) {
					*why = "invalid character in template variable name";
					return FNG_ECONFIG;
				}
			}
			part->kind = vars[i].kind;
			part->s = (struct fng_str){ v + plen, n - plen };
			return 0;
		}
		if (n == plen && memcmp(v, vars[i].name, plen) == 0) {
			part->kind = vars[i].kind;
			part->s = (struct fng_str){ NULL, 0 };
			return 0;
		}
	}
	*why = "unknown template variable (see docs/config.md, Templates)";
	return FNG_ECONFIG;
}

int fng__template_compile(struct fng_arena *a, const char *src, size_t len,
	struct fng_template **out, const char **why, size_t *err_off)
{
	struct fng_template *t;
	unsigned max = 1;
	size_t i, lit = 0;
	char *text;
	size_t tlen = 0;

	for (i = 0; i + 1 < len; i++) {
		if (src[i] == '$') {
			max += 2;
		}
	}
	t = fng__arena_alloc(a, sizeof(*t) + max * sizeof(t->parts[0]));
	text = fng__arena_alloc(a, len + 1);
	/* Variable names point into src: keep our own copy, the caller's may be temporary. */
	src = fng__arena_strndup(a, src, len);
	if (!t || !text || !src) {
		*why = "out of memory";
		*err_off = 0;
		return UV_ENOMEM;
	}
	t->nparts = 0;
	/* Literal runs are copied into text[] with `$$` collapsed to `$`. */
	for (i = 0; i < len; i++) {
		if (src[i] == '$' && i + 1 < len && src[i + 1] == '$') {
			text[tlen++] = '$';
			i++;
			continue;
		}
		if (src[i] == '$' && i + 1 < len && src[i + 1] == '{') {
			const char *end = memchr(src + i + 2, '}', len - i - 2);
			struct fng_tpart *p;

			if (!end) {
				*why = "unterminated ${ in template";
				*err_off = i;
				return FNG_ECONFIG;
			}
			if (tlen > lit) {
				t->parts[t->nparts++] = (struct fng_tpart){
					.kind = FNG_TV_LITERAL, .s = { text + lit, tlen - lit } };
			}
			lit = tlen;
			p = &t->parts[t->nparts];
			if (parse_var(src + i + 2, (size_t)(end - src - i - 2), p, why)) {
				*err_off = i;
				return FNG_ECONFIG;
			}
			t->nparts++;
			i = (size_t)(end - src);
			continue;
		}
		text[tlen++] = src[i];
	}
	if (tlen > lit) {
		t->parts[t->nparts++] = (struct fng_tpart){
			.kind = FNG_TV_LITERAL, .s = { text + lit, tlen - lit } };
	}
	*out = t;
	return 0;
}

bool fng__template_is_literal(const struct fng_template *t)
{
	return t->nparts == 0 || (t->nparts == 1 && t->parts[0].kind == FNG_TV_LITERAL);
}

int fng__template_render(const struct fng_template *t, struct fng_buf *out,
	fng_template_lookup_fn lookup, void *ctx)
{
	unsigned i;
	int err = 0;

	for (i = 0; i < t->nparts && !err; i++) {
		const struct fng_tpart *p = &t->parts[i];
		struct fng_str v;

		if (p->kind == FNG_TV_LITERAL) {
			err = fng__buf_append(out, p->s.p, p->s.len);
			continue;
		}
		if (!lookup(ctx, p, &v)) {
			continue;
		}
		err = p->json ? fng__buf_json_escape(out, v.p, v.len)
			      : fng__buf_append(out, v.p, v.len);
	}
	return err;
}
