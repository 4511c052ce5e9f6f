// SPDX-License-Identifier: MIT
/*
 * The `functions:` section and function manifests (functions/NAME.yaml): where handlers
 * live, how they run (defaults a manifest overrides), what the operator allows each one
 * (functions.max and functions.grants, checked against every manifest before a deploy), and
 * the rate limits on their logs. Manifests load off the loop thread, at deploys.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "conf.h"
#include "errors.h"
#include "functions_conf.h"
#include "topic.h"
#include "wire_limits.h"

#define OFF(member) offsetof(struct fng_config, member)

static int parse_env(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_fn_limits *fl = obj;
	size_t off = 0;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "env")) {
		return -1;
	}
	memset(fl->env, 0, sizeof(fl->env));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i], *val = v->kids[i + 1];
		size_t need;

		if (!fng__conf_want(L, k, FNG_CONF_SCALAR, "env name") ||
			!fng__conf_want(L, val, FNG_CONF_SCALAR, "env value")) {
			continue;
		}
		if (!fng__config_name_ok(k->s) || strchr(k->s, '-')) {
			fng__conf_err(L, k, "env name \"%s\" must match [A-Za-z0-9_]+", k->s);
			continue;
		}
		if (memchr(val->s, '\0', val->len)) {
			fng__conf_err(L, val, "env value must not contain NUL");
			continue;
		}
		need = k->len + 1 + val->len + 1;
		if (off + need + 1 > sizeof(fl->env)) {
			fng__conf_err(L, k, "env is larger than %zu bytes", sizeof(fl->env) - 1);
			return -1;
		}
		memcpy(fl->env + off, k->s, k->len);
		fl->env[off + k->len] = '=';
		memcpy(fl->env + off + k->len + 1, val->s, val->len);
		off += need;
	}
	return 0;
}

/* The opt-in syscall groups of `sandbox:` (enum fng_sb_group of sandbox/sandbox.h). */
static const struct {
	const char *name;
	uint32_t bit;
} sb_groups[] = {
	{ "net", 1u << 0 }, /* FNG_SB_GROUP_NET */
};

/* A `sandbox:` list (of a manifest or a grant) into *out; v NULL leaves it. */
static int groups_of(struct fng_conf *L, const struct fng_conf_node *v, uint32_t *out)
{
	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "sandbox")) {
		return -1;
	}
	*out = 0;
	for (unsigned i = 0; i < v->n; i++) {
		const struct fng_conf_node *g = v->kids[i];
		size_t j = 0, n = sizeof(sb_groups) / sizeof(sb_groups[0]);

		if (!fng__conf_want(L, g, FNG_CONF_SCALAR, "sandbox group")) {
			continue;
		}
		while (j < n && strcmp(g->s, sb_groups[j].name) != 0) {
			j++;
		}
		if (j == n) {
			fng__conf_err(L, g, "unknown sandbox group \"%s\" (known: net)", g->s);
		} else {
			*out |= sb_groups[j].bit;
		}
	}
	return 0;
}

static int parse_groups(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return groups_of(L, v, &((struct fng_fn_limits *)obj)->groups);
}

/* ---- the CPUs available: the default concurrency ---- */

/* concurrency's range (limits_fn_keys) */
#define CPUS_MAX 1024u

uint32_t fng__fn_cpus_of(long affinity, int64_t quota_us, int64_t period_us)
{
	uint64_t n = affinity > 0 ? (uint64_t)affinity : 1;

	if (quota_us > 0 && period_us > 0) {
		/* 150000 per 100000 is one and a half CPUs: two workers keep it busy. */
		uint64_t q = ((uint64_t)quota_us + (uint64_t)period_us - 1) / (uint64_t)period_us;

		if (q < n) {
			n = q;
		}
	}
	return n > CPUS_MAX ? CPUS_MAX : (uint32_t)n;
}

/* The first line of path into buf; false if it cannot be read. */
static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f) {
		return false;
	}
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	return ok;
}

