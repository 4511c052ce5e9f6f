#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The chat and dashboard examples end to end: the real gateway serves examples/fngate.yaml
(listen port, functions directory, static roots and the schedule's period rewritten for a
test) with examples/chat/chat.c, examples/dashboard/dashboard.c and examples/authorizer/
authorizer.c built the way a user builds them (cc + pkg-config against this build tree). Raw
HTTP and WebSocket checks of the pages, the handshake's refusals (the chat's $connect is
behind the demo's authorizer: the page sends token=allow-NICK), the demo's authorized route,
topic deliveries and the metrics endpoint; then Debian's
chromium, driven by tests/ws/browser.js (playwright-core), uses the pages as a person would.
The browser cases are skipped, with the reason, only when chromium or playwright-core is not
installed. TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_SOURCE_ROOT, FNGATE_WS_DIR,
FNGATE_CHROMIUM (default /usr/bin/chromium)."""

import base64
import json
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import tempfile
import time

from lib import (BUILD_ROOT, SLOW, SOURCE_ROOT, Conn, Daemon, Fail, FnDir, Tap, Timeout, check,
                 check_status, diag, eq, exchange, install_batches, note, req, run, short)
from lib import browser_case as lib_browser_case, browser_missing

tap = Tap(budget=200, needs_workers=True)
EXAMPLE = os.path.join(SOURCE_ROOT, 'examples', 'fngate.yaml')
WS_DIR = os.environ.get('FNGATE_WS_DIR') or os.path.join(SOURCE_ROOT, 'tests', 'ws')
CHROMIUM = os.environ.get('FNGATE_CHROMIUM', '/usr/bin/chromium')
TICK_MS = 250   # the dashboard's schedule in the test (1000 in the example)


def build(name, out_dir, extra_libs=''):
    """cc examples/NAME/NAME.c as the Makefile's `functions` target does; returns the .so."""
    out = os.path.join(out_dir, name + '.so')
    src = os.path.join(SOURCE_ROOT, 'examples', name, name + '.c')
    cmd = ('cc -shared -fPIC -O2 -Wall -Wextra -o %s %s '
           '$(PKG_CONFIG_PATH=%s pkg-config --cflags --libs fngate jansson) %s'
           % (shlex.quote(out), shlex.quote(src),
              shlex.quote(os.path.join(BUILD_ROOT, 'meson-uninstalled')), extra_libs))
    p = subprocess.run(['sh', '-c', cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    text = p.stdout.decode('utf-8', 'replace')
    if p.returncode != 0:
        raise Fail('building examples/%s failed (exit %d): %s\n%s'
                   % (name, p.returncode, cmd, text[-3000:]))
    if text.strip():
        note('cc warnings for examples/%s:\n%s' % (name, text[-2000:]))
    os.chmod(out, 0o644)
    return out


def test_config(fn_dir):
    """examples/fngate.yaml made fit for a test: port 0, our functions dir, absolute static
    roots, no access log on stderr, a faster schedule. Each rewrite must apply, so a change
    to the example that breaks one fails here, by name."""
    with open(EXAMPLE) as f:
        text = f.read()
    rewrites = [
        (r'"127\.0\.0\.1:8080"', '"127.0.0.1:0"'),
        (r'dir: \.\./functions', 'dir: "%s"' % fn_dir),
        (r'root: \.\./examples/', 'root: %s/' % os.path.join(SOURCE_ROOT, 'examples')),
        (r'file: \.\./examples/', 'file: %s/' % os.path.join(SOURCE_ROOT, 'examples')),
        (r'path: "-"', 'path: "off"'),
        (r'every_ms: 1000', 'every_ms: %d' % TICK_MS),
        (r'state_dir: \.\./build/state', 'state_dir: "@TMP@/state"'),
    ]
    for pat, rep in rewrites:
        text, n = re.subn(pat, rep.replace('\\', '\\\\'), text)
        check(n > 0, 'examples/fngate.yaml no longer has %r (the test rewrites it)' % pat)
    return text


class Env:
    d = None
    fdir = None
    error = None    # why setting up failed: every later case fails with it, without a retry

    @classmethod
    def get(cls):
        if cls.error is not None:
            raise Fail('set-up failed in an earlier case: %s' % cls.error.splitlines()[0])
        if cls.d is None:
            tmp = tempfile.mkdtemp(prefix='fngate-it-examples-')
            try:
                chat = build('chat', tmp)
                dashboard = build('dashboard', tmp, '-lm')
                authorizer = build('authorizer', tmp)
                hello = build('hello', tmp)
                cls.fdir = FnDir()
                cls.d = Daemon(test_config(cls.fdir.path))
                install_batches(cls.d, cls.fdir, [('chat', chat, None),
                                                  ('authorizer', authorizer, None),
                                                  ('hello', hello, None),
                                                  ('dashboard', dashboard, None)])
            except BaseException as e:
                cls.error = str(e) or type(e).__name__
                cls.close()
                raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return cls.d

    @classmethod
    def close(cls):
        rc = None
        if cls.d is not None:
            rc = cls.d.stop()   # SIGTERM to the pid it started, then SIGKILL
            cls.tail = cls.d.stderr_tail
            cls.d = None
        if cls.fdir is not None:
            cls.fdir.cleanup()
            cls.fdir = None
        return rc


tap.on_exit(Env.close)


def host():
    return '127.0.0.1:%d' % Env.get().port


def get(path, method='GET', body=None, headers=()):
    return exchange(Env.get().port, req(method, path, host=host(), body=body,
                                        headers=headers), method)


# ---------------------------------------------------------------- raw WebSocket ---

def ws_open(path):
    """A handshake on a fresh connection: (conn, response). The conn is open after a 101."""
    c = Conn(Env.get().port)
    key = base64.b64encode(os.urandom(16)).decode()
    c.send(req('GET', path, host=host(), headers=[
        'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: ' + key,
        'Sec-WebSocket-Version: 13']))
    return c, c.read_response()


def ws_message(c, timeout=5.0):
    """The next data message from the server as text (control frames skipped)."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        b0, b1 = c._exact(2, deadline, 'a frame header')
        n = b1 & 0x7f
        check(not b1 & 0x80, 'the server masked a frame')
        if n == 126:
            n = struct.unpack('!H', c._exact(2, deadline, 'a frame length'))[0]
        elif n == 127:
            n = struct.unpack('!Q', c._exact(8, deadline, 'a frame length'))[0]
        payload = c._exact(n, deadline, 'a frame payload') if n else b''
        op = b0 & 0x0f
        if op == 8:
            raise Fail('the server closed the connection: %r' % payload)
        if op in (1, 2):
            check(b0 & 0x80, 'the server fragmented a message')
            return payload.decode('utf-8')


def deliveries(c, topic, pred, timeout=5.0):
    """Reads topic deliveries until pred(data) holds; returns that delivery."""
    deadline = time.monotonic() + timeout * SLOW
    seen = []
    while time.monotonic() < deadline:
        try:
            text = ws_message(c, max(deadline - time.monotonic(), 0.01) / SLOW)
        except Timeout:
            break
        m = json.loads(text)
        seen.append(m)
        check(m.get('topic') == topic, 'a delivery not for topic %s: %s' % (topic, text))
        check(isinstance(m.get('seq'), int), 'a delivery without an integer seq: %s' % text)
        if pred(m['data']):
            return m
    raise Fail('no matching delivery on %s within %.1f s; got %s'
               % (topic, timeout, short(seen, 1500)))


@tap.case('example config: fngate check accepts examples/fngate.yaml as committed')
def _():
    p = run(['check', EXAMPLE], timeout=30)
    eq(p.returncode, 0, 'fngate check exit code (stderr %s)' % short(p.stderr, 1500))


@tap.case('pages: /chat/, /chat and /dashboard/ serve the example pages (static, text/html) on the 127.0.0.1 domain')
def _():
    for path, title in (('/chat/', 'fngate chat'), ('/chat', 'fngate chat'),
                        ('/chat/index.html', 'fngate chat'),
                        ('/dashboard/', 'fngate dashboard')):
        r = get(path)
        check_status(r, 200)
        ct = (r.header('content-type') or '').split(';')[0].strip().lower()
        eq(ct, 'text/html', 'content-type of %s' % path)
        check(('<title>%s</title>' % title).encode() in r.body,
              '%s is not the %s page: %s' % (path, title, short(r.body, 300)))
    r = get('/chat/no-such-file.js')
    check(r.status == 404, 'a missing file: expected 404, got %d' % r.status)


@tap.case('demo API: still served under /dev and /prod through the domain mapping')
def _():
    for stage, greeting in (('dev', 'hello'), ('prod', 'welcome')):
        r = get('/%s/mock/hello/ada' % stage)
        check_status(r, 200)
        eq(r.json().get('message'), '%s, ada' % greeting, '/%s/mock/hello/ada message' % stage)


@tap.case('demo API: GET /dev/authz/hello behind the example authorizer: Bearer allow-NAME '
          '200 with the principal, another token 403, none 401')
def _():
    r = get('/dev/authz/hello', headers=[('Authorization', 'Bearer allow-ada')])
    check_status(r, 200)
    eq(r.json(), {'message': 'hello, ada', 'stage': 'dev', 'principalId': 'ada'}, 'answer')
    for headers, status, msg in (([('Authorization', 'Bearer deny-me')], 403, 'Forbidden'),
                                 ([('Authorization', 'Basic eA==')], 401, 'Unauthorized'),
                                 ([], 401, 'Unauthorized')):
        r = get('/dev/authz/hello', headers=headers)
        eq((r.status, r.json().get('message')), (status, msg), 'refusal %r' % headers)
    eq(get('/dev/hello/ada').json(), {'message': 'hello, ada', 'stage': 'dev'},
       'GET /dev/hello/ada unchanged')


@tap.case('chat $connect behind the authorizer: no token 401, a bad one 403, each a JSON '
          'message and no connection')
def _():
    for q, status in (('nick=ann&room=lobby', 401), ('nick=ann&room=lobby&token=x', 403)):
        c, r = ws_open('/chat/ws?' + q)
        c.close()
        check(r.status == status, '?%s: expected %d, got %d: %s' % (q, status, r.status,
                                                                    short(r.raw)))
        check(json.loads(r.body).get('message'), '?%s: no JSON message' % q)


@tap.case('chat $connect: a bad nick or room is refused with 400 and a JSON message; a good one joins and gets its own join')
def _():
    for q in ('nick=%3Cb%3E&room=lobby', 'nick=&room=lobby', 'room=lobby',
              'nick=' + 'n' * 25 + '&room=lobby', 'nick=ann&room=a.b', 'nick=ann',
              'nick=ann&room=' + 'r' * 33):
        c, r = ws_open('/chat/ws?' + q + '&token=allow-t')
        c.close()
        check(r.status == 400, '?%s: expected 400, got %d: %s' % (q, r.status, short(r.raw)))
        try:
            msg = json.loads(r.body).get('message')
        except ValueError:
            msg = None
        check(isinstance(msg, str) and msg, '?%s: no JSON message in %s' % (q, short(r.body)))
    room = 'raw%d' % (os.getpid() % 100000)
    c, r = ws_open('/chat/ws?nick=carol&room=' + room + '&token=allow-carol')
    try:
        eq(r.status, 101, 'status of a good handshake (%s)' % short(r.raw))
        m = deliveries(c, 'room.' + room, lambda d: True)
        eq(m['data'], {'type': 'join', 'nick': 'carol'}, 'first delivery (data embedded as JSON)')
    finally:
        c.close()


@tap.case('dashboard: POST /dashboard/metrics publishes to the topic (202 {"published":true}); scheduled samples arrive; a bad body is a 400 JSON message')
def _():
    c, r = ws_open('/dashboard/ws')
    try:
        eq(r.status, 101, 'dashboard handshake status (%s)' % short(r.raw))
        m = deliveries(c, 'metrics', lambda d: d.get('name') == 'synthetic', timeout=5.0)
        d = m['data']
        check(isinstance(d.get('t'), int) and abs(d['t'] / 1000 - time.time()) < 60,
              'a sample\'s "t" is not the time in ms: %r' % d)
        check(isinstance(d.get('value'), (int, float)), 'a sample\'s value: %r' % d)
        r = get('/dashboard/metrics', 'POST', body='{"name":"raw-test","value":7.25}',
                headers=['Content-Type: application/json'])
        check_status(r, 202)
        eq(r.json(), {'published': True}, 'answer to a good POST')
        m = deliveries(c, 'metrics', lambda d: d.get('name') == 'raw-test')
        eq(m['data'].get('value'), 7.25, 'the POSTed value')
    finally:
        c.close()
    for body in ('', 'not json', '[]', '{"name":"x"}', '{"name":"x","value":"7"}',
                 '{"name":"","value":1}', '{"value":1}', '{"name":"%s","value":1}' % ('n' * 65)):
        r = get('/dashboard/metrics', 'POST', body=body)
        check(r.status == 400, 'body %r: expected 400, got %d' % (body, r.status))
        check(isinstance(r.json().get('message'), str), 'body %r: no JSON message' % body)


# ------------------------------------------------------------------ browser ---

def browser(scenario):
    d = Env.get()
    base = 'http://127.0.0.1:%d' % d.port
    mark = d.log_mark()
    # Its own process group, so a run past its time is ended with chromium, by that id.
    p = subprocess.Popen(['node', os.path.join(WS_DIR, 'browser.js'), scenario, base],
                         cwd=WS_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        raise Fail('browser.js %s ran over 120 s:\n%s' % (scenario, out.decode('utf-8', 'replace')))
    text = out.decode('utf-8', 'replace')
    lines = [l for l in text.splitlines() if l.startswith(('#', 'PASS', 'FAIL'))]
    if p.returncode != 0:
        raise Fail('browser.js %s exit code %d:\n%s\ngateway log since:\n%s'
                   % (scenario, p.returncode, text[-6000:], d.stderr_text(mark, 30)))
    for l in lines:
        diag(l.lstrip('# '))


MISSING = browser_missing(WS_DIR, CHROMIUM)


def browser_case(name, fn):
    lib_browser_case(tap, MISSING, name, fn)


browser_case('browser: chat — two pages in one room see each other\'s joins, messages (as text) '
             'and leave; errors reach the sender only; a dropped page resumes exactly once',
             lambda: browser('chat'))
browser_case('browser: dashboard — the chart draws scheduled samples (3 within 8 s), a sample '
             'POSTed from the page appears, a dropped page resumes',
             lambda: browser('dashboard'))


@tap.case('the gateway exits 0 on SIGTERM')
def _():
    Env.get()
    rc = Env.close()
    eq(rc, 0, 'exit code after SIGTERM; stderr tail:\n%s\n' % getattr(Env, 'tail', ''))


if __name__ == '__main__':
    tap.run()
