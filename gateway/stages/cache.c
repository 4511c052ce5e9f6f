// SPDX-License-Identifier: MIT
/*
 * The per-stage response cache, two stages of one module (docs/config.md, "Response cache"):
 *
 * "cache" (head phase, last before the body: everything that refuses has refused) builds the
 * request's key — route, method, path, the route's key parameters (query names, headers) and,
 * on a route behind an authorizer or an API key, the caller — and looks it up in its stage's
 * store (state/cache.h). A fresh entry answers at once (x-cache: hit, Age). An expired one
 * inside stale_while_revalidate answers stale while one background refresh runs. Otherwise
 * the request is a miss: the first becomes the key's leader and goes on to the integration;
 * the others wait for the leader's answer (coalescing), each until its own deadline.
 *
 * "cache_store" (first of the final phase: before the headers of throttle and CORS, which
 * belong to each request) stores a leader's answer when it may be stored (below 500, no
 * Cache-Control no-store or private, no Set-Cookie unless the route allows it, a TTL above
 * 0, within max_entry_bytes), serves the stale entry instead of a failed answer inside
 * stale_if_error, hands the answer to the waiters, and sets x-cache on every answer of a
 * cached stage. Their configuration keys are cache_conf.c's.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "admin.h"
#include "cache.h"
#include "cache_stage.h"
#include "chars.h" /* wire_rules.h: the cache tag rule */
#include "cluster.h"
#include "errors.h"
#include "functions.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "stages.h"

/* ---- the loop's caches ---- */

/* One stage's store on this loop, its misses in flight and its counters. */
struct stage_cache {
	struct fng_hnode node;
	struct fng_cache_store *store;
	uint64_t capacity, max_entry;
	struct fng_cache_counters n;
	struct fng_hmap flights;
	size_t nlen;
	char name[];                     /* "API\0STAGE" */
};

struct fng_cache_loop {
	struct fng_hmap stages;
	bool subscribed;                 /* to the shared cache's invalidations */
};

/* A miss in flight: its leader's answer goes to the waiters. */
struct fng_cache_flight {
	struct fng_hnode node;
	struct stage_cache *sc;
	struct fng_list waiters;
	size_t klen;
	char key[];
};

/* A request waiting for a flight, until its own deadline. */
struct fng_cache_waiter {
	struct fng_list link;
	struct fng_req *req;
	struct fng_cache_flight *flight;
	uv_timer_t timer;
};

/* A leader's question to the shared cache (below); req NULL once its client left. */
struct fng_cache_ask {
	struct fng_req *req;
	struct stage_cache *sc;
	bool refresh;              /* only the generation is wanted */
};

static struct stage_cache *stage_cache_get(struct fng_req *req)
{
	struct fng_server *srv = req->srv;
	const struct fng_stage_cache *cfg = req->stage->cache;
	size_t an = strlen(req->api->name), sn = strlen(req->stage->name), nlen = an + 1 + sn;
	struct fng_cache_loop *cl = srv->caches;
	struct stage_cache *sc;
	uint64_t h;

	if (!cl) {
		cl = srv->caches = calloc(1, sizeof(*cl));
		if (!cl) {
			return NULL;
		}
	}
	{
		char name[nlen];

		memcpy(name, req->api->name, an + 1);
		memcpy(name + an + 1, req->stage->name, sn);
		h = fng__hash(name, nlen);
		for (struct fng_hnode *n = fng__hmap_chain(&cl->stages, h); n; n = n->next) {
			sc = fng__container_of(n, struct stage_cache, node);
			if (n->hash == h && sc->nlen == nlen && memcmp(sc->name, name, nlen) == 0) {
				if (sc->capacity != cfg->capacity_bytes ||
					sc->max_entry != cfg->max_entry_bytes) {
					/* A reload changed them: the store follows. */
					sc->store->ops->set_capacity(sc->store, cfg->capacity_bytes,
						cfg->max_entry_bytes);
					sc->capacity = cfg->capacity_bytes;
					sc->max_entry = cfg->max_entry_bytes;
				}
				return sc;
			}
		}
		sc = calloc(1, sizeof(*sc) + nlen);
		if (!sc) {
			return NULL;
		}
		memcpy(sc->name, name, nlen);
	}
	sc->nlen = nlen;
	sc->capacity = cfg->capacity_bytes;
	sc->max_entry = cfg->max_entry_bytes;
	sc->store = fng__cache_local_create(sc->capacity, sc->max_entry);
	if (!sc->store || fng__hmap_add(&cl->stages, &sc->node, h) != 0) {
		if (sc->store) {
			sc->store->ops->destroy(sc->store);
		}
		free(sc);
		return NULL;
	}
	return sc;
}

static struct fng_cache_flight *flight_find(struct stage_cache *sc, const void *key,
	size_t klen)
{
	uint64_t h = fng__hash(key, klen);

	for (struct fng_hnode *n = fng__hmap_chain(&sc->flights, h); n; n = n->next) {
		struct fng_cache_flight *f = fng__container_of(n, struct fng_cache_flight, node);

		if (n->hash == h && f->klen == klen && memcmp(f->key, key, klen) == 0) {
			return f;
		}
	}
	return NULL;
}

static struct fng_cache_flight *flight_new(struct stage_cache *sc, const void *key,
	size_t klen)
{
	struct fng_cache_flight *f = calloc(1, sizeof(*f) + klen);

	if (!f) {
		return NULL;
	}
	f->sc = sc;
	f->klen = klen;
	memcpy(f->key, key, klen);
	fng__list_init(&f->waiters);
	if (fng__hmap_add(&sc->flights, &f->node, fng__hash(key, klen)) != 0) {
		free(f);
		return NULL;
	}
	return f;
}

static void flight_free(struct fng_cache_flight *f)
{
	fng__hmap_del(&f->sc->flights, &f->node);
	free(f);
}

/* ---- keys ---- */

/* The route's TTL on this stage: the route's own, else the stage's. */
static uint32_t route_ttl(const struct fng_stage_cache *cfg, const struct fng_route_cache *rc)
{
	return rc && rc->ttl_s >= 0 ? (uint32_t)rc->ttl_s : cfg->ttl_s;
}

