/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_DASHBOARD_H
#define FNG_GATEWAY_DASHBOARD_H

/*
 * The operator dashboard (dashboard.c): a page on the admin listener, its assets and a live
 * feed over a WebSocket, behind the admin token through a session cookie (dashboard_auth.c).
 * docs/config.md, "Operator dashboard".
 */

#include <stdbool.h>
#include <stdint.h>

#include "admin.h"
#include "mem.h"
#include "metrics.h" /* the feed: fng__metrics_render(), fng__metrics_recent_json() */

struct fng_server;

/* /@dashboard on the admin API: registered by the daemon; it checks its callers itself. */
extern const struct fng_admin_ext fng__dashboard_admin;

/*
 * The page's files (gateway/integration/dashboard/), embedded at build time by
 * embed_assets.py into a generated dashboard_assets.c: name ("app.js"), content type, bytes.
 */
struct fng_dash_asset {
	const char *name;
	const char *type;
	const unsigned char *data;
	size_t len;
};
extern const struct fng_dash_asset fng__dash_assets[];
extern const unsigned fng__dash_nassets;

/* At exit: stops the feed's timer; the loop's dashboard state is freed by its close. */
void fng__dashboard_close(struct fng_server *srv);

/* ---- dashboard_auth.c: the checks, without I/O (unit-tested) ---- */

/* The session cookie's name, and how long a session lives (seconds from its login). */
#define FNG_DASH_COOKIE "fngate_dashboard"
#define FNG_DASH_SESSION_S 43200
/* Sessions a loop keeps at most: a new login past it ends the oldest. */
#define FNG_DASH_SESSIONS 16
/* A session id: 32 random bytes in base64url, no padding. */
#define FNG_DASH_SID_LEN 43

struct fng_dash_session {
	char id[FNG_DASH_SID_LEN + 1];  /* "" : a free slot */
	uint8_t token_hash[32];         /* SHA-256 of the admin token it was opened with */
	uint64_t expires;               /* uv_now() ms */
};

struct fng_dash_sessions {
	struct fng_dash_session s[FNG_DASH_SESSIONS];
};

/*
 * The value of cookie name in a Cookie header's value (RFC 6265 section 5.4: "a=b; c=d"),
 * the first one of that name. false if there is none.
 */
bool fng__cookie_value(struct fng_str header, const char *name, struct fng_str *out);

/*
 * Whether a browser's Origin header names the origin the request was sent to: scheme (http,
 * or https when tls) and the Host header's authority, compared case-insensitively. "null"
 * and anything else is false.
 */
bool fng__origin_same(struct fng_str origin, struct fng_str host, bool tls);

/*
 * Opens a session bound to token (a later token, after a reload, does not open it), valid
 * until now + FNG_DASH_SESSION_S; its id goes to out. The oldest session gives its slot up
 * when all are taken. 0, or -EIO when no randomness could be had.
 */
int fng__dash_session_open(struct fng_dash_sessions *ss, const char *token, uint64_t now,
	char out[FNG_DASH_SID_LEN + 1]);
/*
 * Whether id names an open session bound to token at now: every slot is compared, in time
 * that does not depend on where a guess differs. Expired sessions are freed on the way.
 */
bool fng__dash_session_ok(struct fng_dash_sessions *ss, struct fng_str id, const char *token,
	uint64_t now);
/* SHA-256 of the admin token: what a session or a feed remembers of it. */
void fng__dash_token_hash(const char *token, uint8_t out[32]);
/* Ends the session id names, if any. */
void fng__dash_session_end(struct fng_dash_sessions *ss, struct fng_str id);

#endif
