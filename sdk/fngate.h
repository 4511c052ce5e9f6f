/* SPDX-License-Identifier: MIT */
#ifndef FNGATE_H
#define FNGATE_H

/*
 * fngate.h — the one header a handler is written against.
 *
 * A handler is a shared object with one FNG_HANDLER() in it, built with
 *
 *     cc -shared -fPIC -o hello.so hello.c $(pkg-config --cflags --libs fngate)
 *
 * and dropped into functions/. fngate runs it in a sandboxed worker process, one invocation
 * at a time, reusing the process across invocations. The event it sees is modelled on Amazon
 * API Gateway's HTTP API payload format 2.0; the response is a status, headers, cookies and a
 * body. Everything a handler gets from these calls stays valid until the handler returns.
 *
 *     #include <fngate.h>
 *
 *     static int hello(struct fng_ctx *ctx)
 *     {
 *             const char *name = fng_event_path_param(ctx, "name");
 *
 *             return fng_response_json(ctx, 200, "{\"hello\":\"%s\"}", name ? name : "world");
 *     }
 *     FNG_HANDLER(hello)
 *
 * Return value of a handler: 0 sends the response built so far; a negative value turns the
 * invocation into a 502 (the worker is kept). A crash, a forbidden system call, running out
 * of memory or of time ends the worker and answers 502 or 504.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. A .so built against another ABI is refused at deploy. */
#define FNG_ABI_VERSION 1

#if defined(__GNUC__)
#define FNG_EXPORT __attribute__((visibility("default")))
#define FNG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FNG_EXPORT
#define FNG_PRINTF(a, b)
#endif

/* One invocation: the event and the response being built. Opaque. */
struct fng_ctx;

/* The handler: build the response through ctx, return 0 (or negative for a 502). */
typedef int (*fng_handler_fn)(struct fng_ctx *ctx);

/*
 * Runs once per worker process before the sandbox locks down (files, sockets and memory
 * set up here stay usable). Non-zero refuses the deploy (or fails the worker's start).
 */
typedef int (*fng_init_fn)(void);

/* Runs when the worker is retired gracefully (not after a crash or a kill). */
typedef void (*fng_shutdown_fn)(void);

/* What FNG_HANDLER exports; the runtime finds it by the symbol name fng_handler_desc. */
struct fng_handler_desc {
	uint32_t abi;            /* FNG_ABI_VERSION at build time */
	const char *name;        /* the handler function's name */
	fng_handler_fn handle;
	fng_init_fn init;        /* may be NULL */
	fng_shutdown_fn shutdown; /* may be NULL */
};

/* Declares fn as this .so's handler. Exactly one per .so. */
#define FNG_HANDLER(fn) FNG_HANDLER_EX(fn, NULL, NULL)

/* Declares fn as the handler with init and shutdown hooks (either may be NULL). */
#define FNG_HANDLER_EX(fn, init_fn, shutdown_fn)                                           \
	FNG_EXPORT const struct fng_handler_desc fng_handler_desc = {                      \
		FNG_ABI_VERSION, #fn, fn, init_fn, shutdown_fn,                            \
	};

/* ---- the event ---- */

/* HTTP method ("GET"). */
const char *fng_event_method(const struct fng_ctx *ctx);
/* The raw request path as the client sent it, percent-encoded ("/dev/hello/ada"). */
const char *fng_event_raw_path(const struct fng_ctx *ctx);
/* The raw query string without '?', "" if none. */
const char *fng_event_raw_query(const struct fng_ctx *ctx);
/* The matched route key ("GET /hello/{name}", or "$default"). */
const char *fng_event_route_key(const struct fng_ctx *ctx);
/* A path parameter of the route, percent-decoded; NULL if the route has none by that name. */
const char *fng_event_path_param(const struct fng_ctx *ctx, const char *name);
/* The first value of a query parameter, decoded; NULL if absent. */
const char *fng_event_query(const struct fng_ctx *ctx, const char *name);
/* The i-th (from 0) value of a repeated query parameter; NULL past the last. */
const char *fng_event_query_n(const struct fng_ctx *ctx, const char *name, size_t i);
/* The first value of a request header (name case-insensitive); NULL if absent. */
const char *fng_event_header(const struct fng_ctx *ctx, const char *name);
/* The i-th (from 0) value of a repeated request header; NULL past the last. */
const char *fng_event_header_n(const struct fng_ctx *ctx, const char *name, size_t i);
/* A cookie's value from the Cookie header(s); NULL if absent. */
const char *fng_event_cookie(const struct fng_ctx *ctx, const char *name);
/* The request body (may contain NUL bytes); *len receives its length. Never NULL. */
const void *fng_event_body(const struct fng_ctx *ctx, size_t *len);
/* The API name and the stage name. */
const char *fng_event_api(const struct fng_ctx *ctx);
const char *fng_event_stage(const struct fng_ctx *ctx);
/* A stage variable; NULL if the stage has none by that name. */
const char *fng_event_stage_var(const struct fng_ctx *ctx, const char *name);
/*
 * A value the route's authorizer attached to the request: "principalId", and each key of a
 * function authorizer's context (numbers and booleans as text: "42", "true") or a JWT's
 * "claims.NAME". On a WebSocket API, what the $connect authorizer attached, in every event of
 * the connection. NULL if none (or no authorizer ran).
 */
