// SPDX-License-Identifier: MIT
/*
 * Unit tests for sdk/wire.c: every frame type round-trips in many shapes (empty, repeated
 * headers, binary bodies with NULs, the caps exactly), frames are found in a byte stream cut
 * anywhere, and hostile bodies are refused before msgpack-c allocates for them: counts that
 * overrun the input, deep nesting, trailing bytes, every wrong type for every key, missing
 * and duplicate keys, more objects than the cap.
 *
 * `unit-sdk-wire --write-corpus DIR` also writes each valid frame it builds to DIR: that is
 * how tests/fuzz/corpus/wire/ was seeded.
 */
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fngate.h"
#include "harness.h"
#include "wire.h"
#include "wire_limits.h"
#include "wire_rules.h"

static const char *corpus_dir;

#define S(lit) ((struct fng_wire_str){ (lit), sizeof(lit) - 1 })

/* want was encoded, got decoded: same bytes, and got is NUL-terminated. */
static bool str_eq(struct fng_wire_str want, struct fng_wire_str got)
{
	return want.len == got.len && got.p && got.p[got.len] == '\0' &&
		(want.len == 0 || memcmp(want.p, got.p, want.len) == 0);
}

static bool kvs_eq(const struct fng_wire_kv *a, size_t na, const struct fng_wire_kv *b, size_t nb)
{
	if (na != nb) {
		return false;
	}
	for (size_t i = 0; i < na; i++) {
		if (!str_eq(a[i].k, b[i].k) || !str_eq(a[i].v, b[i].v)) {
			return false;
		}
	}
	return true;
}

static bool strs_eq(const struct fng_wire_str *a, size_t na, const struct fng_wire_str *b,
	size_t nb)
{
	if (na != nb) {
		return false;
	}
	for (size_t i = 0; i < na; i++) {
		if (!str_eq(a[i], b[i])) {
			return false;
		}
	}
	return true;
}

static void seed(const char *name, const struct fng_wire_buf *b)
{
	char path[4096];
	FILE *f;

	if (!corpus_dir || b->len > 64 * 1024) {
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
	f = fopen(path, "wb");
	if (f) {
		fwrite(b->p, 1, b->len, f);
		fclose(f);
	}
}

/* A hostile body as a fuzz seed: framed as type, named hostile-<i>-<type>. */
static void seed_body(int i, uint8_t type, const void *body, size_t len)
{
	struct fng_wire_buf b = { 0 };
	char name[64];

	b.p = malloc(len + 5);
	b.len = len + 5;
	b.p[0] = (uint8_t)((len + 1) >> 24);
	b.p[1] = (uint8_t)((len + 1) >> 16);
	b.p[2] = (uint8_t)((len + 1) >> 8);
	b.p[3] = (uint8_t)(len + 1);
	b.p[4] = type;
	memcpy(b.p + 5, body, len);
	snprintf(name, sizeof(name), "hostile-%02d-%u", i, type);
	seed(name, &b);
	free(b.p);
}

/* Checks that buf holds exactly one frame of the type, and returns its body. */
static bool one_frame(const struct fng_wire_buf *b, uint8_t want, const uint8_t **body,
	size_t *len)
{
	uint8_t type = 0;
	long n = fng__wire_frame(b->p, b->len, FNG_WIRE_MAX_DEFAULT, &type, body, len);

	return n > 0 && (size_t)n == b->len && type == want;
}

/* ---- INVOKE ---- */

static bool event_eq(const struct fng_wire_event *a, const struct fng_wire_event *b)
{
	return str_eq(a->route_key, b->route_key) && str_eq(a->raw_path, b->raw_path) &&
		str_eq(a->raw_query, b->raw_query) && str_eq(a->method, b->method) &&
		str_eq(a->path, b->path) && str_eq(a->protocol, b->protocol) &&
		str_eq(a->source_ip, b->source_ip) && str_eq(a->user_agent, b->user_agent) &&
		str_eq(a->request_id, b->request_id) && str_eq(a->api, b->api) &&
		str_eq(a->stage, b->stage) && str_eq(a->domain, b->domain) &&
		kvs_eq(a->headers, a->nheaders, b->headers, b->nheaders) &&
		kvs_eq(a->query, a->nquery, b->query, b->nquery) &&
		kvs_eq(a->path_params, a->npath_params, b->path_params, b->npath_params) &&
		kvs_eq(a->stage_vars, a->nstage_vars, b->stage_vars, b->nstage_vars) &&
		kvs_eq(a->authorizer, a->nauthorizer, b->authorizer, b->nauthorizer) &&
		strs_eq(a->cookies, a->ncookies, b->cookies, b->ncookies) &&
		a->body_len == b->body_len &&
		(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0) &&
		a->time_epoch_ms == b->time_epoch_ms &&
		a->deadline_epoch_ms == b->deadline_epoch_ms;
}

/* Encodes ev, decodes it back, compares; optionally keeps the frame as a fuzz seed. */
static void invoke_round_trip(const char *what, const struct fng_wire_event *ev)
{
	struct fng_wire_buf b = { 0 };
	struct fng_wire_event got;
	const uint8_t *body;
	size_t len;
	void *h = (void *)1;
	char name[128];

	CHECK_INT(fng__wire_encode_invoke(&b, ev), 0, "invoke %s: encodes", what);
	CHECK(one_frame(&b, FNG_WIRE_INVOKE, &body, &len), "invoke %s: one INVOKE frame", what);
	CHECK_INT(fng__wire_decode_invoke(body, len, &got, &h), 0, "invoke %s: decodes", what);
	CHECK(h != NULL, "invoke %s: handle", what);
	CHECK(event_eq(ev, &got), "invoke %s: same event", what);
	CHECK(got.version.len == 3 && strcmp(got.version.p, "2.0") == 0, "invoke %s: 2.0", what);
	CHECK(got.body != NULL && ((const char *)got.body)[got.body_len] == '\0',
		"invoke %s: body pointer valid, NUL after it", what);
	snprintf(name, sizeof(name), "invoke-%s", what);
	seed(name, &b);
	fng__wire_free(h);
	fng__wire_buf_finish(&b);
}

static const struct fng_wire_kv full_headers[] = {
	{ S("host"), S("example.com") },
	{ S("accept"), S("text/html") },
	{ S("accept"), S("application/json") },
	{ S("cookie"), S("a=1; b=2") },
	{ S("x-empty"), S("") },
	{ S("user-agent"), S("curl/7.88.1") },
};
static const struct fng_wire_kv full_query[] = {
	{ S("q"), S("search me") },
	{ S("tag"), S("a") },
	{ S("tag"), S("b") },
	{ S("nul"), { "x\0y", 3 } },
	{ S("empty"), S("") },
};
static const struct fng_wire_kv full_params[] = {
	{ S("name"), S("ada") },
	{ S("rest"), S("a/b/c") },
};
static const struct fng_wire_kv full_vars[] = {
	{ S("table"), S("users-dev") },
	{ S("region"), S("eu") },
};
static const struct fng_wire_kv full_auth[] = {
	{ S("sub"), S("user-1") },
	{ S("scope"), S("read write") },
};
static const struct fng_wire_str full_cookies[] = { S("a=1"), S("b=2"), S("sid=\xc3\xa9") };
static const uint8_t bin_body[] = { 0, 1, 2, 0, 0xff, 0xc1, 0xdd, 0, '{', '}' };

static struct fng_wire_event full_event(void)
{
	struct fng_wire_event ev = {
		.version = S("2.0"),
		.route_key = S("GET /hello/{name}"),
		.raw_path = S("/dev/hello/ada"),
		.raw_query = S("q=search+me&tag=a&tag=b&nul=x%00y&empty="),
		.method = S("GET"),
		.path = S("/dev/hello/ada"),
		.protocol = S("HTTP/1.1"),
		.source_ip = S("192.0.2.7"),
		.user_agent = S("curl/7.88.1"),
		.request_id = S("c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
		.api = S("shop"),
		.stage = S("dev"),
		.domain = S("example.com"),
		.headers = full_headers,
		.nheaders = sizeof(full_headers) / sizeof(full_headers[0]),
		.query = full_query,
		.nquery = sizeof(full_query) / sizeof(full_query[0]),
		.path_params = full_params,
		.npath_params = 2,
		.stage_vars = full_vars,
		.nstage_vars = 2,
		.authorizer = full_auth,
		.nauthorizer = 2,
		.cookies = full_cookies,
		.ncookies = 3,
		.body = bin_body,
		.body_len = sizeof(bin_body),
		.time_epoch_ms = 1732377600123,
		.deadline_epoch_ms = 1732377603123,
	};

	return ev;
}

static struct fng_wire_kv *many_kvs(size_t n, const char *prefix)
{
	struct fng_wire_kv *kv = calloc(n, sizeof(*kv));

	for (size_t i = 0; i < n; i++) {
		char *k = malloc(32), *v = malloc(32);

		snprintf(k, 32, "%s%zu", prefix, i);
		snprintf(v, 32, "value-%zu", i);
		kv[i].k = (struct fng_wire_str){ k, strlen(k) };
		kv[i].v = (struct fng_wire_str){ v, strlen(v) };
	}
	return kv;
}

static void free_kvs(struct fng_wire_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)kv[i].k.p);
		free((char *)kv[i].v.p);
	}
	free(kv);
}

static void test_invoke_round_trips(void)
{
	struct fng_wire_event ev = { 0 };
	struct fng_wire_buf b = { 0 };

	invoke_round_trip("zeroed", &ev);
	ev = full_event();
	invoke_round_trip("full", &ev);

	ev = full_event();
	ev.version = (struct fng_wire_str){ 0 };
	invoke_round_trip("no-version-given", &ev);
	ev.version = S("1.0");
	CHECK_INT(fng__wire_encode_invoke(&b, &ev), -EINVAL, "invoke: version other than 2.0");
	CHECK_INT(b.len, 0, "invoke: nothing appended on error");

	ev = full_event();
	ev.time_epoch_ms = -1;
	ev.deadline_epoch_ms = INT64_MAX;
	invoke_round_trip("extreme-times", &ev);
	ev.time_epoch_ms = INT64_MIN;
	ev.deadline_epoch_ms = 0;
	invoke_round_trip("extreme-times-2", &ev);

	/* A 10 MiB body (the stage limit) with NULs all through it. */
	size_t big = (size_t)10 * 1024 * 1024;
	uint8_t *body = malloc(big);

	for (size_t i = 0; i < big; i++) {
		body[i] = (uint8_t)(i * 2654435761u >> 24);
	}
	ev = full_event();
	ev.body = body;
	ev.body_len = big;
	invoke_round_trip("10MiB-body", &ev);
	free(body);

	/* Every collection at its cap, then one past it. */
	struct fng_wire_kv *hdrs = many_kvs(FNG_WIRE_MAX_HEADERS + 1, "x-h-");
	struct fng_wire_kv *query = many_kvs(FNG_WIRE_MAX_QUERY + 1, "q");
	struct fng_wire_kv *params = many_kvs(FNG_WIRE_MAX_PARAMS + 1, "p");
	struct fng_wire_kv *vars = many_kvs(FNG_WIRE_MAX_VARS + 1, "v");
	struct fng_wire_str *cookies = calloc(FNG_WIRE_MAX_COOKIES + 1, sizeof(*cookies));

	for (size_t i = 0; i <= FNG_WIRE_MAX_COOKIES; i++) {
		cookies[i] = S("c=1");
	}
	ev = full_event();
	ev.headers = hdrs;
	ev.nheaders = FNG_WIRE_MAX_HEADERS;
	ev.query = query;
	ev.nquery = FNG_WIRE_MAX_QUERY;
	ev.path_params = params;
	ev.npath_params = FNG_WIRE_MAX_PARAMS;
	ev.stage_vars = vars;
	ev.nstage_vars = FNG_WIRE_MAX_VARS;
	ev.authorizer = vars;
	ev.nauthorizer = FNG_WIRE_MAX_VARS;
	ev.cookies = cookies;
	ev.ncookies = FNG_WIRE_MAX_COOKIES;
	invoke_round_trip("every-cap", &ev);

	struct {
		const char *what;
		size_t *n;
	} over[] = {
		{ "headers", &ev.nheaders },
		{ "query", &ev.nquery },
		{ "path params", &ev.npath_params },
		{ "stage vars", &ev.nstage_vars },
		{ "authorizer", &ev.nauthorizer },
		{ "cookies", &ev.ncookies },
	};
	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		(*over[i].n)++;
		CHECK_INT(fng__wire_encode_invoke(&b, &ev), -EMSGSIZE, "invoke: %s over the cap",
			over[i].what);
		CHECK_INT(b.len, 0, "invoke: %s over the cap appends nothing", over[i].what);
		(*over[i].n)--;
	}
	ev.headers = NULL;
	CHECK_INT(fng__wire_encode_invoke(&b, &ev), -EINVAL, "invoke: NULL array with a count");
	free_kvs(hdrs, FNG_WIRE_MAX_HEADERS + 1);
	free_kvs(query, FNG_WIRE_MAX_QUERY + 1);
	free_kvs(params, FNG_WIRE_MAX_PARAMS + 1);
	free_kvs(vars, FNG_WIRE_MAX_VARS + 1);
	free(cookies);
	fng__wire_buf_finish(&b);
}

