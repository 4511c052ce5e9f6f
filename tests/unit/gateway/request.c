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

static const char *body(struct fng_req *req)
{
	fng__buf_append(&req->resp.body, "", 1);
	req->resp.body.len--;
	return req->resp.body.p;
}

static void req_init(struct fng_req *req, struct fng_arena *a)
{
	memset(req, 0, sizeof(*req));
	req->arena = a;
}

static void test_challenge(struct fng_arena *a)
{
	struct fng_req req;
	const struct fng_header *h;

	req_init(&req, a);
	fng__req_error_response(&req, FNG_EUNAUTHORIZED, NULL);
	CHECK_INT(req.resp.status, 401, "401");
	CHECK(resp_header(&req, "www-authenticate") == NULL, "no challenge: no WWW-Authenticate");
	CHECK_INT(req.resp.nheaders, 1, "content-type only");
	CHECK_STR(body(&req), "{\"message\":\"Unauthorized\"}\n", "default body");
	fng__buf_finish(&req.resp.body);

	req_init(&req, a);
	req.challenge = "Bearer realm=\"fngate-admin\"";
	fng__resp_header(&req, "x-early", 7, "1", 1);
	fng__req_error_response(&req, FNG_EUNAUTHORIZED, "the admin API needs a token");
	h = resp_header(&req, "www-authenticate");
	CHECK(h && fng__str_eq(h->value, "Bearer realm=\"fngate-admin\"", 27),
		"the stage's challenge, as set");
	CHECK(resp_header(&req, "x-early") == NULL, "earlier headers dropped");
	CHECK_INT(req.resp.nheaders, 2, "content-type and www-authenticate");
	CHECK_STR(body(&req), "{\"message\":\"the admin API needs a token\"}\n", "detail body");
	fng__buf_finish(&req.resp.body);

	req_init(&req, a);
	req.challenge = "Bearer realm=\"api\", error=\"invalid_token\"";
	fng__req_error_response(&req, FNG_EUNAUTHORIZED, NULL);
	h = resp_header(&req, "www-authenticate");
	CHECK(h && fng__str_eq(h->value, "Bearer realm=\"api\", error=\"invalid_token\"",
			strlen("Bearer realm=\"api\", error=\"invalid_token\"")),
		"another stage's challenge, as set");
	fng__buf_finish(&req.resp.body);

	/* Only a 401 challenges (RFC 7235 3.1); a 403 means the credentials were understood. */
	req_init(&req, a);
	req.challenge = "Bearer realm=\"fngate-admin\"";
	fng__req_error_response(&req, FNG_EFORBIDDEN, NULL);
	CHECK_INT(req.resp.status, 403, "403");
	CHECK(resp_header(&req, "www-authenticate") == NULL, "a 403 carries no challenge");
	fng__buf_finish(&req.resp.body);
}

int main(void)
{
	struct fng_arena *a = fng__arena_create();

	test_challenge(a);
	fng__arena_destroy(a);
	return fng_test_done();
}
