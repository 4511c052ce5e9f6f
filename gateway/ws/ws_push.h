/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_WS_PUSH_H
#define FNG_GATEWAY_WS_PUSH_H

/*
 * A push-only WebSocket connection owned by the gateway itself (the operator dashboard's live
 * feed): no API, no function, no event requests. The owner sends whole frames; the client's
 * pings are answered, its close is answered, and any data frame it sends ends the connection
 * (1003: the feed takes no messages). One data frame is queued or being written at a time:
 * a send while the previous one has not drained is refused (-EBUSY) and the owner skips that
 * tick, so a slow client costs at most one frame. A client that stops reading is ended by the
 * connection layer's send timeout.
 */

#include "http.h"
#include "topic.h"

struct fng_ws_push;

struct fng_ws_push_ops {
	/*
	 * The 101 is out and p speaks WebSocket: the owner keeps p (data: the pointer given to
	 * fng__ws_push_accept). A negative return refuses it (the connection is closed).
	 */
	int (*opened)(struct fng_ws_push *p, void *data);
	/* The transport is gone: p is freed when this returns, and must not be used after. */
	void (*closed)(struct fng_ws_push *p);
};

/*
 * Checks req as an opening handshake (fng__ws_handshake_check) and, if it is one, makes its
 * 101 hand the connection to a push connection with these ops (data for opened()). 0, or an
 * error for the edge (req->error_detail says why).
 */
int fng__ws_push_accept(struct fng_req *req, const struct fng_ws_push_ops *ops, void *data);

/* The owner's pointer, given back by opened(); set it there. */
void fng__ws_push_set_owner(struct fng_ws_push *p, void *owner);
void *fng__ws_push_owner(const struct fng_ws_push *p);

/*
 * Queues a reference to data frame m (fng__wsmsg_create: the frame may be shared by many
 * connections) and starts writing it. -EBUSY while the previous data frame is queued or
 * being written (nothing taken), -ENOTCONN once closing.
 */
int fng__ws_push_send(struct fng_ws_push *p, struct fng_wsmsg *m);

/* Starts the closing handshake with code and reason (the client has 5 s to answer). */
void fng__ws_push_close(struct fng_ws_push *p, int code, const char *reason);

/*
 * Keep-alive, from the owner's timer (now: uv_now() ms): a ping after 30 s without input, the
 * end of a client that answers neither it nor a close within their time.
 */
void fng__ws_push_keepalive(struct fng_ws_push *p, uint64_t now);

#endif
