// SPDX-License-Identifier: MIT
/*
 * Configuration loader: YAML (or JSON) → an immutable snapshot. Parsing is table-driven and
 * strict: every key of every mapping is in a table row (name, type, offset, default, range)
 * or in a parse function named by a row; anything else is an error with file:line:column.
 * Runs on a thread-pool thread during SIGHUP reloads, so it touches no loop state.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "chars.h"
#include "config.h"
#include "errors.h"
#include "safefile.h"
#include "access_log.h"
#include "wire_limits.h"

/* ---- a YAML tree with positions (libfyaml's node API does not expose them) ---- */

enum ytype { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
	enum ytype type;
	int line, col; /* 1-based */
	size_t pos, end; /* byte offsets of the node in the source (scalars) */
	const char *s; /* scalar text, NUL-terminated; "" for collections */
	size_t len;
	bool plain;
	struct ynode **kids; /* map: key, value, key, value... */
	unsigned n, cap;
};

struct loader {
	const char *file;
	const char *text; /* the source, for pointing into multi-line scalars */
	size_t text_len;
	struct fng_buf *errors;
	unsigned nerrors;
	struct fng_buf warnings;  /* problems that do not make the file invalid */
	unsigned nwarnings;
	struct fng_arena *tmp;
	struct fng_config *cfg;
	const char *default_api; /* resolved once apis are known */
	const struct ynode *default_api_node;
	bool allow_empty; /* an empty document is valid (manifests) */
};

/* Appends "FILE:LINE:COL: message" for n to *to (the first 50 of *count). */
static void note_at(struct loader *L, struct fng_buf *to, unsigned *count,
	const struct ynode *n, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if ((*count)++ < 50) {
		fng__buf_printf(to, "%s:%d:%d: %s\n", L->file, n && n->line ? n->line : 1,
			n && n->col ? n->col : 1, msg);
	}
}

__attribute__((format(printf, 3, 4)))
static void err_at(struct loader *L, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_at(L, L->errors, &L->nerrors, n, fmt, ap);
	va_end(ap);
}

/* A warning at n's position: kept in the snapshot (fng_config.warnings) and logged. */
__attribute__((format(printf, 3, 4)))
static void warn_at(struct loader *L, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_at(L, &L->warnings, &L->nwarnings, n, fmt, ap);
	va_end(ap);
}

