// SPDX-License-Identifier: MIT
/*
 * Usage-plan quotas in Redis (climits.h), what stage "quota" counts on when `cluster:` is
 * configured: the same batch reservations as quota.c's on SQLite, with Redis as the record.
 * A counter is one hash per key, plan and period with a field per node: a node reserves a
 * batch (the plan's quota_batch, more when more requests wait) by one script that grants
 * what is left under the quota, spends it locally, and gives back what it has not spent once
 * the counter has been idle a while. A reservation counts as used in Redis, so the nodes
 * together never grant more than the quota; a node killed with part of a batch unspent makes
 * the quota err towards refusing, by that part (less than one batch per node).
 *
 * A Redis restarted without persistence has lost the counters: each node keeps what its
 * own field was and sends it with every reservation, and the script puts back a field found
 * lower than its node says. A counter is thus rebuilt from the nodes that are alive as they
 * next reserve; what only a node that is gone knew stays lost (docs/config.md says so).
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
#include "keystate_int.h"
#include "log.h"
#include "period.h"

#define REST_MS 1000       /* after a failed script, the plan's policy for this long */
#define DRY_MS 1000        /* a quota found used up is asked again after this long */
#define IDLE_MS 2000       /* an idle counter gives back what it has not spent */
#define SWEEP_MS 1000
#define TTL_EXTRA_S 3600   /* a counter outlives its period by this much */
#define HOLD_MS 3000       /* after Redis lost its data, grants wait this long for the nodes */

/*
 * KEYS: the counter, the store's epoch, its hold. ARGV: node, want (< 0: give back), quota,
 * what the node knows its field to be, ttl, the epoch the node knows ("": none yet), the
 * hold's length. The epoch is made by the first script on an empty Redis; a node that knew
 * another one finds that Redis lost its data and holds every grant until epoch + hold (ms),
 * while the nodes put their fields back. Returns { granted (< 0: given back), the node's
 * field, the total, the epoch, 1 while held }.
 */
static struct fng_cluster_script reserve_script = { .text =
	"local node, want = ARGV[1], tonumber(ARGV[2])\n"
	"local limit, mine = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
	"local known, holdms = ARGV[6], tonumber(ARGV[7])\n"
	"local t = redis.call('TIME')\n"
	"local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
	"local epoch = redis.call('GET', KEYS[2])\n"
	"if not epoch then\n"
	"  epoch = tostring(now)\n"
	"  redis.call('SET', KEYS[2], epoch)\n"
	"end\n"
	"if known ~= '' and known ~= epoch and now < tonumber(epoch) + holdms then\n"
	"  redis.call('SET', KEYS[3], '1', 'PX', tonumber(epoch) + holdms - now)\n"
	"end\n"
	"local cur = tonumber(redis.call('HGET', KEYS[1], node) or '0')\n"
	"if cur < mine then\n"
	"  redis.call('HSET', KEYS[1], node, mine)\n"
	"  cur = mine\n"
	"end\n"
	"local total = 0\n"
	"for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end\n"
	"local hold = redis.call('EXISTS', KEYS[3])\n"
	"local give = want\n"
	"if give > 0 then\n"
	"  if give > limit - total then give = limit - total end\n"
	"  if give < 0 or hold == 1 then give = 0 end\n"
	"elseif -give > cur then\n"
	"  give = -cur\n"
	"end\n"
	"if give ~= 0 then redis.call('HINCRBY', KEYS[1], node, give) end\n"
	"redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))\n"
	"return { give, cur + give, total + give, epoch, hold }\n",
};

struct qcounter {
	struct fng_hnode node;
	struct fng_cquota *q;
	char id[FNG_KEY_ID_LEN + 1];
	char plan[FNG_PLAN_NAME_MAX + 1];
	int64_t period;
	uint64_t used;         /* granted by this node in the period */
	uint64_t reserved;     /* reserved by this node in the period (>= used) */
	uint64_t mine;         /* this node's field in Redis, as last seen */
	uint64_t total;        /* the counter's total, as last seen */
	uint64_t limit;
	int64_t ttl_s;
	uint64_t dry_until, failed_until, used_ms;
	bool inflight, fail_open;
	int64_t job_period;
	struct fng_list waiters;
};

