#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prometheus metrics (issue 16), through a real daemon: counters and histograms against a
known request mix (counts by status, histogram _count equal to the request count, sums
plausible); label cardinality bounded under 2000 random paths; the admin token rules on
/metrics (401, 403, 200) and the tokenless loopback listener that serves /metrics only (a
non-loopback address refused at config time); counters kept across a reload; function
metrics after a crash and a timeout, a full function's 429 counted as throttled, and the
dashboard's recent errors and deploys; WebSocket connections and messages in and out; the
stages' own counters (cache hit and miss, a throttle refusal by level);
`promtool check metrics` on the exposition; a real Prometheus server scraping the gateway
(the tokenless listener and the admin listener with the bearer token), asked over its HTTP
API whether both targets are up and a sample arrived. TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS; promtool and prometheus (Debian's
`prometheus` package) for the last two cases, which skip without them."""

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import urllib.request

from lib import (BIN, SLOW, Conn, SharedDaemon, Tap, check, diag, eq, exchange, free_port,
                 req, test_so, wait_deployed)
from wsclient import WS

tap = Tap(budget=60, needs_workers=True)
TOKEN = 'test-admin-token-0123456789'
EXPOSITION = 'text/plain; version=0.0.4; charset=utf-8'


def config(fdir, extra_route=''):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"], default_api: t }',
        'access_log: { path: off }',
        'functions: { dir: "%s", defaults: { timeout_ms: 3000, concurrency: 1 } }' % fdir,
        'admin: { listen: "127.0.0.1:0", token: "%s" }' % TOKEN,
        'metrics: { listen: "127.0.0.1:0" }',
        'apis:',
        '  t:',
        '    stages:',
        '      prod: {}',
        '      cached: { cache: { ttl_s: 60 } }',
        '      tight: { route_throttles: { "GET /m": { rate: 1, burst: 1 } } }',
        '    routes:',
        '      "GET /m": { integration: { type: mock, body: "mock" } }',
        '      "GET /down": { integration: { type: mock, status: 503, body: "down" } }',
        '      "GET /ok": { integration: { type: function, function: ok } }',
        '      "GET /crash": { integration: { type: function, function: abuse_segv } }',
        '      "GET /slow": { integration: { type: function, function: abuse_sleep } }',
        '      "GET /busy": { integration: { type: function, function: slow } }',
        '      "GET /obs": { integration: { type: function, function: observe } }',
        extra_route,
        '  chat:',
        '    protocol: websocket',
        '    stages: { s: {} }',
        '    routes:',
        '      $default: { integration: { type: mock, body: "echo" } }',
        'domains:',
        '  ws.test: [ { base_path: /, api: chat, stage: s } ]',
    ]) + '\n'


def _setup(d, fdir):
    mark = d.log_mark()
    fdir.install('ok', test_so('ok'))
    fdir.install('abuse_segv', test_so('abuse_segv'))
    fdir.install('abuse_sleep', test_so('abuse_sleep'), manifest='timeout_ms: 300\n')
    fdir.install('slow', test_so('slow'), manifest='concurrency: 1\nqueue: 0\n'
                 'env: { FNG_TEST_SLEEP_MS: "600" }\n')
    fdir.install('observe', test_so('observe'))
    wait_deployed(d, ['ok', 'abuse_segv', 'abuse_sleep', 'slow', 'observe'], mark)


Env = SharedDaemon(tap, config, _setup, listeners=3)


def api_port():
    return Env.get().addrs[0][1]


def admin_port():
    return Env.get().addrs[1][1]


def metrics_port():
    return Env.get().addrs[2][1]


def get(path):
    return exchange(api_port(), req('GET', path))


def admin(path, token=TOKEN):
    headers = [('Authorization', 'Bearer ' + token)] if token is not None else []
    return exchange(admin_port(), req('GET', path, host='127.0.0.1', headers=headers))


def scrape_text():
    r = exchange(metrics_port(), req('GET', '/metrics', host='127.0.0.1'))
    eq(r.status, 200, 'GET /metrics on the metrics listener')
    return r.body.decode()


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        head, _, value = line.rpartition(' ')
        name, labels = head, ()
        if '{' in head:
            name, _, rest = head.partition('{')
            labels = tuple(tuple(kv.split('=', 1)) for kv in split_labels(rest[:-1]))
            labels = tuple((k, json.loads(v)) for k, v in labels)
        out[(name, labels)] = float(value)
    return out


def split_labels(s):
    parts, cur, quoted, esc = [], '', False, False
    for ch in s:
        if esc:
            cur += ch
            esc = False
        elif ch == '\\':
            cur += ch
            esc = True
        elif ch == '"':
            cur += ch
            quoted = not quoted
        elif ch == ',' and not quoted:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def value(m, name, **labels):
    want = tuple(sorted(labels.items()))
    return sum(v for (n, ls), v in m.items() if n == name and
               all(item in ls for item in want))


def series(m, name):
    return [ls for (n, ls) in m if n == name]


def route(r, **more):
    return dict(api='t', stage='prod', route=r, **more)


@tap.case('a known request mix: counts by status, 4xx and 5xx, histogram _count = requests')
def _():
    before = parse(scrape_text())
    for _ in range(7):
        eq(get('/prod/m').status, 200, 'mock')
    for _ in range(2):
        eq(get('/prod/down').status, 503, 'mock 503')
    for _ in range(3):
        eq(get('/prod/nope').status, 404, 'no route')
    after = parse(scrape_text())

    def d(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    eq(d('fngate_requests_total', **route('GET /m')), 7, 'requests_total of GET /m')
    eq(d('fngate_responses_total', **route('GET /m', code='200')), 7, '200s of GET /m')
    eq(d('fngate_5xx_errors_total', **route('GET /down')), 2, '5xx of GET /down')
    eq(d('fngate_responses_total', **route('GET /down', code='503')), 2, '503s')
    eq(d('fngate_4xx_errors_total', **route('$unmatched')), 3, '4xx of unmatched requests')
    eq(d('fngate_4xx_errors_total', **route('GET /m')), 0, 'no 4xx on GET /m')
    eq(d('fngate_latency_seconds_count', **route('GET /m')), 7, 'latency _count = requests')
    eq(d('fngate_latency_seconds_bucket', le='+Inf', **route('GET /m')), 7, '+Inf bucket')
    eq(d('fngate_integration_latency_seconds_count', **route('GET /m')), 7,
       'integration latency _count')
    s = d('fngate_latency_seconds_sum', **route('GET /m'))
    check(0 < s < 7 * 0.5, 'latency sum plausible: %r s for 7 mock answers' % s)
    le_1s = d('fngate_latency_seconds_bucket', le='1', **route('GET /m'))
    eq(le_1s, 7, 'every mock answer under a second')
    diag('7 mock answers took %.0f µs in all' % (s * 1e6))


@tap.case('label cardinality stays bounded under 2000 random paths')
def _():
    n0 = len(series(parse(scrape_text()), 'fngate_requests_total'))
    rnd = random.Random(16)
    with Conn(api_port()) as c:
        for i in range(2000):
            p = '/prod/x%08x/%d' % (rnd.getrandbits(32), i)
            c.send(req('GET', p))
            eq(c.read_response().status, 404, 'random path')
    m = parse(scrape_text())
    n1 = len(series(m, 'fngate_requests_total'))
    check(n1 <= n0 + 1, 'requests_total series: %d before, %d after' % (n0, n1))
    check(not any('x' in v and v.startswith('/prod') for ls in series(m, 'fngate_responses_total')
                  for _, v in ls), 'no raw path in a label')
    check(len(m) < 2000, '%d samples in all' % len(m))


@tap.case('/metrics: 401 without the admin token, 403 with a wrong one, 200 with it')
def _():
    eq(admin('/metrics', token=None).status, 401, 'no token')
    eq(admin('/metrics', token='wrong-token-0123456789').status, 403, 'wrong token')
    r = admin('/metrics')
    eq(r.status, 200, 'the token')
    eq(r.header('content-type'), EXPOSITION, 'Content-Type')
    check(b'# TYPE fngate_requests_total counter' in r.body, 'the exposition')
    r = admin('/metrics/recent')
    eq(r.status, 200, '/metrics/recent')
    j = json.loads(r.body)
    check(isinstance(j.get('errors'), list) and isinstance(j.get('deploys'), list),
          'errors and deploys')


@tap.case('the tokenless listener serves /metrics only; a non-loopback address is refused')
def _():
    r = exchange(metrics_port(), req('GET', '/metrics', host='127.0.0.1'))
    eq((r.status, r.header('content-type')), (200, EXPOSITION), 'no token needed')
    for p in ('/', '/metrics/recent', '/@connections', '/prod/m'):
        eq(exchange(metrics_port(), req('GET', p, host='127.0.0.1')).status, 404, p)
    eq(exchange(metrics_port(), req('POST', '/metrics', host='127.0.0.1', body=b'')).status,
       405, 'POST')
    tmp = tempfile.mkdtemp(prefix='fngate-it-')
    try:
        path = os.path.join(tmp, 'bad.yaml')
        with open(path, 'w') as f:
            f.write('metrics: { listen: "0.0.0.0:9100" }\n'
                    'apis: { t: { stages: { s: {} }, routes: { "GET /": '
                    '{ integration: { type: mock } } } } }\n')
        p = subprocess.run([BIN, 'check', path], capture_output=True, text=True, timeout=10)
        eq(p.returncode, 1, 'fngate check refuses it')
        check('bad.yaml:1:21: metrics.listen "0.0.0.0:9100" must be a loopback address'
              in p.stderr + p.stdout, 'FILE:LINE:COL error: %r' % (p.stderr + p.stdout))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@tap.case('function metrics after a crash and a timeout; recent errors and deploys')
def _():
    before = parse(scrape_text())
    eq(get('/prod/ok').status, 200, 'ok')
    r = get('/prod/crash')
    eq(r.status, 502, 'crash')
    crash_id = r.header('x-request-id') or ''
    eq(get('/prod/slow').status, 504, 'timeout')
    time.sleep(0.2 * SLOW)
    m = parse(scrape_text())

    def d(name, **labels):
        return value(m, name, **labels) - value(before, name, **labels)
    eq(d('fngate_function_errors_total', function='abuse_segv', cause='crash'), 1,
       'errors{cause=crash}')
    eq(d('fngate_function_errors_total', function='abuse_sleep', cause='timeout'), 1,
       'errors{cause=timeout}')
    eq(d('fngate_function_invocations_total', function='ok'), 1, 'invocations of ok')
    check(value(m, 'fngate_function_cold_start_seconds_count', function='ok') >= 1,
          'a cold start of ok')
    check(value(m, 'fngate_function_deploys_total', function='ok', result='deployed') >= 1,
          'deploys{result=deployed}')
    check(value(m, 'fngate_function_respawns_total', function='abuse_segv') >= 1,
          'the crashed worker counted as a respawn')
    check(any(dict(ls).get('function') == 'ok' for ls in series(m, 'fngate_function_workers')),
          'workers gauge of ok')
    eq(d('fngate_5xx_errors_total', **route('GET /crash')), 1, '5xx of GET /crash')
    j = json.loads(admin('/metrics/recent').body)
    crash = [e for e in j['errors'] if e['route'] == 'GET /crash']
    check(crash, 'the crash among the recent errors: %r' % j['errors'][-3:])
    e = crash[-1]
    eq((e['status'], e['cause'], e['function'], e['api'], e['stage']),
       (502, 'crash', 'abuse_segv', 't', 'prod'), 'its fields')
    check(e['version'] and len(e['version']) == 16, 'its version: %r' % e['version'])
    check('abuse_segv' in e['error'] and e['requestId'], 'its message and request id')
    if crash_id:
        eq(e['requestId'], crash_id, 'the request id the client got')
    check(e['time'].endswith('Z') and 'T' in e['time'], 'time: %r' % e['time'])
    slow = [e for e in j['errors'] if e['route'] == 'GET /slow']
    check(slow and slow[-1]['cause'] == 'timeout' and slow[-1]['status'] == 504, 'timeout')
    names = {dep['function'] for dep in j['deploys'] if dep['event'] == 'deployed'}
    check({'ok', 'abuse_segv', 'abuse_sleep', 'slow'} <= names, 'deploys: %r' % names)


@tap.case('per-invocation cost: a 20 ms CPU spin lands in fngate_function_cpu_seconds, the '
          'worker\'s peak memory in fngate_function_max_rss_bytes')
def _():
    before = parse(scrape_text())
    eq(get('/prod/obs?spin_ms=20').status, 200, 'observe')
    m = parse(scrape_text())

    def d(name):
        return value(m, name, function='observe') - value(before, name, function='observe')
    eq(d('fngate_function_cpu_seconds_count'), 1, 'one CPU sample')
    cpu = d('fngate_function_cpu_seconds_sum')
    check(0.018 <= cpu < 0.4, 'its CPU time: %.4f s for a 20 ms spin' % cpu)
    eq(d('fngate_function_max_rss_bytes_count'), 1, 'one memory sample')
    check(d('fngate_function_max_rss_bytes_sum') > 100 * 1024,
          'its peak memory: %d bytes' % d('fngate_function_max_rss_bytes_sum'))


@tap.case('a full function (one worker, no queue) answers 429: counted as throttled')
def _():
    before = parse(scrape_text())
    with Conn(api_port()) as first:
        first.send(req('GET', '/prod/busy'))
        time.sleep(0.15 * SLOW)
        r = get('/prod/busy')
        eq(r.status, 429, 'the second request while the only worker is busy')
        eq(first.read_response(timeout=5 * SLOW).status, 200, 'the first one')
    m = parse(scrape_text())
    eq(value(m, 'fngate_function_throttled_total', function='slow') -
       value(before, 'fngate_function_throttled_total', function='slow'), 1, 'throttled_total')
    eq(value(m, 'fngate_responses_total', **route('GET /busy', code='429')) -
       value(before, 'fngate_responses_total', **route('GET /busy', code='429')), 1,
       'responses_total{code=429}')
    j = json.loads(admin('/metrics/recent').body)
    e = [x for x in j['errors'] if x['route'] == 'GET /busy']
    check(e and e[-1]['status'] == 429 and e[-1]['cause'] == 'throttled' and
          e[-1]['function'] == 'slow', 'in the recent errors: %r' % e[-1:])


@tap.case('WebSocket: open connections, messages in and out, by API')
def _():
    before = parse(scrape_text())
    a = WS(api_port(), path='/', host='ws.test')
    b = WS(api_port(), path='/', host='ws.test')
    eq((a.status, b.status), (101, 101), 'two connections')
    for _ in range(3):
        a.text('hi')
        eq(a.recv_message()[1], b'echo', 'the answer')
    m = parse(scrape_text())
    eq(value(m, 'fngate_ws_connections', api='chat'), 2, 'connections gauge')
    eq(value(m, 'fngate_ws_messages_in_total', api='chat') -
       value(before, 'fngate_ws_messages_in_total', api='chat'), 3, 'messages in')
    eq(value(m, 'fngate_ws_messages_out_total', api='chat') -
       value(before, 'fngate_ws_messages_out_total', api='chat'), 3, 'messages out')
    eq(value(m, 'fngate_requests_total', api='chat', route='$default') -
       value(before, 'fngate_requests_total', api='chat', route='$default'), 3,
       'each message a request of its route')
    a.close()
    b.close()
    deadline = time.monotonic() + 3 * SLOW
    while time.monotonic() < deadline and value(parse(scrape_text()), 'fngate_ws_connections',
                                                   api='chat'):
        time.sleep(0.05)
    eq(value(parse(scrape_text()), 'fngate_ws_connections', api='chat'), 0, 'closed: 0')


@tap.case('the stages\' own counters: cache hit and miss, a throttle refusal by level')
def _():
    before = parse(scrape_text())
    eq(get('/cached/m').header('x-cache'), 'miss', 'first: miss')
    eq(get('/cached/m').header('x-cache'), 'hit', 'second: hit')
    eq(get('/tight/m').status, 200, 'the burst of 1')
    eq(get('/tight/m').status, 429, 'then refused')
    m = parse(scrape_text())

    def d(name, **labels):
        return value(m, name, **labels) - value(before, name, **labels)
    eq(d('fngate_cache_requests_total', api='t', stage='cached', result='miss'), 1, 'miss')
    eq(d('fngate_cache_requests_total', api='t', stage='cached', result='hit'), 1, 'hit')
    eq(d('fngate_throttle_refusals_total', api='t', stage='tight', level='route'), 1,
       'a refusal of the route throttle')


@tap.case('a reload (SIGHUP) keeps every counter')
def _():
    d = Env.get()
    for _ in range(3):
        get('/prod/m')
    before = value(parse(scrape_text()), 'fngate_requests_total', **route('GET /m'))
    o = d.reload(d.fmt(config(Env.fdir.path,
                              '      "GET /new": { integration: { type: mock } }')))
    eq(o.get('msg'), 'config reloaded', 'reloaded')
    get('/prod/m')
    get('/prod/new')
    m = parse(scrape_text())
    eq(value(m, 'fngate_requests_total', **route('GET /m')), before + 1,
       'GET /m counted on from where it was')
    eq(value(m, 'fngate_requests_total', **route('GET /new')), 1, 'the new route')


def have(tool):
    return shutil.which(tool) is not None


@tap.case('promtool check metrics passes on the exposition')
def _():
    if not have('promtool'):
        diag('SKIP: promtool not installed (Debian package prometheus)')
        return
    text = scrape_text()
    p = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True,
                       text=True, timeout=20)
    eq(p.returncode, 0, 'promtool check metrics: %s' % (p.stdout + p.stderr))
    diag('%d lines checked' % text.count('\n'))


def prom_get(port, path):
    with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=3) as r:
        return json.loads(r.read())


@tap.case('a real Prometheus scrapes the gateway (tokenless listener and bearer token)')
def _():
    if not have('prometheus'):
        diag('SKIP: prometheus not installed (Debian package prometheus)')
        return
    Env.get()
    tmp = tempfile.mkdtemp(prefix='fngate-it-prom-')
    port = free_port()
    with open(os.path.join(tmp, 'prometheus.yml'), 'w') as f:
        f.write('\n'.join([
            'global: { scrape_interval: 1s, scrape_timeout: 1s }',
            'scrape_configs:',
            '  - job_name: fngate',
            '    static_configs: [ { targets: ["127.0.0.1:%d"] } ]' % metrics_port(),
            '  - job_name: fngate-admin',
            '    authorization: { type: Bearer, credentials: "%s" }' % TOKEN,
            '    static_configs: [ { targets: ["127.0.0.1:%d"] } ]' % admin_port(),
        ]) + '\n')
    log = open(os.path.join(tmp, 'prometheus.log'), 'wb')
    proc = subprocess.Popen(['prometheus', '--config.file=' + os.path.join(tmp, 'prometheus.yml'),
                             '--storage.tsdb.path=' + os.path.join(tmp, 'data'),
                             '--web.listen-address=127.0.0.1:%d' % port],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        deadline = time.monotonic() + 25 * SLOW
        up, sample = {}, None
        while time.monotonic() < deadline:
            get('/prod/m')
            try:
                t = prom_get(port, '/api/v1/targets')
                up = {a['labels']['job']: a['health']
                      for a in t['data']['activeTargets']}
                q = prom_get(port, '/api/v1/query?query=fngate_requests_total'
                             '%7Broute%3D%22GET%20%2Fm%22%7D')
                res = q['data']['result']
                if res and up.get('fngate') == 'up' and up.get('fngate-admin') == 'up':
                    sample = res
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        eq(up, {'fngate': 'up', 'fngate-admin': 'up'}, 'both targets up')
        check(sample and float(sample[0]['value'][1]) > 0,
              'fngate_requests_total{route="GET /m"} arrived: %r' % sample)
        diag('Prometheus saw %s' % sample[0]['value'][1] if sample else '')
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


tap.run()
