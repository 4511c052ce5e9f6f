/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_HTTP_H
#define FNG_GATEWAY_HTTP_H

#include <llhttp.h>
#include <uv.h>

#include "body.h"
#include "mem.h"
#include "prevalidate.h"
#include "request.h"
#include "server.h"

/*
 * An HTTP/1.1 connection: bytes in from a transport, pre-validated, parsed by llhttp, turned
 * into requests that walk the stage table one at a time (pipelined requests wait their turn,
 * so responses leave in request order), responses out through the same transport.
 *
 * The transport is the seam for TLS and tests: plain TCP (tcp.c) hands decrypted-nothing
 * bytes to fng__conn_on_data(); a TLS transport will hand it decrypted bytes; the fuzzer's
 * memory transport hands it a buffer. Output goes back through ops->flush.
 */

struct fng_conn;
struct fng_ws;
struct fng_ws_push;

struct fng_transport_ops {
	const char *name;
	/* Starts/stops delivering input to fng__conn_on_data() / fng__conn_on_eof(). */
	int (*read_start)(struct fng_conn *c);
	void (*read_stop)(struct fng_conn *c);
	/*
	 * Sends c->out (taking its bytes). Returns 1 if everything left at once, 0 if a write is
	 * in flight (fng__conn_on_flushed(c, status) follows), negative on failure (nothing
	 * follows). One flush is outstanding at a time.
	 */
	int (*flush)(struct fng_conn *c);
	/*
	 * Sends n (at most FNG_WRITEV_MAX) buffers the caller keeps alive until told (WebSocket
	 * frames shared between connections). Returns like flush: 1, 0 (then
	 * fng__conn_on_flushed follows and the buffers may be released), or negative.
	 */
	int (*writev)(struct fng_conn *c, const uv_buf_t *bufs, unsigned n);
	/* Sends FIN after what was flushed; the read side stays open. */
	void (*shutdown)(struct fng_conn *c);
	/*
	 * Closes. When the transport has released everything it calls fng__conn_on_closed(c),
	 * then frees c if it allocated it.
	 */
	void (*close)(struct fng_conn *c);
};

#define FNG_WRITEV_MAX 32

enum fng_conn_state {
	FNG_CONN_HEAD,     /* reading a request head */
	FNG_CONN_BODY,     /* reading its body */
	FNG_CONN_REQUEST,  /* the request is in the stage table; input waits */
	FNG_CONN_WS,       /* upgraded: WebSocket frames both ways (ws_conn.c) */
	FNG_CONN_CLOSING,  /* last response queued: flush, FIN, linger, close */
	FNG_CONN_CLOSED,   /* transport close requested */
};

/*
 * What a connection speaks after a 101: the WebSocket module provides it (ws_conn.c) and
 * the handshake puts it in req->upgrade_ops; once the 101 is out, the connection drives it
 * through these and knows nothing else of it.
 */
struct fng_upgrade_ops {
	/* The 101 is out: take over c (req is the handshake, about to go). 0 or -errno. */
	int (*start)(struct fng_conn *c, struct fng_req *req);
	/* Input (data NULL: what is already in c->in), EOF, the transport's end, a drain. */
	void (*on_data)(struct fng_conn *c, const char *data, size_t len);
	void (*on_eof)(struct fng_conn *c);
	void (*on_closed)(struct fng_conn *c);
	void (*drain)(struct fng_conn *c);
	/* Its own output: any waiting; write some (as transport flush: 1 done, 0 in flight);
	 * the write in flight completed. */
	bool (*queued)(const struct fng_conn *c);
	int (*write)(struct fng_conn *c);
	void (*written)(struct fng_conn *c);
};

struct fng_conn {
	uv_tcp_t tcp; /* the plain TCP transport's handle; other transports leave it unused */
	const struct fng_transport_ops *ops;
	struct fng_server *srv;
	struct fng_list link;  /* srv->conns */
	struct fng_list tlink; /* srv->tq[tq] */
	uint64_t deadline;     /* uv_now() milliseconds */
	struct fng_prevalid pv;
	struct fng_buf in;     /* input not yet consumed: a partial head or pipelined requests */
	struct fng_buf out;    /* output not yet flushed */
	struct fng_req *req;
	struct fng_body_parser *bp; /* the body being read (request arena) */
	struct fng_ws *ws;     /* FNG_CONN_WS: the upgraded protocol's state (its own) */
	struct fng_ws_push *push; /* ... or a gateway-owned push feed's (ws_push.c) */
	const struct fng_upgrade_ops *up; /* FNG_CONN_WS: what drives it */
	/* TLS: the Strict-Transport-Security value of its certificate, or NULL. */
	const char *hsts;
	/* Mutual TLS: the client's certificate (a reference the transport drops), or NULL. */
	struct fng_client_cert *client_cert;
	/*
	 * TLS: false when the connection may not serve host (a request head's, port left out):
	 * 421 Misdirected Request. NULL: any host.
	 */
	bool (*host_ok)(struct fng_conn *c, struct fng_str host);
	/* The listener's own routing (the admin API's), run on each new request; or NULL. */
	int (*pre_route)(struct fng_req *req);
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} peer;
	uint64_t req_start;    /* uv_hrtime() at the first byte of the current request */
	uint8_t state, tq;
	bool in_process : 1;   /* inside process(): completions must not re-enter it */
	bool flushing : 1;
	bool reading : 1;
	bool fin_sent : 1;
	bool close_after : 1;  /* the response being written is the last one */
	bool served : 1;       /* at least one request answered: idle means keep-alive */
	bool upgrading : 1;    /* the response being written is a 101 to WebSocket */
	bool paused : 1;       /* reading stopped on purpose (WebSocket events in flight) */
};

/* Initializes c (memory from the caller), ready for ops->read_start. */
void fng__conn_init(struct fng_conn *c, struct fng_server *srv,
	const struct fng_transport_ops *ops);

/* Starts reading; closes c at once if that fails or the server is draining. */
void fng__conn_start(struct fng_conn *c);

/* Called by the transport. */
void fng__conn_on_data(struct fng_conn *c, const char *data, size_t len);
void fng__conn_on_eof(struct fng_conn *c, int status);
void fng__conn_on_flushed(struct fng_conn *c, int status);
void fng__conn_on_closed(struct fng_conn *c);

/* Sends what c->out holds (WebSocket output). */
void fng__conn_flush(struct fng_conn *c);
/* Ends c gracefully: flush, FIN, linger, close. */
void fng__conn_finish(struct fng_conn *c);
/* Stops (true) or resumes (false) reading c's input. */
void fng__conn_pause(struct fng_conn *c, bool pause);

/* Asks c to close as soon as it is idle (SIGTERM drain); closes now if it is idle. */
void fng__conn_drain(struct fng_conn *c);
/* Closes c now, cancelling a request in flight. */
void fng__conn_abort(struct fng_conn *c);
/* A timeout queue deadline passed. */
void fng__conn_expired(struct fng_conn *c);

#endif
