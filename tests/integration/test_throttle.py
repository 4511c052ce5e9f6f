#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Throttling against the real daemon (issue 13, first part).

A bounded loopback client sends requests back to back on one keep-alive connection, well
above the limit, for a few seconds; what it gets is compared with rate x its own measured
elapsed time + burst, never with a wall-clock expectation. Clients are told apart by source
address (127.0.0.2, 127.0.0.3). The levels are checked in order (per client, route, stage,
gateway) through the message of the 429, which names the bucket that refused. The memory
bound of the per-client buckets (a million identities in a budget) is measured by
tests/unit/gateway/core/limit.c against the store itself."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import SLOW, Conn, Daemon, Tap, check, check_json_error, eq, req  # noqa: E402

tap = Tap(budget=100.0)

CONFIG = '''
server:
  listen: ["127.0.0.1:0"]
  default_api: t
apis:
  t:
    stages:
      acc:
        client_throttle: { rate: 20, burst: 10 }
      ip:
        client_throttle: { rate: 1, burst: 3, identity: source_ip }
      lv:
        throttle: { rate: 1, burst: 3 }
        route_throttles:
          "GET /loose": { rate: 100, burst: 100 }
          "GET /tight": { rate: 1, burst: 1 }
          "GET /mine": { rate: 1, burst: 1, identity: source_ip }
      key:
        client_throttle: { rate: 1, burst: 1, identity: api_key }
    routes:
      "GET /loose": { integration: { type: mock, body: "ok" } }
      "GET /tight": { integration: { type: mock, body: "ok" } }
      "GET /mine": { integration: { type: mock, body: "ok" } }
      "GET /hi": { integration: { type: mock, body: "ok" } }
  h:
    rate_limit_headers: true
    stages:
      s: { throttle: { rate: 1, burst: 2 } }
    routes:
      "GET /hi": { integration: { type: mock, body: "ok" } }
domains:
  h.test: [{ base_path: /, api: h, stage: s }]
'''

GW_CONFIG = '''
server:
  listen: ["127.0.0.1:0"]
  throttle: { rate: 1, burst: 2 }
apis:
  g:
    stages:
      s: { throttle: { rate: 100, burst: 100 } }
    routes:
      "GET /hi": { integration: { type: mock, body: "ok" } }
'''

_daemon = []


def daemon():
    if not _daemon:
        _daemon.append(Daemon(CONFIG))
        tap.on_exit(_daemon[0].stop)
    return _daemon[0]


def conn(d, source=None):
    c = Conn.__new__(Conn)
    c.timeout = 5.0 * SLOW
    c.sock = socket.create_connection(d.addrs[0], timeout=5.0,
                                      source_address=(source, 0) if source else None)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.buf, c.eof, c.reset = b'', False, False
    return c


def get(d, path, source=None, host='gw.test', headers=()):
    with conn(d, source) as c:
        c.send(req('GET', path, host=host, headers=list(headers) + ['Connection: close']))
        return c.read_response()


def refused(r, want):
    """A 429 whose message names the bucket (want: a substring), with a Retry-After."""
    obj = check_json_error(r, 429)
    check(want in obj['message'], 'the 429 names %r: %r' % (want, obj['message']))
    ra = r.header('retry-after')
    check(ra is not None and ra.isdigit() and int(ra) >= 1, 'Retry-After whole seconds: %r' % ra)
    return obj


@tap.case('one client well above its limit for ~3 s: accepted <= rate x elapsed + burst')
def _():
    d = daemon()
    rate, burst = 20, 10
    ok = excess = other = 0
    bad = []
    with conn(d) as c:
        start = time.monotonic()
        while time.monotonic() - start < 3.0 and ok + excess < 20000:
            c.send(req('GET', '/acc/hi'))
            r = c.read_response()
            if r.status == 200:
                ok += 1
            elif r.status == 429:
                excess += 1
                ra = r.header('retry-after')
                if not (ra and ra.isdigit() and int(ra) >= 1) and len(bad) < 3:
                    bad.append(r)
            else:
                other += 1
                if len(bad) < 3:
                    bad.append(r)
        elapsed = time.monotonic() - start
    allowed = (rate * elapsed + burst) * 1.02
    check(ok <= allowed, '%d accepted in %.2f s: at most %.1f' % (ok, elapsed, allowed))
    check(ok >= burst, 'the burst went through: %d' % ok)
    check(excess > ok, 'the client was well above the limit: %d refused' % excess)
    eq(other, 0, 'no other status (no 5xx)')
    check(not bad, 'every refusal has Retry-After: %r' % bad)


