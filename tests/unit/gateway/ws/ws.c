// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/ws.c: the handshake key (RFC 6455's own example), key syntax, UTF-8
 * validation fed whole and one byte at a time, frame decoding (lengths at every encoding
 * boundary, masking, every refusal, partial input at every length), header encoding and
 * close-frame payloads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ws.h"

static void test_accept(void)
{
	char out[29];

	CHECK_INT(fng__ws_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0, "accept: computed");
	CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "accept: RFC 6455 section 1.3 example");
	CHECK(fng__ws_key_ok("dGhlIHNhbXBsZSBub25jZQ==", 24), "key: the RFC's key");
	CHECK(fng__ws_key_ok("AAAAAAAAAAAAAAAAAAAAAA==", 24), "key: 16 zero bytes");
	CHECK(!fng__ws_key_ok("dGhlIHNhbXBsZSBub25jZQ=", 23), "key: 23 characters");
	CHECK(!fng__ws_key_ok("dGhlIHNhbXBsZSBub25jZQ===", 25), "key: 25 characters");
	CHECK(!fng__ws_key_ok("dGhlIHNhbXBsZSBub25jZR==", 24), "key: not 16 bytes (stray bits)");
	CHECK(!fng__ws_key_ok("dGhlIHNhbXBsZSBub25j*Q==", 24), "key: not base64");
	CHECK(!fng__ws_key_ok("dGhlIHNhbXBsZSBub25jZQAA", 24), "key: no padding");
	CHECK(!fng__ws_key_ok("", 0), "key: empty");
}

static bool utf8_whole(const char *s, size_t n)
{
	struct fng_utf8 u = { 0 };

	return fng__utf8_feed(&u, (const uint8_t *)s, n) && fng__utf8_complete(&u);
}

static bool utf8_bytewise(const char *s, size_t n)
{
	struct fng_utf8 u = { 0 };

	for (size_t i = 0; i < n; i++) {
		if (!fng__utf8_feed(&u, (const uint8_t *)s + i, 1)) {
			return false;
		}
	}
	return fng__utf8_complete(&u);
}

