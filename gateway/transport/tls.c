// SPDX-License-Identifier: MIT
/*
 * The TLS transport: wolfSSL over the same libuv TCP stream as the plain transport, through
 * wolfSSL's custom I/O callbacks. Nothing blocks: received ciphertext is kept in the
 * connection's rx buffer, which the receive callback hands to wolfSSL and answers WANT_READ
 * when it is empty; the send callback only appends to tx, which goes to the socket like the
 * plain transport's output (tried at once, queued when the socket is full). The connection
 * layer above sees plaintext through the same ops as over TCP.
 *
 * A listener has one context per certificate (the first is the default); the client's SNI
 * picks one (an unknown name gets the default, or the handshake is refused when so
 * configured). ALPN answers http/1.1. Versions and ciphers follow Mozilla's "intermediate"
 * profile (TLS 1.2 and 1.3, AEAD suites with forward secrecy only), or "modern" (1.3 only),
 * with the server's order, ChaCha20-Poly1305 first (Debian's wolfSSL has no AES-NI assembly).
 *
 * Mutual TLS is per certificate: its context asks for a client certificate chaining to its CA
 * bundle (required or optional), checked against its CRL files (local only: nothing is fetched
 * while the loop waits). A client that fails gets wolfSSL's alert and the connection closes
 * before any request is read. The certificate that passed is read once, after the handshake,
 * into a struct fng_client_cert the connection and its requests share (request.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/x509.h>
#include <wolfssl/openssl/x509v3.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "safefile.h"
#include "transport.h"

#define PLAIN_BUF (64 * 1024)

static _Thread_local char plain_buf[PLAIN_BUF];

/* One certificate's context on a listener. */
struct tls_cert {
	WOLFSSL_CTX *ctx;
	const struct fng_tls_cert *cfg;
	char *hsts;                      /* the Strict-Transport-Security value, or NULL */
};

/*
 * A listener's contexts, made from one configuration snapshot (whose certificate entries it
 * points into: it holds a reference). Reference-counted: the server holds one, each
 * connection one, so a reload that makes new ones leaves established connections on theirs.
 */
struct fng_tls {
	int refs;
	struct fng_config *cfg;
	struct tls_cert *certs;          /* [0] the default */
	unsigned ncerts;
	bool refuse_unknown;
};

struct tls_conn {
	struct fng_conn conn;            /* first: the connection layer's view */
	WOLFSSL *ssl;
	struct fng_tls *tls;
	struct fng_buf rx;               /* ciphertext received, not yet taken by wolfSSL */
	struct fng_buf tx;               /* ciphertext to send */
	bool writing;                    /* a uv_write of tx is in flight */
	bool flush_pending;              /* the connection waits for fng__conn_on_flushed */
	bool handshake_done, reading, closing, failed, eof;
};

struct tls_write {
	uv_write_t req;
	struct tls_conn *tc;
	char *base;
};

/* ---- wolfSSL's I/O callbacks ---- */

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_conn *tc = ctx;
	size_t n = tc->rx.len < (size_t)sz ? tc->rx.len : (size_t)sz;

	(void)ssl;
	if (!n) {
		return tc->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
	}
	memcpy(buf, tc->rx.p, n);
	fng__buf_consume(&tc->rx, n);
	if (!tc->rx.len) {
		fng__buf_finish(&tc->rx); /* an idle connection holds no buffer */
	}
	return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_conn *tc = ctx;

	(void)ssl;
	return fng__buf_append(&tc->tx, buf, (size_t)sz) == 0 ? sz : WOLFSSL_CBIO_ERR_GENERAL;
}

/* ---- ciphertext to the socket ---- */

static void tx_send(struct tls_conn *tc);

static void write_cb(uv_write_t *req, int status)
{
	struct tls_write *w = (struct tls_write *)req;
	struct tls_conn *tc = w->tc;

	free(w->base);
	free(w);
	tc->writing = false;
	if (status < 0) {
		tc->failed = true;
	}
	if (!tc->failed && tc->tx.len) {
		tx_send(tc);
		if (tc->writing) {
			return;
		}
	}
	if (tc->flush_pending) {
		tc->flush_pending = false;
		fng__conn_on_flushed(&tc->conn, tc->failed ? UV_EPIPE : 0);
	}
}

