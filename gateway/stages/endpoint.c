// SPDX-License-Identifier: MIT
/*
 * Stage "endpoint" (head phase): which API and stage a request is for. A custom domain's
 * base path mappings (by Host), or the default endpoint's "/{stage}/..." path; the path
 * after the prefix becomes the route path, and the stage's body limit applies from here.
 * Requests that know where they go from the start (WebSocket events, schedules, the admin
 * listener, which resolves its route when the request is made) pass through.
 */
#include "errors.h"
#include "stages.h"

/* Host (custom domain + base path) or the default endpoint's /{stage}/ → API and stage. */
static int endpoint(struct fng_req *req)
{
	const struct fng_config *cfg = req->cfg;
	struct fng_str path = req->path;
	const struct fng_domain *dom;

	if (req->api || req->match.route) {
		/* known from the start: a WebSocket event, a schedule, the admin listener's */
		return FNG_STAGE_NEXT;
	}
	dom = fng__config_domain(cfg, req->host);

	if (dom) {
		for (unsigned i = 0; i < dom->nmaps; i++) {
			const struct fng_mapping *m = &dom->maps[i];

			if (path.len >= m->base_len && memcmp(path.p, m->base_path, m->base_len) == 0 &&
				(path.len == m->base_len || path.p[m->base_len] == '/')) {
				req->api = m->api;
				req->stage = m->stage;
				req->route_path = (struct fng_str){ path.p + m->base_len,
					path.len - m->base_len };
				break;
			}
		}
		if (!req->api) {
			req->error_detail = "no base path mapping matches this path";
			return FNG_ENOT_FOUND;
		}
	} else {
		const struct fng_api *api = cfg->default_api;
		const char *seg = path.p + 1, *end = path.p + path.len;
		const char *slash;
		const struct fng_stage *st;

		if (!api) {
			req->error_detail = "no API is mapped to this host";
			return FNG_ENOT_FOUND;
		}
		slash = memchr(seg, '/', (size_t)(end - seg));
		st = fng__api_stage(api, (struct fng_str){ seg, (size_t)((slash ? slash : end) - seg) });
		if (st && strcmp(st->name, "$default") != 0) {
			req->route_path = slash ? (struct fng_str){ slash, (size_t)(end - slash) }
						: FNG_STR("/");
		} else if (api->default_stage) {
			st = api->default_stage;
			req->route_path = path;
		} else {
			req->error_detail = "no such stage";
			return FNG_ENOT_FOUND;
		}
		req->api = api;
		req->stage = st;
	}
	if (req->route_path.len == 0) {
		req->route_path = FNG_STR("/");
	}
	req->body_limit = req->stage->body_bytes < cfg->limits.body_bytes ? req->stage->body_bytes
									  : cfg->limits.body_bytes;
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_endpoint = {
	.name = "endpoint",
	.run = endpoint,
	.phase = FNG_PHASE_HEAD,
};
