/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_AUTH_JWT_H
#define FNG_GATEWAY_AUTH_JWT_H

/*
 * The built-in JWT authorizer (`type: jwt`): the bearer token of the Authorization header
 * verified with wolfCrypt against the authorizer's keys (a JWKS), issuer, audiences, algorithm
 * allowlist and time claims; the route's authorization_scopes checked against its `scope` or
 * `scp` claim; the verified claims put in req->authz. No function runs.
 *
 * jwks.c holds key sets (parsed from a JWKS, refcounted); jwt_verify.c the token check, a
 * pure function of (configuration, keys, token, time) that the fuzzer and the unit tests
 * drive; jwt_url.c the key sets fetched from a loopback URL (per loop); jwt.c the config keys,
 * the verification cache and the ops the stage "authorize" calls.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "authz.h"
#include "conf.h"
#include "mem.h"

struct fng_server;

/* The algorithms a token may name ("alg"); an authorizer allows a subset. */
#define FNG_JWT_ALGS(XX)                                                                   \
	XX(RS256, "RS256", FNG_JWK_RSA)                                                    \
	XX(ES256, "ES256", FNG_JWK_EC)                                                     \
	XX(HS256, "HS256", FNG_JWK_OCT)                                                    \
	XX(EDDSA, "EdDSA", FNG_JWK_OKP)

enum fng_jwk_kty { FNG_JWK_RSA, FNG_JWK_EC, FNG_JWK_OCT, FNG_JWK_OKP };

enum fng_jwt_alg {
#define XX(id, name, kty) FNG_JWT_##id,
	FNG_JWT_ALGS(XX)
#undef XX
	FNG_JWT__NALG
};

/* The name of alg ("RS256"); the alg named s (exact spelling) or -1. */
const char *fng__jwt_alg_name(enum fng_jwt_alg alg);
int fng__jwt_alg_parse(const char *s);

/* One key of a set: a wolfCrypt public key (RSA, EC P-256, Ed25519) or an HMAC secret. */
struct fng_jwk {
	char *kid;              /* NULL when the JWKS gives none */
	enum fng_jwk_kty kty;
	int alg;                /* the JWK's "alg", or -1: any algorithm of its family */
	void *key;              /* RsaKey, ecc_key, ed25519_key; the secret's bytes for oct */
	size_t klen;            /* oct: the secret's length */
};

/*
 * A key set, immutable once built and shared by reference: the configuration snapshot holds
 * a file's, a loop's URL source the last one fetched; a request holds one while it verifies.
 */
struct fng_jwks {
	atomic_uint refs;
	uint64_t serial;        /* unique per set: verification cache entries of others miss */
	struct fng_jwk *keys;
	unsigned n;
};

/*
 * Builds a key set from a JWKS document (RFC 7517): {"keys": [...]}, duplicate JSON keys and
 * kids refused; keys whose "use" is not "sig", or whose kty or alg fngate does not verify, are
 * skipped. RSA moduli of fewer than 2048 bits, EC keys off P-256 or not on the curve, and
 * HMAC secrets under 32 bytes are errors. 0 and *out (one reference), or -1 with why.
 */
int fng__jwks_parse(const char *text, size_t len, struct fng_jwks **out, char *why,
	size_t whylen);
struct fng_jwks *fng__jwks_ref(struct fng_jwks *ks);
void fng__jwks_unref(struct fng_jwks *ks);

/* Where a `jwks: { url: ... }` points: a loopback host, its port and the path. */
struct fng_jwt_url {
	const char *url;        /* as written */
	const char *host;       /* "127.0.0.1", "::1", "localhost" (Host header) */
	struct sockaddr_storage *addr;
	const char *path;
	uint32_t refresh_s, stale_if_error_s, timeout_ms;
};

/* A `type: jwt` authorizer in the configuration snapshot (docs/config.md). */
struct fng_jwt_cfg {
	const char *issuer;
	const char **audiences;
	unsigned naudiences;
	uint32_t algs;          /* bit 1 << enum fng_jwt_alg for each algorithm allowed */
	uint32_t leeway_s;
	uint32_t max_token_bytes;
	bool cache;
	const char *jwks_file;  /* file: its keys, read when the configuration is loaded */
	struct fng_jwks *keys;
	struct fng_jwt_url *url; /* url: fetched by each loop (jwt_url.c); keys is NULL */
	uint64_t serial;        /* unique per load */
};

/*
 * Why a token is refused: the class and its message (never the token). Each is a 401 with
 * `WWW-Authenticate: Bearer error="invalid_token"`, but NO_KEYS (503: the keys of a URL could
 * not be had).
 */
