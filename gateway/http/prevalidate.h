/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_PREVALIDATE_H
#define FNG_GATEWAY_PREVALIDATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Byte pre-validator for an HTTP/1.1 request head (request line + header block). It runs over
 * the head before llhttp sees it and refuses what llhttp tolerates: bare CR, bare LF, obs-fold,
 * whitespace before ':', NUL and other control bytes, non-token bytes in methods and field
 * names, non-ASCII in the request target. It also enforces the size limits, so a hostile head
 * is refused after at most limit bytes.
 *
 * The scan is incremental: feed the head's bytes as they arrive, in order, from one contiguous
 * buffer that starts at the first byte of the request (pv->off says how much was scanned).
 */
struct fng_prevalid {
	uint8_t state;
	uint8_t empty_lines;  /* CRLFs tolerated before the request line */
	uint32_t off;         /* bytes scanned so far */
	uint32_t line_start;  /* offset where the request line began */
	uint32_t head_start;  /* offset of the first header line */
	uint32_t fields;
	uint32_t max_line, max_head, max_fields;
	uint8_t ver;          /* index into "HTTP/d.d" while scanning the version */
	const char *error;    /* what was wrong, for the JSON message */
};

enum {
	FNG_PV_MORE = 0,       /* head not complete, all bytes valid so far */
	FNG_PV_DONE = 1,       /* head complete: pv->off is its length */
};

void fng__prevalid_init(struct fng_prevalid *pv, uint32_t max_line, uint32_t max_head,
	uint32_t max_fields);

/*
 * Scans buf[pv->off .. len). Returns FNG_PV_MORE, FNG_PV_DONE, or a negative FNG_E* code
 * (FNG_EBAD_REQUEST, FNG_EURI_TOO_LONG, FNG_EHEADERS_TOO_LARGE) with pv->error set.
 */
int fng__prevalid_scan(struct fng_prevalid *pv, const char *buf, size_t len);

/* Offset of the request line's first byte (after tolerated leading empty lines). */
static inline uint32_t fng__prevalid_line_start(const struct fng_prevalid *pv)
{
	return pv->line_start;
}

#endif
