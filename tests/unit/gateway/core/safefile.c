// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/safefile.c: every rule for files taken from directories others can
 * write, one entry of each kind in a temporary directory — a regular file, links (to a file,
 * to a directory, dangling), a FIFO (must not block), a device node (root only), a second
 * hard link, a world-writable file, a file of another owner (root only), a too-large and a
 * sparse file — the subdirectory opener, and the reader of files the configuration names with
 * its rule for links. A refusal must say why and never read the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "harness.h"
#include "safefile.h"

static char dir[] = "/tmp/fngate-unit-safefile-XXXXXX";
static int dfd;

static void put(const char *name, const char *text, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0) {
			/* checked by the reads below */
		}
		fchmod(fd, mode);
		close(fd);
	}
}

static void at(const char *name, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", dir, name);
}

/* Expects name to be refused with a reason containing want. */
static void refused(const char *name, const struct fng_safe_rules *rules, const char *want)
{
	struct fng_buf b = { 0 };
	const char *why = NULL;
	struct stat st;
	int rc = fng__safe_read(dfd, name, rules, &b, &st, &why);

	CHECK(rc < 0 && why && strstr(why, want), "%s is refused: %s (rc %d, why \"%s\")", name,
		want, rc, why ? why : "");
	CHECK_INT(b.len, 0, "%s: nothing was read", name);
	fng__buf_finish(&b);
}

/* Reads path with fng__safe_read_path; returns rc, *why set. */
static int named(const char *name, const char **why)
{
	struct fng_buf b = { 0 };
	char path[256];
	int rc;

	at(name, path, sizeof(path));
	rc = fng__safe_read_path(path, &FNG_SAFE_NAMED(1024), &b, why);
	CHECK(rc == 0 ? b.len > 0 : b.len == 0, "%s: read whole or not at all", name);
	fng__buf_finish(&b);
	return rc;
}

/*
 * fng__safe_read_path: a link in place of the file is followed only in a directory nobody but
 * root and the gateway's user can write (relative and absolute targets, chains), refused in one
 * writable by others, and chains end after 8 links.
 */
static void test_named(bool root)
{
	char path[256], target[256];
	const char *why = NULL;

	put("n.txt", "named\n", 0644);
	CHECK_INT(named("n.txt", &why), 0, "a file the configuration names is read");
	CHECK_INT(named("missing", &why), -ENOENT, "a missing one: -ENOENT");
	CHECK(why && strcmp(why, "no such file") == 0, "... saying no such file");
	CHECK(named("fifo", &why) < 0 && strstr(why, "a FIFO"), "a FIFO is refused");

	at("trusted", path, sizeof(path));
	CHECK_INT(mkdir(path, 0755), 0, "an operator's directory");
	CHECK_INT(symlink("../n.txt", strcat(path, "/rel")), 0, "a relative link in it");
	CHECK_INT(named("trusted/rel", &why), 0, "is followed");
	at("n.txt", target, sizeof(target));
	at("trusted/abs", path, sizeof(path));
	CHECK_INT(symlink(target, path), 0, "an absolute link in it");
	CHECK_INT(named("trusted/abs", &why), 0, "is followed");
	at("trusted/chain", path, sizeof(path));
	CHECK_INT(symlink("rel", path), 0, "a link to a link");
	CHECK_INT(named("trusted/chain", &why), 0, "is followed to the end");
	at("trusted/loop", path, sizeof(path));
	CHECK_INT(symlink("loop", path), 0, "a link to itself");
	CHECK(named("trusted/loop", &why) == -ELOOP && strstr(why, "too many"),
		"ends after 8 links (%s)", why ? why : "");
	at("trusted/tohard", path, sizeof(path));
	CHECK_INT(symlink("../hard.txt", path), 0, "a link to a file with two names");
	CHECK(named("trusted/tohard", &why) < 0 && strstr(why, "another hard link"),
		"the file it reaches still passes every rule");

	at("open", path, sizeof(path));
	CHECK_INT(mkdir(path, 0777), 0, "a directory anyone can write");
	chmod(path, 01777);
	CHECK_INT(symlink(target, strcat(path, "/l")), 0, "a link in it");
	CHECK(named("open/l", &why) == -ELOOP && strstr(why, "others can write"),
		"is refused (%s)", why ? why : "");
	at("group", path, sizeof(path));
	CHECK_INT(mkdir(path, 0775), 0, "a directory its group can write");
	chmod(path, 0775);
	CHECK_INT(symlink(target, strcat(path, "/l")), 0, "a link in it");
	CHECK(named("group/l", &why) == -ELOOP, "is refused");
	if (root) {
		at("theirdir", path, sizeof(path));
		CHECK_INT(mkdir(path, 0755), 0, "a directory of another user");
		CHECK_INT(chown(path, 12345, 12345), 0, "owned by them");
		CHECK_INT(symlink(target, strcat(path, "/l")), 0, "a link in it");
		CHECK(named("theirdir/l", &why) == -ELOOP, "is refused");
	}
}

