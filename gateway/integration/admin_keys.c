// SPDX-License-Identifier: MIT
/*
 * The admin API's API keys, the same operations as `fngate keys` (docs/config.md, "API keys"):
 *
 *   POST   /@keys                {"plans":["P",...],"name":"..."} → 201 with the key, shown once
 *   GET    /@keys                every key (never a key itself, nor its hash)
 *   GET    /@keys/{id}           one key
 *   DELETE /@keys/{id}           revokes it: refused from the next request on; 204
 *   GET    /@keys/{id}/usage     per plan: the period's count, the quota, the reset time
 *
 * Each is a job on the loop's database queue (state/keystate.h): the request waits, the loop
 * does not. A client that leaves is answered at once (499); its job still completes. On a
 * cluster node whose quotas are in Redis (`cluster.quotas: shared`), a usage's counts are
 * Redis' (state/climits.h), asked for after the job has found the key's plans: every node
 * answers the same, and 503 while Redis does not answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "chars.h"
#include "climits.h"
#include "errors.h"
#include "keystate.h"
#include "log.h"
#include "period.h"
#include "stages.h"

enum op { OP_CREATE, OP_LIST, OP_GET, OP_REVOKE, OP_USAGE };

struct admin_job {
	struct fng_kjob job;
	struct fng_req *req;      /* NULL once the client has gone */
	enum op op;
	char id[FNG_KEY_ID_LEN + 1];
	/* OP_CREATE */
	char name[FNG_KEY_NAME_MAX + 1];
	char plans[FNG_KEY_PLANS_MAX][FNG_PLAN_NAME_MAX + 1];
	const char *planv[FNG_KEY_PLANS_MAX];
	unsigned nplans;
	char key[FNG_KEY_LEN + 1];
	/* results */
	struct fng_key_rec rec;
	struct fng_usage_rec usage[FNG_KEY_PLANS_MAX];
	int usage_err[FNG_KEY_PLANS_MAX];
	struct fng_buf list;      /* OP_LIST: the keys, as JSON objects joined by commas */
	unsigned count;
	/* OP_USAGE on a cluster node: the counts from Redis, by plan (cluster_used[i]). */
	bool cluster;
	int cluster_err;
	uint64_t cluster_used[FNG_KEY_PLANS_MAX];
	int64_t now;
};

static void iso_time(struct fng_buf *b, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fng__buf_printf(b, "\"%s\"", s);
}

/*
 * A key's record as JSON: id, name, plans, createdAt, revokedAt (null while live); with key
 * (creation only) the key first.
 */
static void rec_json(struct fng_buf *b, const struct fng_key_rec *r, const char *key)
{
	if (key) {
		fng__buf_printf(b, "{\"key\":\"%s\",", key);
	} else {
		fng__buf_str(b, "{");
	}
	fng__buf_printf(b, "\"id\":\"%s\",\"name\":\"", r->id);
	fng__buf_json_escape(b, r->name, strlen(r->name));
	fng__buf_str(b, "\",\"plans\":[");
	for (unsigned i = 0; i < r->nplans; i++) {
		fng__buf_printf(b, "%s\"%s\"", i ? "," : "", r->plans[i]);
	}
	fng__buf_str(b, "],\"createdAt\":");
	iso_time(b, r->created_ms);
	fng__buf_str(b, ",\"revokedAt\":");
	if (r->revoked_ms) {
		iso_time(b, r->revoked_ms);
	} else {
		fng__buf_str(b, "null");
	}
	fng__buf_str(b, "}");
}

static int list_one(void *ctx, const struct fng_key_rec *rec)
{
	struct admin_job *aj = ctx;

	if (aj->count++) {
		fng__buf_str(&aj->list, ",");
	}
	rec_json(&aj->list, rec, NULL);
	return 0;
}

