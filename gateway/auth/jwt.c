// SPDX-License-Identifier: MIT
/*
 * The JWT authorizer. Being built (issue 12): until it lands every key is accepted and every
 * token refused with 500, so that no route configured behind it is ever open.
 */
#include "errors.h"
#include "jwt.h"
#include "stages.h"

int fng__jwt_conf(struct fng_conf *L, const struct fng_conf_node *v, struct fng_jwt_cfg **out)
{
	(void)L;
	(void)v;
	*out = NULL;
	return 0;
}

static int jwt_start(struct fng_req *req, const struct fng_authorizer *a,
	const struct fng_route *route)
{
	(void)a;
	(void)route;
	req->error_detail = "JWT authorizers are not available in this build";
	return FNG_EINTERNAL;
}

const struct fng_authz_ops fng__jwt_authz_ops = { .start = jwt_start };
