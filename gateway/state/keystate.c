// SPDX-License-Identifier: MIT
/*
 * One loop's key state (keystate.h): the queue of database jobs and the key table. The
 * quota counters are quota.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "keystate_int.h"
#include "log.h"
#include "server.h"

/* ---- the job queue ---- */

static void run_next(struct fng_keystate *ks);

static void job_work_cb(uv_work_t *w)
{
	struct fng_keystate *ks = w->data;

	if (!ks->db) {
		ks->db = fng__keydb_open(ks->dir, true, ks->open_err);
	}
	if (ks->db) {
		ks->cur->work(ks->cur, ks->db);
	} else {
		ks->cur->err = -EIO;
		snprintf(ks->cur->msg, sizeof(ks->cur->msg), "%s", ks->open_err);
	}
}

static void job_after_cb(uv_work_t *w, int status)
{
	struct fng_keystate *ks = w->data;
	struct fng_kjob *j = ks->cur;

	(void)status; /* never cancelled: uv_cancel is not used on these */
	ks->cur = NULL;
	ks->running = false;
	j->done(j);
	run_next(ks);
}

static void run_next(struct fng_keystate *ks)
{
	if (ks->running || fng__list_empty(&ks->jobs)) {
		return;
	}
	ks->cur = fng__container_of(ks->jobs.next, struct fng_kjob, link);
	fng__list_remove(&ks->cur->link);
	ks->running = true;
	ks->work.data = ks;
	if (uv_queue_work(ks->loop, &ks->work, job_work_cb, job_after_cb) != 0) {
		/* Only with a bad loop; the job runs here rather than never. */
		job_work_cb(&ks->work);
		job_after_cb(&ks->work, 0);
	}
}

void fng__keystate_submit(struct fng_keystate *ks, struct fng_kjob *j)
{
	fng__list_append(&ks->jobs, &j->link);
	run_next(ks);
}

/* ---- waiters ---- */

void fng__kwait_cancel(struct fng_kwait *w)
{
	fng__list_remove(&w->link);
}

void fng__kwait_wake(struct fng_list *waiters, int rc)
{
	struct fng_list list;

	/* Moved first: a done callback may ask again and wait again on the same list. */
	fng__list_init(&list);
	if (!fng__list_empty(waiters)) {
		list.next = waiters->next;
		list.prev = waiters->prev;
		list.next->prev = &list;
		list.prev->next = &list;
		fng__list_init(waiters);
	}
	while (!fng__list_empty(&list)) {
		struct fng_kwait *w = fng__container_of(list.next, struct fng_kwait, link);

		fng__list_remove(&w->link);
		w->done(w, rc);
	}
}

/* ---- the key table ---- */

struct ktable {
	struct fng_key_entry *e;
	size_t n, cap;
	uint32_t *idx;       /* open addressing: entry index + 1; 0 empty */
	size_t nidx;         /* a power of two, >= 2n */
	struct fng_arena *strings;
	uint64_t gen;
};

static void ktable_free(struct ktable *t)
{
	if (!t) {
		return;
	}
	free(t->e);
	free(t->idx);
	if (t->strings) {
		fng__arena_destroy(t->strings);
	}
	free(t);
}

/* The slot to start probing at: the hash's first 8 bytes (uniform, the input is SHA-256). */
static size_t ktable_home(const struct ktable *t, const uint8_t *hash)
{
	uint64_t h;

	memcpy(&h, hash, sizeof(h));
	return (size_t)(h & (t->nidx - 1));
}

static int collect_key(void *ctx, const struct fng_key_rec *rec)
{
	struct ktable *t = ctx;
	struct fng_key_entry *e;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		void *p = realloc(t->e, cap * sizeof(*t->e));

		if (!p) {
			return -ENOMEM;
		}
		t->e = p;
		t->cap = cap;
	}
	e = &t->e[t->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, rec->id, sizeof(e->id));
	memcpy(e->hash, rec->hash, sizeof(e->hash));
	e->revoked = rec->revoked_ms != 0;
	for (unsigned i = 0; i < rec->nplans && i < FNG_KEY_PLANS_MAX; i++) {
		e->plans[i] = fng__arena_strndup(t->strings, rec->plans[i], strlen(rec->plans[i]));
		if (!e->plans[i]) {
			return -ENOMEM;
		}
		e->nplans++;
	}
	t->n++;
	return 0;
}

static int ktable_index(struct ktable *t)
{
	t->nidx = 16;
	while (t->nidx < 2 * t->n) {
		t->nidx *= 2;
	}
	t->idx = calloc(t->nidx, sizeof(*t->idx));
	if (!t->idx) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++) {
		size_t s = ktable_home(t, t->e[i].hash);

		while (t->idx[s]) {
			s = (s + 1) & (t->nidx - 1);
		}
		t->idx[s] = (uint32_t)i + 1;
	}
	return 0;
}

struct load_job {
	struct fng_kjob job;
	struct fng_keystate *ks;
	struct ktable *t;
};