static void admin_work(struct fng_kjob *j, struct fng_keydb *db)
{
	struct admin_job *aj = (struct admin_job *)j;

	switch (aj->op) {
	case OP_CREATE:
		aj->job.err = fng__keydb_create(db, aj->name, aj->planv, aj->nplans, aj->key, &aj->rec,
			aj->job.msg);
		break;
	case OP_LIST:
		aj->job.err = fng__keydb_each(db, list_one, aj, aj->job.msg);
		break;
	case OP_GET:
		aj->job.err = fng__keydb_get(db, aj->id, &aj->rec, aj->job.msg);
		break;
	case OP_REVOKE:
		aj->job.err = fng__keydb_revoke(db, aj->id, aj->job.msg);
		break;
	case OP_USAGE:
		aj->job.err = fng__keydb_get(db, aj->id, &aj->rec, aj->job.msg);
		for (unsigned i = 0; aj->job.err == 0 && i < aj->rec.nplans; i++) {
			aj->usage_err[i] = fng__keydb_usage_get(db, aj->id, aj->rec.plans[i],
				&aj->usage[i], NULL);
		}
		break;
	}
}

static int answer(struct fng_req *req, int status, struct fng_buf *b)
{
	req->resp.status = status;
	if (b) {
		fng__resp_header(req, "content-type", 12, "application/json", 16);
		fng__buf_append(&req->resp.body, b->p, b->len);
		fng__buf_str(&req->resp.body, "\n");
	}
	return FNG_STAGE_DONE;
}

/* Per plan of the key: the period's count (the loop's own when fresher than the disk's). */
static void usage_json(struct fng_req *req, struct admin_job *aj, struct fng_buf *b)
{
	int64_t now = aj->now ? aj->now : (int64_t)time(NULL);

	fng__buf_printf(b, "{\"id\":\"%s\",\"usage\":[", aj->id);
	for (unsigned i = 0; i < aj->rec.nplans; i++) {
		const struct fng_usage_plan *p = fng__config_plan(req->cfg, aj->rec.plans[i]);
		int64_t start;
		uint64_t used = 0;

		fng__buf_printf(b, "%s{\"plan\":\"%s\"", i ? "," : "", aj->rec.plans[i]);
		if (!p || !p->quota) {
			fng__buf_str(b, p ? ",\"quota\":null}" : ",\"unknown\":true}");
			continue;
		}
		start = fng__period_start(p->period, now);
		if (aj->cluster) {
			used = aj->cluster_used[i];
		} else {
			if (aj->usage_err[i] == 0 && aj->usage[i].period_start == start) {
				used = aj->usage[i].used;
			}
			fng__quota_peek(fng__keystate_get(req->srv), aj->id, p, now, &used);
		}
		fng__buf_printf(b, ",\"period\":\"%s\",\"periodStart\":", fng__period_name(p->period));
		iso_time(b, start * 1000);
		fng__buf_printf(b, ",\"used\":%" PRIu64 ",\"quota\":%" PRIu64 ",\"remaining\":%" PRIu64
			",\"resetsAt\":", used, p->quota, used < p->quota ? p->quota - used : 0);
		iso_time(b, fng__period_next(p->period, now) * 1000);
		fng__buf_str(b, "}");
	}
	fng__buf_printf(b, "],\"source\":\"%s\"}", aj->cluster ? "cluster" : "local");
}

static void answer_job(struct admin_job *aj);

/* Redis' counts for a usage (state/climits.h). */
static void cluster_usage_cb(int err, const uint64_t *used, void *arg)
{
	struct admin_job *aj = arg;
	unsigned k = 0;

	aj->cluster_err = err;
	for (unsigned i = 0; !err && i < aj->rec.nplans; i++) {
		const struct fng_usage_plan *p = aj->req ?
			fng__config_plan(aj->req->cfg, aj->rec.plans[i]) : NULL;

		if (p && p->quota) {
			aj->cluster_used[i] = used[k++];
		}
	}
	answer_job(aj);
}

/*
 * A usage on a cluster node whose quotas are in Redis: asks Redis for the plans' counts. true
 * when the answer comes later (cluster_usage_cb).
 */
