// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/state/keydb.c, in a temporary directory: keys created, read, listed
 * and revoked; the generation file seen by a second handle; the stored hash against SHA-256
 * test vectors; the key and id alphabets; usage rows all or none; the state directory's and
 * files' permissions and the refusals; a reopen; a schema newer than this build refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "keydb.h"

static char tmp[] = "/tmp/fngate-unit-keydb-XXXXXX";

static void at(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmp, name);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		sprintf(out + 2 * i, "%02x", p[i]);
	}
}

static bool base62_only(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
			return false;
		}
	}
	return true;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

struct walk {
	unsigned n, stop_at;
	char ids[4][FNG_KEY_ID_LEN + 1];
};

static int collect(void *ctx, const struct fng_key_rec *rec)
{
	struct walk *w = ctx;

	if (w->n < 4) {
		snprintf(w->ids[w->n], sizeof(w->ids[0]), "%s", rec->id);
	}
	w->n++;
	return w->stop_at && w->n == w->stop_at ? 7 : 0;
}

static void test_hash(void)
{
	uint8_t h[FNG_KEY_HASH_BYTES];
	char x[2 * FNG_KEY_HASH_BYTES + 1];

	fng__key_hash("abc", 3, h);
	hex(h, sizeof(h), x);
	CHECK_STR(x, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"SHA-256(\"abc\") (FIPS 180-2 vector)");
	fng__key_hash("", 0, h);
	hex(h, sizeof(h), x);
	CHECK_STR(x, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"SHA-256(\"\")");
}

static void test_refusals(void)
{
	char dir[256], err[FNG_KEYDB_ERR], path[300];
	struct fng_keydb *db;
	int fd;

	at(dir, sizeof(dir), "missing");
	err[0] = '\0';
	errno = 0;
	db = fng__keydb_open(dir, false, err);
	CHECK(!db && errno == ENOENT && strstr(err, dir), "a missing state_dir without create: "
		"ENOENT naming it (%s)", err);

	at(dir, sizeof(dir), "open");
	mkdir(dir, 0777);
	chmod(dir, 0777);
	db = fng__keydb_open(dir, true, err);
	CHECK(!db && errno == EPERM && strstr(err, dir) && strstr(err, "writable by group or others"),
		"a world-writable state_dir is refused (%s)", err);
	chmod(dir, 0770);
	db = fng__keydb_open(dir, true, err);
	CHECK(!db && strstr(err, "writable by group"), "a group-writable one too (%s)", err);
	snprintf(path, sizeof(path), "%s/fngate.db", dir);
	CHECK(access(path, F_OK) != 0, "and nothing was created in it");

	at(dir, sizeof(dir), "real");
	mkdir(dir, 0700);
	at(path, sizeof(path), "link");
	if (symlink(dir, path) != 0) {
		printf("# symlink: %s\n", strerror(errno));
	}
	db = fng__keydb_open(path, true, err);
	CHECK(!db && errno == ELOOP && strstr(err, path) && strstr(err, "symbolic link"),
		"a state_dir that is a symbolic link is refused (%s)", err);

	at(path, sizeof(path), "file");
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	db = fng__keydb_open(path, true, err);
	CHECK(!db && errno == ENOTDIR && strstr(err, "not a directory"),
		"a state_dir that is a file is refused (%s)", err);

	/* A database file others may read: refused, not silently kept. */
	at(dir, sizeof(dir), "loose");
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/fngate.db", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	fchmod(fd, 0644);
	close(fd);
	db = fng__keydb_open(dir, true, err);
	CHECK(!db && errno == EPERM && strstr(err, "fngate.db") && strstr(err, "chmod 600"),
		"a database readable by others is refused (%s)", err);

	/* A database that is a link to elsewhere. */
	at(dir, sizeof(dir), "dblink");
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/fngate.db", dir);
	if (symlink("/etc/passwd", path) != 0) {
		printf("# symlink: %s\n", strerror(errno));
	}
	db = fng__keydb_open(dir, true, err);
	CHECK(!db && strstr(err, "symbolic link"), "a database that is a link is refused (%s)", err);

	at(dir, sizeof(dir), "nodb");
	mkdir(dir, 0700);
	errno = 0;
	db = fng__keydb_open(dir, false, err);
	CHECK(!db && errno == ENOENT, "no database and create unset: ENOENT (%s)", err);
}

