/* SPDX-License-Identifier: MIT */
#ifndef FNGATE_TEST_H
#define FNGATE_TEST_H

/*
 * fngate_test.h — call a handler in-process, under your own test runner and sanitizers.
 *
 * The handler runs exactly as in a worker minus the sandbox: the real runtime serves it on a
 * thread at one end of a socketpair, fed INVOKE frames by the real wire codec; this library
 * plays the gateway at the other end and applies the gateway's rules to what comes back (a
 * handler failure or a status that is no HTTP answer is a 502, gateway-owned headers are
 * dropped). Build a test with
 *
 *     cc -o hello_test hello_test.c $(pkg-config --cflags --libs fngate-test)
 *
 * and run it like any program; it exits non-zero when a check failed:
 *
 *     #include <fngate_test.h>
 *
 *     int main(void)
 *     {
 *             char err[256];
 *             struct fng_test *t = fng_test_load("./hello.so", err, sizeof(err));
 *             struct fng_test_event *ev = fng_test_event_http("GET", "/hello/ada");
 *             struct fng_test_result *r;
 *
 *             if (!t) {
 *                     fprintf(stderr, "%s\n", err);
 *                     return 1;
 *             }
 *             fng_test_event_add(ev, FNG_TEST_PATH_PARAM, "name", "ada");
 *             r = fng_test_invoke(t, ev);
 *             fng_test_check_int(fng_test_status(r), 200, "status");
 *             fng_test_check_str(fng_test_body(r, NULL), "{\"hello\":\"ada\"}\n", "body");
 *             fng_test_result_free(r);
 *             fng_test_event_free(ev);
 *             fng_test_close(t);
 *             return fng_test_check_end();
 *     }
 *
 * What differs from a worker: no sandbox (no seccomp, rlimits, Landlock: a handler that
 * crashes takes the test with it, which is what a sanitizer wants), no deadline enforced
 * (fng_time_left_ms() counts down, but a handler that never returns hangs the test: let the
 * runner's timeout catch it), no WebSocket grants (every fng_ws_* call is allowed and
 * recorded; none reaches a connection), and what the handler prints on stdout or stderr goes
 * to the test's. The gateway's own headers (Date, Server, X-Request-Id,
 * X-Fngate-Function-Version) are not added.
 *
 * No call aborts on a bad argument or a failure: pointer returns are NULL and int returns -1,
 * with a message from fng_test_error() (or in the caller's err buffer where there is no
 * struct fng_test yet). Every accessor of a result accepts NULL (a failed invocation) and
 * answers as for an empty result, so checks on it fail instead of crashing the test.
 *
 * Threads: one invocation at a time per struct fng_test; several may live in one process, in
 * different threads, but fng_test_env() changes the process's environment and the
 * fng_test_check_* counters are the process's.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <fngate.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A handler under test: its runtime, thread and socketpair. Opaque. */
struct fng_test;
/* An event to invoke it with, built in C or read from API Gateway JSON. Opaque. */
struct fng_test_event;
/* What one invocation produced, as the gateway would answer it. Opaque. */
struct fng_test_result;

/* ---- the handler ---- */

/*
 * A handler compiled into the test program: pass &fng_handler_desc of the FNG_HANDLER() in
 * the handler's source linked into the test (or a struct of your own). NULL, with the reason
 * in err (errlen bytes; err may be NULL), if desc is NULL, has no handler or was built for
 * another FNG_ABI_VERSION.
 */
struct fng_test *fng_test_open(const struct fng_handler_desc *desc, char *err, size_t errlen);

/*
 * The handler .so at so_path, loaded the way a worker loads it: dlopen(RTLD_NOW |
 * RTLD_LOCAL), its fng_handler_desc symbol, the ABI check. A path without a '/' is taken from
 * the current directory. NULL with the reason in err: the file is missing, dlopen failed
 * (dlerror's text), the .so has no FNG_HANDLER(), or it was built for another ABI.
 */
struct fng_test *fng_test_load(const char *so_path, char *err, size_t errlen);