static int ykid_add(struct fng_arena *a, struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->cap) {
		unsigned cap = parent->cap ? parent->cap * 2 : 8;
		struct ynode **k = fng__arena_alloc(a, cap * sizeof(*k));

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

static struct ynode *yparse(struct loader *L, const char *text, size_t len)
{
	struct fy_parse_cfg pcfg = { .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG };
	struct fy_diag_cfg dcfg;
	struct fy_diag *diag;
	struct fy_parser *fyp;
	struct fy_event *ev;
	struct ynode *stack[64], *root = NULL;
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
		err_at(L, NULL, "cannot create YAML parser");
		goto out;
	}
	while ((ev = fy_parser_parse(fyp)) != NULL) {
		const struct fy_mark *mk = fy_event_start_mark(ev);
		struct ynode *n = NULL;

		switch (ev->type) {
		case FYET_DOCUMENT_START:
			if (++docs > 1) {
				struct ynode at = { .line = mk ? mk->line + 1 : 1,
					.col = mk ? mk->column + 1 : 1 };
				err_at(L, &at, "only one YAML document is allowed");
				failed = true;
			}
			break;
		case FYET_ALIAS: {
			struct ynode at = { .line = mk ? mk->line + 1 : 1,
				.col = mk ? mk->column + 1 : 1 };
			err_at(L, &at, "YAML aliases are not supported");
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

				n->type = Y_SCALAR;
				n->s = fng__arena_strndup(L->tmp, t ? t : "", t ? tl : 0);
				n->len = t ? tl : 0;
				n->plain = fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN;
				n->end = em ? em->input_pos : n->pos;
			} else {
				n->type = ev->type == FYET_MAPPING_START ? Y_MAP : Y_SEQ;
			}
			if (depth > 0) {
				struct ynode *parent = stack[depth - 1];

				ykid_add(L->tmp, parent, n);
				/* An empty value has no mark of its own: point at its key. */
				if (!n->line && parent->type == Y_MAP && parent->n % 2 == 0) {
					n->line = parent->kids[parent->n - 2]->line;
					n->col = parent->kids[parent->n - 2]->col;
				}
			} else if (!root) {
				root = n;
			}
			if (n->type != Y_SCALAR) {
				if (depth == 64) {
					err_at(L, n, "configuration nested too deeply");
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
			struct ynode at = { .line = de->line, .col = de->column };

			err_at(L, &at, "YAML syntax error: %s", de->msg);
			any = true;
		}
		if (!any) {
			err_at(L, NULL, "YAML syntax error");
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
		err_at(L, NULL, "configuration is empty");
	}
	return root;
}

/* ---- typed values ---- */

static const char *ytype_name(const struct ynode *n)
{
	return n->type == Y_MAP ? "a mapping" : n->type == Y_SEQ ? "a list" : "a scalar";
}

static bool want(struct loader *L, const struct ynode *n, enum ytype t, const char *what)
{
	if (n->type == t) {
		return true;
	}
	err_at(L, n, "%s must be %s, not %s", what,
		t == Y_MAP ? "a mapping" : t == Y_SEQ ? "a list" : "a scalar", ytype_name(n));
	return false;
}

static int get_uint(struct loader *L, const struct ynode *n, const char *what, uint64_t min,
	uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!want(L, n, Y_SCALAR, what)) {
		return -1;
	}
	if (!n->plain || n->len == 0 || n->s[0] < '0' || n->s[0] > '9') {
		err_at(L, n, "%s must be an integer, not \"%s\"", what, n->s);
		return -1;
	}
	errno = 0;
	v = strtoull(n->s, &end, 10);
	if (errno || *end) {
		err_at(L, n, "%s must be an integer, not \"%s\"", what, n->s);
		return -1;
	}
	if (v < min || v > max) {
		err_at(L, n, "%s must be between %" PRIu64 " and %" PRIu64, what, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int get_bool(struct loader *L, const struct ynode *n, const char *what, bool *out)
{
	if (!want(L, n, Y_SCALAR, what)) {
		return -1;
	}
	if (n->plain && strcmp(n->s, "true") == 0) {
		*out = true;
	} else if (n->plain && strcmp(n->s, "false") == 0) {
		*out = false;
	} else {
		err_at(L, n, "%s must be true or false, not \"%s\"", what, n->s);
		return -1;
	}
	return 0;
}

static const char *get_str(struct loader *L, const struct ynode *n, const char *what)
{
	const char *s;

	if (!want(L, n, Y_SCALAR, what)) {
		return NULL;
	}
	if (memchr(n->s, '\0', n->len)) {
		err_at(L, n, "%s must not contain NUL", what);
		return NULL;
	}
	s = fng__arena_strndup(L->cfg->arena, n->s, n->len);
	if (!s) {
		err_at(L, n, "out of memory");
	}
	return s;
}

/* The value of key in mapping map, or NULL (also when map is NULL or not a mapping). */
static const struct ynode *ykey(const struct ynode *map, const char *key)
{
	for (unsigned i = 0; map && map->type == Y_MAP && i < map->n; i += 2) {
		if (map->kids[i]->type == Y_SCALAR && strcmp(map->kids[i]->s, key) == 0) {
			return map->kids[i + 1];
		}
	}
	return NULL;
}

static bool valid_name(const char *s)
{
	if (!*s) {
		return false;
	}
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-')) {
			return false;
		}
	}
	return true;
}

/*
 * Whether key i of mapping v is a good name of a what ("API", "schedule"...): a scalar of
 * [A-Za-z0-9_-]+. A name given twice is reported, yet accepted: one error is enough.
 */
static bool name_key_ok(struct loader *L, const struct ynode *v, unsigned i, const char *what)
{
	const struct ynode *k = v->kids[i];
	char label[64];

	snprintf(label, sizeof(label), "%s name", what);
	if (!want(L, k, Y_SCALAR, label)) {
		return false;
	}
	if (!valid_name(k->s)) {
		err_at(L, k, "%s \"%s\" must match [A-Za-z0-9_-]+", label, k->s);
		return false;
	}
	for (unsigned j = 0; j < i; j += 2) {
		if (strcmp(v->kids[j]->s, k->s) == 0) {
			err_at(L, k, "duplicate %s \"%s\"", what, k->s);
		}
	}
	return true;
}

/* ---- key tables ---- */

enum ktype { K_U32, K_U64, K_BOOL, K_STR, K_FN };

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	uint64_t def, min, max;
	const char *def_str;
	int (*fn)(struct loader *L, const struct ynode *v, void *obj);
	bool required;
};

/*
 * Applies a table to a mapping: defaults first, then each row in table order (so a row may
 * depend on the ones above it), then every key not in the table is reported.
 */
static int apply_keys(struct loader *L, const struct ynode *map, const struct key *table,
	void *obj, const char *what)
{
	unsigned before = L->nerrors;
	const struct key *k;

	for (k = table; k->name; k++) {
		char *f = (char *)obj + k->off;

		switch (k->type) {
		case K_U32: *(uint32_t *)f = (uint32_t)k->def; break;
		case K_U64: *(uint64_t *)f = k->def; break;
		case K_BOOL: *(bool *)f = k->def != 0; break;
		case K_STR: *(const char **)f = k->def_str; break;
		case K_FN: break;
		}
	}
	if (map && !want(L, map, Y_MAP, what)) {
		return -1;
	}
	for (unsigned i = 0; map && i < map->n; i += 2) {
		const struct ynode *key = map->kids[i];

		if (key->type != Y_SCALAR) {
			err_at(L, key, "keys of %s must be scalars", what);
			continue;
		}
		for (unsigned j = 0; j < i; j += 2) {
			if (strcmp(map->kids[j]->s, key->s) == 0) {
				err_at(L, key, "duplicate key \"%s\" in %s", key->s, what);
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
			err_at(L, key, "unknown key \"%s\" in %s (expected one of: %s)", key->s, what,
				expected);
		}
	}
	for (k = table; k->name; k++) {
		const struct ynode *v = ykey(map, k->name);
		char *f = (char *)obj + k->off;
		char label[128];
		uint64_t u;
		bool b;

		if (!v) {
			if (k->required) {
				err_at(L, map, "%s needs the key \"%s\"", what, k->name);
			} else if (k->type == K_FN && k->fn) {
				k->fn(L, NULL, obj);
			}
			continue;
		}
		snprintf(label, sizeof(label), "%s", k->name);
		switch (k->type) {
		case K_U32:
		case K_U64:
			if (get_uint(L, v, label, k->min, k->max, &u) == 0) {
				if (k->type == K_U32) {
					*(uint32_t *)f = (uint32_t)u;
				} else {
					*(uint64_t *)f = u;
				}
			}
			break;
		case K_BOOL:
			if (get_bool(L, v, label, &b) == 0) {
				*(bool *)f = b;
			}
			break;
		case K_STR: {
			const char *s = get_str(L, v, label);

			if (s) {
				*(const char **)f = s;
			}
			break;
		}
		case K_FN:
			k->fn(L, v, obj);
			break;
		}
	}
	return L->nerrors == before ? 0 : -1;
}

#define OFF(member) offsetof(struct fng_config, member)

/* path as given if absolute, else relative to the config file's directory (nginx's way). */
static const char *config_relative(struct loader *L, const char *path)
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


/* ---- server ---- */

static int parse_listen(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		c->listen = fng__arena_alloc(c->arena, sizeof(char *));
		c->listen[0] = "127.0.0.1:8080";
		c->nlisten = 1;
		return 0;
	}
	if (!want(L, v, Y_SEQ, "listen")) {
		return -1;
	}
	if (v->n == 0 || v->n > 64) {
		err_at(L, v, "listen needs between 1 and 64 addresses");
		return -1;
	}
	c->listen = fng__arena_alloc(c->arena, v->n * sizeof(char *));
	for (unsigned i = 0; i < v->n; i++) {
		const char *s = get_str(L, v->kids[i], "listen address");
		struct sockaddr_storage ss;

		if (!s) {
			continue;
		}
		if (fng__config_parse_addr(s, &ss) != 0) {
			err_at(L, v->kids[i],
				"listen address \"%s\" must be IPv4:PORT or [IPv6]:PORT", s);
			continue;
		}
		c->listen[c->nlisten++] = s;
	}
	return 0;
}

static const struct key limits_keys[] = {
	{ "request_line_bytes", K_U32, OFF(limits.request_line_bytes), 8192, 64, 1 << 20 },
	{ "header_bytes", K_U32, OFF(limits.header_bytes), 32768, 256, 1 << 20 },
	{ "header_fields", K_U32, OFF(limits.header_fields), 100, 1, 10000 },
	{ "body_bytes", K_U64, OFF(limits.body_bytes), 10485760, 0, (uint64_t)1 << 40 },
	{ NULL },
};

static const struct key timeouts_keys[] = {
	{ "header_ms", K_U32, OFF(timeouts.header_ms), 10000, 1, 86400000 },
	{ "body_ms", K_U32, OFF(timeouts.body_ms), 30000, 1, 86400000 },
	{ "keepalive_ms", K_U32, OFF(timeouts.keepalive_ms), 75000, 1, 86400000 },
	{ "send_ms", K_U32, OFF(timeouts.send_ms), 60000, 1, 86400000 },
	{ "drain_ms", K_U32, OFF(timeouts.drain_ms), 10000, 0, 86400000 },
	{ NULL },
};

static int parse_limits(struct loader *L, const struct ynode *v, void *obj)
{
	return apply_keys(L, v, limits_keys, obj, "server.limits");
}

static int parse_timeouts(struct loader *L, const struct ynode *v, void *obj)
{
	return apply_keys(L, v, timeouts_keys, obj, "server.timeouts");
}

static int parse_default_api(struct loader *L, const struct ynode *v, void *obj)
{
	if (v) {
		L->default_api = get_str(L, v, "default_api");
		L->default_api_node = v;
	}
	return 0;
}

static const struct key server_keys[] = {
	{ "listen", K_FN, 0, .fn = parse_listen },
	{ "server_header", K_STR, OFF(server_header), .def_str = "fngate" },
	{ "default_api", K_FN, 0, .fn = parse_default_api },
	{ "limits", K_FN, 0, .fn = parse_limits },
	{ "timeouts", K_FN, 0, .fn = parse_timeouts },
	{ NULL },
};

static int parse_server(struct loader *L, const struct ynode *v, void *obj)
{
	return apply_keys(L, v, server_keys, obj, "server");
}

/* ---- access_log ---- */

/* The field list as written (c->access_log.fields), then compiled into the stage's format. */
static int parse_log_fields(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;
	uint8_t *ids = fng__arena_alloc(c->arena, FNG_ALOG__COUNT);

	c->access_log.fields = ids;
	c->access_log.nfields = 0;
	if (!ids) {
		err_at(L, v, "access_log.fields: out of memory");
		return -1;
	}
	if (!v) {
		for (unsigned i = 0; i < FNG_ALOG__COUNT; i++) {
			ids[i] = (uint8_t)i;
		}
		c->access_log.nfields = FNG_ALOG__COUNT;
	} else if (!want(L, v, Y_SEQ, "access_log.fields")) {
		return -1;
	}
	for (unsigned i = 0; v && i < v->n; i++) {
		const struct ynode *f = v->kids[i];
		int j;

		if (!want(L, f, Y_SCALAR, "access log field")) {
			continue;
		}
		j = fng__alog_field_find(f->s);
		if (j < 0) {
			err_at(L, f, "unknown access log field \"%s\"", f->s);
			continue;
		}
		for (unsigned k = 0; k < c->access_log.nfields; k++) {
			if (ids[k] == j) {
				err_at(L, f, "access log field \"%s\" listed twice", f->s);
			}
		}
		if (c->access_log.nfields < FNG_ALOG__COUNT) {
			ids[c->access_log.nfields++] = (uint8_t)j;
		}
	}
	c->access_log.format = fng__alog_compile(c->arena, ids, c->access_log.nfields);
	if (!c->access_log.format) {
		err_at(L, v, "access_log.fields: out of memory");
		return -1;
	}
	return 0;
}

static const struct key access_log_keys[] = {
	{ "path", K_STR, OFF(access_log.path), .def_str = "-" },
	{ "fields", K_FN, 0, .fn = parse_log_fields },
	{ NULL },
};

static int parse_access_log(struct loader *L, const struct ynode *v, void *obj)
{
	return apply_keys(L, v, access_log_keys, obj, "access_log");
}

/* ---- apis ---- */

struct api_ctx {
	struct fng_api *api;
	const struct ynode *stages, *routes;
};

/*
 * Points an error at the offending `${` in the source. The offset is into the scalar's
 * unescaped text; escapes and folding never produce `${`, so the k-th `${` of the value is the
 * k-th `${` of the scalar's source, wherever its lines fall.
 */
static void template_error_pos(const struct loader *L, const struct ynode *v, size_t off,
	struct ynode *at)
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

static int compile_template(struct loader *L, const struct ynode *v, const char *what,
	const struct fng_template **out)
{
	struct fng_template *t;
	const char *why;
	size_t off;

	if (!want(L, v, Y_SCALAR, what)) {
		return -1;
	}
	if (fng__template_compile(L->cfg->arena, v->s, v->len, &t, &why, &off)) {
		struct ynode at = *v;

		template_error_pos(L, v, off, &at);
		err_at(L, &at, "%s: %s", what, why);
		return -1;
	}
	*out = t;
	return 0;
}

static int parse_mock_headers(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_integration_cfg *ic = obj;

	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_MAP, "headers")) {
		return -1;
	}
	ic->headers = fng__arena_zalloc(L->cfg->arena, (v->n / 2 + 1) * sizeof(*ic->headers));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct ynode *k = v->kids[i];
		struct fng_theader *h = &ic->headers[ic->nheaders];
		char *name;

		if (!want(L, k, Y_SCALAR, "header name")) {
			continue;
		}
		if (k->len == 0) {
			err_at(L, k, "empty header name");
			continue;
		}
		name = fng__arena_strndup(L->cfg->arena, k->s, k->len);
		for (size_t j = 0; j < k->len; j++) {
			unsigned char c = (unsigned char)name[j];

			if (!fng__is_tchar(c)) {
				err_at(L, k, "invalid character in header name \"%s\"", k->s);
				break;
			}
			if (c >= 'A' && c <= 'Z') {
				name[j] = (char)(c + 32);
			}
		}
		for (unsigned j = 0; j < ic->nheaders; j++) {
			if (strcmp(ic->headers[j].name, name) == 0) {
				err_at(L, k, "duplicate header \"%s\"", name);
				name = NULL;
				break;
			}
		}
		if (!name) {
			continue;
		}
		if (!strcmp(name, "content-length") || !strcmp(name, "transfer-encoding") ||
			!strcmp(name, "connection") || !strcmp(name, "date") ||
			!strcmp(name, "x-request-id")) {
			err_at(L, k, "header \"%s\" is set by the gateway", name);
			continue;
		}
		if (compile_template(L, v->kids[i + 1], "header value", &h->value) == 0) {
			/* Literal header values are checked for CR/LF now; rendered ones at run time. */
			if (fng__template_is_literal(h->value) && h->value->nparts &&
				(memchr(h->value->parts[0].s.p, '\r', h->value->parts[0].s.len) ||
					memchr(h->value->parts[0].s.p, '\n', h->value->parts[0].s.len))) {
				err_at(L, v->kids[i + 1], "header value contains CR or LF");
				continue;
			}
			h->name = name;
			h->name_len = k->len;
			ic->nheaders++;
		}
	}
	return 0;
}

