// SPDX-License-Identifier: MIT
/*
 * Fuzz driver over the JWT authorizer's parsers (gateway/auth): the token check of
 * jwt_verify.c and the JWKS parser of jwks.c. The first byte chooses what the rest is:
 *   0: a compact token, verified as it is against the demo keys (examples/jwt/jwks.json);
 *   1: "HEADER.PAYLOAD" as raw JSON texts: base64url-encoded and signed here with the demo
 *      HS256 key, so that what lies behind the signature (the claims) is reached too;
 *   2: a JWKS document.
 * Any input must give a verdict, never a crash or a leak. tests/fuzz/jwt_seeds.py writes the
 * hand-made seeds of corpus/jwt.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jwt.h"

static const char demo_jwks[] =
	"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"demo-rs256\",\"use\":\"sig\",\"alg\":\"RS2"
	"56\",\"n\":\"hRbLAde07DTw2Lj8N__kYthmogYDQSrga4FN9E7SsYG52V3MatyUgmcjnwF22jSrMr6"
	"5vjBJQ7iSBZ7BReikwmceWc_YXqNoCL4zEvX9zY6zQKABYq5wZlZNxUkfPfITkxrq7e3nmc81y-c_rc3"
	"02bm6gmpOS8Vy_bJq_FcG6GBk6zJLpz_LXc6DvWjm3AMj6tRweo0z-1DFTiBsLWVK50-cM7FqSB-Pa-T"
	"ZBr2u9iTbBHECs2OUY5J1dMAzyNMY3gBD_W7D9BStEqeFZe8OjWxK6W1h113xPoSH1cljIiH_39aPR3I"
	"pHECgeHOddbO8Q4RombRS8_tTAdJP6zzJvQ\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\""
	"demo-es256\",\"use\":\"sig\",\"alg\":\"ES256\",\"crv\":\"P-256\",\"x\":\"B_VHtEz"
	"XCY2i5el6MoejeABchnBTbIdIErspnoHNz5Q\",\"y\":\"gxioseKgxbO9vWNRQrPIqTp26ajzpD3XE"
	"I_1x5i5MK8\"},{\"kty\":\"oct\",\"kid\":\"demo-hs256\",\"use\":\"sig\",\"alg\":\""
	"HS256\",\"k\":\"hHLywX9-4TGnVJYzgQ74DuzKWfnfamD2QclQhhLk0J0\"}]}";

static const char *const audiences[] = { "fngate-demo", "other" };
static struct fng_jwt_cfg cfg = {
	.issuer = "https://fngate.demo/",
	.audiences = (const char **)audiences,
	.naudiences = 2,
	.algs = 0xf,
	.leeway_s = 30,
	.max_token_bytes = 8192,
};
static struct fng_jwks *keys;

static void check(const char *tok, size_t len)
{
	struct fng_jwt_claims cl;

	fng__jwt_verify(&cfg, keys, tok, len, 1800000000, &cl);
	fng__jwt_claims_finish(&cl);
}

/* HEADER.PAYLOAD (raw JSON) into a signed token with the demo HS256 key ("demo-hs256"). */
static void check_signed(const uint8_t *data, size_t size)
{
	const uint8_t *dot = memchr(data, '.', size);
	const struct fng_jwk *k = NULL;
	uint8_t mac[32];
	char *tok;
	size_t n = 0;

	for (unsigned i = 0; i < keys->n; i++) {
		if (keys->keys[i].kty == FNG_JWK_OCT) {
			k = &keys->keys[i];
		}
	}
	if (!dot || !k || size > 6000) {
		return;
	}
	tok = malloc(size * 2 + 64);
	if (!tok) {
		return;
	}
	n += fng__b64url_encode(data, (size_t)(dot - data), tok);
	tok[n++] = '.';
	n += fng__b64url_encode(dot + 1, size - (size_t)(dot + 1 - data), tok + n);
	if (fng__jwt_hs256(k->key, k->klen, tok, n, mac) == 0) {
		tok[n++] = '.';
		n += fng__b64url_encode(mac, sizeof(mac), tok + n);
		check(tok, n);
	}
	free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fng_jwks *ks = NULL;
	char why[200];

	if (!keys && fng__jwks_parse(demo_jwks, sizeof(demo_jwks) - 1, &keys, why,
		sizeof(why)) != 0) {
		abort();
	}
	if (size == 0) {
		return 0;
	}
	switch (data[0]) {
	case 0:
		check((const char *)data + 1, size - 1);
		break;
	case 1:
		check_signed(data + 1, size - 1);
		break;
	case 2:
		if (fng__jwks_parse((const char *)data + 1, size - 1, &ks, why, sizeof(why)) == 0) {
			fng__jwks_unref(ks);
		}
		break;
	}
	return 0;
}

void fng_fuzz_cleanup(void)
{
	fng__jwks_unref(keys);
	keys = NULL;
}
