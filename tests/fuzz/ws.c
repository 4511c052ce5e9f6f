// SPDX-License-Identifier: MIT
/*
 * Fuzz driver over WebSocket frames. The input is a byte that picks how the rest is split into
 * reads (as in http.c), then what a client sends after its handshake. It goes two ways:
 *
 * - through the codec (gateway/ws/ws.c) frame by frame, checked against what the header bytes
 *   say (sizes, where the payload is, when more input is needed), re-encoded and decoded again,
 *   and every payload through the UTF-8 validator (whole and in two parts, against a plain
 *   code point decoder) and every close payload through fng__ws_close_reply();
 * - through a real connection (gateway/ws/ws_conn.c) on the loopback transport: a fixed handshake,
 *   then the input, the mock routes answering each message. What the server sends back must be
 *   well formed: unmasked frames with minimal lengths, control frames whole and short, text in
 *   UTF-8, and nothing after a close frame whose code a server may send.
 *
 * A rule broken aborts, so libFuzzer and the corpus replay both report it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_server.h"
#include "daemon.h"
#include "http.h"
#include "transport.h"
#include "ws.h"

/* Small limits, so that inputs of a few hundred bytes reach them. */
#define FRAME_BYTES 256

static const char config[] =
	"server: { listen: ['127.0.0.1:0'] }\n"
	"access_log: { path: /dev/null }\n"
	"apis:\n"
	"  w:\n"
	"    protocol: websocket\n"
	"    websocket: { message_bytes: 1024, frame_bytes: 256, ping_ms: 0, message_rate: 100,\n"
	"                 message_burst: 16 }\n"
	"    stages: { s: {} }\n"
	"    routes:\n"
	"      $connect: { integration: { type: mock } }\n"
	"      $disconnect: { integration: { type: mock } }\n"
	"      $default: { integration: { type: mock, body: '${context.routeKey}' } }\n"
	"      echo: { integration: { type: mock, body: 'q=${request.querystring.q} \xc3\xa9' } }\n"
	"      fail: { integration: { type: mock, status: 500 } }\n"
	"      quiet: { integration: { type: mock, status: 204 } }\n";

static const char handshake[] =
	"GET /s?q=fuzz HTTP/1.1\r\n"
	"Host: example.com\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"\r\n";

static uv_loop_t loop;
static struct fng_server srv;
static int ready;

static void setup(void)
{
	fng_fuzz_server(&loop, &srv, config, sizeof(config) - 1);
	ready = 1;
}

/* ---- oracles, written from RFC 3629 and RFC 6455 apart from ws.c ---- */

/* Whether p[0..n) is UTF-8: each code point decoded, then judged by its value and length. */
static bool utf8_ref(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t len;

		if (p[i] < 0x80) {
			i++;
			continue;
		} else if ((p[i] & 0xe0) == 0xc0) {
			len = 2;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			len = 4;
			cp = p[i] & 0x07;
		} else {
			return false;
		}
		if (n - i < len) {
			return false;
		}
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				return false;
			}
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
			(len == 4 && cp < 0x10000) || cp > 0x10ffff ||
			(cp >= 0xd800 && cp <= 0xdfff)) {
			return false;
		}
		i += len;
	}
	return true;
}

/* The validator agrees with utf8_ref fed whole, and fed in two parts cut at cut. */
static bool utf8_check(const uint8_t *p, size_t n, size_t cut)
{
	struct fng_utf8 a = { 0 }, b = { 0 };
	bool whole = fng__utf8_feed(&a, p, n) && fng__utf8_complete(&a);
	bool parts;

	cut = n ? cut % (n + 1) : 0;
	parts = fng__utf8_feed(&b, p, cut) && fng__utf8_feed(&b, p + cut, n - cut) &&
		fng__utf8_complete(&b);
	if (whole != utf8_ref(p, n) || parts != whole) {
		abort();
	}
	return whole;
}

