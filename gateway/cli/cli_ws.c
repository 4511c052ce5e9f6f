// SPDX-License-Identifier: MIT
/*
 * `fngate ws URL`: an interactive WebSocket client, to try a WebSocket API by hand or from a
 * script. It is a peer of the gateway, not part of it: libwebsockets' client side does the
 * protocol, so it shares no framing code with ws.c. Lines of stdin go out as text messages,
 * messages received go to stdout. libwebsockets' header clashes with wolfSSL's and llhttp's,
 * so this file includes nothing of fngate's but cli.h and mem.h (libc only), and meson builds
 * it only when libwebsockets is found (main.c answers `fngate ws` itself otherwise).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "chars.h"
#include "cli.h"
#include "mem.h"

#define MAX_MESSAGE (16u << 20) /* the largest message received, or line of input sent */
#define MAX_QUEUED (32u << 20)  /* stdin is not read while this much waits to be sent */
#define FRAGMENT (64u << 10)    /* a message goes out in frames of at most this */
#define HEX_BYTES 64            /* of a binary message, this many are printed */
#define TICK_US (20 * LWS_US_PER_MS)
#define CLOSE_WAIT_US (2 * LWS_USEC_PER_SEC)

static const char usage_text[] =
	"usage: fngate ws [-q] [-H 'NAME: VALUE']... [-p PROTO[,PROTO]...] [-s TEXT]...\n"
	"                 [-n N] [-t MS] [-c CAFILE] ws[s]://HOST[:PORT]/PATH[?QUERY]\n"
	"\n"
	"Each line of stdin is sent as a text message; each message received is printed\n"
	"(`< TEXT`, binary as `< [binary N bytes] HEX`). End of input closes (1000).\n"
	"\n"
	"  -H 'NAME: VALUE'  add a header to the handshake (repeatable)\n"
	"  -p PROTO,...      offer these subprotocols (Sec-WebSocket-Protocol)\n"
	"  -s TEXT           send TEXT once connected (repeatable, in order)\n"
	"  -n N              close and exit 0 after receiving N messages\n"
	"                    (end of input then waits for them instead of closing)\n"
	"  -t MS             exit 1 if not done after MS milliseconds\n"
	"  -c CAFILE         wss://: trust the certificates of this PEM file (else the\n"
	"                    system's)\n"
	"  -q                print only the messages received\n";

/* A message waiting to go out, sent FRAGMENT bytes per writeable callback. */
struct out {
	struct fng_list link; /* in client.queue */
	size_t len, sent;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then the payload */
};

/* An -H header: NAME and VALUE point into argv. */
struct header {
	const char *name, *value;
	size_t name_len;
};

/* The parts of a ws:// URL lws wants, each NUL-terminated, all in one allocation. */
struct url {
	char *host;      /* to connect to; an IPv6 literal without its brackets */
	char *authority; /* for Host: as written in the URL */
	char *path;      /* "/" at least, with the query */
	int port;
	bool tls;        /* wss:// */
};

struct client {
	/* options */
	const char *url_text, *protocols, *host, *origin, *cafile;
	struct header *headers;
	size_t n_headers;
	long count, timeout_ms;
	bool quiet;

	struct lws_context *ctx;
	struct lws *wsi;
	char protocol[128]; /* the one the server chose, or "" */
	struct fng_list queue; /* of struct out, oldest first */
	size_t queued;         /* payload bytes in the queue */
	struct fng_buf in;     /* the message being received */
	struct fng_buf line;   /* the line of input being read */
	bool in_binary;
	long received;
	bool established, stdin_eof, want_close, close_sent, done;
	int status; /* the exit status once known, -1 before */
	lws_sorted_usec_list_t tick, deadline, close_wait;
};

/* ---- input: URL and options ---- */

static bool is_host_char(char ch)
{
	return fng__is_alnum((unsigned char)ch) || ch == '-' || ch == '.' || ch == '_';
}

/*
 * Splits `ws[s]://HOST[:PORT][/PATH][?QUERY]` into u (u->host owns the memory). On error *why
 * says what is wrong and the return is -EINVAL.
 */
