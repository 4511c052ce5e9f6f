// SPDX-License-Identifier: MIT
/*
 * GET /@cluster on the admin listener (an admin extension, behind the admin token): this node's
 * id, whether its Redis is up, and the live nodes as Redis knows them (state/cluster_node.h):
 *
 *   {"node": "node-8181", "redis": {"up": true, "address": "127.0.0.1:6390"},
 *    "nodes": [{"id": "node-8181", "listeners": [{"addr": ..., "role": "http"}, ...],
 *               "started": 1765098000000, "lastSeenMs": 120}, ...]}
 *
 * The list is Redis' own: while Redis is down there is no list to give, and a node's own view
 * would pass for the cluster's, so the answer is a 503 with redis.up false and a message
 * rather than a list of one. Without `cluster:`, a 404.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdlib.h>

#include "admin.h"
#include "cluster.h"
#include "cluster_node.h"
#include "errors.h"
#include "stages.h"

/* A listing in flight: req is NULL once its client left (the answer is then dropped). */
struct fng_cluster_ask {
	struct fng_req *req;
};

/* Dumps root (taking it) as the response body with status. */
static int json_reply(struct fng_req *req, int status, json_t *root)
{
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;

	json_decref(root);
	if (!text) {
		return -ENOMEM;
	}
	req->resp.status = status;
	fng__resp_header(req, "content-type", 12, "application/json", 16);
	fng__buf_str(&req->resp.body, text);
	fng__buf_str(&req->resp.body, "\n");
	free(text);
	return FNG_STAGE_DONE;
}

static json_t *self_json(struct fng_cluster *c, bool up)
{
	return json_pack("{s:s, s:{s:b, s:s}}", "node", fng__cluster_node_id(c), "redis", "up",
		up, "address", fng__cluster_address(c));
}

static int down_reply(struct fng_req *req, struct fng_cluster *c, const char *why)
{
	json_t *root = self_json(c, false);

	if (root) {
		json_object_set_new(root, "message", json_string(why));
	}
	return json_reply(req, 503, root);
}

static long long reply_ll(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER) {
		return r->integer;
	}
	return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* The script's [now, id, listeners, started, seen, ...] as the "nodes" array. */
static json_t *nodes_json(const redisReply *r)
{
	json_t *nodes = json_array();
	long long now = reply_ll(r->element[0]);

	for (size_t i = 1; nodes && i + 3 < r->elements; i += 4) {
		const redisReply *id = r->element[i], *ls = r->element[i + 1];
		long long seen = reply_ll(r->element[i + 3]);
		json_t *listeners = NULL;

		if (id->type != REDIS_REPLY_STRING) {
			continue;
		}
		/* Written by a node as JSON; whatever else is there is shown as no listener. */
		if (ls->type == REDIS_REPLY_STRING) {
			listeners = json_loadb(ls->str, ls->len, 0, NULL);
		}
		if (!json_is_array(listeners)) {
			json_decref(listeners);
			listeners = json_array();
		}
		json_array_append_new(nodes, json_pack("{s:s%, s:o, s:I, s:I}", "id", id->str,
			id->len, "listeners", listeners, "started",
			(json_int_t)reply_ll(r->element[i + 2]), "lastSeenMs",
			(json_int_t)(now > seen ? now - seen : 0)));
	}
	return nodes;
}

static void nodes_cb(struct fng_cluster *c, struct redisReply *r, void *arg)
{
	struct fng_cluster_ask *ask = arg;
	struct fng_req *req = ask->req;
	json_t *root;
	int rc;

	free(ask);
	if (!req) {
		return;
	}
	req->cluster_ask = NULL;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
		rc = down_reply(req, c, r && r->type == REDIS_REPLY_ERROR ? r->str :
			"cluster: Redis did not answer (down, or slower than command_timeout_ms)");
	} else {
		root = self_json(c, true);
		if (root) {
			json_object_set_new(root, "nodes", nodes_json(r));
		}
		rc = json_reply(req, 200, root);
	}
	fng__req_resume(req, rc);
}

static int cluster_serve(struct fng_req *req, struct fng_str rest)
{
	struct fng_cluster *c;
	struct fng_cluster_ask *ask;
	int rc;

	if (rest.len && !fng__str_eq(rest, "/", 1)) {
		req->error_detail = "cluster paths: /@cluster";
		return FNG_ENOT_FOUND;
	}
	if (!fng__str_eq(req->method, "GET", 3)) {
		return fng__admin_method_not_allowed(req, "GET", NULL, NULL);
	}
	c = fng__cluster(req->srv);
	if (!c) {
		req->error_detail = "no cluster configured";
		return FNG_ENOT_FOUND;
	}
	if (!fng__cluster_up(c)) {
		return down_reply(req, c, "cluster: Redis is down");
	}
	ask = calloc(1, sizeof(*ask));
	if (!ask) {
		return -ENOMEM;
	}
	ask->req = req;
	rc = fng__cluster_nodes(c, nodes_cb, ask);
	if (rc) {
		free(ask);
		return rc;
	}
	req->cluster_ask = ask;
	return FNG_STAGE_PENDING;
}

static void cluster_cancel(struct fng_req *req)
{
	struct fng_cluster_ask *ask = req->cluster_ask;

	if (ask) {
		ask->req = NULL; /* nodes_cb frees it */
		req->cluster_ask = NULL;
		fng__req_resume(req, UV_ECANCELED);
	}
}

const struct fng_admin_ext fng__cluster_admin = {
	.prefix = "/@cluster",
	.serve = cluster_serve,
	.cancel = cluster_cancel,
};
