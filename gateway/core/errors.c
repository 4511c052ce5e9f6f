// SPDX-License-Identifier: MIT
/*
 * Error codes and status reasons. The edge of the request path turns an error into an HTTP
 * status here and nowhere else.
 */
#include <string.h>
#include <uv.h>

#include "errors.h"
#include "mem.h"

const char *fng_strerror(int err)
{
	switch (err) {
#define XX(name, status, msg)                                                                  \
	case FNG_E##name:                                                                  \
		return msg;
		FNG_ERRNO_MAP(XX)
#undef XX
	default:
		return err < 0 ? uv_strerror(err) : "Success";
	}
}

const char *fng_err_name(int err)
{
	switch (err) {
#define XX(name, status, msg)                                                                  \
	case FNG_E##name:                                                                  \
		return "FNG_E" #name;
		FNG_ERRNO_MAP(XX)
#undef XX
	default:
		return err < 0 ? uv_err_name(err) : "OK";
	}
}

int fng__err_status(int err)
{
	switch (err) {
#define XX(name, status, msg)                                                                  \
	case FNG_E##name:                                                                  \
		return status;
		FNG_ERRNO_MAP(XX)
#undef XX
	case UV_ETIMEDOUT:
		return 504;
	default:
		return 500;
	}
}

int fng__err_json(struct fng_buf *b, const char *msg, const char *connection_id,
	const char *request_id, size_t request_id_len)
{
	int err = fng__buf_str(b, "{\"message\":\"");

	err = err ? err : fng__buf_json_escape(b, msg, strlen(msg));
	if (connection_id) {
		err = err ? err : fng__buf_str(b, "\",\"connectionId\":\"");
		err = err ? err : fng__buf_json_escape(b, connection_id, strlen(connection_id));
	}
	if (request_id) {
		err = err ? err : fng__buf_str(b, "\",\"requestId\":\"");
		err = err ? err : fng__buf_json_escape(b, request_id, request_id_len);
	}
	return err ? err : fng__buf_str(b, "\"}");
}

const char *fng__status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Entity";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