static bool method_cached(const struct fng_route_cache *rc, struct fng_str method)
{
	if (!rc || !rc->nmethods) {
		return fng__str_eq(method, "GET", 3) || fng__str_eq(method, "HEAD", 4);
	}
	for (unsigned i = 0; i < rc->nmethods; i++) {
		if (fng__str_eq(method, rc->methods[i], strlen(rc->methods[i]))) {
			return true;
		}
	}
	return false;
}

/* Appends a key part: its presence, its length and its bytes (no two keys run together). */
static void key_part(struct fng_buf *k, const void *p, size_t len, bool present)
{
	uint32_t n = (uint32_t)len;

	fng__buf_append(k, present ? "+" : "-", 1);
	fng__buf_append(k, &n, sizeof(n));
	fng__buf_append(k, p, len);
}

/*
 * The key: the route key and '\0' first (a route's entries share that prefix: the admin
 * API's purge), then the method, the path, the route's key parameters in their configured
 * order, and the caller on a route behind an authorizer or an API key unless it is shared.
 * Nothing else of the request is in it, and nothing else reaches the handler's answer
 * through the cache.
 */
static int build_key(struct fng_req *req, const struct fng_route_cache *rc, struct fng_buf *k)
{
	const struct fng_route *route = req->match.route;

	fng__buf_append(k, route->key, strlen(route->key) + 1);
	key_part(k, req->method.p, req->method.len, true);
	key_part(k, req->route_path.p, req->route_path.len, true);
	for (unsigned i = 0; rc && i < rc->nquery; i++) {
		struct fng_str v = { "", 0 };
		bool has = fng__req_query(req, (struct fng_str){ rc->query[i], strlen(rc->query[i]) },
			&v);

		key_part(k, v.p, v.len, has);
	}
	for (unsigned i = 0; rc && i < rc->nheaders; i++) {
		const struct fng_header *h = fng__req_header(req, rc->headers[i],
			strlen(rc->headers[i]));

		key_part(k, h ? h->value.p : "", h ? h->value.len : 0, h != NULL);
	}
	if ((route->authorizer || route->api_key_required) && !(rc && rc->shared)) {
		const char *p = req->authz.set && req->authz.principal ? req->authz.principal : "";
		const char *kid = req->usage.key_id ? req->usage.key_id : "";

		key_part(k, p, strlen(p), req->authz.set);
		key_part(k, kid, strlen(kid), req->usage.key_id != NULL);
	}
	return k->p ? 0 : -ENOMEM;
}

/* ---- the request's side ---- */

/* A comma-separated header holds token (case-insensitive, "a=b" forms compared whole). */
static bool header_has(const struct fng_header *h, const char *token)
{
	size_t tl = strlen(token);
	const char *p = h ? h->value.p : NULL, *e = p ? p + h->value.len : NULL;

	while (p && p < e) {
		const char *c = memchr(p, ',', (size_t)(e - p)), *end = c ? c : e;

		while (p < end && (*p == ' ' || *p == '\t')) {
			p++;
		}
		while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
			end--;
		}
		if ((size_t)(end - p) == tl && strncasecmp(p, token, tl) == 0) {
			return true;
		}
		p = c ? c + 1 : e;
	}
	return false;
}

static bool resp_header_has(const struct fng_req *req, const char *name, const char *token)
{
	for (unsigned i = 0; i < req->resp.nheaders; i++) {
		const struct fng_header *h = &req->resp.headers[i];

		if (fng__str_eq(h->name, name, strlen(name)) && (!token || header_has(h, token))) {
			return true;
		}
	}
	return false;
}

/* The client asks for a fresh answer: Cache-Control max-age=0 or no-cache. */
static bool client_refresh(struct fng_req *req)
{
	const struct fng_header *h = fng__req_header(req, "cache-control", 13);

	return header_has(h, "max-age=0") || header_has(h, "no-cache");
}

/*
 * The caller may invalidate (API Gateway's execute-api:InvalidateCache): its authorizer's
 * context has invalidateCache true, or its JWT's scope holds cache:invalidate.
 */
static bool may_invalidate(const struct fng_req *req)
{
	for (size_t i = 0; req->authz.set && i < req->authz.nctx; i++) {
		const struct fng_wire_kv *kv = &req->authz.ctx[i];
		if (kv->k.len == 15 && memcmp(kv->k.p, "invalidateCache", 15) == 0 &&
			kv->v.len == 4 && memcmp(kv->v.p, "true", 4) == 0) {
			return true;
		}
		if (kv->k.len == 12 && memcmp(kv->k.p, "claims.scope", 12) == 0) {
			/* Space-separated scopes (RFC 8693). */
			const char *s = kv->v.p, *e = s + kv->v.len;

			while (s < e) {
				const char *sp = memchr(s, ' ', (size_t)(e - s)), *end = sp ? sp : e;

				if (end - s == 16 && memcmp(s, "cache:invalidate", 16) == 0) {
					return true;
				}
				s = sp ? sp + 1 : e;
			}
		}
	}
	return false;
}

/* The answer from an entry (or a leader's answer): status, headers and body copied. */
static int serve(struct fng_req *req, const struct fng_cached *e, const char *status,
	uint64_t now)
{
	req->resp.status = e->status;
	req->resp.nheaders = 0;
	req->resp.body.len = 0;
	req->resp.chunked = false;
	for (unsigned i = 0; i < e->nheaders; i++) {
		if (fng__resp_header(req, e->headers[i].name, e->headers[i].nlen,
			    e->headers[i].value, e->headers[i].vlen) != 0) {
			return -ENOMEM;
		}
	}
	if (e->body_len && fng__buf_append(&req->resp.body, e->body, e->body_len) != 0) {
		return -ENOMEM;
	}
	req->resp.has_body = true;
	req->cache.served = true;
	req->cache.status = status;
	req->cache.age_s = now > e->stored_ms ? (now - e->stored_ms) / 1000 : 0;
	return FNG_STAGE_DONE;
}

