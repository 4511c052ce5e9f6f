#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Limits and quotas across nodes (issue 17): three gateways on loopback sharing one Redis.

The test starts its own redis-server (no persistence) on a free loopback port and stops it by
its pid. Checked: a global token bucket under load from clients spread over the three nodes
accepts at most rate x elapsed + burst (+2 %) and not much less; a usage plan's quota is exact
across the nodes, and after `kill -9` of one of them errs towards refusing by less than one
batch; Redis stopped in the middle of a run: limits fall back to rate/N per node (no 5xx, a
log line, the degraded gauge), a closed quota answers 503 and an open one serves; Redis
started again empty: limits shared again, and quotas rebuilt from the nodes' shares (the
hold) so that the quota is still not exceeded."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import BIN, Conn, Daemon, Tap, check, diag, eq, exchange, free_port, req  # noqa: E402
from redislib import TOKEN, Redis, admin, wait_for  # noqa: E402

tap = Tap(budget=100.0)
RATE, BURST = 200, 40


def config(state_dir, rport, node, prefix):
    return '''
server:
  listen: ["127.0.0.1:0"]
  default_api: t
  state_dir: "%s"
admin: { listen: "127.0.0.1:0", token: "%s" }
metrics: { listen: "127.0.0.1:0" }
cluster:
  redis: "127.0.0.1:%d"
  node_id: "%s"
  key_prefix: "%s"
  lease: 4
  lease_ms: 50
  expected_nodes: 3
  command_timeout_ms: 300
apis:
  t:
    stages:
      g: { throttle: { rate: %d, burst: %d } }
      down: { throttle: { rate: 300, burst: 30 } }
      q: {}
      q2: {}
    routes:
      "GET /hi": { integration: { type: mock, body: "hi" } }
      "GET /k": { api_key_required: true, integration: { type: mock, body: "ok" } }
      "GET /k2": { api_key_required: true, integration: { type: mock, body: "ok" } }
usage_plans:
  exact:
    quota: { limit: 60, period: day, batch: 5 }
    on_store_failure: closed
    stages: [{ api: t, stage: q }]
  big:
    quota: { limit: 20, period: day, batch: 10 }
    on_store_failure: closed
    stages: [{ api: t, stage: q2 }]
''' % (state_dir, TOKEN, rport, node, prefix, RATE, BURST)


class Cluster:
    def __init__(self):
        self.state = tempfile.mkdtemp(prefix='fngate-cluster-')
        self.redis = Redis(free_port())
        self.prefix = 'fngt%d:' % os.getpid()
        self.nodes = [None] * 3
        for i in range(3):
            self.start(i)

    def start(self, i):
        d = Daemon(config(os.path.join(self.state, 'st'), self.redis.port, 'n%d' % (i + 1),
                          self.prefix), listeners=3)
        self.nodes[i] = d
        # Until a node has reached Redis its decisions are the failure policy's (rate/N).
        d.wait_log(lambda o: o.get('msg') == 'cluster: redis up')
        return d

    def stop(self):
        for d in self.nodes:
            if d:
                d.stop()
        self.redis.stop()
        shutil.rmtree(self.state, ignore_errors=True)


_env = []


def env():
    if not _env:
        _env.append(Cluster())
        tap.on_exit(_env[0].stop)
    return _env[0]


def metrics(d):
    return exchange(d.addrs[2][1], req('GET', '/metrics', host='127.0.0.1')).body.decode()


def load(ports, path, seconds, per_node=2, headers=()):
    """Clients on keep-alive connections, per_node of them per port, for `seconds`: the
    status counts and the elapsed time from the first request to the last answer."""
    counts = {}
    lock = threading.Lock()
    stop_at = [0.0]

    def client(port):
        mine = {}
        with Conn(port) as c:
            while time.monotonic() < stop_at[0]:
                c.send(req('GET', path, headers=headers))
                r = c.read_response()
                mine[r.status] = mine.get(r.status, 0) + 1
        with lock:
            for k, v in mine.items():
                counts[k] = counts.get(k, 0) + v

    threads = [threading.Thread(target=client, args=(p,)) for p in ports for _ in range(per_node)]
    start = time.monotonic()
    stop_at[0] = start + seconds
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts, time.monotonic() - start


