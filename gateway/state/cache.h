/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CACHE_H
#define FNG_GATEWAY_CACHE_H

/*
 * Response cache stores (the seam for a shared cache): one store per API stage and loop,
 * holding whole responses under opaque byte keys. Stage "cache" (stages/cache.c) builds the
 * keys (route key, method, path, key parameters, identity: "ROUTE\0..." so that a route's
 * entries share a prefix), decides freshness from the times an entry carries, and coalesces
 * misses; the store only keeps, finds, evicts and purges.
 *
 * The local store (fng__cache_local_create) keeps entries in a hash table with an LRU list
 * under a byte capacity that counts everything an entry costs: the allocation sizes of the
 * entry, its key, headers, body and tags (malloc_usable_size), and its share of the table.
 * An entry that alone would exceed max_entry_bytes is refused; to make room, the least
 * recently used entries go first. Single-threaded (one loop).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one entry may carry: a put with more is refused with -EINVAL. */
#define FNG_CACHE_MAX_HEADERS 100
#define FNG_CACHE_MAX_TAGS 16

struct fng_cache_hdr {
	const char *name;   /* lower case */
	size_t nlen;
	const char *value;
	size_t vlen;
};

/* A response as stored, and as a lookup finds it. */
struct fng_cached {
	int status;
	const struct fng_cache_hdr *headers;
	unsigned nheaders;
	const void *body;
	size_t body_len;
	uint64_t stored_ms;    /* when it was stored (the Age header counts from it) */
	uint64_t fresh_ms;     /* fresh until */
	uint64_t stale_ms;     /* may be served stale while revalidating until (>= fresh_ms) */
	uint64_t error_ms;     /* may be served stale when the refresh fails until (>= fresh_ms) */
	const char *const *tags;
	unsigned ntags;
};

struct fng_cache_stats {
	uint64_t entries;
	uint64_t bytes;        /* accounted, <= capacity */
	uint64_t capacity;
	uint64_t evictions;    /* entries dropped to make room */
	uint64_t refused;      /* puts refused: over max_entry_bytes or larger than capacity */
};

struct fng_cache_store;

struct fng_cache_store_ops {
	/*
	 * The entry of key, or -ENOENT. out's pointers stay valid until the next call that may
	 * change the store (put, del, purge, set_capacity, destroy; a get that drops that same
	 * entry): callers copy what they keep. A get of another key leaves them valid. A found
	 * entry becomes the most recently used. Entries past stale_ms and error_ms (and fresh_ms)
	 * are dropped here and not returned (now_ms: the caller's clock, also used for stored_ms
	 * comparisons). Header names and values and tags are NUL-terminated copies.
	 */
	int (*get)(struct fng_cache_store *s, const void *key, size_t klen, uint64_t now_ms,
		struct fng_cached *out);
	/*
	 * Stores (or replaces) key's entry, copying everything in e (tags are C strings; e may
	 * point into the entry it replaces, as a get found it). 0, -E2BIG when it would cost
	 * more than max_entry_bytes or the capacity (with the table), -EINVAL over
	 * FNG_CACHE_MAX_HEADERS or FNG_CACHE_MAX_TAGS (or a NULL with a length), -ENOMEM. On
	 * an error nothing changed: an entry the key had stays.
	 */
	int (*put)(struct fng_cache_store *s, const void *key, size_t klen,
		const struct fng_cached *e);
	/* Drops key's entry; 0 or -ENOENT. */
	int (*del)(struct fng_cache_store *s, const void *key, size_t klen);
	/* Drops every entry whose key starts with prefix (plen 0: all); returns how many.
	 * O(entries). */
	uint64_t (*purge_prefix)(struct fng_cache_store *s, const void *prefix, size_t plen);
	/* Drops every entry tagged tag (compared as bytes); returns how many. O(entries). */
	uint64_t (*purge_tag)(struct fng_cache_store *s, const char *tag, size_t tlen);
	/* A new capacity (a reload): entries are evicted, least recently used first, to fit (the
	 * table shrinks first where it can). Entries over a smaller max_entry stay. */
	void (*set_capacity)(struct fng_cache_store *s, uint64_t capacity, uint64_t max_entry);
	void (*stats)(const struct fng_cache_store *s, struct fng_cache_stats *out);
	/* Frees the store; NULL is a no-op. */
	void (*destroy)(struct fng_cache_store *s);
};

struct fng_cache_store {
	const struct fng_cache_store_ops *ops;
};

/* The local store: capacity and max_entry in bytes. NULL without memory. */
struct fng_cache_store *fng__cache_local_create(uint64_t capacity, uint64_t max_entry);

/*
 * The wire form of an entry for a shared cache (cache_wire.c; docs/config.md, "Cluster"): the
 * bytes a node writes to Redis and another reads back. Times travel as durations relative to
 * the writer's now_ms (age, fresh, stale and error windows left), never as one node's clock.
 * Redis is less trusted than the operator: a decode checks every count and length against
 * what is left and the limits above, and accepts only bytes that end exactly where the entry
 * ends.
 */
struct fng_buf;

/* Appends e's wire form to out; its times are read against now_ms. 0, -EINVAL (over the
 * limits above, a window already past), -ENOMEM. */
int fng__cache_encode(const struct fng_cached *e, uint64_t now_ms, struct fng_buf *out);

/* How long after now_ms an encoded entry may still be kept (its latest window): the PX of a
 * shared copy. 0 when the bytes are not an entry. */
uint64_t fng__cache_wire_ttl_ms(const void *data, size_t len);

/*
 * Decodes data (len bytes) into out, its times on the reader's clock now_ms, minus elapsed_ms
 * (how long the bytes waited in Redis: the entry ages by as much). out's pointers point into
 * data (header names and values by length; tags NUL-terminated, checked) and into hdrs and
 * tags, which the caller gives (FNG_CACHE_MAX_HEADERS and FNG_CACHE_MAX_TAGS slots). 0, or
 * -EINVAL for bytes that are not a whole valid entry.
 */
int fng__cache_decode(const void *data, size_t len, uint64_t now_ms, uint64_t elapsed_ms,
	struct fng_cached *out, struct fng_cache_hdr *hdrs, const char **tags);

#endif
