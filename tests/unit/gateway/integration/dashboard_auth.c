// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/integration/dashboard_auth.c: the session cookie found in Cookie
 * headers (several cookies, spaces, quotes, look-alike names, empty values), the Origin a
 * browser sends compared with the Host it sent to (scheme, port, case, "null", userinfo and
 * paths), and the session table: ids that are random and not the token, a session bound to
 * the token it was opened with, expiry, logout, the oldest giving way when all are taken, and
 * ids of the wrong length or one character off refused.
 */
#include "dashboard.h"
#include "harness.h"

#define TOKEN "admin-token-0123456789abcdef"

static struct fng_str S(const char *s)
{
	return (struct fng_str){ s, strlen(s) };
}

static bool cookie(const char *header, const char *name, const char *want)
{
	struct fng_str v;

	if (!fng__cookie_value(S(header), name, &v)) {
		return want == NULL;
	}
	return want && v.len == strlen(want) && memcmp(v.p, want, v.len) == 0;
}

static void test_cookie(void)
{
	CHECK(cookie("fngate_dashboard=abc", "fngate_dashboard", "abc"), "one cookie");
	CHECK(cookie("a=1; fngate_dashboard=abc; b=2", "fngate_dashboard", "abc"), "among others");
	CHECK(cookie("a=1;fngate_dashboard=abc", "fngate_dashboard", "abc"), "no space after ;");
	CHECK(cookie("  fngate_dashboard=abc  ", "fngate_dashboard", "abc"), "spaces around");
	CHECK(cookie("fngate_dashboard=\"abc\"", "fngate_dashboard", "abc"), "a quoted value");
	CHECK(cookie("fngate_dashboard=", "fngate_dashboard", ""), "an empty value");
	CHECK(cookie("x_fngate_dashboard=abc", "fngate_dashboard", NULL), "a longer name");
	CHECK(cookie("fngate_dashboardx=abc", "fngate_dashboard", NULL), "a name with a suffix");
	CHECK(cookie("fngate_dashboard", "fngate_dashboard", NULL), "no = at all");
	CHECK(cookie("", "fngate_dashboard", NULL), "an empty header");
	CHECK(cookie("fngate_dashboard=one; fngate_dashboard=two", "fngate_dashboard", "one"),
		"the first of two");
	CHECK(cookie("a=b=c; fngate_dashboard=d", "fngate_dashboard", "d"), "= inside a value");
}

static void test_origin(void)
{
	CHECK(fng__origin_same(S("http://127.0.0.1:9901"), S("127.0.0.1:9901"), false),
		"the same origin");
	CHECK(fng__origin_same(S("HTTP://LocalHost:9901"), S("localhost:9901"), false),
		"scheme and host are case-insensitive");
	CHECK(fng__origin_same(S("https://a.test"), S("a.test"), true), "https on TLS");
	CHECK(!fng__origin_same(S("https://127.0.0.1:9901"), S("127.0.0.1:9901"), false),
		"another scheme");
	CHECK(!fng__origin_same(S("http://127.0.0.1:9902"), S("127.0.0.1:9901"), false),
		"another port");
	CHECK(!fng__origin_same(S("http://127.0.0.1"), S("127.0.0.1:9901"), false),
		"no port against one");
	CHECK(!fng__origin_same(S("http://evil.test"), S("127.0.0.1:9901"), false),
		"another host");
	CHECK(!fng__origin_same(S("http://127.0.0.1:9901.evil.test"), S("127.0.0.1:9901"), false),
		"a longer host");
	CHECK(!fng__origin_same(S("null"), S("127.0.0.1:9901"), false), "null");
	CHECK(!fng__origin_same(S(""), S(""), false), "empty");
	CHECK(!fng__origin_same(S("http://"), S(""), false), "an empty Host");
	CHECK(!fng__origin_same(S("http://a@b"), S("a@b"), false), "userinfo in Host");
	CHECK(!fng__origin_same(S("http://a/b"), S("a/b"), false), "a path in Host");
}

