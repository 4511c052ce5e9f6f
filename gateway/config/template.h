/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_TEMPLATE_H
#define FNG_GATEWAY_TEMPLATE_H

#include "mem.h"

/*
 * Compiled `${...}` templates, used by integrations (mock bodies and headers now; request
 * mapping later). Compilation happens once at config load; rendering is a walk over parts.
 */
enum fng_tvar {
	FNG_TV_LITERAL,
	FNG_TV_PATH,        /* request.path.NAME */
	FNG_TV_QUERY,       /* request.querystring.NAME */
	FNG_TV_HEADER,      /* request.header.NAME */
	FNG_TV_STAGEVAR,    /* stageVariables.NAME */
	FNG_TV_REQUEST_ID,  /* context.requestId */
	FNG_TV_API_ID,
	FNG_TV_STAGE,
	FNG_TV_ROUTE_KEY,
	FNG_TV_METHOD,
	FNG_TV_PATH_RAW,    /* context.path */
	FNG_TV_SOURCE_IP,
	FNG_TV_PROTOCOL,
	FNG_TV_DOMAIN,
	FNG_TV_AUTHORIZER,  /* context.authorizer.NAME: principalId, claims.sub... */
};

struct fng_tpart {
	uint8_t kind;     /* enum fng_tvar */
	uint8_t json;     /* escape the value for a JSON string */
	struct fng_str s; /* literal text, or the NAME of a named variable */
};

struct fng_template {
	unsigned nparts;
	struct fng_tpart parts[];
};

/*
 * Compiles src into *out (allocated from a). On error returns FNG_ECONFIG, sets *why and
 * *err_off (byte offset into src of the offending `${`).
 */
int fng__template_compile(struct fng_arena *a, const char *src, size_t len,
	struct fng_template **out, const char **why, size_t *err_off);

/* Looks up a variable's value for rendering; returns false when it has none (renders ""). */
typedef bool (*fng_template_lookup_fn)(void *ctx, const struct fng_tpart *part,
	struct fng_str *value);

int fng__template_render(const struct fng_template *t, struct fng_buf *out,
	fng_template_lookup_fn lookup, void *ctx);

/* True if the template is one literal (or empty): rendering it needs no request. */
bool fng__template_is_literal(const struct fng_template *t);

#endif
