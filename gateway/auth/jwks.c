// SPDX-License-Identifier: MIT
/*
 * Key sets of the JWT authorizer: a JWKS document (RFC 7517) parsed with jansson into
 * wolfCrypt keys, held by reference (the configuration snapshot holds a file's; a loop's URL
 * source the last one it fetched). Also the strict base64url both JWKS and tokens use. Built
 * off the loop (at config load, or in the thread pool for a URL), read by requests.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "jwt.h"

#define RSA_MIN_BYTES 256 /* 2048-bit moduli and up (RFC 7518 3.3) */
#define RSA_MAX_BYTES 512 /* 4096 bits: a hostile JWKS cannot make verification slow */
#define HMAC_MIN_BYTES 32 /* a key as long as the hash (RFC 7518 3.2) */
#define HMAC_MAX_BYTES 256
#define MAX_KEYS 64

static const struct {
	const char *name;
	enum fng_jwk_kty kty;
} algs[] = {
#define XX(id, name, kty) { name, kty },
	FNG_JWT_ALGS(XX)
#undef XX
};

const char *fng__jwt_alg_name(enum fng_jwt_alg alg)
{
	return (unsigned)alg < FNG_JWT__NALG ? algs[alg].name : "?";
}

int fng__jwt_alg_parse(const char *s)
{
	for (int i = 0; i < FNG_JWT__NALG; i++) {
		if (strcmp(s, algs[i].name) == 0) {
			return i;
		}
	}
	return -1;
}

/* ---- base64url ---- */

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

long fng__b64url_decode(const char *s, size_t n, uint8_t *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	if (n % 4 == 1) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);

		if (v < 0) {
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero: one encoding per value, so no token has twins. */
	return acc == 0 ? (long)o : -1;
}

size_t fng__b64url_encode(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = tab[v >> 10];
		out[o++] = tab[(v >> 4) & 63];
		out[o++] = tab[(v & 15) << 2];
	}
	out[o] = '\0';
	return o;
}

/* ---- keys ---- */

static void key_free(struct fng_jwk *k)
{
	if (k->key) {
		switch (k->kty) {
		case FNG_JWK_RSA:
			wc_FreeRsaKey(k->key);
			break;
		case FNG_JWK_EC:
			wc_ecc_free(k->key);
			break;
		case FNG_JWK_OKP:
			wc_ed25519_free(k->key);
			break;
		case FNG_JWK_OCT:
			memset(k->key, 0, k->klen);
			break;
		}
	}
	free(k->key);
	free(k->kid);
	memset(k, 0, sizeof(*k));
}

struct fng_jwks *fng__jwks_ref(struct fng_jwks *ks)
{
	if (ks) {
		atomic_fetch_add(&ks->refs, 1);
	}
	return ks;
}

void fng__jwks_unref(struct fng_jwks *ks)
{
	if (!ks || atomic_fetch_sub(&ks->refs, 1) != 1) {
		return;
	}
	for (unsigned i = 0; i < ks->n; i++) {
		key_free(&ks->keys[i]);
	}
	free(ks->keys);
	free(ks);
}

__attribute__((format(printf, 3, 4)))
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The base64url member name of o, decoded into buf (cap bytes): its length, or -1. */
static long member_b64(json_t *o, const char *name, uint8_t *buf, size_t cap)
{
	json_t *v = json_object_get(o, name);
	size_t n;

	if (!json_is_string(v)) {
		return -1;
	}
	n = json_string_length(v);
	if (n / 4 * 3 + 3 > cap) {
		return -1;
	}
	return fng__b64url_decode(json_string_value(v), n, buf);
}