#define FNG_JWT_REFUSALS(XX)                                                               \
	XX(MALFORMED, "malformed token")                                                   \
	XX(TOO_LARGE, "token too large")                                                   \
	XX(BASE64, "malformed base64url")                                                  \
	XX(JSON, "malformed JSON")                                                         \
	XX(DUPLICATE, "duplicate JSON key")                                                \
	XX(TYP, "unsupported typ")                                                         \
	XX(ALG_NONE, "unsigned (alg none)")                                                \
	XX(ALG, "algorithm not allowed")                                                   \
	XX(JKU, "forbidden header jku")                                                    \
	XX(X5U, "forbidden header x5u")                                                    \
	XX(JWK, "forbidden header jwk")                                                    \
	XX(X5C, "forbidden header x5c")                                                    \
	XX(CRIT, "unsupported crit header")                                                \
	XX(NESTED, "nested token")                                                         \
	XX(KID, "unknown key id")                                                          \
	XX(KEY_TYPE, "key does not fit the algorithm")                                     \
	XX(SIGNATURE, "signature does not verify")                                         \
	XX(ISSUER, "wrong issuer")                                                         \
	XX(AUDIENCE, "wrong audience")                                                     \
	XX(NO_EXP, "missing exp")                                                          \
	XX(EXPIRED, "token expired")                                                       \
	XX(NBF, "token not yet valid")                                                     \
	XX(IAT, "token issued in the future")                                              \
	XX(CLAIM, "malformed claim")                                                       \
	XX(NO_KEYS, "JWKS unavailable")

enum fng_jwt_refusal {
	FNG_JWT_OK,
#define XX(id, msg) FNG_JWT_E##id,
	FNG_JWT_REFUSALS(XX)
#undef XX
	FNG_JWT__NREFUSAL
};

/* "token expired" for FNG_JWT_EEXPIRED; "" for FNG_JWT_OK. */
const char *fng__jwt_refusal_msg(int r);

/*
 * A verified token's claims, flat: for each top-level claim in token order,
 * "claims.NAME\0VALUE\0" in flat, as a handler reads them (strings unquoted, numbers and booleans as their JSON text, arrays and objects as
 * compact JSON), and the scopes of `scope` and `scp` joined by spaces.
 */
struct fng_jwt_claims {
	struct fng_buf flat;
	struct fng_buf scopes;
	unsigned n;
	long sub_off;           /* offset of sub's value in flat when it is a string, or -1 */
	double exp;
};

void fng__jwt_claims_finish(struct fng_jwt_claims *cl);

/* More top-level claims than this: "token too large" (each is one value of the event's map). */
#define FNG_JWT_MAX_CLAIMS 256

/*
 * Verifies the compact JWS tok of len bytes against c and the keys ks at time now (seconds
 * since the epoch): FNG_JWT_OK with *out filled (the caller finishes it, also on refusal), or
 * the class of the refusal.
 */
int fng__jwt_verify(const struct fng_jwt_cfg *c, const struct fng_jwks *ks, const char *tok,
	size_t len, int64_t now, struct fng_jwt_claims *out);

/* The DER DigestInfo prefix of a SHA-256 hash (RFC 8017 9.2, note 1): RS256 signs it + hash. */
extern const uint8_t fng__jwt_sha256_info[19];
/* HMAC-SHA-256 of msg with key into mac: 0, or a wolfCrypt error. */
int fng__jwt_hs256(const uint8_t *key, size_t klen, const char *msg, size_t mlen,
	uint8_t mac[32]);

/* Whether a token expiring at exp is still valid at now, given c's leeway. */
bool fng__jwt_exp_ok(const struct fng_jwt_cfg *c, double exp, int64_t now);

/*
 * Strict base64url (RFC 4648 5, no padding, canonical trailing bits) of n bytes into out
 * (room for n * 3 / 4 bytes): the decoded length, or -1.
 */
long fng__b64url_decode(const char *s, size_t n, uint8_t *out);
/* base64url without padding of n bytes into out (room for (n + 2) / 3 * 4 + 1); its length. */
size_t fng__b64url_encode(const uint8_t *in, size_t n, char *out);

/*
 * Parses the keys of a `type: jwt` authorizer (all but `type`, which the caller read) from
 * the mapping v into *out, allocated in the config's arena. 0, or -1 after fng__conf_err().
 */
int fng__jwt_conf(struct fng_conf *L, const struct fng_conf_node *v, struct fng_jwt_cfg **out);

extern const struct fng_authz_ops fng__jwt_authz_ops;

/*
 * One loop's JWT state (srv->jwt): the URL key sources and the verification cache. Made on
 * the first request that needs it. close stops its timers (before the loop's last run);
 * free releases the rest, once the thread pool has nothing of it in flight.
 */
struct fng_jwt_loop;
void fng__jwt_loop_close(struct fng_server *srv);
void fng__jwt_loop_free(struct fng_server *srv);

/* The key set of u for this loop (a reference), or NULL while none could be had. */
struct fng_jwks *fng__jwt_url_keys(struct fng_server *srv, const struct fng_jwt_url *u);

/*
 * A blocking HTTP/1.0 GET of u (loopback only), for the thread pool: 0 and the body in *body
 * (at most max bytes), or a negative errno (-ETIMEDOUT after u->timeout_ms, -EPROTO for a
 * status other than 200).
 */
int fng__jwt_http_get(const struct fng_jwt_url *u, size_t max, struct fng_buf *body);

#endif
