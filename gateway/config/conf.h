/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CONF_H
#define FNG_GATEWAY_CONF_H

/*
 * The configuration engine that modules use to parse their own keys: a YAML tree with
 * positions, key tables applied by one walker, typed getters, and errors and warnings with
 * FILE:LINE:COL. config.c implements it and knows no feature's keys; each module keeps the
 * table of its section in its own X_conf.c, and conf_modules.c lists the sections the root
 * of a file may hold. Adding a key is a row in its module's table; adding a section is a
 * struct fng_conf_module in the module's file and a line in conf_modules.c. A load runs off
 * the loop thread (SIGHUP reloads, deploys): nothing here touches loop state.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mem.h"
#include "template.h"

enum fng_conf_ntype { FNG_CONF_SCALAR, FNG_CONF_MAP, FNG_CONF_SEQ };

/* A node of the YAML tree (libfyaml's node API does not expose positions). */
struct fng_conf_node {
	enum fng_conf_ntype type;
	int line, col;       /* 1-based */
	size_t pos, end;     /* byte offsets of the node in the source (scalars) */
	const char *s;       /* scalar text, NUL-terminated; "" for collections */
	size_t len;
	bool plain;
	struct fng_conf_node **kids; /* map: key, value, key, value... */
	unsigned n, cap;
};

/* One load: of a config file, or of a function manifest. */
struct fng_conf {
	const char *file;
	const char *text;         /* the source, for pointing into multi-line scalars */
	size_t text_len;
	struct fng_buf *errors;
	unsigned nerrors;
	struct fng_buf warnings;  /* problems that do not make the file invalid */
	unsigned nwarnings;
	struct fng_arena *tmp;    /* the tree; freed when the load ends */
	struct fng_config *cfg;   /* what is built: its arena outlives the load */
	const struct fng_conf_node *root; /* the document, for finish hooks; NULL when empty */
	bool allow_empty;         /* an empty document is valid (manifests) */
};

enum fng_conf_ktype { FNG_CONF_U32, FNG_CONF_U64, FNG_CONF_BOOL, FNG_CONF_STR, FNG_CONF_FN };

/*
 * A row of a key table: a key of one mapping. The scalar types store at offset off of the
 * object, def (def_str for FNG_CONF_STR) when the key is absent, and min..max bound integers.
 * FNG_CONF_FN rows call fn, which parses the value into obj, also with v NULL when the key is
 * absent, and reports through fng__conf_err(). A table ends with a row whose name is NULL.
 */
struct fng_conf_key {
	const char *name;
	enum fng_conf_ktype type;
	size_t off;
	uint64_t def, min, max;
	const char *def_str;
	int (*fn)(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
	bool required;
};

/*
 * A module's section of the configuration: a top-level key and its parser, run in the order
 * of the module list (a section may depend on the ones above it), then finish, if any, once
 * the whole file was walked without errors (for references to sections below). Each module
 * defines its own; fng__conf_modules (conf_modules.c) lists them, ended by NULL.
 */
struct fng_conf_module {
	const char *key;
	/* Like a FNG_CONF_FN row's fn; obj is the struct fng_config. */
	int (*parse)(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
	void (*finish)(struct fng_conf *L);
};

extern const struct fng_conf_module *const fng__conf_modules[];

/* "FILE:LINE:COL: message" for n (NULL: 1:1) into the errors (the first 50 of them). */
__attribute__((format(printf, 3, 4)))
void fng__conf_err(struct fng_conf *L, const struct fng_conf_node *n, const char *fmt, ...);
/* A warning at n's position: kept in the snapshot (fng_config.warnings) and logged. */
__attribute__((format(printf, 3, 4)))
void fng__conf_warn(struct fng_conf *L, const struct fng_conf_node *n, const char *fmt, ...);

/*
 * Reads the file at path into *text, which the caller finishes: 0, or a negative errno from
 * opening it, or -EFBIG when it is over max bytes (or memory ran out; *text is finished).
 */
int fng__conf_read(const char *path, size_t max, struct fng_buf *text);

/* The tree of text; NULL after an error (or for an empty text when L->allow_empty). */
struct fng_conf_node *fng__conf_parse(struct fng_conf *L, const char *text, size_t len);

/* Whether n is of type t; if not, says "what must be a mapping, not a list". */
bool fng__conf_want(struct fng_conf *L, const struct fng_conf_node *n, enum fng_conf_ntype t,
	const char *what);
/* Typed scalars: 0, or -1 with an error at n naming what. */
int fng__conf_uint(struct fng_conf *L, const struct fng_conf_node *n, const char *what,
	uint64_t min, uint64_t max, uint64_t *out);
int fng__conf_bool(struct fng_conf *L, const struct fng_conf_node *n, const char *what,
	bool *out);
/* A copy of the scalar n in the config's arena, or NULL with an error. */
const char *fng__conf_str(struct fng_conf *L, const struct fng_conf_node *n, const char *what);
/* A template compiled into the config's arena; an error points at the offending `${`. */
int fng__conf_template(struct fng_conf *L, const struct fng_conf_node *v, const char *what,
	const struct fng_template **out);
/* path as given if absolute, else relative to the config file's directory (nginx's way). */
const char *fng__conf_relative(struct fng_conf *L, const char *path);

/*
 * The first line of the file named by the scalar v (a secret: a token, a password), relative
 * to the config file, read under the rules for files the configuration names (core/safefile.h,
 * at most max bytes) into the config's arena; NULL after an error at v naming what. The copy
 * read from the file is wiped. An empty line or one holding a NUL byte is refused.
 */
const char *fng__conf_first_line(struct fng_conf *L, const struct fng_conf_node *v,
	const char *what, uint64_t max);

/* The value of key in mapping map, or NULL (also when map is NULL or not a mapping). */
const struct fng_conf_node *fng__conf_lookup(const struct fng_conf_node *map, const char *key);

/*
 * Whether key i of mapping v is a good name of a what ("API", "schedule"...): a scalar of
 * [A-Za-z0-9_-]+. A name given twice is reported, yet accepted: one error is enough.
 */
bool fng__conf_name_key_ok(struct fng_conf *L, const struct fng_conf_node *v, unsigned i,
	const char *what);

/*
 * Applies a table to a mapping (map NULL: the defaults only): defaults first, then each row in
 * table order (so a row may depend on the ones above it), then every key not in the table is
 * reported. 0, or -1 when it reported an error.
 */
int fng__conf_apply(struct fng_conf *L, const struct fng_conf_node *map,
	const struct fng_conf_key *table, void *obj, const char *what);

/*
 * A mapping v applied to a new zeroed object of size bytes in the config's arena (a block
 * such as a stage's `cache`): the object, or NULL after an error (v not a mapping included).
 */
void *fng__conf_apply_new(struct fng_conf *L, const struct fng_conf_node *v,
	const struct fng_conf_key *table, size_t size, const char *what);

/* A FNG_CONF_FN row's fn for a key parsed elsewhere (after the table, by its owner). */
int fng__conf_skip(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

#endif
