#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Strict-reject corpus: request smuggling and malformed HTTP/1.1 requests.

Every case sends the malformed bytes immediately followed, in the same packet, by a valid
`GET /dev/smuggled/N` request, and asserts:
  - exactly one response, with the expected status (400 unless stated otherwise),
  - `Connection: close`, a JSON body with a "message",
  - the server closes the connection and never answers the smuggled request,
  - the access-log line for that x-request-id has the status, an empty integrationStatus
    (no integration ran) and a non-empty error.
Finally no access-log line may show a /smuggled/ path. TAP output.
"""

import time

from lib import (Conn, Fail, Shared, Tap, check, check_common, check_json_error, eq, notes,
                 req, run_parallel)

CONFIG = '''
server:
  listen: ["127.0.0.1:0"]
  timeouts: { header_ms: 1000, body_ms: 1000 }
access_log: { path: "@TMP@/access.log" }
apis:
  demo:
    stages:
      dev: {}
    routes:
      "POST /echo":
        integration: { type: mock, status: 201, body: "posted" }
      "GET /items/{id}":
        integration: { type: mock, body: "item ${request.path.id}" }
      "ANY /smuggled/{n}":
        integration: { type: mock, body: "SMUGGLED ${request.path.n}" }
'''

H = b'Host: a\r\n'
G = b'GET /dev/items/1 HTTP/1.1\r\n'
P = b'POST /dev/echo HTTP/1.1\r\n'
TE = b'Transfer-Encoding: chunked\r\n'


def line(rl):
    """A request with request line `rl` and a Host header."""
    return rl + b'\r\n' + H + b'\r\n'


def chunk_body(body):
    return P + H + TE + b'\r\n' + body


# (name, request bytes, expected status)
CASES = [
    # --- bare CR
    ('bare CR starting a line after Host (\\rXGET)', G + H + b'\rXGET /dev/items/2 HTTP/1.1\r\n' + H + b'\r\n', 400),
    ('bare CR inside a header value', G + H + b'X-A: a\rb\r\n\r\n', 400),
    ('bare CR inside a header name', G + H + b'X\rA: b\r\n\r\n', 400),
    ('bare CR between target and version', line(b'GET /dev/items/1\r HTTP/1.1'), 400),
    ('CR CR LF ending the request line', b'GET /dev/items/1 HTTP/1.1\r\r\n' + H + b'\r\n', 400),
    ('CR CR LF as the empty line ending the head', G + H + b'\r\r\n', 400),
    ('bare CR inside the URL', line(b'GET /dev/it\rems/1 HTTP/1.1'), 400),
    # --- bare LF
    ('bare LF line endings throughout', b'GET /dev/items/1 HTTP/1.1\nHost: a\n\n', 400),
    ('bare LF after the request line', b'GET /dev/items/1 HTTP/1.1\nHost: a\r\n\r\n', 400),
    ('bare LF ending a header line', G + b'Host: a\nX-A: b\r\n\r\n', 400),
    ('bare LF as the empty line ending the head', G + H + b'\n', 400),
    ('bare LF inside a header value', G + H + b'X-A: a\nb: c\r\n\r\n', 400),
    # --- obs-fold
    ('obs-fold: continuation line starting with SP', G + H + b'X-A: a\r\n b\r\n\r\n', 400),
    ('obs-fold: continuation line starting with HTAB', G + H + b'X-A: a\r\n\tb\r\n\r\n', 400),
    ('first header line starts with SP', G + b' X-A: b\r\n' + H + b'\r\n', 400),
    ('obs-fold hiding Transfer-Encoding', P + H + b'Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc', 400),
    # --- whitespace between field name and colon
    ('SP between field name and colon (Host : a)', G + b'Host : a\r\n\r\n', 400),
    ('HTAB between field name and colon', G + H + b'X-A\t: b\r\n\r\n', 400),
    ('SP before colon in Content-Length', P + H + b'Content-Length : 5\r\n\r\nhello', 400),
    ('SP before colon in Transfer-Encoding', P + H + b'Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n', 400),
    # --- NUL and control bytes
    ('NUL in a field name', G + H + b'X-\x00A: b\r\n\r\n', 400),
    ('NUL in a field value', G + H + b'X-A: a\x00b\r\n\r\n', 400),
    ('NUL in the URL', line(b'GET /dev/items/1\x00 HTTP/1.1'), 400),
    ('NUL in the method', line(b'G\x00ET /dev/items/1 HTTP/1.1'), 400),
    ('DEL (0x7f) in a field value', G + H + b'X-A: a\x7fb\r\n\r\n', 400),
    ('0x01 in a field value', G + H + b'X-A: a\x01b\r\n\r\n', 400),
    ('VT between Transfer-Encoding colon and value', P + H + b'Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n', 400),
    # --- field-name tokens
    ('"(" in a field name', G + H + b'X(A: b\r\n\r\n', 400),
    ('\'"\' in a field name', G + H + b'X"A: b\r\n\r\n', 400),
    ('"@" in a field name', G + H + b'X@A: b\r\n\r\n', 400),
    ('"/" in a field name', G + H + b'X/A: b\r\n\r\n', 400),
    ('non-ASCII (UTF-8) in a field name', G + H + b'X-\xc3\xa9: b\r\n\r\n', 400),
    ('empty field name', G + H + b': b\r\n\r\n', 400),
    ('header line without a colon', G + H + b'NoColonHere\r\n\r\n', 400),
    # --- Content-Length
    ('Content-Length and Transfer-Encoding together', P + H + b'Content-Length: 5\r\n' + TE + b'\r\n0\r\n\r\n', 400),
    ('Transfer-Encoding then Content-Length', P + H + TE + b'Content-Length: 5\r\n\r\n0\r\n\r\n', 400),
    ('duplicate Content-Length, same value', P + H + b'Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello', 400),
    ('duplicate Content-Length, different values', P + H + b'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400),
    ('Content-Length list "5, 5"', P + H + b'Content-Length: 5, 5\r\n\r\nhello', 400),
    ('Content-Length: +5', P + H + b'Content-Length: +5\r\n\r\nhello', 400),
    ('Content-Length: -1', P + H + b'Content-Length: -1\r\n\r\nhello', 400),
    ('Content-Length: 1 2', P + H + b'Content-Length: 1 2\r\n\r\nhello', 400),
    ('Content-Length: 0x10', P + H + b'Content-Length: 0x10\r\n\r\n0123456789abcdef', 400),
    ('Content-Length: a (hex digit)', P + H + b'Content-Length: a\r\n\r\n0123456789', 400),
    ('Content-Length: empty', P + H + b'Content-Length: \r\n\r\n', 400),
    ('Content-Length: 23-digit overflow', P + H + b'Content-Length: 99999999999999999999999\r\n\r\nhello', 400),
    ('Content-Length: 18446744073709551621 (2^64+5)', P + H + b'Content-Length: 18446744073709551621\r\n\r\nhello', 400),
    ('Content-Length: non-ASCII digit', P + H + b'Content-Length: \xd9\xa5\r\n\r\nhello', 400),
    # --- Transfer-Encoding
    ('Transfer-Encoding: gzip', P + H + b'Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n', 400),
    ('Transfer-Encoding: chunked, gzip', P + H + b'Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n', 400),
    ('Transfer-Encoding: identity', P + H + b'Transfer-Encoding: identity\r\n\r\n0\r\n\r\n', 400),
    ('Transfer-Encoding: chunked, chunked', P + H + b'Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', 400),
    ('Transfer-Encoding: chunked on two field lines', P + H + TE + TE + b'\r\n0\r\n\r\n', 400),
    ('Transfer-Encoding: xchunked', P + H + b'Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', 400),
    ('Transfer-Encoding: chunked then a second TE line gzip', P + H + TE + b'Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n', 400),
    ('Transfer-Encoding on HTTP/1.0', b'POST /dev/echo HTTP/1.0\r\n' + H + TE + b'\r\n0\r\n\r\n', 400),
    # --- chunked framing
    ('chunk size -1', chunk_body(b'-1\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk size zz', chunk_body(b'zz\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk size overflow (22 hex digits)', chunk_body(b'ffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk size 0x5', chunk_body(b'0x5\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk size with leading SP', chunk_body(b' 5\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk data not followed by CRLF', chunk_body(b'5\r\nhelloXX0\r\n\r\n'), 400),
    ('chunk data shorter than its size', chunk_body(b'5\r\nhel\r\n0\r\n\r\n'), 400),
    ('chunk-size line ended by bare LF', chunk_body(b'5\nhello\r\n0\r\n\r\n'), 400),
    ('bare CR in a chunk extension', chunk_body(b'5;a=\rb\r\nhello\r\n0\r\n\r\n'), 400),
    # --- chunk extensions (RFC 9112 7.1.1; more forms in tests/unit/gateway/http/body.c)
    ('chunk extension: unterminated quoted value', chunk_body(b'5;x="abc\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk extension: no name', chunk_body(b'5;=v\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk extension: "@" in the name', chunk_body(b'5;x@y=1\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk extension: unquoted SP in the value', chunk_body(b'5;x=a b\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk extension: obs-text in a quoted value', chunk_body(b'5;x="\xc3\xa9"\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk extension: a quoted value hiding CRLF and a chunk', chunk_body(b'5;x="\r\n0\r\n\r\n"\r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk extension: whitespace before CRLF', chunk_body(b'5;x=1 \r\nhello\r\n0\r\n\r\n'), 400),
    ('chunk extension: over 4096 bytes', chunk_body(b'5;x=' + b'v' * 4096 + b'\r\nhello\r\n0\r\n\r\n'), 400),
    ('trailer field with bare LF', chunk_body(b'5\r\nhello\r\n0\r\nX: y\n\r\n'), 400),
    ('trailer field with invalid name', chunk_body(b'5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n'), 400),
    # --- method
    ('"(" in the method', line(b'G(ET /dev/items/1 HTTP/1.1'), 400),
    ('"@" in the method', line(b'GE@T /dev/items/1 HTTP/1.1'), 400),
    ('non-ASCII byte in the method', line(b'G\xc9T /dev/items/1 HTTP/1.1'), 400),
    ('empty method (line starts with SP)', line(b' /dev/items/1 HTTP/1.1'), 400),
    # --- request line
    ('missing HTTP version', line(b'GET /dev/items/1'), 400),
    ('SP after the HTTP version', line(b'GET /dev/items/1 HTTP/1.1 '), 400),
    ('junk after the HTTP version', line(b'GET /dev/items/1 HTTP/1.1x'), 400),
    ('HTTP/2.0 in an HTTP/1 request line (505)', line(b'GET /dev/items/1 HTTP/2.0'), 505),
    ('HTTP/1.x', line(b'GET /dev/items/1 HTTP/1.x'), 400),
    ('HTTP/11', line(b'GET /dev/items/1 HTTP/11'), 400),
    ('lower-case http/1.1', line(b'GET /dev/items/1 http/1.1'), 400),
    ('two SP between method and target', line(b'GET  /dev/items/1 HTTP/1.1'), 400),
    ('two SP between target and version', line(b'GET /dev/items/1  HTTP/1.1'), 400),
    ('HTAB as request-line separator', line(b'GET\t/dev/items/1 HTTP/1.1'), 400),
    ('SP inside the target', line(b'GET /dev/items/a b HTTP/1.1'), 400),
    # --- request target
    ('absolute target without scheme (://x/...)', line(b'GET ://x/dev/items/1 HTTP/1.1'), 400),
    ('absolute target with "@" in the scheme', line(b'GET h@tp://x/dev/items/1 HTTP/1.1'), 400),
    ('absolute target with unterminated IPv6 literal', line(b'GET http://[::1/dev/items/1 HTTP/1.1'), 400),
    ('relative target (no leading slash)', line(b'GET dev/items/1 HTTP/1.1'), 400),
    ('asterisk-form with GET', line(b'GET * HTTP/1.1'), 400),
    ('0x01 in the URL', line(b'GET /dev/items/a\x01b HTTP/1.1'), 400),
    ('DEL in the URL', line(b'GET /dev/items/a\x7fb HTTP/1.1'), 400),
    ('HTAB in the URL', line(b'GET /dev/items/a\tb HTTP/1.1'), 400),
    ('non-ASCII byte in the URL', line(b'GET /dev/items/\xff HTTP/1.1'), 400),
    # --- Host
    ('missing Host on HTTP/1.1', b'GET /dev/items/1 HTTP/1.1\r\nX-A: b\r\n\r\n', 400),
    ('duplicate Host, different values', G + b'Host: a\r\nHost: b\r\n\r\n', 400),
    ('duplicate Host, same value', G + H + H + b'\r\n', 400),
    ('Host with SP in the value', G + b'Host: a b\r\n\r\n', 400),
    ('Host with "/" in the value', G + b'Host: a/b\r\n\r\n', 400),
]


def smuggled(i):
    return req('GET', '/dev/smuggled/%d' % i, host='a')


tap = Tap(budget=100)
S = Shared(tap, CONFIG)
RESULTS = []


def run_case(i, name, data, status):
    d = S.get()
    with Conn(d.port, timeout=3.0) as c:
        c.try_send(data + smuggled(i))
        r = c.read_response(timeout=2.5)
        if b'SMUGGLED' in r.body:
            raise Fail('the smuggled request was answered: %r' % r.body)
        check_json_error(r, status, close=True)
        rid = check_common(r)
        c.expect_closed(1.5, 'the server to close the connection (the smuggled request must not be answered)')
    e = d.access_for(rid)
    eq(str(e.get('status')), str(status), 'access-log status')
    eq(e.get('integrationStatus'), '', 'access-log integrationStatus (no integration may run)')
    check(e.get('error'), 'access-log "error" is empty for a refused request: %r' % e)


def corpus_case(i):
    def fn():
        if not RESULTS:
            t0 = time.monotonic()
            fns = [(lambda j=j, c=c: run_case(j, *c)) for j, c in enumerate(CASES)]
            RESULTS.extend(run_parallel(fns, workers=8))
            notes().append('(corpus ran in %.1f s)' % (time.monotonic() - t0))
        exc, ns = RESULTS[i]
        notes().extend(ns)
        if exc is not None:
            raise exc
    return fn


for _i, (_name, _data, _status) in enumerate(CASES):
    tap.add('reject %d: %s -> %d' % (_i, _name, _status), corpus_case(_i))


@tap.case('chunk extensions: the valid forms reach the route; a bad one is a 400 naming the problem')
def _():
    d = S.get()
    body = (b'2;a\r\nhe\r\n1;a=b\r\nl\r\n1;a="b c";q="q\\"x"\r\nl\r\n'
            b'1 ; a = "x" ; b\r\no\r\n0;end\r\n\r\n')
    with Conn(d.port) as c:
        c.send(chunk_body(body))
        r = c.read_response()
        eq((r.status, r.body), (201, b'posted'), 'valid extensions: status/body')
        c.send(req('GET', '/dev/items/2', host='a'))
        eq(c.read_response().status, 200, 'the connection stays usable')
    for ext, why in [(b';x="abc', 'unterminated quoted string in chunk extension'),
                     (b';x=a b', 'whitespace inside an unquoted chunk extension value'),
                     (b';x="\xff"', 'non-ASCII byte in chunk extension')]:
        with Conn(d.port) as c:
            c.send(chunk_body(b'5' + ext + b'\r\nhello\r\n0\r\n\r\n'))
            r = c.read_response()
            obj = check_json_error(r, 400, close=True)
            eq(obj['message'], why, 'message for %r' % ext)


@tap.case('no smuggled request ever reached routing (access log)')
def _():
    check(RESULTS, 'corpus did not run')
    d = S.get()
    time.sleep(1.0)   # let the batched access log catch up
    hits = [e for e in d.access_entries()
            if '/smuggled/' in str(e.get('path', '')) or 'smuggled' in str(e.get('routeKey', ''))]
    check(not hits, '%d smuggled request(s) were routed: %r' % (len(hits), hits[:5]))


@tap.case('daemon survived the corpus and still serves')
def _():
    eq(S.restarts, 0, 'daemon restarts during the corpus')
    d = S.get()
    with Conn(d.port) as c:
        c.send(req('GET', '/dev/items/ok'))
        r = c.read_response()
        eq((r.status, r.body), (200, b'item ok'), 'status/body')


tap.add('shared daemon main exits 0 on SIGTERM', S.check_exit)


if __name__ == '__main__':
    tap.run()
