// SPDX-License-Identifier: MIT
/*
 * Origins (origin.h): the one parser of "scheme://host[:port]", used for a CORS rule when a
 * configuration loads and for a request's Origin header on the request path, so a rule and a
 * header are read by the same grammar.
 */
#include <string.h>

#include "chars.h"
#include "cidr.h"
#include "origin.h"

#define HOST_MAX 253

static const char bad_port[] = "the port must be a number 1-65535 after the host, nothing else";

struct origin {
	const char *scheme, *host;
	size_t scheme_len, host_len;
	unsigned port;        /* 0: the default */
	bool wildcard;        /* host is the suffix after '*' */
};

static bool ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fng__lower(a[i]) != fng__lower(b[i])) {
			return false;
		}
	}
	return true;
}

/* A DNS name (letters, digits, '-', '_'), or dotted IPv4: non-empty labels between dots. */
static bool name_ok(const char *p, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > HOST_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0) {
				return false;
			}
			label = 0;
		} else if (fng__is_alnum(c) || c == '-' || c == '_') {
			if (++label > 63) {
				return false;
			}
		} else {
			return false;
		}
	}
	return label > 0;
}

static unsigned default_port(const char *scheme, size_t n)
{
	if ((n == 4 && ieq(scheme, "http", 4)) || (n == 2 && ieq(scheme, "ws", 2))) {
		return 80;
	}
	if ((n == 5 && ieq(scheme, "https", 5)) || (n == 3 && ieq(scheme, "wss", 3))) {
		return 443;
	}
	return 0;
}

/* "scheme://host[:port]"; wildcards only when rule. */
static bool parse(const char *s, size_t len, bool rule, struct origin *o, const char **why)
{
	const char *p = s, *end = s + len, *sep, *colon;
	bool bracket;

	*why = "an origin is SCHEME://HOST[:PORT], without path or trailing slash";
	memset(o, 0, sizeof(*o));
	if (len == 0 || !(fng__lower(*p) >= 'a' && fng__lower(*p) <= 'z')) {
		return false;
	}
	while (p < end && (fng__is_alnum((unsigned char)*p) || *p == '+' || *p == '-' ||
		*p == '.')) {
		p++;
	}
	if (end - p < 3 || memcmp(p, "://", 3) != 0) {
		return false;
	}
	o->scheme = s;
	o->scheme_len = (size_t)(p - s);
	p += 3;
	bracket = p < end && *p == '[';
	if (bracket) {
		const char *close = memchr(p, ']', (size_t)(end - p));
		struct fng_ip ip;

		if (!close || !fng__ip_parse(p + 1, (size_t)(close - p - 1), &ip)) {
			*why = "a bracketed host must be an IPv6 address";
			return false;
		}
		sep = close + 1;
	} else {
		for (sep = p; sep < end && *sep != ':' && *sep != '/'; sep++) {
		}
	}
	o->host = p;
	o->host_len = (size_t)(sep - p);
	if (rule && o->host_len >= 1 && *p == '*') {
		o->wildcard = true;
		o->host++;
		o->host_len--;
		if (o->host_len && (*o->host != '.' || !name_ok(o->host + 1, o->host_len - 1))) {
			*why = "a wildcard host is * or *.DOMAIN";
			return false;
		}
	} else if (!bracket && !name_ok(p, o->host_len)) {
		*why = "the host must be a DNS name or an IP address";
		return false;
	}
	if (sep < end) {
		colon = sep;
		if (*colon != ':') {
			*why = "an origin is SCHEME://HOST[:PORT], without path or trailing slash";
			return false;
		}
		if (end - colon < 2 || end - colon > 6 || colon[1] == '0') {
			*why = bad_port;
			return false;
		}
		for (p = colon + 1; p < end; p++) {
			if (*p < '0' || *p > '9') {
				*why = bad_port;
				return false;
			}
			o->port = o->port * 10 + (unsigned)(*p - '0');
		}
		if (o->port > 65535) {
			*why = bad_port;
			return false;
		}
		if (o->port == default_port(o->scheme, o->scheme_len)) {
			o->port = 0;
		}
	}
	return true;
}

static char *lower_dup(struct fng_arena *a, const char *s, size_t n)
{
	char *d = fng__arena_strndup(a, s, n);

	if (d) {
		fng__lower_n(d, n);
	}
	return d;
}

bool fng__origin_rule_parse(struct fng_arena *a, const char *s, size_t len,
	struct fng_origin_rule *out, const char **why)
{
	struct origin o;

	if (!parse(s, len, true, &o, why)) {
		return false;
	}
	out->scheme = lower_dup(a, o.scheme, o.scheme_len);
	out->host = lower_dup(a, o.host, o.host_len);
	if (!out->scheme || !out->host) {
		*why = "out of memory";
		return false;
	}
	out->scheme_len = o.scheme_len;
	out->host_len = o.host_len;
	out->port = (uint16_t)o.port;
	out->wildcard = o.wildcard;
	return true;
}

static bool rule_match(const struct fng_origin_rule *r, const struct origin *o)
{
	if (r->scheme_len != o->scheme_len || !ieq(r->scheme, o->scheme, o->scheme_len) ||
		r->port != o->port) {
		return false;
	}
	if (!r->wildcard) {
		return r->host_len == o->host_len && ieq(r->host, o->host, o->host_len);
	}
	/* ".example.com" needs a label before it; "" takes every host. */
	if (r->host_len == 0) {
		return true;
	}
	return o->host_len > r->host_len && *o->host != '[' &&
		ieq(o->host + o->host_len - r->host_len, r->host, r->host_len);
}

bool fng__origin_match(const struct fng_origin_set *set, const char *s, size_t len)
{
	struct origin o;
	const char *why;

	if (!set) {
		return false;
	}
	if (set->any) {
		return true;
	}
	if (!parse(s, len, false, &o, &why)) {
		return false;
	}
	for (unsigned i = 0; i < set->n; i++) {
		if (rule_match(&set->rules[i], &o)) {
			return true;
		}
	}
	return false;
}
