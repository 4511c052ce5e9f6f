/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_REQUEST_H
#define FNG_GATEWAY_REQUEST_H

#include <netinet/in.h>
#include <stdatomic.h>

#include "config.h"
#include "keystate.h"
#include "mem.h"
#include "router.h"
#include "wire.h"

/*
 * One request's life on the request path. It is allocated from its own arena when its head
 * has been read and freed when its response has been handed to the connection and logged.
 * Everything a stage computes about the request lives here; the connection (http.c) only
 * fills the parsed head and body and takes the response.
 */

struct fng_header {
	struct fng_str name, value;
};

struct fng_resp {
	int status;
	struct fng_header *headers; /* names lower case */
	unsigned nheaders, capheaders;
	struct fng_buf body;
	bool chunked;
	bool has_body;    /* the integration gave a body, even an empty one (WebSocket answers) */
	/*
	 * What a function's handler said about caching this response (fng_response_cache(),
	 * RESULT's `cache`; set by host/event.c from a RESULT that answered): its TTL, 0 to
	 * FNG_CACHE_TTL_MAX seconds as the handler sent it (the cache stage clamps it to the
	 * stage's maximum; 0: do not store), -1 when the handler said nothing (every request is
	 * created so, and the error edge puts it back); and its tags, arena copies, each
	 * NUL-terminated and fng__cache_tag_ok(), unique, at most FNG_CACHE_TAGS_MAX.
	 */
	int32_t cache_ttl_s;
	const char **cache_tags;
	unsigned ncache_tags;
};

struct fng_req;
struct fng_conn;
struct fng_cache_flight;
struct fng_cache_ask;
struct fng_cache_waiter;
struct fng_server;
struct fng_ws;
struct fng_upgrade_ops;

/* A subscription made during $connect, applied when the connection opens (arena memory). */
struct fng_ws_presub {
	struct fng_ws_presub *next;
	uint64_t seq;              /* the topic's last sequence number at the subscribe */
	size_t tlen;
	char topic[];
};

/* What the connection layer provides to the request path. */
struct fng_req_ops {
	/* Serializes req->resp onto the connection; sets req->bytes_out. */
	void (*respond)(struct fng_req *req);
	/* The request is finished: the connection releases it and moves on. */
	void (*finish)(struct fng_req *req);
	/* Writes one access log line (no newline); NULL where there is no log. */
	void (*log)(struct fng_req *req, const char *line, size_t len);
};

/* An event: a request that no client sent. */
enum fng_event {
	FNG_EVENT_NONE,       /* an HTTP request (a WebSocket handshake too) */
	FNG_EVENT_MESSAGE,    /* a WebSocket message */
	FNG_EVENT_DISCONNECT, /* a WebSocket connection ended */
	FNG_EVENT_SCHEDULE,   /* a scheduled invocation */
	/*
	 * A function authorizer's invocation for another request (host/authz.c): it goes to the
	 * function host's queue directly and never runs the stage table.
	 */
	FNG_EVENT_AUTHORIZER,
};

struct fng_authz_call;
struct fng_authz_ask;
struct fng_cluster_ask;
struct fng_ws_ask;

/*
 * "MESSAGE", "DISCONNECT", "SCHEDULE", "AUTHORIZER" (the event's type for handlers); NULL for
 * NONE.
 */
const char *fng__event_name(enum fng_event e);

/*
 * What the route's authorizer established about the caller (stage "authorize"), in arena
 * memory: its principal and the context a handler reads with fng_event_authorizer(). A
 * function authorizer's context map goes in as it was answered; a JWT's verified claims as
 * "claims.NAME" (docs/sdk.md).
 */
struct fng_req_authz {
	bool set;                  /* an authorizer allowed the request */
	const char *principal;     /* principalId; a JWT's "sub" */
	const char *usage_key;     /* the usage identifier key (API keys), or NULL */
	struct fng_wire_kv *ctx;   /* the context, flat: name and string value */
	size_t nctx, capctx;
};

