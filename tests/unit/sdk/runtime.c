// SPDX-License-Identifier: MIT
/*
 * Unit tests for sdk/runtime.c and sdk/api.c: a real serve loop (fng__rt_serve on a thread)
 * at one end of a socketpair, this test playing the gateway at the other. INVOKE frames go in,
 * RESULT and LOG frames come out, and the handler reports what the accessors returned in its
 * response body, so every check goes through the wire as it will in a worker. Covered: every
 * accessor, defaults, failure, JSON helpers, header injection, the body cap, LOG frames,
 * WebSocket calls under grants (-1 outside them), SHUTDOWN, EOF and protocol errors.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#endif

#include "fngate.h"
#include "harness.h"
#include "runtime.h"
#include "wire.h"
#include "wire_limits.h"
#include "wire_rules.h"

#define S(lit) ((struct fng_wire_str){ (lit), sizeof(lit) - 1 })
#define NN(s) ((s) ? (s) : "(null)")

/* ---- the handler under test: rawPath picks a scenario ---- */

static int shutdown_calls;
static size_t big_written;
static int big_last_rc;

static void shutdown_hook(void)
{
	shutdown_calls++;
}

static int scenario_accessors(struct fng_ctx *ctx)
{
	size_t len;
	const char *body = fng_event_body(ctx, &len);

	fng_response_printf(ctx, "method=%s\n", fng_event_method(ctx));
	fng_response_printf(ctx, "raw_path=%s\n", fng_event_raw_path(ctx));
	fng_response_printf(ctx, "raw_query=%s\n", fng_event_raw_query(ctx));
	fng_response_printf(ctx, "route_key=%s\n", fng_event_route_key(ctx));
	fng_response_printf(ctx, "param.name=%s\n", NN(fng_event_path_param(ctx, "name")));
	fng_response_printf(ctx, "param.NAME=%s\n", NN(fng_event_path_param(ctx, "NAME")));
	fng_response_printf(ctx, "param.none=%s\n", NN(fng_event_path_param(ctx, "none")));
	fng_response_printf(ctx, "query.q=%s\n", NN(fng_event_query(ctx, "q")));
	fng_response_printf(ctx, "query.tag.0=%s\n", NN(fng_event_query_n(ctx, "tag", 0)));
	fng_response_printf(ctx, "query.tag.1=%s\n", NN(fng_event_query_n(ctx, "tag", 1)));
	fng_response_printf(ctx, "query.tag.2=%s\n", NN(fng_event_query_n(ctx, "tag", 2)));
	fng_response_printf(ctx, "query.TAG=%s\n", NN(fng_event_query(ctx, "TAG")));
	fng_response_printf(ctx, "query.empty=%s\n", NN(fng_event_query(ctx, "empty")));
	fng_response_printf(ctx, "header.accept=%s\n", NN(fng_event_header(ctx, "Accept")));
	fng_response_printf(ctx, "header.accept.1=%s\n",
		NN(fng_event_header_n(ctx, "ACCEPT", 1)));
	fng_response_printf(ctx, "header.accept.2=%s\n",
		NN(fng_event_header_n(ctx, "accept", 2)));
	fng_response_printf(ctx, "header.missing=%s\n", NN(fng_event_header(ctx, "x-missing")));
	fng_response_printf(ctx, "header.prefix=%s\n", NN(fng_event_header(ctx, "accep")));
	fng_response_printf(ctx, "cookie.a=%s\n", NN(fng_event_cookie(ctx, "a")));
	fng_response_printf(ctx, "cookie.b=%s\n", NN(fng_event_cookie(ctx, "b")));
	fng_response_printf(ctx, "cookie.sid=%s\n", NN(fng_event_cookie(ctx, "sid")));
	fng_response_printf(ctx, "cookie.h1=%s\n", NN(fng_event_cookie(ctx, "h1")));
	fng_response_printf(ctx, "cookie.h2=%s\n", NN(fng_event_cookie(ctx, "h2")));
	fng_response_printf(ctx, "cookie.h3=%s\n", NN(fng_event_cookie(ctx, "h3")));
	fng_response_printf(ctx, "cookie.h4=%s\n", NN(fng_event_cookie(ctx, "h4")));
	fng_response_printf(ctx, "cookie.none=%s\n", NN(fng_event_cookie(ctx, "none")));
	fng_response_printf(ctx, "cookie.prefix=%s\n", NN(fng_event_cookie(ctx, "h")));
	fng_response_printf(ctx, "api=%s\n", fng_event_api(ctx));
	fng_response_printf(ctx, "stage=%s\n", fng_event_stage(ctx));
	fng_response_printf(ctx, "var.table=%s\n", NN(fng_event_stage_var(ctx, "table")));
	fng_response_printf(ctx, "var.none=%s\n", NN(fng_event_stage_var(ctx, "none")));
	fng_response_printf(ctx, "auth.sub=%s\n", NN(fng_event_authorizer(ctx, "sub")));
	fng_response_printf(ctx, "auth.none=%s\n", NN(fng_event_authorizer(ctx, "none")));
	fng_response_printf(ctx, "request_id=%s\n", fng_event_request_id(ctx));
	fng_response_printf(ctx, "source_ip=%s\n", fng_event_source_ip(ctx));
	fng_response_printf(ctx, "env=%s\n", NN(fng_env(ctx, "FNG_TEST_ENV")));
	fng_response_printf(ctx, "env.none=%s\n", NN(fng_env(ctx, "FNG_TEST_NO_SUCH_ENV")));
	fng_response_printf(ctx, "body.len=%zu\n", len);
	fng_response_printf(ctx, "body.nul=%d\n", body[len] == '\0');
	fng_response_write(ctx, body, len);
	return 0;
}

static int scenario_defaults(struct fng_ctx *ctx)
{
	return 0;
}

static int scenario_status(struct fng_ctx *ctx)
{
	int a = fng_response_status(ctx, 99), b = fng_response_status(ctx, 600);
	int c = fng_response_status(ctx, 418), d = fng_response_status(ctx, 0);
	/* Interim statuses are no answer: the gateway would answer 502 for them. */
	static const int interim[] = { 100, 101, 103, 199, -1, 200 };

	fng_response_printf(ctx, "%d %d %d %d", a, b, c, d);
	for (size_t i = 0; i < sizeof(interim) / sizeof(interim[0]); i++) {
		fng_response_printf(ctx, " %d", fng_response_status(ctx, interim[i]));
	}
	return 0;
}

static int scenario_fail(struct fng_ctx *ctx)
{
	fng_response_header(ctx, "x-partial", "1");
	fng_response_cookie(ctx, "partial=1");
	fng_response_printf(ctx, "half a response");
	return -1;
}

