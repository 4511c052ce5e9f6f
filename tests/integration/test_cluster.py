#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cluster's foundation (issue 17): gateways sharing one Redis.

The test starts its own redis-server on a free loopback port (no persistence, its own
directory, stopped by pid) and three gateways with `cluster:` pointing at it: each appears in
the others' GET /@cluster within two seconds; a node killed with SIGKILL is gone within
node_ttl_ms (+ slack), a node stopped with SIGTERM at once (it leaves); Redis stopped mid-run:
the gateways keep serving mock routes, log `cluster: redis down` once, answer /@cluster with
503 and redis.up false, and show fngate_cluster_redis_up 0; Redis restarted on the same port:
`cluster: redis up` with the outage's length, the nodes registered again. AUTH through
password_file (redis --requirepass), a wrong password logged clearly (also when Redis comes
back with another one); a reload that changes
`cluster:` warns that it applies at the next start; `fngate check` refuses bad addresses and
node ids with FILE:LINE:COL; without `cluster:`, /@cluster is a 404. Skipped without
redis-server.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from lib import (BIN, SLOW, Daemon, Tap, check, diag, eq, exchange, free_port, req)
from redislib import REDIS, TOKEN, Cluster, Redis, admin, logs, metric, wait_for

tap = Tap(budget=55)
HEARTBEAT_MS = 200
TTL_MS = 1200


def config(port, node, extra=''):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"], default_api: t }',
        'access_log: { path: off }',
        'admin: { listen: "127.0.0.1:0", token: "%s" }' % TOKEN,
        'apis:',
        '  t:',
        '    stages: { prod: {} }',
        '    routes:',
        '      "GET /m": { integration: { type: mock, body: "mock" } }',
        'cluster:',
        '  redis: "127.0.0.1:%d"' % port,
        '  node_id: %s' % node,
        '  heartbeat_ms: %d' % HEARTBEAT_MS,
        '  node_ttl_ms: %d' % TTL_MS,
        '  reconnect_min_ms: 50',
        '  reconnect_max_ms: 300',
        extra,
    ]) + '\n'


def cluster_json(d):
    r = admin(d, 'GET', '/@cluster')
    check(r.header('content-type') == 'application/json', 'JSON: %r' % r.header('content-type'))
    return r.status, json.loads(r.body)


def node_ids(d):
    status, j = cluster_json(d)
    return sorted(n['id'] for n in j.get('nodes', [])) if status == 200 else None


env = Cluster(tap, ('node-a', 'node-b', 'node-c'),
              lambda n, port: Daemon(config(port, n), listeners=2)).get


@tap.case('three gateways: each appears in GET /@cluster of the others within 2 s')
def _():
    e = env()
    want = ['node-a', 'node-b', 'node-c']
    for n, d in e.nodes.items():
        wait_for('%s lists all three' % n, lambda: node_ids(d) == want, 2.0)
    status, j = cluster_json(e.nodes['node-a'])
    eq(status, 200, 'status')
    eq(j['node'], 'node-a', 'node')
    eq(j['redis'], {'up': True, 'address': '127.0.0.1:%d' % e.port}, 'redis')
    b = [n for n in j['nodes'] if n['id'] == 'node-b'][0]
    roles = sorted(x['role'] for x in b['listeners'])
    eq(roles, ['admin', 'http'], 'node-b advertises its listeners')
    check(b['lastSeenMs'] <= TTL_MS, 'lastSeenMs %r' % b['lastSeenMs'])
    check(b['started'] > 1.6e12, 'started is epoch ms: %r' % b['started'])
    for d in e.nodes.values():
        wait_for('"cluster: redis up" logged', lambda: logs(d, 'cluster: redis up'), 2.0)
        eq(len(logs(d, 'cluster: redis up')), 1, 'one "cluster: redis up" at start')
        eq(metric(d, 'fngate_cluster_redis_up'), 1.0, 'redis_up 1')
        check((metric(d, 'fngate_cluster_commands_total') or 0) > 0, 'commands counted')
    if shutil.which('promtool'):
        text = admin(e.nodes['node-a'], 'GET', '/metrics').body.decode()
        p = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True,
                           text=True, timeout=20)
        eq(p.returncode, 0, 'promtool check metrics: %s' % (p.stdout + p.stderr))
    else:
        diag('promtool not installed: the exposition is not checked by it')


