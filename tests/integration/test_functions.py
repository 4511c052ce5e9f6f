#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The function host through a real daemon: the examples built as a user builds them and
called over HTTP, `fngate invoke` and `fngate new`, the sandbox escape suite (one hostile
.so per probe, from the handler and from load time), resource abuse, 503/429, and chaos
(kill -9 of random workers under load). TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT (for meson-uninstalled/fngate-uninstalled.pc),
FNGATE_TEST_FUNCTIONS (tests/functions in the build tree), FNGATE_SOURCE_ROOT (examples/),
FNGATE_CHAOS_SECONDS (default 30)."""

import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time

from lib import (BIN, SLOW, SOURCE_ROOT, WRAPPER, Canary, Conn, Daemon, Fail, FnDir, Tap,
                 build_handler, check, check_json_error, check_status, deploy_event, diag, eq,
                 exchange, failed_log, fd_count, fn_config, install_batches, note, open_tmpdir,
                 req, short, supervisor_pid, test_so, wait_deployed, worker_pids)

tap = Tap(budget=220, needs_workers=True)
CHAOS_SECONDS = float(os.environ.get('FNGATE_CHAOS_SECONDS') or 30)
EXAMPLES = os.path.join(SOURCE_ROOT, 'examples')

# Probe targets live in a world-writable dir: only the sandbox keeps a worker (uid 65534)
# from creating files there or reaching the canary socket.
WORK = open_tmpdir('fngate-it-work-', 0o777)
SECRET = 'fngate-secret-%08x' % random.getrandbits(32)
SECRET_PATH = os.path.join(WORK, 'secret.txt')
with open(SECRET_PATH, 'w') as _f:
    _f.write(SECRET + '\n')
os.chmod(SECRET_PATH, 0o644)    # world-readable on purpose: Landlock must be what refuses it
SIBLING_TOKEN = 'fngate-sibling-%08x' % random.getrandbits(32)
LOAD_PROBE_DIR = '/tmp/fngate-load-probe-dir'
CANARY = Canary(WORK)

_usr1 = []
signal.signal(signal.SIGUSR1, lambda *a: _usr1.append(time.monotonic()))

_fixtures = []


def _cleanup():
    for f in reversed(_fixtures):
        f.close()
    CANARY.close()
    shutil.rmtree(WORK, ignore_errors=True)


tap.on_exit(_cleanup)


def probe_env(name, mode=''):
    """The FNG_PROBE_* variables a probe reads (tests/functions/probe.h), as a manifest."""
    return ('env: { FNG_PROBE_MODE: "%s", FNG_PROBE_FILE: "%s", FNG_PROBE_SECRET: "%s", '
            'FNG_PROBE_SIBLING: "%s", FNG_PROBE_PORT: "%d", FNG_PROBE_UNIX: "%s", '
            'FNG_PROBE_ABSTRACT: "%s", FNG_PROBE_PID: "%d" }\n'
            % (mode, probe_file(name), SECRET_PATH, '@SIBLING@', CANARY.port, CANARY.unix_path,
               CANARY.abstract, os.getpid()))


def probe_file(name):
    return os.path.join(WORK, 'created-by-' + name)


class Fixture:
    """A daemon over its own functions directory, started on first use; the last case of
    its section stops it and checks the exit code."""

    def __init__(self, routes, setup, stages='s: {}', defaults=None, grants=None):
        self.routes = routes
        self.setup = setup
        self.stages = stages
        self.defaults = defaults
        self.grants = grants
        self.d = None
        self.fdir = None
        self.error = None
        self.versions = {}
        _fixtures.append(self)

    def get(self):
        if self.error:
            raise Fail('fixture set-up failed earlier: %s' % self.error)
        if self.d is None:
            try:
                self.fdir = FnDir()
                self.d = Daemon(fn_config(self.fdir.path, self.routes, self.stages,
                                          self.defaults, grants=self.grants))
                self.setup(self)
            except Exception as e:
                self.error = str(e).splitlines()[0] if str(e) else repr(e)
                raise
        check(self.d.alive(), 'daemon died (exit code %r); stderr:\n%s'
              % (self.d.proc.poll(), self.d.stderr_text()))
        return self.d

    @property
    def port(self):
        return self.get().port

    def close(self):
        rc = None
        if self.d is not None:
            rc = self.d.stop()
            self.tail = self.d.stderr_tail
        if self.fdir is not None:
            self.fdir.cleanup()
        return rc

    def check_exit(self):
        if self.d is None:
            raise Fail('daemon was not started (%s)' % (self.error or 'no case used it'))
        rc = self.close()
        self.d = None
        eq(rc, 0, 'exit code after SIGTERM; stderr tail:\n%s\n' % self.tail)


def call(port, path, method='GET', body=None, headers=(), timeout=10.0):
    return exchange(port, req(method, path, headers=headers, body=body), method, timeout)


def expect_json_ok(r, status=200):
    check_status(r, status)
    ct = (r.header('content-type') or '').split(';')[0].strip()
    eq(ct, 'application/json', 'content-type')
    v = r.header('x-fngate-function-version')
    check(v and re.match(r'^[0-9a-f]{16}$', v), 'x-fngate-function-version header: %r' % v)
    return r.json()


# =========================================================== the examples ===

def _examples_setup(fx):
    out = {}
    for name, pkgs in (('hello', ('fngate',)), ('echo', ('fngate',)),
                       ('json', ('fngate', 'jansson'))):
        so = os.path.join(WORK, name + '.so')
        cmd = build_handler(os.path.join(EXAMPLES, name, name + '.c'), so, pkgs)
        note(cmd)
        out[name] = fx.fdir.install(name, so)
    mark = 0
    wait_deployed(fx.d, ['hello', 'echo', 'json'], mark)
    fx.versions = out


# The routes of examples/fngate.yaml.
EX = Fixture([('GET /hello/{name}', 'hello'), ('ANY /echo/{proxy+}', 'echo'),
              ('POST /stats', 'json')], _examples_setup,
             stages='dev: { variables: { greeting: hello, release: "dev build" } }, '
                    'prod: { variables: { greeting: welcome, release: "1.0" } }')


@tap.case('examples: hello, echo and json build with cc + pkg-config and deploy')
def _():
    d = EX.get()
    for n in ('hello', 'echo', 'json'):
        o = deploy_event(d, n, 0, 0.1)
        eq(o.get('version'), EX.versions[n], 'deployed version of %s (content hash)' % n)


@tap.case('examples: hello greets with the path parameter and the stage variable')
def _():
    r = call(EX.port, '/dev/hello/ada')
    eq(expect_json_ok(r), {'message': 'hello, ada', 'stage': 'dev'}, 'dev body')
    eq(r.header('x-fngate-function-version'), EX.versions['hello'], 'version header')
    r = call(EX.port, '/prod/hello/grace%20hopper')
    eq(expect_json_ok(r), {'message': 'welcome, grace hopper', 'stage': 'prod'}, 'prod body')
    r = call(EX.port, '/dev/hello/%22q%22%5C%0A')   # "q"\ and a newline: escaped JSON
    eq(expect_json_ok(r), {'message': 'hello, "q"\\\n', 'stage': 'dev'}, 'escaped body')


@tap.case('examples: echo returns method, path, query, headers and body')
def _():
    body = b'{"k": "v"}\x00tail'
    r = call(EX.port, '/dev/echo/a/b%20c?x=1&y=two&y=2', 'POST', body,
             headers=['User-Agent: it-agent/1', 'Content-Type: application/x-test',
                      'Accept: text/plain'])
    o = expect_json_ok(r)
    note(o)
    eq(o.get('method'), 'POST', 'method')
    check(o.get('rawPath', '').endswith('/echo/a/b%20c'), 'rawPath %r' % o.get('rawPath'))
    eq(o.get('rawQueryString'), 'x=1&y=two&y=2', 'rawQueryString')
    eq(o.get('routeKey'), 'ANY /echo/{proxy+}', 'routeKey')
    eq(o.get('stage'), 'dev', 'stage')
    eq(o.get('proxy'), 'a/b c', 'greedy path parameter')
    eq(o.get('requestId'), r.header('x-request-id'), 'requestId = x-request-id')
    eq(o.get('sourceIp'), '127.0.0.1', 'sourceIp')
    eq(o.get('headers'), {'host': 'gw.test', 'user-agent': 'it-agent/1',
                          'content-type': 'application/x-test', 'accept': 'text/plain'},
       'headers')
    eq(o.get('bodyLength'), len(body), 'bodyLength')
    eq(o.get('body'), body.replace(b'\x00', b' ').decode(), 'body (NUL shown as a space)')
    r = call(EX.port, '/prod/echo/x', 'DELETE')
    o = expect_json_ok(r)
    eq((o.get('method'), o.get('stage'), o.get('bodyLength')), ('DELETE', 'prod', 0),
       'DELETE on prod')


@tap.case('examples: json computes count, sum, mean, min and max')
def _():
    r = call(EX.port, '/dev/stats', 'POST', b'{"numbers": [1, 2, 3.5]}',
             headers=['Content-Type: application/json'])
    o = expect_json_ok(r)
    eq((o.get('count'), o.get('sum'), o.get('min'), o.get('max')), (3, 6.5, 1, 3.5),
       'count, sum, min, max')
    check(abs(o.get('mean', 0) - 6.5 / 3) < 1e-12, 'mean %r' % o.get('mean'))
    nums = list(range(-500, 501))
    o = expect_json_ok(call(EX.port, '/prod/stats', 'POST', json.dumps({'numbers': nums})))
    eq((o.get('count'), o.get('sum'), o.get('mean')), (1001, 0, 0), '1001 numbers')


@tap.case('examples: json answers 400 with a message on bad input')
def _():
    for body in (b'not json', b'{"numbers": []}', b'{"numbers": [1, "x"]}', b'[1,2]', b''):
        r = call(EX.port, '/dev/stats', 'POST', body)
        obj = check_json_error(r, 400)
        note('%r -> %r' % (body, obj))
        check(r.header('x-fngate-function-version'),
              'a 400 from the handler carries the version header')
    eq(call(EX.port, '/dev/hello/x').status, 200, 'hello still answers')


tap.add('examples: daemon exits 0 on SIGTERM', lambda: EX.check_exit())


# ================================================== fngate invoke / new ===

SAMPLE_EVENT = {
    # An API Gateway HTTP API payload format 2.0 event, as in AWS's documentation.
    'version': '2.0',
    'routeKey': 'GET /hello/{name}',
    'rawPath': '/dev/hello/lovelace',
    'rawQueryString': 'parameter1=value1&parameter1=value2&parameter2=value',
    'cookies': ['cookie1', 'cookie2'],
    'headers': {'header1': 'value1', 'header2': 'value1,value2', 'user-agent': 'agent'},
    'queryStringParameters': {'parameter1': 'value1,value2', 'parameter2': 'value'},
    'requestContext': {
        'accountId': '123456789012',
        'apiId': 'api-id',
        'authorizer': {'lambda': {'sub': 'user-1'}},
        'domainName': 'id.execute-api.us-east-1.amazonaws.com',
        'domainPrefix': 'id',
        'http': {'method': 'GET', 'path': '/dev/hello/lovelace', 'protocol': 'HTTP/1.1',
                 'sourceIp': '192.0.2.1', 'userAgent': 'agent'},
        'requestId': 'id-1234',
        'routeKey': 'GET /hello/{name}',
        'stage': 'dev',
        'time': '12/Mar/2020:19:03:58 +0000',
        'timeEpoch': 1583348638390,
    },
    'body': 'Hello from Lambda',
    'pathParameters': {'name': 'lovelace'},
    'isBase64Encoded': False,
    'stageVariables': {'greeting': 'bonjour'},
}


class CliDir:
    dir = None

    @classmethod
    def get(cls):
        if cls.dir is None:
            cls.dir = open_tmpdir('fngate-it-cli-')
            os.mkdir(os.path.join(cls.dir, 'functions'), 0o755)
            os.chmod(os.path.join(cls.dir, 'functions'), 0o755)
            with open(os.path.join(cls.dir, 'event.json'), 'w') as f:
                json.dump(SAMPLE_EVENT, f)
            os.chmod(os.path.join(cls.dir, 'event.json'), 0o644)
            build_handler(os.path.join(EXAMPLES, 'hello', 'hello.c'),
                          os.path.join(cls.dir, 'functions', 'hello.so'))
            tap.on_exit(lambda: shutil.rmtree(cls.dir, ignore_errors=True))
        return cls.dir


def invoke(args, cwd, timeout=30):
    p = subprocess.run(WRAPPER + [BIN, 'invoke'] + list(args), cwd=cwd,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout * SLOW)
    note('fngate invoke %s -> rc %d\nstdout: %s\nstderr: %s'
         % (' '.join(args), p.returncode, short(p.stdout, 800), short(p.stderr, 800)))
    return p


def invoke_json(p):
    try:
        return json.loads(p.stdout.decode())
    except ValueError:
        raise Fail('fngate invoke did not print JSON: %s' % short(p.stdout))


@tap.case('invoke: hello from ./functions with a payload 2.0 event prints statusCode 200 and the body')
def _():
    cwd = CliDir.get()
    p = invoke(['hello', '--event', 'event.json'], cwd)
    eq(p.returncode, 0, 'exit code')
    o = invoke_json(p)
    eq(o.get('statusCode'), 200, 'statusCode')
    eq(json.loads(o.get('body', '')), {'message': 'bonjour, lovelace', 'stage': 'dev'}, 'body')
    eq((o.get('headers') or {}).get('content-type'), 'application/json', 'content-type header')
    eq(o.get('isBase64Encoded'), False, 'isBase64Encoded')


@tap.case('invoke: PATH.so form, an echo of the event shows what the handler saw')
def _():
    cwd = CliDir.get()
    so = os.path.join(cwd, 'echo.so')
    build_handler(os.path.join(EXAMPLES, 'echo', 'echo.c'), so)
    p = invoke([so, '--event', os.path.join(cwd, 'event.json')], '/')
    eq(p.returncode, 0, 'exit code')
    body = json.loads(invoke_json(p).get('body', ''))
    want = {'method': 'GET', 'rawPath': '/dev/hello/lovelace',
            'rawQueryString': SAMPLE_EVENT['rawQueryString'], 'routeKey': 'GET /hello/{name}',
            'stage': 'dev', 'requestId': 'id-1234', 'sourceIp': '192.0.2.1',
            'bodyLength': len('Hello from Lambda'), 'body': 'Hello from Lambda'}
    eq({k: body.get(k) for k in want}, want, 'event fields seen by echo')
    eq(body.get('headers', {}).get('user-agent'), 'agent', 'user-agent header')


@tap.case('invoke: a crashing handler (abuse_segv.so) exits 1 and names the cause on stderr')
def _():
    cwd = CliDir.get()
    so = os.path.join(cwd, 'abuse_segv.so')
    shutil.copy(test_so('abuse_segv'), so)
    os.chmod(so, 0o644)
    t0 = time.monotonic()
    p = invoke([so, '--event', 'event.json'], cwd)
    eq(p.returncode, 1, 'exit code')
    err = p.stderr.decode('utf-8', 'replace')
    check('SIGSEGV' in err, 'stderr does not name SIGSEGV: %r' % err)
    check(b'"statusCode": 200' not in p.stdout, 'a crash printed a 200 result')
    diag('invoke of abuse_segv.so took %.0f ms' % ((time.monotonic() - t0) * 1000))


INVOKE_SAMPLES = os.path.join(SOURCE_ROOT, 'tests', 'invoke')


def invoke_sample(so_name, sample, edit=None):
    """fngate invoke of test handler so_name with tests/invoke/SAMPLE (edited by edit(dict))."""
    cwd = CliDir.get()
    so = os.path.join(cwd, so_name + '.so')
    shutil.copy(test_so(so_name), so)
    os.chmod(so, 0o644)
    with open(os.path.join(INVOKE_SAMPLES, sample)) as f:
        ev = json.load(f)
    if edit:
        edit(ev)
    path = os.path.join(cwd, 'sample-' + sample)
    with open(path, 'w') as f:
        json.dump(ev, f)
    p = invoke([so, '--event', path], cwd)
    eq(p.returncode, 0, '%s: exit code' % sample)
    return invoke_json(p)


@tap.case('invoke: a payload 1.0 event without its version field is read as 1.0 (method, path, '
          'every value of multiValue*), and answered in 1.0\'s shape')
def _():
    o = invoke_sample('shapes', 'v1.json')
    eq(o.get('statusCode'), 200, 'statusCode')
    eq(o.get('body'), 'PUT /items/42 tag=a tag=b x-multi=first x-multi=second', 'what it saw')
    eq((o.get('multiValueHeaders') or {}).get('x-a'), ['1', '2'], 'multiValueHeaders x-a')
    eq((o.get('headers') or {}).get('x-a'), '2', 'headers x-a: the last value')
    eq((o.get('multiValueHeaders') or {}).get('Set-Cookie'), ['a=1', 'b=2'], 'Set-Cookie values')
    eq(o.get('isBase64Encoded'), False, 'isBase64Encoded')


@tap.case('invoke: a payload 2.0 event with a base64 body and a repeated query parameter; the '
          'answer in 2.0\'s shape (joined headers, cookies apart)')
def _():
    o = invoke_sample('shapes', 'v2.json')
    eq(o.get('body'), 'PUT /prod/items/42 tag=a tag=b', 'what it saw')
    eq((o.get('headers') or {}).get('x-a'), '1,2', 'a repeated header joined with commas')
    eq(o.get('cookies'), ['a=1', 'b=2'], 'cookies')
    o = invoke_sample('ok', 'v2.json', lambda ev: ev['stageVariables'].update({'x': 'y'}))
    eq(o.get('statusCode'), 200, 'a base64 body is accepted (was refused)')


@tap.case('invoke: a binary answer is returned in base64 with isBase64Encoded true')
def _():
    def binary(ev):
        ev['rawQueryString'] = 'binary=1'
    o = invoke_sample('shapes', 'v2.json', binary)
    eq(o.get('isBase64Encoded'), True, 'isBase64Encoded')
    eq(o.get('body'), '/wCA', 'the three bytes, in base64')


@tap.case('invoke: a WebSocket event reaches the handler as one (event type, connection id, '
          'message id)')
def _():
    o = invoke_sample('shapes', 'websocket.json')
    eq(o.get('body'), 'MESSAGE conn-abc= msg-1', 'what it saw')


@tap.case('new: NAME.c is written, builds with the pkg-config line and works through invoke')
def _():
    cwd = open_tmpdir('fngate-it-new-')
    try:
        p = subprocess.run(WRAPPER + [BIN, 'new', 'greeter'], cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30 * SLOW)
        note('fngate new greeter -> %d %s %s' % (p.returncode, p.stdout, p.stderr))
        eq(p.returncode, 0, 'exit code of fngate new')
        src = os.path.join(cwd, 'greeter.c')
        check(os.path.isfile(src), 'greeter.c not written')
        with open(src) as f:
            text = f.read()
        check('pkg-config --cflags --libs fngate' in text, 'no build line in the scaffold')
        build_handler(src, os.path.join(cwd, 'greeter.so'), cwd=cwd)
        with open(os.path.join(cwd, 'ev.json'), 'w') as f:
            json.dump({'version': '2.0', 'rawPath': '/greeter/ada',
                       'pathParameters': {'name': 'ada'},
                       'requestContext': {'requestId': 'req-77', 'http': {'method': 'GET'}}}, f)
        p = invoke(['./greeter.so', '--event', 'ev.json'], cwd)
        eq(p.returncode, 0, 'exit code of invoke')
        o = invoke_json(p)
        eq(o.get('statusCode'), 200, 'statusCode')
        eq(json.loads(o.get('body', '')), {'hello': 'ada'}, 'body')
        check(b'req-77' in p.stderr, 'the handler\'s fng_log line (with the request id) is '
              'not on stderr: %s' % short(p.stderr))
        p = subprocess.run([BIN, 'new', 'greeter'], cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        eq(p.returncode, 1, 'fngate new over an existing file: exit code')
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


# ======================================================== sandbox escapes ===

# (probe .so, FNG_PROBE_MODE): each must be killed by seccomp when it tries.
HANDLER_PROBES = [
    ('probe_open', ''), ('probe_socket_inet', ''), ('probe_socket_unix', ''),
    ('probe_connect', ''), ('probe_execve', ''),
    ('probe_fork', 'fork'), ('probe_fork', 'vfork'), ('probe_fork', 'clone'),
    ('probe_fork', 'clone3'), ('probe_ptrace', 'attach'), ('probe_ptrace', 'traceme'),
    ('probe_io_uring', ''), ('probe_mprotect_exec', 'mmap'),
    ('probe_mprotect_exec', 'mprotect'), ('probe_mprotect_exec', 'pkey'),
    ('probe_kill_parent', 'parent'), ('probe_kill_parent', 'gateway'),
    ('probe_kill_parent', 'init'), ('probe_bpf', ''), ('probe_unshare', ''), ('probe_perf', ''),
    ('probe_personality', ''),
    ('probe_write_fd', '0'), ('probe_write_fd', '5'),
]
# Writes to stdout and stderr pass: they are the worker's own pipe, read as the function's log.
OUTPUT_PROBES = [('probe_write_fd', '1'), ('probe_write_fd', '2'), ('probe_write_fd', 'printf')]


def pname(probe, mode):
    return (probe + ('_' + mode if mode else '')).replace('probe_', 'p_')


def _escape_setup(fx):
    sib = fx.fdir.path + '/ok.yaml'
    items = [('ok', test_so('ok'), 'env: { FNG_TEST_ECHO: "%s" }\n' % SIBLING_TOKEN)]
    for probe, mode in HANDLER_PROBES + OUTPUT_PROBES:
        n = pname(probe, mode)
        items.append((n, test_so(probe), probe_env(n, mode).replace('@SIBLING@', sib)))
    fx.versions = install_batches(fx.d, fx.fdir, items)
    fx.responses = []
    fx.sup = supervisor_pid(fx.d.proc.pid)


ESC = Fixture([('ANY /ok', 'ok')] + [('ANY /%s' % pname(p, m), pname(p, m))
                                     for p, m in HANDLER_PROBES + OUTPUT_PROBES],
              _escape_setup)


def escape_case(probe, mode):
    name = pname(probe, mode)

    def run():
        d = ESC.get()
        for attempt in (1, 2):
            mark = d.log_mark()
            t0 = time.monotonic()
            r = call(ESC.port, '/s/' + name, timeout=10)
            ms = (time.monotonic() - t0) * 1000
            ESC.responses.append(r.raw)
            obj = check_json_error(r, 502)
            check(name in obj['message'], 'message does not name the function: %r' % obj)
            o = failed_log(d, r.header('x-request-id'), mark)
            check(o is not None, 'no "function failed" log line for request %s; stderr:\n%s'
                  % (r.header('x-request-id'), d.stderr_text(mark)))
            cause = o.get('cause', '')
            check(cause == 'seccomp' or cause.startswith('SIG'),
                  'cause %r: expected "seccomp" or a signal name' % cause)
            eq(o.get('function'), name, 'function in the log line')
            check(SECRET not in r.text, 'the response leaks the secret')
            if attempt == 1:
                diag('%s: 502 (%s) in %.1f ms' % (name, cause, ms))
            # The other function keeps answering.
            r2 = call(ESC.port, '/s/ok')
            check_status(r2, 200)
        for path in (probe_file(name),):
            check(not os.path.exists(path), 'side effect: %s exists' % path)
        eq(CANARY.count(), [], 'connections accepted by the canaries')
        eq(_usr1, [], 'SIGUSR1 received by the test process')
    return run


for _p, _m in HANDLER_PROBES:
    tap.add('escape: %s%s -> 502 with its cause logged, no side effect, pool respawns'
            % (_p, ' (%s)' % _m if _m else ''), escape_case(_p, _m))


@tap.case('escape: writes to stdout and stderr succeed and become log lines of the function, '
          'tagged with the request (documented)')
def _():
    d = ESC.get()
    for _p, mode in OUTPUT_PROBES:
        name = pname(_p, mode)
        mark = d.log_mark()
        r = call(ESC.port, '/s/' + name)
        check_status(r, 200)
        check(('write %s: ok' % mode).encode() in r.body, 'body %s' % short(r.body))
        o = d.wait_log(lambda o, n=name: o.get('function') == n and
                       o.get('stream') == 'stderr', 2.0, mark)
        check(o is not None, '%s: no log line for its output; stderr:\n%s'
              % (name, d.stderr_text(mark)))
        eq(o.get('msg'), 'forged log line', '%s: the line' % name)
        eq(o.get('requestId'), r.header('x-request-id'), '%s: its request id' % name)


@tap.case('escape: after all probes no file was created, no canary reached, no secret leaked, same supervisor')
def _():
    d = ESC.get()
    made = [n for n in os.listdir(WORK) if n.startswith('created-by-')]
    eq(made, [], 'files created by probes')
    eq(CANARY.count(), [], 'connections accepted by the canaries')
    eq(_usr1, [], 'SIGUSR1 signals received')
    logs = d.stderr_text(0, limit=100000)
    check(SECRET not in logs and SIBLING_TOKEN not in logs, 'the log leaks a secret')
    for raw in ESC.responses:
        check(SECRET.encode() not in raw and SIBLING_TOKEN.encode() not in raw,
              'a response leaks a secret: %s' % short(raw))
    eq(supervisor_pid(d.proc.pid), ESC.sup, 'supervisor pid (it must not have been killed)')
    r = call(ESC.port, '/s/ok')
    check_status(r, 200)
    eq(r.body, SIBLING_TOKEN.encode(), 'ok answers with its own manifest env')


tap.add('escape: daemon exits 0 on SIGTERM', lambda: ESC.check_exit())


# ==================================================== load-time escapes ===

LOAD_KINDS = ['open', 'socket', 'connect', 'write', 'kill', 'exec', 'persona', 'memfd', 'stderr']
LOAD_PROBES = ['%s_%s' % (ph, k) for ph in ('ctor', 'init') for k in LOAD_KINDS]


def _load_setup(fx):
    if os.path.isdir(LOAD_PROBE_DIR):
        note('%s existed before the load probes ran; removed' % LOAD_PROBE_DIR)
        shutil.rmtree(LOAD_PROBE_DIR, ignore_errors=True)
    sib = fx.fdir.path + '/ok.yaml'
    install_batches(fx.d, fx.fdir, [('ok', test_so('ok'),
                                     'env: { FNG_TEST_ECHO: "%s" }\n' % SIBLING_TOKEN)])
    fx.sup = supervisor_pid(fx.d.proc.pid)
    fx.outcome = {}
    fx.responses = []
    for i in range(0, len(LOAD_PROBES), 6):
        mark = fx.d.log_mark()
        batch = LOAD_PROBES[i:i + 6]
        for n in batch:
            fx.fdir.install(n, test_so(n), probe_env(n).replace('@SIBLING@', sib))
        for n in batch:
            o = deploy_event(fx.d, n, mark, 10)
            check(o is not None, '%s: neither deployed nor refused within 10 s; stderr:\n%s'
                  % (n, fx.d.stderr_text(mark)))
            fx.outcome[n] = o


LOAD = Fixture([('ANY /ok', 'ok')] + [('ANY /%s' % n, n) for n in LOAD_PROBES], _load_setup)


def no_leak(text, where):
    for tok in (SECRET, SIBLING_TOKEN):
        check(tok not in text, '%s leaks %r' % (where, tok))
    for bad in ('read /etc/shadow: ok', 'read /proc/1/environ: ok', 'connect: ok',
                'create %s: ok' % probe_file(''), 'next to the .so: ok', 'mkdir /tmp: ok',
                'kill supervisor: ok', 'kill test: ok', 'ptrace supervisor: ok', 'fork: ok',
                'execve: ok', 'personality: ok', 'memfd_create: ok', 'execveat: ok',
                'execve ld.so: ok', 'mmap exec: ok', 'truncate 2: ok'):
        check(bad not in text, '%s shows a call that worked: %r in %s'
              % (where, bad, short(text, 800)))


def load_case(n):
    def run():
        d = LOAD.get()
        o = LOAD.outcome[n]
        r = call(LOAD.port, '/s/' + n)
        LOAD.responses.append(r.raw)
        if o['msg'] == 'deploy failed':
            check(o.get('cause'), 'deploy failed without a cause: %r' % o)
            obj = check_json_error(r, 503)
            eq(obj['message'], 'function %s is not deployed' % n, 'message')
            diag('%s: refused to deploy (%s)' % (n, o.get('cause')))
        else:
            check_status(r, 200)
            no_leak(r.text, 'the response')
            diag('%s: deployed, serves: %s' % (n, r.text[:300]))
        check(not os.path.exists(probe_file(n)), 'side effect: %s exists' % probe_file(n))
        check(not os.path.exists(LOAD_PROBE_DIR), 'side effect: %s exists' % LOAD_PROBE_DIR)
        eq(CANARY.count(), [], 'connections accepted by the canaries')
        eq(_usr1, [], 'SIGUSR1 received by the test process')
        check_status(call(LOAD.port, '/s/ok'), 200)
    return run


for _n in LOAD_PROBES:
    tap.add('load-time escape: %s refuses to deploy or serves, with no side effect' % _n,
            load_case(_n))


@tap.case('load-time escape: nothing written anywhere, no secret in any log, supervisor intact, deploys still work')
def _():
    d = LOAD.get()
    logs = d.stderr_text(0, limit=100000)
    no_leak(logs, 'the log')
    pw = glob.glob('/run/fngate/gw-%d-*/pwned-by-load-probe' % d.proc.pid) + \
        glob.glob(os.path.join(LOAD.fdir.path, 'pwned-by-load-probe'))
    eq(pw, [], 'files created next to a .so')
    eq([n for n in os.listdir(WORK) if n.startswith('created-by-')], [], 'probe files')
    check(not os.path.exists(LOAD_PROBE_DIR), '%s exists' % LOAD_PROBE_DIR)
    eq(supervisor_pid(d.proc.pid), LOAD.sup, 'supervisor pid')
    # What a constructor wrote on fd 1 and 2 is a log line of its function, never a line of
    # the gateway's own (it cannot forge one), and nothing truncated the log.
    forged = [o for _, o in list(d.logs) if o and 'forged by a constructor' in json.dumps(o)]
    check(forged, 'the stderr probes\' lines were not logged')
    for o in forged:
        check(o.get('stream') == 'stderr' and o.get('function', '').endswith('_stderr'),
              'a forged line reached the log as the gateway\'s own: %r' % o)
    check(any(o and o.get('msg') == 'listening' for _, o in list(d.logs)[:50]),
          'the start of the log is gone')
    mark = d.log_mark()
    LOAD.fdir.install('ok', test_so('ok'), 'env: { FNG_TEST_ECHO: "after" }\n',
                      data=open(test_so('ok'), 'rb').read() + b'\0redeploy')
    wait_deployed(d, ['ok'], mark)
    r = call(LOAD.port, '/s/ok')
    check_status(r, 200)
    eq(r.body, b'after', 'redeployed ok answers with its new env')


tap.add('load-time escape: daemon exits 0 on SIGTERM', lambda: LOAD.check_exit())


# ======================================== answering without the serve filter ===

# tests/functions/selfserve.so answers the gateway itself from its init hook or a constructor,
# before the worker installs its serve filter: through the runtime's entry point (not
# exported: it cannot find it), with a loop of its own, or after stacking an allow-all filter
# so that the count of filters looks right.
SELFSERVE_MODES = ['rt', 'loop', 'filter', 'ctor']


def _selfserve_setup(fx):
    install_batches(fx.d, fx.fdir, [('ok', test_so('ok'), None)])
    fx.outcome = {}
    mark = fx.d.log_mark()
    for m in SELFSERVE_MODES:
        fx.fdir.install('self_' + m, test_so('selfserve'), 'env: { FNG_PROBE_MODE: "%s" }\n' % m)
    for m in SELFSERVE_MODES:
        fx.outcome[m] = deploy_event(fx.d, 'self_' + m, mark, 10)


SELF = Fixture([('ANY /ok', 'ok'), ('ANY /after', 'self_after')] +
               [('ANY /self_%s' % m, 'self_' + m) for m in SELFSERVE_MODES], _selfserve_setup)


@tap.case('serve filter skipped: a handler answering from init or a constructor (own loop, the '
          'runtime\'s entry point, an extra allow-all filter) fails its pre-flight, "sandbox not '
          'verified"; no request reaches it')
def _():
    SELF.get()
    for m in SELFSERVE_MODES:
        o = SELF.outcome[m]
        check(o is not None and o.get('msg') == 'deploy failed',
              'self_%s: expected "deploy failed", got %r' % (m, o))
        check('sandbox not verified' in o.get('cause', ''), 'self_%s: cause %r' % (m, o))
        diag('self_%s: %s' % (m, o.get('cause')))
        r = call(SELF.port, '/s/self_' + m)
        check_json_error(r, 503)
        check(b'unfiltered' not in r.body, 'self_%s answered: %s' % (m, short(r.body)))
    check_status(call(SELF.port, '/s/ok'), 200)


@tap.case('serve filter skipped later: a version that passed its pre-flight and cheats in a '
          'later worker is withdrawn (503) and not deployed again until its file changes')
def _():
    d = SELF.get()
    after = int(time.time()) + 2
    mark = d.log_mark()
    SELF.fdir.install('self_after', test_so('selfserve'),
                      'env: { FNG_PROBE_MODE: "after", FNG_CHEAT_AFTER: "%d" }\n' % after)
    wait_deployed(d, ['self_after'], mark)
    r = call(SELF.port, '/s/after')
    check_status(r, 200)
    eq(r.body, b'served by the runtime', 'answer before the time to cheat')
    time.sleep(max(0.0, after - time.time()) + 0.3)
    mark = d.log_mark()
    for pid in worker_pids(d.proc.pid, 'self_after'):
        os.kill(pid, signal.SIGKILL)
    o = d.wait_log(lambda o: o.get('msg') == 'function withdrawn' and
                   o.get('function') == 'self_after', 5 * SLOW, mark)
    check(o is not None, 'no "function withdrawn" line; stderr:\n%s' % d.stderr_text(mark))
    check('sandbox not verified' in o.get('cause', ''), 'cause %r' % o)
    r = call(SELF.port, '/s/after')
    check_json_error(r, 503)
    check(b'unfiltered' not in r.body, 'it answered: %s' % short(r.body))
    mark = d.log_mark()
    d.reload()
    time.sleep(0.5)
    check(deploy_event(d, 'self_after', mark, 0.2) is None,
          'the withdrawn version was deployed again on reload')
    check_json_error(call(SELF.port, '/s/after'), 503)


tap.add('serve filter skipped: daemon exits 0 on SIGTERM', lambda: SELF.check_exit())


# ========================================================= resource abuse ===

# tests/functions/garbage.so writes a frame whose body is not msgpack. This one, built here
# like a user's handler, breaks the wire the other ways: a frame type a worker may not send,
# a length over the frame cap, and a WS_CLOSE whose code may not travel (1005, which
# fng_ws_close() refuses to send).
GARBAGE_C = r'''
/* Writes bytes that are not a valid frame on the worker's socket to the gateway (fd 3,
 * FNG_WORKER_FD in sandbox/internal.h): the gateway must kill the worker and answer 502. */
#include <fngate.h>
#include <string.h>
#include <unistd.h>

static int garbage(struct fng_ctx *ctx)
{
	static const unsigned char malformed[] = { 0, 0, 0, 5, 3, 0xc1, 0xc1, 0xc1, 0xc1 };
	static const unsigned char unexpected[] = { 0, 0, 0, 2, 99, 0x80 };
	static const unsigned char oversized[] = { 0x7f, 0xff, 0xff, 0xff, 3, 0x80 };
	/* WS_CLOSE {connectionId: "x", code: 1005, reason: ""}; close_ok: code 4000 */
	unsigned char close_code[] = { 0, 0, 0, 33, 10, 0x83,
		0xac, 'c', 'o', 'n', 'n', 'e', 'c', 't', 'i', 'o', 'n', 'I', 'd', 0xa1, 'x',
		0xa4, 'c', 'o', 'd', 'e', 0xcd, 0x03, 0xed,
		0xa6, 'r', 'e', 'a', 's', 'o', 'n', 0xa0 };
	const char *mode = fng_env(ctx, "GARBAGE_MODE");
	const unsigned char *p = malformed;
	size_t n = sizeof(malformed);

	if (mode && !strcmp(mode, "unexpected")) {
		p = unexpected;
		n = sizeof(unexpected);
	} else if (mode && !strcmp(mode, "oversized")) {
		p = oversized;
		n = sizeof(oversized);
	} else if (mode && !strncmp(mode, "close_", 6)) {
		if (!strcmp(mode, "close_ok")) {
			close_code[27] = 0x0f;
			close_code[28] = 0xa0;
		}
		p = close_code;
		n = sizeof(close_code);
	}
	if (write(3, p, n) != (ssize_t)n) {
		return -1;
	}
	return fng_response_printf(ctx, "garbage sent");
}
FNG_HANDLER(garbage)
'''

ABUSE = [
    # name, source .so, manifest
    ('abuse_malloc', 'abuse_malloc', 'memory_mb: 48\n'),
    ('abuse_spin', 'abuse_spin', 'timeout_ms: 500\n'),
    ('spin_cpu', 'abuse_spin', 'timeout_ms: 8000\ncpu_ms: 1000\n'),
    ('abuse_sleep', 'abuse_sleep', 'timeout_ms: 300\n'),
    ('abuse_big', 'abuse_big', ''),
    ('abuse_abort', 'abuse_abort', ''),
    ('abuse_segv', 'abuse_segv', ''),
    ('garbage', 'garbage', ''),
    ('garbage_unexpected', 'garbage_x', 'env: { GARBAGE_MODE: unexpected }\n'),
    ('garbage_oversized', 'garbage_x', 'env: { GARBAGE_MODE: oversized }\n'),
    ('garbage_close_code', 'garbage_x', 'env: { GARBAGE_MODE: close_code }\n'),
    ('garbage_close_ok', 'garbage_x', 'env: { GARBAGE_MODE: close_ok }\n'),
]


class Pinger:
    """Client threads calling a path in a loop on keep-alive connections."""

    def __init__(self, port, path, threads=1, pause=0.005):
        self.port, self.path, self.pause = port, path, pause
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.statuses = {}
        self.errors = []
        self.failures = []      # (time, status, body)
        self.n = 0
        self.threads = [threading.Thread(target=self._loop, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _loop(self):
        c = None
        while not self.stop_ev.is_set():
            try:
                if c is None:
                    c = Conn(self.port, 10)
                c.sock.sendall(req('GET', self.path))
                r = c.read_response(timeout=10)
                with self.lock:
                    self.n += 1
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                    if r.status != 200:
                        self.failures.append((time.monotonic(), r.status, r.body[:200]))
                if r.has_token('connection', 'close'):
                    c.close()
                    c = None
            except Exception as e:  # noqa: BLE001
                with self.lock:
                    self.errors.append('%s: %s' % (type(e).__name__, str(e)[:200]))
                if c is not None:
                    c.close()
                c = None
                time.sleep(0.01)
            if self.pause:
                time.sleep(self.pause)
        if c is not None:
            c.close()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(15)


def _abuse_setup(fx):
    gsrc = os.path.join(WORK, 'garbage_x.c')
    with open(gsrc, 'w') as f:
        f.write(GARBAGE_C)
    gso = os.path.join(WORK, 'garbage_x.so')
    build_handler(gsrc, gso)
    items = [('ok', test_so('ok'), None)]
    for name, src, man in ABUSE:
        items.append((name, gso if src == 'garbage_x' else test_so(src), man))
    install_batches(fx.d, fx.fdir, items)
    fx.pinger = Pinger(fx.d.port, '/s/ok')


AB = Fixture([('ANY /ok', 'ok')] + [('ANY /%s' % n, n) for n, _, _ in ABUSE], _abuse_setup)


def abuse_call(name, status, cause_re, max_ms=None, min_ms=None, msg_re=None):
    d = AB.get()
    mark = d.log_mark()
    t0 = time.monotonic()
    r = call(AB.port, '/s/' + name, timeout=20)
    ms = (time.monotonic() - t0) * 1000
    obj = check_json_error(r, status)
    diag('%s: %d in %.0f ms: %s' % (name, status, ms, obj['message']))
    if msg_re:
        check(re.search(msg_re, obj['message']), 'message %r does not match %r'
              % (obj['message'], msg_re))
    o = failed_log(d, r.header('x-request-id'), mark)
    check(o is not None, 'no failure log line for the request; stderr:\n%s' % d.stderr_text(mark))
    check(re.search(cause_re, o.get('cause', '')), 'logged cause %r does not match %r'
          % (o.get('cause'), cause_re))
    if min_ms is not None:
        # uv_now() is the loop's cached millisecond clock: allow it a few ms of rounding.
        check(ms >= min_ms - 5, 'answered after %.0f ms, before the %d ms deadline'
              % (ms, min_ms))
    if max_ms is not None:
        check(ms <= max_ms, 'answered after %.0f ms, expected at most %d ms' % (ms, max_ms))
    # The pool replaced the worker: the same function fails the same way again.
    r = call(AB.port, '/s/' + name, timeout=20)
    check_status(r, status)
    return ms


@tap.case('abuse: unbounded malloc (memory_mb 48) -> 502, "out of memory" logged')
def _():
    abuse_call('abuse_malloc', 502, r'^out of memory$', msg_re='out of memory')


@tap.case('abuse: CPU spin (timeout_ms 500) -> 504 at the deadline (+ <= 100 ms, +250 ms slack here)')
def _():
    ms = abuse_call('abuse_spin', 504, r'^timeout after 500 ms$', min_ms=500, max_ms=850)
    diag('abuse_spin: deadline 500 ms, answered after %.0f ms (%.0f ms late)' % (ms, ms - 500))
    if ms > 600:
        diag('NOTE: later than the issue\'s 100 ms bound (allowed here by the slack)')


@tap.case('abuse: CPU spin with cpu_ms 1000 -> 502, "cpu limit" logged')
def _():
    abuse_call('spin_cpu', 502, r'^cpu limit$', min_ms=900, max_ms=5000)


@tap.case('abuse: sleep past the deadline (timeout_ms 300) -> 504')
def _():
    abuse_call('abuse_sleep', 504, r'^timeout after 300 ms$', min_ms=300, max_ms=650,
               msg_re='timed out')


@tap.case('abuse: 100 MB response -> 502')
def _():
    d = AB.get()
    t0 = time.monotonic()
    r = call(AB.port, '/s/abuse_big', timeout=20)
    ms = (time.monotonic() - t0) * 1000
    diag('abuse_big: %d with %d body bytes in %.0f ms' % (r.status, len(r.body), ms))
    if r.status == 200:
        raise Fail('expected 502 for a 100 MB response, got 200 with a body silently cut to '
                   '%d bytes (the SDK refuses the writes past the frame cap, the handler '
                   'ignores that and returns 0, and the truncated body is served as a success)'
                   % len(r.body))
    check_json_error(r, 502)


@tap.case('abuse: abort() -> 502, SIGABRT logged')
def _():
    abuse_call('abuse_abort', 502, r'^SIGABRT$')


@tap.case('abuse: SIGSEGV -> 502, SIGSEGV logged')
def _():
    abuse_call('abuse_segv', 502, r'^SIGSEGV$')


@tap.case('abuse: garbage on the wire (garbage.so: a frame that is not msgpack) -> 502')
def _():
    abuse_call('garbage', 502, r'\bmalformed frame\b')


for _mode in ('unexpected', 'oversized'):
    tap.add('abuse: garbage on the wire (an %s frame) -> 502, the frame named in the log' % _mode,
            lambda m=_mode: abuse_call('garbage_' + m, 502, r'\b%s frame\b' % m))


@tap.case('abuse: a WS_CLOSE with a code that may not travel (1005) -> 502, a malformed frame')
def _():
    # The same frame with code 4000 is well formed: the unknown id is dropped, the worker kept.
    r = call(AB.port, '/s/garbage_close_ok', timeout=20)
    check_status(r, 200)
    eq(r.body, b'garbage sent', 'a WS_CLOSE with code 4000 to an unknown id')
    abuse_call('garbage_close_code', 502, r'\bmalformed frame\b')


@tap.case('abuse: other functions kept answering 200 throughout')
def _():
    AB.get()
    AB.pinger.stop()
    p = AB.pinger
    diag('ok during the abuse cases: %d requests, statuses %r, %d errors'
         % (p.n, p.statuses, len(p.errors)))
    check(p.n > 50, 'only %d requests to ok were made' % p.n)
    eq(p.errors, [], 'connection errors calling ok')
    eq(p.failures, [], 'non-200 answers from ok')


tap.add('abuse: daemon exits 0 on SIGTERM', lambda: AB.check_exit())


# ================================================== not deployed, 429 ===

def _limits_setup(fx):
    install_batches(fx.d, fx.fdir, [
        ('slow', test_so('slow'), 'concurrency: 1\nqueue: 0\n'
         'env: { FNG_TEST_SLEEP_MS: "1000" }\n'),
        ('slowq', test_so('slow'), 'concurrency: 1\nqueue: 1\n'
         'env: { FNG_TEST_SLEEP_MS: "700" }\n'),
        ('okq0', test_so('ok'), 'concurrency: 1\nqueue: 0\n'),
    ])


LIM = Fixture([('ANY /ghost', 'ghost'), ('ANY /slow', 'slow'), ('ANY /slowq', 'slowq'),
               ('ANY /okq0', 'okq0')], _limits_setup)


@tap.case('a route to a function that is not deployed -> 503 with the message')
def _():
    r = call(LIM.port, '/s/ghost')
    obj = check_json_error(r, 503)
    eq(obj['message'], 'function ghost is not deployed', 'message')
    check(r.header('x-fngate-function-version') is None, '503 carries a version header')


def occupy(path, results):
    def run():
        try:
            results.append(call(LIM.port, path, timeout=10).status)
        except Exception as e:  # noqa: BLE001
            results.append(repr(e))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@tap.case('queue full: concurrency 1, queue 0: an idle worker serves, a busy one -> 429 at once')
def _():
    LIM.get()
    r = call(LIM.port, '/s/okq0')
    if r.status == 429:
        raise Fail('okq0 (concurrency 1, queue 0, worker idle) answered 429: %s. '
                   'function_start() refuses when nqueue >= queue before an idle worker is '
                   'looked for, so queue: 0 refuses every request' % short(r.body))
    check_status(r, 200)
    first = []
    t = occupy('/s/slow', first)
    time.sleep(0.3)
    t0 = time.monotonic()
    r = call(LIM.port, '/s/slow')
    ms = (time.monotonic() - t0) * 1000
    check_json_error(r, 429)
    check(ms < 300, '429 took %.0f ms' % ms)
    t.join(10)
    eq(first, [200], 'the request occupying the worker (slow.so, 1000 ms)')


@tap.case('queue full: concurrency 1, queue 1: one runs, one waits, the third -> 429')
def _():
    LIM.get()
    res = []
    t1 = occupy('/s/slowq', res)
    time.sleep(0.3)
    t2 = occupy('/s/slowq', res)
    time.sleep(0.3)
    r = call(LIM.port, '/s/slowq')
    check_json_error(r, 429)
    t1.join(10)
    t2.join(10)
    eq(sorted(map(str, res)), ['200', '200'], 'the running and the queued request')


tap.add('limits: daemon exits 0 on SIGTERM', lambda: LIM.check_exit())


# ============================================================== pipeline ===
# A busy worker of a fast function holds a few invocations (manifest `pipeline`): the first
# runs, the others wait in its socket and have not started. When the running one crashes or
# times out, those go back to the queue and another worker serves them.

def _pipe_setup(fx):
    install_batches(fx.d, fx.fdir, [
        ('pipe', test_so('pipe'), 'concurrency: 1\npipeline: 4\ntimeout_ms: 400\n'),
        ('pipeslow', test_so('pipe'), 'concurrency: 1\npipeline: 4\n')])


PI = Fixture([('ANY /pipe', 'pipe'), ('ANY /pipeslow', 'pipeslow')], _pipe_setup)


def warm_fast(d, path='/s/pipe', n=40):
    """Fast invocations, so that the function's average run time allows pipelining."""
    for _ in range(n):
        check_status(call(d.port, path), 200)


