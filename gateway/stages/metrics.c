// SPDX-License-Identifier: MIT
/*
 * The metrics stage: a final-phase stage, after the response has been handed to the
 * connection and before the access log, that records every request in API Gateway's
 * vocabulary (Count, 4XXError, 5XXError, Latency, IntegrationLatency) labelled by api, stage
 * and route as configured, never by raw path: a request no route matched is
 * route="$unmatched", and the admin and metrics listeners' requests are api, stage and route
 * "$admin" / "$metrics" (their own traffic, scrapes included, counted apart from the APIs').
 * It also keeps the dashboard's ring of recent errors (every 5xx, every 429, every failed
 * invocation) and records what the function host cannot: an invocation's reported cost and
 * a full queue's 429.
 *
 * The hot path costs one hash lookup: the series of a (route, stage) pair of a snapshot are
 * resolved once and kept in the loop's memo (core/metrics.h), a status code's series per
 * status class beside them.
 */
#include <string.h>
#include <uv.h>

#include "errors.h"
#include "functions.h"
#include "metrics.h"
#include "server.h"
#include "stages.h"

/*
 * Latency buckets, in ns: an answer from the mock or the cache takes tens of microseconds, a
 * function a millisecond or more, a slow upstream or a deadline seconds (the longest
 * function timeout is 30 s). Roughly three per decade (1, 2.5, 5) from 25 µs to 30 s: 19
 * bounds keep a series at 21 counters and tell a cache hit from a warm function from a cold
 * start.
 */
static const uint64_t latency_ns[] = { 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000, 25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
	2500000000, 5000000000, 10000000000, 30000000000 };

#define ASR { "api", "stage", "route" }
#define NLAT (sizeof(latency_ns) / sizeof(latency_ns[0]))

static struct fng_metric_def m_requests = {
	"fngate_requests_total", "Requests answered (API Gateway's Count).", FNG_METRIC_COUNTER,
	ASR,
};
static struct fng_metric_def m_4xx = {
	"fngate_4xx_errors_total", "Answers with a 4xx status (API Gateway's 4XXError).",
	FNG_METRIC_COUNTER, ASR,
};
static struct fng_metric_def m_5xx = {
	"fngate_5xx_errors_total", "Answers with a 5xx status (API Gateway's 5XXError).",
	FNG_METRIC_COUNTER, ASR,
};
static struct fng_metric_def m_responses = {
	"fngate_responses_total", "Answers by status code.", FNG_METRIC_COUNTER,
	{ "api", "stage", "route", "code" }, .max_series = 4000,
};
static struct fng_metric_def m_latency = {
	"fngate_latency_seconds",
	"From the request's first byte to its answer handed to the connection (Latency).",
	FNG_METRIC_HISTOGRAM, ASR, latency_ns, NLAT, 1e9,
};
static struct fng_metric_def m_integration = {
	"fngate_integration_latency_seconds",
	"Time the integration took to answer (IntegrationLatency).", FNG_METRIC_HISTOGRAM, ASR,
	latency_ns, NLAT, 1e9,
};

static struct fng_metric_def *const stage_metrics[] = {
	&m_requests, &m_4xx, &m_5xx, &m_responses, &m_latency, &m_integration,
	&fng__m_fn_cpu, &fng__m_fn_rss, &fng__m_fn_throttled, NULL,
};

/* Where the memo keeps a request's series: s[0..4], then one code series per class. */
enum { S_REQ, S_4XX, S_5XX, S_LAT, S_INT, S_CODE };

/* The label values of a request: bounded by the configuration, never the raw path. */
static void labels(const struct fng_req *req, const char *v[3])
{
	const struct fng_route *r = req->match.route;

	if (!req->api && r && r->key[0] == '$' && !req->stage) {
		/* The admin and metrics listeners' own routes, and schedules. */
		v[0] = v[1] = v[2] = r->key;
		return;
	}
	v[0] = req->api ? req->api->name : "$unmatched";
	v[1] = req->stage ? req->stage->name : "$unmatched";
	v[2] = r ? r->key : "$unmatched";
}

static void resolve(struct fng_server *srv, const char *const *v,
	struct fng_metric_series *s[S_CODE])
{
	s[S_REQ] = fng__metric_series(srv, &m_requests, v);
	s[S_4XX] = fng__metric_series(srv, &m_4xx, v);
	s[S_5XX] = fng__metric_series(srv, &m_5xx, v);
	s[S_LAT] = fng__metric_series(srv, &m_latency, v);
	s[S_INT] = fng__metric_series(srv, &m_integration, v);
}