static int scenario_headers(struct fng_ctx *ctx)
{
	int rc[16], n = 0;

	rc[n++] = fng_response_header(ctx, "x-multi", "1");
	rc[n++] = fng_response_header(ctx, "X-Multi", "2");
	rc[n++] = fng_response_header(ctx, "x-tab", "a\tb");
	rc[n++] = fng_response_header(ctx, "x-empty", "");
	rc[n++] = fng_response_header(ctx, "x-a", "v\r\nx-evil: 1");      /* -1 */
	rc[n++] = fng_response_header(ctx, "x-a", "v\nx");                 /* -1 */
	rc[n++] = fng_response_header(ctx, "x-a", "v\rx");                 /* -1 */
	rc[n++] = fng_response_header(ctx, "x a", "v");                    /* -1 */
	rc[n++] = fng_response_header(ctx, "x:a", "v");                    /* -1 */
	rc[n++] = fng_response_header(ctx, "", "v");                       /* -1 */
	rc[n++] = fng_response_header(ctx, "x-\r\nx-evil", "1");           /* -1 */
	rc[n++] = fng_response_header(ctx, NULL, "v");                     /* -1 */
	rc[n++] = fng_response_cookie(ctx, "id=1; Path=/; HttpOnly");
	rc[n++] = fng_response_cookie(ctx, "x=1\r\nset-cookie: evil=1");   /* -1 */
	rc[n++] = fng_response_cookie(ctx, "");                            /* -1 */
	rc[n++] = fng_response_cookie(ctx, "b=2");
	for (int i = 0; i < n; i++) {
		fng_response_printf(ctx, "%d ", rc[i]);
	}
	return 0;
}

/* The gateway's own headers and the connection's are refused; names that merely look alike
 * are not. */
static int scenario_reserved(struct fng_ctx *ctx)
{
	static const char *const names[] = { "Content-Length", "transfer-encoding",
		"CONNECTION", "Upgrade", "keep-alive", "TE", "Trailer", "Proxy-Connection",
		"proxy-authenticate", "Proxy-A-Name-Longer-Than-Thirty-Two-Bytes", "Date", "server",
		"X-Request-Id", "x-fngate-function-version",
		/* allowed */
		"x-content-length", "te-x", "proxy", "upgrade-insecure-requests", "keep-alive-x",
		"trailers", "x-request-id-2", "content-type" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fng_response_printf(ctx, "%d ", fng_response_header(ctx, names[i], "1"));
	}
	return 0;
}

static int scenario_json(struct fng_ctx *ctx)
{
	const char *in = fng_event_header(ctx, "x-in");

	return fng_response_json(ctx, 201, "{\"in\":\"%s\",\"null\":\"%s\"}", fng_json_str(ctx, in),
		fng_json_str(ctx, NULL));
}

/* fng_json_str() on UTF-8 edge cases, one per line. */
static int scenario_utf8(struct fng_ctx *ctx)
{
	static const char *const in[] = {
		"\xf0\x9f\x98\x80",     /* U+1F600: kept */
		"\xe2\x82\xac",         /* U+20AC: kept */
		"\xc0\xaf",             /* overlong '/': two replacements */
		"\xed\xa0\x80",         /* a surrogate: three */
		"\xe2\x82",             /* cut short: two */
		"\xf4\x90\x80\x80",     /* past U+10FFFF: four */
		"\x7f<\x1f>",           /* DEL kept, US escaped */
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		fng_response_printf(ctx, "%s\n", fng_json_str(ctx, in[i]));
	}
	return 0;
}

static int scenario_json_keeps_type(struct fng_ctx *ctx)
{
	fng_response_header(ctx, "Content-Type", "application/problem+json");
	return fng_response_json(ctx, 400, "{}");
}

/* Writes 1 KiB chunks until the body cap refuses one. */
static int scenario_big(struct fng_ctx *ctx)
{
	static char chunk[1024];

	memset(chunk, 'b', sizeof(chunk));
	big_written = 0;
	for (;;) {
		big_last_rc = fng_response_write(ctx, chunk, sizeof(chunk));
		if (big_last_rc) {
			break;
		}
		big_written += sizeof(chunk);
	}
	/* What is left still takes smaller pieces, up to the cap and not beyond. */
	while (fng_response_write(ctx, "x", 1) == 0) {
		big_written++;
	}
	if (fng_response_printf(ctx, "%s", "y") == 0 ||
		fng_response_header(ctx, "x-late", "1") == 0) {
		big_last_rc = 99;
	}
	return 0;
}

/* 200-byte headers until the frame budget or the header cap refuses one. */
static int scenario_many_headers(struct fng_ctx *ctx)
{
	int n = 0;
	char name[32], value[201];

	memset(value, 'v', 200);
	value[200] = '\0';
	for (;;) {
		snprintf(name, sizeof(name), "x-h-%d", n);
		if (fng_response_header(ctx, name, value)) {
			break;
		}
		n++;
	}
	big_written = (size_t)n;
	return 0;
}

static int scenario_log(struct fng_ctx *ctx)
{
	static char huge[FNG_WIRE_MAX_LOG + 100];

	memset(huge, 'z', sizeof(huge) - 1);
	fng_log(ctx, FNG_LOG_DEBUG, "debug %d", 1);
	fng_log(ctx, FNG_LOG_INFO, "info with newline\n");
	fng_log(ctx, FNG_LOG_WARN, "warn %s", "w");
	fng_log(ctx, FNG_LOG_ERROR, "error");
	fng_log(ctx, (enum fng_log_level)42, "clamped");
	fng_log(ctx, FNG_LOG_INFO, "%s", huge);
	fng_log(NULL, FNG_LOG_INFO, "no ctx: dropped");
	fng_response_printf(ctx, "logged");
	return 0;
}

static int scenario_time(struct fng_ctx *ctx)
{
	fng_response_printf(ctx, "%lld", (long long)fng_time_left_ms(ctx));
	return 0;
}

static int scenario_scratch(struct fng_ctx *ctx)
{
	/* Lots of scratch use in one invocation: all of it released when the handler returns. */
	for (int i = 0; i < 2000; i++) {
		const char *s = fng_json_str(ctx, "\"quoted\" and \\ backslashed, repeated");

		if (i == 1999) {
			fng_response_printf(ctx, "%s", s);
		}
	}
	return 0;
}

/* Ids of two APIs' connections: the tag (4 characters) says which. */
#define ID_MINE "mineAAAAAAAAAAAA"
#define ID_OTHER "elseAAAAAAAAAAAA"

/* WebSocket calls under the worker's grants: the return codes, one line. */
static int scenario_ws(struct fng_ctx *ctx)
{
	fng_response_printf(ctx, "send=%d,%d,%d close=%d,%d ",
		fng_ws_send(ctx, ID_MINE, "x", 1, 0), fng_ws_send(ctx, ID_OTHER, "x", 1, 0),
		fng_ws_send(ctx, "mine", "x", 1, 0),
		fng_ws_close(ctx, ID_MINE, 4000, "r"), fng_ws_close(ctx, ID_OTHER, 4000, "r"));
	fng_response_printf(ctx, "pub=%d,%d,%d,%d ", fng_ws_publish(ctx, "room.a", "x", 1),
		fng_ws_publish(ctx, "room", "x", 1), fng_ws_publish(ctx, "metrics", "x", 1),
		fng_ws_publish(ctx, "metrics2", "x", 1));
	fng_response_printf(ctx, "sub=%d,%d,%d unsub=%d,%d",
		fng_ws_subscribe(ctx, ID_MINE, "room.a"), fng_ws_subscribe(ctx, ID_OTHER, "room.a"),
		fng_ws_subscribe(ctx, ID_MINE, "other"),
		fng_ws_unsubscribe(ctx, ID_MINE, "metrics"),
		fng_ws_unsubscribe(ctx, ID_OTHER, "metrics"));
	return 0;
}

