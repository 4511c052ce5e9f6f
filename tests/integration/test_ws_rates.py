#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""WebSocket connect throttle (issue 13): a WebSocket API's `websocket.connect_throttle`
through a real daemon with raw-socket clients. Opening handshakes from one client beyond the
burst are refused 429 (Retry-After, a JSON message naming the bucket) before $connect runs,
and other clients (another source address) have buckets of their own. The
per-connection message rate, the other WebSocket rate of the same bucket store, is tested by
test_ws_topics.py. TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_TEST_FUNCTIONS."""

import json
import time

from lib import SLOW, Tap, check, diag, eq
from wsclient import WS, EchoDaemon, logged

tap = Tap(budget=100, needs_workers=True)


def config(fdir):
    fn = '{ integration: { type: function, function: wsecho } }'
    routes = ['    routes:', '      $connect: ' + fn, '      $disconnect: ' + fn,
              '      $default: ' + fn]
    api = lambda name, throttle, rts: ['  %s:' % name, '    protocol: websocket',
                                       '    websocket: { ping_ms: 0, connect_throttle: %s }'
                                       % throttle, '    stages: { s: {} }'] + rts
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        'functions: { dir: "%s" }' % fdir,
        'apis:',
    ] + api('c', '{ rate: 1, burst: 3 }', routes)
        + api('n', '{ rate: 1, burst: 2 }', ['    routes:', '      $default: ' + fn]) + [
        'domains:',
        '  gw.test:',
        '    - { base_path: /c, api: c, stage: s }',
        '    - { base_path: /n, api: n, stage: s }',
    ]) + '\n'


Env = EchoDaemon(tap, config)


def handshakes(path, n, **kw):
    """n opening handshakes back to back (the accepted ones stay open): the clients and the
    seconds they took."""
    d = Env.get()
    t0 = time.monotonic()
    out = [WS(d.port, path=path, **kw) for _ in range(n)]
    return out, time.monotonic() - t0


def connect_id(ws):
    ws.text('whoami')
    return json.loads(ws.recv_message()[1])['connectionId']


def connects_logged(d, since):
    with d.cond:
        return sum(1 for _, o in d.logs[since:]
                   if o and str(o.get('msg', '')).startswith('connect '))


def refused(ws, api, rate, burst):
    eq(ws.status, 429, 'handshake status (body %r)' % ws.body)
    ra = ws.headers.get('retry-after', '')
    check(ra.isdigit() and int(ra) >= 1, 'Retry-After whole seconds: %r' % ra)
    check(ws.headers.get('content-type', '').startswith('application/json'),
          'JSON content type: %r' % ws.headers.get('content-type'))
    eq(json.loads(ws.body)['message'],
       'Too Many Requests: this client\'s WebSocket connection throttle of API "%s" on '
       'stage "s" (%d/s, burst %d) is exhausted' % (api, rate, burst), 'the 429 names it')


def close_all(clients):
    for ws in clients:
        ws.close()


@tap.case('connect throttle: one address gets exactly its burst of handshakes (101), then 429 with Retry-After and the JSON message, and $connect runs for none of the refused')
def _():
    d = Env.get()
    mark = d.log_mark()
    clients, took = handshakes('/c', 5)
    try:
        if took >= 0.9:
            # A machine this slow may see a token come back: only the bound holds.
            diag('5 handshakes took %.2f s: exact counts not checked' % took)
            check(sum(ws.status == 101 for ws in clients) <= 3 + int(took), 'at most the burst')
            return
        eq([ws.status for ws in clients], [101, 101, 101, 429, 429], 'burst 3, then refused')
        for ws in clients[3:]:
            refused(ws, 'c', 1, 3)
        for ws in clients[:3]:
            eq(logged(d, 'connect ' + connect_id(ws), mark), 1, '$connect ran once')
        time.sleep(0.3 * SLOW)
        eq(connects_logged(d, mark), 3, '$connect ran for the accepted handshakes only')
    finally:
        close_all(clients)


@tap.case('connect throttle: another source address (127.0.0.2) has a bucket of its own; the bucket refills at its rate')
def _():
    # The case before left 127.0.0.1's bucket empty (or nearly: a token a second).
    t0 = time.monotonic()
    clients, _ = handshakes('/c', 3, source='127.0.0.2')
    try:
        eq([ws.status for ws in clients], [101] * 3, '127.0.0.2: a burst of its own')
        late, _ = handshakes('/c', 1, source='127.0.0.2')
        clients += late
        if time.monotonic() - t0 >= 0.9:
            diag('4 handshakes took %.2f s: the refill is not checked' % (time.monotonic() - t0))
            return
        eq(late[0].status, 429, '127.0.0.2 beyond its burst')
        time.sleep(1.1)
        again, took = handshakes('/c', 2, source='127.0.0.2')
        clients += again
        if took < 0.9:
            eq([ws.status for ws in again], [101, 429], 'one token back after a second (rate 1)')
    finally:
        close_all(clients)


@tap.case('connect throttle without $connect: the gateway\'s own 101 is throttled too')
def _():
    clients, took = handshakes('/n', 3, source='127.0.0.3')
    try:
        if took < 0.9:
            eq([ws.status for ws in clients], [101, 101, 429], 'burst 2, then refused')
            refused(clients[2], 'n', 1, 2)
        clients[0].text('hello')
        eq(clients[0].recv_message()[0], 1, 'an accepted connection works')
    finally:
        close_all(clients)


if __name__ == '__main__':
    tap.run()
