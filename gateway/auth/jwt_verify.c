// SPDX-License-Identifier: MIT
/*
 * The check of one compact JWS (RFC 7515, 7519) by the JWT authorizer, strict in the order
 * RFC 8725 asks: shape and size, base64url of every segment, the header (an algorithm from
 * the allowlist, never `none`; no key or key URL carried by the token; no `crit`; no nested
 * token), the key by kid and its type against the algorithm, the signature with wolfCrypt,
 * and only then the claims (issuer, audience, exp, nbf, iat). A pure function of its inputs:
 * the stage (jwt.c), the fuzzer and the unit tests call it alike.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "jwt.h"

static const char *const refusals[] = {
	[FNG_JWT_OK] = "",
#define XX(id, msg) [FNG_JWT_E##id] = msg,
	FNG_JWT_REFUSALS(XX)
#undef XX
};

const char *fng__jwt_refusal_msg(int r)
{
	return (unsigned)r < FNG_JWT__NREFUSAL ? refusals[r] : "invalid token";
}

void fng__jwt_claims_finish(struct fng_jwt_claims *cl)
{
	fng__buf_finish(&cl->flat);
	fng__buf_finish(&cl->scopes);
}

bool fng__jwt_exp_ok(const struct fng_jwt_cfg *c, double exp, int64_t now)
{
	return (double)now < exp + (double)c->leeway_s;
}

static bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;

	for (size_t i = 0; i < n; i++) {
		d |= a[i] ^ b[i];
	}
	return d == 0;
}

/* The JSON object of n decoded bytes, or NULL with the class of what is wrong in *why. */
static json_t *object_of(const uint8_t *p, size_t n, int *why)
{
	json_error_t e;
	json_t *o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);

	if (!o) {
		*why = strstr(e.text, "duplicate") ? FNG_JWT_EDUPLICATE : FNG_JWT_EJSON;
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		*why = FNG_JWT_EJSON;
		return NULL;
	}
	return o;
}

static bool str_ieq_any(const char *s, const char *const *set)
{
	for (; *set; set++) {
		if (strcasecmp(s, *set) == 0) {
			return true;
		}
	}
	return false;
}

/* The algorithm of header h allowed by c, or the refusal (negative of its class). */
static int header_alg(const struct fng_jwt_cfg *c, json_t *h)
{
	static const struct {
		const char *name;
		int why;
	} forbidden[] = {
		{ "jku", FNG_JWT_EJKU },
		{ "x5u", FNG_JWT_EX5U },
		{ "jwk", FNG_JWT_EJWK },
		{ "x5c", FNG_JWT_EX5C },
		{ "crit", FNG_JWT_ECRIT }, /* we understand no extension (RFC 7515 4.1.11) */
	};
	static const char *const typs[] = { "JWT", "at+jwt", "application/jwt",
		"application/at+jwt", NULL };
	const char *alg = json_string_value(json_object_get(h, "alg"));
	json_t *typ = json_object_get(h, "typ"), *cty = json_object_get(h, "cty");
	json_t *kid = json_object_get(h, "kid");
	int a;

	if (alg && strcasecmp(alg, "none") == 0) {
		return -FNG_JWT_EALG_NONE;
	}
	a = alg ? fng__jwt_alg_parse(alg) : -1;
	if (a < 0 || !(c->algs & (1u << a))) {
		return -FNG_JWT_EALG;
	}
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		if (json_object_get(h, forbidden[i].name)) {
			return -forbidden[i].why;
		}
	}
	if (typ && (!json_is_string(typ) || !str_ieq_any(json_string_value(typ), typs))) {
		return -FNG_JWT_ETYP;
	}
	if (cty && (!json_is_string(cty) || strcasecmp(json_string_value(cty), "JWT") == 0)) {
		return -FNG_JWT_ENESTED;
	}
	if (kid && !json_is_string(kid)) {
		return -FNG_JWT_EMALFORMED;
	}
	return a;
}

