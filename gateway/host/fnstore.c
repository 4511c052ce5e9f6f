// SPDX-License-Identifier: MIT
/*
 * The private copies of deployed .so files (fnstore.h): this gateway's run directory, the
 * content-addressed copies in it and their reference counts. The deploy scan puts copies from
 * the thread pool; generations take and drop references on the loop thread.
 *
 * Permissions, as root: RUN_DIR is root's, 0711 (traversable, not listable); our directory is
 * root:65534 0710 and copies root:65534 0640, so workers (uid/gid 65534, no supplementary
 * groups) can open a copy by name and nobody else can read one — the copy of a function is
 * the deployer's code and may embed secrets. Not being root, everything is ours, 0700/0600:
 * workers then run in a user namespace and reach the files as our uid.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "fnstore.h"
#include "sandbox.h"

#define COPY_CHUNK 65536
/* Depth of what a stale gateway directory may hold (copies only; a margin for the future). */
#define REMOVE_DEPTH 4

struct copy {
	char hash[FNG_FNSTORE_HASH];
	unsigned refs;
};

struct fng_fnstore {
	int dirfd;                /* our gw-PID-START directory */
	int parentfd;
	char name[64];            /* gw-PID-START */
	char dir[PATH_MAX];
	bool root;
	pthread_mutex_t lock;     /* copies, ncopies, cap */
	struct copy *copies;
	unsigned ncopies, cap;
	atomic_uint tmp_seq;
};

/* Field 22 of /proc/PID/stat: the start time in clock ticks after boot; 0 if unknown. */
static unsigned long long start_time(long pid)
{
	char path[64], buf[1024];
	unsigned long long t = 0;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return 0;
	}
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: count fields after the last ')'. */
	p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++) {
		p = strchr(p + 1, ' ');
	}
	if (p) {
		t = strtoull(p + 1, NULL, 10);
	}
	return t;
}

/* Removes name under dirfd (a file, or a directory and what it holds). Links are not followed. */
static void remove_tree(int dirfd, const char *name, int depth)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if (unlinkat(dirfd, name, 0) == 0 || errno != EISDIR) {
		return;
	}
	if (depth >= REMOVE_DEPTH) {
		unlinkat(dirfd, name, AT_REMOVEDIR);
		return;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			remove_tree(fd, e->d_name, depth + 1);
		}
	}
	closedir(d);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* Removes the gw-PID-START directories of gateways that are no longer running. */
static void sweep(int parentfd)
{
	int fd = dup(parentfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	while ((e = readdir(d)) != NULL) {
		unsigned long long start;
		long pid;
		char *end;

		if (strncmp(e->d_name, "gw-", 3) != 0) {
			continue;
		}
		pid = strtol(e->d_name + 3, &end, 10);
		if (pid <= 0 || *end != '-') {
			continue;
		}
		start = strtoull(end + 1, &end, 10);
		if (*end || (start && start_time(pid) == start)) {
			continue;
		}
		remove_tree(parentfd, e->d_name, 0);
	}
	closedir(d);
}

/* RUN_DIR, made if missing; refused unless it is ours and nobody else may write in it. */
static int open_parent(const char *parent, bool root, const char **why)
{
	struct stat st;
	int fd;

	if (mkdir(parent, root ? 0711 : 0700) != 0 && errno != EEXIST) {
		*why = "cannot create the run directory";
		return -errno;
	}
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*why = errno == ELOOP ? "the run directory is a symbolic link" :
			"cannot open the run directory";
		return -errno;
	}
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		*why = "the run directory belongs to another user or others may write in it";
		return -EPERM;
	}
	/* Workers must be able to pass through it (root) — and nobody list it. */
	if ((st.st_mode & 0777) != (root ? 0711u : 0700u) && fchmod(fd, root ? 0711 : 0700) != 0) {
		close(fd);
		*why = "cannot set the run directory's mode";
		return -errno;
	}
	return fd;
}

int fng__fnstore_create(const char *parent, struct fng_fnstore **out, const char **why)
{
	struct fng_fnstore *s = calloc(1, sizeof(*s));
	char def[PATH_MAX];
	int err;

	*why = NULL;
	if (!s) {
		*why = "out of memory";
		return -ENOMEM;
	}
	s->root = geteuid() == 0;
	s->dirfd = s->parentfd = -1;
	if (!parent) {
		const char *xdg = getenv("XDG_RUNTIME_DIR");

		if (s->root) {
			snprintf(def, sizeof(def), "/run/fngate");
		} else if (xdg && xdg[0] == '/') {
			snprintf(def, sizeof(def), "%s/fngate", xdg);
		} else {
			snprintf(def, sizeof(def), "/tmp/fngate-%u", (unsigned)geteuid());
		}
		parent = def;
	}
	s->parentfd = open_parent(parent, s->root, why);
	if (s->parentfd < 0) {
		err = s->parentfd;
		goto fail;
	}
	sweep(s->parentfd);
	snprintf(s->name, sizeof(s->name), "gw-%ld-%llu", (long)getpid(),
		start_time((long)getpid()));
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s/%s", parent, s->name) >= sizeof(s->dir)) {
		*why = "the run directory's path is too long";
		err = -ENAMETOOLONG;
		goto fail;
	}
	if (mkdirat(s->parentfd, s->name, 0700) != 0) {
		*why = "cannot create the gateway's directory";
		err = -errno;
		goto fail;
	}
	s->dirfd = openat(s->parentfd, s->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->dirfd < 0 || (s->root && (fchown(s->dirfd, 0, FNG_SB_WORKER_GID) != 0 ||
		fchmod(s->dirfd, 0710) != 0))) {
		*why = "cannot prepare the gateway's directory";
		err = -errno;
		goto fail;
	}
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
fail:
	if (s->dirfd >= 0) {
		close(s->dirfd);
		unlinkat(s->parentfd, s->name, AT_REMOVEDIR);
	}
	if (s->parentfd >= 0) {
		close(s->parentfd);
	}
	free(s);
	return err;
}

