// SPDX-License-Identifier: MIT
/*
 * `fngate token`: mints a JWT for trying a JWT authorizer (the demo's, README), signed with
 * wolfCrypt by a PEM private key (RSA: RS256, EC P-256: ES256, Ed25519: EdDSA) or an HMAC
 * secret file (base64url, as a JWK's "k": HS256). A tool for tests and demos: real tokens
 * come from an identity provider.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "cli.h"
#include "jwt.h"

#define KEY_MAX 16384

struct signer {
	int alg;
	RsaKey rsa;
	ecc_key ecc;
	ed25519_key ed;
	uint8_t secret[256];
	size_t slen;
	bool has_rsa, has_ecc, has_ed;
};

static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (!f) {
		perror(path);
		return -1;
	}
	*len = fread(buf, 1, cap, f);
	fclose(f);
	if (*len == cap) {
		fprintf(stderr, "fngate token: %s: too large for a key\n", path);
		return -1;
	}
	return 0;
}

static int load_pem(struct signer *s, uint8_t *pem, size_t len)
{
	uint8_t der[KEY_MAX];
	int n = wc_KeyPemToDer(pem, (int)len, der, sizeof(der), NULL);
	word32 idx = 0, off = 0;
	int t;

	if (n <= 0) {
		return -1;
	}
	t = wc_GetPkcs8TraditionalOffset(der, &off, (word32)n); /* PKCS#8: off moves past it */
	if (t < 0) {
		off = 0;
	}
	idx = off;
	if (wc_InitRsaKey(&s->rsa, NULL) == 0) {
		s->has_rsa = true;
		if (wc_RsaPrivateKeyDecode(der, &idx, &s->rsa, (word32)n) == 0) {
			s->alg = FNG_JWT_RS256;
			return 0;
		}
	}
	idx = off;
	if (wc_ecc_init(&s->ecc) == 0) {
		s->has_ecc = true;
		if (wc_EccPrivateKeyDecode(der, &idx, &s->ecc, (word32)n) == 0) {
			if (wc_ecc_get_curve_id(s->ecc.idx) != ECC_SECP256R1) {
				fprintf(stderr, "fngate token: EC keys must be on P-256\n");
				return -1;
			}
			s->alg = FNG_JWT_ES256;
			return 0;
		}
	}
	idx = 0;
	if (wc_ed25519_init(&s->ed) == 0) {
		s->has_ed = true;
		if (wc_Ed25519PrivateKeyDecode(der, &idx, &s->ed, (word32)n) == 0) {
			uint8_t pub[ED25519_PUB_KEY_SIZE];

			if (!s->ed.pubKeySet && (wc_ed25519_make_public(&s->ed, pub, sizeof(pub)) ||
				wc_ed25519_import_private_key(s->ed.k, ED25519_KEY_SIZE, pub,
					sizeof(pub), &s->ed))) {
				return -1;
			}
			s->alg = FNG_JWT_EDDSA;
			return 0;
		}
	}
	return -1;
}

static int load_key(struct signer *s, const char *path)
{
	uint8_t buf[KEY_MAX];
	size_t len, n;
	long k;

	if (read_file(path, buf, sizeof(buf), &len)) {
		return -1;
	}
	if (len > 10 && memcmp(buf, "-----BEGIN", 10) == 0) {
		if (load_pem(s, buf, len) == 0) {
			return 0;
		}
		fprintf(stderr, "fngate token: %s: not an RSA, P-256 or Ed25519 private key\n",
			path);
		return -1;
	}
	for (n = len; n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ');
		n--) {
	}
	k = n <= sizeof(s->secret) * 4 / 3 ? fng__b64url_decode((char *)buf, n, s->secret) : -1;
	if (k < 32) {
		fprintf(stderr, "fngate token: %s: an HS256 secret file holds 32 to 256 bytes in "
			"base64url (a JWK's \"k\")\n", path);
		return -1;
	}
	s->slen = (size_t)k;
	s->alg = FNG_JWT_HS256;
	return 0;
}

/* The signature of msg into sig (512 bytes): its length, or -1. */
static long sign(struct signer *s, const char *msg, size_t mlen, uint8_t *sig)
{
	uint8_t hash[WC_SHA256_DIGEST_SIZE], in[sizeof(fng__jwt_sha256_info) + sizeof(hash)];
	uint8_t der[80];
	uint8_t r[32], sv[32];
	word32 rl = sizeof(r), sl = sizeof(sv), dl = sizeof(der), out = 512;
	WC_RNG rng;
	long rc = -1;

	if (s->alg == FNG_JWT_HS256) {
		return fng__jwt_hs256(s->secret, s->slen, msg, mlen, sig) ? -1 :
			WC_SHA256_DIGEST_SIZE;
	}
	if (s->alg == FNG_JWT_EDDSA) {
		return wc_ed25519_sign_msg((const byte *)msg, (word32)mlen, sig, &out, &s->ed) ?
			-1 : (long)out;
	}
	if (wc_Sha256Hash((const byte *)msg, (word32)mlen, hash) || wc_InitRng(&rng)) {
		return -1;
	}
	if (s->alg == FNG_JWT_RS256) {
		memcpy(in, fng__jwt_sha256_info, sizeof(fng__jwt_sha256_info));
		memcpy(in + sizeof(fng__jwt_sha256_info), hash, sizeof(hash));
		rc = wc_RsaSSL_Sign(in, sizeof(in), sig, 512, &s->rsa, &rng);
		rc = rc > 0 ? rc : -1;
	} else if (wc_ecc_sign_hash(hash, sizeof(hash), der, &dl, &rng, &s->ecc) == 0 &&
		wc_ecc_sig_to_rs(der, dl, r, &rl, sv, &sl) == 0) {
		/* JWS wants r || s, each left-padded to 32 bytes (RFC 7518 3.4). */
		memset(sig, 0, 64);
		memcpy(sig + 32 - rl, r, rl);
		memcpy(sig + 64 - sl, sv, sl);
		rc = 64;
	}
	wc_FreeRng(&rng);
	return rc;
}

