// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/state/cluster_conf.c: the `cluster:` keys as the loader takes them (the
 * defaults, every key set, IPv6, node_id's default from the host name and the first listener's
 * port, the password's first line from password_file) and refuses them with FILE:LINE:COL (a
 * host name, no port, port 0, a bad node_id, a TTL not longer than the heartbeat, a back-off
 * upside down, an empty or missing password file, an unknown key, no `redis`), and whether two
 * sections are the same (a reload's warning). shared_caches: none by default, both, and
 * refused with an unknown cache, one named twice, or not a list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../stages/conf_test.h"
#include "cluster_node.h"
#include "harness.h"

#define API "apis: { a: { stages: { s: {} }, routes: { \"GET /\": " \
	"{ integration: { type: mock } } } } }\n"
#define SERVER "server: { listen: [\"127.0.0.1:8181\"] }\n"

static const char config[] = SERVER API
	"cluster:\n"
	"  redis: \"10.0.0.7:6380\"\n"
	"  database: 3\n"
	"  key_prefix: \"app1:\"\n"
	"  node_id: web-1.eu_west\n"
	"  connect_timeout_ms: 700\n"
	"  command_timeout_ms: 50\n"
	"  heartbeat_ms: 300\n"
	"  node_ttl_ms: 900\n"
	"  reconnect_min_ms: 20\n"
	"  reconnect_max_ms: 2000\n";

static char dir[] = "/tmp/fng-cluster-conf-XXXXXX";

static struct fng_config *load(const char *yaml)
{
	struct fng_buf e = { 0 };
	struct fng_config *c = conf_test_load(yaml, &e);

	if (!c) {
		printf("# errors: %s\n", e.p);
	}
	fng__buf_finish(&e);
	return c;
}

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, 0600);
}

