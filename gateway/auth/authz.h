/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_AUTH_AUTHZ_H
#define FNG_GATEWAY_AUTH_AUTHZ_H

/*
 * What an authorizer type does for the stage "authorize" (stages/authorize.c), which picks the
 * ops by the route's authorizer type from its table: the JWT authorizer (auth/jwt.c) and the
 * function authorizers (host/authz.c).
 */

#include "config.h"
#include "request.h"

struct fng_authz_ops {
	/*
	 * Decides for req, whose route is route and authorizer a: FNG_STAGE_NEXT when the caller
	 * may go on (req->authz filled), a negative FNG_E* refusal with req->error_detail set
	 * (401 with req->challenge, 403, 500), or FNG_STAGE_PENDING, after which it calls
	 * fng__req_resume() exactly once.
	 */
	int (*start)(struct fng_req *req, const struct fng_authorizer *a,
		const struct fng_route *route);
	/* Optional: the client has gone while start is pending (it still resumes once). */
	void (*cancel)(struct fng_req *req);
};

/*
 * Authorizer result caches (the JWT verification cache, auth/jwt.c; the function
 * authorizers', host/authz.c): lookups by authorizer and result (hit, miss). Registered
 * with the stage "authorize"'s families.
 */
struct fng_metric_def;
extern struct fng_metric_def fng__m_authz_cache;
/* Counts one lookup of authorizer's cache for req (hit: whether it answered). */
void fng__authz_cache_metric(struct fng_req *req, const char *authorizer, bool hit);

#endif
