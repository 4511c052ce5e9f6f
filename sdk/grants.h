/* SPDX-License-Identifier: MIT */
#ifndef FNG_SDK_GRANTS_H
#define FNG_SDK_GRANTS_H

/*
 * What a function may do with WebSocket connections and topics, as the gateway decided it
 * from the operator's configuration (the WebSocket APIs whose routes integrate the function,
 * functions.grants; docs/config.md). The gateway checks every WS_* frame a worker sends on
 * its own; each worker gets a copy at spawn (struct fng_sb_spawn) so that the SDK can answer
 * -1 at once for a call the gateway is going to refuse. The matching rules are defined here
 * once, for both sides. Internal, not installed.
 *
 * A connection id is FNG_CONN_ID_LEN base64url characters; the first FNG_CONN_TAG_LEN are the
 * tag of its API (fng__conn_tag()), the rest are random. A worker only knows tags: two APIs
 * whose tags collide look alike to it, never to the gateway, which looks the connection up.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FNG_B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define FNG_CONN_ID_LEN 16
#define FNG_CONN_TAG_LEN 4
/*
 * API tags a worker is told at most; a function allowed on more WebSocket APIs than this is
 * told "any connection" (any_connection), and only the gateway's check refuses.
 */
#define FNG_GRANTS_MAX_TAGS 64
/* Bytes of topic patterns: each pattern with its NUL, then an empty one. */
#define FNG_GRANTS_TOPICS_BYTES 1024

/* Plain data (no pointers): it travels in the spawn request and is compared with memcmp. */
struct fng_grants {
	uint32_t any_connection;  /* connections of every API */
	uint32_t ntags;
	char tags[FNG_GRANTS_MAX_TAGS][FNG_CONN_TAG_LEN]; /* the WebSocket APIs allowed */
	/* "room.*\0metrics\0\0": a name, NAME* (names that start with NAME) or * (all). */
	char topics[FNG_GRANTS_TOPICS_BYTES];
};

/* The tag of the API named api: 24 bits of FNV-1a of the name, as 4 base64url characters. */
static inline void fng__conn_tag(const char *api, char tag[FNG_CONN_TAG_LEN])
{
	uint32_t h = 0x811c9dc5u;

	for (; *api; api++) {
		h = (h ^ (uint8_t)*api) * 0x01000193u;
	}
	h ^= h >> 24;
	for (int i = 0; i < FNG_CONN_TAG_LEN; i++) {
		tag[i] = FNG_B64URL[h >> (18 - 6 * i) & 63];
	}
}

/* Whether topic t[0..n) matches pattern p (NUL-terminated, plen bytes). */
static inline bool fng__topic_match(const char *p, size_t plen, const char *t, size_t n)
{
	if (plen && p[plen - 1] == '*') {
		return n >= plen - 1 && memcmp(p, t, plen - 1) == 0;
	}
	return plen == n && memcmp(p, t, n) == 0;
}

/* Whether g allows topic t[0..n). g NULL: no restriction (tests, fngate invoke). */
static inline bool fng__grants_topic_ok(const struct fng_grants *g, const char *t, size_t n)
{
	const char *p, *end;

	if (!g) {
		return true;
	}
	end = g->topics + sizeof(g->topics);
	for (p = g->topics; p < end && *p;) {
		size_t plen = strnlen(p, (size_t)(end - p));

		if (fng__topic_match(p, plen, t, n)) {
			return true;
		}
		p += plen + 1;
	}
	return false;
}

/*
 * Whether g allows connection id[0..n), going by its tag: an id of another length is no
 * connection's. g NULL: no restriction.
 */
static inline bool fng__grants_connection_ok(const struct fng_grants *g, const char *id, size_t n)
{
	if (!g || g->any_connection) {
		return true;
	}
	if (n != FNG_CONN_ID_LEN) {
		return false;
	}
	for (uint32_t i = 0; i < g->ntags && i < FNG_GRANTS_MAX_TAGS; i++) {
		if (memcmp(g->tags[i], id, FNG_CONN_TAG_LEN) == 0) {
			return true;
		}
	}
	return false;
}

#endif
