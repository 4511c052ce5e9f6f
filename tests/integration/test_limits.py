#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Size limits (414, 431, 413) and timeouts (408, keep-alive idle) of fngate. TAP output."""

import select
import socket
import time

from lib import (Conn, Daemon, Shared, Tap, check, check_common, check_json_error, check_status, chunked,
                 eq, note, req)

ROUTES = '''
    routes:
      "POST /echo":
        integration: { type: mock, status: 201, body: "posted" }
      "GET /items/{id}":
        integration: { type: mock, body: "item ${request.path.id}" }
'''

DEFAULT_CFG = '''
server:
  listen: ["127.0.0.1:0"]
access_log: { path: "@TMP@/access.log" }
apis:
  demo:
    stages:
      dev: {}
      small: { body_bytes: 50 }
''' + ROUTES

SMALL_CFG = '''
server:
  listen: ["127.0.0.1:0"]
  limits:
    request_line_bytes: 256
    header_bytes: 512
    header_fields: 10
    body_bytes: 100
access_log: { path: "@TMP@/access.log" }
apis:
  demo:
    stages:
      dev: {}
      tiny: { body_bytes: 20 }
''' + ROUTES

TIMEOUT_CFG = '''
server:
  listen: ["127.0.0.1:0"]
  timeouts:
    header_ms: 300
    body_ms: 300
    keepalive_ms: 1000
access_log: { path: "@TMP@/access.log" }
apis:
  demo:
    stages:
      dev: {}
''' + ROUTES

tap = Tap(budget=100)
DEF = Shared(tap, DEFAULT_CFG)
SMALL = Shared(tap, SMALL_CFG)
TMO = Shared(tap, TIMEOUT_CFG)


def refused(shared, data, status, no_integration=True, timeout=3.0):
    """Send data; expect a JSON error `status` with Connection: close, then the close.
    Returns the response."""
    d = shared.get()
    with Conn(d.port, timeout) as c:
        c.try_send(data)
        r = c.read_response(timeout=timeout)
        check_json_error(r, status, close=True)
        rid = check_common(r)
        c.expect_closed(2.0)
    if no_integration:
        e = d.access_for(rid)
        eq(str(e.get('status')), str(status), 'access-log status')
        eq(e.get('integrationStatus'), '', 'access-log integrationStatus (no integration may run)')
        check(e.get('error'), 'access-log "error" is empty for a refused request: %r' % e)
    return r


def ok(shared, data, status=200, body=None):
    with Conn(shared.get().port) as c:
        c.send(data)
        r = c.read_response()
        check_status(r, status)
        if body is not None:
            eq(r.body, body.encode(), 'body')
        return r


def fields(n):
    return ['X-Field-%03d: v' % i for i in range(n)]


# -------------------------------------------------------- default limits ---

@tap.case('request line > 8 KiB -> 414, Connection: close')
def _():
    refused(DEF, req('GET', '/dev/items/' + 'a' * 9000), 414)


@tap.case('request line just under 8 KiB is accepted')
def _():
    ident = 'b' * (8000 - len('GET /dev/items/ HTTP/1.1'))
    ok(DEF, req('GET', '/dev/items/' + ident), 200, 'item ' + ident)


@tap.case('header block > 32 KiB -> 431, Connection: close')
def _():
    refused(DEF, req('GET', '/dev/items/1', headers=['X-Big-%d: %s' % (i, 'h' * 8000) for i in range(5)]), 431)


@tap.case('header block of ~30 KiB is accepted')
def _():
    ok(DEF, req('GET', '/dev/items/1', headers=['X-Big-%d: %s' % (i, 'h' * 7400) for i in range(4)]),
       200, 'item 1')


@tap.case('101 header fields -> 431')
def _():
    refused(DEF, req('GET', '/dev/items/1', headers=fields(100)), 431)  # + Host = 101


@tap.case('100 header fields are accepted')
def _():
    ok(DEF, req('GET', '/dev/items/1', headers=fields(99)), 200, 'item 1')  # + Host = 100


@tap.case('Content-Length over the body limit -> 413 right after the headers, no body sent')
def _():
    d = DEF.get()
    with Conn(d.port) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10485761\r\n\r\n')
        t0 = time.monotonic()
        r = c.read_response(timeout=2.0)
        check_json_error(r, 413, close=True)
        check(time.monotonic() - t0 < 2.0, '413 came late')
        rid = check_common(r)
        c.expect_closed(2.0)
    eq(d.access_for(rid).get('integrationStatus'), '', 'integrationStatus')


@tap.case('Content-Length over the limit -> 413 before routing (unknown path, no 404)')
def _():
    refused(DEF, b'POST /dev/no/such/route HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n', 413)


@tap.case('Content-Length over the limit with Expect: 100-continue -> 413, no 100 Continue')
def _():
    with Conn(DEF.get().port) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 20000000\r\n'
               b'Expect: 100-continue\r\n\r\n')
        r = c.read_response(timeout=2.0)
        check_json_error(r, 413, close=True)
        c.expect_closed(2.0)