static int rsa_key(json_t *o, struct fng_jwk *k, char *why, size_t whylen)
{
	uint8_t n[RSA_MAX_BYTES + 4], e[16];
	long nlen = member_b64(o, "n", n, sizeof(n)), elen = member_b64(o, "e", e, sizeof(e));
	RsaKey *key;

	if (nlen < 0 || elen <= 0) {
		return fail(why, whylen, "an RSA key needs n and e in base64url");
	}
	if (nlen > 0 && n[0] == 0) {
		return fail(why, whylen, "RSA modulus with a leading zero byte");
	}
	if (nlen < RSA_MIN_BYTES || nlen > RSA_MAX_BYTES) {
		return fail(why, whylen, "RSA modulus of %ld bits (2048 to 4096 allowed)",
			nlen * 8);
	}
	key = malloc(sizeof(*key));
	if (!key || wc_InitRsaKey(key, NULL) != 0) {
		free(key);
		return fail(why, whylen, "out of memory");
	}
	k->key = key;
	if (wc_RsaPublicKeyDecodeRaw(n, (word32)nlen, e, (word32)elen, key) != 0) {
		return fail(why, whylen, "RSA key not accepted by wolfCrypt");
	}
	return 0;
}

static int ec_key(json_t *o, struct fng_jwk *k, char *why, size_t whylen)
{
	uint8_t x[40], y[40];
	long xlen = member_b64(o, "x", x, sizeof(x)), ylen = member_b64(o, "y", y, sizeof(y));
	const char *crv = json_string_value(json_object_get(o, "crv"));
	ecc_key *key;

	if (!crv || strcmp(crv, "P-256") != 0) {
		return fail(why, whylen, "EC keys must be on P-256");
	}
	if (xlen != 32 || ylen != 32) {
		return fail(why, whylen, "a P-256 key needs x and y of 32 bytes in base64url");
	}
	key = malloc(sizeof(*key));
	if (!key || wc_ecc_init(key) != 0) {
		free(key);
		return fail(why, whylen, "out of memory");
	}
	k->key = key;
	if (wc_ecc_import_unsigned(key, x, y, NULL, ECC_SECP256R1) != 0 ||
		wc_ecc_check_key(key) != 0) {
		return fail(why, whylen, "EC point not on P-256");
	}
	return 0;
}

static int okp_key(json_t *o, struct fng_jwk *k, char *why, size_t whylen)
{
	uint8_t x[40];
	long xlen = member_b64(o, "x", x, sizeof(x));
	const char *crv = json_string_value(json_object_get(o, "crv"));
	ed25519_key *key;

	if (!crv || strcmp(crv, "Ed25519") != 0) {
		return fail(why, whylen, "OKP keys must be Ed25519");
	}
	if (xlen != ED25519_PUB_KEY_SIZE) {
		return fail(why, whylen, "an Ed25519 key needs x of 32 bytes in base64url");
	}
	key = malloc(sizeof(*key));
	if (!key || wc_ed25519_init(key) != 0) {
		free(key);
		return fail(why, whylen, "out of memory");
	}
	k->key = key;
	if (wc_ed25519_import_public(x, (word32)xlen, key) != 0) {
		return fail(why, whylen, "Ed25519 key not accepted by wolfCrypt");
	}
	return 0;
}

static int oct_key(json_t *o, struct fng_jwk *k, char *why, size_t whylen)
{
	uint8_t buf[HMAC_MAX_BYTES + 4];
	long len = member_b64(o, "k", buf, sizeof(buf));

	if (len < HMAC_MIN_BYTES || len > HMAC_MAX_BYTES) {
		return fail(why, whylen, "an oct key needs k of 32 to 256 bytes in base64url");
	}
	k->key = malloc((size_t)len);
	if (!k->key) {
		return fail(why, whylen, "out of memory");
	}
	memcpy(k->key, buf, (size_t)len);
	k->klen = (size_t)len;
	memset(buf, 0, sizeof(buf));
	return 0;
}