@tap.case('per-client buckets: 127.0.0.2 and 127.0.0.3 each get their own burst')
def _():
    d = daemon()
    for src in ('127.0.0.2', '127.0.0.3'):
        got = [get(d, '/ip/hi', source=src).status for _ in range(3)]
        eq(got, [200, 200, 200], '%s: its burst of 3' % src)
    r = get(d, '/ip/hi', source='127.0.0.2')
    refused(r, 'this client\'s throttle on stage "ip" (1/s, burst 3)')
    eq(get(d, '/ip/hi', source='127.0.0.4').status, 200, '127.0.0.4 is still served')


@tap.case('levels in order: the stage refuses under a looser route, a tighter route first')
def _():
    d = daemon()
    src = '127.0.0.5'
    eq(get(d, '/lv/tight', source=src).status, 200, 'tight route: its one token')
    refused(get(d, '/lv/tight', source=src), 'the throttle of route "GET /tight" on stage "lv"')
    # That refusal took nothing from the stage: 2 of its 3 tokens are left.
    eq(get(d, '/lv/loose', source=src).status, 200, 'loose route: stage token 2')
    eq(get(d, '/lv/loose', source=src).status, 200, 'loose route: stage token 3')
    refused(get(d, '/lv/loose', source=src), 'the throttle of stage "lv" (1/s, burst 3)')
    # A per-client route bucket is asked first: when it and the stage's are both empty, the
    # 429 names the client's.
    time.sleep(1.1)
    eq(get(d, '/lv/mine', source='127.0.0.6').status, 200, 'a stage token came back')
    refused(get(d, '/lv/mine', source='127.0.0.6'),
            'this client\'s throttle of route "GET /mine" on stage "lv" (1/s, burst 1)')


@tap.case('api_key identity without an accepted key: a made-up x-api-key does not make a new client (counted by address)')
def _():
    d = daemon()
    eq(get(d, '/key/hi', headers=['x-api-key: alpha'], source='127.0.0.9').status, 200,
       'alpha: one')
    refused(get(d, '/key/hi', headers=['x-api-key: alpha'], source='127.0.0.9'),
            'this client\'s throttle')
    refused(get(d, '/key/hi', headers=['x-api-key: beta'], source='127.0.0.9'),
            'this client\'s throttle')
    eq(get(d, '/key/hi', headers=['x-api-key: beta'], source='127.0.0.10').status, 200,
       'another address has its own bucket')


@tap.case('RateLimit-* headers on every answer of an API that asks for them, none elsewhere')
def _():
    d = daemon()
    r = get(d, '/hi', host='h.test')
    eq(r.status, 200, 'first')
    eq((r.header('ratelimit-limit'), r.header('ratelimit-remaining')), ('2', '1'),
       'limit and remaining')
    check(r.header('ratelimit-reset') in ('1', '2'), 'reset: %r' % r.header('ratelimit-reset'))
    get(d, '/hi', host='h.test')
    r = get(d, '/hi', host='h.test')
    refused(r, 'the throttle of stage "s" (1/s, burst 2)')
    eq(r.header('ratelimit-remaining'), '0', 'remaining 0 on the 429')
    r = get(d, '/acc/hi', source='127.0.0.7')
    eq(r.status, 200, 'another API')
    eq(r.header('ratelimit-limit'), None, 'no RateLimit headers where not asked for')


@tap.case('the gateway-wide bucket refuses last, with its own message')
def _():
    with Daemon(GW_CONFIG) as g:
        eq([get(g, '/s/hi').status for _ in range(2)], [200, 200], 'the gateway\'s burst')
        refused(get(g, '/s/hi'), 'the gateway\'s throttle (1/s, burst 2)')


if __name__ == '__main__':
    tap.run()
