#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Process lifecycle of fngate: SIGHUP reload (valid, invalid, listen change), `fngate check`,
`fngate routes`, --version/--help, SIGTERM drain. TAP output."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from lib import (BIN, WRAPPER, Conn, Daemon, Fail, Tap, check, check_common, check_status, eq,
                 note, req, run, short)

tap = Tap(budget=100)
TMPDIR = tempfile.mkdtemp(prefix='fngate-it-check-')
tap.on_exit(lambda: shutil.rmtree(TMPDIR, ignore_errors=True))


def cfg(body_a='A1', extra_routes='', server_extra='', drain_ms=10000, listen='["127.0.0.1:0"]'):
    return '''server:
  listen: %s
  timeouts: { drain_ms: %d }
%saccess_log: { path: "@TMP@/access.log" }
apis:
  demo:
    stages:
      dev: { variables: { v: "%s" } }
    routes:
      "GET /a":
        integration: { type: mock, body: "${stageVariables.v}" }
      "POST /slow":
        integration: { type: mock, body: "slow-${stageVariables.v}" }
%s''' % (listen, drain_ms, server_extra, body_a, extra_routes)


ROUTE_B = '''      "GET /b":
        integration: { type: mock, body: "B" }
'''


def get(conn, path, method='GET', body=None):
    conn.send(req(method, path, body=body))
    return conn.read_response(method)


def expect(r, status, body):
    check_status(r, status)
    if body is not None:
        eq(r.body, body.encode(), 'body')


def pos(text, needle, nth=1):
    """1-based (line, column) of the nth occurrence of needle in text."""
    i = -1
    for _ in range(nth):
        i = text.index(needle, i + 1)
    line = text.count('\n', 0, i) + 1
    col = i - (text.rfind('\n', 0, i) + 1) + 1
    return line, col


def loc_re(path):
    return re.compile(r'^%s:(\d+):(\d+): \S' % re.escape(path), re.M)


# ------------------------------------------------------------------ SIGHUP ---

@tap.case('SIGHUP with a valid changed config: new route appears, old keep-alive connection keeps working')
def _():
    with Daemon(cfg()) as d:
        with Conn(d.port) as c:
            expect(get(c, '/dev/a'), 200, 'A1')
            r = get(c, '/dev/b')
            check_status(r, 404)
            o = d.reload(cfg(body_a='A2', extra_routes=ROUTE_B))
            eq((o.get('level'), o.get('msg')), ('info', 'config reloaded'), 'reload log line')
            # the old connection keeps working and sees the new configuration
            expect(get(c, '/dev/b'), 200, 'B')
            expect(get(c, '/dev/a'), 200, 'A2')
        with Conn(d.port) as c2:
            expect(get(c2, '/dev/b'), 200, 'B')
        check(d.alive(), 'daemon died')


@tap.case('SIGHUP: a request in flight finishes on the snapshot it started with')
def _():
    with Daemon(cfg(body_a='old')) as d:
        with Conn(d.port) as c:
            c.send(b'POST /dev/slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello')
            time.sleep(0.1)
            o = d.reload(cfg(body_a='new'))
            eq(o.get('msg'), 'config reloaded', 'reload msg')
            c.send(b'world')
            expect(c.read_response(), 200, 'slow-old')
            expect(get(c, '/dev/slow', 'POST', 'x'), 200, 'slow-new')


@tap.case('SIGHUP five times in a row: each reload applies, daemon stays up')
def _():
    with Daemon(cfg(body_a='r0')) as d:
        with Conn(d.port) as c:
            for i in range(1, 6):
                o = d.reload(cfg(body_a='r%d' % i))
                eq(o.get('msg'), 'config reloaded', 'reload %d msg' % i)
                expect(get(c, '/dev/a'), 200, 'r%d' % i)


