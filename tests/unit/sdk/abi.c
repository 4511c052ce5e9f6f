// SPDX-License-Identifier: MIT
/*
 * Unit tests for what libfngate exports (sdk/fngate.map, sdk/meson.build) and for a handler
 * built the way users build one: every function declared in fngate.h and wire.h is exported
 * with version FNGATE_1 and nothing internal is — in particular not the worker runtime
 * (runtime.h), which a handler could otherwise call to skip the serve-time seccomp filter; a
 * handler module (handler.c) loaded with dlopen exposes its descriptor, resolves fng_* to the
 * one libfngate already in the process, and serves an invocation through fng__rt_serve (linked
 * into this program, as into the fngate executable).
 *
 * Arguments: the handler module, then the headers to scan for declarations.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fngate.h"
#include "harness.h"
#include "runtime.h"
#include "wire.h"

/*
 * Collects the function names declared at the start of a line in a header ("type name(" or
 * "type *name(", possibly continued on the next lines). Good enough for our headers,
 * whose style is fixed.
 */
static int scan_header(const char *path, char names[][64], int max)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	if (!f) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) && n < max) {
		char *p;

		if (strchr("#/ \t*\n}", line[0]) || strncmp(line, "typedef", 7) == 0 ||
			strncmp(line, "struct", 6) == 0 || strncmp(line, "enum", 4) == 0) {
			continue;
		}
		for (p = strstr(line, "fng_"); p; p = strstr(p + 1, "fng_")) {
			size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");

			if (p[len] == '(' && len < 64) {
				memcpy(names[n], p, len);
				names[n++][len] = '\0';
				break;
			}
		}
	}
	fclose(f);
	return n;
}

static void test_exports(int nheaders, char **headers)
{
	static char names[128][64];
	int total = 0, missing = 0;
	static const char *const hidden[] = { "fng__sarena_alloc", "fng__sarena_reset",
		"fng__sdk_write_all", "prevalidate", "decode_map", "msgpack_pack_object",
		"fng__rt_serve", "fng__rt_ready" };

	for (int i = 0; i < nheaders; i++) {
		int n = scan_header(headers[i], names + total, 128 - total);

		CHECK(n > 0, "scan %s: %d declarations", headers[i], n);
		total += n > 0 ? n : 0;
	}
	for (int i = 0; i < total; i++) {
		if (!dlvsym(RTLD_DEFAULT, names[i], "FNGATE_1")) {
			printf("# %s is not exported as FNGATE_1\n", names[i]);
			missing++;
		}
	}
	CHECK(total >= 40, "the headers declare %d functions", total);
	CHECK_INT(missing, 0, "every declared function is exported with version FNGATE_1");
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		void *lib = dlopen("libfngate.so.1", RTLD_NOW | RTLD_NOLOAD);
		void *sym = lib ? dlsym(lib, hidden[i]) : NULL;
		Dl_info info;

		/* A symbol found through the handle may come from a dependency (msgpack-c); only
		 * one defined in libfngate itself would be a leak. */
		if (sym && dladdr(sym, &info) && !strstr(info.dli_fname, "libfngate")) {
			sym = NULL;
		}
		CHECK(lib && !sym, "%s is not exported by libfngate", hidden[i]);
		if (lib) {
			dlclose(lib);
		}
	}
}

struct serve {
	int fd;
	const struct fng_handler_desc *desc;
	int rc;
};

static void *serve_main(void *arg)
{
	struct serve *s = arg;

	s->rc = fng__rt_serve(s->fd, s->desc, "hello", 0, NULL);
	close(s->fd);
	return NULL;
}

static void test_handler_module(const char *path)
{
	void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	const struct fng_handler_desc *desc = so ? dlsym(so, "fng_handler_desc") : NULL;
	void *theirs, *ours = (void *)fng_response_json;
	Dl_info info;
	struct serve s;
	pthread_t t;
	int sv[2];

	CHECK(so != NULL, "dlopen the handler module: %s", so ? "ok" : dlerror());
	CHECK(desc != NULL, "the module exports fng_handler_desc");
	if (!desc) {
		return;
	}
	CHECK(desc->abi == FNG_ABI_VERSION && strcmp(desc->name, "hello") == 0 && desc->handle &&
			desc->init && !desc->shutdown,
		"descriptor: abi %u, name hello, handle and init set, no shutdown", desc->abi);
	theirs = dlsym(so, "fng_response_json");
	CHECK(theirs == ours, "the module's fng_response_json is the process's one copy");
	CHECK(dladdr(theirs, &info) && strstr(info.dli_fname, "libfngate.so"),
		"and it lives in libfngate.so");
	CHECK_INT(desc->init(), 0, "init hook returns 0");

	struct fng_wire_kv params[] = { { { "name", 4 }, { "ada \"l\"", 7 } } };
	struct fng_wire_event ev = { .raw_path = { "/hello/ada", 10 }, .path_params = params,
		.npath_params = 1, .deadline_epoch_ms = 1 };
	struct fng_wire_buf b = { 0 };
	uint8_t hdr[5];
	char *body;
	size_t len;
	struct fng_wire_result r;
	void *h = NULL;
	int rc = -1;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	s = (struct serve){ sv[1], desc, 1 };
	pthread_create(&t, NULL, serve_main, &s);
	fng__wire_encode_invoke(&b, &ev);
	if (write(sv[0], b.p, b.len) == (ssize_t)b.len && read(sv[0], hdr, 5) == 5) {
		len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
		len--; /* LEN counts the type byte */
		body = malloc(len);
		if (read(sv[0], body, len) == (ssize_t)len && hdr[4] == FNG_WIRE_RESULT) {
			rc = fng__wire_decode_result((uint8_t *)body, len, &r, &h);
		}
		free(body);
	}
	CHECK_INT(rc, 0, "the module answers an INVOKE");
	static const char want[] = "{\"hello\":\"ada \\\"l\\\"\"}";

	CHECK(rc == 0 && r.status == 200 && r.body_len == sizeof(want) - 1 &&
			memcmp(r.body, want, sizeof(want) - 1) == 0,
		"body %s", want);
	CHECK(rc == 0 && r.nheaders == 2 && strcmp(r.headers[0].v.p, "1") == 0,
		"init ran once in this process (x-inits: 1), content-type added");
	fng__wire_free(h);
	fng__wire_buf_finish(&b);
	shutdown(sv[0], SHUT_WR);
	pthread_join(t, NULL);
	close(sv[0]);
	CHECK_INT(s.rc, 0, "serve loop ends at EOF");
	dlclose(so);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s HANDLER.so HEADER...\n", argv[0]);
		return 2;
	}
	test_exports(argc - 2, argv + 2);
	test_handler_module(argv[1]);
	return fng_test_done();
}
