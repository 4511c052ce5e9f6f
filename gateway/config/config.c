// SPDX-License-Identifier: MIT
/*
 * Configuration engine: YAML (or JSON) → an immutable snapshot. Parsing is table-driven and
 * strict: every key of every mapping is in a table row (name, type, offset, default, range)
 * or in a parse function named by a row; anything else is an error with file:line:column.
 * The tables are the modules' own (X_conf.c, listed in conf_modules.c): this file holds the
 * tree, the walker, the typed getters and the snapshot, and no feature's keys. Runs on a
 * thread-pool thread during SIGHUP reloads, so it touches no loop state.
 */
#include <errno.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "chars.h"
#include "conf.h"
#include "config.h"
#include "errors.h"
#include "safefile.h"

/* ---- a YAML tree with positions (libfyaml's node API does not expose them) ---- */

/* Appends "FILE:LINE:COL: message" for n to *to (the first 50 of *count). */
/* Snapshot generations (fng_config.gen): loads run on the thread pool, one at a time or not. */
static atomic_uint_fast64_t config_gen;

static void note_at(struct fng_conf *L, struct fng_buf *to, unsigned *count,
	const struct fng_conf_node *n, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if ((*count)++ < 50) {
		fng__buf_printf(to, "%s:%d:%d: %s\n", L->file, n && n->line ? n->line : 1,
			n && n->col ? n->col : 1, msg);
	}
}

void fng__conf_err(struct fng_conf *L, const struct fng_conf_node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_at(L, L->errors, &L->nerrors, n, fmt, ap);
	va_end(ap);
}

void fng__conf_warn(struct fng_conf *L, const struct fng_conf_node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_at(L, &L->warnings, &L->nwarnings, n, fmt, ap);
	va_end(ap);
}

