// SPDX-License-Identifier: MIT
/*
 * `fngate keys`: the operator's side of API keys (docs/config.md, "API keys"). It opens the
 * key database under the configuration's state_dir (state/keydb.h) directly, beside a running
 * gateway; a change moves keys.gen, which the gateway watches. A key is printed once, by
 * `create`, and never again: the database holds only its SHA-256. On a cluster whose quotas
 * are in Redis (`cluster:` without `quotas: local`), `usage` reads the counts there, with
 * hiredis' blocking client: this is a command, not the gateway's loop.
 */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "climits.h"
#include "config.h"
#include "keydb.h"
#include "period.h"

#define ISO_LEN 32

static void keys_usage(FILE *f)
{
	fprintf(f, "usage: fngate keys [-c FILE] SUBCOMMAND\n"
		"\n"
		"  create --plan P [--plan P2 ...] [--name NAME] [--quiet]\n"
		"                  make a key in usage plans P...; print it once (--quiet: the key\n"
		"                  alone), with its id and plans\n"
		"  list [--json]   every key: id, state, created, plans, name (--json: JSON lines)\n"
		"  show ID         one key's record\n"
		"  revoke ID       revoke a key (the running gateway refuses it from its next request)\n"
		"  usage ID        the key's quota use in the current period of each of its plans\n"
		"\n"
		"  -c, --config FILE   the configuration (default: $FNGATE_CONFIG, else ./fngate.yaml):\n"
		"                      its server.state_dir and usage_plans\n");
}

/* "2026-12-07T05:21:14Z" of t seconds since the epoch. */
static const char *iso(int64_t t, char out[ISO_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, ISO_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		snprintf(out, ISO_LEN, "%lld", (long long)t);
	}
	return out;
}

/* Floor division: a time in ms before 1970 is in the second before. */
static int64_t ms_to_s(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

static void join_plans(const struct fng_key_rec *r, const char *sep, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < r->nplans && len < n; i++) {
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? sep : "", r->plans[i]);
	}
}

/* The plans a config declares, "a, b", for a refusal. */
static void known_plans(const struct fng_config *cfg, char *out, size_t n)
{
	size_t len = 0;

	snprintf(out, n, "none");
	for (unsigned i = 0; i < cfg->nplans && len < n; i++) {
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "",
			cfg->plans[i].name);
	}
}

static int cmd_create(struct fng_keydb *db, const char **plans, unsigned nplans,
	const char *name, bool quiet)
{
	char key[FNG_KEY_LEN + 1], err[FNG_KEYDB_ERR], all[FNG_KEY_PLANS_MAX * 70], when[ISO_LEN];
	struct fng_key_rec rec;
	int rc;

	rc = fng__keydb_create(db, name, plans, nplans, key, &rec, err);
	if (rc) {
		fprintf(stderr, "fngate keys: %s\n", err);
		return 1;
	}
	join_plans(&rec, ", ", all, sizeof(all));
	if (quiet) {
		printf("%s\n", key);
	} else {
		printf("key: %s\nid: %s\n", key, rec.id);
		if (rec.name[0]) {
			printf("name: %s\n", rec.name);
		}
		printf("plans: %s\ncreated: %s\n"
			"note: the key is shown only now; fngate stores its SHA-256\n", all,
			iso(ms_to_s(rec.created_ms), when));
	}
	explicit_bzero(key, sizeof(key));
	return fflush(stdout) == 0 ? 0 : 1;
}

static int print_line(void *ctx, const struct fng_key_rec *r)
{
	char all[FNG_KEY_PLANS_MAX * 70], when[ISO_LEN];

	(void)ctx;
	join_plans(r, ",", all, sizeof(all));
	printf("%s  %-7s  %s  %s%s%s\n", r->id, r->revoked_ms ? "revoked" : "live",
		iso(ms_to_s(r->created_ms), when), all, r->name[0] ? "  " : "", r->name);
	return 0;
}

static int print_json(void *ctx, const struct fng_key_rec *r)
{
	json_t *o = json_object(), *plans = json_array();
	char when[ISO_LEN], *s;
	int rc = -ENOMEM;

	(void)ctx;
	for (unsigned i = 0; plans && i < r->nplans; i++) {
		json_array_append_new(plans, json_string(r->plans[i]));
	}
	if (o && plans) {
		json_object_set_new(o, "id", json_string(r->id));
		json_object_set_new(o, "name", json_string(r->name));
		json_object_set(o, "plans", plans);
		json_object_set_new(o, "created", json_string(iso(ms_to_s(r->created_ms), when)));
		json_object_set_new(o, "revoked", r->revoked_ms ? json_string(iso(
			ms_to_s(r->revoked_ms), when)) : json_null());
		json_object_set_new(o, "state", json_string(r->revoked_ms ? "revoked" : "live"));
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s) {
			printf("%s\n", s);
			free(s);
			rc = 0;
		}
	}
	json_decref(plans);
	json_decref(o);
	return rc;
}