static void start_refresh(struct fng_req *req, struct stage_cache *sc);
static int wait_for(struct fng_req *req, struct fng_cache_flight *f);
static int shared_ask(struct fng_req *req, struct stage_cache *sc, bool refresh);

/* Looks the request up; a miss leads or joins the key's flight. */
static int lookup(struct fng_req *req, struct stage_cache *sc, bool refresh)
{
	const struct fng_stage_cache *cfg = req->stage->cache;
	uint64_t now = uv_now(req->srv->loop);
	struct fng_cache_flight *f = flight_find(sc, req->cache.key, req->cache.klen);
	struct fng_cached e;

	if (!refresh &&
		sc->store->ops->get(sc->store, req->cache.key, req->cache.klen, now, &e) == 0) {
		if (now < e.fresh_ms) {
			sc->n.hits++;
			return serve(req, &e, "hit", now);
		}
		if (now < e.stale_ms) {
			int rc = serve(req, &e, "stale", now);

			sc->n.stale++;
			if (!f && cfg->stale_while_revalidate_s) {
				start_refresh(req, sc);
			}
			return rc;
		}
	}
	if (f) {
		sc->n.coalesced++;
		return wait_for(req, f);
	}
	f = flight_new(sc, req->cache.key, req->cache.klen);
	if (!f) {
		return -ENOMEM;
	}
	req->cache.flight = f;
	req->cache.status = "miss";
	req->cache.invalidate = refresh;
	if (!req->cache.refresh && shared_ask(req, sc, refresh) == FNG_STAGE_PENDING) {
		return FNG_STAGE_PENDING; /* the leader asks Redis; waiters join its flight */
	}
	sc->n.misses++;
	return FNG_STAGE_NEXT;
}

static int cache_run(struct fng_req *req)
{
	const struct fng_stage_cache *cfg = req->stage ? req->stage->cache : NULL;
	const struct fng_route *route = req->match.route;
	const struct fng_route_cache *rc = route ? route->cache : NULL;
	struct fng_buf k = { 0 };
	struct stage_cache *sc;
	bool refresh = false;
	int err;

	if (!cfg || !route || req->event != FNG_EVENT_NONE || req->cache.refresh || !req->srv ||
		req->ws.accept || !req->api) {
		return FNG_STAGE_NEXT;
	}
	sc = stage_cache_get(req);
	if (!sc) {
		return -ENOMEM;
	}
	if ((rc && !rc->enabled) || (!rc && !cfg->all_routes) || !method_cached(rc, req->method) ||
		!route_ttl(cfg, rc)) {
		sc->n.bypass++;
		req->cache.status = "bypass";
		return FNG_STAGE_NEXT;
	}
	if (client_refresh(req)) {
		if (!cfg->require_authorization || may_invalidate(req)) {
			refresh = true;
		} else if (cfg->forbid_unauthorized) {
			req->error_detail = "Forbidden: this caller may not invalidate the cache "
				"(Cache-Control: max-age=0 needs the invalidateCache permission)";
			return FNG_EFORBIDDEN;
		}
	}
	err = build_key(req, rc, &k);
	if (!err) {
		char *key = fng__arena_alloc(req->arena, k.len);

		if (key) {
			memcpy(key, k.p, k.len);
			req->cache.key = key;
			req->cache.klen = k.len;
		} else {
			err = -ENOMEM;
		}
	}
	fng__buf_finish(&k);
	return err ? err : lookup(req, sc, refresh);
}

/* ---- waiting for a flight ---- */

static void waiter_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Ends w's wait (its timer closed, unlinked) and resumes its request with rc. */
static void waiter_end(struct fng_cache_waiter *w, int rc)
{
	struct fng_req *req = w->req;

	fng__list_remove(&w->link);
	req->cache.waiter = NULL;
	w->timer.data = w;
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
	fng__req_resume(req, rc);
}

static void waiter_timeout(uv_timer_t *t)
{
	struct fng_cache_waiter *w = fng__container_of(t, struct fng_cache_waiter, timer);

	w->req->error_detail = "Gateway Timeout: the answer this request waited for (another "
		"request's cache miss) did not come in time";
	waiter_end(w, FNG_EGATEWAY_TIMEOUT);
}

static int wait_for(struct fng_req *req, struct fng_cache_flight *f)
{
	const struct fng_route *route = req->match.route;
	struct fng_cache_waiter *w = calloc(1, sizeof(*w));
	uint64_t ms = 0;

	if (!w) {
		return -ENOMEM;
	}
	ms = req->stage->cache->coalesce_wait_ms;
	if (!ms && route->integration.type == FNG_INTEGRATION_FUNCTION) {
		ms = fng__functions_timeout_ms(req->srv->fns, route->integration.function);
	}
	if (!ms) {
		ms = 30000;
	}
	w->req = req;
	w->flight = f;
	uv_timer_init(req->srv->loop, &w->timer);
	uv_timer_start(&w->timer, waiter_timeout, ms, 0);
	fng__list_append(&f->waiters, &w->link);
	req->cache.waiter = w;
	req->cache.status = "hit";
	return FNG_STAGE_PENDING;
}

static void cache_cancel(struct fng_req *req)
{
	if (req->cache.waiter) {
		waiter_end(req->cache.waiter, FNG_ECLIENT_CLOSED);
	} else if (req->cache.ask) {
		req->cache.ask->req = NULL; /* its answer, when it comes, is dropped */
		req->cache.ask = NULL;
		fng__req_resume(req, FNG_ECLIENT_CLOSED);
	}
}

const struct fng_stage_def fng__stage_cache = {
	.name = "cache",
	.run = cache_run,
	.phase = FNG_PHASE_HEAD,
	.cancel = cache_cancel,
};

/* ---- storing and sharing the answer ---- */

static bool storable(const struct fng_req *req, const struct fng_route_cache *rc)
{
	if (req->resp.status < 200 || req->resp.status >= 500 || req->error) {
		return false; /* 5xx never */
	}
	if (req->resp.cache_ttl_s == 0) {
		return false;
	}
	if (resp_header_has(req, "cache-control", "no-store") ||
		resp_header_has(req, "cache-control", "private")) {
		return false;
	}
	return !resp_header_has(req, "set-cookie", NULL) || (rc && rc->cookies);
}

