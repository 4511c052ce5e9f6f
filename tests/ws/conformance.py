#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A WebSocket server conformance runner, written for fngate, with cases numbered after the
sections of Autobahn|Testsuite's fuzzing client: 1 framing, 2 pings and pongs, 3 reserved
bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close handling, 9 (reduced: messages of up to
1 MiB) and 10 (a message in many fragments). It speaks raw frames over a socket, so it can
send what no client library would.

    conformance.py ws://HOST:PORT/PATH [--protocol P] [--cases 1.,5.19,...] [--list]

The server under test must echo every message with its type (text or binary). Each case
connects anew. "Fail the connection" (RFC 6455 7.1.7) passes when the server closes with a
code from the case's set (1002 protocol error, 1007 invalid data) or drops the connection
without a close frame; the fail-fast cases of section 6.4 accept either an early failure or
a failure at the end of the message.

Like Autobahn, some passes are NON-STRICT: behaviour RFC 6455 allows but that is not the
best one — a failing close frame without a status code, a failure that arrives before the
echo of a message sent before the violation, pongs for only some of several pings. They count as passed and are marked; --strict counts them as
failed. Output is TAP; the last line says "N passed, N failed (N non-strict)".
"""

import base64
import os
import socket
import struct
import sys
import time
from urllib.parse import urlparse

TIMEOUT = float(os.environ.get('WS_CONFORMANCE_TIMEOUT', '5'))


class CaseFail(Exception):
    pass


class Closed(Exception):
    """The server ended the connection (EOF or reset) while we waited for a frame."""


class Peer:
    def __init__(self, url, protocol=None):
        self.nonstrict = []
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ['GET %s HTTP/1.1' % (u.path or '/'), 'Host: %s:%d' % (u.hostname, u.port or 80),
                 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: ' + key,
                 'Sec-WebSocket-Version: 13']
        if protocol:
            lines.append('Sec-WebSocket-Protocol: ' + protocol)
        self.sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())
        self.buf = b''
        while b'\r\n\r\n' not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise CaseFail('connection closed during the handshake')
            self.buf += d
        head, _, self.buf = self.buf.partition(b'\r\n\r\n')
        status = head.split(b'\r\n')[0]
        if b' 101 ' not in status + b' ':
            raise CaseFail('handshake answered %r' % status)

    # -- sending
    @staticmethod
    def frame(op, payload=b'', fin=True, rsv=0, mask=True, length=None):
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (op & 15)
        m = 0x80 if mask else 0
        if n < 126:
            head = struct.pack('!BB', b0, m | n)
        elif n < 65536:
            head = struct.pack('!BBH', b0, m | 126, n)
        else:
            head = struct.pack('!BBQ', b0, m | 127, n)
        if mask:
            key = os.urandom(4)
            k = (key * (len(payload) // 4 + 1))[:len(payload)]
            payload = (int.from_bytes(payload, 'big') ^ int.from_bytes(k, 'big')).to_bytes(
                len(payload), 'big') if payload else b''
            head += key
        return head + payload

    def raw(self, data, chunk=None, delay=0.0):
        """Sends bytes, in chunks of `chunk` bytes with `delay` s between them if asked."""
        try:
            if not chunk:
                self.sock.sendall(data)
                return
            for i in range(0, len(data), chunk):
                self.sock.sendall(data[i:i + chunk])
                if delay:
                    time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server failed the connection already: the expectation tells

    def send(self, op, payload=b'', chunk=None, delay=0.0, **kw):
        self.raw(self.frame(op, payload, **kw), chunk, delay)

    # -- receiving
    def _need(self, n, timeout):
        self.sock.settimeout(timeout)
        while len(self.buf) < n:
            try:
                d = self.sock.recv(1 << 20)
            except ConnectionResetError:
                d = b''
            except socket.timeout:
                raise CaseFail('timed out waiting for the server')
            if not d:
                raise Closed()
            self.buf += d

    def recv(self, timeout=None):
        t = TIMEOUT if timeout is None else timeout
        self._need(2, t)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise CaseFail('the server sent a masked frame')
        if b0 & 0x70:
            raise CaseFail('the server set reserved bits')
        n, h = b1 & 0x7f, 2
        if n == 126:
            self._need(4, t)
            n, h = struct.unpack('!H', self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, t)
            n, h = struct.unpack('!Q', self.buf[2:10])[0], 10
        self._need(h + n, t)
        p, self.buf = self.buf[h:h + n], self.buf[h + n:]
        return bool(b0 & 0x80), b0 & 15, p

    # -- expectations
    def expect_message(self, op, payload):
        """The next thing from the server is this message (frames of it reassembled)."""
        if isinstance(payload, str):
            payload = payload.encode()
        try:
            fin, o, p = self.recv()
            if o not in (1, 2):
                raise CaseFail('expected a message, got opcode %d %r' % (o, p[:40]))
            parts = [p]
            while not fin:
                fin, c, p = self.recv()
                if c != 0:
                    raise CaseFail('expected a continuation, got opcode %d' % c)
                parts.append(p)
        except Closed:
            raise CaseFail('connection closed instead of the echo')
        got = b''.join(parts)
        if (o, got) != (op, payload):
            raise CaseFail('echo: expected opcode %d, %d bytes %r; got opcode %d, %d bytes %r'
                           % (op, len(payload), payload[:40], o, len(got), got[:40]))

    def expect_pong(self, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        try:
            fin, o, p = self.recv()
        except Closed:
            raise CaseFail('connection closed instead of a pong')
        if (o, p) != (10, payload):
            raise CaseFail('expected a pong %r, got opcode %d %r' % (payload[:40], o, p[:40]))

    def expect_failed(self, codes=(1002,)):
        """The server fails the connection: a close with a code in codes, or a drop."""
        try:
            while True:
                fin, o, p = self.recv()
                if o == 8:
                    break
                if o == 10:
                    continue     # a pong to a ping sent before the violation is fine
                raise CaseFail('expected the connection to fail, got opcode %d %r' % (o, p[:40]))
        except Closed:
            return
        code = struct.unpack('!H', p[:2])[0] if len(p) >= 2 else None
        if code is None:
            self.nonstrict.append('failed with a close frame that has no status code')
        elif code not in codes:
            raise CaseFail('close code %r, expected one of %r' % (code, codes))
        self._finish_close(p[:2])

    def expect_message_then_failed(self, op, payload, codes=(1002,)):
        """The echo of a message sent before a violation, then the failure. A failure with
        no echo first is NON-STRICT (the server dropped an answer it owed)."""
        try:
            fin, o, p = self.recv()
        except Closed:
            self.nonstrict.append('failed without echoing the message sent before')
            return
        if o == 8:
            self.buf = Peer._unparse(fin, o, p) + self.buf
            self.nonstrict.append('failed without echoing the message sent before')
            self.expect_failed(codes)
            return
        self.buf = Peer._unparse(fin, o, p) + self.buf
        self.expect_message(op, payload)
        self.expect_failed(codes)

    @staticmethod
    def _unparse(fin, op, p):
        """A frame from the server put back into the buffer (unmasked)."""
        return Peer.frame(op, p, fin=fin, mask=False)

    def expect_pongs(self, payloads):
        """Pongs for the pings sent, in order. Pongs for only some of them (RFC 6455 5.5.3
        lets a server answer only the most recent of pings it has not answered yet; some
        answer only the first) are NON-STRICT; none at all fails."""
        want = [x.encode() if isinstance(x, str) else x for x in payloads]
        got = []
        while not got or got[-1] != want[-1]:
            try:
                fin, o, p = self.recv(0.5 if got else None)
            except Closed:
                raise CaseFail('connection closed while waiting for pongs')
            except CaseFail:
                if got:
                    break      # quiet after some pongs: the others were not answered
                raise
            if o != 10:
                raise CaseFail('expected a pong, got opcode %d' % o)
            got.append(p)
        it = iter(want)
        if not all(any(g == w for w in it) for g in got):
            raise CaseFail('pongs %r do not answer pings %r in order' % (got, want))
        if len(got) < len(want):
            self.nonstrict.append('answered %d of %d pings' % (len(got), len(want)))


    def _finish_close(self, code=b''):
        self.raw(self.frame(8, code))   # our answer to the server's close: its code back
        t0 = time.monotonic()
        self.expect_eof(2 * TIMEOUT)
        if time.monotonic() - t0 > 1.0:
            self.nonstrict.append('ended the TCP connection %.1f s after the closing handshake'
                                  % (time.monotonic() - t0))

    def expect_eof(self, timeout=None):
        self.sock.settimeout(TIMEOUT if timeout is None else timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return
        except ConnectionResetError:
            return
        except socket.timeout:
            raise CaseFail('the server did not end the TCP connection')

    def expect_close(self, codes):
        """The server answers our close with a close whose code is in codes (None: no code),
        then ends the connection; anything but pongs before it is an error."""
        try:
            while True:
                fin, o, p = self.recv()
                if o == 8:
                    break
                if o != 10:
                    raise CaseFail('expected a close, got opcode %d %r' % (o, p[:40]))
        except Closed:
            raise CaseFail('connection closed without a close frame')
        code = struct.unpack('!H', p[:2])[0] if len(p) >= 2 else None
        if code not in codes:
            raise CaseFail('close code %r, expected one of %r' % (code, codes))
        self.expect_eof()

    def close_clean(self):
        """Our close 1000, answered by the server's close, then the end of the connection."""
        self.send(8, struct.pack('!H', 1000))
        self.expect_close((1000,))

    def expect_nothing(self, wait=0.3):
        """No frame from the server for `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            d = self.sock.recv(1)
        except socket.timeout:
            return
        if d:
            self.buf += d
            raise CaseFail('the server sent something unexpected')


# ------------------------------------------------------------------ cases ---

CASES = []


def case(cid, desc):
    def deco(fn):
        CASES.append((cid, desc, fn))
        return fn
    return deco


def add(cid, desc, fn):
    CASES.append((cid, desc, fn))


def payload(n, binary=False):
    if binary:
        return bytes((i * 7 + 3) & 0xff for i in range(n))
    return (b'*' * n)


# 1 framing: text and binary messages of every length encoding
for sec, op, binary in ((1, 1, False), (2, 2, True)):
    for i, n in enumerate((0, 125, 126, 127, 128, 65535, 65536), 1):
        def fn(p, n=n, op=op, binary=binary):
            data = payload(n, binary)
            p.send(op, data)
            p.expect_message(op, data)
            p.close_clean()
        add('1.%d.%d' % (sec, i), '%s message of %d bytes' % (('text', 'binary')[op - 1], n), fn)

    def fn8(p, op=op, binary=binary):
        data = payload(65536, binary)
        p.send(op, data, chunk=997)
        p.expect_message(op, data)
        p.close_clean()
    add('1.%d.8' % sec, '%s message of 65536 bytes sent in 997-byte chunks'
        % ('text', 'binary')[op - 1], fn8)


# 2 pings and pongs
def ping_case(cid, desc, body, chunk=None):
    def fn(p):
        p.send(9, body, chunk=chunk)
        p.expect_pong(body)
        p.close_clean()
    add(cid, desc, fn)


ping_case('2.1', 'ping without payload', b'')
ping_case('2.2', 'ping with a small text payload', 'Hello, world!')
ping_case('2.3', 'ping with a small binary payload', b'\x00\xff\xfe\xfd\xfc\xfb\x00\xff')
ping_case('2.4', 'ping with a 125-byte payload', payload(125, True))


@case('2.5', 'ping with a 126-byte payload: fail')
def _(p):
    p.send(9, payload(126, True))
    p.expect_failed()


ping_case('2.6', 'ping with a 125-byte payload sent one byte at a time', payload(125, True),
          chunk=1)


@case('2.7', 'unsolicited pong without payload: ignored')
def _(p):
    p.send(10, b'')
    p.expect_nothing()
    p.close_clean()


@case('2.8', 'unsolicited pong with a payload: ignored')
def _(p):
    p.send(10, 'unsolicited pong payload')
    p.expect_nothing()
    p.close_clean()


@case('2.9', 'unsolicited pong, then a ping: only the ping is answered')
def _(p):
    p.send(10, 'unsolicited pong payload')
    p.send(9, 'ping payload')
    p.expect_pong('ping payload')
    p.close_clean()


@case('2.10', '10 pings: 10 pongs, in order')
def _(p):
    for i in range(10):
        p.send(9, 'payload-%d' % i)
    p.expect_pongs(['payload-%d' % i for i in range(10)])
    p.close_clean()


@case('2.11', '10 pings sent in 1-byte chunks: 10 pongs')
def _(p):
    p.raw(b''.join(Peer.frame(9, 'payload-%d' % i) for i in range(10)), chunk=1)
    p.expect_pongs(['payload-%d' % i for i in range(10)])
    p.close_clean()


# 3 reserved bits
@case('3.1', 'text frame with RSV1: fail')
def _(p):
    p.send(1, 'Hello, world!', rsv=1)
    p.expect_failed()


@case('3.2', 'text, then text with RSV2, then ping: echo, then fail')
def _(p):
    p.send(1, 'Hello, world!')
    p.send(1, 'Hello, world!', rsv=2)
    p.send(9, '')
    p.expect_message_then_failed(1, 'Hello, world!')


@case('3.3', 'the same in one write: echo, then fail')
def _(p):
    p.raw(Peer.frame(1, 'Hello, world!') + Peer.frame(1, 'Hello, world!', rsv=3) +
          Peer.frame(9, ''))
    p.expect_message_then_failed(1, 'Hello, world!')


@case('3.4', 'the same in 1-byte chunks with RSV4: echo, then fail')
def _(p):
    p.raw(Peer.frame(1, 'Hello, world!') + Peer.frame(1, 'Hello, world!', rsv=4) +
          Peer.frame(9, ''), chunk=1)
    p.expect_message_then_failed(1, 'Hello, world!')


@case('3.5', 'binary frame with RSV5: fail')
def _(p):
    p.send(2, payload(8, True), rsv=5)
    p.expect_failed()


@case('3.6', 'ping with RSV6: fail')
def _(p):
    p.send(9, 'Hello, world!', rsv=6)
    p.expect_failed()


@case('3.7', 'close with RSV7: fail')
def _(p):
    p.send(8, struct.pack('!H', 1000), rsv=7)
    p.expect_failed()


# 4 opcodes
for i, op in enumerate((3, 4, 5, 6, 7), 1):
    def fn(p, op=op, i=i):
        if i >= 3:
            p.send(1, 'Hello, world!')
        p.send(op, payload(i, True))
        if i >= 3:
            p.send(9, '')
            p.expect_message_then_failed(1, 'Hello, world!')
        else:
            p.expect_failed()
    add('4.1.%d' % i, 'reserved non-control opcode %d: fail' % op, fn)
for i, op in enumerate((11, 12, 13, 14, 15), 1):
    def fn(p, op=op, i=i):
        if i >= 3:
            p.send(1, 'Hello, world!')
        p.send(op, payload(i, True)[:125])
        if i >= 3:
            p.send(9, '')
            p.expect_message_then_failed(1, 'Hello, world!')
        else:
            p.expect_failed()
    add('4.2.%d' % i, 'reserved control opcode %d: fail' % op, fn)


# 5 fragmentation
@case('5.1', 'ping in two fragments: fail')
def _(p):
    p.send(9, 'fragment1', fin=False)
    p.send(0, 'fragment2')
    p.expect_failed()


@case('5.2', 'pong in two fragments: fail')
def _(p):
    p.send(10, 'fragment1', fin=False)
    p.send(0, 'fragment2')
    p.expect_failed()


def frag_text(cid, desc, chunk=None, delay=0.0, ping=False):
    def fn(p):
        data = Peer.frame(1, 'fragment1', fin=False)
        if ping:
            data += Peer.frame(9, 'ping payload')
        data += Peer.frame(0, 'fragment2')
        p.raw(data, chunk=chunk, delay=delay)
        if ping:
            p.expect_pong('ping payload')
        p.expect_message(1, 'fragment1fragment2')
        p.close_clean()
    add(cid, desc, fn)


frag_text('5.3', 'text in two fragments')
frag_text('5.4', 'text in two fragments, 1-byte chunks', chunk=1)
frag_text('5.5', 'text in two fragments, slowly', chunk=1, delay=0.002)
frag_text('5.6', 'text in two fragments with a ping between', ping=True)
frag_text('5.7', 'the same in 1-byte chunks', chunk=1, ping=True)
frag_text('5.8', 'the same slowly', chunk=1, delay=0.002, ping=True)


def bad_cont(cid, desc, fin, chunk=None, delay=0.0):
    def fn(p):
        p.raw(Peer.frame(0, 'non-continuation payload', fin=fin) + Peer.frame(1, 'Hello, world!'),
              chunk=chunk, delay=delay)
        p.expect_failed()
    add(cid, desc, fn)


bad_cont('5.9', 'continuation (FIN) with no message started: fail', True)
bad_cont('5.10', 'the same in 1-byte chunks', True, chunk=1)
bad_cont('5.11', 'the same slowly', True, chunk=1, delay=0.002)
bad_cont('5.12', 'continuation (no FIN) with no message started: fail', False)
bad_cont('5.13', 'the same in 1-byte chunks', False, chunk=1)
bad_cont('5.14', 'the same slowly', False, chunk=1, delay=0.002)


@case('5.15', 'a message, then a stray continuation: echo, then fail')
def _(p):
    p.raw(Peer.frame(1, 'fragment1', fin=False) + Peer.frame(0, 'fragment2') +
          Peer.frame(0, 'fragment3', fin=False) + Peer.frame(1, 'fragment4'))
    p.expect_message_then_failed(1, 'fragment1fragment2')


@case('5.16', 'a new text frame inside a fragmented message: fail')
def _(p):
    p.raw(Peer.frame(0, 'fragment1', fin=False) + Peer.frame(1, 'fragment2', fin=False) +
          Peer.frame(0, 'fragment3'))
    p.expect_failed()


@case('5.17', 'the same with FIN on the first: fail')
def _(p):
    p.raw(Peer.frame(0, 'fragment1') + Peer.frame(1, 'fragment2', fin=False) +
          Peer.frame(0, 'fragment3'))
    p.expect_failed()


@case('5.18', 'a second text frame (FIN) inside a fragmented message: fail')
def _(p):
    p.raw(Peer.frame(1, 'fragment1', fin=False) + Peer.frame(1, 'fragment2'))
    p.expect_failed()


def five_frags(cid, desc, chunk=None, delay=0.0):
    def fn(p):
        p.raw(Peer.frame(1, 'fragment1', fin=False) + Peer.frame(0, 'fragment2', fin=False) +
              Peer.frame(9, 'pongme 1!'), chunk=chunk, delay=delay)
        p.expect_pong('pongme 1!')
        time.sleep(0.1)
        p.raw(Peer.frame(0, 'fragment3', fin=False) + Peer.frame(0, 'fragment4', fin=False) +
              Peer.frame(9, 'pongme 2!') + Peer.frame(0, 'fragment5'), chunk=chunk, delay=delay)
        p.expect_pong('pongme 2!')
        p.expect_message(1, 'fragment1fragment2fragment3fragment4fragment5')
        p.close_clean()
    add(cid, desc, fn)


five_frags('5.19', 'five fragments with pings between, in two bursts')
five_frags('5.20', 'the same in 1-byte chunks', chunk=1)


# 6 UTF-8
VALID = [
    ('6.1', b'', 'empty'),
    ('6.2', 'Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!'.encode(), 'Latin-1 supplement'),
    ('6.5', '\u03ba\u1f79\u03c3\u03bc\u03b5'.encode(), 'Greek (the kosme test)'),
    ('6.6', b'\xf0\x9f\x98\x80 \xe2\x82\xac \xc2\xa2', 'four, three and two-byte sequences'),
    ('6.7', b'\x00 \x7f \xc2\x80 \xdf\xbf', 'first and last one- and two-byte sequences'),
    ('6.8', b'\xe0\xa0\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf',
     'first and last three- and four-byte sequences'),
    ('6.9', b'\xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf',
     'around the surrogates, U+FFFD, U+10FFFF'),
    ('6.10', b'\xef\xbf\xbe \xef\xbf\xbf \xef\xb7\x90',
     'noncharacters U+FFFE, U+FFFF, U+FDD0 (valid UTF-8)'),
]
INVALID = [
    ('6.11', b'\x80', 'a lone continuation byte'),
    ('6.12', b'\xbf\x80\xbf', 'continuation bytes only'),
    ('6.13', b'\xc0\xaf', 'overlong "/" in two bytes'),
    ('6.14', b'\xe0\x80\xaf', 'overlong "/" in three bytes'),
    ('6.15', b'\xf0\x80\x80\xaf', 'overlong "/" in four bytes'),
    ('6.16', b'\xc1\xbf', 'overlong U+007F'),
    ('6.17', b'\xe0\x9f\xbf', 'overlong U+07FF'),
    ('6.18', b'\xf0\x8f\xbf\xbf', 'overlong U+FFFF'),
    ('6.19', b'\xed\xa0\x80', 'surrogate U+D800'),
    ('6.20', b'\xed\xbf\xbf', 'surrogate U+DFFF'),
    ('6.21', b'\xed\xa0\x80\xed\xb0\x80', 'a surrogate pair'),
    ('6.22', b'\xf4\x90\x80\x80', 'U+110000'),
    ('6.23', b'\xf8\x88\x80\x80\x80', 'a five-byte sequence'),
    ('6.24', b'\xfe', 'byte FE'),
    ('6.25', b'\xff', 'byte FF'),
    ('6.26', b'\xc3\x28', 'a bad continuation byte'),
    ('6.27', b'\xe2\x82', 'a truncated three-byte sequence at the end'),
    ('6.28', b'\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64',
     'valid text, then a surrogate (fail fast)'),
]

for cid, data, desc in VALID:
    def fn(p, data=data):
        p.send(1, data)
        p.expect_message(1, data)
        p.close_clean()
    add(cid + '.1', 'valid: %s, one frame' % desc, fn)

    def fn2(p, data=data):
        if not data:
            p.raw(Peer.frame(1, b'', fin=False) + Peer.frame(0, b'', fin=False) +
                  Peer.frame(0, b''))
        else:
            p.raw(b''.join(Peer.frame(0 if i else 1, data[i:i + 1], fin=i == len(data) - 1)
                           for i in range(len(data))))
        p.expect_message(1, data)
        p.close_clean()
    add(cid + '.2', 'valid: %s, a fragment per byte' % desc, fn2)

for cid, data, desc in INVALID:
    def fn(p, data=data):
        p.send(1, data)
        p.expect_failed((1007,))
    add(cid + '.1', 'invalid: %s, one frame: fail 1007' % desc, fn)

    def fn2(p, data=data):
        p.raw(b''.join(Peer.frame(0 if i else 1, data[i:i + 1], fin=i == len(data) - 1)
                       for i in range(len(data))))
        p.expect_failed((1007,))
    add(cid + '.2', 'invalid: %s, a fragment per byte: fail 1007' % desc, fn2)


@case('6.4.1', 'fail fast: invalid bytes in the first fragment, the rest later')
def _(p):
    p.send(1, b'\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80', fin=False)
    time.sleep(0.3)
    p.send(0, 'edited')
    p.expect_failed((1007,))


# 7 close handling
@case('7.1.1', 'text, then close: echo, then the close answered')
def _(p):
    p.send(1, 'Hello World!')
    p.expect_message(1, 'Hello World!')
    p.close_clean()


@case('7.1.2', 'close twice: one answer')
def _(p):
    p.raw(Peer.frame(8, struct.pack('!H', 1000)) + Peer.frame(8, struct.pack('!H', 1000)))
    p.expect_close((1000,))


@case('7.1.3', 'ping after close: no pong')
def _(p):
    p.raw(Peer.frame(8, struct.pack('!H', 1000)) + Peer.frame(9, 'Hello World!'))
    p.expect_close((1000,))


@case('7.1.4', 'text after close: no echo')
def _(p):
    p.raw(Peer.frame(8, struct.pack('!H', 1000)) + Peer.frame(1, 'Hello World!'))
    p.expect_close((1000,))


@case('7.1.5', 'first fragment, close, last fragment: no echo')
def _(p):
    p.raw(Peer.frame(1, 'fragment1', fin=False) + Peer.frame(8, struct.pack('!H', 1000)) +
          Peer.frame(0, 'fragment2'))
    p.expect_close((1000,))


@case('7.3.1', 'close without payload: answered')
def _(p):
    p.send(8, b'')
    p.expect_close((1000, None))


@case('7.3.2', 'close with a one-byte payload: fail')
def _(p):
    p.send(8, b'\x03')
    p.expect_failed()


@case('7.3.3', 'close 1000: answered 1000')
def _(p):
    p.send(8, struct.pack('!H', 1000))
    p.expect_close((1000,))


@case('7.3.4', 'close 1000 with a reason: answered 1000')
def _(p):
    p.send(8, struct.pack('!H', 1000) + b'Hello World!')
    p.expect_close((1000,))


@case('7.3.5', 'close 1000 with a 123-byte reason (125 in all): answered 1000')
def _(p):
    p.send(8, struct.pack('!H', 1000) + b'*' * 123)
    p.expect_close((1000,))


@case('7.3.6', 'close with a 124-byte reason (126 in all): fail')
def _(p):
    p.send(8, struct.pack('!H', 1000) + b'*' * 124)
    p.expect_failed()


@case('7.5.1', 'close 1000 with a reason that is not UTF-8: fail 1007')
def _(p):
    p.send(8, struct.pack('!H', 1000) + b'\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5'
           b'\xed\xa0\x80\x65\x64\x69\x74\x65\x64')
    p.expect_failed((1007,))


for i, code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                          4000, 4999), 1):
    def fn(p, code=code):
        p.send(8, struct.pack('!H', code))
        p.expect_close((code,))
    add('7.7.%d' % i, 'close code %d: answered' % code, fn)

for i, code in enumerate((0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999), 1):
    def fn(p, code=code):
        p.send(8, struct.pack('!H', code))
        p.expect_failed()
    add('7.9.%d' % i, 'invalid close code %d: fail' % code, fn)


# 9 (reduced): big messages and many small ones
for sec, op, binary in ((1, 1, False), (2, 2, True)):
    for i, n in enumerate((65536, 262144, 1048576), 1):
        def fn(p, n=n, op=op, binary=binary):
            data = payload(n, binary)
            p.send(op, data)
            p.expect_message(op, data)
            p.close_clean()
        add('9.%d.%d' % (sec, i), '%s message of %d KiB' % (('text', 'binary')[op - 1],
                                                            n // 1024), fn)
for i, fsize in enumerate((65536, 4096, 256), 1):
    def fn(p, fsize=fsize):
        data = payload(1048576, True)
        frames = [Peer.frame(2 if j == 0 else 0, data[j:j + fsize],
                             fin=j + fsize >= len(data)) for j in range(0, len(data), fsize)]
        p.raw(b''.join(frames))
        p.expect_message(2, data)
        p.close_clean()
    add('9.4.%d' % i, '1 MiB binary message in %d-byte frames' % fsize, fn)
for sec, op in ((7, 1), (8, 2)):
    def fn(p, op=op):
        for j in range(1000):
            data = ('%016d' % j).encode()
            p.send(op, data)
            p.expect_message(op, data)
        p.close_clean()
    add('9.%d.1' % sec, '1000 %s round trips of 16 bytes' % ('text', 'binary')[op - 1], fn)


# 10 a message in many fragments
@case('10.1.1', '64 KiB text message in 1300-byte fragments, echoed whole')
def _(p):
    data = payload(65536)
    p.raw(b''.join(Peer.frame(1 if j == 0 else 0, data[j:j + 1300], fin=j + 1300 >= len(data))
                   for j in range(0, len(data), 1300)))
    p.expect_message(1, data)
    p.close_clean()


def main(argv):
    args = argv[1:]
    url, protocol, only, listing, strict = None, None, None, False, False
    while args:
        a = args.pop(0)
        if a == '--strict':
            strict = True
        elif a == '--protocol':
            protocol = args.pop(0)
        elif a == '--cases':
            only = args.pop(0).split(',')
        elif a == '--list':
            listing = True
        elif a.startswith('ws://'):
            url = a
        else:
            print(__doc__, file=sys.stderr)
            return 2
    cases = [c for c in CASES if not only or any(c[0] == o or c[0].startswith(o) for o in only)]
    if listing:
        for cid, desc, _ in cases:
            print('%-8s %s' % (cid, desc))
        return 0
    if not url:
        print(__doc__, file=sys.stderr)
        return 2
    failed = nonstrict = 0
    for i, (cid, desc, fn) in enumerate(cases, 1):
        t0 = time.monotonic()
        try:
            p = Peer(url, protocol)
            try:
                fn(p)
            finally:
                p.sock.close()
            if p.nonstrict and strict:
                raise CaseFail('non-strict: ' + '; '.join(p.nonstrict))
            if p.nonstrict:
                nonstrict += 1
                print('ok %d - %s %s # NON-STRICT: %s' % (i, cid, desc, '; '.join(p.nonstrict)))
            else:
                print('ok %d - %s %s' % (i, cid, desc))
        except (CaseFail, Closed, OSError) as e:
            failed += 1
            print('not ok %d - %s %s' % (i, cid, desc))
            print('# %s: %s (%.2f s)' % (type(e).__name__, e, time.monotonic() - t0))
        sys.stdout.flush()
    print('1..%d' % len(cases))
    print('# %d passed, %d failed (%d non-strict)' % (len(cases) - failed, failed, nonstrict))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