@tap.case('SIGHUP with an invalid config: old config keeps serving, error logged with file:line:col')
def _():
    with Daemon(cfg()) as d:
        with Conn(d.port) as c:
            expect(get(c, '/dev/a'), 200, 'A1')
            bad = cfg(body_a='A2', server_extra='  bogus_key: 1\n')
            text = d.fmt(bad)
            line, col = pos(text, 'bogus_key')
            o = d.reload(bad)
            eq((o.get('level'), o.get('msg')), ('error', 'reload failed'), 'reload log line')
            err = str(o.get('error', ''))
            m = loc_re(d.config_path).match(err)
            check(m, '"error" does not start with %s:LINE:COL: (got %r)' % (d.config_path, err))
            eq((int(m.group(1)), int(m.group(2))), (line, col), 'error position (line, column) of bogus_key')
            expect(get(c, '/dev/a'), 200, 'A1')
        with Conn(d.port) as c2:
            expect(get(c2, '/dev/a'), 200, 'A1')
        # a later valid reload still works
        o = d.reload(cfg(body_a='A3'))
        eq(o.get('msg'), 'config reloaded', 'later valid reload')
        with Conn(d.port) as c3:
            expect(get(c3, '/dev/a'), 200, 'A3')


@tap.case('SIGHUP with a YAML syntax error: old config keeps serving')
def _():
    with Daemon(cfg()) as d:
        o = d.reload('server:\n  listen: ["127.0.0.1:0"\napis: {\n')
        eq((o.get('level'), o.get('msg')), ('error', 'reload failed'), 'reload log line')
        check(loc_re(d.config_path).match(str(o.get('error', ''))), 'error lacks FILE:LINE:COL: %r' % o)
        with Conn(d.port) as c:
            expect(get(c, '/dev/a'), 200, 'A1')


@tap.case('SIGHUP changing server.listen is refused and logged; old config keeps serving')
def _():
    with Daemon(cfg()) as d:
        mark = d.log_mark()
        o = d.reload(cfg(body_a='A2', listen='["127.0.0.1:0", "127.0.0.1:0"]'))
        check(o.get('msg') != 'config reloaded', 'a reload changing server.listen was applied: %r' % o)
        eq(o.get('level'), 'error', 'log level of the refused reload')
        check('listen' in json.dumps(o), 'the log line does not mention listen: %r' % o)
        time.sleep(0.2)
        check(d.wait_log(lambda x: x.get('msg') == 'config reloaded', 0.1, since=mark) is None,
              'config reloaded logged anyway')
        with Conn(d.port) as c:
            expect(get(c, '/dev/a'), 200, 'A1')


@tap.case('signals right after the "listening" line are handled (SIGHUP x25 reloads, SIGTERM x10 exits 0)')
def _():
    for sig, i in [(signal.SIGHUP, i) for i in range(25)] + [(signal.SIGTERM, i) for i in range(10)]:
        d = Daemon(cfg())     # returns as soon as the listening line is read
        try:
            d.proc.send_signal(sig)
            if sig == signal.SIGHUP:
                o = d.wait_log(lambda x: x.get('msg') in ('config reloaded', 'reload failed'), 5.0)
                if o is None or o.get('msg') != 'config reloaded':
                    raise Fail('attempt %d: SIGHUP right after the listening line: no reload, exit code'
                               ' %r (-1 = killed by SIGHUP: handler installed after the listening '
                               'line?); log %r' % (i, d.exit_code_soon(1.0), d.stderr_text()))
            else:
                rc = d.wait_exit(5.0)
                eq(rc, 0, 'attempt %d: exit code after SIGTERM right after the listening line '
                   '(-15 = killed by the signal)' % i)
        finally:
            d.stop()


# ------------------------------------------------------------------ check ---

