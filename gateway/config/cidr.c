// SPDX-License-Identifier: MIT
/*
 * CIDR sets (cidr.h): the parser of addresses and blocks, and the sorted range table built
 * from them when a configuration loads. The request path only searches it.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "conf.h"

#define MAPPED_HI 0ull
#define MAPPED_LO_PREFIX 0x0000ffff00000000ull

static struct fng_ip from_bytes(const unsigned char b[16])
{
	struct fng_ip ip = { 0, 0 };

	for (int i = 0; i < 8; i++) {
		ip.hi = ip.hi << 8 | b[i];
		ip.lo = ip.lo << 8 | b[8 + i];
	}
	return ip;
}

static void to_bytes(const struct fng_ip *ip, unsigned char b[16])
{
	for (int i = 0; i < 8; i++) {
		b[7 - i] = (unsigned char)(ip->hi >> (8 * i));
		b[15 - i] = (unsigned char)(ip->lo >> (8 * i));
	}
}

static bool is_mapped(const struct fng_ip *ip)
{
	return ip->hi == MAPPED_HI && (ip->lo >> 32) == 0xffff;
}

/* Parses the address; *v4 tells whether it was written as dotted IPv4. */
static bool parse_addr(const char *s, size_t len, struct fng_ip *out, bool *v4)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char b[16];

	if (len == 0 || len >= sizeof(tmp) || memchr(s, '\0', len)) {
		return false;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (memchr(s, ':', len)) {
		if (inet_pton(AF_INET6, tmp, b) != 1) {
			return false;
		}
		*out = from_bytes(b);
		*v4 = false;
		return true;
	}
	if (inet_pton(AF_INET, tmp, b) != 1) {
		return false;
	}
	out->hi = MAPPED_HI;
	out->lo = MAPPED_LO_PREFIX | (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 |
		(uint64_t)b[2] << 8 | b[3];
	*v4 = true;
	return true;
}

bool fng__ip_parse(const char *s, size_t len, struct fng_ip *out)
{
	bool v4;

	return parse_addr(s, len, out, &v4);
}

/* The mask of the host bits of a /bits block, in the 128-bit order. */
static struct fng_ip host_mask(unsigned bits)
{
	struct fng_ip m;

	m.hi = bits >= 64 ? 0 : (bits == 0 ? ~0ull : ~0ull >> bits);
	m.lo = bits >= 128 ? 0 : (bits <= 64 ? ~0ull : ~0ull >> (bits - 64));
	return m;
}

bool fng__cidr_parse(const char *s, size_t len, struct fng_ip_range *out, const char **why)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	unsigned bits, max;
	struct fng_ip ip, m;
	bool v4;

	if (!parse_addr(s, alen, &ip, &v4)) {
		*why = "not an IPv4 or IPv6 address (no brackets, port or zone id)";
		return false;
	}
	max = v4 ? 32 : 128;
	bits = max;
	if (slash) {
		const char *p = slash + 1, *end = s + len;

		if (p == end || end - p > 3 || (*p == '0' && end - p > 1)) {
			*why = "the prefix length must be a number without leading zeros";
			return false;
		}
		bits = 0;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9') {
				*why = "the prefix length must be a number without leading zeros";
				return false;
			}
			bits = bits * 10 + (unsigned)(*p - '0');
		}
		if (bits > max) {
			*why = v4 ? "an IPv4 prefix length is 0 to 32"
				  : "an IPv6 prefix length is 0 to 128";
			return false;
		}
	}
	if (v4) {
		bits += 96;
	}
	m = host_mask(bits);
	if ((ip.hi & m.hi) || (ip.lo & m.lo)) {
		*why = "address has bits set beyond the prefix length (write the network address)";
		return false;
	}
	out->first = ip;
	out->last = (struct fng_ip){ ip.hi | m.hi, ip.lo | m.lo };
	return true;
}