const char *fng_event_authorizer(const struct fng_ctx *ctx, const char *key);
/* The request id (the x-request-id the client sees). */
const char *fng_event_request_id(const struct fng_ctx *ctx);
/* The client's IP address as text. */
const char *fng_event_source_ip(const struct fng_ctx *ctx);
/*
 * WebSocket events. The connection's id (the same for every event of a connection; "" for an
 * HTTP request); the event type: "CONNECT" (the handshake: answer 2xx to accept, anything
 * else refuses it with that status), "MESSAGE" (a message from the client: the body; a body
 * in the response is sent back to the client) or "DISCONNECT" (once per accepted connection,
 * however it ended; the response is ignored), "" for HTTP; and the message's id ("" unless
 * MESSAGE).
 */
const char *fng_event_connection_id(const struct fng_ctx *ctx);
const char *fng_event_type(const struct fng_ctx *ctx);
const char *fng_event_message_id(const struct fng_ctx *ctx);
/* Milliseconds left before the invocation's deadline (0 when it has passed). */
int64_t fng_time_left_ms(const struct fng_ctx *ctx);
/* An environment variable from the function's manifest (`env:`); NULL if unset. */
const char *fng_env(const struct fng_ctx *ctx, const char *name);

/* ---- W3C trace context ---- */

/* The length of a version 00 traceparent, "00-" 32 hex "-" 16 hex "-" 2 hex, without its NUL. */
#define FNG_TRACEPARENT_LEN 55
/*
 * The invocation's traceparent (W3C Trace Context): the trace the request belongs to (the
 * client's when its traceparent was valid, else one the gateway started) with the gateway's
 * span for this request as its parent, "00-<trace-id>-<span-id>-<flags>". The same value is
 * the event's `traceparent` header. NULL when the event has none (a gateway that predates it).
 */
const char *fng_event_traceparent(const struct fng_ctx *ctx);
/* The client's tracestate, when it was valid and came with a valid traceparent; else NULL. */
const char *fng_event_tracestate(const struct fng_ctx *ctx);
/*
 * A traceparent for the handler's own outbound call, continuing the invocation's trace: the
 * same trace id and flags, a new random span id. Send it as the call's `traceparent` header
 * (and fng_event_tracestate() as its `tracestate`). Writes FNG_TRACEPARENT_LEN characters
 * and a NUL to out; 0, or -1 when the event has no trace context (out is then "").
 */
int fng_trace_child(const struct fng_ctx *ctx, char out[FNG_TRACEPARENT_LEN + 1]);

/* ---- the response ---- */

/*
 * Sets the status code: a final one, 200-599 (a 1xx is not an answer; the gateway would
 * answer 502 for it). A handler that sets none answers 200. Returns 0, or -1 (status unchanged).
 */
int fng_response_status(struct fng_ctx *ctx, int status);
/*
 * Adds a response header; repeated names give repeated headers. Names are RFC 9110 tokens,
 * values may not contain a control character but HTAB (no CR, LF, NUL or DEL); bytes
 * 0x80-0xff are allowed. The gateway owns the framing and hop-by-hop headers and sets some
 * itself: Content-Length, Transfer-Encoding, Connection, Upgrade, Keep-Alive, TE, Trailer,
 * Proxy-*, Date, Server, X-Request-Id and X-Fngate-Function-Version are refused (any case).
 * -1 (nothing added) otherwise.
 */
int fng_response_header(struct fng_ctx *ctx, const char *name, const char *value);
/* Adds a Set-Cookie value ("id=1; Path=/; HttpOnly"). */
int fng_response_cookie(struct fng_ctx *ctx, const char *cookie);
/* Appends len bytes to the body. -1 if the response would exceed the payload limit. */
int fng_response_write(struct fng_ctx *ctx, const void *data, size_t len);
/* Appends formatted text to the body. */
int fng_response_printf(struct fng_ctx *ctx, const char *fmt, ...) FNG_PRINTF(2, 3);
int fng_response_vprintf(struct fng_ctx *ctx, const char *fmt, va_list ap);
/*
 * JSON convenience: sets the status and content-type: application/json and appends the
 * formatted body. fng_json_str() escapes a string for use inside a JSON string literal
 * (the result lives until the handler returns): fng_response_json(ctx, 200,
 * "{\"name\":\"%s\"}", fng_json_str(ctx, name)).
 */