static int parse_mock_body(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_integration_cfg *ic = obj;
	static const struct ynode empty = { .type = Y_SCALAR, .s = "", .plain = true };

	return compile_template(L, v ? v : &empty, "body", &ic->body);
}

#define IOFF(member) offsetof(struct fng_integration_cfg, member)

static const struct key mock_keys[] = {
	{ "type", K_FN, 0, .fn = NULL },
	{ "status", K_U32, IOFF(status), 200, 100, 599 },
	{ "headers", K_FN, 0, .fn = parse_mock_headers },
	{ "body", K_FN, 0, .fn = parse_mock_body },
	{ "chunked", K_BOOL, IOFF(chunked), 0 },
	{ NULL },
};

static int noop_fn(struct loader *L, const struct ynode *v, void *obj)
{
	return 0;
}

static int parse_function_name(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_integration_cfg *ic = obj;

	ic->function = get_str(L, v, "function");
	if (ic->function && !valid_name(ic->function)) {
		err_at(L, v, "function name \"%s\" must match [A-Za-z0-9_-]+", ic->function);
	}
	return 0;
}

static const struct key function_keys[] = {
	{ "type", K_FN, 0, .fn = noop_fn },
	{ "function", K_FN, 0, .fn = parse_function_name, .required = true },
	{ NULL },
};

/* ---- static integration: files read now, served from memory ---- */

#define STATIC_MAX_FILES 256
#define STATIC_MAX_BYTES (8u << 20)
#define STATIC_MAX_DEPTH 4

struct static_load {
	struct loader *L;
	const struct ynode *at;
	struct fng_static_file *files;
	unsigned n;
	size_t bytes;
};

static const char *content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".htm", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },
		{ ".gif", "image/gif" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".wasm", "application/wasm" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(dot, types[i].ext) == 0) {
			return types[i].type;
		}
	}
	return "application/octet-stream";
}

/*
 * Reads the files under the directory dirfd (path: its name for messages; rel: the prefix of
 * the names they are served under). Dot files are skipped; everything is opened relative to
 * its directory's descriptor without following links and checked with the rules of
 * safefile.h (a static root may be writable by people less trusted than the operator: a
 * link, FIFO or device there must not make a reload read, block on or publish something
 * else). What is refused is left out with a warning naming it and why.
 */
static void static_scan(struct static_load *S, int dirfd, const char *path, const char *rel,
	int depth)
{
	static const struct fng_safe_rules rules = { STATIC_MAX_BYTES, FNG_SAFE_OWNER };
	struct fng_config *c = S->L->cfg;
	int listfd = dup(dirfd);
	DIR *d = listfd >= 0 ? fdopendir(listfd) : NULL;
	struct dirent *e;

	if (!d) {
		err_at(S->L, S->at, "static root %s: %s", path, strerror(errno));
		if (listfd >= 0) {
			close(listfd);
		}
		return;
	}
	while ((e = readdir(d)) != NULL && !S->L->nerrors) {
		char sub[PATH_MAX], name[PATH_MAX];
		struct fng_buf data = { 0 };
		const char *why;
		struct stat st;
		int fd, rc;

		if (e->d_name[0] == '.') {
			continue;
		}
		/* name gets a '/' appended for a directory: keep room for it. */
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= sizeof(sub) ||
			(size_t)snprintf(name, sizeof(name) - 1, "%s%s", rel, e->d_name) >=
				sizeof(name) - 1) {
			err_at(S->L, S->at, "static root %s: a path is too long", path);
			break;
		}
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			continue; /* gone since it was listed */
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth >= STATIC_MAX_DEPTH) {
				warn_at(S->L, S->at, "static directory %s left out: deeper than %d levels",
					sub, STATIC_MAX_DEPTH);
				continue;
			}
			fd = fng__safe_opendir(dirfd, e->d_name, &st, &why);
			if (fd < 0) {
				warn_at(S->L, S->at, "static directory %s left out: %s", sub, why);
				continue;
			}
			strcat(name, "/");
			static_scan(S, fd, sub, name, depth + 1);
			close(fd);
			continue;
		}
		if (S->n == STATIC_MAX_FILES) {
			err_at(S->L, S->at, "static root %s: more than %u files", path,
				STATIC_MAX_FILES);
			break;
		}
		rc = fng__safe_read(dirfd, e->d_name, &rules, &data, &st, &why);
		if (rc == 0 && S->bytes + data.len > STATIC_MAX_BYTES) {
			err_at(S->L, S->at, "static root %s: more than %u bytes", path,
				STATIC_MAX_BYTES);
			fng__buf_finish(&data);
			break;
		}
		if (rc != 0) {
			if (rc != -ENOENT) {
				warn_at(S->L, S->at, "static file %s left out: %s", sub, why);
			}
			fng__buf_finish(&data);
			continue;
		}
		{
			struct fng_static_file *f = &S->files[S->n];

			f->name = fng__arena_strndup(c->arena, name, strlen(name));
			f->data = fng__arena_strndup(c->arena, data.p ? data.p : "", data.len);
			f->len = data.len;
			f->type = content_type(name);
			S->bytes += f->len;
			S->n++;
		}
		fng__buf_finish(&data);
	}
	closedir(d);
}

static int cmp_static(const void *a, const void *b)
{
	return strcmp(((const struct fng_static_file *)a)->name,
		((const struct fng_static_file *)b)->name);
}

static int parse_static_root(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_integration_cfg *ic = obj;
	const char *root = get_str(L, v, "root");
	struct static_load S = { L, v, NULL, 0, 0 };
	int fd;

	if (!root) {
		return -1;
	}
	S.files = fng__arena_zalloc(L->cfg->arena, STATIC_MAX_FILES * sizeof(*S.files));
	root = config_relative(L, root);
	/* The root itself is the operator's choice (a link there is theirs to make). */
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err_at(L, v, "static root %s: %s", root, strerror(errno));
		return -1;
	}
	static_scan(&S, fd, root, "", 0);
	close(fd);
	qsort(S.files, S.n, sizeof(*S.files), cmp_static);
	ic->files = S.files;
	ic->nfiles = S.n;
	return 0;
}

static const struct key static_keys[] = {
	{ "type", K_FN, 0, .fn = noop_fn },
	{ "root", K_FN, 0, .fn = parse_static_root, .required = true },
	{ "index", K_STR, IOFF(index), .def_str = "index.html" },
	{ NULL },
};

static int parse_integration(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_route *r = obj;
	const struct ynode *type = NULL;
	struct key table[sizeof(mock_keys) / sizeof(mock_keys[0])];

	if (!want(L, v, Y_MAP, "integration")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		if (v->kids[i]->type == Y_SCALAR && strcmp(v->kids[i]->s, "type") == 0) {
			type = v->kids[i + 1];
		}
	}
	if (!type) {
		err_at(L, v, "integration needs a \"type\" (mock, function or static)");
		return -1;
	}
	if (type->type == Y_SCALAR && strcmp(type->s, "function") == 0) {
		r->integration.type = FNG_INTEGRATION_FUNCTION;
		return apply_keys(L, v, function_keys, &r->integration, "integration");
	}
	if (type->type == Y_SCALAR && strcmp(type->s, "static") == 0) {
		r->integration.type = FNG_INTEGRATION_STATIC;
		return apply_keys(L, v, static_keys, &r->integration, "integration");
	}
	if (type->type != Y_SCALAR || strcmp(type->s, "mock") != 0) {
		err_at(L, type,
			"unsupported integration type \"%s\" (supported: mock, function, static)",
			type->type == Y_SCALAR ? type->s : "?");
		return -1;
	}
	r->integration.type = FNG_INTEGRATION_MOCK;
	memcpy(table, mock_keys, sizeof(table));
	table[0].fn = noop_fn;
	return apply_keys(L, v, table, &r->integration, "integration");
}

static const struct key route_keys[] = {
	{ "integration", K_FN, 0, .fn = parse_integration, .required = true },
	{ NULL },
};

static int parse_vars(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_stage *s = obj;

	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_MAP, "variables")) {
		return -1;
	}
	s->vars = fng__arena_zalloc(L->cfg->arena, (v->n / 2 + 1) * sizeof(*s->vars));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct ynode *k = v->kids[i], *val = v->kids[i + 1];
		const char *name, *value;

		if (!name_key_ok(L, v, i, "stage variable")) {
			continue;
		}
		name = get_str(L, k, "stage variable name");
		value = get_str(L, val, "stage variable value");
		if (name && value) {
			s->vars[s->nvars++] = (struct fng_var){ name, { value, val->len } };
		}
	}
	return 0;
}

