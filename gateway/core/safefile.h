/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_SAFEFILE_H
#define FNG_GATEWAY_SAFEFILE_H

/*
 * Files the gateway takes from directories someone less trusted than the operator can write
 * (the functions directory and its manifests, static roots) or names in its configuration
 * (JWKS files, certificates, keys, CRLs, the admin token file). The gateway runs as root; what it reads there must be a file the writer could have
 * given it anyway, and looking at it must never block or follow the writer's pointers.
 *
 * The rules, in the order they are checked (docs/config.md, "Files from writable
 * directories"):
 *   - one path component, opened relative to a directory descriptor, never through a symbolic
 *     link (O_PATH | O_NOFOLLOW first: a link, a FIFO or a device node is never opened);
 *   - a regular file;
 *   - no other hard link to it (a second name could be a file its writer cannot read);
 *   - not writable by everyone;
 *   - owned by root, by the directory's owner or by the gateway's own user (FNG_SAFE_OWNER);
 *   - at most rules->max_bytes long (checked on the descriptor before reading, and again while
 *     reading: a file that grows is refused too).
 * Everything is read from the one descriptor that was checked. A refusal comes with a reason
 * that names what was wrong and never quotes the file.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mem.h"

enum fng_safe_flags {
	FNG_SAFE_OWNER = 1u << 0, /* apply the owner rule */
};

struct fng_safe_rules {
	uint64_t max_bytes;       /* 0: no limit */
	unsigned flags;           /* enum fng_safe_flags */
};

/* The rules for a file the configuration names: the owner rule and at most max bytes. */
#define FNG_SAFE_NAMED(max) ((struct fng_safe_rules){ .max_bytes = (max), .flags = FNG_SAFE_OWNER })

/*
 * Opens name (one component: no '/', not "." or "..") in dirfd for reading under rules. On
 * success returns a descriptor (O_RDONLY | O_CLOEXEC) and fills *st from it; on refusal
 * returns -errno (-ENOENT when there is no such entry) and points *why at a static reason
 * ("a symbolic link", "a FIFO", "has 2 hard links", "too large", ...).
 */
int fng__safe_open(int dirfd, const char *name, const struct fng_safe_rules *rules,
	struct stat *st, const char **why);

/*
 * fng__safe_open, then the whole file into *out (appended; out->len grows by st_size). The
 * same returns; a file that changed size while being read is refused ("changed while being
 * read").
 */
int fng__safe_read(int dirfd, const char *name, const struct fng_safe_rules *rules,
	struct fng_buf *out, struct stat *st, const char **why);

/*
 * A file the configuration names by path (a JWKS file, TLS certificates, keys, CA bundles and
 * CRLs, the admin token file), read into *out (appended) under rules, with the returns of
 * fng__safe_read. The directories on the path are the operator's and are followed as written;
 * the file itself is opened as fng__safe_open opens a name. A symbolic link in its place is
 * followed only when the directory holding the link can be written by nobody but root and the
 * gateway's own user (an operator's link, certbot's live/ directory): elsewhere a link is
 * refused. At most 8 links are followed.
 */
int fng__safe_read_path(const char *path, const struct fng_safe_rules *rules,
	struct fng_buf *out, const char **why);

/*
 * Opens the subdirectory name of dirfd for listing, without following a link; *st is filled.
 * A descriptor or -errno with *why like fng__safe_open.
 */
int fng__safe_opendir(int dirfd, const char *name, struct stat *st, const char **why);

/* What kind of thing st describes, for a refusal: "a FIFO", "a directory", ... */
const char *fng__safe_kind(const struct stat *st);

#endif