/* Adds name = value (copied into req's arena) to req->authz's context. 0 or -ENOMEM. */
int fng__req_authz_add(struct fng_req *req, const char *name, size_t nlen, const char *value,
	size_t vlen);
/* Sets req->authz to a copy of src in req's arena (set included). 0 or -ENOMEM. */
int fng__req_authz_copy(struct fng_req *req, const struct fng_req_authz *src);
/*
 * A copy of src in one malloc'd block, for what outlives a request (a WebSocket connection,
 * the authorizer cache): free() releases it all; *size receives the block's size. NULL
 * without memory.
 */
struct fng_req_authz *fng__req_authz_clone(const struct fng_req_authz *src, size_t *size);

/*
 * The client certificate of a mutual TLS connection (transport/tls.c reads it once, after the
 * handshake): NUL-terminated strings in the same malloc'd block as the struct. The connection
 * holds a reference, and so does each request made on it (a request can outlive its
 * connection); the last fng__client_cert_unref frees it.
 */
struct fng_client_cert {
	atomic_uint refs;
	const char *subject;       /* RFC 2253 ("CN=client,O=Example") */
	const char *issuer;
	const char *serial;        /* lower-case hex bytes, colon-separated */
	const char *not_before;    /* ISO 8601 UTC ("2026-01-02T03:04:05Z") */
	const char *not_after;
	const char *sha256;        /* of the DER, 64 lower-case hex digits */
	const char **sans;         /* "DNS:x", "IP:1.2.3.4", "email:x", "URI:x" */
	unsigned nsans;
};

void fng__client_cert_ref(struct fng_client_cert *cc);
/* Drops a reference; the last frees cc. NULL is a no-op. */
void fng__client_cert_unref(struct fng_client_cert *cc);
/* Gives req a reference to cc (dropped when its arena goes). 0 or -ENOMEM; NULL cc: 0. */
int fng__req_set_client_cert(struct fng_req *req, struct fng_client_cert *cc);

/* A WebSocket handshake's or event's own fields. */
struct fng_req_ws {
	struct fng_ws *conn;       /* an event's connection (ws_conn.c), held until it finishes */
	const char *id;            /* the connection id */
	const char *message_id;
	const char *accept;        /* handshake: the Sec-WebSocket-Accept value */
	const char *protocol;      /* handshake: the subprotocol chosen, or NULL */
	bool text;                 /* MESSAGE: a text message */
	struct fng_ws_presub *presubs; /* handshake: topics its $connect subscribed it to */
};

struct fng_req {
	struct fng_arena *arena;
	const struct fng_req_ops *ops;
	struct fng_conn *conn;     /* HTTP: the connection; NULL once the client has gone */
	struct fng_server *srv;    /* the loop's state: outlives the request */
	struct fng_config *cfg;    /* a reference, dropped when the request is destroyed */

	/* The request as read. Spans point into arena memory. */
	struct fng_str method, target, path, query, host;
	uint8_t http_major, http_minor;
	struct fng_header *headers;
	unsigned nheaders;
	struct fng_buf body;
	uint64_t content_length;
	bool has_body, chunked, keep_alive, expect_continue, body_complete, upgrade;
	struct sockaddr_storage peer;
	char ip[48];
	struct fng_client_cert *client_cert; /* mutual TLS: the client's certificate, or NULL */
	char request_id[129];
	size_t request_id_len;

	/* Where it goes: resolved by the head-phase stages. */
	const struct fng_api *api;
	const struct fng_stage *stage;
	struct fng_str route_path; /* path after the stage or base-path prefix */
	struct fng_route_match match;
	uint64_t body_limit;

