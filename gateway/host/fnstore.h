/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_FNSTORE_H
#define FNG_GATEWAY_FNSTORE_H

/*
 * The private copies of deployed .so files. Workers never load a file from the functions
 * directory (its writer could change it under them): the deploy scan copies each version into
 * this gateway's run directory, named by the SHA-256 of its content, and workers load the
 * copy. One copy per distinct content, shared by every generation (and function) with that
 * content, removed when the last one lets go. Only the gateway can write there; workers (uid
 * and gid 65534) may read, nobody else may.
 *
 * Layout: RUN_DIR (functions.run_dir; /run/fngate as root) holds one directory per gateway,
 * "gw-PID-START" (START: the process's start time, so a reused pid is not mistaken for a
 * live gateway); a gateway removes its own at exit and, at start, those of gateways that are
 * no longer running (killed with SIGKILL). Inside: "<sha256>.so".
 *
 * fng__fnstore_put runs on the thread pool (the scan) while ref/unref run on the loop thread;
 * the store's table is under a mutex.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fng_fnstore;

#define FNG_FNSTORE_HASH 65 /* 64 hex digits and a NUL */

/*
 * Makes this gateway's directory under parent (NULL: the default for this user), creating
 * parent if needed (it must then be ours and writable by nobody else), and removes the
 * directories of gateways that are gone. 0 or -errno; *why names the problem.
 */
int fng__fnstore_create(const char *parent, struct fng_fnstore **out, const char **why);

/* Removes the directory and everything in it, and frees the store. NULL is a no-op. */
void fng__fnstore_destroy(struct fng_fnstore *s);

/* The directory copies are made in (for logs and tests). */
const char *fng__fnstore_dir(const struct fng_fnstore *s);

/*
 * Copies everything readable from fd (at most max_bytes; more is -EFBIG) into the store,
 * hashing it on the way. On success hash holds the content's SHA-256 in hex, path the copy's
 * absolute path, and the caller holds one reference to the copy (fng__fnstore_unref). An
 * identical copy already there is reused, not written again. Thread pool. 0 or -errno.
 */
int fng__fnstore_put(struct fng_fnstore *s, int fd, uint64_t max_bytes,
	char hash[FNG_FNSTORE_HASH], char *path, size_t pathlen);

/* Takes another reference to the copy of hash (one that is held already). */
void fng__fnstore_ref(struct fng_fnstore *s, const char *hash);

/*
 * Takes a reference to the copy of hash if the store still has it (the thread pool, when a
 * scan reuses a deployed version's copy). True if it did.
 */
bool fng__fnstore_hold(struct fng_fnstore *s, const char *hash);

/* Drops a reference; the last one removes the copy. */
void fng__fnstore_unref(struct fng_fnstore *s, const char *hash);

/* Copies present (for tests and logs). */
unsigned fng__fnstore_count(struct fng_fnstore *s);

#endif
