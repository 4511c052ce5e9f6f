/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_KEYSTATE_H
#define FNG_GATEWAY_KEYSTATE_H

/*
 * One loop's view of the API key database (keydb.h): the key table in memory, the quota
 * counters, and the one queue of database jobs that runs them on the thread pool, one at a
 * time (a SQLite handle is used by one thread at a time, and a queue lets quota writes share
 * a transaction). Nothing here touches the disk on the loop thread.
 *
 * Keys. The table holds every key's SHA-256, id, plans and revocation, loaded from the
 * database at the first lookup and again whenever the generation in state_dir/keys.gen (a
 * shared mapping: one memory read per lookup) has moved: `fngate keys revoke` from another
 * process takes effect on the next request. A lookup hashes what the client sent and finds
 * the hash: its time depends on the SHA-256 of the input, never on how close the input is to
 * a key.
 *
 * Quotas (quota.c). A counter per key and plan: requests granted in the current period
 * (used) and the bound recorded on disk (reserved). A request is granted at once while
 * used < reserved; otherwise a job first records reserved = min(quota, used + batch), and the
 * request waits for it. A crash therefore loses nothing it granted: after a restart a counter
 * starts from the recorded bound, so a crash errs towards refusing, by at most one batch per
 * key and plan. Used counts are also written every second (for `fngate keys usage`) and
 * exactly at exit.
 */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "keydb.h"
#include "mem.h"

struct fng_server;
struct fng_keystate;

/* A request waiting for a job: done runs once, on the loop (rc: 0 or a negative errno). */
struct fng_kwait {
	struct fng_list link;
	void (*done)(struct fng_kwait *w, int rc);
};

/* A key as the table holds it: valid while the caller runs (until the next reload). */
struct fng_key_entry {
	char id[FNG_KEY_ID_LEN + 1];
	uint8_t hash[FNG_KEY_HASH_BYTES];
	bool revoked;
	unsigned nplans;
	const char *plans[FNG_KEY_PLANS_MAX];
};

#define FNG_KEYSTATE_PENDING 1

/* The loop's key state, created at the first call (srv->keys); NULL without memory. */
struct fng_keystate *fng__keystate_get(struct fng_server *srv);
/* Closes the loop handles (with the server's, before the loop runs to its end). */
void fng__keystate_close(struct fng_server *srv);
/* Records exact usage, closes the database and frees it all (the loop has stopped). */
void fng__keystate_free(struct fng_server *srv);

/*
 * Finds the key of len bytes: 0 and *out, -ENOENT when no key has its hash,
 * FNG_KEYSTATE_PENDING when the table is being (re)loaded (w->done follows; ask again), or
 * a negative errno when the database cannot be read (logged).
 */
int fng__keys_find(struct fng_keystate *ks, const void *key, size_t len, struct fng_kwait *w,
	const struct fng_key_entry **out);

/* Removes a waiting w; its done is not called. */
void fng__kwait_cancel(struct fng_kwait *w);

struct fng_quota_answer {
	bool refused;             /* the quota of the period is used up */
	uint64_t limit, remaining;
	int64_t reset_at;         /* the next period's first second */
};

/*
 * Counts one request of key id under plan p (which has a quota) at now_s (seconds since the
 * epoch, UTC): 0 with *ans (granted, or refused), FNG_KEYSTATE_PENDING while the counter is
 * read or a reservation is recorded (w->done follows; ask again), or -EIO when the store
 * cannot record it and p fails closed.
 */
int fng__quota_take(struct fng_keystate *ks, const char *id, const struct fng_usage_plan *p,
	int64_t now_s, struct fng_kwait *w, struct fng_quota_answer *ans);

/* The loop's count of key id under plan p in the period of now_s, into *used if it has one. */
void fng__quota_peek(struct fng_keystate *ks, const char *id, const struct fng_usage_plan *p,
	int64_t now_s, uint64_t *used);

/*
 * A database job: work runs on the thread pool with the open database (not at all when it
 * cannot be opened: err is then -EIO and msg says why), done on the loop, once.
 */
struct fng_kjob {
	struct fng_list link;
	void (*work)(struct fng_kjob *j, struct fng_keydb *db);
	void (*done)(struct fng_kjob *j);
	int err;                  /* work's result: 0 or a negative errno */
	char msg[FNG_KEYDB_ERR];  /* the cause of a failure */
};

/* Queues j behind the jobs before it (the admin API's key operations). */
void fng__keystate_submit(struct fng_keystate *ks, struct fng_kjob *j);

#endif