/*
 * The smallest quota (as CPUs, rounded up, CPUS_MAX if none) of the cgroup at dir/rel and
 * its parents up to dir: a quota set on a parent bounds every child. v2 reads cpu.max
 * ("max 100000" or "QUOTA PERIOD"), v1 cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us.
 */
static uint32_t quota_cpus(const char *dir, const char *rel, bool v2)
{
	char path[PATH_MAX + 128], line[64], sub[PATH_MAX];
	uint32_t best = CPUS_MAX;

	snprintf(sub, sizeof(sub), "%s", rel);
	for (;;) {
		long long quota = -1, period = 0;
		char *slash;

		if (v2) {
			char q[24];

			snprintf(path, sizeof(path), "%s%s/cpu.max", dir, sub);
			if (read_line(path, line, sizeof(line)) &&
				sscanf(line, "%23s %lld", q, &period) == 2 &&
				strcmp(q, "max") != 0) {
				quota = strtoll(q, NULL, 10);
			}
		} else {
			snprintf(path, sizeof(path), "%s%s/cpu.cfs_quota_us", dir, sub);
			if (read_line(path, line, sizeof(line))) {
				quota = strtoll(line, NULL, 10);
			}
			snprintf(path, sizeof(path), "%s%s/cpu.cfs_period_us", dir, sub);
			if (read_line(path, line, sizeof(line))) {
				period = strtoll(line, NULL, 10);
			}
		}
		if (quota > 0 && period > 0) {
			uint32_t n = fng__fn_cpus_of(CPUS_MAX, quota, period);

			best = n < best ? n : best;
		}
		slash = strrchr(sub, '/');
		if (!slash || sub[0] == '\0') {
			break;
		}
		*slash = '\0'; /* "/a/b" -> "/a" -> "" (the mount's root) -> done */
	}
	return best;
}

uint32_t fng__fn_cpus_available(void)
{
	cpu_set_t set;
	long affinity = 0;
	uint32_t quota = CPUS_MAX;
	char line[PATH_MAX + 64];
	FILE *f;

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		affinity = CPU_COUNT(&set);
	}
	/* /proc/self/cgroup: "0::/PATH" (v2) or "N:cpu,cpuacct:/PATH" (v1's cpu controller). */
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char *rel = c2 ? c2 + 1 : NULL;
		uint32_t q = CPUS_MAX;

		if (!rel) {
			continue;
		}
		rel[strcspn(rel, "\n")] = '\0';
		if (strcmp(rel, "/") == 0) {
			rel = "";
		}
		*c2 = '\0';
		if (c1 == line + 1 && line[0] == '0' && c1[1] == '\0') {
			q = quota_cpus("/sys/fs/cgroup", rel, true);
		} else {
			/* v1: the cpu controller, alone or joined with cpuacct ("cpu,cpuacct",
			 * which /sys/fs/cgroup/cpu names too) */
			char *tok, *save = NULL;

			for (tok = strtok_r(c1 + 1, ",", &save); tok;
				tok = strtok_r(NULL, ",", &save)) {
				if (strcmp(tok, "cpu") == 0) {
					q = quota_cpus("/sys/fs/cgroup/cpu", rel, false);
					break;
				}
			}
		}
		quota = q < quota ? q : quota;
	}
	if (f) {
		fclose(f);
	}
	return fng__fn_cpus_of(affinity, quota < CPUS_MAX ? quota : 0, 1);
}

#define FOFF(member) offsetof(struct fng_fn_limits, member)

/*
 * Defaults: Lambda's 3 s timeout and 128 MB floor; one warm worker. concurrency's 2 is a
 * placeholder: functions.defaults gets the CPUs available (fng__fn_cpus_available()).
 */
