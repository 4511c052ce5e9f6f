/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_SERVER_H
#define FNG_GATEWAY_SERVER_H

#include <uv.h>

#include "log.h"
#include "mem.h"

struct fng_config;
struct fng_functions;
struct fng_sched_slot;
struct fng_req;
struct fng_topics;

/*
 * One loop's state, passed explicitly to whatever runs on that loop (libuv's loop, h2o's
 * context): listeners, the connection set and its timeout queues, the current config
 * snapshot, signals (HUP reload, TERM drain), the access log writer, the function host and
 * the WebSocket timers. One fng_server per loop thread; listeners are SO_REUSEPORT sockets so
 * N loops can share a port later without changing this interface. The daemon (daemon.h)
 * sets it up and runs it; the functions below are what the layers above use of it.
 */

enum fng_tq {
	FNG_TQ_NONE,
	FNG_TQ_HEADER,    /* reading a request head (also: connected, no byte yet) */
	FNG_TQ_BODY,      /* reading a request body */
	FNG_TQ_IDLE,      /* keep-alive, between requests */
	FNG_TQ_SEND,      /* waiting for the client to take our output */
	FNG_TQ_LINGER,    /* closing: draining the client's input after our last response */
	FNG_TQ__COUNT
};

struct fng_accesslog {
	int fd;                  /* -1: off */
	bool own_fd;
	int retire_fd;           /* previous file, closed once its write completes */
	struct fng_buf pending;  /* lines not yet handed to a write */
	struct fng_buf inflight; /* lines being written by the thread pool */
	uv_fs_t req;
	bool writing;
	uv_timer_t timer;
};

struct fng_listener {
	uv_tcp_t tcp;
	struct fng_server *srv;
	char addr[80];
	bool admin;       /* the admin API's listener */
	int (*pre_route)(struct fng_req *req); /* its own routing, for the connections */
};

struct fng_server {
	uv_loop_t *loop;
	struct fng_config *cfg;   /* current snapshot; requests hold their own references */
	const char *config_path;  /* reloaded on SIGHUP; NULL when serving a string config */

	struct fng_listener *listeners;
	unsigned nlisteners;

	struct fng_list conns;
	unsigned nconns;
	unsigned nevents;         /* WebSocket event requests in flight (a drain waits for them) */
	struct fng_list tq[FNG_TQ__COUNT];
	uv_timer_t sweep;         /* expires timeout queues; reports function log drops */

	uv_signal_t sig_hup, sig_term, sig_int;
	bool reloading, reload_again, draining;
	uv_timer_t drain_timer;

	struct fng_accesslog alog;
	struct fng_functions *fns; /* the function host; NULL without a supervisor */

	char date[32];            /* IMF-fixdate, refreshed once a second */
	uint64_t date_sec;
	uint64_t rid_state[2];    /* request id generator */

	uint64_t requests;

	uv_timer_t sched_timer;   /* scheduled invocations (schedule.c) */
	/*
	 * WebSocket connections with frames queued and not yet written: written at the end of
	 * the loop iteration (ws_flush), or after a short wait (ws_flush_timer) while the flushes
	 * are fan-outs, so that bursts of publications share writes. ws_fanout: connections the
	 * last flush wrote.
	 */
	struct fng_list ws_dirty;
	uv_check_t ws_flush;
	uv_timer_t ws_flush_timer;
	unsigned ws_fanout;
	/* WebSocket deadlines (idle, ping, pong, duration, close wait): one timer for all. */
	struct fng_heap ws_deadlines;
	uv_timer_t ws_timer;
	struct fng_sched_slot *sched;
	unsigned nsched;
	/* This loop's WebSocket connections by id (ws_conn.c) and its topics (topic.c). */
	struct fng_hmap ws_conns;
	struct fng_topics *topics;
};

/* The last connection of a draining server has closed. */
void fng__server_drained(struct fng_server *srv);
/* Calls fng__server_drained() if a drain is on and nothing is left (no connection, no event). */
void fng__server_maybe_drained(struct fng_server *srv);

const char *fng__server_date(struct fng_server *srv);
/* Writes a fresh request id (36 chars + NUL) into buf. */
void fng__server_request_id(struct fng_server *srv, char buf[37]);
/* Appends an access log line (without newline). */
void fng__server_log_line(struct fng_server *srv, const char *line, size_t len);
/* Writes whatever the access log has queued, synchronously: at exit, when its file changes. */
void fng__server_alog_sync(struct fng_accesslog *l);

#endif
