// SPDX-License-Identifier: MIT
/*
 * Strict byte-level validation of a request head, the first thing every request byte meets
 * after the transport. llhttp parses what passes; what fails never reaches a parser, a router
 * or an integration. See prevalidate.h for what is refused and why.
 */
#include "chars.h"
#include "errors.h"
#include "prevalidate.h"

enum {
	S_START,    /* before the request line; CRLF tolerated */
	S_START_CR,
	S_METHOD,
	S_TARGET0,  /* first byte of the request target */
	S_TARGET,
	S_VERSION,
	S_LINE_CR,
	S_FIELD0,   /* start of a header line, or the empty line that ends the head */
	S_NAME,
	S_VALUE,
	S_VALUE_CR,
	S_END_CR,
};

#define MAX_EMPTY_LINES 2

void fng__prevalid_init(struct fng_prevalid *pv, uint32_t max_line, uint32_t max_head,
	uint32_t max_fields)
{
	*pv = (struct fng_prevalid){
		.state = S_START,
		.max_line = max_line,
		.max_head = max_head,
		.max_fields = max_fields,
	};
}

static int fail(struct fng_prevalid *pv, int err, const char *why)
{
	pv->error = why;
	return err;
}

/* Names what is wrong with a byte that is not allowed where it stands. */
static int bad_byte(struct fng_prevalid *pv, unsigned char c, const char *where)
{
	if (c == '\0') {
		return fail(pv, FNG_EBAD_REQUEST, "NUL byte in request head");
	}
	if (c == '\r') {
		return fail(pv, FNG_EBAD_REQUEST, "bare CR in request head");
	}
	if (c == '\n') {
		return fail(pv, FNG_EBAD_REQUEST, "bare LF in request head");
	}
	return fail(pv, FNG_EBAD_REQUEST, where);
}

int fng__prevalid_scan(struct fng_prevalid *pv, const char *buf, size_t len)
{
	static const char version[] = "HTTP/d.d";
	size_t i;

	for (i = pv->off; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		switch (pv->state) {
		case S_START:
			if (c == '\r') {
				pv->state = S_START_CR;
				break;
			}
			if (!fng__is_tchar(c)) {
				return bad_byte(pv, c, "invalid character in method");
			}
			pv->line_start = (uint32_t)i;
			pv->state = S_METHOD;
			break;
		case S_START_CR:
			if (c != '\n') {
				return bad_byte(pv, c, "bare CR in request head");
			}
			if (++pv->empty_lines > MAX_EMPTY_LINES) {
				return fail(pv, FNG_EBAD_REQUEST, "too many empty lines before request");
			}
			pv->state = S_START;
			break;
		case S_METHOD:
			if (c == ' ') {
				pv->state = S_TARGET0;
			} else if (!fng__is_tchar(c)) {
				return bad_byte(pv, c, "invalid character in method");
			}
			break;
		case S_TARGET0:
		case S_TARGET:
			if (c == ' ' && pv->state == S_TARGET) {
				pv->state = S_VERSION;
				pv->ver = 0;
			} else if (!fng__is_vchar(c)) {
				return bad_byte(pv, c,
					c == ' ' ? "empty request target or repeated space"
						 : "invalid character in request target");
			} else {
				pv->state = S_TARGET;
			}
			break;
		case S_VERSION:
			if (pv->ver == sizeof(version) - 1) {
				if (c != '\r') {
					return bad_byte(pv, c, "malformed HTTP version");
				}
				pv->state = S_LINE_CR;
				break;
			}
			if (version[pv->ver] == 'd' ? (c < '0' || c > '9') : c != (unsigned char)version[pv->ver]) {
				return bad_byte(pv, c, "malformed HTTP version");
			}
			pv->ver++;
			break;
		case S_LINE_CR:
			if (c != '\n') {
				return bad_byte(pv, c, "bare CR in request line");
			}
			pv->head_start = (uint32_t)i + 1;
			pv->state = S_FIELD0;
			break;
		case S_FIELD0:
			if (c == '\r') {
				pv->state = S_END_CR;
			} else if (c == ' ' || c == '\t') {
				return fail(pv, FNG_EBAD_REQUEST,
					pv->fields ? "obsolete line folding in header"
						   : "whitespace before first header field");
			} else if (c == ':') {
				return fail(pv, FNG_EBAD_REQUEST, "empty header field name");
			} else if (!fng__is_tchar(c)) {
				return bad_byte(pv, c, "invalid character in header field name");
			} else {
				if (++pv->fields > pv->max_fields) {
					return fail(pv, FNG_EHEADERS_TOO_LARGE, "too many header fields");
				}
				pv->state = S_NAME;
			}
			break;
		case S_NAME:
			if (c == ':') {
				pv->state = S_VALUE;
			} else if (c == ' ' || c == '\t') {
				return fail(pv, FNG_EBAD_REQUEST, "whitespace before colon in header field");
			} else if (c == '\r' || c == '\n') {
				return fail(pv, FNG_EBAD_REQUEST, "header field without colon");
			} else if (!fng__is_tchar(c)) {
				return bad_byte(pv, c, "invalid character in header field name");
			}
			break;
		case S_VALUE:
			if (c == '\r') {
				pv->state = S_VALUE_CR;
			} else if (!fng__is_field_byte(c)) {
				return bad_byte(pv, c, "control character in header field value");
			}
			break;
		case S_VALUE_CR:
			if (c != '\n') {
				return bad_byte(pv, c, "bare CR in header field value");
			}
			pv->state = S_FIELD0;
			break;
		case S_END_CR:
			if (c != '\n') {
				return bad_byte(pv, c, "bare CR at end of header block");
			}
			if (i + 1 - pv->head_start > pv->max_head) {
				return fail(pv, FNG_EHEADERS_TOO_LARGE, "header block too large");
			}
			pv->off = (uint32_t)i + 1;
			return FNG_PV_DONE;
		}

		/*
		 * Limits, checked per byte so a hostile head costs at most limit bytes. The request
		 * line is method SP target SP version (its CRLF not counted); the header block is
		 * everything after it, the final empty line included.
		 */
		if (pv->state >= S_METHOD && pv->state <= S_VERSION) {
			if (i + 1 - pv->line_start > pv->max_line) {
				return fail(pv, FNG_EURI_TOO_LONG, "request line too long");
			}
		} else if (pv->state >= S_FIELD0 && i + 1 - pv->head_start > pv->max_head) {
			return fail(pv, FNG_EHEADERS_TOO_LARGE, "header block too large");
		}
	}
	pv->off = (uint32_t)len;
	return FNG_PV_MORE;
}