static const struct fng_conf_key limits_fn_keys[] = {
	{ "timeout_ms", FNG_CONF_U32, FOFF(timeout_ms), 3000, 1, 900000 },
	{ "memory_mb", FNG_CONF_U32, FOFF(memory_mb), 128, 16, 10240 },
	{ "cpu_ms", FNG_CONF_U32, FOFF(cpu_ms), 0, 0, 86400000 },
	{ "concurrency", FNG_CONF_U32, FOFF(concurrency), 2, 1, 1024 },
	{ "min_warm", FNG_CONF_U32, FOFF(min_warm), 1, 0, 1024 },
	{ "max_invocations", FNG_CONF_U32, FOFF(max_invocations), 100000, 1, 1u << 31 },
	/*
	 * queue is the memory bound, not the admission policy (a request is refused when the
	 * estimate says it cannot be answered in time, host/queue.c): 32768 requests, a burst
	 * of tens of thousands of connections coming back at once (docs/config.md).
	 */
	{ "queue", FNG_CONF_U32, FOFF(queue), 32768, 0, 1u << 20 },
	{ "pipeline", FNG_CONF_U32, FOFF(pipeline), 4, 1, 16 },
	{ "env", FNG_CONF_FN, 0, .fn = parse_env },
	{ "sandbox", FNG_CONF_FN, 0, .fn = parse_groups },
	{ "learn", FNG_CONF_BOOL, FOFF(learn), 0 },
	{ NULL },
};

/* fng__conf_apply() with the defaults taken from *base rather than the table. */
static int apply_limits(struct fng_conf *L, const struct fng_conf_node *v,
	const struct fng_fn_limits *base, struct fng_fn_limits *out, const char *what)
{
	struct fng_fn_limits tmp;
	int rc;

	memset(&tmp, 0, sizeof(tmp));
	rc = fng__conf_apply(L, NULL, limits_fn_keys, &tmp, what); /* table defaults */
	(void)rc;
	tmp.concurrency = fng__fn_cpus_available(); /* more workers than CPUs wait for each other */
	*out = base ? *base : tmp;
	if (!v) {
		return 0;
	}
	/* Apply only the keys present, over *out. */
	if (!fng__conf_want(L, v, FNG_CONF_MAP, what)) {
		return -1;
	}
	{
		struct fng_conf_key table[sizeof(limits_fn_keys) / sizeof(limits_fn_keys[0])];
		struct fng_fn_limits given = *out;
		unsigned n = 0;

		for (const struct fng_conf_key *k = limits_fn_keys; k->name; k++) {
			table[n] = *k;
			if (k->type == FNG_CONF_U32) {
				table[n].def = *(const uint32_t *)((const char *)out + k->off);
			} else if (k->type == FNG_CONF_BOOL) {
				table[n].def = *(const bool *)((const char *)out + k->off);
			}
			n++;
		}
		table[n] = (struct fng_conf_key){ NULL };
		rc = fng__conf_apply(L, v, table, &given, what);
		if (rc == 0 && given.min_warm > given.concurrency) {
			fng__conf_err(L, v, "%s: min_warm (%u) exceeds concurrency (%u)", what,
				given.min_warm, given.concurrency);
			rc = -1;
		}
		*out = given;
	}
	return rc;
}

static int parse_fn_defaults(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	return apply_limits(L, v, NULL, &c->functions.defaults, "functions.defaults");
}

static int parse_fn_dir(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *dir = v ? fng__conf_str(L, v, "functions.dir") : "functions";

	if (!dir) {
		return -1;
	}
	c->functions.dir = fng__conf_relative(L, dir);
	return 0;
}

/* ---- functions.max and functions.grants: what the operator allows each function ---- */

#define MOFF(member) offsetof(struct fng_fn_max, member)

/*
 * The manifest keys the operator bounds, with their default maxima (docs/config.md says why):
 * 30 s is API Gateway's integration timeout, past which no caller of an API still waits;
 * memory, workers and queue get 4x their defaults, warm workers (memory held while idle) 2x.
 * cpu_ms counts a worker's whole life, already bounded by timeout_ms x max_invocations: no
 * maximum unless the operator sets one, and then 0 (no limit) is over it. pipeline (16 at
 * most) and max_invocations ask for nothing a worker does not already have.
 */
