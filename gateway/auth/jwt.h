/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_AUTH_JWT_H
#define FNG_GATEWAY_AUTH_JWT_H

/*
 * The built-in JWT authorizer (`type: jwt`): the bearer token of the Authorization header
 * verified with wolfCrypt against the authorizer's keys (a JWKS), issuer, audiences, algorithm
 * allowlist and time claims; the route's authorization_scopes checked against its `scope` or
 * `scp` claim; the verified claims put in req->authz. No function runs.
 */

#include "authz.h"
#include "conf.h"

/*
 * Parses the keys of a `type: jwt` authorizer (all but `type`, which the caller read) from
 * the mapping v into *out, allocated in the config's arena. 0, or -1 after fng__conf_err().
 */
int fng__jwt_conf(struct fng_conf *L, const struct fng_conf_node *v, struct fng_jwt_cfg **out);

extern const struct fng_authz_ops fng__jwt_authz_ops;

#endif
