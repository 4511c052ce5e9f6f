// SPDX-License-Identifier: MIT
/*
 * The API key and quota database (keydb.h): SQLite under state_dir, written by `fngate keys`
 * and by the gateway's thread pool (keyring.c, quota.c), never on the loop. Only a key's
 * SHA-256 is stored; the key exists in memory once, in fng__keydb_create()'s output.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "chars.h"
#include "keydb.h"

#define SCHEMA_VERSION 1

/*
 * The schema of version 1. keys.revoked_ms is 0 for a live key; key_plans.ord keeps the
 * order the plans were given in (the first plan attached to a stage is the one that applies).
 * usage.reserved is what the quota engine wrote ahead of use: after a crash, used restarts
 * from it, so a key is under-served by at most one batch and never over-served.
 */
static const char schema[] =
	"CREATE TABLE keys ("
	" id TEXT PRIMARY KEY,"
	" hash BLOB NOT NULL UNIQUE,"
	" name TEXT NOT NULL DEFAULT '',"
	" created_ms INTEGER NOT NULL,"
	" revoked_ms INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE key_plans ("
	" id TEXT NOT NULL,"
	" plan TEXT NOT NULL,"
	" ord INTEGER NOT NULL,"
	" PRIMARY KEY (id, plan));"
	"CREATE TABLE usage ("
	" id TEXT NOT NULL,"
	" plan TEXT NOT NULL,"
	" period_start INTEGER NOT NULL,"
	" used INTEGER NOT NULL,"
	" reserved INTEGER NOT NULL,"
	" PRIMARY KEY (id, plan));"
	"PRAGMA user_version = 1;";

/* The prepared statements, made once at open; every value is bound. */
enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_KEY_INSERT,
	ST_PLAN_INSERT,
	ST_REVOKE,
	ST_KEY_GET,
	ST_PLANS_GET,
	ST_EACH,
	ST_USAGE_GET,
	ST_USAGE_PUT,
	ST__COUNT,
};

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_KEY_INSERT] = "INSERT INTO keys (id, hash, name, created_ms, revoked_ms) "
		"VALUES (?1, ?2, ?3, ?4, 0)",
	[ST_PLAN_INSERT] = "INSERT INTO key_plans (id, plan, ord) VALUES (?1, ?2, ?3)",
	[ST_REVOKE] = "UPDATE keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0",
	[ST_KEY_GET] = "SELECT id, hash, name, created_ms, revoked_ms FROM keys WHERE id = ?1",
	[ST_PLANS_GET] = "SELECT plan FROM key_plans WHERE id = ?1 ORDER BY ord",
	[ST_EACH] = "SELECT id, hash, name, created_ms, revoked_ms FROM keys ORDER BY rowid",
	[ST_USAGE_GET] = "SELECT period_start, used, reserved FROM usage "
		"WHERE id = ?1 AND plan = ?2",
	[ST_USAGE_PUT] = "INSERT OR REPLACE INTO usage (id, plan, period_start, used, reserved) "
		"VALUES (?1, ?2, ?3, ?4, ?5)",
};

struct fng_keydb {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	uint64_t *gen;            /* keys.gen, mapped shared read-write (read-only: see ro) */
	bool ro;                  /* on a read-only file system: reads work, writes fail */
	char path[PATH_MAX];      /* DIR/fngate.db, for messages */
};

static void seterr(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, FNG_KEYDB_ERR, fmt, ap);
	va_end(ap);
}

/* SQLite's result as an errno: a full disk and a read-only file are worth telling apart. */
static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	default:
		return -EIO;
	}
}

/* "FILE: what failed: sqlite's message", before anything (a rollback) replaces the message. */
static int sql_fail(struct fng_keydb *kd, int rc, const char *what, char *err)
{
	seterr(err, "%s: %s: %s", kd->path, what, kd->db ? sqlite3_errmsg(kd->db)
							  : sqlite3_errstr(rc));
	return sql_errno(rc);
}

/* Runs a statement without rows (BEGIN, INSERT, ...) and resets it. */
static int run(struct fng_keydb *kd, enum stmt s, const char *what, char *err)
{
	int rc = sqlite3_step(kd->st[s]);

	if (rc != SQLITE_DONE) {
		rc = sql_fail(kd, rc, what, err);
	} else {
		rc = 0;
	}
	sqlite3_reset(kd->st[s]);
	sqlite3_clear_bindings(kd->st[s]);
	return rc;
}

