/* SPDX-License-Identifier: MIT */
#ifndef FNG_BENCH_WS_JSON_H
#define FNG_BENCH_WS_JSON_H

/*
 * The parse of bench/ws.sh's protocol ({"action":A,"topic":T,"data":D}), shared by the fngate
 * handler (bench/ws_bench_fn.c) and the libwebsockets peer (bench/ws_peer_lws.c) so that both
 * take a message apart alike: a strstr-level look-up of flat objects, enough for the
 * benchmark's messages (ws_load sends no escapes in names). Plain C, no fngate or lws types:
 * static functions for the one .c that includes it. Needs _GNU_SOURCE for memmem().
 */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The raw JSON value of member name of a flat object, [*v, *v + *n): a string with its quotes
 * (escapes kept), or anything else up to the object's closing brace. */
static bool json_raw(const char *in, size_t len, const char *name, const char **v, size_t *n)
{
	char key[32];
	const char *p, *end = in + len;
	int kl = snprintf(key, sizeof(key), "\"%s\"", name);

	p = memmem(in, len, key, (size_t)kl);
	if (!p) {
		return false;
	}
	for (p += kl; p < end && (*p == ' ' || *p == ':'); p++) {
	}
	if (p >= end) {
		return false;
	}
	*v = p;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\') {
				p++;
			}
		}
		if (p >= end) {
			return false;
		}
		*n = (size_t)(p + 1 - *v);
		return true;
	}
	while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r')) {
		end--;
	}
	if (end <= p || end[-1] != '}') {
		return false;
	}
	*n = (size_t)(end - 1 - p);
	return *n > 0;
}

/* The contents of string member name, [*v, *v + *n), without the quotes (escapes kept). */
static bool json_str(const char *in, size_t len, const char *name, const char **v, size_t *n)
{
	if (!json_raw(in, len, name, v, n) || **v != '"') {
		return false;
	}
	(*v)++;
	*n -= 2;
	return true;
}

#endif