/* The answer as an entry (arena copies of the header array), times from now. */
static int as_entry(struct fng_req *req, const struct fng_stage_cache *cfg,
	const struct fng_route_cache *rc, uint64_t now, struct fng_cached *e)
{
	struct fng_cache_hdr *h = fng__arena_alloc(req->arena,
		(req->resp.nheaders + 1) * sizeof(*h));
	uint64_t ttl = req->resp.cache_ttl_s >= 0 ? (uint64_t)req->resp.cache_ttl_s :
		route_ttl(cfg, rc);

	if (!h) {
		return -ENOMEM;
	}
	if (ttl > FNG_CACHE_MAX_TTL_S) {
		ttl = FNG_CACHE_MAX_TTL_S;
	}
	for (unsigned i = 0; i < req->resp.nheaders; i++) {
		const struct fng_header *src = &req->resp.headers[i];

		h[i] = (struct fng_cache_hdr){ src->name.p, src->name.len, src->value.p,
			src->value.len };
	}
	*e = (struct fng_cached){
		.status = req->resp.status,
		.headers = h,
		.nheaders = req->resp.nheaders,
		.body = req->resp.body.p,
		.body_len = req->resp.body.len,
		.stored_ms = now,
		.fresh_ms = now + ttl * 1000,
		.tags = req->resp.cache_tags,
		.ntags = req->resp.ncache_tags,
	};
	e->stale_ms = e->fresh_ms + (uint64_t)cfg->stale_while_revalidate_s * 1000;
	e->error_ms = e->fresh_ms + (uint64_t)cfg->stale_if_error_s * 1000;
	return 0;
}

static void shared_store(struct fng_req *req, struct stage_cache *sc,
	const struct fng_cached *e, uint64_t now);

static void flight_end(struct fng_req *req, struct fng_cache_flight *f)
{
	const struct fng_stage_cache *cfg = req->stage->cache;
	const struct fng_route_cache *rc = req->match.route->cache;
	struct stage_cache *sc = f->sc;
	uint64_t now = uv_now(req->srv->loop);
	bool failed = req->error || req->resp.status >= 500;
	struct fng_cached e;
	struct fng_list waiters;

	fng__list_init(&waiters);
	if (!fng__list_empty(&f->waiters)) {
		waiters = f->waiters;
		waiters.next->prev = &waiters;
		waiters.prev->next = &waiters;
	}
	flight_free(f);
	if (req->error == FNG_ECLIENT_CLOSED || req->error == UV_ECANCELED) {
		/* The leader's client left and its answer with it: the waiters look again. */
		while (!fng__list_empty(&waiters)) {
			struct fng_cache_waiter *w = fng__container_of(waiters.next,
				struct fng_cache_waiter, link);
			struct fng_req *wr = w->req;
			int res;

			fng__list_remove(&w->link);
			wr->cache.waiter = NULL;
			w->timer.data = w;
			uv_close((uv_handle_t *)&w->timer, waiter_closed);
			res = lookup(wr, sc, false);
			if (res != FNG_STAGE_PENDING) {
				fng__req_resume(wr, res);
			}
		}
		return;
	}
	if (failed && cfg->stale_if_error_s && !req->cache.refresh &&
		sc->store->ops->get(sc->store, req->cache.key, req->cache.klen, now, &e) == 0 &&
		now < e.error_ms) {
		/* The refresh failed: the stale answer instead. */
		serve(req, &e, "stale", now);
		req->error = 0;
		sc->n.stale++;
	} else if (!failed && !req->cache.from_shared && storable(req, rc) &&
		as_entry(req, cfg, rc, now, &e) == 0 && e.fresh_ms > now) {
		if (sc->store->ops->put(sc->store, req->cache.key, req->cache.klen, &e) == 0) {
			sc->n.stored++;
			shared_store(req, sc, &e, now);
		}
	}
	/* Every waiter gets this answer. */
	while (!fng__list_empty(&waiters)) {
		struct fng_cache_waiter *w = fng__container_of(waiters.next, struct fng_cache_waiter,
			link);
		struct fng_cached a;
		int res = as_entry(req, cfg, rc, now, &a);

		if (res == 0) {
			res = serve(w->req, &a, req->cache.served ? req->cache.status :
				failed ? "miss" : "hit", now);
		}
		waiter_end(w, res);
	}
}

/* API Gateway's CacheHitCount and CacheMissCount, and what they leave out. */
static struct fng_metric_def m_cache = {
	"fngate_cache_requests_total",
	"Requests of a cached stage by result: hit, miss, stale (served expired), bypass.",
	FNG_METRIC_COUNTER, { "api", "stage", "result" },
};
static struct fng_metric_def *const cache_metrics[] = { &m_cache, NULL };

