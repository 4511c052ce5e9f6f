#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`fngate ws`, the WebSocket client, against servers that are not fngate: node's ws echo
server (tests/ws/node_echo.js) and a node ws peer started here that reports the handshake it
saw (headers, offered and chosen subprotocol), sends a binary or a fragmented message, closes
with a given code, refuses the upgrade with a 403 or drops the connection, by path. Checked:
what is printed (stdout exactly), the exit status (0 / 1 / 2) and the error on stderr. TAP
output; skipped when fngate was built without libwebsockets or node is missing.

Environment: FNGATE_BIN, FNGATE_WS_DIR (tests/ws, where .ci/deps.sh installs node's ws)."""

import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import time

from lib import BIN, SLOW, WRAPPER, Fail, Tap, check, eq, note, short

tap = Tap(budget=90)
WS_DIR = os.environ.get('FNGATE_WS_DIR') or os.path.join(os.path.dirname(__file__), '..', 'ws')

# The peer: every message is echoed; the path picks what it does first.
PEER_JS = r'''
const http = require('http');
const { WebSocketServer } = require('ws');
const srv = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ noServer: true, handleProtocols: (set) => [...set].pop() });
srv.on('upgrade', (req, sock, head) => {
	if (req.url === '/refuse') {
		sock.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
		return;
	}
	wss.handleUpgrade(req, sock, head, (ws) => {
		ws.on('error', () => {});
		ws.on('message', (d, binary) => ws.send(d, { binary }));
		if (req.url === '/info') {
			ws.send(JSON.stringify({ protocol: ws.protocol, host: req.headers.host,
				offered: req.headers['sec-websocket-protocol'] || null,
				origin: req.headers.origin || null,
				test: req.headers['x-fngate-test'] || null }));
		} else if (req.url === '/binary') {
			ws.send(Buffer.from([...Array(100).keys()]), { binary: true });
		} else if (req.url === '/fragments') {
			ws.send('frag', { fin: false });
			ws.send('men', { fin: false });
			ws.send('ted', { fin: true });
		} else if (req.url.startsWith('/close/')) {
			ws.close(parseInt(req.url.slice(7), 10), 'bye now');
		} else if (req.url === '/drop') {
			ws.terminate();
		}
	});
});
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
process.on('SIGTERM', () => process.exit(0));
'''


class Node:
    """A node process that prints its port on its first line; stopped by pid at exit."""

    def __init__(self, args):
        env = dict(os.environ, NODE_PATH=os.path.join(WS_DIR, 'node_modules'))
        self.proc = subprocess.Popen(['node'] + args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise Fail('node %s did not start: %r %s' % (args[0], line,
                                                         self.proc.stderr.read()[-500:]))
        self.url = 'ws://127.0.0.1:%s' % line

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_servers = {}


def server(name):
    """The echo server ('echo') or the peer ('peer'), started on first use."""
    if name not in _servers:
        check(os.path.isfile(os.path.join(WS_DIR, 'node_modules', 'ws', 'package.json')),
              'node ws is not installed in %s (.ci/deps.sh does it)' % WS_DIR)
        args = [os.path.join(WS_DIR, 'node_echo.js'), '0'] if name == 'echo' else ['-e', PEER_JS]
        _servers[name] = Node(args)
        tap.on_exit(_servers[name].stop)
    return _servers[name].url


def ws(args, stdin=b'', timeout=10):
    """Runs `fngate ws ARGS` with stdin; returns (exit status, stdout, stderr text, seconds)."""
    t0 = time.monotonic()
    p = subprocess.run(WRAPPER + [BIN, 'ws'] + list(args), input=stdin, capture_output=True,
                       timeout=timeout * SLOW)
    took = time.monotonic() - t0
    err = p.stderr.decode('utf-8', 'replace')
    note('fngate ws %s -> rc %d in %.2f s\nstdout: %s\nstderr: %s'
         % (' '.join(a if len(a) < 80 else a[:80] + '...' for a in args), p.returncode, took,
            short(p.stdout, 400), short(err, 800)))
    return p.returncode, p.stdout, err, took


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@tap.case('-s hello -n 1 -q: prints the echo alone, exits 0, says nothing on stderr')
def _():
    rc, out, err, _ = ws(['-s', 'hello', '-n', '1', '-q', server('echo') + '/'])
    eq(out, b'hello\n', 'stdout')
    eq(err, '', 'stderr')
    eq(rc, 0, 'exit status')


@tap.case('-s messages, then stdin lines, go out in order; end of input closes (1000), exit 0')
def _():
    url = server('echo') + '/path?q=1'
    rc, out, err, took = ws(['-s', 'zero', '-s', 'one', url], stdin=b'two\n\nfour')
    eq(out, b'< zero\n< one\n< two\n< \n< four\n', 'stdout (the last line has no newline)')
    check('connected to %s' % url in err, 'no "connected to URL" on stderr')
    eq(rc, 0, 'exit status')
    check(took < 2 * SLOW, 'the close took %.2f s: the server\'s close was not seen' % took)


@tap.case('-n 2: exits 0 after two messages, though more were sent and echoed')
def _():
    rc, out, _, _ = ws(['-n', '2', server('echo') + '/'], stdin=b'a\nb\nc\nd\n')
    eq(out, b'< a\n< b\n', 'stdout')
    eq(rc, 0, 'exit status')


@tap.case('-H and -p reach the server; Host and Origin replace the defaults; the chosen '
          'subprotocol is reported')
def _():
    url = server('peer')
    args = ['-n', '1', '-H', 'X-Fngate-Test: yes it is', '-H', 'Origin: http://o.test',
            '-p', 'chat.v1, chat.v2', url + '/info']
    rc, out, err, _ = ws(args)
    eq(rc, 0, 'exit status')
    check(out.startswith(b'< {'), 'stdout is not "< JSON": %r' % out)
    got = json.loads(out[2:])
    eq(got, {'protocol': 'chat.v2', 'offered': 'chat.v1, chat.v2', 'test': 'yes it is',
             'origin': 'http://o.test', 'host': url[len('ws://'):]}, 'what the server saw')
    check(', protocol chat.v2' in err, 'the chosen subprotocol is not on stderr')
    rc, out, _, _ = ws(['-q', '-n', '1', '-H', 'host: h.test:8080', url + '/info'])
    got = json.loads(out)
    eq((got['host'], got['protocol'], got['offered'], got['origin']),
       ('h.test:8080', '', None, None), 'host, protocol, offered, origin without -p/Origin')
    eq(rc, 0, 'exit status')


@tap.case('a binary message prints its size and first 64 bytes in hex')
def _():
    rc, out, _, _ = ws(['-n', '1', server('peer') + '/binary'])
    eq(out, b'< [binary 100 bytes] ' + bytes(range(64)).hex().encode() + b'...\n', 'stdout')
    eq(rc, 0, 'exit status')


@tap.case('a message in three fragments prints as one')
def _():
    rc, out, _, _ = ws(['-q', '-n', '1', server('peer') + '/fragments'])
    eq(out, b'fragmented\n', 'stdout')
    eq(rc, 0, 'exit status')


@tap.case('a 1 MiB message goes out (in frames) and comes back (reassembled) intact')
def _():
    rnd = random.Random(6455)
    msg = ''.join(rnd.choice(string.ascii_letters) for _ in range(1 << 20)).encode()
    rc, out, _, _ = ws(['-q', '-n', '1', server('echo') + '/'], stdin=msg + b'\n')
    eq(len(out), len(msg) + 1, 'stdout length')
    check(out == msg + b'\n', 'the echo differs from the message')
    eq(rc, 0, 'exit status')


@tap.case('a server close prints "closed CODE REASON": 1000 and 1001 exit 0, others 1')
def _():
    for code, want in ((1000, 0), (1001, 0), (4001, 1), (1011, 1)):
        # -n keeps the end of input from closing first
        rc, out, err, _ = ws(['-n', '5', server('peer') + '/close/%d' % code])
        check('closed %d bye now\n' % code in err, 'close %d: no "closed %d bye now" on stderr'
              % (code, code))
        eq(out, b'', 'close %d: stdout' % code)
        eq(rc, want, 'close %d: exit status' % code)


@tap.case('a refused handshake prints the HTTP status and exits 1')
def _():
    rc, out, err, _ = ws(['-n', '1', server('peer') + '/refuse'])
    check('handshake refused: HTTP 403' in err, 'no "handshake refused: HTTP 403" on stderr')
    eq(out, b'', 'stdout')
    eq(rc, 1, 'exit status')


@tap.case('a connection dropped without a close frame exits 1')
def _():
    rc, _, err, _ = ws(['-n', '1', server('peer') + '/drop'])
    check('connection was lost' in err, 'no "connection was lost" on stderr')
    eq(rc, 1, 'exit status')


@tap.case('-t: exits 1 with a message when the time is up')
def _():
    rc, out, err, took = ws(['-n', '1', '-t', '300', server('peer') + '/silent'])
    check('timed out after 300 ms' in err, 'no "timed out after 300 ms" on stderr')
    eq(rc, 1, 'exit status')
    check(0.25 < took < 3 * SLOW, 'took %.2f s' % took)


@tap.case('a closed port: exit 1, "cannot connect to URL"')
def _():
    url = 'ws://127.0.0.1:%d/' % free_port()
    rc, out, err, _ = ws(['-n', '1', url])
    check(err.startswith('fngate ws: cannot connect to %s' % url), 'stderr: %r' % err)
    eq(rc, 1, 'exit status')


@tap.case('bad URLs and options: exit 2 with the reason, nothing sent')
def _():
    port = free_port()
    bad = [
        ('http://127.0.0.1:%d/' % port, 'must start with ws:// or wss://'),
        ('wss://', 'no host'),
        ('ws://', 'no host'),
        ('ws://127.0.0.1:0/', 'port must be 1 to 65535'),
        ('ws://127.0.0.1:65536/', 'port must be 1 to 65535'),
        ('ws://127.0.0.1:%dx/' % port, 'bad port'),
        ('ws://127.0.0.1 /', 'bad host or port'),
        ('ws://127.0.0.1:%d/#top' % port, 'no #fragment'),
        ('ws://127.0.0.1:%d/a b' % port, 'must be %-encoded'),
        ('ws://u@127.0.0.1:%d/' % port, 'user info'),
        ('ws://[::1:%d/' % port, 'bad IPv6 address'),
    ]
    for url, why in bad:
        rc, out, err, _ = ws([url])
        check(why in err, '%s: %r is not on stderr' % (url, why))
        eq((rc, out), (2, b''), '%s: exit status and stdout' % url)
    url = server('echo') + '/'
    for args in (['-n', '0', url], ['-t', 'x', url], ['-H', 'no colon', url],
                 ['-H', 'Upgrade: h2c', url], ['-H', 'Sec-WebSocket-Protocol: a', url],
                 ['-p', 'a,,b', url], ['-p', 'a b', url], ['-x', url], ['-n'], [],
                 [url, url]):
        rc, out, err, _ = ws(['-s', 'never'] + args)
        check(err.startswith('fngate ws: ') or err.startswith('usage: fngate ws'),
              '%s: stderr: %r' % (args, err))
        eq((rc, out), (2, b''), '%s: exit status and stdout' % args)


def skip_reason():
    p = subprocess.run([BIN, 'ws'], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=10)
    if 'built without libwebsockets' in p.stderr:
        return 'fngate was built without libwebsockets'
    if not shutil.which('node'):
        return 'node is not installed'
    return None


if __name__ == '__main__':
    why = skip_reason() if os.access(BIN, os.X_OK) else None
    if why:
        print('1..0 # SKIP %s' % why, flush=True)
        sys.exit(0)
    tap.run()