/* ---- RESULT, LOG, READY, SHUTDOWN ---- */

static void result_round_trip(const char *what, const struct fng_wire_result *r)
{
	struct fng_wire_buf b = { 0 };
	struct fng_wire_result got;
	const uint8_t *body;
	size_t len;
	void *h = NULL;
	char name[128];

	CHECK_INT(fng__wire_encode_result(&b, r), 0, "result %s: encodes", what);
	CHECK(one_frame(&b, FNG_WIRE_RESULT, &body, &len), "result %s: one RESULT frame", what);
	CHECK_INT(fng__wire_decode_result(body, len, &got, &h), 0, "result %s: decodes", what);
	CHECK(got.status == r->status && got.failed == r->failed &&
			kvs_eq(r->headers, r->nheaders, got.headers, got.nheaders) &&
			strs_eq(r->cookies, r->ncookies, got.cookies, got.ncookies) &&
			got.body_len == r->body_len &&
			(r->body_len == 0 || memcmp(got.body, r->body, r->body_len) == 0),
		"result %s: same result", what);
	snprintf(name, sizeof(name), "result-%s", what);
	seed(name, &b);
	fng__wire_free(h);
	fng__wire_buf_finish(&b);
}

/* r encoded into b (emptied first): the RESULT body, its length in *len. */
static const uint8_t *result_body(struct fng_wire_buf *b, const struct fng_wire_result *r,
	size_t *len)
{
	const uint8_t *body = NULL;

	b->len = 0;
	*len = 0;
	if (fng__wire_encode_result(b, r) == 0) {
		one_frame(b, FNG_WIRE_RESULT, &body, len);
	}
	return body;
}

static void test_result(void)
{
	static const struct fng_wire_kv hdrs[] = {
		{ S("content-type"), S("application/json") },
		{ S("x-multi"), S("1") },
		{ S("X-Multi"), S("2") },
		{ S("x-tab"), S("a\tb") },
		{ S("x-empty"), S("") },
		{ S("x-utf8"), S("\xc3\xa9\xff") },
	};
	static const struct fng_wire_str cookies[] = { S("id=1; Path=/; HttpOnly"), S("b=2") };
	struct fng_wire_result r = { .status = 200 };
	struct fng_wire_buf b = { 0 };

	result_round_trip("empty", &r);
	r = (struct fng_wire_result){ .status = 201, .headers = hdrs, .nheaders = 6,
		.cookies = cookies, .ncookies = 2, .body = bin_body, .body_len = sizeof(bin_body) };
	result_round_trip("full", &r);
	r = (struct fng_wire_result){ .status = 502, .failed = true };
	result_round_trip("failed", &r);
	r.status = 100;
	result_round_trip("status-100", &r);
	r.status = 599;
	result_round_trip("status-599", &r);

	struct fng_wire_kv *many = many_kvs(FNG_WIRE_MAX_HEADERS + 1, "x-");

	r = (struct fng_wire_result){ .status = 200, .headers = many,
		.nheaders = FNG_WIRE_MAX_HEADERS };
	result_round_trip("1000-headers", &r);
	r.nheaders++;
	CHECK_INT(fng__wire_encode_result(&b, &r), -EMSGSIZE, "result: 1001 headers");
	free_kvs(many, FNG_WIRE_MAX_HEADERS + 1);

	/* What the decoder refuses, the encoder refuses too. */
	static const struct {
		const char *what;
		struct fng_wire_kv kv;
	} bad[] = {
		{ "empty name", { S(""), S("v") } },
		{ "space in name", { S("x a"), S("v") } },
		{ "colon in name", { S("x:a"), S("v") } },
		{ "CRLF in value", { S("x-a"), S("v\r\nx-evil: 1") } },
		{ "LF in value", { S("x-a"), S("v\nx") } },
		{ "NUL in value", { S("x-a"), { "v\0x", 3 } } },
		{ "DEL in value", { S("x-a"), S("v\x7f") } },
		{ "NUL in name", { { "x\0a", 3 }, S("v") } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = (struct fng_wire_result){ .status = 200, .headers = &bad[i].kv, .nheaders = 1 };
		CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "result encode: %s",
			bad[i].what);
	}
	static const struct fng_wire_str bad_cookies[] = { S(""), S("a=1\r\nx: y"), { "a\0", 2 } };

	for (size_t i = 0; i < 3; i++) {
		r = (struct fng_wire_result){ .status = 200, .cookies = &bad_cookies[i],
			.ncookies = 1 };
		CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "result encode: bad cookie %zu",
			i);
	}
	CHECK_INT(b.len, 0, "result: nothing appended on errors");
	/* A status is carried as it is: the gateway answers 502 for one that cannot be HTTP and
	 * names it in its log, which it could not do for a frame it refused. */
	r = (struct fng_wire_result){ .status = 99 };
	CHECK_INT(fng__wire_encode_result(&b, &r), 0, "result encode: status 99");
	r.status = 600;
	CHECK_INT(fng__wire_encode_result(&b, &r), 0, "result encode: status 600");
	fng__wire_buf_finish(&b);
}

/* Decodes the one LOG frame in b. */
static int log_of(const struct fng_wire_buf *b, int *level, struct fng_wire_str *msg, void **h)
{
	const uint8_t *body;
	size_t len;

	*h = NULL;
	if (!one_frame(b, FNG_WIRE_LOG, &body, &len)) {
		return -1;
	}
	return fng__wire_decode_log(body, len, level, msg, h);
}

/* Decodes the one READY frame in b. */
static int ready_of(const struct fng_wire_buf *b, uint32_t *abi, struct fng_wire_str *name,
	void **h)
{
	const uint8_t *body;
	size_t len;

	*h = NULL;
	if (!one_frame(b, FNG_WIRE_READY, &body, &len)) {
		return -1;
	}
	return fng__wire_decode_ready(body, len, abi, name, h);
}

static void test_log_ready_empty(void)
{
	struct fng_wire_buf b = { 0 };
	struct fng_wire_str msg, name;
	const uint8_t *body;
	size_t len;
	int level, rc;
	uint32_t abi;
	void *h;
	char *long_msg = malloc(FNG_WIRE_MAX_LOG + 1);

	memset(long_msg, 'x', FNG_WIRE_MAX_LOG + 1);
	for (int lv = FNG_LOG_DEBUG; lv <= FNG_LOG_ERROR; lv++) {
		static const char text[] = "line with \"quotes\", a NUL \0 and \xc3\xa9";
		char what[32];

		b.len = 0;
		CHECK_INT(fng__wire_encode_log(&b, lv, text, sizeof(text) - 1), 0, "log %d encodes",
			lv);
		CHECK(one_frame(&b, FNG_WIRE_LOG, &body, &len), "log %d: one LOG frame", lv);
		rc = fng__wire_decode_log(body, len, &level, &msg, &h);
		CHECK_INT(rc, 0, "log %d decodes", lv);
		CHECK(level == lv && str_eq((struct fng_wire_str){ text, sizeof(text) - 1 }, msg),
			"log %d: same level and message", lv);
		snprintf(what, sizeof(what), "log-%d", lv);
		seed(what, &b);
		fng__wire_free(h);
	}
	b.len = 0;
	CHECK_INT(fng__wire_encode_log(&b, FNG_LOG_INFO, "", 0), 0, "log: empty message");
	rc = log_of(&b, &level, &msg, &h);
	CHECK(rc == 0 && msg.len == 0 && msg.p && msg.p[0] == '\0',
		"log: empty message decodes to \"\"");
	fng__wire_free(h);
	b.len = 0;
	CHECK_INT(fng__wire_encode_log(&b, FNG_LOG_WARN, long_msg, FNG_WIRE_MAX_LOG), 0,
		"log: message at the cap");
	rc = log_of(&b, &level, &msg, &h);
	CHECK(rc == 0 && msg.len == FNG_WIRE_MAX_LOG, "log: message at the cap decodes");
	fng__wire_free(h);
	b.len = 0;
	CHECK_INT(fng__wire_encode_log(&b, FNG_LOG_WARN, long_msg, FNG_WIRE_MAX_LOG + 1),
		-EMSGSIZE, "log: message over the cap");
	CHECK_INT(fng__wire_encode_log(&b, 4, "x", 1), -EINVAL, "log: level 4");
	CHECK_INT(fng__wire_encode_log(&b, -1, "x", 1), -EINVAL, "log: level -1");
	CHECK_INT(b.len, 0, "log: nothing appended on errors");

	CHECK_INT(fng__wire_encode_ready(&b, 1, "hello"), 0, "ready encodes");
	CHECK(one_frame(&b, FNG_WIRE_READY, &body, &len), "ready: one READY frame");
	rc = fng__wire_decode_ready(body, len, &abi, &name, &h);
	CHECK(rc == 0 && abi == 1 && str_eq(S("hello"), name), "ready: abi 1, name hello");
	seed("ready", &b);
	fng__wire_free(h);
	b.len = 0;
	CHECK_INT(fng__wire_encode_ready(&b, UINT32_MAX, NULL), 0, "ready: abi 2^32-1, no name");
	rc = ready_of(&b, &abi, &name, &h);
	CHECK(rc == 0 && abi == UINT32_MAX && name.len == 0, "ready: decodes");
	fng__wire_free(h);
	b.len = 0;
	long_msg[FNG_WIRE_MAX_NAME] = '\0';
	CHECK_INT(fng__wire_encode_ready(&b, 1, long_msg), 0, "ready: name at the cap");
	long_msg[FNG_WIRE_MAX_NAME] = 'x';
	long_msg[FNG_WIRE_MAX_NAME + 1] = '\0';
	b.len = 0;
	CHECK_INT(fng__wire_encode_ready(&b, 1, long_msg), -EMSGSIZE, "ready: name over the cap");

	b.len = 0;
	CHECK_INT(fng__wire_encode_empty(&b, FNG_WIRE_SHUTDOWN), 0, "shutdown encodes");
	CHECK(b.len == 6 && memcmp(b.p, "\0\0\0\2\5\x80", 6) == 0,
		"shutdown is 00 00 00 02 05 80 (an empty map)");
	seed("shutdown", &b);
	free(long_msg);
	fng__wire_buf_finish(&b);
}

/* ---- frames in a byte stream ---- */

