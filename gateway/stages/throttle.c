// SPDX-License-Identifier: MIT
/*
 * Throttling, two stages of one module:
 *
 * "throttle" (head phase, after "authorize": the caller is known, nothing else has been
 * spent) asks the loop's bucket store (core/limit.h) about the buckets that apply: on a
 * WebSocket API's opening handshake its connect throttle (per client), then in API Gateway's
 * order the per-client buckets (a key's usage plan's, then the route's and the stage's), the
 * route's (per stage), the stage's, the gateway's.
 * The first empty bucket refuses with a 429 that names it and nothing is taken from the
 * others; otherwise one token is taken from each. With `cluster:` the buckets are shared by
 * the nodes (state/climits.h): the decision comes from a lease at once or after a round trip
 * to Redis, the stage pending meanwhile.
 *
 * "throttle_headers" (final phase) adds Retry-After to that 429 and, on an API with
 * rate_limit_headers, RateLimit-Limit/-Remaining/-Reset (the tightest bucket) to every
 * answer the throttle decided about.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "cidr.h"
#include "climits.h"
#include "errors.h"
#include "limit.h"
#include "metrics.h"
#include "server.h"
#include "stages.h"
#include "throttle.h"

/* ---- configuration ---- */

#define TOFF(member) offsetof(struct fng_throttle, member)

static const struct fng_conf_key bucket_keys[] = {
	{ "rate", FNG_CONF_U32, TOFF(rate), 0, 1, 1000000, .required = true },
	{ "burst", FNG_CONF_U32, TOFF(burst), 0, 0, 1000000, .required = true },
	{ NULL },
};

int fng__throttle_bucket_parse(struct fng_conf *L, const struct fng_conf_node *v,
	struct fng_throttle *t, const char *what)
{
	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, what)) {
		return -1;
	}
	return fng__conf_apply(L, v, bucket_keys, t, what);
}

int fng__stage_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__throttle_bucket_parse(L, v, &((struct fng_stage *)obj)->throttle, "throttle");
}

int fng__server_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__throttle_bucket_parse(L, v, &((struct fng_config *)obj)->throttle.gateway,
		"server.throttle");
}

void fng__route_throttles_resolve(struct fng_conf *L, const struct fng_api *api,
	struct fng_route_throttle *rts, unsigned n)
{
	for (unsigned j = 0; j < n; j++) {
		struct fng_route_throttle *rt = &rts[j];
		struct fng_conf_node at = { .line = rt->line, .col = rt->col, .s = "" };

		for (unsigned k = 0; k < api->nroutes && !rt->route; k++) {
			if (strcmp(api->routes[k].key, rt->key) == 0) {
				rt->route = &api->routes[k];
			}
		}
		if (!rt->route) {
			fng__conf_err(L, &at, "route_throttles: API \"%s\" has no route \"%s\"",
				api->name, rt->key);
		}
	}
}

void fng__api_throttles_finish(struct fng_conf *L, struct fng_api *api)
{
	for (unsigned i = 0; i < api->nstages; i++) {
		fng__route_throttles_resolve(L, api, api->stages[i].route_throttles,
			api->stages[i].nroute_throttles);
	}
}

int fng__client_throttle_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_stage *s = obj;

	if (!v) {
		return 0;
	}
	s->client_throttle = fng__client_throttle_parse(L, v, "client_throttle");
	return s->client_throttle ? 0 : -1;
}

/*
 * A route's entry is one bucket for everyone, or with `identity` one per client (a usage
 * plan's per-route throttle): the keys of client_throttle (config/client_throttle.c).
 */
int fng__route_throttles_parse(struct fng_conf *L, const struct fng_conf_node *v,
	struct fng_route_throttle **out, unsigned *nout)
{
	struct fng_route_throttle *rts;
	unsigned n = 0;

	if (!fng__conf_want(L, v, FNG_CONF_MAP, "route_throttles")) {
		return -1;
	}
	rts = fng__arena_zalloc(L->cfg->arena, (v->n / 2 + 1) * sizeof(*rts));
	if (!rts) {
		fng__conf_err(L, v, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i], *body = v->kids[i + 1];
		struct fng_route_throttle *rt = &rts[n];
		const struct fng_client_throttle *ct;

		if (!fng__conf_want(L, k, FNG_CONF_SCALAR, "route_throttles key") ||
			!(rt->key = fng__conf_str(L, k, "route key"))) {
			continue;
		}
		rt->line = k->line;
		rt->col = k->col;
		if (!(ct = fng__client_throttle_parse(L, body, "route_throttles"))) {
			continue;
		}
		rt->t = ct->t;
		rt->client = fng__conf_lookup(body, "identity") ? ct : NULL;
		n++;
	}
	*out = rts;
	*nout = n;
	return 0;
}

