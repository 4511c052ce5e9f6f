/* SPDX-License-Identifier: MIT */
#ifndef FNG_SDK_WIRE_RULES_H
#define FNG_SDK_WIRE_RULES_H

/*
 * What a value must be to be valid HTTP or WebSocket, defined once for both sides: the SDK
 * checks what a handler asks for so that the call fails at once (-1), and the gateway checks
 * the same things with the same definitions, because a worker is not trusted to have used the
 * SDK (and because the gateway's own parsers apply the same classes to what clients send).
 * wire_limits.h says how much may cross the wire; this header says what. Static inline, so
 * that libfngate, the worker runtime and the gateway each get a copy without exporting
 * anything. Internal, not installed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * RFC 9110 tchar: "!#$%&'*+-.^_`|~" / DIGIT / ALPHA, what methods and field names are made
 * of. A bitmap (bit c % 32 of word c / 32): one load on the pre-validator's per-byte path.
 */
static inline bool fng__is_tchar(unsigned char c)
{
	static const uint32_t set[8] = {
		0x00000000, /* 0x00-0x1f: controls */
		0x03ff6cfa, /* 0x20-0x3f: ! # $ % & ' * + - . 0-9 */
		0xc7fffffe, /* 0x40-0x5f: A-Z ^ _ */
		0x57ffffff, /* 0x60-0x7f: ` a-z | ~ */
	};

	return set[c >> 5] >> (c & 31) & 1;
}

/* A token: one or more tchars (field names, methods, route keys, subprotocols). */
static inline bool fng__is_token(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!fng__is_tchar((unsigned char)p[i])) {
			return false;
		}
	}
	return n > 0;
}

/*
 * A byte of a field value (RFC 9110 5.5): VCHAR, SP, HTAB and obs-text (0x80-0xff), so no
 * control character but HTAB (no CR, LF or NUL) and no DEL. obs-text is allowed because the
 * pre-validator accepts it from clients (UTF-8 in the wild) and a handler may echo it back.
 */
static inline bool fng__is_field_byte(unsigned char c)
{
	return c >= 0x20 ? c != 0x7f : c == '\t';
}

/*
 * A header or Set-Cookie value: field bytes only, empty allowed. Leading or trailing
 * whitespace is not refused (a receiver strips it as optional whitespace).
 */
static inline bool fng__is_field_value(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!fng__is_field_byte((unsigned char)p[i])) {
			return false;
		}
	}
	return true;
}

/*
 * A status a response may carry (a handler's, a mock's): a final one, 200-599. 1xx are
 * interim: sent as the answer, the client would take the next response for this request's
 * (and a 101 would switch a proxy in front to a tunnel); anything else is not HTTP.
 */
static inline bool fng__is_answer_status(long status)
{
	return status >= 200 && status <= 599;
}

/*
 * A header a response's producer may not set (RFC 9110 7.6.1, RFC 9112 6-7): the framing
 * and hop-by-hop ones belong to the connection the gateway writes, and the others are set by
 * the gateway itself (Server, Date, the request id, the function's version). Case-insensitive.
 */
static inline bool fng__is_reserved_header(const char *p, size_t n)
{
	static const char *const names[] = { "content-length", "transfer-encoding", "connection",
		"upgrade", "keep-alive", "te", "trailer", "date", "server", "x-request-id",
		"x-fngate-function-version" };
	char low[32];

	for (size_t i = 0; i < n && i < sizeof(low) - 1; i++) {
		unsigned char c = (unsigned char)p[i];

		low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (n >= 6 && memcmp(low, "proxy-", 6) == 0) {
		return true; /* Proxy-Connection, Proxy-Authenticate...: between client and proxy */
	}
	if (n >= sizeof(low)) {
		return false; /* longer than any name below */
	}
	low[n] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(low, names[i]) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * A close code that may travel in a WebSocket close frame, whoever sends it (RFC 6455 7.4):
 * 1000-1003 and 1007-1011 defined by the RFC, 1012-1014 registered with IANA since (service
 * restart, try again later, bad gateway), 3000-4999 for libraries and applications. Never on
 * the wire: 1004 (reserved), 1005 (no code), 1006 (closed abnormally), 1015 (TLS failure);
 * 0-999 are unused and 1016-2999 reserved for future RFCs. The gateway's codec refuses a peer's
 * close frame with any other code (1002); fng_ws_close() and the admin API refuse to send one.
 */
static inline bool fng__ws_close_code_ok(uint32_t code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/*
 * A name the wire carries as plain text, a topic's or a cache tag's: 1-max bytes of
 * [A-Za-z0-9_.:/-], and '~' if tilde (topics allow it, tags do not).
 */
static inline bool fng__name_ok(const char *p, size_t n, size_t max, bool tilde)
{
	if (n == 0 || n > max) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
			    c == '_' || c == '.' || c == ':' || c == '/' || c == '-' ||
			    (tilde && c == '~'))) {
			return false;
		}
	}
	return true;
}

/* A topic name's bytes at most. */
#define FNG_TOPIC_NAME_MAX 128

/*
 * A topic name (fngate.h): 1-FNG_TOPIC_NAME_MAX bytes of [A-Za-z0-9_.~:/-]. The gateway
 * checks it for handlers, the admin API and the configuration's grants.
 */
static inline bool fng__topic_name_ok(const char *p, size_t n)
{
	return fng__name_ok(p, n, FNG_TOPIC_NAME_MAX, true);
}

/*
 * Response cache tags (fng_response_cache(), RESULT's `cache`): a tag is 1-FNG_CACHE_TAG_MAX
 * bytes of [A-Za-z0-9._:/-]: plain ASCII that a log line, a JSON string and the admin API's
 * DELETE /@cache/tags/{tag} carry as it is (a `/` percent-encoded in the path). At most
 * FNG_CACHE_TAGS_MAX of them on a response, unique. A TTL is 0-FNG_CACHE_TTL_MAX seconds
 * (0: do not store); the gateway clamps it further to the stage's maximum. The SDK checks a
 * handler's tags with this, the gateway every tag a worker sends and every tag the operator
 * purges.
 */
#define FNG_CACHE_TAG_MAX 128
#define FNG_CACHE_TAGS_MAX 16
#define FNG_CACHE_TTL_MAX 86400

static inline bool fng__cache_tag_ok(const char *p, size_t n)
{
	return fng__name_ok(p, n, FNG_CACHE_TAG_MAX, false);
}

#endif
