#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Resource policies and CORS against the real daemon (issue 12).

One daemon listens on 127.0.0.1 and on [::1]. Clients connect from chosen loopback
addresses (127.0.0.2 is the trusted proxy, 127.0.0.3 is denied). The daemon's IPv6 listeners
are IPV6_V6ONLY (daemon.c), so no peer reaches it as ::ffff:a.b.c.d: the mapped form is
checked here through X-Forwarded-For, and for peers in tests/unit/gateway/stages/ip_policy.c. A refused request is shown to have invoked nothing:
its route's integration is a function that does not exist (reaching it would answer 503 or
404, never 403) and its access-log line has no integration."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (SLOW, Conn, Daemon, Tap, check, check_json_error, check_status, curl,  # noqa: E402
                 eq, short)
from wsclient import WS  # noqa: E402

tap = Tap(budget=100.0)

CONFIG = '''
server:
  listen: ["127.0.0.1:0", "[::1]:0"]
  default_api: pol
  trusted_proxies: ["127.0.0.2"]
access_log:
  path: "@TMP@/access.log"
  fields: [requestId, ip, method, path, api, stage, status, integrationStatus, integrationLatencyUs]
functions: { dir: "@TMP@" }
apis:
  pol:
    policy: { allow: ["127.0.0.0/8", "::1"], deny: ["127.0.0.3"] }
    stages:
      open: {}
      v6: { policy: { allow: ["::1"] } }
      nov4: { policy: { deny: ["0.0.0.0/0"] } }
    routes:
      "GET /ip":
        integration: { type: mock, body: "${context.sourceIp}" }
      "GET /never":
        integration: { type: function, function: never_deployed }
  chat:
    protocol: websocket
    policy: { deny: ["127.0.0.1"] }
    stages: { live: {} }
    routes:
      $default: { integration: { type: mock, body: "hi" } }
  web:
    cors:
      allow_origins: ["https://app.example", "https://*.example.com"]
      allow_methods: [GET, POST, PUT]
      allow_headers: [x-token, content-type]
      expose_headers: [x-request-id]
      max_age_s: 300
      allow_credentials: true
    policy: { deny: ["127.0.0.3"] }
    stages:
      s: { body_bytes: 10 }
    routes:
      "GET /data":
        integration:
          type: mock
          headers: { access-control-allow-origin: "*", vary: Accept }
          body: "data"
      "POST /data":
        integration: { type: function, function: never_deployed }
      "OPTIONS /opt":
        integration: { type: mock, status: 200, body: "routed options" }
  pub:
    cors: { allow_origins: ["*"], allow_methods: ["*"], allow_headers: ["*"] }
    stages: { s: {} }
    routes:
      "GET /x": { integration: { type: mock, body: "x" } }
domains:
  ws.test: [{ base_path: /, api: chat, stage: live }]
  web.test: [{ base_path: /, api: web, stage: s }]
  pub.test: [{ base_path: /, api: pub, stage: s }]
'''

_daemon = []


def daemon():
    if not _daemon:
        _daemon.append(Daemon(CONFIG, listeners=2))
        tap.on_exit(_daemon[0].stop)
    return _daemon[0]


def port(host):
    for h, p in daemon().addrs:
        if h == host:
            return p
    raise AssertionError('no listener on %s: %r' % (host, daemon().addrs))


def conn(host='127.0.0.1', source=None, listener=None):
    """A Conn to the listener of `listener` (default: host's), from source (an address)."""
    c = Conn.__new__(Conn)
    c.timeout = 5.0 * SLOW
    c.sock = socket.create_connection((host, port(listener or host)), timeout=5.0,
                                      source_address=(source, 0) if source else None)
    c.buf, c.eof, c.reset = b'', False, False
    return c


def get(path, host='127.0.0.1', source=None, listener=None, vhost='gw.test', headers=(),
        method='GET', body=b''):
    lines = ['%s %s HTTP/1.1' % (method, path), 'Host: %s' % vhost, 'Connection: close']
    lines += ['%s: %s' % h for h in headers]
    if body:
        lines.append('Content-Length: %d' % len(body))
    with conn(host, source, listener) as c:
        c.send(('\r\n'.join(lines) + '\r\n\r\n').encode() + body)
        return c.read_response(method)


