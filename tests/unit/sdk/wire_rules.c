// SPDX-License-Identifier: MIT
/*
 * Unit tests for sdk/wire_rules.h, the rules the SDK and the gateway share, checked for every
 * byte and every close code against the RFCs' own wording rather than against the code:
 * RFC 9110 tchar and token (field names), field-value bytes (no CTL but HTAB, no DEL,
 * obs-text allowed) and RFC 6455 close codes (7.4.1 and 7.4.2, with IANA's 1012-1014).
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "wire_rules.h"

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 * "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static bool rfc_tchar(int c)
{
	static const char specials[] = "!#$%&'*+-.^_`|~";

	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c != 0 && memchr(specials, c, sizeof(specials) - 1) != NULL);
}

/* RFC 9110 5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value. */
static bool rfc_field_byte(int c)
{
	return (c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t';
}

static void test_tchar(void)
{
	int bad = 0, n = 0;

	for (int c = 0; c < 256; c++) {
		if (fng__is_tchar((unsigned char)c) != rfc_tchar(c)) {
			printf("# tchar 0x%02x: got %d\n", c, fng__is_tchar((unsigned char)c));
			bad++;
		}
		n += rfc_tchar(c);
	}
	CHECK_INT(bad, 0, "tchar: all 256 bytes as RFC 9110 says");
	CHECK_INT(n, 77, "tchar: 77 of them (62 alphanumerics, 15 specials)");
	CHECK(fng__is_token("Content-Type", 12), "token: Content-Type");
	CHECK(fng__is_token("x-a!#$%&'*+-.^_`|~9", 19), "token: every special");
	CHECK(!fng__is_token("", 0), "token: empty is not one");
	CHECK(!fng__is_token("a b", 3), "token: space");
	CHECK(!fng__is_token("a:b", 3), "token: colon");
	CHECK(!fng__is_token("a\0b", 3), "token: NUL");
	CHECK(!fng__is_token("caf\xc3\xa9", 5), "token: non-ASCII");
	CHECK(!fng__is_token("(x)", 3), "token: a delimiter");
	CHECK(!fng__is_token("a\"", 2), "token: DQUOTE");
}

static void test_field_value(void)
{
	int bad = 0;

	for (int c = 0; c < 256; c++) {
		char s[3] = { 'a', (char)c, 'b' };

		if (fng__is_field_byte((unsigned char)c) != rfc_field_byte(c) ||
			fng__is_field_value(s, 3) != rfc_field_byte(c)) {
			printf("# field byte 0x%02x: got %d\n", c, fng__is_field_byte((unsigned char)c));
			bad++;
		}
	}
	CHECK_INT(bad, 0, "field value: all 256 bytes as RFC 9110 says (obs-text allowed)");
	CHECK(fng__is_field_value("", 0), "field value: empty is allowed");
	CHECK(fng__is_field_value("text/html; charset=utf-8", 24), "field value: a usual one");
	CHECK(fng__is_field_value("a\tb", 3), "field value: HTAB");
	CHECK(fng__is_field_value(" padded ", 8), "field value: outer spaces not refused");
	CHECK(!fng__is_field_value("a\r\nX-Injected: 1", 17), "field value: CRLF (splitting)");
	CHECK(!fng__is_field_value("a\nb", 3), "field value: bare LF");
	CHECK(!fng__is_field_value("a\rb", 3), "field value: bare CR");
	CHECK(!fng__is_field_value("a\0b", 3), "field value: NUL");
	CHECK(!fng__is_field_value("a\x7f", 2), "field value: DEL");
	CHECK(fng__is_field_value("\x80\xff", 2), "field value: obs-text");
}

/* RFC 6455 7.4.1 and 7.4.2, IANA's registry: may this code travel in a close frame? */
static bool rfc_close_code(uint32_t c)
{
	if (c <= 999) {
		return false; /* 0-999: not used */
	}
	if (c <= 2999) {
		/* Defined by the RFC (1000-1003, 1007-1011) or registered since (1012-1014);
		 * 1004 reserved, 1005/1006/1015 must not be set in a close frame, the rest of
		 * 1000-2999 reserved for future definitions. */
		return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) ||
		       (c >= 1012 && c <= 1014);
	}
	return c <= 4999; /* 3000-3999 libraries, 4000-4999 private use */
}

