/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_LOG_H
#define FNG_GATEWAY_LOG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Daemon log: one JSON object per line on stderr. kv is a NULL-terminated key/value list.
 * Thread-safe and never blocks: the line is queued and written by a thread of the log's own;
 * what a stalled stderr cannot take is dropped, counted and reported (server.c, "daemon log").
 */
void fng__log(const char *level, const char *msg, ...) __attribute__((sentinel));
/* The same with a message of len bytes that need not be NUL-terminated (function output). */
void fng__log_text(const char *level, const char *msg, size_t len, ...)
	__attribute__((sentinel));
/*
 * Waits until every queued line is written, or timeout_ms; false if some were not. Runs by
 * itself at exit (with a 2 s bound); tests call it to read what was logged.
 */
bool fng__log_flush(unsigned timeout_ms);

#endif
