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

/*
 * W3C Trace Context Level 1 (https://www.w3.org/TR/trace-context/): the `traceparent` and
 * `tracestate` headers. The gateway's stage "trace" reads the client's with these, the INVOKE
 * decoder checks the gateway's with them, and the SDK's fng_trace_child() builds on what
 * they accepted.
 *
 *   traceparent = version "-" trace-id "-" parent-id "-" trace-flags
 *   version     = 2 lower-case hex digits, "ff" invalid
 *   trace-id    = 32 lower-case hex digits, not all zero
 *   parent-id   = 16 lower-case hex digits, not all zero
 *   trace-flags = 2 lower-case hex digits (bit 0: sampled)
 *
 * Version 00 is exactly 55 characters. A higher version is read by its version 00 prefix and
 * may go on after it, but only with a '-' (the fields it adds); a receiver that knows version
 * 00 only propagates version 00.
 */
#define FNG_TRACEPARENT_LEN 55 /* as fngate.h has it: the compiler refuses a difference */
/* tracestate: at most 32 list members and 512 characters; more is dropped, not cut. */
#define FNG_TRACESTATE_MEMBERS 32
#define FNG_TRACESTATE_MAX 512

/* What a valid traceparent says, NUL-terminated lower-case hex. */
struct fng_traceparent {
	uint8_t version;
	char trace_id[33];
	char parent_id[17];
	uint8_t flags;
};

static inline int fng__lhex(unsigned char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* n lower-case hex digits, at least one of them not 0 if nonzero. */
static inline bool fng__lhex_ok(const char *p, size_t n, bool nonzero)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		if (fng__lhex((unsigned char)p[i]) < 0) {
			return false;
		}
		any = any || p[i] != '0';
	}
	return any || !nonzero;
}

/* Parses one traceparent value p[0..n) into *tp (when not NULL); false when it is invalid. */
static inline bool fng__traceparent_parse(const char *p, size_t n, struct fng_traceparent *tp)
{
	int version;

	if (n < FNG_TRACEPARENT_LEN || p[2] != '-' || p[35] != '-' || p[52] != '-' ||
		!fng__lhex_ok(p, 2, false) || !fng__lhex_ok(p + 3, 32, true) ||
		!fng__lhex_ok(p + 36, 16, true) || !fng__lhex_ok(p + 53, 2, false)) {
		return false;
	}
	version = fng__lhex((unsigned char)p[0]) << 4 | fng__lhex((unsigned char)p[1]);
	if (version == 0xff || (version == 0 && n != FNG_TRACEPARENT_LEN) ||
		(n > FNG_TRACEPARENT_LEN && p[FNG_TRACEPARENT_LEN] != '-')) {
		return false;
	}
	if (tp) {
		tp->version = (uint8_t)version;
		memcpy(tp->trace_id, p + 3, 32);
		tp->trace_id[32] = '\0';
		memcpy(tp->parent_id, p + 36, 16);
		tp->parent_id[16] = '\0';
		tp->flags = (uint8_t)(fng__lhex((unsigned char)p[53]) << 4 |
			fng__lhex((unsigned char)p[54]));
	}
	return true;
}

/* A tracestate key's byte after the first: lcalpha / DIGIT / "_" / "-" / "*" / "/". */
static inline bool fng__ts_key_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '*' || c == '/';
}

/*
 * One list member "key=value" (no surrounding whitespace). key is a simple-key (lcalpha, then
 * up to 255 key bytes) or tenant@system (tenant: lcalpha or DIGIT, then up to 240; system:
 * lcalpha, then up to 13); value is 1-256 bytes of 0x20-0x7e but ',' and '=', not ending in
 * a space.
 */
static inline bool fng__ts_member_ok(const char *p, size_t n, size_t *key_len)
{
	const char *eq = memchr(p, '=', n);
	const char *at;
	size_t k, v;

	if (!eq) {
		return false;
	}
	k = (size_t)(eq - p);
	v = n - k - 1;
	at = memchr(p, '@', k);
	for (size_t i = 0; i < k; i++) {
		if (p + i != at && !fng__ts_key_byte((unsigned char)p[i])) {
			return false;
		}
	}
	if (at) {
		size_t t = (size_t)(at - p), s = k - t - 1;

		if (t < 1 || t > 241 || s < 1 || s > 14 || !(at[1] >= 'a' && at[1] <= 'z')) {
			return false;
		}
	} else if (k < 1 || k > 256 || !(p[0] >= 'a' && p[0] <= 'z')) {
		return false;
	}
	if (v < 1 || v > 256 || eq[v] == ' ') {
		return false;
	}
	for (size_t i = 1; i <= v; i++) {
		unsigned char c = (unsigned char)eq[i];

		if (c < 0x20 || c > 0x7e || c == ',' || c == '=') {
			return false;
		}
	}
	*key_len = k;
	return true;
}

/*
 * A whole tracestate value (the headers joined with ','): list members separated by ',' with
 * optional spaces and tabs around them; empty members are allowed and not counted; at most
 * FNG_TRACESTATE_MEMBERS members, FNG_TRACESTATE_MAX bytes, no key twice. An empty value is
 * valid (no member).
 */
static inline bool fng__tracestate_ok(const char *p, size_t n)
{
	const char *keys[FNG_TRACESTATE_MEMBERS];
	size_t klens[FNG_TRACESTATE_MEMBERS], nm = 0;
	const char *end = p + n;

	if (n > FNG_TRACESTATE_MAX) {
		return false;
	}
	while (p <= end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		const char *e = c ? c : end;
		size_t kl;

		while (p < e && (*p == ' ' || *p == '\t')) {
			p++;
		}
		while (e > p && (e[-1] == ' ' || e[-1] == '\t')) {
			e--;
		}
		if (e > p) {
			if (nm == FNG_TRACESTATE_MEMBERS || !fng__ts_member_ok(p, (size_t)(e - p), &kl)) {
				return false;
			}
			for (size_t i = 0; i < nm; i++) {
				if (klens[i] == kl && memcmp(keys[i], p, kl) == 0) {
					return false;
				}
			}
			keys[nm] = p;
			klens[nm++] = kl;
		}
		if (!c) {
			break;
		}
		p = c + 1;
	}
	return true;
}

#endif