struct fng_cquota {
	struct fng_server *srv;
	struct fng_cluster *c;
	struct fng_hmap counters;
	uv_timer_t sweep;
	bool degraded, holding;
	char epoch[24];        /* the store's epoch as last seen ("": none yet) */
	unsigned inflight;
	bool freed;
};

size_t fng__cquota_key(char *out, size_t n, const char *prefix, const char *plan,
	const char *id, int64_t period)
{
	int k = snprintf(out, n, "%sq:%s:%s:%" PRId64, prefix, plan, id, period);

	return k < 0 ? 0 : (size_t)k >= n ? n - 1 : (size_t)k;
}

static uint64_t qhash(const char *id, const char *plan)
{
	return fng__hash(id, strlen(id)) ^ (fng__hash(plan, strlen(plan)) * 31);
}

static struct qcounter *qget(struct fng_cquota *q, const char *id, const char *plan)
{
	uint64_t h = qhash(id, plan);
	struct qcounter *c;

	for (struct fng_hnode *n = fng__hmap_chain(&q->counters, h); n; n = n->next) {
		c = fng__container_of(n, struct qcounter, node);
		if (n->hash == h && strcmp(c->id, id) == 0 && strcmp(c->plan, plan) == 0) {
			return c;
		}
	}
	if (strlen(id) > FNG_KEY_ID_LEN || strlen(plan) > FNG_PLAN_NAME_MAX ||
		!(c = calloc(1, sizeof(*c)))) {
		return NULL;
	}
	strcpy(c->id, id);
	strcpy(c->plan, plan);
	c->q = q;
	fng__list_init(&c->waiters);
	if (fng__hmap_add(&q->counters, &c->node, h) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

static void say_down(struct fng_cquota *q, bool down)
{
	fng__climits_transition(q->srv, "quotas", &q->degraded, down,
		"the plan's on_store_failure: open serves uncounted, closed answers 503");
}

static int reserve(struct qcounter *c, int64_t want);

static void reserve_cb(struct fng_cluster *cl, redisReply *r, void *arg)
{
	struct qcounter *c = arg;
	struct fng_cquota *q = c->q;
	uint64_t ms;
	int rc = 0;

	(void)cl;
	c->inflight = false;
	q->inflight--;
	if (q->freed) {
		free(c);
		if (q->inflight == 0) {
			free(q);
		}
		return;
	}
	ms = uv_now(q->srv->loop);
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
		r->element[0]->type != REDIS_REPLY_INTEGER) {
		if (r && r->type == REDIS_REPLY_ERROR) {
			fng__log("error", "cluster quota script failed", "error", r->str, NULL);
		}
		say_down(q, true);
		c->failed_until = ms + REST_MS;
		rc = c->fail_open ? 0 : -EIO;
	} else if (c->job_period == c->period) {
		long long give = r->element[0]->integer;

		say_down(q, false);
		c->failed_until = 0;
		if (give >= 0) {
			c->reserved += (uint64_t)give;
		} else {
			c->reserved -= (uint64_t)-give <= c->reserved - c->used ?
				(uint64_t)-give : c->reserved - c->used;
		}
		c->mine = (uint64_t)r->element[1]->integer;
		c->total = (uint64_t)r->element[2]->integer;
		if (r->elements >= 5 && r->element[3]->type == REDIS_REPLY_STRING) {
			snprintf(q->epoch, sizeof(q->epoch), "%s", r->element[3]->str);
		}
		if (r->elements >= 5 && r->element[4]->integer == 1) {
			/* Redis lost the counters: the plan's policy until the nodes have put theirs back. */
			if (!q->holding) {
				q->holding = true;
				fng__log("warn", "cluster quotas rebuilt after Redis lost its data",
					"hold_ms", "3000", "policy", "the plan's on_store_failure meanwhile",
					NULL);
			}
			c->failed_until = ms + REST_MS / 4;
			rc = c->fail_open ? 0 : -EIO;
		} else if (give == 0 && c->used >= c->reserved) {
			q->holding = false;
			c->dry_until = ms + DRY_MS;
		} else {
			q->holding = false;
		}
	}
	fng__kwait_wake(&c->waiters, rc);
}

/* Sends a reservation of want (< 0: gives back -want). 0 or a negative errno. */
static int reserve(struct qcounter *c, int64_t want)
{
	struct fng_cquota *q = c->q;
	char key[256 + FNG_KEY_ID_LEN + FNG_PLAN_NAME_MAX], w[24], l[24], m[24], t[24];
	const char *node = fng__cluster_node_id(q->c);
	char ekey[256], hkey[256], h[16];
	const char *argv[10];
	size_t lens[10];
	int err;

	fng__cquota_key(key, sizeof(key), fng__cluster_prefix(q->c), c->plan, c->id, c->period);
	snprintf(ekey, sizeof(ekey), "%sq-epoch", fng__cluster_prefix(q->c));
	snprintf(hkey, sizeof(hkey), "%sq-hold", fng__cluster_prefix(q->c));
	snprintf(h, sizeof(h), "%d", HOLD_MS);
	snprintf(w, sizeof(w), "%" PRId64, want);
	snprintf(l, sizeof(l), "%" PRIu64, c->limit);
	snprintf(m, sizeof(m), "%" PRIu64, c->mine);
	snprintf(t, sizeof(t), "%" PRId64, c->ttl_s);
	argv[0] = key, argv[1] = ekey, argv[2] = hkey;
	argv[3] = node, argv[4] = w, argv[5] = l, argv[6] = m, argv[7] = t;
	argv[8] = q->epoch, argv[9] = h;
	for (int i = 0; i < 10; i++) {
		lens[i] = strlen(argv[i]);
	}
	err = fng__cluster_eval(q->c, &reserve_script, 3, 10, argv, lens, reserve_cb, c);
	if (err == 0) {
		c->inflight = true;
		c->job_period = c->period;
		q->inflight++;
		fng__climits_count(q->srv, "quotas", false);
	}
	return err;
}

static void sweep_cb(uv_timer_t *t)
{
	struct fng_cquota *q = t->data;
	uint64_t ms = uv_now(q->srv->loop);

	if (!fng__cluster_up(q->c)) {
		return;
	}
	FNG_HMAP_EACH(&q->counters, n) {
		struct qcounter *c = fng__container_of(n, struct qcounter, node);

		if (!c->inflight && fng__list_empty(&c->waiters) && ms - c->used_ms > IDLE_MS) {
			if (c->reserved > c->used) {
				reserve(c, -(int64_t)(c->reserved - c->used));
			} else if (ms - c->used_ms > 60 * IDLE_MS) {
				fng__hmap_del(&q->counters, &c->node);
				free(c);
			}
		}
	}
}

/*
 * Connected again (Redis may have restarted empty): every counter of the period this node
 * has a share of sends it at once, so that the counters are whole again before the hold
 * ends.
 */
static void on_state(struct fng_cluster *cl, bool up, void *arg)
{
	struct fng_cquota *q = arg;

	(void)cl;
	if (!up) {
		return;
	}
	FNG_HMAP_EACH(&q->counters, n) {
		struct qcounter *c = fng__container_of(n, struct qcounter, node);

		if (c->mine && !c->inflight) {
			reserve(c, 0);
		}
	}
}

static struct fng_cquota *cquota_get(struct fng_server *srv)
{
	struct fng_cquota *q;
	struct fng_cluster *c;