static int parse_url(const char *s, struct url *u, const char **why)
{
	const char *auth, *host, *host_end, *port = NULL, *path;
	size_t len = strlen(s), host_len, auth_len;
	long p = 80;

	if (!strncasecmp(s, "wss://", 6)) {
		u->tls = true;
		p = 443;
		s++; /* the rest is parsed as after ws:// */
	} else if (strncasecmp(s, "ws://", 5)) {
		*why = "it must start with ws:// or wss://";
		return -EINVAL;
	}
	auth = s + 5;
	path = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(path - auth))) {
		*why = "user info (USER@) is not supported";
		return -EINVAL;
	}
	host = auth;
	if (*host == '[') {
		const char *bracket = memchr(host, ']', (size_t)(path - host));
		size_t n = bracket ? (size_t)(bracket - host - 1) : 0;

		if (!n || strspn(host + 1, "0123456789abcdefABCDEF:.") != n) {
			*why = "bad IPv6 address";
			return -EINVAL;
		}
		host_end = bracket;
		host++;
		if (host_end + 1 < path) {
			port = host_end + 1;
		}
	} else {
		host_end = host;
		while (host_end < path && is_host_char(*host_end)) {
			host_end++;
		}
		if (host_end == host) {
			*why = "no host";
			return -EINVAL;
		}
		if (host_end < path) {
			port = host_end;
		}
	}
	if (port) {
		char *end;

		if (*port != ':' || port + 1 == path || port[1] < '0' || port[1] > '9') {
			*why = "bad host or port";
			return -EINVAL;
		}
		errno = 0;
		p = strtol(port + 1, &end, 10);
		if (end != path || errno || p < 1 || p > 65535) {
			*why = end != path ? "bad port" : "the port must be 1 to 65535";
			return -EINVAL;
		}
	}
	for (const char *c = path; *c; c++) {
		if (*c == '#') {
			*why = "a WebSocket URL has no #fragment";
			return -EINVAL;
		}
		if (!fng__is_vchar((unsigned char)*c)) {
			*why = "spaces, control characters and non-ASCII bytes must be %-encoded";
			return -EINVAL;
		}
	}

	host_len = (size_t)(host_end - host);
	auth_len = (size_t)(path - auth);
	u->host = malloc(host_len + auth_len + (len - (size_t)(path - s)) + 5);
	if (!u->host) {
		*why = strerror(ENOMEM);
		return -ENOMEM;
	}
	memcpy(u->host, host, host_len);
	u->host[host_len] = '\0';
	u->authority = u->host + host_len + 1;
	memcpy(u->authority, auth, auth_len);
	u->authority[auth_len] = '\0';
	u->path = u->authority + auth_len + 1;
	sprintf(u->path, "%s%s", *path == '/' ? "" : "/", path);
	u->port = (int)p;
	return 0;
}

static int parse_count(const char *opt, const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || *out < 1) {
		fprintf(stderr, "fngate ws: %s wants a positive number, not \"%s\"\n", opt, s);
		return -EINVAL;
	}
	return 0;
}

/*
 * `-H 'Name: value'`. Host and Origin replace what lws sends; the headers that make the
 * handshake are lws's to write (two of them would break it).
 */
static int parse_header(struct client *c, const char *s)
{
	static const char *const reserved[] = {
		"upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
		"sec-websocket-protocol", "sec-websocket-extensions", "content-length",
		"transfer-encoding",
	};
	const char *colon = strchr(s, ':'), *v;
	size_t n = colon ? (size_t)(colon - s) : 0;

	for (size_t i = 0; i < n; i++) {
		if (!fng__is_tchar((unsigned char)s[i])) {
			n = 0;
		}
	}
	if (!n) {
		fprintf(stderr, "fngate ws: -H wants 'NAME: VALUE', not \"%s\"\n", s);
		return -EINVAL;
	}
	v = colon + 1 + strspn(colon + 1, " \t");
	if (strpbrk(v, "\r\n")) {
		fprintf(stderr, "fngate ws: -H %.*s: the value has a line break\n", (int)n, s);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (strlen(reserved[i]) == n && !strncasecmp(s, reserved[i], n)) {
			fprintf(stderr, "fngate ws: -H %.*s: the client writes it itself%s\n",
				(int)n, s, strncasecmp(s, "sec-websocket-protocol", n) ? "" :
				" (-p offers those)");
			return -EINVAL;
		}
	}
	if (n == 4 && !strncasecmp(s, "host", 4)) {
		c->host = v;
	} else if (n == 6 && !strncasecmp(s, "origin", 6)) {
		c->origin = v;
	} else {
		c->headers[c->n_headers++] = (struct header){ s, v, n };
	}
	return 0;
}