static void test_utf8(void)
{
	static const struct {
		const char *s;
		size_t n;
		bool ok;
		const char *what;
	} cases[] = {
		{ "", 0, true, "empty" },
		{ "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", 26,
			true, "Latin-1 supplement" },
		{ "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, true, "Greek" },
		{ "\xf0\x9f\x98\x80 smile", 10, true, "four-byte emoji" },
		{ "\x7f", 1, true, "U+007F" },
		{ "\xc2\x80", 2, true, "U+0080" },
		{ "\xdf\xbf", 2, true, "U+07FF" },
		{ "\xe0\xa0\x80", 3, true, "U+0800" },
		{ "\xed\x9f\xbf", 3, true, "U+D7FF" },
		{ "\xee\x80\x80", 3, true, "U+E000" },
		{ "\xef\xbf\xbd", 3, true, "U+FFFD" },
		{ "\xef\xbf\xbf", 3, true, "U+FFFF (a noncharacter, still valid)" },
		{ "\xf0\x90\x80\x80", 4, true, "U+10000" },
		{ "\xf4\x8f\xbf\xbf", 4, true, "U+10FFFF" },
		{ "abcdefghijklmnopqrstuvwxyz0123456789\xc3\xa9", 38, true,
			"long ASCII run, then é" },
		{ "\x80", 1, false, "a lone continuation byte" },
		{ "\xbf", 1, false, "a lone 0xBF" },
		{ "\xc0\xaf", 2, false, "overlong '/' (C0)" },
		{ "\xc1\xbf", 2, false, "overlong (C1)" },
		{ "\xe0\x80\xaf", 3, false, "overlong three-byte" },
		{ "\xe0\x9f\xbf", 3, false, "overlong U+07FF in three bytes" },
		{ "\xf0\x80\x80\xaf", 4, false, "overlong four-byte" },
		{ "\xf0\x8f\xbf\xbf", 4, false, "overlong U+FFFF in four bytes" },
		{ "\xed\xa0\x80", 3, false, "surrogate U+D800" },
		{ "\xed\xbf\xbf", 3, false, "surrogate U+DFFF" },
		{ "\xed\xa0\x80\xed\xb0\x80", 6, false, "surrogate pair" },
		{ "\xf4\x90\x80\x80", 4, false, "U+110000" },
		{ "\xf5\x80\x80\x80", 4, false, "F5 lead" },
		{ "\xfe", 1, false, "FE" },
		{ "\xff", 1, false, "FF" },
		{ "\xc3", 1, false, "truncated two-byte" },
		{ "\xe2\x82", 2, false, "truncated three-byte" },
		{ "\xf0\x9f\x98", 3, false, "truncated four-byte" },
		{ "\xc3\x28", 2, false, "two-byte with a bad continuation" },
		{ "\xe2\x28\xa1", 3, false, "three-byte with a bad second byte" },
		{ "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited", 20, false,
			"valid text, then a surrogate" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(utf8_whole(cases[i].s, cases[i].n) == cases[i].ok, "utf8 whole: %s",
			cases[i].what);
		CHECK(utf8_bytewise(cases[i].s, cases[i].n) == cases[i].ok,
			"utf8 byte by byte: %s", cases[i].what);
	}
	/* Every code point's encoding round-trips through the validator (valid ones only). */
	{
		int bad = 0;

		for (unsigned cp = 0; cp <= 0x10ffff; cp++) {
			char b[4];
			size_t n;

			if (cp >= 0xd800 && cp <= 0xdfff) {
				continue;
			}
			if (cp < 0x80) {
				b[0] = (char)cp;
				n = 1;
			} else if (cp < 0x800) {
				b[0] = (char)(0xc0 | cp >> 6);
				b[1] = (char)(0x80 | (cp & 0x3f));
				n = 2;
			} else if (cp < 0x10000) {
				b[0] = (char)(0xe0 | cp >> 12);
				b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
				b[2] = (char)(0x80 | (cp & 0x3f));
				n = 3;
			} else {
				b[0] = (char)(0xf0 | cp >> 18);
				b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
				b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
				b[3] = (char)(0x80 | (cp & 0x3f));
				n = 4;
			}
			bad += !utf8_whole(b, n);
		}
		CHECK_INT(bad, 0, "utf8: every scalar value U+0000..U+10FFFF is accepted");
	}
}

/* A client frame: masked with a fixed key; returns its size. */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *payload, uint64_t len,
	bool force64)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t h = 2;

	out[0] = b0;
	if (len < 126 && !force64) {
		out[1] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff && !force64) {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++) {
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		}
		h = 10;
	}
	memcpy(out + h, key, 4);
	for (uint64_t i = 0; payload && i < len; i++) {
		out[h + 4 + i] = ((const uint8_t *)payload)[i] ^ key[i & 3];
	}
	return h + 4 + (size_t)len;
}