static void test_frames(void)
{
	struct fng_wire_buf b = { 0 };
	struct fng_wire_event ev = full_event();
	struct fng_wire_result r = { .status = 204 };
	size_t ends[4], nframes = 0, off = 0;
	uint8_t type;
	const uint8_t *body;
	size_t len;
	int bad = 0;

	fng__wire_encode_ready(&b, 1, "f");
	ends[nframes++] = b.len;
	fng__wire_encode_invoke(&b, &ev);
	ends[nframes++] = b.len;
	fng__wire_encode_result(&b, &r);
	ends[nframes++] = b.len;
	fng__wire_encode_empty(&b, FNG_WIRE_SHUTDOWN);
	ends[nframes++] = b.len;
	seed("stream-4-frames", &b);

	/* Cut the stream at every byte: a frame is reported only once it is complete. */
	for (size_t f = 0; f < nframes; f++) {
		for (size_t cut = off; cut < ends[f]; cut++) {
			long got = fng__wire_frame(b.p + off, cut - off, FNG_WIRE_MAX_DEFAULT,
				&type, &body, &len);

			if (got != 0) {
				bad++;
			}
		}
		long n = fng__wire_frame(b.p + off, b.len - off, FNG_WIRE_MAX_DEFAULT, &type, &body,
			&len);

		if (n <= 0 || off + (size_t)n != ends[f] || body != b.p + off + 5 ||
			len != (size_t)n - 5) {
			bad++;
		}
		off = ends[f];
	}
	CHECK_INT(bad, 0, "frames: incomplete prefixes give 0, complete frames their size");

	static const uint8_t zero[] = { 0, 0, 0, 0 };
	static const uint8_t one[] = { 0, 0, 0, 1, 7 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t cap[] = { 0, 0, 0x10, 0x01 }; /* LEN 4097: body 4096 */

	CHECK_INT(fng__wire_frame(zero, 3, 100, &type, &body, &len), 0, "frames: 3 bytes: more");
	CHECK_INT(fng__wire_frame(zero, 4, 100, &type, &body, &len), -EPROTO, "frames: LEN 0");
	CHECK_INT(fng__wire_frame(one, 5, 100, &type, &body, &len), 5, "frames: LEN 1 is 5 bytes");
	CHECK(type == 7 && len == 0, "frames: LEN 1: type, empty body");
	CHECK_INT(fng__wire_frame(huge, 4, FNG_WIRE_MAX_DEFAULT, &type, &body, &len), -EMSGSIZE,
		"frames: LEN 2^32-1 refused from the first 4 bytes");
	CHECK_INT(fng__wire_frame(cap, 4, 4096, &type, &body, &len), 0,
		"frames: body exactly the cap: wait for it");
	CHECK_INT(fng__wire_frame(cap, 4, 4095, &type, &body, &len), -EMSGSIZE,
		"frames: body one over the cap");
	fng__wire_buf_finish(&b);
}

/* ---- hostile bodies ---- */

typedef int (*decode_fn)(const uint8_t *, size_t, void **);

static int dec_invoke(const uint8_t *p, size_t n, void **h)
{
	struct fng_wire_event ev;

	return fng__wire_decode_invoke(p, n, &ev, h);
}

static int dec_result(const uint8_t *p, size_t n, void **h)
{
	struct fng_wire_result r;

	return fng__wire_decode_result(p, n, &r, h);
}

static int dec_log(const uint8_t *p, size_t n, void **h)
{
	struct fng_wire_str m;
	int level;

	return fng__wire_decode_log(p, n, &level, &m, h);
}

static int dec_ready(const uint8_t *p, size_t n, void **h)
{
	struct fng_wire_str name;
	uint32_t abi;

	return fng__wire_decode_ready(p, n, &abi, &name, h);
}

static int dec_ws_send(const uint8_t *p, size_t n, void **h)
{
	struct fng_wire_str id, data;
	bool binary;

	return fng__wire_decode_ws_send(p, n, &id, &data, &binary, h);
}

static int dec_ws_close(const uint8_t *p, size_t n, void **h)
{
	struct fng_wire_str id, reason;
	uint32_t code;

	return fng__wire_decode_ws_close(p, n, &id, &code, &reason, h);
}

static int dec_ws_publish(const uint8_t *p, size_t n, void **h)
{
	struct fng_wire_str topic, data;

	return fng__wire_decode_ws_publish(p, n, &topic, &data, h);
}

static int dec_ws_sub(const uint8_t *p, size_t n, void **h)
{
	struct fng_wire_str id, topic;

	return fng__wire_decode_ws_sub(p, n, &id, &topic, h);
}

static const struct {
	const char *name;
	decode_fn fn;
} decoders[] = {
	{ "invoke", dec_invoke },
	{ "result", dec_result },
	{ "log", dec_log },
	{ "ready", dec_ready },
	{ "ws_send", dec_ws_send },
	{ "ws_close", dec_ws_close },
	{ "ws_publish", dec_ws_publish },
	{ "ws_sub", dec_ws_sub },
};
#define NDECODERS (sizeof(decoders) / sizeof(decoders[0]))

/* Runs every decoder on p; counts those that did not return -EPROTO with a NULL handle. */
static int all_refuse(const uint8_t *p, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < NDECODERS; i++) {
		void *h = (void *)1;
		int rc = decoders[i].fn(p, n, &h);

		if (rc != -EPROTO || h != NULL) {
			printf("# %s decoder: %d\n", decoders[i].name, rc);
			fng__wire_free(rc == 0 ? h : NULL);
			bad++;
		}
	}
	return bad;
}

/* The largest the address space has been (VmPeak), in KiB; 0 if unknown. */
static unsigned long vm_peak_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kib = 0;

	if (!f) {
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmPeak: %lu kB", &kib) == 1) {
			break;
		}
	}
	fclose(f);
	return kib;
}

/*
 * Bodies whose claimed counts would make an unguarded msgpack-c reserve 96 MiB or more (a
 * malloc that succeeds, unlike the 2^32-element claims, so only the address space shows it).
 */
static const struct {
	const char *what;
	const char *bytes;
	size_t len;
} claims[] = {
	{ "array32 claiming 2^22 elements", "\xdd\x00\x40\x00\x00", 5 },
	{ "map32 claiming 2^22 pairs", "\xdf\x00\x40\x00\x00", 5 },
	{ "map whose value claims 2^22 elements", "\x81\xa1k\xdd\x00\x40\x00\x00", 8 },
	{ "array32 claiming 2^32-1 elements", "\xdd\xff\xff\xff\xff", 5 },
};

/*
 * Runs in a fresh process (`unit-sdk-wire --alloc-probe`), whose VmPeak is its own: decodes
 * each claim with every decoder and exits 1 if any was accepted or the address space grew
 * by 16 MiB or more on the way.
 */
static int alloc_probe(void)
{
	unsigned long before = vm_peak_kib();
	int bad = 0;

	for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		bad += all_refuse((const uint8_t *)claims[i].bytes, claims[i].len);
	}
	return bad || before == 0 || vm_peak_kib() - before >= 16 * 1024 ? 1 : 0;
}

/*
 * The claims above decoded in a fresh process whose address-space peak is watched. Skipped
 * under ASan, whose allocator maps its arena up front (there the ASan build's own check
 * applies: a 96 GiB reservation aborts the test), and under valgrind.
 */
static void test_no_large_allocation(const char *self)
{
#ifdef UNDER_ASAN
	printf("ok %d - # SKIP decoding huge claims leaves VmPeak alone (ASan)\n", ++fng_test_n);
	(void)self;
#else
	const char *preload = getenv("LD_PRELOAD");
	pid_t pid;
	int st = 0;

	if (preload && strstr(preload, "vgpreload")) {
		printf("ok %d - # SKIP decoding huge claims leaves VmPeak alone (valgrind)\n",
			++fng_test_n);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(self, self, "--alloc-probe", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		"decoding count claims of 2^22 and 2^32 never grows the address space by 16 MiB");
#endif
}

static void test_hostile_bytes(void)
{
	static const struct {
		const char *what;
		const char *bytes;
		size_t len;
	} cases[] = {
#define B(what, lit) { what, lit, sizeof(lit) - 1 }
		B("empty body", ""),
		B("array32 claiming 2^32-1 elements, 5 bytes", "\xdd\xff\xff\xff\xff"),
		B("map32 claiming 2^32-1 pairs, 5 bytes", "\xdf\xff\xff\xff\xff"),
		B("array16 claiming 65535, 3 bytes", "\xdc\xff\xff"),
		B("map with array32 value claiming 2^31", "\x81\xa1k\xdd\x80\x00\x00\x00"),
		B("fixarray 15 with 14 elements", "\x9f\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0"
						  "\xc0\xc0\xc0\xc0"),
		B("nested promises: [[1 elem]x] too few", "\x92\x9f\xc0"),
		B("str32 length beyond the buffer", "\xdb\x7f\xff\xff\xff" "abc"),
		B("str8 length beyond the buffer", "\xd9\x05" "abc"),
		B("fixstr beyond the buffer", "\xa5" "ab"),
		B("bin32 beyond the buffer", "\xc6\x00\x01\x00\x00" "x"),
		B("ext32 beyond the buffer", "\xc9\xff\xff\xff\xff\x01"),
		B("fixext16 cut", "\xd8\x01" "0123"),
		B("uint64 cut", "\xcf\x00\x00"),
		B("str16 length field cut", "\xda\x00"),
		B("the never-used byte 0xc1", "\xc1"),
		B("0xc1 inside a map", "\x81\xa1k\xc1"),
		B("trailing garbage after a map", "\x80\x00"),
		B("two maps", "\x80\x80"),
		B("not a map: nil", "\xc0"),
		B("not a map: array", "\x90"),
		B("not a map: str", "\xa3" "abc"),
		B("map with int key", "\x81\x01\x02"),
		B("map with bin key", "\x81\xc4\x01k\x02"),
#undef B
	};
	uint8_t deep[200];
	int bad;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = all_refuse((const uint8_t *)cases[i].bytes, cases[i].len);
		CHECK_INT(bad, 0, "hostile: %s", cases[i].what);
		seed_body((int)i, (uint8_t)(i % 4 + 1), cases[i].bytes, cases[i].len);
	}
	for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		bad = all_refuse((const uint8_t *)claims[i].bytes, claims[i].len);
		CHECK_INT(bad, 0, "hostile: %s, %zu bytes", claims[i].what, claims[i].len);
	}

	/* Depth: 100 nested arrays; then exactly the cap (16 containers) and one more. */
	memset(deep, 0x91, 100);
	deep[99] = 0x90;
	CHECK_INT(all_refuse(deep, 100), 0, "hostile: 100 nested arrays");
	memset(deep, 0x91, 100);
	deep[99] = 0xc0;
	CHECK_INT(all_refuse(deep, 100), 0, "hostile: 99 nested arrays around nil");

	/* {"level": 1, "msg": "", "x": [[...]]}: the map is one level, so 15 arrays make 16. */
	static const char head[] = "\x83\xa5level\x01\xa3msg\xa0\xa1x";

	for (int levels = 15; levels <= 16; levels++) {
		size_t n = sizeof(head) - 1;
		struct fng_wire_str msg;
		int level;
		void *h = NULL;
		int rc;

		memcpy(deep, head, n);
		for (int i = 0; i < levels; i++) {
			deep[n++] = i == levels - 1 ? 0x90 : 0x91;
		}
		rc = fng__wire_decode_log(deep, n, &level, &msg, &h);
		if (levels == 15) {
			CHECK_INT(rc, 0, "depth: 16 containers (map + 15 arrays) accepted");
		} else {
			CHECK_INT(rc, -EPROTO, "depth: 17 containers refused");
		}
		fng__wire_free(h);
	}

	/* More objects than the cap: a map whose ignored value is an array of nils. */
	size_t many = FNG_WIRE_MAX_OBJECTS + 10, n = sizeof(head) - 1;
	uint8_t *p = malloc(many + 32);

	memcpy(p, head, n);
	p[n++] = 0xdc; /* array16 */
	p[n++] = (uint8_t)(many >> 8);
	p[n++] = (uint8_t)many;
	memset(p + n, 0xc0, many);
	n += many;
	CHECK_INT(all_refuse(p, n), 0, "hostile: %zu objects in one body", many);
	free(p);
}

/* ---- wrong types, missing and duplicate keys: every key of every schema ---- */

/*
 * A schema, mirrored from docs/protocol.md, used to pack bodies with one key changed. Kinds:
 * s str, S array of str, P array of [str,str], M map str→str, b bin, i int64, u uint32,
 * L log level, T status, B bool, F false, o nested map (sub), H headers (P, checked),
 * C Set-Cookie values (S, checked).
 */
struct tkey {
	const char *name;
	char kind;
	const struct tkey *sub;
	size_t nsub;
};

static const struct tkey t_http[] = {
	{ "method", 's', NULL, 0 }, { "path", 's', NULL, 0 }, { "protocol", 's', NULL, 0 },
	{ "sourceIp", 's', NULL, 0 }, { "userAgent", 's', NULL, 0 },
};
static const struct tkey t_context[] = {
	{ "requestId", 's', NULL, 0 }, { "apiId", 's', NULL, 0 }, { "stage", 's', NULL, 0 },
	{ "domainName", 's', NULL, 0 }, { "http", 'o', t_http, 5 },
	{ "authorizer", 'M', NULL, 0 }, { "timeEpoch", 'i', NULL, 0 },
	{ "connectionId", 's', NULL, 0 }, { "eventType", 's', NULL, 0 },
	{ "messageId", 's', NULL, 0 },
};
static const struct tkey t_invoke[] = {
	{ "version", 'V', NULL, 0 }, { "routeKey", 's', NULL, 0 }, { "rawPath", 's', NULL, 0 },
	{ "rawQueryString", 's', NULL, 0 }, { "cookies", 'S', NULL, 0 },
	{ "headers", 'P', NULL, 0 }, { "queryStringParameters", 'P', NULL, 0 },
	{ "pathParameters", 'M', NULL, 0 }, { "stageVariables", 'M', NULL, 0 },
	{ "body", 'b', NULL, 0 }, { "isBase64Encoded", 'F', NULL, 0 },
	{ "requestContext", 'o', t_context, 10 }, { "deadline", 'i', NULL, 0 },
};
static const struct tkey t_result[] = {
	{ "statusCode", 'T', NULL, 0 }, { "headers", 'H', NULL, 0 }, { "cookies", 'C', NULL, 0 },
	{ "body", 'b', NULL, 0 }, { "failed", 'B', NULL, 0 }, { "hasBody", 'B', NULL, 0 },
};
static const struct tkey t_log[] = { { "level", 'L', NULL, 0 }, { "msg", 's', NULL, 0 } };
static const struct tkey t_ready[] = { { "abi", 'u', NULL, 0 }, { "name", 's', NULL, 0 } };
static const struct tkey t_ws_send[] = {
	{ "connectionId", 's', NULL, 0 }, { "data", 'b', NULL, 0 }, { "binary", 'B', NULL, 0 },
};
static const struct tkey t_ws_close[] = {
	{ "connectionId", 's', NULL, 0 }, { "code", 'u', NULL, 0 }, { "reason", 's', NULL, 0 },
};
static const struct tkey t_ws_publish[] = { { "topic", 's', NULL, 0 }, { "data", 'b', NULL, 0 } };
static const struct tkey t_ws_sub[] = {
	{ "connectionId", 's', NULL, 0 }, { "topic", 's', NULL, 0 },
};