/* fng_ws_close() for every code from 0 to 5000: the runs of codes it accepted, "a-b,c-d". */
static int scenario_ws_close_codes(struct fng_ctx *ctx)
{
	int from = -1, runs = 0;

	for (int code = 0; code <= 5001; code++) {
		bool ok = code <= 5000 && fng_ws_close(ctx, ID_MINE, code, "") == 0;

		if (ok && from < 0) {
			from = code;
		} else if (!ok && from >= 0) {
			fng_response_printf(ctx, "%s%d-%d", runs++ ? "," : "", from, code - 1);
			from = -1;
		}
	}
	return 0;
}

/*
 * An authorizer's answer: the event's own accessors, every argument check and cap (the return
 * codes in the body, which the gateway ignores), then the answer RESULT carries.
 */
static int scenario_authorizer(struct fng_ctx *ctx)
{
	static char big[FNG_WIRE_MAX_AUTHZ_VALUE + 2];
	char key[16];
	int over = 0, rc[7];

	memset(big, 'v', sizeof(big) - 1);
	fng_response_printf(ctx, "type=%s token=%s ids=%s,%s,%s arn=%s ", fng_event_type(ctx),
		fng_event_authorizer_type(ctx), NN(fng_event_identity_source(ctx, 0)),
		NN(fng_event_identity_source(ctx, 1)), NN(fng_event_identity_source(ctx, 2)),
		fng_event_route_arn(ctx));
	fng_response_printf(ctx, "tok=%s ", fng_event_authorization_token(ctx));
	fng_response_printf(ctx, "bad=%d,%d,%d,%d,%d,%d,%d ",
		fng_authorizer_context_str(ctx, "", "v"), fng_authorizer_context_str(ctx, "k", NULL),
		fng_authorizer_context_str(ctx, "k", big), fng_authorizer_context_num(ctx, "k", NAN),
		fng_authorizer_context_num(ctx, "k", INFINITY), fng_authorizer_usage_key(ctx, big),
		fng_authorizer_allow(ctx, big));
	/* In this order (arguments would be evaluated in any). */
	rc[0] = fng_authorizer_context_str(ctx, "user", "ada");
	rc[1] = fng_authorizer_context_num(ctx, "n", 42.5);
	rc[2] = fng_authorizer_context_bool(ctx, "admin", 7);
	rc[3] = fng_authorizer_context_str(ctx, "user", "grace"); /* replaces */
	rc[4] = fng_authorizer_usage_key(ctx, "key-1");
	rc[5] = fng_authorizer_deny(ctx, "nobody");
	rc[6] = fng_authorizer_allow(ctx, "grace");
	fng_response_printf(ctx, "ok=%d,%d,%d,%d,%d,%d,%d", rc[0], rc[1], rc[2], rc[3], rc[4],
		rc[5], rc[6]);
	for (int i = 0; i < FNG_WIRE_MAX_AUTHZ_CONTEXT; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		over += fng_authorizer_context_bool(ctx, key, 1) != 0;
	}
	fng_response_printf(ctx, " over=%d", over);
	return 0;
}

/* The same calls for an event that is no AUTHORIZER event: all refused. */
static int scenario_not_authorizer(struct fng_ctx *ctx)
{
	fng_response_printf(ctx, "%d %d %d %d %d %d [%s] [%s] %s", fng_authorizer_allow(ctx, "a"),
		fng_authorizer_deny(ctx, "a"), fng_authorizer_context_str(ctx, "k", "v"),
		fng_authorizer_context_num(ctx, "k", 1), fng_authorizer_context_bool(ctx, "k", 1),
		fng_authorizer_usage_key(ctx, "k"), fng_event_authorizer_type(ctx),
		fng_event_authorization_token(ctx), NN(fng_event_identity_source(ctx, 0)));
	return 0;
}

/*
 * fng_response_cache(): every refusal (the return codes in the body), a call that replaces
 * the one before, and a bad call after the last good one, which leaves it as it was.
 */
static int scenario_cache(struct fng_ctx *ctx)
{
	static char long_tag[FNG_CACHE_TAG_MAX + 2];
	char seventeen[256] = "", sixteen[256] = "t0 ";
	int rc[4];

	memset(long_tag, 'a', sizeof(long_tag) - 1);
	for (int i = 0; i < 17; i++) {
		snprintf(seventeen + strlen(seventeen), 8, "t%d,", i);
		if (i < 16) {
			snprintf(sixteen + strlen(sixteen), 8, "t%d ", i);
		}
	}
	fng_response_printf(ctx, "bad=%d,%d,%d,%d,%d,%d,%d,%d,%d,%d ",
		fng_response_cache(ctx, -1, NULL), fng_response_cache(ctx, 86401, NULL),
		fng_response_cache(ctx, INT_MIN, "a"), fng_response_cache(ctx, 10, "a b!"),
		fng_response_cache(ctx, 10, "a\tb"), fng_response_cache(ctx, 10, long_tag),
		fng_response_cache(ctx, 10, seventeen), fng_response_cache(ctx, 10, "caf\xc3\xa9"),
		fng_response_cache(ctx, 10, "a;b"), fng_response_cache(NULL, 10, "a"));
	long_tag[FNG_CACHE_TAG_MAX] = '\0';
	/* In this order (arguments would be evaluated in any). */
	rc[0] = fng_response_cache(ctx, 86400, sixteen); /* 17 listed, t0 twice: 16 tags */
	rc[1] = fng_response_cache(ctx, 0, long_tag);
	rc[2] = fng_response_cache(ctx, 30, "user:42, catalog");
	rc[3] = fng_response_cache(ctx, 10, " clock,,a/b.c_d-e , clock ");
	fng_response_printf(ctx, "ok=%d,%d,%d,%d", rc[0], rc[1], rc[2], rc[3]);
	return fng_response_cache(ctx, -5, "ignored") == -1 ? 0 : -1;
}

/* A handler that set a cache instruction, then failed: its RESULT carries none. */
static int scenario_cache_fail(struct fng_ctx *ctx)
{
	fng_response_cache(ctx, 60, "x");
	return -1;
}

/* The trace context the event carries, and a child span for an outbound call. */
static int scenario_trace(struct fng_ctx *ctx)
{
	char child[FNG_TRACEPARENT_LEN + 1] = "x";
	const char *tp = fng_event_traceparent(ctx), *ts = fng_event_tracestate(ctx);
	int bad = fng_trace_child(NULL, child) == -1 && child[0] == '\0' &&
		  fng_trace_child(ctx, NULL) == -1;
	int rc = fng_trace_child(ctx, child);

	return fng_response_printf(ctx, "%s|%s|%d|%d|%s", tp ? tp : "NULL", ts ? ts : "NULL",
		bad, rc, child);
}

/* Burns 5 ms of the process's CPU time (the RESULT's cost must show it). */
static int scenario_spin(struct fng_ctx *ctx)
{
	struct timespec a, b;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	do {
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec < 5000000L);
	return 0;
}