def burst(d, first, others, gap=0.03):
    """Sends `first`, then (gap s later) each of `others` on its own connection, at once;
    returns the responses in that order."""
    out = [None] * (1 + len(others))

    def one(i, path):
        try:
            out[i] = call(d.port, path, timeout=10)
        except Exception as e:  # noqa: BLE001
            out[i] = e
    ts = [threading.Thread(target=one, args=(0, first))]
    ts[0].start()
    time.sleep(gap)
    for i, path in enumerate(others, 1):
        ts.append(threading.Thread(target=one, args=(i, path)))
        ts[-1].start()
    for t in ts:
        t.join(15)
    for r in out:
        check(not isinstance(r, Exception) and r is not None, 'a request failed: %r' % (r,))
    return out


@tap.case('pipeline: requests waiting behind one that crashes are re-dispatched to a new worker, none fails')
def _():
    d = PI.get()
    warm_fast(d)
    old = call(d.port, '/s/pipe').body.decode()
    mark = d.log_mark()
    rs = burst(d, '/s/pipe?sleep=150&crash=1', ['/s/pipe'] * 3)
    check_json_error(rs[0], 502)
    for r in rs[1:]:
        check_status(r, 200)
    pids = {r.body.decode() for r in rs[1:]}
    check(old not in pids, 'served by the crashed worker (pid %s): %r' % (old, pids))
    o = failed_log(d, rs[0].header('x-request-id'), mark)
    eq(((o or {}).get('cause'), (o or {}).get('requeued')), ('SIGSEGV', '3'),
       '(cause, requeued) of the crash')