/* Values to put in place of a key's own. */
enum cand { C_NIL, C_TRUE, C_FALSE, C_INT, C_NEG, C_BIG, C_STR, C_BIN, C_ARR, C_MAP,
	C_DOUBLE, C_EXT, C_PAIR3, C_PAIRINT, C_ARRINT, C_MAPINT, NCAND };
static const char *const cand_names[] = { "nil", "true", "false", "7", "-7", "2^63", "str",
	"bin", "[]", "{}", "1.5", "ext", "[[a,b,c]]", "[[a,1]]", "[1]", "{k:1}" };

static bool accepts(char kind, enum cand c)
{
	switch (kind) {
	case 's':
		return c == C_STR;
	case 'S':
	case 'P':
	case 'H':
	case 'C':
		return c == C_ARR;
	case 'M':
		return c == C_MAP;
	case 'b':
		return c == C_BIN;
	case 'i':
	case 'u':
		return c == C_INT || (kind == 'i' && c == C_NEG);
	case 'T': /* any int32: the gateway judges a status, not the codec */
		return c == C_INT || c == C_NEG;
	case 'B':
		return c == C_TRUE || c == C_FALSE;
	case 'F':
		return c == C_FALSE;
	default: /* 'V' version "2.0" only, 'L' level, 'o' object: none of these */
		return false;
	}
}

static void pack_cand(msgpack_packer *pk, enum cand c)
{
	switch (c) {
	case C_NIL: msgpack_pack_nil(pk); break;
	case C_TRUE: msgpack_pack_true(pk); break;
	case C_FALSE: msgpack_pack_false(pk); break;
	case C_INT: msgpack_pack_int(pk, 7); break;
	case C_NEG: msgpack_pack_int(pk, -7); break;
	case C_BIG: msgpack_pack_uint64(pk, (uint64_t)1 << 63); break;
	case C_STR: msgpack_pack_str_with_body(pk, "2.1", 3); break;
	case C_BIN: msgpack_pack_bin_with_body(pk, "b", 1); break;
	case C_ARR: msgpack_pack_array(pk, 0); break;
	case C_MAP: msgpack_pack_map(pk, 0); break;
	case C_DOUBLE: msgpack_pack_double(pk, 1.5); break;
	case C_EXT: msgpack_pack_ext_with_body(pk, "e", 1, 1); break;
	case C_PAIR3:
		msgpack_pack_array(pk, 1);
		msgpack_pack_array(pk, 3);
		for (int i = 0; i < 3; i++) {
			msgpack_pack_str_with_body(pk, "a", 1);
		}
		break;
	case C_PAIRINT:
		msgpack_pack_array(pk, 1);
		msgpack_pack_array(pk, 2);
		msgpack_pack_str_with_body(pk, "a", 1);
		msgpack_pack_int(pk, 1);
		break;
	case C_ARRINT:
		msgpack_pack_array(pk, 1);
		msgpack_pack_int(pk, 1);
		break;
	case C_MAPINT:
		msgpack_pack_map(pk, 1);
		msgpack_pack_str_with_body(pk, "k", 1);
		msgpack_pack_int(pk, 1);
		break;
	case NCAND:
		break;
	}
}

static void pack_good(msgpack_packer *pk, const struct tkey *k);

static void pack_obj(msgpack_packer *pk, const struct tkey *keys, size_t n)
{
	msgpack_pack_map(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_str_with_body(pk, keys[i].name, strlen(keys[i].name));
		pack_good(pk, &keys[i]);
	}
}

static void pack_good(msgpack_packer *pk, const struct tkey *k)
{
	switch (k->kind) {
	case 'V': msgpack_pack_str_with_body(pk, "2.0", 3); break;
	case 's': msgpack_pack_str_with_body(pk, "x", 1); break;
	case 'S':
	case 'C':
		msgpack_pack_array(pk, 1);
		msgpack_pack_str_with_body(pk, "a=1", 3);
		break;
	case 'P':
	case 'H':
		msgpack_pack_array(pk, 1);
		msgpack_pack_array(pk, 2);
		msgpack_pack_str_with_body(pk, "k", 1);
		msgpack_pack_str_with_body(pk, "v", 1);
		break;
	case 'M':
		msgpack_pack_map(pk, 1);
		msgpack_pack_str_with_body(pk, "k", 1);
		msgpack_pack_str_with_body(pk, "v", 1);
		break;
	case 'b': msgpack_pack_bin_with_body(pk, "\0b", 2); break;
	case 'i': msgpack_pack_int64(pk, 1732377600123); break;
	case 'u':
	case 'L': msgpack_pack_int(pk, 1); break;
	case 'T': msgpack_pack_int(pk, 200); break;
	case 'B': msgpack_pack_true(pk); break;
	case 'F': msgpack_pack_false(pk); break;
	case 'o': pack_obj(pk, k->sub, k->nsub); break;
	}
}

enum mutation { M_NONE, M_VALUE, M_MISSING, M_DUP, M_EXTRA };

/*
 * Packs the map of keys with the key `target` (a pointer into one of the tables, possibly
 * nested) mutated: its value replaced by cand, the key left out, or the key given twice.
 * M_EXTRA adds an unknown key next to target instead.
 */
static void pack_mutated(msgpack_packer *pk, const struct tkey *keys, size_t n,
	const struct tkey *target, enum mutation m, enum cand c)
{
	size_t count = n;

	for (size_t i = 0; i < n; i++) {
		if (&keys[i] == target) {
			count += m == M_MISSING ? (size_t)-1 : (m == M_DUP || m == M_EXTRA) ? 1 : 0;
		}
	}
	msgpack_pack_map(pk, count);
	for (size_t i = 0; i < n; i++) {
		const struct tkey *k = &keys[i];

		if (k == target && m == M_MISSING) {
			continue;
		}
		msgpack_pack_str_with_body(pk, k->name, strlen(k->name));
		if (k == target && m == M_VALUE) {
			pack_cand(pk, c);
		} else if (k->kind == 'o') {
			pack_mutated(pk, k->sub, k->nsub, target, m, c);
		} else {
			pack_good(pk, k);
		}
		if (k == target && m == M_DUP) {
			msgpack_pack_str_with_body(pk, k->name, strlen(k->name));
			pack_good(pk, k);
		}
		if (k == target && m == M_EXTRA) {
			msgpack_pack_str_with_body(pk, "unknownKey", 10);
			msgpack_pack_map(pk, 1);
			msgpack_pack_str_with_body(pk, "nested", 6);
			msgpack_pack_array(pk, 2);
			msgpack_pack_nil(pk);
			msgpack_pack_double(pk, 2.5);
		}
	}
}

struct schema {
	const char *name;
	const struct tkey *keys;
	size_t n;
	decode_fn fn;
	uint8_t type;
};

static int try_body(const struct schema *s, const struct tkey *target, enum mutation m,
	enum cand c, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	void *h = NULL;
	int rc;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	pack_mutated(&pk, s->keys, s->n, target, m, c);
	rc = s->fn((const uint8_t *)sb->data, sb->size, &h);
	if ((rc == 0) != (h != NULL)) {
		rc = -9999; /* handle must be set exactly on success */
	}
	fng__wire_free(h);
	return rc;
}

static void walk_keys(const struct schema *s, const struct tkey *keys, size_t n,
	msgpack_sbuffer *sb, int *bad, int *tried)
{
	for (size_t i = 0; i < n; i++) {
		const struct tkey *k = &keys[i];
		int rc;

		for (int c = 0; c < NCAND; c++) {
			int want = accepts(k->kind, (enum cand)c) ? 0 : -EPROTO;

			rc = try_body(s, k, M_VALUE, (enum cand)c, sb);
			(*tried)++;
			if (rc != want) {
				printf("# %s.%s = %s: got %d, want %d\n", s->name, k->name,
					cand_names[c], rc, want);
				(*bad)++;
			}
		}
		if (try_body(s, k, M_MISSING, 0, sb) != -EPROTO) {
			printf("# %s: missing %s accepted\n", s->name, k->name);
			(*bad)++;
		}
		if (try_body(s, k, M_DUP, 0, sb) != -EPROTO) {
			printf("# %s: duplicate %s accepted\n", s->name, k->name);
			(*bad)++;
		}
		if (try_body(s, k, M_EXTRA, 0, sb) != 0) {
			printf("# %s: unknown key next to %s refused\n", s->name, k->name);
			(*bad)++;
		}
		*tried += 3;
		if (k->kind == 'o') {
			walk_keys(s, k->sub, k->nsub, sb, bad, tried);
		}
	}
}

static void test_wrong_types(void)
{
	static const struct schema schemas[] = {
		{ "invoke", t_invoke, 13, dec_invoke, FNG_WIRE_INVOKE },
		{ "result", t_result, 6, dec_result, FNG_WIRE_RESULT },
		{ "log", t_log, 2, dec_log, FNG_WIRE_LOG },
		{ "ready", t_ready, 2, dec_ready, FNG_WIRE_READY },
		{ "ws_send", t_ws_send, 3, dec_ws_send, FNG_WIRE_WS_SEND },
		{ "ws_close", t_ws_close, 3, dec_ws_close, FNG_WIRE_WS_CLOSE },
		{ "ws_publish", t_ws_publish, 2, dec_ws_publish, FNG_WIRE_WS_PUBLISH },
		{ "ws_sub", t_ws_sub, 2, dec_ws_sub, FNG_WIRE_WS_SUBSCRIBE },
	};
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
		int bad = 0, tried = 0;

		CHECK_INT(try_body(&schemas[i], NULL, M_NONE, 0, &sb), 0,
			"schema %s: the reference body decodes", schemas[i].name);
		walk_keys(&schemas[i], schemas[i].keys, schemas[i].n, &sb, &bad, &tried);
		CHECK_INT(bad, 0, "schema %s: %d bodies with one key wrong, missing, doubled or "
				  "next to an unknown key", schemas[i].name, tried);
	}
	msgpack_sbuffer_destroy(&sb);
}

/* Bodies packed by hand for range checks the type walk cannot express. */
static int decode_packed(decode_fn fn, void (*pack)(msgpack_packer *))
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	void *h = NULL;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack(&pk);
	rc = fn((const uint8_t *)sb.data, sb.size, &h);
	fng__wire_free(h);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v, size_t vlen)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
	msgpack_pack_str_with_body(pk, v, vlen);
}

static void kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
	msgpack_pack_int64(pk, v);
}

static int log_level_v;
static void pack_log_level(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	kv_int(pk, "level", log_level_v);
	kv_str(pk, "msg", "m", 1);
}

static int64_t ready_abi_v;
static void pack_ready_abi(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	kv_int(pk, "abi", ready_abi_v);
	kv_str(pk, "name", "n", 1);
}

static int result_status_v;
static const char *result_hname = "x", *result_hvalue = "v", *result_cookie = "c=1";
static void pack_result(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 6);
	kv_int(pk, "statusCode", result_status_v);
	msgpack_pack_str_with_body(pk, "headers", 7);
	msgpack_pack_array(pk, 1);
	msgpack_pack_array(pk, 2);
	msgpack_pack_str_with_body(pk, result_hname, strlen(result_hname));
	msgpack_pack_str_with_body(pk, result_hvalue, strlen(result_hvalue));
	msgpack_pack_str_with_body(pk, "cookies", 7);
	msgpack_pack_array(pk, 1);
	msgpack_pack_str_with_body(pk, result_cookie, strlen(result_cookie));
	msgpack_pack_str_with_body(pk, "body", 4);
	msgpack_pack_bin_with_body(pk, "", 0);
	msgpack_pack_str_with_body(pk, "failed", 6);
	msgpack_pack_false(pk);
	msgpack_pack_str_with_body(pk, "hasBody", 7);
	msgpack_pack_false(pk);
}

static void pack_long_msg(msgpack_packer *pk)
{
	static char msg[FNG_WIRE_MAX_LOG + 1];

	memset(msg, 'm', sizeof(msg));
	msgpack_pack_map(pk, 2);
	kv_int(pk, "level", 1);
	kv_str(pk, "msg", msg, sizeof(msg));
}