static void test_decode(void)
{
	static uint8_t buf[70000 + 14], src[70000];
	static const uint64_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };
	struct fng_ws_frame f;
	size_t n;

	for (size_t i = 0; i < sizeof(src); i++) {
		src[i] = (uint8_t)(i * 7 + 3);
	}
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		bool partial_ok = true;

		n = client_frame(buf, 0x82, src, lens[i], false);
		/* Every strict prefix asks for more. */
		for (size_t k = 0; k < n; k += (n > 300 ? 997 : 1)) {
			partial_ok = partial_ok && fng__ws_decode(buf, k, 1 << 20, &f) == 0;
		}
		CHECK(partial_ok, "decode %llu bytes: every prefix needs more",
			(unsigned long long)lens[i]);
		CHECK_INT(fng__ws_decode(buf, n, 1 << 20, &f), n, "decode %llu bytes: size",
			(unsigned long long)lens[i]);
		CHECK(f.opcode == FNG_WS_BINARY && f.fin && f.len == lens[i] &&
				memcmp(f.payload, src, f.len) == 0,
			"decode %llu bytes: opcode, fin, unmasked payload",
			(unsigned long long)lens[i]);
	}
	n = client_frame(buf, 0x82, src, 5, true);
	CHECK_INT(fng__ws_decode(buf, n, 1 << 20, &f), n,
		"a 64-bit length for 5 bytes is accepted");
	n = client_frame(buf, 0x01, "Hel", 3, false);
	CHECK(fng__ws_decode(buf, n, 100, &f) == (long)n && !f.fin && f.opcode == FNG_WS_TEXT,
		"first fragment: text, no FIN");
	n = client_frame(buf, 0x80, "lo", 2, false);
	CHECK(fng__ws_decode(buf, n, 100, &f) == (long)n && f.fin && f.opcode == FNG_WS_CONT,
		"last fragment: continuation, FIN");
	n = client_frame(buf, 0x89, "ping", 4, false);
	CHECK(fng__ws_decode(buf, n, 100, &f) == (long)n && f.opcode == FNG_WS_PING &&
			f.len == 4 && memcmp(f.payload, "ping", 4) == 0,
		"ping with a payload");
	n = client_frame(buf, 0x89, src, 125, false);
	CHECK_INT(fng__ws_decode(buf, n, 100, &f), n, "ping of 125 bytes (the limit for control "
		"frames, not the frame limit)");

	/* Refusals. */
	n = client_frame(buf, 0x82, src, 101, false);
	CHECK_INT(fng__ws_decode(buf, n, 100, &f), -FNG_WS_TOO_BIG, "over the frame limit: 1009");
	CHECK_INT(fng__ws_decode(buf, 4, 100, &f), -FNG_WS_TOO_BIG,
		"over the frame limit: known from the header alone");
	n = client_frame(buf, 0x82, src, 70000, false);
	CHECK_INT(fng__ws_decode(buf, 10, 32768, &f), -FNG_WS_TOO_BIG,
		"64 KiB frame, 32 KiB limit: 1009 from 10 bytes");
	for (uint8_t rsv = 1; rsv < 8; rsv++) {
		n = client_frame(buf, (uint8_t)(0x81 | rsv << 4), "x", 1, false);
		CHECK_INT(fng__ws_decode(buf, n, 100, &f), -FNG_WS_PROTOCOL_ERROR,
			"RSV bits %u: 1002", rsv);
	}
	for (uint8_t op = 3; op < 16; op++) {
		if (op >= 8 && op <= 10) {
			continue;
		}
		n = client_frame(buf, (uint8_t)(0x80 | op), "x", 1, false);
		CHECK_INT(fng__ws_decode(buf, n, 100, &f), -FNG_WS_PROTOCOL_ERROR,
			"reserved opcode %u: 1002", op);
	}
	n = client_frame(buf, 0x82, "abc", 3, false);
	buf[1] &= 0x7f;
	CHECK_INT(fng__ws_decode(buf, n, 100, &f), -FNG_WS_PROTOCOL_ERROR, "unmasked: 1002");
	n = client_frame(buf, 0x09, "p", 1, false);
	CHECK_INT(fng__ws_decode(buf, n, 100, &f), -FNG_WS_PROTOCOL_ERROR, "fragmented ping: 1002");
	n = client_frame(buf, 0x88, src, 126, false);
	CHECK_INT(fng__ws_decode(buf, n, 1000, &f), -FNG_WS_PROTOCOL_ERROR,
		"close with 126 bytes: 1002");
	n = client_frame(buf, 0x8a, src, 126, false);
	CHECK_INT(fng__ws_decode(buf, 4, 1000, &f), -FNG_WS_PROTOCOL_ERROR,
		"pong over 125 bytes: 1002 from the header");
	n = client_frame(buf, 0x82, src, 5, true);
	buf[2] = 0x80;
	CHECK_INT(fng__ws_decode(buf, n, 1 << 20, &f), -FNG_WS_PROTOCOL_ERROR,
		"64-bit length with the top bit set: 1002");
	/* Two frames back to back: one at a time. */
	n = client_frame(buf, 0x81, "one", 3, false);
	n += client_frame(buf + n, 0x81, "two", 3, false);
	{
		long a = fng__ws_decode(buf, n, 100, &f);
		bool one = a > 0 && f.len == 3 && memcmp(f.payload, "one", 3) == 0;
		long b = a > 0 ? fng__ws_decode(buf + a, n - (size_t)a, 100, &f) : -1;

		CHECK(one && b > 0 && a + b == (long)n && memcmp(f.payload, "two", 3) == 0,
			"two frames in one buffer decode one after the other");
	}
}