/* `-p a,b`: tokens separated by commas (spaces may follow a comma), as the header wants. */
static int check_protocols(const char *s)
{
	for (const char *p = s;;) {
		size_t n = 0;

		p += strspn(p, " ");
		while (fng__is_tchar((unsigned char)p[n])) {
			n++;
		}
		if (!n) {
			break;
		}
		p += n;
		if (!*p) {
			return 0;
		}
		if (*p++ != ',') {
			break;
		}
	}
	fprintf(stderr, "fngate ws: -p wants PROTO[,PROTO]..., not \"%s\"\n", s);
	return -EINVAL;
}

/* ---- the outgoing queue ---- */

static int enqueue(struct client *c, const void *p, size_t len)
{
	struct out *o = malloc(sizeof(*o) + LWS_PRE + len);

	if (!o) {
		fprintf(stderr, "fngate ws: out of memory\n");
		return -ENOMEM;
	}
	o->len = len;
	o->sent = 0;
	if (len) {
		memcpy(o->data + LWS_PRE, p, len);
	}
	fng__list_append(&c->queue, &o->link);
	c->queued += len;
	if (c->established) {
		lws_callback_on_writable(c->wsi);
	}
	return 0;
}

/* The oldest message in the queue, or NULL. */
static struct out *queue_head(struct client *c)
{
	return fng__list_empty(&c->queue) ? NULL :
		fng__container_of(c->queue.next, struct out, link);
}

static void dequeue(struct client *c, struct out *o)
{
	fng__list_remove(&o->link);
	c->queued -= o->len;
	free(o);
}

/* Frees the queue but for a message partly sent, which must be finished. */
static void drop_queue(struct client *c)
{
	struct fng_list *n = c->queue.next;

	while (n != &c->queue) {
		struct out *o = fng__container_of(n, struct out, link);

		n = n->next;
		if (!o->sent) {
			dequeue(c, o);
		}
	}
}

static int append_capped(struct fng_buf *b, const void *p, size_t n)
{
	if (b->len + n > MAX_MESSAGE) {
		return -EMSGSIZE;
	}
	return fng__buf_append(b, p, n) ? -ENOMEM : 0;
}

/* ---- ending ---- */

/* The first outcome decides the exit status; the loop ends after this callback. */
static void finish(struct client *c, int status)
{
	if (c->status < 0) {
		c->status = status;
	}
	c->done = true;
}

static void close_wait_cb(lws_sorted_usec_list_t *sul)
{
	finish(lws_container_of(sul, struct client, close_wait), 0);
}

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct client *c = lws_container_of(sul, struct client, deadline);

	fprintf(stderr, "fngate ws: timed out after %ld ms\n", c->timeout_ms);
	finish(c, 1);
}

/* A close 1000 goes out once what is queued has; then the server's close, or 2 s, ends it. */
static void request_close(struct client *c)
{
	c->want_close = true;
	lws_callback_on_writable(c->wsi);
}

/* The status is known now unless it already was; the server's close, or 2 s, ends it. */
static void closing(struct client *c, int status)
{
	if (c->status < 0) {
		c->status = status;
	}
	c->close_sent = true;
	lws_sul_schedule(c->ctx, 0, &c->close_wait, close_wait_cb, CLOSE_WAIT_US);
}