static void test_validation(struct fng_keydb *db)
{
	static const char *const one[] = { "demo" }, *const dup[] = { "a", "b", "a" },
		*const bad[] = { "a b" }, *const many[17] = { "p0", "p1", "p2", "p3", "p4", "p5",
		"p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14", "p15", "p16" };
	char key[FNG_KEY_LEN + 1], err[FNG_KEYDB_ERR], name[200];
	const char *long_plan[1];
	char plan65[66];
	uint64_t g = fng__keydb_generation(db);
	int rc;

	rc = fng__keydb_create(db, "x", one, 0, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "1 to 16"), "no plan: -EINVAL (%s)", err);
	rc = fng__keydb_create(db, "x", many, 17, key, NULL, err);
	CHECK(rc == -EINVAL, "17 plans: -EINVAL (%s)", err);
	rc = fng__keydb_create(db, "x", many, 16, key, NULL, err);
	CHECK_INT(rc, 0, "16 plans are fine");
	rc = fng__keydb_create(db, "x", dup, 3, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "twice"), "a plan twice: -EINVAL (%s)", err);
	rc = fng__keydb_create(db, "x", bad, 1, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "a b"), "a plan name with a space: -EINVAL (%s)", err);
	memset(plan65, 'p', 65);
	plan65[65] = '\0';
	long_plan[0] = plan65;
	rc = fng__keydb_create(db, "x", long_plan, 1, key, NULL, err);
	CHECK(rc == -EINVAL, "a plan name of 65 characters: -EINVAL (%s)", err);

	rc = fng__keydb_create(db, "a\x01z", one, 1, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "control"), "a C0 control in the name (%s)", err);
	rc = fng__keydb_create(db, "a\x7fz", one, 1, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "control"), "DEL in the name (%s)", err);
	rc = fng__keydb_create(db, "a\xc2\x85z", one, 1, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "control"), "a C1 control (U+0085) in the name (%s)", err);
	rc = fng__keydb_create(db, "a\xffz", one, 1, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "UTF-8"), "a byte that is not UTF-8 (%s)", err);
	rc = fng__keydb_create(db, "\xc0\xaf", one, 1, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "UTF-8"), "an overlong form (%s)", err);
	rc = fng__keydb_create(db, "\xed\xa0\x80", one, 1, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "UTF-8"), "a surrogate (%s)", err);
	rc = fng__keydb_create(db, "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x94\x91", one, 1, key, NULL,
		err);
	CHECK_INT(rc, 0, "a name with accents and emoji is fine");
	memset(name, 'n', 129);
	name[129] = '\0';
	rc = fng__keydb_create(db, name, one, 1, key, NULL, err);
	CHECK(rc == -EINVAL && strstr(err, "128"), "a name of 129 bytes (%s)", err);
	name[128] = '\0';
	rc = fng__keydb_create(db, name, one, 1, key, NULL, err);
	CHECK_INT(rc, 0, "a name of 128 bytes is fine");
	CHECK_INT(fng__keydb_generation(db), g + 3, "only the three keys created moved the "
		"generation");
}

static void test_usage(struct fng_keydb *db)
{
	struct fng_usage_put rows[] = {
		{ "k1", "demo", { 1767225600, 10, 20 } },
		{ "k1", "gold", { 1767225600, 1ull << 40, (1ull << 40) + 1000 } },
	};
	struct fng_usage_rec u;
	char err[FNG_KEYDB_ERR];
	int rc;

	rc = fng__keydb_usage_get(db, "k1", "demo", &u, err);
	CHECK_INT(rc, -ENOENT, "no usage recorded yet: -ENOENT");
	rc = fng__keydb_usage_put(db, rows, 2, err);
	CHECK_INT(rc, 0, "two usage rows recorded (%s)", rc ? err : "");
	rc = fng__keydb_usage_get(db, "k1", "demo", &u, err);
	CHECK(rc == 0 && u.period_start == 1767225600 && u.used == 10 && u.reserved == 20,
		"the first reads back");
	rc = fng__keydb_usage_get(db, "k1", "gold", &u, err);
	CHECK(rc == 0 && u.used == 1ull << 40 && u.reserved == (1ull << 40) + 1000,
		"the second reads back, 64-bit counts kept");

	rows[0].u.used = 15;
	rc = fng__keydb_usage_put(db, rows, 1, err);
	rc = rc ? rc : fng__keydb_usage_get(db, "k1", "demo", &u, err);
	CHECK(rc == 0 && u.used == 15 && u.reserved == 20, "a row is replaced");

	/* The second row fails (NULL plan) after the first was written: none is kept. */
	rows[0].u.used = 19;
	rows[1].plan = NULL;
	rc = fng__keydb_usage_put(db, rows, 2, err);
	CHECK(rc == -EIO && strstr(err, "fngate.db") && strstr(err, "cannot record usage"),
		"a failing row fails the call: -EIO naming the file (%s)", err);
	rc = fng__keydb_usage_get(db, "k1", "demo", &u, err);
	CHECK(rc == 0 && u.used == 15, "and the row before it was rolled back: all or none");
	rc = fng__keydb_usage_put(db, rows, 1, err);
	CHECK_INT(rc, 0, "the handle is usable after the rollback (%s)", rc ? err : "");
}

