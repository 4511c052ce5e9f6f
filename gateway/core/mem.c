// SPDX-License-Identifier: MIT
/*
 * Memory primitives for the request path: byte buffers for connection I/O and the
 * per-request arena that is dropped whole when a response completes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <uv.h>

#include "mem.h"

bool fng__str_ieq(struct fng_str a, const char *b, size_t blen)
{
	return a.len == blen && strncasecmp(a.p, b, blen) == 0;
}

int fng__buf_reserve(struct fng_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->cap - b->len >= extra) {
		return 0;
	}
	need = b->len + extra;
	if (need < b->len) {
		return UV_ENOMEM;
	}
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p) {
		return UV_ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int fng__buf_append(struct fng_buf *b, const void *p, size_t n)
{
	int err;

	if (n == 0) {
		return 0;
	}
	err = fng__buf_reserve(b, n);
	if (err) {
		return err;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

const char *fng__num_text(char out[32], double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v) {
			break;
		}
	}
	return out;
}

int fng__buf_printf(struct fng_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, err;

	va_start(ap, fmt);
	n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return UV_EINVAL;
	}
	if ((size_t)n < b->cap - b->len) {
		b->len += (size_t)n;
		return 0;
	}
	err = fng__buf_reserve(b, (size_t)n + 1);
	if (err) {
		return err;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int fng__buf_u64(struct fng_buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return fng__buf_append(b, tmp + i, sizeof(tmp) - i);
}

int fng__buf_json_escape(struct fng_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	int err;

	err = fng__buf_reserve(b, n);
	if (err) {
		return err;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			continue;
		}
		err = fng__buf_append(b, s + run, i - run);
		if (err) {
			return err;
		}
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		err = fng__buf_append(b, esc, elen);
		if (err) {
			return err;
		}
	}
	return fng__buf_append(b, s + run, n - run);
}

void fng__buf_consume(struct fng_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void fng__buf_finish(struct fng_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void fng__buf_wipe(struct fng_buf *b)
{
	if (b->p) {
		explicit_bzero(b->p, b->cap);
	}
	fng__buf_finish(b);
}

/* ---- arena ---- */

#define ARENA_BLOCK 4096
#define ARENA_CACHE_MAX 256

struct arena_block {
	struct arena_block *next;
	size_t size, used;
	max_align_t data[];
};

struct arena_defer {
	struct arena_defer *next;
	void (*fn)(void *);
	void *arg;
};

struct fng_arena {
	struct arena_block *head; /* the block allocations come from */
	struct arena_block *big;  /* oversized blocks, freed to malloc */
	struct arena_defer *defer;
};

/*
 * Only threads that opted in (the loop thread) cache blocks: a thread-pool thread that builds
 * a config snapshot must not keep blocks nobody will ever drain.
 */
static _Thread_local struct arena_block *block_cache;
static _Thread_local unsigned block_cache_n;
static _Thread_local bool block_cache_on;

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_SANITIZED 1
#endif
#endif

void fng__arena_cache_enable(void)
{
#ifndef ARENA_SANITIZED
	/* Under ASan every block goes back to malloc, so use-after-free is caught. */
	block_cache_on = true;
#endif
}

static struct arena_block *block_get(void)
{
	struct arena_block *b = block_cache;

	if (b) {
		block_cache = b->next;
		block_cache_n--;
	} else {
		b = malloc(ARENA_BLOCK);
		if (!b) {
			return NULL;
		}
		b->size = ARENA_BLOCK - sizeof(*b);
	}
	b->next = NULL;
	b->used = 0;
	return b;
}

static void block_put(struct arena_block *b)
{
	if (!block_cache_on || block_cache_n >= ARENA_CACHE_MAX) {
		free(b);
		return;
	}
	b->next = block_cache;
	block_cache = b;
	block_cache_n++;
}

void fng__arena_cache_drain(void)
{
	while (block_cache) {
		struct arena_block *b = block_cache;

		block_cache = b->next;
		free(b);
	}
	block_cache_n = 0;
	block_cache_on = false;
}

struct fng_arena *fng__arena_create(void)
{
	struct arena_block *b = block_get();
	struct fng_arena *a;

	if (!b) {
		return NULL;
	}
	/* The arena header lives at the start of its own first block. */
	a = (struct fng_arena *)b->data;
	b->used = (sizeof(*a) + 15) & ~(size_t)15;
	a->head = b;
	a->big = NULL;
	a->defer = NULL;
	return a;
}

void fng__arena_destroy(struct fng_arena *a)
{
	struct arena_block *b, *next;
	struct arena_defer *d;

	if (!a) {
		return;
	}
	for (d = a->defer; d; d = d->next) {
		d->fn(d->arg);
	}
	for (b = a->big; b; b = next) {
		next = b->next;
		free(b);
	}
	/* The first block (holding *a) is last in the chain. */
	for (b = a->head; b; b = next) {
		next = b->next;
		block_put(b);
	}
}

