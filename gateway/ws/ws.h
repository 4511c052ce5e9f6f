/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_WS_H
#define FNG_GATEWAY_WS_H

/*
 * RFC 6455, server side, as pure functions over buffers: the handshake's accept key, the
 * frame decoder with its limits and close codes, incremental UTF-8 validation, and frame
 * encoding. No sockets and no allocation here: the connection layer (ws_conn.c) owns the
 * buffers and decides what to do with each decoded frame.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The close-code rule (fng__ws_close_code_ok()), shared with the SDK. */
#include "wire_rules.h"

enum fng_ws_opcode {
	FNG_WS_CONT = 0x0,
	FNG_WS_TEXT = 0x1,
	FNG_WS_BINARY = 0x2,
	FNG_WS_CLOSE = 0x8,
	FNG_WS_PING = 0x9,
	FNG_WS_PONG = 0xa,
};

/* Close codes the gateway sends (RFC 6455 section 7.4.1). */
enum fng_ws_close_code {
	FNG_WS_NORMAL = 1000,
	FNG_WS_GOING_AWAY = 1001,
	FNG_WS_PROTOCOL_ERROR = 1002,
	FNG_WS_UNSUPPORTED = 1003,
	FNG_WS_NO_STATUS = 1005,     /* never sent: "the close frame had no code" */
	FNG_WS_INVALID_DATA = 1007,  /* text that is not UTF-8 */
	FNG_WS_POLICY = 1008,
	FNG_WS_TOO_BIG = 1009,
	FNG_WS_INTERNAL = 1011,
};

/* Base64 of SHA-1(key + the RFC's GUID): the Sec-WebSocket-Accept value (28 chars + NUL). */
int fng__ws_accept(const char *key, size_t len, char out[29]);

/* A Sec-WebSocket-Key must be the base64 of 16 bytes: 22 base64 characters and "==". */
bool fng__ws_key_ok(const char *key, size_t len);

/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). */
struct fng_utf8 {
	uint8_t need;  /* continuation bytes still expected */
	uint8_t lo, hi; /* the range the next continuation byte must fall in */
};

/* Feeds bytes; false at the first byte that cannot be part of valid UTF-8. */
bool fng__utf8_feed(struct fng_utf8 *u, const uint8_t *p, size_t n);
/* True if the text fed so far ends on a character boundary. */
static inline bool fng__utf8_complete(const struct fng_utf8 *u)
{
	return u->need == 0;
}

/* One decoded frame: payload unmasked in place, pointing into the caller's buffer. */
struct fng_ws_frame {
	uint8_t opcode;
	bool fin;
	const uint8_t *payload;
	size_t len;
};

/*
 * Decodes one frame at the start of buf (client to server: masked). Returns the bytes it
 * took (> 0) and fills *f, unmasking its payload in buf; 0 if more bytes are needed; or a
 * negative close code: -FNG_WS_PROTOCOL_ERROR (reserved bits or opcodes, no mask, a control
 * frame that is fragmented or over 125 bytes, a 64-bit length with its top bit set) or
 * -FNG_WS_TOO_BIG (a data frame's payload over max_frame; known from the header alone).
 */
long fng__ws_decode(uint8_t *buf, size_t len, size_t max_frame, struct fng_ws_frame *f);

/* The largest header fng__ws_header() writes. */
#define FNG_WS_MAX_HEADER 10

/* Writes a server (unmasked) frame header for len payload bytes; returns its size. */
size_t fng__ws_header(uint8_t out[FNG_WS_MAX_HEADER], uint8_t opcode, bool fin, uint64_t len);

/*
 * Checks a received close frame's payload (empty, or a code and a UTF-8 reason). Returns the
 * code to answer with: the peer's code, 1000 for an empty payload, or 1002/1007 when the
 * payload is malformed (1 byte, a code not allowed on the wire, a reason not in UTF-8).
 * *peer gets the peer's code (FNG_WS_NO_STATUS when there was none).
 */
int fng__ws_close_reply(const uint8_t *p, size_t len, int *peer);

#endif
