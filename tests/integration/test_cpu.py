#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""CPU isolation through a real daemon: a function spinning on every worker it has (abuse_spin,
concurrency 2) beside a victim function (ok). The spinner's requests end in 504 at their
deadline; meanwhile the victim keeps answering, the spinner's workers sit in cpu cgroups of
their own below the supervisor's idle "workers" group, each idle itself once busy, and
the gateway sits beside them in "gateway". With `functions.cpu_isolation: false` the workers
get no cpu cgroup. Timing assertions are loose (a shared, noisy machine): the figures are in
bench/cpu_isolation.sh and docs/BENCHMARKS.md. TAP output; skips without v1 cpu cgroups.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS (tests/functions in the build tree)."""

import os
import statistics
import threading
import time

from lib import (Conn, Daemon, Fail, FnDir, Tap, check, check_json_error, diag, eq, fn_config,
                 install_batches, req, supervisor_pid, test_so, worker_pids)

tap = Tap(budget=60, needs_workers=True)
DEADLINE_MS = 3000
# One function weighs 10000 on cgroup v2's scale, split among its `concurrency` workers;
# v1's cpu.shares counts 1024 where v2 counts 100.
FULL_SHARES = 10000 // 2 * 1024 // 100

_state = {}


def cgroup_of(pid, controller='cpu'):
    """pid's path in the v1 hierarchy holding controller, or None."""
    try:
        with open('/proc/%d/cgroup' % pid) as f:
            for line in f:
                _, ctrls, path = line.rstrip('\n').split(':', 2)
                if controller in ctrls.split(','):
                    return '' if path == '/' else path
    except OSError:
        pass
    return None


def cpu_mount():
    with open('/proc/self/mounts') as f:
        for line in f:
            parts = line.split()
            if parts[2] == 'cgroup' and 'cpu' in parts[3].split(','):
                return parts[1]
    return None


def cpu_file(rel, name):
    with open(os.path.join(cpu_mount() + rel, name)) as f:
        return int(f.read().split()[0])


def daemon(isolation=True):
    """A daemon serving ok (the victim) and spin (abuse_spin, concurrency 2), started once."""
    key = 'on' if isolation else 'off'
    if key not in _state:
        fdir = FnDir()
        cfg = fn_config(fdir.path, [('GET /ok', 'ok'), ('GET /spin', 'spin')],
                        grants='ok: { max: { memory_mb: 1024 } }')
        if not isolation:
            cfg = cfg.replace('functions:\n', 'functions:\n  cpu_isolation: false\n')
        d = Daemon(cfg)
        _state[key] = (d, fdir)
        install_batches(d, fdir, [
            # memory_mb: room for an ASan-instrumented victim's quarantine over the ~10^4
            # requests of the spin case (its default 128 MB runs out there).
            ('ok', test_so('ok'), 'concurrency: 2\nmemory_mb: 1024\n'),
            ('spin', test_so('abuse_spin'), 'concurrency: 2\nqueue: 4\ntimeout_ms: %d\n'
             % DEADLINE_MS)])
        host = d.wait_log(lambda o: o.get('msg') == 'function host', timeout=5)
        _state[key + '-sandbox'] = (host or {}).get('sandbox', '')
    d, _ = _state[key]
    check(d.alive(), 'daemon died; stderr:\n%s' % d.stderr_text())
    return d


def need_v1_cpu():
    d = daemon()
    if '(v1 cpu.shares)' not in _state['on-sandbox'] or not cpu_mount():
        diag('SKIP: no v1 cpu cgroups here: %s' % _state['on-sandbox'])
        return None
    return d


def call(port, path, timeout):
    with Conn(port, timeout) as c:
        c.send(req('GET', path))
        return c.read_response(timeout=timeout)


def _cleanup():
    for key in ('on', 'off'):
        if key in _state:
            d, fdir = _state[key]
            d.stop()
            fdir.cleanup()


tap.on_exit(_cleanup)


@tap.case('cpu: the gateway sits in its supervisor\'s "gateway" group, beside "workers" (not '
          'idle while no worker is busy)')
def _():
    d = need_v1_cpu()
    if d is None:
        return
    sup = supervisor_pid(d.proc.pid)
    gw = cgroup_of(d.proc.pid)
    diag('gateway cpu cgroup %s, supervisor %s' % (gw, cgroup_of(sup)))
    check(gw.endswith('/fngate-%d/gateway' % sup), 'gateway in %r' % gw)
    eq(cpu_file(gw[:-len('/gateway')], 'workers/cpu.idle'), 0, 'workers/cpu.idle')


@tap.case('cpu: a spinner on both its workers: 504 at the deadline, the victim keeps answering, '
          'the spinner\'s workers are idle')
