// SPDX-License-Identifier: MIT
/*
 * The local response cache store (cache.h): one per API stage and loop, asked by stage "cache"
 * before the integration runs and filled after it answers. Entries live in a chained hash
 * table (SipHash-1-3 under a random key: clients choose the paths and parameters that make up
 * a key) and on an LRU list. Each entry is one allocation holding the entry, its key, its
 * header and tag arrays, their strings and the body.
 *
 * What counts toward bytes, and so against the capacity: every entry's allocation and the
 * table's bucket array, each as malloc_usable_size() plus the allocator's header before the
 * block (glibc: one size_t), i.e. what the heap really gives up. The store's own struct
 * (a fixed ~190 bytes) is not counted. The table doubles when the entries outnumber its
 * buckets, but only when the larger array still fits in the capacity as the entries stand
 * (no entry is evicted to grow it); with entries of at least 96 bytes and 8-byte buckets a
 * full store whose table could not grow stays below ~1.2 entries a bucket. del and the purges
 * never shrink the table; set_capacity halves it (load factor <= 1 kept) before it evicts,
 * and frees it when even an empty table no longer fits (the next put makes a small one again).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cache.h"

#define MIN_BUCKETS 16u
#define MAX_BUCKETS (1ull << 32)
/* The allocator's header before each block (glibc's chunk size field). */
#define ALLOC_OVERHEAD sizeof(size_t)

/*
 * The fixed part of an entry (88 bytes); what a get returns is rebuilt from it. Then, in the
 * same allocation: struct fng_cache_hdr[nheaders] and const char *[ntags] (the arrays a get
 * points to), the key, the body, and the header and tag strings, each NUL-terminated.
 */
struct entry {
	struct entry *chain;       /* next in the bucket */
	struct entry *prev, *next; /* LRU list, most recent after the store's head */
	uint64_t hash;
	uint64_t stored_ms, fresh_ms, stale_ms, error_ms;
	size_t body_len;
	uint32_t klen;
	int status;
	uint16_t nheaders, ntags;
};

struct local {
	struct fng_cache_store base;
	struct entry **b;   /* buckets; NULL until the first put that fits */
	uint64_t nb;        /* buckets, a power of two (0 without a table) */
	size_t table_cost;  /* accounted bytes of b */
	struct entry head;  /* LRU sentinel: head.next is the most recent */
	uint64_t n, bytes, capacity, max_entry, evictions, refused;
	uint64_t k0, k1;    /* SipHash key */
};

/* SipHash-1-3 (Aumasson, Bernstein): keyed, so chosen keys cannot be made to collide. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                           \
	do {                                                                               \
		v0 += v1;                                                                  \
		v1 = ROTL(v1, 13);                                                         \
		v1 ^= v0;                                                                  \
		v0 = ROTL(v0, 32);                                                         \
		v2 += v3;                                                                  \
		v3 = ROTL(v3, 16);                                                         \
		v3 ^= v2;                                                                  \
		v0 += v3;                                                                  \
		v3 = ROTL(v3, 21);                                                         \
		v3 ^= v0;                                                                  \
		v2 += v1;                                                                  \
		v1 = ROTL(v1, 17);                                                         \
		v1 ^= v2;                                                                  \
		v2 = ROTL(v2, 32);                                                         \
	} while (0)

static uint64_t load64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--) {
		v = v << 8 | p[i];
	}
	return v;
}

static uint64_t siphash(const struct local *l, const void *data, size_t n)
{
	const uint8_t *p = data;
	uint64_t v0 = l->k0 ^ 0x736f6d6570736575ULL, v1 = l->k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = l->k0 ^ 0x6c7967656e657261ULL, v3 = l->k1 ^ 0x7465646279746573ULL;
	uint64_t m, last = (uint64_t)n << 56;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		m = load64(p + i);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < n; j++) {
		last |= (uint64_t)p[i + j] << (8 * j);
	}
	v3 ^= last;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static size_t alloc_cost(void *p)
{
	return malloc_usable_size(p) + ALLOC_OVERHEAD;
}

static struct fng_cache_hdr *entry_headers(const struct entry *e)
{
	return (struct fng_cache_hdr *)(uintptr_t)(e + 1);
}

static const char **entry_tags(const struct entry *e)
{
	return (const char **)(entry_headers(e) + e->nheaders);
}

static char *entry_key(const struct entry *e)
{
	return (char *)(entry_tags(e) + e->ntags);
}

static void lru_unlink(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push(struct local *l, struct entry *e)
{
	e->prev = &l->head;
	e->next = l->head.next;
	e->next->prev = e;
	l->head.next = e;
}

static struct entry *find(const struct local *l, uint64_t h, const void *key, size_t klen)
{
	if (!l->nb) {
		return NULL;
	}
	for (struct entry *e = l->b[h & (l->nb - 1)]; e; e = e->chain) {
		if (e->hash == h && e->klen == klen &&
			(!klen || !memcmp(entry_key(e), key, klen))) {
			return e;
		}
	}
	return NULL;
}

/* Takes e out of the table and the list and frees it. */
static void drop(struct local *l, struct entry *e)
{
	struct entry **pp = &l->b[e->hash & (l->nb - 1)];

	while (*pp != e) {
		pp = &(*pp)->chain;
	}
	*pp = e->chain;
	lru_unlink(e);
	l->n--;
	l->bytes -= alloc_cost(e);
	free(e);
}

