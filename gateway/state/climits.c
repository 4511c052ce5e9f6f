// SPDX-License-Identifier: MIT
/*
 * The shared token-bucket store (climits.h): core/limit.h's seam on Redis, asked by stage
 * "throttle" once per request when `cluster:` is configured. A request's buckets (its asks,
 * 1 to 8 of them) make a combination; the node holds a lease per combination: tokens taken
 * from every one of its buckets at once by one Lua script and spent locally without a round
 * trip. Requests that find no token wait for the one script in flight for their combination
 * (never one script each), and a refusal is remembered until the refusing bucket has a token
 * again, so an overloaded route costs about one round trip per token, not per request.
 *
 * Bucket state lives in Redis only (one key per bucket: its tat in microseconds of Redis'
 * clock, TIME, so that the nodes' clocks never meet); what a node holds is tokens already
 * counted there. When Redis cannot answer, decisions use a local store of rate/N, burst/N
 * or answer 503 (cluster.limits_on_failure), with a log line on each change and a metric.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "climits.h"
#include "cluster.h"
#include "cluster_node.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define NS 1000000000ULL
#define ASKS_MAX 8
#define WANT_MAX 1024          /* tokens asked for at once, at most */
#define SWEEP_MS 250           /* expired leases go back, idle combinations are freed */
#define IDLE_MS 10000
#define COMBOS_MAX 65536       /* above: idle combinations are freed at once */
#define NODES_MS 2000          /* the registry's live nodes are counted this often */

/*
 * GCRA for k tokens across every bucket of KEYS at once (limit.h's arithmetic, in
 * microseconds): first `back` tokens of an earlier lease are given back to each, then
 * k = min(want, tokens of the emptiest bucket) are taken from each. ARGV: want, back, then
 * rate and burst per key. Returns { k, the first bucket without a token (-1: none), µs until
 * it has one, the bucket with the fewest tokens left, how many, µs until it is full }.
 */
static struct fng_cluster_script lease_script = { .text =
	"local t = redis.call('TIME')\n"
	"local now = t[1] * 1000000 + t[2]\n"
	"local want, back = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
	"local tat, per, tau = {}, {}, {}\n"
	"local k, refused, wait = want, -1, 0\n"
	"for i = 1, #KEYS do\n"
	"  per[i] = 1000000 / tonumber(ARGV[1 + 2 * i])\n"
	"  tau[i] = tonumber(ARGV[2 + 2 * i]) * per[i]\n"
	"  local v = tonumber(redis.call('GET', KEYS[i]) or '0') - back * per[i]\n"
	"  if v < now then v = now end\n"
	"  tat[i] = v\n"
	"  local a = math.floor((now + tau[i] - v) / per[i] + 1e-9)\n"
	"  if a < 1 and refused < 0 then\n"
	"    refused, wait = i - 1, v + per[i] - tau[i] - now\n"
	"  end\n"
	"  if a < k then k = a end\n"
	"end\n"
	"if k < 0 then k = 0 end\n"
	"local tight, left, reset = 0, -1, 0\n"
	"for i = 1, #KEYS do\n"
	"  local v = tat[i] + k * per[i]\n"
	"  if k > 0 or back > 0 then\n"
	"    if v > now then\n"
	"      redis.call('SET', KEYS[i], string.format('%.0f', v), 'PX',\n"
	"        math.ceil((v - now) / 1000) + 1)\n"
	"    else\n"
	"      redis.call('DEL', KEYS[i])\n"
	"    end\n"
	"  end\n"
	"  local r = math.floor((now + tau[i] - v) / per[i] + 1e-9)\n"
	"  if r < 0 then r = 0 end\n"
	"  if left < 0 or r < left then tight, left, reset = i - 1, r, v - now end\n"
	"end\n"
	"return { k, refused, math.ceil(wait), tight, left, math.ceil(reset) }\n",
};

