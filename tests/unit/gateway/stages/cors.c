// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/stages/cors.c without sockets: the `cors` keys as the loader takes and
 * refuses them (FILE:LINE:COL), the preflight stage on hand-built requests (allowed and
 * refused origins, methods and headers, "*" lists, credentials, what is not a preflight),
 * and the final stage on answers: an integration's own CORS headers replaced, Vary merged,
 * the gateway's error answers given the headers, refused origins given none.
 */
#include "errors.h"
#include "conf_test.h"
#include "harness.h"
#include "stages.h"

extern const struct fng_stage_def fng__stage_cors;
extern const struct fng_stage_def fng__stage_cors_headers;

static const char config[] =
	"apis:\n"
	"  shop:\n"
	"    cors:\n"
	"      allow_origins: [\"https://app.example\", \"https://*.example.com\"]\n"
	"      allow_methods: [GET, PUT]\n"
	"      allow_headers: [X-Token, Content-Type]\n"
	"      expose_headers: [x-request-id, x-total]\n"
	"      max_age_s: 600\n"
	"      allow_credentials: true\n"
	"    stages: { s: {} }\n"
	"    routes: { \"GET /\": { integration: { type: mock } } }\n"
	"  open:\n"
	"    cors: { allow_origins: [\"*\"], allow_methods: [\"*\"], allow_headers: [\"*\"] }\n"
	"    stages: { s: {} }\n"
	"    routes: { \"GET /\": { integration: { type: mock } } }\n"
	"  plain:\n"
	"    stages: { s: {} }\n"
	"    routes: { \"GET /\": { integration: { type: mock } } }\n";

#define API_WITH(cors)                                                                     \
	"apis:\n  a:\n    cors: " cors "\n    stages: { s: {} }\n"                        \
	"    routes: { \"GET /\": { integration: { type: mock } } }\n"

static void test_config_errors(void)
{
	conf_test_refused(API_WITH("{ allow_origins: [\"*\"], allow_credentials: true }"),
		"t.yaml:3:11: cors: allow_origins \"*\" cannot go with allow_credentials",
		"* with credentials");
	conf_test_refused(API_WITH("{ allow_origins: [\"https://a.example\"], "
		"expose_headers: [\"*\"], allow_credentials: true }"),
		"expose_headers \"*\" cannot go with", "expose *");
	conf_test_refused(API_WITH("{ allow_origins: [\"https://a.example/\"] }"),
		"t.yaml:3:30: cors.allow_origins: \"https://a.example/\": an origin is", "a path");
	conf_test_refused(API_WITH("{ allow_origins: [\"https://a.*.example\"] }"),
		"cors.allow_origins", "a wildcard inside");
	conf_test_refused(API_WITH("{ allow_origins: [] }"), "needs 1 to 256 origins", "no origin");
	conf_test_refused(API_WITH("{ allow_methods: [GET] }"),
		"cors needs the key \"allow_origins\"", "allow_origins is required");
	conf_test_refused(API_WITH("{ allow_origins: [\"*\"], allow_methods: [\"GET POST\"] }"),
		"\"GET POST\" is not a token", "a method that is not a token");
	conf_test_refused(API_WITH("{ allow_origins: [\"*\"], allow_headers: [\"x:y\"] }"),
		"is not a token", "a header that is not a token");
	conf_test_refused(API_WITH("{ allow_origins: [\"*\"], max_age_s: 86401 }"), "max_age_s",
		"max_age_s over a day");
	conf_test_refused(API_WITH("{ allow_origins: [\"*\"], allow_credential: true }"),
		"unknown key \"allow_credential\"", "misspelt key");
	conf_test_refused(API_WITH("[\"*\"]"), "cors must be a mapping", "a list");
	conf_test_refused("apis:\n  w:\n    protocol: websocket\n"
		"    cors: { allow_origins: [\"*\"] }\n    stages: { s: {} }\n"
		"    routes: { $default: { integration: { type: mock } } }\n",
		"t.yaml:4:11: cors applies to HTTP APIs", "a WebSocket API");
}

static struct fng_header hdrs[8];

static void req_init(struct fng_req *req, struct fng_arena *a, struct fng_config *c,
	const char *api, const char *method, const char *const *h)
{
	memset(req, 0, sizeof(*req));
	req->arena = a;
	req->cfg = c;
	req->api = fng__config_api(c, (struct fng_str){ api, strlen(api) });
	req->method = (struct fng_str){ method, strlen(method) };
	req->headers = hdrs;
	for (; h && h[2 * req->nheaders]; req->nheaders++) {
		hdrs[req->nheaders] = (struct fng_header){
			{ h[2 * req->nheaders], strlen(h[2 * req->nheaders]) },
			{ h[2 * req->nheaders + 1], strlen(h[2 * req->nheaders + 1]) } };
	}
}