def refused(r, what):
    """A 403 from the policy, whose request reached no integration."""
    obj = check_json_error(r, 403)
    check(obj['message'].startswith('Forbidden: the resource policy of '),
          '%s: message %r' % (what, obj['message']))
    check('/' not in obj['message'] and '127.' not in obj['message'],
          '%s: the message names no rule: %r' % (what, obj['message']))
    e = daemon().access_for(r.header('x-request-id'))
    eq(e.get('status'), 403, '%s: logged status' % what)
    eq(e.get('integrationLatencyUs'), -1, '%s: no integration ran' % what)
    return obj


@tap.case('IPv4 client allowed; its address is sourceIp and the access log ip')
def _():
    r = get('/open/ip')
    check_status(r, 200)
    eq(r.body, b'127.0.0.1', 'sourceIp')
    eq(daemon().access_for(r.header('x-request-id')).get('ip'), '127.0.0.1', 'logged ip')


@tap.case('IPv4 client in the deny list: 403 before anything runs')
def _():
    r = get('/open/never', source='127.0.0.3')
    obj = refused(r, 'denied v4')
    eq(obj['message'], 'Forbidden: the resource policy of API "pol" refuses this client',
       'message')


@tap.case('deny wins over allow (127.0.0.3 is in 127.0.0.0/8)')
def _():
    refused(get('/open/ip', source='127.0.0.3'), 'deny over allow')
    check_status(get('/open/ip', source='127.0.0.4'), 200)


@tap.case('IPv6 client via [::1]: allowed by the API, by the v6 stage')
def _():
    r = get('/open/ip', host='::1')
    check_status(r, 200)
    eq(r.body, b'::1', 'sourceIp')
    check_status(get('/v6/ip', host='::1'), 200)
    check_status(get('/nov4/ip', host='::1'), 200)


@tap.case('stage lists narrow the API: 127.0.0.1 refused by stages v6 and nov4')
def _():
    obj = refused(get('/v6/never'), 'v6 stage')
    eq(obj['message'], 'Forbidden: the resource policy of stage "v6" of API "pol" refuses '
       'this client', 'names the stage')
    refused(get('/nov4/never'), 'nov4 stage')


@tap.case('IPv4-mapped client (::ffff:a.b.c.d) is matched as IPv4')
def _():
    r = get('/open/ip', source='127.0.0.2', headers=[('X-Forwarded-For', '::ffff:127.0.0.9')])
    check_status(r, 200)
    eq(r.body, b'127.0.0.9', 'sourceIp written as IPv4')
    refused(get('/open/never', source='127.0.0.2',
                headers=[('X-Forwarded-For', '::FFFF:127.0.0.3')]), 'mapped vs deny 127.0.0.3')
    refused(get('/nov4/never', source='127.0.0.2',
                headers=[('X-Forwarded-For', '::ffff:127.0.0.9')]), 'mapped vs 0.0.0.0/0')
    # and a real IPv6 client through the proxy passes the IPv4 deny of stage nov4
    r = get('/nov4/ip', source='127.0.0.2', headers=[('X-Forwarded-For', '::1')])
    check_status(r, 200)
    eq(r.body, b'::1', 'IPv6 forwarded client')


@tap.case('X-Forwarded-For from the trusted proxy names the client')
def _():
    r = get('/open/ip', source='127.0.0.2', headers=[('X-Forwarded-For', '127.0.0.9')])
    check_status(r, 200)
    eq(r.body, b'127.0.0.9', 'sourceIp is the forwarded client')
    eq(daemon().access_for(r.header('x-request-id')).get('ip'), '127.0.0.9', 'logged ip')
    r = get('/open/never', source='127.0.0.2',
            headers=[('X-Forwarded-For', '127.0.0.3, 127.0.0.2')])
    refused(r, 'forwarded denied client')
    r = get('/open/ip', source='127.0.0.2',
            headers=[('X-Forwarded-For', '127.0.0.3'), ('X-Forwarded-For', '10.1.1.1')])
    refused(r, 'a forwarded client outside the allow list (rightmost untrusted)')