@tap.case('a node killed with SIGKILL disappears within node_ttl_ms (+ slack)')
def _():
    e = env()
    c = e.nodes['node-c']
    c.proc.kill()
    c.proc.wait(5)
    t0 = time.monotonic()
    wait_for('node-c gone', lambda: node_ids(e.nodes['node-a']) == ['node-a', 'node-b'],
             TTL_MS / 1000 + 1.0)
    took = time.monotonic() - t0
    check(took > 0.2, 'not gone before its record expired (%.2f s)' % took)
    eq(node_ids(e.nodes['node-b']), ['node-a', 'node-b'], 'node-b agrees')


@tap.case('Redis stopped mid-run: mock routes still served, "redis down" once, /@cluster 503, '
          'redis_up 0')
def _():
    e = env()
    a, b = e.nodes['node-a'], e.nodes['node-b']
    e.redis.stop(signal.SIGTERM)
    for d in (a, b):
        wait_for('redis down logged', lambda: logs(d, 'cluster: redis down'), 2.0)
    time.sleep(1.0)  # several reconnection attempts against the closed port
    for d in (a, b):
        check(d.alive(), 'the gateway is alive')
        for _ in range(20):
            r = exchange(d.port, req('GET', '/prod/m'))
            eq(r.status, 200, 'mock route while Redis is down')
            eq(r.body, b'mock', 'body')
        down = logs(d, 'cluster: redis down')
        eq(len(down), 1, '"cluster: redis down" logged once for the outage')
        check(down[0].get('level') == 'warn' and down[0].get('error'),
              'a warning with the error: %r' % down[0])
        status, j = cluster_json(d)
        eq(status, 503, '/@cluster while Redis is down')
        eq(j['redis']['up'], False, 'redis.up false')
        check('down' in j.get('message', ''), 'says so: %r' % j)
        eq(metric(d, 'fngate_cluster_redis_up'), 0.0, 'redis_up 0')


@tap.case('Redis restarted on the same port: "redis up" with the outage, nodes registered again')
def _():
    e = env()
    a, b = e.nodes['node-a'], e.nodes['node-b']
    e.redis = Redis(e.port)
    for d in (a, b):
        up = wait_for('redis up logged', lambda: logs(d, 'cluster: redis up')[1:], 3.0)
        check(int(up[0].get('outage_ms', 0)) >= 1000, 'outage_ms: %r' % up[0])
    for d in (a, b):
        wait_for('both nodes listed again', lambda: node_ids(d) == ['node-a', 'node-b'], 2.0)
        eq(metric(d, 'fngate_cluster_redis_up'), 1.0, 'redis_up 1')
        eq(metric(d, 'fngate_cluster_redis_reconnects_total'), 1.0, 'one reconnection')


@tap.case('a reload that changes cluster: warns it applies at the next start')
def _():
    e = env()
    a = e.nodes['node-a']
    obj = a.reload(config(e.port, 'node-a', '  command_timeout_ms: 300'))
    eq(obj.get('msg'), 'config reloaded', 'the rest of the reload applies')
    check(logs(a, 'cluster: changes to the cluster section apply at the next start'),
          'the warning is logged')
    eq(node_ids(a), ['node-a', 'node-b'], 'the cluster still works')


@tap.case('a node stopped with SIGTERM leaves at once (before its record would expire)')
def _():
    e = env()
    b = e.nodes['node-b']
    t0 = time.monotonic()
    eq(b.stop(), 0, 'exit code')
    wait_for('node-b gone', lambda: node_ids(e.nodes['node-a']) == ['node-a'], 1.0)
    check(time.monotonic() - t0 < TTL_MS / 1000 * SLOW, 'gone before node_ttl_ms')


def password_file(dirpath, text):
    p = os.path.join(dirpath, 'redis.pass')
    with open(p, 'w') as f:
        f.write(text + '\n')
    os.chmod(p, 0o600)
    return p