/* Sends tx: at once what the socket takes, the rest by one uv_write. */
static void tx_send(struct tls_conn *tc)
{
	uv_buf_t b;
	struct tls_write *w;
	int n;

	if (tc->writing || !tc->tx.len || tc->failed) {
		return;
	}
	b = uv_buf_init(tc->tx.p, (unsigned)tc->tx.len);
	n = uv_try_write((uv_stream_t *)&tc->conn.tcp, &b, 1);
	if (n == (int)tc->tx.len) {
		fng__buf_finish(&tc->tx);
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		tc->failed = true;
		return;
	}
	if (n > 0) {
		fng__buf_consume(&tc->tx, (size_t)n);
	}
	w = malloc(sizeof(*w));
	if (!w) {
		tc->failed = true;
		return;
	}
	w->tc = tc;
	w->base = tc->tx.p;
	b = uv_buf_init(tc->tx.p, (unsigned)tc->tx.len);
	tc->tx = (struct fng_buf){ 0 };
	if (uv_write(&w->req, (uv_stream_t *)&tc->conn.tcp, &b, 1, write_cb) != 0) {
		free(w->base);
		free(w);
		tc->failed = true;
		return;
	}
	tc->writing = true;
}

/* ---- the client certificate ---- */

/* At most this many subject alternative names are kept (the wire's FNG_WIRE_MAX_SANS). */
#define MAX_SANS 64

/* The strings of a client certificate, malloc'd one by one until they are packed. */
struct cert_parts {
	char *field[6]; /* subject, issuer, serial, notBefore, notAfter, sha256 */
	char *sans[MAX_SANS];
	unsigned nsans;
};

/* Appends an RFC 2253 attribute value to o (room for 3 bytes per input byte). */
static char *dn_value(char *o, const unsigned char *p, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned char ch = p[i];

		if (ch < 0x20 || ch == 0x7f) {
			o += sprintf(o, "\\%02X", ch);
			continue;
		}
		if (strchr(",+\"\\<>;", ch) || (i == 0 && (ch == '#' || ch == ' ')) ||
			(i == n - 1 && ch == ' ')) {
			*o++ = '\\';
		}
		*o++ = (char)ch;
	}
	return o;
}

/* A name in RFC 2253's form: the last RDN first, "CN=alice,O=Example" (no spaces). */
static char *name_text(WOLFSSL_X509_NAME *name)
{
	int n = name ? wolfSSL_X509_NAME_entry_count(name) : 0;
	size_t size = 1;
	char *out, *o;

	for (int i = 0; i < n; i++) {
		WOLFSSL_ASN1_STRING *v = wolfSSL_X509_NAME_ENTRY_get_data(
			wolfSSL_X509_NAME_get_entry(name, i));

		size += 64 + (v ? (size_t)wolfSSL_ASN1_STRING_length(v) * 3 : 0);
	}
	out = o = malloc(size);
	for (int i = n - 1; out && i >= 0; i--) {
		WOLFSSL_X509_NAME_ENTRY *e = wolfSSL_X509_NAME_get_entry(name, i);
		WOLFSSL_ASN1_STRING *v = wolfSSL_X509_NAME_ENTRY_get_data(e);
		const char *sn = wolfSSL_OBJ_nid2sn(wolfSSL_OBJ_obj2nid(
			wolfSSL_X509_NAME_ENTRY_get_object(e)));

		if (!v) {
			continue;
		}
		o += snprintf(o, 48, "%s%.40s=", o == out ? "" : ",", sn ? sn : "UNDEF");
		o = dn_value(o, wolfSSL_ASN1_STRING_data(v), wolfSSL_ASN1_STRING_length(v));
	}
	if (out) {
		*o = 0;
	}
	return out;
}

