#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Deadlines and admission of the function host (gateway/host/queue.c) through a real
daemon: queued requests to a function whose workers are all stuck get 504 at their deadline;
a function whose init starts failing after deploy gets 503 "function NAME cannot start:
CAUSE" promptly, and recovers; a WebSocket join storm (thousands of clients connecting at
once, each sending one message) is served completely with the default settings, no 429.
TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS (tests/functions in the build tree)."""

import base64
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import threading
import time

from lib import (SharedDaemon, SLOW, WRAPPER, Daemon, Fail, FnDir, Tap, check, check_json_error, diag, eq, exchange,
                 install_batches, note, open_tmpdir, req, short, supervisor_pid, test_so)

tap = Tap(budget=200, needs_workers=True)
WORK = open_tmpdir('fngate-it-deadlines-', 0o755)   # searchable by the workers' uid
FLAG = os.path.join(WORK, 'fail-init')
STORM = int(os.environ.get('FNGATE_STORM_CONNECTIONS') or 3000)
OVERLOADED_S = 10   # a storm that takes longer ran on a machine starved by other work
tap.on_exit(lambda: shutil.rmtree(WORK, ignore_errors=True))


def _config(fn_dir):
    """The daemon over its own functions directory."""
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"], default_api: a }',
        'access_log: { path: "off" }',
        'domains: { ws.test: [{ base_path: /, api: chat, stage: s }] }',
        'functions: { dir: "%s" }' % fn_dir,
        'apis:',
        '  a:',
        '    stages: { s: {} }',
        '    routes:',
        '      "ANY /stuck": { integration: { type: function, function: stuck } }',
        '      "ANY /flaky": { integration: { type: function, function: flaky } }',
        '  chat:',
        '    protocol: websocket',
        '    stages: { s: {} }',
        '    routes:',
        '      $connect: { integration: { type: function, function: join } }',
        '      $default: { integration: { type: function, function: join } }',
    ]) + '\n'


def _setup(d, fdir):
    install_batches(d, fdir, [
        # Spins forever: every worker is stuck until the gateway kills it.
        ('stuck', test_so('abuse_spin'), 'concurrency: 1\ntimeout_ms: 1500\n'),
        # Recycled after each invocation, so that new workers keep starting.
        ('flaky', test_so('init_flaky'), 'concurrency: 1\nmin_warm: 1\n'
         'max_invocations: 1\ntimeout_ms: 3000\n'
         'env: { FNG_TEST_FAIL_IF: "%s" }\n' % FLAG),
        # No manifest: the defaults decide the join storm.
        ('join', test_so('ok'), None),
    ])


ENV = SharedDaemon(tap, _config, _setup)


def timed_call(port, path, timeout=15.0):
    t0 = time.monotonic()
    r = exchange(port, req('GET', path), timeout=timeout)
    return r, (time.monotonic() - t0) * 1000


# ================================================== stuck workers: 504 ===

@tap.case('stuck workers, no new one can be had: every queued request gets 504 at its deadline')
def _():
    d = ENV.get()
    sup = supervisor_pid(d.proc.pid)
    check(sup, 'no supervisor under the gateway')
    out = {}

    def one(i):
        try:
            out[i] = timed_call(d.port, '/s/stuck')
        except Exception as e:  # noqa: BLE001
            out[i] = e
    # The worker spins in the first request; the supervisor, stopped, answers no request for
    # a new worker: nothing will ever take the queued requests. Only their deadline frees
    # them (before, they waited for a worker to become idle: here, for ever).
    os.kill(sup, signal.SIGSTOP)
    try:
        ts = []
        for i in range(6):
            ts.append(threading.Thread(target=one, args=(i,), daemon=True))
            ts[-1].start()
            time.sleep(0.1)     # spread the deadlines: 1.5 s after each arrival
        for t in ts:
            t.join(10 * SLOW)
    finally:
        os.kill(sup, signal.SIGCONT)
    msgs = []
    for i in range(6):
        r = out.get(i)
        check(r is not None and not isinstance(r, Exception),
              'request %d not answered within 10 s: %r' % (i, r))
        resp, ms = r
        obj = check_json_error(resp, 504)
        msgs.append(obj['message'])
        note('request %d: %.0f ms %s' % (i, ms, obj['message']))
        # The deadline is 1500 ms after arrival; a loose bound above it (no timing target).
        check(1400 <= ms < 1500 + 700 * SLOW, 'request %d answered after %.0f ms (deadline '
              '1500 ms): %s' % (i, ms, obj['message']))
    eq(msgs[0], 'function stuck timed out after 1500 ms', 'the running one')
    eq(msgs[1:], ['function timed out waiting for a worker'] * 5, 'the queued ones')
    r, _ = timed_call(d.port, '/s/stuck')
    check_json_error(r, 504)


# ============================================ init fails after deploy: 503 ===

def until_503(port, tries=20):
    """Calls /s/flaky until a 503 comes (each call bounded); returns (response, ms)."""
    seen = []
    for _ in range(tries):
        r, ms = timed_call(port, '/s/flaky', timeout=10)
        seen.append((r.status, round(ms)))
        if r.status == 503:
            return r, ms
        check(r.status == 200, 'unexpected answer %d: %s' % (r.status, short(r.raw)))
        time.sleep(0.05)
    raise Fail('no 503 after %d calls: %s' % (tries, seen))


@tap.case('init fails after deploy: 503 "function flaky cannot start: CAUSE" promptly')
def _():
    d = ENV.get()
    r, _ = timed_call(d.port, '/s/flaky')
    eq((r.status, r.body), (200, b'flaky'), 'deployed and serving')
    open(FLAG, 'w').close()
    os.chmod(FLAG, 0o644)
    r, ms = until_503(d.port)
    obj = check_json_error(r, 503)
    check(re.match(r'^function flaky cannot start: .+', obj['message']),
          'message: %r' % obj['message'])
    diag('first 503 after %.0f ms: %s' % (ms, obj['message']))
    # While it backs off, the next ones are answered at once: nothing waits for a deadline.
    for i in range(5):
        r, ms = timed_call(d.port, '/s/flaky')
        obj = check_json_error(r, 503)
        check(obj['message'].startswith('function flaky cannot start: '), obj['message'])
        check(ms < 2500 * SLOW, 'call %d took %.0f ms (timeout 3000 ms)' % (i, ms))
    # Requests arriving together, queued: all of them 503, none hangs.
    res = []
    lock = threading.Lock()

    def one():
        try:
            r, ms = timed_call(d.port, '/s/flaky')
            with lock:
                res.append((r.status, ms))
        except Exception as e:  # noqa: BLE001
            with lock:
                res.append((repr(e), 0))
    ts = [threading.Thread(target=one, daemon=True) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(15)
    eq(sorted(s for s, _ in res), [503] * 8, 'statuses of 8 concurrent calls')
    check(max(ms for _, ms in res) < 2500 * SLOW, 'a concurrent call took %.0f ms'
          % max(ms for _, ms in res))
    check(d.wait_log(lambda o: o.get('function') == 'flaky' and
                     o.get('msg') == 'worker failed to start', 2.0),
          'no "worker failed to start" line')


@tap.case('init fails after deploy: the function recovers once its init succeeds again')
def _():
    d = ENV.get()
    try:
        os.unlink(FLAG)
    except FileNotFoundError:
        pass
    # The back-off is 2048 ms at most: a start is tried again within that.
    end = time.monotonic() + 10 * SLOW
    seen = []
    while time.monotonic() < end:
        r, ms = timed_call(d.port, '/s/flaky')
        seen.append(r.status)
        if r.status == 200:
            eq(r.body, b'flaky', 'body')
            return
        time.sleep(0.2)
    raise Fail('still not serving 10 s after init succeeds again: %s' % seen[-10:])


# ======================================================== the join storm ===

def ws_frame(text):
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack('!BB', 0x81, 0x80 | len(payload)) + mask + masked


class Client:
    def __init__(self, port, i):
        self.i = i
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(('127.0.0.1', port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.out = ('GET / HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n'
                    'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                    'Sec-WebSocket-Version: 13\r\n\r\n' % key).encode()
        self.buf = b''
        self.status = None
        self.head = b''
        self.answer = None
        self.error = None


def storm(port, n, deadline):
    """n clients connect at once, each sends "join" once its handshake is answered; returns
    the clients with what each got."""
    sel = selectors.DefaultSelector()
    clients = []
    for i in range(n):
        c = Client(port, i)
        clients.append(c)
        sel.register(c.sock, selectors.EVENT_WRITE | selectors.EVENT_READ, c)
    left = n
    while left and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.5):
            c = key.data
            try:
                if ev & selectors.EVENT_WRITE and c.out:
                    k = c.sock.send(c.out)
                    c.out = c.out[k:]
                    if not c.out:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if not ev & selectors.EVENT_READ:
                    continue
                data = c.sock.recv(65536)
                if not data:
                    raise OSError('closed by the gateway')
                c.buf += data
                if c.status is None and b'\r\n\r\n' in c.buf:
                    head, _, c.buf = c.buf.partition(b'\r\n\r\n')
                    c.status = int(head.split(b' ')[1])
                    c.head = head
                    if c.status == 101:
                        c.sock.send(ws_frame('join'))
                if c.status not in (None, 101):
                    # A refusal: its whole body (Content-Length), which says why.
                    m = re.search(rb'(?i)\r\ncontent-length: *(\d+)', c.head)
                    if m and len(c.buf) < int(m.group(1)):
                        continue
                    c.error = c.head.split(b'\r\n')[0].decode('latin-1') + ' ' + \
                        c.buf.decode('latin-1', 'replace')[:200]
                    raise OSError('refused')
                if c.status == 101 and len(c.buf) >= 2:
                    ln = c.buf[1] & 0x7f
                    if len(c.buf) >= 2 + ln and ln < 126:
                        c.answer = c.buf[2:2 + ln]
                        raise StopIteration
            except StopIteration:
                sel.unregister(c.sock)
                left -= 1
            except OSError as e:
                c.error = c.error or str(e)
                sel.unregister(c.sock)
                left -= 1
    sel.close()
    return clients


def instrumented(d):
    """Under a sanitizer or valgrind every invocation, and the loop that measures it, is many
    times slower: the run-time estimate the admission uses is then rightly pessimistic."""
    with open('/proc/%d/maps' % d.proc.pid) as f:
        return bool(WRAPPER) or 'libasan' in f.read()


@tap.case('join storm: %d WebSocket clients (fewer under a sanitizer) connect at once and '
          'send one message each; all served with the defaults, no 429' % STORM)
def _():
    global STORM
    d = ENV.get()
    slow = instrumented(d)
    if slow:
        STORM = min(STORM, 300)
        diag('instrumented build: a storm of %d; every client answered, refusals allowed '
             'if they are HTTP answers that say why' % STORM)
    t0 = time.monotonic()
    clients = storm(d.port, STORM, t0 + 60 * SLOW)
    took = time.monotonic() - t0
    try:
        statuses = {}
        for c in clients:
            statuses[c.status] = statuses.get(c.status, 0) + 1
        answered = sum(1 for c in clients if c.answer == b'ok')
        errors = [(c.i, c.error) for c in clients if c.error]
        diag('%d clients: handshakes %s, %d answers, %.1f s' % (STORM, statuses, answered, took))
        if took > OVERLOADED_S * SLOW:
            # The whole storm took this long only on a machine starved by other work (it takes
            # under a second here otherwise): a refusal by the estimate is then the right
            # answer, and whether all could be served is a question for bench/, not a test.
            # What still holds: the gateway serves afterwards, and a refusal says why.
            kinds = {}
            for c in clients:
                if c.error:
                    k = '%s: %s' % (c.status, re.sub(r'\d{3,}', 'N', c.error[:100]))
                    kinds[k] = kinds.get(k, 0) + 1
            diag('overloaded machine (%.1f s): strict checks skipped; failures by kind: %s'
                 % (took, kinds))
            bad = [(c.i, c.error) for c in clients if c.status not in (None, 101) and
                   not re.match(r'^HTTP/1\.1 \d{3} [^{]*\{"message":"[^"]+"\}', c.error or '')]
            eq(bad[:5], [], 'refusals that do not say why (first 5)')
            after = storm(d.port, 1, time.monotonic() + 10 * SLOW)
            eq((after[0].status, after[0].answer, after[0].error), (101, b'ok', None),
               'a client after the storm')
            after[0].sock.close()
            return
        if slow:
            # What is checked there: no client hangs or is dropped, and a refusal says why.
            # On an instrumented build in a loaded machine the estimate admits what then
            # runs late: 429 (the estimate), 504 (the deadline) are both answers.
            kinds = {}
            for _, e in errors:
                k = re.sub(r'\d{3,}', 'N', (e or '')[:120])
                kinds[k] = kinds.get(k, 0) + 1
            diag('errors by kind: %s' % kinds)
            other = [(i, e) for i, e in errors if not re.match(
                r'^HTTP/1\.1 (429|503|504) [^{]*\{"message":"[^"]+"\}', e or '')]
            eq(other[:5], [], 'clients that failed without an HTTP answer that says why '
               '(first 5)')
            silent = [c.i for c in clients if c.status == 101 and c.answer is None]
            eq(silent[:5], [], 'accepted clients that got no answer to "join" (first 5)')
            return
        check(not any(' 429 ' in (e or '') for _, e in errors),
              '429 refusals: %d, e.g. %s' % (sum(' 429 ' in (e or '') for _, e in errors),
                                             errors[:3]))
        eq(errors[:5], [], 'clients that failed (first 5)')
        eq(statuses, {101: STORM}, 'handshake statuses')
        eq(answered, STORM, 'clients answered "ok" to their "join"')
    finally:
        for c in clients:
            c.sock.close()


@tap.case('daemon exits 0 on SIGTERM')
def _():
    check(ENV.d is not None, 'the daemon was not started')
    rc = ENV.d.stop()
    ENV.d = None
    eq(rc, 0, 'exit code')

tap.run()
