// SPDX-License-Identifier: MIT
/*
 * The JWT authorizer (`type: jwt`, docs/config.md "JWT authorizers"): its config keys, and
 * the ops the stage "authorize" calls for a route behind one. start takes the bearer token of
 * the Authorization header, verifies it (jwt_verify.c) against the authorizer's keys (the
 * snapshot's, read from a file at load; or this loop's, fetched from a loopback URL by
 * jwt_url.c), checks the route's scopes and puts the claims in req->authz. It answers at once,
 * but for the very first request of a URL key set, which waits for the first fetch.
 *
 * Verified tokens may be cached per loop, by the token's bytes, until they expire: a hit
 * skips the signature check (docs/BENCHMARKS.md says what that is worth).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "jwt.h"
#include "jwt_loop.h"
#include "metrics.h"
#include "safefile.h"
#include "server.h"
#include "stages.h"

#define JWKS_FILE_MAX (1u << 20)

/* ---- configuration ---- */

static void unref_keys(void *ks)
{
	fng__jwks_unref(ks);
}

static int parse_audience(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_jwt_cfg *c = obj;
	unsigned n;

	if (!v) {
		return -1; /* reported by fng__jwt_conf */
	}
	n = v->type == FNG_CONF_SEQ ? v->n : 1;
	if (v->type == FNG_CONF_MAP || n == 0) {
		fng__conf_err(L, v, "audience: a string or a list of strings");
		return -1;
	}
	c->audiences = fng__arena_zalloc(L->cfg->arena, n * sizeof(*c->audiences));
	if (!c->audiences) {
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *s = fng__conf_str(L, v->type == FNG_CONF_SEQ ? v->kids[i] : v,
			"audience");

		if (!s) {
			return -1;
		}
		c->audiences[c->naudiences++] = s;
	}
	return 0;
}

static int parse_algorithms(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_jwt_cfg *c = obj;

	if (!v) {
		c->algs = 1u << FNG_JWT_RS256 | 1u << FNG_JWT_ES256;
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "algorithms")) {
		return -1;
	}
	if (v->n == 0) {
		fng__conf_err(L, v, "algorithms: at least one");
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const char *s = fng__conf_str(L, v->kids[i], "algorithm");
		int a = s ? fng__jwt_alg_parse(s) : -1;

		if (!s) {
			return -1;
		}
		if (a < 0) {
			fng__conf_err(L, v->kids[i], "algorithm \"%s\" (known: RS256, ES256, "
				"HS256, EdDSA)", s);
			return -1;
		}
		c->algs |= 1u << a;
	}
	return 0;
}

static int parse_url(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_jwt_url *u = obj;
	const char *s, *p, *hostend, *slash;
	struct sockaddr_in *in4;
	struct sockaddr_in6 *in6;
	char host[64];
	unsigned long port = 80;

	if (!v) {
		return 0;
	}
	s = fng__conf_str(L, v, "url");
	if (!s) {
		return -1;
	}
	u->url = s;
	if (strncmp(s, "http://", 7) != 0) {
		fng__conf_err(L, v, "jwks url: http://HOST[:PORT]/PATH on loopback");
		return -1;
	}
	p = s + 7;
	if (*p == '[') {
		hostend = strchr(p, ']');
		if (!hostend) {
			goto bad;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(hostend - p - 1), p + 1);
		hostend++;
	} else {
		hostend = p + strcspn(p, ":/");
		snprintf(host, sizeof(host), "%.*s", (int)(hostend - p), p);
	}
	slash = strchr(hostend, '/');
	if (!slash) {
		goto bad;
	}
	if (*hostend == ':') {
		char *end;

		port = strtoul(hostend + 1, &end, 10);
		if (end != slash || port == 0 || port > 65535) {
			goto bad;
		}
	} else if (hostend != slash) {
		goto bad;
	}
	u->addr = fng__arena_zalloc(L->cfg->arena, sizeof(*u->addr));
	if (!u->addr) {
		return -1;
	}
	in4 = (struct sockaddr_in *)u->addr;
	in6 = (struct sockaddr_in6 *)u->addr;
	if (strcmp(host, "localhost") == 0) {
		in4->sin_family = AF_INET;
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1 &&
		(ntohl(in4->sin_addr.s_addr) >> 24) == 127) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 &&
		IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
	} else {
		fng__conf_err(L, v, "jwks url: host \"%s\" is not loopback (127.0.0.0/8, ::1, "
			"localhost): keys come from this machine only", host);
		return -1;
	}
	u->host = fng__arena_strndup(L->cfg->arena, p, (size_t)(hostend - p));
	u->path = slash;
	return u->host ? 0 : -1;
bad:
	fng__conf_err(L, v, "jwks url: http://HOST[:PORT]/PATH on loopback");
	return -1;
}