int fng__route_throttles_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_stage *s = obj;

	return v ? fng__route_throttles_parse(L, v, &s->route_throttles, &s->nroute_throttles) : 0;
}

/* ---- the stage ---- */

/* Per client first (this client's or this key's), then shared. */
enum level {
	LEVEL_CONNECT, LEVEL_PLAN_ROUTE, LEVEL_PLAN, LEVEL_CLIENT_ROUTE, LEVEL_CLIENT, LEVEL_ROUTE,
	LEVEL_STAGE, LEVEL_GATEWAY,
};
#define MAX_ASKS 8

/* The level label of a refusal, by enum level. */
static const char *const level_names[] = { "connect", "plan_route", "plan", "client_route",
	"client", "route", "stage", "gateway" };

static struct fng_metric_def m_refused = {
	"fngate_throttle_refusals_total",
	"Requests refused with 429 by a token bucket, by the level that refused.",
	FNG_METRIC_COUNTER, { "api", "stage", "level" },
};
static struct fng_metric_def *const throttle_metrics[] = { &m_refused, NULL };

/* A bucket's name: a level letter, the API and stage, and what is particular to it. */
static char *bucket_name(struct fng_req *req, char level, const void *tail, size_t tlen,
	size_t *len)
{
	size_t an = strlen(req->api->name), sn = strlen(req->stage->name);
	char *k = fng__arena_alloc(req->arena, 3 + an + sn + tlen);

	if (!k) {
		return NULL;
	}
	k[0] = level;
	memcpy(k + 1, req->api->name, an + 1);
	memcpy(k + 2 + an, req->stage->name, sn + 1);
	memcpy(k + 3 + an + sn, tail, tlen);
	*len = 3 + an + sn + tlen;
	return k;
}

/*
 * The client's identity: 'i' and its address (IPv4 as 4 bytes, IPv6 cut to the prefix), or
 * 'p', 'c', 'k' and the principal, claim or key. A request without the identity asked for
 * (no authorizer, no such claim, no key) is counted by its address.
 */
static const void *identity(struct fng_req *req, const struct fng_client_throttle *ct,
	size_t *len)
{
	const char *v = NULL;
	size_t vlen = 0;
	char tag = 'i', *out;
	uint8_t ip[16];
	struct fng_ip a = { 0, 0 };

	if (ct->identity == FNG_THROTTLE_PRINCIPAL && req->authz.principal) {
		v = req->authz.principal;
		vlen = strlen(v);
		tag = 'p';
	} else if (ct->identity == FNG_THROTTLE_CLAIM) {
		for (size_t i = 0; i < req->authz.nctx && !v; i++) {
			const struct fng_wire_kv *kv = &req->authz.ctx[i];

			if (kv->k.len == ct->ctx_len && memcmp(kv->k.p, ct->ctx_name, kv->k.len) == 0) {
				v = kv->v.p;
				vlen = kv->v.len;
				tag = 'c';
			}
		}
	} else if (ct->identity == FNG_THROTTLE_API_KEY && req->usage.key_id) {
		/* The key's id, once stage "apikey" has accepted it: never what a client made up. */
		v = req->usage.key_id;
		vlen = strlen(v);
		tag = 'k';
	}
	if (!v) {
		memset(ip, 0, sizeof(ip));
		if (fng__ip_parse(req->ip, strlen(req->ip), &a)) {
			for (int i = 0; i < 8; i++) {
				ip[i] = (uint8_t)(a.hi >> (56 - 8 * i));
				ip[8 + i] = (uint8_t)(a.lo >> (56 - 8 * i));
			}
		}
		if (a.hi == 0 && (a.lo >> 32) == 0xffff) {
			v = (const char *)ip + 12; /* IPv4 (mapped) */
			vlen = 4;
		} else {
			unsigned bits = ct->ipv6_prefix;

			vlen = (bits + 7) / 8;
			if (bits % 8) {
				ip[vlen - 1] &= (uint8_t)(0xff << (8 - bits % 8));
			}
			v = (const char *)ip;
		}
	}
	out = fng__arena_alloc(req->arena, vlen + 1);
	if (!out) {
		return NULL;
	}
	out[0] = tag;
	memcpy(out + 1, v, vlen);
	*len = vlen + 1;
	return out;
}