static char *time_text(const WOLFSSL_ASN1_TIME *t)
{
	struct tm tm;
	char v[32];

	if (!t || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS ||
		!strftime(v, sizeof(v), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		return strdup("");
	}
	return strdup(v);
}

static char *hex_text(const unsigned char *p, size_t n, bool colons)
{
	char *out = malloc(n * 3 + 1), *o = out;

	for (size_t i = 0; out && i < n; i++) {
		o += sprintf(o, colons && i ? ":%02x" : "%02x", p[i]);
	}
	if (out) {
		*o = 0;
	}
	return out;
}

static void sans_read(WOLFSSL_X509 *x, struct cert_parts *cp)
{
	WOLFSSL_GENERAL_NAMES *gns = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int n = gns ? wolfSSL_sk_GENERAL_NAME_num(gns) : 0;

	for (int i = 0; i < n && cp->nsans < MAX_SANS; i++) {
		WOLFSSL_GENERAL_NAME *gn = wolfSSL_sk_GENERAL_NAME_value(gns, i);
		const char *tag = NULL;
		unsigned char *p;
		char ip[INET6_ADDRSTRLEN], *v;
		int len;

		if (!gn) {
			continue;
		}
		switch (gn->type) {
		case GEN_DNS:
			tag = "DNS";
			break;
		case GEN_EMAIL:
			tag = "email";
			break;
		case GEN_URI:
			tag = "URI";
			break;
		case GEN_IPADD:
			tag = "IP";
			break;
		default:
			continue;
		}
		p = wolfSSL_ASN1_STRING_data(gn->d.ia5);
		len = wolfSSL_ASN1_STRING_length(gn->d.ia5);
		if (!p || len < 0) {
			continue;
		}
		if (gn->type == GEN_IPADD) {
			if ((len != 4 && len != 16) ||
				!inet_ntop(len == 4 ? AF_INET : AF_INET6, p, ip, sizeof(ip))) {
				continue;
			}
			p = (unsigned char *)ip;
			len = (int)strlen(ip);
		}
		v = malloc(strlen(tag) + 1 + (size_t)len + 1);
		if (v) {
			sprintf(v, "%s:%.*s", tag, len, (const char *)p);
			cp->sans[cp->nsans++] = v;
		}
	}
	if (gns) {
		wolfSSL_GENERAL_NAMES_free(gns);
	}
}

/* cp's strings packed after a struct fng_client_cert in one block (one reference), or NULL. */
static struct fng_client_cert *cert_pack(const struct cert_parts *cp)
{
	size_t size = sizeof(struct fng_client_cert) + cp->nsans * sizeof(char *);
	struct fng_client_cert *cc;
	const char **slots[6];
	char *o;

	for (unsigned i = 0; i < 6; i++) {
		if (!cp->field[i]) {
			return NULL;
		}
		size += strlen(cp->field[i]) + 1;
	}
	for (unsigned i = 0; i < cp->nsans; i++) {
		size += strlen(cp->sans[i]) + 1;
	}
	cc = calloc(1, size);
	if (!cc) {
		return NULL;
	}
	atomic_init(&cc->refs, 1);
	cc->sans = (const char **)(cc + 1);
	o = (char *)(cc->sans + cp->nsans);
	slots[0] = &cc->subject;
	slots[1] = &cc->issuer;
	slots[2] = &cc->serial;
	slots[3] = &cc->not_before;
	slots[4] = &cc->not_after;
	slots[5] = &cc->sha256;
	for (unsigned i = 0; i < 6; i++) {
		*slots[i] = strcpy(o, cp->field[i]);
		o += strlen(o) + 1;
	}
	for (unsigned i = 0; i < cp->nsans; i++) {
		cc->sans[i] = strcpy(o, cp->sans[i]);
		o += strlen(o) + 1;
	}
	cc->nsans = cp->nsans;
	return cc;
}

/*
 * The client certificate of a handshake on t's context, or NULL when the client sent none.
 * *ok is false when the connection must not go on: a resumed session is checked again against
 * this context's CA bundle and CRLs, for it may come from another certificate's context (a
 * TLS 1.2 session id, a ticket read before the SNI) or from before a CRL named it; and a
 * required certificate must be there, whichever path the handshake took.
 */
static struct fng_client_cert *client_cert_read(WOLFSSL *ssl, const struct tls_cert *t,
	bool *ok)
{
	WOLFSSL_X509_CHAIN *chain = wolfSSL_get_peer_chain(ssl);
	struct cert_parts cp = { 0 };
	struct fng_client_cert *cc = NULL;
	const unsigned char *der = NULL;
	unsigned char serial[64], hash[32];
	WOLFSSL_X509 *x;
	int len = 0, slen = sizeof(serial);

	if (chain && wolfSSL_get_chain_count(chain) >= 1) {
		der = wolfSSL_get_chain_cert(chain, 0);
		len = wolfSSL_get_chain_length(chain, 0);
	}
	if (!der || len <= 0) {
		*ok = !t->cfg->client_required;
		return NULL;
	}
	if (wolfSSL_session_reused(ssl) && wolfSSL_CertManagerVerifyBuffer(
		wolfSSL_CTX_GetCertManager(t->ctx), der, len, WOLFSSL_FILETYPE_ASN1) !=
		WOLFSSL_SUCCESS) {
		*ok = false;
		return NULL;
	}
	*ok = true;
	x = wolfSSL_X509_d2i(NULL, der, len);
	if (!x) {
		return NULL;
	}
	cp.field[0] = name_text(wolfSSL_X509_get_subject_name(x));
	cp.field[1] = name_text(wolfSSL_X509_get_issuer_name(x));
	cp.field[2] = wolfSSL_X509_get_serial_number(x, serial, &slen) == WOLFSSL_SUCCESS ?
		hex_text(serial, (size_t)slen, true) : strdup("");
	cp.field[3] = time_text(wolfSSL_X509_get_notBefore(x));
	cp.field[4] = time_text(wolfSSL_X509_get_notAfter(x));
	cp.field[5] = wc_Sha256Hash(der, (word32)len, hash) == 0 ?
		hex_text(hash, sizeof(hash), false) : NULL;
	sans_read(x, &cp);
	cc = cert_pack(&cp);
	for (unsigned i = 0; i < 6; i++) {
		free(cp.field[i]);
	}
	for (unsigned i = 0; i < cp.nsans; i++) {
		free(cp.sans[i]);
	}
	wolfSSL_X509_free(x);
	if (!cc) {
		*ok = false; /* out of memory: an identity we cannot hand on is no identity */
	}
	return cc;
}

/* ---- plaintext to the connection ---- */

static const struct tls_cert *cert_of(struct tls_conn *tc)
{
	WOLFSSL_CTX *ctx = wolfSSL_get_SSL_CTX(tc->ssl);

	for (unsigned i = 0; i < tc->tls->ncerts; i++) {
		if (tc->tls->certs[i].ctx == ctx) {
			return &tc->tls->certs[i];
		}
	}
	return NULL;
}

static bool tls_host_ok(struct fng_conn *c, struct fng_str host);

/* The handshake is over: false if its client certificate does not let the connection on. */
static bool handshake_done(struct tls_conn *tc)
{
	const struct tls_cert *t = cert_of(tc);
	bool ok = true;

	tc->handshake_done = true;
	tc->conn.host_ok = tls_host_ok;
	if (t) {
		tc->conn.hsts = t->hsts;
	}
	if (t && t->cfg->client_ca) {
		tc->conn.client_cert = client_cert_read(tc->ssl, t, &ok);
	}
	return ok;
}

/* A refused handshake of a mutual TLS certificate: why, once, in the daemon log. */
static void handshake_refused(struct tls_conn *tc, const char *why)
{
	const struct tls_cert *t = cert_of(tc);
	char ip[INET6_ADDRSTRLEN] = "";

	if (!t || !t->cfg->client_ca) {
		return;
	}
	if (tc->conn.peer.sa.sa_family == AF_INET) {
		uv_ip4_name(&tc->conn.peer.in4, ip, sizeof(ip));
	} else if (tc->conn.peer.sa.sa_family == AF_INET6) {
		uv_ip6_name(&tc->conn.peer.in6, ip, sizeof(ip));
	}
	fng__log("info", "tls client authentication failed", "client", ip, "error", why, NULL);
}

/*
 * The connection's wolfSSL object, made when its first bytes arrive: Debian's wolfSSL spends
 * about 56 KB on one, which a connection that never says anything (a flood of idle
 * connections, held until the header timeout) does not cost.
 */
static bool ssl_create(struct tls_conn *tc)
{
	tc->ssl = wolfSSL_new(tc->tls->certs[0].ctx);
	if (!tc->ssl) {
		return false;
	}
	wolfSSL_SetIOReadCtx(tc->ssl, tc);
	wolfSSL_SetIOWriteCtx(tc->ssl, tc);
	return true;
}

/* Runs wolfSSL over what rx holds: the handshake, then records to the connection. */
static void drive(struct tls_conn *tc)
{
	struct fng_conn *c = &tc->conn;
	int rc, err;

	if (!tc->ssl && !ssl_create(tc)) {
		tc->closing = true;
		fng__conn_on_eof(c, UV_ENOMEM);
		return;
	}
	if (!tc->handshake_done) {
		rc = wolfSSL_accept(tc->ssl);
		tx_send(tc);
		if (rc != WOLFSSL_SUCCESS) {
			err = wolfSSL_get_error(tc->ssl, rc);
			if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
				return;
			}
			/* A refused handshake: its alert is on its way; no request reached a stage. */
			handshake_refused(tc,
				wolfSSL_ERR_reason_error_string((unsigned long)err));
			tc->closing = true;
			fng__conn_on_eof(c, UV_EPROTO);
			return;
		}
		if (!handshake_done(tc)) {
			/* A resumed session that does not pass this certificate's client_auth. */
			handshake_refused(tc, "resumed session without a valid client certificate");
			wolfSSL_shutdown(tc->ssl);
			tx_send(tc);
			tc->closing = true;
			fng__conn_on_eof(c, UV_EPROTO);
			return;
		}
	}
	while (tc->reading && !tc->closing) {
		rc = wolfSSL_read(tc->ssl, plain_buf, sizeof(plain_buf));
		tx_send(tc); /* a post-handshake message (a ticket, a key update) */
		if (rc > 0) {
			fng__conn_on_data(c, plain_buf, (size_t)rc);
			continue;
		}
		err = wolfSSL_get_error(tc->ssl, rc);
		if (err == WOLFSSL_ERROR_WANT_READ) {
			if (tc->eof) {
				fng__conn_on_eof(c, 0);
			}
			return;
		}
		tc->closing = true;
		fng__conn_on_eof(c, err == WOLFSSL_ERROR_ZERO_RETURN ? 0 : UV_EPROTO);
		return;
	}
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tls_conn *tc = s->data;

	fng__transport_read_done(buf);
	if (tc->closing) {
		return;
	}
	if (nread > 0) {
		if (fng__buf_append(&tc->rx, buf->base, (size_t)nread) != 0) {
			tc->closing = true;
			fng__conn_on_eof(&tc->conn, UV_ENOMEM);
			return;
		}
	} else if (nread < 0) {
		tc->eof = true;
		if (nread != UV_EOF || !tc->handshake_done) {
			tc->closing = true;
			fng__conn_on_eof(&tc->conn, nread == UV_EOF ? 0 : (int)nread);
			return;
		}
	}
	drive(tc);
}