static int parse_file(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_jwt_cfg *c = obj;
	struct fng_buf text = { 0 };
	const char *s, *refused;
	char why[200];
	int err;

	if (!v) {
		return 0;
	}
	s = fng__conf_str(L, v, "jwks file");
	c->jwks_file = s ? fng__conf_relative(L, s) : NULL;
	if (!c->jwks_file) {
		return -1;
	}
	err = fng__safe_read_path(c->jwks_file, &FNG_SAFE_NAMED(JWKS_FILE_MAX), &text, &refused);
	if (err) {
		fng__buf_finish(&text);
		fng__conf_err(L, v, "jwks file %s: %s", c->jwks_file, refused);
		return -1;
	}
	err = fng__jwks_parse(text.p, text.len, &c->keys, why, sizeof(why));
	fng__buf_finish(&text);
	if (err) {
		fng__conf_err(L, v, "jwks file %s: %s", c->jwks_file, why);
		return -1;
	}
	if (fng__arena_defer(L->cfg->arena, unref_keys, c->keys) != 0) {
		fng__jwks_unref(c->keys);
		c->keys = NULL;
		return -1;
	}
	if (c->keys->n == 0) {
		fng__conf_err(L, v, "jwks file %s: no key fngate can verify with", c->jwks_file);
		return -1;
	}
	return 0;
}

#define UOFF(f) offsetof(struct fng_jwt_url, f)

static const struct fng_conf_key url_keys[] = {
	{ "url", FNG_CONF_FN, 0, .fn = parse_url },
	{ "refresh_s", FNG_CONF_U32, UOFF(refresh_s), 300, 1, 86400 },
	{ "stale_if_error_s", FNG_CONF_U32, UOFF(stale_if_error_s), 3600, 0, 7 * 86400 },
	{ "timeout_ms", FNG_CONF_U32, UOFF(timeout_ms), 2000, 100, 30000 },
	{ NULL },
};

static int parse_jwks(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_jwt_cfg *c = obj;
	const struct fng_conf_node *file = fng__conf_lookup(v, "file");

	if (!v) {
		return -1; /* reported by fng__jwt_conf */
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "jwks")) {
		return -1;
	}
	if (file) {
		if (v->n != 2) {
			fng__conf_err(L, v, "jwks: file alone, or url with its refresh_s, "
				"stale_if_error_s and timeout_ms");
			return -1;
		}
		return parse_file(L, file, c);
	}
	if (!fng__conf_lookup(v, "url")) {
		fng__conf_err(L, v, "jwks needs file or url");
		return -1;
	}
	c->url = fng__arena_zalloc(L->cfg->arena, sizeof(*c->url));
	return c->url ? fng__conf_apply(L, v, url_keys, c->url, "jwks") : -1;
}

#define COFF(f) offsetof(struct fng_jwt_cfg, f)

static const struct fng_conf_key jwt_keys[] = {
	{ "type", FNG_CONF_FN, 0, .fn = fng__conf_skip },
	{ "issuer", FNG_CONF_STR, COFF(issuer), .required = true },
	{ "audience", FNG_CONF_FN, 0, .fn = parse_audience },
	{ "algorithms", FNG_CONF_FN, 0, .fn = parse_algorithms },
	{ "leeway_s", FNG_CONF_U32, COFF(leeway_s), 30, 0, 300 },
	{ "max_token_bytes", FNG_CONF_U32, COFF(max_token_bytes), 8192, 256, 16384 },
	{ "cache", FNG_CONF_BOOL, COFF(cache), true },
	{ "jwks", FNG_CONF_FN, 0, .fn = parse_jwks },
	{ NULL },
};

int fng__jwt_conf(struct fng_conf *L, const struct fng_conf_node *v, struct fng_jwt_cfg **out)
{
	static atomic_uint_fast64_t serial;
	struct fng_jwt_cfg *c = fng__arena_zalloc(L->cfg->arena, sizeof(*c));

	*out = c;
	if (!c) {
		return -1;
	}
	if (!fng__conf_lookup(v, "audience") || !fng__conf_lookup(v, "jwks")) {
		fng__conf_err(L, v, "a JWT authorizer needs issuer, audience and jwks");
		return -1;
	}
	c->serial = atomic_fetch_add(&serial, 1) + 1;
	return fng__conf_apply(L, v, jwt_keys, c, "JWT authorizer");
}

/* ---- the verification cache (per loop) ---- */

/*
 * Entries are keyed by the token itself, compared byte for byte, and found by a hash of its
 * last bytes (the signature's: as good as random). A SHA-256 of the token cost 1.9 us for a
 * 557-byte RS256 token here, a fifth of a whole bare request (docs/BENCHMARKS.md); the token's
 * bytes are in this process's memory anyway (the request, the event a handler gets). Only
 * verified tokens get in, so no client chooses what shares a chain.
 */