@tap.case('pipeline: requests waiting behind one that times out are re-dispatched: 504 for it only')
def _():
    d = PI.get()
    warm_fast(d)
    mark = d.log_mark()
    # The others arrive 250 ms into the first one's 400: re-dispatched when it times out, they
    # still have 250 ms for a new worker to start (30 ms was too short for a cold start under
    # a sanitizer on a loaded machine).
    rs = burst(d, '/s/pipe?sleep=2000', ['/s/pipe'] * 2, gap=0.25)
    check_json_error(rs[0], 504)
    for r in rs[1:]:
        check_status(r, 200)
    o = failed_log(d, rs[0].header('x-request-id'), mark)
    eq(((o or {}).get('cause'), (o or {}).get('requeued')), ('timeout after 400 ms', '2'),
       '(cause, requeued) of the timeout')


@tap.case('pipeline: a client that leaves while its request waits in a pipeline -> answered at once; the worker goes on')
def _():
    d = PI.get()
    warm_fast(d)
    slow = [None]
    t = threading.Thread(target=lambda: slow.__setitem__(0, call(d.port, '/s/pipe?sleep=300')))
    t.start()
    time.sleep(0.05)
    c = Conn(d.port, 5)
    c.sock.sendall(req('GET', '/s/pipe'))
    time.sleep(0.05)
    c.close()
    t.join(10)
    check_status(slow[0], 200)
    for _ in range(3):
        check_status(call(d.port, '/s/pipe'), 200)
    check(d.alive(), 'gateway died')