/*
 * Our close 1000 goes out as a frame of our own, not by lws_close_reason() and returning -1:
 * lws would then drop every message the server sends before its own close, the replies to
 * our last lines among them. LWS_WRITE_CLOSE is 4 in lws's ABI, though left out of its
 * public enum (lws_close_free_wsi() writes its closes with it).
 */
static int send_close(struct client *c, struct lws *wsi)
{
	unsigned char frame[LWS_PRE + 2];

	frame[LWS_PRE] = LWS_CLOSE_STATUS_NORMAL >> 8;
	frame[LWS_PRE + 1] = LWS_CLOSE_STATUS_NORMAL & 0xff;
	closing(c, 0);
	if (lws_write(wsi, frame + LWS_PRE, 2, (enum lws_write_protocol)4) < 0) {
		finish(c, 0);
		return -1;
	}
	return 0;
}

/* ---- stdin ---- */

/* Sends each complete line of buf (and, at end of input, the unterminated rest). */
static int take_lines(struct client *c, const char *buf, size_t n, bool eof)
{
	while (n) {
		const char *nl = memchr(buf, '\n', n);
		size_t k = nl ? (size_t)(nl - buf) : n;
		int err = append_capped(&c->line, buf, k);

		if (err) {
			fprintf(stderr, "fngate ws: a line of input is longer than %u bytes\n",
				MAX_MESSAGE);
			return err;
		}
		if (!nl) {
			break;
		}
		err = enqueue(c, c->line.p, c->line.len);
		if (err) {
			return err;
		}
		c->line.len = 0;
		buf += k + 1;
		n -= k + 1;
	}
	if (eof && c->line.len) {
		int err = enqueue(c, c->line.p, c->line.len);

		c->line.len = 0;
		return err;
	}
	return 0;
}

/*
 * Reads what stdin has without blocking: poll() with no wait, then one read() — stdin is
 * left in blocking mode, since its file description may be the user's terminal.
 */
static void read_stdin(struct client *c)
{
	static char chunk[1u << 16];
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };

	for (int round = 0; round < 16 && c->queued < MAX_QUEUED; round++) {
		ssize_t n;

		if (poll(&pfd, 1, 0) <= 0) {
			return;
		}
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			return;
		}
		if (n < 0) {
			fprintf(stderr, "fngate ws: reading stdin: %s\n", strerror(errno));
			n = 0;
		}
		if (take_lines(c, chunk, (size_t)n, n == 0)) {
			finish(c, 1);
			return;
		}
		if (n == 0) {
			c->stdin_eof = true;
			if (!c->count) {
				request_close(c);
			}
			return;
		}
	}
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct client *c = lws_container_of(sul, struct client, tick);

	if (c->established && !c->stdin_eof && !c->want_close) {
		read_stdin(c);
	}
	if (!c->done) {
		lws_sul_schedule(c->ctx, 0, &c->tick, tick_cb, TICK_US);
	}
}

/* ---- the connection ---- */

static int append_headers(struct client *c, char **p, size_t room)
{
	for (size_t i = 0; i < c->n_headers; i++) {
		const struct header *h = &c->headers[i];
		int n = snprintf(*p, room, "%.*s: %s\r\n", (int)h->name_len, h->name, h->value);

		if (n < 0 || (size_t)n >= room) {
			fprintf(stderr, "fngate ws: the -H headers do not fit in the handshake\n");
			return -1;
		}
		*p += n;
		room -= (size_t)n;
	}
	return 0;
}

static void print_message(struct client *c, const unsigned char *p, size_t len, bool binary)
{
	if (!c->quiet) {
		fputs("< ", stdout);
	}
	if (binary) {
		printf("[binary %zu bytes]%s", len, len ? " " : "");
		for (size_t i = 0; i < len && i < HEX_BYTES; i++) {
			printf("%02x", p[i]);
		}
		if (len > HEX_BYTES) {
			fputs("...", stdout);
		}
	} else {
		fwrite(p, 1, len, stdout);
	}
	putchar('\n');
	if (fflush(stdout)) {
		fprintf(stderr, "fngate ws: writing stdout: %s\n", strerror(errno));
		finish(c, 1);
	}
}