/*
 * Sets an environment variable of the function (what a manifest's `env:` sets; fng_env()
 * reads it), in this process's environment, before the init hook runs: call it before the
 * first invocation or fng_test_start(). The previous value comes back at fng_test_close().
 * 0, or -1 (too late, or a bad name).
 */
int fng_test_env(struct fng_test *t, const char *name, const char *value);

/*
 * The deadline each invocation gets (fng_time_left_ms() counts down from it), in
 * milliseconds; the default is a manifest's, 3000. Nothing stops a handler that overruns it.
 * 0 or -1 (0 ms).
 */
int fng_test_timeout(struct fng_test *t, unsigned timeout_ms);

/*
 * Runs the init hook and starts the runtime, as a worker does before it takes traffic. The
 * first fng_test_invoke() does it if you did not; call it to test the init hook on its own.
 * 0, or -1: the init hook returned non-zero (a deploy of it would be refused; every later
 * invocation fails the same way) or the runtime's thread could not start.
 */
int fng_test_start(struct fng_test *t);

/*
 * Ends the handler as the gateway retires a worker: SHUTDOWN (the shutdown hook runs, if the
 * runtime was started), thread joined, descriptors closed, the .so unloaded, the environment
 * put back. Results and events stay valid. NULL is a no-op.
 */
void fng_test_close(struct fng_test *t);

/* Why the last call on t failed ("" if nothing did). Valid until the next call on t. */
const char *fng_test_error(const struct fng_test *t);

/* ---- events ---- */

/*
 * An HTTP event (payload format 2.0), as the gateway would send for method and path. path is
 * the raw path as a client sends it, percent-encoded, with an optional "?query" that becomes
 * the raw query string and the query parameters. The rest has defaults: route key
 * "$default", API "local", stage "$default", request id "fngate-test", source IP 127.0.0.1,
 * no header, no body. NULL without memory or on a NULL argument.
 */
struct fng_test_event *fng_test_event_http(const char *method, const char *path);

/* What a WebSocket event is about (fng_event_type() gives the names in capitals). */
enum fng_test_ws_event {
	FNG_TEST_CONNECT,    /* the handshake: route $connect */
	FNG_TEST_MESSAGE,    /* a message from the client: route $default, a body, message id */
	FNG_TEST_DISCONNECT, /* the connection ended: route $disconnect */
};

/*
 * A WebSocket event of connection connection_id. Set a message's body with
 * fng_test_event_body() and another route (a route selection's result, "sendmessage") with
 * fng_test_event_set(ev, FNG_TEST_ROUTE_KEY, ...). NULL without memory or on a bad argument.
 */
struct fng_test_event *fng_test_event_ws(enum fng_test_ws_event type, const char *connection_id);

/*
 * An AUTHORIZER event, as a function authorizer gets it (docs/sdk.md, "Writing an
 * authorizer"): type "TOKEN" (identity[0] is the header's value, its authorizationToken) or
 * "REQUEST", with the n identity sources' values (1-16). Add the request's headers, query and
 * so on as to any event. NULL without memory or on a bad argument.
 */
struct fng_test_event *fng_test_event_authorizer(const char *type, const char *const *identity,
	size_t n);

/*
 * An event from API Gateway JSON, the shapes `fngate invoke` reads: payload 2.0 (HTTP APIs),
 * payload 1.0 (REST APIs), a WebSocket route's event, or a Lambda authorizer's ("type":
 * "TOKEN" or "REQUEST"). The shape also decides the JSON of
 * fng_test_result_json(). NULL with the reason in err (a JSON syntax error with its line and
 * column, not an object, a body that is not base64 though it says so).
 */
struct fng_test_event *fng_test_event_json(const char *json, size_t len, char *err,
	size_t errlen);
/* The same, read from a file; the file's name leads the reason. */
struct fng_test_event *fng_test_event_file(const char *path, char *err, size_t errlen);

