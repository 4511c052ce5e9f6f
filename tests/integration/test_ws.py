#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""WebSocket APIs through a real daemon, with a raw-socket RFC 6455 client: the handshake
(accept key, subprotocol, refusals with the right status), messages routed by the route
selection expression to a function or a mock and answered back, fragmentation, ping/pong,
the close handshake, every protocol error closed with its code (1002, 1007, 1009), the idle
timeout, and $disconnect exactly once per connection however it ended. TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_TEST_FUNCTIONS."""

import base64
import hashlib
import json
import struct
import time

from lib import SLOW, Tap, check, eq
from wsclient import GUID, WS, EchoDaemon, logged

tap = Tap(budget=90, needs_workers=True)


def config(fdir):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        'functions: { dir: "%s" }' % fdir,
        'apis:',
        '  chat:',
        '    protocol: websocket',
        '    websocket: { message_bytes: 1000, frame_bytes: 600, idle_ms: 1500, '
        'ping_ms: 0, subprotocols: [chat.v2, chat.v1] }',
        '    stages: { s: {} }',
        '    routes:',
        '      $connect: { integration: { type: function, function: wsecho } }',
        '      $disconnect: { integration: { type: function, function: wsecho } }',
        '      $default: { integration: { type: function, function: wsecho } }',
        '      upper: { integration: { type: mock, body: "UPPER" } }',
    ]) + '\n'


Env = EchoDaemon(tap, config)


connect = Env.connect


def whoami(ws):
    ws.text('whoami')
    op, p = ws.recv_message()
    eq(op, 1, 'opcode of the answer')
    return json.loads(p)


@tap.case('handshake: 101 with the RFC accept key and the server-preferred subprotocol; events carry the connection id')
def _():
    ws = connect(protocols='chat.v1, chat.v2')
    want = base64.b64encode(hashlib.sha1((ws.key + GUID).encode()).digest()).decode()
    eq(ws.headers.get('sec-websocket-accept'), want, 'Sec-WebSocket-Accept')
    eq(ws.headers.get('sec-websocket-protocol'), 'chat.v2', 'subprotocol chosen')
    me = whoami(ws)
    check(len(me['connectionId']) == 16, 'connection id: %r' % me)
    eq((me['eventType'], me['messageId'], me['routeKey']), ('MESSAGE', '1', '$default'),
       '(eventType, messageId, routeKey)')
    eq(whoami(ws)['messageId'], '2', 'second message id')
    ws.close()


@tap.case('messages: text and binary echo, a fragmented message arrives whole, ping gets its pong, route selection picks a mock')
def _():
    ws = connect()
    ws.text('hello')
    eq(ws.recv_message(), (1, b'hello'), 'text echo')
    ws.send(2, b'\x00\xff\x10bin')
    eq(ws.recv_message(), (2, b'\x00\xff\x10bin'), 'binary echo')
    ws.send(2, b'plain')
    eq(ws.recv_message(), (2, b'plain'), 'binary echo of UTF-8 bytes stays binary')
    ws.send(1, 'frag', fin=False)
    ws.send(9, 'in-between')
    eq(ws.recv()[1:], (10, b'in-between'), 'pong between fragments, same payload')
    ws.send(0, 'men', fin=False)
    ws.send(0, 'ted', fin=True)
    eq(ws.recv_message(), (1, b'fragmented'), 'three fragments, one message')
    ws.text(json.dumps({'action': 'upper', 'x': 1}))
    eq(ws.recv_message(), (1, b'UPPER'), '{"action":"upper"} -> route upper (mock)')
    ws.text(json.dumps({'action': 'nosuchroute'}))
    eq(ws.recv_message()[1][:2], b'{"', '{"action":"nosuchroute"} -> $default (echoes JSON)')
    ws.text('silent')
    ws.text('after')
    eq(ws.recv_message(), (1, b'after'), 'an empty answer sends nothing')
    ws.close()


@tap.case('push: a handler sends to another connection (fng_ws_send) and closes it (fng_ws_close); an unknown id is dropped')
def _():
    d = Env.get()
    mark = d.log_mark()
    a = connect()
    b = connect()
    bid = whoami(b)['connectionId']
    a.text('to:%s:hello from a' % bid)
    eq(a.recv_message(), (1, b'sent'), 'answer to the sender')
    eq(b.recv_message(), (1, b'hello from a'), 'pushed to the other connection')
    # An id with this API's tag (its first 4 characters) could be one of its connections.
    a.text('to:%sAAAAAAAAAAAA:nobody' % bid[:4])
    eq(a.recv_message(), (1, b'sent'), 'a push to an unknown id is accepted and dropped')
    a.text('to:%s' % ('x' * 70) + ':too long')
    eq(a.recv_message(), (1, b'refused'), 'an over-long id is refused by the SDK')
    a.text('kick:%s' % bid)
    eq(a.recv_message(), (1, b'kicked'), 'answer to the kicker')
    reason = b.expect_close(4000)
    eq(reason, b'kicked', 'close reason')
    eq(logged(d, 'disconnect %s' % bid, mark), 1, 'disconnect events of the kicked connection')
    a.close()


@tap.case('handshake refusals: no upgrade 426, version 8 426, bad key 400, a path below the stage 404, $connect refusing 403')
def _():
    port = Env.get().port
    r = WS(port, upgrade=False)
    eq(r.status, 426, 'plain GET')
    eq(r.headers.get('upgrade'), 'websocket', 'Upgrade header on 426')
    check(b'WebSocket' in r.body, 'message: %r' % r.body)
    r = WS(port, version='8')
    eq((r.status, r.headers.get('sec-websocket-version')), (426, '13'), 'version 8')
    r = WS(port, key='not-a-key')
    eq(r.status, 400, 'malformed key')
    r = WS(port, path='/s/deeper')
    eq(r.status, 404, 'a path below the stage')
    r = WS(port, path='/s?deny=1')
    eq((r.status, r.body), (403, b'denied'), '$connect answered 403')


def protocol_error(send, code, what):
    ws = connect()
    send(ws)
    ws.expect_close(code)
    ws.close()


for _name, _send, _code in [
    ('an unmasked frame', lambda ws: ws.send(1, 'x', mask=False), 1002),
    ('a reserved bit', lambda ws: ws.send(1, 'x', rsv=4), 1002),
    ('a reserved opcode', lambda ws: ws.send(3, 'x'), 1002),
    ('a fragmented ping', lambda ws: ws.send(9, 'x', fin=False), 1002),
    ('a ping over 125 bytes', lambda ws: ws.send(9, 'x' * 126), 1002),
    ('a continuation with no message', lambda ws: ws.send(0, 'x'), 1002),
    ('a new message inside a fragmented one', lambda ws: (ws.send(1, 'a', fin=False),
                                                          ws.send(1, 'b')), 1002),
    ('invalid UTF-8', lambda ws: ws.send(1, b'ok \xed\xa0\x80'), 1007),
    ('invalid UTF-8 split across fragments', lambda ws: (ws.send(1, b'\xf0\x9f', fin=False),
                                                         ws.send(0, b'\x28\x80')), 1007),
    ('a frame over frame_bytes', lambda ws: ws.send(2, b'x' * 601), 1009),
    ('a message over message_bytes', lambda ws: (ws.send(2, b'x' * 600, fin=False),
                                                 ws.send(0, b'x' * 401)), 1009),
    ('a close with code 1005', lambda ws: ws.send(8, struct.pack('!H', 1005)), 1002),
    ('a close with a one-byte payload', lambda ws: ws.send(8, b'\x03'), 1002),
]:
    tap.add('protocol error: %s -> close %d' % (_name, _code),
            lambda s=_send, c=_code, n=_name: protocol_error(s, c, n))


@tap.case('close handshake: the client closes 1000 -> the server answers 1000 and ends the connection')
def _():
    ws = connect()
    ws.send(8, struct.pack('!H', 1000) + b'bye')
    fin, op, p = ws.recv()
    eq((op, p[:2]), (8, struct.pack('!H', 1000)), 'close answer')
    ws.sock.settimeout(5)
    check(ws.sock.recv(100) == b'', 'the server did not end the connection')
    ws.close()


@tap.case('idle timeout: no frame for idle_ms -> close 1001')
def _():
    ws = connect()
    t0 = time.monotonic()
    reason = ws.expect_close(1001, timeout=5 * SLOW)
    ms = (time.monotonic() - t0) * 1000
    check(1400 <= ms < 1500 + 1000 * SLOW, 'closed after %.0f ms (idle_ms 1500)' % ms)
    check(b'idle' in reason, 'reason: %r' % reason)


@tap.case('$disconnect runs exactly once per connection: client close, idle, protocol error, vanished client, refused handshake none')
def _():
    d = Env.get()
    mark = d.log_mark()
    ids = []
    a = connect()
    ids.append(whoami(a)['connectionId'])
    a.send(8, struct.pack('!H', 1000))
    a.recv()
    a.close()
    b = connect()
    ids.append(whoami(b)['connectionId'])
    b.send(1, 'x', mask=False)
    b.expect_close(1002)
    c = connect()
    ids.append(whoami(c)['connectionId'])
    c.sock.close()            # gone without a close frame
    e = connect()
    ids.append(whoami(e)['connectionId'])
    e.expect_close(1001, timeout=5 * SLOW)   # idle
    time.sleep(0.5)
    for i in ids:
        eq(logged(d, 'connect %s' % i, mark), 1, 'connect events of %s' % i)
        eq(logged(d, 'disconnect %s' % i, mark), 1, 'disconnect events of %s' % i)
    mark = d.log_mark()
    r = WS(d.port, path='/s?deny=1')
    eq(r.status, 403, 'refused handshake')
    o = d.wait_log(lambda o: str(o.get('msg', '')).startswith('connect '), 3 * SLOW, mark)
    check(o is not None, 'no CONNECT event for the refused handshake')
    time.sleep(0.5)
    eq(logged(d, 'disconnect %s' % o['msg'][8:], mark, timeout=0.1), 0,
       'disconnect events of a connection never accepted')


@tap.case('drain: SIGTERM closes open connections with 1001 and runs their $disconnect')
def _():
    d = Env.get()
    mark = d.log_mark()
    ws = connect()
    cid = whoami(ws)['connectionId']
    d.proc.send_signal(15)
    reason = ws.expect_close(1001)
    check(b'shutting down' in reason, 'reason: %r' % reason)
    eq(logged(d, 'disconnect %s' % cid, mark), 1, 'disconnect events')
    rc = Env.close()
    eq(rc, 0, 'daemon exit code')


if __name__ == '__main__':
    tap.run()