/* A per-client ask: level letter, API, stage, what (the route key or ""), '\0', identity. */
static int add_client(struct fng_req *req, const struct fng_client_throttle *ct, char level,
	const char *what, struct fng_limit_ask *a)
{
	size_t ilen, wlen = strlen(what);
	const void *id = identity(req, ct, &ilen);
	char *tail;

	if (!id || !(tail = fng__arena_alloc(req->arena, wlen + 1 + ilen))) {
		return -ENOMEM;
	}
	memcpy(tail, what, wlen + 1);
	memcpy(tail + wlen + 1, id, ilen);
	a->key = bucket_name(req, level, tail, wlen + 1 + ilen, &a->klen);
	a->rate = ct->t.rate;
	a->burst = ct->t.burst;
	return a->key ? 0 : -ENOMEM;
}

/* "Too Many Requests: <which bucket> (R/s, burst B) is exhausted", in the request's arena. */
static const char *level_text(struct fng_req *req, enum level lv, const struct fng_limit_ask *a,
	const struct fng_route *route)
{
	const char *who = lv == LEVEL_PLAN_ROUTE || lv == LEVEL_PLAN ? "this key's" :
		lv <= LEVEL_CLIENT ? "this client's" : lv == LEVEL_GATEWAY ? "the gateway's" : "the";
	const char *stage = req->stage->name;
	const char *plan = req->usage.plan ? req->usage.plan->name : "";
	size_t size = 200 + strlen(stage) + strlen(plan) + strlen(req->api->name) +
		(route ? strlen(route->key) : 0);
	char *m = fng__arena_alloc(req->arena, size);
	int n;

	if (!m) {
		return NULL;
	}
	n = snprintf(m, size, "Too Many Requests: %s %sthrottle", who,
		lv == LEVEL_CONNECT ? "WebSocket connection " : "");
	if (lv == LEVEL_CONNECT) {
		n += snprintf(m + n, size - (size_t)n, " of API \"%s\" on stage \"%s\"",
			req->api->name, stage);
	} else if (lv == LEVEL_PLAN_ROUTE) {
		n += snprintf(m + n, size - (size_t)n, " of route \"%s\" in usage plan \"%s\"",
			route->key, plan);
	} else if (lv == LEVEL_PLAN) {
		n += snprintf(m + n, size - (size_t)n, " of usage plan \"%s\"", plan);
	} else if (lv == LEVEL_CLIENT_ROUTE || lv == LEVEL_ROUTE) {
		n += snprintf(m + n, size - (size_t)n, " of route \"%s\" on stage \"%s\"",
			route->key, stage);
	} else if (lv != LEVEL_GATEWAY) {
		n += snprintf(m + n, size - (size_t)n, " %s stage \"%s\"",
			lv == LEVEL_CLIENT ? "on" : "of", stage);
	}
	snprintf(m + n, size - (size_t)n, " (%" PRIu32 "/s, burst %" PRIu32 ") is exhausted",
		a->rate, a->burst);
	return m;
}