VALID = '''server:
  listen: ["127.0.0.1:0"]
  server_header: fngate
  limits: { request_line_bytes: 4096, header_bytes: 16384, header_fields: 50, body_bytes: 1048576 }
  timeouts: { header_ms: 5000, body_ms: 5000, keepalive_ms: 5000, send_ms: 5000, drain_ms: 1000 }
access_log:
  path: "off"
  fields: [time, requestId, status]
apis:
  demo:
    stages:
      dev: { variables: { greeting: hello } }
      prod: { variables: { greeting: welcome }, body_bytes: 65536 }
    routes:
      "GET /hello/{name}":
        integration:
          type: mock
          headers: { content-type: application/json }
          body: '{"message": "${stageVariables.greeting|json}, ${request.path.name|json}"}'
      "POST /echo":
        integration: { type: mock, status: 201, chunked: true, body: "cost: $$5 ${context.requestId}" }
      "ANY /files/{path+}":
        integration: { type: mock, body: "${request.querystring.q}${request.header.x-tag}" }
      "$default":
        integration: { type: mock, status: 404, body: "nothing" }
domains:
  api.example.com:
    - { base_path: /v1, api: demo, stage: prod }
    - { base_path: /,   api: demo, stage: dev }
'''


def write(name, text):
    p = os.path.join(TMPDIR, name)
    with open(p, 'w') as f:
        f.write(text)
    return p


def check_invalid(name, text, needle, nth=1, want_col=False):
    p = write(name, text)
    r = run(['check', p])
    eq(r.returncode, 1, 'exit code of fngate check on an invalid file')
    err = r.stderr.decode('utf-8', 'replace')
    locs = [(int(m.group(1)), int(m.group(2))) for m in loc_re(p).finditer(err)]
    check(locs, 'no "%s:LINE:COL: message" line on stderr: %s' % (p, short(err)))
    if needle is not None:
        line, col = pos(text, needle, nth)
        if want_col:
            check((line, col) in locs, 'expected an error at %d:%d (%r), got %r' % (line, col, needle, locs))
        else:
            check(line in [l for l, _ in locs], 'expected an error on line %d (%r), got %r' % (line, needle, locs))


@tap.case('fngate check: valid YAML config -> exit 0, no errors')
def _():
    p = write('valid.yaml', VALID)
    r = run(['check', p])
    eq(r.returncode, 0, 'exit code')
    check(not loc_re(p).search(r.stderr.decode('utf-8', 'replace')), 'error lines printed for a valid file')


@tap.case('fngate check: valid JSON config -> exit 0')
def _():
    obj = {'server': {'listen': ['127.0.0.1:0']},
           'apis': {'j': {'stages': {'s': {'variables': {'k': 'v'}}},
                          'routes': {'GET /x/{id}': {'integration': {'type': 'mock', 'body': '${request.path.id}'}}}}}}
    p = write('valid.json', json.dumps(obj, indent=2))
    eq(run(['check', p]).returncode, 0, 'exit code')


@tap.case('fngate check: unknown key -> exit 1 with LINE:COL of the key')
def _():
    text = VALID.replace('  server_header: fngate\n', '  server_header: fngate\n  serverheader: x\n')
    check_invalid('unknown-key.yaml', text, 'serverheader', want_col=True)


@tap.case('fngate check: unknown key inside an integration')
def _():
    text = VALID.replace('status: 201, chunked', 'status: 201, chunkd')
    check_invalid('unknown-key2.yaml', text, 'chunkd')


@tap.case('fngate check: wrong type (listen is a number)')
def _():
    text = VALID.replace('listen: ["127.0.0.1:0"]', 'listen: 8080')
    check_invalid('wrong-type1.yaml', text, 'listen: 8080')


@tap.case('fngate check: wrong type (status is text)')
def _():
    check_invalid('wrong-type2.yaml', VALID.replace('status: 201', 'status: "two hundred"'), 'two hundred')


@tap.case('fngate check: wrong type (chunked is not a bool)')
def _():
    check_invalid('wrong-type3.yaml', VALID.replace('chunked: true', 'chunked: maybe'), 'maybe')


