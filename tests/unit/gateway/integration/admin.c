// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/integration/admin.c, the admin API, without sockets: requests go
 * through a loopback connection that routes them as the admin listener's do
 * (fng__admin_pre_route), so the whole path runs (parser, stage table, error edge). Checked:
 * the token rules (401 with the Bearer challenge, 403 without it), the routing of its paths,
 * 404 for the others and 405 with the Allow each path has, the checks on a connection's close
 * code and reason, and the topics. A live WebSocket connection's side is in
 * tests/unit/gateway/ws/ws_conn.c.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../loopback_test.h"
#include "admin.h"
#include "topic.h"

#define TOKEN "admin-token-0123456789"

static const char config[] =
	"server: { listen: ['127.0.0.1:0'] }\n"
	"access_log: { path: 'off' }\n"
	"admin: { listen: '127.0.0.1:0', token: " TOKEN " }\n"
	"apis:\n"
	"  a:\n"
	"    stages: { dev: {} }\n"
	"    routes:\n"
	"      'GET /x': { integration: { type: mock, body: x } }\n";

static uv_loop_t loop;
static struct fng_server srv;
static char answer[8192];

/*
 * One request on a new admin connection: method and target, the Authorization header's
 * value (NULL: none) and a body; the answer is left in answer.
 */
static const char *ask(const char *method, const char *target, const char *auth,
	const char *body)
{
	struct fng_loopback *lb = fng__loopback_create(&srv);
	char head[1024];

	lb->conn.pre_route = fng__admin_pre_route;
	snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: admin\r\n%s%s%sContent-Length: %zu"
		"\r\n\r\n%s", method, target, auth ? "Authorization: " : "", auth ? auth : "",
		auth ? "\r\n" : "", strlen(body), body);
	lb_test_feed(lb, head);
	uv_run(&loop, UV_RUN_NOWAIT);
	snprintf(answer, sizeof(answer), "%s", lb_test_out(lb));
	fng__loopback_destroy(lb);
	return answer;
}

static const char *with_token(const char *method, const char *target)
{
	return ask(method, target, "Bearer " TOKEN, "");
}

static int status(const char *a)
{
	return strncmp(a, "HTTP/1.1 ", 9) == 0 ? atoi(a + 9) : -1;
}

/* The value of header name in answer a, up to its CRLF, or "" if it has none. */
static const char *header(const char *a, const char *name)
{
	static char v[256];
	size_t n = strlen(name);

	v[0] = '\0';
	for (const char *p = strstr(a, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			const char *s = p + 3 + n + (p[3 + n] == ' ');

			snprintf(v, sizeof(v), "%.*s", (int)strcspn(s, "\r"), s);
			break;
		}
	}
	return v;
}

static const char *body(const char *a)
{
	const char *b = strstr(a, "\r\n\r\n");

	return b ? b + 4 : "";
}

static void test_token(void)
{
	const char *a = ask("GET", "/@connections", NULL, "");

	CHECK_INT(status(a), 401, "no Authorization: 401");
	CHECK_STR(header(a, "www-authenticate"), "Bearer realm=\"fngate-admin\"",
		"... with the admin API's challenge");
	CHECK(strstr(body(a), "{\"message\":\"") == body(a), "... and a JSON message");
	a = ask("GET", "/@connections", "Basic YWRtaW46YWRtaW4=", "");
	CHECK_INT(status(a), 401, "another scheme: 401");
	CHECK_STR(header(a, "www-authenticate"), "Bearer realm=\"fngate-admin\"",
		"... with the challenge");
	a = ask("GET", "/@connections", "Bearer", "");
	CHECK_INT(status(a), 401, "Bearer without a token: 401");
	a = ask("GET", "/@connections", "Bearer admin-token-012345678", "");
	CHECK_INT(status(a), 403, "a token one byte short: 403");
	CHECK_STR(header(a, "www-authenticate"), "", "... without a challenge");
	CHECK(strstr(body(a), "wrong admin token") != NULL, "... saying why");
	a = ask("GET", "/@connections", "Bearer " TOKEN "0", "");
	CHECK_INT(status(a), 403, "a token one byte long: 403");
	a = ask("GET", "/@connections", "bearer " TOKEN, "");
	CHECK_INT(status(a), 200, "the scheme in any case, the right token: 200");
	a = ask("GET", "/nowhere", NULL, "");
	CHECK_INT(status(a), 401, "an unknown path without a token: 401, not 404");
}

