// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/config/origin.c: CORS origin rules as the parser takes and refuses
 * them, and the match of Origin header values: exact origins (scheme, host case, default
 * and explicit ports), wildcard subdomains (one or more labels; not the bare domain, not a
 * look-alike), scheme wildcards, "*", IPv6 hosts and malformed headers.
 */
#include "harness.h"
#include "origin.h"

static struct fng_arena *arena;

static bool rule(const char *s, struct fng_origin_rule *r)
{
	const char *why = NULL;

	return fng__origin_rule_parse(arena, s, strlen(s), r, &why);
}

static bool match(const struct fng_origin_set *set, const char *origin)
{
	return fng__origin_match(set, origin, strlen(origin));
}

static void test_rules(void)
{
	static const char *const good[] = {
		"https://a.example", "http://localhost:8080", "https://*.example.com",
		"https://*", "HTTPS://App.Example", "http://127.0.0.1:3000", "http://[::1]:8080",
		"https://xn--bcher-kva.example", "chrome-extension://abcdef", "https://*:8443",
	};
	static const char *const bad[] = {
		"", "a.example", "https://", "https://a.example/", "https://a.example/path",
		"https://a.example:0", "https://a.example:65536", "https://a.example:08",
		"https://a.example:", "https://user@a.example", "https://a..example",
		"https://.example", "https://a.example.", "https://*example.com", "https://a.*.com",
		"https://**.example.com", "https://[::1", "https://[nothost]", "null",
		"https://a example", "1https://a.example", "https:/a.example", "*.example.com",
		"https://a.example:80x", "https://*.",
	};
	struct fng_origin_rule r;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(rule(good[i], &r), "rule %s parses", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;

		CHECK(!fng__origin_rule_parse(arena, bad[i], strlen(bad[i]), &r, &why) && why,
			"rule \"%s\" is refused (%s)", bad[i], why ? why : "-");
	}
	CHECK(rule("HTTPS://App.Example:443", &r) && strcmp(r.scheme, "https") == 0 &&
		strcmp(r.host, "app.example") == 0 && r.port == 0,
		"scheme and host are lower-cased, the default port dropped");
}

static void test_match(void)
{
	struct fng_origin_rule r[6];
	struct fng_origin_set set = { r, 0, false };

	CHECK(rule("https://app.example", &r[set.n++]), "rule");
	CHECK(rule("https://*.example.com", &r[set.n++]), "rule");
	CHECK(rule("http://localhost:8080", &r[set.n++]), "rule");
	CHECK(rule("http://[::1]:3000", &r[set.n++]), "rule");

	CHECK(match(&set, "https://app.example"), "exact");
	CHECK(match(&set, "https://APP.Example"), "host is case-insensitive");
	CHECK(match(&set, "HTTPS://app.example"), "scheme is case-insensitive");
	CHECK(match(&set, "https://app.example:443"), "explicit default port");
	CHECK(!match(&set, "https://app.example:8443"), "another port");
	CHECK(!match(&set, "http://app.example"), "another scheme");
	CHECK(!match(&set, "https://app.example.evil"), "a longer host");
	CHECK(!match(&set, "https://xapp.example"), "a prefixed host");
	CHECK(!match(&set, "https://app.example/"), "a trailing slash is not an origin");
	CHECK(!match(&set, "https://app.example, https://b.example"), "two origins");

	CHECK(match(&set, "https://a.example.com"), "wildcard: one label");
	CHECK(match(&set, "https://a.b.example.com"), "wildcard: two labels");
	CHECK(match(&set, "https://A.EXAMPLE.COM"), "wildcard: case");
	CHECK(!match(&set, "https://example.com"), "wildcard: not the bare domain");
	CHECK(!match(&set, "https://evil-example.com"), "wildcard: not a look-alike");
	CHECK(!match(&set, "https://a.example.com.evil"), "wildcard: not a suffix in the middle");
	CHECK(!match(&set, "https://.example.com"), "wildcard: not an empty label");
	CHECK(!match(&set, "http://a.example.com"), "wildcard: scheme counts");
	CHECK(!match(&set, "https://a.example.com:444"), "wildcard: port counts");

	CHECK(match(&set, "http://localhost:8080"), "explicit port");
	CHECK(!match(&set, "http://localhost"), "the port is part of the origin");
	CHECK(match(&set, "http://[::1]:3000"), "IPv6 host");
	CHECK(!match(&set, "http://[::2]:3000"), "another IPv6 host");

	CHECK(!match(&set, "null"), "the opaque origin \"null\"");
	CHECK(!match(&set, ""), "empty");
	CHECK(!match(&set, "https://app.example\r\n"), "control bytes");
	CHECK(!fng__origin_match(NULL, "https://app.example", 19), "a NULL set");

	set.n = 0;
	CHECK(rule("https://*", &r[set.n++]), "rule");
	CHECK(match(&set, "https://anything.test") && match(&set, "https://[::1]") &&
		!match(&set, "http://anything.test"), "a scheme wildcard: every host of it");

	set.n = 0;
	set.any = true;
	CHECK(match(&set, "https://anything.test") && match(&set, "null"), "\"*\": every origin");
}

int main(void)
{
	arena = fng__arena_create();
	test_rules();
	test_match();
	fng__arena_destroy(arena);
	return fng_test_done();
}