/* Reassembles a message from lws's pieces (fragments, and frames larger than its buffer). */
static int receive(struct client *c, struct lws *wsi, const void *in, size_t len)
{
	int err;

	if (c->count && c->received >= c->count) {
		return 0; /* -n: what comes after the count, before the close, is dropped */
	}
	if (lws_is_first_fragment(wsi)) {
		c->in.len = 0;
		c->in_binary = lws_frame_is_binary(wsi);
	}
	err = append_capped(&c->in, in, len);
	if (err) {
		fprintf(stderr, "fngate ws: %s\n", err == -EMSGSIZE ?
			"a message is larger than 16 MiB: closing (1009)" : strerror(-err));
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		closing(c, 1);
		return -1; /* lws sends the close and waits for the server's */
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi)) {
		return 0;
	}
	print_message(c, (const unsigned char *)c->in.p, c->in.len, c->in_binary);
	c->in.len = 0;
	if (c->count && ++c->received >= c->count && !c->want_close) {
		drop_queue(c);
		request_close(c);
	}
	return 0;
}

static int writeable(struct client *c, struct lws *wsi)
{
	struct out *o = queue_head(c);

	if (o) {
		size_t n = o->len - o->sent < FRAGMENT ? o->len - o->sent : FRAGMENT;
		int flags = lws_write_ws_flags(LWS_WRITE_TEXT, !o->sent, o->sent + n == o->len);

		/* The headroom before a later fragment is payload already sent. */
		if (lws_write(wsi, o->data + LWS_PRE + o->sent, n, flags) < 0) {
			fprintf(stderr, "fngate ws: sending failed\n");
			finish(c, 1);
			return -1;
		}
		o->sent += n;
		if (o->sent == o->len) {
			dequeue(c, o);
		}
		if (!fng__list_empty(&c->queue) || c->want_close) {
			lws_callback_on_writable(wsi);
		}
		return 0;
	}
	if (c->want_close && !c->close_sent) {
		return send_close(c, wsi);
	}
	return 0;
}

static void connection_error(struct client *c, struct lws *wsi, const char *in, size_t len)
{
	unsigned int status = wsi ? lws_http_client_http_response(wsi) : 0;
	const char *why = in ? in : "unknown error";

	if (status && status != 101) {
		fprintf(stderr, "fngate ws: handshake refused: HTTP %u\n", status);
	} else if (!c->done) {
		fprintf(stderr, "fngate ws: cannot connect to %s: %.*s\n", c->url_text,
			in ? (int)len : (int)strlen(why), why);
	}
	finish(c, 1);
}

