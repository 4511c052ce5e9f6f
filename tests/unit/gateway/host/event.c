// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/host/event.c's RESULT → response (fng__host_result_decode): what a
 * worker's handler said about caching reaches req->resp (cache_ttl_s, cache_tags, arena
 * copies), only with an answer; a request is created saying nothing (-1) and the error edge
 * puts that back; a RESULT whose cache map breaks the rules is refused (the caller kills the
 * worker).
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "harness.h"
#include "host.h"
#include "request.h"
#include "server.h"
#include "stages.h"
#include "wire_rules.h"

static struct fng_server srv;
static struct fng_config cfg;
static struct fng_functions fns;
static struct fng_fn fn = { .fns = &fns, .name = "clock" };
static struct fng_gen gen = { .fn = &fn, .version = "0123456789abcdef" };
static const struct fng_req_ops ops;

static struct fng_req *new_req(void)
{
	return fng__req_new_event(&srv, &cfg, &ops, NULL, 0);
}

/* A RESULT body for r, as a worker's runtime encodes it (frame header stripped). */
static uint8_t *result_body(const struct fng_wire_result *r, size_t *len)
{
	struct fng_wire_buf b = { 0 };
	uint8_t *p;

	if (fng__wire_encode_result(&b, r)) {
		return NULL;
	}
	*len = b.len - FNG_WIRE_HEADER;
	p = malloc(*len);
	memcpy(p, b.p + FNG_WIRE_HEADER, *len);
	fng__wire_buf_finish(&b);
	return p;
}

/* The worker's reported run time of the last RESULT decoded (ns; 0: none). */
static uint64_t wall;

static int decode(struct fng_req *req, const struct fng_wire_result *r, int *rc)
{
	size_t len = 0;
	uint8_t *p = result_body(r, &len);
	int err = p ? fng__host_result_decode(req, &gen, p, len, rc, &wall) : -100;

	free(p);
	return err;
}

static void test_created_unset(void)
{
	struct fng_req *req = new_req();

	CHECK(req && req->resp.cache_ttl_s == -1 && req->resp.ncache_tags == 0 &&
			!req->resp.cache_tags,
		"a new request: the handler said nothing (-1, no tags)");
	fng__req_destroy(req);
}

static void test_cache_copied(void)
{
	static const struct fng_wire_str tags[] = { { "clock", 5 }, { "user:42", 7 } };
	struct fng_wire_result r = { .status = 200, .cache = { true, 10, tags, 2 } };
	struct fng_req *req = new_req();
	int rc = 0;

	CHECK_INT(decode(req, &r, &rc), 0, "a RESULT with cache: accepted");
	CHECK_INT(rc, FNG_STAGE_DONE, "answered");
	CHECK_INT(req->resp.cache_ttl_s, 10, "cache_ttl_s as sent");
	CHECK(req->resp.ncache_tags == 2 && strcmp(req->resp.cache_tags[0], "clock") == 0 &&
			strcmp(req->resp.cache_tags[1], "user:42") == 0,
		"cache_tags: arena copies, in order, NUL-terminated");
	/* The error edge (a later stage refusing) is not the handler's answer. */
	fng__req_error_response(req, FNG_EBAD_GATEWAY, NULL);
	CHECK(req->resp.cache_ttl_s == -1 && req->resp.ncache_tags == 0 && !req->resp.cache_tags,
		"the error edge puts it back to -1");
	fng__req_destroy(req);

	r.cache = (struct fng_wire_cache){ true, 0, NULL, 0 };
	req = new_req();
	CHECK_INT(decode(req, &r, &rc), 0, "cache TTL 0, no tags: accepted");
	CHECK(req->resp.cache_ttl_s == 0 && req->resp.ncache_tags == 0,
		"TTL 0 (do not store) kept apart from -1");
	fng__req_destroy(req);

	/* The gateway's own maximum is the cache stage's to apply: 86400 arrives as sent. */
	r.cache = (struct fng_wire_cache){ true, FNG_CACHE_TTL_MAX, tags, 1 };
	req = new_req();
	CHECK_INT(decode(req, &r, &rc), 0, "TTL 86400: accepted");
	CHECK_INT(req->resp.cache_ttl_s, FNG_CACHE_TTL_MAX, "TTL 86400 as sent");
	fng__req_destroy(req);

	r.cache.set = false;
	req = new_req();
	CHECK_INT(decode(req, &r, &rc), 0, "a RESULT without cache: accepted");
	CHECK(req->resp.cache_ttl_s == -1 && req->resp.ncache_tags == 0, "without cache: -1");
	fng__req_destroy(req);
}