static const struct {
	const char *path;
	fng_handler_fn fn;
} scenarios[] = {
	{ "/trace", scenario_trace },
	{ "/spin", scenario_spin },
	{ "/cache", scenario_cache },
	{ "/cache-fail", scenario_cache_fail },
	{ "/authorizer", scenario_authorizer },
	{ "/not-authorizer", scenario_not_authorizer },
	{ "/ws", scenario_ws },
	{ "/ws-close-codes", scenario_ws_close_codes },
	{ "/accessors", scenario_accessors },
	{ "/defaults", scenario_defaults },
	{ "/status", scenario_status },
	{ "/fail", scenario_fail },
	{ "/headers", scenario_headers },
	{ "/reserved", scenario_reserved },
	{ "/json", scenario_json },
	{ "/json-type", scenario_json_keeps_type },
	{ "/utf8", scenario_utf8 },
	{ "/big", scenario_big },
	{ "/many-headers", scenario_many_headers },
	{ "/log", scenario_log },
	{ "/time", scenario_time },
	{ "/scratch", scenario_scratch },
};

static int test_handler(struct fng_ctx *ctx)
{
	const char *path = fng_event_raw_path(ctx);

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(path, scenarios[i].path) == 0) {
			return scenarios[i].fn(ctx);
		}
	}
	return -1;
}

static const struct fng_handler_desc desc = {
	FNG_ABI_VERSION, "test_handler", test_handler, NULL, shutdown_hook,
};

/* ---- the gateway's end ---- */

struct worker {
	int fd;        /* our end */
	int wfd;       /* the worker's end */
	size_t max_body;
	const struct fng_grants *grants;
	pthread_t thread;
	int rc;
};

static void *serve_main(void *arg)
{
	struct worker *w = arg;

	w->rc = fng__rt_serve(w->wfd, &desc, "test", w->max_body, w->grants);
	close(w->wfd); /* as a worker process's exit would */
	return NULL;
}

static void worker_start(struct worker *w, size_t max_body, const struct fng_grants *grants)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("socketpair");
		exit(1);
	}
	w->fd = sv[0];
	w->wfd = sv[1];
	w->max_body = max_body;
	w->grants = grants;
	w->rc = 12345;
	pthread_create(&w->thread, NULL, serve_main, w);
}

/* Waits for the serve loop to return; closes our end. Returns what the loop returned. */
static int worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
	close(w->fd);
	return w->rc;
}

static bool write_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t r = write(fd, b, n);

		if (r <= 0) {
			return false;
		}
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static bool read_all(int fd, void *p, size_t n)
{
	char *b = p;

	while (n) {
		ssize_t r = read(fd, b, n);

		if (r <= 0) {
			return false;
		}
		b += r;
		n -= (size_t)r;
	}
	return true;
}

/* Reads one frame into f (header included). Returns its type, or -1. */
static int read_frame(int fd, struct fng_wire_buf *f)
{
	uint8_t hdr[5];
	size_t len;

	if (!read_all(fd, hdr, 5)) {
		return -1;
	}
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	free(f->p);
	f->p = malloc(len + 4);
	f->len = f->cap = len + 4;
	memcpy(f->p, hdr, 5);
	if (len > 1 && !read_all(fd, f->p + 5, len - 1)) {
		return -1;
	}
	return hdr[4];
}

struct log_line {
	int level;
	char *msg;
	size_t len;
};

/* What one invocation produced. */
struct outcome {
	struct fng_wire_result r;
	void *h;
	size_t frame_body; /* RESULT body size, to compare with the cap */
	struct log_line logs[16];
	int nlogs;
	int nws;           /* WS_* frames before the RESULT */
	int ok;
};

static void outcome_free(struct outcome *o)
{
	fng__wire_free(o->h);
	for (int i = 0; i < o->nlogs; i++) {
		free(o->logs[i].msg);
	}
	memset(o, 0, sizeof(*o));
}

/* The body of the RESULT as a NUL-terminated string (test bodies are text). */
static char *body_str(const struct outcome *o)
{
	char *s = malloc(o->r.body_len + 1);

	memcpy(s, o->r.body, o->r.body_len);
	s[o->r.body_len] = '\0';
	return s;
}

static const struct fng_wire_kv ev_headers[] = {
	{ S("host"), S("example.com") },
	{ S("accept"), S("text/html") },
	{ S("accept"), S("application/json") },
	{ S("cookie"), S("h1=one; h2 = two ;h3=three") },
	{ S("Cookie"), S("h4=four") },
	{ S("x-in"), S("say \"hi\"\\\n\x01\xc3\xa9\xff") },
};
static const struct fng_wire_kv ev_query[] = {
	{ S("q"), S("search me") },
	{ S("tag"), S("a") },
	{ S("tag"), S("b") },
	{ S("empty"), S("") },
};
static const struct fng_wire_kv ev_params[] = { { S("name"), S("ada") } };
static const struct fng_wire_kv ev_vars[] = { { S("table"), S("users-dev") } };
static const struct fng_wire_kv ev_auth[] = { { S("sub"), S("user-1") } };
static const struct fng_wire_str ev_cookies[] = { S("a=1"), S("b=2; sid=s3"), S("a=shadowed") };
static const char ev_body[] = "bin\0ary\0";

static struct fng_wire_event make_event(const char *path)
{
	struct fng_wire_event ev = {
		.route_key = S("GET /{proxy+}"),
		.raw_path = { path, strlen(path) },
		.raw_query = S("q=search+me&tag=a&tag=b&empty="),
		.method = S("POST"),
		.path = { path, strlen(path) },
		.protocol = S("HTTP/1.1"),
		.source_ip = S("192.0.2.7"),
		.user_agent = S("test"),
		.request_id = S("req-42"),
		.api = S("shop"),
		.stage = S("dev"),
		.domain = S("example.com"),
		.headers = ev_headers,
		.nheaders = sizeof(ev_headers) / sizeof(ev_headers[0]),
		.query = ev_query,
		.nquery = sizeof(ev_query) / sizeof(ev_query[0]),
		.path_params = ev_params,
		.npath_params = 1,
		.stage_vars = ev_vars,
		.nstage_vars = 1,
		.authorizer = ev_auth,
		.nauthorizer = 1,
		.cookies = ev_cookies,
		.ncookies = 3,
		.body = ev_body,
		.body_len = sizeof(ev_body) - 1,
	};
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ev.time_epoch_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ev.deadline_epoch_ms = ev.time_epoch_ms + 3000;
	return ev;
}

/* Sends an INVOKE for ev and collects LOG frames up to the RESULT. */
static void invoke(struct worker *w, const struct fng_wire_event *ev, struct outcome *o)
{
	struct fng_wire_buf b = { 0 }, f = { 0 };
	int type;

	memset(o, 0, sizeof(*o));
	if (fng__wire_encode_invoke(&b, ev) || !write_all(w->fd, b.p, b.len)) {
		fng__wire_buf_finish(&b);
		return;
	}
	fng__wire_buf_finish(&b);
	while ((type = read_frame(w->fd, &f)) == FNG_WIRE_LOG ||
		(type >= FNG_WIRE_WS_SEND && type <= FNG_WIRE_WS_CLOSE)) {
		struct fng_wire_str msg;
		void *h = NULL;
		int level;

		if (type != FNG_WIRE_LOG) {
			o->nws++;
			continue;
		}
		if (fng__wire_decode_log(f.p + 5, f.len - 5, &level, &msg, &h) == 0 &&
			o->nlogs < 16) {
			o->logs[o->nlogs].level = level;
			o->logs[o->nlogs].msg = strndup(msg.p, msg.len);
			o->logs[o->nlogs++].len = msg.len;
		}
		fng__wire_free(h);
	}
	if (type == FNG_WIRE_RESULT) {
		o->frame_body = f.len - 5;
		o->ok = fng__wire_decode_result(f.p + 5, f.len - 5, &o->r, &o->h) == 0;
	}
	fng__wire_buf_finish(&f);
}

