// SPDX-License-Identifier: MIT
/*
 * The static integration (`type: static`): the files under a root are read when the config
 * loads and served from the snapshot's memory, so that a reload, not a request, touches the
 * disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "integration_conf.h"
#include "safefile.h"

#define IOFF(member) offsetof(struct fng_integration_cfg, member)

#define STATIC_MAX_FILES 256
#define STATIC_MAX_BYTES (8u << 20)
#define STATIC_MAX_DEPTH 4

struct static_load {
	struct fng_conf *L;
	const struct fng_conf_node *at;
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
		fng__conf_err(S->L, S->at, "static root %s: %s", path, strerror(errno));
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
			fng__conf_err(S->L, S->at, "static root %s: a path is too long", path);
			break;
		}
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			continue; /* gone since it was listed */
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth >= STATIC_MAX_DEPTH) {
				fng__conf_warn(S->L, S->at,
					"static directory %s left out: deeper than %d levels", sub,
					STATIC_MAX_DEPTH);
				continue;
			}
			fd = fng__safe_opendir(dirfd, e->d_name, &st, &why);
			if (fd < 0) {
				fng__conf_warn(S->L, S->at, "static directory %s left out: %s", sub,
					why);
				continue;
			}
			strcat(name, "/");
			static_scan(S, fd, sub, name, depth + 1);
			close(fd);
			continue;
		}
		if (S->n == STATIC_MAX_FILES) {
			fng__conf_err(S->L, S->at, "static root %s: more than %u files", path,
				STATIC_MAX_FILES);
			break;
		}
		rc = fng__safe_read(dirfd, e->d_name, &rules, &data, &st, &why);
		if (rc == 0 && S->bytes + data.len > STATIC_MAX_BYTES) {
			fng__conf_err(S->L, S->at, "static root %s: more than %u bytes", path,
				STATIC_MAX_BYTES);
			fng__buf_finish(&data);
			break;
		}
		if (rc != 0) {
			if (rc != -ENOENT) {
				fng__conf_warn(S->L, S->at, "static file %s left out: %s", sub,
					why);
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

static int parse_static_root(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_integration_cfg *ic = obj;
	const char *root = fng__conf_str(L, v, "root");
	struct static_load S = { L, v, NULL, 0, 0 };
	int fd;

	if (!root) {
		return -1;
	}
	S.files = fng__arena_zalloc(L->cfg->arena, STATIC_MAX_FILES * sizeof(*S.files));
	root = fng__conf_relative(L, root);
	/* The root itself is the operator's choice (a link there is theirs to make). */
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fng__conf_err(L, v, "static root %s: %s", root, strerror(errno));
		return -1;
	}
	static_scan(&S, fd, root, "", 0);
	close(fd);
	qsort(S.files, S.n, sizeof(*S.files), cmp_static);
	ic->files = S.files;
	ic->nfiles = S.n;
	return 0;
}

static const struct fng_conf_key static_keys[] = {
	{ "type", FNG_CONF_FN, 0, .fn = fng__conf_skip },
	{ "root", FNG_CONF_FN, 0, .fn = parse_static_root, .required = true },
	{ "index", FNG_CONF_STR, IOFF(index), .def_str = "index.html" },
	{ NULL },
};

const struct fng_integration_conf fng__static_integration_conf = {
	"static", FNG_INTEGRATION_STATIC, static_keys
};

