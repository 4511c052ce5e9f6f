// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/state/keystate.c and quota.c on a real loop, thread pool and SQLite
 * database in a temporary directory:
 *   - the key table: loaded at the first lookup (the request waits), found by hash, unknown
 *     keys refused, a revocation by another handle seen at the next lookup (keys.gen);
 *   - timing: lookups of near misses (a real key with its last character changed) and of far
 *     misses (random keys) are compared with a Mann-Whitney test over interleaved blocks; a
 *     positive control (short against long keys, whose hashing takes longer) shows the test
 *     can see a difference of that size;
 *   - quotas with a controllable clock: exact at the boundary, reset by the next period,
 *     reservations on disk ahead of use (the crash bound), a new loop's state going on from
 *     what was reserved, the exact count written at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "keydb.h"
#include "keystate.h"
#include "period.h"
#include "server.h"

static char tmp[] = "/tmp/fngate-unit-keystate-XXXXXX";
static char dir[4200];

static bool fired;
static int fired_rc;

static void on_done(struct fng_kwait *w, int rc)
{
	(void)w;
	fired = true;
	fired_rc = rc;
}

struct env {
	uv_loop_t loop;
	struct fng_config cfg;
	struct fng_server srv;
	struct fng_keystate *ks;
};

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	uv_loop_init(&e->loop);
	e->cfg.state_dir = dir;
	e->srv.loop = &e->loop;
	e->srv.cfg = &e->cfg;
	e->ks = fng__keystate_get(&e->srv);
}

static void env_finish(struct env *e)
{
	fng__keystate_close(&e->srv);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	fng__keystate_free(&e->srv);
	uv_loop_close(&e->loop);
}

static void wait_fired(struct env *e)
{
	while (!fired) {
		uv_run(&e->loop, UV_RUN_ONCE);
	}
}

static int find(struct env *e, const char *key, size_t len, const struct fng_key_entry **out)
{
	struct fng_kwait w = { .done = on_done };
	int rc;

	for (;;) {
		fired = false;
		rc = fng__keys_find(e->ks, key, len, &w, out);
		if (rc != FNG_KEYSTATE_PENDING) {
			return rc;
		}
		wait_fired(e);
	}
}

static int take(struct env *e, const char *id, const struct fng_usage_plan *p, int64_t now,
	struct fng_quota_answer *a, unsigned *waits)
{
	struct fng_kwait w = { .done = on_done };
	int rc;

	for (;;) {
		fired = false;
		rc = fng__quota_take(e->ks, id, p, now, &w, a);
		if (rc != FNG_KEYSTATE_PENDING) {
			return rc;
		}
		if (waits) {
			(*waits)++;
		}
		wait_fired(e);
		if (fired_rc) {
			return fired_rc;
		}
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ns per lookup of the n keys of len bytes at keys (len + 1 apart). */
static double block(struct env *e, const char *keys, size_t len, unsigned n)
{
	const struct fng_key_entry *out;
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < n; i++) {
		(void)find(e, keys + i * (len + 1), len, &out);
	}
	return (double)(now_ns() - t0) / n;
}

/* Square root by Newton's method: no libm to link for one use. */
static double root(double x)
{
	double r = x > 1 ? x : 1;

	for (int i = 0; i < 100; i++) {
		r = 0.5 * (r + x / r);
	}
	return r;
}

static double absd(double x)
{
	return x < 0 ? -x : x;
}

/* Mann-Whitney U's z score of samples a and b (n each), ties counted half. */
static double mann_whitney_z(const double *a, const double *b, unsigned n)
{
	double u = 0, mean = (double)n * n / 2, sd = root((double)n * n * (2.0 * n + 1) / 12);

	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = 0; j < n; j++) {
			u += a[i] > b[j] ? 1 : a[i] == b[j] ? 0.5 : 0;
		}
	}
	return (u - mean) / sd;
}

#define ROUNDS 200
#define PER_BLOCK 100
#define KEYLEN_MAX 400

/* Fills n keys of len bytes (len + 1 apart) for a block: made by fn, outside the timing. */
typedef void key_maker(char *out, size_t len, unsigned i);

/*
 * z of interleaved blocks of lookups of keys made by m1 against keys made by m2 (each block a
 * fresh set: a lookup's time depends on its hash's place in the table, so one key per class
 * would compare two places, not two classes; the order of each pair random). Both classes'
 * keys are made into the same buffer just before their block is timed: keys kept in two
 * buffers had the buffers' places in the caches told apart (against the table's, which move
 * from run to run) as if they were the classes.
 */