/* Whole seconds, rounded up. */
static uint32_t secs_up(uint64_t ns)
{
	uint64_t s = (ns + 999999999ULL) / 1000000000ULL;

	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/*
 * A usage plan's buckets for the request's key: the plan's throttle of its route on this
 * stage ('P', named by API, stage, plan, route and key id), then the plan's own ('p', by plan
 * and key id: one bucket per key across the plan's stages, as API Gateway's).
 */
static int plan_asks(struct fng_req *req, const struct fng_route *route,
	struct fng_limit_ask *asks, enum level *levels, unsigned *n)
{
	const struct fng_usage_plan *p = req->usage.plan;
	const struct fng_plan_stage *ps = req->usage.ps;
	size_t pn = strlen(p->name), kn = strlen(req->usage.key_id);

	for (unsigned i = 0; route && ps && i < ps->nroute_throttles; i++) {
		const struct fng_route_throttle *rt = &ps->route_throttles[i];
		size_t rn = strlen(route->key);
		char *tail;

		if (rt->route != route) {
			continue;
		}
		tail = fng__arena_alloc(req->arena, pn + rn + kn + 2);
		if (!tail) {
			return -ENOMEM;
		}
		memcpy(tail, p->name, pn + 1);
		memcpy(tail + pn + 1, route->key, rn + 1);
		memcpy(tail + pn + rn + 2, req->usage.key_id, kn);
		asks[*n].key = bucket_name(req, 'P', tail, pn + rn + kn + 2, &asks[*n].klen);
		if (!asks[*n].key) {
			return -ENOMEM;
		}
		asks[*n].rate = rt->t.rate;
		asks[*n].burst = rt->t.burst;
		levels[(*n)++] = LEVEL_PLAN_ROUTE;
		break;
	}
	if (p->throttle.rate) {
		char *k = fng__arena_alloc(req->arena, pn + kn + 2);

		if (!k) {
			return -ENOMEM;
		}
		k[0] = 'p';
		memcpy(k + 1, p->name, pn + 1);
		memcpy(k + pn + 2, req->usage.key_id, kn);
		asks[*n] = (struct fng_limit_ask){ k, pn + kn + 2, p->throttle.rate,
			p->throttle.burst };
		levels[(*n)++] = LEVEL_PLAN;
	}
	return 0;
}

/* A decision a shared store (state/climits.h) answers later: what the answer is read with. */
struct pend {
	struct fng_limit_wait w;
	struct fng_req *req;
	struct fng_limit_store *store;
	const struct fng_route *route;
	struct fng_limit_ask asks[MAX_ASKS];
	enum level levels[MAX_ASKS];
	struct fng_limit_answer ans;
};

/* The store's answer: 429 naming the refusing bucket, or on to the next stage. */
static int decided(struct fng_req *req, const struct fng_limit_answer *ans,
	const struct fng_limit_ask *asks, const enum level *levels, const struct fng_route *route)
{
	req->throttle.set = true;
	req->throttle.limit = ans->limit;
	req->throttle.remaining = ans->remaining;
	req->throttle.reset_s = secs_up(ans->reset_ns);
	if (ans->refused < 0) {
		return FNG_STAGE_NEXT;
	}
	req->throttle.retry_after_s = secs_up(ans->retry_ns);
	if (req->throttle.retry_after_s == 0) {
		req->throttle.retry_after_s = 1;
	}
	req->error_detail = level_text(req, levels[ans->refused], &asks[ans->refused], route);
	fng__stage_metric(req, &m_refused, level_names[levels[ans->refused]]);
	return FNG_ETHROTTLED;
}

/* Redis does not answer and limits fail closed (cluster.limits_on_failure), or an error. */
static int undecided(struct fng_req *req, int err)
{
	if (err == FNG_CLIMITS_DOWN) {
		req->error_detail = "Service Unavailable: the shared rate limits cannot be checked";
		return FNG_EUNAVAILABLE;
	}
	return err;
}

static void pend_done(struct fng_limit_wait *w, int rc)
{
	struct pend *p = fng__container_of(w, struct pend, w);
	struct fng_req *req = p->req;

	req->throttle.pend = NULL;
	fng__req_resume(req, rc ? undecided(req, rc) :
		decided(req, &p->ans, p->asks, p->levels, p->route));
}

static void throttle_cancel(struct fng_req *req)
{
	struct pend *p = req->throttle.pend;

	if (p) {
		p->store->ops->cancel(p->store, &p->w);
		req->throttle.pend = NULL;
	}
	fng__req_resume(req, FNG_ECLIENT_CLOSED);
}

static int throttle(struct fng_req *req)
{
	const struct fng_stage *st = req->stage;
	const struct fng_route *route = req->match.route;
	const struct fng_throttle *gw = &req->cfg->throttle.gateway;
	const struct fng_route_throttle *rt = NULL;
	struct fng_limit_ask asks[MAX_ASKS];
	enum level levels[MAX_ASKS];
	struct fng_limit_answer ans;
	struct fng_limit_store *store;
	unsigned n = 0;
	int err;

	if (req->event != FNG_EVENT_NONE || !req->api || !st || !req->srv) {
		return FNG_STAGE_NEXT;
	}
	for (unsigned i = 0; route && i < st->nroute_throttles && !rt; i++) {
		if (st->route_throttles[i].route == route) {
			rt = &st->route_throttles[i];
		}
	}
	/*
	 * A WebSocket API's connect throttle, on an opening handshake only (ws.accept: the route
	 * stage checked it) and before every other bucket: a storm of handshakes from one client
	 * is refused before $connect runs and before it spends the shared buckets' tokens.
	 */
	if (req->ws.accept && req->api->ws.connect_throttle) {
		if (add_client(req, req->api->ws.connect_throttle, 'W', "", &asks[n]) != 0) {
			return -ENOMEM;
		}
		levels[n++] = LEVEL_CONNECT;
	}
	/* Then the key's usage plan: its route's bucket, then the plan's own, per key. */
	if (req->usage.plan && req->usage.key_id) {
		if (plan_asks(req, route, asks, levels, &n) != 0) {
			return -ENOMEM;
		}
	}
	/* Per client (the route's, then the stage's), then shared: route, stage, gateway. */
	if (rt && rt->client) {
		if (add_client(req, rt->client, 'C', route->key, &asks[n]) != 0) {
			return -ENOMEM;
		}
		levels[n++] = LEVEL_CLIENT_ROUTE;
	}
	if (st->client_throttle) {
		if (add_client(req, st->client_throttle, 'c', "", &asks[n]) != 0) {
			return -ENOMEM;
		}
		levels[n++] = LEVEL_CLIENT;
	}
	if (rt && !rt->client) {
		asks[n].key = bucket_name(req, 'r', route->key, strlen(route->key), &asks[n].klen);
		if (!asks[n].key) {
			return -ENOMEM;
		}
		asks[n].rate = rt->t.rate;
		asks[n].burst = rt->t.burst;
		levels[n++] = LEVEL_ROUTE;
	}
	if (st->throttle.rate) {
		if (!(asks[n].key = bucket_name(req, 's', "", 0, &asks[n].klen))) {
			return -ENOMEM;
		}
		asks[n].rate = st->throttle.rate;
		asks[n].burst = st->throttle.burst;
		levels[n++] = LEVEL_STAGE;
	}
	if (gw->rate) {
		asks[n] = (struct fng_limit_ask){ "g", 1, gw->rate, gw->burst };
		levels[n++] = LEVEL_GATEWAY;
	}
	if (n == 0) {
		return FNG_STAGE_NEXT;
	}
	if ((store = fng__climits_store(req->srv))) {
		/* Shared across nodes: answered from a lease at once, or after a round trip. */
		struct pend *p = fng__arena_zalloc(req->arena, sizeof(*p));

		if (!p) {
			return -ENOMEM;
		}
		p->req = req;
		p->store = store;
		p->route = route;
		p->w.done = pend_done;
		memcpy(p->asks, asks, n * sizeof(asks[0]));
		memcpy(p->levels, levels, n * sizeof(levels[0]));
		err = store->ops->take_wait(store, asks, n, uv_hrtime(), &p->ans, &p->w);
		if (err == FNG_LIMIT_PENDING) {
			req->throttle.pend = p;
			return FNG_STAGE_PENDING;
		}
		return err ? undecided(req, err) : decided(req, &p->ans, asks, levels, route);
	}
	if (!(store = fng__server_limits(req->srv, req->cfg->throttle.memory_bytes))) {
		return -ENOMEM;
	}
	err = store->ops->take(store, asks, n, uv_hrtime(), &ans);
	if (err) {
		return err;
	}
	return decided(req, &ans, asks, levels, route);
}

const struct fng_stage_def fng__stage_throttle = {
	.name = "throttle",
	.run = throttle,
	.phase = FNG_PHASE_HEAD,
	.metrics = throttle_metrics,
	.cancel = throttle_cancel,
};

static void header_u32(struct fng_req *req, const char *name, uint32_t v)
{
	char s[16];
	int n = snprintf(s, sizeof(s), "%" PRIu32, v);

	fng__resp_header(req, name, strlen(name), s, (size_t)n);
}

static int throttle_headers(struct fng_req *req)
{
	if (!req->throttle.set) {
		return FNG_STAGE_NEXT;
	}
	if (req->error == FNG_ETHROTTLED && req->throttle.retry_after_s) {
		header_u32(req, "retry-after", req->throttle.retry_after_s);
	}
	if (req->api && req->api->rate_limit_headers) {
		header_u32(req, "ratelimit-limit", req->throttle.limit);
		header_u32(req, "ratelimit-remaining", req->throttle.remaining);
		header_u32(req, "ratelimit-reset", req->throttle.reset_s);
	}
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_throttle_headers = {
	.name = "throttle_headers",
	.run = throttle_headers,
	.phase = FNG_PHASE_FINAL,
};
