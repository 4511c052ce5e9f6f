// SPDX-License-Identifier: MIT
/*
 * Route matching: the step between "which API and stage" and "which integration". A trie of
 * decoded path segments; see router.h for the priority rules and docs/config.md for the
 * user-facing description.
 */
#include <uv.h>

#include "chars.h"
#include "errors.h"
#include "router.h"

struct rmethod {
	const char *method; /* NULL for ANY */
	const struct fng_route *route;
	const struct fng_route_key *key;
};

struct rnode {
	struct rnode **lits;
	char **lit_names;
	size_t *lit_lens;
	unsigned nlits, caplits;
	struct rnode *param;  /* {name} child */
	struct rnode *greedy; /* {name+} child: always a leaf */
	struct rmethod *methods;
	unsigned nmethods, capmethods;
};

struct fng_router {
	struct rnode root;
	const struct fng_route *def;
	const struct fng_route_key *def_key;
};

struct fng_router *fng__router_create(struct fng_arena *a)
{
	return fng__arena_zalloc(a, sizeof(struct fng_router));
}

int fng__route_key_parse(struct fng_arena *a, const char *src, struct fng_route_key *key,
	const char **why)
{
	const char *sp = strchr(src, ' ');
	const char *p, *seg;
	size_t mlen;

	memset(key, 0, sizeof(*key));
	if (strcmp(src, "$default") == 0) {
		return 0;
	}
	if (!sp || sp == src) {
		*why = "route key must be \"METHOD /path\" or \"$default\"";
		return FNG_ECONFIG;
	}
	mlen = (size_t)(sp - src);
	for (size_t i = 0; i < mlen; i++) {
		if (!fng__is_tchar((unsigned char)src[i]) || (src[i] >= 'a' && src[i] <= 'z')) {
			*why = "route method must be an upper-case HTTP method or ANY";
			return FNG_ECONFIG;
		}
	}
	key->method = fng__arena_strndup(a, src, mlen);
	p = sp + 1;
	if (*p != '/') {
		*why = "route path must start with /";
		return FNG_ECONFIG;
	}
	key->path = fng__arena_strndup(a, p, strlen(p));
	if (!key->method || !key->path) {
		*why = "out of memory";
		return UV_ENOMEM;
	}
	/* Validate segments. */
	for (seg = p + 1; *seg;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);

		if (n == 0) {
			if (!end) {
				break; /* trailing slash */
			}
			*why = "empty path segment in route";
			return FNG_ECONFIG;
		}
		if (seg[0] == '{') {
			bool greedy = n >= 3 && seg[n - 2] == '+';
			size_t nlen = n - 2 - (greedy ? 1 : 0);

			if (seg[n - 1] != '}' || nlen == 0) {
				*why = "path parameter must be a whole segment {name} or {name+}";
				return FNG_ECONFIG;
			}
			for (size_t i = 0; i < nlen; i++) {
				if (!fng__is_name_char((unsigned char)seg[1 + i])) {
					*why = "invalid character in path parameter name";
					return FNG_ECONFIG;
				}
			}
			if (greedy && end && end[1] != '\0') {
				*why = "greedy parameter {name+} must be the last segment";
				return FNG_ECONFIG;
			}
			for (unsigned i = 0; i < key->nparams; i++) {
				if (strlen(key->param_names[i]) == nlen &&
					memcmp(key->param_names[i], seg + 1, nlen) == 0) {
					*why = "path parameter name used twice in one route";
					return FNG_ECONFIG;
				}
			}
			if (key->nparams == FNG_ROUTE_MAX_PARAMS) {
				*why = "too many path parameters in route";
				return FNG_ECONFIG;
			}
			key->param_names[key->nparams] = fng__arena_strndup(a, seg + 1, nlen);
			if (!key->param_names[key->nparams++]) {
				*why = "out of memory";
				return UV_ENOMEM;
			}
		} else {
			for (size_t i = 0; i < n; i++) {
				if (seg[i] == '{' || seg[i] == '}') {
					*why = "path parameter must be a whole segment {name} or {name+}";
					return FNG_ECONFIG;
				}
				if (!fng__is_vchar((unsigned char)seg[i]) || seg[i] == '?' ||
					seg[i] == '#') {
					*why = "invalid character in route path";
					return FNG_ECONFIG;
				}
			}
		}
		if (!end) {
			break;
		}
		seg = end + 1;
	}
	return 0;
}