static struct fng_metric_def m_degraded = {
	"fngate_cluster_store_degraded",
	"1 while Redis does not answer a shared feature (limits, quotas) and its failure policy "
	"applies.",
	FNG_METRIC_GAUGE, { "feature" },
};
static struct fng_metric_def m_fallback = {
	"fngate_cluster_fallback_decisions_total",
	"Decisions made by a shared feature's failure policy (local rate/N, open, or 503).",
	FNG_METRIC_COUNTER, { "feature" },
};
static struct fng_metric_def m_trips = {
	"fngate_cluster_round_trips_total",
	"Scripts sent to Redis by a shared feature (a lease of tokens, a quota reservation).",
	FNG_METRIC_COUNTER, { "feature" },
};
struct fng_metric_def *const fng__climits_metrics[] = { &m_degraded, &m_fallback, &m_trips,
	NULL };

void fng__climits_transition(struct fng_server *srv, const char *feature, bool *degraded,
	bool down, const char *policy)
{
	const char *v[] = { feature };

	if (*degraded == down) {
		return;
	}
	*degraded = down;
	fng__metric_gauge_at(srv, &m_degraded, v, down ? 1 : -1);
	if (down) {
		fng__log("warn", "cluster store unavailable", "feature", feature, "policy", policy,
			NULL);
	} else {
		fng__log("info", "cluster store answering again", "feature", feature, NULL);
	}
}

void fng__climits_count(struct fng_server *srv, const char *feature, bool fallback)
{
	const char *v[] = { feature };

	fng__metric_inc(srv, fallback ? &m_fallback : &m_trips, v);
}

/* ---- the store ---- */

struct combo {
	struct fng_hnode node;
	struct store *st;
	unsigned n;
	uint32_t lease;            /* tokens asked for at once */
	uint32_t tokens;           /* leased, not spent */
	uint32_t asked;            /* by the script in flight */
	uint64_t lease_end;        /* uv_now(): unspent tokens go back after */
	uint64_t refused_end_ns;   /* uv_hrtime(): refused until */
	uint64_t used_ms;
	bool inflight;
	/* The last answer: the refusing bucket, and the tightest one for RateLimit-*. */
	int refused;
	unsigned tight;
	uint32_t left;
	uint64_t full_at_ns;       /* uv_hrtime() when the tightest bucket is full again */
	struct fng_list waiters;
	uint32_t rate[ASKS_MAX], burst[ASKS_MAX];
	size_t klen[ASKS_MAX];
	char *key[ASKS_MAX];       /* prefixed, in data */
	char data[];
};

struct store {
	struct fng_limit_store base;
	struct fng_server *srv;
	struct fng_cluster *c;
	struct fng_limit_store *fallback;   /* local buckets of rate/N while Redis is down */
	struct fng_hmap combos;
	uv_timer_t sweep;
	bool degraded, freed;
	unsigned inflight;                  /* scripts whose callback has not run */
	uint32_t live_nodes;                /* the registry's count as last listed; 0: unknown */
	uint64_t listed_ms;
};

static const struct fng_cluster_limits_cfg *conf(const struct store *st)
{
	return &st->srv->cfg->cluster_limits;
}

static uint32_t lease_size(const struct store *st)
{
	return conf(st)->lease ? conf(st)->lease : 4;
}

static uint64_t lease_ms(const struct store *st)
{
	return conf(st)->lease_ms ? conf(st)->lease_ms : 50;
}

/*
 * N of rate/N: cluster.expected_nodes, else the live nodes of the registry as last listed
 * (every NODES_MS while Redis answers), else 1.
 */
static uint32_t nodes(const struct store *st)
{
	if (conf(st)->expected_nodes) {
		return conf(st)->expected_nodes;
	}
	return st->live_nodes ? st->live_nodes : 1;
}

static void say_down(struct store *st, bool down)
{
	fng__climits_transition(st->srv, "limits", &st->degraded, down,
		conf(st)->limits_fail_closed ? "closed: throttled routes answer 503" :
		"local: each node keeps buckets of rate/N and burst/N");
}

