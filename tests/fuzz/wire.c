// SPDX-License-Identifier: MIT
/*
 * Fuzz driver over the wire codec (sdk/wire.c): the input is a byte stream of frames, cut by
 * fng__wire_frame() and each body decoded by the decoder its type names (READY, INVOKE,
 * RESULT, LOG, WS_SEND, WS_CLOSE, WS_PUBLISH, WS_SUBSCRIBE, WS_UNSUBSCRIBE; any other type goes
 * through all of them). Whatever decodes must survive a round trip: encoding it, decoding that
 * and encoding again gives the same bytes, so the encoders accept everything the decoders do
 * and nothing is lost in between.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wire.h"

#define MAX_BODY ((size_t)1024 * 1024)

/* The body of the one frame in b, or abort: an encoder wrote something unframeable. */
static void body_of(const struct fng_wire_buf *b, uint8_t want, const uint8_t **body,
	size_t *len)
{
	uint8_t type;
	long n = fng__wire_frame(b->p, b->len, (size_t)-1, &type, body, len);

	if (n <= 0 || (size_t)n != b->len || type != want) {
		abort();
	}
}

static void same_bytes(const struct fng_wire_buf *a, const struct fng_wire_buf *b)
{
	if (a->len != b->len || memcmp(a->p, b->p, a->len) != 0) {
		abort();
	}
}