@tap.case('pipeline: a slow function is not pipelined (requests wait in the gateway queue)')
def _():
    d = PI.get()
    warm_fast(d, '/s/pipeslow?sleep=5', 30)
    mark = d.log_mark()
    rs = burst(d, '/s/pipeslow?sleep=150&crash=1', ['/s/pipeslow'] * 2)
    check_json_error(rs[0], 502)
    for r in rs[1:]:
        check_status(r, 200)
    o = failed_log(d, rs[0].header('x-request-id'), mark)
    eq((o or {}).get('requeued'), '0', 'requests pipelined behind the crash')


tap.add('pipeline: daemon exits 0 on SIGTERM', lambda: PI.check_exit())


# ================================================================= chaos ===

def _chaos_setup(fx):
    # memory_mb: room for an ASan-instrumented worker's quarantine over ~10^5 invocations
    # (128 MB runs out there): only the kills should fail requests.
    install_batches(fx.d, fx.fdir, [('ok', test_so('ok'), 'concurrency: 2\nmemory_mb: 1024\n')])


CH = Fixture([('ANY /ok', 'ok')], _chaos_setup, grants='ok: { max: { memory_mb: 1024 } }')


def settle_fds(d, concurrency=2):
    """Fill the pool, let connections close, return (gateway fds - workers, workers)."""
    burst = Pinger(d.port, '/s/ok', threads=4, pause=0)
    time.sleep(0.5)
    burst.stop()
    deadline = time.monotonic() + 5 * SLOW
    last = None
    while time.monotonic() < deadline:
        w = len(worker_pids(d.proc.pid, 'ok'))
        n = fd_count(d.proc.pid)
        if last == (n, w) and w == concurrency:
            break
        last = (n, w)
        time.sleep(0.3)
    w = len(worker_pids(d.proc.pid, 'ok'))
    return fd_count(d.proc.pid) - w, w