static void done(struct fng_keydb *kd, enum stmt s)
{
	sqlite3_reset(kd->st[s]);
	sqlite3_clear_bindings(kd->st[s]);
}

/* Ends a transaction that failed: the error already in err stays. */
static void rollback(struct fng_keydb *kd)
{
	sqlite3_step(kd->st[ST_ROLLBACK]);
	sqlite3_reset(kd->st[ST_ROLLBACK]);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fng__keydb_gen_path(const char *dir, char *out, size_t size)
{
	int n;

	if (!size) {
		return -EINVAL;
	}
	n = snprintf(out, size, "%s/keys.gen", dir);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * The state directory: made 0700 when missing and create is set; refused when it is a link, not
 * a directory, writable by others than its owner or owned by someone else than this user or
 * root (who could otherwise swap the database under the gateway). -errno with err.
 */
static int check_dir(const char *dir, bool create, char *err)
{
	struct stat st;

	if (lstat(dir, &st) != 0) {
		int e = errno;

		if (e != ENOENT || !create) {
			seterr(err, "state_dir %s: %s", dir, strerror(e));
			return -e;
		}
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			e = errno;
			seterr(err, "state_dir %s: cannot create it: %s", dir, strerror(e));
			return -e;
		}
		if (lstat(dir, &st) != 0) {
			e = errno;
			seterr(err, "state_dir %s: %s", dir, strerror(e));
			return -e;
		}
	}
	if (S_ISLNK(st.st_mode)) {
		seterr(err, "state_dir %s: is a symbolic link (give the directory it points to)", dir);
		return -ELOOP;
	}
	if (!S_ISDIR(st.st_mode)) {
		seterr(err, "state_dir %s: not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		seterr(err, "state_dir %s: writable by group or others (mode %04o): chmod 700 it", dir,
			(unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		seterr(err, "state_dir %s: owned by uid %u, not by this user (uid %u) or root", dir,
			(unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

/*
 * Opens (O_CREAT when create) a file of the state directory with mode 0600, never through a
 * link; refuses one that is not a regular file or that others may read or write (the -wal and
 * -shm files SQLite makes copy the database's mode). A descriptor or -errno with err.
 */
static int open_private(const char *path, bool create, struct stat *st, bool *ro, char *err)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	int e;

	if (fd < 0 && errno == EROFS) {
		/* A read-only file system: what is there can still be read (keys, counters). */
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		*ro = fd >= 0;
	}
	if (fd < 0) {
		e = errno;
		seterr(err, "%s: %s", path, e == ELOOP ? "is a symbolic link" : strerror(e));
		return -e;
	}
	if (fstat(fd, st) != 0) {
		e = errno;
		seterr(err, "%s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	if (!S_ISREG(st->st_mode)) {
		seterr(err, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st->st_mode & 077) {
		seterr(err, "%s: open to group or others (mode %04o): chmod 600 it", path,
			(unsigned)(st->st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* keys.gen: 8 bytes, zero at first, mapped shared so every process sees one counter. */
static int map_gen(struct fng_keydb *kd, const char *dir, char *err)
{
	char path[PATH_MAX];
	struct stat st;
	void *p;
	int fd, rc;

	rc = fng__keydb_gen_path(dir, path, sizeof(path));
	if (rc) {
		seterr(err, "state_dir %s: path too long", dir);
		return rc;
	}
	fd = open_private(path, true, &st, &kd->ro, err);
	if (fd < 0) {
		return fd;
	}
	if (st.st_size != sizeof(uint64_t) && kd->ro) {
		seterr(err, "%s: not 8 bytes long, on a read-only file system", path);
		close(fd);
		return -EROFS;
	}
	if (st.st_size != sizeof(uint64_t)) {
		/* A new file; or, from a torn write we never make, one of the wrong size. */
		if (st.st_size != 0 || ftruncate(fd, sizeof(uint64_t)) != 0) {
			rc = st.st_size != 0 ? -EINVAL : -errno;
			seterr(err, "%s: %s", path, st.st_size != 0 ? "not 8 bytes long"
								   : strerror(-rc));
			close(fd);
			return rc;
		}
	}
	p = mmap(NULL, sizeof(uint64_t), PROT_READ | (kd->ro ? 0 : PROT_WRITE), MAP_SHARED, fd, 0);
	rc = -errno;
	close(fd);
	if (p == MAP_FAILED) {
		seterr(err, "%s: cannot map it: %s", path, strerror(-rc));
		return rc;
	}
	kd->gen = p;
	return 0;
}

static void bump_gen(struct fng_keydb *kd)
{
	if (!kd->ro) { /* read-only, nothing was written either */
		__atomic_add_fetch(kd->gen, 1, __ATOMIC_SEQ_CST);
	}
}

uint64_t fng__keydb_generation(struct fng_keydb *db)
{
	return __atomic_load_n(db->gen, __ATOMIC_SEQ_CST);
}

/* user_version 0 is a new file: the schema is made, in the transaction that checked it. */
static int schema_init(struct fng_keydb *kd, char *err)
{
	sqlite3_stmt *s = NULL;
	int rc, version;

	rc = sqlite3_exec(kd->db, kd->ro ? "BEGIN" : "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		return sql_fail(kd, rc, "cannot start a transaction", err);
	}
	rc = sqlite3_prepare_v2(kd->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK || (rc = sqlite3_step(s)) != SQLITE_ROW) {
		rc = sql_fail(kd, rc, "cannot read the schema version", err);
		goto fail;
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (version > SCHEMA_VERSION) {
		seterr(err, "%s: schema version %d is newer than this fngate's (%d): use the fngate "
			"that wrote it or a later one", kd->path, version, SCHEMA_VERSION);
		rc = -EPROTO;
		goto fail;
	}
	if (version == 0 && kd->ro) {
		seterr(err, "%s: a new database on a read-only file system", kd->path);
		rc = -EROFS;
		goto fail;
	}
	if (version == 0) {
		rc = sqlite3_exec(kd->db, schema, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = sql_fail(kd, rc, "cannot create the tables", err);
			goto fail;
		}
	}
	rc = sqlite3_exec(kd->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sql_fail(kd, rc, "cannot commit the schema", err);
		goto fail;
	}
	return 0;
fail:
	sqlite3_finalize(s);
	sqlite3_exec(kd->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* A PRAGMA whose answer must be want (journal_mode answers with the mode it got). */
static int pragma(struct fng_keydb *kd, const char *sql, const char *want, char *err)
{
	sqlite3_stmt *s = NULL;
	const char *got;
	int rc = sqlite3_prepare_v2(kd->db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sql_fail(kd, rc, sql, err);
		sqlite3_finalize(s);
		return rc;
	}
	got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
	if (want && (!got || strcmp(got, want) != 0)) {
		seterr(err, "%s: %s: got %s", kd->path, sql, got ? got : "nothing");
		sqlite3_finalize(s);
		return -EIO;
	}
	sqlite3_finalize(s);
	return 0;
}

struct fng_keydb *fng__keydb_open(const char *dir, bool create, char err[FNG_KEYDB_ERR])
{
	struct fng_keydb *kd;
	struct stat st;
	int rc, fd;

	rc = check_dir(dir, create, err);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	kd = calloc(1, sizeof(*kd));
	if (!kd) {
		seterr(err, "state_dir %s: out of memory", dir);
		errno = ENOMEM;
		return NULL;
	}
	if ((size_t)snprintf(kd->path, sizeof(kd->path), "%s/fngate.db", dir) >= sizeof(kd->path)) {
		seterr(err, "state_dir %s: path too long", dir);
		rc = -ENAMETOOLONG;
		goto fail;
	}
	/* Made here, 0600, so SQLite never creates it with the umask's mode. */
	fd = open_private(kd->path, create, &st, &kd->ro, err);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	close(fd);
	rc = map_gen(kd, dir, err);
	if (rc) {
		goto fail;
	}
	rc = sqlite3_open_v2(kd->path, &kd->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		rc = sql_fail(kd, rc, "cannot open", err);
		goto fail;
	}
	/* The command line and the gateway both write: wait for the other's lock. */
	sqlite3_busy_timeout(kd->db, 5000);
	/*
	 * The -wal and -shm files stay after the last close: a database whose file system is
	 * later remounted read-only can still be read (SQLite reads a read-only WAL database only
	 * when they exist).
	 */
	{
		int one = 1;

		sqlite3_file_control(kd->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	}
	/* Quota counters are money: a commit is on disk before it is acknowledged (FULL). */
	rc = pragma(kd, kd->ro ? "PRAGMA journal_mode" : "PRAGMA journal_mode=WAL", "wal", err);
	if (!rc) {
		rc = pragma(kd, "PRAGMA synchronous=FULL", NULL, err);
	}
	if (!rc) {
		rc = schema_init(kd, err);
	}
	for (int i = 0; !rc && i < ST__COUNT; i++) {
		int r = sqlite3_prepare_v3(kd->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
			&kd->st[i], NULL);

		if (r != SQLITE_OK) {
			rc = sql_fail(kd, r, "cannot prepare a statement", err);
		}
	}
	if (rc) {
		goto fail;
	}
	return kd;
fail:
	fng__keydb_close(kd);
	errno = -rc;
	return NULL;
}

void fng__keydb_close(struct fng_keydb *db)
{
	if (!db) {
		return;
	}
	for (int i = 0; i < ST__COUNT; i++) {
		sqlite3_finalize(db->st[i]);
	}
	sqlite3_close(db->db);
	if (db->gen) {
		munmap(db->gen, sizeof(uint64_t));
	}
	free(db);
}

void fng__key_hash(const void *key, size_t len, uint8_t out[FNG_KEY_HASH_BYTES])
{
	wc_Sha256 sha;

	/* Fails only for bad arguments, which these are not. */
	wc_InitSha256(&sha);
	wc_Sha256Update(&sha, key, (word32)len);
	wc_Sha256Final(&sha, out);
	wc_Sha256Free(&sha);
}

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int fill_random(uint8_t *p, size_t n)
{
	while (n) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/*
 * n uniform base62 characters: a random byte below 248 (4 * 62) gives one, by its remainder;
 * a byte of 248 or more is dropped (rejection sampling), lest the first 8 characters come up
 * more often than the others.
 */
static int random_base62(char *out, size_t n)
{
	uint8_t pool[64];
	size_t used = sizeof(pool);
	int rc;

	while (n) {
		if (used == sizeof(pool)) {
			rc = fill_random(pool, sizeof(pool));
			if (rc) {
				explicit_bzero(pool, sizeof(pool));
				return rc;
			}
			used = 0;
		}
		if (pool[used] < 248) {
			*out++ = base62[pool[used] % 62];
			n--;
		}
		used++;
	}
	explicit_bzero(pool, sizeof(pool));
	return 0;
}

static bool plan_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FNG_PLAN_NAME_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!fng__is_name_char((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/*
 * A key's name: UTF-8 (shortest forms, no surrogates) without C0, DEL or C1 controls, so a
 * listing can print it as it is. NULL when fine, else why not.
 */
static const char *name_problem(const char *name)
{
	const uint8_t *p = (const uint8_t *)name;
	size_t n = strlen(name);

	if (n > FNG_KEY_NAME_MAX) {
		return "longer than 128 bytes";
	}
	for (size_t i = 0; i < n;) {
		uint32_t c = p[i];
		unsigned len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
			: (c & 0xf8) == 0xf0 ? 4 : 0;

		if (!len || i + len > n) {
			return "not valid UTF-8";
		}
		c &= len == 1 ? 0x7f : len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07;
		for (unsigned k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				return "not valid UTF-8";
			}
			c = c << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
			c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
			return "not valid UTF-8";
		}
		if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
			return "holds a control character";
		}
		i += len;
	}
	return NULL;
}

static int check_plans(const char *const *plans, unsigned nplans, char *err)
{
	if (nplans < 1 || nplans > FNG_KEY_PLANS_MAX) {
		seterr(err, "a key needs 1 to %d usage plans, not %u", FNG_KEY_PLANS_MAX, nplans);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nplans; i++) {
		if (!plans[i] || !plan_name_ok(plans[i])) {
			seterr(err, "usage plan name \"%.64s\": use 1 to 64 of A-Z a-z 0-9 _ -",
				plans[i] ? plans[i] : "");
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++) {
			if (!strcmp(plans[i], plans[j])) {
				seterr(err, "usage plan \"%s\" is given twice", plans[i]);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int fng__keydb_create(struct fng_keydb *db, const char *name, const char *const *plans,
	unsigned nplans, char key[FNG_KEY_LEN + 1], struct fng_key_rec *rec,
	char err[FNG_KEYDB_ERR])
{
	struct fng_key_rec r = { .nplans = nplans };
	const char *why;
	int rc;

	name = name ? name : "";
	why = name_problem(name);
	if (why) {
		seterr(err, "key name: %s", why);
		return -EINVAL;
	}
	rc = check_plans(plans, nplans, err);
	if (rc) {
		return rc;
	}
	memcpy(key, "fng_", 4);
	r.id[0] = 'k';
	rc = random_base62(key + 4, FNG_KEY_LEN - 4);
	if (!rc) {
		rc = random_base62(r.id + 1, FNG_KEY_ID_LEN - 1);
	}
	if (rc) {
		seterr(err, "getrandom: %s", strerror(-rc));
		explicit_bzero(key, FNG_KEY_LEN + 1);
		return rc;
	}
	key[FNG_KEY_LEN] = '\0';
	fng__key_hash(key, FNG_KEY_LEN, r.hash);
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.created_ms = now_ms();
	for (unsigned i = 0; i < nplans; i++) {
		snprintf(r.plans[i], sizeof(r.plans[i]), "%s", plans[i]);
	}

	rc = run(db, ST_BEGIN, "cannot start a transaction", err);
	if (rc) {
		goto fail;
	}
	sqlite3_bind_text(db->st[ST_KEY_INSERT], 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(db->st[ST_KEY_INSERT], 2, r.hash, FNG_KEY_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(db->st[ST_KEY_INSERT], 3, r.name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(db->st[ST_KEY_INSERT], 4, r.created_ms);
	rc = run(db, ST_KEY_INSERT, "cannot insert the key", err);
	for (unsigned i = 0; !rc && i < nplans; i++) {
		sqlite3_bind_text(db->st[ST_PLAN_INSERT], 1, r.id, -1, SQLITE_STATIC);
		sqlite3_bind_text(db->st[ST_PLAN_INSERT], 2, r.plans[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(db->st[ST_PLAN_INSERT], 3, (int)i);
		rc = run(db, ST_PLAN_INSERT, "cannot insert the key's plans", err);
	}
	if (!rc) {
		rc = run(db, ST_COMMIT, "cannot commit the key", err);
	}
	if (rc) {
		rollback(db);
		goto fail;
	}
	bump_gen(db);
	if (rec) {
		*rec = r;
	}
	return 0;
fail:
	explicit_bzero(key, FNG_KEY_LEN + 1);
	return rc;
}

/* The key's plans into rec (ST_PLANS_GET). */
static int load_plans(struct fng_keydb *db, struct fng_key_rec *rec, char *err)
{
	sqlite3_stmt *s = db->st[ST_PLANS_GET];
	int rc;

	rec->nplans = 0;
	sqlite3_bind_text(s, 1, rec->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(s, 0);

		if (rec->nplans < FNG_KEY_PLANS_MAX && p) {
			snprintf(rec->plans[rec->nplans++], FNG_PLAN_NAME_MAX + 1, "%s", p);
		}
	}
	rc = rc == SQLITE_DONE ? 0 : sql_fail(db, rc, "cannot read a key's plans", err);
	done(db, ST_PLANS_GET);
	return rc;
}

/* The row s stands on (id, hash, name, created_ms, revoked_ms) into rec, plans apart. */
static void read_key(sqlite3_stmt *s, struct fng_key_rec *rec)
{
	const char *id = (const char *)sqlite3_column_text(s, 0);
	const char *name = (const char *)sqlite3_column_text(s, 2);
	const void *hash = sqlite3_column_blob(s, 1);

	memset(rec, 0, sizeof(*rec));
	snprintf(rec->id, sizeof(rec->id), "%s", id ? id : "");
	if (hash && sqlite3_column_bytes(s, 1) == FNG_KEY_HASH_BYTES) {
		memcpy(rec->hash, hash, FNG_KEY_HASH_BYTES);
	}
	snprintf(rec->name, sizeof(rec->name), "%s", name ? name : "");
	rec->created_ms = sqlite3_column_int64(s, 3);
	rec->revoked_ms = sqlite3_column_int64(s, 4);
}

int fng__keydb_get(struct fng_keydb *db, const char *id, struct fng_key_rec *rec,
	char err[FNG_KEYDB_ERR])
{
	sqlite3_stmt *s = db->st[ST_KEY_GET];
	int rc;

	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_key(s, rec);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		seterr(err, "no key %.*s", FNG_KEY_ID_LEN * 2, id);
		rc = -ENOENT;
	} else {
		rc = sql_fail(db, rc, "cannot read a key", err);
	}
	done(db, ST_KEY_GET);
	return rc ? rc : load_plans(db, rec, err);
}

int fng__keydb_revoke(struct fng_keydb *db, const char *id, char err[FNG_KEYDB_ERR])
{
	struct fng_key_rec rec;
	int rc;

	sqlite3_bind_text(db->st[ST_REVOKE], 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(db->st[ST_REVOKE], 2, now_ms());
	rc = run(db, ST_REVOKE, "cannot revoke the key", err);
	if (rc) {
		return rc;
	}
	if (sqlite3_changes(db->db) == 0) {
		/* Already revoked (its first time stays), or no such key. */
		return fng__keydb_get(db, id, &rec, err);
	}
	bump_gen(db);
	return 0;
}

int fng__keydb_each(struct fng_keydb *db, int (*fn)(void *ctx, const struct fng_key_rec *rec),
	void *ctx, char err[FNG_KEYDB_ERR])
{
	sqlite3_stmt *s = db->st[ST_EACH];
	struct fng_key_rec rec;
	int rc;

	/* The open statement holds one read snapshot: the plans read below are of the same one. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_key(s, &rec);
		rc = load_plans(db, &rec, err);
		if (!rc) {
			rc = fn(ctx, &rec);
		}
		if (rc) {
			done(db, ST_EACH);
			return rc;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : sql_fail(db, rc, "cannot list the keys", err);
	done(db, ST_EACH);
	return rc;
}

int fng__keydb_usage_get(struct fng_keydb *db, const char *id, const char *plan,
	struct fng_usage_rec *u, char err[FNG_KEYDB_ERR])
{
	sqlite3_stmt *s = db->st[ST_USAGE_GET];
	int rc;

	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, plan, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		u->period_start = sqlite3_column_int64(s, 0);
		u->used = (uint64_t)sqlite3_column_int64(s, 1);
		u->reserved = (uint64_t)sqlite3_column_int64(s, 2);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		seterr(err, "no usage of key %.*s under plan %.64s", FNG_KEY_ID_LEN * 2, id, plan);
		rc = -ENOENT;
	} else {
		rc = sql_fail(db, rc, "cannot read usage", err);
	}
	done(db, ST_USAGE_GET);
	return rc;
}

int fng__keydb_usage_put(struct fng_keydb *db, const struct fng_usage_put *rows, unsigned n,
	char err[FNG_KEYDB_ERR])
{
	sqlite3_stmt *s = db->st[ST_USAGE_PUT];
	int rc;

	rc = run(db, ST_BEGIN, "cannot start a transaction", err);
	if (rc) {
		return rc;
	}
	for (unsigned i = 0; !rc && i < n; i++) {
		/* A NULL id or plan binds NULL, which the NOT NULL columns refuse: all or none. */
		sqlite3_bind_text(s, 1, rows[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, rows[i].plan, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, rows[i].u.period_start);
		sqlite3_bind_int64(s, 4, (int64_t)rows[i].u.used);
		sqlite3_bind_int64(s, 5, (int64_t)rows[i].u.reserved);
		rc = run(db, ST_USAGE_PUT, "cannot record usage", err);
	}
	if (!rc) {
		rc = run(db, ST_COMMIT, "cannot commit usage", err);
	}
	if (rc) {
		rollback(db);
	}
	return rc;
}
