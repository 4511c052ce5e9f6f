/* SPDX-License-Identifier: MIT */
#ifndef FNG_SDK_WIRE_H
#define FNG_SDK_WIRE_H

/*
 * The gateway ⇄ worker wire (docs/protocol.md): length-prefixed msgpack frames over one
 * stream socketpair per worker. Internal to fngate — shared by the worker runtime (sdk/),
 * the sandbox and the gateway — and not part of the handler ABI. Exported from libfngate
 * with the fng__ prefix only so that the fngate executable can use the same codec.
 *
 * Frame: u32 big-endian LEN | u8 TYPE | LEN-1 bytes of msgpack (one value, a map).
 * LEN counts the type byte and the body; LEN == 0 or LEN - 1 > the receiver's cap is a
 * protocol error. Decoders check every array/map count against the bytes that remain before
 * msgpack-c allocates anything, cap nesting depth, and reject trailing bytes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FNG_WIRE_HEADER 5
/* Default body cap: API Gateway's 6 MB payload limit (10 MB body limit) plus headroom. */
#define FNG_WIRE_MAX_DEFAULT ((size_t)11 * 1024 * 1024)

enum fng_wire_type {
	FNG_WIRE_READY = 1,     /* worker → gateway, once: {abi, name} */
	FNG_WIRE_INVOKE = 2,    /* gateway → worker: the event */
	FNG_WIRE_RESULT = 3,    /* worker → gateway, once per INVOKE: the response */
	FNG_WIRE_LOG = 4,       /* worker → gateway, during an INVOKE: {level, msg} */
	FNG_WIRE_SHUTDOWN = 5,  /* gateway → worker: run the shutdown hook and exit 0 */
	FNG_WIRE_WS_SEND = 6,   /* worker → gateway, during an INVOKE: {connectionId, data, binary} */
	FNG_WIRE_WS_PUBLISH = 7,     /* worker → gateway, during an INVOKE: {topic, data} */
	FNG_WIRE_WS_SUBSCRIBE = 8,   /* worker → gateway, during an INVOKE: {connectionId, topic} */
	FNG_WIRE_WS_UNSUBSCRIBE = 9, /* same body as WS_SUBSCRIBE */
	FNG_WIRE_WS_CLOSE = 10, /* worker → gateway, during an INVOKE: {connectionId, code, reason} */
};

struct fng_wire_str {
	const char *p; /* not NUL-terminated unless said */
	size_t len;
};

struct fng_wire_kv {
	struct fng_wire_str k, v;
};

/* A growable output buffer (malloc). */
struct fng_wire_buf {
	uint8_t *p;
	size_t len, cap;
};

void fng__wire_buf_finish(struct fng_wire_buf *b);

/*
 * Finds one frame at the start of buf[0..len). Returns the frame's total size (header
 * included) and sets *type, *body, *body_len; 0 if more bytes are needed; -EMSGSIZE if the
 * length exceeds max_body; -EPROTO for LEN == 0.
 */
long fng__wire_frame(const uint8_t *buf, size_t len, size_t max_body, uint8_t *type,
	const uint8_t **body, size_t *body_len);