/* Codes a close frame may carry (section 7.4.1, and 1012-1014 registered since). */
static bool code_on_wire(int code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

static void close_check(const uint8_t *p, size_t n, size_t cut)
{
	int peer = 0, code = fng__ws_close_reply(p, n, &peer);
	int want_peer = n >= 2 ? p[0] << 8 | p[1] : FNG_WS_NO_STATUS;
	int want;

	if (n == 0) {
		want = FNG_WS_NORMAL;
	} else if (n == 1 || !code_on_wire(want_peer)) {
		want = FNG_WS_PROTOCOL_ERROR;
	} else {
		want = utf8_check(p + 2, n - 2, cut) ? want_peer : FNG_WS_INVALID_DATA;
	}
	if (code != want || peer != want_peer) {
		abort();
	}
}

/*
 * What the header at p says: the bytes of the whole frame, masking key included when masked
 * (0 while the header itself is incomplete), its payload length, header size, and whether
 * the length used the fewest bytes possible.
 */
static size_t frame_size(const uint8_t *p, size_t n, uint64_t *plen, size_t *hl, bool *minimal)
{
	size_t mask;

	if (n < 2) {
		return 0;
	}
	mask = p[1] & 0x80 ? 4 : 0;
	*plen = p[1] & 0x7f;
	*hl = 2;
	*minimal = true;
	if (*plen == 126) {
		if (n < 4) {
			return 0;
		}
		*plen = (uint64_t)p[2] << 8 | p[3];
		*hl = 4;
		*minimal = *plen >= 126;
	} else if (*plen == 127) {
		if (n < 10) {
			return 0;
		}
		*plen = 0;
		for (int i = 2; i < 10; i++) {
			*plen = *plen << 8 | p[i];
		}
		*hl = 10;
		*minimal = *plen > 0xffff;
	}
	return *plen > SIZE_MAX / 2 ? SIZE_MAX : *hl + mask + (size_t)*plen;
}

/*
 * Why the frame at p (its header complete) is refused: -1002 for a reserved bit or opcode, no
 * mask, a fragmented or long control frame, a length with its top bit set; -1009 for a data
 * frame over FRAME_BYTES; 0 if it is not.
 */
static long refusal(const uint8_t *p, size_t n)
{
	uint8_t op = p[0] & 0x0f;
	bool control = op >= FNG_WS_CLOSE;
	uint64_t plen;
	size_t hl;
	bool minimal;

	if ((p[0] & 0x70) || (op > FNG_WS_BINARY && op < FNG_WS_CLOSE) || op > FNG_WS_PONG ||
		!(p[1] & 0x80) || (control && (!(p[0] & 0x80) || (p[1] & 0x7f) > 125))) {
		return -FNG_WS_PROTOCOL_ERROR;
	}
	if (!frame_size(p, n, &plen, &hl, &minimal)) {
		abort(); /* refused before its header was complete */
	}
	if (plen >> 63) {
		return -FNG_WS_PROTOCOL_ERROR;
	}
	return !control && plen > FRAME_BYTES ? -FNG_WS_TOO_BIG : 0;
}

/* ---- the codec ---- */

static void codec(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1), *copy = malloc(size + FNG_WS_MAX_HEADER + 4);
	size_t off = 0;

	if (!buf || !copy) {
		abort();
	}
	memcpy(buf, data, size);
	for (;;) {
		struct fng_ws_frame f, g;
		uint8_t *p = buf + off;
		size_t left = size - off, hl, need, h, total;
		uint64_t plen;
		bool minimal;
		long n = fng__ws_decode(p, left, FRAME_BYTES, &f);

		need = frame_size(p, left, &plen, &hl, &minimal);
		if (n == 0) {
			/* Only a frame cut short asks for more. */
			if (left >= 2 && need && left >= need && (p[1] & 0x80)) {
				abort();
			}
			break;
		}
		if (n < 0) {
			if (n != refusal(p, left)) {
				abort();
			}
			break;
		}
		/* Taken: a whole masked frame, exactly as long as its header says. */
		if (!(p[1] & 0x80) || (p[0] & 0x70) || (size_t)n != need || (size_t)n > left ||
			f.len != plen || f.payload != p + hl + 4 || f.fin != !!(p[0] & 0x80) ||
			f.opcode != (p[0] & 0x0f)) {
			abort();
		}
		if (f.opcode >= FNG_WS_CLOSE ? !f.fin || f.len > 125 || f.opcode > FNG_WS_PONG :
			f.opcode > FNG_WS_BINARY || f.len > FRAME_BYTES) {
			abort();
		}
		/* Framed again, with the same masking key: the same frame, minimally encoded. */
		h = fng__ws_header(copy, f.opcode, f.fin, f.len);
		total = h + 4 + f.len;
		if ((h == hl) != minimal) {
			abort();
		}
		copy[1] |= 0x80;
		memcpy(copy + h, p + hl, 4);
		for (size_t i = 0; i < f.len; i++) {
			copy[h + 4 + i] = f.payload[i] ^ p[hl + (i & 3)];
		}
		/* Every strict prefix needs more; the whole decodes to the same frame. */
		if (fng__ws_decode(copy, total - 1, FRAME_BYTES, &g) != 0 ||
			fng__ws_decode(copy, total, FRAME_BYTES, &g) != (long)total ||
			g.opcode != f.opcode || g.fin != f.fin || g.len != f.len ||
			memcmp(g.payload, f.payload, f.len) != 0) {
			abort();
		}
		if (f.opcode == FNG_WS_CLOSE) {
			close_check(f.payload, f.len, p[hl]);
		} else {
			utf8_check(f.payload, f.len, p[hl]);
		}
		off += (size_t)n;
	}
	free(buf);
	free(copy);
}