static int cache_store(struct fng_req *req)
{
	struct fng_cache_flight *f = req->cache.flight;
	char age[24];

	if (!req->cache.status && req->stage && req->stage->cache && !req->cache.refresh) {
		req->cache.status = "bypass"; /* refused before the cache stage: never cached */
	}
	if (!req->cache.status || req->cache.refresh) {
		if (f) {
			req->cache.flight = NULL;
			flight_end(req, f);
		}
		return FNG_STAGE_NEXT;
	}
	if (f) {
		req->cache.flight = NULL;
		flight_end(req, f);
	}
	fng__resp_header(req, "x-cache", 7, req->cache.status, strlen(req->cache.status));
	fng__stage_metric(req, &m_cache, req->cache.status);
	if (req->cache.served && strcmp(req->cache.status, "miss") != 0) {
		int n = snprintf(age, sizeof(age), "%" PRIu64, req->cache.age_s);

		fng__resp_header(req, "age", 3, age, (size_t)n);
	}
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_cache_store = {
	.name = "cache_store",
	.run = cache_store,
	.phase = FNG_PHASE_FINAL,
	.metrics = cache_metrics,
};

/* ---- background refresh (stale-while-revalidate) ---- */

static void refresh_respond(struct fng_req *req)
{
	req->bytes_out = req->resp.body.len;
}

static void refresh_finish(struct fng_req *req)
{
	struct fng_server *srv = req->srv;

	fng__req_destroy(req);
	srv->nevents--;
	fng__server_maybe_drained(srv);
}

static void refresh_log(struct fng_req *req, const char *line, size_t len)
{
	fng__server_log_line(req->srv, line, len);
}

static const struct fng_req_ops refresh_ops = {
	.respond = refresh_respond,
	.finish = refresh_finish,
	.log = refresh_log,
};

static struct fng_str dup_str(struct fng_req *r, struct fng_str s)
{
	char *p = fng__arena_strndup(r->arena, s.p ? s.p : "", s.len);

	return (struct fng_str){ p ? p : "", p ? s.len : 0 };
}

/* The stage table's index of "integration", where a refresh starts. */
static unsigned integration_index(void)
{
	for (unsigned i = 0; i < fng__nstages; i++) {
		if (strcmp(fng__stages[i]->name, "integration") == 0) {
			return i;
		}
	}
	return fng__nstages;
}

/*
 * One refresh of req's key, without a client: a copy of the request (what the integration
 * and the key read) that starts at the integration — the caller was checked when the stale
 * answer was served, and a refresh counts against no quota — and leads the key's flight, so
 * that misses meanwhile wait for it instead of calling the backend too.
 */
static void start_refresh(struct fng_req *req, struct stage_cache *sc)
{
	struct fng_req *r = fng__req_new_event(req->srv, req->cfg, &refresh_ops, req->body.p,
		req->body.len);

	if (!r) {
		return;
	}
	r->method = dup_str(r, req->method);
	r->target = dup_str(r, req->target);
	r->path = dup_str(r, req->path);
	r->query = dup_str(r, req->query);
	r->host = dup_str(r, req->host);
	r->route_path = dup_str(r, req->route_path);
	r->headers = fng__arena_alloc(r->arena, (req->nheaders + 1) * sizeof(*r->headers));
	for (unsigned i = 0; r->headers && i < req->nheaders; i++) {
		r->headers[i].name = dup_str(r, req->headers[i].name);
		r->headers[i].value = dup_str(r, req->headers[i].value);
	}
	r->nheaders = r->headers ? req->nheaders : 0;
	memcpy(r->ip, req->ip, sizeof(r->ip));
	r->peer = req->peer;
	r->api = req->api;
	r->stage = req->stage;
	r->match = req->match;
	for (unsigned i = 0; i < r->match.nparams; i++) {
		r->match.params[i].value = dup_str(r, req->match.params[i].value);
	}
	r->body_limit = req->body_limit;
	/* The trace of the request that found the answer stale (its tracestate dies with it). */
	fng__req_trace_join(r, req->trace.trace_id, req->trace.span_id, req->trace.flags, NULL);
	if (req->authz.set) {
		fng__req_authz_copy(r, &req->authz);
	}
	if (req->usage.key_id) {
		r->usage.key_id = fng__arena_strndup(r->arena, req->usage.key_id,
			strlen(req->usage.key_id));
	}
	r->cache.key = fng__arena_alloc(r->arena, req->cache.klen);
	if (!r->cache.key) {
		fng__req_destroy(r);
		return;
	}
	memcpy((void *)r->cache.key, req->cache.key, req->cache.klen);
	r->cache.klen = req->cache.klen;
	r->cache.refresh = true;
	r->cache.flight = flight_new(sc, r->cache.key, r->cache.klen);
	if (!r->cache.flight) {
		fng__req_destroy(r);
		return;
	}
	sc->n.refreshes++;
	r->stage_idx = integration_index();
	req->srv->nevents++;
	fng__req_run(r);
}

/* ---- the admin API's side ---- */

static uint64_t purge_local(struct fng_server *srv, const char *api, const char *stage,
	const char *route, const char *tag)
{
	struct fng_cache_loop *cl = srv->caches;
	size_t an = api ? strlen(api) : 0, sn = stage ? strlen(stage) : 0;
	uint64_t n = 0;

	if (cl) {
		FNG_HMAP_EACH(&cl->stages, h) {
			struct stage_cache *sc = fng__container_of(h, struct stage_cache, node);

			if (tag) {
				n += sc->store->ops->purge_tag(sc->store, tag, strlen(tag));
			} else if (sc->nlen == an + 1 + sn && memcmp(sc->name, api, an + 1) == 0 &&
				memcmp(sc->name + an + 1, stage, sn) == 0) {
				n += sc->store->ops->purge_prefix(sc->store, route ? route : "",
					route ? strlen(route) + 1 : 0);
			}
		}
	}
	return n;
}

/* ---- the shared cache (cluster.shared_caches: response; docs/config.md, "Cluster") ----
 *
 * Behind each node's store, one Redis entry per key: `PREFIX rc:GEN:API\0STAGE\0KEY` holding
 * the entry's wire form (state/cache.h) with PX the entry's latest window. GEN is one
 * generation for every shared stage (`PREFIX rcgen`): a purge of any kind increments it, so
 * every entry written before is out of reach at once (they expire by their PX) — coarser than
 * the purge asked for, but one command and never a scan. A leader reads the generation with
 * the entry (one script) and writes its answer only if the generation is still the one it
 * read, so an answer made before a purge cannot land after it. The purge is published on
 * `PREFIX rcinv` in the same script, and every node applies it to its own store.
 */

/* KEYS: the generation. ARGV: entry prefix, API\0STAGE\0KEY. { gen [, entry, pttl] }. */
static struct fng_cluster_script lookup_script = { .text =
	"local g = redis.call('GET', KEYS[1]) or '0'\n"
	"local k = ARGV[1] .. g .. ':' .. ARGV[2]\n"
	"local v = redis.call('GET', k)\n"
	"if not v then return { g } end\n"
	"return { g, v, redis.call('PTTL', k) }\n",
};

/* KEYS: the generation. ARGV: entry prefix, API\0STAGE\0KEY, generation read, entry, PX. */
static struct fng_cluster_script store_script = { .text =
	"if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[3] then return 0 end\n"
	"redis.call('SET', ARGV[1] .. ARGV[3] .. ':' .. ARGV[2], ARGV[4], 'PX', ARGV[5])\n"
	"return 1\n",
};

/* KEYS: the generation. ARGV: channel, message. */
static struct fng_cluster_script purge_script = { .text =
	"redis.call('INCR', KEYS[1])\n"
	"return redis.call('PUBLISH', ARGV[1], ARGV[2])\n",
};

static void on_invalidation(struct fng_cluster *c, const char *channel, size_t clen,
	const char *data, size_t dlen, void *arg);

/* The cluster client when the response cache is shared (subscribed once per loop). */
static struct fng_cluster *shared_cluster(struct fng_server *srv, const struct fng_config *cfg)
{
	struct fng_cluster *c;
	char ch[160];

	if (!cfg->cluster.share_response || !(c = fng__cluster(srv))) {
		return NULL;
	}
	if (srv->caches && !srv->caches->subscribed) {
		snprintf(ch, sizeof(ch), "%srcinv", fng__cluster_prefix(c));
		if (fng__cluster_subscribe(c, ch, on_invalidation, srv) == 0) {
			srv->caches->subscribed = true;
		}
	}
	return c;
}

/* "PREFIX" + suffix in a stack buffer: names are short (the prefix is at most 128). */
static size_t shared_name(struct fng_cluster *c, const char *suffix, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s%s", fng__cluster_prefix(c), suffix);

	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* API\0STAGE\0KEY in req's arena; NULL without memory. */
static char *shared_suffix(struct fng_req *req, struct stage_cache *sc, size_t *len)
{
	char *p = fng__arena_alloc(req->arena, sc->nlen + 1 + req->cache.klen);

	if (p) {
		memcpy(p, sc->name, sc->nlen);
		p[sc->nlen] = '\0';
		memcpy(p + sc->nlen + 1, req->cache.key, req->cache.klen);
		*len = sc->nlen + 1 + req->cache.klen;
	}
	return p;
}

static void on_lookup(struct fng_cluster *c, struct redisReply *reply, void *arg)
{
	struct fng_cache_ask *ask = arg;
	struct fng_req *req = ask->req;
	struct stage_cache *sc = ask->sc;
	int rc = FNG_STAGE_NEXT;

	(void)c;
	if (!req) {
		free(ask);
		return;
	}
	req->cache.ask = NULL;
	if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
		reply->element[0]->type == REDIS_REPLY_STRING) {
		char *end;
		unsigned long long g = strtoull(reply->element[0]->str, &end, 10);

		if (end != reply->element[0]->str && !*end) {
			req->cache.gen = g;
			req->cache.gen_set = true;
		}
	}
	if (reply && req->cache.gen_set && !ask->refresh && reply->elements == 3 &&
		reply->element[1]->type == REDIS_REPLY_STRING &&
		reply->element[2]->type == REDIS_REPLY_INTEGER) {
		const struct redisReply *v = reply->element[1];
		uint64_t now = uv_now(req->srv->loop);
		uint64_t total = fng__cache_wire_ttl_ms(v->str, v->len);
		long long pttl = reply->element[2]->integer;
		uint64_t waited = pttl >= 0 && (uint64_t)pttl < total ? total - (uint64_t)pttl : 0;
		struct fng_cache_hdr hdrs[FNG_CACHE_MAX_HEADERS];
		const char *tags[FNG_CACHE_MAX_TAGS];
		struct fng_cached e;

		if (fng__cache_decode(v->str, v->len, now, waited, &e, hdrs, tags) == 0 &&
			now < e.fresh_ms) {
			/* The local copy first (serve() copies from e, which points into reply). */
			sc->store->ops->put(sc->store, req->cache.key, req->cache.klen, &e);
			rc = serve(req, &e, "hit", now);
			req->cache.from_shared = true;
			sc->n.hits++;
			sc->n.shared_hits++;
		}
	}
	if (rc == FNG_STAGE_NEXT) {
		sc->n.misses++;
	}
	free(ask);
	fng__req_resume(req, rc);
}

/*
 * A leader's local miss asks Redis before the integration runs: FNG_STAGE_PENDING while it
 * does (on_lookup resumes it exactly once: with the entry, or as a miss when Redis has none,
 * is down or slow — the client's timeout, never a failure), FNG_STAGE_NEXT when not shared
 * or the question could not be sent.
 */
static int shared_ask(struct fng_req *req, struct stage_cache *sc, bool refresh)
{
	struct fng_cluster *c = shared_cluster(req->srv, req->cfg);
	char gen[160], pre[160];
	struct fng_cache_ask *ask;
	size_t slen = 0, glen, plen;
	char *suffix;

	if (!c || !fng__cluster_up(c)) {
		return FNG_STAGE_NEXT;
	}
	glen = shared_name(c, "rcgen", gen, sizeof(gen));
	plen = shared_name(c, "rc:", pre, sizeof(pre));
	suffix = shared_suffix(req, sc, &slen);
	ask = suffix && glen && plen ? calloc(1, sizeof(*ask)) : NULL;
	if (!ask) {
		return FNG_STAGE_NEXT;
	}
	{
		const char *argv[3] = { gen, pre, suffix };
		size_t lens[3] = { glen, plen, slen };

		*ask = (struct fng_cache_ask){ req, sc, refresh };
		if (fng__cluster_eval(c, &lookup_script, 1, 3, argv, lens, on_lookup, ask) != 0) {
			free(ask);
			return FNG_STAGE_NEXT;
		}
	}
	req->cache.ask = ask;
	return FNG_STAGE_PENDING;
}

/* A leader's stored answer goes to Redis too (fire and forget) when it read the generation,
 * and within cluster.shared_cache_entry_bytes. A client's refresh (Cache-Control: max-age=0)
 * also tells the other nodes to drop their copy of the key. */
static void shared_publish(struct fng_cluster *c, const char *msg, size_t mlen, bool bump);

static void shared_store(struct fng_req *req, struct stage_cache *sc,
	const struct fng_cached *e, uint64_t now)
{
	struct fng_cluster *c = req->cache.gen_set ? shared_cluster(req->srv, req->cfg) : NULL;
	char gen[160], pre[160], g[24], px[24];
	struct fng_buf v = { 0 };
	size_t slen = 0, glen, plen;
	char *suffix;

	if (!c) {
		return;
	}
	glen = shared_name(c, "rcgen", gen, sizeof(gen));
	plen = shared_name(c, "rc:", pre, sizeof(pre));
	suffix = shared_suffix(req, sc, &slen);
	if (suffix && glen && plen && fng__cache_encode(e, now, &v) == 0 && v.p &&
		v.len <= req->cfg->cluster.shared_entry_max) {
		int gl = snprintf(g, sizeof(g), "%" PRIu64, req->cache.gen);
		int xl = snprintf(px, sizeof(px), "%" PRIu64, fng__cache_wire_ttl_ms(v.p, v.len));
		const char *argv[6] = { gen, pre, suffix, g, v.p, px };
		size_t lens[6] = { glen, plen, slen, (size_t)gl, v.len, (size_t)xl };

		fng__cluster_eval(c, &store_script, 1, 6, argv, lens, NULL, NULL);
	}
	fng__buf_finish(&v);
	if (req->cache.invalidate) {
		/* "NODE\0k" API\0STAGE\0KEY: the others drop their copy of this key. */
		const char *node = fng__cluster_node_id(c);
		size_t nl = strlen(node) + 1;
		char *m = suffix ? fng__arena_alloc(req->arena, nl + 1 + slen) : NULL;

		if (m) {
			memcpy(m, node, nl);
			m[nl] = 'k';
			memcpy(m + nl + 1, suffix, slen);
			/* Not a purge: the answer just written stays, under the same generation;
			 * sent after it on one connection, so a node that hears this finds it. */
			shared_publish(c, m, nl + 1 + slen, false);
		}
	}
}

/* Publishes msg ("NODE\0" then the purge) on PREFIX rcinv; with bump, in one script with the
 * generation's increment. */
static void shared_publish(struct fng_cluster *c, const char *msg, size_t mlen, bool bump)
{
	char gen[160], ch[160];
	size_t glen = shared_name(c, "rcgen", gen, sizeof(gen));
	size_t clen = shared_name(c, "rcinv", ch, sizeof(ch));
	const char *argv[3] = { gen, ch, msg };
	size_t lens[3] = { glen, clen, mlen };

	if (!glen || !clen) {
		return;
	}
	if (bump) {
		fng__cluster_eval(c, &purge_script, 1, 3, argv, lens, NULL, NULL);
	} else {
		argv[0] = "PUBLISH";
		lens[0] = 7;
		fng__cluster_command(c, 3, argv, lens, NULL, NULL);
	}
}

/* Splits "A\0B\0REST" (the last part may be empty); false when a part is missing. */
static bool split2(const char *p, size_t n, const char **a, const char **b, const char **rest,
	size_t *rlen)
{
	const char *z1 = memchr(p, '\0', n), *z2;

	if (!z1 || !(z2 = memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - p)))) {
		return false;
	}
	*a = p;
	*b = z1 + 1;
	*rest = z2 + 1;
	*rlen = n - (size_t)(z2 + 1 - p);
	return true;
}