static const char *header_of(const struct outcome *o, const char *name, size_t i)
{
	for (size_t j = 0; j < o->r.nheaders; j++) {
		if (strcasecmp(o->r.headers[j].k.p, name) == 0 && i-- == 0) {
			return o->r.headers[j].v.p;
		}
	}
	return NULL;
}

/* ---- tests ---- */

static void test_ready(void)
{
	int sv[2];
	struct fng_wire_buf f = { 0 };
	struct fng_wire_str name;
	uint32_t abi = 0;
	void *h = NULL;
	int rc;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	CHECK_INT(fng__rt_ready(sv[1], &desc), 0, "ready: written");
	CHECK_INT(read_frame(sv[0], &f), FNG_WIRE_READY, "ready: a READY frame");
	rc = fng__wire_decode_ready(f.p + 5, f.len - 5, &abi, &name, &h);
	CHECK(rc == 0 && abi == FNG_ABI_VERSION && strcmp(name.p, "test_handler") == 0,
		"ready: abi %u, name test_handler", FNG_ABI_VERSION);
	CHECK_INT(fng__rt_ready(sv[1], NULL), -EINVAL, "ready: NULL descriptor");
	fng__wire_free(h);
	fng__wire_buf_finish(&f);
	close(sv[0]);
	close(sv[1]);
}

static void test_accessors(struct worker *w)
{
	struct fng_wire_event ev = make_event("/accessors");
	struct outcome o;
	char *body;
	static const char want[] =
		"method=POST\n"
		"raw_path=/accessors\n"
		"raw_query=q=search+me&tag=a&tag=b&empty=\n"
		"route_key=GET /{proxy+}\n"
		"param.name=ada\n"
		"param.NAME=(null)\n"
		"param.none=(null)\n"
		"query.q=search me\n"
		"query.tag.0=a\n"
		"query.tag.1=b\n"
		"query.tag.2=(null)\n"
		"query.TAG=(null)\n"
		"query.empty=\n"
		"header.accept=text/html\n"
		"header.accept.1=application/json\n"
		"header.accept.2=(null)\n"
		"header.missing=(null)\n"
		"header.prefix=(null)\n"
		"cookie.a=1\n"
		"cookie.b=2\n"
		"cookie.sid=s3\n"
		"cookie.h1=one\n"
		"cookie.h2=two\n"
		"cookie.h3=three\n"
		"cookie.h4=four\n"
		"cookie.none=(null)\n"
		"cookie.prefix=(null)\n"
		"api=shop\n"
		"stage=dev\n"
		"var.table=users-dev\n"
		"var.none=(null)\n"
		"auth.sub=user-1\n"
		"auth.none=(null)\n"
		"request_id=req-42\n"
		"source_ip=192.0.2.7\n"
		"env=from-the-manifest\n"
		"env.none=(null)\n"
		"body.len=8\n"
		"body.nul=1\n"
		"bin\0ary\0";

	invoke(w, &ev, &o);
	CHECK(o.ok, "accessors: RESULT decodes");
	CHECK_INT(o.r.status, 200, "accessors: default status 200");
	CHECK(!o.r.failed, "accessors: not failed");
	body = body_str(&o);
	CHECK(o.r.body_len == sizeof(want) - 1 && memcmp(o.r.body, want, sizeof(want) - 1) == 0,
		"accessors: every value as expected");
	if (o.r.body_len != sizeof(want) - 1 || memcmp(o.r.body, want, sizeof(want) - 1)) {
		printf("# got:\n%s\n", body);
	}
	free(body);
	outcome_free(&o);

	/* The cookie header in the event has h4 in a second Cookie header. */
	ev = make_event("/accessors");
	ev.ncookies = 0;
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK(strstr(body, "cookie.a=(null)\n") && strstr(body, "cookie.h1=one\n") &&
			strstr(body, "cookie.h4=four\n"),
		"accessors: without a cookies array, the Cookie headers still answer");
	free(body);
	outcome_free(&o);
}

static void test_defaults_status_fail(struct worker *w)
{
	struct fng_wire_event ev = make_event("/defaults");
	struct outcome o;
	char *body;

	invoke(w, &ev, &o);
	CHECK(o.ok && o.r.status == 200 && !o.r.failed && o.r.nheaders == 0 &&
			o.r.ncookies == 0 && o.r.body_len == 0,
		"defaults: 200, no headers, no cookies, empty body");
	outcome_free(&o);

	ev = make_event("/status");
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK(o.ok && o.r.status == 200, "status: 200 set last");
	CHECK_STR(body, "-1 -1 0 -1 -1 -1 -1 -1 -1 0",
		"status: 99, 600, 0, 100, 101, 103, 199 and -1 refused, 418 and 200 taken");
	free(body);
	outcome_free(&o);

	ev = make_event("/fail");
	invoke(w, &ev, &o);
	CHECK(o.ok && o.r.failed, "fail: handler returned -1: failed");
	CHECK(o.r.nheaders == 0 && o.r.ncookies == 0 && o.r.body_len == 0,
		"fail: nothing of the half-built response is sent");
	outcome_free(&o);

	ev = make_event("/no-such-scenario");
	invoke(w, &ev, &o);
	CHECK(o.ok && o.r.failed, "fail: a second failure in the same worker");
	outcome_free(&o);

	/* The worker is still good after failures, and the response was reset. */
	ev = make_event("/defaults");
	invoke(w, &ev, &o);
	CHECK(o.ok && o.r.status == 200 && !o.r.failed && o.r.nheaders == 0,
		"defaults again: state from earlier invocations is gone");
	outcome_free(&o);
}

static void test_authorizer(struct worker *w)
{
	static const struct fng_wire_str ids[] = { S("Bearer x"), S("10.0.0.1") };
	struct fng_wire_event ev = make_event("/authorizer");
	const struct fng_wire_authz *a;
	struct outcome o;
	char *body;

	ev.event_type = S("AUTHORIZER");
	ev.authz_type = S("TOKEN");
	ev.authorization_token = ids[0];
	ev.identity_source = ids;
	ev.nidentity_source = 2;
	ev.route_arn = S("arn:fngate:execute-api:local:shop/dev/GET/x");
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "type=AUTHORIZER token=TOKEN ids=Bearer x,10.0.0.1,(null) "
		"arn=arn:fngate:execute-api:local:shop/dev/GET/x tok=Bearer x "
		"bad=-1,-1,-1,-1,-1,-1,-1 ok=0,0,0,0,0,0,0 over=3",
		"authorizer: accessors, refusals, answers, 64 keys at most");
	free(body);
	a = &o.r.authz;
	CHECK(o.ok && a->decision == FNG_WIRE_AUTHZ_ALLOW && strcmp(a->principal.p, "grace") == 0 &&
			strcmp(a->usage_key.p, "key-1") == 0,
		"authorizer: the last decision (allow grace) and the usage key travel");
	CHECK(a->ncontext == FNG_WIRE_MAX_AUTHZ_CONTEXT && a->context[0].type == FNG_WIRE_CTX_STR &&
			strcmp(a->context[0].s.p, "grace") == 0 && a->context[1].num == 42.5 &&
			a->context[2].type == FNG_WIRE_CTX_BOOL && a->context[2].b,
		"authorizer: typed context, a key given again replaced");
	outcome_free(&o);

	/* The answer is per invocation: the next one starts without one. */
	ev = make_event("/not-authorizer");
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "-1 -1 -1 -1 -1 -1 [] [] (null)",
		"not an AUTHORIZER event: every answer call refused, accessors empty");
	CHECK(o.ok && o.r.authz.decision == FNG_WIRE_AUTHZ_NONE, "not an AUTHORIZER event: no answer");
	free(body);
	outcome_free(&o);
}

