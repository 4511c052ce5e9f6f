/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CHARS_H
#define FNG_GATEWAY_CHARS_H

#include <stdbool.h>
#include <stddef.h>

/* Character classes of HTTP (RFC 9110) shared by the parsers and the config loader. */

/* tchar: "!#$%&'*+-.^_`|~" / DIGIT / ALPHA: what methods and field names are made of. */
extern const unsigned char fng__tchar[256];

static inline bool fng__is_tchar(unsigned char c)
{
	return fng__tchar[c] != 0;
}

/* A token: one or more tchars (field names, route keys, subprotocols). */
static inline bool fng__is_token(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!fng__is_tchar((unsigned char)p[i])) {
			return false;
		}
	}
	return n > 0;
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
