// SPDX-License-Identifier: MIT
/*
 * The `metrics:` section: whether the request path records its metrics (`enabled`, on by
 * default: the benchmark turns it off to measure what recording costs) and an optional
 * listener that serves only /metrics without the admin token, for a Prometheus scraper on
 * the same host. That listener takes no token, so it must be a loopback address: anyone who
 * can reach it reads the metrics.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "conf.h"

static bool loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return ss->ss_family == AF_INET6 &&
		IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static int parse_metrics_listen(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *s = v ? fng__conf_str(L, v, "metrics.listen") : NULL;
	struct sockaddr_storage ss;

	if (!s) {
		return v ? -1 : 0;
	}
	if (fng__config_parse_addr(s, &ss) != 0) {
		fng__conf_err(L, v, "metrics.listen \"%s\" must be IPv4:PORT or [IPv6]:PORT", s);
		return -1;
	}
	if (!loopback(&ss)) {
		fng__conf_err(L, v, "metrics.listen \"%s\" must be a loopback address (127.0.0.0/8 "
			"or [::1]): it serves /metrics without a token; use the admin listener's "
			"/metrics with the admin token from elsewhere", s);
		return -1;
	}
	c->metrics.listen = s;
	return 0;
}

/* Stored inverted (metrics.off), so that a snapshot made without a file records. */
static int parse_metrics_enabled(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	bool on = true;

	if (v && fng__conf_bool(L, v, "metrics.enabled", &on) != 0) {
		return -1;
	}
	c->metrics.off = !on;
	return 0;
}

static const struct fng_conf_key metrics_keys[] = {
	{ "enabled", FNG_CONF_FN, 0, .fn = parse_metrics_enabled },
	{ "listen", FNG_CONF_FN, 0, .fn = parse_metrics_listen },
	{ NULL },
};

static int parse_metrics(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__conf_apply(L, v, metrics_keys, obj, "metrics");
}

const struct fng_conf_module fng__metrics_conf = { "metrics", parse_metrics };