void *fng__arena_alloc(struct fng_arena *a, size_t n)
{
	struct arena_block *b = a->head;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n == 0) {
		n = 16;
	}
	if (n > ARENA_BLOCK / 4) {
		b = malloc(sizeof(*b) + n);
		if (!b) {
			return NULL;
		}
		b->size = b->used = n;
		b->next = a->big;
		a->big = b;
		return b->data;
	}
	if (b->size - b->used < n) {
		b = block_get();
		if (!b) {
			return NULL;
		}
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

void *fng__arena_zalloc(struct fng_arena *a, size_t n)
{
	void *p = fng__arena_alloc(a, n);

	if (p) {
		memset(p, 0, n);
	}
	return p;
}

char *fng__arena_strndup(struct fng_arena *a, const char *s, size_t n)
{
	char *p = fng__arena_alloc(a, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

int fng__arena_defer(struct fng_arena *a, void (*fn)(void *), void *arg)
{
	struct arena_defer *d = fng__arena_alloc(a, sizeof(*d));

	if (!d) {
		return UV_ENOMEM;
	}
	d->fn = fn;
	d->arg = arg;
	d->next = a->defer;
	a->defer = d;
	return 0;
}

int fng__hmap_add(struct fng_hmap *m, struct fng_hnode *n, uint64_t hash)
{
	if (m->n + 1 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct fng_hnode **b = calloc(cap, sizeof(*b));

		if (!b) {
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++) {
			while (m->b[i]) {
				struct fng_hnode *x = m->b[i];

				m->b[i] = x->next;
				x->next = b[x->hash & (cap - 1)];
				b[x->hash & (cap - 1)] = x;
			}
		}
		free(m->b);
		m->b = b;
		m->cap = cap;
	}
	n->hash = hash;
	n->next = m->b[hash & (m->cap - 1)];
	m->b[hash & (m->cap - 1)] = n;
	m->n++;
	return 0;
}

void fng__hmap_del(struct fng_hmap *m, struct fng_hnode *n)
{
	struct fng_hnode **p;

	if (!m->cap) {
		return;
	}
	for (p = &m->b[n->hash & (m->cap - 1)]; *p; p = &(*p)->next) {
		if (*p == n) {
			*p = n->next;
			n->next = NULL;
			m->n--;
			return;
		}
	}
}

void fng__hmap_finish(struct fng_hmap *m)
{
	free(m->b);
	*m = (struct fng_hmap){ 0 };
}

static void heap_put(struct fng_heap *h, size_t i, struct fng_heap_node *n)
{
	h->a[i] = n;
	n->pos = (uint32_t)(i + 1);
}

static void heap_up(struct fng_heap *h, size_t i)
{
	struct fng_heap_node *n = h->a[i];

	while (i > 0 && h->a[(i - 1) / 2]->at > n->at) {
		heap_put(h, i, h->a[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_put(h, i, n);
}

static void heap_down(struct fng_heap *h, size_t i)
{
	struct fng_heap_node *n = h->a[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n) {
			break;
		}
		if (c + 1 < h->n && h->a[c + 1]->at < h->a[c]->at) {
			c++;
		}
		if (h->a[c]->at >= n->at) {
			break;
		}
		heap_put(h, i, h->a[c]);
		i = c;
	}
	heap_put(h, i, n);
}

int fng__heap_set(struct fng_heap *h, struct fng_heap_node *n, uint64_t at)
{
	if (n->pos) {
		size_t i = n->pos - 1;
		uint64_t old = n->at;

		n->at = at;
		if (at < old) {
			heap_up(h, i);
		} else {
			heap_down(h, i);
		}
		return 0;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct fng_heap_node **a = realloc(h->a, cap * sizeof(*a));

		if (!a) {
			return -ENOMEM;
		}
		h->a = a;
		h->cap = cap;
	}
	n->at = at;
	h->a[h->n++] = n;
	heap_up(h, h->n - 1);
	return 0;
}

void fng__heap_del(struct fng_heap *h, struct fng_heap_node *n)
{
	size_t i;
	struct fng_heap_node *last;

	if (!n->pos) {
		return;
	}
	i = n->pos - 1;
	n->pos = 0;
	last = h->a[--h->n];
	if (i == h->n) {
		return;
	}
	h->a[i] = last;
	last->pos = (uint32_t)(i + 1);
	if (i > 0 && h->a[(i - 1) / 2]->at > last->at) {
		heap_up(h, i);
	} else {
		heap_down(h, i);
	}
}

void fng__heap_finish(struct fng_heap *h)
{
	free(h->a);
	*h = (struct fng_heap){ 0 };
}
