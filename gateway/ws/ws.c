// SPDX-License-Identifier: MIT
/*
 * RFC 6455 for the server side, without I/O: what ws_conn.c needs to turn bytes into frames
 * and frames back into bytes. Everything a client sends is checked here — reserved bits and
 * opcodes, the mask, control-frame rules, lengths against the frame limit before the payload
 * is even buffered, close codes, UTF-8 — so the connection code only makes decisions.
 */
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/sha.h>

#include "chars.h"
#include "ws.h"

/* RFC 6455 section 1.3. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int fng__ws_accept(const char *key, size_t len, char out[29])
{
	uint8_t digest[WC_SHA_DIGEST_SIZE];
	word32 olen = 29;
	wc_Sha sha;

	if (wc_InitSha(&sha) != 0) {
		return -1;
	}
	if (wc_ShaUpdate(&sha, (const byte *)key, (word32)len) != 0 ||
		wc_ShaUpdate(&sha, (const byte *)ws_guid, sizeof(ws_guid) - 1) != 0 ||
		wc_ShaFinal(&sha, digest) != 0) {
		wc_ShaFree(&sha);
		return -1;
	}
	wc_ShaFree(&sha);
	if (Base64_Encode_NoNl(digest, sizeof(digest), (byte *)out, &olen) != 0 || olen != 28) {
		return -1;
	}
	out[28] = '\0';
	return 0;
}

static bool b64char(char c)
{
	return fng__is_alnum((unsigned char)c) || c == '+' || c == '/';
}

bool fng__ws_key_ok(const char *key, size_t len)
{
	if (len != 24 || key[22] != '=' || key[23] != '=') {
		return false;
	}
	for (size_t i = 0; i < 22; i++) {
		if (!b64char(key[i])) {
			return false;
		}
	}
	/* 16 bytes end in 2 bits: the last character's low 4 bits are zero. */
	return strchr("AQgw", key[21]) != NULL;
}

bool fng__utf8_feed(struct fng_utf8 *u, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;

	while (p < end) {
		uint8_t c = *p++;

		if (u->need) {
			if (c < u->lo || c > u->hi) {
				return false;
			}
			u->need--;
			u->lo = 0x80;
			u->hi = 0xbf;
			continue;
		}
		if (c < 0x80) {
			/* ASCII runs: eight at a time while they last. */
			while (end - p >= 8) {
				uint64_t w;

				memcpy(&w, p, 8);
				if (w & 0x8080808080808080ULL) {
					break;
				}
				p += 8;
			}
			continue;
		}
		u->lo = 0x80;
		u->hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			u->need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			u->need = 2;
			if (c == 0xe0) {
				u->lo = 0xa0; /* no overlong three-byte forms */
			} else if (c == 0xed) {
				u->hi = 0x9f; /* no UTF-16 surrogates */
			}
		} else if (c >= 0xf0 && c <= 0xf4) {
			u->need = 3;
			if (c == 0xf0) {
				u->lo = 0x90; /* no overlong four-byte forms */
			} else if (c == 0xf4) {
				u->hi = 0x8f; /* nothing above U+10FFFF */
			}
		} else {
			return false; /* a stray continuation byte, C0/C1, or F5-FF */
		}
	}
	return true;
}

long fng__ws_decode(uint8_t *buf, size_t len, size_t max_frame, struct fng_ws_frame *f)
{
	uint8_t op, *mask, *payload;
	uint64_t plen;
	size_t hl = 2;
	bool fin;

	if (len < 2) {
		return 0;
	}
	fin = buf[0] & 0x80;
	op = buf[0] & 0x0f;
	/* No extension is negotiated: every reserved bit must be 0. */
	if (buf[0] & 0x70) {
		return -FNG_WS_PROTOCOL_ERROR;
	}
	if (op != FNG_WS_CONT && op != FNG_WS_TEXT && op != FNG_WS_BINARY && op != FNG_WS_CLOSE &&
		op != FNG_WS_PING && op != FNG_WS_PONG) {
		return -FNG_WS_PROTOCOL_ERROR;
	}
	/* A client masks every frame (section 5.1). */
	if (!(buf[1] & 0x80)) {
		return -FNG_WS_PROTOCOL_ERROR;
	}
	plen = buf[1] & 0x7f;
	if ((op & 0x8) && (!fin || plen > 125)) {
		return -FNG_WS_PROTOCOL_ERROR;
	}
	if (plen == 126) {
		if (len < 4) {
			return 0;
		}
		plen = (uint64_t)buf[2] << 8 | buf[3];
		hl = 4;
	} else if (plen == 127) {
		if (len < 10) {
			return 0;
		}
		plen = 0;
		for (int i = 2; i < 10; i++) {
			plen = plen << 8 | buf[i];
		}
		if (plen >> 63) {
			return -FNG_WS_PROTOCOL_ERROR;
		}
		hl = 10;
	}
	/* Control frames are bounded by 125 bytes above, not by the data frame limit. */
	if (!(op & 0x8) && plen > max_frame) {
		return -FNG_WS_TOO_BIG;
	}
	if (len < hl + 4 || len - hl - 4 < plen) {
		return 0;
	}
	mask = buf + hl;
	payload = mask + 4;
	for (size_t i = 0; i < plen; i++) {
		payload[i] ^= mask[i & 3];
	}
	f->opcode = op;
	f->fin = fin;
	f->payload = payload;
	f->len = (size_t)plen;
	return (long)(hl + 4 + plen);
}

size_t fng__ws_header(uint8_t out[FNG_WS_MAX_HEADER], uint8_t opcode, bool fin, uint64_t len)
{
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++) {
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	}
	return 10;
}

int fng__ws_close_reply(const uint8_t *p, size_t len, int *peer)
{
	struct fng_utf8 u = { 0 };
	int code;

	*peer = FNG_WS_NO_STATUS;
	if (len == 0) {
		return FNG_WS_NORMAL;
	}
	if (len == 1) {
		return FNG_WS_PROTOCOL_ERROR;
	}
	code = p[0] << 8 | p[1];
	*peer = code;
	if (!fng__ws_close_code_ok((uint32_t)code)) {
		return FNG_WS_PROTOCOL_ERROR;
	}
	if (!fng__utf8_feed(&u, p + 2, len - 2) || !fng__utf8_complete(&u)) {
		return FNG_WS_INVALID_DATA;
	}
	return code;
}