static void test_cache(struct worker *w)
{
	struct fng_wire_event ev = make_event("/cache");
	const struct fng_wire_cache *c;
	struct outcome o;
	char *body;

	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "bad=-1,-1,-1,-1,-1,-1,-1,-1,-1,-1 ok=0,0,0,0",
		"cache: TTL out of range, bad tags, 17 tags, NULL ctx refused; good calls 0");
	free(body);
	c = &o.r.cache;
	CHECK(o.ok && c->set && c->ttl_s == 10 && c->ntags == 2 &&
			strcmp(c->tags[0].p, "clock") == 0 &&
			strcmp(c->tags[1].p, "a/b.c_d-e") == 0,
		"cache: the last good call travels (TTL 10, tags split at spaces and commas, "
		"a repeat once), not the bad one after it");
	outcome_free(&o);

	ev = make_event("/cache-fail");
	invoke(w, &ev, &o);
	CHECK(o.ok && o.r.failed && !o.r.cache.set, "cache: a failed handler's RESULT has none");
	outcome_free(&o);
	ev = make_event("/defaults");
	invoke(w, &ev, &o);
	CHECK(o.ok && !o.r.failed && !o.r.cache.set,
		"cache: the next invocation starts without one");
	outcome_free(&o);
}

static void test_trace_cost(struct worker *w)
{
	static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01";
	struct fng_wire_event ev = make_event("/trace");
	struct outcome o;
	char *body;

	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "NULL|NULL|1|-1|", "trace: none in the event: NULL, NULL, child -1");
	free(body);
	CHECK(o.ok && o.r.cost.set && o.r.cost.max_rss_kb > 0,
		"cost: every RESULT carries one (peak memory %llu KiB)",
		(unsigned long long)o.r.cost.max_rss_kb);
	outcome_free(&o);

	ev.trace = true;
	ev.traceparent = S(tp);
	ev.tracestate = S("congo=t61rcWkgMzE");
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK(strncmp(body, tp, 55) == 0 && strncmp(body + 55, "|congo=t61rcWkgMzE|1|0|", 23) == 0,
		"trace: fng_event_traceparent, fng_event_tracestate, child 0: %s", body);
	CHECK(strlen(body) == 55 + 23 + 55 && strncmp(body + 78, tp, 36) == 0 &&
			fng__lhex_ok(body + 78 + 36, 16, true) &&
			strncmp(body + 78 + 36, tp + 36, 16) != 0 && strcmp(body + 78 + 52, "-01") == 0,
		"trace: the child keeps the trace id and flags, with a new span: %s", body + 78);
	free(body);
	outcome_free(&o);

	ev.tracestate = S("");
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK(strncmp(body + 55, "|NULL|", 6) == 0, "trace: an empty tracestate reads as NULL");
	free(body);
	outcome_free(&o);

	ev = make_event("/spin");
	invoke(w, &ev, &o);
	CHECK(o.ok && o.r.cost.set && o.r.cost.cpu_us >= 4500 && o.r.cost.cpu_us < 1000000,
		"cost: 5 ms of CPU reported as %llu us", (unsigned long long)o.r.cost.cpu_us);
	outcome_free(&o);

	ev = make_event("/fail");
	invoke(w, &ev, &o);
	CHECK(o.ok && o.r.failed && o.r.cost.set, "cost: a failed RESULT carries it too");
	outcome_free(&o);
}

static void test_headers(struct worker *w)
{
	struct fng_wire_event ev = make_event("/headers");
	struct outcome o;
	char *body;

	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK(o.ok, "headers: RESULT decodes");
	CHECK_STR(body, "0 0 0 0 -1 -1 -1 -1 -1 -1 -1 -1 0 -1 -1 0 ",
		"headers: injection attempts and bad names refused, the rest taken");
	CHECK_INT(o.r.nheaders, 4, "headers: four headers sent");
	CHECK_STR(header_of(&o, "x-multi", 0), "1", "headers: repeated name, first");
	CHECK_STR(header_of(&o, "x-multi", 1), "2", "headers: repeated name, second");
	CHECK_STR(header_of(&o, "x-tab", 0), "a\tb", "headers: HTAB kept");
	CHECK_STR(header_of(&o, "x-empty", 0), "", "headers: empty value");
	CHECK(o.r.ncookies == 2 && strcmp(o.r.cookies[0].p, "id=1; Path=/; HttpOnly") == 0 &&
			strcmp(o.r.cookies[1].p, "b=2") == 0,
		"headers: two Set-Cookie values");
	free(body);
	outcome_free(&o);
}

static void test_reserved(struct worker *w)
{
	struct fng_wire_event ev = make_event("/reserved");
	struct outcome o;
	char *body;

	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "-1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 0 0 0 0 0 0 0 0 ",
		"reserved: framing, hop-by-hop, Proxy-* and the gateway's headers refused, "
		"look-alikes taken");
	CHECK_INT(o.r.nheaders, 8, "reserved: only the look-alikes sent");
	free(body);
	outcome_free(&o);
}

static void test_json(struct worker *w)
{
	struct fng_wire_event ev = make_event("/json");
	struct outcome o;
	char *body;

	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK(o.ok && o.r.status == 201, "json: status 201");
	CHECK_STR(header_of(&o, "content-type", 0), "application/json", "json: content-type");
	CHECK_STR(body, "{\"in\":\"say \\\"hi\\\"\\\\\\n\\u0001\xc3\xa9\\ufffd\",\"null\":\"\"}",
		"json: quote, backslash, newline, control, UTF-8 kept, invalid byte replaced");
	free(body);
	outcome_free(&o);

	ev = make_event("/json-type");
	invoke(w, &ev, &o);
	CHECK(o.ok && o.r.status == 400 && o.r.nheaders == 1 &&
			strcmp(o.r.headers[0].v.p, "application/problem+json") == 0,
		"json: a content-type set before is kept");
	outcome_free(&o);

	ev = make_event("/utf8");
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body,
		"\xf0\x9f\x98\x80\n"
		"\xe2\x82\xac\n"
		"\\ufffd\\ufffd\n"
		"\\ufffd\\ufffd\\ufffd\n"
		"\\ufffd\\ufffd\n"
		"\\ufffd\\ufffd\\ufffd\\ufffd\n"
		"\x7f<\\u001f>\n",
		"json: UTF-8 kept, overlong, surrogate, truncated and out-of-range bytes replaced");
	free(body);
	outcome_free(&o);

	ev = make_event("/scratch");
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "\\\"quoted\\\" and \\\\ backslashed, repeated",
		"json: 2000 escapes in one invocation");
	free(body);
	outcome_free(&o);
}

