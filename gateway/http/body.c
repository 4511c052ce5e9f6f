// SPDX-License-Identifier: MIT
/*
 * Strict request body framing (see body.h): the second half of the front end's input
 * validation, after prevalidate.c has checked the head.
 */
#include <string.h>

#include "body.h"
#include "chars.h"
#include "errors.h"

enum {
	B_LENGTH,     /* Content-Length bytes */
	B_SIZE0,      /* first hex digit of a chunk size */
	B_SIZE,
	B_EXT,        /* chunk extension, up to CR */
	B_SIZE_LF,
	B_DATA,
	B_DATA_CR,
	B_DATA_LF,
	B_TRAILER0,   /* start of a trailer line, or the final CRLF */
	B_TNAME,
	B_TVALUE,
	B_TVALUE_LF,
	B_END_LF,
	B_DONE,
};

void fng__body_init(struct fng_body_parser *bp, bool chunked, uint64_t content_length,
	uint32_t max_meta, uint32_t max_fields)
{
	*bp = (struct fng_body_parser){
		.state = chunked ? B_SIZE0 : (content_length ? B_LENGTH : B_DONE),
		.chunked = chunked,
		.remaining = chunked ? 0 : content_length,
		.max_meta = max_meta,
		.max_fields = max_fields,
	};
}

bool fng__body_done(const struct fng_body_parser *bp)
{
	return bp->state == B_DONE;
}

static long fail(struct fng_body_parser *bp, const char *why)
{
	bp->error = why;
	return FNG_EBAD_REQUEST;
}

long fng__body_parse(struct fng_body_parser *bp, const char *p, size_t len,
	fng_body_data_fn data, void *ctx)
{
	size_t i = 0;
	int err;

	while (i < len && bp->state != B_DONE) {
		unsigned char c = (unsigned char)p[i];

		if (bp->state == B_LENGTH || bp->state == B_DATA) {
			size_t n = len - i < bp->remaining ? len - i : (size_t)bp->remaining;

			err = data(ctx, p + i, n);
			if (err < 0) {
				return err;
			}
			i += n;
			bp->remaining -= n;
			if (bp->remaining == 0) {
				bp->state = bp->state == B_LENGTH ? B_DONE : B_DATA_CR;
			}
			continue;
		}
		if (++bp->meta > bp->max_meta) {
			bp->error = "chunk size lines and trailers too large";
			return bp->state >= B_TRAILER0 ? FNG_EHEADERS_TOO_LARGE : FNG_EBAD_REQUEST;
		}
		i++;
		switch (bp->state) {
		case B_SIZE0:
		case B_SIZE: {
			int h = fng__hexval(c);

			if (h >= 0) {
				if (++bp->digits > 15) {
					return fail(bp, "chunk size too large");
				}
				bp->remaining = bp->remaining << 4 | (uint64_t)h;
				bp->state = B_SIZE;
			} else if (bp->state == B_SIZE0) {
				return fail(bp, "invalid chunk size");
			} else if (c == ';') {
				bp->state = B_EXT;
			} else if (c == '\r') {
				bp->state = B_SIZE_LF;
			} else {
				return fail(bp, "invalid chunk size");
			}
			break;
		}
		case B_EXT:
			if (c == '\r') {
				bp->state = B_SIZE_LF;
			} else if (!fng__is_field_byte(c)) {
				return fail(bp, "invalid character in chunk extension");
			}
			break;
		case B_SIZE_LF:
			if (c != '\n') {
				return fail(bp, "bare CR in chunk size line");
			}
			bp->digits = 0;
			bp->state = bp->remaining ? B_DATA : B_TRAILER0;
			break;
		case B_DATA_CR:
			if (c != '\r') {
				return fail(bp, "chunk data not followed by CRLF");
			}
			bp->state = B_DATA_LF;
			break;
		case B_DATA_LF:
			if (c != '\n') {
				return fail(bp, "chunk data not followed by CRLF");
			}
			bp->state = B_SIZE0;
			break;
		case B_TRAILER0:
			if (c == '\r') {
				bp->state = B_END_LF;
			} else if (fng__is_tchar(c)) {
				if (++bp->fields > bp->max_fields) {
					bp->error = "too many trailer fields";
					return FNG_EHEADERS_TOO_LARGE;
				}
				bp->state = B_TNAME;
			} else {
				return fail(bp, "invalid trailer field");
			}
			break;
		case B_TNAME:
			if (c == ':') {
				bp->state = B_TVALUE;
			} else if (!fng__is_tchar(c)) {
				return fail(bp, "invalid character in trailer field name");
			}
			break;
		case B_TVALUE:
			if (c == '\r') {
				bp->state = B_TVALUE_LF;
			} else if (!fng__is_field_byte(c)) {
				return fail(bp, "invalid character in trailer field value");
			}
			break;
		case B_TVALUE_LF:
			if (c != '\n') {
				return fail(bp, "bare CR in trailer field");
			}
			bp->state = B_TRAILER0;
			break;
		case B_END_LF:
			if (c != '\n') {
				return fail(bp, "bare CR at end of chunked body");
			}
			bp->state = B_DONE;
			break;
		}
	}
	return (long)i;
}