@tap.case('a global bucket under load from clients on three nodes: accepted <= rate x elapsed + burst (+2 %)')
def _():
    e = env()
    ports = [d.port for d in e.nodes]
    counts, elapsed = load(ports, '/g/hi', 4.0)
    ok = counts.get(200, 0)
    allowed = (RATE * elapsed + BURST) * 1.02
    diag('statuses %r in %.2f s: %.1f %% of rate x elapsed + burst' %
         (counts, elapsed, 100.0 * ok / (RATE * elapsed + BURST)))
    check(ok <= allowed, '%d accepted in %.2f s: at most %.1f' % (ok, elapsed, allowed))
    check(ok >= 0.9 * RATE * elapsed, '%d accepted in %.2f s: the leases cost at most 10 %%'
          % (ok, elapsed))
    check(counts.get(429, 0) > ok, 'the clients were well above the limit: %r' % counts)
    eq(sorted(counts), [200, 429], 'only 200 and 429')
    m = metrics(e.nodes[0])
    check('fngate_cluster_round_trips_total{feature="limits"}' in m, 'round trips are counted')


@tap.case('a quota exact across three nodes: limit 60, batch 5, requests round robin')
def _():
    e = env()
    r = admin(e.nodes[0], 'POST', '/@keys', {'plans': ['exact']})
    eq(r.status, 201, 'POST /@keys')
    key = r.json()['key']
    h = ['x-api-key: ' + key]
    got = []
    for i in range(90):
        got.append(exchange(e.nodes[i % 3].port, req('GET', '/q/k', headers=h)).status)
    eq(got.count(200), 60, 'exactly the quota granted (%r)' % got)
    eq(got.count(429), 30, 'the rest refused')
    check(all(s == 429 for s in got[62:]), 'every node refuses once the quota is used up')


@tap.case('kill -9 of a node holding part of a batch: the quota errs towards refusing, by less than one batch')
def _():
    e = env()
    r = admin(e.nodes[0], 'POST', '/@keys', {'plans': ['exact']})
    key = r.json()['key']
    h = ['x-api-key: ' + key]
    ok = 0
    for i in range(33):  # 11 each: every node holds 4 of its third batch of 5
        ok += exchange(e.nodes[i % 3].port, req('GET', '/q/k', headers=h)).status == 200
    eq(ok, 33, 'all granted before the kill')
    e.nodes[2].proc.send_signal(signal.SIGKILL)
    e.nodes[2].proc.wait()
    e.nodes[2].cleanup()
    e.nodes[2] = None
    for i in range(60):
        ok += exchange(e.nodes[i % 2].port, req('GET', '/q/k', headers=h)).status == 200
    diag('granted with a node killed: %d of 60' % ok)
    check(56 <= ok <= 60, 'granted in all %d: the quota, less at most what the dead node held '
          '(4, under one batch)' % ok)
    d = e.start(2)
    eq(exchange(d.port, req('GET', '/q/k', headers=h)).status, 429,
       'the restarted node (same node id) sees the quota used up')


@tap.case('Redis stopped mid-run: limits rate/N per node, a closed quota 503, logs and the gauge; restarted empty: shared again, quotas rebuilt')
def _():
    e = env()
    r = admin(e.nodes[0], 'POST', '/@keys', {'plans': ['exact']})
    key = r.json()['key']
    h = ['x-api-key: ' + key]
    ok = 0
    for i in range(30):
        ok += exchange(e.nodes[i % 3].port, req('GET', '/q/k', headers=h)).status == 200
    eq(ok, 30, 'granted before the stop')
    marks = [d.log_mark() for d in e.nodes]
    e.redis.stop(signal.SIGKILL)
    ports = [d.port for d in e.nodes]
    counts, elapsed = load(ports, '/down/hi', 2.0, per_node=1)
    diag('while Redis is down: %r in %.2f s' % (counts, elapsed))
    eq(sorted(counts), [200, 429], 'limits on rate/N: 200 and 429, no 5xx')
    allowed = (300 * elapsed + 30) * 1.05
    check(counts[200] <= allowed, '%d accepted: at most N x rate/N x elapsed + burst (%.0f)'
          % (counts[200], allowed))
    for d, m in zip(e.nodes, marks):
        d.wait_log(lambda o: o.get('msg') == 'cluster store unavailable' and
                   o.get('feature') == 'limits', since=m)
        check('fngate_cluster_store_degraded{feature="limits"} 1' in metrics(d),
              'the degraded gauge is 1')
    eq(exchange(e.nodes[0].port, req('GET', '/q/k', headers=h)).status, 503,
       'a quota with on_store_failure: closed answers 503 while Redis is down')
    u = admin(e.nodes[1], 'GET', '/@keys/%s/usage' % r.json()['id'])
    eq(u.status, 503, 'usage, kept in Redis, answers 503 while Redis is down (%r)' % u.body)
    check(b'did not answer' in u.body, 'and says why: %r' % u.body)
    for d in e.nodes:
        check(d.alive(), 'no crash')
    e.redis = Redis(e.redis.port)  # empty: no persistence
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if exchange(e.nodes[0].port, req('GET', '/g/hi')).status == 200 and \
           'fngate_cluster_store_degraded{feature="limits"} 0' in metrics(e.nodes[0]):
            break
        time.sleep(0.2)
    e.nodes[0].wait_log(lambda o: o.get('msg') == 'cluster store answering again', since=marks[0])
    # The quota: 30 used before the restart; the nodes put their shares back (the hold).
    time.sleep(3.5)
    for i in range(60):
        ok += exchange(e.nodes[i % 3].port, req('GET', '/q/k', headers=h)).status == 200
    diag('granted across the Redis restart: %d of 60' % ok)
    check(ok <= 60, 'the quota is not exceeded after Redis came back empty: %d granted' % ok)
    check(ok >= 55, 'and not much refused: %d granted' % ok)
    counts, elapsed = load([d.port for d in e.nodes], '/g/hi', 2.0, per_node=1)
    allowed = (RATE * elapsed + BURST) * 1.02
    diag('after the restart: %r in %.2f s' % (counts, elapsed))
    check(counts.get(200, 0) <= allowed, 'shared again: %d accepted, at most %.0f' %
          (counts.get(200, 0), allowed))



