#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Message order per WebSocket connection (websocket.message_order), through a real daemon
with raw-socket clients: by default many connections, each sending a burst of messages that
the handler publishes to a topic or echoes, are seen by a subscriber and answered in the order
each connection sent them, and $disconnect comes after every message; under
message_order: parallel the handler still gets every message (order not asserted). TAP
output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_TEST_FUNCTIONS."""

import json
import socket

from lib import SLOW, Tap, check, diag, eq
from wsclient import EchoDaemon

tap = Tap(budget=100, needs_workers=True)

CONNS = 50
MSGS = 100


def config(fdir):
    fn = '{ integration: { type: function, function: wsecho } }'
    routes = ['    routes:', '      $connect: ' + fn, '      $disconnect: ' + fn,
              '      $default: ' + fn]

    def ws_api(name, opts):
        return ['  %s:' % name, '    protocol: websocket',
                '    websocket: { ping_ms: 0%s }' % opts, '    stages: { s: {} }'] + routes
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        # Four workers: a connection's messages could run on any of them at once. A queue
        # for every message in flight under parallel (50 connections x 64): none is refused.
        'functions: { dir: "%s", defaults: { concurrency: 4, queue: 8192 }, '
        'max: { queue: 8192 }, '
        'grants: { wsecho: { topics: ["*"] } } }' % fdir,
        'apis:',
    ] + ws_api('ord', '') + ws_api('par', ', message_order: parallel') + [
        'domains:',
        '  gw.test:',
        '    - { base_path: /ord, api: ord, stage: s }',
        '    - { base_path: /par, api: par, stage: s }',
    ]) + '\n'


Env = EchoDaemon(tap, config)


def burst(ws, texts):
    """Sends every text of texts at once (one write), without waiting for answers."""
    ws.sock.sendall(b''.join(ws.frame(1, t) for t in texts))


def answers(ws, n):
    out = []
    for _ in range(n):
        op, p = ws.recv_message(timeout=20 * SLOW)
        out.append(p.decode())
    return out


def deliveries(sub, n):
    """The data of the next n topic messages at subscriber sub."""
    out = []
    for _ in range(n):
        op, p = sub.recv_message(timeout=20 * SLOW)
        out.append(json.loads(p)['data'])
    return out


def by_conn(items):
    """{connection: [message numbers in the order seen]} of "C:I" strings."""
    seen = {}
    for s in items:
        c, _, i = s.partition(':')
        seen.setdefault(int(c), []).append(int(i))
    return seen


def out_of_order(seq):
    return sum(1 for a, b in zip(seq, seq[1:]) if b < a)


def publish_run(api, topic):
    """CONNS connections each send MSGS "pub:TOPIC:C:I" at once; returns what a subscriber
    of TOPIC saw, by connection, and each connection's answers."""
    sub = Env.connect(path='/%s?sub=%s' % (api, topic))
    conns = [Env.connect(path='/' + api) for _ in range(CONNS)]
    for c, ws in enumerate(conns):
        burst(ws, ['pub:%s:%d:%d' % (topic, c, i) for i in range(MSGS)])
    got = by_conn(deliveries(sub, CONNS * MSGS))
    for ws in conns:
        eq(answers(ws, MSGS), ['published'] * MSGS, 'the answers of one connection')
        ws.close()
    sub.close()
    return got


@tap.case('order: 50 connections x 100 messages published to a topic reach a subscriber in each connection\'s order')
def _():
    got = publish_run('ord', 'order')
    eq(sorted(got), list(range(CONNS)), 'connections seen at the subscriber')
    for c, seq in got.items():
        eq(seq, list(range(MSGS)), 'connection %d\'s messages at the subscriber' % c)


@tap.case('order: 50 connections x 100 messages echoed come back in the order sent')
def _():
    conns = [Env.connect(path='/ord') for _ in range(CONNS)]
    for c, ws in enumerate(conns):
        burst(ws, ['%d:%d' % (c, i) for i in range(MSGS)])
    for c, ws in enumerate(conns):
        eq(answers(ws, MSGS), ['%d:%d' % (c, i) for i in range(MSGS)],
           'connection %d\'s echoes' % c)
        ws.close()


def last_words(api, topic, end):
    """A connection with pub=TOPIC sends MSGS messages to publish there and ends at once
    (end: 'close' frame or 'reset'); the subscriber must see its hello, every message, and
    its $disconnect's "bye" last."""
    sub = Env.connect(path='/%s?sub=%s' % (api, topic))
    ws = Env.connect(path='/%s?pub=%s' % (api, topic))
    frames = b''.join(ws.frame(1, 'pub:%s:0:%d' % (topic, i)) for i in range(MSGS))
    if end == 'close':
        frames += ws.frame(8, b'\x03\xe8')
    ws.sock.sendall(frames)
    if end == 'reset':
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\0\0\0\0\0\0\0')
    ws.close()
    got = deliveries(sub, MSGS + 2)
    sub.close()
    check(got[0].startswith('hello from '), 'the first delivery is $connect\'s: %r' % got[0])
    check(got[-1].startswith('bye '), 'the last delivery is $disconnect\'s: %r' % got[-1])
    return got[1:-1]


@tap.case('order: $disconnect comes after every message of the connection, after a close frame or a reset')
def _():
    for end in ('close', 'reset'):
        mid = last_words('ord', 'last-' + end, end)
        eq(mid, ['0:%d' % i for i in range(MSGS)], 'the messages between (%s)' % end)


@tap.case('parallel: message_order: parallel still gets every message to the handler; $disconnect still last')
def _():
    got = publish_run('par', 'par')
    eq(sorted(got), list(range(CONNS)), 'connections seen at the subscriber')
    late = 0
    for c, seq in got.items():
        eq(sorted(seq), list(range(MSGS)), 'connection %d\'s messages, as a set' % c)
        late += out_of_order(seq)
    diag('parallel: %d of %d deliveries came after a later message of their connection'
         % (late, CONNS * MSGS))
    mid = last_words('par', 'par-last', 'close')
    eq(sorted(mid, key=lambda s: int(s.split(':')[1])), ['0:%d' % i for i in range(MSGS)],
       'the messages before $disconnect, as a set')


if __name__ == '__main__':
    tap.run()
