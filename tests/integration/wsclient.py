# SPDX-License-Identifier: MIT
"""A minimal RFC 6455 client over a raw socket for the integration tests (test_ws.py,
test_ws_topics.py): every byte it sends is chosen by the test."""

import base64
import os
import socket
import struct

from lib import SLOW, Daemon, Fail, FnDir, check, eq, install_batches, test_so

GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


class WS:
    """A minimal RFC 6455 client over a raw socket: every byte it sends is chosen by the
    test, so it can also send what a library would refuse to."""

    def __init__(self, port, path='/s', version='13', key=None, protocols=None,
                 upgrade=True, timeout=5.0, host='gw.test', rcvbuf=None, headers=(),
                 source=None):
        if source:
            # Another client address: 127.0.0.0/8 is all loopback.
            self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout,
                                                 source_address=(source, 0))
        elif rcvbuf:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(('127.0.0.1', port))
        else:
            self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        lines = ['GET %s HTTP/1.1' % path, 'Host: %s' % host]
        if upgrade:
            lines += ['Upgrade: websocket', 'Connection: Upgrade']
        lines += ['Sec-WebSocket-Key: %s' % self.key, 'Sec-WebSocket-Version: %s' % version]
        if protocols:
            lines.append('Sec-WebSocket-Protocol: %s' % protocols)
        lines += ['%s: %s' % (k, v) for k, v in headers]
        self.sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())
        self.buf = b''
        while b'\r\n\r\n' not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise Fail('connection closed during the handshake: %r' % self.buf)
            self.buf += d
        head, _, self.buf = self.buf.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        self.status = int(lines[0].split(' ')[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(':')
            self.headers[k.strip().lower()] = v.strip()
        self.body = b''
        n = int(self.headers.get('content-length', '0'))
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                break
            self.buf += d
        if self.status != 101:
            self.body, self.buf = self.buf[:n], self.buf[n:]

    def frame(self, opcode, payload=b'', fin=True, mask=True, rsv=0):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | rsv << 4 | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            head = struct.pack('!BB', b0, mbit | n)
        elif n < 65536:
            head = struct.pack('!BBH', b0, mbit | 126, n)
        else:
            head = struct.pack('!BBQ', b0, mbit | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            head += key
        return head + payload

    def send(self, opcode, payload=b'', **kw):
        self.sock.sendall(self.frame(opcode, payload, **kw))

    def text(self, s):
        self.send(1, s)

    def _need(self, n, timeout):
        self.sock.settimeout(timeout)
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError('connection closed')
            self.buf += d

    def recv(self, timeout=5.0):
        """(fin, opcode, payload) of the next frame from the server (which must not mask)."""
        self._need(2, timeout)
        b0, b1 = self.buf[0], self.buf[1]
        check(not b1 & 0x80, 'the server masked a frame')
        n, h = b1 & 0x7f, 2
        if n == 126:
            self._need(4, timeout)
            n, h = struct.unpack('!H', self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, timeout)
            n, h = struct.unpack('!Q', self.buf[2:10])[0], 10
        self._need(h + n, timeout)
        payload, self.buf = self.buf[h:h + n], self.buf[h + n:]
        return bool(b0 & 0x80), b0 & 0x0f, payload

    def recv_message(self, timeout=5.0):
        """(opcode, payload) of the next data message, answering nothing on the way."""
        while True:
            fin, op, p = self.recv(timeout)
            if op in (1, 2):
                check(fin, 'the server fragmented a message')
                return op, p
            if op == 8:
                raise Fail('closed by the server: %r' % (p,))

    def expect_close(self, code, timeout=5.0):
        """The server's next control answer is a close with code; then it ends the TCP
        connection (after our close, if it started the handshake)."""
        while True:
            fin, op, p = self.recv(timeout)
            if op == 8:
                break
        got = struct.unpack('!H', p[:2])[0] if len(p) >= 2 else None
        eq(got, code, 'close code (reason %r)' % p[2:])
        try:
            self.sock.sendall(self.frame(8, struct.pack('!H', code)))
        except OSError:
            pass
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return p[2:]

    def close(self):
        self.sock.close()


class EchoDaemon:
    """A daemon serving the test function wsecho (tests/functions/wsecho.c), started on first
    use and stopped at the end of the run. config(functions_dir) returns the YAML."""

    def __init__(self, tap, config, listeners=1):
        self.config = config
        self.listeners = listeners
        self.d = None
        self.fdir = None
        tap.on_exit(self.close)

    def get(self):
        if self.d is None:
            self.fdir = FnDir()
            self.d = Daemon(self.config(self.fdir.path), self.listeners)
            install_batches(self.d, self.fdir, [('wsecho', test_so('wsecho'), None)])
        return self.d

    def connect(self, **kw):
        """A WebSocket client to this daemon whose handshake must succeed (101)."""
        ws = WS(self.get().port, **kw)
        eq(ws.status, 101, 'handshake status (body %r)' % ws.body)
        return ws

    def close(self):
        if self.d is None:
            return None
        rc = self.d.stop()
        self.d = None
        self.fdir.cleanup()
        return rc


def logged(d, text, since=0, timeout=3.0):
    """How many gateway log lines say exactly text (a function's fng_log), after a wait."""
    d.wait_log(lambda o: o.get('msg') == text, timeout * SLOW, since)
    with d.cond:
        return sum(1 for _, o in d.logs if o and o.get('msg') == text)
