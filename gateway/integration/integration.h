/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_INTEGRATION_H
#define FNG_GATEWAY_INTEGRATION_H

#include "request.h"

/*
 * An integration produces the response for a matched route: the gateway's mock now, a
 * sandboxed function or an HTTP upstream later. The contract is libuv's: start() either
 * fails up front (negative return; nothing will call back), answers at once (FNG_STAGE_DONE
 * with req->resp filled), or returns FNG_STAGE_PENDING and later calls fng__req_resume()
 * exactly once — also after cancel(), with UV_ECANCELED.
 */
struct fng_integration_ops {
	const char *name;
	int (*start)(struct fng_req *req);
	void (*cancel)(struct fng_req *req);
};

const struct fng_integration_ops *fng__integration_ops(enum fng_integration_type type);

/* Installs ops for a type (at start-up, before traffic); returns the previous ops. */
const struct fng_integration_ops *fng__integration_register(enum fng_integration_type type,
	const struct fng_integration_ops *ops);

/* Template variable lookup against a request, shared by every integration that renders. */
bool fng__req_template_lookup(void *req, const struct fng_tpart *part, struct fng_str *value);

#endif
