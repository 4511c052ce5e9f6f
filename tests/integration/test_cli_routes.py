#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`fngate routes FILE`: run on every example configuration under examples/ (it crashed on any
configuration with a WebSocket API) and on a configuration with every kind of API and
integration; the output must name every API with its protocol, a WebSocket API's route
selection expression and routes, every HTTP route with what it does, the schedules and the
admin listener. TAP output.

Environment: FNGATE_BIN, FNGATE_SOURCE_ROOT."""

import os
import re
import subprocess
import tempfile

from lib import BIN, SOURCE_ROOT, Tap, check, eq, short

tap = Tap(budget=30)


def run(*args):
    p = subprocess.run([BIN] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=20)
    check(p.returncode >= 0, '`fngate %s` died of signal %d; stderr: %s'
          % (' '.join(args), -p.returncode, short(p.stderr)))
    return p


def example_configs():
    """The configurations under examples/: YAML or JSON files with a top-level `apis` key
    (not the sample events, key sets and other data beside them)."""
    out = []
    for root, dirs, files in os.walk(os.path.join(SOURCE_ROOT, 'examples')):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(root, f)
            if not f.endswith(('.yaml', '.yml', '.json')):
                continue
            with open(path, encoding='utf-8', errors='replace') as fh:
                text = fh.read()
            if re.search(r'^apis:|^\{?\s*"apis"\s*:', text, re.M):
                out.append(path)
    return out


def routes_of(path):
    """`fngate routes path` output, checked against `fngate check path`'s API count."""
    p = run('routes', path)
    eq(p.returncode, 0, '`fngate routes %s` exit code (stderr: %s)' % (path, short(p.stderr)))
    c = run('check', path)
    eq(c.returncode, 0, '`fngate check %s` exit code' % path)
    m = re.search(r'ok \((\d+) APIs?\)', c.stdout)
    check(m, 'check output: %r' % c.stdout)
    apis = re.findall(r'^api (\S+) \((http|websocket)\)', p.stdout, re.M)
    eq(len(apis), int(m.group(1)), 'APIs listed by routes, against check\'s count')
    check(p.stdout.rstrip().splitlines()[-1].startswith('stages of the request path:'),
          'output ends with the stage table: %s' % short(p.stdout[-300:]))
    return p.stdout


def section(out, api):
    """The lines of `api NAME ...` up to the next top-level line."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith('api %s ' % api):
            body = []
            for l in lines[i + 1:]:
                if not l.startswith(' '):
                    break
                body.append(l.strip())
            return body
    raise AssertionError('no api %s in:\n%s' % (api, out))


@tap.case('routes: every example configuration under examples/ prints without crashing')
def _():
    files = example_configs()
    check(files, 'example configurations found under %s' % SOURCE_ROOT)
    for f in files:
        routes_of(f)


@tap.case('routes: examples/fngate.yaml lists its HTTP and WebSocket APIs, schedule and domains')
def _():
    out = routes_of(os.path.join(SOURCE_ROOT, 'examples', 'fngate.yaml'))
    check(re.search(r'^api demo \(http\) \(default endpoint\)$', out, re.M), 'demo is default')
    chat = section(out, 'chat')
    eq(chat[:3], ['stages: live', 'authorizer chat-token: request, function authorizer, '
                  'cached 300 s', 'route selection: $request.body.action'], 'chat header')
    keys = [l.split()[0] for l in chat[4:]]
    eq(keys, ['$connect', '$disconnect', 'say', '$default'], 'chat routes in the order written')
    check(re.search(r'function chat +line \d+  authorizer chat-token$', chat[4]),
          'chat $connect behind its authorizer: %r' % chat[4])
    check(all(re.search(r'function chat +line \d+$', l) for l in chat[5:]), 'chat integrations')
    dash = section(out, 'dashboard')
    check(any(l.startswith('$connect') and 'function dashboard' in l for l in dash),
          'dashboard $connect: %r' % dash)
    demo = section(out, 'demo')
    check(any(re.match(r'GET +/hello/\{name\} +function hello +line \d+$', l) for l in demo),
          'demo GET /hello/{name}: %r' % demo)
    check(any(re.match(r'POST +/orders +mock 201 +line', l) for l in demo), 'mock status')
    check(any(re.match(r'\* +\$default +mock 404', l) for l in demo), 'demo $default')
    check(any(re.match(r'GET +/secure/hello +mock 200 +line \d+  authorizer demo-jwt '
                       r'\(scopes: read\)$', l) for l in demo), 'JWT route: %r' % demo)
    check('authorizer demo-jwt: jwt' in demo and 'CORS: yes' in demo and
          'resource policy of stage prod: yes' in demo, 'demo access lines: %r' % demo[:8])
    site = section(out, 'site')
    check(any(re.match(r'GET +/chat/\{file\+\} +static \(1 file, index index\.html\)', l)
              for l in site), 'static route: %r' % site)
    check('schedule dashboard-tick: function dashboard every 1000 ms' in out, 'schedule line')
    check('domain 127.0.0.1/chat/ws -> chat/live' in out, 'domain mapping')


CONFIG = '''
server: { listen: ["127.0.0.1:0"], default_api: h }
admin: { listen: "127.0.0.1:0", token: "0123456789abcdef0123456789abcdef" }
functions: { dir: "%(dir)s" }
apis:
  h:
    stages: { s: {} }
    routes:
      "GET /a/{b}": { integration: { type: function, function: f } }
      "GET /files/{file+}": { integration: { type: static, root: "%(dir)s/www" } }
      "ANY /m": { integration: { type: mock, status: 204, chunked: true } }
  w:
    protocol: websocket
    route_selection: $request.body.msg.kind
    stages: { s: {} }
    routes:
      $connect: { integration: { type: mock } }
      join: { integration: { type: function, function: f } }
schedules:
  t: { function: f, every_ms: 250 }
'''


@tap.case('routes: a configuration with every kind of API and integration')
def _():
    with tempfile.TemporaryDirectory(prefix='fngate-it-routes-') as d:
        os.mkdir(os.path.join(d, 'www'))
        with open(os.path.join(d, 'www', 'x.txt'), 'w') as f:
            f.write('x\n')
        path = os.path.join(d, 'all.yaml')
        with open(path, 'w') as f:
            f.write(CONFIG % {'dir': d})
        out = routes_of(path)
    h = section(out, 'h')
    check(any(re.match(r'GET +/a/\{b\} +function f', l) for l in h), 'function: %r' % h)
    check(any(re.match(r'GET +/files/\{file\+\} +static \(1 file, index index\.html\)', l) for l in h),
          'static: %r' % h)
    check(any(re.match(r'ANY +/m +mock 204 chunked', l) for l in h), 'mock: %r' % h)
    w = section(out, 'w')
    eq(w[1], 'route selection: $request.body.msg.kind', 'custom route selection')
    check(re.match(r'\$connect +mock 200 +line \d+$', w[3]), '$connect: %r' % w[3])
    check(re.match(r'join +function f +line \d+$', w[4]), 'join: %r' % w[4])
    check('schedule t: function f every 250 ms' in out, 'schedule')
    check('admin API on 127.0.0.1:0' in out, 'admin listener')


if __name__ == '__main__':
    tap.run()
