/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_AUTHZ_CONF_H
#define FNG_GATEWAY_AUTHZ_CONF_H

/*
 * The authorizers of an API (`apis.NAME.authorizers`, docs/config.md "Authorizers") as the
 * configuration snapshot holds them; a route names one (`authorizer: NAME`). Three types, as
 * API Gateway has them: `jwt` (built in: gateway/auth/jwt.c verifies the bearer token, no
 * function runs), and the function authorizers `token` (the identity is one header) and
 * `request` (the identity is several sources), which invoke an ordinary function of
 * functions/ with an AUTHORIZER event (gateway/host/authz.c). The stage "authorize"
 * (gateway/stages/authorize.c) runs the route's authorizer before anything is invoked.
 */

#include <stdint.h>

enum fng_authz_type {
	FNG_AUTHZ_JWT,
	FNG_AUTHZ_TOKEN,
	FNG_AUTHZ_REQUEST,
};

/* Where a function authorizer's identity comes from: API Gateway's identity sources. */
enum fng_identity_kind {
	FNG_ID_HEADER,     /* $request.header.NAME */
	FNG_ID_QUERY,      /* $request.querystring.NAME */
	FNG_ID_STAGE_VAR,  /* $stageVariables.NAME */
	FNG_ID_SOURCE_IP,  /* $context.identity.sourceIp */
};

struct fng_identity_source {
	enum fng_identity_kind kind;
	const char *name;  /* the header (lower case), parameter or variable; NULL for the IP */
	const char *spec;  /* as written, for messages */
};

/* A `token` or `request` authorizer: the function to invoke and what identifies a caller. */
struct fng_authz_function {
	const char *function;
	struct fng_identity_source *sources;
	unsigned nsources;
	const void *validation; /* token: the compiled validation_regex (regex_t), or NULL */
	const char *validation_src;
	uint32_t ttl_s;         /* result cache: 0 disables */
	uint32_t cache_entries; /* result cache bounds, per loop (host/authz_cache.h) */
	uint64_t cache_bytes;
};

struct fng_jwt_cfg; /* gateway/auth/jwt.h: issuer, audiences, keys, algorithms, leeway */

struct fng_authorizer {
	const char *name;
	enum fng_authz_type type;
	int line, col;
	struct fng_authz_function fn; /* token, request */
	struct fng_jwt_cfg *jwt;      /* jwt */
};

#endif
