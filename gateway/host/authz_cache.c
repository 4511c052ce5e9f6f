// SPDX-License-Identifier: MIT
/*
 * The function authorizers' result cache (authz_cache.h): consulted by host/authz.c before
 * an authorizer is invoked, filled when one answers. An entry is its node with the identity
 * key, and the answer cloned into one block (fng__req_authz_clone): its size, charged to its
 * partition, is known exactly. Entries sit in one hash map per cache (by partition and key)
 * and in their partition's LRU list, most recently used last.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "authz_cache.h"
#include "mem.h"

struct part {
	struct fng_hnode hnode;  /* c->parts, by name */
	struct fng_list lru;     /* its entries, least recently used first */
	size_t n, bytes;
	size_t nlen;
	char name[];
};

struct entry {
	struct fng_hnode hnode;  /* c->entries, by partition and key */
	struct fng_list link;    /* its partition's lru */
	struct part *part;
	uint64_t expires;
	size_t size;             /* its bytes, the clone's included */
	bool allow;
	struct fng_req_authz *authz; /* fng__req_authz_clone */
	size_t klen;
	unsigned char key[];
};

struct fng_authz_cache {
	struct fng_hmap parts, entries;
};

struct fng_authz_cache *fng__authz_cache_create(void)
{
	return calloc(1, sizeof(struct fng_authz_cache));
}

static struct part *part_find(const struct fng_authz_cache *c, const char *name, size_t nlen)
{
	uint64_t h = fng__hash(name, nlen);

	for (struct fng_hnode *n = fng__hmap_chain(&c->parts, h); n; n = n->next) {
		struct part *p = fng__container_of(n, struct part, hnode);

		if (n->hash == h && p->nlen == nlen && memcmp(p->name, name, nlen) == 0) {
			return p;
		}
	}
	return NULL;
}

/* The hash of an entry: its partition's, mixed with the key's bytes. */
static uint64_t entry_hash(const struct part *p, const void *key, size_t klen)
{
	const unsigned char *b = key;
	uint64_t h = p->hnode.hash;

	for (size_t i = 0; i < klen; i++) {
		h = (h ^ b[i]) * 0x100000001b3ULL;
	}
	return h;
}

static struct entry *entry_find(const struct fng_authz_cache *c, const struct part *p,
	const void *key, size_t klen)
{
	uint64_t h = entry_hash(p, key, klen);

	for (struct fng_hnode *n = fng__hmap_chain(&c->entries, h); n; n = n->next) {
		struct entry *e = fng__container_of(n, struct entry, hnode);

		if (n->hash == h && e->part == p && e->klen == klen &&
			memcmp(e->key, key, klen) == 0) {
			return e;
		}
	}
	return NULL;
}

static void entry_drop(struct fng_authz_cache *c, struct entry *e)
{
	fng__hmap_del(&c->entries, &e->hnode);
	fng__list_remove(&e->link);
	e->part->n--;
	e->part->bytes -= e->size;
	free(e->authz);
	free(e);
}

void fng__authz_cache_clear(struct fng_authz_cache *c)
{
	if (!c) {
		return;
	}
	for (size_t i = 0; i < c->parts.cap; i++) {
		while (c->parts.b[i]) {
			struct part *p = fng__container_of(c->parts.b[i], struct part, hnode);

			while (!fng__list_empty(&p->lru)) {
				entry_drop(c, fng__container_of(p->lru.next, struct entry, link));
			}
			fng__hmap_del(&c->parts, &p->hnode);
			free(p);
		}
	}
}

void fng__authz_cache_destroy(struct fng_authz_cache *c)
{
	if (!c) {
		return;
	}
	fng__authz_cache_clear(c);
	fng__hmap_finish(&c->parts);
	fng__hmap_finish(&c->entries);
	free(c);
}

bool fng__authz_cache_get(struct fng_authz_cache *c, const char *part, size_t plen,
	const void *key, size_t klen, uint64_t now, struct fng_authz_answer *out)
{
	struct part *p = part_find(c, part, plen);
	struct entry *e = p ? entry_find(c, p, key, klen) : NULL;

	if (!e) {
		return false;
	}
	if (e->expires <= now) {
		entry_drop(c, e);
		return false;
	}
	fng__list_remove(&e->link);
	fng__list_append(&p->lru, &e->link);
	out->allow = e->allow;
	out->authz = e->authz;
	return true;
}

static struct part *part_get(struct fng_authz_cache *c, const char *name, size_t nlen)
{
	struct part *p = part_find(c, name, nlen);

	if (p) {
		return p;
	}
	p = calloc(1, sizeof(*p) + nlen);
	if (!p) {
		return NULL;
	}
	fng__list_init(&p->lru);
	p->nlen = nlen;
	memcpy(p->name, name, nlen);
	if (fng__hmap_add(&c->parts, &p->hnode, fng__hash(name, nlen))) {
		free(p);
		return NULL;
	}
	return p;
}

int fng__authz_cache_put(struct fng_authz_cache *c, const char *part, size_t plen,
	const struct fng_authz_cache_limits *lim, const void *key, size_t klen, uint64_t expires,
	const struct fng_authz_answer *ans)
{
	struct fng_req_authz *copy;
	struct part *p;
	struct entry *e;
	size_t size;

	copy = fng__req_authz_clone(ans->authz, &size);
	if (!copy) {
		return -ENOMEM;
	}
	size += sizeof(*e) + klen;
	/* One identity may take an eighth of its partition at most. */
	if (lim->entries == 0 || size > lim->bytes / 8) {
		free(copy);
		return 1;
	}
	p = part_get(c, part, plen);
	e = p ? malloc(sizeof(*e) + klen) : NULL;
	if (!e) {
		free(copy);
		return -ENOMEM;
	}
	*e = (struct entry){ .part = p, .expires = expires, .size = size, .allow = ans->allow,
		.authz = copy, .klen = klen };
	memcpy(e->key, key, klen);
	{
		struct entry *old = entry_find(c, p, key, klen);

		if (old) {
			entry_drop(c, old);
		}
	}
	while (!fng__list_empty(&p->lru) && (p->n >= lim->entries || p->bytes + size > lim->bytes)) {
		entry_drop(c, fng__container_of(p->lru.next, struct entry, link));
	}
	if (fng__hmap_add(&c->entries, &e->hnode, entry_hash(p, key, klen))) {
		free(copy);
		free(e);
		return -ENOMEM;
	}
	fng__list_append(&p->lru, &e->link);
	p->n++;
	p->bytes += size;
	return 0;
}

void fng__authz_cache_usage(const struct fng_authz_cache *c, const char *part, size_t plen,
	size_t *entries, size_t *bytes)
{
	const struct part *p = part_find(c, part, plen);

	*entries = p ? p->n : 0;
	*bytes = p ? p->bytes : 0;
}
