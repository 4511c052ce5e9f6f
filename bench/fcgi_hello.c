// SPDX-License-Identifier: MIT
/*
 * fcgi_hello: the FastCGI peer of examples/hello for bench/functions.sh — the setup a C
 * programmer picks today for "a C handler behind a web server": libfcgi's FCGI_Accept()
 * loop, run by spawn-fcgi, behind nginx's fastcgi_pass.
 *
 * It does the work hello does: takes the last segment of the request path as the name
 * (percent-decoded), the first as the stage, and answers
 *
 *     {"message":"hello, NAME","stage":"STAGE"}\n
 *
 * with the JSON escaping of fng_json_str(), as application/json with a Content-Length (so
 * that nginx need not chunk the response).
 *
 *     cc -O2 -o fcgi_hello bench/fcgi_hello.c -lfcgi
 *     spawn-fcgi -s /tmp/fcgi.sock -F 2 -u nobody -- ./fcgi_hello
 */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Percent-decodes [p, p + n) into out (NUL-terminated); invalid escapes stay as they are. */
static void pct_decode(const char *p, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		int hi, lo;

		if (p[i] == '%' && i + 2 < n &&
			(hi = hexval((unsigned char)p[i + 1])) >= 0 &&
			(lo = hexval((unsigned char)p[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = p[i];
		}
	}
	out[o] = '\0';
}

/* Appends s to out as the inside of a JSON string literal; returns the new length. */
static size_t json_str(char *out, size_t len, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s && len + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[len++] = '\\';
			out[len++] = (char)c;
		} else if (c == '\n') {
			out[len++] = '\\';
			out[len++] = 'n';
		} else if (c < 0x20) {
			memcpy(out + len, "\\u00", 4);
			out[len + 4] = hex[c >> 4];
			out[len + 5] = hex[c & 15];
			len += 6;
		} else {
			out[len++] = (char)c;
		}
	}
	return len;
}

static size_t append(char *out, size_t len, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (len + n >= size) {
		n = size - len - 1;
	}
	memcpy(out + len, s, n);
	return len + n;
}

int main(void)
{
	while (FCGI_Accept() >= 0) {
		const char *uri = getenv("REQUEST_URI");
		const char *end, *last, *first, *stage_end;
		char name[1024], stage[256], body[4096];
		size_t n = 0;

		if (!uri || uri[0] != '/') {
			uri = "/";
		}
		end = strchr(uri, '?');
		if (!end) {
			end = uri + strlen(uri);
		}
		last = end;
		while (last > uri && last[-1] != '/') {
			last--;
		}
		first = uri + 1;
		stage_end = memchr(first, '/', (size_t)(end - first));
		if (!stage_end) {
			stage_end = end;
		}
		pct_decode(last, (size_t)(end - last), name, sizeof(name));
		pct_decode(first, (size_t)(stage_end - first), stage, sizeof(stage));
		if (!name[0]) {
			strcpy(name, "world");
		}
		n = append(body, n, sizeof(body), "{\"message\":\"hello, ");
		n = json_str(body, n, sizeof(body), name);
		n = append(body, n, sizeof(body), "\",\"stage\":\"");
		n = json_str(body, n, sizeof(body), stage);
		n = append(body, n, sizeof(body), "\"}\n");
		printf("Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", (int)n);
		fwrite(body, 1, n, stdout);
	}
	return 0;
}