@tap.case('chaos: kill -9 a random worker every 500 ms under load: only in-flight requests fail, all 502; gateway survives, no fd leak')
def _():
    d = CH.get()
    base_fds, base_w = settle_fds(d)
    load = Pinger(d.port, '/s/ok', threads=4, pause=0)
    kills = 0
    t_end = time.monotonic() + CHAOS_SECONDS
    rng = random.Random()
    try:
        while time.monotonic() < t_end:
            time.sleep(0.5)
            ws = worker_pids(d.proc.pid)
            if ws:
                try:
                    os.kill(rng.choice(ws), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
            check(d.alive(), 'the gateway died during chaos; stderr:\n%s' % d.stderr_text())
    finally:
        load.stop()
    fails = load.failures
    diag('chaos %.0f s: %d kills, %d requests, statuses %r, %d connection errors'
         % (CHAOS_SECONDS, kills, load.n, load.statuses, len(load.errors)))
    msgs, causes = {}, {}
    for f in fails:
        msgs[f[2]] = msgs.get(f[2], 0) + 1
    with d.cond:
        objs = [o for _, o in d.logs if o and o.get('level') in ('warn', 'error')]
    for o in objs:
        k = '%s (%s)' % (o.get('msg'), o.get('cause') or o.get('error'))
        causes[k] = causes.get(k, 0) + 1
    diag('failure bodies: %r' % msgs)
    diag('warn/error log lines: %r' % causes)
    check(load.n > 100, 'only %d requests completed under chaos' % load.n)
    eq(load.errors, [], 'connection errors')
    bad = [f for f in fails if f[1] != 502]
    eq(bad, [], 'failures other than 502')
    check(len(fails) <= kills, '%d failures > %d kills (at most one request is in flight on '
          'a killed worker)' % (len(fails), kills))
    check(d.alive(), 'gateway died')
    time.sleep(0.5)     # a worker killed last may look idle until its death is noticed
    check_status(call(d.port, '/s/ok'), 200)
    after_fds, after_w = settle_fds(d)
    diag('gateway fds (less one per worker): before %d (%d workers), after %d (%d workers)'
         % (base_fds, base_w, after_fds, after_w))
    check(after_fds <= base_fds, 'fd leak: %d fds before, %d after (less worker pipes)'
          % (base_fds, after_fds))


tap.add('chaos: daemon exits 0 on SIGTERM', lambda: CH.check_exit())


if __name__ == '__main__':
    tap.run()