/* ---- the transport's ops ---- */

static int tls_read_start(struct fng_conn *c)
{
	struct tls_conn *tc = (struct tls_conn *)c;
	int err = uv_read_start((uv_stream_t *)&c->tcp, fng__transport_alloc_cb, read_cb);

	tc->reading = err == 0;
	if (tc->reading && tc->handshake_done && (tc->rx.len || wolfSSL_pending(tc->ssl))) {
		drive(tc); /* records that came while reading was stopped */
	}
	return err;
}

static void tls_read_stop(struct fng_conn *c)
{
	struct tls_conn *tc = (struct tls_conn *)c;

	tc->reading = false;
	uv_read_stop((uv_stream_t *)&c->tcp);
}

/* Encrypts n bytes into tx (before the handshake is done there is nobody to answer). */
static int encrypt(struct tls_conn *tc, const void *p, size_t n)
{
	while (n && tc->handshake_done) {
		int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
		int rc = wolfSSL_write(tc->ssl, p, chunk);

		if (rc <= 0) {
			return UV_EPROTO;
		}
		p = (const char *)p + rc;
		n -= (size_t)rc;
	}
	return 0;
}

/* Sends what tx holds: 1 when it all left, 0 when fng__conn_on_flushed will follow. */
static int send_now(struct tls_conn *tc)
{
	tx_send(tc);
	if (tc->failed) {
		return UV_EPIPE;
	}
	if (!tc->writing) {
		return 1;
	}
	tc->flush_pending = true;
	return 0;
}

