/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_MEM_H
#define FNG_GATEWAY_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A byte span that does not own its memory. */
struct fng_str {
	const char *p;
	size_t len;
};

#define FNG_STR(lit) ((struct fng_str){ (lit), sizeof(lit) - 1 })

static inline bool fng__str_eq(struct fng_str a, const char *b, size_t blen)
{
	return a.len == blen && memcmp(a.p, b, blen) == 0;
}
bool fng__str_ieq(struct fng_str a, const char *b, size_t blen);

/* Intrusive doubly linked list; an unlinked node points at itself. */
struct fng_list {
	struct fng_list *prev, *next;
};

static inline void fng__list_init(struct fng_list *l)
{
	l->prev = l->next = l;
}
static inline bool fng__list_empty(const struct fng_list *l)
{
	return l->next == l;
}
static inline void fng__list_remove(struct fng_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}
static inline void fng__list_append(struct fng_list *head, struct fng_list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

#define fng__container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* FNV-1a, for the gateway's hash maps (keys are ours or bounded, so no seed is needed). */
static inline uint64_t fng__hash(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i]) * 0x100000001b3ULL;
	}
	return h;
}

/*
 * Intrusive hash map: chained buckets, doubled when the average chain passes one node. The
 * caller keeps the hash in the node and compares keys itself while walking a chain:
 *   for (n = fng__hmap_chain(m, h); n; n = n->next) if (n->hash == h && key matches) ...
 */
struct fng_hnode {
	struct fng_hnode *next;
	uint64_t hash;
};

struct fng_hmap {
	struct fng_hnode **b;
	size_t cap, n;
};

static inline struct fng_hnode *fng__hmap_chain(const struct fng_hmap *m, uint64_t hash)
{
	return m->cap ? m->b[hash & (m->cap - 1)] : NULL;
}
/*
 * Every node of m in turn as n (a struct fng_hnode *, declared here), bucket by bucket. The
 * body may delete and free n, whose successor is read before it runs, but no other node; a
 * `break` leaves the bucket only.
 */
#define FNG_HMAP_EACH(m, n)                                                                  \
	for (size_t n##_b = 0; n##_b < (m)->cap; n##_b++)                                        \
		for (struct fng_hnode *n = (m)->b[n##_b], *n##_nx = n ? n->next : NULL; n;           \
			n = n##_nx, n##_nx = n ? n->next : NULL)

/* Adds n with hash (0, or -ENOMEM when the table could not grow). */
int fng__hmap_add(struct fng_hmap *m, struct fng_hnode *n, uint64_t hash);
void fng__hmap_del(struct fng_hmap *m, struct fng_hnode *n);
void fng__hmap_finish(struct fng_hmap *m);

/*
 * Binary min-heap of deadlines (intrusive): one libuv timer serves many deadlines, where a
 * uv_timer_t each would cost 152 bytes per idle WebSocket connection.
 */
struct fng_heap_node {
	uint64_t at;
	uint32_t pos; /* index + 1; 0: not in the heap */
};

struct fng_heap {
	struct fng_heap_node **a;
	size_t n, cap;
};

/* Inserts n, or moves it, to deadline at. 0 or -ENOMEM. */
int fng__heap_set(struct fng_heap *h, struct fng_heap_node *n, uint64_t at);
void fng__heap_del(struct fng_heap *h, struct fng_heap_node *n);
static inline struct fng_heap_node *fng__heap_min(const struct fng_heap *h)
{
	return h->n ? h->a[0] : NULL;
}
void fng__heap_finish(struct fng_heap *h);

/*
 * Growable byte buffer. Storage comes from malloc; fng__buf_finish() frees it. A buffer whose
 * cap is 0 holds no memory, which is what idle connections keep.
 */
struct fng_buf {
	char *p;
	size_t len, cap;
};

int fng__buf_reserve(struct fng_buf *b, size_t extra);
int fng__buf_append(struct fng_buf *b, const void *p, size_t n);
int fng__buf_printf(struct fng_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends s as the inside of a JSON string (no quotes), escaping as RFC 8259 requires. */
int fng__buf_json_escape(struct fng_buf *b, const char *s, size_t n);
int fng__buf_u64(struct fng_buf *b, uint64_t v);
/*
 * A finite number as JSON text, the shortest that reads back as the same double ("42",
 * "42.5", "1e+300"): an authorizer's context values as handlers read them. Returns out.
 */
const char *fng__num_text(char out[32], double v);
void fng__buf_consume(struct fng_buf *b, size_t n);
void fng__buf_finish(struct fng_buf *b);
/* fng__buf_finish, after overwriting the bytes with zeros (a key, a token). */
void fng__buf_wipe(struct fng_buf *b);

static inline int fng__buf_str(struct fng_buf *b, const char *s)
{
	return fng__buf_append(b, s, strlen(s));
}

/*
 * Per-request arena: bump allocation from 4 KiB blocks kept on a per-thread free list; large
 * allocations get their own block. Everything is released at once by fng__arena_destroy(),
 * after running the defer hooks (last registered first) for non-memory cleanup.
 */
struct fng_arena;

struct fng_arena *fng__arena_create(void);
void fng__arena_destroy(struct fng_arena *a);
void *fng__arena_alloc(struct fng_arena *a, size_t n);
void *fng__arena_zalloc(struct fng_arena *a, size_t n);
char *fng__arena_strndup(struct fng_arena *a, const char *s, size_t n);
int fng__arena_defer(struct fng_arena *a, void (*fn)(void *), void *arg);
/* Lets the calling thread (a loop thread) keep freed blocks for reuse. */
void fng__arena_cache_enable(void);
/* Releases the per-thread block cache and turns it off (for leak checkers at exit). */
void fng__arena_cache_drain(void);

#endif