/* Topic and connection id lengths for the two bodies below. */
static size_t cap_topic_v, cap_id_v;

static void pack_ws_publish_caps(msgpack_packer *pk)
{
	static char t[FNG_WIRE_MAX_TOPIC + 1];

	memset(t, 't', sizeof(t));
	msgpack_pack_map(pk, 2);
	kv_str(pk, "topic", t, cap_topic_v);
	msgpack_pack_str_with_body(pk, "data", 4);
	msgpack_pack_bin_with_body(pk, "d", 1);
}

static void pack_ws_sub_caps(msgpack_packer *pk)
{
	static char t[FNG_WIRE_MAX_TOPIC + 1], id[FNG_WIRE_MAX_CONNECTION_ID + 1];

	memset(t, 't', sizeof(t));
	memset(id, 'c', sizeof(id));
	msgpack_pack_map(pk, 2);
	kv_str(pk, "connectionId", id, cap_id_v);
	kv_str(pk, "topic", t, cap_topic_v);
}

static void test_ranges(void)
{
	static const struct {
		int level;
		int want;
	} levels[] = { { 0, 0 }, { 3, 0 }, { 4, -EPROTO }, { -1, -EPROTO }, { 255, -EPROTO } };
	static const struct {
		int64_t abi;
		int want;
	} abis[] = { { 0, 0 }, { UINT32_MAX, 0 }, { (int64_t)UINT32_MAX + 1, -EPROTO },
		{ -1, -EPROTO } };
	static const struct {
		int status;
		int want;
	} statuses[] = { { 100, 0 }, { 599, 0 }, { 99, 0 }, { 600, 0 }, { 0, 0 }, { -200, 0 },
		{ 65536 + 200, 0 }, { INT32_MIN, 0 }, { INT32_MAX, 0 } };

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		log_level_v = levels[i].level;
		CHECK_INT(decode_packed(dec_log, pack_log_level), levels[i].want, "log level %d",
			levels[i].level);
	}
	for (size_t i = 0; i < sizeof(abis) / sizeof(abis[0]); i++) {
		ready_abi_v = abis[i].abi;
		CHECK_INT(decode_packed(dec_ready, pack_ready_abi), abis[i].want, "ready abi %lld",
			(long long)abis[i].abi);
	}
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		result_status_v = statuses[i].status;
		CHECK_INT(decode_packed(dec_result, pack_result), statuses[i].want,
			"result status %d", statuses[i].status);
	}
	result_status_v = 200;
	static const struct {
		const char *name, *value, *cookie;
	} injections[] = {
		{ "x a", "v", "c=1" },
		{ "", "v", "c=1" },
		{ "x:y", "v", "c=1" },
		{ "x\r\ny", "v", "c=1" },
		{ "x", "v\r\nset-cookie: evil=1", "c=1" },
		{ "x", "v\n", "c=1" },
		{ "x", "v\x01", "c=1" },
		{ "x", "v", "" },
		{ "x", "v", "c=1\r\nx-evil: 1" },
		{ "x", "v", "c=\x7f" },
	};
	for (size_t i = 0; i < sizeof(injections) / sizeof(injections[0]); i++) {
		result_hname = injections[i].name;
		result_hvalue = injections[i].value;
		result_cookie = injections[i].cookie;
		CHECK_INT(decode_packed(dec_result, pack_result), -EPROTO,
			"result: header/cookie injection %zu refused", i);
	}
	result_hname = "x";
	result_hvalue = "v\tw";
	result_cookie = "c=1; Path=/";
	CHECK_INT(decode_packed(dec_result, pack_result), 0, "result: HTAB in a value is fine");
	CHECK_INT(decode_packed(dec_log, pack_long_msg), -EPROTO, "log: message over the cap");

	static const struct {
		size_t id, topic;
		int want;
	} caps[] = {
		{ FNG_WIRE_MAX_CONNECTION_ID, FNG_WIRE_MAX_TOPIC, 0 },
		{ FNG_WIRE_MAX_CONNECTION_ID + 1, 1, -EPROTO },
		{ 1, FNG_WIRE_MAX_TOPIC + 1, -EPROTO },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		cap_id_v = caps[i].id;
		cap_topic_v = caps[i].topic;
		CHECK_INT(decode_packed(dec_ws_sub, pack_ws_sub_caps), caps[i].want,
			"ws_sub: a %zu-byte id, a %zu-byte topic", caps[i].id, caps[i].topic);
	}
	cap_topic_v = FNG_WIRE_MAX_TOPIC;
	CHECK_INT(decode_packed(dec_ws_publish, pack_ws_publish_caps), 0,
		"ws_publish: a topic at the cap");
	cap_topic_v = FNG_WIRE_MAX_TOPIC + 1;
	CHECK_INT(decode_packed(dec_ws_publish, pack_ws_publish_caps), -EPROTO,
		"ws_publish: a topic over the cap");
}

/* ---- version strings ---- */

static void test_version(void)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	static const char *const versions[] = { "1.0", "2", "2.0\0", "2.00", "" };
	static const size_t lens[] = { 3, 1, 4, 4, 0 };

	msgpack_sbuffer_init(&sb);
	for (size_t i = 0; i < 5; i++) {
		void *h = NULL;
		struct fng_wire_event ev;

		msgpack_sbuffer_clear(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		/* the reference body with version replaced */
		msgpack_pack_map(&pk, 13);
		for (size_t k = 0; k < 13; k++) {
			msgpack_pack_str_with_body(&pk, t_invoke[k].name, strlen(t_invoke[k].name));
			if (k == 0) {
				msgpack_pack_str_with_body(&pk, versions[i], lens[i]);
			} else {
				pack_good(&pk, &t_invoke[k]);
			}
		}
		CHECK_INT(fng__wire_decode_invoke((const uint8_t *)sb.data, sb.size, &ev, &h),
			-EPROTO, "invoke: version \"%s\" (%zu bytes) refused", versions[i],
			lens[i]);
		CHECK(h == NULL, "invoke: no handle after a refused version");
	}
	msgpack_sbuffer_destroy(&sb);
}

/* WS_SEND / WS_CLOSE: round trips, and the refusals of the encoders. */
static void test_ws_frames(void)
{
	struct fng_wire_buf b = { 0 };
	struct fng_wire_str id, data, reason;
	const uint8_t *body;
	uint8_t type;
	size_t len;
	uint32_t code;
	bool binary;
	void *h = NULL;

	CHECK_INT(fng__wire_encode_ws_send(&b, "L0SM9cOFvHcCIhw-", "hi\0x", 4, true), 0,
		"ws_send: encoded");
	CHECK(fng__wire_frame(b.p, b.len, 1 << 20, &type, &body, &len) > 0 &&
			type == FNG_WIRE_WS_SEND,
		"ws_send: one WS_SEND frame");
	CHECK(fng__wire_decode_ws_send(body, len, &id, &data, &binary, &h) == 0 &&
			id.len == 16 && memcmp(id.p, "L0SM9cOFvHcCIhw-", 16) == 0 && data.len == 4 &&
			memcmp(data.p, "hi\0x", 4) == 0 && binary,
		"ws_send: decoded (id, data with a NUL, binary)");
	fng__wire_free(h);
	b.len = 0;
	CHECK_INT(fng__wire_encode_ws_close(&b, "abc", 4000, "bye"), 0, "ws_close: encoded");
	CHECK(fng__wire_frame(b.p, b.len, 1 << 20, &type, &body, &len) > 0 &&
			type == FNG_WIRE_WS_CLOSE &&
			fng__wire_decode_ws_close(body, len, &id, &code, &reason, &h) == 0 &&
			code == 4000 && strcmp(reason.p, "bye") == 0 && strcmp(id.p, "abc") == 0,
		"ws_close: decoded");
	fng__wire_free(h);
	CHECK(fng__wire_encode_ws_send(&b, "", "x", 1, false) < 0, "ws_send: empty id refused");
	CHECK(fng__wire_encode_ws_send(&b, NULL, "x", 1, false) < 0, "ws_send: NULL id refused");
	{
		char longid[66];

		memset(longid, 'a', 65);
		longid[65] = '\0';
		CHECK(fng__wire_encode_ws_send(&b, longid, "x", 1, false) < 0,
			"ws_send: a 65-byte id refused");
		longid[64] = '\0';
		CHECK(fng__wire_encode_ws_send(&b, longid, "x", 1, false) == 0,
			"ws_send: a 64-byte id accepted");
	}
	{
		char r[125];

		memset(r, 'r', 124);
		r[124] = '\0';
		CHECK(fng__wire_encode_ws_close(&b, "a", 1000, r) < 0,
			"ws_close: a 124-byte reason refused");
	}
	fng__wire_buf_finish(&b);
}

/* buf (n + 1 bytes) as a string of n copies of ch, for lengths at the caps. */
static const char *repeat(char *buf, char ch, size_t n)
{
	memset(buf, ch, n);
	buf[n] = '\0';
	return buf;
}

/* Encodes a WS_PUBLISH, checks the frame, decodes it back and compares. */
static void ws_publish_round_trip(const char *what, const char *topic, const void *data,
	size_t len, const char *seed_name)
{
	struct fng_wire_buf b = { 0 };
	struct fng_wire_str t, d;
	const uint8_t *body;
	size_t blen;
	void *h = NULL;

	CHECK_INT(fng__wire_encode_ws_publish(&b, topic, data, len), 0, "ws_publish %s: encodes",
		what);
	CHECK(one_frame(&b, FNG_WIRE_WS_PUBLISH, &body, &blen), "ws_publish %s: one frame", what);
	CHECK_INT(fng__wire_decode_ws_publish(body, blen, &t, &d, &h), 0,
		"ws_publish %s: decodes", what);
	CHECK(h != NULL && str_eq((struct fng_wire_str){ topic, strlen(topic) }, t) &&
			str_eq((struct fng_wire_str){ data, len }, d),
		"ws_publish %s: same topic and data (NUL-terminated)", what);
	if (seed_name) {
		seed(seed_name, &b);
	}
	fng__wire_free(h);
	fng__wire_buf_finish(&b);
}

/* The same for WS_SUBSCRIBE / WS_UNSUBSCRIBE (type). */
static void ws_sub_round_trip(const char *what, uint8_t type, const char *id, const char *topic,
	const char *seed_name)
{
	struct fng_wire_buf b = { 0 };
	struct fng_wire_str gid, t;
	const uint8_t *body;
	size_t blen;
	void *h = NULL;

	CHECK_INT(fng__wire_encode_ws_sub(&b, type, id, topic), 0, "ws_sub %s: encodes", what);
	CHECK(one_frame(&b, type, &body, &blen), "ws_sub %s: one frame of type %u", what, type);
	CHECK_INT(fng__wire_decode_ws_sub(body, blen, &gid, &t, &h), 0, "ws_sub %s: decodes",
		what);
	CHECK(h != NULL && str_eq((struct fng_wire_str){ id, strlen(id) }, gid) &&
			str_eq((struct fng_wire_str){ topic, strlen(topic) }, t),
		"ws_sub %s: same connection id and topic", what);
	if (seed_name) {
		seed(seed_name, &b);
	}
	fng__wire_free(h);
	fng__wire_buf_finish(&b);
}