/* Returns nonzero when the close answers ours: lws must not answer it in turn. */
static int peer_close(struct client *c, const unsigned char *in, size_t len)
{
	unsigned int code = len >= 2 ? (unsigned int)in[0] << 8 | in[1] : 1005;
	bool normal = code == 1000 || code == 1001;

	if (c->close_sent) {
		return 1;
	}
	if (!c->quiet || !normal) {
		fprintf(stderr, "closed %u%s%.*s\n", code, len > 2 ? " " : "",
			len > 2 ? (int)len - 2 : 0, len > 2 ? (const char *)in + 2 : "");
	}
	if (c->status < 0) {
		c->status = normal ? 0 : 1;
	}
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	size_t len)
{
	struct client *c = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return append_headers(c, in, len);
	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
		/* c->protocol stays "" when the header is absent or too long */
		lws_hdr_copy(wsi, c->protocol, sizeof(c->protocol), WSI_TOKEN_PROTOCOL);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->established = true;
		if (!c->quiet) {
			fprintf(stderr, "connected to %s%s%s\n", c->url_text,
				c->protocol[0] ? ", protocol " : "", c->protocol);
		}
		if (!fng__list_empty(&c->queue) || c->want_close) {
			lws_callback_on_writable(wsi);
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		connection_error(c, wsi, in, len);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return receive(c, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return writeable(c, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return peer_close(c, in, len);
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!c->done && c->status < 0) {
			fprintf(stderr, "fngate ws: the connection was lost (no close frame)\n");
		}
		finish(c, 1);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "fngate-ws", callback, 0, FRAGMENT, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Runs the connection to its end; returns the exit status. */
static int run(struct client *c, const struct url *u)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
	if (u->tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = c->cafile;
	}
	info.pt_serv_buf_size = 32768; /* the handshake, -H headers included, is built in it */
	info.gid = -1;
	info.uid = -1;
	info.user = c;
	lws_set_log_level(0, NULL);
	c->ctx = lws_create_context(&info);
	if (!c->ctx) {
		fprintf(stderr, "fngate ws: cannot create the libwebsockets context\n");
		return 1;
	}

	memset(&ci, 0, sizeof(ci));
	ci.context = c->ctx;
	ci.address = u->host;
	ci.port = u->port;
	ci.path = u->path;
	ci.host = c->host ? c->host : u->authority;
	ci.origin = c->origin;
	ci.protocol = c->protocols;
	ci.local_protocol_name = protocols[0].name;
	ci.pwsi = &c->wsi;
	ci.ssl_connection = u->tls ? LCCSCF_USE_SSL : 0;
	lws_sul_schedule(c->ctx, 0, &c->tick, tick_cb, TICK_US);
	if (c->timeout_ms) {
		lws_sul_schedule(c->ctx, 0, &c->deadline, deadline_cb,
			c->timeout_ms * LWS_US_PER_MS);
	}
	if (!lws_client_connect_via_info(&ci) && !c->done) {
		fprintf(stderr, "fngate ws: cannot connect to %s\n", c->url_text);
		finish(c, 1);
	}
	while (!c->done && lws_service(c->ctx, 0) >= 0) {
	}
	lws_sul_cancel(&c->tick);
	lws_sul_cancel(&c->deadline);
	lws_sul_cancel(&c->close_wait);
	lws_context_destroy(c->ctx);
	return c->status < 0 ? 1 : c->status;
}

int fng__cli_ws(int argc, char **argv)
{
	struct client c = { .status = -1 };
	struct url u = { 0 };
	const char *why;
	int opt, err, status = 2;

	fng__list_init(&c.queue);
	c.headers = calloc((size_t)argc, sizeof(*c.headers));
	if (!c.headers) {
		fprintf(stderr, "fngate ws: out of memory\n");
		return 1;
	}
	opterr = 0;
	while ((opt = getopt(argc, argv, "H:p:s:n:t:c:qh")) != -1) {
		switch (opt) {
		case 'c':
			c.cafile = optarg;
			err = 0;
			break;
		case 'H':
			err = parse_header(&c, optarg);
			break;
		case 'p':
			c.protocols = optarg;
			err = check_protocols(optarg);
			break;
		case 's':
			err = enqueue(&c, optarg, strlen(optarg));
			break;
		case 'n':
			err = parse_count("-n", optarg, &c.count);
			break;
		case 't':
			err = parse_count("-t", optarg, &c.timeout_ms);
			break;
		case 'q':
			c.quiet = true;
			err = 0;
			break;
		case 'h':
			fputs(usage_text, stdout);
			status = 0;
			goto out;
		default:
			fprintf(stderr, "fngate ws: -%c: unknown option or missing value\n\n",
				optopt);
			fputs(usage_text, stderr);
			goto out;
		}
		if (err) {
			goto out;
		}
	}
	if (optind != argc - 1) {
		fputs(usage_text, stderr);
		goto out;
	}
	c.url_text = argv[optind];
	err = parse_url(c.url_text, &u, &why);
	if (err) {
		fprintf(stderr, "fngate ws: %s: %s\n", c.url_text, why);
		goto out;
	}
	status = run(&c, &u);
out:
	while (!fng__list_empty(&c.queue)) {
		dequeue(&c, queue_head(&c));
	}
	fng__buf_finish(&c.in);
	fng__buf_finish(&c.line);
	free(c.headers);
	free(u.host);
	return status;
}
