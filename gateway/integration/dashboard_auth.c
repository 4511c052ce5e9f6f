// SPDX-License-Identifier: MIT
/*
 * The operator dashboard's checks, kept apart from its I/O so that they are unit-tested
 * (tests/unit/gateway/integration/dashboard_auth.c): the session cookie read from a Cookie
 * header, the Origin of a browser's request compared with the origin it was sent to (what
 * stops another site's page from opening the live feed with the operator's cookie), and the
 * loop's table of sessions. A session id is not the admin token: it is 32 random bytes, good
 * for FNG_DASH_SESSION_S and only while the admin token it was opened with is the current one.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "dashboard.h"
#include "grants.h"

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

bool fng__cookie_value(struct fng_str header, const char *name, struct fng_str *out)
{
	const char *p = header.p, *end = header.p + header.len;
	size_t nl = strlen(name);

	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end, *eq;

		while (p < e && ows(*p)) {
			p++;
		}
		eq = memchr(p, '=', (size_t)(e - p));
		if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
			const char *v = eq + 1, *ve = e;

			while (ve > v && ows(ve[-1])) {
				ve--;
			}
			/* A quoted value (RFC 6265's cookie-value allows DQUOTE around it). */
			if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
				v++;
				ve--;
			}
			*out = (struct fng_str){ v, (size_t)(ve - v) };
			return true;
		}
		p = semi ? semi + 1 : end;
	}
	return false;
}

bool fng__origin_same(struct fng_str origin, struct fng_str host, bool tls)
{
	const char *scheme = tls ? "https://" : "http://";
	size_t sl = strlen(scheme);

	if (!host.len || origin.len != sl + host.len) {
		return false;
	}
	/* The scheme and host of an origin are case-insensitive (RFC 6454 section 4). */
	return strncasecmp(origin.p, scheme, sl) == 0 &&
	       strncasecmp(origin.p + sl, host.p, host.len) == 0 &&
	       !memchr(host.p, '/', host.len) && !memchr(host.p, '@', host.len);
}

void fng__dash_token_hash(const char *token, uint8_t out[32])
{
	if (wc_Sha256Hash((const byte *)token, (word32)strlen(token), out) != 0) {
		memset(out, 0, 32); /* matches no session: sessions are opened with a real hash */
	}
}

int fng__dash_session_open(struct fng_dash_sessions *ss, const char *token, uint64_t now,
	char out[FNG_DASH_SID_LEN + 1])
{
	struct fng_dash_session *slot = &ss->s[0];
	uint8_t r[33] = { 0 };
	size_t o = 0;

	if (getrandom(r, 32, 0) != 32) {
		return -EIO; /* a guessable session id is worse than none */
	}
	for (unsigned i = 0; i < FNG_DASH_SESSIONS; i++) {
		struct fng_dash_session *s = &ss->s[i];

		if (!s->id[0] || s->expires <= now) {
			slot = s;
			break;
		}
		if (s->expires < slot->expires) {
			slot = s;
		}
	}
	/* 32 bytes: ten groups of 3 and 2 left over (r[32] is a zero pad), 43 characters. */
	for (size_t i = 0; i < 33; i += 3) {
		uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];

		out[o++] = FNG_B64URL[v >> 18 & 63];
		out[o++] = FNG_B64URL[v >> 12 & 63];
		out[o++] = FNG_B64URL[v >> 6 & 63];
		if (o < FNG_DASH_SID_LEN) {
			out[o++] = FNG_B64URL[v & 63];
		}
	}
	out[FNG_DASH_SID_LEN] = '\0';
	memcpy(slot->id, out, FNG_DASH_SID_LEN + 1);
	fng__dash_token_hash(token, slot->token_hash);
	slot->expires = now + (uint64_t)FNG_DASH_SESSION_S * 1000;
	memset(r, 0, sizeof(r));
	return 0;
}

bool fng__dash_session_ok(struct fng_dash_sessions *ss, struct fng_str id, const char *token,
	uint64_t now)
{
	uint8_t want[32];
	bool ok = false;

	if (id.len != FNG_DASH_SID_LEN) {
		return false;
	}
	fng__dash_token_hash(token, want);
	for (unsigned i = 0; i < FNG_DASH_SESSIONS; i++) {
		struct fng_dash_session *s = &ss->s[i];
		unsigned char d = 0;

		if (s->id[0] && s->expires <= now) {
			memset(s, 0, sizeof(*s));
		}
		for (size_t k = 0; k < FNG_DASH_SID_LEN; k++) {
			d |= (unsigned char)(s->id[k] ^ id.p[k]);
		}
		for (size_t k = 0; k < 32; k++) {
			d |= s->token_hash[k] ^ want[k];
		}
		ok |= d == 0 && s->id[0];
	}
	return ok;
}

void fng__dash_session_end(struct fng_dash_sessions *ss, struct fng_str id)
{
	for (unsigned i = 0; i < FNG_DASH_SESSIONS; i++) {
		struct fng_dash_session *s = &ss->s[i];

		if (s->id[0] && id.len == FNG_DASH_SID_LEN && memcmp(s->id, id.p, id.len) == 0) {
			memset(s, 0, sizeof(*s));
		}
	}
}