static const struct bound {
	const char *name;
	size_t lim, max;          /* offsets in struct fng_fn_limits and struct fng_fn_max */
	uint32_t def;             /* the default maximum */
	bool zero_is_none;        /* 0 is no limit: over any maximum; a maximum of 0 is none */
} bounds[] = {
	{ "timeout_ms", FOFF(timeout_ms), MOFF(timeout_ms), 30000 },
	{ "memory_mb", FOFF(memory_mb), MOFF(memory_mb), 512 },
	{ "cpu_ms", FOFF(cpu_ms), MOFF(cpu_ms), 0, true },
	{ "concurrency", FOFF(concurrency), MOFF(concurrency), 8 },
	{ "min_warm", FOFF(min_warm), MOFF(min_warm), 2 },
	{ "queue", FOFF(queue), MOFF(queue), 131072 },
};

#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static uint32_t u32_at(const void *obj, size_t off)
{
	return *(const uint32_t *)((const char *)obj + off);
}

static bool over(const struct bound *b, uint32_t v, uint32_t max)
{
	return b->zero_is_none ? max && (v == 0 || v > max) : v > max;
}

/*
 * functions.max (base NULL: the table's defaults), or a grant's max over base. The ranges are
 * those of the manifest keys (limits_fn_keys).
 */
static int apply_max(struct fng_conf *L, const struct fng_conf_node *v,
	const struct fng_fn_max *base, struct fng_fn_max *out, const char *what)
{
	struct fng_conf_key table[NBOUNDS + 1];

	for (size_t i = 0; i < NBOUNDS; i++) {
		const struct fng_conf_key *k = limits_fn_keys;

		while (strcmp(k->name, bounds[i].name) != 0) {
			k++;
		}
		table[i] = *k;
		table[i].off = bounds[i].max;
		table[i].def = base ? u32_at(base, bounds[i].max) : bounds[i].def;
		if (!base && strcmp(bounds[i].name, "concurrency") == 0 &&
			fng__fn_cpus_available() * 4 > table[i].def) {
			/* 4x the default, as for memory and queue: the default fits under it */
			table[i].def = fng__fn_cpus_available() * 4;
		}
	}
	table[NBOUNDS] = (struct fng_conf_key){ NULL };
	return fng__conf_apply(L, v, table, out, what);
}

static int parse_fn_max(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	return apply_max(L, v, NULL, &c->functions.max, "functions.max");
}

/* A new policy for function name: functions.max, nothing granted. */
static struct fng_fn_policy *policy_new(struct fng_conf *L, const char *name)
{
	struct fng_config *c = L->cfg;
	struct fng_fn_policy *p = &c->functions.policies[c->functions.npolicies++];

	p->name = name;
	p->max = c->functions.max;
	p->apis = fng__arena_zalloc(c->arena, (c->napis + 1) * sizeof(*p->apis));
	return p;
}

/* A grant's max: what it sets overrides functions.max, and may not be below the defaults. */
static int parse_grant_max(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_fn_policy *p = obj;
	const struct fng_fn_limits *d = &L->cfg->functions.defaults;
	char what[128];

	snprintf(what, sizeof(what), "functions.grants.%s.max", p->name);
	if (apply_max(L, v, &L->cfg->functions.max, &p->max, what)) {
		return -1;
	}
	for (size_t i = 0; i < NBOUNDS; i++) {
		const struct fng_conf_node *at = fng__conf_lookup(v, bounds[i].name);
		uint32_t dv = u32_at(d, bounds[i].lim), mv = u32_at(&p->max, bounds[i].max);

		if (!at) {
			continue;
		}
		p->max.granted |= 1u << i;
		/* A default of 0 (none) for a zero_is_none key means the maximum: never over it. */
		if (over(&bounds[i], dv, mv) && dv) {
			fng__conf_err(L, at, "%s.%s %" PRIu32 " is below functions.defaults.%s %"
				PRIu32, what, bounds[i].name, mv, bounds[i].name, dv);
		}
	}
	return 0;
}