/* Lists of pairs an event has; names may repeat in each. */
enum fng_test_list {
	FNG_TEST_HEADER,     /* request header; the name is lower-cased as the gateway does */
	FNG_TEST_QUERY,      /* query parameter, decoded; the raw query string is rebuilt */
	FNG_TEST_PATH_PARAM, /* parameter of the matched route ("name" of /hello/{name}) */
	FNG_TEST_STAGE_VAR,  /* stage variable */
	FNG_TEST_COOKIE,     /* cookie: name=value in the event's cookies */
	FNG_TEST_AUTHORIZER, /* a value the authorizer attached (fng_event_authorizer()) */
};

/* Adds name: value to list of ev (copied). 0, or -1 on a bad argument or without memory. */
int fng_test_event_add(struct fng_test_event *ev, enum fng_test_list list, const char *name,
	const char *value);

/* Single values of an event. */
enum fng_test_field {
	FNG_TEST_ROUTE_KEY,  /* "GET /hello/{name}" */
	FNG_TEST_API,
	FNG_TEST_STAGE,
	FNG_TEST_REQUEST_ID,
	FNG_TEST_SOURCE_IP,
	FNG_TEST_USER_AGENT,
	FNG_TEST_MESSAGE_ID, /* WebSocket MESSAGE */
};

/* Sets field of ev to value (copied). 0, or -1 on a bad argument or without memory. */
int fng_test_event_set(struct fng_test_event *ev, enum fng_test_field field, const char *value);

/* Sets the body to len bytes at data (copied; may hold NUL bytes). 0 or -1. */
int fng_test_event_body(struct fng_test_event *ev, const void *data, size_t len);

/* Frees an event. NULL is a no-op. */
void fng_test_event_free(struct fng_test_event *ev);

/* ---- invoking ---- */

/*
 * Invokes the handler with ev and waits for its answer (starting the runtime first if
 * needed). The result belongs to the caller (fng_test_result_free()); ev may be reused. NULL,
 * with fng_test_error(t), when there is no answer to inspect: the init hook failed, the event
 * is over the wire's size limit, the runtime ended (a protocol error), or no memory. A
 * handler that fails still gives a result: fng_test_status() 502, fng_test_handler_failed() true.
 */
struct fng_test_result *fng_test_invoke(struct fng_test *t, const struct fng_test_event *ev);

/* Frees a result. NULL is a no-op. */
void fng_test_result_free(struct fng_test_result *r);

/*
 * The status the gateway would answer with: the handler's (200 if it set none), or 502 when
 * the handler returned < 0, outgrew the payload limit, or answered a status that is no final
 * HTTP status (not 200-599). 0 for a NULL result.
 */
int fng_test_status(const struct fng_test_result *r);

/* Whether the handler itself returned failure (< 0) or outgrew the payload limit. */
bool fng_test_handler_failed(const struct fng_test_result *r);

/*
 * A response header by name (case-insensitive): the first value, or the i-th (from 0) of a
 * repeated one; Set-Cookie gives the cookies. On a 502 these are the gateway's (only
 * content-type: application/json). NULL if absent.
 */
const char *fng_test_header(const struct fng_test_result *r, const char *name);
const char *fng_test_header_n(const struct fng_test_result *r, const char *name, size_t i);

/* The i-th header in the order the gateway would send them; *name gets its name. NULL past
 * the last. */
const char *fng_test_header_at(const struct fng_test_result *r, size_t i, const char **name);

/*
 * The body the gateway would send (the handler's, or its JSON error message on a 502), with
 * a NUL after the last byte so text can be compared as a string; *len (may be NULL) gets its
 * length. Never NULL: "" for a NULL result.
 */
const char *fng_test_body(const struct fng_test_result *r, size_t *len);

/* Lines the handler logged with fng_log() during the invocation, in order. */
size_t fng_test_log_count(const struct fng_test_result *r);
/* The i-th line's text and (level may be NULL) its level; NULL past the last. */
const char *fng_test_log(const struct fng_test_result *r, size_t i, enum fng_log_level *level);

