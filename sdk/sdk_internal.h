/* SPDX-License-Identifier: MIT */
#ifndef FNG_SDK_SDK_INTERNAL_H
#define FNG_SDK_SDK_INTERNAL_H

/*
 * What the files of libfngate share and nothing outside it sees (hidden visibility): a bump
 * arena for decoded frames and per-invocation scratch, and struct fng_ctx itself.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "fngate.h"
#include "grants.h"
#include "wire.h"
#include "wire_rules.h"

/*
 * Bump arena: 16-byte aligned allocations from malloc'd blocks, released together by
 * fng__sarena_reset() (which keeps one small block for the next round) or
 * fng__sarena_finish(). A zeroed struct is an empty arena.
 */
struct fng__sblock;
struct fng__sarena {
	struct fng__sblock *head; /* the block bump allocation comes from; large ones follow */
};

void *fng__sarena_alloc(struct fng__sarena *a, size_t n);
/* A NUL-terminated copy of p[0..n); p may be NULL when n == 0. */
char *fng__sarena_strndup(struct fng__sarena *a, const char *p, size_t n);
void fng__sarena_reset(struct fng__sarena *a);
void fng__sarena_finish(struct fng__sarena *a);

/*
 * An upper bound on the msgpack size of a RESULT with no header, cookie or body byte: 96 for
 * the six keys, 56 for the runtime's `cost` map (three keys, three uint64 at most 9 bytes each).
 */
#define FNG__RESULT_FIXED 152
/* What one response header / Set-Cookie value adds to a RESULT beyond its own bytes. */
#define FNG__RESULT_PER_HEADER 11
#define FNG__RESULT_PER_COOKIE 5
/* An authorizer's answer beyond its strings and context entries (the keys and headers). */
#define FNG__RESULT_AUTHZ 80
/* A cache instruction beyond its tags' bytes ("cache", the map, "ttl", the int, "tags"). */
#define FNG__RESULT_CACHE 32
#define FNG__RESULT_PER_TAG 2

/*
 * One invocation, alive from the INVOKE frame to the RESULT frame. The serve loop owns it and
 * reuses its buffers across invocations; everything a handler got from it is released when
 * the handler returns.
 */
struct fng_ctx {
	int fd;                       /* the socketpair: LOG frames go out immediately */
	size_t max_body;              /* frame cap both ways */
	const char *function;         /* the function's name (fng__rt_serve's argument) */
	const struct fng_grants *grants; /* WebSocket calls it may make (NULL: any) */

	struct fng_wire_event ev;     /* the decoded event; strings NUL-terminated */
	void *ev_handle;              /* owns ev's memory */

	int status;
	struct fng_wire_kv *headers;  /* realloc'd array, strings in scratch */
	size_t nheaders, cap_headers;
	struct fng_wire_str *cookies; /* Set-Cookie values, strings in scratch */
	size_t ncookies, cap_cookies;
	struct fng_wire_buf body;
	size_t budget;                /* upper bound on the RESULT body encoded so far */
	bool overflowed;              /* a response call hit the cap: the RESULT is a failure */
	bool body_written;            /* a body call was made, even with 0 bytes (WebSocket) */
	/* An AUTHORIZER event's answer; context: realloc'd array, strings in scratch. */
	struct fng_wire_authz authz;
	struct fng_wire_ctxv *authz_ctx;
	size_t cap_authz_ctx;
	/* fng_response_cache(): tags in scratch; what it charged, given back when replaced. */
	struct fng_wire_cache cache;
	struct fng_wire_str cache_tags[FNG_CACHE_TAGS_MAX];
	size_t cache_charged;

	struct fng__sarena scratch;   /* response strings, fng_json_str(), cookie lookups */
	struct fng_wire_buf out;      /* the frame being written (LOG, RESULT) */
};

/*
 * Writes all of p[0..n) to fd, retrying on EINTR and short writes. 0 or -errno. Inline: both
 * libfngate (LOG and WS frames) and the runtime, which is not part of it, write frames.
 */
static inline int fng__sdk_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = write(fd, b, n);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		if (r == 0) {
			return -EIO;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

#endif
