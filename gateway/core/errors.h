/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_ERRORS_H
#define FNG_GATEWAY_ERRORS_H

#include <errno.h>
#include <stddef.h>

struct fng_buf;

/*
 * Project error codes, negative like libuv's, far below the errno range. Each row: name,
 * HTTP status the edge answers with, and the default message. The status column is the one
 * place an error becomes a status code (fng__err_status()).
 */
#define FNG_ERRNO_MAP(XX)                                                                  \
	XX(BAD_REQUEST, 400, "Bad Request")                                                \
	XX(UNAUTHORIZED, 401, "Unauthorized")                                              \
	XX(FORBIDDEN, 403, "Forbidden")                                                    \
	XX(NOT_FOUND, 404, "Not Found")                                                    \
	XX(METHOD_NOT_ALLOWED, 405, "Method Not Allowed")                                  \
	XX(REQUEST_TIMEOUT, 408, "Request Timeout")                                        \
	XX(GONE, 410, "Gone")                                                              \
	XX(BODY_TOO_LARGE, 413, "Payload Too Large")                                       \
	XX(URI_TOO_LONG, 414, "URI Too Long")                                              \
	XX(EXPECTATION_FAILED, 417, "Expectation Failed")                                  \
	XX(MISDIRECTED, 421, "Misdirected Request")                                        \
	XX(UPGRADE_REQUIRED, 426, "Upgrade Required")                                      \
	XX(HEADERS_TOO_LARGE, 431, "Request Header Fields Too Large")                      \
	XX(THROTTLED, 429, "Too Many Requests")                                            \
	XX(CLIENT_CLOSED, 499, "Client Closed Request")                                    \
	XX(INTERNAL, 500, "Internal Server Error")                                         \
	XX(NOT_IMPLEMENTED, 501, "Not Implemented")                                        \
	XX(BAD_GATEWAY, 502, "Bad Gateway")                                                \
	XX(UNAVAILABLE, 503, "Service Unavailable")                                        \
	XX(GATEWAY_TIMEOUT, 504, "Gateway Timeout")                                        \
	XX(VERSION, 505, "HTTP Version Not Supported")                                     \
	XX(CONFIG, 500, "invalid configuration")

enum fng_errno {
	FNG__ERRNO_BASE = -20000,
#define XX(name, status, msg) FNG_E##name,
	FNG_ERRNO_MAP(XX)
#undef XX
	FNG__ERRNO_END
};

/* Message for a project code or a negative errno. Never NULL. */
const char *fng_strerror(int err);
/* "FNG_ENOT_FOUND", "ENOMEM", ... Never NULL. */
const char *fng_err_name(int err);
/* The HTTP status for an error; 500 for anything not in the map. */
int fng__err_status(int err);
/*
 * Appends the JSON body that tells a client about an error, the same shape everywhere:
 * {"message":MSG} for HTTP, with "connectionId" and "requestId" added on a WebSocket
 * connection (each left out when NULL). Every string is escaped (RFC 8259), so a message may
 * quote what a client sent. No newline after the object. 0 or UV_ENOMEM (b then holds part).
 */
int fng__err_json(struct fng_buf *b, const char *msg, const char *connection_id,
	const char *request_id, size_t request_id_len);
/* Reason phrase for a status code ("OK", "Not Found"); "Unknown" if none. */
const char *fng__status_reason(int status);

#endif
