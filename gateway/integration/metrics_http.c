// SPDX-License-Identifier: MIT
/*
 * GET /metrics: the Prometheus exposition of the loop's metrics (core/metrics.h), served in
 * two places. On the admin listener, behind the admin token like the rest of the admin API
 * (an admin extension; /metrics/recent adds the dashboard's recent errors and deploys as
 * JSON). On the optional `metrics.listen` listener, without a token and nothing but
 * /metrics: a scraper on the same host needs no secret, and the configuration refuses any
 * address that is not loopback (metrics_conf.c).
 */
#include <string.h>

#include "admin.h"
#include "errors.h"
#include "metrics.h"
#include "stages.h"

#define EXPOSITION_TYPE "text/plain; version=0.0.4; charset=utf-8"

static int answer(struct fng_req *req, bool recent)
{
	int err;

	if (!fng__str_eq(req->method, "GET", 3) && !fng__str_eq(req->method, "HEAD", 4)) {
		return fng__admin_method_not_allowed(req, "GET", "HEAD", NULL);
	}
	err = recent ? fng__metrics_recent_json(req->srv, &req->resp.body) :
		fng__metrics_render(req->srv, &req->resp.body);
	if (err) {
		fng__buf_finish(&req->resp.body);
		return err;
	}
	req->resp.status = 200;
	if (recent) {
		fng__buf_str(&req->resp.body, "\n");
	}
	fng__resp_header(req, "content-type", 12, recent ? "application/json" : EXPOSITION_TYPE,
		recent ? 16 : sizeof(EXPOSITION_TYPE) - 1);
	fng__resp_header(req, "cache-control", 13, "no-store", 8);
	return FNG_STAGE_DONE;
}

static int admin_metrics(struct fng_req *req, struct fng_str rest)
{
	if (rest.len == 0) {
		return answer(req, false);
	}
	if (fng__str_eq(rest, "/recent", 7)) {
		return answer(req, true);
	}
	req->error_detail = "metrics paths: /metrics, /metrics/recent";
	return FNG_ENOT_FOUND;
}

const struct fng_admin_ext fng__metrics_admin = { "/metrics", admin_metrics };

static const struct fng_route metrics_route = {
	.key = "$metrics",
	.integration = { .type = FNG_INTEGRATION_METRICS },
};

int fng__metrics_pre_route(struct fng_req *req)
{
	req->match.route = &metrics_route;
	req->body_limit = 0;
	return FNG_STAGE_NEXT;
}

static int metrics_start(struct fng_req *req)
{
	if (!fng__str_eq(req->path, "/metrics", 8)) {
		req->error_detail = "this listener serves /metrics only";
		return FNG_ENOT_FOUND;
	}
	return answer(req, false);
}

const struct fng_integration_ops fng__metrics_ops = {
	.name = "metrics",
	.start = metrics_start,
};
