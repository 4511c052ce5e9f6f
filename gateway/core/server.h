/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_SERVER_H
#define FNG_GATEWAY_SERVER_H

#include <uv.h>

#include "log.h"
#include "mem.h"

struct fng_cluster;
struct fng_ws_cluster;
struct fng_config;
struct fng_dashboard;
struct fng_functions;
struct fng_jwt_loop;
struct fng_limit_store;
struct fng_cquota;
struct fng_metrics;
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

/*
 * A failure that can repeat thousands of times a second (a connection refused for want of a
 * descriptor, an access-log line lost to a full disk) is logged by episode: its first
 * occurrence at once, then one line per FNG_REPORT_MS at most with the count since the line
 * before, and one line when it is over (a success after the last failure, and an interval
 * with no failure). Its owner logs the lines (fng_report_cb) and has the sweep timer call
 * its tick, so that the last count of a burst is not held back.
 */
#define FNG_REPORT_MS 1000

struct fng_server;

struct fng_report {
	uint64_t count;   /* failures not yet logged */
	uint64_t total;   /* failures in this episode (0: none going on) */
	uint64_t next_ms; /* no line before this (uv_hrtime() in ms) */
	int err;          /* the last failure's error (negative errno) */
	bool ok;          /* a success since the last failure */
};

/* Logs r->count failures (over: false), or the end of an episode of r->total (over: true). */
typedef void fng_report_cb(struct fng_server *srv, const struct fng_report *r, bool over);

/* n failures with error err; logs now if a line is due. */
void fng__report_fail(struct fng_server *srv, struct fng_report *r, uint64_t n, int err,
	fng_report_cb *say);
/* A success: the episode may end. */
void fng__report_ok(struct fng_report *r);
/* Logs what is due: a count held back, the end of an episode. */
void fng__report_tick(struct fng_server *srv, struct fng_report *r, fng_report_cb *say);
/* Logs a count held back whatever the time (at exit). */
void fng__report_flush(struct fng_server *srv, struct fng_report *r, fng_report_cb *say);

struct fng_accesslog {
	int fd;                  /* -1: off */
	bool own_fd;
	char *path;              /* for the daemon log's lines: "-" is stdout */
	int retire_fd;           /* previous file, closed once its write completes */
	struct fng_buf pending;  /* lines not yet handed to a write */
	struct fng_buf inflight; /* lines being written by the thread pool */
	uv_work_t work;
	int wfd;                 /* the file the write in flight goes to */
	int werr;                /* its result: 0, or the error that stopped it */
	size_t written;          /* and how many bytes of inflight it wrote (whole lines) */
	bool writing;
	uv_timer_t timer;
	struct fng_report lost;  /* lines dropped: "access log write failed" */
};

/*
 * A listening socket. tcp.c accepts its connections itself (not uv_listen()), to keep a
 * descriptor in reserve for the moment there is none left (transport.h).
 */
struct fng_listener {
	uv_poll_t poll;
	int fd;
	struct fng_server *srv;
	char addr[80];
	bool admin;       /* the admin API's listener */
	struct fng_tls *tls; /* a TLS listener's contexts (transport/tls.c); NULL: plain */
	int (*pre_route)(struct fng_req *req); /* its own routing, for the connections */
};

struct fng_server {
	uv_loop_t *loop;
	struct fng_config *cfg;   /* current snapshot; requests hold their own references */
	const char *config_path;  /* reloaded on SIGHUP; NULL when serving a string config */

	struct fng_listener *listeners;
	unsigned nlisteners;
	/*
	 * Out of descriptors (tcp.c): /dev/null held open, given up for a moment to accept and
	 * refuse a connection when there is no other; the refusals, logged by episode; the timer
	 * that resumes the listeners when even the reserve could not be had.
	 */
	int reserve_fd;
	struct fng_report refused;
	uv_timer_t accept_pause;

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
	/* JWT authorizers: key sets fetched from URLs, the verification cache (auth/jwt.h). */
	struct fng_jwt_loop *jwt;
	/*
	 * Token buckets (core/limit.h): the throttle stage's and the WebSocket message and
	 * connect rates'. Created by their first use (fng__server_limits).
	 */
	struct fng_limit_store *limits;
	/* API keys and quota counters (state/keystate.h), created by the first keyed request. */
	struct fng_keystate *keys;
	/* Limits and quotas across nodes (state/climits.h), created by their first use. */
	struct fng_limit_store *climits;
	struct fng_cquota *cquota;
	/* The TLS listeners' contexts (transport/tls.c); NULL without server.tls. */
	struct fng_tls *tls;
	/* Response caches of the stages and their misses in flight (stages/cache.c). */
	struct fng_cache_loop *caches;
	/* This loop's metrics and recent events (core/metrics.h), created by their first use. */
	struct fng_metrics *metrics;
	unsigned metrics_ticks;   /* sweeps: computed gauges are collected once a second */
	/* The operator dashboard's sessions, feeds and ticker (integration/dashboard.c). */
	struct fng_dashboard *dashboard;
	/* The cluster's Redis client (state/cluster.h); NULL without `cluster:`. */
	struct fng_cluster *cluster;
	/* WebSocket across nodes on it (ws/ws_cluster.h); NULL without `cluster:`. */
	struct fng_ws_cluster *ws_cluster;
};

/* The last connection of a draining server has closed. */
void fng__server_drained(struct fng_server *srv);
/* Calls fng__server_drained() if a drain is on and nothing is left (no connection, no event). */
void fng__server_maybe_drained(struct fng_server *srv);

const char *fng__server_date(struct fng_server *srv);
/* Writes a fresh request id (36 chars + NUL) into buf. */
void fng__server_request_id(struct fng_server *srv, char buf[37]);
/*
 * Appends an access log line (without newline). Lines that cannot be written (a full disk, a
 * disk that does not keep up) are dropped, counted and reported ("access log write failed").
 */
void fng__server_log_line(struct fng_server *srv, const char *line, size_t len);
/*
 * The loop's bucket store (core/limit.h), every rate limit's: created on the first call with
 * budget bytes (the snapshot's server.throttle_memory_bytes), then the same store. NULL
 * without memory (a later call tries again).
 */
struct fng_limit_store *fng__server_limits(struct fng_server *srv, uint64_t budget);
/* Writes whatever the access log has queued, synchronously: at exit, when its file changes. */
void fng__server_alog_sync(struct fng_server *srv);
/* Once per sweep: the access log's report of lost lines; at_exit: the last count, now. */
void fng__server_alog_tick(struct fng_server *srv, bool at_exit);

#endif
