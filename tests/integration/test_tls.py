#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TLS listeners (issue 15), through a real daemon with certificates made by openssl here:
TLS 1.2 and 1.3 (ChaCha20-Poly1305 first), 1.0 and 1.1 refused, SNI choosing between two
certificates (an unknown name: the default, or refused where so configured), ALPN http/1.1,
HSTS per certificate, resumption, curl over HTTPS, a WebSocket over TLS (wss), and hostile
clients (garbage instead of a ClientHello, a handshake that stalls, a thousand half-open
handshakes) that leave the daemon serving. TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS."""

import base64
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from lib import (SLOW, Daemon, FnDir, Tap, check, eq, holds, note, supervisor_pid, test_so,
                 tls_request, wait_deployed, worker_pids)

tap = Tap(budget=90, needs_workers=True)


def openssl_ok():
    return shutil.which('openssl') is not None


class Certs:
    dir = None

    @classmethod
    def get(cls):
        if cls.dir is None:
            cls.dir = tempfile.mkdtemp(prefix='fngate-tls-')
            tap.on_exit(lambda: shutil.rmtree(cls.dir, ignore_errors=True))
            for name, alg in (('a', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']),
                              ('b', ['-newkey', 'rsa:2048'])):
                subprocess.run(['openssl', 'req', '-x509'] + alg + [
                    '-nodes', '-days', '30', '-keyout', os.path.join(cls.dir, name + '.key'),
                    '-out', os.path.join(cls.dir, name + '.crt'), '-subj', '/CN=%s.test' % name,
                    '-addext', 'subjectAltName=DNS:%s.test,%sIP:127.0.0.1'
                    % (name, 'DNS:ws.test,' if name == 'a' else '')],
                    check=True, capture_output=True, timeout=60)
        return cls.dir


def config(fdir, certs, unknown='default'):
    return '\n'.join([
        'server:',
        '  listen: ["127.0.0.1:0"]',
        '  default_api: t',
        '  timeouts: { header_ms: 800 }',
        '  tls:',
        '    listen: ["127.0.0.1:0"]',
        '    unknown_sni: %s' % unknown,
        '    certificates:',
        '      - { cert: "%s/a.crt", key: "%s/a.key", names: [a.test], hsts_max_age_s: 600 }'
        % (certs, certs),
        '      - { cert: "%s/b.crt", key: "%s/b.key", names: [b.test, "*.b.test"] }'
        % (certs, certs),
        'access_log: { path: "off" }',
        'functions: { dir: "%s" }' % fdir,
        'apis:',
        '  t:',
        '    stages: { s: {} }',
        '    routes:',
        '      "GET /hi": { integration: { type: mock, body: "hello over tls" } }',
        '  w:',
        '    protocol: websocket',
        '    websocket: { ping_ms: 0 }',
        '    stages: { s: {} }',
        '    routes:',
        '      $default: { integration: { type: function, function: wsecho } }',
        'domains:',
        '  ws.test: [{ base_path: /, api: w, stage: s }]',
    ]) + '\n'


class Env:
    d = None

    @classmethod
    def get(cls):
        if cls.d is None:
            fdir = FnDir()
            cls.d = Daemon(config(fdir.path, Certs.get()), listeners=2)
            tap.on_exit(cls.d.stop)
            mark = cls.d.log_mark()
            fdir.install('wsecho', test_so('wsecho'))
            wait_deployed(cls.d, ['wsecho'], mark)
        return cls.d


def tls_port():
    return Env.get().addrs[1][1]


def s_client(*args, port=None, data=b''):
    p = subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % (port or tls_port())]
                       + list(args), input=data, capture_output=True, timeout=20 * SLOW)
    return p.returncode, p.stdout.decode('utf-8', 'replace') + p.stderr.decode('utf-8', 'replace')


def ctx(cafile, **kw):
    c = ssl.create_default_context(cafile=cafile)
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def https_get(host, path='/s/hi', cafile=None, c=None):
    c = c or ctx(os.path.join(Certs.get(), host[0] + '.crt'))
    return tls_request(tls_port(), c, host, path)


@tap.case('TLS 1.3 and 1.2 answer, ChaCha20-Poly1305 first; TLS 1.0 and 1.1 are refused')
def _():
    if not openssl_ok():
        note('no openssl: skipped')
        return
    out, ver, cipher, _ = https_get('a.test')
    check(out.startswith(b'HTTP/1.1 200') and out.endswith(b'hello over tls'), 'answer: %r' % out[-80:])
    eq(ver, 'TLSv1.3', 'TLS 1.3 by default')
    check('CHACHA20' in cipher, 'ChaCha20-Poly1305 preferred: %s' % cipher)
    c = ctx(os.path.join(Certs.get(), 'a.crt'), maximum_version=ssl.TLSVersion.TLSv1_2)
    out, ver, cipher, _ = https_get('a.test', c=c)
    eq(ver, 'TLSv1.2', 'TLS 1.2 when the client stops there')
    check('CHACHA20' in cipher and 'ECDHE' in cipher, 'ECDHE with ChaCha20: %s' % cipher)
    for flag in ('-tls1', '-tls1_1'):
        rc, text = s_client(flag, '-servername', 'a.test')
        check(rc != 0 and 'Cipher is (NONE)' in text or 'alert' in text.lower(),
              '%s refused: %s' % (flag, text[-300:]))


@tap.case('SNI picks the certificate; an unknown name gets the default; HSTS per certificate')
def _():
    if not openssl_ok():
        return
    rc, text = s_client('-servername', 'b.test')
    check('CN = b.test' in text or 'CN=b.test' in text, 'b.test: its certificate')
    rc, text = s_client('-servername', 'x.b.test')
    check('CN = b.test' in text or 'CN=b.test' in text, 'x.b.test: the wildcard name')
    rc, text = s_client('-servername', 'nobody.test')
    check('CN = a.test' in text or 'CN=a.test' in text, 'an unknown name: the default (a)')
    out, _, _, _ = https_get('a.test')
    check(b'\r\nStrict-Transport-Security: max-age=600\r\n' in out, 'HSTS on a.test')
    out, _, _, _ = https_get('b.test')
    check(b'Strict-Transport-Security' not in out, 'none on b.test')


@tap.case('unknown_sni: refuse ends the handshake of an unknown name with an alert')
def _():
    if not openssl_ok():
        return
    fdir = FnDir()
    d = Daemon(config(fdir.path, Certs.get(), unknown='refuse'), listeners=2)
    try:
        rc, text = s_client('-servername', 'nobody.test', port=d.addrs[1][1])
        check(rc != 0 and ('unrecognized name' in text.lower() or 'alert' in text.lower()),
              'refused: %s' % text[-300:])
        rc, text = s_client('-servername', 'a.test', port=d.addrs[1][1])
        check('CN = a.test' in text or 'CN=a.test' in text, 'a known name is served')
    finally:
        d.stop()
        fdir.cleanup()


@tap.case('ALPN: http/1.1 when offered, none for h2 alone')
def _():
    if not openssl_ok():
        return
    rc, text = s_client('-servername', 'a.test', '-alpn', 'h2,http/1.1')
    check('ALPN protocol: http/1.1' in text, 'http/1.1 chosen')
    rc, text = s_client('-servername', 'a.test', '-alpn', 'h2')
    check('No ALPN negotiated' in text, 'h2 alone: no ALPN')


@tap.case('resumption: a TLS 1.2 session and a TLS 1.3 ticket are resumed')
def _():
    if not openssl_ok():
        return
    sess = os.path.join(Certs.get(), 'sess.pem')
    for ver in ('-tls1_2', '-tls1_3'):
        s_client(ver, '-servername', 'a.test', '-sess_out', sess, '-ign_eof',
                 data=b'GET /s/hi HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')
        rc, text = s_client(ver, '-servername', 'a.test', '-sess_in', sess, '-ign_eof',
                            data=b'GET /s/hi HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')
        check('Reused,' in text, '%s: resumed (%s)' % (ver, [l for l in text.splitlines()
                                                            if 'New,' in l or 'Reused' in l]))


@tap.case('curl over HTTPS, keep-alive: two requests on one connection')
def _():
    if not shutil.which('curl'):
        return
    p = subprocess.run(['curl', '-s', '--cacert', os.path.join(Certs.get(), 'a.crt'), '--resolve',
                        'a.test:%d:127.0.0.1' % tls_port(), 'https://a.test:%d/s/hi' % tls_port(),
                        'https://a.test:%d/s/hi' % tls_port(), '-w', ' %{num_connects}'],
                       capture_output=True, timeout=20)
    eq(p.stdout.decode(), 'hello over tls 1hello over tls 0', 'two answers, one connection')


def ws_frame(payload, opcode=1):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack('>H', n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@tap.case('a WebSocket over TLS (wss): handshake, a message echoed')
def _():
    c = ctx(os.path.join(Certs.get(), 'a.crt'))
    c.check_hostname = False
    with socket.create_connection(('127.0.0.1', tls_port()), timeout=5) as raw:
        with c.wrap_socket(raw, server_hostname='a.test') as s:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(('GET / HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n'
                       'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                       'Sec-WebSocket-Version: 13\r\n\r\n' % key).encode())
            buf = b''
            while b'\r\n\r\n' not in buf:
                buf += s.recv(4096)
            head, _, rest = buf.partition(b'\r\n\r\n')
            check(head.startswith(b'HTTP/1.1 101'), 'upgraded: %r' % head[:60])
            s.sendall(ws_frame(b'echo over wss'))
            while len(rest) < 2:
                rest += s.recv(4096)
            n = rest[1] & 0x7f
            while len(rest) < 2 + n:
                rest += s.recv(4096)
            check(b'echo over wss' in rest[2:2 + n], 'the echo: %r' % rest[:80])


@tap.case('fngate ws speaks wss:// (-c CAFILE trusts the test certificate)')
def _():
    from lib import BIN
    p = subprocess.run([BIN, 'ws', '-q', '-c', os.path.join(Certs.get(), 'a.crt'), '-H',
                        'Host: ws.test', '-s', 'hello wss', '-n', '1', '-t', '5000',
                        'wss://127.0.0.1:%d/' % tls_port()], capture_output=True, timeout=20)
    eq(p.returncode, 0, 'exit status (stderr %r)' % p.stderr[-300:])
    check(b'hello wss' in p.stdout, 'the echo: %r' % p.stdout[-200:])
    p = subprocess.run([BIN, 'ws', '-q', '-c', os.path.join(Certs.get(), 'b.crt'), '-H',
                        'Host: ws.test', '-s', 'x', '-n', '1', '-t', '5000',
                        'wss://127.0.0.1:%d/' % tls_port()], capture_output=True, timeout=20)
    check(p.returncode != 0, 'a certificate the CA file does not vouch for is refused')


NODE_WSS = r"""
const WebSocket = require('ws');
const fs = require('fs');
const [url, ca] = process.argv.slice(1);
const ws = new WebSocket(url, { ca: fs.readFileSync(ca), headers: { host: 'ws.test' },
                                servername: 'a.test' });
