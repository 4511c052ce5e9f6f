#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The operator dashboard (/@dashboard on the admin listener, issue 16) through a real daemon.

Raw HTTP and WebSocket checks of who may see it: nothing without the token (page, script,
live feed), a wrong token or a session that is not one, a cross-origin handshake or login; the
login (the token in an Authorization header, a session cookie back: HttpOnly, SameSite=Strict,
Path=/@dashboard, not the token), the cookie opening the page and the feed but no other admin
path, logout; the answers' security headers and a page without inline script; the feed's
frames (exposition and recent errors), its pings, its close, a client's data frame refused,
the cap on feeds; the token in no log line. Then Debian's chromium, driven by
tests/ws/operator.js (playwright-core), logs in through the #token= fragment `make demo`
prints and watches the charts move while load runs, a crashing function's failures appear
with their request ids and, clicked, its causes; and a configuration of 50 routes and 20
functions loads and keeps updating. Screenshots go to FNGATE_ARTIFACTS (default
BUILD_ROOT/meson-logs/dashboard). The browser cases are skipped, with the reason, only when
chromium or playwright-core is not installed. TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_TEST_FUNCTIONS, FNGATE_WS_DIR,
FNGATE_CHROMIUM (default /usr/bin/chromium), FNGATE_ARTIFACTS."""

import json
import os
import signal
import struct
import subprocess
import threading
import time

from lib import (BUILD_ROOT, SLOW, SOURCE_ROOT, Daemon, Fail, FnDir, SharedDaemon, Tap, check,
                 diag, eq, exchange, install_batches, req, short, test_so, wait_deployed)
from lib import browser_case as lib_browser_case, browser_missing
from wsclient import WS

tap = Tap(budget=280, needs_workers=True)
TOKEN = 'dash-admin-token-0123456789abcdef'
WS_DIR = os.environ.get('FNGATE_WS_DIR') or os.path.join(SOURCE_ROOT, 'tests', 'ws')
CHROMIUM = os.environ.get('FNGATE_CHROMIUM', '/usr/bin/chromium')
ARTIFACTS = os.environ.get('FNGATE_ARTIFACTS') or os.path.join(BUILD_ROOT, 'meson-logs',
                                                               'dashboard')
FEEDS_MAX = 8   # dashboard.c


def config(fdir):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "@TMP@/access.log" }',
        'functions: { dir: "%s", defaults: { timeout_ms: 3000 } }' % fdir,
        'admin: { listen: "127.0.0.1:0", token: "%s" }' % TOKEN,
        'apis:',
        '  a:',
        '    stages: { s: {} }',
        '    routes:',
        '      "GET /ok": { integration: { type: function, function: ok } }',
        '      "GET /crash": { integration: { type: function, function: abuse_segv } }',
        '      "GET /mock": { integration: { type: mock, body: "mock" } }',
        '      "GET /gone": { integration: { type: mock, status: 404, body: "no" } }',
    ]) + '\n'


def _setup(d, fdir):
    mark = d.log_mark()
    fdir.install('ok', test_so('ok'))
    fdir.install('abuse_segv', test_so('abuse_segv'))
    wait_deployed(d, ['ok', 'abuse_segv'], mark)


Env = SharedDaemon(tap, config, _setup, listeners=2)


def admin_port(d=None):
    return (d or Env.get()).addrs[1][1]


def origin(d=None):
    return 'http://127.0.0.1:%d' % admin_port(d)


def admin(method, path, headers=(), body=None, d=None):
    port = admin_port(d)
    return exchange(port, req(method, path, host='127.0.0.1:%d' % port, headers=list(headers),
                              body=body), method)


def bearer(token=TOKEN):
    return ('Authorization', 'Bearer ' + token)


def api(path):
    d = Env.get()
    return exchange(d.port, req('GET', '/s' + path, host='127.0.0.1'))


def login(d=None):
    """A new session: the cookie header value to send."""
    r = admin('POST', '/@dashboard/session', [bearer(), ('Origin', origin(d))], d=d)
    eq(r.status, 204, 'login status')
    sc = r.header('set-cookie')
    check(sc and sc.startswith('fngate_dashboard='), 'no session cookie: %r' % sc)
    return sc.split(';', 1)[0]


# ---------------------------------------------------------------- WebSocket ---

class Answer:
    """A handshake's HTTP answer, read as lib's Response is."""

    def __init__(self, w):
        self.status, self.body, self.headers = w.status, w.body, w.headers

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode('utf-8'))


def ws_open(headers, d=None):
    """A handshake for the live feed on a fresh connection: (WS, its answer)."""
    port = admin_port(d)
    w = WS(port, path='/@dashboard/live', host='127.0.0.1:%d' % port, headers=list(headers))
    return w, Answer(w)


def ws_frame(w, timeout=5.0):
    """The next frame from the server: (opcode, payload)."""
    fin, op, p = w.recv(timeout * SLOW)
    check(fin, 'the server fragmented a frame')
    return op, p


def ws_data(w, timeout=5.0):
    """The next data message as JSON."""
    return json.loads(w.recv_message(timeout * SLOW)[1].decode('utf-8'))


def ws_gone(w, what, timeout=3.0):
    """The server ends the TCP connection with nothing more sent."""
    try:
        w._need(len(w.buf) + 1, timeout * SLOW)
    except (EOFError, ConnectionResetError):
        return
    raise Fail('expected %s, got more bytes: %r' % (what, w.buf[:200]))


def check_json_refusal(r, status, what):
    eq(r.status, status, what)
    check((r.header('content-type') or '').startswith('application/json'),
          '%s: not a JSON answer: %r' % (what, r))
    check(isinstance(r.json().get('message'), str), '%s: no message' % what)


# ---------------------------------------------------------------- cases ---

@tap.case('refused without the token: page, script, live feed (401); a wrong token (403)')
def _():
    for path in ('/@dashboard', '/@dashboard/', '/@dashboard/app.js'):
        check_json_refusal(admin('GET', path), 401, 'GET %s without credentials' % path)
        check_json_refusal(admin('GET', path, [bearer('wrong-token-0123456789')]), 403,
                           'GET %s with a wrong token' % path)
        check_json_refusal(admin('GET', path, [('Cookie', 'fngate_dashboard=' + 'A' * 43)]),
                           401, 'GET %s with a session id that is no session' % path)
    c, r = ws_open([('Origin', origin())])
    c.close()
    check_json_refusal(r, 401, 'the live feed without credentials')
    c, r = ws_open([('Origin', origin()), bearer('wrong-token-0123456789')])
    c.close()
    check_json_refusal(r, 403, 'the live feed with a wrong token')
    check_json_refusal(admin('POST', '/@dashboard/session'), 401, 'login without a token')
    check_json_refusal(admin('POST', '/@dashboard/session', [bearer('wrong-token-0123456789')]),
                       403, 'login with a wrong token')
    check_json_refusal(admin('GET', '/@dashboard/nothing', [bearer()]), 404, 'unknown path')
    check_json_refusal(admin('POST', '/@dashboard', [bearer()]), 405, 'POST on the page')


@tap.case('cross-origin: a handshake or a login from another origin is refused (403)')
def _():
    cookie = login()
    for o in ('http://evil.test', 'http://127.0.0.1:%d' % (admin_port() + 1), 'null',
              'https://127.0.0.1:%d' % admin_port()):
        c, r = ws_open([('Origin', o), ('Cookie', cookie)])
        c.close()
        check_json_refusal(r, 403, 'the live feed from Origin %s with a session' % o)
        c, r = ws_open([('Origin', o), bearer()])
        c.close()
        check_json_refusal(r, 403, 'the live feed from Origin %s with the token' % o)
    check_json_refusal(admin('POST', '/@dashboard/session', [bearer(), ('Origin',
                       'http://evil.test')]), 403, 'a login from another origin')


@tap.case('login: a session cookie (HttpOnly, SameSite=Strict, Path=/@dashboard), not the '
          'token; it opens the page but no other admin path; logout ends it')
def _():
    r = admin('POST', '/@dashboard/session', [bearer(), ('Origin', origin())])
    eq(r.status, 204, 'login')
    sc = r.header('set-cookie')
    attrs = [a.strip() for a in sc.split(';')]
    name, _, sid = attrs[0].partition('=')
    eq(name, 'fngate_dashboard', 'cookie name')
    check(len(sid) == 43 and TOKEN not in sid, 'session id %r' % sid)
    for a in ('HttpOnly', 'SameSite=Strict', 'Path=/@dashboard', 'Max-Age=43200'):
        check(a in attrs, 'cookie attribute %s missing: %r' % (a, sc))
    eq(r.header('cache-control'), 'no-store', 'the login answer is not stored')
    cookie = attrs[0]
    r = admin('GET', '/@dashboard', [('Cookie', 'other=1; ' + cookie)])
    eq(r.status, 200, 'the page with the session cookie')
    eq(admin('GET', '/@dashboard/app.js', [('Cookie', cookie)]).status, 200, 'the script')
    check_json_refusal(admin('GET', '/@connections', [('Cookie', cookie)]), 401,
                       'the rest of the admin API takes only the token')
    other = login()
    r = admin('DELETE', '/@dashboard/session', [('Cookie', cookie), ('Origin', origin())])
    eq(r.status, 204, 'logout')
    check('Max-Age=0' in (r.header('set-cookie') or ''), 'logout clears the cookie: %r'
          % r.header('set-cookie'))
    check_json_refusal(admin('GET', '/@dashboard', [('Cookie', cookie)]), 401,
                       'the page after logout')
    eq(admin('GET', '/@dashboard', [('Cookie', other)]).status, 200,
       'another session lives on')


@tap.case('the page and its files: CSP (scripts from its origin only), nosniff, DENY, '
          'no-store, no-referrer; no inline script; the login page and style are public')
def _():
    cookie = login()
    for path, ctype, open_ in (('/@dashboard', 'text/html', False),
                               ('/@dashboard/app.js', 'text/javascript', False),
                               ('/@dashboard/app.css', 'text/css', True),
                               ('/@dashboard/login', 'text/html', True),
                               ('/@dashboard/login.js', 'text/javascript', True)):
        r = admin('GET', path, [] if open_ else [('Cookie', cookie)])
        eq(r.status, 200, path)
        check(r.header('content-type').startswith(ctype), '%s: content type %r'
              % (path, r.header('content-type')))
        csp = r.header('content-security-policy') or ''
        for d in ("script-src 'self'", "frame-ancestors 'none'", "default-src 'none'",
                  "connect-src 'self'"):
            check(d in csp, '%s: CSP lacks %s: %r' % (path, d, csp))
        check("unsafe-inline" not in csp and "unsafe-eval" not in csp, 'CSP %r' % csp)
        eq(r.header('x-content-type-options'), 'nosniff', path)
        eq(r.header('x-frame-options'), 'DENY', path)
        eq(r.header('cache-control'), 'no-store', path)
        eq(r.header('referrer-policy'), 'no-referrer', path)
        if ctype == 'text/html':
            html = r.text
            check('<script>' not in html and ' on' + 'click=' not in html,
                  '%s has inline script' % path)
            check('<script src="/@dashboard/' in html, '%s loads no script' % path)
            check('http://' not in html.replace('http://www.w3.org', '') and
                  'https://' not in html, '%s loads something from elsewhere' % path)


@tap.case('live feed: frames once a second with the exposition and the recent errors; pings '
          'answered; a clean close; a data frame from the client closes with 1003')
def _():
    for _ in range(5):
        api('/ok')
        api('/mock')
    r404 = api('/gone')
    eq(r404.status, 404, 'a 404 route')
    cookie = login()
    c, r = ws_open([('Origin', origin()), ('Cookie', cookie)])
    eq(r.status, 101, 'the feed opens with the session cookie')
    f1 = ws_data(c)
    for k in ('seq', 'time', 'metrics', 'recent'):
        check(k in f1, 'frame without %s: %s' % (k, short(json.dumps(f1), 300)))
    check('fngate_requests_total' in f1['metrics'], 'no request counts: %s'
          % short(f1['metrics'], 400))
    check('route="GET /ok"' in f1['metrics'], 'no series of route GET /ok')
    check(isinstance(f1['recent'].get('errors'), list) and
          isinstance(f1['recent'].get('deploys'), list), 'recent: %r' % f1['recent'])
    t0 = time.monotonic()
    f2 = ws_data(c)
    dt = time.monotonic() - t0
    eq(f2['seq'], f1['seq'] + 1, 'the next frame')
    check(0.3 < dt < 5 * SLOW, 'a frame %.2f s after the last' % dt)
    diag('frames %.2f s apart, %d bytes of exposition' % (dt, len(f2['metrics'])))
    c.send(9, b'hello')
    while True:
        op, p = ws_frame(c)
        if op == 10:
            eq(p, b'hello', 'the pong carries the ping\'s payload')
            break
        check(op == 1, 'unexpected opcode %d' % op)
    c.send(8, struct.pack('!H', 1000))
    while True:
        op, p = ws_frame(c)
        if op == 8:
            eq(p[:2], struct.pack('!H', 1000), 'the close is answered with 1000')
            break
    ws_gone(c, 'the server to end the feed after the closing handshake')
    c, r = ws_open([('Origin', origin()), bearer()])
    eq(r.status, 101, 'the feed opens with the token too (a non-browser client)')
    ws_data(c)
    c.send(1, b'{"x":1}')
    while True:
        op, p = ws_frame(c)
        if op == 8:
            eq(struct.unpack('!H', p[:2])[0], 1003, 'a message to the feed: close code')
            break
    ws_gone(c, 'the server to end the feed after a message')


@tap.case('at most %d feeds at once: the next is refused with 503; a closed one makes room'
          % FEEDS_MAX)
def _():
    cookie = login()
    conns = []
    try:
        for i in range(FEEDS_MAX):
            c, r = ws_open([('Origin', origin()), ('Cookie', cookie)])
            conns.append(c)
            eq(r.status, 101, 'feed %d' % (i + 1))
        c, r = ws_open([('Origin', origin()), ('Cookie', cookie)])
        c.close()
        check_json_refusal(r, 503, 'feed %d' % (FEEDS_MAX + 1))
        conns.pop().close()
        deadline = time.monotonic() + 5 * SLOW
        while True:
            c, r = ws_open([('Origin', origin()), ('Cookie', cookie)])
            if r.status == 101:
                conns.append(c)
                break
            c.close()
            check(time.monotonic() < deadline, 'no room after a feed closed: %r' % r)
            time.sleep(0.1)
        ws_data(conns[-1])
    finally:
        for c in conns:
            c.close()


@tap.case('a reload that changes the admin token ends the sessions and the open feeds (1008)')
def _():
    d = Env.get()
    cookie = login()
    c, r = ws_open([('Origin', origin()), ('Cookie', cookie)])
    eq(r.status, 101, 'a feed')
    ws_data(c)
    rotated = 'rotated-admin-token-0123456789'
    try:
        obj = d.reload(config(Env.fdir.path).replace(TOKEN, rotated))
        eq(obj.get('msg'), 'config reloaded', 'the reload')
        while True:
            op, p = ws_frame(c)
            if op == 8:
                eq(struct.unpack('!H', p[:2])[0], 1008, 'the feed\'s close code')
                break
        check_json_refusal(admin('GET', '/@dashboard', [('Cookie', cookie)]), 401,
                           'the old session after the token changed')
        eq(admin('GET', '/@dashboard', [bearer(rotated)]).status, 200, 'the new token')
    finally:
        c.close()
        eq(d.reload(config(Env.fdir.path)).get('msg'), 'config reloaded', 'the token back')


@tap.case('the token is in no log line (access log and daemon log)')
def _():
    d = Env.get()
    login()
    admin('GET', '/@dashboard', [bearer()])
    time.sleep(0.5 * SLOW)
    with open(d.access_log, 'rb') as f:
        data = f.read()
    check(b'/@dashboard' in data, 'the dashboard\'s requests are logged')
    check(TOKEN.encode() not in data, 'the token is in the access log')
    check(TOKEN not in d.stderr_text(limit=100000), 'the token is in the daemon log')


# ------------------------------------------------------------------ browser ---

def operator_js(d, args):
    """Runs tests/ws/operator.js with the login URL `make demo` prints; its lines as diags."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    url = '%s/@dashboard/login#token=%s' % (origin(d), TOKEN)
    mark = d.log_mark()
    # Its own process group, so that a run past its time is ended with chromium, by that id.
    p = subprocess.Popen(['node', os.path.join(WS_DIR, 'operator.js'), args[0], url, ARTIFACTS]
                         + list(args[1:]), cwd=WS_DIR, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        raise Fail('operator.js ran over 120 s:\n%s' % out.decode('utf-8', 'replace'))
    text = out.decode('utf-8', 'replace')
    if p.returncode != 0:
        raise Fail('operator.js %s exit code %d:\n%s\ngateway log since:\n%s'
                   % (args[0], p.returncode, text[-6000:], d.stderr_text(mark, 30)))
    for line in text.splitlines():
        if line.startswith(('#', 'PASS')):
            diag(line.lstrip('# '))


class Load:
    """Requests in a loop on threads of their own while a browser case runs."""

    def __init__(self, port, paths, threads=2):
        self.port, self.paths, self.stop_ = port, paths, threading.Event()
        self.count = 0
        self.ts = [threading.Thread(target=self.run, args=(i,), daemon=True)
                   for i in range(threads)]

    def run(self, i):
        k = i
        while not self.stop_.is_set():
            path = self.paths[k % len(self.paths)]
            k += 1
            try:
                exchange(self.port, req('GET', path, host='127.0.0.1'))
                self.count += 1
            except Exception:  # noqa: BLE001 - load only: the page is what is checked
                time.sleep(0.05)
            time.sleep(0.01)

    def __enter__(self):
        for t in self.ts:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_.set()
        for t in self.ts:
            t.join(10)
        diag('%d requests of load meanwhile' % self.count)
        return False


def browser_main():
    d = Env.get()
    rids = []
    for _ in range(3):
        r = api('/crash')
        eq(r.status, 502, 'a crashing function')
        rids.append(r.header('x-request-id'))
    with Load(d.port, ['/s/ok', '/s/mock', '/s/ok', '/s/gone']):
        operator_js(d, ['main', 'abuse_segv', ','.join(rids)])


def scale_config(fdir, nroutes, nfns):
    lines = ['server: { listen: ["127.0.0.1:0"] }',
             'access_log: { path: "off" }',
             'functions: { dir: "%s", defaults: { timeout_ms: 3000, concurrency: 1 } }' % fdir,
             'admin: { listen: "127.0.0.1:0", token: "%s" }' % TOKEN,
             'apis:', '  big:', '    stages: { s: {} }', '    routes:']
    for i in range(nroutes):
        if i < nfns:
            integ = '{ type: function, function: f%02d }' % i
        else:
            integ = '{ type: mock, status: %d, body: "m" }' % (200 if i % 5 else 503)
        lines.append('      "GET /r%02d": { integration: %s }' % (i, integ))
    return '\n'.join(lines) + '\n'


def browser_scale():
    nroutes, nfns = 50, 20
    fdir = FnDir()
    try:
        with Daemon(scale_config(fdir.path, nroutes, nfns), listeners=2) as d:
            install_batches(d, fdir, [('f%02d' % i, test_so('ok'), None) for i in range(nfns)])
            paths = ['/s/r%02d' % i for i in range(nroutes)]
            for p in paths:   # every route and function once before the page opens
                exchange(d.port, req('GET', p, host='127.0.0.1'))
            with Load(d.port, paths, threads=3):
                operator_js(d, ['scale', str(nroutes), str(nfns)])
    finally:
        fdir.cleanup()


MISSING = browser_missing(WS_DIR, CHROMIUM)


def browser_case(name, fn):
    lib_browser_case(tap, MISSING, name, fn)


browser_case('browser: login through the URL fragment (token=); the charts move while load runs; '
             'a crashing function\'s errors show with their request ids and, clicked, their '
             'cause; logout; a screenshot', browser_main)
browser_case('browser: 50 routes and 20 functions load, every one has its row, ticks keep '
             'coming and a render stays under a generous bound; a screenshot', browser_scale)


@tap.case('the daemon exits 0 on SIGTERM with feeds open (closed with 1001), nothing reported')
def _():
    d = Env.get()
    c, r = ws_open([('Origin', origin()), bearer()])
    eq(r.status, 101, 'a feed')
    ws_data(c)
    rc = d.stop()
    Env.d = None
    codes = []
    try:
        while True:
            op, p = ws_frame(c, 5.0)
            if op == 8:
                codes.append(struct.unpack('!H', p[:2])[0])
                break
    except Fail:
        pass
    finally:
        c.close()
    eq(rc, 0, 'exit code after SIGTERM; stderr tail:\n%s\n' % d.stderr_tail)
    eq(codes, [1001], 'the feed\'s close code at the drain')
    check('Sanitizer' not in d.stderr_tail and 'runtime error' not in d.stderr_tail,
          'a sanitizer report: %s' % d.stderr_tail)


tap.run()
