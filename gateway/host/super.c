// SPDX-License-Identifier: MIT
/*
 * The supervisor client: the gateway's end of the control socket. SPAWN and VERIFY requests
 * wait in a send queue while the socket is full (a burst of deploys); SPAWNED (with the worker's
 * socket and output pipe), EXIT and VERIFIED reports are read here and handed to the pool
 * (host/pool.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "server.h"

/* A request to the supervisor waiting in sendq. */
struct ctl_msg {
	struct fng_list link;
	uint32_t type;           /* FNG_SB_SPAWN or FNG_SB_VERIFY */
	union fng_sb_request m;
};

static void ctl_poll_update(struct fng_functions *fns)
{
	bool want = !fng__list_empty(&fns->sendq);

	if (want != fns->want_write && !fns->closing) {
		fns->want_write = want;
		uv_poll_start(&fns->ctl_poll, UV_READABLE | (want ? UV_WRITABLE : 0),
			fng__host_ctl_cb);
	}
}

/*
 * Sends queued requests while the control socket takes them. A burst (many .so files dropped
 * at once) waits here for the supervisor instead of failing.
 */
static void ctl_flush(struct fng_functions *fns)
{
	while (!fng__list_empty(&fns->sendq)) {
		struct ctl_msg *m = fng__container_of(fns->sendq.next, struct ctl_msg, link);
		int err = m->type == FNG_SB_SPAWN ? fng__sb_send_spawn(fns->ctl, &m->m.spawn) :
			fng__sb_send_verify(fns->ctl, m->m.verify.pid);

		if (err == -EAGAIN || err == -EWOULDBLOCK) {
			break;
		}
		fng__list_remove(&m->link);
		if (err && m->type == FNG_SB_SPAWN) {
			fng__host_spawn_failed(fns, m->m.spawn.id, err);
		} else if (err) {
			fng__host_verify_failed(fns, m->m.verify.pid, err);
		}
		free(m);
	}
	ctl_poll_update(fns);
}

/*
 * Queues a request to the supervisor (msg: a struct fng_sb_spawn or fng_sb_verify) and sends
 * what the socket takes. 0 or -ENOMEM.
 */
int fng__host_ctl_send(struct fng_functions *fns, uint32_t type, const void *msg)
{
	struct ctl_msg *m = calloc(1, sizeof(*m));

	if (!m) {
		return -ENOMEM;
	}
	m->type = type;
	if (type == FNG_SB_SPAWN) {
		memcpy(&m->m.spawn, msg, sizeof(m->m.spawn));
	} else {
		memcpy(&m->m.verify, msg, sizeof(m->m.verify));
	}
	fng__list_append(&fns->sendq, &m->link);
	ctl_flush(fns);
	return 0;
}

void fng__host_ctl_cb(uv_poll_t *p, int status, int events)
{
	struct fng_functions *fns = p->data;

	if (events & UV_WRITABLE) {
		ctl_flush(fns);
	}
	if (!(events & UV_READABLE) && status == 0) {
		return;
	}
	union fng_sb_reply m;

	for (int n = 0; n < 64; n++) {
		int fd = -1, outfd = -1;
		int type = fng__sb_recv(fns->ctl, &m, sizeof(m), &fd, &outfd);

		if (type == -EAGAIN || type == -EWOULDBLOCK) {
			return;
		}
		if (type <= 0) {
			fng__log("error", "supervisor is gone: functions cannot run", "error",
				type ? uv_strerror(type) : "EOF", NULL);
			uv_poll_stop(p);
			return;
		}
		if (type == FNG_SB_SPAWNED) {
			fng__host_on_spawned(fns, &m.spawned, fd, outfd);
		} else if (type == FNG_SB_EXIT) {
			fng__host_on_exit_report(fns, &m.exit);
		} else if (type == FNG_SB_VERIFIED) {
			fng__host_on_verified(fns, &m.verified);
		}
	}
}

/* Drops the requests the socket had no room for (the host is closing). */
void fng__host_ctl_drop(struct fng_functions *fns)
{
	while (!fng__list_empty(&fns->sendq)) {
		struct ctl_msg *m = fng__container_of(fns->sendq.next, struct ctl_msg, link);

		fng__list_remove(&m->link);
		free(m);
	}
}