static struct fng_metric_series *code_series(struct fng_server *srv, const char *const *v,
	int status)
{
	char code[12];
	const char *vc[4] = { v[0], v[1], v[2], code };

	snprintf(code, sizeof(code), "%d", status);
	return fng__metric_series(srv, &m_responses, vc);
}

/* The message the client got: the gateway's error, or the start of the body it sent. */
static const char *client_message(const struct fng_req *req, char *buf, size_t n)
{
	size_t len;

	if (req->error) {
		return req->error_detail ? req->error_detail : fng_strerror(req->error);
	}
	len = req->resp.body.len < n - 1 ? req->resp.body.len : n - 1;
	memcpy(buf, req->resp.body.p ? req->resp.body.p : "", len);
	buf[len] = '\0';
	return buf;
}

static void recent_error(struct fng_req *req, const char *const *v, int status,
	const char *function)
{
	char body[200];
	const char *cause = req->fn_cause;

	if (!cause && req->error == FNG_ETHROTTLED) {
		cause = "throttled";
	}
	fng__metrics_recent_error(req->srv, &(struct fng_metrics_error){
		.request_id = req->request_id, .api = v[0], .stage = v[1], .route = v[2],
		.status = status, .error = client_message(req, body, sizeof(body)),
		.cause = cause, .function = function, .version = req->fn_version,
	});
}

/* What only the finished request knows about its function: its cost, a full queue's 429. */
static void function_metrics(struct fng_req *req, const char *function)
{
	const char *v[2] = { function, req->fn_version };

	if (req->cost.set) {
		fng__metric_observe_at(req->srv, &fng__m_fn_cpu, v, req->cost.cpu_us);
		fng__metric_observe_at(req->srv, &fng__m_fn_rss, v, req->cost.max_rss_kb);
	}
	if (req->error == FNG_ETHROTTLED && req->t_integration_start) {
		fng__metric_inc(req->srv, &fng__m_fn_throttled, v);
	}
}

static int metrics_run(struct fng_req *req)
{
	struct fng_server *srv = req->srv;
	const struct fng_route *r = req->match.route;
	int status = req->resp.status ? req->resp.status : fng__err_status(req->error);
	struct fng_metric_series *s[S_CODE], *sc;
	struct fng_metric_memo *memo;
	const char *v[3], *function = NULL;
	unsigned cls = (unsigned)status / 100;

	if (!srv || req->cfg->metrics.off || !fng__metrics_on(srv)) {
		return FNG_STAGE_NEXT;
	}
	labels(req, v);
	memo = fng__metrics_memo(srv, req->cfg->gen, r ? (const void *)r : (const void *)req->api,
		req->stage);
	if (memo && memo->s[S_REQ]) {
		memcpy(s, memo->s, sizeof(s));
	} else {
		resolve(srv, v, s);
		if (memo) {
			memcpy(memo->s, s, sizeof(s));
		}
	}
	if (cls > 5) {
		cls = 0;
	}
	if (memo && memo->tag[S_CODE + cls] == status && memo->s[S_CODE + cls]) {
		sc = memo->s[S_CODE + cls];
	} else {
		sc = code_series(srv, v, status);
		if (memo) {
			memo->s[S_CODE + cls] = sc;
			memo->tag[S_CODE + cls] = status;
		}
	}
	fng__metric_add(s[S_REQ], 1);
	fng__metric_add(sc, 1);
	fng__metric_add(s[S_4XX], cls == 4);
	fng__metric_add(s[S_5XX], cls == 5);
	fng__metric_observe(s[S_LAT], uv_hrtime() - req->t_start);
	if (req->t_integration_start && req->t_integration_end >= req->t_integration_start) {
		fng__metric_observe(s[S_INT], req->t_integration_end - req->t_integration_start);
	}
	if (r && r->integration.type == FNG_INTEGRATION_FUNCTION) {
		function = r->integration.function;
		function_metrics(req, function);
	}
	if (status >= 500 || status == 429 || req->fn_cause) {
		recent_error(req, v, status, function);
	}
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_metrics = {
	.name = "metrics",
	.run = metrics_run,
	.phase = FNG_PHASE_FINAL,
	.metrics = stage_metrics,
};