	if (srv->cquota) {
		return srv->cquota;
	}
	if (!(c = fng__cluster(srv)) || !(q = calloc(1, sizeof(*q)))) {
		return NULL;
	}
	q->srv = srv;
	q->c = c;
	uv_timer_init(srv->loop, &q->sweep);
	q->sweep.data = q;
	uv_timer_start(&q->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&q->sweep);
	fng__cluster_on_state(c, on_state, q);
	srv->cquota = q;
	return q;
}

bool fng__cquota_on(struct fng_server *srv)
{
	return !srv->cfg->cluster_limits.local_quotas && fng__cluster(srv) != NULL;
}

int fng__cquota_take(struct fng_server *srv, const char *id, const struct fng_usage_plan *p,
	int64_t now_s, struct fng_kwait *w, struct fng_quota_answer *ans)
{
	struct fng_cquota *q = cquota_get(srv);
	struct qcounter *c = q ? qget(q, id, p->name) : NULL;
	int64_t start = fng__period_start(p->period, now_s);
	uint64_t ms, spare;

	if (!c) {
		return -ENOMEM;
	}
	ms = uv_now(srv->loop);
	c->used_ms = ms;
	c->limit = p->quota;
	c->fail_open = p->fail_open;
	if (start != c->period) {
		c->period = start;
		c->used = c->reserved = c->mine = c->total = 0;
		c->dry_until = 0;
	}
	c->ttl_s = fng__period_next(p->period, now_s) - now_s + TTL_EXTRA_S;
	ans->limit = p->quota;
	ans->reset_at = fng__period_next(p->period, now_s);
	spare = c->reserved - c->used;
	if (c->used < c->reserved) {
		c->used++;
		ans->refused = false;
		ans->remaining = c->total < p->quota ? p->quota - c->total + spare - 1 : spare - 1;
		return 0;
	}
	if (ms < c->failed_until || !fng__cluster_up(q->c)) {
		say_down(q, !fng__cluster_up(q->c) || q->degraded);
		fng__climits_count(srv, "quotas", true);
		if (!p->fail_open) {
			return -EIO;
		}
		ans->refused = false; /* served on the policy, not counted: nothing to count on */
		ans->remaining = p->quota;
		return 0;
	}
	if (ms < c->dry_until) {
		ans->refused = true;
		ans->remaining = 0;
		return 0;
	}
	fng__list_append(&c->waiters, &w->link);
	if (!c->inflight) {
		uint64_t waiting = 0;
		int err;

		for (struct fng_list *l = c->waiters.next; l != &c->waiters; l = l->next) {
			waiting++;
		}
		err = reserve(c, (int64_t)(p->quota_batch > waiting ? p->quota_batch : waiting));
		if (err) {
			fng__list_remove(&w->link);
			return err;
		}
	}
	return FNG_KEYSTATE_PENDING;
}

/* KEYS: counters. Returns each one's total (0: none yet). */
static struct fng_cluster_script usage_script = { .text =
	"local out = {}\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local t = 0\n"
	"  for _, v in ipairs(redis.call('HVALS', k)) do t = t + tonumber(v) end\n"
	"  out[i] = t\n"
	"end\n"
	"return out\n",
};

struct usage_req {
	struct fng_server *srv;
	fng_cquota_usage_cb cb;
	void *arg;
	unsigned n;
	char id[FNG_KEY_ID_LEN + 1];
	char plans[FNG_KEY_PLANS_MAX][FNG_PLAN_NAME_MAX + 1];
	int64_t periods[FNG_KEY_PLANS_MAX];
};

static void usage_cb(struct fng_cluster *cl, redisReply *r, void *arg)
{
	struct usage_req *u = arg;
	uint64_t used[FNG_KEY_PLANS_MAX];
	struct fng_cquota *q = u->srv->cquota;

	(void)cl;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != u->n) {
		u->cb(r && r->type == REDIS_REPLY_ERROR ? -EPROTO : -ENOTCONN, NULL, u->arg);
		free(u);
		return;
	}
	for (unsigned i = 0; i < u->n; i++) {
		const redisReply *x = r->element[i];
		struct qcounter *c = NULL;
		uint64_t h = qhash(u->id, u->plans[i]);

		used[i] = x->type == REDIS_REPLY_INTEGER && x->integer > 0 ?
			(uint64_t)x->integer : 0;
		/* What this node reserved and has not spent is not used: it knows that much. */
		for (struct fng_hnode *nd = q ? fng__hmap_chain(&q->counters, h) : NULL; nd;
			nd = nd->next) {
			struct qcounter *k = fng__container_of(nd, struct qcounter, node);

			if (nd->hash == h && !strcmp(k->id, u->id) &&
				!strcmp(k->plan, u->plans[i])) {
				c = k;
				break;
			}
		}
		if (c && c->period == u->periods[i] && c->reserved > c->used) {
			uint64_t spare = c->reserved - c->used;

			used[i] = used[i] > spare ? used[i] - spare : 0;
		}
	}
	u->cb(0, used, u->arg);
	free(u);
}