/* WS_PUBLISH / WS_SUBSCRIBE / WS_UNSUBSCRIBE: round trips, the caps exactly, refusals. */
static void test_ws_topic_frames(void)
{
	char topic[FNG_WIRE_MAX_TOPIC + 2], id[FNG_WIRE_MAX_CONNECTION_ID + 2];
	struct fng_wire_buf b = { 0 };

	ws_publish_round_trip("JSON", "room.lobby", "{\"say\":\"hi\"}", 12, "ws-publish-seed");
	ws_publish_round_trip("binary with NULs", "a:b/c~d_e-f", bin_body, sizeof(bin_body), NULL);
	ws_publish_round_trip("empty data", "t", NULL, 0, NULL);
	ws_publish_round_trip("topic at the cap", repeat(topic, 't', FNG_WIRE_MAX_TOPIC), "x", 1,
		NULL);
	ws_sub_round_trip("subscribe", FNG_WIRE_WS_SUBSCRIBE, "L0SM9cOFvHcCIhw-", "room.lobby",
		"ws-subscribe-seed");
	ws_sub_round_trip("unsubscribe", FNG_WIRE_WS_UNSUBSCRIBE, "L0SM9cOFvHcCIhw-",
		"room.lobby", "ws-unsubscribe-seed");
	ws_sub_round_trip("topic at the cap", FNG_WIRE_WS_SUBSCRIBE, "i",
		repeat(topic, 'u', FNG_WIRE_MAX_TOPIC), NULL);
	ws_sub_round_trip("id at the cap", FNG_WIRE_WS_UNSUBSCRIBE,
		repeat(id, 'c', FNG_WIRE_MAX_CONNECTION_ID), "t", NULL);

	repeat(topic, 't', FNG_WIRE_MAX_TOPIC + 1);
	CHECK_INT(fng__wire_encode_ws_publish(&b, topic, "x", 1), -EINVAL,
		"ws_publish: a 129-byte topic refused");
	CHECK_INT(fng__wire_encode_ws_publish(&b, "", "x", 1), -EINVAL,
		"ws_publish: an empty topic refused");
	CHECK_INT(fng__wire_encode_ws_publish(&b, NULL, "x", 1), -EINVAL,
		"ws_publish: a NULL topic refused");
	CHECK_INT(fng__wire_encode_ws_publish(&b, "t", NULL, 1), -EINVAL,
		"ws_publish: NULL data with a length refused");
	CHECK_INT(fng__wire_encode_ws_sub(&b, FNG_WIRE_WS_SUBSCRIBE, "i", topic), -EINVAL,
		"ws_sub: a 129-byte topic refused");
	CHECK_INT(fng__wire_encode_ws_sub(&b, FNG_WIRE_WS_SUBSCRIBE, "i", ""), -EINVAL,
		"ws_sub: an empty topic refused");
	CHECK_INT(fng__wire_encode_ws_sub(&b, FNG_WIRE_WS_SUBSCRIBE, "i", NULL), -EINVAL,
		"ws_sub: a NULL topic refused");
	CHECK_INT(fng__wire_encode_ws_sub(&b, FNG_WIRE_WS_SUBSCRIBE,
			  repeat(id, 'c', FNG_WIRE_MAX_CONNECTION_ID + 1), "t"), -EINVAL,
		"ws_sub: a 65-byte connection id refused");
	CHECK_INT(fng__wire_encode_ws_sub(&b, FNG_WIRE_WS_UNSUBSCRIBE, "", "t"), -EINVAL,
		"ws_sub: an empty connection id refused");
	CHECK_INT(fng__wire_encode_ws_sub(&b, FNG_WIRE_WS_UNSUBSCRIBE, NULL, "t"), -EINVAL,
		"ws_sub: a NULL connection id refused");
	static const uint8_t wrong_types[] = { 0, FNG_WIRE_READY, FNG_WIRE_WS_SEND,
		FNG_WIRE_WS_PUBLISH, FNG_WIRE_WS_CLOSE, 255 };

	for (size_t i = 0; i < sizeof(wrong_types); i++) {
		CHECK_INT(fng__wire_encode_ws_sub(&b, wrong_types[i], "i", "t"), -EINVAL,
			"ws_sub: frame type %u refused", wrong_types[i]);
	}
	CHECK_INT(b.len, 0, "ws topic frames: nothing appended on errors");
	fng__wire_buf_finish(&b);
}

/* ---- authorizers: the AUTHORIZER event's keys and the answer in RESULT ---- */

static const struct fng_wire_ctxv full_ctx[] = {
	{ S("user"), FNG_WIRE_CTX_STR, S("ada \xc3\xa9"), 0, false },
	{ S("n"), FNG_WIRE_CTX_NUM, { 0 }, 42.5, false },
	{ S("neg"), FNG_WIRE_CTX_NUM, { 0 }, -3, false },
	{ S("big"), FNG_WIRE_CTX_NUM, { 0 }, 1e300, false },
	{ S("admin"), FNG_WIRE_CTX_BOOL, { 0 }, 0, true },
	{ S("flag"), FNG_WIRE_CTX_BOOL, { 0 }, 0, false },
	{ S("empty"), FNG_WIRE_CTX_STR, S(""), 0, false },
};

static bool ctx_eq(const struct fng_wire_ctxv *a, size_t na, const struct fng_wire_ctxv *b,
	size_t nb)
{
	if (na != nb) {
		return false;
	}
	for (size_t i = 0; i < na; i++) {
		if (!str_eq(a[i].k, b[i].k) || a[i].type != b[i].type ||
			(a[i].type == FNG_WIRE_CTX_STR && !str_eq(a[i].s, b[i].s)) ||
			(a[i].type == FNG_WIRE_CTX_NUM && a[i].num != b[i].num) ||
			(a[i].type == FNG_WIRE_CTX_BOOL && a[i].b != b[i].b)) {
			return false;
		}
	}
	return true;
}

/* A RESULT body {statusCode..hasBody, key: V} with V packed by fill. */
static void result_with(struct fng_wire_buf *out, const char *key,
	void (*fill)(msgpack_packer *, int), int v)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 7);
	msgpack_pack_str_with_body(&pk, "statusCode", 10);
	msgpack_pack_int(&pk, 200);
	msgpack_pack_str_with_body(&pk, "headers", 7);
	msgpack_pack_array(&pk, 0);
	msgpack_pack_str_with_body(&pk, "cookies", 7);
	msgpack_pack_array(&pk, 0);
	msgpack_pack_str_with_body(&pk, "body", 4);
	msgpack_pack_bin_with_body(&pk, "", 0);
	msgpack_pack_str_with_body(&pk, "failed", 6);
	msgpack_pack_false(&pk);
	msgpack_pack_str_with_body(&pk, "hasBody", 7);
	msgpack_pack_false(&pk);
	msgpack_pack_str_with_body(&pk, key, strlen(key));
	fill(&pk, v);
	out->len = 0;
	fng__wire_buf_finish(out);
	out->p = malloc(sb.size);
	memcpy(out->p, sb.data, sb.size);
	out->len = out->cap = sb.size;
	msgpack_sbuffer_destroy(&sb);
}

enum { A_OK, A_NIL_VALUE, A_ARRAY_VALUE, A_MAP_VALUE, A_EXT_VALUE, A_NAN, A_INF, A_DUP,
	A_EMPTY_KEY, A_INT_KEY, A_STR_DECISION, A_NO_PRINCIPAL, A_LONG_PRINCIPAL, A_LONG_VALUE,
	A_TOO_MANY, A_NOT_MAP, A_NCASES };
static const char *const a_names[] = { "ok", "nil value", "array value", "map value",
	"ext value", "NaN", "infinity", "duplicate key", "empty key", "int key",
	"isAuthorized a string", "no principalId", "principalId over the cap",
	"string value over the cap", "65 context entries", "authorizer not a map" };

static void pack_authz(msgpack_packer *pk, int c)
{
	static char big[FNG_WIRE_MAX_AUTHZ_VALUE + 2];
	unsigned n = c == A_TOO_MANY ? FNG_WIRE_MAX_AUTHZ_CONTEXT + 1 : c == A_DUP ? 2 : 1;

	if (c == A_NOT_MAP) {
		msgpack_pack_true(pk);
		return;
	}
	memset(big, 'x', sizeof(big) - 1);
	msgpack_pack_map(pk, c == A_NO_PRINCIPAL ? 3 : 4);
	msgpack_pack_str_with_body(pk, "isAuthorized", 12);
	if (c == A_STR_DECISION) {
		msgpack_pack_str_with_body(pk, "yes", 3);
	} else {
		msgpack_pack_true(pk);
	}
	if (c != A_NO_PRINCIPAL) {
		msgpack_pack_str_with_body(pk, "principalId", 11);
		msgpack_pack_str_with_body(pk, big, c == A_LONG_PRINCIPAL ?
			FNG_WIRE_MAX_AUTHZ_ID + 1 : 3);
	}
	msgpack_pack_str_with_body(pk, "usageIdentifierKey", 18);
	msgpack_pack_str_with_body(pk, "", 0);
	msgpack_pack_str_with_body(pk, "context", 7);
	msgpack_pack_map(pk, n);
	for (unsigned i = 0; i < n; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%u", c == A_DUP ? 0 : i);
		if (c == A_EMPTY_KEY) {
			msgpack_pack_str_with_body(pk, "", 0);
		} else if (c == A_INT_KEY) {
			msgpack_pack_int(pk, 1);
		} else {
			msgpack_pack_str_with_body(pk, k, strlen(k));
		}
		switch (c) {
		case A_NIL_VALUE: msgpack_pack_nil(pk); break;
		case A_ARRAY_VALUE: msgpack_pack_array(pk, 0); break;
		case A_MAP_VALUE: msgpack_pack_map(pk, 0); break;
		case A_EXT_VALUE: msgpack_pack_ext_with_body(pk, "e", 1, 1); break;
		case A_NAN: msgpack_pack_double(pk, NAN); break;
		case A_INF: msgpack_pack_float(pk, INFINITY); break;
		case A_LONG_VALUE:
			msgpack_pack_str_with_body(pk, big, FNG_WIRE_MAX_AUTHZ_VALUE + 1);
			break;
		default: msgpack_pack_uint64(pk, (uint64_t)1 << 60); break;
		}
	}
}

/* requestContext.identity.clientCert: in the frame only with a certificate, and back. */
static void test_client_cert(void)
{
	static const struct fng_wire_str sans[] = { S("DNS:a.test"), S("IP:10.0.0.7"),
		S("email:a@example.com") };
	struct fng_wire_event ev = full_event(), got;
	struct fng_wire_buf b = { 0 };
	const uint8_t *body;
	size_t len;
	void *h = NULL;

	CHECK_INT(fng__wire_encode_invoke(&b, &ev), 0, "no certificate: encodes");
	one_frame(&b, FNG_WIRE_INVOKE, &body, &len);
	CHECK_INT(fng__wire_decode_invoke(body, len, &got, &h), 0, "no certificate: decodes");
	CHECK(!got.client_cert && !got.cert_subject.p && !got.ncert_sans,
		"no certificate: none decoded");
	fng__wire_free(h);
	ev.client_cert = true;
	ev.cert_subject = S("O=Test,CN=alice");
	ev.cert_issuer = S("O=Test,CN=CA");
	ev.cert_serial = S("10:00");
	ev.cert_not_before = S("2026-01-01T00:00:00Z");
	ev.cert_not_after = S("2027-01-01T00:00:00Z");
	ev.cert_sha256 = S("00ff");
	ev.cert_sans = sans;
	ev.ncert_sans = 3;
	b.len = 0;
	CHECK_INT(fng__wire_encode_invoke(&b, &ev), 0, "client certificate: encodes");
	one_frame(&b, FNG_WIRE_INVOKE, &body, &len);
	CHECK_INT(fng__wire_decode_invoke(body, len, &got, &h), 0, "client certificate: decodes");
	CHECK(got.client_cert && str_eq(got.cert_subject, ev.cert_subject) &&
			str_eq(got.cert_issuer, ev.cert_issuer) &&
			str_eq(got.cert_serial, ev.cert_serial) &&
			str_eq(got.cert_not_before, ev.cert_not_before) &&
			str_eq(got.cert_not_after, ev.cert_not_after) &&
			str_eq(got.cert_sha256, ev.cert_sha256) &&
			strs_eq(got.cert_sans, got.ncert_sans, sans, 3),
		"client certificate: every field back");
	seed("invoke-client-cert", &b);
	fng__wire_free(h);
	ev.ncert_sans = FNG_WIRE_MAX_SANS + 1;
	b.len = 0;
	CHECK(fng__wire_encode_invoke(&b, &ev) < 0, "more SANs than the cap: refused");
	fng__wire_buf_finish(&b);
}