static int tls_flush(struct fng_conn *c)
{
	struct tls_conn *tc = (struct tls_conn *)c;
	int err = encrypt(tc, c->out.p, c->out.len);

	c->out.len = 0;
	return err ? err : send_now(tc);
}

static int tls_writev(struct fng_conn *c, const uv_buf_t *bufs, unsigned n)
{
	struct tls_conn *tc = (struct tls_conn *)c;

	for (unsigned i = 0; i < n; i++) {
		int err = encrypt(tc, bufs[i].base, bufs[i].len);

		if (err) {
			return err;
		}
	}
	return send_now(tc);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)status;
	free(req);
}

static void tls_shutdown(struct fng_conn *c)
{
	struct tls_conn *tc = (struct tls_conn *)c;
	uv_shutdown_t *req;

	if (tc->handshake_done) {
		wolfSSL_shutdown(tc->ssl); /* close_notify */
		tx_send(tc);
	}
	req = malloc(sizeof(*req));
	if (req && uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
		free(req);
	}
}

static void close_cb(uv_handle_t *h)
{
	struct tls_conn *tc = h->data;

	wolfSSL_free(tc->ssl);
	fng__tls_unref(tc->tls);
	fng__buf_finish(&tc->rx);
	fng__buf_finish(&tc->tx);
	fng__client_cert_unref(tc->conn.client_cert);
	tc->conn.client_cert = NULL;
	fng__conn_on_closed(&tc->conn);
	free(tc);
}