/* The failure policy's decision: local buckets of rate/N, or FNG_CLIMITS_DOWN. */
static int fallback(struct store *st, const struct fng_limit_ask *asks, unsigned n,
	struct fng_limit_answer *out)
{
	struct fng_limit_ask scaled[ASKS_MAX];
	uint32_t N = nodes(st);

	fng__climits_count(st->srv, "limits", true);
	if (conf(st)->limits_fail_closed) {
		return FNG_CLIMITS_DOWN;
	}
	for (unsigned i = 0; i < n; i++) {
		scaled[i] = asks[i];
		scaled[i].rate = asks[i].rate / N ? asks[i].rate / N : 1;
		scaled[i].burst = asks[i].burst ? (asks[i].burst / N ? asks[i].burst / N : 1) : 0;
	}
	return st->fallback->ops->take(st->fallback, scaled, n, uv_hrtime(), out);
}

static void combo_asks(const struct combo *cb, struct fng_limit_ask *asks)
{
	for (unsigned i = 0; i < cb->n; i++) {
		asks[i] = (struct fng_limit_ask){ cb->key[i], cb->klen[i], cb->rate[i], cb->burst[i] };
	}
}

static uint64_t combo_hash(const struct fng_limit_ask *asks, unsigned n)
{
	uint64_t h = n;

	for (unsigned i = 0; i < n; i++) {
		h = h * 31 + fng__hash(asks[i].key, asks[i].klen);
		h = h * 31 + ((uint64_t)asks[i].rate << 32 | asks[i].burst);
	}
	return h;
}

static bool combo_is(const struct combo *cb, const struct fng_limit_ask *asks, unsigned n,
	size_t plen)
{
	if (cb->n != n) {
		return false;
	}
	for (unsigned i = 0; i < n; i++) {
		if (cb->klen[i] != plen + asks[i].klen || cb->rate[i] != asks[i].rate ||
			cb->burst[i] != asks[i].burst ||
			memcmp(cb->key[i] + plen, asks[i].key, asks[i].klen) != 0) {
			return false;
		}
	}
	return true;
}

static void sweep(struct store *st, bool all);

static struct combo *combo_get(struct store *st, const struct fng_limit_ask *asks, unsigned n)
{
	const char *prefix = fng__cluster_prefix(st->c);
	size_t plen = strlen(prefix) + 2, size = 0;
	uint64_t h = combo_hash(asks, n);
	uint32_t minburst = UINT32_MAX;
	struct combo *cb;
	char *p;

	for (struct fng_hnode *x = fng__hmap_chain(&st->combos, h); x; x = x->next) {
		cb = fng__container_of(x, struct combo, node);
		if (x->hash == h && combo_is(cb, asks, n, plen)) {
			return cb;
		}
	}
	if (st->combos.n >= COMBOS_MAX) {
		sweep(st, true);
	}
	for (unsigned i = 0; i < n; i++) {
		size += plen + asks[i].klen;
	}
	if (!(cb = calloc(1, sizeof(*cb) + size))) {
		return NULL;
	}
	p = cb->data;
	for (unsigned i = 0; i < n; i++) {
		cb->key[i] = p;
		cb->klen[i] = plen + asks[i].klen;
		p += sprintf(p, "%sl:", prefix);
		memcpy(p, asks[i].key, asks[i].klen);
		p += asks[i].klen;
		cb->rate[i] = asks[i].rate;
		cb->burst[i] = asks[i].burst;
		minburst = asks[i].burst < minburst ? asks[i].burst : minburst;
	}
	cb->st = st;
	cb->n = n;
	cb->refused = -1;
	/*
	 * A lease is at most a quarter of the smallest burst: a small per-client bucket is not
	 * held by one node while its client is refused by another.
	 */
	cb->lease = lease_size(st);
	if (cb->lease > minburst / 4) {
		cb->lease = minburst / 4 ? minburst / 4 : 1;
	}
	fng__list_init(&cb->waiters);
	if (fng__hmap_add(&st->combos, &cb->node, h) != 0) {
		free(cb);
		return NULL;
	}
	return cb;
}