#define SOFF(member) offsetof(struct fng_stage, member)

static const struct key stage_keys[] = {
	{ "variables", K_FN, 0, .fn = parse_vars },
	{ "body_bytes", K_U64, SOFF(body_bytes), UINT64_MAX, 0, (uint64_t)1 << 40 },
	{ NULL },
};

static int parse_stages(struct loader *L, const struct ynode *v, struct fng_api *api)
{
	if (!want(L, v, Y_MAP, "stages")) {
		return -1;
	}
	if (v->n == 0) {
		err_at(L, v, "API \"%s\" needs at least one stage", api->name);
		return -1;
	}
	api->stages = fng__arena_zalloc(L->cfg->arena, (v->n / 2) * sizeof(*api->stages));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct ynode *k = v->kids[i];
		struct fng_stage *s = &api->stages[api->nstages];
		const struct ynode *body;

		memset(s, 0, sizeof(*s));
		if (!want(L, k, Y_SCALAR, "stage name")) {
			continue;
		}
		if (strcmp(k->s, "$default") != 0 && !valid_name(k->s)) {
			err_at(L, k, "stage name \"%s\" must match [A-Za-z0-9_-]+ or be $default",
				k->s);
			continue;
		}
		for (unsigned j = 0; j < i; j += 2) {
			if (strcmp(v->kids[j]->s, k->s) == 0) {
				err_at(L, k, "duplicate stage \"%s\"", k->s);
			}
		}
		s->name = get_str(L, k, "stage name");
		/* `dev:` with no value is a stage with every default. */
		body = v->kids[i + 1];
		if (body->type == Y_SCALAR && body->plain && body->len == 0) {
			body = NULL;
		}
		if (apply_keys(L, body, stage_keys, s, "stage") == 0) {
			if (s->body_bytes == UINT64_MAX) {
				s->body_bytes = L->cfg->limits.body_bytes; /* not set: inherit */
			} else if (s->body_bytes > L->cfg->limits.body_bytes) {
				err_at(L, v->kids[i + 1],
					"stage body_bytes %" PRIu64 " exceeds server.limits.body_bytes",
					s->body_bytes);
			}
		}
		if (s->name && strcmp(s->name, "$default") == 0) {
			api->default_stage = s;
		}
		api->nstages++;
	}
	return 0;
}

/* A WebSocket route key: one of the $-keys, or a name a route selection can produce. */
static bool ws_route_key_ok(const char *k)
{
	if (k[0] == '$') {
		return strcmp(k, "$connect") == 0 || strcmp(k, "$disconnect") == 0 ||
		       strcmp(k, "$default") == 0;
	}
	return strlen(k) <= 128 && fng__is_token(k, strlen(k));
}

const struct fng_route *fng__api_ws_route(const struct fng_api *api, const char *key, size_t len)
{
	for (unsigned i = 0; i < api->nroutes; i++) {
		const char *k = api->routes[i].key;

		if (strlen(k) == len && memcmp(k, key, len) == 0) {
			return &api->routes[i];
		}
	}
	return NULL;
}

static int parse_routes(struct loader *L, const struct ynode *v, struct fng_api *api)
{
	if (!want(L, v, Y_MAP, "routes")) {
		return -1;
	}
	if (v->n == 0) {
		err_at(L, v, "API \"%s\" needs at least one route", api->name);
		return -1;
	}
	api->router = api->protocol == FNG_API_HTTP ? fng__router_create(L->cfg->arena) : NULL;
	api->routes = fng__arena_zalloc(L->cfg->arena, (v->n / 2) * sizeof(*api->routes));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct ynode *k = v->kids[i];
		struct fng_route *r = &api->routes[api->nroutes];
		const char *why = NULL;

		memset(r, 0, sizeof(*r)); /* the slot of a route that failed is reused */
		if (!want(L, k, Y_SCALAR, "route key")) {
			continue;
		}
		r->key = get_str(L, k, "route key");
		r->line = k->line;
		r->col = k->col;
		if (!r->key) {
			continue;
		}
		if (api->protocol == FNG_API_WEBSOCKET) {
			if (!ws_route_key_ok(r->key)) {
				err_at(L, k, "WebSocket route key \"%s\": use $connect, "
					"$disconnect, $default or a token", r->key);
				continue;
			}
			if (fng__api_ws_route(api, r->key, strlen(r->key))) {
				err_at(L, k, "duplicate route \"%s\"", r->key);
				continue;
			}
			if (apply_keys(L, v->kids[i + 1], route_keys, r, "route") == 0) {
				api->nroutes++;
			}
			continue;
		}
		if (fng__route_key_parse(L->cfg->arena, r->key, &r->parsed, &why)) {
			err_at(L, k, "route \"%s\": %s", r->key, why);
			continue;
		}
		if (apply_keys(L, v->kids[i + 1], route_keys, r, "route") != 0) {
			continue;
		}
		if (fng__router_add(api->router, L->cfg->arena, &r->parsed, r, &why)) {
			err_at(L, k, "route \"%s\": %s", r->key, why);
			continue;
		}
		api->nroutes++;
	}
	return 0;
}

static int parse_protocol(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_api *api = obj;
	const char *s = v ? get_str(L, v, "protocol") : "http";

	if (!s) {
		return -1;
	}
	if (strcmp(s, "http") == 0) {
		api->protocol = FNG_API_HTTP;
	} else if (strcmp(s, "websocket") == 0) {
		api->protocol = FNG_API_WEBSOCKET;
	} else {
		err_at(L, v, "unknown protocol \"%s\" (known: http, websocket)", s);
		return -1;
	}
	return 0;
}

/* "$request.body.a.b": JSON members a, then b, of a text message. */
static int parse_route_selection(struct loader *L, const struct ynode *v, void *obj)
{
	static const char prefix[] = "$request.body.";
	struct fng_api *api = obj;
	const char *s = v ? get_str(L, v, "route_selection") : "$request.body.action";
	char *copy, *save = NULL;

	if (!s) {
		return -1;
	}
	api->route_selection = s;
	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0 || !s[sizeof(prefix) - 1]) {
		err_at(L, v, "route_selection must be $request.body.NAME[.NAME...]");
		return -1;
	}
	copy = fng__arena_strndup(L->cfg->arena, s + sizeof(prefix) - 1,
		strlen(s) - (sizeof(prefix) - 1));
	for (char *m = strtok_r(copy, ".", &save); m; m = strtok_r(NULL, ".", &save)) {
		if (api->nselection == FNG_WS_SELECTION_DEPTH) {
			err_at(L, v, "route_selection is more than %d members deep",
				FNG_WS_SELECTION_DEPTH);
			return -1;
		}
		api->selection[api->nselection++] = m;
	}
	if (!api->nselection || s[strlen(s) - 1] == '.' || strstr(s, "..")) {
		err_at(L, v, "route_selection must be $request.body.NAME[.NAME...]");
		return -1;
	}
	return 0;
}

static int parse_subprotocols(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_ws_cfg *ws = obj;

	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_SEQ, "subprotocols")) {
		return -1;
	}
	ws->subprotocols = fng__arena_zalloc(L->cfg->arena, (v->n + 1) * sizeof(char *));
	for (unsigned i = 0; i < v->n; i++) {
		const char *p = get_str(L, v->kids[i], "subprotocol");

		if (!p || !fng__is_token(p, strlen(p))) {
			err_at(L, v->kids[i], "a subprotocol is a token (RFC 6455 section 4.1)");
			continue;
		}
		ws->subprotocols[ws->nsubprotocols++] = p;
	}
	return 0;
}

static int parse_slow_consumer(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_ws_cfg *ws = obj;
	const char *s = v ? get_str(L, v, "slow_consumer") : "close";

	if (!s) {
		return -1;
	}
	if (strcmp(s, "close") != 0 && strcmp(s, "drop_oldest") != 0) {
		err_at(L, v, "slow_consumer: expected \"close\" or \"drop_oldest\"");
		return -1;
	}
	ws->drop_oldest = strcmp(s, "drop_oldest") == 0;
	return 0;
}

#define WOFF(member) offsetof(struct fng_ws_cfg, member)

/* API Gateway's limits: 128 KB messages, 32 KB frames, 10 min idle, 2 h connections. */
static const struct key ws_keys[] = {
	{ "message_bytes", K_U32, WOFF(message_bytes), 131072, 1, 16u << 20 },
	{ "frame_bytes", K_U32, WOFF(frame_bytes), 32768, 1, 16u << 20 },
	{ "idle_ms", K_U32, WOFF(idle_ms), 600000, 100, 86400000 },
	{ "max_duration_ms", K_U32, WOFF(max_duration_ms), 7200000, 100, 604800000 },
	{ "ping_ms", K_U32, WOFF(ping_ms), 30000, 0, 86400000 },
	{ "pong_ms", K_U32, WOFF(pong_ms), 10000, 10, 3600000 },
	{ "send_queue_bytes", K_U32, WOFF(send_queue_bytes), 1u << 20, 1024, 1u << 30 },
	{ "message_rate", K_U32, WOFF(message_rate), 0, 0, 1000000 },
	{ "message_burst", K_U32, WOFF(message_burst), 0, 0, 1000000 },
	{ "slow_consumer", K_FN, 0, .fn = parse_slow_consumer },
	{ "subprotocols", K_FN, 0, .fn = parse_subprotocols },
	{ NULL },
};

