// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/integration/metrics_conf.c: the `metrics:` keys as the loader takes them
 * (on by default, `enabled: false`, a loopback `listen` in IPv4 and IPv6) and refuses them
 * with FILE:LINE:COL (an address that is not loopback, a malformed one, a value that is not a
 * boolean, an unknown key).
 */
#include "../stages/conf_test.h"
#include "harness.h"

#define API "apis: { a: { stages: { s: {} }, routes: { \"GET /\": " \
	"{ integration: { type: mock } } } } }\n"

static const char config[] = "metrics: { enabled: false, listen: \"127.0.0.2:9100\" }\n" API;

static void expect(const char *yaml, bool off, const char *listen, const char *what)
{
	struct fng_buf e = { 0 };
	struct fng_config *c = conf_test_load(yaml, &e);

	CHECK(c && c->metrics.off == off && (listen ? c->metrics.listen &&
		strcmp(c->metrics.listen, listen) == 0 : !c->metrics.listen), "%s", what);
	if (!c) {
		printf("# errors: %s\n", e.p);
	}
	fng__config_unref(c);
	fng__buf_finish(&e);
}

static void body(struct fng_config *c)
{
	CHECK(c->metrics.off && strcmp(c->metrics.listen, "127.0.0.2:9100") == 0,
		"enabled: false and a listener on 127.0.0.2");
	expect(API, false, NULL, "no section: on, no listener");
	expect("metrics: {}\n" API, false, NULL, "an empty section: the same");
	expect("metrics: { enabled: true, listen: \"[::1]:9100\" }\n" API, false, "[::1]:9100",
		"IPv6 loopback");
	conf_test_refused("metrics: { listen: \"0.0.0.0:9100\" }\n" API,
		"t.yaml:1:21: metrics.listen \"0.0.0.0:9100\" must be a loopback address",
		"any address");
	conf_test_refused("metrics: { listen: \"10.1.2.3:9100\" }\n" API, "must be a loopback",
		"a private address");
	conf_test_refused("metrics: { listen: \"[::]:9100\" }\n" API, "must be a loopback",
		"IPv6 any");
	conf_test_refused("metrics: { listen: \"localhost:9100\" }\n" API,
		"must be IPv4:PORT or [IPv6]:PORT", "a host name");
	conf_test_refused("metrics: { enabled: maybe }\n" API, "t.yaml:1:21:", "not a boolean");
	conf_test_refused("metrics: { enable: false }\n" API, "unknown key \"enable\"",
		"a misspelt key");
	conf_test_refused("metrics: [1]\n" API, "t.yaml:1:10:", "not a mapping");
}

int main(void)
{
	return conf_test_main(config, body);
}