/* One token of the lease: the answer as the script last saw the buckets, less what is spent. */
static void taken(struct combo *cb, struct fng_limit_answer *out, uint64_t now)
{
	cb->tokens--;
	out->refused = -1;
	out->tightest = cb->tight;
	out->limit = cb->burst[cb->tight];
	out->remaining = cb->left + cb->tokens;
	out->reset_ns = cb->full_at_ns > now ? cb->full_at_ns - now : 0;
	out->retry_ns = 0;
}

static void refusal(struct combo *cb, struct fng_limit_answer *out, uint64_t now)
{
	out->refused = cb->refused >= 0 ? cb->refused : (int)cb->tight;
	out->tightest = (unsigned)out->refused;
	out->limit = cb->burst[out->refused];
	out->remaining = 0;
	out->retry_ns = cb->refused_end_ns > now ? cb->refused_end_ns - now : 0;
	out->reset_ns = cb->full_at_ns > now ? cb->full_at_ns - now : out->retry_ns;
}

static int fetch(struct combo *cb);

/* Redis did not answer: every waiter of cb is decided by the failure policy. */
static void fail_waiters(struct combo *cb)
{
	struct fng_limit_ask asks[ASKS_MAX];

	combo_asks(cb, asks);
	say_down(cb->st, true);
	while (!fng__list_empty(&cb->waiters)) {
		struct fng_limit_wait *w = fng__container_of(cb->waiters.next, struct fng_limit_wait,
			link);

		fng__list_remove(&w->link);
		fng__list_init(&w->link);
		w->done(w, fallback(cb->st, asks, cb->n, w->out));
	}
}

static int64_t elem(const redisReply *r, size_t i)
{
	return r->element[i]->type == REDIS_REPLY_INTEGER ? (int64_t)r->element[i]->integer : 0;
}

static void lease_cb(struct fng_cluster *c, redisReply *r, void *arg)
{
	struct combo *cb = arg;
	struct store *st = cb->st;
	uint64_t now = uv_hrtime();
	int64_t k;

	(void)c;
	cb->inflight = false;
	st->inflight--;
	if (st->freed) {
		free(cb);
		if (st->inflight == 0) {
			free(st);
		}
		return;
	}
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 6) {
		if (r && r->type == REDIS_REPLY_ERROR) {
			fng__log("error", "cluster limits script failed", "error", r->str, NULL);
		}
		fail_waiters(cb);
		return;
	}
	say_down(st, false);
	k = elem(r, 0);
	cb->tokens = k > 0 ? (uint32_t)k : 0;
	cb->lease_end = uv_now(st->srv->loop) + lease_ms(st);
	cb->refused = (int)elem(r, 1);
	cb->tight = (unsigned)elem(r, 3) < cb->n ? (unsigned)elem(r, 3) : 0;
	cb->left = (uint32_t)elem(r, 4);
	cb->full_at_ns = now + (uint64_t)elem(r, 5) * 1000;
	if (k <= 0 && cb->refused < 0) {
		cb->refused_end_ns = 0; /* asked for nothing (a lease given back) */
	} else if (k <= 0) {
		cb->refused_end_ns = now + (uint64_t)elem(r, 2) * 1000;
	} else if ((uint32_t)k < cb->asked) {
		/* The tightest bucket gave all it had: its next token is one period away. */
		cb->refused = (int)cb->tight;
		cb->refused_end_ns = now + NS / cb->rate[cb->tight];
	} else {
		cb->refused_end_ns = 0;
	}
	while (!fng__list_empty(&cb->waiters)) {
		struct fng_limit_wait *w = fng__container_of(cb->waiters.next, struct fng_limit_wait,
			link);

		if (!cb->tokens && cb->refused_end_ns == 0) {
			break; /* joined after the script left and the buckets have more: ask again */
		}
		fng__list_remove(&w->link);
		fng__list_init(&w->link);
		if (cb->tokens) {
			taken(cb, w->out, now);
		} else {
			refusal(cb, w->out, now);
		}
		w->done(w, 0);
	}
	if (!fng__list_empty(&cb->waiters) && !cb->inflight && fetch(cb) != 0) {
		fail_waiters(cb);
	}
}

