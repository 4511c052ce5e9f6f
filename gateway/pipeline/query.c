// SPDX-License-Identifier: MIT
/*
 * Query-string parameters (query.h has the rule). Everything that reads a parameter goes
 * through fng__query_next(), so the event a function gets and the lookups of templates, the
 * admin API and the WebSocket handshake can never disagree about what a query says.
 */
#include <uv.h>

#include "query.h"
#include "router.h"

long fng__query_decode(char *dst, const char *src, size_t n)
{
	/* '+' first: an escaped "%2B" must come out as '+', not as a space. */
	for (size_t i = 0; i < n; i++) {
		dst[i] = src[i] == '+' ? ' ' : src[i];
	}
	return fng__pct_decode(dst, dst, n);
}

int fng__query_next(struct fng_arena *a, const char **p, const char *end, struct fng_str *name,
	struct fng_str *value)
{
	while (*p < end) {
		const char *s = *p;
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(s, '=', (size_t)(pe - s));
		const char *ke = eq ? eq : pe;
		const char *v = eq ? eq + 1 : pe;
		char *buf;
		long kl, vl;

		*p = amp ? amp + 1 : end;
		if (ke == s) {
			continue; /* "&&", "=x": no name */
		}
		/* Name and value side by side, each with its NUL; decoding only shrinks them. */
		buf = fng__arena_alloc(a, (size_t)(ke - s) + (size_t)(pe - v) + 2);
		if (!buf) {
			return UV_ENOMEM;
		}
		kl = fng__query_decode(buf, s, (size_t)(ke - s));
		vl = fng__query_decode(buf + (ke - s) + 1, v, (size_t)(pe - v));
		if (kl < 0 || vl < 0) {
			continue;
		}
		buf[kl] = '\0';
		buf[(ke - s) + 1 + vl] = '\0';
		*name = (struct fng_str){ buf, (size_t)kl };
		*value = (struct fng_str){ buf + (ke - s) + 1, (size_t)vl };
		return 1;
	}
	return 0;
}