def _():
    d = need_v1_cpu()
    if d is None:
        return
    port = d.port
    eq(call(port, '/s/ok', 5).status, 200, 'victim before the spin')
    spins = []

    def spin():
        t0 = time.monotonic()
        try:
            r = call(port, '/s/spin', DEADLINE_MS / 1000 + 10)
            spins.append((r, (time.monotonic() - t0) * 1000))
        except Exception as e:  # noqa: BLE001
            spins.append((e, (time.monotonic() - t0) * 1000))

    threads = [threading.Thread(target=spin) for _ in range(2)]
    start = time.monotonic()
    for t in threads:
        t.start()
    # Busy for 40 ms, a worker's cgroup turns idle: allow a loaded machine 2 s to get there.
    while True:
        time.sleep(0.05)
        spinners = worker_pids(d.proc.pid, 'spin')
        idle, shares = {}, {}
        for pid in spinners:
            rel = cgroup_of(pid)
            check(rel and rel.endswith('/fngate-%d/workers/%d'
                                       % (supervisor_pid(d.proc.pid), pid)),
                  'spinner %d in cpu cgroup %r' % (pid, rel))
            idle[pid] = cpu_file(rel, 'cpu.idle')
            shares[pid] = cpu_file(rel, 'cpu.shares')
        if (len(spinners) == 2 and set(idle.values()) == {1}) or \
                time.monotonic() - start > 2:
            break
    diag('spinner workers %s, cpu.idle %s, cpu.shares %s after %.2f s'
         % (spinners, idle, shares, time.monotonic() - start))
    eq(len(spinners), 2, 'spinning workers')
    eq(sorted(set(idle.values())), [1], 'the spinners\' cpu.idle')
    top = cgroup_of(d.proc.pid)[:-len('/gateway')]
    eq(cpu_file(top, 'workers/cpu.idle'), 1, 'the workers\' group while they spin')
    # An idle cgroup weighs the least there is (the kernel shows 3), whatever it had.
    eq(sorted(set(shares.values())), [3], 'the spinners\' cpu.shares')
    victim = [pid for pid in worker_pids(d.proc.pid, 'ok')]
    check(victim, 'no victim worker')
    # Nothing keeps a victim worker busy: not idle, it has its function's share.
    eq(cpu_file(cgroup_of(victim[0]), 'cpu.idle'), 0, 'the victim\'s cpu.idle')
    eq(cpu_file(cgroup_of(victim[0]), 'cpu.shares'), FULL_SHARES, 'the victim\'s cpu.shares')
    lat, bad = [], []
    end = start + (DEADLINE_MS / 1000 - 0.5)
    with Conn(port, 5) as c:
        while time.monotonic() < end:
            t0 = time.monotonic()
            c.send(req('GET', '/s/ok'))
            r = c.read_response(timeout=5)
            lat.append((time.monotonic() - t0) * 1000)
            if r.status != 200:
                bad.append(r.status)
    for t in threads:
        t.join(DEADLINE_MS / 1000 + 15)
    lat.sort()
    diag('victim during the spin: %d requests, p50 %.2f ms, p99 %.2f ms, max %.1f ms'
         % (len(lat), statistics.median(lat), lat[int(len(lat) * 0.99)], lat[-1]))
    eq(bad, [], 'non-200 answers from the victim')
    check(len(lat) > 100, 'only %d victim requests' % len(lat))
    # Loose: a spinner that starved the victim would make it wait for whole time slices.
    check(statistics.median(lat) < 20, 'victim median %.1f ms' % statistics.median(lat))
    for r, ms in spins:
        if not hasattr(r, 'status'):
            raise Fail('spinner request failed: %r' % r)
        check_json_error(r, 504)
        diag('spinner: 504 after %.0f ms (deadline %d ms)' % (ms, DEADLINE_MS))
        check(DEADLINE_MS - 5 <= ms <= DEADLINE_MS + 700, '504 after %.0f ms' % ms)
    _state['spinners'] = spinners


@tap.case('cpu: the spinner\'s cpu cgroups are removed with its killed workers')
def _():
    d = need_v1_cpu()
    if d is None:
        return
    spinners = _state.get('spinners')
    check(spinners, 'the spin case did not run')
    top = cpu_mount() + cgroup_of(d.proc.pid)[:-len('/gateway')]
    deadline = time.monotonic() + 3
    left = spinners
    while left and time.monotonic() < deadline:
        left = [p for p in spinners if os.path.exists('%s/workers/%d' % (top, p))]
        time.sleep(0.05)
    eq(left, [], 'cpu cgroups of the killed spinners still there')


@tap.case('cpu: functions.cpu_isolation false: workers in no cpu cgroup, at nice 0')
def _():
    if need_v1_cpu() is None:
        return
    d = daemon(isolation=False)
    eq(call(d.port, '/s/ok', 5).status, 200, 'ok answers')
    sup = supervisor_pid(d.proc.pid)
    for pid in worker_pids(d.proc.pid, 'ok'):
        eq(cgroup_of(pid), cgroup_of(sup), 'worker %d cpu cgroup' % pid)
        with open('/proc/%d/stat' % pid) as f:
            nice = int(f.read().rsplit(')', 1)[1].split()[16])
        eq(nice, 0, 'worker %d nice' % pid)


@tap.case('cpu: both daemons exit 0 on SIGTERM')
def _():
    for key in ('on', 'off'):
        if key in _state:
            d, fdir = _state.pop(key)
            eq(d.stop(), 0, '%s: exit code' % key)
            fdir.cleanup()


tap.run()