@tap.case('X-Forwarded-For from an untrusted peer is ignored (no spoofing)')
def _():
    r = get('/open/ip', headers=[('X-Forwarded-For', '127.0.0.3')])
    check_status(r, 200)
    eq(r.body, b'127.0.0.1', 'sourceIp stays the peer')
    r = get('/open/never', source='127.0.0.3', headers=[('X-Forwarded-For', '127.0.0.1')])
    refused(r, 'spoofed header from a denied peer')


@tap.case('spoofed leftmost entry through the trusted proxy does not help')
def _():
    r = get('/open/never', source='127.0.0.2',
            headers=[('X-Forwarded-For', '127.0.0.1, 127.0.0.3')])
    refused(r, 'rightmost untrusted hop decides')


@tap.case('WebSocket handshake from a refused address: 403, no 101')
def _():
    ws = WS(port('127.0.0.1'), path='/', host='ws.test')
    try:
        eq(ws.status, 403, 'handshake status')
        check(b'resource policy of API \\"chat\\"' in ws.body, 'body: %s' % short(ws.body))
    finally:
        ws.sock.close()
    # The same handshake over [::1] is let through.
    with conn('::1') as c:
        c.send(b'GET / HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n'
               b'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
               b'Sec-WebSocket-Version: 13\r\n\r\n')
        head = c._until(b'\r\n\r\n', __import__('time').monotonic() + 5, 'handshake')
        check(head.startswith(b'HTTP/1.1 101 '), 'allowed handshake: %s' % short(head))


# ---- CORS ----

ORIGIN = ('Origin', 'https://app.example')


def preflight(origin='https://app.example', method='PUT', req_headers=None, path='/data',
              vhost='web.test'):
    h = [('Origin', origin), ('Access-Control-Request-Method', method)]
    if req_headers is not None:
        h.append(('Access-Control-Request-Headers', req_headers))
    return get(path, vhost=vhost, method='OPTIONS', headers=h)


def no_cors(r, what):
    got = [k for k, _ in r.headers if k.lower().startswith('access-control-')]
    eq(got, [], '%s: CORS headers' % what)


@tap.case('CORS preflight, allowed: 204 with every header, nothing routed or invoked')
def _():
    r = preflight(req_headers='x-token, content-type', path='/no/such/route')
    check_status(r, 204)
    eq(r.header('access-control-allow-origin'), 'https://app.example', 'allow-origin')
    eq(r.header('access-control-allow-methods'), 'GET, POST, PUT', 'allow-methods')
    eq(r.header('access-control-allow-headers'), 'x-token, content-type', 'allow-headers')
    eq(r.header('access-control-max-age'), '300', 'max-age')
    eq(r.header('access-control-allow-credentials'), 'true', 'credentials')
    check(r.has_token('vary', 'origin') and r.has_token('vary', 'access-control-request-headers'),
          'Vary: %r' % r.header_all('vary'))
    eq(r.body, b'', 'body')
    e = daemon().access_for(r.header('x-request-id'))
    eq(e.get('integrationLatencyUs'), -1, 'no integration ran')
    # with curl, as a user would
    p = curl('-si', '-X', 'OPTIONS', '-H', 'Host: web.test', '-H', 'Origin: https://a.example.com',
             '-H', 'Access-Control-Request-Method: POST',
             'http://127.0.0.1:%d/data' % port('127.0.0.1'))
    out = p.stdout.decode('latin-1').lower()
    check(out.startswith('http/1.1 204') and
          'access-control-allow-origin: https://a.example.com' in out,
          'curl preflight from a wildcard subdomain: %s' % short(p.stdout))


