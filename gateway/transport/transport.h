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

/*
 * The one read buffer per thread the TCP and TLS transports read into (tcp.c): an idle
 * connection holds none. read_done gives it back once read_cb has consumed it.
 */
void fng__transport_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void fng__transport_read_done(const uv_buf_t *buf);

/* The TLS transport (tls.c): wolfSSL through custom I/O over the same TCP stream. */
struct fng_tls;
extern const struct fng_transport_ops fng__tls_transport;
/*
 * The TLS listeners' contexts (one per certificate) from cfg's server.tls, holding a reference
 * to cfg and one of their own for the caller; NULL with err (naming the file and the cause).
 * Reads the certificates and keys: called after the sandbox supervisor has forked, and by a
 * reload on the thread pool.
 */
struct fng_tls *fng__tls_create(struct fng_config *cfg, char *err, size_t errlen);
/* Drops a reference (connections hold their own); NULL is a no-op. */
void fng__tls_unref(struct fng_tls *tls);
/* A connection of a TLS listener (its handle still to be opened), or NULL. */
struct fng_conn *fng__tls_conn_new(struct fng_tls *tls);
/* Frees a connection fng__tls_conn_new made that never started. */
void fng__tls_conn_discard(struct fng_conn *c);

/* The plain TCP transport. */
extern const struct fng_transport_ops fng__tcp_transport;

/*
 * TCP listeners (server.h's fng_listener: a bound socket in l->fd, its poll handle
 * initialised on it). Each connection accepted becomes an fng_conn on this transport.
 *
 * Out of descriptors (EMFILE, ENFILE), a connection is accepted with srv->reserve_fd given up
 * for the moment, answered 503 with a JSON message and closed at once, and counted; the count
 * is logged ("out of descriptors") once per FNG_REPORT_MS at most, and the end of the episode
 * once ("connections accepted again"). If even the reserve cannot be had, the listeners stop
 * for a tenth of a second and try again: the clients wait in the backlog meanwhile.
 */
/* listen(2) with backlog and starts accepting. 0 or a negative errno. */
int fng__tcp_listen(struct fng_listener *l, int backlog);
/* Stops accepting; the socket is closed with the handle. */
void fng__tcp_listener_close(struct fng_listener *l);
/* Once per sweep: the "out of descriptors" report; at_exit: the last count, now. */
void fng__tcp_tick(struct fng_server *srv, bool at_exit);

#endif