/* Sends cb's script: its expired tokens back, a lease for its waiters (or one) out. */
static int fetch(struct combo *cb)
{
	struct store *st = cb->st;
	const char *argv[2 * ASKS_MAX + 2 + ASKS_MAX];
	size_t lens[2 * ASKS_MAX + 2 + ASKS_MAX];
	char nums[2 * ASKS_MAX + 2][16];
	unsigned waiting = 0, a = 0;
	int err;

	for (struct fng_list *l = cb->waiters.next; l != &cb->waiters; l = l->next) {
		waiting++;
	}
	cb->asked = waiting > cb->lease ? waiting : cb->lease;
	cb->asked = cb->asked > WANT_MAX ? WANT_MAX : cb->asked;
	for (unsigned i = 0; i < cb->n; i++, a++) {
		argv[a] = cb->key[i];
		lens[a] = cb->klen[i];
	}
	snprintf(nums[0], sizeof(nums[0]), "%" PRIu32, cb->asked);
	snprintf(nums[1], sizeof(nums[1]), "%" PRIu32, cb->tokens);
	for (unsigned i = 0; i < cb->n; i++) {
		snprintf(nums[2 + 2 * i], sizeof(nums[0]), "%" PRIu32, cb->rate[i]);
		snprintf(nums[3 + 2 * i], sizeof(nums[0]), "%" PRIu32, cb->burst[i]);
	}
	for (unsigned i = 0; i < 2 + 2 * cb->n; i++, a++) {
		argv[a] = nums[i];
		lens[a] = strlen(nums[i]);
	}
	err = fng__cluster_eval(st->c, &lease_script, (int)cb->n, (int)a, argv, lens, lease_cb,
		cb);
	if (err == 0) {
		cb->tokens = 0;
		cb->inflight = true;
		st->inflight++;
		fng__climits_count(st->srv, "limits", false);
	}
	return err;
}

static int store_take_wait(struct fng_limit_store *s, const struct fng_limit_ask *asks,
	unsigned n, uint64_t now, struct fng_limit_answer *out, struct fng_limit_wait *w)
{
	struct store *st = (struct store *)s;
	uint64_t ms = uv_now(st->srv->loop);
	struct combo *cb;
	int err;

	(void)now; /* Redis' clock decides; now is the local one */
	if (n == 0 || n > ASKS_MAX) {
		return -EINVAL;
	}
	if (!fng__cluster_up(st->c)) {
		say_down(st, true);
		return fallback(st, asks, n, out);
	}
	if (!(cb = combo_get(st, asks, n))) {
		return -ENOMEM;
	}
	now = uv_hrtime();
	cb->used_ms = ms;
	if (cb->tokens && ms < cb->lease_end) {
		taken(cb, out, now);
		return 0;
	}
	if (!cb->inflight && now < cb->refused_end_ns && !cb->tokens) {
		refusal(cb, out, now);
		return 0;
	}
	w->out = out;
	fng__list_append(&cb->waiters, &w->link);
	if (!cb->inflight && (err = fetch(cb)) != 0) {
		fng__list_remove(&w->link);
		return err;
	}
	return FNG_LIMIT_PENDING;
}

static int store_take(struct fng_limit_store *s, const struct fng_limit_ask *asks, unsigned n,
	uint64_t now, struct fng_limit_answer *out)
{
	(void)s, (void)asks, (void)n, (void)now, (void)out;
	return -EWOULDBLOCK; /* a shared store's decisions may wait: take_wait */
}

static void store_cancel(struct fng_limit_store *s, struct fng_limit_wait *w)
{
	(void)s;
	fng__list_remove(&w->link);
	fng__list_init(&w->link);
}

static int store_set_budget(struct fng_limit_store *s, uint64_t budget, uint64_t now)
{
	struct store *st = (struct store *)s;

	return st->fallback->ops->set_budget(st->fallback, budget, now);
}

