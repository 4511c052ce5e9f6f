// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/stages/ip_policy.c without sockets: the `policy` and
 * `server.trusted_proxies` keys as the loader takes and refuses them (FILE:LINE:COL), the
 * stage on hand-built requests (API and stage lists, deny over allow, IPv4, IPv6 and mapped
 * peers, the 403's message), and the client address taken from X-Forwarded-For only behind
 * a trusted proxy (rightmost untrusted hop, garbage, several fields, events left alone).
 */
#include "errors.h"
#include "conf_test.h"
#include "harness.h"
#include "ip_policy.h"
#include "stages.h"

extern const struct fng_stage_def fng__stage_ip_policy;
extern const struct fng_stage_def fng__stage_client_ip;

static const char config[] =
	"server: { trusted_proxies: [\"10.9.0.0/16\", \"fd00::1\"] }\n"
	"apis:\n"
	"  shop:\n"
	"    policy: { allow: [\"192.0.2.0/24\", \"2001:db8::/32\"], deny: [\"192.0.2.66\"] }\n"
	"    stages:\n"
	"      open: {}\n"
	"      tight: { policy: { allow: [\"192.0.2.0/28\", \"2001:db8::1\"] } }\n"
	"      closed: { policy: { deny: [\"::/0\"] } }\n"
	"    routes: { \"GET /\": { integration: { type: mock } } }\n"
	"  free:\n"
	"    stages: { s: {} }\n"
	"    routes: { \"GET /\": { integration: { type: mock } } }\n";

#define API_WITH(policy)                                                                   \
	"apis:\n  a:\n    " policy "\n    stages: { s: {} }\n"                            \
	"    routes: { \"GET /\": { integration: { type: mock } } }\n"

static void test_config_errors(void)
{
	conf_test_refused(API_WITH("policy: { allow: [\"10.0.0.1/8\"] }"),
		"t.yaml:3:24: policy.allow: \"10.0.0.1/8\": address has bits set", "host bits");
	conf_test_refused(API_WITH("policy: { deny: [\"fe80::1%eth0\"] }"),
		"t.yaml:3:23: policy.deny", "zone id");
	conf_test_refused(API_WITH("policy: { deny: [\"::/129\"] }"), "prefix length is 0 to 128",
		"/129");
	conf_test_refused(API_WITH("policy: { allow: \"10.0.0.0/8\" }"),
		"t.yaml:3:23: policy.allow must be", "a scalar for a list");
	conf_test_refused(API_WITH("policy: {}"), "needs an allow or a deny list", "empty policy");
	conf_test_refused(API_WITH("policy: { alow: [] }"), "unknown key \"alow\"", "misspelt key");
	conf_test_refused(API_WITH("policy: { allow: [[\"10.0.0.0/8\"]] }"), "t.yaml:3:23",
		"nested list");
	conf_test_refused("server: { trusted_proxies: [\"10.0.0.0/33\"] }\n" API_WITH(""),
		"t.yaml:1:30: trusted_proxies", "trusted_proxies");
}

static struct fng_header xff[4];

/* A request from ip to stage st of api, with the X-Forwarded-For fields given. */
static void req_init(struct fng_req *req, struct fng_arena *a, struct fng_config *c,
	const char *api, const char *st, const char *ip, const char *const *fwd)
{
	memset(req, 0, sizeof(*req));
	req->arena = a;
	req->cfg = c;
	req->api = api ? fng__config_api(c, (struct fng_str){ api, strlen(api) }) : NULL;
	req->stage = req->api ? fng__api_stage(req->api, (struct fng_str){ st, strlen(st) })
			      : NULL;
	snprintf(req->ip, sizeof(req->ip), "%s", ip);
	req->headers = xff;
	for (; fwd && fwd[req->nheaders]; req->nheaders++) {
		xff[req->nheaders] = (struct fng_header){ FNG_STR("X-Forwarded-For"),
			{ fwd[req->nheaders], strlen(fwd[req->nheaders]) } };
	}
}

static int run_policy(struct fng_config *c, const char *api, const char *st, const char *ip)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_req req;
	int rc;

	req_init(&req, a, c, api, st, ip, NULL);
	rc = fng__stage_ip_policy.run(&req);
	if (rc == FNG_EFORBIDDEN && (!req.error_detail ||
		strncmp(req.error_detail, "Forbidden: the resource policy of ", 34) != 0 ||
		strstr(req.error_detail, "/"))) {
		printf("# message: %s\n", req.error_detail ? req.error_detail : "(none)");
		rc = -1;
	}
	fng__arena_destroy(a);
	return rc;
}