int fng_response_json(struct fng_ctx *ctx, int status, const char *fmt, ...) FNG_PRINTF(3, 4);
const char *fng_json_str(struct fng_ctx *ctx, const char *s);
/*
 * The handler's say over caching this response, on a route or stage the operator cached
 * (docs/config.md; elsewhere it is ignored): the gateway may keep it ttl_s seconds (0-86400;
 * the stage's maximum caps it; 0: do not store it), under tags, an operator's handles to
 * purge it by (the admin API's DELETE /@cache/tags/{tag}): NULL or "" for none, else tags
 * separated by spaces and/or commas ("user:42, catalog"), each 1-128 bytes of
 * [A-Za-z0-9._:/-], at most 16 (a tag given twice counts once). A Cache-Control: no-store or
 * private response header still keeps the response out of the cache, and so do cookies unless
 * the route allows them. A second call replaces the first. 0, or -1 for a TTL out of range or
 * a bad tag (nothing changed).
 *
 *     fng_response_cache(ctx, 10, "clock");
 */
int fng_response_cache(struct fng_ctx *ctx, int ttl_s, const char *tags);

/* ---- authorizers ---- */

/*
 * A function named as an authorizer (docs/config.md, "Authorizers") is invoked with an event
 * whose type (fng_event_type()) is "AUTHORIZER", before the request it decides about goes
 * anywhere. Its headers, query parameters, path parameters, stage variables, source IP and
 * route key are the request's (read them with the accessors above); it has no body. It
 * answers with fng_authorizer_allow() or fng_authorizer_deny(), optionally a context for the
 * protected handler and a usage identifier key; the response's status, headers and body are
 * not used. A handler that returns without a decision, returns < 0, crashes or times out
 * refuses the request with 500 (docs/sdk.md, "Writing an authorizer").
 *
 *     static int authz(struct fng_ctx *ctx)
 *     {
 *             const char *tok = fng_event_authorization_token(ctx);
 *
 *             if (strncmp(tok, "Bearer allow-", 13) != 0) {
 *                     return fng_authorizer_deny(ctx, "anonymous");
 *             }
 *             fng_authorizer_context_str(ctx, "user", tok + 13);
 *             return fng_authorizer_allow(ctx, tok + 13);
 *     }
 *     FNG_HANDLER(authz)
 *
 * The authorizer's type: "TOKEN" (one header is the identity) or "REQUEST" (several
 * identity sources); "" when the event is not an AUTHORIZER event.
 */
const char *fng_event_authorizer_type(const struct fng_ctx *ctx);
/* TOKEN: the identity header's value (e.g. "Bearer abc"); "" otherwise. */
const char *fng_event_authorization_token(const struct fng_ctx *ctx);
/* The i-th (from 0) identity source's value, in the configured order; NULL past the last. */
const char *fng_event_identity_source(const struct fng_ctx *ctx, size_t i);
/* The route being authorized: "arn:fngate:execute-api:local:API/STAGE/METHOD/PATH". */
const char *fng_event_route_arn(const struct fng_ctx *ctx);

/*
 * Mutual TLS (requestContext.identity.clientCert): a field of the certificate the client
 * presented in the TLS handshake, which the gateway verified against the certificate's
 * `client_auth` CA bundle and CRLs. Fields: "subjectDN" and "issuerDN" (RFC 2253,
 * "CN=alice,O=Example"), "serialNumber" (lower-case hex bytes, colon-separated), "notBefore"
 * and "notAfter" (ISO 8601 UTC, "2026-01-02T03:04:05Z"), "sha256Fingerprint" (of the DER, 64
 * lower-case hex digits). NULL when the request came without a client certificate (plain
 * HTTP, no client_auth, or client_auth with required: false and none sent) or for an unknown
 * field. HTTP and AUTHORIZER events carry it (a WebSocket's $connect too).
 */
const char *fng_event_client_cert(const struct fng_ctx *ctx, const char *field);
/*
 * The i-th (from 0) subject alternative name of the client certificate, typed as OpenSSL
 * prints them: "DNS:host", "IP:192.0.2.1", "email:a@example.com", "URI:spiffe://x" (at most
 * 64, other types left out); NULL past the last or without a client certificate.
 */