int fng__cquota_usage(struct fng_server *srv, const char *id,
	const struct fng_usage_plan *const *plans, unsigned n, int64_t now_s,
	fng_cquota_usage_cb cb, void *arg)
{
	struct fng_cluster *c = fng__cluster(srv);
	char keys[FNG_KEY_PLANS_MAX][256 + FNG_KEY_ID_LEN + FNG_PLAN_NAME_MAX];
	const char *argv[FNG_KEY_PLANS_MAX];
	size_t lens[FNG_KEY_PLANS_MAX];
	struct usage_req *u;
	int err;

	if (!c || !n || n > FNG_KEY_PLANS_MAX || strlen(id) > FNG_KEY_ID_LEN || !cb) {
		return -EINVAL;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		return -ENOMEM;
	}
	u->srv = srv;
	u->cb = cb;
	u->arg = arg;
	u->n = n;
	strcpy(u->id, id);
	for (unsigned i = 0; i < n; i++) {
		snprintf(u->plans[i], sizeof(u->plans[i]), "%s", plans[i]->name);
		u->periods[i] = fng__period_start(plans[i]->period, now_s);
		lens[i] = fng__cquota_key(keys[i], sizeof(keys[i]), fng__cluster_prefix(c),
			u->plans[i], id, u->periods[i]);
		argv[i] = keys[i];
	}
	err = fng__cluster_eval(c, &usage_script, (int)n, (int)n, argv, lens, usage_cb, u);
	if (err) {
		free(u);
	}
	return err;
}

