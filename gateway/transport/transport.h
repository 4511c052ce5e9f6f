/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_TRANSPORT_H
#define FNG_GATEWAY_TRANSPORT_H

#include "http.h"

/*
 * The transports: byte streams that feed a connection (http.h's fng_conn) and write through
 * its fng_transport_ops. The connection layer names none of them; the daemon accepts TCP
 * connections, tests and fuzzers push bytes through the loopback.
 */

/*
 * The loopback transport: a connection without a socket, for stage tests and the fuzzer
 * (h2o's loopback). Input is pushed with fng__loopback_feed(); output collects in ->output.
 */
struct fng_loopback {
	struct fng_conn conn;
	struct fng_buf output;
	bool fin, closed;
};

struct fng_loopback *fng__loopback_create(struct fng_server *srv);
void fng__loopback_feed(struct fng_loopback *lb, const void *data, size_t len);
/* The peer half-closes (EOF). */
void fng__loopback_eof(struct fng_loopback *lb);
/* Closes if still open and frees lb. */
void fng__loopback_destroy(struct fng_loopback *lb);

/* The plain TCP transport. */
extern const struct fng_transport_ops fng__tcp_transport;
/* Accepts a connection from a listener into a new fng_conn. */
int fng__tcp_accept(struct fng_server *srv, uv_stream_t *listener,
	int (*pre_route)(struct fng_req *req));

#endif
