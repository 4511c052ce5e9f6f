// SPDX-License-Identifier: MIT
/*
 * Quota counters (keystate.h): per key and plan, the requests granted in the current period
 * and the bound recorded on disk before they were granted. Writes are group commits: every
 * counter that needs one goes into the next job's one transaction, so the disk sees at most
 * one transaction at a time however many keys are busy.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "climits.h"
#include "keystate_int.h"
#include "log.h"
#include "period.h"

#define FLUSH_MS 1000   /* used counts reach the disk at least this often */
#define REST_MS 1000    /* after a failed write, no new one for this long */

struct counter {
	struct fng_hnode node;
	char id[FNG_KEY_ID_LEN + 1];
	char plan[FNG_PLAN_NAME_MAX + 1];
	int64_t period;            /* the first second of the period of used and reserved */
	uint64_t used, reserved;
	uint64_t want;             /* a reservation asked for (> reserved); 0: none */
	uint64_t written_used;     /* used as the disk has it */
	uint64_t limit;            /* the plan's quota, as the last request saw it */
	bool loaded, loading, in_job, dirty, failed, fail_open;
	uint64_t failed_ms;
	struct fng_list waiters;
	struct fng_list dirty_link;
	/* What the job in flight writes. */
	int64_t job_period;
	uint64_t job_used, job_reserved;
};

static uint64_t counter_hash(const char *id, const char *plan)
{
	return fng__hash(id, strlen(id)) ^ (fng__hash(plan, strlen(plan)) * 31);
}

static struct counter *counter_get(struct fng_keystate *ks, const char *id, const char *plan)
{
	uint64_t h = counter_hash(id, plan);
	struct counter *c;

