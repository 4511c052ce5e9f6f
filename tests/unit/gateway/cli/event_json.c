// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/cli/event_json.c, `fngate invoke`'s translation of API Gateway events
 * and results: the sample events in tests/invoke/ (payload 2.0, payload 1.0 without its
 * "version" field, a WebSocket message; written from API Gateway's documentation of the
 * formats) become the worker's event field by field, and results come back in the shape API
 * Gateway returns for each.
 */
#include <stdlib.h>
#include <string.h>

#include "event_json.h"
#include "harness.h"

#ifndef FNG_INVOKE_SAMPLES
#error "FNG_INVOKE_SAMPLES: the directory of the sample events"
#endif

static json_t *sample(const char *name)
{
	char path[512];
	json_error_t e;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", FNG_INVOKE_SAMPLES, name);
	j = json_load_file(path, 0, &e);
	CHECK(j != NULL, "%s loads (%s)", name, j ? "" : e.text);
	return j;
}

static bool str_is(struct fng_wire_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* How many pairs of list are k=v. */
static int count(const struct fng_wire_kv *l, size_t n, const char *k, const char *v)
{
	int c = 0;

	for (size_t i = 0; i < n; i++) {
		c += str_is(l[i].k, k) && (!v || str_is(l[i].v, v));
	}
	return c;
}

static void test_v2(void)
{
	json_t *j = sample("v2.json");
	struct fng_json_event je;
	const struct fng_wire_event *ev = &je.ev;
	const char *why = "";

	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "v2: read (%s)", why);
	CHECK_INT(je.shape, FNG_SHAPE_V2, "v2: payload 2.0");
	CHECK(str_is(ev->method, "PUT") && str_is(ev->raw_path, "/prod/items/42"),
		"v2: method and path from requestContext.http and rawPath");
	CHECK(str_is(ev->route_key, "PUT /items/{id}") && str_is(ev->stage, "prod") &&
		str_is(ev->request_id, "id-v2") && str_is(ev->source_ip, "198.51.100.7"),
		"v2: route key, stage, request id, source ip");
	CHECK_INT((long)ev->nquery, 4, "v2: four query pairs, from rawQueryString");
	CHECK_INT(count(ev->query, ev->nquery, "tag", "a") + count(ev->query, ev->nquery, "tag",
		"b"), 2, "v2: a repeated parameter is two pairs");
	CHECK_INT(count(ev->query, ev->nquery, "q", "hello world"), 1, "v2: '+' is a space");
	CHECK_INT(count(ev->query, ev->nquery, "x", "+1"), 1, "v2: %%2B is a '+'");
	CHECK_INT(count(ev->headers, ev->nheaders, "content-type", "application/json"), 1,
		"v2: header names lower case");
	CHECK_INT(count(ev->headers, ev->nheaders, "accept", "text/html,application/json"), 1,
		"v2: a header's joined value stays as API Gateway passes it");
	CHECK(ev->ncookies == 2 && str_is(ev->cookies[1], "theme=dark"), "v2: cookies");
	CHECK(ev->body_len == 17 && memcmp(ev->body, "{\"name\":\"widget\"}", 17) == 0,
		"v2: a base64 body is decoded");
	CHECK_INT(count(ev->authorizer, ev->nauthorizer, "user", "ada"), 1,
		"v2: the lambda authorizer's context");
	CHECK(count(ev->path_params, ev->npath_params, "id", "42") == 1 &&
		count(ev->stage_vars, ev->nstage_vars, "color", "blue") == 1,
		"v2: path parameters and stage variables");
	fng__json_event_finish(&je);

	/* Without rawQueryString, the values API Gateway joined with commas come apart. */
	json_object_del(j, "rawQueryString");
	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "v2 without rawQueryString: read");
	CHECK_INT(count(je.ev.query, je.ev.nquery, "tag", NULL), 2,
		"v2 without rawQueryString: tag=a,b is two pairs");
	fng__json_event_finish(&je);

	json_object_set_new(j, "body", json_string("not*base64!"));
	CHECK_INT(fng__json_event_from(j, &je, &why), -1, "v2: a body that is not base64");
	CHECK(strstr(why, "base64") != NULL, "... is refused, saying why (%s)", why);
	fng__json_event_finish(&je);
	json_decref(j);
}