static const enum fng_jwk_kty kty_of[] = {
#define XX(id, name, kty) [FNG_JWT_##id] = kty,
	FNG_JWT_ALGS(XX)
#undef XX
};

/*
 * The key for alg: by kid (an unknown kid is refused), or without one the only key of the
 * algorithm's family. A key of another family is refused, so an RSA public key can never
 * serve as an HMAC secret (RS/HS confusion), nor a key whose own "alg" is another.
 */
static const struct fng_jwk *pick_key(const struct fng_jwks *ks, int alg, const char *kid,
	int *why)
{
	const struct fng_jwk *k = NULL;

	if (kid) {
		for (unsigned i = 0; i < ks->n && !k; i++) {
			if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0) {
				k = &ks->keys[i];
			}
		}
		if (!k) {
			*why = FNG_JWT_EKID;
			return NULL;
		}
	} else {
		for (unsigned i = 0; i < ks->n; i++) {
			if (ks->keys[i].kty == kty_of[alg]) {
				if (k) {
					*why = FNG_JWT_EKID; /* several could be meant: say which */
					return NULL;
				}
				k = &ks->keys[i];
			}
		}
		if (!k) {
			*why = FNG_JWT_EKID;
			return NULL;
		}
	}
	if (k->kty != kty_of[alg] || (k->alg >= 0 && k->alg != alg)) {
		*why = FNG_JWT_EKEY_TYPE;
		return NULL;
	}
	return k;
}

const uint8_t fng__jwt_sha256_info[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
	0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };

static bool verify_rs256(RsaKey *key, const uint8_t *sig, size_t slen, const uint8_t *hash)
{
	uint8_t buf[512], want[sizeof(fng__jwt_sha256_info) + WC_SHA256_DIGEST_SIZE];
	byte *out = NULL;
	int n;

	if (slen != (size_t)wc_RsaEncryptSize(key) || slen > sizeof(buf)) {
		return false;
	}
	memcpy(buf, sig, slen);
	n = wc_RsaSSL_VerifyInline(buf, (word32)slen, &out, key);
	memcpy(want, fng__jwt_sha256_info, sizeof(fng__jwt_sha256_info));
	memcpy(want + sizeof(fng__jwt_sha256_info), hash, WC_SHA256_DIGEST_SIZE);
	return n == (int)sizeof(want) && out && ct_equal(out, want, sizeof(want));
}

static bool verify_es256(ecc_key *key, const uint8_t *sig, size_t slen, const uint8_t *hash)
{
	uint8_t der[80];
	word32 dlen = sizeof(der);
	int res = 0;

	if (slen != 64 || wc_ecc_rs_raw_to_sig(sig, 32, sig + 32, 32, der, &dlen) != 0) {
		return false;
	}
	return wc_ecc_verify_hash(der, dlen, hash, WC_SHA256_DIGEST_SIZE, &res, key) == 0 &&
		res == 1;
}

int fng__jwt_hs256(const uint8_t *key, size_t klen, const char *msg, size_t mlen,
	uint8_t mac[32])
{
	Hmac h;
	int rc = wc_HmacInit(&h, NULL, INVALID_DEVID);

	if (rc != 0) {
		return rc;
	}
	rc = wc_HmacSetKey(&h, WC_SHA256, key, (word32)klen);
	if (rc == 0) {
		rc = wc_HmacUpdate(&h, (const byte *)msg, (word32)mlen);
	}
	if (rc == 0) {
		rc = wc_HmacFinal(&h, mac);
	}
	wc_HmacFree(&h);
	return rc;
}

static bool verify_hs256(const struct fng_jwk *k, const uint8_t *sig, size_t slen,
	const char *msg, size_t mlen)
{
	uint8_t mac[WC_SHA256_DIGEST_SIZE];

	return slen == sizeof(mac) && fng__jwt_hs256(k->key, k->klen, msg, mlen, mac) == 0 &&
		ct_equal(mac, sig, sizeof(mac));
}

