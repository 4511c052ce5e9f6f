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

/*
 * The wire form (authz_cache.h), little-endian:
 *   "FNA1", u8 allow, u8 has usage key, u16 ncontext, u32 principal length, principal,
 *   u32 usage key length, usage key, ncontext x (u32 name length, name, u32 value length, value)
 */
#define WIRE_MAGIC "FNA1"

static int wire_str(struct fng_buf *out, const char *p, size_t n)
{
	uint8_t l[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };

	if (n > UINT32_MAX) {
		return -EINVAL;
	}
	if (fng__buf_append(out, l, 4) != 0 || (n && fng__buf_append(out, p, n) != 0)) {
		return -ENOMEM;
	}
	return 0;
}

int fng__authz_wire_encode(const struct fng_authz_answer *ans, struct fng_buf *out)
{
	const struct fng_req_authz *a = ans->authz;
	const char *pr = a && a->principal ? a->principal : "";
	const char *uk = a && a->usage_key ? a->usage_key : "";
	size_t nctx = a ? a->nctx : 0;
	uint8_t head[8];
	int err;

	if (nctx > FNG_AUTHZ_WIRE_MAX_CTX) {
		return -EINVAL;
	}
	memcpy(head, WIRE_MAGIC, 4);
	head[4] = ans->allow;
	head[5] = a && a->usage_key;
	head[6] = (uint8_t)nctx;
	head[7] = (uint8_t)(nctx >> 8);
	if (fng__buf_append(out, head, sizeof(head)) != 0) {
		return -ENOMEM;
	}
	err = wire_str(out, pr, strlen(pr));
	err = err ? err : wire_str(out, uk, strlen(uk));
	for (size_t i = 0; !err && i < nctx; i++) {
		err = wire_str(out, a->ctx[i].k.p, a->ctx[i].k.len);
		err = err ? err : wire_str(out, a->ctx[i].v.p, a->ctx[i].v.len);
	}
	return err;
}

/* A length-prefixed string of the wire: its bytes (*n of them), NULL past the end. */
static const char *wire_take(const uint8_t **p, size_t *rest, size_t *n)
{
	const uint8_t *q = *p;
	size_t len;

	if (*rest < 4) {
		return NULL;
	}
	len = (size_t)q[0] | (size_t)q[1] << 8 | (size_t)q[2] << 16 | (size_t)q[3] << 24;
	if (len > *rest - 4) {
		return NULL;
	}
	*p += 4 + len;
	*rest -= 4 + len;
	*n = len;
	return (const char *)q + 4;
}

int fng__authz_wire_decode(struct fng_arena *ar, const void *data, size_t len, bool *allow,
	struct fng_req_authz *out)
{
	const uint8_t *p = data;
	size_t rest = len, plen, ulen, nctx;
	const char *pr, *uk;
	bool has_uk;

	if (len < 8 || memcmp(p, WIRE_MAGIC, 4) != 0 || p[4] > 1 || p[5] > 1) {
		return -EINVAL;
	}
	has_uk = p[5];
	nctx = (size_t)p[6] | (size_t)p[7] << 8;
	if (nctx > FNG_AUTHZ_WIRE_MAX_CTX) {
		return -EINVAL;
	}
	*allow = p[4];
	p += 8;
	rest -= 8;
	pr = wire_take(&p, &rest, &plen);
	uk = pr ? wire_take(&p, &rest, &ulen) : NULL;
	if (!uk || memchr(pr, '\0', plen) || memchr(uk, '\0', ulen) || (!has_uk && ulen)) {
		return -EINVAL;
	}
	*out = (struct fng_req_authz){ .set = *allow };
	out->principal = fng__arena_strndup(ar, pr, plen);
	out->usage_key = has_uk ? fng__arena_strndup(ar, uk, ulen) : NULL;
	out->ctx = nctx ? fng__arena_alloc(ar, nctx * sizeof(*out->ctx)) : NULL;
	if (!out->principal || (has_uk && !out->usage_key) || (nctx && !out->ctx)) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < nctx; i++) {
		size_t kl, vl;
		const char *k = wire_take(&p, &rest, &kl);
		const char *v = k ? wire_take(&p, &rest, &vl) : NULL;
		char *kc, *vc;

		if (!v) {
			return -EINVAL;
		}
		kc = fng__arena_strndup(ar, k, kl);
		vc = fng__arena_strndup(ar, v, vl);
		if (!kc || !vc) {
			return -ENOMEM;
		}
		out->ctx[i] = (struct fng_wire_kv){ { kc, kl }, { vc, vl } };
	}
	out->nctx = out->capctx = nctx;
	return rest == 0 ? 0 : -EINVAL;
}