unsigned fng__cquota_give_back(struct fng_server *srv)
{
	struct fng_cquota *q = srv->cquota;
	unsigned sent = 0;

	if (!q || !fng__cluster_up(q->c)) {
		return 0;
	}
	/* A counter with a script in flight keeps what it gets: rare at exit, on the safe side. */
	FNG_HMAP_EACH(&q->counters, n) {
		struct qcounter *c = fng__container_of(n, struct qcounter, node);

		if (!c->inflight && c->reserved > c->used &&
			reserve(c, -(int64_t)(c->reserved - c->used)) == 0) {
			sent++;
		}
	}
	return sent;
}

void fng__cquota_close(struct fng_server *srv)
{
	if (srv->cquota) {
		uv_close((uv_handle_t *)&srv->cquota->sweep, NULL);
	}
}

void fng__cquota_free(struct fng_server *srv)
{
	struct fng_cquota *q = srv->cquota;

	if (!q) {
		return;
	}
	FNG_HMAP_EACH(&q->counters, n) {
		struct qcounter *c = fng__container_of(n, struct qcounter, node);

		if (!c->inflight) {
			free(c);
		}
	}
	fng__hmap_finish(&q->counters);
	q->freed = true;
	if (q->inflight == 0) {
		free(q);
	}
	srv->cquota = NULL;
}