/* Hands expired leases back (fire and forget) and frees what has been idle (all: now). */
static void sweep(struct store *st, bool all)
{
	uint64_t ms = uv_now(st->srv->loop);

	FNG_HMAP_EACH(&st->combos, x) {
		struct combo *cb = fng__container_of(x, struct combo, node);
		bool busy = cb->inflight || !fng__list_empty(&cb->waiters);

		if (!busy && cb->tokens && ms >= cb->lease_end && fng__cluster_up(st->c)) {
			uint32_t keep = cb->lease;

			cb->lease = 0; /* asks for nothing: gives back only */
			busy = fetch(cb) == 0;
			cb->lease = keep;
		}
		if (!busy && (all || ms - cb->used_ms > IDLE_MS) &&
			(!cb->tokens || ms >= cb->lease_end)) {
			fng__hmap_del(&st->combos, &cb->node);
			free(cb);
		}
	}
}

static void nodes_cb(struct fng_cluster *c, redisReply *r, void *arg)
{
	struct store *st = arg;

	(void)c;
	if (--st->inflight == 0 && st->freed) {
		free(st);
		return;
	}
	if (!st->freed && r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
		st->live_nodes = (uint32_t)((r->elements - 1) / 4);
	}
}

static void sweep_cb(uv_timer_t *t)
{
	struct store *st = t->data;
	uint64_t ms = uv_now(st->srv->loop);

	sweep(st, false);
	if (!conf(st)->expected_nodes && fng__cluster_up(st->c) && ms - st->listed_ms >= NODES_MS &&
		fng__cluster_nodes(st->c, nodes_cb, st) == 0) {
		st->listed_ms = ms;
		st->inflight++;
	}
}

static void store_destroy(struct fng_limit_store *s)
{
	struct store *st = (struct store *)s;

	if (!st) {
		return;
	}
	st->fallback->ops->destroy(st->fallback);
	FNG_HMAP_EACH(&st->combos, x) {
		struct combo *cb = fng__container_of(x, struct combo, node);

		if (!cb->inflight) {
			free(cb); /* else its callback frees it */
		}
	}
	fng__hmap_finish(&st->combos);
	st->freed = true;
	if (st->inflight == 0) {
		free(st);
	}
}

static const struct fng_limit_store_ops store_ops = {
	.take = store_take,
	.take_wait = store_take_wait,
	.cancel = store_cancel,
	.set_budget = store_set_budget,
	.destroy = store_destroy,
};

/* Redis went away: leases held are forgotten (Redis counted them; they are lost, not given). */
static void on_state(struct fng_cluster *c, bool up, void *arg)
{
	struct store *st = arg;

	(void)c;
	if (up) {
		return;
	}
	FNG_HMAP_EACH(&st->combos, x) {
		fng__container_of(x, struct combo, node)->tokens = 0;
	}
}

struct fng_limit_store *fng__climits_store(struct fng_server *srv)
{
	struct fng_cluster *c;
	struct store *st;

	if (srv->climits) {
		return srv->climits;
	}
	if (srv->cfg->cluster_limits.local_limits || !(c = fng__cluster(srv))) {
		return NULL;
	}
	if (!(st = calloc(1, sizeof(*st)))) {
		return NULL;
	}
	st->base.ops = &store_ops;
	st->srv = srv;
	st->c = c;
	if (!(st->fallback = fng__limit_local_create(srv->cfg->throttle.memory_bytes))) {
		free(st);
		return NULL;
	}
	uv_timer_init(srv->loop, &st->sweep);
	st->sweep.data = st;
	uv_timer_start(&st->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&st->sweep);
	fng__cluster_on_state(c, on_state, st);
	srv->climits = &st->base;
	return srv->climits;
}

void fng__climits_close(struct fng_server *srv)
{
	struct store *st = (struct store *)srv->climits;

	if (st) {
		uv_close((uv_handle_t *)&st->sweep, NULL);
	}
	fng__cquota_close(srv);
}

void fng__climits_free(struct fng_server *srv)
{
	if (srv->climits) {
		srv->climits->ops->destroy(srv->climits);
		srv->climits = NULL;
	}
	fng__cquota_free(srv);
}
