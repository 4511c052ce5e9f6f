// SPDX-License-Identifier: MIT
/*
 * Unit tests of the JWT authorizer's pure parts (gateway/auth): strict base64url, the JWKS
 * parser, and fng__jwt_verify() at an exact time, so the leeway boundaries of exp, nbf and
 * iat are checked to the second; the claims as a handler reads them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "jwt.h"

#define NOW 1800000000LL

static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";
static const char *const auds[] = { "aud1", "aud2" };
static struct fng_jwt_cfg cfg = {
	.issuer = "https://i/",
	.audiences = (const char **)auds,
	.naudiences = 2,
	.algs = 1u << FNG_JWT_HS256,
	.leeway_s = 10,
	.max_token_bytes = 8192,
};

/* An HS256 token of raw header and payload JSON texts, signed with secret. */
static char *mint(const char *hdr, const char *payload)
{
	static char tok[8192];
	uint8_t mac[32];
	size_t n;

	n = fng__b64url_encode((const uint8_t *)hdr, strlen(hdr), tok);
	tok[n++] = '.';
	n += fng__b64url_encode((const uint8_t *)payload, strlen(payload), tok + n);
	fng__jwt_hs256(secret, sizeof(secret), tok, n, mac);
	tok[n++] = '.';
	fng__b64url_encode(mac, sizeof(mac), tok + n);
	return tok;
}

static int verify(struct fng_jwks *ks, const char *payload)
{
	struct fng_jwt_claims cl;
	const char *tok = mint("{\"alg\":\"HS256\",\"kid\":\"k\"}", payload);
	int rc = fng__jwt_verify(&cfg, ks, tok, strlen(tok), NOW, &cl);

	fng__jwt_claims_finish(&cl);
	return rc;
}

static void test_b64url(void)
{
	uint8_t out[16];

	CHECK_INT(fng__b64url_decode("YWJj", 4, out), 3, "abc");
	CHECK_INT(fng__b64url_decode("YWI", 3, out), 2, "ab without padding");
	CHECK_INT(fng__b64url_decode("YWI=", 4, out), -1, "padding refused");
	CHECK_INT(fng__b64url_decode("YWJ", 3, out), -1, "non-zero trailing bits refused");
	CHECK_INT(fng__b64url_decode("YW+j", 4, out), -1, "+ refused");
	CHECK_INT(fng__b64url_decode("YW/j", 4, out), -1, "/ refused");
	CHECK_INT(fng__b64url_decode("YWJjZ", 5, out), -1, "length 4n+1 refused");
	CHECK_INT(fng__b64url_decode("-_-_", 4, out), 3, "url alphabet");
	CHECK_INT(out[0], 0xfb, "- is 62");
}

static void test_jwks(void)
{
	struct fng_jwks *ks = NULL;
	char why[200];

	CHECK_INT(fng__jwks_parse("{\"keys\":[],\"keys\":[]}", 21, &ks, why, sizeof(why)), -1,
		"duplicate member refused");
	CHECK(strstr(why, "duplicate") != NULL, "says duplicate: %s", why);
	CHECK_INT(fng__jwks_parse("[]", 2, &ks, why, sizeof(why)), -1, "not an object");
	CHECK_INT(fng__jwks_parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}", 35, &ks, why,
		sizeof(why)), -1, "short HMAC key refused");
	const char *skip = "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\"},{\"kty\":\"XYZ\"},"
		"{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":\"\"}]}";

	CHECK_INT(fng__jwks_parse(skip, strlen(skip), &ks, why, sizeof(why)), 0,
		"keys not for us are skipped");
	CHECK_INT(ks ? ks->n : 99, 0, "none kept");
	fng__jwks_unref(ks);
	ks = NULL;
	CHECK_INT(fng__jwks_parse("{\"keys\":[{\"kty\":\"oct\",\"alg\":\"RS256\",\"k\":\"\"}]}",
		44, &ks, why, sizeof(why)), -1, "alg of another family refused");
}

static struct fng_jwks *hs_keys(void)
{
	char jwks[256], k[64];
	struct fng_jwks *ks = NULL;
	char why[200];

	fng__b64url_encode(secret, sizeof(secret), k);
	snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k\",\"k\":\"%s\"}]}",
		k);
	if (fng__jwks_parse(jwks, strlen(jwks), &ks, why, sizeof(why)) != 0) {
		printf("# %s\n", why);
	}
	return ks;
}

#define CLAIMS(extra) "{\"iss\":\"https://i/\",\"aud\":\"aud2\"" extra "}"