static int parse_grant_groups(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return groups_of(L, v, &((struct fng_fn_policy *)obj)->groups);
}

/* WebSocket API names, or "*": every API. */
static int parse_grant_connections(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_fn_policy *p = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "connections")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const char *s = fng__conf_str(L, v->kids[i], "connections entry");
		const struct fng_api *api;

		if (!s) {
			continue;
		}
		if (strcmp(s, "*") == 0) {
			p->any_api = true;
			continue;
		}
		api = fng__config_api(L->cfg, (struct fng_str){ s, strlen(s) });
		if (!api) {
			fng__conf_err(L, v->kids[i], "connections: unknown API \"%s\"", s);
		} else if (api->protocol != FNG_API_WEBSOCKET) {
			fng__conf_err(L, v->kids[i],
				"connections: API \"%s\" is not a WebSocket API", s);
		} else if (fng__policy_has_api(p, api->name)) {
			fng__conf_err(L, v->kids[i], "connections: API \"%s\" listed twice", s);
		} else {
			p->apis[p->napis++] = api->name;
		}
	}
	return 0;
}

/* A topic name, NAME* (the names that start with NAME) or * (all). */
static bool topic_pattern_ok(const char *s)
{
	size_t n = strlen(s);

	if (n && s[n - 1] == '*') {
		return n == 1 || fng__topic_name_ok(s, n - 1);
	}
	return fng__topic_name_ok(s, n);
}

/* Topic patterns, packed into the policy's grants ("a\0b*\0\0"). */
static int parse_grant_topics(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_fn_policy *p = obj;
	char *out = p->grants.topics;
	size_t off = 0;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "topics")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const char *s = fng__conf_str(L, v->kids[i], "topic pattern");
		size_t n = s ? strlen(s) : 0;

		if (!s) {
			continue;
		}
		if (!topic_pattern_ok(s)) {
			fng__conf_err(L, v->kids[i], "topic pattern \"%s\": expected a topic name "
				"(1-128 of A-Z a-z 0-9 _ . ~ : / -), NAME* (names that start with "
				"NAME) or *", s);
			continue;
		}
		for (const char *q = out; *q; q += strlen(q) + 1) {
			if (strcmp(q, s) == 0) {
				fng__conf_err(L, v->kids[i], "topic pattern \"%s\" listed twice",
					s);
				n = 0;
				break;
			}
		}
		if (!n) {
			continue;
		}
		if (off + n + 2 > sizeof(p->grants.topics)) {
			fng__conf_err(L, v->kids[i], "topics: more than %zu bytes of patterns",
				sizeof(p->grants.topics) - 2);
			return -1;
		}
		memcpy(out + off, s, n + 1);
		off += n + 1;
	}
	return 0;
}

#define POFF(member) offsetof(struct fng_fn_policy, member)

static const struct fng_conf_key grant_keys[] = {
	{ "max", FNG_CONF_FN, 0, .fn = parse_grant_max },
	{ "sandbox", FNG_CONF_FN, 0, .fn = parse_grant_groups },
	{ "learn", FNG_CONF_BOOL, POFF(learn), 0 },
	{ "connections", FNG_CONF_FN, 0, .fn = parse_grant_connections },
	{ "topics", FNG_CONF_FN, 0, .fn = parse_grant_topics },
	{ NULL },
};

/* functions.grants: function name → what the operator grants it beyond functions.max. */
static int parse_grants(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "functions.grants")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		struct fng_fn_policy *p;

		if (!fng__conf_name_key_ok(L, v, i, "function")) {
			continue;
		}
		p = policy_new(L, fng__conf_str(L, v->kids[i], "function name"));
		fng__conf_apply(L, v->kids[i + 1], grant_keys, p, "grant");
	}
	return 0;
}