static void test_policy(struct fng_config *c)
{
	static const struct {
		const char *stage, *ip;
		int want;
	} cases[] = {
		{ "open", "192.0.2.1", FNG_STAGE_NEXT },
		{ "open", "::ffff:192.0.2.1", FNG_STAGE_NEXT },  /* a dual-stack listener's peer */
		{ "open", "192.0.2.66", FNG_EFORBIDDEN },        /* deny wins over allow */
		{ "open", "::ffff:192.0.2.66", FNG_EFORBIDDEN },
		{ "open", "198.51.100.1", FNG_EFORBIDDEN },      /* not in the allow list */
		{ "open", "2001:db8::42", FNG_STAGE_NEXT },
		{ "open", "2001:db9::", FNG_EFORBIDDEN },
		{ "open", "", FNG_EFORBIDDEN },                  /* no address: refused */
		{ "tight", "192.0.2.15", FNG_STAGE_NEXT },
		{ "tight", "192.0.2.16", FNG_EFORBIDDEN },       /* the stage narrows the API */
		{ "tight", "2001:db8::1", FNG_STAGE_NEXT },
		{ "tight", "2001:db8::2", FNG_EFORBIDDEN },
		{ "closed", "192.0.2.1", FNG_EFORBIDDEN },       /* ::/0 holds IPv4 too */
		{ "closed", "2001:db8::1", FNG_EFORBIDDEN },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(run_policy(c, "shop", cases[i].stage, cases[i].ip), cases[i].want,
			"stage %s, client \"%s\"", cases[i].stage, cases[i].ip);
	}
	CHECK_INT(run_policy(c, "free", "s", "198.51.100.1"), FNG_STAGE_NEXT, "no policy");
	CHECK_INT(run_policy(c, NULL, NULL, "198.51.100.1"), FNG_STAGE_NEXT,
		"no API (refused by endpoint already)");
	{
		struct fng_arena *a = fng__arena_create();
		struct fng_req req;

		req_init(&req, a, c, "shop", "tight", "192.0.2.20", NULL);
		fng__stage_ip_policy.run(&req);
		CHECK_STR(req.error_detail, "Forbidden: the resource policy of stage \"tight\" of "
			"API \"shop\" refuses this client", "the stage's policy is named");
		req_init(&req, a, c, "shop", "tight", "198.51.100.1", NULL);
		fng__stage_ip_policy.run(&req);
		CHECK_STR(req.error_detail, "Forbidden: the resource policy of API \"shop\" "
			"refuses this client", "the API's policy is named");
		req_init(&req, a, c, "shop", "open", "198.51.100.1", NULL);
		req.event = FNG_EVENT_MESSAGE;
		CHECK_INT(fng__stage_ip_policy.run(&req), FNG_STAGE_NEXT,
			"a WebSocket message passes (its handshake was checked)");
		fng__arena_destroy(a);
	}
}

static const char *client_of(struct fng_config *c, const char *peer, const char *const *fwd)
{
	static char out[48];
	struct fng_arena *a = fng__arena_create();
	struct fng_req req;

	req_init(&req, a, c, "shop", "open", peer, fwd);
	CHECK_INT(fng__stage_client_ip.run(&req), FNG_STAGE_NEXT, "client_ip goes on");
	snprintf(out, sizeof(out), "%s", req.ip);
	fng__arena_destroy(a);
	return out;
}

#define FWD(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_forwarded(struct fng_config *c)
{
	struct fng_buf e = { 0 };
	struct fng_config *plain = conf_test_load(API_WITH(""), &e);

	CHECK_STR(client_of(c, "10.9.1.1", FWD("192.0.2.7")), "192.0.2.7", "trusted proxy");
	CHECK_STR(client_of(c, "::ffff:10.9.1.1", FWD("192.0.2.7")), "192.0.2.7",
		"trusted proxy seen as a mapped address");
	CHECK_STR(client_of(c, "192.0.2.99", FWD("192.0.2.7")), "192.0.2.99",
		"an untrusted peer's header is ignored");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("6.6.6.6, 192.0.2.7")), "192.0.2.7",
		"the rightmost untrusted address, not a spoofed leftmost one");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("6.6.6.6, 192.0.2.7, 10.9.2.2")), "192.0.2.7",
		"trusted hops are skipped");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("10.9.3.3, 10.9.2.2")), "10.9.3.3",
		"all hops trusted: the leftmost");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("6.6.6.6", "192.0.2.7 ,  10.9.2.2")), "192.0.2.7",
		"several fields are one list, in order");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("192.0.2.7", "")), "192.0.2.7",
		"an empty field");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("192.0.2.7,,")), "192.0.2.7", "empty elements");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("192.0.2.7, garbage, 10.9.2.2")), "10.9.2.2",
		"garbage: the last trusted hop stands");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("192.0.2.7:5000")), "10.9.1.1",
		"an address with a port is garbage");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("fe80::1%eth0")), "10.9.1.1", "a zone id");
	CHECK_STR(client_of(c, "fd00::1", FWD("2001:DB8:0::7")), "2001:db8::7",
		"IPv6 proxy and client, written canonical");
	CHECK_STR(client_of(c, "10.9.1.1", FWD("::ffff:192.0.2.7")), "192.0.2.7",
		"a mapped client is written as IPv4");
	CHECK_STR(client_of(c, "10.9.1.1", NULL), "10.9.1.1", "no header: the proxy itself");
	CHECK_STR(client_of(plain, "10.9.1.1", FWD("192.0.2.7")), "10.9.1.1",
		"no trusted_proxies: the header is never read");
	fng__config_unref(plain);
	fng__buf_finish(&e);
}

static void run(struct fng_config *c)
{
	test_config_errors();
	test_policy(c);
	test_forwarded(c);
}

int main(void)
{
	return conf_test_main(config, run);
}