static int parse_ws(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_api *api = obj;

	if (v && api->protocol != FNG_API_WEBSOCKET) {
		err_at(L, v, "\"websocket\" applies to APIs with protocol: websocket");
		return -1;
	}
	return apply_keys(L, v, ws_keys, &api->ws, "websocket");
}

static int parse_selection_key(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_api *api = obj;

	if (v && api->protocol != FNG_API_WEBSOCKET) {
		err_at(L, v, "\"route_selection\" applies to APIs with protocol: websocket");
		return -1;
	}
	return api->protocol == FNG_API_WEBSOCKET ? parse_route_selection(L, v, obj) : 0;
}

/* protocol comes first: the rows below it, and the routes, depend on it. */
static const struct key api_keys[] = {
	{ "protocol", K_FN, 0, .fn = parse_protocol },
	{ "route_selection", K_FN, 0, .fn = parse_selection_key },
	{ "websocket", K_FN, 0, .fn = parse_ws },
	{ "stages", K_FN, 0, .fn = noop_fn, .required = true },
	{ "routes", K_FN, 0, .fn = noop_fn, .required = true },
	{ NULL },
};

static int parse_apis(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		err_at(L, NULL, "configuration needs \"apis\"");
		return -1;
	}
	if (!want(L, v, Y_MAP, "apis")) {
		return -1;
	}
	if (v->n == 0) {
		err_at(L, v, "apis needs at least one API");
		return -1;
	}
	c->apis = fng__arena_zalloc(c->arena, (v->n / 2) * sizeof(*c->apis));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct ynode *k = v->kids[i], *body = v->kids[i + 1];
		struct fng_api *api = &c->apis[c->napis];

		memset(api, 0, sizeof(*api));
		if (!name_key_ok(L, v, i, "API")) {
			continue;
		}
		api->name = get_str(L, k, "API name");
		if (apply_keys(L, body, api_keys, api, "API") != 0) {
			continue;
		}
		for (unsigned j = 0; j < body->n; j += 2) {
			if (strcmp(body->kids[j]->s, "stages") == 0) {
				parse_stages(L, body->kids[j + 1], api);
			} else if (strcmp(body->kids[j]->s, "routes") == 0) {
				parse_routes(L, body->kids[j + 1], api);
			}
		}
		c->napis++;
	}
	return 0;
}

/* ---- domains ---- */

struct raw_mapping {
	const char *base_path, *api, *stage;
};

static const struct key mapping_keys[] = {
	{ "base_path", K_STR, offsetof(struct raw_mapping, base_path), .def_str = "/" },
	{ "api", K_STR, offsetof(struct raw_mapping, api), .required = true },
	{ "stage", K_STR, offsetof(struct raw_mapping, stage), .required = true },
	{ NULL },
};

static int cmp_mapping(const void *a, const void *b)
{
	const struct fng_mapping *x = a, *y = b;

	return x->base_len < y->base_len ? 1 : x->base_len > y->base_len ? -1 : 0;
}

static int parse_domains(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_MAP, "domains")) {
		return -1;
	}
	c->domains = fng__arena_zalloc(c->arena, (v->n / 2 + 1) * sizeof(*c->domains));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct ynode *k = v->kids[i], *list = v->kids[i + 1];
		struct fng_domain *d = &c->domains[c->ndomains];
		char *host;

		memset(d, 0, sizeof(*d));
		if (!want(L, k, Y_SCALAR, "domain name") || !want(L, list, Y_SEQ, "domain")) {
			continue;
		}
		host = fng__arena_strndup(c->arena, k->s, k->len);
		for (size_t j = 0; j < k->len; j++) {
			char ch = host[j];

			if (ch >= 'A' && ch <= 'Z') {
				host[j] = (char)(ch + 32);
			} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
					   ch == '-' || ch == '.')) {
				err_at(L, k, "invalid domain name \"%s\"", k->s);
				break;
			}
		}
		for (unsigned j = 0; j < i; j += 2) {
			if (strcasecmp(v->kids[j]->s, k->s) == 0) {
				err_at(L, k, "duplicate domain \"%s\"", k->s);
			}
		}
		d->host = host;
		d->host_len = k->len;
		d->maps = fng__arena_zalloc(c->arena, (list->n + 1) * sizeof(*d->maps));
		for (unsigned j = 0; j < list->n; j++) {
			struct raw_mapping raw;
			struct fng_mapping *m = &d->maps[d->nmaps];
			const struct fng_api *api;
			size_t bl;

			memset(m, 0, sizeof(*m));
			if (apply_keys(L, list->kids[j], mapping_keys, &raw, "base path mapping")) {
				continue;
			}
			bl = strlen(raw.base_path);
			if (raw.base_path[0] != '/' || (bl > 1 && raw.base_path[bl - 1] == '/') ||
				strpbrk(raw.base_path, "?#{} ")) {
				err_at(L, list->kids[j],
					"base_path \"%s\" must start with / and not end with /",
					raw.base_path);
				continue;
			}
			api = fng__config_api(c, (struct fng_str){ raw.api, strlen(raw.api) });
			if (!api) {
				err_at(L, list->kids[j], "unknown API \"%s\"", raw.api);
				continue;
			}
			m->api = api;
			m->stage = fng__api_stage(api, (struct fng_str){ raw.stage, strlen(raw.stage) });
			if (!m->stage) {
				err_at(L, list->kids[j], "API \"%s\" has no stage \"%s\"", raw.api,
					raw.stage);
				continue;
			}
			m->base_path = bl == 1 ? "" : raw.base_path;
			m->base_len = bl == 1 ? 0 : bl;
			for (unsigned x = 0; x < d->nmaps; x++) {
				if (d->maps[x].base_len == m->base_len &&
					memcmp(d->maps[x].base_path, m->base_path, m->base_len) == 0) {
					err_at(L, list->kids[j], "duplicate base_path \"%s\"",
						raw.base_path);
				}
			}
			d->nmaps++;
		}
		qsort(d->maps, d->nmaps, sizeof(*d->maps), cmp_mapping);
		c->ndomains++;
	}
	return 0;
}

/* ---- functions ---- */

static int parse_env(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_fn_limits *fl = obj;
	size_t off = 0;

	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_MAP, "env")) {
		return -1;
	}
	memset(fl->env, 0, sizeof(fl->env));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct ynode *k = v->kids[i], *val = v->kids[i + 1];
		size_t need;

		if (!want(L, k, Y_SCALAR, "env name") || !want(L, val, Y_SCALAR, "env value")) {
			continue;
		}
		if (!valid_name(k->s) || strchr(k->s, '-')) {
			err_at(L, k, "env name \"%s\" must match [A-Za-z0-9_]+", k->s);
			continue;
		}
		if (memchr(val->s, '\0', val->len)) {
			err_at(L, val, "env value must not contain NUL");
			continue;
		}
		need = k->len + 1 + val->len + 1;
		if (off + need + 1 > sizeof(fl->env)) {
			err_at(L, k, "env is larger than %zu bytes", sizeof(fl->env) - 1);
			return -1;
		}
		memcpy(fl->env + off, k->s, k->len);
		fl->env[off + k->len] = '=';
		memcpy(fl->env + off + k->len + 1, val->s, val->len);
		off += need;
	}
	return 0;
}

/* The opt-in syscall groups of `sandbox:` (enum fng_sb_group of sandbox/sandbox.h). */
static const struct {
	const char *name;
	uint32_t bit;
} sb_groups[] = {
	{ "net", 1u << 0 }, /* FNG_SB_GROUP_NET */
};

/* A `sandbox:` list (of a manifest or a grant) into *out; v NULL leaves it. */
static int groups_of(struct loader *L, const struct ynode *v, uint32_t *out)
{
	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_SEQ, "sandbox")) {
		return -1;
	}
	*out = 0;
	for (unsigned i = 0; i < v->n; i++) {
		const struct ynode *g = v->kids[i];
		size_t j = 0, n = sizeof(sb_groups) / sizeof(sb_groups[0]);

		if (!want(L, g, Y_SCALAR, "sandbox group")) {
			continue;
		}
		while (j < n && strcmp(g->s, sb_groups[j].name) != 0) {
			j++;
		}
		if (j == n) {
			err_at(L, g, "unknown sandbox group \"%s\" (known: net)", g->s);
		} else {
			*out |= sb_groups[j].bit;
		}
	}
	return 0;
}

static int parse_groups(struct loader *L, const struct ynode *v, void *obj)
{
	return groups_of(L, v, &((struct fng_fn_limits *)obj)->groups);
}

#define FOFF(member) offsetof(struct fng_fn_limits, member)

/* Defaults: Lambda's 3 s timeout and 128 MB floor; one warm worker, two at most (the cores). */
static const struct key limits_fn_keys[] = {
	{ "timeout_ms", K_U32, FOFF(timeout_ms), 3000, 1, 900000 },
	{ "memory_mb", K_U32, FOFF(memory_mb), 128, 16, 10240 },
	{ "cpu_ms", K_U32, FOFF(cpu_ms), 0, 0, 86400000 },
	{ "concurrency", K_U32, FOFF(concurrency), 2, 1, 1024 },
	{ "min_warm", K_U32, FOFF(min_warm), 1, 0, 1024 },
	{ "max_invocations", K_U32, FOFF(max_invocations), 100000, 1, 1u << 31 },
	{ "queue", K_U32, FOFF(queue), 256, 0, 1u << 20 },
	{ "pipeline", K_U32, FOFF(pipeline), 4, 1, 16 },
	{ "env", K_FN, 0, .fn = parse_env },
	{ "sandbox", K_FN, 0, .fn = parse_groups },
	{ "learn", K_BOOL, FOFF(learn), 0 },
	{ NULL },
};

