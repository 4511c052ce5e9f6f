// SPDX-License-Identifier: MIT
/*
 * Tests for the error edge of gateway/request.c (fng__req_error_response): the status and
 * JSON body an error becomes, and the headers only the edge adds. A 401's WWW-Authenticate
 * is the refusing stage's choice (req->challenge): the edge renders it as given and invents
 * none, so a 401 from a stage that set no challenge has no such header.
 */
#include <string.h>

#include "errors.h"
#include "harness.h"
#include "request.h"

static const struct fng_header *resp_header(const struct fng_req *req, const char *name)
{
	for (unsigned i = 0; i < req->resp.nheaders; i++) {
		if (fng__str_eq(req->resp.headers[i].name, name, strlen(name))) {
			return &req->resp.headers[i];
		}
	}
	return NULL;
}

/*
 * Refuses a fresh request with err after a stage set challenge (NULL: none) and a header of
 * its own; returns the response's WWW-Authenticate value, "" when it has none. The body is
 * left in req->resp.body, NUL-terminated.
 */
static const char *refuse(struct fng_req *req, struct fng_arena *a, const char *challenge,
	int err, const char *detail)
{
	const struct fng_header *h;

	fng__buf_finish(&req->resp.body);
	memset(req, 0, sizeof(*req));
	req->arena = a;
	req->challenge = challenge;
	fng__resp_header(req, "x-early", 7, "1", 1);
	fng__req_error_response(req, err, detail);
	fng__buf_append(&req->resp.body, "", 1);
	h = resp_header(req, "www-authenticate");
	return h ? h->value.p : "";
}

static void test_challenge(struct fng_arena *a)
{
	static const char jwt[] = "Bearer realm=\"api\", error=\"invalid_token\"";
	struct fng_req req = { 0 };

	CHECK_STR(refuse(&req, a, NULL, FNG_EUNAUTHORIZED, NULL), "",
		"a 401 with no challenge set has no WWW-Authenticate");
	CHECK_INT(req.resp.status, 401, "401");
	CHECK_INT(req.resp.nheaders, 3, "content-type, nosniff and the CSP only: the stage's own "
		"header dropped");
	CHECK(resp_header(&req, "x-content-type-options") &&
		resp_header(&req, "content-security-policy"), "the gateway's answer says nosniff");
	CHECK_STR(req.resp.body.p, "{\"message\":\"Unauthorized\"}\n", "default body");

	CHECK_STR(refuse(&req, a, "Bearer realm=\"fngate-admin\"", FNG_EUNAUTHORIZED,
			  "the admin API needs a token"),
		"Bearer realm=\"fngate-admin\"", "the admin API's challenge, as set");
	CHECK_INT(req.resp.nheaders, 4, "content-type, nosniff, CSP and www-authenticate");
	CHECK_STR(req.resp.body.p, "{\"message\":\"the admin API needs a token\"}\n",
		"detail body");

	CHECK_STR(refuse(&req, a, jwt, FNG_EUNAUTHORIZED, NULL), jwt,
		"another stage's challenge, as set");

	/* Only a 401 challenges (RFC 7235 3.1); a 403 means the credentials were understood. */
	CHECK_STR(refuse(&req, a, "Bearer realm=\"fngate-admin\"", FNG_EFORBIDDEN, NULL), "",
		"a 403 carries no challenge");
	CHECK_INT(req.resp.status, 403, "403");
	fng__buf_finish(&req.resp.body);
}

int main(void)
{
	struct fng_arena *a = fng__arena_create();

	test_challenge(a);
	fng__arena_destroy(a);
	return fng_test_done();
}