static void tls_close(struct fng_conn *c)
{
	struct tls_conn *tc = (struct tls_conn *)c;

	tc->closing = true;
	uv_close((uv_handle_t *)&c->tcp, close_cb);
}

const struct fng_transport_ops fng__tls_transport = {
	.name = "tls",
	.read_start = tls_read_start,
	.read_stop = tls_read_stop,
	.flush = tls_flush,
	.writev = tls_writev,
	.shutdown = tls_shutdown,
	.close = tls_close,
};

struct fng_conn *fng__tls_conn_new(struct fng_tls *tls)
{
	struct tls_conn *tc = calloc(1, sizeof(*tc));

	if (!tc) {
		return NULL;
	}
	tc->tls = tls;
	tls->refs++;
	return &tc->conn; /* its wolfSSL object comes with its first bytes (ssl_create) */
}

void fng__tls_conn_discard(struct fng_conn *c)
{
	struct tls_conn *tc = (struct tls_conn *)c;

	wolfSSL_free(tc->ssl);
	fng__tls_unref(tc->tls);
	free(tc);
}

/* ---- contexts ---- */

static const char ciphers_intermediate[] =
	"TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
static const char ciphers_modern[] =
	"TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384";

static bool name_matches(const char *pattern, const char *name)
{
	if (strncmp(pattern, "*.", 2) == 0) {
		const char *dot = strchr(name, '.');

		return dot && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
	}
	return strcasecmp(pattern, name) == 0;
}

static int verify_mode(const struct fng_tls_cert *c)
{
	if (!c->client_ca) {
		return WOLFSSL_VERIFY_NONE;
	}
	return WOLFSSL_VERIFY_PEER | (c->client_required ? WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
}

/*
 * Moves a handshake to another certificate's context. wolfSSL_set_SSL_CTX takes the context's
 * certificate and key, and the CA and CRLs come with it (they live in its certificate
 * manager), but whether the verify mode follows depends on wolfSSL's version: it is set here,
 * and so is the no-resumption rule of a mutual TLS context.
 */
static void switch_cert(WOLFSSL *ssl, const struct tls_cert *t)
{
	wolfSSL_set_SSL_CTX(ssl, t->ctx);
	wolfSSL_set_verify(ssl, verify_mode(t->cfg), NULL);
}

/* The certificate whose names hold name (n bytes), or NULL. */
static const struct tls_cert *cert_named(const struct fng_tls *tls, const char *name, size_t n)
{
	char buf[256];

	if (!n || n >= sizeof(buf)) {
		return NULL;
	}
	memcpy(buf, name, n);
	buf[n] = 0;
	for (unsigned i = 0; i < tls->ncerts; i++) {
		const struct fng_tls_cert *c = tls->certs[i].cfg;

		for (unsigned j = 0; j < c->nnames; j++) {
			if (name_matches(c->names[j], buf)) {
				return &tls->certs[i];
			}
		}
	}
	return NULL;
}

/* SNI: the certificate whose names hold the client's; else the default, or refused. */
static int servername_cb(WOLFSSL *ssl, int *alert, void *arg)
{
	struct fng_tls *tls = arg;
	const char *name = wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME);
	const struct tls_cert *t = name ? cert_named(tls, name, strlen(name)) : NULL;

	if (!t && tls->refuse_unknown) {
		*alert = unrecognized_name;
		return fatal_return;
	}
	if (t && t != &tls->certs[0]) {
		switch_cert(ssl, t);
	}
	return 0;
}

