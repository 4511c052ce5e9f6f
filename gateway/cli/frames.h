/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CLI_FRAMES_H
#define FNG_GATEWAY_CLI_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/*
 * Reading a worker's frames off a blocking descriptor, for what plays the gateway without its
 * loop: `fngate invoke` (cli_fn.c) and the test harness (gateway/harness). The daemon reads
 * frames on its loop (host/), not with these.
 */

/*
 * Called before each read(2) of fng__frames_next(): 0 to read now, 1 to look again without
 * reading (what it waited for was something else), or a negative errno to give up with.
 */
typedef int (*fng_frames_wait_cb)(void *arg);

/*
 * The next frame from fd, buffered in in (at most FNG_WIRE_MAX_DEFAULT bytes of body): its
 * type, body and length, and in *used its size, which the caller hands to
 * fng__frames_consume() when done with the body. wait may be NULL (read blocks). 0, or
 * -EPIPE at end of file, -EPROTO for a frame over the cap, -ENOMEM, wait's error, -errno.
 */
int fng__frames_next(int fd, struct fng_wire_buf *in, fng_frames_wait_cb wait, void *arg,
	uint8_t *type, const uint8_t **body, size_t *blen, size_t *used);

/* Drops the first n bytes of in (a frame the caller is done with). */
void fng__frames_consume(struct fng_wire_buf *in, size_t n);

#endif