/* The value of the response header name, or NULL; counts it in *n. */
static const char *resp_header(const struct fng_req *req, const char *name, unsigned *n)
{
	static char v[256];
	const char *found = NULL;

	*n = 0;
	for (unsigned i = 0; i < req->resp.nheaders; i++) {
		const struct fng_header *h = &req->resp.headers[i];

		if (fng__str_ieq(h->name, name, strlen(name))) {
			snprintf(v, sizeof(v), "%.*s", (int)h->value.len, h->value.p);
			found = v;
			++*n;
		}
	}
	return found;
}

static const char *one(const struct fng_req *req, const char *name)
{
	unsigned n;
	const char *v = resp_header(req, name, &n);

	return n <= 1 ? v : "(more than one)";
}

#define H(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_preflight(struct fng_config *c)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_req req;

	req_init(&req, a, c, "shop", "OPTIONS", H("Origin", "https://app.example",
		"Access-Control-Request-Method", "PUT",
		"Access-Control-Request-Headers", "x-token, content-type"));
	CHECK_INT(fng__stage_cors.run(&req), FNG_STAGE_DONE, "preflight answered");
	CHECK_INT(req.resp.status, 204, "204");
	CHECK_STR(one(&req, "access-control-allow-origin"), "https://app.example", "origin echoed");
	CHECK_STR(one(&req, "access-control-allow-methods"), "GET, PUT", "methods");
	CHECK_STR(one(&req, "access-control-allow-headers"), "x-token, content-type",
		"the requested headers");
	CHECK_STR(one(&req, "access-control-max-age"), "600", "max age");
	CHECK_STR(one(&req, "access-control-allow-credentials"), "true", "credentials");
	CHECK_STR(one(&req, "vary"), "Origin, Access-Control-Request-Method, "
		"Access-Control-Request-Headers", "Vary");
	CHECK_INT(fng__stage_cors_headers.run(&req), FNG_STAGE_NEXT, "final stage");
	CHECK_STR(one(&req, "access-control-allow-origin"), "https://app.example",
		"the final stage leaves a preflight answer alone");

	req_init(&req, a, c, "shop", "OPTIONS", H("origin", "https://a.b.example.com",
		"access-control-request-method", "GET", "access-control-request-headers",
		"X-TOKEN"));
	CHECK_INT(fng__stage_cors.run(&req), FNG_STAGE_DONE, "wildcard subdomain");
	CHECK_STR(one(&req, "access-control-allow-origin"), "https://a.b.example.com",
		"wildcard origin echoed");
	CHECK(one(&req, "access-control-allow-headers") != NULL,
		"header names compare case-insensitively");

	const char *const *const refused[] = {
		H("Origin", "https://evil.example", "Access-Control-Request-Method", "GET"),
		H("Origin", "https://example.com", "Access-Control-Request-Method", "GET"),
		H("Origin", "https://app.example", "Access-Control-Request-Method", "DELETE"),
		H("Origin", "https://app.example", "Access-Control-Request-Method", "put"),
		H("Origin", "https://app.example", "Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "x-token, x-other"),
		H("Origin", "https://app.example", "Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "x-token;"),
		H("Origin", "null", "Access-Control-Request-Method", "GET"),
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		req_init(&req, a, c, "shop", "OPTIONS", refused[i]);
		CHECK(fng__stage_cors.run(&req) == FNG_STAGE_DONE && req.resp.status == 204 &&
			!one(&req, "access-control-allow-origin") &&
			!one(&req, "access-control-allow-methods") && one(&req, "vary"),
			"refused preflight %zu: 204 without CORS headers (%s %s)", i, refused[i][1],
			refused[i][3]);
	}

	req_init(&req, a, c, "shop", "OPTIONS", H("Origin", "https://app.example"));
	CHECK_INT(fng__stage_cors.run(&req), FNG_STAGE_NEXT,
		"OPTIONS without Access-Control-Request-Method is routed");
	req_init(&req, a, c, "shop", "GET", H("Origin", "https://app.example",
		"Access-Control-Request-Method", "GET"));
	CHECK_INT(fng__stage_cors.run(&req), FNG_STAGE_NEXT, "a GET is not a preflight");
	req_init(&req, a, c, "plain", "OPTIONS", H("Origin", "https://app.example",
		"Access-Control-Request-Method", "GET"));
	CHECK_INT(fng__stage_cors.run(&req), FNG_STAGE_NEXT, "an API without cors routes it");

	req_init(&req, a, c, "open", "OPTIONS", H("Origin", "https://any.test",
		"Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers",
		"authorization"));
	CHECK_INT(fng__stage_cors.run(&req), FNG_STAGE_DONE, "\"*\" lists");
	CHECK_STR(one(&req, "access-control-allow-origin"), "*", "\"*\" origin");
	CHECK_STR(one(&req, "access-control-allow-methods"), "PATCH", "\"*\": the method echoed");
	CHECK_STR(one(&req, "access-control-allow-headers"), "authorization",
		"\"*\": the headers echoed (Authorization is never covered by a wildcard)");
	CHECK(!one(&req, "access-control-allow-credentials") &&
		!one(&req, "access-control-max-age"), "no credentials, no max age");
	fng__arena_destroy(a);
}

static void test_answers(struct fng_config *c)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_req req;
	unsigned n;

	/* A handler's answer with its own CORS headers and a Vary. */
	req_init(&req, a, c, "shop", "GET", H("Origin", "https://app.example"));
	req.resp.status = 200;
	fng__resp_header(&req, "Access-Control-Allow-Origin", 27, "*", 1);
	fng__resp_header(&req, "content-type", 12, "text/plain", 10);
	fng__resp_header(&req, "access-control-max-age", 22, "1", 1);
	fng__resp_header(&req, "vary", 4, "Accept-Encoding", 15);
	CHECK_INT(fng__stage_cors_headers.run(&req), FNG_STAGE_NEXT, "final stage goes on");
	CHECK_STR(one(&req, "access-control-allow-origin"), "https://app.example",
		"the handler's Allow-Origin is replaced");
	CHECK(!one(&req, "access-control-max-age"), "the handler's other CORS headers dropped");
	CHECK_STR(one(&req, "content-type"), "text/plain", "other headers kept");
	CHECK_STR(one(&req, "vary"), "Accept-Encoding, Origin", "Vary merged");
	CHECK_STR(one(&req, "access-control-allow-credentials"), "true", "credentials");
	CHECK_STR(one(&req, "access-control-expose-headers"), "x-request-id, x-total", "expose");

	/* The gateway's own error. */
	req_init(&req, a, c, "shop", "GET", H("Origin", "https://x.example.com"));
	fng__req_error_response(&req, FNG_ENOT_FOUND, NULL);
	fng__stage_cors_headers.run(&req);
	CHECK(req.resp.status == 404 && one(&req, "access-control-allow-origin") &&
		one(&req, "content-type"), "a 404 of the gateway carries the CORS headers");
	CHECK_STR(one(&req, "vary"), "Origin", "and Vary: Origin");
	fng__buf_finish(&req.resp.body);

	/* A refused preflight that reached an error (403 of the policy) is an answer like any. */
	req_init(&req, a, c, "shop", "OPTIONS", H("Origin", "https://app.example",
		"Access-Control-Request-Method", "GET"));
	req.error = FNG_EFORBIDDEN;
	fng__req_error_response(&req, FNG_EFORBIDDEN, NULL);
	fng__stage_cors_headers.run(&req);
	CHECK(one(&req, "access-control-allow-origin") != NULL, "a refused preflight's 403");
	fng__buf_finish(&req.resp.body);

	req_init(&req, a, c, "shop", "GET", H("Origin", "https://evil.example"));
	req.resp.status = 200;
	fng__resp_header(&req, "access-control-allow-origin", 27, "*", 1);
	fng__stage_cors_headers.run(&req);
	resp_header(&req, "access-control-allow-origin", &n);
	CHECK(n == 0 && one(&req, "vary"), "a refused origin: no CORS header at all, Vary kept");

	req_init(&req, a, c, "shop", "GET", NULL);
	req.resp.status = 200;
	fng__stage_cors_headers.run(&req);
	CHECK(!one(&req, "access-control-allow-origin") && one(&req, "vary"),
		"no Origin: Vary only");

	req_init(&req, a, c, "plain", "GET", H("Origin", "https://app.example"));
	req.resp.status = 200;
	fng__resp_header(&req, "access-control-allow-origin", 27, "*", 1);
	fng__stage_cors_headers.run(&req);
	CHECK(one(&req, "access-control-allow-origin") && !one(&req, "vary"),
		"an API without cors: the handler's headers untouched");

	req_init(&req, a, c, "open", "GET", H("Origin", "https://any.test"));
	req.resp.status = 200;
	fng__stage_cors_headers.run(&req);
	CHECK_STR(one(&req, "access-control-allow-origin"), "*", "\"*\" without credentials");
	fng__arena_destroy(a);
}

static void run(struct fng_config *c)
{
	test_config_errors();
	test_preflight(c);
	test_answers(c);
}

int main(void)
{
	return conf_test_main(config, run);
}
