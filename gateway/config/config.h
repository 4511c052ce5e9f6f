/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CONFIG_H
#define FNG_GATEWAY_CONFIG_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "grants.h"
#include "mem.h"
#include "router.h"
#include "template.h"

/*
 * A loaded configuration: an immutable, refcounted snapshot. The loader builds it from YAML
 * off the loop thread; the server swaps the current pointer on SIGHUP; each request holds a
 * reference for its lifetime, so in-flight requests finish on the snapshot they started on.
 * All memory of a snapshot lives in its arena.
 */

enum fng_integration_type {
	FNG_INTEGRATION_MOCK,
	FNG_INTEGRATION_FUNCTION,
	FNG_INTEGRATION_STATIC,
	FNG_INTEGRATION_ADMIN,    /* internal: the admin listener's API (admin.c) */
	FNG_INTEGRATION__COUNT
};

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
	uint32_t granted;         /* bit per key, in config.c's table order: set by a grant */
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

struct fng_theader {
	const char *name; /* lower case */
	size_t name_len;
	const struct fng_template *value;
};

/* A file of a static integration, read when the config loads (arena memory). */
struct fng_static_file {
	const char *name;         /* relative to the root: "index.html", "js/app.js" */
	const char *data;
	size_t len;
	const char *type;         /* Content-Type */
};

struct fng_integration_cfg {
	enum fng_integration_type type;
	int status;
	struct fng_theader *headers;
	unsigned nheaders;
	const struct fng_template *body;
	bool chunked;
	const char *function;     /* FNG_INTEGRATION_FUNCTION: the function's name */
	const struct fng_static_file *files; /* FNG_INTEGRATION_STATIC, sorted by name */
	unsigned nfiles;
	const char *index;        /* FNG_INTEGRATION_STATIC: the file for a directory */
};


struct fng_route {
	const char *key; /* as written: "GET /a/{b}" */
	struct fng_route_key parsed;
	struct fng_integration_cfg integration;
	int line, col;
};

/* A function invoked on a timer the gateway drives (`schedules:`). */
struct fng_schedule {
	struct fng_route route;   /* "$schedule", integration: the function */
	const char *name;
	const char *function;
	uint32_t every_ms;
	const char *body;
};

struct fng_var {
	const char *name;
	struct fng_str value;
};

struct fng_stage {
	const char *name;
	struct fng_var *vars;
	unsigned nvars;
	uint64_t body_bytes;
};

enum fng_api_protocol {
	FNG_API_HTTP,
	FNG_API_WEBSOCKET,
};

/* A WebSocket API's limits and behaviour (`websocket:`; API Gateway's defaults). */
struct fng_ws_cfg {
	uint32_t message_bytes;    /* a message (all its fragments) at most → close 1009 */
	uint32_t frame_bytes;      /* a frame at most → close 1009 */
	uint32_t idle_ms;          /* no frame either way for this long → close 1001 */
	uint32_t max_duration_ms;  /* a connection's life at most → close 1001 */
	uint32_t ping_ms;          /* quiet for this long → the gateway pings; 0: never */
	uint32_t pong_ms;          /* no pong this long after a ping → close 1001 */
	uint32_t send_queue_bytes; /* bytes waiting to go to one client at most */
	uint32_t message_rate;     /* messages a second from one client; 0: no limit */
	uint32_t message_burst;    /* ... in a burst (0: message_rate) */
	bool drop_oldest;          /* slow consumer: drop old topic messages, else close 1008 */
	const char **subprotocols; /* the server's preference order */
	unsigned nsubprotocols;
};

/* The route selection expression, compiled: JSON member names under $request.body. */
#define FNG_WS_SELECTION_DEPTH 8

struct fng_api {
	const char *name;
	enum fng_api_protocol protocol;
	struct fng_stage *stages;
	unsigned nstages;
	const struct fng_stage *default_stage; /* the stage named $default, if any */
	struct fng_route *routes;
	unsigned nroutes;
	struct fng_router *router;     /* HTTP APIs */
	/* WebSocket APIs. */
	const char *route_selection;   /* as written: "$request.body.action" */
	const char *selection[FNG_WS_SELECTION_DEPTH];
	unsigned nselection;
	struct fng_ws_cfg ws;
};

