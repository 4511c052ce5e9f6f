// SPDX-License-Identifier: MIT
/*
 * authorizer_test: the tests of authorizer.c through fngate's test harness (fngate_test.h):
 * AUTHORIZER events built in C and read from a Lambda authorizer's JSON, and the decision,
 * principal and context the gateway would take from each answer. Build and run beside
 * authorizer.so:
 *
 *     cc -shared -fPIC -o authorizer.so authorizer.c $(pkg-config --cflags --libs fngate)
 *     cc -o authorizer_test authorizer_test.c $(pkg-config --cflags --libs fngate-test)
 *     ./authorizer_test               # or: ./authorizer_test path/to/authorizer.so
 *
 * It prints TAP and exits non-zero when a check failed; `make test` runs it.
 */
#include <stdio.h>
#include <string.h>

#include <fngate_test.h>

/* The authorizer's answer to an event of type with one identity source. */
static struct fng_test_result *ask(struct fng_test *t, const char *type, const char *identity)
{
	struct fng_test_event *ev = fng_test_event_authorizer(type, &identity, 1);
	struct fng_test_result *r = ev ? fng_test_invoke(t, ev) : NULL;

	if (!r) {
		printf("# %s\n", ev ? fng_test_error(t) : "no event");
	}
	fng_test_event_free(ev);
	return r;
}

int main(int argc, char **argv)
{
	static const char token_event[] = "{\"type\":\"TOKEN\",\"authorizationToken\":"
		"\"Bearer allow-grace\",\"methodArn\":\"arn:aws:execute-api:r:1:demo/dev/GET/x\"}";
	const char *so = argc > 1 ? argv[1] : "./authorizer.so";
	struct fng_test_event *ev;
	struct fng_test_result *r;
	struct fng_test *t;
	char err[256];

	t = fng_test_load(so, err, sizeof(err));
	if (!fng_test_check(t != NULL, "load %s", so)) {
		printf("# %s\n", err);
		return fng_test_check_end();
	}

	/* TOKEN: the Authorization header's value. */
	r = ask(t, "TOKEN", "Bearer allow-ada");
	fng_test_check_str(fng_test_authorizer_decision(r), "allow", "Bearer allow-ada: allowed");
	fng_test_check_str(fng_test_authorizer_value(r, "principalId"), "ada", "... as ada");
	fng_test_check_str(fng_test_authorizer_value(r, "user"), "ada", "... context user");
	fng_test_check_str(fng_test_authorizer_value(r, "level"), "3", "... a number, as text");
	fng_test_check_str(fng_test_authorizer_value(r, "demo"), "true", "... a boolean, as text");
	fng_test_check_str(fng_test_authorizer_value(r, "none"), NULL, "... and nothing else");
	fng_test_result_free(r);
	r = ask(t, "TOKEN", "Bearer deny-me");
	fng_test_check_str(fng_test_authorizer_decision(r), "deny", "Bearer deny-me: denied");
	fng_test_result_free(r);
	r = ask(t, "TOKEN", "allow-ada");
	fng_test_check_str(fng_test_authorizer_decision(r), "deny", "no Bearer scheme: denied");
	fng_test_result_free(r);
	r = ask(t, "TOKEN", "Bearer allow-");
	fng_test_check_str(fng_test_authorizer_decision(r), "deny", "an empty name: denied");
	fng_test_result_free(r);

	/* REQUEST: the chat page's ?token=allow-NICK. */
	r = ask(t, "REQUEST", "allow-bob");
	fng_test_check_str(fng_test_authorizer_value(r, "principalId"), "bob",
		"REQUEST allow-bob: allowed as bob");
	fng_test_result_free(r);
	r = ask(t, "REQUEST", "x");
	fng_test_check_str(fng_test_authorizer_decision(r), "deny", "REQUEST x: denied");
	fng_test_result_free(r);

	/* A Lambda authorizer's JSON event, and the answer as `fngate invoke` prints it. */
	ev = fng_test_event_json(token_event, strlen(token_event), err, sizeof(err));
	r = ev ? fng_test_invoke(t, ev) : NULL;
	fng_test_check_str(fng_test_authorizer_value(r, "principalId"), "grace",
		"JSON TOKEN event: allowed as grace");
	fng_test_check(fng_test_result_json(r) &&
		strstr(fng_test_result_json(r), "\"isAuthorized\": true") &&
		strstr(fng_test_result_json(r), "\"level\": 3"), "JSON TOKEN event: the answer's JSON");
	fng_test_result_free(r);
	fng_test_event_free(ev);

	fng_test_close(t);
	return fng_test_check_end();
}