static const struct {
	const char *kty;
	enum fng_jwk_kty type;
	int (*make)(json_t *o, struct fng_jwk *k, char *why, size_t whylen);
} ktys[] = {
	{ "RSA", FNG_JWK_RSA, rsa_key },
	{ "EC", FNG_JWK_EC, ec_key },
	{ "oct", FNG_JWK_OCT, oct_key },
	{ "OKP", FNG_JWK_OKP, okp_key },
};

/* 1: a key made into k; 0: a key to skip (not for signatures, or not ours); -1: an error. */
static int one_key(json_t *o, struct fng_jwk *k, char *why, size_t whylen)
{
	const char *kty = json_string_value(json_object_get(o, "kty"));
	json_t *use = json_object_get(o, "use"), *alg = json_object_get(o, "alg");
	json_t *kid = json_object_get(o, "kid");
	size_t i;

	if (!json_is_object(o) || !kty) {
		return fail(why, whylen, "a key is an object with a kty");
	}
	if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
		return 0;
	}
	if (kid && !json_is_string(kid)) {
		return fail(why, whylen, "kid must be a string");
	}
	for (i = 0; i < sizeof(ktys) / sizeof(ktys[0]) && strcmp(kty, ktys[i].kty); i++) {
	}
	if (i == sizeof(ktys) / sizeof(ktys[0])) {
		return 0;
	}
	k->kty = ktys[i].type;
	k->alg = -1;
	if (alg) {
		k->alg = json_is_string(alg) ? fng__jwt_alg_parse(json_string_value(alg)) : -1;
		if (k->alg < 0) {
			return 0; /* an algorithm fngate does not verify: not a key for us */
		}
		if (algs[k->alg].kty != k->kty) {
			return fail(why, whylen, "alg %s does not fit kty %s", algs[k->alg].name,
				kty);
		}
	}
	if (kid) {
		k->kid = strdup(json_string_value(kid));
		if (!k->kid) {
			return fail(why, whylen, "out of memory");
		}
	}
	return ktys[i].make(o, k, why, whylen) == 0 ? 1 : -1;
}

static uint64_t next_serial(void)
{
	static atomic_uint_fast64_t serial;

	return atomic_fetch_add(&serial, 1) + 1;
}

int fng__jwks_parse(const char *text, size_t len, struct fng_jwks **out, char *why,
	size_t whylen)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *keys;
	struct fng_jwks *ks = NULL;
	size_t i;
	int rc = -1;

	*out = NULL;
	if (!doc) {
		return fail(why, whylen, "not a JSON document: %s (line %d)", jerr.text, jerr.line);
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		fail(why, whylen, "a JWKS is an object with a \"keys\" array");
		goto out;
	}
	if (json_array_size(keys) > MAX_KEYS) {
		fail(why, whylen, "more than %d keys", MAX_KEYS);
		goto out;
	}
	ks = calloc(1, sizeof(*ks));
	if (ks) {
		atomic_init(&ks->refs, 1);
	}
	if (!ks || !(ks->keys = calloc(json_array_size(keys) + 1, sizeof(*ks->keys)))) {
		fail(why, whylen, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(keys); i++) {
		struct fng_jwk *k = &ks->keys[ks->n];
		char kwhy[160];
		int r = one_key(json_array_get(keys, i), k, kwhy, sizeof(kwhy));

		if (r <= 0) {
			key_free(k); /* the slot is reused */
			if (r < 0) {
				fail(why, whylen, "key %zu: %s", i + 1, kwhy);
				goto out;
			}
			continue;
		}
		for (unsigned j = 0; k->kid && j < ks->n; j++) {
			if (ks->keys[j].kid && strcmp(ks->keys[j].kid, k->kid) == 0) {
				fail(why, whylen, "key %zu: kid \"%s\" given twice", i + 1, k->kid);
				key_free(k);
				goto out;
			}
		}
		ks->n++;
	}
	ks->serial = next_serial();
	*out = ks;
	ks = NULL;
	rc = 0;
out:
	fng__jwks_unref(ks);
	json_decref(doc);
	return rc;
}
