// SPDX-License-Identifier: MIT
/*
 * The SDK's bump arena. Decoded wire frames live in one (the decoder's handle), and so does a
 * handler's per-invocation scratch (response header copies, fng_json_str() results), which the
 * serve loop resets after every RESULT. Only malloc and free: it runs under the worker's
 * seccomp policy.
 */
#include <stdlib.h>
#include <string.h>

#include "sdk_internal.h"

#define ALIGN 16
#define FIRST_BLOCK 4096
#define MAX_BLOCK (64 * 1024)

struct fng__sblock {
	struct fng__sblock *next;
	size_t used, cap;
	/* data follows, at HDR from the block's start */
};

#define HDR ((sizeof(struct fng__sblock) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

static struct fng__sblock *block_new(size_t cap)
{
	struct fng__sblock *b;

	if (cap > SIZE_MAX - HDR) {
		return NULL;
	}
	b = malloc(HDR + cap);
	if (!b) {
		return NULL;
	}
	b->next = NULL;
	b->used = 0;
	b->cap = cap;
	return b;
}

void *fng__sarena_alloc(struct fng__sarena *a, size_t n)
{
	struct fng__sblock *h = a->head, *b;
	size_t cap;

	if (n > SIZE_MAX - ALIGN) {
		return NULL;
	}
	n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (n == 0) {
		n = ALIGN;
	}
	if (h && h->cap - h->used >= n) {
		void *p = (char *)h + HDR + h->used;

		h->used += n;
		return p;
	}
	if (h && n > MAX_BLOCK / 4) {
		/* A large allocation gets a block of its own behind the current one, whose free
		 * space stays in use. */
		b = block_new(n);
		if (!b) {
			return NULL;
		}
		b->used = n;
		b->next = h->next;
		h->next = b;
		return (char *)b + HDR;
	}
	cap = h ? h->cap * 2 : FIRST_BLOCK;
	if (cap > MAX_BLOCK) {
		cap = MAX_BLOCK;
	}
	if (cap < n) {
		cap = n;
	}
	b = block_new(cap);
	if (!b) {
		return NULL;
	}
	b->used = n;
	b->next = h;
	a->head = b;
	return (char *)b + HDR;
}

char *fng__sarena_strndup(struct fng__sarena *a, const char *p, size_t n)
{
	char *s;

	if (n == SIZE_MAX) {
		return NULL;
	}
	s = fng__sarena_alloc(a, n + 1);
	if (!s) {
		return NULL;
	}
	if (n) {
		memcpy(s, p, n);
	}
	s[n] = '\0';
	return s;
}

void fng__sarena_reset(struct fng__sarena *a)
{
	struct fng__sblock *keep = a->head, *b, *next;

	if (!keep) {
		return;
	}
	/* Keep the current block unless it is one of the big ones; drop everything else. */
	b = keep->next;
	if (keep->cap > FIRST_BLOCK) {
		b = keep;
		keep = NULL;
	}
	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->head = keep;
}

void fng__sarena_finish(struct fng__sarena *a)
{
	struct fng__sblock *b, *next;

	for (b = a->head; b; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}