static void test_body_cap(void)
{
	struct worker w;
	struct fng_wire_event ev = make_event("/big");
	struct outcome o;
	const size_t cap = 64 * 1024;

	worker_start(&w, cap, NULL);
	invoke(&w, &ev, &o);
	/*
	 * The handler writes until fng_response_write refuses (-1) and still returns 0: the
	 * response it meant to send does not fit, so the RESULT is a failure (the gateway
	 * answers 502) rather than a silently truncated body.
	 */
	CHECK(o.ok && o.r.failed, "body cap: a response over the cap is a failed RESULT");
	CHECK(big_last_rc == -1, "body cap: fng_response_write returned -1 past the cap");
	CHECK(big_written > cap - 1024 && big_written <= cap, "body cap: %zu bytes written",
		big_written);
	CHECK_INT(o.r.body_len, 0, "body cap: no partial body is sent");
	CHECK(o.frame_body <= cap, "body cap: the RESULT frame (%zu) fits the cap (%zu)",
		o.frame_body, cap);
	outcome_free(&o);

	ev = make_event("/many-headers");
	invoke(&w, &ev, &o);
	CHECK(o.ok && o.r.failed && big_written > 250,
		"many headers: %zu accepted, then over the cap: a failed RESULT", big_written);
	outcome_free(&o);

	/* An INVOKE over the worker's cap is a protocol error. */
	ev = make_event("/defaults");
	static char big_body[70 * 1024];

	ev.body = big_body;
	ev.body_len = sizeof(big_body);
	invoke(&w, &ev, &o);
	CHECK(!o.ok, "body cap: no RESULT for an INVOKE over the cap");
	outcome_free(&o);
	CHECK_INT(worker_join(&w), -EPROTO, "body cap: the serve loop ends with -EPROTO");

	/* 1000 headers fit a big enough cap; the 1001st does not. */
	worker_start(&w, FNG_WIRE_MAX_DEFAULT, NULL);
	ev = make_event("/many-headers");
	invoke(&w, &ev, &o);
	CHECK(o.ok && o.r.nheaders == FNG_WIRE_MAX_HEADERS, "many headers: stops at %d",
		FNG_WIRE_MAX_HEADERS);
	outcome_free(&o);
	shutdown(w.fd, SHUT_WR);
	CHECK_INT(worker_join(&w), 0, "EOF: the serve loop returns 0");
}

static void test_log(struct worker *w)
{
	struct fng_wire_event ev = make_event("/log");
	struct outcome o;

	invoke(w, &ev, &o);
	CHECK(o.ok, "log: RESULT after the LOG frames");
	CHECK_INT(o.nlogs, 6, "log: six LOG frames (the one without ctx dropped)");
	CHECK(o.nlogs >= 6 && o.logs[0].level == FNG_LOG_DEBUG &&
			strcmp(o.logs[0].msg, "debug 1") == 0,
		"log: debug, formatted");
	CHECK(o.nlogs >= 6 && o.logs[1].level == FNG_LOG_INFO &&
			strcmp(o.logs[1].msg, "info with newline") == 0,
		"log: trailing newline dropped");
	CHECK(o.nlogs >= 6 && o.logs[2].level == FNG_LOG_WARN && o.logs[3].level == FNG_LOG_ERROR,
		"log: warn, error");
	CHECK(o.nlogs >= 6 && o.logs[4].level == FNG_LOG_ERROR, "log: level 42 clamped to error");
	CHECK(o.nlogs >= 6 && o.logs[5].len == FNG_WIRE_MAX_LOG, "log: long line truncated to %d",
		FNG_WIRE_MAX_LOG);
	outcome_free(&o);
}

static void test_time(struct worker *w)
{
	struct fng_wire_event ev = make_event("/time");
	struct outcome o;
	char *body;
	long long left;

	invoke(w, &ev, &o);
	body = body_str(&o);
	left = atoll(body);
	CHECK(left > 2000 && left <= 3000, "time left: %lld ms of 3000", left);
	free(body);
	outcome_free(&o);

	ev = make_event("/time");
	ev.deadline_epoch_ms = ev.time_epoch_ms - 5000;
	invoke(w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "0", "time left: 0 once the deadline has passed");
	free(body);
	outcome_free(&o);
}

/*
 * A worker told its grants (the API tagged "mine", topics room.* and metrics): calls outside
 * them return -1, and every well-formed call still reaches the gateway, which decides.
 */
static void test_ws_grants(void)
{
	struct fng_grants g = { .ntags = 1, .tags = { { 'm', 'i', 'n', 'e' } } };
	struct fng_wire_event ev = make_event("/ws");
	struct worker w;
	struct outcome o;
	char *body;

	memcpy(g.topics, "room.*\0metrics\0", 16);
	worker_start(&w, 0, NULL);
	invoke(&w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "send=0,0,0 close=0,0 pub=0,0,0,0 sub=0,0,0 unsub=0,0",
		"ws: without grants every call returns 0 (tests, fngate invoke)");
	free(body);
	outcome_free(&o);
	shutdown(w.fd, SHUT_WR);
	worker_join(&w);

	worker_start(&w, 0, &g);
	invoke(&w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "send=0,-1,-1 close=0,-1 pub=0,-1,0,-1 sub=0,-1,-1 unsub=0,-1",
		"ws: -1 for another API's connection, a topic not granted, a malformed id");
	CHECK_INT(o.nws, 14, "ws: every call was sent to the gateway all the same");
	free(body);
	outcome_free(&o);
	shutdown(w.fd, SHUT_WR);
	CHECK_INT(worker_join(&w), 0, "ws: the worker goes on");
}

/*
 * fng_ws_close() takes the codes that may travel in a close frame (wire_rules.h) and no other:
 * a refused code returns -1 and sends nothing, so the gateway never has to rewrite one.
 */
static void test_ws_close_codes(void)
{
	struct fng_wire_event ev = make_event("/ws-close-codes");
	struct worker w;
	struct outcome o;
	char *body;

	worker_start(&w, 0, NULL);
	invoke(&w, &ev, &o);
	body = body_str(&o);
	CHECK_STR(body, "1000-1003,1007-1014,3000-4999", "ws close: the codes accepted of 0-5000");
	CHECK_INT(o.nws, 4 + 8 + 2000, "ws close: one WS_CLOSE frame per accepted code, no other");
	free(body);
	outcome_free(&o);
	shutdown(w.fd, SHUT_WR);
	CHECK_INT(worker_join(&w), 0, "ws close: the worker goes on");
}

static void test_shutdown(void)
{
	struct worker w;
	struct fng_wire_buf b = { 0 };
	char c;

	worker_start(&w, 0, NULL);
	shutdown_calls = 0;
	fng__wire_encode_empty(&b, FNG_WIRE_SHUTDOWN);
	write_all(w.fd, b.p, b.len);
	fng__wire_buf_finish(&b);
	pthread_join(w.thread, NULL);
	CHECK_INT(w.rc, 0, "shutdown: the serve loop returns 0");
	CHECK_INT(shutdown_calls, 1, "shutdown: the hook ran once");
	CHECK_INT(read(w.fd, &c, 1), 0, "shutdown: nothing written back");
	close(w.fd);
}