static void test_boundaries(struct fng_jwks *ks)
{
	char p[256];

	/* exp: valid while now < exp + leeway. */
	snprintf(p, sizeof(p), CLAIMS(",\"exp\":%lld"), NOW - 10 + 1);
	CHECK_INT(verify(ks, p), FNG_JWT_OK, "exp = now - leeway + 1 accepted");
	snprintf(p, sizeof(p), CLAIMS(",\"exp\":%lld"), NOW - 10);
	CHECK_INT(verify(ks, p), FNG_JWT_EEXPIRED, "exp = now - leeway refused");
	snprintf(p, sizeof(p), CLAIMS(",\"exp\":%lld.5"), NOW - 10);
	CHECK_INT(verify(ks, p), FNG_JWT_OK, "exp = now - leeway + 0.5 accepted");
	/* nbf: valid once nbf <= now + leeway. */
	snprintf(p, sizeof(p), CLAIMS(",\"exp\":%lld,\"nbf\":%lld"), NOW + 60, NOW + 10);
	CHECK_INT(verify(ks, p), FNG_JWT_OK, "nbf = now + leeway accepted");
	snprintf(p, sizeof(p), CLAIMS(",\"exp\":%lld,\"nbf\":%lld"), NOW + 60, NOW + 11);
	CHECK_INT(verify(ks, p), FNG_JWT_ENBF, "nbf = now + leeway + 1 refused");
	/* iat: not after now + leeway. */
	snprintf(p, sizeof(p), CLAIMS(",\"exp\":%lld,\"iat\":%lld"), NOW + 60, NOW + 10);
	CHECK_INT(verify(ks, p), FNG_JWT_OK, "iat = now + leeway accepted");
	snprintf(p, sizeof(p), CLAIMS(",\"exp\":%lld,\"iat\":%lld"), NOW + 60, NOW + 11);
	CHECK_INT(verify(ks, p), FNG_JWT_EIAT, "iat = now + leeway + 1 refused");
	CHECK_INT(verify(ks, CLAIMS("")), FNG_JWT_ENO_EXP, "exp required");
}

static void test_claims(struct fng_jwks *ks)
{
	struct fng_jwt_claims cl;
	char p[256];
	const char *tok;

	snprintf(p, sizeof(p), CLAIMS(",\"exp\":%lld,\"sub\":\"al\\u00e9\",\"n\":-3,"
		"\"f\":true,\"o\":{\"a\":[1,null]},\"scope\":\"a b\",\"scp\":[\"c\"]"), NOW + 60);
	tok = mint("{\"alg\":\"HS256\",\"typ\":\"at+JWT\"}", p);
	CHECK_INT(fng__jwt_verify(&cfg, ks, tok, strlen(tok), NOW, &cl), FNG_JWT_OK,
		"claims token accepted (no kid: the only oct key)");
	CHECK_INT(cl.n, 9, "nine claims");
	CHECK_STR(cl.sub_off >= 0 ? cl.flat.p + cl.sub_off : NULL, "al\xc3\xa9", "sub unquoted");
	CHECK(cl.flat.len > 0 && memmem(cl.flat.p, cl.flat.len, "claims.n\0-3\0claims.f\0true\0"
		"claims.o\0{\"a\":[1,null]}\0", 48) != NULL,
		"numbers, booleans, objects as JSON text");
	CHECK_INT(cl.scopes.len, 5, "scopes joined");
	CHECK(cl.scopes.len == 5 && memcmp(cl.scopes.p, "a b c", 5) == 0, "scope then scp");
	fng__jwt_claims_finish(&cl);
	cfg.max_token_bytes = 100;
	CHECK_INT(fng__jwt_verify(&cfg, ks, tok, strlen(tok), NOW, &cl), FNG_JWT_ETOO_LARGE,
		"max_token_bytes");
	fng__jwt_claims_finish(&cl);
	cfg.max_token_bytes = 8192;
	cfg.algs = 1u << FNG_JWT_RS256;
	CHECK_INT(fng__jwt_verify(&cfg, ks, tok, strlen(tok), NOW, &cl), FNG_JWT_EALG,
		"HS256 not allowed");
	fng__jwt_claims_finish(&cl);
	cfg.algs = 1u << FNG_JWT_HS256;
	CHECK_INT(fng__jwt_verify(&cfg, NULL, tok, strlen(tok), NOW, &cl), FNG_JWT_ENO_KEYS,
		"no keys: JWKS unavailable");
	fng__jwt_claims_finish(&cl);
	CHECK_STR(fng__jwt_refusal_msg(FNG_JWT_EKEY_TYPE), "key does not fit the algorithm",
		"message of a class");
}

int main(void)
{
	struct fng_jwks *ks = hs_keys();

	test_b64url();
	test_jwks();
	CHECK(ks && ks->n == 1, "an HS256 key set");
	if (ks) {
		test_boundaries(ks);
		test_claims(ks);
	}
	fng__jwks_unref(ks);
	return fng_test_done();
}
