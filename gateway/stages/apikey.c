// SPDX-License-Identifier: MIT
/*
 * Stage "apikey" (head phase, after "authorize": an authorizer may be where the key comes
 * from): a route with api_key_required needs a live API key in a usage plan attached to the
 * request's stage, like API Gateway's. The key comes from a header (api_key_header,
 * x-api-key by default) or, with api_key_source: authorizer, from the authorizer's usage
 * identifier key. Missing, unknown, revoked or not in a plan of this stage: 403, and the
 * request goes no further; the access log says which (its message), the client only that the
 * key was not accepted. The key itself is hashed at once and never kept (state/keystate.h).
 *
 * Stage "quota" (head phase, after "throttle": a throttled request is not counted) counts the
 * request against its plan's quota; used up: 429 with Retry-After until the period resets.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "keystate.h"
#include "log.h"
#include "metrics.h"
#include "period.h"
#include "server.h"
#include "stages.h"

static struct fng_req *req_of(struct fng_kwait *w)
{
	return fng__container_of(w, struct fng_req, usage.wait);
}

/* ---- apikey ---- */

static bool key_required(const struct fng_req *req)
{
	const struct fng_route *r = req->match.route;

	return req->event == FNG_EVENT_NONE && r && r->api_key_required && req->stage && req->srv;
}

static struct fng_metric_def m_key_refused = {
	"fngate_api_key_refusals_total",
	"Requests refused with 403 for their API key (reason: missing, invalid, no_plan).",
	FNG_METRIC_COUNTER, { "api", "stage", "reason" },
};
static struct fng_metric_def m_quota_refused = {
	"fngate_quota_refusals_total", "Requests refused with 429 by their usage plan's quota.",
	FNG_METRIC_COUNTER, { "api", "stage", "plan" }, .max_series = 200,
};
static struct fng_metric_def *const apikey_metrics[] = { &m_key_refused, NULL };
static struct fng_metric_def *const quota_metrics[] = { &m_quota_refused, NULL };

static int forbidden(struct fng_req *req, const char *reason, const char *why)
{
	fng__stage_metric(req, &m_key_refused, reason);
	req->error_detail = why;
	return FNG_EFORBIDDEN;
}

static void apikey_wake(struct fng_kwait *w, int rc);

/* The key as sent (header or authorizer), or NULL. */
static const char *key_of(struct fng_req *req, size_t *len)
{
	const struct fng_api *api = req->api;

	if (api->api_key_from_authorizer) {
		const char *k = req->authz.set ? req->authz.usage_key : NULL;

		*len = k ? strlen(k) : 0;
		return k && *len ? k : NULL;
	}
	const struct fng_header *h = fng__req_header(req, api->api_key_header,
		api->api_key_header_len);

	*len = h ? h->value.len : 0;
	return h && h->value.len ? h->value.p : NULL;
}

static int apikey_decide(struct fng_req *req)
{
	struct fng_keystate *ks = fng__keystate_get(req->srv);
	const struct fng_key_entry *e = NULL;
	const char *k;
	size_t len;
	int rc;

	k = key_of(req, &len);
	if (!k) {
		return forbidden(req, "missing", req->api->api_key_from_authorizer ?
			"Forbidden: this route needs an API key, and the authorizer gave none" :
			"Forbidden: this route needs an API key");
	}
	if (!ks) {
		return -ENOMEM;
	}
	req->usage.wait.done = apikey_wake;
	rc = fng__keys_find(ks, k, len, &req->usage.wait, &e);
	if (rc == FNG_KEYSTATE_PENDING) {
		return FNG_STAGE_PENDING;
	}
	if (rc == -ENOENT || (rc == 0 && e->revoked)) {
		return forbidden(req, "invalid", "Forbidden: the API key is not valid");
	}
	if (rc != 0) {
		req->error_detail = "Service Unavailable: the API key store cannot be read";
		return FNG_EUNAVAILABLE;
	}
	req->usage.plan = fng__stage_plan(req->cfg, req->stage, e->plans, e->nplans,
		&req->usage.ps);
	if (!req->usage.plan) {
		return forbidden(req, "no_plan",
			"Forbidden: the API key is not in a usage plan of this stage");
	}
	req->usage.key_id = fng__arena_strndup(req->arena, e->id, strlen(e->id));
	return req->usage.key_id ? FNG_STAGE_NEXT : -ENOMEM;
}