/*
 * Another node's purge, from `PREFIX rcinv` (Redis' bytes: checked like a client's):
 *   NODE\0 s API\0STAGE\0[ROUTE]    a stage (or one route of it)
 *   NODE\0 t TAG                     a tag, in every stage
 *   NODE\0 k API\0STAGE\0KEY        one key (a client's refresh)
 * This node's own messages are skipped: it purged before publishing.
 */
static void on_invalidation(struct fng_cluster *c, const char *channel, size_t clen,
	const char *data, size_t dlen, void *arg)
{
	struct fng_server *srv = arg;
	const char *node = fng__cluster_node_id(c), *z = memchr(data, '\0', dlen);
	const char *a, *b, *rest;
	size_t nl = strlen(node), rlen, off;
	char *copy;

	(void)channel;
	(void)clen;
	if (!z || ((size_t)(z - data) == nl && memcmp(data, node, nl) == 0) ||
		(size_t)(z - data) + 2 > dlen) {
		return;
	}
	off = (size_t)(z - data) + 2;
	/* A NUL-terminated copy: the purge functions take C strings. */
	copy = malloc(dlen - off + 1);
	if (!copy) {
		return;
	}
	memcpy(copy, data + off, dlen - off);
	copy[dlen - off] = '\0';
	switch (data[off - 1]) {
	case 't':
		if (fng__cache_tag_ok(copy, dlen - off)) {
			purge_local(srv, NULL, NULL, NULL, copy);
		}
		break;
	case 's':
		if (split2(copy, dlen - off, &a, &b, &rest, &rlen) && !memchr(rest, '\0', rlen)) {
			purge_local(srv, a, b, rlen ? rest : NULL, NULL);
		}
		break;
	case 'k':
		if (split2(copy, dlen - off, &a, &b, &rest, &rlen)) {
			struct fng_cache_loop *cl = srv->caches;

			if (cl) {
				FNG_HMAP_EACH(&cl->stages, h) {
					struct stage_cache *sc = fng__container_of(h,
						struct stage_cache, node);

					if (sc->nlen == (size_t)(rest - 1 - a) &&
						memcmp(sc->name, a, sc->nlen) == 0) {
						sc->store->ops->del(sc->store, rest, rlen);
					}
				}
			}
		}
		break;
	default:
		break;
	}
	free(copy);
}