int main(void)
{
	static const struct fng_safe_rules plain = { 1024, 0 }, owner = { 1024, FNG_SAFE_OWNER };
	char path[256], target[256];
	struct fng_buf b = { 0 };
	const char *why;
	struct stat st;
	int rc, fd;
	bool root = geteuid() == 0;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	put("ok.txt", "hello\n", 0644);
	rc = fng__safe_read(dfd, "ok.txt", &owner, &b, &st, &why);
	CHECK(rc == 0 && b.len == 6 && memcmp(b.p, "hello\n", 6) == 0,
		"a regular file of ours is read (rc %d)", rc);
	CHECK_INT(st.st_size, 6, "its stat comes back");
	fng__buf_finish(&b);

	rc = fng__safe_read(dfd, "missing", &plain, &b, &st, &why);
	CHECK_INT(rc, -ENOENT, "a missing file: -ENOENT");
	rc = fng__safe_read(dfd, "../ok.txt", &plain, &b, &st, &why);
	CHECK(rc == -EINVAL && strstr(why, "plain file name"), "a path is refused");
	CHECK_INT(fng__safe_read(dfd, "..", &plain, &b, &st, &why), -EINVAL, "\"..\" is refused");

	at("ok.txt", target, sizeof(target));
	at("link.txt", path, sizeof(path));
	CHECK_INT(symlink(target, path), 0, "make a link to a file");
	refused("link.txt", &plain, "a symbolic link");
	at("dirlink", path, sizeof(path));
	CHECK_INT(symlink("/etc", path), 0, "make a link to a directory");
	refused("dirlink", &plain, "a symbolic link");
	at("dangling", path, sizeof(path));
	CHECK_INT(symlink("/nonexistent/file", path), 0, "make a dangling link");
	refused("dangling", &plain, "a symbolic link");

	at("fifo", path, sizeof(path));
	CHECK_INT(mkfifo(path, 0644), 0, "make a FIFO");
	refused("fifo", &plain, "a FIFO"); /* returns at once: nothing opened it for reading */

	if (root) {
		at("zero", path, sizeof(path));
		CHECK_INT(mknod(path, S_IFCHR | 0644, makedev(1, 5)), 0, "make a device node");
		refused("zero", &plain, "a character device");
	}
	CHECK_INT(fng__safe_opendir(dfd, "fifo", &st, &why) < 0, 1, "a FIFO is not a directory");

	put("hard.txt", "x", 0644);
	at("hard.txt", target, sizeof(target));
	at("hard2.txt", path, sizeof(path));
	CHECK_INT(link(target, path), 0, "make a second hard link");
	refused("hard.txt", &plain, "another hard link");

	put("open.txt", "x", 0666);
	refused("open.txt", &plain, "writable by everyone");

	put("big.txt", "", 0644);
	at("big.txt", path, sizeof(path));
	CHECK_INT(truncate(path, 4096), 0, "make a file larger than the limit");
	refused("big.txt", &plain, "larger than the configured maximum");
	at("sparse.txt", path, sizeof(path));
	put("sparse.txt", "", 0644);
	CHECK_INT(truncate(path, 1ll << 30), 0, "make a sparse 1 GiB file");
	refused("sparse.txt", &plain, "larger than the configured maximum");

	if (root) {
		put("theirs.txt", "x", 0644);
		at("theirs.txt", path, sizeof(path));
		CHECK_INT(chown(path, 12345, 12345), 0, "give a file to another user");
		refused("theirs.txt", &owner, "neither root nor the directory's owner");
		rc = fng__safe_read(dfd, "theirs.txt", &plain, &b, &st, &why);
		CHECK_INT(rc, 0, "without the owner rule it is read");
		fng__buf_finish(&b);
		/* Their directory: their files are fine. */
		at("theirs", path, sizeof(path));
		mkdir(path, 0755);
		CHECK_INT(chown(path, 12345, 12345), 0, "a directory of theirs");
		fd = fng__safe_opendir(dfd, "theirs", &st, &why);
		CHECK(fd >= 0, "the subdirectory opens");
		at("theirs/f.txt", path, sizeof(path));
		put("theirs/f.txt", "y", 0644);
		CHECK_INT(chown(path, 12345, 12345), 0, "their file in their directory");
		rc = fng__safe_read(fd, "f.txt", &owner, &b, &st, &why);
		CHECK_INT(rc, 0, "a file of the directory's owner passes the owner rule");
		fng__buf_finish(&b);
		close(fd);
	}

	at("sub", path, sizeof(path));
	mkdir(path, 0755);
	fd = fng__safe_opendir(dfd, "sub", &st, &why);
	CHECK(fd >= 0 && S_ISDIR(st.st_mode), "a subdirectory opens");
	if (fd >= 0) {
		close(fd);
	}
	CHECK(fng__safe_opendir(dfd, "dirlink", &st, &why) < 0 && strstr(why, "symbolic link"),
		"a link to a directory is not entered");

	test_named(root);

	close(dfd);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0) {
		printf("# could not remove %s\n", dir);
	}
	return fng_test_done();
}