static void load_work(struct fng_kjob *j, struct fng_keydb *db)
{
	struct load_job *lj = (struct load_job *)j;

	lj->t = calloc(1, sizeof(*lj->t));
	if (!lj->t || !(lj->t->strings = fng__arena_create())) {
		j->err = -ENOMEM;
		snprintf(j->msg, sizeof(j->msg), "out of memory");
		return;
	}
	/* The generation first: a change made while reading moves it past what is loaded. */
	lj->t->gen = fng__keydb_generation(db);
	j->err = fng__keydb_each(db, collect_key, lj->t, j->msg);
	if (j->err == 0 && (j->err = ktable_index(lj->t)) != 0) {
		snprintf(j->msg, sizeof(j->msg), "out of memory");
	}
	if (j->err == 0 && lj->t->n > UINT32_MAX - 1) {
		j->err = -E2BIG;
		snprintf(j->msg, sizeof(j->msg), "too many keys");
	}
}

/* Maps keys.gen read-only, once the first job has created it. */
static void map_generation(struct fng_keystate *ks)
{
	char path[4096];
	int fd;
	void *p;

	if (ks->gen_map || fng__keydb_gen_path(ks->dir, path, sizeof(path)) != 0) {
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		return;
	}
	p = mmap(NULL, sizeof(uint64_t), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p != MAP_FAILED) {
		ks->gen_map = p;
	}
}

static void load_done(struct fng_kjob *j)
{
	struct load_job *lj = (struct load_job *)j;
	struct fng_keystate *ks = lj->ks;
	int err = j->err;

	ks->loading = false;
	if (err == 0) {
		ktable_free(ks->keys);
		ks->keys = lj->t;
		lj->t = NULL;
		map_generation(ks);
		if (ks->load_failed) {
			fng__log("info", "API key store readable again", "state_dir", ks->dir, NULL);
		}
		ks->load_failed = false;
	} else {
		ktable_free(lj->t);
		ks->load_failed_ms = uv_now(ks->loop);
		if (!ks->load_failed) {
			fng__log("error", "API key store cannot be read", "state_dir", ks->dir,
				"cause", j->msg, NULL);
		}
		ks->load_failed = true;
		ks->load_err = err;
	}
	free(lj);
	fng__kwait_wake(&ks->key_waiters, err);
}

static bool keys_stale(const struct fng_keystate *ks)
{
	return !ks->keys ||
		(ks->gen_map && __atomic_load_n(ks->gen_map, __ATOMIC_ACQUIRE) != ks->keys->gen);
}

/* Constant time in the bytes compared. */
static bool hash_eq(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (size_t i = 0; i < FNG_KEY_HASH_BYTES; i++) {
		d |= a[i] ^ b[i];
	}
	return d == 0;
}

int fng__keys_find(struct fng_keystate *ks, const void *key, size_t len, struct fng_kwait *w,
	const struct fng_key_entry **out)
{
	uint8_t hash[FNG_KEY_HASH_BYTES];
	const struct ktable *t;

	if (keys_stale(ks)) {
		/* After a failed read, no new try for a second; the table read last serves. */
		bool resting = ks->load_failed && uv_now(ks->loop) - ks->load_failed_ms < 1000;

		if (!resting && !ks->loading) {
			struct load_job *lj = calloc(1, sizeof(*lj));

			if (!lj) {
				return -ENOMEM;
			}
			lj->ks = ks;
			lj->job.work = load_work;
			lj->job.done = load_done;
			ks->loading = true;
			fng__keystate_submit(ks, &lj->job);
		}
		if (ks->loading) {
			fng__list_append(&ks->key_waiters, &w->link);
			return FNG_KEYSTATE_PENDING;
		}
	}
	t = ks->keys;
	if (!t) {
		return ks->load_err ? ks->load_err : -EIO;
	}
	fng__key_hash(key, len, hash);
	for (size_t s = ktable_home(t, hash);; s = (s + 1) & (t->nidx - 1)) {
		uint32_t i = t->idx[s];

		if (!i) {
			return -ENOENT;
		}
		if (hash_eq(t->e[i - 1].hash, hash)) {
			*out = &t->e[i - 1];
			return 0;
		}
	}
}

/* ---- the loop's state ---- */

struct fng_keystate *fng__keystate_get(struct fng_server *srv)
{
	struct fng_keystate *ks = srv->keys;

	if (ks) {
		return ks;
	}
	ks = calloc(1, sizeof(*ks));
	if (!ks || !(ks->dir = strdup(srv->cfg->state_dir))) {
		free(ks);
		return NULL;
	}
	ks->srv = srv;
	ks->loop = srv->loop;
	fng__list_init(&ks->jobs);
	fng__list_init(&ks->key_waiters);
	if (fng__quota_init(ks) != 0) {
		free(ks->dir);
		free(ks);
		return NULL;
	}
	srv->keys = ks;
	return ks;
}

void fng__keystate_close(struct fng_server *srv)
{
	if (srv->keys) {
		fng__quota_close(srv->keys);
	}
}

void fng__keystate_free(struct fng_server *srv)
{
	struct fng_keystate *ks = srv->keys;

	if (!ks) {
		return;
	}
	/* The loop has run every job to completion (daemon.c runs it to the end first). */
	fng__quota_finish(ks);
	if (ks->db) {
		fng__keydb_close(ks->db);
	}
	if (ks->gen_map) {
		munmap((void *)ks->gen_map, sizeof(uint64_t));
	}
	ktable_free(ks->keys);
	free(ks->dir);
	free(ks);
	srv->keys = NULL;
}
