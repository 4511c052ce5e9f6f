// SPDX-License-Identifier: MIT
/*
 * hello_test: the tests of hello.c, run against the built hello.so through fngate's test
 * harness (fngate_test.h) — the handler runs as in a worker, minus the sandbox. Build and
 * run beside hello.so:
 *
 *     cc -shared -fPIC -o hello.so hello.c $(pkg-config --cflags --libs fngate)
 *     cc -o hello_test hello_test.c $(pkg-config --cflags --libs fngate-test)
 *     ./hello_test                    # or: ./hello_test path/to/hello.so path/to/events
 *
 * It prints TAP ("ok 1 - ...") and exits non-zero when a check failed; `make test` runs it.
 */
#include <stdio.h>
#include <string.h>

#include <fngate_test.h>

static const char *so = "./hello.so", *events = "events";

/* GET path with the route's name parameter (NULL: none) and the stage's greeting (NULL). */
static struct fng_test_result *get(struct fng_test *t, const char *path, const char *name,
	const char *greeting)
{
	struct fng_test_event *ev = fng_test_event_http("GET", path);
	struct fng_test_result *r;

	fng_test_event_set(ev, FNG_TEST_ROUTE_KEY, "GET /hello/{name}");
	fng_test_event_set(ev, FNG_TEST_STAGE, "dev");
	if (name) {
		fng_test_event_add(ev, FNG_TEST_PATH_PARAM, "name", name);
	}
	if (greeting) {
		fng_test_event_add(ev, FNG_TEST_STAGE_VAR, "greeting", greeting);
	}
	r = fng_test_invoke(t, ev);
	if (!r) {
		printf("# %s\n", fng_test_error(t));
	}
	fng_test_event_free(ev);
	return r;
}

/* An API Gateway event from events/ (JSON), invoked. */
static struct fng_test_result *from_file(struct fng_test *t, const char *file)
{
	char path[1024], err[256];
	struct fng_test_event *ev;
	struct fng_test_result *r;

	snprintf(path, sizeof(path), "%s/%s", events, file);
	ev = fng_test_event_file(path, err, sizeof(err));
	if (!ev) {
		printf("# %s\n", err);
		return NULL;
	}
	r = fng_test_invoke(t, ev);
	if (!r) {
		printf("# %s\n", fng_test_error(t));
	}
	fng_test_event_free(ev);
	return r;
}

int main(int argc, char **argv)
{
	struct fng_test_result *r;
	struct fng_test *t;
	const char *json;
	char err[256];

	so = argc > 1 ? argv[1] : so;
	events = argc > 2 ? argv[2] : events;
	t = fng_test_load(so, err, sizeof(err));
	if (!fng_test_check(t != NULL, "load %s", so)) {
		printf("# %s\n", err);
		return fng_test_check_end();
	}

	/* The path parameter is greeted, with the stage named. */
	r = get(t, "/dev/hello/ada", "ada", NULL);
	fng_test_check_int(fng_test_status(r), 200, "GET /hello/ada: 200");
	fng_test_check_str(fng_test_body(r, NULL), "{\"message\":\"hello, ada\",\"stage\":\"dev\"}\n",
		"GET /hello/ada: greets ada");
	fng_test_check_str(fng_test_header(r, "Content-Type"), "application/json",
		"GET /hello/ada: JSON content type");
	fng_test_check_int(fng_test_log_count(r), 0, "GET /hello/ada: logs nothing");
	fng_test_check_int(fng_test_ws_count(r), 0, "GET /hello/ada: no WebSocket call");
	fng_test_result_free(r);

	/* No name: the world is greeted. */
	r = get(t, "/dev/hello", NULL, NULL);
	fng_test_check_str(fng_test_body(r, NULL),
		"{\"message\":\"hello, world\",\"stage\":\"dev\"}\n", "no name: greets the world");
	fng_test_result_free(r);

	/* The stage's greeting variable, and a name that needs escaping in JSON. */
	r = get(t, "/dev/hello/x", "\"quoted\"", "hi");
	fng_test_check_str(fng_test_body(r, NULL),
		"{\"message\":\"hi, \\\"quoted\\\"\",\"stage\":\"dev\"}\n",
		"stage variable greeting, name escaped");
	fng_test_result_free(r);

	/* API Gateway events from files, and the JSON API Gateway would return for each. */
	r = from_file(t, "v2.json");
	fng_test_check_int(fng_test_status(r), 200, "payload 2.0 event: 200");
	fng_test_check_str(fng_test_body(r, NULL), "{\"message\":\"hi, ada\",\"stage\":\"dev\"}\n",
		"payload 2.0 event: its name, stage and greeting");
	json = fng_test_result_json(r);
	fng_test_check(json && strstr(json, "\"statusCode\": 200") &&
		strstr(json, "\"content-type\": \"application/json\"") &&
		strstr(json, "\"cookies\": []"), "payload 2.0 event: the 2.0 response JSON");
	fng_test_result_free(r);

	r = from_file(t, "v1.json");
	fng_test_check_str(fng_test_body(r, NULL),
		"{\"message\":\"hello, grace\",\"stage\":\"prod\"}\n",
		"payload 1.0 event: its name and stage");
	json = fng_test_result_json(r);
	fng_test_check(json && strstr(json, "\"statusCode\": 200") &&
		strstr(json, "\"multiValueHeaders\""), "payload 1.0 event: the 1.0 response JSON");
	fng_test_result_free(r);

	fng_test_close(t);
	return fng_test_check_end();
}