@tap.case('password_file: AUTH with the right password; a wrong one logged clearly, also '
          'when Redis comes back with another password')
def _():
    port = free_port()
    r = Redis(port, password='s3cret-cluster-pass')
    tmp = tempfile.mkdtemp(prefix='fngate-it-pw-')
    try:
        good = password_file(tmp, 's3cret-cluster-pass')
        with Daemon(config(port, 'node-pw', '  password_file: "%s"' % good),
                    listeners=2) as d:
            wait_for('listed', lambda: node_ids(d) == ['node-pw'], 2.0)
            # Redis comes back with another password: the outage's refusal gets its own line.
            r.stop()
            wait_for('down logged', lambda: logs(d, 'cluster: redis down'), 2.0)
            r = Redis(port, password='another-pass')
            ref = wait_for('refusal logged', lambda: logs(
                d, "cluster: redis refused the connection's set-up"), 3.0)
            check(ref[0].get('level') == 'error' and 'WRONGPASS' in ref[0].get('error', ''),
                  'an error with the cause: %r' % ref[0])
            time.sleep(0.5)
            eq(len(logs(d, "cluster: redis refused the connection's set-up")), 1,
               'once, not once per attempt')
            r.stop()
            r = Redis(port, password='s3cret-cluster-pass')
        os.unlink(good)
        bad = password_file(tmp, 'wrong-password')
        with Daemon(config(port, 'node-bad', '  password_file: "%s"' % bad),
                    listeners=2) as d:
            down = wait_for('down logged', lambda: logs(d, 'cluster: redis down'), 2.0)
            err = down[0].get('error', '')
            check('AUTH refused' in err and 'WRONGPASS' in err, 'the cause: %r' % err)
            eq(cluster_json(d)[0], 503, '/@cluster: 503')
            eq(exchange(d.port, req('GET', '/prod/m')).status, 200, 'still serving')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        r.stop()


@tap.case('fngate check refuses a bad cluster section with FILE:LINE:COL')
def _():
    tmp = tempfile.mkdtemp(prefix='fngate-it-check-')
    try:
        cases = [
            ('  redis: "localhost:6379"\n', 'must be IPv4:PORT'),
            ('  redis: "127.0.0.1"\n', 'must be IPv4:PORT'),
            ('  redis: "127.0.0.1:1"\n  node_id: "bad id"\n', 'cluster.node_id'),
            ('  redis: "127.0.0.1:1"\n  node_id: "%s"\n' % ('x' * 65), 'cluster.node_id'),
            ('  redis: "127.0.0.1:1"\n  heartbeat_ms: 1000\n  node_ttl_ms: 1000\n',
             'longer than cluster.heartbeat_ms'),
            ('  redis: "127.0.0.1:1"\n  password_file: nope\n', 'cluster.password_file'),
            ('  redis: "127.0.0.1:1"\n  colour: blue\n', 'unknown key "colour"'),
            ('  node_id: a\n', 'redis'),
        ]
        for body, want in cases:
            p = os.path.join(tmp, 'c.yaml')
            with open(p, 'w') as f:
                f.write('server: { listen: ["127.0.0.1:0"] }\ncluster:\n' + body)
            r = subprocess.run([BIN, 'check', p], capture_output=True, text=True, timeout=10)
            out = r.stdout + r.stderr
            check(r.returncode != 0, 'refused: %r' % body)
            check(want in out, '%r in %r' % (want, out))
            check(re.search(re.escape(p) + r':\d+:\d+: ', out), 'FILE:LINE:COL in %r' % out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@tap.case('without cluster: GET /@cluster is a 404 "no cluster configured"')
def _():
    cfg = config(1, 'x').split('cluster:')[0]
    with Daemon(cfg, listeners=2) as d:
        r = admin(d, 'GET', '/@cluster')
        eq(r.status, 404, 'status')
        eq(json.loads(r.body), {'message': 'no cluster configured'}, 'body')
        eq(metric(d, 'fngate_cluster_redis_up'), None, 'no cluster series')


if __name__ == '__main__':
    if not REDIS:
        print('1..0 # SKIP redis-server not found', flush=True)
        sys.exit(0)
    tap.run()
