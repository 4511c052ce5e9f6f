/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_KEYDB_H
#define FNG_GATEWAY_KEYDB_H

/*
 * The API key and quota database: SQLite in WAL mode, one file `fngate.db` under the
 * configured state_dir (created 0700, the file 0600), plus `keys.gen`, an 8-byte generation
 * counter that every change to the keys increments (the gateway maps it and reloads its key
 * table when it moves: a revocation by `fngate keys revoke` takes effect on the next request).
 *
 * Synchronous calls: the command line uses them directly, the gateway only on its thread
 * pool (state/keyring.c, state/quota.c), one call at a time per handle. A key itself is
 * never stored, logged or returned after creation: only its SHA-256 (wolfCrypt).
 *
 * Errors: 0 or a negative errno (-ENOENT: no such key; -ENOSPC: disk full; -EROFS: read-only;
 * -EIO: another SQLite failure; -EINVAL: bad argument); err, when not NULL, receives a
 * sentence naming the file and the cause.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FNG_KEY_HASH_BYTES 32
#define FNG_KEY_ID_LEN 12         /* "k" + 11 base62 characters */
#define FNG_KEY_LEN 44            /* "fng_" + 40 base62 characters (about 238 bits) */
#define FNG_KEY_NAME_MAX 128
#define FNG_KEY_PLANS_MAX 16
#define FNG_PLAN_NAME_MAX 64
#define FNG_KEYDB_ERR 256

/* An API key as stored: never the key. */
struct fng_key_rec {
	char id[FNG_KEY_ID_LEN + 1];
	uint8_t hash[FNG_KEY_HASH_BYTES];
	char name[FNG_KEY_NAME_MAX + 1];
	int64_t created_ms;        /* ms since the epoch */
	int64_t revoked_ms;        /* 0: live */
	unsigned nplans;
	char plans[FNG_KEY_PLANS_MAX][FNG_PLAN_NAME_MAX + 1];
};

/* A key's usage of one plan in one quota period. */
struct fng_usage_rec {
	int64_t period_start;      /* seconds since the epoch, UTC: the period's first second */
	uint64_t used;             /* requests granted, as last recorded */
	uint64_t reserved;         /* the bound a crash can not exceed: used <= reserved */
};

struct fng_keydb;

/*
 * Opens (create: creating the directory 0700 and the database 0600 when missing) the
 * database under dir. Refuses a state_dir that is a symbolic link, not a directory, or
 * writable by others than its owner (or owned by someone else than this user or root), and a
 * database or keys.gen that is a link, not a regular file or open to group or others. NULL with
 * err set and errno (ENOENT: no directory, or no database and create unset) on failure.
 */
struct fng_keydb *fng__keydb_open(const char *dir, bool create, char err[FNG_KEYDB_ERR]);
void fng__keydb_close(struct fng_keydb *db);

/*
 * Creates a key in plans (names, 1..FNG_KEY_PLANS_MAX, each [A-Za-z0-9_-]{1,64}) with name
 * (may be ""): key receives the key itself (NUL-terminated; the only time it exists),
 * rec the stored record (rec->hash is fng__key_hash(key, FNG_KEY_LEN): the 44 characters, as a
 * client sends them). Bumps the generation.
 */
int fng__keydb_create(struct fng_keydb *db, const char *name, const char *const *plans,
	unsigned nplans, char key[FNG_KEY_LEN + 1], struct fng_key_rec *rec,
	char err[FNG_KEYDB_ERR]);
/* Revokes key id (revoked_ms = now; revoking twice keeps the first time). Bumps the generation. */
int fng__keydb_revoke(struct fng_keydb *db, const char *id, char err[FNG_KEYDB_ERR]);
/* The record of key id; -ENOENT when there is none. */
int fng__keydb_get(struct fng_keydb *db, const char *id, struct fng_key_rec *rec,
	char err[FNG_KEYDB_ERR]);
/*
 * Calls fn for every key, in creation order, revoked ones included; fn returning non-zero
 * stops the walk and is returned.
 */
int fng__keydb_each(struct fng_keydb *db, int (*fn)(void *ctx, const struct fng_key_rec *rec),
	void *ctx, char err[FNG_KEYDB_ERR]);

/* Usage of key id under plan: -ENOENT when none was recorded. */
int fng__keydb_usage_get(struct fng_keydb *db, const char *id, const char *plan,
	struct fng_usage_rec *u, char err[FNG_KEYDB_ERR]);
struct fng_usage_put {
	const char *id, *plan;
	struct fng_usage_rec u;
};
/* Records n usage rows (insert or replace) in one transaction: all or none. */
int fng__keydb_usage_put(struct fng_keydb *db, const struct fng_usage_put *rows, unsigned n,
	char err[FNG_KEYDB_ERR]);

/* The generation counter's file, for mapping (state/keyring.c): "DIR/keys.gen". */
int fng__keydb_gen_path(const char *dir, char *out, size_t size);
/* The current generation (read from keys.gen). */
uint64_t fng__keydb_generation(struct fng_keydb *db);

/* SHA-256 of len bytes (wolfCrypt). */
void fng__key_hash(const void *key, size_t len, uint8_t out[FNG_KEY_HASH_BYTES]);

#endif