static int parse_fn_run_dir(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *dir = v ? fng__conf_str(L, v, "functions.run_dir") : NULL;

	if (v && !dir) {
		return -1;
	}
	c->functions.run_dir = dir ? fng__conf_relative(L, dir) : NULL;
	return 0;
}

#define LOFF(member) OFF(functions.logs.member)

/*
 * A handler may log freely (a line per request at 100 requests a second, bursts of 500
 * lines), a flood costs the log 100 lines and 64 KiB of text a second per function. A byte
 * bucket holds at least the longest line, so every line can pass when it is full.
 */
static const struct fng_conf_key fn_logs_keys[] = {
	{ "lines_per_second", FNG_CONF_U32, LOFF(lines_per_second), 100, 0, 1000000 },
	{ "burst_lines", FNG_CONF_U32, LOFF(burst_lines), 500, 1, 1000000 },
	{ "bytes_per_second", FNG_CONF_U32, LOFF(bytes_per_second), 65536, 0, 1u << 30 },
	{ "burst_bytes", FNG_CONF_U32, LOFF(burst_bytes), 262144, FNG_WIRE_MAX_LOG, 1u << 30 },
	{ "report_ms", FNG_CONF_U32, LOFF(report_ms), 10000, 100, 3600000 },
	{ NULL },
};

static int parse_fn_logs(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__conf_apply(L, v, fn_logs_keys, obj, "functions.logs");
}

/* Lambda takes 250 MB unzipped; a C handler is usually kilobytes. */
static const struct fng_conf_key functions_keys[] = {
	{ "dir", FNG_CONF_FN, 0, .fn = parse_fn_dir },
	{ "run_dir", FNG_CONF_FN, 0, .fn = parse_fn_run_dir },
	{ "max_so_bytes", FNG_CONF_U64, OFF(functions.max_so_bytes), 64u << 20, 4096, 1ull << 32 },
	{ "defaults", FNG_CONF_FN, 0, .fn = parse_fn_defaults },
	{ "max", FNG_CONF_FN, 0, .fn = parse_fn_max },
	{ "grants", FNG_CONF_FN, 0, .fn = parse_grants },
	{ "logs", FNG_CONF_FN, 0, .fn = parse_fn_logs },
	{ "cpu_isolation", FNG_CONF_BOOL, OFF(functions.cpu_isolation), 1 },
	{ NULL },
};

/*
 * functions.defaults must stay within functions.max (a zero_is_none 0 means the maximum). A
 * concurrency the operator did not write (the CPUs available) is lowered to the maximum
 * instead: a maximum below this machine's CPUs is not a mistake in the file.
 */
static void check_defaults(struct fng_conf *L, const struct fng_conf_node *v)
{
	struct fng_config *c = L->cfg;

	if (!fng__conf_lookup(fng__conf_lookup(v, "defaults"), "concurrency") &&
		c->functions.defaults.concurrency > c->functions.max.concurrency) {
		uint32_t m = c->functions.max.concurrency;

		/* not below the operator's min_warm: that one is reported below */
		c->functions.defaults.concurrency =
			m > c->functions.defaults.min_warm ? m : c->functions.defaults.min_warm;
	}

	for (size_t i = 0; i < NBOUNDS; i++) {
		const struct bound *b = &bounds[i];
		uint32_t dv = u32_at(&c->functions.defaults, b->lim);
		uint32_t mv = u32_at(&c->functions.max, b->max);
		const struct fng_conf_node *at =
			fng__conf_lookup(fng__conf_lookup(v, "defaults"), b->name);

		if (over(b, dv, mv) && dv) {
			if (!at) {
				at = fng__conf_lookup(fng__conf_lookup(v, "max"), b->name);
			}
			fng__conf_err(L, at, "functions.defaults.%s %" PRIu32
				" is over functions.max.%s %" PRIu32, b->name, dv, b->name, mv);
		}
	}
}