static void evict_lru(struct local *l)
{
	drop(l, l->head.prev);
	l->evictions++;
}

/* Moves every entry to a table of nb buckets; 0, or -ENOMEM (or -E2BIG: a larger table would
 * not fit in the capacity) with the old table kept. */
static int resize(struct local *l, uint64_t nb)
{
	bool grow = nb > l->nb;
	struct entry **b;
	size_t cost;

	if (grow && l->bytes - l->table_cost + nb * sizeof(*b) + ALLOC_OVERHEAD > l->capacity) {
		return -E2BIG;
	}
	b = calloc(nb, sizeof(*b));
	if (!b) {
		return -ENOMEM;
	}
	cost = alloc_cost(b);
	if (grow && l->bytes - l->table_cost + cost > l->capacity) {
		free(b);
		return -E2BIG;
	}
	for (struct entry *e = l->head.next; e != &l->head; e = e->next) {
		struct entry **slot = &b[e->hash & (nb - 1)];

		e->chain = *slot;
		*slot = e;
	}
	free(l->b);
	l->b = b;
	l->nb = nb;
	l->bytes = l->bytes - l->table_cost + cost;
	l->table_cost = cost;
	return 0;
}

static int get(struct fng_cache_store *s, const void *key, size_t klen, uint64_t now_ms,
	struct fng_cached *out)
{
	struct local *l = (struct local *)s;
	struct entry *e = find(l, siphash(l, key, klen), key, klen);
	uint64_t until;

	if (!e) {
		return -ENOENT;
	}
	/* Past every window: fresh_ms too, for a caller that left stale_ms and error_ms at 0. */
	until = e->fresh_ms;
	until = e->stale_ms > until ? e->stale_ms : until;
	until = e->error_ms > until ? e->error_ms : until;
	if (now_ms >= until) {
		drop(l, e);
		return -ENOENT;
	}
	lru_unlink(e);
	lru_push(l, e);
	*out = (struct fng_cached){
		.status = e->status,
		.headers = e->nheaders ? entry_headers(e) : NULL,
		.nheaders = e->nheaders,
		.body = entry_key(e) + e->klen,
		.body_len = e->body_len,
		.stored_ms = e->stored_ms,
		.fresh_ms = e->fresh_ms,
		.stale_ms = e->stale_ms,
		.error_ms = e->error_ms,
		.tags = e->ntags ? entry_tags(e) : NULL,
		.ntags = e->ntags,
	};
	return 0;
}

/* Adds n to *sum unless that overflows or passes limit. */
static bool add_within(size_t *sum, size_t n, uint64_t limit)
{
	if (n > limit || *sum > limit - n) {
		return false;
	}
	*sum += n;
	return true;
}

static char *copy_str(char **p, const char *s, size_t n)
{
	char *d = *p;

	if (n) {
		memcpy(d, s, n);
	}
	d[n] = '\0';
	*p = d + n + 1;
	return d;
}