/* apply_keys with the defaults taken from *base rather than the table. */
static int apply_limits(struct loader *L, const struct ynode *v, const struct fng_fn_limits *base,
	struct fng_fn_limits *out, const char *what)
{
	struct fng_fn_limits tmp;
	int rc;

	memset(&tmp, 0, sizeof(tmp));
	rc = apply_keys(L, NULL, limits_fn_keys, &tmp, what); /* table defaults */
	(void)rc;
	*out = base ? *base : tmp;
	if (!v) {
		return 0;
	}
	/* Apply only the keys present, over *out. */
	if (!want(L, v, Y_MAP, what)) {
		return -1;
	}
	{
		struct key table[sizeof(limits_fn_keys) / sizeof(limits_fn_keys[0])];
		struct fng_fn_limits given = *out;
		unsigned n = 0;

		for (const struct key *k = limits_fn_keys; k->name; k++) {
			table[n] = *k;
			if (k->type == K_U32) {
				table[n].def = *(const uint32_t *)((const char *)out + k->off);
			} else if (k->type == K_BOOL) {
				table[n].def = *(const bool *)((const char *)out + k->off);
			}
			n++;
		}
		table[n] = (struct key){ NULL };
		rc = apply_keys(L, v, table, &given, what);
		if (rc == 0 && given.min_warm > given.concurrency) {
			err_at(L, v, "%s: min_warm (%u) exceeds concurrency (%u)", what,
				given.min_warm, given.concurrency);
			rc = -1;
		}
		*out = given;
	}
	return rc;
}

static int parse_fn_defaults(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;

	return apply_limits(L, v, NULL, &c->functions.defaults, "functions.defaults");
}

static int parse_fn_dir(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;
	const char *dir = v ? get_str(L, v, "functions.dir") : "functions";

	if (!dir) {
		return -1;
	}
	c->functions.dir = config_relative(L, dir);
	return 0;
}

/* ---- functions.max and functions.grants: what the operator allows each function ---- */

#define MOFF(member) offsetof(struct fng_fn_max, member)

/*
 * The manifest keys the operator bounds, with their default maxima (docs/config.md says why):
 * 30 s is API Gateway's integration timeout, past which no caller of an API still waits;
 * memory, workers and queue get 4x their defaults, warm workers (memory held while idle) 2x.
 * cpu_ms counts a worker's whole life, already bounded by timeout_ms x max_invocations: no
 * maximum unless the operator sets one, and then 0 (no limit) is over it. pipeline (16 at
 * most) and max_invocations ask for nothing a worker does not already have.
 */
static const struct bound {
	const char *name;
	size_t lim, max;          /* offsets in struct fng_fn_limits and struct fng_fn_max */
	uint32_t def;             /* the default maximum */
	bool zero_is_none;        /* 0 is no limit: over any maximum; a maximum of 0 is none */
} bounds[] = {
	{ "timeout_ms", FOFF(timeout_ms), MOFF(timeout_ms), 30000 },
	{ "memory_mb", FOFF(memory_mb), MOFF(memory_mb), 512 },
	{ "cpu_ms", FOFF(cpu_ms), MOFF(cpu_ms), 0, true },
	{ "concurrency", FOFF(concurrency), MOFF(concurrency), 8 },
	{ "min_warm", FOFF(min_warm), MOFF(min_warm), 2 },
	{ "queue", FOFF(queue), MOFF(queue), 1024 },
};

#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static uint32_t u32_at(const void *obj, size_t off)
{
	return *(const uint32_t *)((const char *)obj + off);
}

static bool over(const struct bound *b, uint32_t v, uint32_t max)
{
	return b->zero_is_none ? max && (v == 0 || v > max) : v > max;
}

/*
 * functions.max (base NULL: the table's defaults), or a grant's max over base. The ranges are
 * those of the manifest keys (limits_fn_keys).
 */
static int apply_max(struct loader *L, const struct ynode *v, const struct fng_fn_max *base,
	struct fng_fn_max *out, const char *what)
{
	struct key table[NBOUNDS + 1];

	for (size_t i = 0; i < NBOUNDS; i++) {
		const struct key *k = limits_fn_keys;

		while (strcmp(k->name, bounds[i].name) != 0) {
			k++;
		}
		table[i] = *k;
		table[i].off = bounds[i].max;
		table[i].def = base ? u32_at(base, bounds[i].max) : bounds[i].def;
	}
	table[NBOUNDS] = (struct key){ NULL };
	return apply_keys(L, v, table, out, what);
}

static int parse_fn_max(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;

	return apply_max(L, v, NULL, &c->functions.max, "functions.max");
}

/* A new policy for function name: functions.max, nothing granted. */
static struct fng_fn_policy *policy_new(struct loader *L, const char *name)
{
	struct fng_config *c = L->cfg;
	struct fng_fn_policy *p = &c->functions.policies[c->functions.npolicies++];

	p->name = name;
	p->max = c->functions.max;
	p->apis = fng__arena_zalloc(c->arena, (c->napis + 1) * sizeof(*p->apis));
	return p;
}

static bool policy_has_api(const struct fng_fn_policy *p, const char *api)
{
	for (unsigned i = 0; i < p->napis; i++) {
		if (strcmp(p->apis[i], api) == 0) {
			return true;
		}
	}
	return false;
}

bool fng__policy_api_ok(const struct fng_fn_policy *p, const char *api)
{
	return p->any_api || policy_has_api(p, api);
}

/* A grant's max: what it sets overrides functions.max, and may not be below the defaults. */
static int parse_grant_max(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_fn_policy *p = obj;
	const struct fng_fn_limits *d = &L->cfg->functions.defaults;
	char what[128];

	snprintf(what, sizeof(what), "functions.grants.%s.max", p->name);
	if (apply_max(L, v, &L->cfg->functions.max, &p->max, what)) {
		return -1;
	}
	for (size_t i = 0; i < NBOUNDS; i++) {
		const struct ynode *at = ykey(v, bounds[i].name);
		uint32_t dv = u32_at(d, bounds[i].lim), mv = u32_at(&p->max, bounds[i].max);

		if (!at) {
			continue;
		}
		p->max.granted |= 1u << i;
		/* A default of 0 (none) for a zero_is_none key means the maximum: never over it. */
		if (over(&bounds[i], dv, mv) && dv) {
			err_at(L, at, "%s.%s %" PRIu32 " is below functions.defaults.%s %" PRIu32,
				what, bounds[i].name, mv, bounds[i].name, dv);
		}
	}
	return 0;
}

static int parse_grant_groups(struct loader *L, const struct ynode *v, void *obj)
{
	return groups_of(L, v, &((struct fng_fn_policy *)obj)->groups);
}

/* WebSocket API names, or "*": every API. */
static int parse_grant_connections(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_fn_policy *p = obj;

	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_SEQ, "connections")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const char *s = get_str(L, v->kids[i], "connections entry");
		const struct fng_api *api;

		if (!s) {
			continue;
		}
		if (strcmp(s, "*") == 0) {
			p->any_api = true;
			continue;
		}
		api = fng__config_api(L->cfg, (struct fng_str){ s, strlen(s) });
		if (!api) {
			err_at(L, v->kids[i], "connections: unknown API \"%s\"", s);
		} else if (api->protocol != FNG_API_WEBSOCKET) {
			err_at(L, v->kids[i], "connections: API \"%s\" is not a WebSocket API", s);
		} else if (policy_has_api(p, api->name)) {
			err_at(L, v->kids[i], "connections: API \"%s\" listed twice", s);
		} else {
			p->apis[p->napis++] = api->name;
		}
	}
	return 0;
}

/* A topic name, NAME* (the names that start with NAME) or * (all). */
static bool topic_pattern_ok(const char *s)
{
	size_t n = strlen(s);

	if (n && s[n - 1] == '*') {
		return n == 1 || fng__topic_name_ok(s, n - 1);
	}
	return fng__topic_name_ok(s, n);
}

/* Topic patterns, packed into the policy's grants ("a\0b*\0\0"). */
static int parse_grant_topics(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_fn_policy *p = obj;
	char *out = p->grants.topics;
	size_t off = 0;

	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_SEQ, "topics")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const char *s = get_str(L, v->kids[i], "topic pattern");
		size_t n = s ? strlen(s) : 0;

		if (!s) {
			continue;
		}
		if (!topic_pattern_ok(s)) {
			err_at(L, v->kids[i], "topic pattern \"%s\": expected a topic name "
				"(1-128 of A-Z a-z 0-9 _ . ~ : / -), NAME* (names that start with "
				"NAME) or *", s);
			continue;
		}
		for (const char *q = out; *q; q += strlen(q) + 1) {
			if (strcmp(q, s) == 0) {
				err_at(L, v->kids[i], "topic pattern \"%s\" listed twice", s);
				n = 0;
				break;
			}
		}
		if (!n) {
			continue;
		}
		if (off + n + 2 > sizeof(p->grants.topics)) {
			err_at(L, v->kids[i], "topics: more than %zu bytes of patterns",
				sizeof(p->grants.topics) - 2);
			return -1;
		}
		memcpy(out + off, s, n + 1);
		off += n + 1;
	}
	return 0;
}

#define POFF(member) offsetof(struct fng_fn_policy, member)

