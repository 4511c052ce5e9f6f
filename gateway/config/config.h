/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CONFIG_H
#define FNG_GATEWAY_CONFIG_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "authz_conf.h"
#include "functions_conf.h"
#include "mem.h"
#include "router.h"
#include "template.h"
#include "ws_conf.h"

/*
 * A loaded configuration: an immutable, refcounted snapshot. The loader builds it from YAML
 * off the loop thread; the server swaps the current pointer on SIGHUP; each request holds a
 * reference for its lifetime, so in-flight requests finish on the snapshot they started on.
 * All memory of a snapshot lives in its arena. The keys are parsed by the modules that own
 * them (conf.h); the types of a module's own settings are in its header (functions_conf.h,
 * ws_conf.h), while the API tree below stays here: the router, the stages, the WebSocket
 * connections and the admin API all walk it.
 */

enum fng_integration_type {
	FNG_INTEGRATION_MOCK,
	FNG_INTEGRATION_FUNCTION,
	FNG_INTEGRATION_STATIC,
	FNG_INTEGRATION_ADMIN,    /* internal: the admin listener's API (admin.c) */
	FNG_INTEGRATION_METRICS,  /* internal: the metrics listener's /metrics (metrics_http.c) */
	FNG_INTEGRATION__COUNT
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


struct fng_route_cache; /* stages/cache.h */

struct fng_route {
	const char *key; /* as written: "GET /a/{b}" */
	struct fng_route_key parsed;
	struct fng_integration_cfg integration;
	int line, col;
	const struct fng_api *api;              /* the API it belongs to */
	const struct fng_authorizer *authorizer; /* NULL: open to everyone */
	const char **scopes;                    /* authorization_scopes: one of them is needed */
	unsigned nscopes;
	bool api_key_required;                  /* stage "apikey": a key in a usage plan */
	const struct fng_route_cache *cache;    /* the route's cache settings; NULL: defaults */
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

struct fng_ip_policy; /* stages/ip_policy.h */
struct fng_client_throttle; /* client_throttle.h */

/* A token bucket's settings (stages/throttle.c): rate per second and burst; rate 0: none. */
struct fng_throttle {
	uint32_t rate, burst;
};

/* A stage's throttle of one of its API's routes (`route_throttles`). */
struct fng_route_throttle {
	const char *key;           /* as written: "GET /x" */
	int line, col;
	const struct fng_route *route;
	struct fng_throttle t;
	const struct fng_client_throttle *client; /* with `identity`: one bucket per client */
};
struct fng_cors;      /* stages/cors.h */
struct fng_cidr_set;  /* cidr.h */
struct fng_stage_cache; /* stages/cache.h */

struct fng_stage {
	const char *name;
	struct fng_var *vars;
	unsigned nvars;
	uint64_t body_bytes;
	const struct fng_ip_policy *policy; /* NULL: none of its own */
	struct fng_throttle throttle;       /* the stage's bucket */
	struct fng_route_throttle *route_throttles;
	unsigned nroute_throttles;
	const struct fng_client_throttle *client_throttle; /* NULL: none */
	const struct fng_stage_cache *cache; /* the stage's response cache; NULL: none */
};

enum fng_api_protocol {
	FNG_API_HTTP,
	FNG_API_WEBSOCKET,
};

struct fng_api {
	const char *name;
	enum fng_api_protocol protocol;
	struct fng_stage *stages;
	unsigned nstages;
	const struct fng_stage *default_stage; /* the stage named $default, if any */
	struct fng_route *routes;
	unsigned nroutes;
	struct fng_authorizer *authorizers;
	unsigned nauthorizers;
	struct fng_router *router;     /* HTTP APIs */
	const struct fng_ip_policy *policy; /* NULL: no resource policy */
	const struct fng_cors *cors;   /* NULL: no CORS (HTTP APIs only) */
	bool rate_limit_headers;       /* RateLimit-* on every answer (stages/throttle.c) */
	/* Where a key-required route's API key comes from (stages/apikey.c). */
	bool api_key_from_authorizer;  /* api_key_source: authorizer (else header) */
	const char *api_key_header;    /* lower case; "x-api-key" by default */
	size_t api_key_header_len;
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

/* A usage plan's quota period (UTC; state/period.h). */
enum fng_quota_period {
	FNG_PERIOD_DAY = 1,
	FNG_PERIOD_WEEK,   /* from Monday 00:00 UTC (ISO 8601) */
	FNG_PERIOD_MONTH,
};

/* A stage a usage plan is attached to, with the plan's own per-client route throttles. */
struct fng_plan_stage {
	const struct fng_api *api;
	const struct fng_stage *stage;
	struct fng_route_throttle *route_throttles; /* per key: .client is NULL */
	unsigned nroute_throttles;
};

/* A usage plan (`usage_plans:`, stages/usage_plans_conf.c): API Gateway's. */
struct fng_usage_plan {
	const char *name;
	struct fng_throttle throttle;  /* per key; rate 0: none */
	uint64_t quota;                /* requests per period; 0: no quota */
	enum fng_quota_period period;
	uint32_t quota_batch;          /* reserved on disk ahead of use (the crash bound) */
	bool fail_open;                /* the quota store cannot write: serve (else 503) */
	struct fng_plan_stage *stages;
	unsigned nstages;
};

/*
 * The largest certificate chain, key, CA bundle or CRL file the TLS listeners read (each read
 * under core/safefile.h's rules for files the configuration names).
 */
#define FNG_TLS_FILE_MAX (16u << 20)

/* A certificate of the TLS listeners (`server.tls.certificates`). */
struct fng_tls_cert {
	const char *cert, *key;          /* absolute paths (read when the listeners start) */
	const char **names;              /* SNI names it answers ("*.example.com" too) */
	unsigned nnames;
	uint32_t hsts_max_age_s;         /* 0: no Strict-Transport-Security */
	bool hsts_subdomains;
	/*
	 * Mutual TLS (`client_auth`): the CA bundle client certificates must chain to (absolute
	 * path; NULL: no client certificate is asked for), whether one is required, and the CRL
	 * files (PEM) checked against every certificate of the chain.
	 */
	const char *client_ca;
	bool client_required;
	const char **client_crls;
	unsigned nclient_crls;
};

/* `server.tls` (transport/tls.c). */
struct fng_tls_cfg {
	const char **listen;
	unsigned nlisten;
	bool modern;                     /* TLS 1.3 only; else Mozilla intermediate (1.2, 1.3) */
	bool refuse_unknown_sni;         /* else the first certificate answers */
	struct fng_tls_cert *certs;      /* [0] the default */
	unsigned ncerts;
};

struct fng_alog_format; /* stages/access_log.h */

/*
 * `cluster:` (state/cluster_conf.c): the Redis server this node shares state through and how
 * it reaches it (state/cluster.h). on is false without the section: everything stays local.
 */
struct fng_cluster_cfg {
	bool on;
	const char *redis;        /* "IP:PORT" as written */
	const char *host;         /* its IP address, as hiredis takes it */
	uint16_t port;
	const char *password;     /* the first line of password_file; NULL: no AUTH */
	uint32_t database;        /* SELECT; 0: the default database, not selected */
	const char *key_prefix;   /* of every key and channel */
	const char *node_id;      /* [A-Za-z0-9._-]{1,64} */
	uint32_t connect_timeout_ms, command_timeout_ms;
	uint32_t heartbeat_ms, node_ttl_ms;
	uint32_t reconnect_min_ms, reconnect_max_ms;
	/* cluster.shared_caches (stages/cache.c, host/authz_cache.c): what is shared in Redis
	 * behind the local caches; neither by default. A reload may change them. */
	bool share_response, share_authorizer;
	uint32_t shared_entry_max; /* cluster.shared_cache_entry_bytes: larger stay local */
};


struct fng_config {
	atomic_int refs;
	struct fng_arena *arena;
	const char *path;
	/*
	 * Unique per snapshot and increasing with each load: what a cache of pointers into a
	 * snapshot (core/metrics.h's memo) tells a newer snapshot by, where the address of a
	 * freed one may come back.
	 */
	uint64_t gen;