/* The event, as the gateway fills it from a request (payload format 2.0 fields). */
struct fng_wire_event {
	struct fng_wire_str version;      /* "2.0" */
	struct fng_wire_str route_key, raw_path, raw_query;
	struct fng_wire_str method, path, protocol, source_ip, user_agent;
	struct fng_wire_str request_id, api, stage, domain;
	const struct fng_wire_kv *headers;  /* names lower-case; repeated names allowed */
	size_t nheaders;
	const struct fng_wire_kv *query;    /* decoded; repeated names allowed */
	size_t nquery;
	const struct fng_wire_kv *path_params;
	size_t npath_params;
	const struct fng_wire_kv *stage_vars;
	size_t nstage_vars;
	const struct fng_wire_kv *authorizer;
	size_t nauthorizer;
	const struct fng_wire_str *cookies; /* "name=value" items */
	size_t ncookies;
	const void *body;
	size_t body_len;
	int64_t time_epoch_ms;
	int64_t deadline_epoch_ms;          /* wall-clock deadline of the invocation */
	/* WebSocket events (empty for HTTP): requestContext.{connectionId,eventType,messageId} */
	struct fng_wire_str connection_id;
	struct fng_wire_str event_type;     /* "CONNECT", "MESSAGE", "DISCONNECT", "AUTHORIZER" */
	struct fng_wire_str message_id;
	/*
	 * AUTHORIZER events only (an empty authz_type: another event, and the four keys are not
	 * in its frame): "TOKEN" or "REQUEST", the TOKEN's header value, the identity sources'
	 * values in the configured order, and the route as an ARN-like string.
	 */
	struct fng_wire_str authz_type;
	struct fng_wire_str authorization_token;
	const struct fng_wire_str *identity_source;
	size_t nidentity_source;
	struct fng_wire_str route_arn;
	/*
	 * Mutual TLS (requestContext.identity.clientCert, in the frame only when client_cert is
	 * true): the client certificate's subject and issuer (RFC 2253), serial (hex), validity
	 * (ISO 8601 UTC), subject alternative names ("DNS:x", "IP:x", "email:x", "URI:x") and
	 * the SHA-256 fingerprint of its DER (hex).
	 */
	bool client_cert;
	struct fng_wire_str cert_subject, cert_issuer, cert_serial;
	struct fng_wire_str cert_not_before, cert_not_after, cert_sha256;
	const struct fng_wire_str *cert_sans;
	size_t ncert_sans;
	/*
	 * W3C trace context (requestContext.trace, in the frame only when trace is true): the
	 * traceparent whose parent is the gateway's span for this request, version 00
	 * (fng__traceparent_parse() accepts it, 55 bytes), and the client's tracestate when it
	 * was valid (fng__tracestate_ok(); empty: none).
	 */
	bool trace;
	struct fng_wire_str traceparent, tracestate;
};

/* Appends an INVOKE frame for ev to out. 0, or -ENOMEM / -EMSGSIZE. */
int fng__wire_encode_invoke(struct fng_wire_buf *out, const struct fng_wire_event *ev);

/*
 * Decodes an INVOKE body. On success *ev points into memory owned by *handle (free it with
 * fng__wire_free); strings in it are NUL-terminated. -EPROTO on anything malformed.
 */
int fng__wire_decode_invoke(const uint8_t *body, size_t len, struct fng_wire_event *ev,
	void **handle);

/* A value of an authorizer's context: typed as JSON has them. */
enum fng_wire_ctx_type {
	FNG_WIRE_CTX_STR,
	FNG_WIRE_CTX_NUM,
	FNG_WIRE_CTX_BOOL,
};

struct fng_wire_ctxv {
	struct fng_wire_str k;
	enum fng_wire_ctx_type type;
	struct fng_wire_str s; /* STR */
	double num;            /* NUM: finite */
	bool b;                /* BOOL */
};

enum fng_wire_decision {
	FNG_WIRE_AUTHZ_NONE,  /* no answer: RESULT has no `authorizer` key */
	FNG_WIRE_AUTHZ_ALLOW,
	FNG_WIRE_AUTHZ_DENY,
};

/* An authorizer's answer to an AUTHORIZER event (fng_authorizer_allow() and friends). */
struct fng_wire_authz {
	enum fng_wire_decision decision;
	struct fng_wire_str principal;      /* principalId */
	struct fng_wire_str usage_key;      /* usageIdentifierKey, empty if none */
	const struct fng_wire_ctxv *context; /* keys non-empty and unique */
	size_t ncontext;
};

/*
 * A handler's say over caching its response (fng_response_cache()): RESULT's `cache` map,
 * present only when set. ttl_s is 0..FNG_CACHE_TTL_MAX (0: do not store), the tags unique and
 * each fng__cache_tag_ok(), at most FNG_CACHE_TAGS_MAX (wire_rules.h).
 */
