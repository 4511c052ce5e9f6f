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
	/* Chunk extensions (RFC 9112 7.1.1), each state named by what it has just read: */
	B_EXT_WS,     /* whitespace after the size: ";" must follow */
	B_EXT_SEMI,   /* ";" (and whitespace): a name must follow */
	B_EXT_NAME,
	B_EXT_NAME_WS, /* whitespace after a name: "=" or ";" must follow */
	B_EXT_EQ,     /* "=" (and whitespace): a value must follow */
	B_EXT_TOKEN,  /* an unquoted value */
	B_EXT_QUOTED, /* inside a quoted value */
	B_EXT_QPAIR,  /* a backslash inside a quoted value */
	B_EXT_CLOSED, /* the closing quote */
	B_EXT_VAL_WS, /* whitespace after a value: ";" must follow */
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

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One byte of a size line's chunk extensions, RFC 9112 7.1.1:
 *
 *   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-name = token, chunk-ext-val = token / quoted-string
 *
 * The gateway ignores extensions, but a size line another parser on the path may read
 * differently is how chunked bodies smuggle requests, so the grammar is held exactly: no
 * whitespace before CRLF (BWS is only ever followed by ";" or "="), no control characters, a
 * quoted value closed before CRLF. obs-text (bytes 0x80-0xff), which the grammar allows inside
 * a quoted value for compatibility, is refused everywhere here: no client puts non-ASCII in a
 * chunk extension, and such a byte in a size line is a probe rather than data. Bounded by
 * FNG_CHUNK_EXT_MAX per line (and with the rest of the framing by max_meta).
 */
static int ext_byte(struct fng_body_parser *bp, unsigned char c)
{
	if (c == '\r') {
		switch (bp->state) {
		case B_EXT_NAME:
		case B_EXT_TOKEN:
		case B_EXT_CLOSED:
			bp->state = B_SIZE_LF;
			return 0;
		case B_EXT_SEMI:
			return (int)fail(bp, "chunk extension without a name");
		case B_EXT_EQ:
			return (int)fail(bp, "chunk extension without a value after \"=\"");
		case B_EXT_QUOTED:
		case B_EXT_QPAIR:
			return (int)fail(bp, "unterminated quoted string in chunk extension");
		default:
			return (int)fail(bp, "whitespace at the end of a chunk size line");
		}
	}
	if (++bp->ext_bytes > FNG_CHUNK_EXT_MAX) {
		return (int)fail(bp, "chunk extensions too long");
	}
	if (c >= 0x80) {
		return (int)fail(bp, "non-ASCII byte in chunk extension");
	}
	switch (bp->state) {
	case B_EXT_WS:
		if (c == ';') {
			bp->state = B_EXT_SEMI;
		} else if (!is_ws(c)) {
			return (int)fail(bp, "invalid character after chunk size");
		}
		return 0;
	case B_EXT_SEMI:
		if (fng__is_tchar(c)) {
			bp->state = B_EXT_NAME;
		} else if (c == '=' || c == ';') {
			return (int)fail(bp, "chunk extension without a name");
		} else if (!is_ws(c)) {
			return (int)fail(bp, "invalid character in chunk extension name");
		}
		return 0;
	case B_EXT_NAME:
	case B_EXT_NAME_WS:
		if (c == ';') {
			bp->state = B_EXT_SEMI;
		} else if (c == '=') {
			bp->state = B_EXT_EQ;
		} else if (is_ws(c)) {
			bp->state = B_EXT_NAME_WS;
		} else if (bp->state == B_EXT_NAME_WS) {
			return (int)fail(bp, "whitespace inside a chunk extension name");
		} else if (!fng__is_tchar(c)) {
			return (int)fail(bp, "invalid character in chunk extension name");
		}
		return 0;
	case B_EXT_EQ:
		if (c == '"') {
			bp->state = B_EXT_QUOTED;
		} else if (fng__is_tchar(c)) {
			bp->state = B_EXT_TOKEN;
		} else if (c == ';') {
			return (int)fail(bp, "chunk extension without a value after \"=\"");
		} else if (!is_ws(c)) {
			return (int)fail(bp, "invalid character in chunk extension value");
		}
		return 0;
	case B_EXT_TOKEN:
		if (c == ';') {
			bp->state = B_EXT_SEMI;
		} else if (is_ws(c)) {
			bp->state = B_EXT_VAL_WS;
		} else if (!fng__is_tchar(c)) {
			return (int)fail(bp, "invalid character in chunk extension value");
		}
		return 0;
	case B_EXT_QUOTED:
		/* qdtext: HTAB, SP and VCHAR but for DQUOTE and backslash */
		if (c == '"') {
			bp->state = B_EXT_CLOSED;
		} else if (c == '\\') {
			bp->state = B_EXT_QPAIR;
		} else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
			return (int)fail(bp, "control character in chunk extension value");
		}
		return 0;
	case B_EXT_QPAIR:
		if (c != '\t' && (c < 0x20 || c == 0x7f)) {
			return (int)fail(bp, "control character in chunk extension value");
		}
		bp->state = B_EXT_QUOTED;
		return 0;
	case B_EXT_CLOSED:
	case B_EXT_VAL_WS:
		if (c == ';') {
			bp->state = B_EXT_SEMI;
		} else if (is_ws(c)) {
			bp->state = B_EXT_VAL_WS;
		} else if (bp->state == B_EXT_VAL_WS) {
			return (int)fail(bp, "whitespace inside an unquoted chunk extension value");
		} else {
			return (int)fail(bp, "invalid character after a quoted chunk extension value");
		}
		return 0;
	}
	return (int)fail(bp, "invalid chunk extension");
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
			} else if (c == ';' || c == ' ' || c == '\t') {
				bp->ext_bytes = 1;
				bp->state = c == ';' ? B_EXT_SEMI : B_EXT_WS;
			} else if (c == '\r') {
				bp->state = B_SIZE_LF;
			} else {
				return fail(bp, "invalid chunk size");
			}
			break;
		}
		case B_EXT_WS:
		case B_EXT_SEMI:
		case B_EXT_NAME:
		case B_EXT_NAME_WS:
		case B_EXT_EQ:
		case B_EXT_TOKEN:
		case B_EXT_QUOTED:
		case B_EXT_QPAIR:
		case B_EXT_CLOSED:
		case B_EXT_VAL_WS:
			if (ext_byte(bp, c) < 0) {
				return FNG_EBAD_REQUEST;
			}
			break;
		case B_SIZE_LF:
			if (c != '\n') {
				return fail(bp, "bare CR in chunk size line");
			}
			bp->digits = 0;
			bp->ext_bytes = 0;
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