static void test_v1(void)
{
	json_t *j = sample("v1.json");
	struct fng_json_event je;
	const struct fng_wire_event *ev = &je.ev;
	const char *why = "";

	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "v1: read (%s)", why);
	CHECK_INT(je.shape, FNG_SHAPE_V1, "v1: payload 1.0 without a version field (httpMethod)");
	CHECK(str_is(ev->method, "PUT") && str_is(ev->path, "/items/42"),
		"v1: httpMethod and path, not GET and /");
	CHECK(str_is(ev->route_key, "PUT /items/{id}"), "v1: route key from resource");
	CHECK(str_is(ev->source_ip, "203.0.113.9") && str_is(ev->user_agent, "curl/8.5.0"),
		"v1: source ip and user agent from requestContext.identity");
	CHECK(count(ev->headers, ev->nheaders, "x-multi", "first") == 1 &&
		count(ev->headers, ev->nheaders, "x-multi", "second") == 1,
		"v1: multiValueHeaders give every value");
	CHECK_INT(count(ev->query, ev->nquery, "tag", NULL), 2,
		"v1: multiValueQueryStringParameters give every value");
	CHECK(strstr(ev->raw_query.p, "tag=a") && strstr(ev->raw_query.p, "tag=b") &&
		strstr(ev->raw_query.p, "q=hello%20world"),
		"v1: the raw query rebuilt, percent-encoded (%.*s)", (int)ev->raw_query.len,
		ev->raw_query.p);
	CHECK(ev->body_len == 17, "v1: a text body as given");
	CHECK_INT(count(ev->authorizer, ev->nauthorizer, "principalId", "ada"), 1,
		"v1: the authorizer's context");
	fng__json_event_finish(&je);

	json_object_set_new(j, "version", json_string("1.0"));
	json_object_del(j, "multiValueHeaders");
	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "v1 with version 1.0: read");
	CHECK_INT(je.shape, FNG_SHAPE_V1, "... payload 1.0");
	CHECK_INT(count(je.ev.headers, je.ev.nheaders, "x-multi", NULL), 1,
		"... without multiValueHeaders, headers give one value each");
	fng__json_event_finish(&je);
	json_decref(j);
}

static void test_websocket(void)
{
	json_t *j = sample("websocket.json");
	struct fng_json_event je;
	const char *why = "";

	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "ws: read (%s)", why);
	CHECK_INT(je.shape, FNG_SHAPE_WS, "ws: a WebSocket event");
	CHECK(str_is(je.ev.event_type, "MESSAGE") && str_is(je.ev.connection_id, "conn-abc=") &&
		str_is(je.ev.message_id, "msg-1") && str_is(je.ev.route_key, "sendmessage"),
		"ws: event type, connection id, message id, route key");
	CHECK(str_is(je.ev.source_ip, "192.0.2.44"), "ws: source ip");
	fng__json_event_finish(&je);
	json_decref(j);

	j = json_integer(1);
	CHECK_INT(fng__json_event_from(j, &je, &why), -1, "not an object");
	fng__json_event_finish(&je);
	json_decref(j);
}

static const char *jget(json_t *o, const char *path)
{
	json_t *v = json_object_get(o, path);

	return json_is_string(v) ? json_string_value(v) : "";
}