static void apikey_wake(struct fng_kwait *w, int rc)
{
	struct fng_req *req = req_of(w);

	(void)rc; /* asked again: the table says what it is now */
	rc = apikey_decide(req);
	if (rc != FNG_STAGE_PENDING) {
		fng__req_resume(req, rc);
	}
}

static int apikey(struct fng_req *req)
{
	return key_required(req) ? apikey_decide(req) : FNG_STAGE_NEXT;
}

static void usage_cancel(struct fng_req *req)
{
	fng__kwait_cancel(&req->usage.wait);
	fng__req_resume(req, FNG_ECLIENT_CLOSED);
}

const struct fng_stage_def fng__stage_apikey = {
	.name = "apikey",
	.run = apikey,
	.phase = FNG_PHASE_HEAD,
	.metrics = apikey_metrics,
	.cancel = usage_cancel,
};

/* ---- quota ---- */

static void quota_wake(struct fng_kwait *w, int rc);

/* "Too Many Requests: the quota of usage plan "P" (N a day) is used up until DATE". */
static const char *quota_text(struct fng_req *req, const struct fng_usage_plan *p, int64_t at)
{
	size_t size = 160 + strlen(p->name);
	char *m = fng__arena_alloc(req->arena, size), when[32];
	time_t t = (time_t)at;
	struct tm tm;

	if (!m) {
		return NULL;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(m, size, "Too Many Requests: the quota of usage plan \"%s\" (%" PRIu64
		" a %s) is used up until %s", p->name, p->quota, fng__period_name(p->period), when);
	return m;
}

static int quota_decide(struct fng_req *req)
{
	const struct fng_usage_plan *p = req->usage.plan;
	struct fng_keystate *ks = fng__keystate_get(req->srv);
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (!ks) {
		return -ENOMEM;
	}
	req->usage.wait.done = quota_wake;
	rc = fng__quota_take(ks, req->usage.key_id, p, now, &req->usage.wait, &req->usage.quota);
	if (rc == FNG_KEYSTATE_PENDING) {
		return FNG_STAGE_PENDING;
	}
	if (rc == -EIO) {
		req->error_detail = "Service Unavailable: the quota store cannot record usage";
		return FNG_EUNAVAILABLE;
	}
	if (rc != 0) {
		return rc;
	}
	req->usage.quota_set = true;
	if (!req->usage.quota.refused) {
		return FNG_STAGE_NEXT;
	}
	/* Retry-After until the period resets (throttle_headers writes it). */
	req->throttle.retry_after_s = (uint32_t)(req->usage.quota.reset_at > now ?
		req->usage.quota.reset_at - now : 1);
	if (!req->throttle.set) {
		/* No bucket spoke: the RateLimit-* headers are the quota's. */
		req->throttle.set = true;
		req->throttle.limit = (uint32_t)(p->quota > UINT32_MAX ? UINT32_MAX : p->quota);
		req->throttle.remaining = 0;
		req->throttle.reset_s = req->throttle.retry_after_s;
	}
	req->error_detail = quota_text(req, p, req->usage.quota.reset_at);
	fng__stage_metric(req, &m_quota_refused, p->name);
	return FNG_ETHROTTLED;
}

static void quota_wake(struct fng_kwait *w, int rc)
{
	struct fng_req *req = req_of(w);

	if (rc == -EIO) {
		req->error_detail = "Service Unavailable: the quota store cannot record usage";
		fng__req_resume(req, FNG_EUNAVAILABLE);
		return;
	}
	rc = quota_decide(req);
	if (rc != FNG_STAGE_PENDING) {
		fng__req_resume(req, rc);
	}
}

static int quota(struct fng_req *req)
{
	if (!req->usage.plan || !req->usage.plan->quota || !req->usage.key_id) {
		return FNG_STAGE_NEXT;
	}
	return quota_decide(req);
}

const struct fng_stage_def fng__stage_quota = {
	.name = "quota",
	.run = quota,
	.phase = FNG_PHASE_HEAD,
	.metrics = quota_metrics,
	.cancel = usage_cancel,
};