static bool usage_from_cluster(struct admin_job *aj)
{
	struct fng_req *req = aj->req;
	const struct fng_usage_plan *plans[FNG_KEY_PLANS_MAX];
	unsigned n = 0;
	int err;

	if (aj->op != OP_USAGE || aj->job.err || !fng__cquota_on(req->srv)) {
		return false;
	}
	aj->cluster = true;
	aj->now = (int64_t)time(NULL);
	for (unsigned i = 0; i < aj->rec.nplans; i++) {
		const struct fng_usage_plan *p = fng__config_plan(req->cfg, aj->rec.plans[i]);

		if (p && p->quota) {
			plans[n++] = p;
		}
	}
	if (!n) {
		return false;
	}
	err = fng__cquota_usage(req->srv, aj->id, plans, n, aj->now, cluster_usage_cb, aj);
	if (err) {
		aj->cluster_err = err;
		return false;
	}
	return true;
}

static void admin_done(struct fng_kjob *j)
{
	struct admin_job *aj = (struct admin_job *)j;

	if (aj->req && usage_from_cluster(aj)) {
		return; /* the request still waits, and can still be cancelled */
	}
	answer_job(aj);
}

static void answer_job(struct admin_job *aj)
{
	struct fng_req *req = aj->req;
	struct fng_buf b = { 0 };
	int rc;

	if (!req) {
		goto out; /* answered 499 when its client left */
	}
	req->usage.kjob = NULL;
	if (aj->cluster_err) {
		req->error_detail = "Service Unavailable: the cluster's Redis, which keeps the "
			"quotas, did not answer";
		rc = FNG_EUNAVAILABLE;
	} else if (aj->job.err == -ENOENT) {
		req->error_detail = "no such API key";
		rc = FNG_ENOT_FOUND;
	} else if (aj->job.err == -EINVAL) {
		req->error_detail = fng__arena_strndup(req->arena, aj->job.msg, strlen(aj->job.msg));
		rc = FNG_EBAD_REQUEST;
	} else if (aj->job.err) {
		req->error_detail = "Service Unavailable: the API key store failed (see the log)";
		fng__log("error", "API key store operation failed", "cause", aj->job.msg, NULL);
		rc = FNG_EUNAVAILABLE;
	} else {
		switch (aj->op) {
		case OP_CREATE:
			/* The one time the key exists outside the client: not logged, not kept. */
			rec_json(&b, &aj->rec, aj->key);
			rc = answer(req, 201, &b);
			explicit_bzero(aj->key, sizeof(aj->key));
			explicit_bzero(b.p, b.len);
			break;
		case OP_LIST:
			fng__buf_str(&b, "{\"keys\":[");
			fng__buf_append(&b, aj->list.p, aj->list.len);
			fng__buf_printf(&b, "],\"count\":%u}", aj->count);
			rc = answer(req, 200, &b);
			break;
		case OP_GET:
			rec_json(&b, &aj->rec, NULL);
			rc = answer(req, 200, &b);
			break;
		case OP_REVOKE:
			rc = answer(req, 204, NULL);
			break;
		case OP_USAGE:
		default:
			usage_json(req, aj, &b);
			rc = answer(req, 200, &b);
			break;
		}
	}
	fng__buf_finish(&b);
	fng__req_resume(req, rc);
out:
	fng__buf_finish(&aj->list);
	free(aj);
}