static bool verify_sig(const struct fng_jwk *k, int alg, const uint8_t *sig, size_t slen,
	const char *msg, size_t mlen)
{
	uint8_t hash[WC_SHA256_DIGEST_SIZE];
	int res = 0;

	switch ((enum fng_jwt_alg)alg) {
	case FNG_JWT_HS256:
		return verify_hs256(k, sig, slen, msg, mlen);
	case FNG_JWT_EDDSA:
		return slen == ED25519_SIG_SIZE &&
			wc_ed25519_verify_msg(sig, (word32)slen, (const byte *)msg, (word32)mlen,
				&res, k->key) == 0 && res == 1;
	case FNG_JWT_RS256:
	case FNG_JWT_ES256:
		if (wc_Sha256Hash((const byte *)msg, (word32)mlen, hash) != 0) {
			return false;
		}
		return alg == FNG_JWT_RS256 ? verify_rs256(k->key, sig, slen, hash) :
			verify_es256(k->key, sig, slen, hash);
	default:
		return false;
	}
}

/* A claim's value as the handler reads it: strings unquoted, the rest as compact JSON. */
static int claim_text(json_t *v, struct fng_buf *b)
{
	char *s;
	int rc;

	if (json_is_string(v)) {
		return fng__buf_append(b, json_string_value(v), json_string_length(v));
	}
	if (json_is_integer(v)) {
		return fng__buf_printf(b, "%lld", (long long)json_integer_value(v));
	}
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
	if (!s) {
		return -1;
	}
	rc = fng__buf_str(b, s);
	free(s);
	return rc;
}

static int add_scopes(struct fng_buf *b, const char *s, size_t n)
{
	if (n == 0) {
		return 0;
	}
	if (b->len && fng__buf_str(b, " ")) {
		return -1;
	}
	return fng__buf_append(b, s, n);
}

static int claims_out(json_t *p, struct fng_jwt_claims *out)
{
	const char *name;
	json_t *v, *scope = json_object_get(p, "scope"), *scp = json_object_get(p, "scp");
	json_t *sub = json_object_get(p, "sub");
	size_t i;

	if (json_object_size(p) > FNG_JWT_MAX_CLAIMS) {
		return FNG_JWT_ETOO_LARGE;
	}
	if ((sub && !json_is_string(sub)) || (scope && !json_is_string(scope)) ||
		(scp && !json_is_string(scp) && !json_is_array(scp))) {
		return FNG_JWT_ECLAIM;
	}
	json_object_foreach(p, name, v) {
		if (fng__buf_str(&out->flat, "claims.") ||
			fng__buf_append(&out->flat, name, strlen(name) + 1)) {
			return -1;
		}
		if (v == sub) {
			out->sub_off = (long)out->flat.len;
		}
		if (claim_text(v, &out->flat) || fng__buf_append(&out->flat, "", 1)) {
			return -1;
		}
		out->n++;
	}
	if (scope && add_scopes(&out->scopes, json_string_value(scope),
		json_string_length(scope))) {
		return -1;
	}
	if (json_is_string(scp) && add_scopes(&out->scopes, json_string_value(scp),
		json_string_length(scp))) {
		return -1;
	}
	json_array_foreach(scp, i, v) {
		if (!json_is_string(v) || strchr(json_string_value(v), ' ')) {
			return FNG_JWT_ECLAIM;
		}
		if (add_scopes(&out->scopes, json_string_value(v), json_string_length(v))) {
			return -1;
		}
	}
	return FNG_JWT_OK;
}

static int check_claims(const struct fng_jwt_cfg *c, json_t *p, int64_t now,
	struct fng_jwt_claims *out)
{
	const char *iss = json_string_value(json_object_get(p, "iss"));
	json_t *aud = json_object_get(p, "aud"), *v;
	json_t *exp = json_object_get(p, "exp"), *nbf = json_object_get(p, "nbf");
	json_t *iat = json_object_get(p, "iat");
	double lee = (double)c->leeway_s, t = (double)now;
	bool aud_ok = false;
	size_t i;

