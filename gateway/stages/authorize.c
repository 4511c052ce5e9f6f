// SPDX-License-Identifier: MIT
/*
 * Stage "authorize" (head phase): the route's authorizer decides whether the request goes on,
 * before anything is invoked (docs/config.md, "Authorizers"). The type's ops come from the
 * table below: the JWT authorizer verifies on the spot; a function authorizer invokes its
 * function and the stage waits (PENDING). A route without an authorizer is open.
 */
#include "errors.h"
#include "functions.h"
#include "jwt.h"
#include "metrics.h"
#include "stages.h"

static const struct fng_authz_ops *const authz_types[] = {
	[FNG_AUTHZ_JWT] = &fng__jwt_authz_ops,
	[FNG_AUTHZ_TOKEN] = &fng__host_authz_ops,
	[FNG_AUTHZ_REQUEST] = &fng__host_authz_ops,
};

static struct fng_metric_def m_calls = {
	"fngate_authorizer_calls_total",
	"Authorizer decisions by result (allow, unauthorized, forbidden, error).",
	FNG_METRIC_COUNTER, { "api", "authorizer", "result" },
};
static struct fng_metric_def *const authorize_metrics[] = { &m_calls, &fng__m_authz_cache,
	NULL };

static const struct fng_authorizer *authorizer_of(const struct fng_req *req)
{
	const struct fng_route *r = req->match.route;

	return r ? r->authorizer : NULL;
}

static void count(struct fng_req *req, int rc)
{
	const struct fng_authorizer *a = authorizer_of(req);
	const char *v[] = { req->api ? req->api->name : "", a->name,
		rc >= 0 ? "allow" : rc == FNG_EUNAUTHORIZED ? "unauthorized" :
		rc == FNG_EFORBIDDEN ? "forbidden" : "error" };

	if (req->srv && !req->cfg->metrics.off && rc != FNG_ECLIENT_CLOSED) {
		fng__metric_inc(req->srv, &m_calls, v);
	}
}

static int authorize(struct fng_req *req)
{
	const struct fng_authorizer *a = authorizer_of(req);
	int rc;

	/*
	 * A WebSocket API is authorized once, on $connect; its MESSAGE and DISCONNECT events carry
	 * what that authorizer answered (ws_conn.c), like API Gateway's.
	 */
	if (!a || req->event != FNG_EVENT_NONE) {
		return FNG_STAGE_NEXT;
	}
	rc = authz_types[a->type]->start(req, a, req->match.route);
	if (rc != FNG_STAGE_PENDING) {
		count(req, rc);
	}
	return rc;
}

static void authorize_resumed(struct fng_req *req, int rc)
{
	count(req, rc);
}

static void authorize_cancel(struct fng_req *req)
{
	const struct fng_authorizer *a = authorizer_of(req);

	if (a && authz_types[a->type]->cancel) {
		authz_types[a->type]->cancel(req);
	}
}

const struct fng_stage_def fng__stage_authorize = {
	.name = "authorize",
	.run = authorize,
	.phase = FNG_PHASE_HEAD,
	.cancel = authorize_cancel,
	.resumed = authorize_resumed,
	.metrics = authorize_metrics,
};
