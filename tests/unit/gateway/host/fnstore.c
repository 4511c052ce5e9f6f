// SPDX-License-Identifier: MIT
/*
 * Unit tests for gateway/fnstore.c: the private copies of deployed .so files — the run
 * directory's modes, one copy per distinct content named by its SHA-256, references (the
 * last one removes the copy), the size cap while copying, and the sweep of directories left
 * by gateways that are gone (a live process's is kept).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fnstore.h"
#include "harness.h"
#include "sandbox.h"

static char parent[] = "/tmp/fngate-unit-fnstore-XXXXXX";

/* A descriptor reading text (a memfd standing in for a checked .so). */
static int source(const char *text, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/src", parent);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && (write(fd, text, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0)) {
		close(fd);
		fd = -1;
	}
	unlink(path);
	return fd;
}

static int put(struct fng_fnstore *s, const char *text, uint64_t max, char *hash, char *path)
{
	int fd = source(text, strlen(text)), rc;

	rc = fng__fnstore_put(s, fd, max, hash, path, 512);
	close(fd);
	return rc;
}

int main(void)
{
	char run[300], hash[FNG_FNSTORE_HASH], hash2[FNG_FNSTORE_HASH], p1[512], p2[512];
	char stale[400], live[400];
	struct fng_fnstore *s = NULL;
	const char *why;
	struct stat st;
	bool root = geteuid() == 0;

	if (!mkdtemp(parent)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(run, sizeof(run), "%s/run", parent);
	/* What a killed gateway left, and the directory of a process that is alive (us). */
	mkdir(run, 0711);
	snprintf(stale, sizeof(stale), "%s/gw-999999999-12345", run);
	mkdir(stale, 0700);
	/* pid 1 with its real start time: a live gateway as far as the sweep can tell. */
	{
		char buf[1024] = "", *p;
		int fd = open("/proc/1/stat", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0) {
			close(fd);
		}
		buf[n > 0 ? n : 0] = '\0';
		p = strrchr(buf, ')');
		for (int f = 2; p && f < 22; f++) {
			p = strchr(p + 1, ' ');
		}
		snprintf(live, sizeof(live), "%s/gw-1-%llu", run, p ? strtoull(p + 1, NULL, 10) : 0);
		mkdir(live, 0700);
	}
	CHECK_INT(fng__fnstore_create(run, &s, &why), 0, "create the store");
	CHECK(access(stale, F_OK) != 0, "a dead gateway's directory is removed");
	CHECK(access(live, F_OK) == 0, "a live process's directory is kept");
	CHECK(stat(run, &st) == 0 && (st.st_mode & 0777) == (root ? 0711u : 0700u),
		"RUN_DIR mode %o", st.st_mode & 0777);
	CHECK(stat(fng__fnstore_dir(s), &st) == 0 && (st.st_mode & 0777) == (root ? 0710u : 0700u),
		"the gateway's directory mode %o", st.st_mode & 0777);
	if (root) {
		CHECK_INT(st.st_gid, FNG_SB_WORKER_GID, "its group is the workers'");
	}

	CHECK_INT(put(s, "hello", 0, hash, p1), 0, "put a copy");
	CHECK_STR(hash, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
		"named by its SHA-256");
	CHECK(strstr(p1, hash) && stat(p1, &st) == 0 && (st.st_mode & 0777) ==
		(root ? 0640u : 0600u), "the copy exists, mode %o", st.st_mode & 0777);
	CHECK_INT(put(s, "hello", 0, hash2, p2), 0, "put the same content again");
	CHECK(strcmp(p1, p2) == 0 && fng__fnstore_count(s) == 1, "one copy per content");
	CHECK_INT(put(s, "world", 0, hash2, p2), 0, "put other content");
	CHECK_INT(fng__fnstore_count(s), 2, "two contents, two copies");

	fng__fnstore_unref(s, hash);
	CHECK(access(p1, F_OK) == 0, "one of two references dropped: the copy stays");
	CHECK(fng__fnstore_hold(s, hash), "hold takes a reference while it exists");
	fng__fnstore_unref(s, hash);
	fng__fnstore_unref(s, hash);
	CHECK(access(p1, F_OK) != 0, "the last reference removes the copy");
	CHECK(!fng__fnstore_hold(s, hash), "hold fails once it is gone");

	CHECK_INT(put(s, "0123456789", 4, hash, p1), -EFBIG, "a source over the cap is refused");
	CHECK_INT(fng__fnstore_count(s), 1, "and leaves nothing");

	fng__fnstore_destroy(s);
	CHECK(access(p2, F_OK) != 0, "destroy removes the directory and its copies");

	/* RUN_DIR must be ours and closed to others. */
	chmod(run, 0777);
	CHECK(fng__fnstore_create(run, &s, &why) == -EPERM && why,
		"a RUN_DIR others may write in is refused (%s)", why ? why : "");
	chmod(run, 0711);
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", parent);
		if (system(cmd) != 0) {
			printf("# could not remove %s\n", parent);
		}
	}
	return fng_test_done();
}