static const struct key grant_keys[] = {
	{ "max", K_FN, 0, .fn = parse_grant_max },
	{ "sandbox", K_FN, 0, .fn = parse_grant_groups },
	{ "learn", K_BOOL, POFF(learn), 0 },
	{ "connections", K_FN, 0, .fn = parse_grant_connections },
	{ "topics", K_FN, 0, .fn = parse_grant_topics },
	{ NULL },
};

/* functions.grants: function name → what the operator grants it beyond functions.max. */
static int parse_grants(struct loader *L, const struct ynode *v, void *obj)
{
	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_MAP, "functions.grants")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i += 2) {
		struct fng_fn_policy *p;

		if (!name_key_ok(L, v, i, "function")) {
			continue;
		}
		p = policy_new(L, get_str(L, v->kids[i], "function name"));
		apply_keys(L, v->kids[i + 1], grant_keys, p, "grant");
	}
	return 0;
}

static int parse_fn_run_dir(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;
	const char *dir = v ? get_str(L, v, "functions.run_dir") : NULL;

	if (v && !dir) {
		return -1;
	}
	c->functions.run_dir = dir ? config_relative(L, dir) : NULL;
	return 0;
}

#define LOFF(member) OFF(functions.logs.member)

/*
 * A handler may log freely (a line per request at 100 requests a second, bursts of 500
 * lines), a flood costs the log 100 lines and 64 KiB of text a second per function. A byte
 * bucket holds at least the longest line, so every line can pass when it is full.
 */
static const struct key fn_logs_keys[] = {
	{ "lines_per_second", K_U32, LOFF(lines_per_second), 100, 0, 1000000 },
	{ "burst_lines", K_U32, LOFF(burst_lines), 500, 1, 1000000 },
	{ "bytes_per_second", K_U32, LOFF(bytes_per_second), 65536, 0, 1u << 30 },
	{ "burst_bytes", K_U32, LOFF(burst_bytes), 262144, FNG_WIRE_MAX_LOG, 1u << 30 },
	{ "report_ms", K_U32, LOFF(report_ms), 10000, 100, 3600000 },
	{ NULL },
};

static int parse_fn_logs(struct loader *L, const struct ynode *v, void *obj)
{
	return apply_keys(L, v, fn_logs_keys, obj, "functions.logs");
}

/* Lambda takes 250 MB unzipped; a C handler is usually kilobytes. */
static const struct key functions_keys[] = {
	{ "dir", K_FN, 0, .fn = parse_fn_dir },
	{ "run_dir", K_FN, 0, .fn = parse_fn_run_dir },
	{ "max_so_bytes", K_U64, OFF(functions.max_so_bytes), 64u << 20, 4096, 1ull << 32 },
	{ "defaults", K_FN, 0, .fn = parse_fn_defaults },
	{ "max", K_FN, 0, .fn = parse_fn_max },
	{ "grants", K_FN, 0, .fn = parse_grants },
	{ "logs", K_FN, 0, .fn = parse_fn_logs },
	{ "cpu_isolation", K_BOOL, OFF(functions.cpu_isolation), 1 },
	{ NULL },
};

/* functions.defaults must stay within functions.max (a zero_is_none 0 means the maximum). */
static void check_defaults(struct loader *L, const struct ynode *v)
{
	const struct fng_config *c = L->cfg;

	for (size_t i = 0; i < NBOUNDS; i++) {
		const struct bound *b = &bounds[i];
		uint32_t dv = u32_at(&c->functions.defaults, b->lim);
		uint32_t mv = u32_at(&c->functions.max, b->max);
		const struct ynode *at = ykey(ykey(v, "defaults"), b->name);

		if (over(b, dv, mv) && dv) {
			if (!at) {
				at = ykey(ykey(v, "max"), b->name);
			}
			err_at(L, at, "functions.defaults.%s %" PRIu32 " is over functions.max.%s %"
				PRIu32, b->name, dv, b->name, mv);
		}
	}
}

/*
 * Every function a WebSocket route integrates may act on that API's connections; the sandbox
 * groups and learn mode of functions.defaults are the operator's and granted to all. Then
 * the API tags the workers are told.
 */
static void finish_policies(struct loader *L)
{
	struct fng_config *c = L->cfg;
	struct fng_fn_policy *def = &c->functions.default_policy;

	def->max = c->functions.max;
	for (unsigned i = 0; i < c->napis; i++) {
		const struct fng_api *api = &c->apis[i];

		for (unsigned j = 0; api->protocol == FNG_API_WEBSOCKET && j < api->nroutes; j++) {
			const char *fn = api->routes[j].integration.function;
			struct fng_fn_policy *p;

			if (api->routes[j].integration.type != FNG_INTEGRATION_FUNCTION || !fn) {
				continue;
			}
			p = (struct fng_fn_policy *)fng__config_fn_policy(c, fn);
			if (p == def) {
				p = policy_new(L, fn);
			}
			if (!policy_has_api(p, api->name)) {
				p->apis[p->napis++] = api->name;
			}
		}
	}
	for (unsigned i = 0; i <= c->functions.npolicies; i++) {
		struct fng_fn_policy *p = i < c->functions.npolicies ?
			&c->functions.policies[i] : def;

		p->groups |= c->functions.defaults.groups;
		p->learn |= c->functions.defaults.learn;
		p->grants.any_connection = p->any_api || p->napis > FNG_GRANTS_MAX_TAGS;
		for (unsigned j = 0; j < p->napis && j < FNG_GRANTS_MAX_TAGS; j++) {
			fng__conn_tag(p->apis[j], p->grants.tags[p->grants.ntags++]);
		}
	}
}

/* apis come before functions (top_keys): grants name WebSocket APIs, routes name functions. */
static int parse_functions(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;
	const struct ynode *grants = ykey(v, "grants");
	unsigned cap = grants && grants->type == Y_MAP ? grants->n / 2 : 0;

	for (unsigned i = 0; i < c->napis; i++) {
		cap += c->apis[i].protocol == FNG_API_WEBSOCKET ? c->apis[i].nroutes : 0;
	}
	c->functions.policies = fng__arena_zalloc(c->arena,
		(cap + 1) * sizeof(*c->functions.policies));
	if (!c->functions.policies) {
		err_at(L, v, "out of memory");
		return -1;
	}
	if (apply_keys(L, v, functions_keys, obj, "functions")) {
		return -1;
	}
	check_defaults(L, v);
	finish_policies(L);
	return 0;
}

const struct fng_fn_policy *fng__config_fn_policy(const struct fng_config *c, const char *name)
{
	for (unsigned i = 0; i < c->functions.npolicies; i++) {
		if (strcmp(c->functions.policies[i].name, name) == 0) {
			return &c->functions.policies[i];
		}
	}
	return &c->functions.default_policy;
}

const char *fng__policy_check(const struct fng_fn_policy *p, const char *fn,
	const struct fng_fn_limits *l, char *why, size_t len)
{
	for (size_t i = 0; i < NBOUNDS; i++) {
		const struct bound *b = &bounds[i];
		uint32_t v = u32_at(l, b->lim), mv = u32_at(&p->max, b->max);
		char src[160];

		if (!over(b, v, mv)) {
			continue;
		}
		if (p->max.granted & 1u << i) {
			snprintf(src, sizeof(src), "functions.grants.%s.max.%s", fn, b->name);
		} else {
			snprintf(src, sizeof(src), "functions.max.%s", b->name);
		}
		snprintf(why, len, "%s %" PRIu32 "%s is over the operator's maximum %" PRIu32
			" (%s)", b->name, v, v ? "" : " (no limit)", mv, src);
		return b->name;
	}
	for (size_t i = 0; i < sizeof(sb_groups) / sizeof(sb_groups[0]); i++) {
		if (l->groups & ~p->groups & sb_groups[i].bit) {
			snprintf(why, len, "sandbox group %s is not granted to function %s "
				"(functions.grants.%s.sandbox)", sb_groups[i].name, fn, fn);
			return "sandbox";
		}
	}
	if (l->learn && !p->learn) {
		snprintf(why, len, "learn is not granted to function %s "
			"(functions.grants.%s.learn)", fn, fn);
		return "learn";
	}
	return NULL;
}

/* ---- admin ---- */

static int parse_admin_listen(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;
	const char *s = get_str(L, v, "admin.listen");
	struct sockaddr_storage ss;

	if (s && fng__config_parse_addr(s, &ss) != 0) {
		err_at(L, v, "admin.listen \"%s\" must be IPv4:PORT or [IPv6]:PORT", s);
		return -1;
	}
	c->admin.listen = s;
	return 0;
}

static int parse_admin_token(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;
	const char *s = v ? get_str(L, v, "admin.token") : NULL;

	if (s && (strlen(s) < 16 || strlen(s) > 256 || strpbrk(s, " \t\r\n"))) {
		err_at(L, v, "admin.token must be 16 to 256 characters without white space");
		return -1;
	}
	c->admin.token = s;
	return 0;
}

/* The token from a file (its first line), so it need not sit in the config. */
static int parse_admin_token_file(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;
	const char *path = v ? get_str(L, v, "admin.token_file") : NULL;
	char buf[300];
	FILE *f;

	if (!path) {
		return v ? -1 : 0;
	}
	path = config_relative(L, path);
	f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		err_at(L, v, "admin.token_file %s: %s", path, f ? "empty" : strerror(errno));
		if (f) {
			fclose(f);
		}
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < 16 || strpbrk(buf, " \t")) {
		err_at(L, v, "admin.token_file %s: the token must be 16 to 256 characters without "
			"white space", path);
		return -1;
	}
	c->admin.token = fng__arena_strndup(c->arena, buf, strlen(buf));
	return 0;
}