	const char **listen;
	unsigned nlisten;
	const char *server_header;
	const struct fng_api *default_api;
	/* Peers whose X-Forwarded-For names the client (stages/ip_policy.c); NULL: none. */
	const struct fng_cidr_set *trusted_proxies;
	struct fng_tls_cfg tls;
	/* The gateway-wide bucket and the local store's budget (stages/throttle.c). */
	struct {
		struct fng_throttle gateway;
		uint64_t memory_bytes;
	} throttle;
	/*
	 * How limits and quotas use the cluster (`cluster:`'s keys; state/climits.c and
	 * state/cquota.c); without `cluster:` they stay local whatever these say.
	 */
	struct fng_cluster_limits_cfg {
		bool local_limits;         /* cluster.limits: local (each node its own buckets) */
		bool local_quotas;         /* cluster.quotas: local (each node its own SQLite) */
		bool limits_fail_closed;   /* cluster.limits_on_failure: closed, 503 (else rate/N) */
		uint32_t lease;            /* cluster.lease: tokens a node takes at once, at most */
		uint32_t lease_ms;         /* cluster.lease_ms: unspent leased tokens go back after */
		uint32_t expected_nodes;   /* cluster.expected_nodes: N of rate/N (0: the registry) */
	} cluster_limits;

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
	struct fng_usage_plan *plans;
	unsigned nplans;
	const char *state_dir;    /* absolute: API keys and quota counters (state/keydb.h) */
	struct fng_domain *domains;
	unsigned ndomains;

	struct {
		const char *listen;       /* NULL: no admin listener */
		const char *token;        /* required with listen */
	} admin;
	/* `metrics:` (integration/metrics_conf.c). */
	struct {
		bool off;                 /* `enabled: false`: no metric is recorded */
		const char *listen;       /* a loopback listener serving /metrics without a token */
	} metrics;
	struct fng_schedule *schedules;
	unsigned nschedules;
	struct fng_topics_cfg topics;
	struct fng_cluster_cfg cluster;
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

/* Names of APIs, stages and functions: [A-Za-z0-9_-]+. */
bool fng__config_name_ok(const char *s);

struct fng_config *fng__config_ref(struct fng_config *c);
void fng__config_unref(struct fng_config *c);

const struct fng_api *fng__config_api(const struct fng_config *c, struct fng_str name);
/* The usage plan named name, or NULL. */
const struct fng_usage_plan *fng__config_plan(const struct fng_config *c, const char *name);
/*
 * The first of the plans named (a key's, in its order) that is attached to stage s, and *ps
 * its attachment; NULL when none is.
 */
const struct fng_usage_plan *fng__stage_plan(const struct fng_config *c,
	const struct fng_stage *s, const char *const *names, unsigned n,
	const struct fng_plan_stage **ps);
/* A WebSocket API's route by key ("$connect", "sendmessage"), or NULL. */
const struct fng_route *fng__api_ws_route(const struct fng_api *api, const char *key, size_t len);
const struct fng_stage *fng__api_stage(const struct fng_api *api, struct fng_str name);
const struct fng_domain *fng__config_domain(const struct fng_config *c, struct fng_str host);
bool fng__stage_var(const struct fng_stage *s, struct fng_str name, struct fng_str *value);

#endif