static void signer_finish(struct signer *s)
{
	if (s->has_rsa) {
		wc_FreeRsaKey(&s->rsa);
	}
	if (s->has_ecc) {
		wc_ecc_free(&s->ecc);
	}
	if (s->has_ed) {
		wc_ed25519_free(&s->ed);
	}
	memset(s->secret, 0, sizeof(s->secret));
}

static int b64_json(json_t *o, struct fng_buf *b)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t n = s ? strlen(s) : 0;
	int rc = -1;

	if (s && fng__buf_reserve(b, (n + 2) / 3 * 4 + 2) == 0) {
		b->len += fng__b64url_encode((const uint8_t *)s, n, b->p + b->len);
		rc = 0;
	}
	free(s);
	return rc;
}

static void token_usage(FILE *f)
{
	fprintf(f, "usage: fngate token --key FILE --iss ISSUER --aud AUDIENCE [--sub SUBJECT]\n"
		"         [--scope \"S1 S2\"] [--ttl SECONDS] [--kid KID] [--alg ALG]\n"
		"         [--claim NAME=VALUE]...\n"
		"  Prints a JWT signed by FILE: a PEM private key (RSA: RS256, P-256: ES256,\n"
		"  Ed25519: EdDSA) or an HS256 secret in base64url. --ttl defaults to 3600;\n"
		"  a --claim VALUE that parses as JSON is put as such, else as a string.\n");
}

/* A --claim NAME=VALUE into o: VALUE as JSON when it is some, else as a string. */
static int add_claim(json_t *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[256];
	json_t *v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
		return -1;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
	if (!v) {
		v = json_string(eq + 1);
	}
	return json_object_set_new(o, name, v);
}

int fng__cli_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' }, { "iss", required_argument, NULL, 'i' },
		{ "aud", required_argument, NULL, 'a' }, { "sub", required_argument, NULL, 's' },
		{ "scope", required_argument, NULL, 'S' }, { "ttl", required_argument, NULL, 't' },
		{ "kid", required_argument, NULL, 'K' }, { "alg", required_argument, NULL, 'A' },
		{ "claim", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *iss = NULL, *aud = NULL, *sub = NULL, *scope = NULL;
	const char *kid = NULL, *alg = NULL;
	long ttl = 3600;
	json_t *hdr = json_object(), *claims = json_object(), *extra = json_object();
	struct fng_buf tok = { 0 };
	struct signer s = { .alg = -1 };
	uint8_t sig[512];
	long slen;
	int c, rc = 1;
	time_t now = time(NULL);

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'i':
			iss = optarg;
			break;
		case 'a':
			aud = optarg;
			break;
		case 's':
			sub = optarg;
			break;
		case 'S':
			scope = optarg;
			break;
		case 't':
			ttl = strtol(optarg, NULL, 10);
			break;
		case 'K':
			kid = optarg;
			break;
		case 'A':
			alg = optarg;
			break;
		case 'c':
			if (add_claim(extra, optarg)) {
				fprintf(stderr, "fngate token: --claim NAME=VALUE\n");
				goto out;
			}
			break;
		case 'h':
			token_usage(stdout);
			rc = 0;
			goto out;
		default:
			token_usage(stderr);
			rc = 2;
			goto out;
		}
	}
	if (!key || !iss || !aud || optind != argc) {
		token_usage(stderr);
		rc = 2;
		goto out;
	}
	if (load_key(&s, key)) {
		goto out;
	}
	if (alg && fng__jwt_alg_parse(alg) != s.alg) {
		fprintf(stderr, "fngate token: %s is a key for %s, not %s\n", key,
			fng__jwt_alg_name(s.alg), alg);
		goto out;
	}
	json_object_set_new(hdr, "alg", json_string(fng__jwt_alg_name(s.alg)));
	json_object_set_new(hdr, "typ", json_string("JWT"));
	if (kid) {
		json_object_set_new(hdr, "kid", json_string(kid));
	}
	json_object_set_new(claims, "iss", json_string(iss));
	json_object_set_new(claims, "aud", json_string(aud));
	if (sub) {
		json_object_set_new(claims, "sub", json_string(sub));
	}
	if (scope) {
		json_object_set_new(claims, "scope", json_string(scope));
	}
	json_object_set_new(claims, "iat", json_integer(now));
	json_object_set_new(claims, "exp", json_integer(now + ttl));
	json_object_update(claims, extra);
	if (b64_json(hdr, &tok) || fng__buf_str(&tok, ".") || b64_json(claims, &tok)) {
		goto out;
	}
	slen = sign(&s, tok.p, tok.len, sig);
	if (slen <= 0 || fng__buf_str(&tok, ".") ||
		fng__buf_reserve(&tok, (size_t)(slen + 2) / 3 * 4 + 2)) {
		fprintf(stderr, "fngate token: signing failed\n");
		goto out;
	}
	tok.len += fng__b64url_encode(sig, (size_t)slen, tok.p + tok.len);
	printf("%.*s\n", (int)tok.len, tok.p);
	rc = 0;
out:
	signer_finish(&s);
	fng__buf_finish(&tok);
	json_decref(hdr);
	json_decref(claims);
	json_decref(extra);
	return rc;
}