struct fng_mapping {
	const char *base_path; /* "/v1" or "" for "/" */
	size_t base_len;
	const struct fng_api *api;
	const struct fng_stage *stage;
};

struct fng_domain {
	const char *host; /* lower case */
	size_t host_len;
	struct fng_mapping *maps; /* longest base path first */
	unsigned nmaps;
};

struct fng_alog_format; /* stage_access_log.h */

struct fng_config {
	atomic_int refs;
	struct fng_arena *arena;
	const char *path;

	const char **listen;
	unsigned nlisten;
	const char *server_header;
	const struct fng_api *default_api;

	struct {
		uint32_t request_line_bytes;
		uint32_t header_bytes;
		uint32_t header_fields;
		uint64_t body_bytes;
	} limits;
	struct {
		uint32_t header_ms, body_ms, keepalive_ms, send_ms, drain_ms;
	} timeouts;
	struct {
		const char *path; /* NULL when off, "-" for stdout */
		const uint8_t *fields; /* enum fng_alog_field, in the order of a line */
		unsigned nfields;
		const struct fng_alog_format *format; /* fields compiled */
	} access_log;

	struct {
		const char *dir;          /* absolute */
		const char *run_dir;      /* private copies; NULL: the default (fnstore.h) */
		uint64_t max_so_bytes;    /* a larger .so is refused */
		struct fng_fn_limits defaults;
		struct fng_fn_max max;
		struct fng_fn_policy *policies;
		unsigned npolicies;
		struct fng_fn_policy default_policy;
		struct fng_fnlog_cfg logs;
		bool cpu_isolation;       /* workers get a CPU policy (off: plain processes) */
	} functions;

	struct fng_api *apis;
	unsigned napis;
	struct fng_domain *domains;
	unsigned ndomains;

	struct {
		const char *listen;       /* NULL: no admin listener */
		const char *token;        /* required with listen */
	} admin;
	struct fng_schedule *schedules;
	unsigned nschedules;
	/*
	 * "FILE:LINE:COL: message\n" lines about what was left out without making the file
	 * invalid (a refused static file); NULL when none. Logged at start and on reload.
	 */
	const char *warnings;
};

/*
 * Loads and validates a config file (YAML or JSON). On success *out holds a snapshot with one
 * reference. On failure returns FNG_ECONFIG (or a negative errno) and appends one
 * "FILE:LINE:COL: message\n" line per problem to errors.
 */
int fng__config_load(const char *path, struct fng_config **out, struct fng_buf *errors);
/* The same from a string; name is used in error messages. */
int fng__config_load_string(const char *name, const char *text, size_t len,
	struct fng_config **out, struct fng_buf *errors);

/* Parses "IPv4:PORT" or "[IPv6]:PORT". */
int fng__config_parse_addr(const char *s, struct sockaddr_storage *ss);

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

/* The policy of function name in c: its own, or c's default policy. Never NULL. */
const struct fng_fn_policy *fng__config_fn_policy(const struct fng_config *c, const char *name);

/*
 * Whether limits l stay within policy p (of function fn): NULL if so, else the key that does
 * not ("memory_mb", "sandbox", "learn"...) with the reason in why, e.g. "memory_mb 10240 is
 * over the operator's maximum 512 (functions.max.memory_mb)".
 */
const char *fng__policy_check(const struct fng_fn_policy *p, const char *fn,
	const struct fng_fn_limits *l, char *why, size_t len);

/* Whether p lets its function act on connections of the WebSocket API named api. */
bool fng__policy_api_ok(const struct fng_fn_policy *p, const char *api);

/* Names of APIs, stages and functions: [A-Za-z0-9_-]+. */
bool fng__config_name_ok(const char *s);

struct fng_config *fng__config_ref(struct fng_config *c);
void fng__config_unref(struct fng_config *c);

const struct fng_api *fng__config_api(const struct fng_config *c, struct fng_str name);
/* A WebSocket API's route by key ("$connect", "sendmessage"), or NULL. */
const struct fng_route *fng__api_ws_route(const struct fng_api *api, const char *key, size_t len);
const struct fng_stage *fng__api_stage(const struct fng_api *api, struct fng_str name);
const struct fng_domain *fng__config_domain(const struct fng_config *c, struct fng_str host);
bool fng__stage_var(const struct fng_stage *s, struct fng_str name, struct fng_str *value);

#endif