/*
 * The admin API's purge: this node's store now, then (shared) every other node's and Redis'
 * through one script. Returns how many entries this node dropped.
 */
uint64_t fng__cache_purge(struct fng_server *srv, const char *api, const char *stage,
	const char *route, const char *tag)
{
	uint64_t n = purge_local(srv, api, stage, route, tag);
	struct fng_cluster *c = shared_cluster(srv, srv->cfg);
	const char *node;
	struct fng_buf m = { 0 };

	if (!c) {
		return n;
	}
	node = fng__cluster_node_id(c);
	fng__buf_append(&m, node, strlen(node) + 1);
	if (tag) {
		fng__buf_append(&m, "t", 1);
		fng__buf_append(&m, tag, strlen(tag));
	} else {
		fng__buf_append(&m, "s", 1);
		fng__buf_append(&m, api, strlen(api) + 1);
		fng__buf_append(&m, stage, strlen(stage) + 1);
		if (route) {
			fng__buf_append(&m, route, strlen(route));
		}
	}
	if (m.p) {
		shared_publish(c, m.p, m.len, true);
	}
	fng__buf_finish(&m);
	return n;
}

void fng__cache_stats_json(struct fng_server *srv, struct fng_buf *b)
{
	struct fng_cache_loop *cl = srv->caches;
	unsigned k = 0;

	fng__buf_str(b, "{\"stages\":[");
	if (cl) {
		FNG_HMAP_EACH(&cl->stages, h) {
			struct stage_cache *sc = fng__container_of(h, struct stage_cache, node);
			struct fng_cache_stats st;

			sc->store->ops->stats(sc->store, &st);
			fng__buf_str(b, k++ ? ",{\"api\":\"" : "{\"api\":\"");
			fng__buf_json_escape(b, sc->name, strlen(sc->name));
			fng__buf_str(b, "\",\"stage\":\"");
			fng__buf_json_escape(b, sc->name + strlen(sc->name) + 1,
				sc->nlen - strlen(sc->name) - 1);
			fng__buf_printf(b, "\",\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64
				",\"capacity\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
				",\"stale\":%" PRIu64 ",\"coalesced\":%" PRIu64 ",\"bypass\":%" PRIu64
				",\"stored\":%" PRIu64 ",\"refreshes\":%" PRIu64 ",\"evictions\":%" PRIu64
				",\"inFlight\":%zu,\"sharedHits\":%" PRIu64 "}", st.entries,
				st.bytes, st.capacity, sc->n.hits, sc->n.misses, sc->n.stale,
				sc->n.coalesced, sc->n.bypass, sc->n.stored, sc->n.refreshes,
				st.evictions, sc->flights.n, sc->n.shared_hits);
		}
	}
	fng__buf_str(b, "]}");
}

