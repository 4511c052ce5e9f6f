/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_FUNCTIONS_CONF_H
#define FNG_GATEWAY_FUNCTIONS_CONF_H

/*
 * What the `functions:` section and the function manifests configure (functions_conf.c):
 * how a function runs, what the operator allows it, the rate limits on its logs, and the
 * loading and checking of manifests. The snapshot (config.h) holds these in its `functions`.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grants.h"
#include "mem.h"

struct fng_config;

/*
 * How a function runs: the `functions.defaults` of the config, overridden per function by
 * functions/NAME.yaml. docs/config.md has the defaults and their reasons.
 */
struct fng_fn_limits {
	uint32_t timeout_ms;      /* wall-clock deadline per invocation → 504 */
	uint32_t memory_mb;       /* worker memory limit → 502 "out of memory" */
	uint32_t cpu_ms;          /* CPU-time limit of a worker process (RLIMIT_CPU); 0: none */
	uint32_t concurrency;     /* workers at most */
	uint32_t min_warm;        /* workers kept started */
	uint32_t max_invocations; /* a worker is recycled after this many */
	uint32_t queue;           /* requests waiting for a worker at most → 429 beyond */
	uint32_t pipeline;        /* invocations a busy worker may hold (run one, queue the rest) */
	uint32_t groups;          /* sandbox syscall groups (enum fng_sb_group bits) */
	bool learn;               /* seccomp logs instead of killing (debugging only) */
	char env[4096];           /* NAME=VALUE\0...\0\0 */
	/* Not a manifest key: what the operator's policy lets its workers do (below). */
	struct fng_grants grants;
};

/*
 * The operator's bounds on what a manifest may ask for: `functions.max`, overridden per
 * function by `functions.grants.NAME.max`. cpu_ms 0: no maximum.
 */
struct fng_fn_max {
	uint32_t timeout_ms, memory_mb, cpu_ms, concurrency, min_warm, queue;
	uint32_t granted;         /* bit per key, in the order of functions_conf.c's bounds */
};

/*
 * What the operator allows one function: the maxima of its manifest, the sandbox groups and
 * learn mode it may ask for, the connections it may act on (those of the WebSocket APIs whose
 * routes integrate it, and `functions.grants.NAME.connections`) and the topics
 * (`functions.grants.NAME.topics`; none by default). One per function the configuration
 * names in a WebSocket route or a grant; functions.default_policy for the others.
 */
struct fng_fn_policy {
	const char *name;         /* NULL: the default policy */
	struct fng_fn_max max;
	uint32_t groups;          /* sandbox groups its manifest may ask for */
	bool learn;               /* its manifest may set learn */
	bool any_api;             /* connections of every WebSocket API */
	const char **apis;        /* else of these WebSocket APIs (names) */
	unsigned napis;
	struct fng_grants grants; /* what its workers are told: API tags, topic patterns */
};

/*
 * Rate limits on each function's log lines (`functions.logs`), applied by fnlog.c: one token
 * bucket for lines and one for bytes of text per function. docs/config.md has the defaults
 * and their reasons.
 */
struct fng_fnlog_cfg {
	uint32_t lines_per_second; /* 0: no line limit */
	uint32_t burst_lines;      /* the line bucket's size */
	uint32_t bytes_per_second; /* 0: no byte limit */
	uint32_t burst_bytes;      /* the byte bucket's size, at least one longest line */
	uint32_t report_ms;        /* a count of dropped lines is logged at most this often */
};

/*
 * Loads functions/NAME.yaml over defaults into *out. FNG_ECONFIG with FILE:LINE:COL lines in
 * errors. Runs off the loop thread (deploys). With a policy (the function's, from
 * fng__config_fn_policy()), a cpu_ms the defaults leave at 0 (none) is the policy's maximum,
 * out->grants is the policy's, and a manifest asking for more than the policy allows is
 * UV_EPERM with one FILE:LINE:COL line (fng__policy_check()'s reason). NULL: no bounds.
 */
int fng__manifest_load(const char *path, const struct fng_fn_limits *defaults,
	const struct fng_fn_policy *policy, struct fng_fn_limits *out, struct fng_buf *errors);
int fng__manifest_load_string(const char *name, const char *text, size_t len,
	const struct fng_fn_limits *defaults, const struct fng_fn_policy *policy,
	struct fng_fn_limits *out, struct fng_buf *errors);

/*
 * The CPUs this process may use, the default `concurrency` (and a quarter of the default
 * functions.max.concurrency, which is at least 8): the CPUs of its affinity mask, bounded by
 * the CPU quota of its cgroup or of a parent's when one is set (v2 cpu.max, v1
 * cpu.cfs_quota_us / cpu.cfs_period_us, a fraction rounded up), at least 1 and at most 1024
 * (concurrency's range). Reads /proc/self and /sys/fs/cgroup: off the loop thread, as
 * configuration loads are (host/functions_conf.c).
 */
uint32_t fng__fn_cpus_available(void);
/*
 * The computation itself: affinity CPUs (<= 0: unknown, taken as 1) bounded by quota_us per
 * period_us (quota_us <= 0 or period_us <= 0: no quota).
 */
uint32_t fng__fn_cpus_of(long affinity, int64_t quota_us, int64_t period_us);

/* The policy of function name in c: its own, or c's default policy. Never NULL. */
const struct fng_fn_policy *fng__config_fn_policy(const struct fng_config *c, const char *name);

/*
 * Whether limits l stay within policy p (of function fn): NULL if so, else the key that does
 * not ("memory_mb", "sandbox", "learn"...) with the reason in why, e.g. "memory_mb 10240 is
 * over the operator's maximum 512 (functions.max.memory_mb)".
 */
const char *fng__policy_check(const struct fng_fn_policy *p, const char *fn,
	const struct fng_fn_limits *l, char *why, size_t len);

/* Whether p names api among its WebSocket APIs (whatever any_api says). */
bool fng__policy_has_api(const struct fng_fn_policy *p, const char *api);
/* Whether p lets its function act on connections of the WebSocket API named api. */
bool fng__policy_api_ok(const struct fng_fn_policy *p, const char *api);

#endif