static void test_authorizer(void)
{
	static const struct fng_wire_str ids[] = { S("Bearer abc"), S(""), { "a\0b", 3 } };
	struct fng_wire_event ev = full_event(), got;
	struct fng_wire_result r = { .status = 200 }, rg;
	struct fng_wire_buf b = { 0 };
	const uint8_t *body;
	size_t len;
	void *h = NULL;

	ev.event_type = S("AUTHORIZER");
	ev.authz_type = S("TOKEN");
	ev.authorization_token = ids[0];
	ev.identity_source = ids;
	ev.nidentity_source = 3;
	ev.route_arn = S("arn:fngate:execute-api:local:a/s/GET/x");
	invoke_round_trip("authorizer", &ev);
	CHECK_INT(fng__wire_encode_invoke(&b, &ev), 0, "authorizer event: encodes");
	one_frame(&b, FNG_WIRE_INVOKE, &body, &len);
	CHECK(body[0] == 0xde && body[1] == 0 && body[2] == 17,
		"authorizer event: a map of 17 keys (13 + 4)");
	CHECK_INT(fng__wire_decode_invoke(body, len, &got, &h), 0, "authorizer event: decodes");
	CHECK(str_eq(got.authz_type, ev.authz_type) &&
			str_eq(got.authorization_token, ev.authorization_token) &&
			strs_eq(got.identity_source, got.nidentity_source, ids, 3) &&
			str_eq(got.route_arn, ev.route_arn),
		"authorizer event: type, token, identity sources (NUL and empty kept), route ARN");
	fng__wire_free(h);
	/* The four keys come all together, or the event is refused. */
	{
		uint8_t *p = malloc(len + 32);
		size_t n;

		memcpy(p, body, len);
		ev = full_event();
		b.len = 0;
		fng__wire_encode_invoke(&b, &ev);
		one_frame(&b, FNG_WIRE_INVOKE, &body, &len);
		CHECK(body[0] == 0x8d, "another event: a map of 13 keys, as before");
		memcpy(p, body, len);
		p[0] = 0x8e;
		n = len;
		memcpy(p + n, "\xa4type\xa5TOKEN", 11);
		n += 11;
		CHECK_INT(fng__wire_decode_invoke(p, n, &got, &h), -EPROTO,
			"an event with type but no token, identity or ARN is refused");
		CHECK(h == NULL, "nothing kept");
		memcpy(p + len, "\xa4type\xa3" "FOO", 9);
		CHECK_INT(fng__wire_decode_invoke(p, len + 9, &got, &h), -EPROTO,
			"an event whose type is not TOKEN or REQUEST is refused");
		free(p);
	}
	ev.authz_type = S("FOO");
	CHECK_INT(fng__wire_encode_invoke(&b, &ev), -EINVAL, "the encoder refuses type FOO");

	/* The answer. */
	r.authz = (struct fng_wire_authz){ FNG_WIRE_AUTHZ_ALLOW, S("ada"), S("key-1"), full_ctx,
		sizeof(full_ctx) / sizeof(full_ctx[0]) };
	result_round_trip("authorizer-allow", &r);
	body = result_body(&b, &r, &len);
	CHECK_INT(fng__wire_decode_result(body, len, &rg, &h), 0, "allow: decodes");
	CHECK(rg.authz.decision == FNG_WIRE_AUTHZ_ALLOW && str_eq(rg.authz.principal, r.authz.principal) &&
			str_eq(rg.authz.usage_key, r.authz.usage_key) &&
			ctx_eq(rg.authz.context, rg.authz.ncontext, full_ctx, r.authz.ncontext),
		"allow: decision, principal, usage key, typed context");
	fng__wire_free(h);
	r.authz = (struct fng_wire_authz){ FNG_WIRE_AUTHZ_DENY, S(""), S(""), NULL, 0 };
	body = result_body(&b, &r, &len);
	CHECK_INT(fng__wire_decode_result(body, len, &rg, &h), 0, "deny: decodes");
	CHECK(rg.authz.decision == FNG_WIRE_AUTHZ_DENY && rg.authz.ncontext == 0, "deny");
	fng__wire_free(h);
	r.authz.decision = FNG_WIRE_AUTHZ_NONE;
	body = result_body(&b, &r, &len);
	CHECK(body[0] == 0x86, "no decision: the RESULT of before (6 keys)");
	CHECK_INT(fng__wire_decode_result(body, len, &rg, &h), 0, "no decision: decodes");
	CHECK(rg.authz.decision == FNG_WIRE_AUTHZ_NONE, "no decision: none");
	fng__wire_free(h);

	/* What the decoder refuses, the encoder refuses too. */
	{
		struct fng_wire_ctxv bad[FNG_WIRE_MAX_AUTHZ_CONTEXT + 1];
		static char big[FNG_WIRE_MAX_AUTHZ_ID + 1];

		for (size_t i = 0; i < FNG_WIRE_MAX_AUTHZ_CONTEXT + 1; i++) {
			bad[i] = (struct fng_wire_ctxv){ S("k"), FNG_WIRE_CTX_BOOL, { 0 }, 0, true };
		}
		r.authz = (struct fng_wire_authz){ FNG_WIRE_AUTHZ_ALLOW, S("p"), S(""), bad, 2 };
		CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: a duplicate key");
		bad[0].k = S("");
		r.authz.ncontext = 1;
		CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: an empty key");
		bad[0] = (struct fng_wire_ctxv){ S("k"), FNG_WIRE_CTX_NUM, { 0 }, NAN, false };
		CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: NaN");
		r.authz.ncontext = FNG_WIRE_MAX_AUTHZ_CONTEXT + 1;
		CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: 65 entries");
		memset(big, 'x', sizeof(big));
		r.authz = (struct fng_wire_authz){ FNG_WIRE_AUTHZ_DENY,
			{ big, sizeof(big) }, S(""), NULL, 0 };
		CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: a principal over 1024");
	}
	for (int c = 0; c < A_NCASES; c++) {
		result_with(&b, "authorizer", pack_authz, c);
		h = (void *)1;
		CHECK_INT(fng__wire_decode_result(b.p, b.len, &rg, &h), c == A_OK ? 0 : -EPROTO,
			"decode an answer: %s", a_names[c]);
		CHECK(c == A_OK ? h != NULL : h == NULL, "decode %s: handle", a_names[c]);
		if (c == A_OK) {
			CHECK(rg.authz.ncontext == 1 && rg.authz.context[0].type == FNG_WIRE_CTX_NUM &&
					rg.authz.context[0].num == (double)((uint64_t)1 << 60),
				"an integer context value is a number");
			fng__wire_free(h);
		}
	}
	fng__wire_buf_finish(&b);
}

/* ---- RESULT's cache: a handler's fng_response_cache() ---- */

enum { K_OK, K_MAX, K_UNKNOWN_KEY, K_NOT_MAP, K_NIL, K_TTL_STR, K_TTL_NEG, K_TTL_OVER,
	K_TTL_HUGE, K_TTL_FLOAT, K_NO_TTL, K_NO_TAGS, K_TAGS_MAP, K_TAGS_STR, K_TAG_INT,
	K_TAG_EMPTY, K_TAG_SPACE, K_TAG_NUL, K_TAG_UTF8, K_TAG_LONG, K_TOO_MANY, K_DUP,
	K_DUP_KEY, K_HUGE_COUNT, K_NCASES };
static const char *const k_names[] = { "ok", "16 tags of 128 bytes, TTL 86400",
	"an unknown key (skipped)", "cache not a map", "cache nil", "ttl a string", "ttl -1",
	"ttl 86401", "ttl 2^63", "ttl 1.5", "no ttl", "no tags", "tags a map", "tags a string",
	"a tag an int", "an empty tag", "a space in a tag", "a NUL in a tag", "UTF-8 in a tag",
	"a tag of 129 bytes", "17 tags", "a tag twice", "ttl twice",
	"tags claiming 2^31 items" };

static void pack_cache(msgpack_packer *pk, int c)
{
	static char big[FNG_CACHE_TAG_MAX + 2];
	unsigned keys = 2 + (c == K_UNKNOWN_KEY || c == K_DUP_KEY) -
		(c == K_NO_TTL || c == K_NO_TAGS);
	unsigned n = c == K_MAX ? FNG_CACHE_TAGS_MAX : c == K_TOO_MANY ? FNG_CACHE_TAGS_MAX + 1 : 2;

	memset(big, 'a', sizeof(big) - 1);
	if (c == K_NOT_MAP || c == K_NIL) {
		if (c == K_NIL) {
			msgpack_pack_nil(pk);
		} else {
			msgpack_pack_array(pk, 0);
		}
		return;
	}
	msgpack_pack_map(pk, keys);
	if (c == K_UNKNOWN_KEY) {
		kv_str(pk, "vary", "x", 1);
	}
	if (c == K_DUP_KEY) {
		kv_int(pk, "ttl", 1);
	}
	if (c != K_NO_TTL) {
		msgpack_pack_str_with_body(pk, "ttl", 3);
		switch (c) {
		case K_TTL_STR: msgpack_pack_str_with_body(pk, "10", 2); break;
		case K_TTL_NEG: msgpack_pack_int(pk, -1); break;
		case K_TTL_OVER: msgpack_pack_int(pk, FNG_CACHE_TTL_MAX + 1); break;
		case K_TTL_HUGE: msgpack_pack_uint64(pk, (uint64_t)1 << 63); break;
		case K_TTL_FLOAT: msgpack_pack_double(pk, 1.5); break;
		case K_MAX: msgpack_pack_int(pk, FNG_CACHE_TTL_MAX); break;
		default: msgpack_pack_int(pk, 10); break;
		}
	}
	if (c == K_NO_TAGS) {
		return;
	}
	msgpack_pack_str_with_body(pk, "tags", 4);
	if (c == K_TAGS_MAP) {
		msgpack_pack_map(pk, 0);
		return;
	}
	if (c == K_TAGS_STR) {
		msgpack_pack_str_with_body(pk, "clock", 5);
		return;
	}
	if (c == K_HUGE_COUNT) {
		msgpack_pack_array(pk, 0x80000000u); /* and no items: the bytes cannot hold them */
		return;
	}
	msgpack_pack_array(pk, n);
	for (unsigned i = 0; i < n; i++) {
		char t[FNG_CACHE_TAG_MAX + 2];

		snprintf(t, sizeof(t), "t%u", c == K_DUP ? 0 : i);
		if (i == 1 && c == K_TAG_INT) {
			msgpack_pack_int(pk, 1);
		} else if (i == 1 && c == K_TAG_EMPTY) {
			msgpack_pack_str_with_body(pk, "", 0);
		} else if (i == 1 && c == K_TAG_SPACE) {
			msgpack_pack_str_with_body(pk, "a b", 3);
		} else if (i == 1 && c == K_TAG_NUL) {
			msgpack_pack_str_with_body(pk, "a\0b", 3);
		} else if (i == 1 && c == K_TAG_UTF8) {
			msgpack_pack_str_with_body(pk, "caf\xc3\xa9", 5);
		} else if (i == 1 && c == K_TAG_LONG) {
			msgpack_pack_str_with_body(pk, big, FNG_CACHE_TAG_MAX + 1);
		} else if (c == K_MAX) {
			memset(big, 'a' + i, FNG_CACHE_TAG_MAX);
			msgpack_pack_str_with_body(pk, big, FNG_CACHE_TAG_MAX);
		} else {
			msgpack_pack_str_with_body(pk, t, strlen(t));
		}
	}
}

static void test_cache(void)
{
	static const struct fng_wire_str tags[] = { S("clock"), S("user:42"), S("a/b.c_d-e") };
	static const struct fng_wire_ctxv ctx1[] = {
		{ S("k"), FNG_WIRE_CTX_BOOL, { 0 }, 0, true },
	};
	struct fng_wire_result r = { .status = 200 }, got;
	struct fng_wire_buf b = { 0 };
	struct fng_wire_str many[FNG_CACHE_TAGS_MAX + 1];
	char names[FNG_CACHE_TAGS_MAX + 1][8];
	static char big[FNG_CACHE_TAG_MAX + 1];
	const uint8_t *body;
	size_t len;
	void *h = NULL;

	r.cache = (struct fng_wire_cache){ true, 10, tags, 3 };
	result_round_trip("cache", &r);
	body = result_body(&b, &r, &len);
	CHECK(body && body[0] == 0x87, "cache: a map of 7 keys (6 + cache)");
	CHECK_INT(fng__wire_decode_result(body, len, &got, &h), 0, "cache: decodes");
	CHECK(got.cache.set && got.cache.ttl_s == 10 &&
			strs_eq(got.cache.tags, got.cache.ntags, tags, 3),
		"cache: set, TTL and tags in order");
	CHECK(got.cache.tags[1].p[got.cache.tags[1].len] == '\0', "cache: tags NUL-terminated");
	fng__wire_free(h);

	r.cache = (struct fng_wire_cache){ true, 0, NULL, 0 };
	body = result_body(&b, &r, &len);
	CHECK_INT(fng__wire_decode_result(body, len, &got, &h), 0, "cache TTL 0, no tags: decodes");
	CHECK(got.cache.set && got.cache.ttl_s == 0 && got.cache.ntags == 0,
		"cache TTL 0: set, do not store, no tags");
	fng__wire_free(h);

	r.cache.set = false;
	body = result_body(&b, &r, &len);
	CHECK(body[0] == 0x86, "no cache instruction: the RESULT of before (6 keys)");
	CHECK_INT(fng__wire_decode_result(body, len, &got, &h), 0, "no cache: decodes");
	CHECK(!got.cache.set && got.cache.ntags == 0, "no cache: not set");
	fng__wire_free(h);

	/* Both optional keys: authorizer, then cache; the decoder takes them in any order. */
	r.cache = (struct fng_wire_cache){ true, 5, tags, 1 };
	r.authz = (struct fng_wire_authz){ FNG_WIRE_AUTHZ_ALLOW, S("p"), S(""), ctx1, 1 };
	body = result_body(&b, &r, &len);
	CHECK(body[0] == 0x88, "authorizer and cache: 8 keys");
	CHECK_INT(fng__wire_decode_result(body, len, &got, &h), 0, "authorizer and cache: decode");
	CHECK(got.cache.set && got.cache.ttl_s == 5 && got.cache.ntags == 1 &&
			got.authz.decision == FNG_WIRE_AUTHZ_ALLOW,
		"authorizer and cache: both read");
	fng__wire_free(h);
	r.authz = (struct fng_wire_authz){ 0 };

	/* What the decoder refuses, the encoder refuses too. */
	for (size_t i = 0; i <= FNG_CACHE_TAGS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "t%zu", i);
		many[i] = (struct fng_wire_str){ names[i], strlen(names[i]) };
	}
	memset(big, 'x', sizeof(big));
	b.len = 0;
	r.cache = (struct fng_wire_cache){ true, FNG_CACHE_TTL_MAX, many, FNG_CACHE_TAGS_MAX };
	CHECK_INT(fng__wire_encode_result(&b, &r), 0, "encode: TTL 86400 and 16 tags");
	b.len = 0;
	r.cache.ttl_s = FNG_CACHE_TTL_MAX + 1;
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: TTL 86401");
	r.cache.ttl_s = 1;
	r.cache.ntags = FNG_CACHE_TAGS_MAX + 1;
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: 17 tags");
	many[1] = many[0];
	r.cache.ntags = 2;
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: a tag twice");
	many[1] = (struct fng_wire_str){ big, sizeof(big) };
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: a tag of 129 bytes");
	many[1] = S("");
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: an empty tag");
	many[1] = S("a,b");
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: a comma in a tag");
	r.cache.tags = NULL;
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "encode: NULL tags with a count");
	CHECK_INT(b.len, 0, "cache: nothing appended on errors");

	for (int c = 0; c < K_NCASES; c++) {
		bool ok = c == K_OK || c == K_MAX || c == K_UNKNOWN_KEY;

		result_with(&b, "cache", pack_cache, c);
		h = (void *)1;
		CHECK_INT(fng__wire_decode_result(b.p, b.len, &got, &h), ok ? 0 : -EPROTO,
			"decode a cache instruction: %s", k_names[c]);
		CHECK(ok ? h != NULL : h == NULL && !got.cache.set, "decode %s: handle",
			k_names[c]);
		if (c == K_MAX) {
			CHECK(got.cache.ttl_s == FNG_CACHE_TTL_MAX &&
					got.cache.ntags == FNG_CACHE_TAGS_MAX &&
					got.cache.tags[15].len == FNG_CACHE_TAG_MAX,
				"16 tags of 128 bytes read whole");
		}
		if (ok) {
			fng__wire_free(h);
		}
	}
	fng__wire_buf_finish(&b);
}