static double compare(struct env *e, key_maker *m1, size_t l1, key_maker *m2, size_t l2)
{
	static double a[ROUNDS], b[ROUNDS];
	static char k[PER_BLOCK * (KEYLEN_MAX + 1)];

	for (unsigned r = 0; r < ROUNDS; r++) {
		uint8_t coin;

		if (getrandom(&coin, 1, 0) != 1) {
			coin = (uint8_t)r;
		}
		for (unsigned half = 0; half < 2; half++) {
			bool one = (half ^ coin) & 1;
			key_maker *m = one ? m1 : m2;
			size_t l = one ? l1 : l2;

			for (unsigned i = 0; i < PER_BLOCK; i++) {
				m(k + i * (l + 1), l, r * PER_BLOCK + i);
			}
			*(one ? &a[r] : &b[r]) = block(e, k, l, PER_BLOCK);
		}
	}
	return mann_whitney_z(a, b, ROUNDS);
}

static void random_key(char *out, size_t len, unsigned i)
{
	static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint8_t r[KEYLEN_MAX];

	if (getrandom(r, len, 0) != (ssize_t)len) {
		memset(r, 7, len);
	}
	for (size_t j = 0; j < len; j++) {
		out[j] = b62[r[j] % 62];
	}
	(void)i;
	memcpy(out, "fng_", 4);
	out[len] = '\0';
}

/* The real keys, for near misses: each with one character changed. */
static char real[2000][FNG_KEY_LEN + 1];

static void near_key(char *out, size_t len, unsigned i)
{
	uint8_t pos;

	memcpy(out, real[i % 2000], len + 1);
	if (getrandom(&pos, 1, 0) != 1) {
		pos = (uint8_t)i;
	}
	pos = (uint8_t)(4 + pos % (len - 4));
	out[pos] = out[pos] == 'a' ? 'b' : 'a';
}

static void test_keys(void)
{
	char err[FNG_KEYDB_ERR], key[FNG_KEY_LEN + 1], first[FNG_KEY_LEN + 1];
	char near[FNG_KEY_LEN + 1], far[FNG_KEY_LEN + 1];
	const char *plans[] = { "gold", "silver" };
	struct fng_key_rec rec, first_rec;
	const struct fng_key_entry *e = NULL;
	struct fng_keydb *db = fng__keydb_open(dir, true, err);
	struct env env;
	double z;
	int rc;

	CHECK(db != NULL, "database opened (%s)", err);
	if (!db) {
		return;
	}
	for (unsigned i = 0; i < 2000; i++) {
		rc = fng__keydb_create(db, "", plans, 2, key, &rec, err);
		memcpy(real[i], key, sizeof(real[i]));
		if (i == 0) {
			memcpy(first, key, sizeof(first));
			first_rec = rec;
		}
	}
	CHECK(rc == 0, "2000 keys made");
	env_init(&env);
	fired = false;
	{
		struct fng_kwait w = { .done = on_done };

		rc = fng__keys_find(env.ks, first, strlen(first), &w, &e);
		CHECK(rc == FNG_KEYSTATE_PENDING, "the first lookup waits for the table (%d)", rc);
		wait_fired(&env);
	}
	rc = find(&env, first, strlen(first), &e);
	CHECK(rc == 0 && e && strcmp(e->id, first_rec.id) == 0 && !e->revoked && e->nplans == 2 &&
		strcmp(e->plans[1], "silver") == 0, "a key is found with its id and plans");
	rc = find(&env, key, strlen(key), &e);
	CHECK(rc == 0 && strcmp(e->id, rec.id) == 0, "the last key too");
	random_key(far, FNG_KEY_LEN, 0);
	CHECK(find(&env, far, strlen(far), &e) == -ENOENT, "an unknown key is not found");
	memcpy(near, first, sizeof(near));
	near[FNG_KEY_LEN - 1] = near[FNG_KEY_LEN - 1] == 'a' ? 'b' : 'a';
	CHECK(find(&env, near, strlen(near), &e) == -ENOENT, "a near miss is not found");
	CHECK(find(&env, first, strlen(first) - 1, &e) == -ENOENT, "a prefix is not found");

	/* Revoked through another handle (the command line's): seen at the next lookup. */
	CHECK(fng__keydb_revoke(db, first_rec.id, err) == 0, "revoked");
	rc = find(&env, first, strlen(first), &e);
	CHECK(rc == 0 && e->revoked, "the revocation is seen at the next lookup");

	/* Near against far misses: no difference to see. */
	z = compare(&env, near_key, FNG_KEY_LEN, random_key, FNG_KEY_LEN); /* warm up */
	z = compare(&env, near_key, FNG_KEY_LEN, random_key, FNG_KEY_LEN);
	CHECK(absd(z) < 5.0, "near and far misses take indistinguishable time (Mann-Whitney z %.2f "
		"over %u blocks of %u lookups)", z, ROUNDS, PER_BLOCK);
	/* The control: a key of 380 bytes hashes 6 SHA-256 blocks against 1, which the test sees. */
	z = compare(&env, random_key, FNG_KEY_LEN, random_key, 380);
	CHECK(absd(z) > 5.0, "positive control: short and long keys are told apart (z %.2f)", z);
	env_finish(&env);
	fng__keydb_close(db);
}

