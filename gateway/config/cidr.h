/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CIDR_H
#define FNG_GATEWAY_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/*
 * Sets of IP addresses written as CIDR blocks, compiled when a configuration loads and read
 * by the request path (resource policies, trusted proxies). Every address is kept as 128 bits
 * in IPv6 order, an IPv4 address as its IPv4-mapped form ::ffff:a.b.c.d: "10.0.0.0/8" and
 * "::ffff:10.0.0.0/104" are one block, and a peer that reaches a dual-stack listener as
 * ::ffff:10.1.2.3 is the IPv4 client 10.1.2.3. A set is its blocks merged into disjoint
 * ranges sorted by first address, so a lookup is a binary search, however many rules.
 */

struct fng_ip {
	uint64_t hi, lo; /* the address's 16 bytes, big-endian halves */
};

struct fng_ip_range {
	struct fng_ip first, last; /* inclusive */
};

struct fng_cidr_set {
	const struct fng_ip_range *ranges; /* disjoint, sorted, not adjacent */
	unsigned n;
};

/*
 * The most blocks one list may hold: a list is an operator's, but a generated one should fail
 * loudly rather than make a load slow.
 */
#define FNG_CIDR_MAX 100000

/*
 * Parses a bare address ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1") of len bytes. No
 * brackets, no port, no zone id ("fe80::1%eth0": a zone is local to one host, and a rule or a
 * forwarded address naming one says nothing about a client), no leading zeros in IPv4.
 */
bool fng__ip_parse(const char *s, size_t len, struct fng_ip *out);

/*
 * Parses "ADDR" (one address: /32 or /128) or "ADDR/PREFIX", PREFIX 0-32 for IPv4 and 0-128
 * for IPv6 without leading zeros. An address with bits set beyond the prefix ("10.0.0.1/8")
 * is refused: it is most likely a typo for a host or a narrower block, and taking it as the
 * block would widen what the operator wrote. On failure *why says what is wrong.
 */
bool fng__cidr_parse(const char *s, size_t len, struct fng_ip_range *out, const char **why);

/*
 * Compiles n blocks into a set in a's memory: sorts r (in place) and merges overlapping and
 * adjacent ranges. n may be 0 (the empty set). NULL without memory.
 */
struct fng_cidr_set *fng__cidr_set_build(struct fng_arena *a, struct fng_ip_range *r, unsigned n);

/* Whether ip is in the set; a NULL set holds nothing. O(log n). */
bool fng__cidr_set_has(const struct fng_cidr_set *s, const struct fng_ip *ip);

struct fng_conf;
struct fng_conf_node;

/*
 * Compiles a configuration list of blocks (what names it in errors: "policy.allow"), each a
 * string as fng__cidr_parse() takes it, into *out in the configuration's arena. A bad entry is
 * an error at its FILE:LINE:COL. 0, or -1 when it reported an error.
 */
int fng__conf_cidrs(struct fng_conf *L, const struct fng_conf_node *v, const char *what,
	const struct fng_cidr_set **out);

/* Writes ip as text (an IPv4-mapped address as dotted IPv4) into buf of at least 46 bytes. */
void fng__ip_format(const struct fng_ip *ip, char *buf, size_t size);

#endif