@tap.case('body of exactly the default limit (10 MiB) is accepted')
def _():
    with Conn(DEF.get().port, timeout=10) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10485760\r\n\r\n')
        c.sock.sendall(b'x' * 10485760)
        r = c.read_response(timeout=10)
        check_status(r, 201)
        c.send(req('GET', '/dev/items/2'))
        check_status(c.read_response(), 200)


@tap.case('stage body_bytes (50) lower than the server limit -> 413')
def _():
    refused(DEF, req('POST', '/small/echo', body='x' * 51), 413)
    ok(DEF, req('POST', '/small/echo', body='x' * 50), 201, 'posted')
    ok(DEF, req('POST', '/dev/echo', body='x' * 51), 201, 'posted')


@tap.case('stage body_bytes applies to chunked bodies too')
def _():
    refused(DEF, b'POST /small/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
            + chunked('y' * 30, 'y' * 30), 413)
    ok(DEF, b'POST /small/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
       + chunked('y' * 25, 'y' * 25), 201, 'posted')


# ------------------------------------------------------ configured limits ---

@tap.case('configured request_line_bytes: 256')
def _():
    refused(SMALL, req('GET', '/dev/items/' + 'a' * 300), 414)
    ok(SMALL, req('GET', '/dev/items/' + 'a' * 200), 200)


@tap.case('configured header_bytes: 512')
def _():
    refused(SMALL, req('GET', '/dev/items/1', headers=['X-A: ' + 'h' * 600]), 431)
    ok(SMALL, req('GET', '/dev/items/1', headers=['X-A: ' + 'h' * 300]), 200)


@tap.case('configured header_fields: 10')
def _():
    refused(SMALL, req('GET', '/dev/items/1', headers=fields(10)), 431)  # 11 with Host
    ok(SMALL, req('GET', '/dev/items/1', headers=fields(9)), 200)       # 10 with Host


@tap.case('configured body_bytes: 100 (Content-Length)')
def _():
    refused(SMALL, req('POST', '/dev/echo', body='x' * 101), 413)
    ok(SMALL, req('POST', '/dev/echo', body='x' * 100), 201, 'posted')


@tap.case('chunked body over body_bytes -> 413')
def _():
    refused(SMALL, b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
            + chunked('z' * 50, 'z' * 50, 'z' * 50), 413)
    ok(SMALL, b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
       + chunked('z' * 50, 'z' * 50), 201, 'posted')


@tap.case('chunked body over body_bytes -> 413 while the body is still arriving')
def _():
    d = SMALL.get()
    with Conn(d.port) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
               + b'3c\r\n' + b'w' * 60 + b'\r\n')
        time.sleep(0.1)
        c.send(b'3c\r\n' + b'w' * 60 + b'\r\n')   # 120 > 100; no last-chunk is sent
        r = c.read_response(timeout=2.0)
        check_json_error(r, 413, close=True)
        rid = check_common(r)
        c.expect_closed(2.0)
    eq(d.access_for(rid).get('integrationStatus'), '', 'integrationStatus')


@tap.case('stage body_bytes (20) below a configured server limit')
def _():
    refused(SMALL, req('POST', '/tiny/echo', body='x' * 21), 413)
    ok(SMALL, req('POST', '/tiny/echo', body='x' * 20), 201)


# --------------------------------------------------------------- timeouts ---

def expect_408(c, t0, lo=0.2, hi=2.0):
    r = c.read_response(timeout=hi + 1.0)
    el = time.monotonic() - t0
    check_json_error(r, 408, close=True)
    check_common(r)
    check(lo <= el <= hi, '408 after %.2f s, expected between %.1f and %.1f s' % (el, lo, hi))
    c.expect_closed(2.0)
    return r


def trickle(c, data, gap):
    """Send data one byte per `gap` seconds until the server says something."""
    for i in range(len(data)):
        if select.select([c.sock], [], [], 0)[0]:
            note('server answered after %d of %d bytes' % (i, len(data)))
            return i
        if not c.try_send(data[i:i + 1]):
            return i
        time.sleep(gap)
    return len(data)


@tap.case('header timeout (header_ms 300): partial head -> 408 and close')
def _():
    with Conn(TMO.get().port) as c:
        t0 = time.monotonic()
        c.send(b'GET /dev/items/1 HTTP/1.1\r\nHost: a\r\n')
        expect_408(c, t0)


@tap.case('header timeout counts from the first byte (slow drip of header bytes) -> 408')
def _():
    data = req('GET', '/dev/items/1', headers=['User-Agent: drip-drip-drip'])
    with Conn(TMO.get().port) as c:
        t0 = time.monotonic()
        sent = trickle(c, data, 0.05)
        check(sent < len(data), 'the whole head was dripped in %.2f s without a 408' % (time.monotonic() - t0))
        expect_408(c, t0, hi=1.5)


