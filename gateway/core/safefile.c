// SPDX-License-Identifier: MIT
/*
 * Opening files from directories that people less trusted than the operator can write
 * (safefile.h has the rules). Used by the deploy scan for NAME.so and NAME.yaml, by the
 * static integration for every file under its root, and for the files the configuration
 * names: JWKS files, TLS certificates, keys, CA bundles and CRLs, the admin token file.
 * It runs on the thread pool (scans, reloads) or at start-up, never on the loop thread.
 *
 * The entry is first opened with O_PATH | O_NOFOLLOW: that opens nothing — no FIFO open that
 * waits for a writer, no device open with side effects — and refers to a symbolic link itself
 * rather than to its target. fstat on that descriptor decides; only a file that passes is
 * opened for reading, through /proc/self/fd/N, which reaches the very inode that was checked
 * (renaming something else over the name in between changes nothing). Without /proc the name
 * is opened again with O_NOFOLLOW | O_NONBLOCK and must be the same inode.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safefile.h"

const char *fng__safe_kind(const struct stat *st)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFLNK:
		return "a symbolic link";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	}
	return "not a regular file";
}

static bool one_component(const char *name)
{
	return name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* The checks of safefile.h on what fstat said; NULL when the file passes. */
static const char *refusal(int dirfd, const struct stat *st, const struct fng_safe_rules *rules)
{
	struct stat dir;

	if (!S_ISREG(st->st_mode)) {
		return fng__safe_kind(st);
	}
	if (st->st_nlink != 1) {
		return "has another hard link (a second name may be a file its writer cannot read)";
	}
	if (st->st_mode & S_IWOTH) {
		return "writable by everyone";
	}
	if ((rules->flags & FNG_SAFE_OWNER) && st->st_uid != 0 && st->st_uid != geteuid() &&
		(fstat(dirfd, &dir) != 0 || st->st_uid != dir.st_uid)) {
		return "owned by a user who is neither root nor the directory's owner";
	}
	if (rules->max_bytes && (uint64_t)st->st_size > rules->max_bytes) {
		return "larger than the configured maximum";
	}
	return NULL;
}

/* Opens the checked O_PATH descriptor for reading; -errno, or -ESTALE if it is not the same. */
static int reopen(int dirfd, const char *name, int pathfd, const struct stat *want)
{
	char proc[64];
	struct stat st;
	int fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
		/* No /proc: the name again; only the same inode will do. */
		fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	}
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) != 0 || st.st_dev != want->st_dev || st.st_ino != want->st_ino ||
		!S_ISREG(st.st_mode)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int fng__safe_open(int dirfd, const char *name, const struct fng_safe_rules *rules,
	struct stat *st, const char **why)
{
	int pathfd, fd;

	*why = NULL;
	if (!one_component(name)) {
		*why = "not a plain file name";
		return -EINVAL;
	}
	pathfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pathfd < 0) {
		*why = errno == ENOENT ? "no such file" : "cannot be opened";
		return -errno;
	}
	if (fstat(pathfd, st) != 0) {
		fd = -errno;
		*why = "cannot be examined";
		goto out;
	}
	*why = refusal(dirfd, st, rules);
	if (*why) {
		fd = S_ISREG(st->st_mode) ? -EPERM : -EINVAL;
		goto out;
	}
	fd = reopen(dirfd, name, pathfd, st);
	if (fd < 0) {
		*why = fd == -ESTALE ? "replaced while being opened" : "cannot be opened";
	}
out:
	close(pathfd);
	return fd;
}

int fng__safe_read(int dirfd, const char *name, const struct fng_safe_rules *rules,
	struct fng_buf *out, struct stat *st, const char **why)
{
	size_t want, got = 0, start = out->len;
	int fd = fng__safe_open(dirfd, name, rules, st, why);

	if (fd < 0) {
		return fd;
	}
	want = (size_t)st->st_size;
	/* One byte more than announced: a file still growing is caught here, not truncated. */
	if (fng__buf_reserve(out, want + 1) != 0) {
		close(fd);
		*why = "out of memory";
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, out->p + start + got, want + 1 - got);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			int err = -errno;

			close(fd);
			*why = "cannot be read";
			return err;
		}
		if (n == 0 || (got += (size_t)n) > want) {
			break;
		}
	}
	close(fd);
	if (got != want) {
		*why = "changed while being read";
		return -ESTALE;
	}
	out->len = start + got;
	return 0;
}

/* Nobody but root and the gateway's own user can change what the directory holds. */
static bool dir_trusted(int dirfd)
{
	struct stat st;

	return fstat(dirfd, &st) == 0 && (st.st_uid == 0 || st.st_uid == geteuid()) &&
		!(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* Opens the directory part of path (relative to at) with O_PATH; *base: the last component. */
static int open_parent(int at, char *path, const char **base)
{
	char *slash = strrchr(path, '/');
	int fd;

	if (!slash) {
		*base = path;
		return openat(at, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	*base = slash + 1;
	if (slash == path) {
		return openat(at, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	*slash = '\0';
	fd = openat(at, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	*slash = '/';
	return fd;
}

#define LINKS_MAX 8

int fng__safe_read_path(const char *path, const struct fng_safe_rules *rules,
	struct fng_buf *out, const char **why)
{
	char cur[PATH_MAX];
	int at = AT_FDCWD, dirfd = -1, err;
	struct stat st;

	if (strlen(path) >= sizeof(cur)) {
		*why = "a path too long";
		return -ENAMETOOLONG;
	}
	strcpy(cur, path);
	for (unsigned hops = 0;; hops++) {
		const char *base;
		char link[PATH_MAX];
		ssize_t n;
		int fd = open_parent(at, cur, &base);

		if (fd < 0) {
			err = -errno;
			*why = "its directory cannot be opened";
			break;
		}
		if (dirfd >= 0) {
			close(dirfd);
		}
		at = dirfd = fd;
		if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode)) {
			/* A link put in its place from now on is refused there, never followed. */
			err = fng__safe_read(dirfd, base, rules, out, &st, why);
			break;
		}
		if (!dir_trusted(dirfd)) {
			*why = "a symbolic link in a directory others can write";
			err = -ELOOP;
			break;
		}
		n = hops < LINKS_MAX ? readlinkat(dirfd, base, link, sizeof(link)) : -1;
		if (n <= 0 || (size_t)n >= sizeof(link)) {
			*why = hops < LINKS_MAX ? "a symbolic link that cannot be read" :
						  "too many symbolic links";
			err = -ELOOP;
			break;
		}
		memcpy(cur, link, (size_t)n);
		cur[n] = '\0';
	}
	if (dirfd >= 0) {
		close(dirfd);
	}
	return err;
}

int fng__safe_opendir(int dirfd, const char *name, struct stat *st, const char **why)
{
	int fd;

	*why = NULL;
	if (!one_component(name)) {
		*why = "not a plain file name";
		return -EINVAL;
	}
	/* O_DIRECTORY refuses anything else without opening it; O_NOFOLLOW refuses a link. */
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int err = -errno;

		*why = (err == -ELOOP || err == -ENOTDIR) &&
			fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0 ? fng__safe_kind(st) :
			"cannot be opened";
		return err;
	}
	if (fstat(fd, st) != 0 || !S_ISDIR(st->st_mode)) {
		close(fd);
		*why = "not a directory";
		return -ENOTDIR;
	}
	return fd;
}
