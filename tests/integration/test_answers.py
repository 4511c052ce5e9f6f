#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Function answers that cannot be HTTP (issue 11), through a real daemon.
tests/functions/answers.c writes its response context directly, as a worker that bypassed
the SDK could: a status outside 200-599 (1xx interim statuses, 600, 0, -1) must reach the
client as a 502 with a JSON message, never as the answer itself, with a daemon log line naming
the function and the status; the connection stays in step, so a request pipelined behind it
gets its own answer. A framing or hop-by-hop header it sets (Connection, Content-Length,
Transfer-Encoding, Upgrade, Keep-Alive, TE, Trailer, Proxy-*) or one the gateway owns is
dropped from the response, and said once per version of the function. TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS."""

import time

from lib import (SharedDaemon, SLOW, Conn, Daemon, FnDir, Tap, check, check_json_error, eq, exchange, req,
                 test_so, wait_deployed)

tap = Tap(budget=90, needs_workers=True)

BAD_STATUSES = [100, 101, 103, 199, 600, 0, -1]
HEADERS = ['Connection', 'Content-Length', 'Transfer-Encoding', 'Upgrade', 'Keep-Alive', 'TE',
           'Trailer', 'Proxy-Connection', 'Proxy-Authenticate', 'Date', 'Server',
           'X-Request-Id']
# A status line is logged at most once a second per function (a handler answering 101 to
# every request must not write a line per request).
LOG_INTERVAL = 1.0


def _config(fn_dir):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        'functions:',
        '  dir: "%s"' % fn_dir,
        '  defaults: { concurrency: 2 }',
        'apis:', '  a:', '    stages: { s: {} }', '    routes:',
        '      "GET /{p+}": { integration: { type: function, function: answers } }',
    ]) + '\n'


def _setup(d, fdir):
    mark = d.log_mark()
    fdir.install('answers', test_so('answers'))
    wait_deployed(d, ['answers'], mark)


Env = SharedDaemon(tap, _config, _setup)


def status_line(d, status, since):
    return d.wait_log(lambda o: o.get('function') == 'answers' and
                      o.get('status') == str(status) and 'not a final HTTP status' in
                      o.get('msg', ''), timeout=3.0 * SLOW, since=since)


@tap.case('statuses 100, 101, 103, 199, 600, 0, -1 from a handler -> 502 with a JSON message, '
          'and a log line naming the function and the status')
def _():
    d = Env.get()
    for st in BAD_STATUSES:
        time.sleep(LOG_INTERVAL + 0.05)
        mark = d.log_mark()
        r = exchange(d.port, req('GET', '/s/bad?status=%d' % st))
        obj = check_json_error(r, 502, close=False)
        eq(obj['message'], 'function returned a status that is not a final HTTP status',
           'status %d: message' % st)
        check(r.header('x-kept') is None, 'status %d: nothing of the answer is sent' % st)
        o = status_line(d, st, mark)
        check(o is not None, 'status %d: no log line naming it; stderr:\n%s'
              % (st, d.stderr_text(mark)))
        eq(o.get('level'), 'error', 'status %d: log level' % st)


@tap.case('a 1xx (100, 101, 103, 199) with a request pipelined behind it: 502, then the next '
          'request gets its own answer on the same connection, which stays HTTP')
def _():
    d = Env.get()
    for st in (100, 101, 103, 199):
        with Conn(d.port) as c:
            c.send(req('GET', '/s/bad?status=%d' % st) + req('GET', '/s/next%d' % st) +
                   req('GET', '/s/last'))
            first = c.read_response()
            check_json_error(first, 502, close=False)
            second = c.read_response()
            eq(second.status, 200, 'status %d: the pipelined request\'s status' % st)
            eq(second.body, b'answer /s/next%d' % st,
               'status %d: the pipelined request\'s body' % st)
            third = c.read_response()
            eq(third.body, b'answer /s/last', 'status %d: the third answer' % st)


@tap.case('a valid status with the same handler: 200, 204 and 599 pass as they are')
def _():
    d = Env.get()
    for st in (200, 204, 599):
        r = exchange(d.port, req('GET', '/s/ok?status=%d' % st))
        eq(r.status, st, 'status %d' % st)
        eq(r.header('x-kept'), '1', 'status %d: the handler\'s header' % st)


@tap.case('framing, hop-by-hop and gateway-owned headers from a handler are dropped (the '
          'answer framed by the gateway alone), logged once for the version')
def _():
    d = Env.get()
    mark = d.log_mark()
    for h in HEADERS:
        with Conn(d.port) as c:
            c.send(req('GET', '/s/h?header=%s' % h) + req('GET', '/s/after'))
            r = c.read_response()
            eq(r.status, 200, '%s: status' % h)
            eq(r.body, b'answer /s/h', '%s: body' % h)
            eq(r.header('x-kept'), '1', '%s: the handler\'s other header' % h)
            for v in r.header_all(h):
                check(v != 'v', '%s: the handler\'s value was sent' % h)
            check(len(r.header_all('content-length')) <= 1, '%s: one Content-Length' % h)
            check(r.header('upgrade') is None, '%s: an Upgrade header was sent' % h)
            nxt = c.read_response()
            eq(nxt.body, b'answer /s/after', '%s: the next answer on the connection' % h)
    o = d.wait_log(lambda o: o.get('function') == 'answers' and o.get('msg', '').startswith(
        'function set a header the gateway owns'), timeout=3.0 * SLOW, since=mark)
    check(o is not None, 'no log line for the dropped header; stderr:\n%s' % d.stderr_text(mark))
    eq(o.get('header'), HEADERS[0], 'the first dropped header is named')
    time.sleep(0.2 * SLOW)
    n = sum(1 for _, obj in d.logs[mark:] if obj and obj.get('msg', '').startswith(
        'function set a header the gateway owns'))
    eq(n, 1, 'header-dropped lines for one version')


tap.run()
