// SPDX-License-Identifier: MIT
/*
 * Mutual TLS's handler and authorizer (test_mtls.py). As a handler it answers one line per
 * client certificate field ("subjectDN=CN=alice,O=Test"), one "san=" line per subject
 * alternative name, or "no client certificate". As an authorizer (AUTHORIZER event) it allows
 * a request that came with a client certificate, its principal the certificate's subject, and
 * denies one without.
 */
#include <string.h>

#include "fngate.h"

static const char *const fields[] = {
	"subjectDN", "issuerDN", "serialNumber", "notBefore", "notAfter", "sha256Fingerprint",
};

static int clientcert(struct fng_ctx *ctx)
{
	const char *subject = fng_event_client_cert(ctx, "subjectDN");
	const char *san;

	if (strcmp(fng_event_type(ctx), "AUTHORIZER") == 0) {
		return subject ? fng_authorizer_allow(ctx, subject) : fng_authorizer_deny(ctx, "");
	}
	fng_response_header(ctx, "content-type", "text/plain");
	if (!subject) {
		return fng_response_printf(ctx, "no client certificate\n");
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (fng_response_printf(ctx, "%s=%s\n", fields[i],
			fng_event_client_cert(ctx, fields[i])) != 0) {
			return -1;
		}
	}
	for (size_t i = 0; (san = fng_event_client_cert_san(ctx, i)) != NULL; i++) {
		if (fng_response_printf(ctx, "san=%s\n", san) != 0) {
			return -1;
		}
	}
	return fng_event_client_cert(ctx, "nosuch") ? -1 : 0;
}
FNG_HANDLER(clientcert)