@tap.case('body timeout (body_ms 300): Content-Length 10, 5 bytes sent -> 408 and close')
def _():
    with Conn(TMO.get().port) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello')
        t0 = time.monotonic()
        expect_408(c, t0)


@tap.case('body timeout on a chunked body that never ends -> 408')
def _():
    with Conn(TMO.get().port) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
        t0 = time.monotonic()
        expect_408(c, t0)


@tap.case('body timeout counts from the end of the head (slow drip of body bytes) -> 408')
def _():
    with Conn(TMO.get().port) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\n')
        t0 = time.monotonic()
        sent = trickle(c, b'b' * 30, 0.05)
        check(sent < 30, 'the whole body was dripped in %.2f s without a 408' % (time.monotonic() - t0))
        expect_408(c, t0, hi=1.5)


@tap.case('keep-alive idle timeout (1000 ms): closed without a response')
def _():
    with Conn(TMO.get().port) as c:
        c.send(req('GET', '/dev/items/1'))
        check_status(c.read_response(), 200)
        t0 = time.monotonic()
        state, extra = c.wait_closed(3.0)
        el = time.monotonic() - t0
        check(not extra, 'bytes sent on idle keep-alive expiry: %r' % extra[:200])
        check(state != 'open', 'idle keep-alive connection still open after 3 s')
        check(el >= 0.7, 'idle connection closed after %.2f s, before keepalive_ms (1.0 s)' % el)


@tap.case('keep-alive idle time does not count toward header_ms')
def _():
    with Conn(TMO.get().port) as c:
        c.send(req('GET', '/dev/items/1'))
        check_status(c.read_response(), 200)
        time.sleep(0.6)          # > header_ms, < keepalive_ms
        c.send(req('GET', '/dev/items/2'))
        r = c.read_response()
        check_status(r, 200)
        eq(r.body, b'item 2', 'body')


@tap.case('header timeout applies to the second request on a keep-alive connection')
def _():
    with Conn(TMO.get().port) as c:
        c.send(req('GET', '/dev/items/1'))
        check_status(c.read_response(), 200)
        t0 = time.monotonic()
        c.send(b'GET /dev/items/2 HTTP/1.1\r\nHost: a\r\n')
        expect_408(c, t0, hi=0.9)   # header_ms (0.3 s), not keepalive_ms (1 s)


@tap.case('a fresh connection that sends nothing is closed (within 3 s), no 2xx')
def _():
    with Conn(TMO.get().port) as c:
        state, extra = c.wait_closed(3.0)
        check(state != 'open', 'silent connection still open after 3 s')
        check(not extra or extra.startswith(b'HTTP/1.1 408 '),
              'unexpected bytes on a silent connection: %r' % extra[:200])


@tap.case('timeouts do not hit a prompt request/response exchange')
def _():
    with Conn(TMO.get().port) as c:
        for i in range(3):
            c.send(req('POST', '/dev/echo', body='abc'))
            check_status(c.read_response(), 201)
            time.sleep(0.2)
        c.expect_open(0.1)


BIG = 8 * 1024 * 1024
SEND_CFG = '''
server:
  listen: ["127.0.0.1:0"]
  timeouts: { send_ms: 500 }
access_log: { path: "@TMP@/access.log" }
apis:
  demo:
    stages:
      dev: {}
    routes:
      "GET /big":
        integration: { type: mock, body: "%s" }
      "GET /items/{id}":
        integration: { type: mock, body: "item ${request.path.id}" }
''' % ('x' * BIG)


@tap.case('send timeout (send_ms 500): an 8 MiB response the client does not read is abandoned')
def _():
    with Daemon(SEND_CFG) as d:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5)
        try:
            s.connect(('127.0.0.1', d.port))
            s.sendall(req('GET', '/dev/big'))
            time.sleep(2.0)          # read nothing: the server cannot flush 8 MiB
            got, closed = 0, False
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(1 << 20)
                except ConnectionResetError:
                    closed = True
                    break
                except socket.timeout:
                    break
                if not chunk:
                    closed = True
                    break
                got += len(chunk)
            note('received %d bytes of a %d-byte body before the close' % (got, BIG))
            check(closed, 'connection not closed after the abandoned response (got %d bytes)' % got)
            check(got < BIG, 'the whole response arrived (%d bytes); nothing was abandoned' % got)
        finally:
            s.close()
        with Conn(d.port) as c:
            c.send(req('GET', '/dev/items/9'))
            r = c.read_response()
            eq((r.status, r.body), (200, b'item 9'), 'daemon still serves after abandoning a response')


tap.add('shared daemon def exits 0 on SIGTERM', DEF.check_exit)
tap.add('shared daemon small exits 0 on SIGTERM', SMALL.check_exit)
tap.add('shared daemon tmo exits 0 on SIGTERM', TMO.check_exit)


if __name__ == '__main__':
    tap.run()
