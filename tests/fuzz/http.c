// SPDX-License-Identifier: MIT
/*
 * Fuzz driver over the whole request path: bytes → pre-validator → llhttp → body decoder →
 * stage table → mock integration → response, through the loopback transport. The first
 * input byte picks how the rest is split into reads, so chunk boundaries are fuzzed too.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_server.h"
#include "daemon.h"
#include "http.h"
#include "transport.h"

static const char config[] =
	"server:\n"
	"  listen: ['127.0.0.1:0']\n"
	"  limits: { request_line_bytes: 512, header_bytes: 2048, header_fields: 20,\n"
	"            body_bytes: 4096 }\n"
	"access_log: { path: /dev/null }\n"
	"apis:\n"
	"  a:\n"
	"    stages:\n"
	"      dev: { variables: { v: x } }\n"
	"      small: { body_bytes: 16 }\n"
	"      $default: {}\n"
	"    routes:\n"
	"      'GET /items/{id}':\n"
	"        integration: { type: mock, body: '${request.path.id|json} ${stageVariables.v}' }\n"
	"      'POST /items':\n"
	"        integration: { type: mock, status: 201, headers: { x-q: '${request.querystring.q}' } }\n"
	"      'ANY /p/{rest+}':\n"
	"        integration: { type: mock, chunked: true, body: '${request.header.host}' }\n"
	"      $default:\n"
	"        integration: { type: mock, status: 404 }\n"
	"domains:\n"
	"  example.com:\n"
	"    - { base_path: /v1, api: a, stage: dev }\n";

static uv_loop_t loop;
static struct fng_server srv;
static int ready;

static void setup(void)
{
	fng_fuzz_server(&loop, &srv, config, sizeof(config) - 1);
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fng_loopback *lb;
	size_t step, off;

	if (!ready) {
		setup();
	}
	if (size == 0) {
		return 0;
	}
	step = data[0] < 16 ? (size_t)data[0] + 1 : size;
	lb = fng__loopback_create(&srv);
	for (off = 1; off < size && !lb->closed; off += step) {
		size_t n = size - off < step ? size - off : step;

		fng__loopback_feed(lb, data + off, n);
	}
	fng__loopback_eof(lb);
	uv_run(&loop, UV_RUN_NOWAIT);
	fng__loopback_destroy(lb);
	return 0;
}

void fng_fuzz_cleanup(void)
{
	if (ready) {
		fng__server_finish(&srv);
		uv_loop_close(&loop);
		fng__arena_cache_drain();
		ready = 0;
	}
}