/* Sends raw bytes, then EOF; returns what the serve loop returned. */
static int serve_bytes(const void *p, size_t n, size_t max_body)
{
	struct worker w;

	worker_start(&w, max_body, NULL);
	write_all(w.fd, p, n);
	shutdown(w.fd, SHUT_WR);
	return worker_join(&w);
}

static void test_protocol_errors(void)
{
	struct fng_wire_buf b = { 0 };

	CHECK_INT(serve_bytes("", 0, 0), 0, "EOF before any frame: 0");
	CHECK_INT(serve_bytes("\0\0\0", 3, 0), -EPROTO, "EOF inside a frame header: -EPROTO");
	CHECK_INT(serve_bytes("\0\0\0\x10\2\x80", 6, 0), -EPROTO,
		"EOF inside a frame body: -EPROTO");
	CHECK_INT(serve_bytes("\0\0\0\0\2", 5, 0), -EPROTO, "LEN 0: -EPROTO");
	CHECK_INT(serve_bytes("\0\1\0\1\2", 5, 1024), -EPROTO, "LEN over the cap: -EPROTO");
	CHECK_INT(serve_bytes("\0\0\0\2\2\xc1", 6, 0), -EPROTO, "INVOKE with garbage: -EPROTO");
	CHECK_INT(serve_bytes("\0\0\0\2\2\x80", 6, 0), -EPROTO, "INVOKE with {}: -EPROTO");
	CHECK_INT(serve_bytes("\0\0\0\2\5\x81", 6, 0), -EPROTO, "SHUTDOWN with garbage: -EPROTO");
	CHECK_INT(serve_bytes("\0\0\0\1\5", 5, 0), -EPROTO, "SHUTDOWN without a body: -EPROTO");

	static const uint8_t types[] = { 0, FNG_WIRE_READY, FNG_WIRE_RESULT, FNG_WIRE_LOG, 6, 15,
		255 };

	for (size_t i = 0; i < sizeof(types); i++) {
		b.len = 0;
		fng__wire_encode_empty(&b, types[i]);
		CHECK_INT(serve_bytes(b.p, b.len, 0), -EPROTO, "frame type %u to a worker: -EPROTO",
			types[i]);
	}

	/* A valid INVOKE, then garbage: one RESULT, then -EPROTO. */
	struct worker w;
	struct fng_wire_event ev = make_event("/defaults");
	struct outcome o;

	worker_start(&w, 0, NULL);
	invoke(&w, &ev, &o);
	CHECK(o.ok && o.r.status == 200, "garbage after a good INVOKE: the RESULT came");
	outcome_free(&o);
	write_all(w.fd, "\0\0\0\2\x09\x80", 6);
	CHECK_INT(worker_join(&w), -EPROTO, "garbage after a good INVOKE: -EPROTO");
	fng__wire_buf_finish(&b);
}

#if defined(__x86_64__) && !defined(UNDER_ASAN)
/* SIGSYS from the filter below: say which system call, and die. */
static void sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[] = "# forbidden system call 000\n";
	int nr = si->si_syscall;

	msg[24] = (char)('0' + nr / 100 % 10);
	msg[25] = (char)('0' + nr / 10 % 10);
	msg[26] = (char)('0' + nr % 10);
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(99);
}

/*
 * The worker's serve-loop policy, as sandbox/ will install it: read, write, poll,
 * clock_gettime, getrusage(RUSAGE_SELF) (the invocation's cost), getrandom (span ids),
 * memory, exit, signal return, futex; anything else traps. (x86-64 only.)
 */
static void install_filter(void)
{
#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_poll), ALLOW(__NR_clock_gettime),
		ALLOW(__NR_getrusage), ALLOW(__NR_getrandom), ALLOW(__NR_brk),
		ALLOW(__NR_mmap), ALLOW(__NR_munmap), ALLOW(__NR_mremap), ALLOW(__NR_madvise),
		ALLOW(__NR_futex), ALLOW(__NR_exit_group), ALLOW(__NR_rt_sigreturn),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	};
#undef ALLOW
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	struct sigaction sa = { .sa_sigaction = sigsys, .sa_flags = SA_SIGINFO };

	sigaction(SIGSYS, &sa, NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		_exit(98);
	}
}
#endif

/*
 * Every scenario again, in a child process whose serve loop runs under the worker's seccomp
 * policy: the runtime and the API must need nothing more than runtime.h promises. Skipped
 * under ASan (its runtime makes calls of its own), valgrind, and off x86-64.
 */
static void test_seccomp(void)
{
#if defined(__x86_64__) && !defined(UNDER_ASAN)
	static const char *const paths[] = { "/accessors", "/defaults", "/status", "/fail",
		"/headers", "/reserved", "/json", "/json-type", "/utf8", "/big", "/many-headers",
		"/log", "/time", "/scratch", "/trace", "/spin", "/no-such-scenario" };
	const char *preload = getenv("LD_PRELOAD");
	struct fng_wire_buf b = { 0 };
	int sv[2], st = 0, results = 0;
	pid_t pid;

	if (preload && strstr(preload, "vgpreload")) {
		printf("ok %d - # SKIP the serve loop under seccomp (valgrind)\n", ++fng_test_n);
		return;
	}
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		install_filter();
		_exit(fng__rt_serve(sv[1], &desc, "test", 0, NULL) == 0 ? 0 : 1);
	}
	close(sv[1]);

	struct worker w = { .fd = sv[0] };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct fng_wire_event ev = make_event(paths[i]);
		struct outcome o;

		invoke(&w, &ev, &o);
		results += o.ok;
		outcome_free(&o);
	}
	CHECK_INT(results, sizeof(paths) / sizeof(paths[0]),
		"seccomp: a RESULT for every scenario under the worker's policy");
	fng__wire_encode_empty(&b, FNG_WIRE_SHUTDOWN);
	write_all(sv[0], b.p, b.len);
	fng__wire_buf_finish(&b);
	waitpid(pid, &st, 0);
	close(sv[0]);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		"seccomp: the worker exits 0 after SHUTDOWN (status %d)", st);
#else
	printf("ok %d - # SKIP the serve loop under the worker's seccomp policy\n", ++fng_test_n);
#endif
}

int main(void)
{
	struct worker w;

	signal(SIGPIPE, SIG_IGN);
	setenv("FNG_TEST_ENV", "from-the-manifest", 1);
	test_ready();
	worker_start(&w, 0, NULL);
	test_accessors(&w);
	test_defaults_status_fail(&w);
	test_headers(&w);
	test_authorizer(&w);
	test_cache(&w);
	test_trace_cost(&w);
	test_reserved(&w);
	test_json(&w);
	test_log(&w);
	test_time(&w);
	shutdown(w.fd, SHUT_WR);
	CHECK_INT(worker_join(&w), 0, "one worker served every scenario, then EOF: 0");
	test_body_cap();
	test_ws_grants();
	test_ws_close_codes();
	test_shutdown();
	test_protocol_errors();
	test_seccomp();
	return fng_test_done();
}