static int put(struct fng_cache_store *s, const void *key, size_t klen, const struct fng_cached *in)
{
	struct local *l = (struct local *)s;
	uint64_t limit = l->max_entry < l->capacity ? l->max_entry : l->capacity;
	size_t need = sizeof(struct entry), tlen[FNG_CACHE_MAX_TAGS];
	struct entry **table = NULL, *e, *old;
	size_t table_cost = l->table_cost, cost;
	struct fng_cache_hdr *hdrs;
	const char **tags;
	char *p;
	bool ok;

	if ((!key && klen) || in->nheaders > FNG_CACHE_MAX_HEADERS ||
		in->ntags > FNG_CACHE_MAX_TAGS || (in->nheaders && !in->headers) ||
		(in->ntags && !in->tags) || (in->body_len && !in->body)) {
		return -EINVAL;
	}
	ok = add_within(&need, in->nheaders * sizeof(struct fng_cache_hdr), limit) &&
		add_within(&need, in->ntags * sizeof(char *), limit) &&
		add_within(&need, klen, limit) && add_within(&need, in->body_len, limit);
	for (unsigned i = 0; ok && i < in->nheaders; i++) {
		const struct fng_cache_hdr *h = &in->headers[i];

		if ((!h->name && h->nlen) || (!h->value && h->vlen)) {
			return -EINVAL;
		}
		ok = add_within(&need, h->nlen, limit) && add_within(&need, 1, limit) &&
			add_within(&need, h->vlen, limit) && add_within(&need, 1, limit);
	}
	for (unsigned i = 0; ok && i < in->ntags; i++) {
		if (!in->tags[i]) {
			return -EINVAL;
		}
		tlen[i] = strlen(in->tags[i]);
		ok = add_within(&need, tlen[i], limit) && add_within(&need, 1, limit);
	}
	if (!ok || klen > UINT32_MAX) {
		l->refused++;
		return -E2BIG;
	}

	e = malloc(need);
	if (!e) {
		return -ENOMEM;
	}
	if (!l->b) {
		table = calloc(MIN_BUCKETS, sizeof(*table));
		if (!table) {
			free(e);
			return -ENOMEM;
		}
		table_cost = alloc_cost(table);
	}
	cost = alloc_cost(e);
	if (cost > l->max_entry || cost > l->capacity || table_cost > l->capacity - cost) {
		free(table);
		free(e);
		l->refused++;
		return -E2BIG;
	}

	/* Lay it out (see struct entry); in may point into the entry this one replaces. */
	*e = (struct entry){
		.stored_ms = in->stored_ms,
		.fresh_ms = in->fresh_ms,
		.stale_ms = in->stale_ms,
		.error_ms = in->error_ms,
		.body_len = in->body_len,
		.klen = (uint32_t)klen,
		.status = in->status,
		.nheaders = (uint16_t)in->nheaders,
		.ntags = (uint16_t)in->ntags,
	};
	hdrs = entry_headers(e);
	tags = entry_tags(e);
	p = entry_key(e);
	if (klen) {
		memcpy(p, key, klen);
	}
	p += klen;
	if (in->body_len) {
		memcpy(p, in->body, in->body_len);
	}
	p += in->body_len;
	for (unsigned i = 0; i < in->nheaders; i++) {
		hdrs[i].nlen = in->headers[i].nlen;
		hdrs[i].vlen = in->headers[i].vlen;
		hdrs[i].name = copy_str(&p, in->headers[i].name, hdrs[i].nlen);
		hdrs[i].value = copy_str(&p, in->headers[i].value, hdrs[i].vlen);
	}
	for (unsigned i = 0; i < in->ntags; i++) {
		tags[i] = copy_str(&p, in->tags[i], tlen[i]);
	}
	e->hash = siphash(l, key, klen);

	/* Nothing can fail from here on. */
	old = find(l, e->hash, key, klen);
	if (old) {
		drop(l, old);
	}
	if (table) {
		l->b = table;
		l->nb = MIN_BUCKETS;
		l->table_cost = table_cost;
		l->bytes += table_cost;
	}
	while (l->bytes + cost > l->capacity) {
		evict_lru(l); /* ends: table_cost + cost <= capacity */
	}
	e->chain = l->b[e->hash & (l->nb - 1)];
	l->b[e->hash & (l->nb - 1)] = e;
	lru_push(l, e);
	l->n++;
	l->bytes += cost;
	if (l->n > l->nb && l->nb < MAX_BUCKETS) {
		resize(l, l->nb * 2); /* only if it fits; longer chains otherwise */
	}
	return 0;
}