ws.on('open', () => ws.send('hello from node over wss'));
ws.on('message', (m) => { console.log(String(m)); ws.close(1000); });
ws.on('close', () => process.exit(0));
ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
setTimeout(() => { console.error('timeout'); process.exit(1); }, 5000);
"""


@tap.case("node's ws client over wss://")
def _():
    ws_dir = os.environ.get('FNGATE_WS_DIR') or ''
    if not shutil.which('node') or not os.path.isdir(os.path.join(ws_dir, 'node_modules', 'ws')):
        note('node or its ws module missing: skipped')
        return
    p = subprocess.run(['node', '-e', NODE_WSS, 'wss://127.0.0.1:%d/' % tls_port(),
                        os.path.join(Certs.get(), 'a.crt')], capture_output=True, timeout=30,
                       env=dict(os.environ, NODE_PATH=os.path.join(ws_dir, 'node_modules')))
    eq(p.returncode, 0, 'node exit status (stderr %r)' % p.stderr[-300:])
    check(b'hello from node over wss' in p.stdout, 'the echo: %r' % p.stdout[-200:])


@tap.case("profile modern: TLS 1.3 only, a TLS 1.2 client refused")
def _():
    if not openssl_ok():
        return
    fdir = FnDir()
    d = Daemon(config(fdir.path, Certs.get()).replace('    unknown_sni: default',
                                                      '    unknown_sni: default\n    profile: modern'),
               listeners=2)
    try:
        rc, text = s_client('-tls1_2', '-servername', 'a.test', port=d.addrs[1][1])
        check(rc != 0 and 'alert' in text.lower(), 'TLS 1.2 refused: %s' % text[-200:])
        rc, text = s_client('-tls1_3', '-servername', 'a.test', port=d.addrs[1][1])
        check('TLSv1.3' in text, 'TLS 1.3 served')
    finally:
        d.stop()
        fdir.cleanup()


@tap.case('hostile clients: garbage, a stalled handshake, an oversized record, a renegotiation, 1000 half-open handshakes; the daemon serves on')
def _():
    d = Env.get()
    with socket.create_connection(('127.0.0.1', tls_port()), timeout=5) as s:
        s.sendall(b'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n' + os.urandom(2000))
        s.settimeout(5)
        try:
            got = s.recv(4096)
            while got and s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            got = b''
        check(b'HTTP/1.1 200' not in got, 'plain HTTP on the TLS port is not served')
    t0 = time.monotonic()
    with socket.create_connection(('127.0.0.1', tls_port()), timeout=10) as s:
        s.sendall(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03')  # a ClientHello's start
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        took = time.monotonic() - t0
    check(took < 5 * SLOW, 'a stalled handshake is closed by the header timeout (%.1f s)' % took)
    # A record longer than TLS allows (2^14 + 2048), as the first thing sent: closed at once.
    with socket.create_connection(('127.0.0.1', tls_port()), timeout=5) as s:
        s.sendall(b'\x16\x03\x03\xff\xff' + os.urandom(4096))
        try:
            while s.recv(4096):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
        check(closed, 'an oversized record: the connection is closed')
    # A client asking to renegotiate (TLS 1.2): refused, the daemon serves on.
    if openssl_ok():
        p = subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % tls_port(),
                            '-servername', 'a.test', '-tls1_2'], input=b'R\n',
                           capture_output=True, timeout=20 * SLOW)
        text = (p.stdout + p.stderr).decode('utf-8', 'replace')
        check('RENEGOTIATING' in text, 'the client asked to renegotiate')
        check('alert' in text.lower(), 'refused with an alert: %s' % text[-300:])
    socks = []
    try:
        for _ in range(1000):
            s = socket.create_connection(('127.0.0.1', tls_port()), timeout=5)
            s.sendall(b'\x16\x03\x01\x00\x05')
            socks.append(s)
        out, _, _, _ = https_get('a.test')
        check(out.startswith(b'HTTP/1.1 200'), 'served beside 1000 half-open handshakes')
    finally:
        for s in socks:
            s.close()
    check(d.alive(), 'the daemon is alive')


@tap.case("private keys: in the gateway's memory only, never in a worker's or the supervisor's")
def _():
    if not openssl_ok():
        return
    d = Env.get()
    with socket.create_connection(('127.0.0.1', tls_port()), timeout=5) as raw:  # a worker up
        c = ctx(os.path.join(Certs.get(), 'a.crt'))
        c.check_hostname = False
        with c.wrap_socket(raw, server_hostname='a.test') as s:
            s.sendall(b'GET / HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n'
                      b'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
                      b'Sec-WebSocket-Version: 13\r\n\r\n')
            s.recv(4096)
            s.sendall(ws_frame(b'hi'))
            s.recv(4096)
    der = subprocess.run(['openssl', 'pkey', '-in', os.path.join(Certs.get(), 'a.key'),
                          '-outform', 'DER'], capture_output=True, check=True).stdout
    needle = der[-40:]  # the end of the key's DER: its private and public values
    check(holds(d.proc.pid, needle), "the control: the key is in the gateway's memory")
    workers = worker_pids(d.proc.pid, 'wsecho')
    check(workers, 'a worker of wsecho to look into')
    for pid in workers + [supervisor_pid(d.proc.pid)]:
        check(not holds(pid, needle), 'process %d holds the private key' % pid)


def peer_cn(port, name):
    rc, text = s_client('-servername', name, port=port)
    for line in text.splitlines():
        if line.startswith('subject='):
            return line.split('CN', 1)[-1].strip(' =')
    return None


@tap.case('SIGHUP reloads certificates: an established connection keeps working, new ones get the new certificate; a bad one keeps the old and says why')
def _():
    if not openssl_ok():
        return
    certs = Certs.get()
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-keyout',
                    os.path.join(certs, 'c.key'), '-out', os.path.join(certs, 'c.crt'), '-subj',
                    '/CN=c.test', '-addext', 'subjectAltName=DNS:a.test'],
                   check=True, capture_output=True, timeout=60)
    fdir = FnDir()
    d = Daemon(config(fdir.path, certs), listeners=2)
    try:
        port = d.addrs[1][1]
        eq(peer_cn(port, 'a.test'), 'a.test', 'before: certificate a')
        c = ctx(os.path.join(certs, 'a.crt'))
        raw = socket.create_connection(('127.0.0.1', port), timeout=5)
        s = c.wrap_socket(raw, server_hostname='a.test')
        req = b'GET /s/hi HTTP/1.1\r\nHost: a.test\r\n\r\n'
        s.sendall(req)
        check(b'hello over tls' in s.recv(4096), 'a keep-alive connection, first request')
        o = d.reload(config(fdir.path, certs).replace('a.crt', 'c.crt').replace('a.key', 'c.key'))
        eq(o.get('msg'), 'config reloaded', 'reloaded: %r' % o)
        s.sendall(req)
        check(b'hello over tls' in s.recv(4096), 'the same connection after the reload')
        s.close()
        eq(peer_cn(port, 'a.test'), 'c.test', 'after: the new certificate for new connections')
        bad = config(fdir.path, certs).replace('a.key', 'b.key')  # a key of another cert
        o = d.reload(bad)
        check(o.get('msg') == 'reload failed' and 'a.crt' in str(o.get('error')),
              'the failure names the file: %r' % o)
        eq(peer_cn(port, 'a.test'), 'c.test', 'the running certificate stays')
        check(d.alive(), 'alive')
    finally:
        d.stop()
        fdir.cleanup()


@tap.case('the daemon stops cleanly (exit 0: no leak or sanitizer report)')
def _():
    d = Env.get()
    rc = d.stop(cleanup=False)
    eq(rc, 0, 'exit code (stderr tail:\n%s)' % d.stderr_tail)


tap.run()