static int ykid_add(struct fng_arena *a, struct fng_conf_node *parent,
	struct fng_conf_node *kid)
{
	if (parent->n == parent->cap) {
		unsigned cap = parent->cap ? parent->cap * 2 : 8;
		struct fng_conf_node **k = fng__arena_alloc(a, cap * sizeof(*k));

		if (!k) {
			return UV_ENOMEM;
		}
		if (parent->n) {
			memcpy(k, parent->kids, parent->n * sizeof(*k));
		}
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

struct fng_conf_node *fng__conf_parse(struct fng_conf *L, const char *text, size_t len)
{
	struct fy_parse_cfg pcfg = { .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG };
	struct fy_diag_cfg dcfg;
	struct fy_diag *diag;
	struct fy_parser *fyp;
	struct fy_event *ev;
	struct fng_conf_node *stack[64], *root = NULL;
	int depth = 0, docs = 0;
	bool failed = false;

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (diag) {
		fy_diag_set_collect_errors(diag, true);
	}
	pcfg.diag = diag;
	fyp = fy_parser_create(&pcfg);
	if (!fyp || fy_parser_set_string(fyp, text, len)) {
		fng__conf_err(L, NULL, "cannot create YAML parser");
		goto out;
	}
	while ((ev = fy_parser_parse(fyp)) != NULL) {
		const struct fy_mark *mk = fy_event_start_mark(ev);
		struct fng_conf_node *n = NULL;

		switch (ev->type) {
		case FYET_DOCUMENT_START:
			if (++docs > 1) {
				struct fng_conf_node at = { .line = mk ? mk->line + 1 : 1,
					.col = mk ? mk->column + 1 : 1 };
				fng__conf_err(L, &at, "only one YAML document is allowed");
				failed = true;
			}
			break;
		case FYET_ALIAS: {
			struct fng_conf_node at = { .line = mk ? mk->line + 1 : 1,
				.col = mk ? mk->column + 1 : 1 };
			fng__conf_err(L, &at, "YAML aliases are not supported");
			failed = true;
			break;
		}
		case FYET_SCALAR:
		case FYET_MAPPING_START:
		case FYET_SEQUENCE_START:
			n = fng__arena_zalloc(L->tmp, sizeof(*n));
			if (!n) {
				failed = true;
				break;
			}
			n->line = mk ? mk->line + 1 : 0;
			n->col = mk ? mk->column + 1 : 0;
			n->pos = mk ? mk->input_pos : 0;
			n->s = "";
			if (ev->type == FYET_SCALAR) {
				const struct fy_mark *em = fy_event_end_mark(ev);

				size_t tl = 0;
				const char *t = fy_token_get_text(ev->scalar.value, &tl);

				n->type = FNG_CONF_SCALAR;
				n->s = fng__arena_strndup(L->tmp, t ? t : "", t ? tl : 0);
				n->len = t ? tl : 0;
				n->plain = fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN;
				n->end = em ? em->input_pos : n->pos;
			} else {
				n->type = ev->type == FYET_MAPPING_START ? FNG_CONF_MAP :
									    FNG_CONF_SEQ;
			}
			if (depth > 0) {
				struct fng_conf_node *parent = stack[depth - 1];

				ykid_add(L->tmp, parent, n);
				/* An empty value has no mark of its own: point at its key. */
				if (!n->line && parent->type == FNG_CONF_MAP &&
					parent->n % 2 == 0) {
					n->line = parent->kids[parent->n - 2]->line;
					n->col = parent->kids[parent->n - 2]->col;
				}
			} else if (!root) {
				root = n;
			}
			if (n->type != FNG_CONF_SCALAR) {
				if (depth == 64) {
					fng__conf_err(L, n, "configuration nested too deeply");
					failed = true;
					break;
				}
				stack[depth++] = n;
			}
			break;
		case FYET_MAPPING_END:
		case FYET_SEQUENCE_END:
			if (depth > 0) {
				depth--;
			}
			break;
		default:
			break;
		}
		fy_parser_event_free(fyp, ev);
		if (failed) {
			break;
		}
	}
	if (fy_parser_get_stream_error(fyp)) {
		struct fy_diag_error *de;
		void *it = NULL;
		bool any = false;

		while ((de = fy_diag_errors_iterate(diag, &it)) != NULL) {
			/* libfyaml reports these 1-based already. */
			struct fng_conf_node at = { .line = de->line, .col = de->column };

			fng__conf_err(L, &at, "YAML syntax error: %s", de->msg);
			any = true;
		}
		if (!any) {
			fng__conf_err(L, NULL, "YAML syntax error");
		}
		failed = true;
	}
out:
	if (fyp) {
		fy_parser_destroy(fyp);
	}
	if (diag) {
		fy_diag_destroy(diag);
	}
	if (failed) {
		return NULL;
	}
	if (!root && !L->allow_empty) {
		fng__conf_err(L, NULL, "configuration is empty");
	}
	return root;
}

/* ---- typed values ---- */

static const char *ytype_name(const struct fng_conf_node *n)
{
	return n->type == FNG_CONF_MAP ? "a mapping" :
	       n->type == FNG_CONF_SEQ ? "a list" : "a scalar";
}

bool fng__conf_want(struct fng_conf *L, const struct fng_conf_node *n, enum fng_conf_ntype t,
	const char *what)
{
	if (n->type == t) {
		return true;
	}
	fng__conf_err(L, n, "%s must be %s, not %s", what,
		t == FNG_CONF_MAP ? "a mapping" : t == FNG_CONF_SEQ ? "a list" : "a scalar",
		ytype_name(n));
	return false;
}

int fng__conf_uint(struct fng_conf *L, const struct fng_conf_node *n, const char *what,
	uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!fng__conf_want(L, n, FNG_CONF_SCALAR, what)) {
		return -1;
	}
	if (!n->plain || n->len == 0 || n->s[0] < '0' || n->s[0] > '9') {
		fng__conf_err(L, n, "%s must be an integer, not \"%s\"", what, n->s);
		return -1;
	}
	errno = 0;
	v = strtoull(n->s, &end, 10);
	if (errno || *end) {
		fng__conf_err(L, n, "%s must be an integer, not \"%s\"", what, n->s);
		return -1;
	}
	if (v < min || v > max) {
		fng__conf_err(L, n, "%s must be between %" PRIu64 " and %" PRIu64, what, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int fng__conf_bool(struct fng_conf *L, const struct fng_conf_node *n, const char *what,
	bool *out)
{
	if (!fng__conf_want(L, n, FNG_CONF_SCALAR, what)) {
		return -1;
	}
	if (n->plain && strcmp(n->s, "true") == 0) {
		*out = true;
	} else if (n->plain && strcmp(n->s, "false") == 0) {
		*out = false;
	} else {
		fng__conf_err(L, n, "%s must be true or false, not \"%s\"", what, n->s);
		return -1;
	}
	return 0;
}

const char *fng__conf_str(struct fng_conf *L, const struct fng_conf_node *n, const char *what)
{
	const char *s;

	if (!fng__conf_want(L, n, FNG_CONF_SCALAR, what)) {
		return NULL;
	}
	if (memchr(n->s, '\0', n->len)) {
		fng__conf_err(L, n, "%s must not contain NUL", what);
		return NULL;
	}
	s = fng__arena_strndup(L->cfg->arena, n->s, n->len);
	if (!s) {
		fng__conf_err(L, n, "out of memory");
	}
	return s;
}

const struct fng_conf_node *fng__conf_lookup(const struct fng_conf_node *map, const char *key)
{
	for (unsigned i = 0; map && map->type == FNG_CONF_MAP && i < map->n; i += 2) {
		if (map->kids[i]->type == FNG_CONF_SCALAR && strcmp(map->kids[i]->s, key) == 0) {
			return map->kids[i + 1];
		}
	}
	return NULL;
}

bool fng__config_name_ok(const char *s)
{
	if (!*s) {
		return false;
	}
	for (; *s; s++) {
		if (!fng__is_name_char((unsigned char)*s)) {
			return false;
		}
	}
	return true;
}

bool fng__conf_name_key_ok(struct fng_conf *L, const struct fng_conf_node *v, unsigned i,
	const char *what)
{
	const struct fng_conf_node *k = v->kids[i];
	char label[64];

	snprintf(label, sizeof(label), "%s name", what);
	if (!fng__conf_want(L, k, FNG_CONF_SCALAR, label)) {
		return false;
	}
	if (!fng__config_name_ok(k->s)) {
		fng__conf_err(L, k, "%s \"%s\" must match [A-Za-z0-9_-]+", label, k->s);
		return false;
	}
	for (unsigned j = 0; j < i; j += 2) {
		if (strcmp(v->kids[j]->s, k->s) == 0) {
			fng__conf_err(L, k, "duplicate %s \"%s\"", what, k->s);
		}
	}
	return true;
}

/* ---- key tables ---- */

/* Top-level sections at most (struct fng_conf_module); there are 7. */
#define MAX_MODULES 32

int fng__conf_apply(struct fng_conf *L, const struct fng_conf_node *map,
	const struct fng_conf_key *table, void *obj, const char *what)
{
	unsigned before = L->nerrors;
	const struct fng_conf_key *k;

	for (k = table; k->name; k++) {
		char *f = (char *)obj + k->off;

		switch (k->type) {
		case FNG_CONF_U32: *(uint32_t *)f = (uint32_t)k->def; break;
		case FNG_CONF_U64: *(uint64_t *)f = k->def; break;
		case FNG_CONF_BOOL: *(bool *)f = k->def != 0; break;
		case FNG_CONF_STR: *(const char **)f = k->def_str; break;
		case FNG_CONF_FN: break;
		}
	}
	if (map && !fng__conf_want(L, map, FNG_CONF_MAP, what)) {
		return -1;
	}
	for (unsigned i = 0; map && i < map->n; i += 2) {
		const struct fng_conf_node *key = map->kids[i];

		if (key->type != FNG_CONF_SCALAR) {
			fng__conf_err(L, key, "keys of %s must be scalars", what);
			continue;
		}
		for (unsigned j = 0; j < i; j += 2) {
			if (strcmp(map->kids[j]->s, key->s) == 0) {
				fng__conf_err(L, key, "duplicate key \"%s\" in %s", key->s, what);
			}
		}
		for (k = table; k->name; k++) {
			if (strcmp(k->name, key->s) == 0) {
				break;
			}
		}
		if (!k->name) {
			char expected[256] = "";

			for (k = table; k->name; k++) {
				if (strlen(expected) + strlen(k->name) + 3 < sizeof(expected)) {
					strcat(expected, expected[0] ? ", " : "");
					strcat(expected, k->name);
				}
			}
			fng__conf_err(L, key, "unknown key \"%s\" in %s (expected one of: %s)",
				key->s, what, expected);
		}
	}
	for (k = table; k->name; k++) {
		const struct fng_conf_node *v = fng__conf_lookup(map, k->name);
		char *f = (char *)obj + k->off;
		char label[128];
		uint64_t u;
		bool b;

		if (!v) {
			if (k->required) {
				fng__conf_err(L, map, "%s needs the key \"%s\"", what, k->name);
			} else if (k->type == FNG_CONF_FN && k->fn) {
				k->fn(L, NULL, obj);
			}
			continue;
		}
		snprintf(label, sizeof(label), "%s", k->name);
		switch (k->type) {
		case FNG_CONF_U32:
		case FNG_CONF_U64:
			if (fng__conf_uint(L, v, label, k->min, k->max, &u) == 0) {
				if (k->type == FNG_CONF_U32) {
					*(uint32_t *)f = (uint32_t)u;
				} else {
					*(uint64_t *)f = u;
				}
			}
			break;
		case FNG_CONF_BOOL:
			if (fng__conf_bool(L, v, label, &b) == 0) {
				*(bool *)f = b;
			}
			break;
		case FNG_CONF_STR: {
			const char *s = fng__conf_str(L, v, label);

			if (s) {
				*(const char **)f = s;
			}
			break;
		}
		case FNG_CONF_FN:
			k->fn(L, v, obj);
			break;
		}
	}
	return L->nerrors == before ? 0 : -1;
}

void *fng__conf_apply_new(struct fng_conf *L, const struct fng_conf_node *v,
	const struct fng_conf_key *table, size_t size, const char *what)
{
	void *obj;

	if (!fng__conf_want(L, v, FNG_CONF_MAP, what)) {
		return NULL;
	}
	obj = fng__arena_zalloc(L->cfg->arena, size);
	if (!obj) {
		fng__conf_err(L, v, "out of memory");
		return NULL;
	}
	return fng__conf_apply(L, v, table, obj, what) == 0 ? obj : NULL;
}

const char *fng__conf_relative(struct fng_conf *L, const char *path)
{
	const char *slash = strrchr(L->file, '/'), *abs;
	size_t base = slash ? (size_t)(slash - L->file) : 0;
	char cwd[PATH_MAX];
	struct fng_buf b = { 0 };

	if (path[0] == '/') {
		return path;
	}
	if (L->file[0] != '/' && getcwd(cwd, sizeof(cwd))) {
		fng__buf_printf(&b, "%s/", cwd);
	}
	if (base) {
		fng__buf_append(&b, L->file, base);
		fng__buf_append(&b, "/", 1);
	}
	fng__buf_str(&b, path);
	abs = fng__arena_strndup(L->cfg->arena, b.p ? b.p : "", b.len);
	fng__buf_finish(&b);
	return abs;
}



/*
 * Points an error at the offending `${` in the source. The offset is into the scalar's
 * unescaped text; escapes and folding never produce `${`, so the k-th `${` of the value is the
 * k-th `${` of the scalar's source, wherever its lines fall.
 */
static void template_error_pos(const struct fng_conf *L, const struct fng_conf_node *v, size_t off,
	struct fng_conf_node *at)
{
	unsigned k = 0;
	size_t i, end = v->end <= L->text_len ? v->end : L->text_len;
	int line = v->line, col = v->col;

	for (i = 0; i < off && i + 1 < v->len; i++) {
		if (v->s[i] == '$' && v->s[i + 1] == '{') {
			k++;
		}
	}
	for (i = v->pos; i + 1 < end; i++) {
		if (L->text[i] == '$' && L->text[i + 1] == '{' && k-- == 0) {
			at->line = line;
			at->col = col;
			return;
		}
		if (L->text[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
}

int fng__conf_template(struct fng_conf *L, const struct fng_conf_node *v, const char *what,
	const struct fng_template **out)
{
	struct fng_template *t;
	const char *why;
	size_t off;

	if (!fng__conf_want(L, v, FNG_CONF_SCALAR, what)) {
		return -1;
	}
	if (fng__template_compile(L->cfg->arena, v->s, v->len, &t, &why, &off)) {
		struct fng_conf_node at = *v;

		template_error_pos(L, v, off, &at);
		fng__conf_err(L, &at, "%s: %s", what, why);
		return -1;
	}
	*out = t;
	return 0;
}

int fng__conf_skip(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return 0;
}

/*
 * The root of a file: one row per module section (conf_modules.c), in the list's order, with
 * the engine's own checks (unknown and duplicate keys) and messages.
 */
static void walk_modules(struct fng_conf *L, const struct fng_conf_node *root,
	struct fng_config *c)
{
	struct fng_conf_key table[MAX_MODULES + 1] = { { NULL } };
	unsigned n = 0;

	for (const struct fng_conf_module *const *m = fng__conf_modules; *m; m++) {
		if (n == MAX_MODULES) {
			fng__conf_err(L, NULL, "more than %d configuration modules", MAX_MODULES);
			return;
		}
		table[n++] = (struct fng_conf_key){ (*m)->key, FNG_CONF_FN, 0, .fn = (*m)->parse };
	}
	fng__conf_apply(L, root, table, c, "configuration");
}

int fng__config_parse_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host)) {
			return UV_EINVAL;
		}
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host)) {
			return UV_EINVAL;
		}
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || port > 65535) {
		return UV_EINVAL;
	}
	if (s[0] == '[') {
		return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
	}
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

int fng__config_load_string(const char *name, const char *text, size_t len,
	struct fng_config **out, struct fng_buf *errors)
{
	struct fng_conf L = { .file = name, .errors = errors };
	struct fng_config *c;
	struct fng_conf_node *root;
	struct fng_arena *arena;

	*out = NULL;
	arena = fng__arena_create();
	L.tmp = fng__arena_create();
	if (!arena || !L.tmp) {
		fng__arena_destroy(arena);
		fng__arena_destroy(L.tmp);
		return UV_ENOMEM;
	}
	c = fng__arena_zalloc(arena, sizeof(*c));
	c->arena = arena;
	atomic_init(&c->refs, 1);
	c->gen = atomic_fetch_add(&config_gen, 1) + 1;
	c->path = fng__arena_strndup(arena, name, strlen(name));
	L.cfg = c;

	L.text = text;
	L.text_len = len;
	root = fng__conf_parse(&L, text, len);
	L.root = root;
	if (root) {
		walk_modules(&L, root, c);
	}
	if (L.nerrors == 0) {
		for (const struct fng_conf_module *const *m = fng__conf_modules; *m; m++) {
			if ((*m)->finish) {
				(*m)->finish(&L);
			}
		}
	}
	fng__arena_destroy(L.tmp);
	if (L.nwarnings > 50) {
		fng__buf_printf(&L.warnings, "%s: %u more warnings\n", name, L.nwarnings - 50);
	}
	if (L.warnings.len) {
		c->warnings = fng__arena_strndup(arena, L.warnings.p, L.warnings.len);
	}
	fng__buf_finish(&L.warnings);
	if (L.nerrors) {
		if (L.nerrors > 50) {
			fng__buf_printf(errors, "%s: %u more errors\n", name, L.nerrors - 50);
		}
		fng__arena_destroy(arena);
		return FNG_ECONFIG;
	}
	*out = c;
	return 0;
}

int fng__conf_read(const char *path, size_t max, struct fng_buf *text)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n;

	if (!f) {
		return -errno;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (fng__buf_append(text, chunk, n) || text->len > max) {
			fclose(f);
			fng__buf_finish(text);
			return -EFBIG;
		}
	}
	fclose(f);
	return 0;
}

int fng__config_load(const char *path, struct fng_config **out, struct fng_buf *errors)
{
	struct fng_buf text = { 0 };
	int err;

	*out = NULL;
	err = fng__conf_read(path, 16u << 20, &text);
	if (err == -EFBIG) {
		fng__buf_printf(errors, "%s:1:1: file too large or out of memory\n", path);
		return FNG_ECONFIG;
	}
	if (err) {
		fng__buf_printf(errors, "%s:1:1: cannot open: %s\n", path, strerror(-err));
		return FNG_ECONFIG;
	}
	err = fng__config_load_string(path, text.p ? text.p : "", text.len, out, errors);
	fng__buf_finish(&text);
	return err;
}

struct fng_config *fng__config_ref(struct fng_config *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void fng__config_unref(struct fng_config *c)
{
	if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
		fng__arena_destroy(c->arena);
	}
}


const char *fng__conf_first_line(struct fng_conf *L, const struct fng_conf_node *v,
	const char *what, uint64_t max)
{
	const char *path = fng__conf_str(L, v, what), *why = NULL, *out = NULL;
	struct fng_buf text = { 0 };
	size_t n;

	if (!path || !(path = fng__conf_relative(L, path))) {
		return NULL;
	}
	/* Read under the rules for files the configuration names (core/safefile.h). */
	if (fng__safe_read_path(path, &FNG_SAFE_NAMED(max), &text, &why) != 0) {
		fng__conf_err(L, v, "%s %s: %s", what, path, why);
		goto out;
	}
	for (n = 0; n < text.len && text.p[n] != '\n' && text.p[n] != '\r'; n++) {
		/* the first line (the buffer holds no NUL terminator) */
	}
	if (n == 0 || memchr(text.p, '\0', n)) {
		fng__conf_err(L, v, "%s %s: %s", what, path, n ? "holds a NUL byte" : "empty");
		goto out;
	}
	out = fng__arena_strndup(L->cfg->arena, text.p, n);
out:
	fng__buf_wipe(&text);
	return out;
}