/* ---- the connection ---- */

/*
 * Checks what the server wrote after the 101: frames a client must accept (section 5). The
 * output may end inside a frame only if the connection was cut; it never does here, as the
 * loopback transport writes everything at once.
 */
static void server_frames(const uint8_t *p, size_t n)
{
	bool closed = false;
	size_t off = 0;

	while (off < n) {
		uint64_t plen;
		size_t hl, need;
		bool minimal;
		uint8_t op = p[off] & 0x0f;
		const uint8_t *pl;

		need = frame_size(p + off, n - off, &plen, &hl, &minimal);
		if (closed || !need || need > n - off || !minimal || (p[off + 1] & 0x80) ||
			(p[off] & 0x70)) {
			abort();
		}
		pl = p + off + hl;
		if (op >= FNG_WS_CLOSE ? !(p[off] & 0x80) || plen > 125 || op > FNG_WS_PONG :
			op == FNG_WS_CONT || op > FNG_WS_BINARY) {
			abort();
		}
		if (op == FNG_WS_TEXT && !utf8_ref(pl, plen)) {
			abort();
		}
		if (op == FNG_WS_CLOSE) {
			if (plen == 1 || (plen >= 2 && (!code_on_wire(pl[0] << 8 | pl[1]) ||
				!utf8_ref(pl + 2, plen - 2)))) {
				abort();
			}
			closed = true;
		}
		off += need;
	}
}

static void conn(const uint8_t *data, size_t size, size_t step)
{
	struct fng_loopback *lb = fng__loopback_create(&srv);
	static const char ok[] = "HTTP/1.1 101 ";
	size_t hs, off;
	const char *end;

	if (!lb) {
		abort();
	}
	fng__loopback_feed(lb, handshake, sizeof(handshake) - 1);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (lb->closed || lb->output.len < sizeof(ok) - 1 ||
		memcmp(lb->output.p, ok, sizeof(ok) - 1) != 0) {
		abort(); /* the handshake must work, or nothing below is fuzzed */
	}
	end = memmem(lb->output.p, lb->output.len, "\r\n\r\n", 4);
	if (!end) {
		abort();
	}
	hs = (size_t)(end - lb->output.p) + 4;
	for (off = 0; off < size && !lb->closed; off += step) {
		fng__loopback_feed(lb, data + off, size - off < step ? size - off : step);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	/* A client that sent all it had and waits: the answers leave, then the client goes. */
	uv_run(&loop, UV_RUN_NOWAIT);
	server_frames((const uint8_t *)lb->output.p + hs, lb->output.len - hs);
	fng__loopback_eof(lb);
	uv_run(&loop, UV_RUN_NOWAIT);
	fng__loopback_destroy(lb);
	uv_run(&loop, UV_RUN_NOWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready) {
		setup();
	}
	if (size == 0) {
		return 0;
	}
	codec(data + 1, size - 1);
	conn(data + 1, size - 1, data[0] < 16 ? (size_t)data[0] + 1 : size);
	return 0;
}

void fng_fuzz_cleanup(void)
{
	if (ready) {
		fng__server_finish(&srv);
		uv_loop_close(&loop);
		fng__arena_cache_drain();
		ready = 0;
	}
}