static void test_header(void)
{
	uint8_t h[FNG_WS_MAX_HEADER];

	CHECK(fng__ws_header(h, FNG_WS_TEXT, true, 5) == 2 && h[0] == 0x81 && h[1] == 5,
		"header: 5-byte text");
	CHECK(fng__ws_header(h, FNG_WS_BINARY, true, 125) == 2 && h[1] == 125, "header: 125");
	CHECK(fng__ws_header(h, FNG_WS_BINARY, true, 126) == 4 && h[1] == 126 && h[2] == 0 &&
			h[3] == 126,
		"header: 126 uses 16 bits");
	CHECK(fng__ws_header(h, FNG_WS_BINARY, false, 65535) == 4 && h[0] == 0x02 && h[2] == 0xff &&
			h[3] == 0xff,
		"header: 65535, no FIN");
	CHECK(fng__ws_header(h, FNG_WS_BINARY, true, 65536) == 10 && h[1] == 127 && h[7] == 1 &&
			h[8] == 0 && h[9] == 0,
		"header: 65536 uses 64 bits");
	CHECK(fng__ws_header(h, FNG_WS_CLOSE, true, 2) == 2 && h[0] == 0x88, "header: close");
}

static void test_close(void)
{
	static const struct {
		int code, want;
	} codes[] = {
		{ 1000, 1000 }, { 1001, 1001 }, { 1002, 1002 }, { 1003, 1003 }, { 1007, 1007 },
		{ 1008, 1008 }, { 1009, 1009 }, { 1010, 1010 }, { 1011, 1011 }, { 1012, 1012 },
		{ 1013, 1013 }, { 1014, 1014 }, { 3000, 3000 }, { 3999, 3999 }, { 4000, 4000 },
		{ 4999, 4999 },
		{ 0, 1002 }, { 999, 1002 }, { 1004, 1002 }, { 1005, 1002 }, { 1006, 1002 },
		{ 1015, 1002 }, { 1016, 1002 }, { 1100, 1002 }, { 2000, 1002 }, { 2999, 1002 },
		{ 5000, 1002 }, { 65535, 1002 },
	};
	uint8_t p[16] = { 0x03 };
	int peer;

	CHECK_INT(fng__ws_close_reply(p, 0, &peer), 1000, "close, no payload: 1000");
	CHECK_INT(peer, FNG_WS_NO_STATUS, "close, no payload: peer code is 1005 (none)");
	CHECK_INT(fng__ws_close_reply(p, 1, &peer), 1002, "close, one byte: 1002");
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		p[0] = (uint8_t)(codes[i].code >> 8);
		p[1] = (uint8_t)codes[i].code;
		CHECK_INT(fng__ws_close_reply(p, 2, &peer), codes[i].want, "close code %d",
			codes[i].code);
	}
	memcpy(p, "\x03\xe8" "bye \xc3\xa9", 8);
	CHECK_INT(fng__ws_close_reply(p, 8, &peer), 1000, "close 1000 with a UTF-8 reason");
	memcpy(p, "\x03\xe8" "bad \xed\xa0\x80", 9);
	CHECK_INT(fng__ws_close_reply(p, 9, &peer), 1007,
		"close with a surrogate in the reason: 1007");
	memcpy(p, "\x03\xe8" "cut \xc3", 7);
	CHECK_INT(fng__ws_close_reply(p, 7, &peer), 1007, "close with a truncated reason: 1007");
}

int main(void)
{
	test_accept();
	test_utf8();
	test_decode();
	test_header();
	test_close();
	return fng_test_done();
}