/*
 * A request's Host on a TLS connection: routing follows Host while client_auth follows SNI, so
 * a Host whose certificate has client_auth is only served on a connection that shook hands with
 * that very certificate (else a client would name a host without client_auth in SNI and the
 * mutual TLS one in Host). Other hosts are served as before.
 */
static bool tls_host_ok(struct fng_conn *c, struct fng_str host)
{
	struct tls_conn *tc = (struct tls_conn *)c;
	const struct tls_cert *t = cert_named(tc->tls, host.p, host.len);

	if (!t && !tc->tls->refuse_unknown) {
		t = &tc->tls->certs[0];
	}
	return !t || !t->cfg->client_ca || t == cert_of(tc);
}

static int alpn_cb(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
	const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i];

		if (i + 1 + n > inlen) {
			break;
		}
		if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = 8;
			return 0;
		}
		i += 1 + n;
	}
	return noack_return; /* no protocol we speak: no ALPN in the answer */
}

/*
 * A PEM file of the configuration into *out (empty on entry), under the rules for files the
 * configuration names (core/safefile.h): the TLS library is handed bytes, never a path it
 * would open itself, following links and blocking on a FIFO. -1 with err set on refusal.
 */
static int read_pem(const char *path, struct fng_buf *out, char *err, size_t errlen)
{
	const char *why = NULL;

	if (fng__safe_read_path(path, &FNG_SAFE_NAMED(FNG_TLS_FILE_MAX), out, &why) != 0) {
		fng__buf_wipe(out);
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

/*
 * Mutual TLS on ctx: the CA bundle, the verify mode, the CRLs (every certificate of the chain
 * checked; a CRL is only read from its file). Sessions are not resumed on such a context: a
 * resumed session would carry no certificate to read the client's identity from, so every
 * connection presents its certificate.
 */
static int client_auth(WOLFSSL_CTX *ctx, const struct fng_tls_cert *cert, char *err,
	size_t errlen)
{
	struct fng_buf pem = { 0 };
	int rc;

	if (read_pem(cert->client_ca, &pem, err, errlen) != 0) {
		return -1;
	}
	rc = wolfSSL_CTX_load_verify_buffer(ctx, (const unsigned char *)pem.p, (long)pem.len,
		WOLFSSL_FILETYPE_PEM);
	fng__buf_finish(&pem);
	if (rc != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: not a PEM CA bundle the TLS library can use",
			cert->client_ca);
		return -1;
	}
	wolfSSL_CTX_set_verify(ctx, verify_mode(cert), NULL);
	if (cert->nclient_crls && wolfSSL_CTX_EnableCRL(ctx, WOLFSSL_CRL_CHECKALL) !=
		WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "the TLS library cannot check CRLs");
		return -1;
	}
	for (unsigned i = 0; i < cert->nclient_crls; i++) {
		if (read_pem(cert->client_crls[i], &pem, err, errlen) != 0) {
			return -1;
		}
		rc = wolfSSL_CTX_LoadCRLBuffer(ctx, (const unsigned char *)pem.p, (long)pem.len,
			WOLFSSL_FILETYPE_PEM);
		fng__buf_finish(&pem);
		if (rc != WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "%s: not a PEM CRL of a CA in %s",
				cert->client_crls[i], cert->client_ca);
			return -1;
		}
	}
	return 0;
}