@tap.case('fngate check: wrong type (variables value is a map)')
def _():
    check_invalid('wrong-type4.yaml', VALID.replace('greeting: hello', 'greeting: { a: b }'), 'greeting: { a')


@tap.case('fngate check: duplicate route GET /a/{x} vs GET /a/{y}')
def _():
    text = VALID.replace('      "POST /echo":', '''      "GET /a/{x}":
        integration: { type: mock }
      "GET /a/{y}":
        integration: { type: mock }
      "POST /echo":''')
    check_invalid('dup-route.yaml', text, '"GET /a/{y}"')


@tap.case('fngate check: unterminated template ${')
def _():
    check_invalid('unterminated.yaml', VALID.replace('body: "nothing"', 'body: "oops ${stageVariables.x"'), 'oops')


@tap.case('fngate check: unknown template namespace')
def _():
    check_invalid('namespace.yaml', VALID.replace('body: "nothing"', 'body: "${bogus.thing}"'), 'bogus.thing')


@tap.case('fngate check: unknown context variable')
def _():
    check_invalid('ctxvar.yaml', VALID.replace('body: "nothing"', 'body: "${context.nope}"'), 'context.nope')


@tap.case('fngate check: unterminated template in a header value')
def _():
    check_invalid('hdr-template.yaml', VALID.replace('content-type: application/json',
                                                     'content-type: "${request.header.x"'), 'request.header.x')


@tap.case('fngate check: stage body_bytes above the server limit')
def _():
    check_invalid('stage-limit.yaml', VALID.replace('body_bytes: 65536', 'body_bytes: 2097152'), '2097152')


@tap.case('fngate check: lower-case method in a route key')
def _():
    check_invalid('lower-method.yaml', VALID.replace('"POST /echo"', '"post /echo"'), 'post /echo')


@tap.case('fngate check: greedy segment not last')
def _():
    check_invalid('greedy.yaml', VALID.replace('/files/{path+}', '/files/{path+}/x'), '{path+}/x')


@tap.case('fngate check: mock status out of range (600)')
def _():
    check_invalid('status600.yaml', VALID.replace('status: 404', 'status: 600'), 'status: 600')


@tap.case('fngate check: invalid API name')
def _():
    check_invalid('api-name.yaml', VALID.replace('  demo:\n', '  "bad name!":\n'), 'bad name!')


@tap.case('fngate check: route without integration')
def _():
    text = VALID.replace('''      "$default":
        integration: { type: mock, status: 404, body: "nothing" }''', '''      "$default": {}''')
    check_invalid('no-integration.yaml', text, '"$default"')


@tap.case('fngate check: YAML syntax error')
def _():
    check_invalid('syntax.yaml', VALID.replace('listen: ["127.0.0.1:0"]', 'listen: ["127.0.0.1:0"'), None)


@tap.case('fngate check: YAML syntax error is reported at its line')
def _():
    text = VALID.replace('  server_header: fngate\n', '  server_header: fngate: x\n')
    check_invalid('syntax2.yaml', text, 'fngate: x')


@tap.case('fngate check: domain mapping to an unknown stage')
def _():
    check_invalid('domain-stage.yaml', VALID.replace('api: demo, stage: prod', 'api: demo, stage: nope'), 'stage: nope')


@tap.case('fngate check: missing file -> exit 1')
def _():
    r = run(['check', os.path.join(TMPDIR, 'does-not-exist.yaml')])
    eq(r.returncode, 1, 'exit code')
    check(r.stderr.strip(), 'nothing printed on stderr')


@tap.case('fngate routes prints the route table')
def _():
    p = write('routes.yaml', VALID)
    r = run(['routes', p])
    eq(r.returncode, 0, 'exit code')
    out = r.stdout.decode('utf-8', 'replace')
    for key in ('GET', '/hello/{name}', 'POST', '/echo', 'ANY', '/files/{path+}', '$default'):
        check(key in out, '%r missing from `fngate routes` output: %s' % (key, short(out)))


