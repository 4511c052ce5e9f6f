// SPDX-License-Identifier: MIT
/*
 * The function authorizers (`type: token`, `type: request`). Being built (issue 12): until
 * they land every request behind one is refused with 500, so that no route configured behind
 * one is ever open.
 */
#include "authz.h"
#include "errors.h"
#include "host.h"
#include "stages.h"

static int fn_start(struct fng_req *req, const struct fng_authorizer *a,
	const struct fng_route *route)
{
	(void)a;
	(void)route;
	req->error_detail = "function authorizers are not available in this build";
	return FNG_EINTERNAL;
}

const struct fng_authz_ops fng__host_authz_ops = { .start = fn_start };