#define CACHE_ENTRIES 10000
#define CACHE_BYTES (8u << 20)
#define KEY_TAIL 32

struct cache_entry {
	struct fng_hnode node;
	struct fng_list fifo;
	uint64_t cfg_serial, keys_serial;
	size_t bytes;
	struct fng_jwt_claims claims;
	size_t toklen;
	char tok[];
};

static void entry_drop(struct fng_jwt_loop *jl, struct cache_entry *e)
{
	fng__hmap_del(&jl->cache, &e->node);
	fng__list_remove(&e->fifo);
	jl->cache_n--;
	jl->cache_bytes -= e->bytes;
	fng__jwt_claims_finish(&e->claims);
	free(e);
}

void fng__jwt_cache_free(struct fng_jwt_loop *jl)
{
	while (!fng__list_empty(&jl->cache_fifo)) {
		entry_drop(jl, fng__container_of(jl->cache_fifo.next, struct cache_entry, fifo));
	}
	fng__hmap_finish(&jl->cache);
}

static uint64_t token_hash(struct fng_str tok)
{
	size_t n = tok.len < KEY_TAIL ? tok.len : KEY_TAIL;

	return fng__hash(tok.p + tok.len - n, n);
}

static struct cache_entry *cache_find(struct fng_jwt_loop *jl, const struct fng_jwt_cfg *c,
	const struct fng_jwks *ks, struct fng_str tok, int64_t now)
{
	uint64_t k = token_hash(tok);

	for (struct fng_hnode *n = fng__hmap_chain(&jl->cache, k); n; n = n->next) {
		struct cache_entry *e = fng__container_of(n, struct cache_entry, node);

		if (n->hash != k || e->toklen != tok.len || memcmp(e->tok, tok.p, tok.len) != 0 ||
			e->cfg_serial != c->serial || e->keys_serial != ks->serial) {
			continue;
		}
		if (!fng__jwt_exp_ok(c, e->claims.exp, now)) {
			entry_drop(jl, e);
			return NULL;
		}
		return e;
	}
	return NULL;
}

/* Keeps cl (moved: cl is left empty) for tok. Best effort: without memory, nothing is kept. */
static void cache_store(struct fng_jwt_loop *jl, const struct fng_jwt_cfg *c,
	const struct fng_jwks *ks, struct fng_str tok, struct fng_jwt_claims *cl)
{
	struct cache_entry *e = calloc(1, sizeof(*e) + tok.len);

	if (!e) {
		return;
	}
	memcpy(e->tok, tok.p, tok.len);
	e->toklen = tok.len;
	e->cfg_serial = c->serial;
	e->keys_serial = ks->serial;
	e->claims = *cl;
	e->bytes = sizeof(*e) + tok.len + cl->flat.cap + cl->scopes.cap;
	if (fng__hmap_add(&jl->cache, &e->node, token_hash(tok)) != 0) {
		free(e);
		return;
	}
	memset(cl, 0, sizeof(*cl));
	fng__list_append(&jl->cache_fifo, &e->fifo);
	jl->cache_n++;
	jl->cache_bytes += e->bytes;
	while (jl->cache_n > CACHE_ENTRIES || jl->cache_bytes > CACHE_BYTES) {
		entry_drop(jl, fng__container_of(jl->cache_fifo.next, struct cache_entry, fifo));
	}
}

/* ---- the request ---- */

static const char *const details[] = {
#define XX(id, msg) [FNG_JWT_E##id] = "Unauthorized: " msg,
	FNG_JWT_REFUSALS(XX)
#undef XX
};