static int del(struct fng_cache_store *s, const void *key, size_t klen)
{
	struct local *l = (struct local *)s;
	struct entry *e = find(l, siphash(l, key, klen), key, klen);

	if (!e) {
		return -ENOENT;
	}
	drop(l, e);
	return 0;
}

static uint64_t purge_prefix(struct fng_cache_store *s, const void *prefix, size_t plen)
{
	struct local *l = (struct local *)s;
	uint64_t dropped = 0;

	for (struct entry *e = l->head.next, *next; e != &l->head; e = next) {
		next = e->next;
		if (e->klen >= plen && (!plen || !memcmp(entry_key(e), prefix, plen))) {
			drop(l, e);
			dropped++;
		}
	}
	return dropped;
}

static bool tagged(const struct entry *e, const char *tag, size_t tlen)
{
	const char **tags = entry_tags(e);

	for (unsigned i = 0; i < e->ntags; i++) {
		const char *t = tags[i];

		if (strnlen(t, tlen + 1) == tlen && (!tlen || !memcmp(t, tag, tlen))) {
			return true;
		}
	}
	return false;
}

static uint64_t purge_tag(struct fng_cache_store *s, const char *tag, size_t tlen)
{
	struct local *l = (struct local *)s;
	uint64_t dropped = 0;

	for (struct entry *e = l->head.next, *next; e != &l->head; e = next) {
		next = e->next;
		if (tagged(e, tag, tlen)) {
			drop(l, e);
			dropped++;
		}
	}
	return dropped;
}

static void set_capacity(struct fng_cache_store *s, uint64_t capacity, uint64_t max_entry)
{
	struct local *l = (struct local *)s;

	l->capacity = capacity;
	l->max_entry = max_entry;
	while (l->bytes > l->capacity) {
		if (l->nb > MIN_BUCKETS && l->n <= l->nb / 2 && resize(l, l->nb / 2) == 0) {
			continue;
		}
		if (l->n) {
			evict_lru(l);
			continue;
		}
		free(l->b);
		l->b = NULL;
		l->nb = 0;
		l->bytes = 0;
		l->table_cost = 0;
	}
}

static void stats(const struct fng_cache_store *s, struct fng_cache_stats *out)
{
	const struct local *l = (const struct local *)s;

	*out = (struct fng_cache_stats){
		.entries = l->n,
		.bytes = l->bytes,
		.capacity = l->capacity,
		.evictions = l->evictions,
		.refused = l->refused,
	};
}

static void destroy(struct fng_cache_store *s)
{
	struct local *l = (struct local *)s;

	if (!l) {
		return;
	}
	for (struct entry *e = l->head.next, *next; e != &l->head; e = next) {
		next = e->next;
		free(e);
	}
	free(l->b);
	free(l);
}

static const struct fng_cache_store_ops local_ops = {
	.get = get,
	.put = put,
	.del = del,
	.purge_prefix = purge_prefix,
	.purge_tag = purge_tag,
	.set_capacity = set_capacity,
	.stats = stats,
	.destroy = destroy,
};

struct fng_cache_store *fng__cache_local_create(uint64_t capacity, uint64_t max_entry)
{
	struct local *l = calloc(1, sizeof(*l));
	uint64_t k[2];

	if (!l) {
		return NULL;
	}
	l->base.ops = &local_ops;
	l->head.next = l->head.prev = &l->head;
	l->capacity = capacity;
	l->max_entry = max_entry;
	if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
		/* Early boot without entropy: weaker, but keys still differ per store and run. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uintptr_t)l;
		k[1] = (uint64_t)ts.tv_sec ^ (uintptr_t)&k ^ 0xc2b2ae3d27d4eb4fULL;
	}
	l->k0 = k[0];
	l->k1 = k[1];
	return &l->base;
}