/* The body of POST /@keys: {"plans": [...], "name": "..."}; 0 or an error with its detail. */
static int parse_create(struct fng_req *req, struct admin_job *aj)
{
	json_error_t jerr;
	json_t *root = json_loadb(req->body.p ? req->body.p : "", req->body.len, 0, &jerr);
	json_t *plans = root ? json_object_get(root, "plans") : NULL;
	json_t *name = root ? json_object_get(root, "name") : NULL;
	const char *why = NULL;
	size_t i;
	json_t *v;

	if (!root || !json_is_object(root)) {
		why = "the body must be a JSON object: {\"plans\": [\"PLAN\"], \"name\": \"...\"}";
	} else if (!json_is_array(plans) || json_array_size(plans) == 0 ||
		json_array_size(plans) > FNG_KEY_PLANS_MAX) {
		why = "\"plans\" must be an array of 1 to 16 usage plan names";
	} else if (name && (!json_is_string(name) || json_string_length(name) > FNG_KEY_NAME_MAX)) {
		why = "\"name\" must be a string of at most 128 bytes";
	}
	json_array_foreach(why ? NULL : plans, i, v) {
		const char *s = json_string_value(v);

		if (!s || !fng__config_plan(req->cfg, s)) {
			why = "\"plans\" names a usage plan that is not in the configuration";
			break;
		}
		snprintf(aj->plans[i], sizeof(aj->plans[i]), "%s", s);
		aj->planv[i] = aj->plans[i];
		aj->nplans++;
	}
	if (!why && name) {
		snprintf(aj->name, sizeof(aj->name), "%s", json_string_value(name));
	}
	if (root) {
		json_decref(root);
	}
	if (why) {
		req->error_detail = why;
		return FNG_EBAD_REQUEST;
	}
	return 0;
}

static bool id_ok(struct fng_str id)
{
	if (id.len != FNG_KEY_ID_LEN) {
		return false;
	}
	for (size_t i = 0; i < id.len; i++) {
		if (!fng__is_alnum((unsigned char)id.p[i])) {
			return false;
		}
	}
	return true;
}

int fng__admin_keys(struct fng_req *req, struct fng_str rest)
{
	struct fng_keystate *ks;
	struct admin_job *aj;
	struct fng_str id = { NULL, 0 };
	bool usage = false, get = fng__str_eq(req->method, "GET", 3);
	int rc;

	/* rest: "", "/", "/{id}" or "/{id}/usage" */
	if (rest.len > 1) {
		const char *slash = memchr(rest.p + 1, '/', rest.len - 1);

		id = (struct fng_str){ rest.p + 1, slash ? (size_t)(slash - rest.p - 1) : rest.len - 1 };
		if (slash) {
			usage = fng__str_eq((struct fng_str){ slash, rest.len - (size_t)(slash - rest.p) },
				"/usage", 6);
			if (!usage) {
				req->error_detail = "key paths: /@keys, /@keys/{id}, /@keys/{id}/usage";
				return FNG_ENOT_FOUND;
			}
		}
		if (!id_ok(id)) {
			req->error_detail = "no such API key";
			return FNG_ENOT_FOUND;
		}
	}
	aj = calloc(1, sizeof(*aj));
	if (!aj) {
		return -ENOMEM;
	}
	if (!id.p) {
		if (get) {
			aj->op = OP_LIST;
		} else if (fng__str_eq(req->method, "POST", 4)) {
			aj->op = OP_CREATE;
			if ((rc = parse_create(req, aj)) != 0) {
				free(aj);
				return rc;
			}
		} else {
			free(aj);
			return fng__admin_method_not_allowed(req, "GET", "POST", NULL);
		}
	} else {
		memcpy(aj->id, id.p, id.len);
		if (usage && get) {
			aj->op = OP_USAGE;
		} else if (!usage && get) {
			aj->op = OP_GET;
		} else if (!usage && fng__str_eq(req->method, "DELETE", 6)) {
			aj->op = OP_REVOKE;
		} else {
			free(aj);
			return usage ? fng__admin_method_not_allowed(req, "GET", NULL, NULL) :
				fng__admin_method_not_allowed(req, "GET", "DELETE", NULL);
		}
	}
	ks = fng__keystate_get(req->srv);
	if (!ks) {
		free(aj);
		return -ENOMEM;
	}
	aj->req = req;
	aj->job.work = admin_work;
	aj->job.done = admin_done;
	req->usage.kjob = &aj->job;
	fng__keystate_submit(ks, &aj->job);
	return FNG_STAGE_PENDING;
}

void fng__admin_keys_cancel(struct fng_req *req)
{
	struct admin_job *aj = (struct admin_job *)req->usage.kjob;

	if (aj) {
		aj->req = NULL;
		req->usage.kjob = NULL;
		fng__req_resume(req, UV_ECANCELED);
	}
}