struct fng_wire_cache {
	bool set;                        /* the handler called fng_response_cache() */
	uint32_t ttl_s;
	const struct fng_wire_str *tags; /* NUL-terminated when decoded */
	size_t ntags;
};

/*
 * What an invocation cost, as the worker runtime measured it (RESULT's optional `cost` map):
 * the CPU time the process used while the handler ran (user + system), its peak resident set
 * so far, and the handler's wall-clock time. Reported by an untrusted worker: the gateway
 * bounds it (wire_limits.h) and uses it for accounting, and the wall time for the function's
 * own admission estimate (host/queue.c), never for a limit.
 */
struct fng_wire_cost {
	bool set;
	uint64_t cpu_us;     /* 0..FNG_WIRE_MAX_CPU_US */
	uint64_t max_rss_kb; /* 0..FNG_WIRE_MAX_RSS_KB */
	uint64_t wall_us;    /* 0..FNG_WIRE_MAX_CPU_US; 0 also when not reported */
};

/* The response, as a worker sends it. */
struct fng_wire_result {
	int status;
	const struct fng_wire_kv *headers;
	size_t nheaders;
	const struct fng_wire_str *cookies; /* Set-Cookie values */
	size_t ncookies;
	const void *body;
	size_t body_len;
	bool failed;                        /* the handler returned < 0: answer 502 */
	bool has_body;                      /* a body was written, even an empty one */
	struct fng_wire_authz authz;        /* an authorizer's answer; decision NONE: none */
	struct fng_wire_cache cache;        /* set false: the handler said nothing */
	struct fng_wire_cost cost;          /* set false: not measured (an older runtime) */
};

int fng__wire_encode_result(struct fng_wire_buf *out, const struct fng_wire_result *r);
int fng__wire_decode_result(const uint8_t *body, size_t len, struct fng_wire_result *r,
	void **handle);

int fng__wire_encode_log(struct fng_wire_buf *out, int level, const char *msg, size_t len);
int fng__wire_decode_log(const uint8_t *body, size_t len, int *level, struct fng_wire_str *msg,
	void **handle);

int fng__wire_encode_ready(struct fng_wire_buf *out, uint32_t abi, const char *name);

/* WS_SEND: a message for a WebSocket connection; WS_CLOSE: close one with a code. */
int fng__wire_encode_ws_send(struct fng_wire_buf *out, const char *connection_id,
	const void *data, size_t len, bool binary);
int fng__wire_decode_ws_send(const uint8_t *body, size_t len, struct fng_wire_str *connection_id,
	struct fng_wire_str *data, bool *binary, void **handle);
int fng__wire_encode_ws_close(struct fng_wire_buf *out, const char *connection_id, uint32_t code,
	const char *reason);
int fng__wire_decode_ws_close(const uint8_t *body, size_t len, struct fng_wire_str *connection_id,
	uint32_t *code, struct fng_wire_str *reason, void **handle);
/* WS_PUBLISH: a message for a topic's subscribers. */
int fng__wire_encode_ws_publish(struct fng_wire_buf *out, const char *topic, const void *data,
	size_t len);
int fng__wire_decode_ws_publish(const uint8_t *body, size_t len, struct fng_wire_str *topic,
	struct fng_wire_str *data, void **handle);
/* WS_SUBSCRIBE / WS_UNSUBSCRIBE (type): a connection joins or leaves a topic. */
int fng__wire_encode_ws_sub(struct fng_wire_buf *out, uint8_t type, const char *connection_id,
	const char *topic);
int fng__wire_decode_ws_sub(const uint8_t *body, size_t len, struct fng_wire_str *connection_id,
	struct fng_wire_str *topic, void **handle);
int fng__wire_decode_ready(const uint8_t *body, size_t len, uint32_t *abi,
	struct fng_wire_str *name, void **handle);

/* A body-less frame (SHUTDOWN). */
int fng__wire_encode_empty(struct fng_wire_buf *out, uint8_t type);

/* Frees what a decoder returned through handle; NULL is a no-op. */
void fng__wire_free(void *handle);

#endif