static bool same_str(struct fng_wire_str a, struct fng_wire_str b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/* A name the encoders take: not empty, no NUL inside (they are C strings there). */
static bool c_name(struct fng_wire_str s)
{
	return s.len && strlen(s.p) == s.len;
}

static void invoke(const uint8_t *p, size_t n)
{
	struct fng_wire_event ev;
	struct fng_wire_buf e1 = { 0 }, e2 = { 0 };
	const uint8_t *body;
	size_t len;
	void *h, *h2;

	if (fng__wire_decode_invoke(p, n, &ev, &h)) {
		return;
	}
	if (fng__wire_encode_invoke(&e1, &ev)) {
		abort();
	}
	body_of(&e1, FNG_WIRE_INVOKE, &body, &len);
	if (fng__wire_decode_invoke(body, len, &ev, &h2) || fng__wire_encode_invoke(&e2, &ev)) {
		abort();
	}
	same_bytes(&e1, &e2);
	fng__wire_free(h);
	fng__wire_free(h2);
	fng__wire_buf_finish(&e1);
	fng__wire_buf_finish(&e2);
}

static void result(const uint8_t *p, size_t n)
{
	struct fng_wire_result r;
	struct fng_wire_buf e1 = { 0 }, e2 = { 0 };
	const uint8_t *body;
	size_t len;
	void *h, *h2;

	if (fng__wire_decode_result(p, n, &r, &h)) {
		return;
	}
	if (fng__wire_encode_result(&e1, &r)) {
		abort();
	}
	body_of(&e1, FNG_WIRE_RESULT, &body, &len);
	if (fng__wire_decode_result(body, len, &r, &h2) || fng__wire_encode_result(&e2, &r)) {
		abort();
	}
	same_bytes(&e1, &e2);
	fng__wire_free(h);
	fng__wire_free(h2);
	fng__wire_buf_finish(&e1);
	fng__wire_buf_finish(&e2);
}

static void log_frame(const uint8_t *p, size_t n)
{
	struct fng_wire_str msg;
	struct fng_wire_buf e1 = { 0 }, e2 = { 0 };
	const uint8_t *body;
	size_t len;
	int level;
	void *h, *h2;

	if (fng__wire_decode_log(p, n, &level, &msg, &h)) {
		return;
	}
	if (fng__wire_encode_log(&e1, level, msg.p, msg.len)) {
		abort();
	}
	body_of(&e1, FNG_WIRE_LOG, &body, &len);
	if (fng__wire_decode_log(body, len, &level, &msg, &h2) ||
		fng__wire_encode_log(&e2, level, msg.p, msg.len)) {
		abort();
	}
	same_bytes(&e1, &e2);
	fng__wire_free(h);
	fng__wire_free(h2);
	fng__wire_buf_finish(&e1);
	fng__wire_buf_finish(&e2);
}

static void ready(const uint8_t *p, size_t n)
{
	struct fng_wire_str name;
	struct fng_wire_buf e1 = { 0 };
	const uint8_t *body;
	size_t len;
	uint32_t abi;
	void *h;

	if (fng__wire_decode_ready(p, n, &abi, &name, &h)) {
		return;
	}
	/* READY's name goes through a C string: one with a NUL inside cannot round-trip. */
	if (strlen(name.p) == name.len) {
		uint32_t abi2;
		struct fng_wire_str name2;
		void *h2;

		if (fng__wire_encode_ready(&e1, abi, name.p)) {
			abort();
		}
		body_of(&e1, FNG_WIRE_READY, &body, &len);
		if (fng__wire_decode_ready(body, len, &abi2, &name2, &h2) || abi2 != abi ||
			!same_str(name, name2)) {
			abort();
		}
		fng__wire_free(h2);
	}
	fng__wire_free(h);
	fng__wire_buf_finish(&e1);
}

/* WS_SEND and WS_CLOSE: ids and reasons go through C strings, so NULs inside cannot round-trip. */
static void ws_frames(const uint8_t *p, size_t n)
{
	struct fng_wire_str id, data, reason;
	struct fng_wire_buf e = { 0 };
	uint32_t code;
	bool binary;
	void *h;

	if (fng__wire_decode_ws_send(p, n, &id, &data, &binary, &h) == 0) {
		if (c_name(id) && fng__wire_encode_ws_send(&e, id.p, data.p, data.len, binary)) {
			abort();
		}
		fng__wire_free(h);
	}
	e.len = 0;
	if (fng__wire_decode_ws_close(p, n, &id, &code, &reason, &h) == 0) {
		if (c_name(id) && strlen(reason.p) == reason.len &&
			fng__wire_encode_ws_close(&e, id.p, code, reason.p)) {
			abort();
		}
		fng__wire_free(h);
	}
	fng__wire_buf_finish(&e);
}

/* WS_PUBLISH: what decodes with a usable topic encodes, and decodes to the same again. */
static void ws_publish(const uint8_t *p, size_t n)
{
	struct fng_wire_str topic, data, topic2, data2;
	struct fng_wire_buf e = { 0 };
	const uint8_t *body;
	size_t len;
	void *h, *h2;

	if (fng__wire_decode_ws_publish(p, n, &topic, &data, &h)) {
		return;
	}
	if (c_name(topic)) {
		if (fng__wire_encode_ws_publish(&e, topic.p, data.p, data.len)) {
			abort();
		}
		body_of(&e, FNG_WIRE_WS_PUBLISH, &body, &len);
		if (fng__wire_decode_ws_publish(body, len, &topic2, &data2, &h2) ||
			!same_str(topic, topic2) || !same_str(data, data2)) {
			abort();
		}
		fng__wire_free(h2);
	}
	fng__wire_free(h);
	fng__wire_buf_finish(&e);
}

/* WS_SUBSCRIBE / WS_UNSUBSCRIBE (type): the same. */
static void ws_sub(uint8_t type, const uint8_t *p, size_t n)
{
	struct fng_wire_str id, topic, id2, topic2;
	struct fng_wire_buf e = { 0 };
	const uint8_t *body;
	size_t len;
	void *h, *h2;

	if (fng__wire_decode_ws_sub(p, n, &id, &topic, &h)) {
		return;
	}
	if (c_name(id) && c_name(topic)) {
		if (fng__wire_encode_ws_sub(&e, type, id.p, topic.p)) {
			abort();
		}
		body_of(&e, type, &body, &len);
		if (fng__wire_decode_ws_sub(body, len, &id2, &topic2, &h2) || !same_str(id, id2) ||
			!same_str(topic, topic2)) {
			abort();
		}
		fng__wire_free(h2);
	}
	fng__wire_free(h);
	fng__wire_buf_finish(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		uint8_t type;
		const uint8_t *body;
		size_t len;
		long n = fng__wire_frame(data + off, size - off, MAX_BODY, &type, &body, &len);

		if (n <= 0) {
			break;
		}
		switch (type) {
		case FNG_WIRE_READY:
			ready(body, len);
			break;
		case FNG_WIRE_INVOKE:
			invoke(body, len);
			break;
		case FNG_WIRE_RESULT:
			result(body, len);
			break;
		case FNG_WIRE_LOG:
			log_frame(body, len);
			break;
		case FNG_WIRE_WS_SEND:
		case FNG_WIRE_WS_CLOSE:
			ws_frames(body, len);
			break;
		case FNG_WIRE_WS_PUBLISH:
			ws_publish(body, len);
			break;
		case FNG_WIRE_WS_SUBSCRIBE:
		case FNG_WIRE_WS_UNSUBSCRIBE:
			ws_sub(type, body, len);
			break;
		default:
			ready(body, len);
			invoke(body, len);
			result(body, len);
			log_frame(body, len);
			ws_frames(body, len);
			ws_publish(body, len);
			ws_sub(FNG_WIRE_WS_SUBSCRIBE, body, len);
			break;
		}
		off += (size_t)n;
	}
	return 0;
}

void fng_fuzz_cleanup(void)
{
}
