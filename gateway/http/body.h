/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_BODY_H
#define FNG_GATEWAY_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Request body framing, decoded strictly: exactly Content-Length bytes, or the chunked
 * coding with its size lines, extensions, CRLFs and trailer section checked byte by byte.
 * llhttp only parses heads here: its chunked decoder accepts chunk data not followed by CRLF
 * and bare LF in trailers, which is how bodies smuggle requests.
 */
struct fng_body_parser {
	uint8_t state;
	uint8_t digits;
	bool chunked;
	uint64_t remaining;   /* Content-Length left, or the current chunk's bytes left */
	uint32_t meta;        /* bytes of size lines and trailers so far */
	uint32_t max_meta;    /* limit for those (the header block limit) */
	uint32_t fields, max_fields;
	uint32_t ext_bytes;   /* of the current size line's chunk extensions */
	const char *error;
};

/*
 * Bytes of chunk extensions one size line may carry (from the first byte after the size to the
 * CR). The gateway reads none of them; a client has no reason to send more than a few.
 */
#define FNG_CHUNK_EXT_MAX 4096

/* Called with payload bytes; a negative return stops parsing and is returned. */
typedef int (*fng_body_data_fn)(void *ctx, const char *p, size_t n);

void fng__body_init(struct fng_body_parser *bp, bool chunked, uint64_t content_length,
	uint32_t max_meta, uint32_t max_fields);

/*
 * Consumes p[0..len). Returns the number of bytes consumed (less than len only when the body
 * ended), or a negative error: FNG_EBAD_REQUEST (bp->error says why), FNG_EHEADERS_TOO_LARGE
 * (trailers over the limit) or what data returned.
 */
long fng__body_parse(struct fng_body_parser *bp, const char *p, size_t len,
	fng_body_data_fn data, void *ctx);

bool fng__body_done(const struct fng_body_parser *bp);

#endif