def usage_used(d, kid):
    r = admin(d, 'GET', '/@keys/%s/usage' % kid)
    eq(r.status, 200, 'GET /@keys/{id}/usage')
    return r.json()['usage'][0]['used']


def cli_used(d, kid):
    p = subprocess.run([BIN, 'keys', '-c', d.config_path, 'usage', kid],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    eq(p.returncode, 0, 'fngate keys usage: %s' % p.stderr.decode())
    out = p.stdout.decode()
    m = re.search(r'used (\d+),', out)
    check(m and 'counted across the cluster' in out, 'a cluster-wide count: %r' % out)
    return int(m.group(1)) if m else -1


@tap.case('usage of a quota spent on three nodes: GET /@keys/{id}/usage on any node and `fngate keys usage` show the cluster-wide count')
def _():
    e = env()
    r = admin(e.nodes[0], 'POST', '/@keys', {'plans': ['exact']})
    kid, key = r.json()['id'], r.json()['key']
    h = ['x-api-key: ' + key]
    for i in range(24):  # 8 on each node: every node holds 2 of its second batch of 5
        eq(exchange(e.nodes[i % 3].port, req('GET', '/q/k', headers=h)).status, 200, 'granted')
    for d in e.nodes:
        u = usage_used(d, kid)
        check(24 <= u <= 24 + 2 * 2, 'at once: the count of every node (%d), over only by '
              'what the other nodes hold unspent' % u)
    # Unspent batches go back after about two idle seconds: then the count is exact.
    for d in e.nodes:
        wait_for('usage 24 on every node', lambda: usage_used(d, kid) == 24, 8)
    eq(admin(e.nodes[1], 'GET', '/@keys/%s/usage' % kid).json().get('source'), 'cluster',
       'the source says where the count comes from')
    eq(cli_used(e.nodes[2], kid), 24, '`fngate keys usage` counts every node too')


@tap.case('a node stopped cleanly (SIGTERM) gives back its unspent batch: the others can spend the whole quota')
def _():
    e = env()
    r = admin(e.nodes[0], 'POST', '/@keys', {'plans': ['big']})
    key = r.json()['key']
    h = ['x-api-key: ' + key]
    eq(exchange(e.nodes[2].port, req('GET', '/q2/k2', headers=h)).status, 200,
       'node 3 reserves a batch of 10 and spends 1')
    eq(e.nodes[2].stop(), 0, 'node 3 exits 0')
    e.nodes[2] = None
    got = [exchange(e.nodes[i % 2].port, req('GET', '/q2/k2', headers=h)).status
           for i in range(25)]
    eq(got.count(200), 19, 'the two others grant the 19 left (%r)' % got)
    e.start(2)


@tap.case('every node exits 0 on SIGTERM (nothing pending in the shared stores leaks or crashes)')
def _():
    e = env()
    for i, d in enumerate(e.nodes):
        rc = d.stop()
        eq(rc, 0, 'node %d exit code; stderr tail:\n%s' % (i + 1, d.stderr_tail))
        e.nodes[i] = None


if __name__ == '__main__':
    tap.run()