static void test_response(void)
{
	const struct fng_wire_kv h[] = {
		{ { "x-a", 3 }, { "1", 1 } },
		{ { "x-a", 3 }, { "2", 1 } },
		{ { "content-type", 12 }, { "text/plain", 10 } },
	};
	const struct fng_wire_str c[] = { { "a=1", 3 }, { "b=2", 3 } };
	const unsigned char bin[] = { 0xff, 0x00, 0x80 };
	struct fng_wire_result r = { .status = 201, .headers = h, .nheaders = 3, .cookies = c,
		.ncookies = 2, .body = "ok", .body_len = 2 };
	json_t *o = fng__json_response(&r, FNG_SHAPE_V2), *m;

	CHECK_INT(json_integer_value(json_object_get(o, "statusCode")), 201, "2.0: status");
	CHECK_STR(jget(json_object_get(o, "headers"), "x-a"), "1,2",
		"2.0: a repeated header joined with commas");
	CHECK_INT((long)json_array_size(json_object_get(o, "cookies")), 2, "2.0: cookies apart");
	CHECK(json_is_false(json_object_get(o, "isBase64Encoded")) &&
		!strcmp(jget(o, "body"), "ok"), "2.0: a text body as text");
	json_decref(o);

	o = fng__json_response(&r, FNG_SHAPE_V1);
	m = json_object_get(o, "multiValueHeaders");
	CHECK_INT((long)json_array_size(json_object_get(m, "x-a")), 2,
		"1.0: every value in multiValueHeaders");
	CHECK_STR(jget(json_object_get(o, "headers"), "x-a"), "2", "1.0: the last in headers");
	CHECK_INT((long)json_array_size(json_object_get(m, "Set-Cookie")), 2,
		"1.0: cookies as Set-Cookie values");
	json_decref(o);

	r.body = bin;
	r.body_len = sizeof(bin);
	o = fng__json_response(&r, FNG_SHAPE_V2);
	CHECK(json_is_true(json_object_get(o, "isBase64Encoded")), "binary: isBase64Encoded");
	CHECK_STR(jget(o, "body"), "/wCA", "binary: the body in base64");
	json_decref(o);

	r.status = 101;
	o = fng__json_response(&r, FNG_SHAPE_V2);
	CHECK_INT(json_integer_value(json_object_get(o, "statusCode")), 502,
		"a status that is not an HTTP answer: 502, as the gateway answers");
	CHECK(strstr(jget(o, "error"), "101") != NULL, "... saying which (%s)", jget(o, "error"));
	json_decref(o);

	r.status = 200;
	r.failed = true;
	o = fng__json_response(&r, FNG_SHAPE_V2);
	CHECK_INT(json_integer_value(json_object_get(o, "statusCode")), 502, "a failed handler: 502");
	json_decref(o);
}

/* requestContext.authorizer of payload 2.0 (lambda and jwt) and 1.0 (the object itself). */
static void test_authorizer_context(void)
{
	static const char *const v2 = "{\"version\":\"2.0\",\"routeKey\":\"GET /x\","
		"\"rawPath\":\"/x\",\"requestContext\":{\"authorizer\":{\"principalId\":\"ada\","
		"\"lambda\":{\"user\":\"ada\",\"n\":42.5,\"count\":7,\"admin\":true,"
		"\"off\":false,\"nested\":{\"a\":1},\"list\":[1],\"none\":null},"
		"\"jwt\":{\"claims\":{\"sub\":\"u-1\",\"iat\":1700000000,\"email_verified\":true},"
		"\"scopes\":[\"read\"]}}}}";
	static const char *const v1 = "{\"httpMethod\":\"GET\",\"path\":\"/x\","
		"\"requestContext\":{\"authorizer\":{\"principalId\":\"bob\",\"n\":1e300,"
		"\"ok\":true,\"obj\":{}}}}";
	static const struct {
		const char *k, *v;
	} want2[] = { { "principalId", "ada" }, { "user", "ada" }, { "n", "42.5" },
		{ "count", "7" }, { "admin", "true" }, { "off", "false" }, { "claims.sub", "u-1" },
		{ "claims.iat", "1700000000" }, { "claims.email_verified", "true" } };
	struct fng_json_event je;
	const struct fng_wire_event *ev = &je.ev;
	const char *why = "";
	json_t *j = json_loads(v2, 0, NULL);

	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "authorizer v2: read (%s)", why);
	for (size_t i = 0; i < sizeof(want2) / sizeof(want2[0]); i++) {
		CHECK_INT(count(ev->authorizer, ev->nauthorizer, want2[i].k, want2[i].v), 1,
			"authorizer v2: %s = %s", want2[i].k, want2[i].v);
	}
	CHECK_INT((long)ev->nauthorizer, 9,
		"authorizer v2: objects, arrays, null and jwt.scopes left out");
	fng__json_event_finish(&je);
	json_decref(j);

	j = json_loads(v1, 0, NULL);
	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "authorizer v1: read (%s)", why);
	CHECK(count(ev->authorizer, ev->nauthorizer, "principalId", "bob") == 1 &&
			count(ev->authorizer, ev->nauthorizer, "n", "1e+300") == 1 &&
			count(ev->authorizer, ev->nauthorizer, "ok", "true") == 1 &&
			ev->nauthorizer == 3,
		"authorizer v1: the object's scalars, as text");
	fng__json_event_finish(&je);
	json_decref(j);
}