static int cmd_list(struct fng_keydb *db, bool json)
{
	char err[FNG_KEYDB_ERR] = "";
	int rc;

	if (!db) {
		return 0; /* no database yet: no key */
	}
	rc = fng__keydb_each(db, json ? print_json : print_line, NULL, err);
	if (rc) {
		fprintf(stderr, "fngate keys: %s\n", err[0] ? err : strerror(-rc));
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The record of id into rec, or 1 with the reason printed. */
static int get(struct fng_keydb *db, const char *id, struct fng_key_rec *rec)
{
	char err[FNG_KEYDB_ERR];
	int rc = db ? fng__keydb_get(db, id, rec, err) : -ENOENT;

	if (rc == -ENOENT) {
		fprintf(stderr, "fngate keys: no key %s\n", id);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "fngate keys: %s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_show(struct fng_keydb *db, const char *id)
{
	char all[FNG_KEY_PLANS_MAX * 70], when[ISO_LEN];
	struct fng_key_rec r;

	if (get(db, id, &r)) {
		return 1;
	}
	join_plans(&r, ", ", all, sizeof(all));
	printf("id: %s\nname: %s\nplans: %s\ncreated: %s\n", r.id, r.name, all,
		iso(ms_to_s(r.created_ms), when));
	if (r.revoked_ms) {
		printf("state: revoked %s\n", iso(ms_to_s(r.revoked_ms), when));
	} else {
		printf("state: live\n");
	}
	return 0;
}

static int cmd_revoke(struct fng_keydb *db, const char *id)
{
	char err[FNG_KEYDB_ERR], when[ISO_LEN];
	struct fng_key_rec r;
	int rc;

	if (get(db, id, &r)) {
		return 1;
	}
	if (r.revoked_ms) {
		printf("%s: already revoked %s\n", id, iso(ms_to_s(r.revoked_ms), when));
		return 0;
	}
	rc = fng__keydb_revoke(db, id, err);
	if (rc) {
		fprintf(stderr, "fngate keys: %s\n", err);
		return 1;
	}
	printf("%s: revoked\n", id);
	return 0;
}

/* The cluster's Redis, set up as the gateway's (AUTH, SELECT); NULL with the reason printed. */
static redisContext *cluster_connect(const struct fng_cluster_cfg *cc)
{
	uint32_t ms = cc->connect_timeout_ms;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	redisContext *r = redisConnectWithTimeout(cc->host, cc->port, tv);
	redisReply *x = NULL;

	if (!r || r->err) {
		fprintf(stderr, "fngate keys: cluster redis %s: %s\n", cc->redis,
			r ? r->errstr : "out of memory");
		goto fail;
	}
	ms = cc->command_timeout_ms < 1000 ? 1000 : cc->command_timeout_ms;
	tv = (struct timeval){ (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	redisSetTimeout(r, tv);
	if (cc->password) {
		x = redisCommand(r, "AUTH %s", cc->password);
	}
	if (!x || x->type != REDIS_REPLY_ERROR) {
		if (x) {
			freeReplyObject(x);
		}
		x = cc->database ? redisCommand(r, "SELECT %u", cc->database) :
			redisCommand(r, "PING");
	}
	if (!x || x->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "fngate keys: cluster redis %s: %s\n", cc->redis,
			x ? x->str : r->errstr);
		goto fail;
	}
	freeReplyObject(x);
	return r;
fail:
	if (x) {
		freeReplyObject(x);
	}
	redisFree(r);
	return NULL;
}

/* The total of a quota counter in Redis (every node's field) into *used: 0, or 1 printed. */
static int cluster_used(redisContext *r, const struct fng_config *cfg, const char *plan,
	const char *id, int64_t period, uint64_t *used)
{
	char key[512];
	size_t n = fng__cquota_key(key, sizeof(key), cfg->cluster.key_prefix, plan, id, period);
	redisReply *x = redisCommand(r, "HVALS %b", key, n);

	*used = 0;
	if (!x || x->type != REDIS_REPLY_ARRAY) {
		fprintf(stderr, "fngate keys: cluster redis %s: %s\n", cfg->cluster.redis,
			x && x->type == REDIS_REPLY_ERROR ? x->str : r->errstr);
		if (x) {
			freeReplyObject(x);
		}
		return 1;
	}
	for (size_t i = 0; i < x->elements; i++) {
		if (x->element[i]->type == REDIS_REPLY_STRING) {
			*used += strtoull(x->element[i]->str, NULL, 10);
		}
	}
	freeReplyObject(x);
	return 0;
}

static int cmd_usage(struct fng_keydb *db, const struct fng_config *cfg, const char *id)
{
	char err[FNG_KEYDB_ERR], start_s[ISO_LEN], next_s[ISO_LEN];
	int64_t now = (int64_t)time(NULL), start, next;
	struct fng_key_rec r;
	struct fng_usage_rec u;
	uint64_t used;
	int rc;

	redisContext *redis = NULL;

	if (get(db, id, &r)) {
		return 1;
	}
	if (cfg->cluster.on && !cfg->cluster_limits.local_quotas &&
		!(redis = cluster_connect(&cfg->cluster))) {
		return 1;
	}
	printf("id: %s (%s)%s\n", r.id, r.revoked_ms ? "revoked" : "live",
		redis ? " counted across the cluster" : "");
	for (unsigned i = 0; i < r.nplans; i++) {
		const struct fng_usage_plan *p = fng__config_plan(cfg, r.plans[i]);

		if (!p) {
			printf("%s: not in the configuration\n", r.plans[i]);
			continue;
		}
		if (!p->quota) {
			printf("%s: no quota\n", r.plans[i]);
			continue;
		}
		start = fng__period_start(p->period, now);
		next = fng__period_next(p->period, now);
		if (redis) {
			if (cluster_used(redis, cfg, p->name, r.id, start, &used)) {
				redisFree(redis);
				return 1;
			}
		} else {
			rc = fng__keydb_usage_get(db, r.id, p->name, &u, err);
			if (rc && rc != -ENOENT) {
				fprintf(stderr, "fngate keys: %s\n", err);
				return 1;
			}
			/* A row of an earlier period is that period's: none used in this one. */
			used = !rc && u.period_start == start ? u.used : 0;
		}
		printf("%s: period %s from %s, used %llu, quota %llu, remaining %llu, resets at %s\n",
			p->name, fng__period_name(p->period), iso(start, start_s),
			(unsigned long long)used, (unsigned long long)p->quota,
			(unsigned long long)(used < p->quota ? p->quota - used : 0), iso(next, next_s));
	}
	if (redis) {
		redisFree(redis);
	}
	return 0;
}

enum sub { SUB_CREATE, SUB_LIST, SUB_SHOW, SUB_REVOKE, SUB_USAGE };

static const struct {
	const char *name;
	unsigned nargs;     /* positional arguments after the name: 0 or 1 (ID) */
	const char *opts;   /* its own options, by getopt letter */
} subs[] = {
	[SUB_CREATE] = { "create", 0, "pnq" },
	[SUB_LIST] = { "list", 0, "j" },
	[SUB_SHOW] = { "show", 1, "" },
	[SUB_REVOKE] = { "revoke", 1, "" },
	[SUB_USAGE] = { "usage", 1, "" },
};

int fng__cli_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "plan", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' }, { "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("FNGATE_CONFIG"), *name = "", *plans[FNG_KEY_PLANS_MAX];
	char used[8] = "", err[FNG_KEYDB_ERR], known[1024];
	struct fng_config *cfg = NULL;
	struct fng_keydb *db = NULL;
	unsigned nplans = 0, sub;
	bool quiet = false, json = false;
	int c, rc = 1;

	optind = 0; /* glibc: start over (another command may have run getopt) */
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			continue;
		case 'p':
			if (nplans == FNG_KEY_PLANS_MAX) {
				fprintf(stderr, "fngate keys: at most %d --plan\n", FNG_KEY_PLANS_MAX);
				return 2;
			}
			plans[nplans++] = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			keys_usage(stdout);
			return 0;
		default:
			keys_usage(stderr);
			return 2;
		}
		if (!strchr(used, c) && strlen(used) + 1 < sizeof(used)) {
			used[strlen(used)] = (char)c;
		}
	}
	if (optind >= argc) {
		keys_usage(stderr);
		return 2;
	}
	for (sub = 0; sub < sizeof(subs) / sizeof(subs[0]); sub++) {
		if (!strcmp(argv[optind], subs[sub].name)) {
			break;
		}
	}
	if (sub == sizeof(subs) / sizeof(subs[0])) {
		fprintf(stderr, "fngate keys: unknown subcommand \"%s\"\n", argv[optind]);
		keys_usage(stderr);
		return 2;
	}
	if ((unsigned)(argc - optind - 1) != subs[sub].nargs ||
		strspn(used, subs[sub].opts) != strlen(used) || (sub == SUB_CREATE && !nplans)) {
		keys_usage(stderr);
		return 2;
	}
	if (!path || !*path) {
		path = "fngate.yaml";
	}
	if (fng__cli_load_config(path, &cfg, false)) {
		return 1;
	}
	for (unsigned i = 0; i < nplans; i++) {
		if (!fng__config_plan(cfg, plans[i])) {
			known_plans(cfg, known, sizeof(known));
			fprintf(stderr, "fngate keys: unknown usage plan %s (known: %s)\n", plans[i],
				known);
			goto out;
		}
	}
	/* Only create makes the state directory: reading a missing one finds no key. */
	db = fng__keydb_open(cfg->state_dir, sub == SUB_CREATE, err);
	if (!db && (sub == SUB_CREATE || errno != ENOENT)) {
		fprintf(stderr, "fngate keys: %s\n", err);
		goto out;
	}
	switch ((enum sub)sub) {
	case SUB_CREATE:
		rc = cmd_create(db, plans, nplans, name, quiet);
		break;
	case SUB_LIST:
		rc = cmd_list(db, json);
		break;
	case SUB_SHOW:
		rc = cmd_show(db, argv[optind + 1]);
		break;
	case SUB_REVOKE:
		rc = cmd_revoke(db, argv[optind + 1]);
		break;
	case SUB_USAGE:
		rc = cmd_usage(db, cfg, argv[optind + 1]);
		break;
	}
out:
	fng__keydb_close(db);
	fng__config_unref(cfg);
	return rc;
}
