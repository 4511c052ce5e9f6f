/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_HOST_AUTHZ_CACHE_H
#define FNG_GATEWAY_HOST_AUTHZ_CACHE_H

/*
 * The function authorizers' result cache (host/authz.c; docs/config.md, "Authorizers"): one
 * per loop (the function host's), partitioned by authorizer, each answer (allow or deny, the
 * principal, the context as text, the usage key) kept under the exact bytes of its identity
 * sources' values until its expiry. Every partition is bounded in entries and bytes; one
 * identity may take at most an eighth of its partition's bytes (a bigger answer is used but
 * not kept); the least recently used entry goes first when a new one needs room, and an
 * expired one goes when it is looked up. Pure data structure: the caller passes the clock.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

struct fng_authz_cache;

/* An answer: what is kept, and what a hit gives back (valid until the cache changes). */
struct fng_authz_answer {
	bool allow;
	const struct fng_req_authz *authz; /* the principal, context (as text) and usage key */
};

/* A partition's bounds (the authorizer's cache_entries and cache_bytes). */
struct fng_authz_cache_limits {
	uint32_t entries;
	uint64_t bytes;
};

struct fng_authz_cache *fng__authz_cache_create(void);
/* Frees c and everything in it; NULL is a no-op. */
void fng__authz_cache_destroy(struct fng_authz_cache *c);
/* Drops every entry (a reload: an authorizer may have changed). */
void fng__authz_cache_clear(struct fng_authz_cache *c);

/*
 * The answer kept in partition part (its name: plen bytes) for the identity key[0..klen),
 * unexpired at now: true and *out filled (the entry becomes the most recently used), or
 * false (an expired entry is dropped on the way).
 */
bool fng__authz_cache_get(struct fng_authz_cache *c, const char *part, size_t plen,
	const void *key, size_t klen, uint64_t now, struct fng_authz_answer *out);

/*
 * Keeps a copy of ans (fng__req_authz_clone) for the identity key in partition part until expires (same clock as
 * now), replacing what was kept for it; makes room by evicting the least recently used
 * entries of the partition. 0; 1 if the answer is too big to keep (nothing kept); -ENOMEM.
 */
int fng__authz_cache_put(struct fng_authz_cache *c, const char *part, size_t plen,
	const struct fng_authz_cache_limits *lim, const void *key, size_t klen, uint64_t expires,
	const struct fng_authz_answer *ans);

/* Entries and bytes held in partition part (tests, logs). */
void fng__authz_cache_usage(const struct fng_authz_cache *c, const char *part, size_t plen,
	size_t *entries, size_t *bytes);

/*
 * The wire form of an answer for the shared authorizer cache (`cluster.shared_caches:
 * [authorizer]`; host/authz.c keeps it in Redis under the partition and identity). Decoding
 * trusts nothing of Redis' bytes: counts and lengths are checked against what is left and
 * against FNG_AUTHZ_WIRE_MAX_CTX, a principal or usage key with a NUL is refused.
 */
#define FNG_AUTHZ_WIRE_MAX_CTX 256

struct fng_arena;
struct fng_buf;

/* Appends the answer's wire form to out. 0, -EINVAL (too many context entries), -ENOMEM. */
int fng__authz_wire_encode(const struct fng_authz_answer *ans, struct fng_buf *out);

/* Decodes data into *allow and *out, whose strings and context are copies in ar. 0, -EINVAL
 * for bytes that are not exactly one answer, -ENOMEM. */
int fng__authz_wire_decode(struct fng_arena *ar, const void *data, size_t len, bool *allow,
	struct fng_req_authz *out);

#endif