@tap.case('fngate --version and --help exit 0')
def _():
    r = run(['--version'])
    eq(r.returncode, 0, '--version exit code')
    check(re.search(rb'\d+\.\d+', r.stdout + r.stderr), '--version printed no version')
    r = run(['--help'])
    eq(r.returncode, 0, '--help exit code')
    out = r.stdout + r.stderr
    check(b'serve' in out and b'check' in out, '--help does not mention serve/check')


@tap.case('fngate with an unknown subcommand exits non-zero')
def _():
    check(run(['no-such-command']).returncode != 0, 'exit code 0')


def serve_fails(path, timeout=10.0):
    """`fngate serve -c path` must exit non-zero by itself; returns (rc, stderr text)."""
    p = subprocess.Popen(WRAPPER + [BIN, 'serve', '-c', path], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise Fail('fngate serve -c %s kept running (%.0f s)' % (path, timeout))
    err = err.decode('utf-8', 'replace')
    note('serve -c %s -> rc %d, stderr %s' % (path, p.returncode, short(err)))
    return p.returncode, err


@tap.case('fngate serve with an invalid config exits non-zero and names FILE:LINE:COL')
def _():
    text = VALID.replace('  server_header: fngate\n', '  server_header: fngate\n  serverheader: x\n')
    p = write('serve-invalid.yaml', text)
    rc, err = serve_fails(p)
    check(rc not in (0, None), 'exit code %r' % rc)
    line, _col = pos(text, 'serverheader')
    check(re.search(r'%s:%d:\d+: ' % (re.escape(p), line), err),
          'stderr lacks %s:%d:COL: %s' % (p, line, short(err)))


@tap.case('fngate serve with a missing config file exits non-zero')
def _():
    rc, err = serve_fails(os.path.join(TMPDIR, 'missing.yaml'))
    check(rc not in (0, None), 'exit code %r' % rc)
    check(err.strip(), 'nothing on stderr')


@tap.case('fngate serve on a port already in use exits non-zero with an error log')
def _():
    busy = socket.socket()
    try:
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p = write('busy.yaml', VALID.replace('listen: ["127.0.0.1:0"]', 'listen: ["127.0.0.1:%d"]' % port))
        rc, err = serve_fails(p)
        check(rc not in (0, None), 'exit code %r' % rc)
        check('"level":"error"' in err.replace(' ', ''), 'no error log line: %s' % short(err))
    finally:
        busy.close()


@tap.case('fngate routes on an invalid file exits 1 with FILE:LINE:COL')
def _():
    text = VALID.replace('"POST /echo"', '"post /echo"')
    p = write('routes-invalid.yaml', text)
    r = run(['routes', p])
    eq(r.returncode, 1, 'exit code')
    check(loc_re(p).search(r.stderr.decode('utf-8', 'replace')), 'no FILE:LINE:COL on stderr')


# ----------------------------------------------------------------- SIGTERM ---

def connect_refused_or_closed(port):
    """After SIGTERM a new connection must be refused, or be closed without an answer."""
    try:
        c = Conn(port, timeout=2.0)
    except ConnectionRefusedError:
        return
    except OSError as e:
        note('connect error %r counts as refused' % e)
        return
    with c:
        c.try_send(req('GET', '/dev/a'))
        state, extra = c.wait_closed(2.0)
        check(not extra, 'a connection made after SIGTERM got an answer: %s' % short(extra))
        check(state != 'open', 'a connection made after SIGTERM was neither refused nor closed within 2 s')


@tap.case('SIGTERM drain: in-flight request (half body) is answered, new connections refused, exit 0')
def _():
    d = Daemon(cfg(drain_ms=5000))
    try:
        with Conn(d.port) as c:
            c.send(b'POST /dev/slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello')
            time.sleep(0.2)
            mark = d.log_mark()
            t0 = time.monotonic()
            d.signal(signal.SIGTERM)
            check(d.wait_log(lambda o: o.get('msg') == 'draining', 2.0, since=mark),
                  'no "draining" log line; stderr:\n' + d.stderr_text(mark))
            connect_refused_or_closed(d.port)
            check(d.alive(), 'daemon exited before the in-flight request finished')
            c.send(b'world')
            r = c.read_response()
            expect(r, 200, 'slow-A1')
            rid = check_common(r)
            state, extra = c.wait_closed(3.0)
            check(not extra and state != 'open', 'connection not closed after the drained response')
        rc = d.wait_exit(max(0.5, 5.0 - (time.monotonic() - t0)) + 1.0)
        eq(rc, 0, 'exit code after drain (None = still running)')
        lines = d.access_entries()
        check(any(e.get('requestId') == rid for e in lines),
              'drained request missing from the access log after exit (%d lines)' % len(lines))
    finally:
        d.stop()


@tap.case('SIGTERM drain_ms expiry: unfinished request is cut off, exit 0 within drain time')
def _():
    d = Daemon(cfg(drain_ms=500))
    try:
        with Conn(d.port) as c:
            c.send(b'POST /dev/slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello')
            time.sleep(0.1)
            t0 = time.monotonic()
            d.signal(signal.SIGTERM)
            rc = d.wait_exit(3.0)
            el = time.monotonic() - t0
            eq(rc, 0, 'exit code (None = still running 3 s after SIGTERM with drain_ms 500)')
            check(el >= 0.3, 'exited after %.2f s, before drain_ms (0.5 s) elapsed' % el)
            state, _extra = c.wait_closed(1.0)
            check(state != 'open', 'client connection still open after the daemon exited')
    finally:
        d.stop()


@tap.case('SIGTERM closes idle keep-alive connections at once and exits quickly')
def _():
    d = Daemon(cfg(drain_ms=5000))
    try:
        with Conn(d.port) as c:
            expect(get(c, '/dev/a'), 200, 'A1')
            t0 = time.monotonic()
            d.signal(signal.SIGTERM)
            state, extra = c.wait_closed(3.0)
            check(not extra, 'bytes sent to an idle connection on SIGTERM: %s' % short(extra))
            check(state != 'open', 'idle keep-alive connection not closed within 3 s of SIGTERM')
            rc = d.wait_exit(3.0)
            eq(rc, 0, 'exit code')
            check(time.monotonic() - t0 < 3.0, 'exit took %.1f s with only idle connections'
                  % (time.monotonic() - t0))
    finally:
        d.stop()


@tap.case('SIGTERM with no connections: exit 0, every stderr line is a JSON log object')
def _():
    d = Daemon(cfg())
    try:
        d.signal(signal.SIGTERM)
        eq(d.wait_exit(3.0), 0, 'exit code')
        d._reader.join(2)
        bad = [l for l, o in d.logs if (o is None or not {'time', 'level', 'msg'} <= set(o))
               and not (WRAPPER and re.match(r'(==|--)\d+(==|--)', l))]   # valgrind's own
        check(not bad, 'stderr lines that are not JSON log objects with time/level/msg: %r' % bad[:5])
    finally:
        d.stop()


@tap.case('no access-log line lost on a clean SIGTERM (60 requests, then SIGTERM)')
def _():
    d = Daemon(cfg())
    try:
        ids = []
        with Conn(d.port) as c:
            c.send(b''.join(req('GET', '/dev/a') for _ in range(60)))
            for _ in range(60):
                r = c.read_response()
                check_status(r, 200)
                ids.append(r.header('x-request-id'))
        d.signal(signal.SIGTERM)
        eq(d.wait_exit(5.0), 0, 'exit code')
        got = {e.get('requestId') for e in d.access_entries()}
        missing = [i for i in ids if i not in got]
        check(not missing, '%d of 60 requests missing from the access log' % len(missing))
    finally:
        d.stop()


if __name__ == '__main__':
    tap.run()