static void test_routes(void)
{
	static const struct {
		const char *method, *target, *allow;
	} not_allowed[] = {
		{ "POST", "/@connections", "GET" },
		{ "PUT", "/@connections/AAAAbbbbCCCCdddd", "GET, POST, DELETE" },
		{ "PUT", "/@topics/t", "GET, POST" },
		{ "PUT", "/@keys", "GET, POST" },
	};
	const char *a = with_token("GET", "/@connections");

	CHECK_INT(status(a), 200, "GET /@connections: 200");
	CHECK_STR(header(a, "content-type"), "application/json", "... JSON");
	CHECK_STR(body(a), "{\"connections\":[],\"count\":0}\n", "... no connection open");
	CHECK_INT(status(with_token("GET", "/@connections/")), 200, "GET /@connections/: 200");
	CHECK_INT(status(with_token("GET", "/@connections?topic=t")), 200,
		"GET /@connections?topic=t: 200");

	for (size_t i = 0; i < sizeof(not_allowed) / sizeof(not_allowed[0]); i++) {
		a = with_token(not_allowed[i].method, not_allowed[i].target);
		CHECK_INT(status(a), 405, "%s %s: 405", not_allowed[i].method,
			not_allowed[i].target);
		CHECK_STR(header(a, "allow"), not_allowed[i].allow, "... Allow: %s",
			not_allowed[i].allow);
	}

	CHECK_INT(status(with_token("GET", "/@connections/AAAAbbbbCCCCdddd")), 410,
		"GET of a connection that is not open: 410");
	CHECK_INT(status(with_token("POST", "/@connections/AAAAbbbbCCCCdddd")), 410,
		"POST to it: 410");
	CHECK_INT(status(with_token("DELETE", "/@connections/AAAAbbbbCCCCdddd")), 410,
		"DELETE of it: 410");
	CHECK_INT(status(with_token("GET", "/@connections/a/b")), 404,
		"/@connections/{id}/more: 404");
	CHECK_INT(status(with_token("GET", "/@keys/nope")), 404, "/@keys/{bad id}: 404");
	CHECK_INT(status(with_token("GET", "/@keys/x/y")), 404, "/@keys/{id}/other: 404");
	a = with_token("GET", "/@nowhere");
	CHECK_INT(status(a), 404, "an unknown admin path: 404");
	CHECK(strstr(body(a), "admin paths: ") != NULL, "... listing the paths");
	CHECK_INT(status(with_token("GET", "/@topics")), 404, "/@topics without a name: 404");
	CHECK_INT(status(with_token("GET", "/dev/x")), 404,
		"an API's path on the admin listener: 404, not the API's answer");
}

static void test_close_rules(void)
{
	static const char *const bad[] = { "1005", "999", "1004", "1015", "2999", "5000" };
	char target[256];
	const char *a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(target, sizeof(target), "/@connections/AAAAbbbbCCCCdddd?code=%s", bad[i]);
		a = with_token("DELETE", target);
		CHECK_INT(status(a), 400, "DELETE with code %s: 400", bad[i]);
		CHECK(strstr(body(a), "1000-1003, 1007-1014 or 3000-4999") != NULL,
			"... naming the codes that may travel");
	}
	CHECK_INT(status(with_token("DELETE", "/@connections/AAAAbbbbCCCCdddd?code=4000")), 410,
		"code 4000 passes the check (the connection is gone: 410)");
	snprintf(target, sizeof(target), "/@connections/AAAAbbbbCCCCdddd?reason=%0124d", 0);
	a = with_token("DELETE", target);
	CHECK_INT(status(a), 400, "a reason of 124 bytes: 400");
	CHECK(strstr(body(a), "123 bytes") != NULL, "... saying the limit");
	snprintf(target, sizeof(target), "/@connections/AAAAbbbbCCCCdddd?reason=%0123d", 0);
	CHECK_INT(status(with_token("DELETE", target)), 410, "123 bytes pass the check");
}

static void test_topics(void)
{
	const char *a = ask("POST", "/@topics/news", "Bearer " TOKEN, "hello");

	CHECK_INT(status(a), 200, "POST /@topics/news: 200");
	CHECK_STR(body(a), "{\"topic\":\"news\",\"seq\":1,\"recipients\":0}\n",
		"... its sequence number and no recipient");
	CHECK_INT(fng__topic_last_seq(&srv, "news", 4), 1, "the loop's topic has it");
	a = with_token("GET", "/@topics/news");
	CHECK_INT(status(a), 200, "GET /@topics/news: 200");
	CHECK_STR(body(a), "{\"topic\":\"news\",\"seq\":1}\n", "... the last sequence number");
	a = with_token("GET", "/@topics/a%20b");
	CHECK_INT(status(a), 400, "a topic name outside the rule: 400");
	CHECK(strstr(body(a), "a topic name is") != NULL, "... with the rule");
}

int main(void)
{
	if (!lb_test_server(&loop, &srv, config)) {
		return 1;
	}
	test_token();
	test_routes();
	test_close_rules();
	test_topics();
	CHECK_INT(srv.nconns, 0, "every connection released");
	fng__server_finish(&srv);
	uv_loop_close(&loop);
	fng__arena_cache_drain();
	return fng_test_done();
}