/*
 * Every function a WebSocket route integrates may act on that API's connections; the sandbox
 * groups and learn mode of functions.defaults are the operator's and granted to all. Then
 * the API tags the workers are told.
 */
static void finish_policies(struct fng_conf *L)
{
	struct fng_config *c = L->cfg;
	struct fng_fn_policy *def = &c->functions.default_policy;

	def->max = c->functions.max;
	for (unsigned i = 0; i < c->napis; i++) {
		const struct fng_api *api = &c->apis[i];

		for (unsigned j = 0; api->protocol == FNG_API_WEBSOCKET && j < api->nroutes; j++) {
			const char *fn = api->routes[j].integration.function;
			struct fng_fn_policy *p;

			if (api->routes[j].integration.type != FNG_INTEGRATION_FUNCTION || !fn) {
				continue;
			}
			p = (struct fng_fn_policy *)fng__config_fn_policy(c, fn);
			if (p == def) {
				p = policy_new(L, fn);
			}
			if (!fng__policy_has_api(p, api->name)) {
				p->apis[p->napis++] = api->name;
			}
		}
	}
	for (unsigned i = 0; i <= c->functions.npolicies; i++) {
		struct fng_fn_policy *p = i < c->functions.npolicies ?
			&c->functions.policies[i] : def;

		p->groups |= c->functions.defaults.groups;
		p->learn |= c->functions.defaults.learn;
		p->grants.any_connection = p->any_api || p->napis > FNG_GRANTS_MAX_TAGS;
		for (unsigned j = 0; j < p->napis && j < FNG_GRANTS_MAX_TAGS; j++) {
			fng__conn_tag(p->apis[j], p->grants.tags[p->grants.ntags++]);
		}
	}
}

/*
 * apis come before functions (conf_modules.c): grants name WebSocket APIs, routes name
 * functions.
 */
static int parse_functions(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const struct fng_conf_node *grants = fng__conf_lookup(v, "grants");
	unsigned cap = grants && grants->type == FNG_CONF_MAP ? grants->n / 2 : 0;

	for (unsigned i = 0; i < c->napis; i++) {
		cap += c->apis[i].protocol == FNG_API_WEBSOCKET ? c->apis[i].nroutes : 0;
	}
	c->functions.policies = fng__arena_zalloc(c->arena,
		(cap + 1) * sizeof(*c->functions.policies));
	if (!c->functions.policies) {
		fng__conf_err(L, v, "out of memory");
		return -1;
	}
	if (fng__conf_apply(L, v, functions_keys, obj, "functions")) {
		return -1;
	}
	check_defaults(L, v);
	finish_policies(L);
	return 0;
}

const struct fng_conf_module fng__functions_conf = { "functions", parse_functions };

const char *fng__policy_check(const struct fng_fn_policy *p, const char *fn,
	const struct fng_fn_limits *l, char *why, size_t len)
{
	for (size_t i = 0; i < NBOUNDS; i++) {
		const struct bound *b = &bounds[i];
		uint32_t v = u32_at(l, b->lim), mv = u32_at(&p->max, b->max);
		char src[160];

		if (!over(b, v, mv)) {
			continue;
		}
		if (p->max.granted & 1u << i) {
			snprintf(src, sizeof(src), "functions.grants.%s.max.%s", fn, b->name);
		} else {
			snprintf(src, sizeof(src), "functions.max.%s", b->name);
		}
		snprintf(why, len, "%s %" PRIu32 "%s is over the operator's maximum %" PRIu32
			" (%s)", b->name, v, v ? "" : " (no limit)", mv, src);
		return b->name;
	}
	for (size_t i = 0; i < sizeof(sb_groups) / sizeof(sb_groups[0]); i++) {
		if (l->groups & ~p->groups & sb_groups[i].bit) {
			snprintf(why, len, "sandbox group %s is not granted to function %s "
				"(functions.grants.%s.sandbox)", sb_groups[i].name, fn, fn);
			return "sandbox";
		}
	}
	if (l->learn && !p->learn) {
		snprintf(why, len, "learn is not granted to function %s "
			"(functions.grants.%s.learn)", fn, fn);
		return "learn";
	}
	return NULL;
}

