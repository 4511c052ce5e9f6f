/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_ADMIN_H
#define FNG_GATEWAY_ADMIN_H

#include "integration.h"

/*
 * The admin API (admin.c): an integration of its own, reached only through the admin
 * listener, whose connections route every request to it before the stage table runs (so the
 * endpoint and route stages pass it through) with the admin API's body limit.
 */
int fng__admin_pre_route(struct fng_req *req);

/* The admin integration's ops: registered by the server for FNG_INTEGRATION_ADMIN. */
extern const struct fng_integration_ops fng__admin_ops;

/*
 * An admin path a higher layer serves (the response cache's /@cache), installed at start-up
 * like integration ops: serve gets the request and the path after prefix; it returns as an
 * integration's start does. At most 8.
 */
struct fng_admin_ext {
	const char *prefix;       /* "/@cache" */
	int (*serve)(struct fng_req *req, struct fng_str rest);
	/*
	 * serve checks its callers itself (the dashboard: a session cookie, else the token with
	 * fng__admin_authorize); false: only requests with the admin token reach it.
	 */
	bool own_auth;
	/* Stops what a pending serve started (its client left): resumes req itself. NULL: none. */
	void (*cancel)(struct fng_req *req);
};
void fng__admin_register(const struct fng_admin_ext *ext);

/*
 * The admin token check: 0 for `Authorization: Bearer <admin.token>`, FNG_EUNAUTHORIZED
 * (with the challenge) without one, FNG_EFORBIDDEN with another (req->error_detail set).
 */
int fng__admin_authorize(struct fng_req *req);

/* admin_keys.c: /@keys[/{id}[/usage]] (rest: the path after "/@keys"), and its cancel. */
int fng__admin_keys(struct fng_req *req, struct fng_str rest);
void fng__admin_keys_cancel(struct fng_req *req);
/* A 405 whose Allow lists a, b, c (NULL: fewer). */
int fng__admin_method_not_allowed(struct fng_req *req, const char *a, const char *b,
	const char *c);

/*
 * metrics_http.c: GET /metrics (and /metrics/recent) as an admin extension, and the
 * tokenless `metrics.listen` listener's routing and integration (FNG_INTEGRATION_METRICS),
 * which serves /metrics and nothing else.
 */
extern const struct fng_admin_ext fng__metrics_admin;
int fng__metrics_pre_route(struct fng_req *req);
extern const struct fng_integration_ops fng__metrics_ops;

/*
 * cluster_admin.c: GET /@cluster, this node and the cluster's live nodes (docs/config.md,
 * "Cluster"); 404 without `cluster:`, 503 while Redis is down.
 */
extern const struct fng_admin_ext fng__cluster_admin;

#endif
