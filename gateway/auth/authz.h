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

#endif