void fng__cache_loop_free(struct fng_server *srv)
{
	struct fng_cache_loop *cl = srv->caches;

	if (!cl) {
		return;
	}
	FNG_HMAP_EACH(&cl->stages, h) {
		struct stage_cache *sc = fng__container_of(h, struct stage_cache, node);

		sc->store->ops->destroy(sc->store);
		fng__hmap_finish(&sc->flights);
		free(sc);
	}
	fng__hmap_finish(&cl->stages);
	free(cl);
	srv->caches = NULL;
}

/*
 * The admin API's /@cache (registered by the daemon):
 *   GET    /@cache                             every stage cache's figures
 *   DELETE /@cache/stages/{api}/{stage}        flush a stage (?route=ROUTE-KEY: one route)
 *   DELETE /@cache/tags/{tag}                  every entry tagged tag, in every stage
 */
static int admin_json(struct fng_req *req, struct fng_buf *b)
{
	req->resp.status = 200;
	fng__resp_header(req, "content-type", 12, "application/json", 16);
	fng__buf_append(&req->resp.body, b->p, b->len);
	fng__buf_str(&req->resp.body, "\n");
	fng__buf_finish(b);
	return FNG_STAGE_DONE;
}

static int cache_admin(struct fng_req *req, struct fng_str rest)
{
	struct fng_buf b = { 0 };
	char api[129], stage[129], tag[129], path[300];
	struct fng_str route = { NULL, 0 };
	uint64_t n;

	if (rest.len >= sizeof(path)) {
		req->error_detail = "cache path too long";
		return FNG_ENOT_FOUND;
	}
	memcpy(path, rest.p, rest.len);
	path[rest.len] = '\0';

	if (rest.len <= 1) {
		if (!fng__str_eq(req->method, "GET", 3)) {
			return fng__admin_method_not_allowed(req, "GET", NULL, NULL);
		}
		fng__cache_stats_json(req->srv, &b);
		return admin_json(req, &b);
	}
	if (!fng__str_eq(req->method, "DELETE", 6)) {
		return fng__admin_method_not_allowed(req, "DELETE", NULL, NULL);
	}
	if (rest.len > 6 && memcmp(rest.p, "/tags/", 6) == 0 && rest.len - 6 < sizeof(tag) &&
		!memchr(rest.p + 6, '/', rest.len - 6)) {
		/* A tag may hold '/', sent as %2F: decoded, then checked by the handlers' rule. */
		long tl = fng__pct_decode(tag, rest.p + 6, rest.len - 6);

		if (tl <= 0 || !fng__cache_tag_ok(tag, (size_t)tl)) {
			req->error_detail = "a tag is 1-128 characters of A-Z a-z 0-9 . _ : / -";
			return FNG_EBAD_REQUEST;
		}
		tag[tl] = '\0';
		n = fng__cache_purge(req->srv, NULL, NULL, NULL, tag);
	} else if (rest.len > 8 && memcmp(rest.p, "/stages/", 8) == 0 &&
		sscanf(path + 8, "%128[^/]/%128[^/]", api, stage) == 2 &&
		strlen(api) + strlen(stage) + 9 == rest.len) {
		char *r = NULL;

		if (fng__req_query(req, FNG_STR("route"), &route)) {
			r = fng__arena_strndup(req->arena, route.p, route.len);
			if (!r) {
				return -ENOMEM;
			}
		}
		n = fng__cache_purge(req->srv, api, stage, r, NULL);
	} else {
		req->error_detail = "cache paths: /@cache, /@cache/stages/{api}/{stage}[?route=KEY], "
			"/@cache/tags/{tag}";
		return FNG_ENOT_FOUND;
	}
	fng__buf_printf(&b, "{\"purged\":%" PRIu64 "}", n);
	return admin_json(req, &b);
}

const struct fng_admin_ext fng__cache_admin = { "/@cache", cache_admin };