/* ---- function manifests (functions/NAME.yaml) ---- */

/* The function a manifest is for: its file's name without the directory and ".yaml". */
static void manifest_function(const char *path, char fn[64])
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strcspn(base, ".");

	snprintf(fn, 64, "%.*s", (int)(n < 63 ? n : 63), base);
}

int fng__manifest_load_string(const char *name, const char *text, size_t len,
	const struct fng_fn_limits *defaults, const struct fng_fn_policy *policy,
	struct fng_fn_limits *out, struct fng_buf *errors)
{
	struct fng_conf L = { .file = name, .errors = errors, .text = text, .text_len = len,
		.allow_empty = true };
	struct fng_config scratch = { 0 };
	const struct fng_conf_node *root;
	bool refused = false;

	L.tmp = fng__arena_create();
	scratch.arena = fng__arena_create();
	if (!L.tmp || !scratch.arena) {
		fng__arena_destroy(L.tmp);
		fng__arena_destroy(scratch.arena);
		return UV_ENOMEM;
	}
	L.cfg = &scratch;
	root = fng__conf_parse(&L, text, len);
	if (root && root->type == FNG_CONF_SCALAR && root->plain && root->len == 0) {
		root = NULL; /* an empty manifest: all defaults */
	}
	if (!L.nerrors && !policy) {
		apply_limits(&L, root, defaults, out, "manifest");
	} else if (!L.nerrors) {
		struct fng_fn_limits base;
		char why[256], fn[64];
		const char *key;

		apply_limits(&L, NULL, defaults, &base, "manifest");
		/* A limit the defaults leave at none is the maximum when the operator sets one. */
		for (size_t i = 0; i < NBOUNDS; i++) {
			uint32_t *v = (uint32_t *)((char *)&base + bounds[i].lim);

			if (bounds[i].zero_is_none && *v == 0) {
				*v = u32_at(&policy->max, bounds[i].max);
			}
		}
		manifest_function(name, fn);
		if (apply_limits(&L, root, &base, out, "manifest") == 0 &&
			(key = fng__policy_check(policy, fn, out, why, sizeof(why))) != NULL) {
			const struct fng_conf_node *at = fng__conf_lookup(root, key);

			fng__conf_err(&L, at ? at : root, "%s", why);
			refused = true;
		}
		out->grants = policy->grants;
	}
	if (fng__buf_reserve(errors, 0) == 0 && L.nerrors > 50) {
		fng__buf_printf(errors, "%s: %u more errors\n", name, L.nerrors - 50);
	}
	fng__arena_destroy(L.tmp);
	fng__arena_destroy(scratch.arena);
	return refused ? UV_EPERM : L.nerrors ? FNG_ECONFIG : 0;
}

int fng__manifest_load(const char *path, const struct fng_fn_limits *defaults,
	const struct fng_fn_policy *policy, struct fng_fn_limits *out, struct fng_buf *errors)
{
	struct fng_buf text = { 0 };
	int err = fng__conf_read(path, 1u << 20, &text);

	if (err == -ENOENT) {
		/* No manifest: the defaults (the table's when none are given). */
		return fng__manifest_load_string(path, "", 0, defaults, policy, out, errors);
	}
	if (err == -EFBIG) {
		fng__buf_printf(errors, "%s:1:1: manifest too large\n", path);
		return FNG_ECONFIG;
	}
	if (err) {
		fng__buf_printf(errors, "%s:1:1: cannot open: %s\n", path, strerror(-err));
		return FNG_ECONFIG;
	}
	err = fng__manifest_load_string(path, text.p ? text.p : "", text.len, defaults, policy,
		out, errors);
	fng__buf_finish(&text);
	return err;
}

