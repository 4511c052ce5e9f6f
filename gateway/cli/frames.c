// SPDX-License-Identifier: MIT
/*
 * A worker's frames off a blocking descriptor (frames.h), for `fngate invoke` and the test
 * harness: both play the gateway's side of the wire one invocation at a time, without a loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frames.h"

/* Reads are at least this big: one usually brings a small frame whole. */
#define READ_MIN 65536

int fng__frames_next(int fd, struct fng_wire_buf *in, fng_frames_wait_cb wait, void *arg,
	uint8_t *type, const uint8_t **body, size_t *blen, size_t *used)
{
	for (;;) {
		long n = fng__wire_frame(in->p ? in->p : (const uint8_t *)"", in->len,
			FNG_WIRE_MAX_DEFAULT, type, body, blen);
		ssize_t r;
		int w;

		if (n > 0) {
			*used = (size_t)n;
			return 0;
		}
		if (n < 0) {
			return -EPROTO;
		}
		if (in->cap - in->len < READ_MIN) {
			size_t cap = in->cap ? in->cap * 2 : 2 * READ_MIN;
			uint8_t *q = realloc(in->p, cap);

			if (!q) {
				return -ENOMEM;
			}
			in->p = q;
			in->cap = cap;
		}
		w = wait ? wait(arg) : 0;
		if (w < 0) {
			return w;
		}
		if (w > 0) {
			continue;
		}
		r = read(fd, in->p + in->len, in->cap - in->len);
		if (r == 0) {
			return -EPIPE;
		}
		if (r < 0 && errno != EINTR && errno != EAGAIN) {
			return -errno;
		}
		if (r > 0) {
			in->len += (size_t)r;
		}
	}
}

void fng__frames_consume(struct fng_wire_buf *in, size_t n)
{
	memmove(in->p, in->p + n, in->len - n);
	in->len -= n;
	if (!in->len && in->cap > 1024 * 1024) {
		fng__wire_buf_finish(in); /* a big frame's buffer is not kept for the next */
	}
}