	/* Progress through the stage table. */
	unsigned stage_idx;
	bool pending;              /* a stage returned PENDING and has not resumed */
	bool responded;
	bool finished;             /* ops->finish has run (the engine checks it runs once) */
	int error;                 /* why the gateway refused the request (FNG_E*, -errno) */
	const char *error_detail;  /* the JSON message for it; NULL for the default */
	/*
	 * The WWW-Authenticate value of a 401 (RFC 7235 4.1), set by the stage that refuses the
	 * credentials: only it knows the scheme and realm. NULL: the 401 carries no challenge.
	 */
	const char *challenge;

	/* The caller, as the route's authorizer found it (set: false without one). */
	struct fng_req_authz authz;
	/*
	 * A function authorizer's invocation (host/authz.c): set on the request it decides about
	 * while it runs, and on the invocation's own request (event AUTHORIZER).
	 */
	struct fng_authz_call *authz_call;
	struct fng_authz_ask *authz_ask;   /* host/authz.c: asking the shared cache */
	/* GET /@cluster's node listing in flight (integration/cluster_admin.c). */
	struct fng_cluster_ask *cluster_ask;
	/* An admin request waiting for another node or for Redis (integration/admin.c). */
	struct fng_ws_ask *ws_ask;
	/*
	 * The API key and usage plan of a key-required route (stage "apikey"), and the quota's
	 * answer (stage "quota"). wait: a lookup or reservation the request waits for.
	 */
	struct {
		const char *key_id;                   /* arena copy; NULL: no key */
		const struct fng_usage_plan *plan;
		const struct fng_plan_stage *ps;      /* the plan's attachment to req->stage */
		struct fng_kwait wait;
		struct fng_kjob *kjob;                /* an admin API key operation's job */
		struct fng_quota_answer quota;
		bool quota_set;
	} usage;
	/* The response cache (stages/cache.c): set on a request of a cached stage. */
	struct {
		struct fng_cache_flight *flight;  /* its answer is stored and shared (a miss's leader) */
		struct fng_cache_waiter *waiter;  /* waiting for another request's answer */
		struct fng_cache_ask *ask;        /* waiting for the shared cache (Redis) */
		uint64_t gen;                     /* the shared cache's generation it read */
		bool gen_set;                     /* gen is known: the answer may be shared */
		bool from_shared;                 /* served from Redis: not stored again */
		bool invalidate;                  /* a client's refresh: other nodes drop the key */
		const void *key;                  /* the entry's key (arena) */
		size_t klen;
		const char *status;               /* x-cache: hit, miss, stale, bypass; NULL: none */
		uint64_t age_s;                   /* a hit's or stale answer's Age */
		bool served;                      /* the answer came from the cache */
		bool refresh;                     /* a background refresh: no client */
	} cache;
	/* What stage "throttle" decided, for "throttle_headers" (set: it asked the buckets). */
	struct {
		bool set;
		uint32_t limit, remaining, reset_s; /* the tightest bucket (RateLimit-*) */
		uint32_t retry_after_s;             /* refused: Retry-After */
		void *pend;                         /* a shared store's decision awaited */
	} throttle;

	/* What a request without a client is (ws_conn.c, schedule.c); NONE for HTTP. */
	enum fng_event event;
	/*
	 * What takes the connection over after a 101 (a WebSocket handshake's), and what it is
	 * given with it (a push feed's owner, ws_push.h; unused by a WebSocket API's handshake).
	 */
	const struct fng_upgrade_ops *upgrade_ops;
	void *upgrade_arg;
	/* WebSocket: a handshake (ws.accept set) or an event of a connection (event set). */
	struct fng_req_ws ws;

	/* The answer. */
	struct fng_resp resp;
	int integration_status;    /* 0 when no integration ran */
	/*
	 * A function invocation's version (host/queue.c, when a worker takes it: arena copy) and,
	 * when it failed, why, as a metric label: "crash", "seccomp", "oom", "timeout",
	 * "malformed"... (a static string). For metrics and the dashboard's recent errors; NULL:
	 * none.
	 */
	const char *fn_version;
	const char *fn_cause;