static WOLFSSL_CTX *ctx_new(const struct fng_tls_cfg *cfg, const struct fng_tls_cert *cert,
	struct fng_tls *tls, char *err, size_t errlen)
{
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
	struct fng_buf pem = { 0 };
	int rc;

	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (wolfSSL_CTX_SetMinVersion(ctx, cfg->modern ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2) !=
		    WOLFSSL_SUCCESS ||
		wolfSSL_CTX_set_cipher_list(ctx, cfg->modern ? ciphers_modern :
			ciphers_intermediate) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "the TLS library refused the version or cipher settings");
		goto fail;
	}
	wolfSSL_CTX_set_options(ctx, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE | WOLFSSL_OP_NO_SSLv3 |
		WOLFSSL_OP_NO_TLSv1 | WOLFSSL_OP_NO_TLSv1_1 | WOLFSSL_OP_NO_COMPRESSION);
	if (read_pem(cert->cert, &pem, err, errlen) != 0) {
		goto fail;
	}
	rc = wolfSSL_CTX_use_certificate_chain_buffer_format(ctx, (const unsigned char *)pem.p,
		(long)pem.len, WOLFSSL_FILETYPE_PEM);
	fng__buf_finish(&pem);
	if (rc != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: not a PEM certificate chain the TLS library can use",
			cert->cert);
		goto fail;
	}
	if (read_pem(cert->key, &pem, err, errlen) != 0) {
		goto fail;
	}
	/* The key's bytes are wiped as soon as the TLS library has its own copy. */
	rc = wolfSSL_CTX_use_PrivateKey_buffer(ctx, (const unsigned char *)pem.p, (long)pem.len,
		WOLFSSL_FILETYPE_PEM);
	fng__buf_wipe(&pem);
	if (rc != WOLFSSL_SUCCESS || wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: not a PEM private key of %s", cert->key, cert->cert);
		goto fail;
	}
	if (cert->client_ca && client_auth(ctx, cert, err, errlen) != 0) {
		goto fail;
	}
	wolfSSL_CTX_SetIORecv(ctx, io_recv);
	wolfSSL_CTX_SetIOSend(ctx, io_send);
	wolfSSL_CTX_set_servername_callback(ctx, servername_cb);
	wolfSSL_CTX_set_servername_arg(ctx, tls);
	wolfSSL_CTX_set_alpn_select_cb(ctx, alpn_cb, tls);
	return ctx;
fail:
	wolfSSL_CTX_free(ctx);
	return NULL;
}

void fng__tls_unref(struct fng_tls *tls)
{
	if (!tls || --tls->refs > 0) {
		return;
	}
	for (unsigned i = 0; i < tls->ncerts; i++) {
		wolfSSL_CTX_free(tls->certs[i].ctx);
		free(tls->certs[i].hsts);
	}
	free(tls->certs);
	fng__config_unref(tls->cfg);
	free(tls);
}

struct fng_tls *fng__tls_create(struct fng_config *config, char *err, size_t errlen)
{
	const struct fng_tls_cfg *cfg = &config->tls;
	struct fng_tls *tls = calloc(1, sizeof(*tls));
	static atomic_bool init;

	if (!atomic_exchange(&init, true)) {
		wolfSSL_Init();
	}
	if (!tls || !(tls->certs = calloc(cfg->ncerts, sizeof(*tls->certs)))) {
		free(tls);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tls->refs = 1;
	tls->cfg = fng__config_ref(config);
	tls->refuse_unknown = cfg->refuse_unknown_sni;
	for (unsigned i = 0; i < cfg->ncerts; i++) {
		const struct fng_tls_cert *c = &cfg->certs[i];
		struct tls_cert *t = &tls->certs[i];

		t->cfg = c;
		t->ctx = ctx_new(cfg, c, tls, err, errlen);
		if (!t->ctx) {
			fng__tls_unref(tls);
			return NULL;
		}
		tls->ncerts++;
		if (c->hsts_max_age_s) {
			char v[96];

			snprintf(v, sizeof(v), "max-age=%u%s", c->hsts_max_age_s,
				c->hsts_subdomains ? "; includeSubDomains" : "");
			t->hsts = strdup(v);
		}
	}
	return tls;
}