/* What a WebSocket call (fng_ws_*) asked the gateway to do. */
enum fng_test_ws_kind {
	FNG_TEST_WS_SEND,        /* fng_ws_send(): connection_id, data, binary */
	FNG_TEST_WS_CLOSE,       /* fng_ws_close(): connection_id, code, data = the reason */
	FNG_TEST_WS_PUBLISH,     /* fng_ws_publish(): topic, data */
	FNG_TEST_WS_SUBSCRIBE,   /* fng_ws_subscribe(): connection_id, topic */
	FNG_TEST_WS_UNSUBSCRIBE, /* fng_ws_unsubscribe(): connection_id, topic */
};

/* One WebSocket call; strings NUL-terminated, "" where the kind has none. */
struct fng_test_ws_call {
	enum fng_test_ws_kind kind;
	const char *connection_id;
	const char *topic;
	const void *data;  /* NUL after the last byte */
	size_t len;
	bool binary;
	int code;
};

/* WebSocket calls the handler made during the invocation, in order. */
size_t fng_test_ws_count(const struct fng_test_result *r);
/* The i-th; NULL past the last. Valid until the result is freed. */
const struct fng_test_ws_call *fng_test_ws_call(const struct fng_test_result *r, size_t i);

/*
 * An authorizer's answer to an AUTHORIZER event: "allow" or "deny", NULL when it made no
 * decision (the gateway answers 500) or failed; what the protected handler reads with
 * fng_event_authorizer(ctx, key) ("principalId", a context key with a number or a boolean as
 * text), NULL if none; its usage identifier key, NULL if none. Valid until the result is
 * freed.
 */
const char *fng_test_authorizer_decision(const struct fng_test_result *r);
const char *fng_test_authorizer_value(const struct fng_test_result *r, const char *key);
const char *fng_test_authorizer_usage_key(const struct fng_test_result *r);

/*
 * What the handler said about caching its response (fng_response_cache()), as the gateway
 * reads it: the TTL in seconds (0: do not store), -1 when it said nothing or its response is
 * a 502 (a failure is never cached); the i-th (from 0) of its tags, in the order given, a tag
 * given twice once, NULL past the last. Valid until the result is freed.
 */
int fng_test_cache_ttl(const struct fng_test_result *r);
const char *fng_test_cache_tag(const struct fng_test_result *r, size_t i);

/*
 * What the invocation cost, as the runtime measured it and the access log shows it
 * (integrationCpuUs, integrationMaxRssKb): the CPU time, user + system, the handler used in
 * microseconds, and the process's peak resident memory in KiB (in this harness the test
 * program's own). 0, or -1 when the result carries none (either pointer may be NULL).
 */
int fng_test_cost(const struct fng_test_result *r, uint64_t *cpu_us, uint64_t *max_rss_kb);

/*
 * The response as API Gateway returns it for the event's shape, the JSON `fngate invoke`
 * prints (for an authorizer's decision: {isAuthorized, principalId, context,
 * usageIdentifierKey}): statusCode, headers (2.0: repeated ones joined with commas, cookies apart; 1.0:
 * multiValueHeaders too), body (base64 with isBase64Encoded when not UTF-8), and "error" on a
 * 502. Valid until the result is freed; NULL without memory.
 */
const char *fng_test_result_json(const struct fng_test_result *r);

/* ---- checks, for a test program without a framework ---- */

/*
 * Each check prints one TAP line, "ok N - what" or "not ok N - what" (with a "# got ...,
 * want ..." line after a failed comparison), and returns whether it passed;
 * fng_test_check_end() prints the plan ("1..N") and returns the exit status for main: 0 when
 * every check passed, 1 otherwise. Any TAP consumer (meson test, prove, CTest's output)
 * reads it. Use your own framework's assertions instead if you have one.
 */
bool fng_test_check(bool ok, const char *what, ...) FNG_PRINTF(2, 3);
/* Strings equal (NULL equals only NULL). */
bool fng_test_check_str(const char *got, const char *want, const char *what, ...)
	FNG_PRINTF(3, 4);
bool fng_test_check_int(long long got, long long want, const char *what, ...) FNG_PRINTF(3, 4);
int fng_test_check_end(void);

#ifdef __cplusplus
}
#endif

#endif
