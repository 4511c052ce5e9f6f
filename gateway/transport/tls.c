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
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "transport.h"

#define PLAIN_BUF (64 * 1024)
#define READ_BUF (64 * 1024)

static _Thread_local char plain_buf[PLAIN_BUF];
static _Thread_local char read_buf[READ_BUF];
static _Thread_local bool read_buf_busy;

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

/* ---- plaintext to the connection ---- */

static void handshake_done(struct tls_conn *tc)
{
	WOLFSSL_CTX *ctx = wolfSSL_get_SSL_CTX(tc->ssl);

	tc->handshake_done = true;
	for (unsigned i = 0; i < tc->tls->ncerts; i++) {
		if (tc->tls->certs[i].ctx == ctx) {
			tc->conn.hsts = tc->tls->certs[i].hsts;
		}
	}
}

/* Runs wolfSSL over what rx holds: the handshake, then records to the connection. */
static void drive(struct tls_conn *tc)
{
	struct fng_conn *c = &tc->conn;
	int rc, err;

	if (!tc->handshake_done) {
		rc = wolfSSL_accept(tc->ssl);
		tx_send(tc);
		if (rc != WOLFSSL_SUCCESS) {
			err = wolfSSL_get_error(tc->ssl, rc);
			if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
				return;
			}
			/* A refused handshake: its alert is on its way; no request reached a stage. */
			tc->closing = true;
			fng__conn_on_eof(c, UV_EPROTO);
			return;
		}
		handshake_done(tc);
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

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	if (read_buf_busy) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	read_buf_busy = true;
	buf->base = read_buf;
	buf->len = sizeof(read_buf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tls_conn *tc = s->data;

	if (buf->base == read_buf) {
		read_buf_busy = false;
	}
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
	int err = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);

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
	tc->ssl = wolfSSL_new(tls->certs[0].ctx);
	if (!tc->ssl) {
		free(tc);
		return NULL;
	}
	tls->refs++;
	wolfSSL_SetIOReadCtx(tc->ssl, tc);
	wolfSSL_SetIOWriteCtx(tc->ssl, tc);
	return &tc->conn;
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

/* SNI: the certificate whose names hold the client's; else the default, or refused. */
static int servername_cb(WOLFSSL *ssl, int *alert, void *arg)
{
	struct fng_tls *tls = arg;
	const char *name = wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME);

	if (!name || !*name) {
		if (tls->refuse_unknown) {
			*alert = unrecognized_name;
			return fatal_return;
		}
		return 0;
	}
	for (unsigned i = 0; i < tls->ncerts; i++) {
		const struct fng_tls_cert *c = tls->certs[i].cfg;

		for (unsigned j = 0; j < c->nnames; j++) {
			if (name_matches(c->names[j], name)) {
				if (i) {
					wolfSSL_set_SSL_CTX(ssl, tls->certs[i].ctx);
				}
				return 0;
			}
		}
	}
	if (tls->refuse_unknown) {
		*alert = unrecognized_name;
		return fatal_return;
	}
	return 0;
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

static WOLFSSL_CTX *ctx_new(const struct fng_tls_cfg *cfg, const struct fng_tls_cert *cert,
	struct fng_tls *tls, char *err, size_t errlen)
{
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());

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
	if (wolfSSL_CTX_use_certificate_chain_file(ctx, cert->cert) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: not a PEM certificate chain the TLS library can use",
			cert->cert);
		goto fail;
	}
	if (wolfSSL_CTX_use_PrivateKey_file(ctx, cert->key, WOLFSSL_FILETYPE_PEM) !=
		    WOLFSSL_SUCCESS ||
		wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: not a PEM private key of %s", cert->key, cert->cert);
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