	/*
	 * What the invocation cost, as the worker runtime measured it and reported it in its
	 * RESULT (host/output.c): for the access log and metrics only, never trusted for a limit.
	 * set: a worker reported it (false for every other integration and for a worker that
	 * answered nothing).
	 */
	struct {
		bool set;
		uint64_t cpu_us;       /* user + system CPU time of the invocation, microseconds */
		uint64_t max_rss_kb;   /* the worker's peak resident memory so far, KiB */
	} cost;
	/*
	 * W3C trace context (stage "trace"): the trace this request belongs to (the client's, when
	 * its traceparent was well formed, else a new one), the client's span (parent_id, empty
	 * when the trace is new) and the gateway's own span, which is the handler's parent and is
	 * returned in the response's traceparent. Lower-case hex, NUL-terminated.
	 */
	struct {
		char trace_id[33];
		char parent_id[17];
		char span_id[17];
		uint8_t flags;
		const char *tracestate;  /* the client's, when valid (arena); NULL: none */
	} trace;

	/* Accounting for the access log and metrics. uv_hrtime() nanoseconds. */
	uint64_t t_start, t_integration_start, t_integration_end;
	uint64_t bytes_in, bytes_out;
};

/*
 * Whether there is a client to answer: the HTTP connection (until it goes), or a WebSocket
 * event's connection (whose own respond op knows whether it is still open).
 */
static inline bool fng__req_has_client(const struct fng_req *req)
{
	return req->conn || req->ws.conn;
}

/* Returns the first header named name (case-insensitive), or NULL. */
const struct fng_header *fng__req_header(const struct fng_req *req, const char *name, size_t len);
/*
 * First value of query parameter name, decoded into arena memory by the rule of query.h (the
 * value a function sees first for that name in queryStringParameters).
 */
bool fng__req_query(struct fng_req *req, struct fng_str name, struct fng_str *value);

/*
 * W3C trace context (pipeline/trace.c). FNG_TRACEPARENT_LEN (sdk/wire_rules.h) is the length
 * of a version 00 traceparent; bit 0 of the flags is "sampled".
 */
#define FNG_TRACE_SAMPLED 0x01
/* words * 16 random lower-case hex digits, not all zero, and a NUL, into out. */
void fng__trace_random_id(char *out, unsigned words);
/* req starts a trace of its own: new trace and span ids, sampled, no parent, no tracestate. */
void fng__req_trace_new(struct fng_req *req);
/*
 * req joins trace_id (32 hex) as a child of parent_span (16 hex) with flags and tracestate
 * (NULL: none; it must outlive req), with a new span of its own. A malformed id: a new trace.
 */
void fng__req_trace_join(struct fng_req *req, const char *trace_id, const char *parent_span,
	uint8_t flags, const char *tracestate);
/*
 * "00-<trace>-<req's span>-<flags>" into out: the traceparent whose parent is the gateway's
 * span for req. false (out "") when req is in no trace.
 */
bool fng__req_traceparent(const struct fng_req *req, char out[56]);

/* Appends a response header (copied into the request's arena). */
int fng__resp_header(struct fng_req *req, const char *name, size_t nlen, const char *value,
	size_t vlen);

/*
 * Sets req->resp to the JSON error for err: {"message": detail or the default}. Headers set by
 * earlier stages are dropped; a 401 carries req->challenge when a stage has set one.
 */
void fng__req_error_response(struct fng_req *req, int err, const char *detail);

/*
 * A request without a connection (a WebSocket event, a scheduled run): its own arena, a
 * reference to cfg, ops, a fresh request id, HTTP/1.1, and a copy of len bytes of body. The
 * caller fills in where it goes and runs it. NULL without memory (nothing to undo).
 */
struct fng_req *fng__req_new_event(struct fng_server *srv, struct fng_config *cfg,
	const struct fng_req_ops *ops, const void *body, size_t len);

#endif