/* ---- RESULT's cost and INVOKE's trace context (issue 16) ---- */

enum { CO_OK, CO_MAX, CO_UNKNOWN, CO_NOT_MAP, CO_NIL, CO_CPU_STR, CO_CPU_NEG, CO_CPU_OVER,
	CO_RSS_OVER, CO_CPU_FLOAT, CO_NO_CPU, CO_NO_RSS, CO_DUP, CO_NCASES };
static const char *const c_names[] = { "ok", "at the caps", "an unknown key (skipped)",
	"cost not a map", "cost nil", "cpuUs a string", "cpuUs -1", "cpuUs over its cap",
	"maxRssKb over its cap", "cpuUs 1.5", "no cpuUs", "no maxRssKb", "cpuUs twice" };

static void pack_cost(msgpack_packer *pk, int c)
{
	if (c == CO_NOT_MAP || c == CO_NIL) {
		if (c == CO_NIL) {
			msgpack_pack_nil(pk);
		} else {
			msgpack_pack_array(pk, 0);
		}
		return;
	}
	msgpack_pack_map(pk, 2 + (c == CO_UNKNOWN || c == CO_DUP) - (c == CO_NO_CPU || c == CO_NO_RSS));
	if (c == CO_UNKNOWN) {
		kv_int(pk, "gpuUs", 7);
	}
	if (c == CO_DUP) {
		kv_int(pk, "cpuUs", 1);
	}
	if (c != CO_NO_CPU) {
		msgpack_pack_str_with_body(pk, "cpuUs", 5);
		switch (c) {
		case CO_CPU_STR: msgpack_pack_str_with_body(pk, "1", 1); break;
		case CO_CPU_NEG: msgpack_pack_int(pk, -1); break;
		case CO_CPU_OVER: msgpack_pack_uint64(pk, FNG_WIRE_MAX_CPU_US + 1); break;
		case CO_CPU_FLOAT: msgpack_pack_double(pk, 1.5); break;
		case CO_MAX: msgpack_pack_uint64(pk, FNG_WIRE_MAX_CPU_US); break;
		default: msgpack_pack_int(pk, 20000); break;
		}
	}
	if (c != CO_NO_RSS) {
		msgpack_pack_str_with_body(pk, "maxRssKb", 8);
		msgpack_pack_uint64(pk, c == CO_RSS_OVER ? FNG_WIRE_MAX_RSS_KB + 1 :
			c == CO_MAX ? FNG_WIRE_MAX_RSS_KB : 51300);
	}
}

static void test_cost(void)
{
	struct fng_wire_result r = { .status = 200 }, got;
	struct fng_wire_buf b = { 0 };
	const uint8_t *body;
	size_t len;
	void *h;

	r.cost = (struct fng_wire_cost){ true, 20123, 53000, 20456 };
	result_round_trip("cost", &r);
	body = result_body(&b, &r, &len);
	CHECK(body && body[0] == 0x87, "cost: a map of 7 keys (6 + cost)");
	CHECK_INT(fng__wire_decode_result(body, len, &got, &h), 0, "cost: decodes");
	CHECK(got.cost.set && got.cost.cpu_us == 20123 && got.cost.max_rss_kb == 53000 &&
			got.cost.wall_us == 20456,
		"cost: set, CPU, peak memory and wall time");
	fng__wire_free(h);

	r = (struct fng_wire_result){ .status = 502, .failed = true,
		.cost = { true, FNG_WIRE_MAX_CPU_US, FNG_WIRE_MAX_RSS_KB } };
	body = result_body(&b, &r, &len);
	CHECK_INT(fng__wire_decode_result(body, len, &got, &h), 0, "failed with cost: decodes");
	CHECK(got.failed && got.cost.cpu_us == FNG_WIRE_MAX_CPU_US &&
			got.cost.max_rss_kb == FNG_WIRE_MAX_RSS_KB,
		"a failed RESULT keeps its cost, at the caps");
	fng__wire_free(h);

	r.cost.set = false;
	body = result_body(&b, &r, &len);
	CHECK(body && body[0] == 0x86, "no cost: the RESULT of before (6 keys)");
	CHECK_INT(fng__wire_decode_result(body, len, &got, &h), 0, "no cost: decodes");
	CHECK(!got.cost.set, "no cost: not set");
	fng__wire_free(h);

	b.len = 0;
	r.cost = (struct fng_wire_cost){ true, FNG_WIRE_MAX_CPU_US + 1, 0 };
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "cost encode: CPU over its cap");
	r.cost = (struct fng_wire_cost){ true, 0, FNG_WIRE_MAX_RSS_KB + 1 };
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "cost encode: memory over its cap");
	r.cost = (struct fng_wire_cost){ true, 0, 0, FNG_WIRE_MAX_CPU_US + 1 };
	CHECK_INT(fng__wire_encode_result(&b, &r), -EINVAL, "cost encode: wall time over its cap");
	CHECK_INT(b.len, 0, "cost: nothing appended on errors");

	for (int c = 0; c < CO_NCASES; c++) {
		bool ok = c == CO_OK || c == CO_MAX || c == CO_UNKNOWN;

		result_with(&b, "cost", pack_cost, c);
		h = NULL;
		CHECK_INT(fng__wire_decode_result(b.p, b.len, &got, &h), ok ? 0 : -EPROTO,
			"decode a cost: %s", c_names[c]);
		CHECK(ok ? h != NULL && got.cost.set : h == NULL && !got.cost.set,
			"decode a cost %s: handle", c_names[c]);
		fng__wire_free(h);
	}
	fng__wire_buf_finish(&b);
}

#define TP_TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_GOOD "00-" TP_TID "-b7ad6b7169203331-01"

/* ev encoded, then the first occurrence of from in its frame replaced by to (same length). */
static int invoke_patched(const struct fng_wire_event *ev, const char *from, const char *to)
{
	struct fng_wire_buf b = { 0 };
	struct fng_wire_event got;
	const uint8_t *body;
	size_t len;
	void *h = NULL;
	uint8_t *at;
	int rc = -1;

	if (fng__wire_encode_invoke(&b, ev) == 0 && one_frame(&b, FNG_WIRE_INVOKE, &body, &len) &&
		(at = memmem(b.p, b.len, from, strlen(from))) != NULL) {
		memcpy(at, to, strlen(to));
		rc = fng__wire_decode_invoke(body, len, &got, &h);
		CHECK(rc ? h == NULL && !got.trace : h != NULL, "patched %s: handle", to);
		fng__wire_free(h);
	}
	fng__wire_buf_finish(&b);
	return rc;
}

static void test_trace_context(void)
{
	struct fng_wire_event ev = full_event(), got;
	struct fng_wire_buf b = { 0 };
	const uint8_t *body;
	size_t len;
	void *h = NULL;

	ev.trace = true;
	ev.traceparent = S(TP_GOOD);
	ev.tracestate = S("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
	invoke_round_trip("trace", &ev);
	CHECK_INT(fng__wire_encode_invoke(&b, &ev), 0, "trace: encodes");
	CHECK(one_frame(&b, FNG_WIRE_INVOKE, &body, &len) &&
			fng__wire_decode_invoke(body, len, &got, &h) == 0,
		"trace: decodes");
	CHECK(got.trace && str_eq(got.traceparent, ev.traceparent) &&
			str_eq(got.tracestate, ev.tracestate) &&
			got.traceparent.p[FNG_TRACEPARENT_LEN] == '\0',
		"trace: requestContext.trace read back, NUL-terminated");
	fng__wire_free(h);
	b.len = 0;

	ev.tracestate = S("");
	invoke_round_trip("trace-no-tracestate", &ev);

	static const struct {
		const char *what;
		struct fng_wire_str tp, ts;
	} bad[] = {
		{ "no traceparent", { 0 }, { 0 } },
		{ "upper-case hex", S("00-" TP_TID "-B7AD6B7169203331-01"), { 0 } },
		{ "version 01 (the gateway writes 00)", S("01-" TP_TID "-b7ad6b7169203331-01"),
			{ 0 } },
		{ "a later version's longer form", S(TP_GOOD "-x"), { 0 } },
		{ "zero span", S("00-" TP_TID "-0000000000000000-01"), { 0 } },
		{ "a malformed tracestate", S(TP_GOOD), S("Bad=1") },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ev.traceparent = bad[i].tp;
		ev.tracestate = bad[i].ts;
		CHECK_INT(fng__wire_encode_invoke(&b, &ev), -EINVAL, "trace encode: %s",
			bad[i].what);
	}
	CHECK_INT(b.len, 0, "trace: nothing appended on errors");

	ev.traceparent = S(TP_GOOD);
	ev.tracestate = S("congo=t61rcWkgMzE");
	CHECK_INT(invoke_patched(&ev, "-b7ad6b", "-B7AD6B"), -EPROTO,
		"trace decode: upper-case hex in traceparent");
	CHECK_INT(invoke_patched(&ev, "00-4bf92f", "ff-4bf92f"), -EPROTO,
		"trace decode: version ff");
	CHECK_INT(invoke_patched(&ev, "congo=", "Congo="), -EPROTO,
		"trace decode: a malformed tracestate");
	CHECK_INT(invoke_patched(&ev, "traceparent", "traceparenX"), -EPROTO,
		"trace decode: no traceparent in trace");
	CHECK_INT(invoke_patched(&ev, "\xa5trace\x82", "\xa5trace\x80"), -EPROTO,
		"trace decode: an empty trace map (its entries then read as garbage)");
	CHECK_INT(invoke_patched(&ev, "\xa5trace", "\xa5tracX"), 0,
		"trace decode: an unknown key instead is skipped");
	fng__wire_buf_finish(&b);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--alloc-probe") == 0) {
		return alloc_probe();
	}
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
		corpus_dir = argv[2];
	}
	test_invoke_round_trips();
	test_result();
	test_authorizer();
	test_client_cert();
	test_cache();
	test_cost();
	test_trace_context();
	test_ws_frames();
	test_ws_topic_frames();
	test_log_ready_empty();
	test_frames();
	test_hostile_bytes();
	test_no_large_allocation("/proc/self/exe");
	test_wrong_types();
	test_ranges();
	test_version();
	return fng_test_done();
}