@tap.case('CORS preflight refused: origin, method, header, look-alike domain -> 204 bare')
def _():
    for what, r in [
        ('origin', preflight(origin='https://evil.example')),
        ('bare domain', preflight(origin='https://example.com')),
        ('look-alike', preflight(origin='https://evil-example.com')),
        ('scheme', preflight(origin='http://app.example')),
        ('method', preflight(method='DELETE')),
        ('header', preflight(req_headers='x-token, x-secret')),
    ]:
        check_status(r, 204)
        no_cors(r, what)
        check(r.has_token('vary', 'origin'), '%s: Vary' % what)
        e = daemon().access_for(r.header('x-request-id'))
        eq(e.get('integrationLatencyUs'), -1, '%s: no integration ran' % what)


@tap.case('OPTIONS without Access-Control-Request-Method is routed normally')
def _():
    r = get('/opt', vhost='web.test', method='OPTIONS', headers=[ORIGIN])
    check_status(r, 200)
    eq(r.body, b'routed options', 'routed')
    eq(r.header('access-control-allow-origin'), 'https://app.example', 'CORS headers added')


@tap.case('simple request: handler CORS headers replaced, Vary merged, credentials, expose')
def _():
    r = get('/data', vhost='web.test', headers=[ORIGIN])
    check_status(r, 200)
    eq(r.header_all('access-control-allow-origin'), ['https://app.example'], 'one allow-origin')
    eq(r.header('access-control-allow-credentials'), 'true', 'credentials')
    eq(r.header('access-control-expose-headers'), 'x-request-id', 'expose')
    check(r.has_token('vary', 'origin') and r.has_token('vary', 'accept'),
          'Vary: %r' % r.header_all('vary'))
    r = get('/data', vhost='web.test', headers=[('Origin', 'https://evil.example')])
    check_status(r, 200)
    no_cors(r, 'disallowed origin')
    check(r.has_token('vary', 'origin'), 'Vary: Origin without CORS headers')
    r = get('/data', vhost='web.test')
    no_cors(r, 'no Origin')


@tap.case('gateway errors carry CORS headers: 404, 405, 413, 403, 503')
def _():
    cases = [
        ('404', get('/nothing', vhost='web.test', headers=[ORIGIN]), 404),
        ('405', get('/data', vhost='web.test', method='DELETE', headers=[ORIGIN]), 405),
        ('413', get('/data', vhost='web.test', method='POST', headers=[ORIGIN],
                    body=b'0123456789abc'), 413),
        ('403', get('/data', vhost='web.test', source='127.0.0.3', headers=[ORIGIN]), 403),
    ]
    r = get('/data', vhost='web.test', method='POST', headers=[ORIGIN], body=b'x')
    check(r.status >= 500 or r.status == 404, 'missing function: %d' % r.status)
    cases.append(('missing function', r, r.status))
    for what, r, status in cases:
        check_json_error(r, status)
        eq(r.header('access-control-allow-origin'), 'https://app.example', '%s allow-origin' % what)
        eq(r.header('access-control-allow-credentials'), 'true', '%s credentials' % what)
        check(r.has_token('vary', 'origin'), '%s: Vary' % what)
    r = get('/nothing', vhost='web.test', headers=[('Origin', 'https://evil.example')])
    check_status(r, 404)
    no_cors(r, '404 for a disallowed origin')


@tap.case('"*" without credentials: Allow-Origin *, method and headers echoed')
def _():
    r = preflight(origin='https://any.test', method='PATCH', req_headers='authorization',
                  path='/x', vhost='pub.test')
    check_status(r, 204)
    eq(r.header('access-control-allow-origin'), '*', 'allow-origin')
    eq(r.header('access-control-allow-methods'), 'PATCH', 'allow-methods')
    eq(r.header('access-control-allow-headers'), 'authorization', 'allow-headers')
    check(r.header('access-control-allow-credentials') is None, 'no credentials')
    r = get('/x', vhost='pub.test', headers=[('Origin', 'https://other.test')])
    eq(r.header('access-control-allow-origin'), '*', 'simple request')


@tap.case('an API without cors answers OPTIONS preflights through its routes')
def _():
    r = preflight(path='/open/ip', vhost='gw.test')
    check_json_error(r, 405)
    no_cors(r, 'no cors')


if __name__ == '__main__':
    tap.run()