static const char *const challenges[] = {
#define XX(id, msg)                                                                        \
	[FNG_JWT_E##id] = "Bearer error=\"invalid_token\", error_description=\"" msg "\"",
	FNG_JWT_REFUSALS(XX)
#undef XX
};

int fng__jwt_refuse(struct fng_req *req, int why)
{
	if (why == FNG_JWT_ENO_KEYS) {
		req->error_detail = "Service Unavailable: JWKS unavailable";
		return FNG_EUNAVAILABLE;
	}
	req->error_detail = details[why];
	req->challenge = challenges[why];
	return FNG_EUNAUTHORIZED;
}

/* The token of "Authorization: Bearer TOKEN" (RFC 6750 2.1), or false. */
static bool bearer(const struct fng_req *req, struct fng_str *tok)
{
	const struct fng_header *h = fng__req_header(req, "authorization", 13);
	const char *p;
	size_t n;

	if (!h || h->value.len < 8 || !fng__str_ieq((struct fng_str){ h->value.p, 7 },
		"bearer ", 7)) {
		return false;
	}
	p = h->value.p + 7;
	n = h->value.len - 7;
	while (n && *p == ' ') {
		p++;
		n--;
	}
	*tok = (struct fng_str){ p, n };
	return n > 0;
}

static bool scope_in(const struct fng_buf *scopes, const char *want)
{
	size_t wl = strlen(want);

	for (size_t i = 0; i < scopes->len;) {
		size_t j = i;

		while (j < scopes->len && scopes->p[j] != ' ') {
			j++;
		}
		if (j - i == wl && memcmp(scopes->p + i, want, wl) == 0) {
			return true;
		}
		i = j + 1;
	}
	return false;
}

/* What a verified token tells the handler (docs/sdk.md): claims.NAME, scopes, principal. */
static int allow(struct fng_req *req, const struct fng_route *route,
	const struct fng_jwt_claims *cl)
{
	bool ok = route->nscopes == 0;
	int err = 0;

	for (unsigned i = 0; i < route->nscopes && !ok; i++) {
		ok = scope_in(&cl->scopes, route->scopes[i]);
	}
	if (!ok) {
		req->error_detail = "Forbidden: insufficient scope";
		return FNG_EFORBIDDEN;
	}
	for (size_t off = 0; off < cl->flat.len && !err;) {
		const char *name = cl->flat.p + off, *val = name + strlen(name) + 1;
		size_t vlen = strlen(val);

		err = fng__req_authz_add(req, name, (size_t)(val - 1 - name), val, vlen);
		off = (size_t)(val + vlen + 1 - cl->flat.p);
	}
	if (!err && cl->scopes.len) {
		err = fng__req_authz_add(req, "scopes", 6, cl->scopes.p, cl->scopes.len);
	}
	if (!err && cl->sub_off >= 0) {
		const char *sub = cl->flat.p + cl->sub_off;

		req->authz.principal = fng__arena_strndup(req->arena, sub, strlen(sub));
		err = !req->authz.principal;
	}
	if (err) {
		return -ENOMEM;
	}
	req->authz.set = true;
	return FNG_STAGE_NEXT;
}

struct fng_metric_def fng__m_authz_cache = {
	"fngate_authorizer_cache_total", "Authorizer result cache lookups by result (hit, miss).",
	FNG_METRIC_COUNTER, { "api", "authorizer", "result" },
};

void fng__authz_cache_metric(struct fng_req *req, const char *authorizer, bool hit)
{
	const char *v[] = { req->api ? req->api->name : "", authorizer, hit ? "hit" : "miss" };

	if (req->srv && !req->cfg->metrics.off) {
		fng__metric_inc(req->srv, &fng__m_authz_cache, v);
	}
}

int fng__jwt_decide(struct fng_req *req, const struct fng_authorizer *a,
	const struct fng_route *route, struct fng_jwks *ks)
{
	const struct fng_jwt_cfg *c = a->jwt;
	struct fng_jwt_loop *jl = req->srv ? fng__jwt_loop(req->srv) : NULL;
	struct fng_jwt_claims cl;
	struct cache_entry *e;
	struct fng_str tok;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (!bearer(req, &tok)) {
		req->challenge = "Bearer";
		return FNG_EUNAUTHORIZED;
	}
	if (tok.len > c->max_token_bytes) {
		return fng__jwt_refuse(req, FNG_JWT_ETOO_LARGE);
	}
	if (!ks) {
		return fng__jwt_refuse(req, FNG_JWT_ENO_KEYS);
	}
	if (c->cache && jl) {
		e = cache_find(jl, c, ks, tok, now);
		fng__authz_cache_metric(req, a->name, e != NULL);
		if (e) {
			jl->hits++;
			return allow(req, route, &e->claims);
		}
	} else {
		jl = NULL;
	}
	rc = fng__jwt_verify(c, ks, tok.p, tok.len, now, &cl);
	if (rc != FNG_JWT_OK) {
		fng__jwt_claims_finish(&cl);
		return fng__jwt_refuse(req, rc);
	}
	rc = allow(req, route, &cl);
	if (jl) {
		jl->misses++;
		cache_store(jl, c, ks, tok, &cl);
	}
	fng__jwt_claims_finish(&cl);
	return rc;
}

static int jwt_start(struct fng_req *req, const struct fng_authorizer *a,
	const struct fng_route *route)
{
	const struct fng_jwt_cfg *c = a->jwt;
	struct fng_jwks *ks;
	int rc;

	if (!c->url) {
		return fng__jwt_decide(req, a, route, c->keys);
	}
	rc = fng__jwt_url_start(req, a, route, &ks);
	if (rc != 0) {
		return rc; /* pending, for the first fetch; or refused */
	}
	rc = fng__jwt_decide(req, a, route, ks);
	fng__jwks_unref(ks);
	return rc;
}

/*
 * No cancel: a request waiting for a first fetch resumes when the fetch ends (within the
 * URL's timeout_ms) or the loop closes, whether or not its client is still there.
 */
const struct fng_authz_ops fng__jwt_authz_ops = { .start = jwt_start };