static void body(struct fng_config *c)
{
	const struct fng_cluster_cfg *cc = &c->cluster;
	struct fng_config *d;
	char host[256] = "", want[300], yaml[512];

	CHECK(cc->on, "on");
	CHECK(strcmp(cc->redis, "10.0.0.7:6380") == 0 && strcmp(cc->host, "10.0.0.7") == 0 &&
		cc->port == 6380, "redis: address, host and port");
	CHECK(cc->database == 3 && strcmp(cc->key_prefix, "app1:") == 0 &&
		strcmp(cc->node_id, "web-1.eu_west") == 0 && !cc->password, "database, prefix, id");
	CHECK(cc->connect_timeout_ms == 700 && cc->command_timeout_ms == 50 &&
		cc->heartbeat_ms == 300 && cc->node_ttl_ms == 900 && cc->reconnect_min_ms == 20 &&
		cc->reconnect_max_ms == 2000, "every timing");

	d = load(SERVER API);
	CHECK(d && !d->cluster.on, "no section: off");
	CHECK(d && !fng__cluster_cfg_same(&c->cluster, &d->cluster), "not the same as off");
	fng__config_unref(d);

	d = load(SERVER API "cluster: { redis: \"127.0.0.1:6379\" }\n");
	cc = d ? &d->cluster : NULL;
	gethostname(host, sizeof(host) - 1);
	snprintf(want, sizeof(want), "%.64s", host);
	for (char *p = want; *p; p++) {
		if (!(*p == '.' || *p == '_' || *p == '-' || (*p >= '0' && *p <= '9') ||
			(*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
			*p = '-';
		}
	}
	strcat(want, "-8181");
	CHECK(cc && strcmp(cc->key_prefix, "fngate:") == 0 && cc->database == 0 &&
		cc->connect_timeout_ms == 1000 && cc->command_timeout_ms == 200 &&
		cc->heartbeat_ms == 1000 && cc->node_ttl_ms == 5000 &&
		cc->reconnect_min_ms == 100 && cc->reconnect_max_ms == 5000, "the defaults");
	CHECK(cc && strncmp(cc->node_id, want, 64) == 0, "node_id: host name and port (%s)",
		cc ? cc->node_id : "-");
	CHECK(cc && fng__cluster_cfg_same(cc, cc), "a section is the same as itself");
	fng__config_unref(d);

	d = load(SERVER API "cluster: { redis: \"[::1]:6379\" }\n");
	CHECK(d && strcmp(d->cluster.host, "::1") == 0 && d->cluster.port == 6379, "IPv6");
	fng__config_unref(d);

	write_file("pw", "s3cret pass\nsecond line\n");
	snprintf(yaml, sizeof(yaml), SERVER API "cluster: { redis: \"127.0.0.1:1\", "
		"password_file: \"%s/pw\" }\n", dir);
	d = load(yaml);
	CHECK(d && d->cluster.password && strcmp(d->cluster.password, "s3cret pass") == 0,
		"password_file: its first line");
	fng__config_unref(d);
	write_file("empty", "\n");
	snprintf(yaml, sizeof(yaml), SERVER API "cluster: { redis: \"127.0.0.1:1\", "
		"password_file: \"%s/empty\" }\n", dir);
	conf_test_refused(yaml, "empty", "an empty password file");
	snprintf(yaml, sizeof(yaml), SERVER API "cluster: { redis: \"127.0.0.1:1\", "
		"password_file: \"%s/nope\" }\n", dir);
	conf_test_refused(yaml, "t.yaml:3:50: cluster.password_file", "a missing password file");

	conf_test_refused(SERVER API "cluster: { redis: \"redis.local:6379\" }\n",
		"t.yaml:3:20: cluster.redis \"redis.local:6379\" must be IPv4:PORT", "a host name");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1\" }\n", "must be IPv4:PORT",
		"no port");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:0\" }\n", "port 0", "port 0");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", node_id: \"a b\" }\n",
		"t.yaml:3:44: cluster.node_id", "a space in node_id");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", node_id: \"a:b\" }\n",
		"cluster.node_id", "a colon in node_id");
	snprintf(yaml, sizeof(yaml), SERVER API "cluster: { redis: \"127.0.0.1:1\", node_id: "
		"\"%065d\" }\n", 0);
	conf_test_refused(yaml, "cluster.node_id", "a node_id of 65 characters");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", heartbeat_ms: 500, "
		"node_ttl_ms: 500 }\n", "must be longer than cluster.heartbeat_ms", "TTL = heartbeat");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", reconnect_min_ms: 900, "
		"reconnect_max_ms: 800 }\n", "is more than cluster.reconnect_max_ms",
		"back-off upside down");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", database: 16 }\n",
		"t.yaml:3:44: database must be between 0 and 15", "database 16");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", key_prefix: \"a b\" }\n",
		"cluster.key_prefix", "white space in the prefix");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", colour: blue }\n",
		"unknown key \"colour\"", "an unknown key");
	conf_test_refused(SERVER API "cluster: { node_id: a }\n", "redis", "no redis");
	conf_test_refused(SERVER API "cluster: [1]\n", "t.yaml:3:10:", "not a mapping");

	d = load(SERVER API "cluster: { redis: \"127.0.0.1:1\" }\n");
	CHECK(d && !d->cluster.share_response && !d->cluster.share_authorizer &&
		d->cluster.shared_entry_max == 65536, "shared_caches: none by default");
	fng__config_unref(d);
	d = load(SERVER API "cluster: { redis: \"127.0.0.1:1\", shared_caches: [response, "
		"authorizer], shared_cache_entry_bytes: 1024 }\n");
	CHECK(d && d->cluster.share_response && d->cluster.share_authorizer &&
		d->cluster.shared_entry_max == 1024, "shared_caches: both");
	fng__config_unref(d);
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", shared_caches: [jwt] }\n",
		"\"jwt\" is not a shareable cache", "shared_caches: jwt");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", shared_caches: "
		"[response, response] }\n", "\"response\" twice", "shared_caches: twice");
	conf_test_refused(SERVER API "cluster: { redis: \"127.0.0.1:1\", shared_caches: "
		"response }\n", "cluster.shared_caches", "shared_caches: not a list");
}

int main(void)
{
	int rc;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = conf_test_main(config, body);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0) {
			/* a leftover temporary directory is not a failure */
		}
	}
	return rc;
}