static int ip_cmp(const struct fng_ip *a, const struct fng_ip *b)
{
	if (a->hi != b->hi) {
		return a->hi < b->hi ? -1 : 1;
	}
	if (a->lo != b->lo) {
		return a->lo < b->lo ? -1 : 1;
	}
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	return ip_cmp(&((const struct fng_ip_range *)a)->first,
		&((const struct fng_ip_range *)b)->first);
}

/* Whether b starts at most one address after a ends (so they merge). */
static bool touches(const struct fng_ip *a_last, const struct fng_ip *b_first)
{
	struct fng_ip next = *a_last;

	if (next.lo == ~0ull && next.hi == ~0ull) {
		return true; /* a reaches the end of the space */
	}
	if (++next.lo == 0) {
		next.hi++;
	}
	return ip_cmp(b_first, &next) <= 0;
}

struct fng_cidr_set *fng__cidr_set_build(struct fng_arena *a, struct fng_ip_range *r, unsigned n)
{
	struct fng_cidr_set *s = fng__arena_zalloc(a, sizeof(*s));
	struct fng_ip_range *out;
	unsigned k = 0;

	if (!s) {
		return NULL;
	}
	if (n == 0) {
		return s;
	}
	out = fng__arena_alloc(a, n * sizeof(*out));
	if (!out) {
		return NULL;
	}
	qsort(r, n, sizeof(*r), range_cmp);
	out[0] = r[0];
	for (unsigned i = 1; i < n; i++) {
		if (touches(&out[k].last, &r[i].first)) {
			if (ip_cmp(&r[i].last, &out[k].last) > 0) {
				out[k].last = r[i].last;
			}
		} else {
			out[++k] = r[i];
		}
	}
	s->ranges = out;
	s->n = k + 1;
	return s;
}

bool fng__cidr_set_has(const struct fng_cidr_set *s, const struct fng_ip *ip)
{
	unsigned lo = 0, hi;

	if (!s) {
		return false;
	}
	hi = s->n;
	/* The last range whose first address is <= ip is the only one that can hold it. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (ip_cmp(&s->ranges[mid].first, ip) <= 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo > 0 && ip_cmp(ip, &s->ranges[lo - 1].last) <= 0;
}

void fng__ip_format(const struct fng_ip *ip, char *buf, size_t size)
{
	unsigned char b[16];

	to_bytes(ip, b);
	if (is_mapped(ip)) {
		inet_ntop(AF_INET, b + 12, buf, (socklen_t)size);
	} else {
		inet_ntop(AF_INET6, b, buf, (socklen_t)size);
	}
}

int fng__conf_cidrs(struct fng_conf *L, const struct fng_conf_node *v, const char *what,
	const struct fng_cidr_set **out)
{
	struct fng_ip_range *r;
	unsigned n = 0;
	int rc = 0;

	if (!fng__conf_want(L, v, FNG_CONF_SEQ, what)) {
		return -1;
	}
	if (v->n > FNG_CIDR_MAX) {
		fng__conf_err(L, v, "%s has %u entries, more than %u", what, v->n, FNG_CIDR_MAX);
		return -1;
	}
	/* Scratch for the sort: the set keeps its merged copy. */
	r = fng__arena_alloc(L->tmp, (v->n + 1) * sizeof(*r));
	if (!r) {
		fng__conf_err(L, v, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const struct fng_conf_node *e = v->kids[i];
		const char *why = NULL;

		if (!fng__conf_want(L, e, FNG_CONF_SCALAR, "an address or CIDR block")) {
			rc = -1;
			continue;
		}
		if (!fng__cidr_parse(e->s, e->len, &r[n], &why)) {
			fng__conf_err(L, e, "%s: \"%s\": %s", what, e->s, why);
			rc = -1;
			continue;
		}
		n++;
	}
	if (rc == 0) {
		*out = fng__cidr_set_build(L->cfg->arena, r, n);
		if (!*out) {
			fng__conf_err(L, v, "out of memory");
			rc = -1;
		}
	}
	return rc;
}
