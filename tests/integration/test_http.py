#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""HTTP/1.1 behaviour of fngate: connection management, framing, common headers,
routing, templates, stages and domains. TAP output."""

import datetime
import email.utils
import json
import os
import re
import time

from lib import (Conn, Daemon, Shared, Tap, check, check_common, check_json_error, check_status,
                 chunked, curl, eq, exchange, req, short)

CONFIG = r'''
server:
  listen: ["127.0.0.1:0"]
  default_api: demo
access_log:
  path: "@TMP@/access.log"
apis:
  demo:
    stages:
      dev:
        variables: { greeting: hello, env: development }
      prod:
        variables: { greeting: welcome, env: production }
      "$default":
        variables: { greeting: hi, env: default-stage }
    routes:
      "GET /hello/{name}":
        integration:
          type: mock
          headers: { content-type: text/plain, X-Custom-Case: "${context.stage}" }
          body: "${stageVariables.greeting} ${request.path.name} from ${stageVariables.env}"
      "POST /echo":
        integration:
          type: mock
          status: 201
          body: "posted"
      "GET /items/{id}":
        integration: { type: mock, body: "item ${request.path.id}" }
      "GET /items/special":
        integration: { type: mock, body: "special item" }
      "GET /files/{path+}":
        integration: { type: mock, body: "file ${request.path.path}" }
      "ANY /any":
        integration: { type: mock, body: "any ${context.httpMethod}" }
      "GET /any":
        integration: { type: mock, body: "get-exact" }
      "ANY /anyonly":
        integration: { type: mock, body: "any ${context.httpMethod}" }
      "PUT /only":
        integration: { type: mock, body: "put" }
      "DELETE /only":
        integration: { type: mock, body: "delete" }
      "GET /chunked":
        integration:
          type: mock
          chunked: true
          body: "chunked ${stageVariables.env} 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz end"
      "GET /q":
        integration: { type: mock, body: "q=${request.querystring.x} tag=${request.header.tag}" }
      "GET /json/{v}":
        integration:
          type: mock
          headers: { content-type: application/json }
          body: '{"v": "${request.path.v|json}", "d": "$$x"}'
      "GET /ctx":
        integration:
          type: mock
          body: "${context.requestId}|${context.stage}|${context.routeKey}|${context.httpMethod}|${context.protocol}|${context.sourceIp}|${context.domainName}"
      "GET /missing":
        integration: { type: mock, body: "[${stageVariables.nope}][${request.querystring.nope}][${request.header.nope}][${request.path.nope}]" }
      "GET /teapot":
        integration: { type: mock, status: 418, body: "short and stout" }
      "GET /hdr":
        integration:
          type: mock
          headers: { x-echo: "${request.querystring.v}", x-path: "fixed" }
          body: "hdr"
      "GET /hdrp/{p}":
        integration: { type: mock, headers: { x-echo: "${request.path.p}" }, body: "hdrp" }
      "GET /echohdr":
        integration: { type: mock, body: "[${request.header.name}]" }
      "GET /chunked-empty":
        integration: { type: mock, chunked: true, body: "" }
      "GET /prio/{x}/c":
        integration: { type: mock, body: "param-first ${request.path.x}" }
      "GET /{y}/b/c":
        integration: { type: mock, body: "param-root ${request.path.y}" }
      "GET /p/{x}":
        integration: { type: mock, body: "param ${request.path.x}" }
      "GET /p/{x+}":
        integration: { type: mock, body: "greedy ${request.path.x}" }
      "POST /r/lit":
        integration: { type: mock, body: "post-lit" }
      "GET /r/{x}":
        integration: { type: mock, body: "get-param ${request.path.x}" }
  catchall:
    stages:
      live: {}
    routes:
      "GET /known":
        integration: { type: mock, body: "known" }
      "$default":
        integration: { type: mock, body: "fallback ${context.httpMethod}" }
domains:
  api.example.com:
    - { base_path: /v1, api: demo, stage: prod }
    - { base_path: /, api: demo, stage: dev }
  catch.example.com:
    - { base_path: /, api: catchall, stage: live }
  partial.example.com:
    - { base_path: /only-here, api: demo, stage: dev }
'''

CHUNKED_BODY = ('chunked development ' + '0123456789abcdefghijklmnopqrstuvwxyz' * 3 + ' end').encode()

tap = Tap(budget=100)
S = Shared(tap, CONFIG)


def port():
    return S.get().port


def get(path, host='gw.test', headers=(), method='GET', body=None, version='HTTP/1.1'):
    return exchange(port(), req(method, path, host, headers, body, version), method)


def expect_body(r, status, body):
    check_status(r, status)
    eq(r.body, body if isinstance(body, bytes) else body.encode(), 'body of %d response' % status)


# ------------------------------------------------------------- connections --

@tap.case('keep-alive: 5 sequential requests on one connection, distinct request ids')
def _():
    ids = set()
    with Conn(port()) as c:
        for i in range(5):
            c.send(req('GET', '/dev/items/%d' % i))
            r = c.read_response()
            expect_body(r, 200, 'item %d' % i)
            check(not r.has_token('connection', 'close'), 'response %d has Connection: close' % i)
            ids.add(check_common(r))
        eq(len(ids), 5, 'number of distinct x-request-id values')
        c.expect_open(0.2)


@tap.case('pipelining: 7 requests in one send are answered in order')
def _():
    data = (req('GET', '/dev/items/1') + req('POST', '/dev/echo', body='abc')
            + req('GET', '/dev/items/2') + req('HEAD', '/dev/anyonly')
            + req('GET', '/dev/files/a/b') + req('POST', '/dev/any', body='x' * 100)
            + req('GET', '/dev/items/3'))
    want = [('GET', 200, b'item 1'), ('POST', 201, b'posted'), ('GET', 200, b'item 2'),
            ('HEAD', 200, b''), ('GET', 200, b'file a/b'), ('POST', 200, b'any POST'),
            ('GET', 200, b'item 3')]
    with Conn(port()) as c:
        c.send(data)
        for i, (m, st, body) in enumerate(want):
            r = c.read_response(m)
            check(r.status == st and r.body == body,
                  'pipelined response %d: expected %d %r, got %d %r' % (i + 1, st, body, r.status, r.body))
        c.expect_open(0.2)


@tap.case('pipelining: a body that looks like a request is body, not a request')
def _():
    inner = req('GET', '/dev/items/999')
    with Conn(port()) as c:
        c.send(req('POST', '/dev/echo', body=inner) + req('GET', '/dev/items/4'))
        expect_body(c.read_response(), 201, 'posted')
        expect_body(c.read_response(), 200, 'item 4')
        c.expect_open(0.3)


@tap.case('pipelining: request split byte by byte across many packets')
def _():
    data = req('GET', '/dev/items/7', headers=['User-Agent: slow'])
    with Conn(port()) as c:
        for i in range(len(data)):
            c.sock.sendall(data[i:i + 1])
            if i % 8 == 0:
                time.sleep(0.001)
        expect_body(c.read_response(), 200, 'item 7')


@tap.case('HTTP/1.0 without keep-alive: answered, then the server closes')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/items/10', version='HTTP/1.0'))
        r = c.read_response()
        expect_body(r, 200, 'item 10')
        check(r.version in ('HTTP/1.1', 'HTTP/1.0'), 'response version %r' % r.version)
        check(not r.has_token('connection', 'keep-alive'),
              'HTTP/1.0 response without request keep-alive says Connection: keep-alive')
        c.expect_closed(2.0)


@tap.case('HTTP/1.0 without Host is accepted (Host is required only in HTTP/1.1)')
def _():
    r = get('/dev/items/11', host=None, version='HTTP/1.0')
    expect_body(r, 200, 'item 11')


@tap.case('HTTP/1.0 with Connection: keep-alive: response says keep-alive, connection reusable')
def _():
    with Conn(port()) as c:
        for i in range(3):
            c.send(req('GET', '/dev/items/%d' % (20 + i), headers=['Connection: keep-alive'],
                       version='HTTP/1.0'))
            r = c.read_response()
            expect_body(r, 200, 'item %d' % (20 + i))
            check(r.has_token('connection', 'keep-alive'),
                  'HTTP/1.0 keep-alive response lacks "Connection: keep-alive" (got %r)'
                  % r.header_all('connection'))
            check(r.header('content-length') is not None,
                  'keep-alive response to HTTP/1.0 must carry Content-Length')
        c.expect_open(0.2)


@tap.case('HTTP/1.0 client on a chunked route gets no chunked coding')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/chunked', version='HTTP/1.0'))
        r = c.read_response()
        check_status(r, 200)
        check(r.header('transfer-encoding') is None,
              'Transfer-Encoding sent to an HTTP/1.0 client: %r' % r.header('transfer-encoding'))
        eq(r.body, CHUNKED_BODY, 'body')


@tap.case('HTTP/1.0 keep-alive on a chunked route: Content-Length framing, connection reusable')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/chunked', headers=['Connection: keep-alive'], version='HTTP/1.0'))
        r = c.read_response()
        check_status(r, 200)
        check(r.header('transfer-encoding') is None, 'Transfer-Encoding sent to an HTTP/1.0 client')
        eq(r.body, CHUNKED_BODY, 'body')
        if r.has_token('connection', 'keep-alive'):
            check(r.header('content-length') is not None, 'keep-alive HTTP/1.0 response without Content-Length')
            c.send(req('GET', '/dev/items/24', version='HTTP/1.0'))
            expect_body(c.read_response(), 200, 'item 24')
        else:
            c.expect_closed(2.0)


@tap.case('HTTP/1.1 with an empty Host value is accepted (RFC 9112 3.2)')
def _():
    expect_body(exchange(port(), b'GET /dev/items/25 HTTP/1.1\r\nHost:\r\n\r\n'), 200, 'item 25')


@tap.case('client Connection: close -> response has Connection: close, server closes')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/items/30', headers=['Connection: close']))
        r = c.read_response()
        expect_body(r, 200, 'item 30')
        check(r.has_token('connection', 'close'), 'response lacks Connection: close')
        c.expect_closed(2.0)


@tap.case('Connection: keep-alive, close (close token among others) -> server closes')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/items/34', headers=['Connection: Keep-Alive, Close']))
        r = c.read_response()
        expect_body(r, 200, 'item 34')
        check(r.has_token('connection', 'close'), 'response lacks Connection: close')
        c.expect_closed(2.0)


@tap.case('Upgrade request is answered normally (Upgrade ignored), connection stays usable')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/items/35', headers=['Connection: Upgrade', 'Upgrade: h2c'])
               + req('GET', '/dev/items/36'))
        r = c.read_response()
        expect_body(r, 200, 'item 35')
        check(r.status != 101, 'switched protocols')
        expect_body(c.read_response(), 200, 'item 36')


@tap.case('client Connection: close in the middle of a pipeline: later requests unanswered')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/items/31') + req('GET', '/dev/items/32', headers=['Connection: close'])
               + req('GET', '/dev/items/33'))
        expect_body(c.read_response(), 200, 'item 31')
        expect_body(c.read_response(), 200, 'item 32')
        c.expect_closed(2.0, 'close after the Connection: close response (no answer to the 3rd)')


@tap.case('server closes with Connection: close after a malformed request (400)')
def _():
    with Conn(port()) as c:
        c.send(b'GET /dev/items/1 HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n')
        r = c.read_response()
        check_json_error(r, 400, close=True)
        check_common(r)
        c.expect_closed(2.0)


@tap.case('404 and 405 keep the connection open')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/nope'))
        r = c.read_response()
        check_json_error(r, 404, close=False)
        c.send(req('GET', '/dev/only'))
        r = c.read_response()
        check_json_error(r, 405, close=False)
        c.send(req('GET', '/dev/items/5'))
        expect_body(c.read_response(), 200, 'item 5')


# ------------------------------------------------------------------- HEAD ---

@tap.case('HEAD on an ANY route: headers with Content-Length of the body, no body bytes')
def _():
    with Conn(port()) as c:
        c.send(req('HEAD', '/dev/anyonly') + req('GET', '/dev/items/40'))
        r = c.read_response('HEAD')
        check_status(r, 200)
        eq(r.header('content-length'), str(len('any HEAD')), 'HEAD Content-Length')
        check_common(r)
        # the next bytes on the wire must be the next response, not a HEAD body
        r2 = c.read_response()
        expect_body(r2, 200, 'item 40')


@tap.case('HEAD on a GET route (RFC 9110: servers support HEAD wherever GET works)')
def _():
    with Conn(port()) as c:
        c.send(req('HEAD', '/dev/items/41') + req('HEAD', '/dev/chunked') + req('GET', '/dev/items/42'))
        r = c.read_response('HEAD')
        check_status(r, 200)
        eq(r.header('content-length'), str(len('item 41')), 'HEAD Content-Length')
        r = c.read_response('HEAD')   # chunked route: headers only, no chunk bytes
        check_status(r, 200)
        expect_body(c.read_response(), 200, 'item 42')


# ----------------------------------------------------------------- Expect ---

@tap.case('Expect: 100-continue: 100 Continue after headers, then the final response')
def _():
    with Conn(port()) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n'
               b'Expect: 100-continue\r\n\r\n')
        r = c.read_response(timeout=3)
        eq(r.status, 100, 'interim status')
        eq(r.raw.split(b'\r\n')[0], b'HTTP/1.1 100 Continue', 'interim status line')
        c.send(b'hello')
        expect_body(c.read_response(), 201, 'posted')
        c.send(req('GET', '/dev/items/41'))
        expect_body(c.read_response(), 200, 'item 41')


@tap.case('Expect: 100-continue with the body sent at once: one final response, connection usable')
def _():
    with Conn(port()) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n'
               b'Expect: 100-continue\r\n\r\nhello' + req('GET', '/dev/items/42'))
        r, interim = c.read_final()
        check(all(i.status == 100 for i in interim) and len(interim) <= 1,
              'interim responses: %r' % interim)
        expect_body(r, 201, 'posted')
        expect_body(c.read_response(), 200, 'item 42')


@tap.case('Expect: 100-continue is ignored for HTTP/1.0 (no 100 Continue)')
def _():
    with Conn(port()) as c:
        c.send(b'POST /dev/echo HTTP/1.0\r\nHost: a\r\nContent-Length: 5\r\n'
               b'Expect: 100-continue\r\n\r\n')
        time.sleep(0.3)
        c.send(b'hello')
        r = c.read_response()
        expect_body(r, 201, 'posted')


# ---------------------------------------------------------------- chunked ---

@tap.case('chunked request body: 201, connection stays usable')
def _():
    with Conn(port()) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
               + chunked('hello ', 'world', 'x' * 300))
        expect_body(c.read_response(), 201, 'posted')
        c.send(req('GET', '/dev/items/50'))
        expect_body(c.read_response(), 200, 'item 50')


@tap.case('chunked request body with extensions and trailer fields, sent in pieces')
def _():
    with Conn(port()) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n')
        time.sleep(0.05)
        c.send(b'5;name=value\r\nhello\r\n')
        time.sleep(0.05)
        c.send(b'A\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n')
        expect_body(c.read_response(), 201, 'posted')
        c.send(req('GET', '/dev/items/51'))
        expect_body(c.read_response(), 200, 'item 51')


@tap.case('Transfer-Encoding coding name is case-insensitive (CHUNKED)')
def _():
    with Conn(port()) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n'
               + chunked('abc'))
        expect_body(c.read_response(), 201, 'posted')
        c.send(req('GET', '/dev/items/52'))
        expect_body(c.read_response(), 200, 'item 52')


@tap.case('curl: chunked request body from stdin')
def _():
    p = curl('--http1.1', '-H', 'Transfer-Encoding: chunked', '--data-binary', '@-',
             'http://127.0.0.1:%d/dev/echo' % port(), input=b'some data ' * 500)
    eq(p.returncode, 0, 'curl exit code')
    eq(p.stdout, b'posted', 'curl output')


@tap.case('chunked response: Transfer-Encoding: chunked, no Content-Length, body intact')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/chunked') + req('GET', '/dev/items/53'))
        r = c.read_response()
        check_status(r, 200)
        check(r.chunked, 'response is not chunked; headers %r' % r.headers)
        eq(r.body, CHUNKED_BODY, 'de-chunked body')
        check_common(r)
        expect_body(c.read_response(), 200, 'item 53')


@tap.case('curl: chunked response decoded by curl')
def _():
    p = curl('--http1.1', '-D', '-', 'http://127.0.0.1:%d/dev/chunked' % port())
    eq(p.returncode, 0, 'curl exit code')
    check(re.search(rb'(?im)^transfer-encoding: chunked\r$', p.stdout), 'no chunked header in curl -D output')
    check(p.stdout.endswith(b'\r\n\r\n' + CHUNKED_BODY), 'curl body mismatch: %s' % short(p.stdout[-200:]))


# --------------------------------------------------------- common headers ---

@tap.case('Date, Server: fngate, x-request-id on success and error responses')
def _():
    for path, st in (('/dev/items/60', 200), ('/dev/nope', 404), ('/dev/only', 405), ('/dev/teapot', 418)):
        r = get(path)
        check_status(r, st)
        check_common(r)
        d = email.utils.parsedate_to_datetime(r.header('date'))
        now = datetime.datetime.now(datetime.timezone.utc)
        check(abs((now - d).total_seconds()) < 120, 'Date %r is far from now' % r.header('date'))


@tap.case('client x-request-id that is well formed is echoed (and used in the access log)')
def _():
    rid = '0f8fad5b-d9cb-469f-a165-70867728950e'
    r = get('/dev/items/61', headers=['X-Request-Id: ' + rid])
    check_status(r, 200)
    eq(r.header('x-request-id'), rid, 'echoed x-request-id')
    e = S.get().access_for(rid)
    eq(str(e.get('status')), '200', 'access-log status')


@tap.case('malformed client x-request-id (spaces, 300 chars, empty) is replaced')
def _():
    for bad in ('has spaces in it', 'a' * 300, ''):
        r = get('/dev/items/62', headers=['X-Request-Id: ' + bad])
        check_status(r, 200)
        rid = r.header('x-request-id')
        check(rid and rid != bad, 'malformed x-request-id %r was echoed (got %r)' % (bad[:40], rid))
        check(re.match(r'^[!-~]{1,200}$', rid), 'generated x-request-id looks odd: %r' % rid)


@tap.case('context.requestId in a template equals the x-request-id header')
def _():
    r = get('/dev/ctx')
    check_status(r, 200)
    eq(r.text.split('|')[0], r.header('x-request-id'), 'context.requestId')


@tap.case('template context variables: stage, routeKey, httpMethod, protocol, sourceIp, domainName')
def _():
    r = get('/v1/ctx', host='api.example.com')
    check_status(r, 200)
    parts = r.text.split('|')
    eq(parts[1:], ['prod', 'GET /ctx', 'GET', 'HTTP/1.1', '127.0.0.1', 'api.example.com'],
       'context fields')


@tap.case('mock header names are lower-cased on the wire; header values are templates')
def _():
    r = get('/dev/hello/ada')
    check_status(r, 200)
    names = [k for k, _ in r.headers]
    check('x-custom-case' in names, 'header name not lower-cased on the wire: %r' % names)
    eq(r.header('x-custom-case'), 'dev', 'templated header value')
    eq(r.header('content-type'), 'text/plain', 'content-type')


@tap.case('access log line carries all documented fields with sane values')
def _():
    r = get('/dev/hello/logme', headers=['User-Agent: it-agent/1.0'])
    check_status(r, 200)
    e = S.get().access_for(r.header('x-request-id'))
    fields = ['time', 'requestId', 'traceId', 'spanId', 'parentSpanId', 'ip', 'method', 'path',
              'protocol', 'routeKey', 'api', 'stage', 'status', 'bytesIn', 'bytesOut',
              'latencyUs', 'integrationLatencyUs', 'integrationStatus', 'integrationCpuUs',
              'integrationMaxRssKb', 'userAgent', 'error']
    eq(sorted(e.keys()), sorted(fields), 'access-log field set (default: all)')
    check(re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', str(e['time'])), 'time %r' % e['time'])
    eq((e['ip'], e['method'], e['protocol'], e['routeKey'], e['api'], e['stage']),
       ('127.0.0.1', 'GET', 'HTTP/1.1', 'GET /hello/{name}', 'demo', 'dev'), 'ip/method/protocol/route/api/stage')
    check(e['path'] in ('/dev/hello/logme', '/hello/logme'), 'path %r' % e['path'])
    eq((str(e['status']), str(e['integrationStatus']), e['userAgent'], e['error']),
       ('200', '200', 'it-agent/1.0', ''), 'status/integrationStatus/userAgent/error')
    for k in ('bytesIn', 'bytesOut', 'latencyUs', 'integrationLatencyUs'):
        check(str(e[k]).isdigit(), '%s is not a non-negative integer: %r' % (k, e[k]))
    check(int(e['bytesOut']) > 0, 'bytesOut is 0 for a response with a body')


# ---------------------------------------------------------------- routing ---

@tap.case('routing: path parameter, percent-decoded')
def _():
    expect_body(get('/dev/items/42'), 200, 'item 42')
    expect_body(get('/dev/items/a%20b'), 200, 'item a b')
    expect_body(get('/dev/items/caf%C3%A9'), 200, 'item caf\u00e9')
    expect_body(get('/dev/%69tems/43'), 200, 'item 43')


@tap.case('routing: %2F inside a segment stays in the parameter')
def _():
    expect_body(get('/dev/items/a%2Fb'), 200, 'item a/b')


@tap.case('routing: malformed percent escape is a 400 JSON error')
def _():
    for p in ('/dev/items/%zz', '/dev/items/%4', '/dev/items/%'):
        check_json_error(get(p), 400)


@tap.case('routing: literal segment beats {param}')
def _():
    expect_body(get('/dev/items/special'), 200, 'special item')


@tap.case('routing: trailing slash ignored')
def _():
    expect_body(get('/dev/items/44/'), 200, 'item 44')
    expect_body(get('/dev/items/special/'), 200, 'special item')


@tap.case('routing: greedy {path+} takes one or more segments')
def _():
    expect_body(get('/dev/files/a'), 200, 'file a')
    expect_body(get('/dev/files/a/b/c.txt'), 200, 'file a/b/c.txt')
    expect_body(get('/dev/files/a%20b/c'), 200, 'file a b/c')
    check_json_error(get('/dev/files'), 404)


@tap.case('routing: ANY matches other methods, exact GET beats ANY')
def _():
    expect_body(get('/dev/any'), 200, 'get-exact')
    expect_body(get('/dev/any', method='POST', body='x'), 200, 'any POST')
    expect_body(get('/dev/any', method='PATCH', body=''), 200, 'any PATCH')
    expect_body(get('/dev/any', method='DELETE'), 200, 'any DELETE')


@tap.case('routing: 404 is JSON {"message":"Not Found"}')
def _():
    for p in ('/dev/nope', '/dev/items', '/dev/items/1/2', '/nostage-nothing'):
        r = get(p)
        check_json_error(r, 404)
        eq(r.json(), {'message': 'Not Found'}, 'body of 404 for %s' % p)


@tap.case('routing: 405 with an Allow header listing matching methods')
def _():
    r = get('/dev/only')
    check_json_error(r, 405)
    allow = set(r.tokens('allow'))
    eq(allow, {'put', 'delete'}, 'Allow methods (case-folded) for /only')
    r = get('/dev/hello/x', method='POST', body='')
    check_json_error(r, 405)
    allow = set(r.tokens('allow'))
    check(allow in ({'get'}, {'get', 'head'}), 'Allow methods for /hello/{name}: %r' % allow)


@tap.case('routing: $default route catches unmatched requests (domain -> catchall API)')
def _():
    expect_body(get('/known', host='catch.example.com'), 200, 'known')
    expect_body(get('/x/y/z', host='catch.example.com'), 200, 'fallback GET')
    expect_body(get('/', host='catch.example.com'), 200, 'fallback GET')
    expect_body(get('/zzz', host='catch.example.com', method='POST', body='1'), 200, 'fallback POST')


@tap.case('routing: query-string and header template variables')
def _():
    expect_body(get('/dev/q?x=a%20b&x=second&y=1', headers=['Tag: t1']), 200, 'q=a b tag=t1')
    expect_body(get('/dev/q?y=1'), 200, 'q= tag=')


@tap.case('templates: |json escaping and $$ literal')
def _():
    r = get('/dev/json/a%22b%5Cc%0A')
    check_status(r, 200)
    eq(r.json(), {'v': 'a"b\\c\n', 'd': '$x'}, 'JSON body')


@tap.case('templates: missing stage variable, query, header, path parameter expand to ""')
def _():
    expect_body(get('/dev/missing?x=1', headers=['Other: 1']), 200, '[][][][]')


@tap.case('mock status 418 is passed through')
def _():
    expect_body(get('/dev/teapot'), 418, 'short and stout')


# ----------------------------------------------------------------- stages ---

@tap.case('stages: stage variables in templates; two stages answer differently')
def _():
    expect_body(get('/dev/hello/ada'), 200, 'hello ada from development')
    expect_body(get('/prod/hello/ada'), 200, 'welcome ada from production')


@tap.case('stages: $default stage serves paths whose first segment is not a stage')
def _():
    expect_body(get('/hello/ada'), 200, 'hi ada from default-stage')
    check_json_error(get('/nothing/here'), 404)


# ---------------------------------------------------------------- domains ---

@tap.case('domains: base path mapping via Host header, longest base path wins')
def _():
    expect_body(get('/v1/hello/ada', host='api.example.com'), 200, 'welcome ada from production')
    expect_body(get('/hello/ada', host='api.example.com'), 200, 'hello ada from development')


@tap.case('domains: Host matched case-insensitively, port ignored')
def _():
    expect_body(get('/v1/hello/bob', host='API.Example.COM:8443'), 200, 'welcome bob from production')


@tap.case('domains: base path matches whole segments only (/v1x is not under /v1)')
def _():
    check_json_error(get('/v1x/hello/ada', host='api.example.com'), 404)


@tap.case('domains: no matching base path -> 404; unknown Host -> default API')
def _():
    check_json_error(get('/elsewhere/hello/x', host='partial.example.com'), 404)
    expect_body(get('/only-here/hello/x', host='partial.example.com'), 200, 'hello x from development')
    expect_body(get('/prod/hello/x', host='unknown.example.org'), 200, 'welcome x from production')


@tap.case('absolute-form request target is accepted')
def _():
    expect_body(exchange(port(), b'GET http://gw.test/dev/items/70 HTTP/1.1\r\nHost: gw.test\r\n\r\n'),
                200, 'item 70')


# ------------------------------------------------------------ more cases ---

@tap.case('routing: priority is decided segment by segment from the left')
def _():
    expect_body(get('/dev/prio/b/c'), 200, 'param-first b')    # literal "prio" beats {y}
    expect_body(get('/dev/zzz/b/c'), 200, 'param-root zzz')


@tap.case('routing: {param} beats {greedy+} for one segment; greedy takes more')
def _():
    expect_body(get('/dev/p/1'), 200, 'param 1')
    expect_body(get('/dev/p/1/2'), 200, 'greedy 1/2')


@tap.case('routing: a more specific route without the method does not hide a matching one (no 405)')
def _():
    expect_body(get('/dev/r/lit'), 200, 'get-param lit')
    expect_body(get('/dev/r/lit', method='POST', body=''), 200, 'post-lit')


@tap.case('routing: percent-decoding happens before matching literals')
def _():
    expect_body(get('/dev/items/%73pecial'), 200, 'special item')


@tap.case('templates: first of repeated headers; obs-text, HTAB and empty header values accepted')
def _():
    expect_body(get('/dev/echohdr', headers=['Name: first', 'Name: second']), 200, '[first]')
    r = exchange(port(), b'GET /dev/echohdr HTTP/1.1\r\nHost: a\r\nName: caf\xc3\xa9\tau lait\r\n'
                         b'X-Empty:\r\nX-Empty2: \r\n\r\n')
    check_status(r, 200)
    eq(r.body, b'[caf\xc3\xa9\tau lait]', 'echoed header value')


@tap.case('templates: |json escapes control characters')
def _():
    r = get('/dev/json/a%01b%09c')
    check_status(r, 200)
    eq(r.json()['v'], 'a\x01b\tc', 'decoded JSON value')


@tap.case('response header injection: CR/LF from the request never splits a header')
def _():
    for path in ('/dev/hdr?v=a%0D%0ASet-Cookie:%20x=1', '/dev/hdr?v=a%0ASet-Cookie:%20x=1',
                 '/dev/hdrp/a%0D%0ASet-Cookie:%20x=1', '/dev/hdr?v=a%0D%0A%0D%0AHTTP/1.1%20200%20OK'):
        with Conn(port()) as c:
            c.send(req('GET', path) + req('GET', '/dev/items/1'))
            r = c.read_response()     # the parser rejects bare CR/LF inside header values
            check(r.header('set-cookie') is None, 'header injected via %s: %r' % (path, r.headers))
            check(r.status in (200, 400, 500), 'status %d' % r.status)
            if r.status == 200:
                eq(r.body, b'hdr' if '/hdr?' in path else b'hdrp', 'body')
                eq(r.header('x-path') or 'fixed', 'fixed', 'x-path')
            if not r.has_token('connection', 'close'):
                expect_body(c.read_response(), 200, 'item 1')


@tap.case('chunked response with an empty body: just the last chunk')
def _():
    with Conn(port()) as c:
        c.send(req('GET', '/dev/chunked-empty') + req('GET', '/dev/items/2'))
        r = c.read_response()
        check_status(r, 200)
        check(r.chunked, 'not chunked')
        eq(r.body, b'', 'body')
        expect_body(c.read_response(), 200, 'item 2')


@tap.case('chunked request: upper-case hex, leading zeros, quoted chunk extension')
def _():
    with Conn(port()) as c:
        c.send(b'POST /dev/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
               b'000A\r\n0123456789\r\n1;name="quoted value"\r\nx\r\n0\r\n\r\n' + req('GET', '/dev/items/3'))
        expect_body(c.read_response(), 201, 'posted')
        expect_body(c.read_response(), 200, 'item 3')


@tap.case('empty lines (CRLF) before the request line are ignored')
def _():
    with Conn(port()) as c:
        c.send(b'\r\n' + req('GET', '/dev/items/4'))
        expect_body(c.read_response(), 200, 'item 4')


@tap.case('absolute-form: the target authority selects the domain (Host ignored)')
def _():
    expect_body(exchange(port(), b'GET http://api.example.com/v1/hello/abs HTTP/1.1\r\nHost: api.example.com\r\n\r\n'),
                200, 'welcome abs from production')
    expect_body(exchange(port(), b'GET http://api.example.com/v1/hello/abs HTTP/1.1\r\nHost: gw.test\r\n\r\n'),
                200, 'welcome abs from production')


@tap.case('Expect: 100-continue on a 404 route: no desync whatever the server chooses')
def _():
    with Conn(port()) as c:
        c.send(b'POST /dev/nope HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n')
        r = c.read_response(timeout=3)
        if r.status == 100:
            c.send(b'hello')
            r = c.read_response()
            check_json_error(r, 404)
        else:
            check_json_error(r, 404)
            if r.has_token('connection', 'close'):
                c.expect_closed(2.0)
                return
            c.send(b'hello')      # RFC 9110: the client may send the body anyway
        c.send(req('GET', '/dev/items/5'))
        expect_body(c.read_response(), 200, 'item 5')
        c.expect_open(0.2)


@tap.case('pipelining: 2000 requests, client reads only after sending (flow control), all in order')
def _():
    import threading
    n = 2000
    data = b''.join(req('GET', '/dev/items/%d' % i) for i in range(n))
    with Conn(port(), timeout=10) as c:
        err = []

        def sender():
            try:
                c.sock.sendall(data)
            except OSError as e:
                err.append(e)
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        time.sleep(0.3)            # let the server fill its output before anyone reads
        for i in range(n):
            r = c.read_response(timeout=10)
            if r.status != 200 or r.body != b'item %d' % i:
                raise Exception('response %d: %d %r' % (i, r.status, r.body))
        t.join(5)
        check(not err, 'send failed: %r' % err)


@tap.case('50 concurrent connections x 10 requests')
def _():
    import threading
    errors = []

    def client(k):
        try:
            with Conn(port()) as c:
                for i in range(10):
                    c.sock.sendall(req('GET', '/dev/items/%d-%d' % (k, i)))
                    r = c.read_response()
                    if r.status != 200 or r.body != b'item %d-%d' % (k, i):
                        errors.append((k, i, r.status, r.body))
        except Exception as e:  # noqa: BLE001
            errors.append((k, repr(e)))
    ts = [threading.Thread(target=client, args=(k,)) for k in range(50)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    check(not errors, '%d failures, e.g. %r' % (len(errors), errors[:3]))


@tap.case('mock headers content-length / transfer-encoding cannot break framing')
def _():
    for hdr in ('content-length: "3"', 'transfer-encoding: chunked', 'connection: close'):
        cfg = CONFIG.replace('"GET /teapot":', '"GET /framing":\n        integration: { type: mock, headers: { %s }, body: "hello world" }\n      "GET /teapot":' % hdr)
        with Daemon.maybe(cfg) as d:
            if d is None:
                continue      # refusing such a header at config time is fine
            with Conn(d.port) as c:
                c.send(req('GET', '/dev/framing') + req('GET', '/dev/items/6'))
                r = c.read_response()
                check_status(r, 200)
                eq(len(r.header_all('content-length')) + len(r.header_all('transfer-encoding')), 1,
                   'framing headers with mock header %s (%r)' % (hdr, r.headers))
                eq(r.body, b'hello world', 'body with mock header %s' % hdr)
                if not r.has_token('connection', 'close'):
                    expect_body(c.read_response(), 200, 'item 6')


@tap.case('access log "-" writes JSON lines to stdout; "off" writes nothing')
def _():
    for path, want in (('"-"', True), ('"off"', False)):
        cfg = CONFIG.replace('  path: "@TMP@/access.log"\n', '  path: %s\n' % path)
        d = Daemon(cfg)
        try:
            r = exchange(d.port, req('GET', '/dev/items/7'))
            check_status(r, 200)
            rid = r.header('x-request-id')
            eq(d.stop(cleanup=False), 0, 'exit code')
        finally:
            d.stop(cleanup=False)
            with open(d.stdout_path, 'rb') as f:
                out = f.read()
            off_created = os.path.exists(os.path.join(d.tmp, 'off'))
            d.cleanup()
        if want:
            lines = [json.loads(l) for l in out.splitlines() if l.strip()]
            check(any(e.get('requestId') == rid for e in lines), 'request not on stdout: %s' % short(out))
        else:
            eq(out, b'', 'stdout with access_log off')
            check(not off_created, 'a file named "off" was created')


# ------------------------------------------------------------------- curl ---

@tap.case('curl: GET with headers, domain Host, and connection reuse across URLs')
def _():
    base = 'http://127.0.0.1:%d' % port()
    p = curl('--http1.1', '-i', base + '/dev/hello/ada')
    eq(p.returncode, 0, 'curl exit code')
    check(p.stdout.startswith(b'HTTP/1.1 200'), 'status line: %s' % short(p.stdout[:40]))
    check(re.search(rb'(?im)^server: fngate\r$', p.stdout), 'no Server: fngate')
    check(re.search(rb'(?im)^x-request-id: \S+\r$', p.stdout), 'no x-request-id')
    check(p.stdout.endswith(b'\r\n\r\nhello ada from development'), 'body: %s' % short(p.stdout[-60:]))
    p = curl('--http1.1', '-H', 'Host: api.example.com', base + '/v1/hello/eve')
    eq(p.stdout, b'welcome eve from production', 'curl domain output')
    p = curl('--http1.1', '-w', '|%{http_code}|%{num_connects}\\n',
             base + '/dev/items/1', base + '/dev/items/2', base + '/dev/nope')
    eq(p.returncode, 0, 'curl exit code')
    out = p.stdout.decode()
    check(out.startswith('item 1|200|1\nitem 2|200|0\n'), 'curl multi-URL output %r' % out)
    check(out.endswith('|404|0\n'), 'curl 404 over the reused connection %r' % out)


@tap.case('curl: HEAD, POST, Expect: 100-continue')
def _():
    base = 'http://127.0.0.1:%d' % port()
    p = curl('--http1.1', '-I', base + '/dev/anyonly')
    eq(p.returncode, 0, 'curl -I exit code')
    check(re.search(rb'(?im)^content-length: 8\r$', p.stdout), 'HEAD Content-Length: %s' % short(p.stdout))
    p = curl('--http1.1', '-d', 'a=b', base + '/dev/echo', '-w', '|%{http_code}')
    eq(p.stdout, b'posted|201', 'curl POST')
    p = curl('--http1.1', '-v', '-H', 'Expect: 100-continue', '--data-binary', '@-', base + '/dev/echo',
             input=b'z' * 5000)
    eq(p.stdout, b'posted', 'curl POST with Expect')
    check(b'HTTP/1.1 100 Continue' in p.stderr, 'curl did not see 100 Continue')


# ------------------------------------------------------- separate configs ---

@tap.case('server_header configurable: custom value, and "" omits the header')
def _():
    base = CONFIG.replace('  default_api: demo\n', '  default_api: demo\n  server_header: "edge/1"\n')
    with Daemon(base) as d:
        r = exchange(d.port, req('GET', '/dev/items/1'))
        check_status(r, 200)
        check_common(r, server='edge/1')
    base = CONFIG.replace('  default_api: demo\n', '  default_api: demo\n  server_header: ""\n')
    with Daemon(base) as d:
        r = exchange(d.port, req('GET', '/dev/nope'))
        check_status(r, 404)
        check_common(r, server=None)


@tap.case('access_log.fields selects and orders fields')
def _():
    cfg = CONFIG.replace('  path: "@TMP@/access.log"\n',
                         '  path: "@TMP@/access.log"\n  fields: [status, requestId, routeKey]\n')
    with Daemon(cfg) as d:
        r = exchange(d.port, req('GET', '/dev/items/1'))
        check_status(r, 200)
        e = d.access_for(r.header('x-request-id'))
        eq(list(e.keys()), ['status', 'requestId', 'routeKey'], 'fields')
        eq(e['routeKey'], 'GET /items/{id}', 'routeKey')


@tap.case('request.header.NAME with a hyphenated header name')
def _():
    cfg = '''
server: { listen: ["127.0.0.1:0"] }
access_log: { path: "off" }
apis:
  a:
    stages: { s: {} }
    routes:
      "GET /h":
        integration: { type: mock, body: "${request.header.x-tag}/${request.header.Content-Type}" }
'''
    with Daemon(cfg) as d:
        r = exchange(d.port, req('GET', '/s/h', headers=['X-TAG: v1', 'content-type: text/x']))
        expect_body(r, 200, 'v1/text/x')


@tap.case('two listeners both serve')
def _():
    cfg = CONFIG.replace('listen: ["127.0.0.1:0"]', 'listen: ["127.0.0.1:0", "127.0.0.1:0"]')
    with Daemon(cfg, listeners=2) as d:
        eq(len(d.addrs), 2, 'listening lines')
        check(d.addrs[0][1] != d.addrs[1][1], 'both listeners got the same port')
        for _h, p in d.addrs:
            expect_body(exchange(p, req('GET', '/dev/items/80')), 200, 'item 80')


tap.add('shared daemon main exits 0 on SIGTERM', S.check_exit)


if __name__ == '__main__':
    tap.run()