static void test_close_codes(void)
{
	static const uint32_t never[] = { 1004, 1005, 1006, 1015 };
	int bad = 0, n = 0;

	for (uint32_t c = 0; c <= 5000; c++) {
		if (fng__ws_close_code_ok(c) != rfc_close_code(c)) {
			printf("# close code %u: got %d\n", c, fng__ws_close_code_ok(c));
			bad++;
		}
		n += fng__ws_close_code_ok(c);
	}
	CHECK_INT(bad, 0, "close codes 0-5000 as RFC 6455 and IANA say");
	CHECK_INT(n, 4 + 8 + 2000, "close codes: 2012 valid");
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		CHECK(!fng__ws_close_code_ok(never[i]), "close code %u never on the wire", never[i]);
	}
	CHECK(fng__ws_close_code_ok(1000) && fng__ws_close_code_ok(1001) &&
		fng__ws_close_code_ok(1008) && fng__ws_close_code_ok(1011) &&
		fng__ws_close_code_ok(3000) && fng__ws_close_code_ok(4999),
		"close codes a server usually sends");
	CHECK(!fng__ws_close_code_ok(65535) && !fng__ws_close_code_ok(UINT32_MAX) &&
		!fng__ws_close_code_ok(5000) && !fng__ws_close_code_ok(2999),
		"close codes past the ranges");
}

/* RFC 9110 15: a final status is 200-599; 1xx are interim, the rest not defined. */
static void test_answer_status(void)
{
	static const long no[] = { 100, 101, 103, 199, 600, 0, -1, -200, 999, 65536 + 200 };
	static const long yes[] = { 200, 204, 301, 404, 418, 599 };

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		CHECK(!fng__is_answer_status(no[i]), "answer status: %ld is not one", no[i]);
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		CHECK(fng__is_answer_status(yes[i]), "answer status: %ld is one", yes[i]);
	}
}

/* RFC 9110 7.6.1 (Connection and the hop-by-hop fields), RFC 9112 6 (framing). */
static void test_reserved_header(void)
{
	static const char *const yes[] = { "content-length", "Transfer-Encoding", "CONNECTION",
		"upgrade", "Keep-Alive", "te", "TE", "trailer", "proxy-connection",
		"Proxy-Authorization", "proxy-", "proxy-a-name-much-longer-than-the-buffer-x",
		"date", "Server", "x-request-id", "X-Fngate-Function-Version" };
	static const char *const no[] = { "content-type", "x-content-length", "t", "tes",
		"trailers", "proxy", "proxyx", "upgrade-insecure-requests", "connection-x",
		"a-name-much-longer-than-the-buffer-is-not-reserved", "" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		CHECK(fng__is_reserved_header(yes[i], strlen(yes[i])), "reserved: %s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		CHECK(!fng__is_reserved_header(no[i], strlen(no[i])), "not reserved: \"%s\"",
			no[i]);
	}
	/* Only n bytes are read: a prefix of a reserved name is not one. */
	CHECK(!fng__is_reserved_header("connection", 4), "reserved: n bounds the name");
}

/*
 * Cache tags and topic names, byte by byte against their classes as docs/protocol.md words
 * them: tags [A-Za-z0-9._:/-], topics the same and '~'; 1-128 bytes each.
 */
static void test_names(void)
{
	static const char tag_bytes[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789._:/-";
	char name[FNG_CACHE_TAG_MAX + 1];
	int tag_wrong = 0, topic_wrong = 0;

	for (int c = 0; c < 256; c++) {
		char b = (char)c;
		bool tag = c != 0 && strchr(tag_bytes, c) != NULL;

		tag_wrong += fng__cache_tag_ok(&b, 1) != tag;
		topic_wrong += fng__topic_name_ok(&b, 1) != (tag || c == '~');
	}
	CHECK_INT(tag_wrong, 0, "cache tag: exactly [A-Za-z0-9._:/-], every byte tried");
	CHECK_INT(topic_wrong, 0, "topic name: exactly [A-Za-z0-9_.~:/-], every byte tried");
	memset(name, 'a', sizeof(name));
	CHECK(fng__cache_tag_ok(name, FNG_CACHE_TAG_MAX), "cache tag: 128 bytes");
	CHECK(!fng__cache_tag_ok(name, FNG_CACHE_TAG_MAX + 1), "cache tag: not 129");
	CHECK(!fng__cache_tag_ok(name, 0), "cache tag: not empty");
	CHECK(fng__cache_tag_ok("user:42", 7) && fng__cache_tag_ok("a/b.c_d-e", 9),
		"cache tag: user:42, a/b.c_d-e");
	CHECK(!fng__cache_tag_ok("a,b", 3) && !fng__cache_tag_ok("a b", 3) &&
			!fng__cache_tag_ok("a\0b", 3) && !fng__cache_tag_ok("caf\xc3\xa9", 5),
		"cache tag: no comma, space, NUL or UTF-8");
	CHECK(fng__topic_name_ok(name, FNG_TOPIC_NAME_MAX) &&
			!fng__topic_name_ok(name, FNG_TOPIC_NAME_MAX + 1),
		"topic name: 128 bytes, not 129");
}

int main(void)
{
	test_tchar();
	test_field_value();
	test_close_codes();
	test_answer_status();
	test_reserved_header();
	test_names();
	return fng_test_done();
}