/* A Lambda authorizer's events (TOKEN; REQUEST in 2.0), and the answer printed back. */
static void test_authorizer_event(void)
{
	static const char *const token = "{\"type\":\"TOKEN\",\"authorizationToken\":"
		"\"Bearer abc\",\"methodArn\":\"arn:aws:execute-api:r:1:api/prod/GET/x\"}";
	static const char *const request = "{\"version\":\"2.0\",\"type\":\"REQUEST\","
		"\"routeArn\":\"arn:x\",\"identitySource\":[\"k1\",\"v2\"],\"routeKey\":"
		"\"GET /x\",\"rawPath\":\"/x\",\"headers\":{\"x-key\":\"k1\"}}";
	static const struct fng_wire_ctxv ctx[] = {
		{ { "user", 4 }, FNG_WIRE_CTX_STR, { "ada", 3 }, 0, false },
		{ { "n", 1 }, FNG_WIRE_CTX_NUM, { 0 }, 42, false },
		{ { "x", 1 }, FNG_WIRE_CTX_NUM, { 0 }, 2.5, false },
		{ { "ok", 2 }, FNG_WIRE_CTX_BOOL, { 0 }, 0, true },
	};
	struct fng_wire_result r = { .status = 200 };
	struct fng_json_event je;
	const struct fng_wire_event *ev = &je.ev;
	const char *why = "";
	json_t *j = json_loads(token, 0, NULL), *o;
	char *text;

	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "TOKEN event: read (%s)", why);
	CHECK_INT(je.shape, FNG_SHAPE_AUTHORIZER, "TOKEN event: an authorizer's");
	CHECK(str_is(ev->event_type, "AUTHORIZER") && str_is(ev->authz_type, "TOKEN") &&
			str_is(ev->authorization_token, "Bearer abc") && ev->nidentity_source == 1 &&
			str_is(ev->identity_source[0], "Bearer abc") &&
			str_is(ev->route_arn, "arn:aws:execute-api:r:1:api/prod/GET/x"),
		"TOKEN event: type, token, the token as its identity, methodArn");
	fng__json_event_finish(&je);
	json_decref(j);

	j = json_loads(request, 0, NULL);
	CHECK_INT(fng__json_event_from(j, &je, &why), 0, "REQUEST event: read (%s)", why);
	CHECK(je.shape == FNG_SHAPE_AUTHORIZER && str_is(ev->authz_type, "REQUEST") &&
			str_is(ev->authorization_token, "") && ev->nidentity_source == 2 &&
			str_is(ev->identity_source[1], "v2") && str_is(ev->route_arn, "arn:x") &&
			str_is(ev->route_key, "GET /x") &&
			count(ev->headers, ev->nheaders, "x-key", "k1") == 1,
		"REQUEST 2.0 event: identitySource, routeArn, and the request's fields");
	fng__json_event_finish(&je);
	json_decref(j);

	CHECK(fng__json_authorizer_answer(&r) == NULL, "no decision: no answer");
	r.authz = (struct fng_wire_authz){ FNG_WIRE_AUTHZ_ALLOW, { "ada", 3 }, { "k", 1 }, ctx, 4 };
	o = fng__json_authorizer_answer(&r);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	CHECK_STR(text ? text : "(null)", "{\"isAuthorized\":true,\"principalId\":\"ada\","
		"\"context\":{\"user\":\"ada\",\"n\":42,\"x\":2.5,\"ok\":true},"
		"\"usageIdentifierKey\":\"k\"}", "the answer, typed");
	free(text);
	json_decref(o);
	r.failed = true;
	CHECK(fng__json_authorizer_answer(&r) == NULL, "failed: no answer");
}

/* The raw query rebuilt from pairs: RFC 3986 unreserved bytes as they are, every other one
 * percent-encoded, a NUL byte too. */
static void test_raw_query(void)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_kvlist l = { 0 };
	struct fng_wire_str raw;

	CHECK_INT(fng__kvlist_add(a, &l, (struct fng_wire_str){ "a-b._~ c", 8 },
			  (struct fng_wire_str){ "x\0y&=", 5 }), 0, "raw query: a pair");
	raw = fng__kvlist_raw_query(a, &l);
	CHECK(str_is(raw, "a-b._~%20c=x%00y%26%3D"), "raw query: %.*s", (int)raw.len, raw.p);
	fng__arena_destroy(a);
}

int main(void)
{
	test_raw_query();
	test_v2();
	test_v1();
	test_websocket();
	test_authorizer_context();
	test_authorizer_event();
	test_response();
	return fng_test_done();
}
