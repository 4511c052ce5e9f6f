/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CORE_NOTIFY_H
#define FNG_GATEWAY_CORE_NOTIFY_H

/*
 * The service manager's readiness protocol (systemd's sd_notify(3)) without libsystemd: when
 * the daemon was started with NOTIFY_SOCKET set (a socket path, or '@' and an abstract name),
 * each call sends one datagram of "KEY=VALUE" lines to it; without it, calls do nothing. The
 * socket is non-blocking: a manager that does not read never stalls the loop, and a failed
 * send is logged once and otherwise ignored. Process-wide, like the log: one daemon, one
 * manager. What the daemon sends and when is in daemon/daemon.c (docs/config.md, "Running
 * under systemd").
 */

#include <stdbool.h>

/*
 * Sends the state lines fmt makes (printf-style, "READY=1\nSTATUS=..."), at most 1024 bytes.
 * The first call reads NOTIFY_SOCKET and removes it from the environment, so that no process
 * the daemon starts later (a replacement sandbox supervisor) speaks for it. true: sent (or
 * attempted); false: no manager to tell.
 */
bool fng__notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "MONOTONIC_USEC=" wants CLOCK_MONOTONIC in microseconds, the clock of a reload's start. */
unsigned long long fng__notify_monotonic_usec(void);

#endif