void fng__fnstore_destroy(struct fng_fnstore *s)
{
	if (!s) {
		return;
	}
	close(s->dirfd);
	remove_tree(s->parentfd, s->name, 0);
	close(s->parentfd);
	pthread_mutex_destroy(&s->lock);
	free(s->copies);
	free(s);
}

const char *fng__fnstore_dir(const struct fng_fnstore *s)
{
	return s->dir;
}

static struct copy *find(struct fng_fnstore *s, const char *hash)
{
	for (unsigned i = 0; i < s->ncopies; i++) {
		if (strcmp(s->copies[i].hash, hash) == 0) {
			return &s->copies[i];
		}
	}
	return NULL;
}

/* Room for one more entry. 0 or -ENOMEM. */
static int grow(struct fng_fnstore *s)
{
	unsigned cap = s->cap ? 2 * s->cap : 16;
	struct copy *c;

	if (s->ncopies < s->cap) {
		return 0;
	}
	c = realloc(s->copies, cap * sizeof(*c));
	if (!c) {
		return -ENOMEM;
	}
	s->copies = c;
	s->cap = cap;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return w < 0 ? -errno : -EIO;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies fd to out, hashing; 0 or -errno (-EFBIG past max_bytes). */
static int copy_hash(int fd, int out, uint64_t max_bytes, char hash[FNG_FNSTORE_HASH])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t buf[COPY_CHUNK], digest[WC_SHA256_DIGEST_SIZE];
	uint64_t total = 0;
	wc_Sha256 sha;
	int err = 0;

	if (wc_InitSha256(&sha) != 0) {
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			err = n < 0 ? -errno : 0;
			break;
		}
		total += (uint64_t)n;
		if (max_bytes && total > max_bytes) {
			err = -EFBIG;
			break;
		}
		if (wc_Sha256Update(&sha, buf, (word32)n) != 0) {
			err = -EIO;
			break;
		}
		err = write_all(out, buf, (size_t)n);
		if (err) {
			break;
		}
	}
	if (!err && wc_Sha256Final(&sha, digest) != 0) {
		err = -EIO;
	}
	wc_Sha256Free(&sha);
	for (size_t i = 0; !err && i < sizeof(digest); i++) {
		hash[2 * i] = hex[digest[i] >> 4];
		hash[2 * i + 1] = hex[digest[i] & 15];
	}
	hash[err ? 0 : 2 * sizeof(digest)] = '\0';
	return err;
}

int fng__fnstore_put(struct fng_fnstore *s, int fd, uint64_t max_bytes,
	char hash[FNG_FNSTORE_HASH], char *path, size_t pathlen)
{
	char tmp[32], final[FNG_FNSTORE_HASH + 4];
	struct copy *c;
	int out, err;

	snprintf(tmp, sizeof(tmp), ".tmp-%u", atomic_fetch_add(&s->tmp_seq, 1));
	out = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		return -errno;
	}
	err = copy_hash(fd, out, max_bytes, hash);
	if (!err && (s->root ? fchown(out, 0, FNG_SB_WORKER_GID) != 0 || fchmod(out, 0640) != 0
			     : fchmod(out, 0600) != 0)) {
		err = -errno;
	}
	if (close(out) != 0 && !err) {
		err = -EIO;
	}
	if (!err && (size_t)snprintf(path, pathlen, "%s/%s.so", s->dir, hash) >= pathlen) {
		err = -ENAMETOOLONG;
	}
	if (err) {
		unlinkat(s->dirfd, tmp, 0);
		return err;
	}
	snprintf(final, sizeof(final), "%s.so", hash);
	pthread_mutex_lock(&s->lock);
	c = find(s, hash);
	if (c) {
		/* The same content is there already (and in use): keep that file. */
		c->refs++;
	} else if (grow(s) != 0) {
		err = -ENOMEM;
	} else if (renameat(s->dirfd, tmp, s->dirfd, final) != 0) {
		/* Nobody uses a file of that name without an entry: replacing one is safe. */
		err = -errno;
	} else {
		c = &s->copies[s->ncopies++];
		snprintf(c->hash, sizeof(c->hash), "%s", hash);
		c->refs = 1;
		tmp[0] = '\0';
	}
	pthread_mutex_unlock(&s->lock);
	if (tmp[0]) {
		unlinkat(s->dirfd, tmp, 0);
	}
	return err;
}

bool fng__fnstore_hold(struct fng_fnstore *s, const char *hash)
{
	struct copy *c;

	pthread_mutex_lock(&s->lock);
	c = find(s, hash);
	if (c) {
		c->refs++;
	}
	pthread_mutex_unlock(&s->lock);
	return c != NULL;
}

void fng__fnstore_ref(struct fng_fnstore *s, const char *hash)
{
	fng__fnstore_hold(s, hash);
}

void fng__fnstore_unref(struct fng_fnstore *s, const char *hash)
{
	char final[FNG_FNSTORE_HASH + 4];
	struct copy *c;

	pthread_mutex_lock(&s->lock);
	c = find(s, hash);
	if (c && --c->refs == 0) {
		snprintf(final, sizeof(final), "%s.so", c->hash);
		unlinkat(s->dirfd, final, 0);
		*c = s->copies[--s->ncopies];
	}
	pthread_mutex_unlock(&s->lock);
}

unsigned fng__fnstore_count(struct fng_fnstore *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->ncopies;
	pthread_mutex_unlock(&s->lock);
	return n;
}