long fng__pct_decode(char *dst, const char *src, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int hi, lo;

		if (src[i] != '%') {
			dst[o++] = src[i];
			continue;
		}
		if (i + 2 >= n) {
			return -1;
		}
		hi = fng__hexval((unsigned char)src[i + 1]);
		lo = fng__hexval((unsigned char)src[i + 2]);
		if (hi < 0 || lo < 0) {
			return -1;
		}
		dst[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (long)o;
}

static void *grow(struct fng_arena *a, void *old, unsigned n, unsigned *cap, size_t size)
{
	void *p;

	if (n < *cap) {
		return old;
	}
	*cap = *cap ? *cap * 2 : 4;
	p = fng__arena_alloc(a, *cap * size);
	if (p && old) {
		memcpy(p, old, n * size);
	}
	return p;
}

static struct rnode *lit_child(struct rnode *n, const char *s, size_t len)
{
	for (unsigned i = 0; i < n->nlits; i++) {
		if (n->lit_lens[i] == len && memcmp(n->lit_names[i], s, len) == 0) {
			return n->lits[i];
		}
	}
	return NULL;
}

int fng__router_add(struct fng_router *r, struct fng_arena *a, const struct fng_route_key *key,
	const struct fng_route *route, const char **why)
{
	struct rnode *n = &r->root;
	const char *seg;
	struct rmethod *m;

	if (!key->method) {
		if (r->def) {
			*why = "duplicate route $default";
			return FNG_ECONFIG;
		}
		r->def = route;
		r->def_key = key;
		return 0;
	}
	for (seg = key->path + 1; *seg;) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		struct rnode **slot = NULL, *child;

		if (len == 0) {
			break;
		}
		if (seg[0] == '{') {
			slot = seg[len - 2] == '+' ? &n->greedy : &n->param;
			child = *slot;
		} else {
			char *dec = fng__arena_alloc(a, len + 1);
			long dlen = dec ? fng__pct_decode(dec, seg, len) : -1;

			if (dlen < 0) {
				*why = "malformed percent-encoding in route path";
				return FNG_ECONFIG;
			}
			child = lit_child(n, dec, (size_t)dlen);
			if (!child) {
				unsigned cap = n->caplits;

				n->lits = grow(a, n->lits, n->nlits, &cap, sizeof(*n->lits));
				cap = n->caplits;
				n->lit_names = grow(a, n->lit_names, n->nlits, &cap, sizeof(char *));
				cap = n->caplits;
				n->lit_lens = grow(a, n->lit_lens, n->nlits, &cap, sizeof(size_t));
				n->caplits = cap;
				child = fng__arena_zalloc(a, sizeof(*child));
				if (!n->lits || !n->lit_names || !n->lit_lens || !child) {
					*why = "out of memory";
					return UV_ENOMEM;
				}
				n->lits[n->nlits] = child;
				n->lit_names[n->nlits] = dec;
				n->lit_lens[n->nlits++] = (size_t)dlen;
			}
		}
		if (slot && !child) {
			child = *slot = fng__arena_zalloc(a, sizeof(*child));
			if (!child) {
				*why = "out of memory";
				return UV_ENOMEM;
			}
		}
		n = child;
		if (!end) {
			break;
		}
		seg = end + 1;
	}
	const char *method = strcmp(key->method, "ANY") == 0 ? NULL : key->method;
	for (unsigned i = 0; i < n->nmethods; i++) {
		const char *have = n->methods[i].method;

		if ((!have && !method) || (have && method && strcmp(have, method) == 0)) {
			*why = "duplicate route: same method and path shape as another route";
			return FNG_ECONFIG;
		}
	}
	n->methods = grow(a, n->methods, n->nmethods, &n->capmethods, sizeof(*n->methods));
	if (!n->methods) {
		*why = "out of memory";
		return UV_ENOMEM;
	}
	m = &n->methods[n->nmethods++];
	m->method = method;
	m->route = route;
	m->key = key;
	return 0;
}

/* ---- matching ---- */

struct mstate {
	struct fng_str method;
	struct fng_str segs[FNG_ROUTE_MAX_SEGMENTS];
	unsigned nsegs;
	const char *raw_rest[FNG_ROUTE_MAX_SEGMENTS]; /* raw path from segment i on */
	const char *raw_end;
	struct fng_str vals[FNG_ROUTE_MAX_PARAMS];
	unsigned nvals;
	struct fng_arena *arena;
	struct fng_route_match *m;
	const struct rmethod *hit;
	bool bad;
};

static void add_allow(struct fng_route_match *m, const char *method)
{
	for (unsigned i = 0; i < m->nallow; i++) {
		if (strcmp(m->allow[i], method) == 0) {
			return;
		}
	}
	if (m->nallow < FNG_ROUTE_MAX_ALLOW) {
		m->allow[m->nallow++] = method;
	}
}

static const struct rmethod *pick_method(const struct rnode *n, struct mstate *st)
{
	const struct rmethod *any = NULL, *get = NULL;
	bool head = fng__str_eq(st->method, "HEAD", 4);

	for (unsigned i = 0; i < n->nmethods; i++) {
		const struct rmethod *rm = &n->methods[i];

		if (!rm->method) {
			any = rm;
		} else if (fng__str_eq(st->method, rm->method, strlen(rm->method))) {
			return rm;
		} else if (head && strcmp(rm->method, "GET") == 0) {
			get = rm; /* HEAD is served by the GET route when there is no HEAD route */
		}
	}
	if (get) {
		return get;
	}
	if (any) {
		return any;
	}
	for (unsigned i = 0; i < n->nmethods; i++) {
		add_allow(st->m, n->methods[i].method);
		if (strcmp(n->methods[i].method, "GET") == 0) {
			add_allow(st->m, "HEAD");
		}
	}
	return NULL;
}

