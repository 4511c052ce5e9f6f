/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_KEYSTATE_INT_H
#define FNG_GATEWAY_KEYSTATE_INT_H

/* What keystate.c and quota.c share: the loop's key state itself. */

#include "keystate.h"
#include "server.h"

struct ktable;

struct fng_keystate {
	struct fng_server *srv;
	uv_loop_t *loop;
	char *dir;                   /* state_dir as it was at creation */

	/* The database and its jobs, one at a time on the thread pool. */
	struct fng_keydb *db;        /* opened by the first job; used by one thread at a time */
	char open_err[FNG_KEYDB_ERR];
	struct fng_list jobs;
	struct fng_kjob *cur;
	uv_work_t work;
	bool running;

	/* The key table. */
	struct ktable *keys;
	const uint64_t *gen_map;     /* keys.gen, mapped read-only; NULL until it exists */
	bool loading, load_failed;
	int load_err;
	uint64_t load_failed_ms;
	struct fng_list key_waiters;

	/* Quota counters (quota.c). */
	struct fng_hmap counters;
	struct fng_list dirty;       /* counters with something to write */
	char write_msg[FNG_KEYDB_ERR]; /* the last failure, for the log */
	uv_timer_t flush_timer;
	bool flush_started, writing;
	bool waking;                 /* write_done wakes waiters: it starts the next write itself */
	struct fng_report store_failed;
	uint64_t transactions, rows;  /* quota writes done, and the rows they wrote (logged at exit) */
};

/* Wakes every waiter of the list with rc; a waiter may wait again on it from done. */
void fng__kwait_wake(struct fng_list *waiters, int rc);

/* quota.c: sets up and tears down the counters. */
int fng__quota_init(struct fng_keystate *ks);
void fng__quota_close(struct fng_keystate *ks);
void fng__quota_finish(struct fng_keystate *ks);

#endif