const char *fng_event_client_cert_san(const struct fng_ctx *ctx, size_t i);
/*
 * The decision, with the caller's principal id (NULL: ""; at most 1024 bytes): allow lets the
 * request through, deny answers it 403. The last call wins. 0, or -1 outside an AUTHORIZER
 * event or for a principal over the cap (no decision recorded).
 */
int fng_authorizer_allow(struct fng_ctx *ctx, const char *principal);
int fng_authorizer_deny(struct fng_ctx *ctx, const char *principal);
/*
 * Adds key (1-128 bytes) to the context the protected handler reads with
 * fng_event_authorizer(); a key given again takes the new value. Values: a string of at most
 * 1024 bytes, a finite number, a boolean (non-zero: true). At most 64 keys. 0, or -1 for a bad
 * argument, over a cap, or outside an AUTHORIZER event (nothing added).
 */
int fng_authorizer_context_str(struct fng_ctx *ctx, const char *key, const char *value);
int fng_authorizer_context_num(struct fng_ctx *ctx, const char *key, double value);
int fng_authorizer_context_bool(struct fng_ctx *ctx, const char *key, int value);
/* The usage identifier key (API Gateway's usageIdentifierKey; at most 1024 bytes). 0 or -1. */
int fng_authorizer_usage_key(struct fng_ctx *ctx, const char *key);

/* ---- logging ---- */

enum fng_log_level {
	FNG_LOG_DEBUG,
	FNG_LOG_INFO,
	FNG_LOG_WARN,
	FNG_LOG_ERROR,
};

/* A line in the gateway's log, tagged with the function name and the request id. */
void fng_log(struct fng_ctx *ctx, enum fng_log_level level, const char *fmt, ...)
	FNG_PRINTF(3, 4);

/* ---- WebSocket: pushing to connections ---- */

/*
 * What a function may reach is scoped by the operator (docs/config.md, functions.grants): the
 * connections of the WebSocket APIs whose routes integrate the function, and of the APIs
 * granted to it; the topics granted to it (none by default). A call outside that scope
 * returns -1 and reaches nobody; the gateway also refuses it, whatever the handler does, and
 * logs it.
 *
 * Sends a message to WebSocket connection connection_id (any connection in the function's
 * scope, not only the one of the current event): text (binary 0; it must be UTF-8, or it is
 * sent as binary) or binary. Delivered in the order of the calls, before the answer to the
 * current event; a connection that is gone or unknown drops it. 0 once handed to the gateway,
 * -1 on a bad argument (empty or over-long id, NULL data with a length) or for a connection
 * outside the function's scope. Call during an invocation.
 */
int fng_ws_send(struct fng_ctx *ctx, const char *connection_id, const void *data, size_t len,
	int binary);
/*
 * Closes connection connection_id with code and a reason of at most 123 bytes; its
 * $disconnect follows. code is one RFC 6455 lets travel in a close frame: 1000 (normal),
 * 1001-1003, 1007-1014, or 3000-4999 for your own meanings; any other (1005, 1006, 2000...) is
 * a bad argument. 0 or -1, like fng_ws_send().
 */
int fng_ws_close(struct fng_ctx *ctx, const char *connection_id, int code, const char *reason);

/* ---- WebSocket: topics ---- */

/*
 * Topics are named channels of the whole gateway (a handler of any API may publish to the
 * topics granted to its function; connections of any API may be subscribed to them). A name
 * is 1-128 bytes of [A-Za-z0-9_.~:/-].
 *
 * Subscribes connection_id (usually fng_event_connection_id(ctx); in $connect too) to topic:
 * it receives every message published to topic from now on, as a text message
 * {"topic":"T","seq":N,"data":D} (D: the published bytes as they are when they are JSON, a
 * JSON string otherwise). If the client connected with resume=T:SEQ in its query string, the
 * messages after SEQ still in the topic's history are sent first, or {"topic":"T","gap":
 * {"from":A,"to":B}} when messages A..B are gone (docs/config.md, "Topics"). 0 once handed to
 * the gateway (an unknown connection or a bad name is dropped there), -1 on a bad argument or
 * when the connection or the topic is outside the function's scope (both must be in it).
 */
int fng_ws_subscribe(struct fng_ctx *ctx, const char *connection_id, const char *topic);
/* Ends a subscription; 0 or -1 like fng_ws_subscribe(). */
int fng_ws_unsubscribe(struct fng_ctx *ctx, const char *connection_id, const char *topic);
/*
 * Publishes len bytes to every subscriber of topic (the gateway frames the message once for
 * all of them) and keeps it in the topic's history for clients that resume. 0 once handed
 * to the gateway, -1 on a bad argument (empty or over-long topic, NULL data with a length)
 * or for a topic not granted to the function.
 */
int fng_ws_publish(struct fng_ctx *ctx, const char *topic, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