	if (!iss || strcmp(iss, c->issuer) != 0) {
		return FNG_JWT_EISSUER;
	}
	for (unsigned j = 0; j < c->naudiences && !aud_ok; j++) {
		if (json_is_string(aud)) {
			aud_ok = strcmp(json_string_value(aud), c->audiences[j]) == 0;
		}
		json_array_foreach(aud, i, v) {
			aud_ok |= json_is_string(v) && strcmp(json_string_value(v),
				c->audiences[j]) == 0;
		}
	}
	if (!aud_ok) {
		return FNG_JWT_EAUDIENCE;
	}
	if (!exp) {
		return FNG_JWT_ENO_EXP;
	}
	if (!json_is_number(exp) || (nbf && !json_is_number(nbf)) ||
		(iat && !json_is_number(iat))) {
		return FNG_JWT_ECLAIM;
	}
	out->exp = json_number_value(exp);
	if (!fng__jwt_exp_ok(c, out->exp, now)) {
		return FNG_JWT_EEXPIRED;
	}
	if (nbf && json_number_value(nbf) > t + lee) {
		return FNG_JWT_ENBF;
	}
	if (iat && json_number_value(iat) > t + lee) {
		return FNG_JWT_EIAT;
	}
	return claims_out(p, out);
}

int fng__jwt_verify(const struct fng_jwt_cfg *c, const struct fng_jwks *ks, const char *tok,
	size_t len, int64_t now, struct fng_jwt_claims *out)
{
	const char *d1, *d2;
	json_t *h = NULL, *p = NULL;
	const struct fng_jwk *k;
	uint8_t *buf, *hb, *pb, *sb;
	long hn, pn, sn;
	int alg, rc;

	memset(out, 0, sizeof(*out));
	out->sub_off = -1;
	if (len > c->max_token_bytes) {
		return FNG_JWT_ETOO_LARGE;
	}
	d1 = memchr(tok, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	/*
	 * Three segments and nothing after. An empty signature is refused below, once the
	 * header had its chance to be refused for what it is (alg none).
	 */
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) || d1 == tok ||
		d2 == d1 + 1) {
		return FNG_JWT_EMALFORMED;
	}
	buf = malloc(len);
	if (!buf) {
		return FNG_JWT_EMALFORMED;
	}
	hb = buf;
	hn = fng__b64url_decode(tok, (size_t)(d1 - tok), hb);
	pb = hb + (hn > 0 ? hn : 0);
	pn = fng__b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), pb);
	sb = pb + (pn > 0 ? pn : 0);
	sn = fng__b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), sb);
	if (hn <= 0 || pn <= 0 || sn < 0) {
		rc = FNG_JWT_EBASE64;
		goto out;
	}
	h = object_of(hb, (size_t)hn, &rc);
	if (!h) {
		goto out;
	}
	alg = header_alg(c, h);
	if (alg < 0) {
		rc = -alg;
		goto out;
	}
	if (sn == 0) {
		rc = FNG_JWT_EMALFORMED;
		goto out;
	}
	if (!ks || ks->n == 0) {
		rc = FNG_JWT_ENO_KEYS;
		goto out;
	}
	k = pick_key(ks, alg, json_string_value(json_object_get(h, "kid")), &rc);
	if (!k) {
		goto out;
	}
	if (!verify_sig(k, alg, sb, (size_t)sn, tok, (size_t)(d2 - tok))) {
		rc = FNG_JWT_ESIGNATURE;
		goto out;
	}
	p = object_of(pb, (size_t)pn, &rc);
	if (!p) {
		goto out;
	}
	rc = check_claims(c, p, now, out);
	if (rc < 0) {
		rc = FNG_JWT_ECLAIM; /* out of memory while copying: refused all the same */
	}
out:
	json_decref(h);
	json_decref(p);
	free(buf);
	return rc;
}