static const struct key admin_keys[] = {
	{ "listen", K_FN, 0, .fn = parse_admin_listen, .required = true },
	{ "token", K_FN, 0, .fn = parse_admin_token },
	{ "token_file", K_FN, 0, .fn = parse_admin_token_file },
	{ NULL },
};

static int parse_admin(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	if (apply_keys(L, v, admin_keys, obj, "admin")) {
		return -1;
	}
	if (!c->admin.token) {
		err_at(L, v, "admin needs a token (admin.token or admin.token_file)");
		return -1;
	}
	return 0;
}

/* ---- schedules ---- */

static int parse_schedule_function(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_schedule *sc = obj;

	sc->function = get_str(L, v, "function");
	if (sc->function && !valid_name(sc->function)) {
		err_at(L, v, "function name \"%s\" must match [A-Za-z0-9_-]+", sc->function);
	}
	return 0;
}

static const struct key schedule_keys[] = {
	{ "function", K_FN, 0, .fn = parse_schedule_function, .required = true },
	{ "every_ms", K_U32, offsetof(struct fng_schedule, every_ms), 0, 100, 86400000,
		.required = true },
	{ "body", K_STR, offsetof(struct fng_schedule, body), .def_str = "" },
	{ NULL },
};

static int parse_schedules(struct loader *L, const struct ynode *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	if (!want(L, v, Y_MAP, "schedules")) {
		return -1;
	}
	c->schedules = fng__arena_zalloc(c->arena, (v->n / 2 + 1) * sizeof(*c->schedules));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct ynode *k = v->kids[i];
		struct fng_schedule *sc = &c->schedules[c->nschedules];

		if (!name_key_ok(L, v, i, "schedule")) {
			continue;
		}
		sc->name = get_str(L, k, "schedule name");
		if (apply_keys(L, v->kids[i + 1], schedule_keys, sc, "schedule") == 0) {
			sc->route.key = "$schedule";
			sc->route.integration.type = FNG_INTEGRATION_FUNCTION;
			sc->route.integration.function = sc->function;
			c->nschedules++;
		}
	}
	return 0;
}

/*
 * Top level. server comes first: stage limits default to and are checked against it; apis
 * before functions: a function's policy names WebSocket APIs and follows their routes.
 */
static const struct key top_keys[] = {
	{ "server", K_FN, 0, .fn = parse_server },
	{ "access_log", K_FN, 0, .fn = parse_access_log },
	{ "apis", K_FN, 0, .fn = parse_apis },
	{ "functions", K_FN, 0, .fn = parse_functions },
	{ "domains", K_FN, 0, .fn = parse_domains },
	{ "admin", K_FN, 0, .fn = parse_admin },
	{ "schedules", K_FN, 0, .fn = parse_schedules },
	{ NULL },
};

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
	struct loader L = { .file = name, .errors = errors };
	struct fng_config *c;
	struct ynode *root;
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
	c->path = fng__arena_strndup(arena, name, strlen(name));
	L.cfg = c;

	L.text = text;
	L.text_len = len;
	root = yparse(&L, text, len);
	if (root) {
		apply_keys(&L, root, top_keys, c, "configuration");
	}
	if (L.nerrors == 0) {
		if (L.default_api) {
			c->default_api = fng__config_api(c,
				(struct fng_str){ L.default_api, strlen(L.default_api) });
			if (!c->default_api) {
				err_at(&L, L.default_api_node, "default_api names unknown API \"%s\"",
					L.default_api);
			}
		} else if (c->napis == 1) {
			c->default_api = &c->apis[0];
		}
		if (c->access_log.path && strcmp(c->access_log.path, "off") == 0) {
			c->access_log.path = NULL;
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

int fng__config_load(const char *path, struct fng_config **out, struct fng_buf *errors)
{
	FILE *f = fopen(path, "rb");
	struct fng_buf text = { 0 };
	char chunk[8192];
	size_t n;
	int err;

	*out = NULL;
	if (!f) {
		fng__buf_printf(errors, "%s:1:1: cannot open: %s\n", path, strerror(errno));
		return FNG_ECONFIG;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (fng__buf_append(&text, chunk, n) || text.len > (16u << 20)) {
			fclose(f);
			fng__buf_finish(&text);
			fng__buf_printf(errors, "%s:1:1: file too large or out of memory\n", path);
			return FNG_ECONFIG;
		}
	}
	fclose(f);
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

const struct fng_api *fng__config_api(const struct fng_config *c, struct fng_str name)
{
	for (unsigned i = 0; i < c->napis; i++) {
		if (c->apis[i].name && fng__str_eq(name, c->apis[i].name, strlen(c->apis[i].name))) {
			return &c->apis[i];
		}
	}
	return NULL;
}

const struct fng_stage *fng__api_stage(const struct fng_api *api, struct fng_str name)
{
	for (unsigned i = 0; i < api->nstages; i++) {
		const char *s = api->stages[i].name;

		if (s && fng__str_eq(name, s, strlen(s))) {
			return &api->stages[i];
		}
	}
	return NULL;
}

const struct fng_domain *fng__config_domain(const struct fng_config *c, struct fng_str host)
{
	for (unsigned i = 0; i < c->ndomains; i++) {
		if (fng__str_ieq(host, c->domains[i].host, c->domains[i].host_len)) {
			return &c->domains[i];
		}
	}
	return NULL;
}

bool fng__stage_var(const struct fng_stage *s, struct fng_str name, struct fng_str *value)
{
	for (unsigned i = 0; i < s->nvars; i++) {
		if (fng__str_eq(name, s->vars[i].name, strlen(s->vars[i].name))) {
			*value = s->vars[i].value;
			return true;
		}
	}
	return false;
}

/* ---- function manifests (functions/NAME.yaml) ---- */

/* The function a manifest is for: its file's name without the directory and ".yaml". */
static void manifest_function(const char *path, char fn[64])
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strcspn(base, ".");

	snprintf(fn, 64, "%.*s", (int)(n < 63 ? n : 63), base);
}

int fng__manifest_load_string(const char *name, const char *text, size_t len,
	const struct fng_fn_limits *defaults, const struct fng_fn_policy *policy,
	struct fng_fn_limits *out, struct fng_buf *errors)
{
	struct loader L = { .file = name, .errors = errors, .text = text, .text_len = len,
		.allow_empty = true };
	struct fng_config scratch = { 0 };
	const struct ynode *root;
	bool refused = false;

	L.tmp = fng__arena_create();
	scratch.arena = fng__arena_create();
	if (!L.tmp || !scratch.arena) {
		fng__arena_destroy(L.tmp);
		fng__arena_destroy(scratch.arena);
		return UV_ENOMEM;
	}
	L.cfg = &scratch;
	root = yparse(&L, text, len);
	if (root && root->type == Y_SCALAR && root->plain && root->len == 0) {
		root = NULL; /* an empty manifest: all defaults */
	}
	if (!L.nerrors && !policy) {
		apply_limits(&L, root, defaults, out, "manifest");
	} else if (!L.nerrors) {
		struct fng_fn_limits base;
		char why[256], fn[64];
		const char *key;

		apply_limits(&L, NULL, defaults, &base, "manifest");
		/* A limit the defaults leave at none is the maximum when the operator sets one. */
		for (size_t i = 0; i < NBOUNDS; i++) {
			uint32_t *v = (uint32_t *)((char *)&base + bounds[i].lim);

			if (bounds[i].zero_is_none && *v == 0) {
				*v = u32_at(&policy->max, bounds[i].max);
			}
		}
		manifest_function(name, fn);
		if (apply_limits(&L, root, &base, out, "manifest") == 0 &&
			(key = fng__policy_check(policy, fn, out, why, sizeof(why))) != NULL) {
			const struct ynode *at = ykey(root, key);

			err_at(&L, at ? at : root, "%s", why);
			refused = true;
		}
		out->grants = policy->grants;
	}
	if (fng__buf_reserve(errors, 0) == 0 && L.nerrors > 50) {
		fng__buf_printf(errors, "%s: %u more errors\n", name, L.nerrors - 50);
	}
	fng__arena_destroy(L.tmp);
	fng__arena_destroy(scratch.arena);
	return refused ? UV_EPERM : L.nerrors ? FNG_ECONFIG : 0;
}

int fng__manifest_load(const char *path, const struct fng_fn_limits *defaults,
	const struct fng_fn_policy *policy, struct fng_fn_limits *out, struct fng_buf *errors)
{
	FILE *f = fopen(path, "rb");
	struct fng_buf text = { 0 };
	char chunk[4096];
	size_t n;
	int err;

	if (!f) {
		if (errno == ENOENT) {
			/* No manifest: the defaults (the table's when none are given). */
			return fng__manifest_load_string(path, "", 0, defaults, policy, out,
				errors);
		}
		fng__buf_printf(errors, "%s:1:1: cannot open: %s\n", path, strerror(errno));
		return FNG_ECONFIG;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (fng__buf_append(&text, chunk, n) || text.len > (1u << 20)) {
			fclose(f);
			fng__buf_finish(&text);
			fng__buf_printf(errors, "%s:1:1: manifest too large\n", path);
			return FNG_ECONFIG;
		}
	}
	fclose(f);
	err = fng__manifest_load_string(path, text.p ? text.p : "", text.len, defaults, policy,
		out, errors);
	fng__buf_finish(&text);
	return err;
}

bool fng__config_name_ok(const char *s)
{
	return valid_name(s);
}
