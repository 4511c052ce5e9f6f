// SPDX-License-Identifier: MIT
/*
 * The keys of a per-client throttle (client_throttle.h), one parser for every place that
 * has one: a stage's client_throttle and route_throttles, a WebSocket API's
 * connect_throttle. What the identity means on a request is the throttle stage's business.
 */
#include <stdio.h>
#include <string.h>

#include "client_throttle.h"
#include "conf.h"

/* identity: source_ip (the default), principal, api_key or claim:NAME. */
static int parse_identity(struct fng_conf *L, const struct fng_conf_node *v,
	struct fng_client_throttle *ct, const char *what)
{
	char label[96];
	const char *s;

	snprintf(label, sizeof(label), "%s.identity", what);
	s = v ? fng__conf_str(L, v, label) : "source_ip";
	if (!s) {
		return -1;
	}
	if (strcmp(s, "source_ip") == 0) {
		ct->identity = FNG_THROTTLE_SOURCE_IP;
	} else if (strcmp(s, "principal") == 0) {
		ct->identity = FNG_THROTTLE_PRINCIPAL;
	} else if (strcmp(s, "api_key") == 0) {
		ct->identity = FNG_THROTTLE_API_KEY;
	} else if (strncmp(s, "claim:", 6) == 0 && s[6]) {
		char *n = fng__arena_alloc(L->cfg->arena, strlen(s) + 2);

		if (!n) {
			fng__conf_err(L, v, "out of memory");
			return -1;
		}
		sprintf(n, "claims.%s", s + 6);
		ct->identity = FNG_THROTTLE_CLAIM;
		ct->ctx_name = n;
		ct->ctx_len = strlen(n);
	} else {
		fng__conf_err(L, v, "%s \"%s\": use source_ip, principal, api_key or claim:NAME",
			label, s);
		return -1;
	}
	return 0;
}

#define COFF(member) offsetof(struct fng_client_throttle, member)

/* identity is parsed after the table, by parse_identity(), which names its owner. */
static const struct fng_conf_key client_keys[] = {
	{ "rate", FNG_CONF_U32, COFF(t.rate), 0, 1, 1000000, .required = true },
	{ "burst", FNG_CONF_U32, COFF(t.burst), 0, 0, 1000000, .required = true },
	{ "identity", FNG_CONF_FN, 0, .fn = fng__conf_skip },
	{ "ipv6_prefix", FNG_CONF_U32, COFF(ipv6_prefix), 64, 1, 128 },
	{ NULL },
};

struct fng_client_throttle *fng__client_throttle_parse(struct fng_conf *L,
	const struct fng_conf_node *v, const char *what)
{
	struct fng_client_throttle *ct;
	int err;

	if (!fng__conf_want(L, v, FNG_CONF_MAP, what)) {
		return NULL;
	}
	ct = fng__arena_zalloc(L->cfg->arena, sizeof(*ct));
	if (!ct) {
		fng__conf_err(L, v, "out of memory");
		return NULL;
	}
	err = fng__conf_apply(L, v, client_keys, ct, what);
	if (parse_identity(L, fng__conf_lookup(v, "identity"), ct, what) != 0 || err != 0) {
		return NULL;
	}
	return ct;
}