static bool walk(const struct rnode *n, unsigned i, struct mstate *st)
{
	if (i == st->nsegs) {
		st->hit = pick_method(n, st);
		return st->hit != NULL;
	}
	if (n->nlits) {
		const struct rnode *c = lit_child((struct rnode *)n, st->segs[i].p, st->segs[i].len);

		if (c && walk(c, i + 1, st)) {
			return true;
		}
	}
	if (n->param && st->segs[i].len > 0 && st->nvals < FNG_ROUTE_MAX_PARAMS) {
		st->vals[st->nvals++] = st->segs[i];
		if (walk(n->param, i + 1, st)) {
			return true;
		}
		st->nvals--;
	}
	if (n->greedy && st->nvals < FNG_ROUTE_MAX_PARAMS) {
		const char *raw = st->raw_rest[i];
		size_t rlen = (size_t)(st->raw_end - raw);
		char *dec;
		long dlen;

		if (rlen && raw[rlen - 1] == '/') {
			rlen--;
		}
		dec = fng__arena_alloc(st->arena, rlen + 1);
		dlen = dec ? fng__pct_decode(dec, raw, rlen) : -1;
		if (dlen < 0) {
			st->bad = true;
			return false;
		}
		st->hit = pick_method(n->greedy, st);
		if (st->hit) {
			st->vals[st->nvals++] = (struct fng_str){ dec, (size_t)dlen };
			return true;
		}
	}
	return false;
}

int fng__router_match(const struct fng_router *r, struct fng_arena *a, struct fng_str method,
	struct fng_str path, struct fng_route_match *m)
{
	struct mstate st;
	const char *p = path.p, *end = path.p + path.len;
	char *dec;

	m->route = NULL;
	m->nparams = 0;
	m->nallow = 0;
	st.method = method;
	st.nsegs = 0;
	st.nvals = 0;
	st.arena = a;
	st.m = m;
	st.hit = NULL;
	st.bad = false;
	st.raw_end = end;
	if (path.len == 0 || path.p[0] != '/') {
		return FNG_EBAD_REQUEST;
	}
	dec = fng__arena_alloc(a, path.len + 1);
	if (!dec) {
		return UV_ENOMEM;
	}
	for (p++; p < end;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t len = slash ? (size_t)(slash - p) : (size_t)(end - p);
		long dlen;

		if (st.nsegs == FNG_ROUTE_MAX_SEGMENTS) {
			return FNG_EBAD_REQUEST;
		}
		dlen = fng__pct_decode(dec, p, len);
		if (dlen < 0 || memchr(dec, '\0', (size_t)dlen)) {
			return FNG_EBAD_REQUEST;
		}
		st.raw_rest[st.nsegs] = p;
		st.segs[st.nsegs++] = (struct fng_str){ dec, (size_t)dlen };
		dec += dlen;
		if (!slash) {
			break;
		}
		p = slash + 1; /* a trailing slash ends the loop here: it is ignored */
	}
	if (walk(&r->root, 0, &st)) {
		const struct fng_route_key *key = st.hit->key;

		m->route = st.hit->route;
		m->nparams = st.nvals;
		for (unsigned i = 0; i < st.nvals && i < key->nparams; i++) {
			m->params[i].name = (struct fng_str){ key->param_names[i],
				strlen(key->param_names[i]) };
			m->params[i].value = st.vals[i];
		}
		return 0;
	}
	if (st.bad) {
		return FNG_EBAD_REQUEST;
	}
	if (r->def) {
		m->route = r->def;
		m->nallow = 0;
		return 0;
	}
	return m->nallow ? FNG_EMETHOD_NOT_ALLOWED : FNG_ENOT_FOUND;
}

static void walk_all(const struct rnode *n,
	void (*fn)(void *, const struct fng_route_key *, const struct fng_route *), void *ctx)
{
	for (unsigned i = 0; i < n->nmethods; i++) {
		fn(ctx, n->methods[i].key, n->methods[i].route);
	}
	for (unsigned i = 0; i < n->nlits; i++) {
		walk_all(n->lits[i], fn, ctx);
	}
	if (n->param) {
		walk_all(n->param, fn, ctx);
	}
	if (n->greedy) {
		walk_all(n->greedy, fn, ctx);
	}
}

void fng__router_walk(const struct fng_router *r,
	void (*fn)(void *ctx, const struct fng_route_key *key, const struct fng_route *route),
	void *ctx)
{
	walk_all(&r->root, fn, ctx);
	if (r->def) {
		fn(ctx, r->def_key, r->def);
	}
}