static void test_quota(void)
{
	struct fng_usage_plan p = { .name = "day5", .quota = 5, .period = FNG_PERIOD_DAY,
		.quota_batch = 2 };
	struct fng_quota_answer a;
	struct fng_usage_rec u;
	char err[FNG_KEYDB_ERR];
	struct fng_keydb *db = fng__keydb_open(dir, true, err);
	int64_t t = 1796601600 + 3600; /* 2026-12-07T01:00:00Z */
	unsigned ok = 0, waits = 0;
	struct env env;
	int rc;

	env_init(&env);
	for (unsigned i = 0; i < 5; i++) {
		rc = take(&env, "kAAAAAAAAAAA", &p, t + i, &a, &waits);
		ok += rc == 0 && !a.refused;
		if (i == 0) {
			CHECK(fng__keydb_usage_get(db, "kAAAAAAAAAAA", "day5", &u, err) == 0 &&
				u.reserved == 2 && u.period_start == t - 3600,
				"a batch of 2 is on disk before the first request is granted (reserved %llu)",
				(unsigned long long)u.reserved);
		}
	}
	CHECK(ok == 5 && a.remaining == 0, "5 of a quota of 5 granted (%u)", ok);
	CHECK(waits == 4, "a wait for the counter's read, then one per batch: 2 + 2 + 1 (%u)",
		waits);
	rc = take(&env, "kAAAAAAAAAAA", &p, t + 10, &a, NULL);
	CHECK(rc == 0 && a.refused && a.reset_at == t - 3600 + 86400,
		"the 6th is refused until the next 00:00 UTC");
	rc = take(&env, "kAAAAAAAAAAA", &p, t - 3600 + 86400, &a, NULL);
	CHECK(rc == 0 && !a.refused && a.remaining == 4, "the next day resets the count");
	rc = take(&env, "kBBBBBBBBBBB", &p, t - 3600 + 86400, &a, NULL);
	CHECK(rc == 0 && !a.refused && a.remaining == 4, "another key has its own count");

	/* A crash: the loop's state is not finished; the disk says at most a batch more. */
	CHECK(fng__keydb_usage_get(db, "kAAAAAAAAAAA", "day5", &u, err) == 0 && u.reserved >= 1 &&
		u.reserved <= 1 + 2, "on disk: reserved between used (1) and used + batch (%llu)",
		(unsigned long long)u.reserved);
	{
		struct env env2;
		uint64_t before = u.reserved;

		env_init(&env2);
		rc = take(&env2, "kAAAAAAAAAAA", &p, t - 3600 + 86400 + 5, &a, NULL);
		CHECK(rc == 0 && !a.refused && a.remaining == 5 - before - 1,
			"a new loop goes on from what was reserved (remaining %llu)",
			(unsigned long long)a.remaining);
		env_finish(&env2);
		CHECK(fng__keydb_usage_get(db, "kAAAAAAAAAAA", "day5", &u, err) == 0 &&
			u.used == before + 1 && u.reserved == u.used,
			"a clean end writes the exact count and gives the batch back");
	}
	/* The first loop's state, ended too; then a month-long plan across a month's end. */
	env_finish(&env);
	{
		struct fng_usage_plan m = { .name = "month", .quota = 3, .period = FNG_PERIOD_MONTH,
			.quota_batch = 3 };
		int64_t dec31 = 1798675200 + 86399; /* 2026-12-31T23:59:59Z */

		env_init(&env);
		for (unsigned i = 0; i < 3; i++) {
			take(&env, "kCCCCCCCCCCC", &m, dec31, &a, NULL);
		}
		rc = take(&env, "kCCCCCCCCCCC", &m, dec31, &a, NULL);
		CHECK(rc == 0 && a.refused && a.reset_at == dec31 + 1, "month: used up until Jan 1");
		rc = take(&env, "kCCCCCCCCCCC", &m, dec31 + 1, &a, NULL);
		CHECK(rc == 0 && !a.refused, "month: January starts afresh");
		env_finish(&env);
	}
	fng__keydb_close(db);
}

int main(void)
{
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/state", tmp);
	test_keys();
	test_quota();
	{
		char cmd[4300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0) {
			fprintf(stderr, "# could not remove %s\n", tmp);
		}
	}
	return fng_test_done();
}
