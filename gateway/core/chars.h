/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CHARS_H
#define FNG_GATEWAY_CHARS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Character classes shared by the parsers and the config loader. The HTTP classes (tchar,
 * token, field value) are the SDK's (wire_rules.h), so that what the gateway accepts from a
 * client and what it accepts from a worker are one definition.
 */
#include "wire_rules.h"

/* ASCII letter or digit, whatever the locale (isalnum() is not). */
static inline bool fng__is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A name in the config or the key database (an API, a stage, a plan, a {param}): [A-Za-z0-9_-] */
static inline bool fng__is_name_char(unsigned char c)
{
	return fng__is_alnum(c) || c == '_' || c == '-';
}

/* A DNS name's byte, either case: a letter, digit or hyphen of a label, or the dot between. */
static inline bool fng__is_dns_char(unsigned char c)
{
	return fng__is_alnum(c) || c == '-' || c == '.';
}

/* RFC 3986 unreserved: what a URL carries without percent-encoding. */
static inline bool fng__is_unreserved(unsigned char c)
{
	return fng__is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 5234 VCHAR, visible ASCII (0x21-0x7e): what a request target or a URL is made of. */
static inline bool fng__is_vchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* ASCII lower case, whatever the locale (tolower() is not). */
static inline char fng__lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* s[0..n) to ASCII lower case, in place. */
static inline void fng__lower_n(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		s[i] = fng__lower(s[i]);
	}
}

/* Value of a hex digit, or -1. */
static inline int fng__hexval(unsigned char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

#endif