static void test_not_an_answer(void)
{
	static const struct fng_wire_str tags[] = { { "x", 1 } };
	struct fng_wire_result r = { .status = 502, .failed = true };
	struct fng_req *req = new_req();
	int rc = 0;

	/* The runtime never sends cache with failed; a worker bypassing it might. */
	r.cache = (struct fng_wire_cache){ true, 60, tags, 1 };
	CHECK_INT(decode(req, &r, &rc), 0, "failed with cache: a well-formed frame");
	CHECK(rc == FNG_EBAD_GATEWAY && req->resp.cache_ttl_s == -1,
		"failed: 502 and nothing to cache");
	fng__req_destroy(req);

	/* An answer that came too late (no request waiting) is dropped whole. */
	r = (struct fng_wire_result){ .status = 200, .cache = { true, 60, tags, 1 } };
	CHECK_INT(decode(NULL, &r, &rc), 0, "no request waiting: accepted and dropped");
}

/* Bodies the SDK never writes: each is malformed output, the worker killed (-1). */
static void test_malformed(void)
{
	static const struct {
		const char *what;
		const char *tail; /* the 7th key and its value, after the six of every RESULT */
		size_t len;
	} bad[] = {
#define T(what, lit) { what, lit, sizeof(lit) - 1 }
		T("ttl 86401", "\xa5" "cache" "\x82\xa3ttl\xce\x00\x01\x51\x81\xa4tags\x90"),
		T("ttl -1", "\xa5" "cache" "\x82\xa3ttl\xff\xa4tags\x90"),
		T("ttl a string", "\xa5" "cache" "\x82\xa3ttl\xa2" "10" "\xa4tags\x90"),
		T("tags a string", "\xa5" "cache" "\x82\xa3ttl\x0a\xa4tags\xa1x"),
		T("a tag with a space", "\xa5" "cache" "\x82\xa3ttl\x0a\xa4tags\x91\xa3" "a b"),
		T("a tag with CRLF", "\xa5" "cache" "\x82\xa3ttl\x0a\xa4tags\x91\xa3" "a\r\n"),
		T("an empty tag", "\xa5" "cache" "\x82\xa3ttl\x0a\xa4tags\x91\xa0"),
		T("a tag twice", "\xa5" "cache" "\x82\xa3ttl\x0a\xa4tags\x92\xa1x\xa1x"),
		T("no tags", "\xa5" "cache" "\x81\xa3ttl\x0a"),
		T("cache nil", "\xa5" "cache" "\xc0"),
		T("tags claiming 2^32-1 items",
			"\xa5" "cache" "\x82\xa3ttl\x0a\xa4tags\xdd\xff\xff\xff\xff"),
#undef T
	};
	static const char six[] = "\x87\xaastatusCode\xcc\xc8\xa7headers\x90\xa7" "cookies\x90"
				  "\xa4" "body\xc4\x00\xa6" "failed\xc2\xa7hasBody\xc2";
	uint8_t body[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fng_req *req = new_req();
		int rc = 0;
		size_t len = sizeof(six) - 1 + bad[i].len;

		memcpy(body, six, sizeof(six) - 1);
		memcpy(body + sizeof(six) - 1, bad[i].tail, bad[i].len);
		CHECK_INT(fng__host_result_decode(req, &gen, body, len, &rc, &wall), -1,
			"malformed cache (%s): refused, the worker is killed", bad[i].what);
		CHECK(req->resp.cache_ttl_s == -1 && req->resp.nheaders == 0,
			"malformed cache (%s): nothing reached the response", bad[i].what);
		fng__req_destroy(req);
	}
	/* The same frame with a good cache map decodes: the test's bytes are right. */
	{
		static const char good[] = "\xa5" "cache" "\x82\xa3ttl\x0a\xa4tags\x91\xa5" "clock";
		struct fng_req *req = new_req();
		int rc = 0;

		memcpy(body, six, sizeof(six) - 1);
		memcpy(body + sizeof(six) - 1, good, sizeof(good) - 1);
		CHECK_INT(fng__host_result_decode(req, &gen, body, sizeof(six) + sizeof(good) - 2,
				  &rc, &wall),
			0, "the same frame with a good cache map: accepted");
		CHECK(req->resp.cache_ttl_s == 10 && req->resp.ncache_tags == 1 &&
				strcmp(req->resp.cache_tags[0], "clock") == 0,
			"and read");
		fng__req_destroy(req);
	}
}

int main(void)
{
	atomic_init(&cfg.refs, 1); /* the test's own: fng__req_destroy never frees it */
	test_created_unset();
	test_cache_copied();
	test_not_an_answer();
	test_malformed();
	return fng_test_done();
}