int main(void)
{
	static const char *const plans[] = { "demo", "gold" };
	char key[FNG_KEY_LEN + 1], key2[FNG_KEY_LEN + 1], err[FNG_KEYDB_ERR], path[300];
	char (*keys)[FNG_KEY_LEN + 1];
	struct fng_key_rec rec, got;
	struct fng_keydb *db, *db2;
	uint8_t h[FNG_KEY_HASH_BYTES];
	struct walk w = { 0 };
	uint64_t g;
	bool ok;
	int rc;

	if (!mkdtemp(tmp)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_hash();
	test_refusals();

	at(path, sizeof(path), "state");
	db = fng__keydb_open(path, true, err);
	CHECK(db != NULL, "opened with create (%s)", db ? "" : err);
	if (!db) {
		return fng_test_done();
	}
	CHECK_INT(mode_of(path), 0700, "the state_dir was made 0700");
	at(path, sizeof(path), "state/fngate.db");
	CHECK_INT(mode_of(path), 0600, "fngate.db is 0600");
	at(path, sizeof(path), "state/keys.gen");
	CHECK_INT(mode_of(path), 0600, "keys.gen is 0600");
	rc = fng__keydb_gen_path(tmp, path, 8);
	CHECK_INT(rc, -ENAMETOOLONG, "gen_path into a short buffer: -ENAMETOOLONG");
	rc = fng__keydb_gen_path("/var/lib/fngate", path, sizeof(path));
	CHECK(rc == 0 && !strcmp(path, "/var/lib/fngate/keys.gen"), "gen_path: %s", path);

	g = fng__keydb_generation(db);
	CHECK_INT(g, 0, "a new database starts at generation 0");
	rc = fng__keydb_create(db, "ada's laptop", plans, 2, key, &rec, err);
	CHECK_INT(rc, 0, "a key is created (%s)", rc ? err : "");
	CHECK(strlen(key) == FNG_KEY_LEN && !strncmp(key, "fng_", 4) &&
		base62_only(key + 4, FNG_KEY_LEN - 4), "the key is fng_ + 40 base62 characters");
	CHECK(strlen(rec.id) == FNG_KEY_ID_LEN && rec.id[0] == 'k' &&
		base62_only(rec.id + 1, FNG_KEY_ID_LEN - 1), "its id is k + 11 base62: %s", rec.id);
	fng__key_hash(key, FNG_KEY_LEN, h);
	CHECK(!memcmp(h, rec.hash, sizeof(h)), "the record holds the key's SHA-256");
	CHECK(rec.created_ms > 1700000000000LL && rec.revoked_ms == 0, "created now, live");
	CHECK_INT(fng__keydb_generation(db), g + 1, "the generation moved");
	at(path, sizeof(path), "state/fngate.db-wal");
	CHECK_INT(mode_of(path), 0600, "the WAL file SQLite made is 0600 too");

	at(path, sizeof(path), "state");
	db2 = fng__keydb_open(path, false, err);
	CHECK(db2 != NULL, "a second handle opens without create (%s)", db2 ? "" : err);
	CHECK_INT(db2 ? fng__keydb_generation(db2) : 0, g + 1, "and reads the same generation");

	rc = fng__keydb_get(db2, rec.id, &got, err);
	CHECK(rc == 0 && !strcmp(got.id, rec.id) && !strcmp(got.name, "ada's laptop") &&
		!memcmp(got.hash, rec.hash, sizeof(h)) && got.created_ms == rec.created_ms &&
		got.revoked_ms == 0, "get through the second handle: the same record");
	CHECK(got.nplans == 2 && !strcmp(got.plans[0], "demo") && !strcmp(got.plans[1], "gold"),
		"its plans in the order given");
	rc = fng__keydb_get(db, "kNOSUCHKEY00", &got, err);
	CHECK(rc == -ENOENT && strstr(err, "no key kNOSUCHKEY00"), "get of an unknown id: -ENOENT "
		"(%s)", err);

	rc = fng__keydb_create(db, "", plans, 1, key2, NULL, err);
	CHECK(rc == 0 && strcmp(key, key2) != 0, "a second key, another one");
	CHECK_INT(fng__keydb_generation(db2), g + 2, "the second handle sees the generation move");

	rc = fng__keydb_revoke(db2, rec.id, err);
	CHECK_INT(rc, 0, "revoked (%s)", rc ? err : "");
	CHECK_INT(fng__keydb_generation(db), g + 3, "revoking moved the generation, seen by the "
		"first handle");
	rc = fng__keydb_get(db, rec.id, &got, err);
	CHECK(rc == 0 && got.revoked_ms >= rec.created_ms, "revoked_ms is set");
	usleep(5000);
	rc = fng__keydb_revoke(db, rec.id, err);
	CHECK_INT(rc, 0, "revoking twice is fine");
	{
		int64_t first = got.revoked_ms;

		fng__keydb_get(db, rec.id, &got, err);
		CHECK_INT(got.revoked_ms, first, "and keeps the first time");
	}
	rc = fng__keydb_revoke(db, "kNOSUCHKEY00", err);
	CHECK(rc == -ENOENT && strstr(err, "no key"), "revoking an unknown id: -ENOENT (%s)", err);

	rc = fng__keydb_each(db, collect, &w, err);
	CHECK(rc == 0 && w.n == 2 && !strcmp(w.ids[0], rec.id), "each: both keys, revoked "
		"included, in creation order");
	w = (struct walk){ .stop_at = 1 };
	rc = fng__keydb_each(db, collect, &w, err);
	CHECK(rc == 7 && w.n == 1, "each stops at a non-zero return and returns it");

	test_validation(db);
	test_usage(db);

	/* Keys are distinct: 1000 of them, 238 bits each. */
	keys = calloc(1000, sizeof(*keys));
	ok = keys != NULL;
	for (int i = 0; ok && i < 1000; i++) {
		ok = fng__keydb_create(db, "", plans, 1, keys[i], NULL, err) == 0 &&
			base62_only(keys[i] + 4, FNG_KEY_LEN - 4);
		for (int j = 0; ok && j < i; j++) {
			ok = strcmp(keys[i], keys[j]) != 0;
		}
	}
	CHECK(ok, "1000 keys created, all distinct and base62 (%s)", ok ? "" : err);
	free(keys);

	fng__keydb_close(db2);
	fng__keydb_close(db);
	fng__keydb_close(NULL);

	at(path, sizeof(path), "state");
	db = fng__keydb_open(path, false, err);
	rc = db ? fng__keydb_get(db, rec.id, &got, err) : -1;
	CHECK(rc == 0 && got.revoked_ms != 0 && got.nplans == 2, "reopened: the data is kept");
	w = (struct walk){ 0 };
	rc = db ? fng__keydb_each(db, collect, &w, err) : -1;
	CHECK(rc == 0 && w.n == 1005, "all 1005 keys are listed (%u)", w.n);
	fng__keydb_close(db);

	/* A database of a later fngate (user_version 2) is refused, not misread. */
	{
		sqlite3 *s;

		at(path, sizeof(path), "state/fngate.db");
		rc = sqlite3_open(path, &s);
		rc = rc ? rc : sqlite3_exec(s, "PRAGMA user_version = 2", NULL, NULL, NULL);
		sqlite3_close(s);
		at(path, sizeof(path), "state");
		db = fng__keydb_open(path, false, err);
		CHECK(rc == 0 && !db && strstr(err, "fngate.db") && strstr(err, "schema version 2 is "
			"newer"), "a newer schema version is refused (%s)", err);
		fng__keydb_close(db);
	}
	return fng_test_done();
}