static void test_sessions(void)
{
	struct fng_dash_sessions ss = { 0 };
	char a[FNG_DASH_SID_LEN + 1], b[FNG_DASH_SID_LEN + 1], first[FNG_DASH_SID_LEN + 1];
	uint64_t now = 1000, life = (uint64_t)FNG_DASH_SESSION_S * 1000;
	char off[FNG_DASH_SID_LEN + 1];

	CHECK_INT(fng__dash_session_open(&ss, TOKEN, now, a), 0, "open");
	CHECK_INT(strlen(a), FNG_DASH_SID_LEN, "an id of 43 characters");
	CHECK(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
		FNG_DASH_SID_LEN, "base64url");
	CHECK(!strstr(a, TOKEN) && strcmp(a, TOKEN) != 0, "the id is not the token");
	CHECK_INT(fng__dash_session_open(&ss, TOKEN, now, b), 0, "another");
	CHECK(strcmp(a, b) != 0, "ids differ");
	CHECK(fng__dash_session_ok(&ss, S(a), TOKEN, now + 1), "a is open");
	CHECK(fng__dash_session_ok(&ss, S(b), TOKEN, now + 1), "b is open");
	CHECK(!fng__dash_session_ok(&ss, S(a), "another-token-0123456789", now + 1),
		"not under another token (a reload that changed it)");
	memcpy(off, a, sizeof(off));
	off[FNG_DASH_SID_LEN - 1] = off[FNG_DASH_SID_LEN - 1] == 'A' ? 'B' : 'A';
	CHECK(!fng__dash_session_ok(&ss, S(off), TOKEN, now + 1), "one character off");
	CHECK(!fng__dash_session_ok(&ss, (struct fng_str){ a, FNG_DASH_SID_LEN - 1 }, TOKEN,
		now + 1), "a prefix");
	CHECK(!fng__dash_session_ok(&ss, S(""), TOKEN, now + 1), "empty");
	CHECK(!fng__dash_session_ok(&ss, S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), TOKEN,
		now + 1), "a made-up id");
	fng__dash_session_end(&ss, S(a));
	CHECK(!fng__dash_session_ok(&ss, S(a), TOKEN, now + 2), "a ended");
	CHECK(fng__dash_session_ok(&ss, S(b), TOKEN, now + 2), "b lives on");
	CHECK(fng__dash_session_ok(&ss, S(b), TOKEN, now + life - 1), "b just before its end");
	CHECK(!fng__dash_session_ok(&ss, S(b), TOKEN, now + life), "b expired");
	CHECK(!fng__dash_session_ok(&ss, S(b), TOKEN, now + 1), "an expired session is gone");

	/* All slots taken: the next login ends the oldest. */
	memset(&ss, 0, sizeof(ss));
	CHECK_INT(fng__dash_session_open(&ss, TOKEN, 100, first), 0, "the oldest");
	for (unsigned i = 1; i < FNG_DASH_SESSIONS; i++) {
		CHECK_INT(fng__dash_session_open(&ss, TOKEN, 100 + i, a), 0, "session %u", i);
	}
	CHECK(fng__dash_session_ok(&ss, S(first), TOKEN, 200), "all %d open",
		FNG_DASH_SESSIONS);
	CHECK_INT(fng__dash_session_open(&ss, TOKEN, 300, b), 0, "one more");
	CHECK(!fng__dash_session_ok(&ss, S(first), TOKEN, 301), "the oldest gave way");
	CHECK(fng__dash_session_ok(&ss, S(a), TOKEN, 301), "the newest before it is open");
	CHECK(fng__dash_session_ok(&ss, S(b), TOKEN, 301), "the new one is open");
}

int main(void)
{
	test_cookie();
	test_origin();
	test_sessions();
	return fng_test_done();
}