	for (struct fng_hnode *n = fng__hmap_chain(&ks->counters, h); n; n = n->next) {
		c = fng__container_of(n, struct counter, node);
		if (n->hash == h && strcmp(c->id, id) == 0 && strcmp(c->plan, plan) == 0) {
			return c;
		}
	}
	if (strlen(id) > FNG_KEY_ID_LEN || strlen(plan) > FNG_PLAN_NAME_MAX) {
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		return NULL;
	}
	strcpy(c->id, id);
	strcpy(c->plan, plan);
	fng__list_init(&c->waiters);
	fng__list_init(&c->dirty_link);
	if (fng__hmap_add(&ks->counters, &c->node, h) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

static void mark_dirty(struct fng_keystate *ks, struct counter *c)
{
	if (!c->dirty) {
		c->dirty = true;
		fng__list_append(&ks->dirty, &c->dirty_link);
	}
}

static void store_say(struct fng_server *srv, const struct fng_report *r, bool over)
{
	char n[24];

	snprintf(n, sizeof(n), "%" PRIu64, over ? r->total : r->count);
	if (over) {
		fng__log("info", "quota store written again", "state_dir", srv->keys->dir,
			"failed_writes", n, NULL);
		return;
	}
	fng__log("error", "quota store write failed", "state_dir", srv->keys->dir,
		"cause", srv->keys->write_msg, "failed_writes", n,
		"policy", "plans with on_store_failure: open serve on, closed ones answer 503", NULL);
}

static void schedule_write(struct fng_keystate *ks, bool flush);

/* ---- reading a counter ---- */

struct load_job {
	struct fng_kjob job;
	struct fng_keystate *ks;
	struct counter *c;
	struct fng_usage_rec u;
};

static void load_work(struct fng_kjob *j, struct fng_keydb *db)
{
	struct load_job *lj = (struct load_job *)j;

	j->err = fng__keydb_usage_get(db, lj->c->id, lj->c->plan, &lj->u, j->msg);
}

static void load_done(struct fng_kjob *j)
{
	struct load_job *lj = (struct load_job *)j;
	struct fng_keystate *ks = lj->ks;
	struct counter *c = lj->c;
	int err = j->err == -ENOENT ? 0 : j->err;

	c->loading = false;
	if (err == 0) {
		c->loaded = true;
		if (j->err == 0) {
			/*
			 * What was reserved counts as used: after a crash nobody knows how much of
			 * the last batch was served, and refusing it is the side a quota errs on.
			 * After a clean exit the two are equal.
			 */
			c->period = lj->u.period_start;
			c->used = c->reserved = lj->u.reserved;
			c->written_used = lj->u.used;
		}
	} else {
		/*
		 * Not loaded: a count started from 0 would later overwrite the one on disk. An open
		 * plan serves uncounted while the counter cannot be read (take() below).
		 */
		c->failed = true;
		c->failed_ms = uv_now(lj->ks->loop);
		snprintf(lj->ks->write_msg, sizeof(lj->ks->write_msg), "%s", j->msg);
		fng__report_fail(lj->ks->srv, &lj->ks->store_failed, 1, err, store_say);
		err = c->fail_open ? 0 : -EIO;
	}
	free(lj);
	ks->waking = true;
	fng__kwait_wake(&c->waiters, err);
	ks->waking = false;
	schedule_write(ks, false);
}

/* ---- writing counters ---- */

struct write_job {
	struct fng_kjob job;
	struct fng_keystate *ks;
	unsigned n;
	struct counter **c;
	struct fng_usage_put *rows;
};

static void write_work(struct fng_kjob *j, struct fng_keydb *db)
{
	struct write_job *wj = (struct write_job *)j;

	j->err = fng__keydb_usage_put(db, wj->rows, wj->n, j->msg);
}


static void write_done(struct fng_kjob *j)
{
	struct write_job *wj = (struct write_job *)j;
	struct fng_keystate *ks = wj->ks;
	uint64_t now = uv_now(ks->loop);

	ks->writing = false;
	if (wj->job.err) {
		snprintf(ks->write_msg, sizeof(ks->write_msg), "%s", wj->job.msg);
		fng__report_fail(ks->srv, &ks->store_failed, 1, wj->job.err, store_say);
	} else {
		fng__report_ok(&ks->store_failed);
		ks->transactions++;
		ks->rows += wj->n;
	}
	ks->waking = true; /* the requests woken and waiting again share the next write */
	for (unsigned i = 0; i < wj->n; i++) {
		struct counter *c = wj->c[i];
		int rc = 0;

		c->in_job = false;
		if (c->period != c->job_period) {
			/* A new period began meanwhile: this write was of the old one. */
		} else if (!wj->job.err) {
			c->failed = false;
			c->reserved = c->job_reserved > c->reserved ? c->job_reserved : c->reserved;
			c->written_used = c->job_used;
		} else {
			c->failed = true;
			c->failed_ms = now;
			if (c->fail_open) {
				c->reserved = c->job_reserved > c->reserved ? c->job_reserved :
					c->reserved;
			} else {
				rc = -EIO;
			}
		}
		if (c->want <= c->reserved) {
			c->want = 0;
		}
		if (c->used != c->written_used || c->want) {
			mark_dirty(ks, c); /* after a failure, the flush timer tries again */
		}
		fng__kwait_wake(&c->waiters, rc);
	}
	ks->waking = false;
	if (!wj->job.err) {
		schedule_write(ks, false); /* a reservation asked for meanwhile */
	}
	free(wj->c);
	free(wj->rows);
	free(wj);
}

/*
 * Starts a write of every dirty counter, unless one is in flight (it starts the next): at
 * once when a counter waits for a reservation, else (exact counts only) when the flush timer
 * says (flush). Exact counts ride along with reservations; written on their own as soon as
 * they change, a busy key would keep the disk writing back to back.
 */
static void schedule_write(struct fng_keystate *ks, bool flush)
{
	struct write_job *wj;
	unsigned n = 0, cap = 0;
	bool urgent = false;

	if (ks->writing || fng__list_empty(&ks->dirty)) {
		return;
	}
	for (struct fng_list *l = ks->dirty.next; l != &ks->dirty; l = l->next) {
		const struct counter *c = fng__container_of(l, struct counter, dirty_link);

		urgent |= c->want > c->reserved;
		cap++;
	}
	if (!urgent && !flush) {
		return;
	}
	wj = calloc(1, sizeof(*wj));
	if (!wj || !(wj->c = calloc(cap, sizeof(*wj->c))) ||
		!(wj->rows = calloc(cap, sizeof(*wj->rows)))) {
		if (wj) {
			free(wj->c);
		}
		free(wj);
		return; /* the flush timer tries again */
	}
	while (!fng__list_empty(&ks->dirty)) {
		struct counter *c = fng__container_of(ks->dirty.next, struct counter, dirty_link);

		fng__list_remove(&c->dirty_link);
		c->dirty = false;
		c->in_job = true;
		c->job_period = c->period;
		c->job_used = c->used;
		c->job_reserved = c->want > c->reserved ? c->want : c->reserved;
		if (c->want) {
			/*
			 * Room for every request waiting on the counter too: they are granted as soon
			 * as the write is done, so one write serves them all, whatever the batch.
			 */
			uint64_t waiting = 0;

			for (struct fng_list *l = c->waiters.next; l != &c->waiters; l = l->next) {
				waiting++;
			}
			if (c->used + waiting > c->job_reserved) {
				c->job_reserved = c->used + waiting;
			}
			if (c->job_reserved > c->limit) {
				c->job_reserved = c->limit;
			}
		}
		if (c->job_reserved < c->used) {
			c->job_reserved = c->used; /* served while failing open */
		}
		wj->c[n] = c;
		wj->rows[n] = (struct fng_usage_put){ c->id, c->plan,
			{ c->job_period, c->job_used, c->job_reserved } };
		n++;
	}
	wj->ks = ks;
	wj->n = n;
	wj->job.work = write_work;
	wj->job.done = write_done;
	ks->writing = true;
	fng__keystate_submit(ks, &wj->job);
}

static void flush_cb(uv_timer_t *t)
{
	struct fng_keystate *ks = t->data;

	fng__report_tick(ks->srv, &ks->store_failed, store_say);
	schedule_write(ks, true);
}

/* ---- the decision ---- */

int fng__quota_take(struct fng_keystate *ks, const char *id, const struct fng_usage_plan *p,
	int64_t now_s, struct fng_kwait *w, struct fng_quota_answer *ans)
{
	struct counter *c;
	int64_t start = fng__period_start(p->period, now_s);

	if (fng__cquota_on(ks->srv)) {
		return fng__cquota_take(ks->srv, id, p, now_s, w, ans); /* kept in Redis */
	}
	if (!(c = counter_get(ks, id, p->name))) {
		return -ENOMEM;
	}
	c->fail_open = p->fail_open;
	c->limit = p->quota;
	if (!ks->flush_started) {
		ks->flush_started = true;
		uv_timer_start(&ks->flush_timer, flush_cb, FLUSH_MS, FLUSH_MS);
	}
	if (!c->loaded) {
		if (c->failed && uv_now(ks->loop) - c->failed_ms < REST_MS) {
			if (!c->fail_open) {
				return -EIO;
			}
			ans->refused = false; /* served on the policy, not counted: nothing to count on */
			ans->limit = ans->remaining = p->quota;
			ans->reset_at = fng__period_next(p->period, now_s);
			return 0;
		}
		if (!c->loading) {
			struct load_job *lj = calloc(1, sizeof(*lj));

			if (!lj) {
				return -ENOMEM;
			}
			lj->ks = ks;
			lj->c = c;
			lj->job.work = load_work;
			lj->job.done = load_done;
			c->loading = true;
			fng__keystate_submit(ks, &lj->job);
		}
		fng__list_append(&c->waiters, &w->link);
		return FNG_KEYSTATE_PENDING;
	}
	if (start > c->period) {
		c->period = start;
		c->used = c->reserved = c->want = 0;
		c->written_used = UINT64_MAX; /* the row is of another period */
	}
	ans->limit = p->quota;
	ans->reset_at = fng__period_next(p->period, now_s);
	if (c->used >= p->quota) {
		ans->refused = true;
		ans->remaining = 0;
		return 0;
	}
	if (c->used >= c->reserved) {
		bool resting = c->failed && uv_now(ks->loop) - c->failed_ms < REST_MS;

		if (resting && c->fail_open) {
			c->reserved = c->used + 1; /* served on the policy; written when the disk is back */
		} else if (resting) {
			return -EIO;
		} else {
			uint64_t want = c->used + p->quota_batch;

			c->want = want > p->quota ? p->quota : want;
			if (!c->in_job) {
				mark_dirty(ks, c);
				if (!ks->waking) {
					schedule_write(ks, false);
				}
			}
			fng__list_append(&c->waiters, &w->link);
			return FNG_KEYSTATE_PENDING;
		}
	}
	c->used++;
	if (c->used != c->written_used) {
		mark_dirty(ks, c); /* for the flush timer */
	}
	ans->refused = false;
	ans->remaining = p->quota - c->used;
	return 0;
}

void fng__quota_peek(struct fng_keystate *ks, const char *id, const struct fng_usage_plan *p,
	int64_t now_s, uint64_t *used)
{
	uint64_t h = counter_hash(id, p->name);

	if (!ks) {
		return;
	}
	for (struct fng_hnode *n = fng__hmap_chain(&ks->counters, h); n; n = n->next) {
		struct counter *c = fng__container_of(n, struct counter, node);

		if (n->hash == h && strcmp(c->id, id) == 0 && strcmp(c->plan, p->name) == 0) {
			if (c->loaded && c->period == fng__period_start(p->period, now_s)) {
				*used = c->used;
			}
			return;
		}
	}
}

/* ---- set-up and tear-down ---- */

int fng__quota_init(struct fng_keystate *ks)
{
	fng__list_init(&ks->dirty);
	if (uv_timer_init(ks->loop, &ks->flush_timer) != 0) {
		return -ENOMEM;
	}
	ks->flush_timer.data = ks;
	uv_unref((uv_handle_t *)&ks->flush_timer);
	return 0;
}

void fng__quota_close(struct fng_keystate *ks)
{
	uv_close((uv_handle_t *)&ks->flush_timer, NULL);
}

/*
 * At exit, with the loop stopped: the exact counts, reserved brought down to used, so that a
 * clean restart loses nothing of its batches. Synchronous: there is no loop left to wait on.
 */
void fng__quota_finish(struct fng_keystate *ks)
{
	struct fng_usage_put *rows = calloc(ks->counters.n + 1, sizeof(*rows));
	unsigned n = 0;
	char err[FNG_KEYDB_ERR];

	FNG_HMAP_EACH(&ks->counters, h) {
		struct counter *c = fng__container_of(h, struct counter, node);

		if (rows && c->loaded && c->period) {
			rows[n++] = (struct fng_usage_put){ c->id, c->plan,
				{ c->period, c->used, c->used } };
		}
	}
	if (n && !ks->db) {
		ks->db = fng__keydb_open(ks->dir, true, ks->open_err);
	}
	if (n && ks->db && fng__keydb_usage_put(ks->db, rows, n, err) != 0) {
		fng__log("error", "quota store write failed at exit", "state_dir", ks->dir,
			"cause", err, NULL);
	} else if (n) {
		ks->transactions++;
		ks->rows += n;
	}
	if (ks->transactions) {
		char t[24], r[24];

		snprintf(t, sizeof(t), "%" PRIu64, ks->transactions);
		snprintf(r, sizeof(r), "%" PRIu64, ks->rows);
		fng__log("info", "quota store written", "transactions", t, "rows", r, NULL);
	}
	free(rows);
	FNG_HMAP_EACH(&ks->counters, h) {
		free(fng__container_of(h, struct counter, node));
	}
	fng__hmap_finish(&ks->counters);
}
