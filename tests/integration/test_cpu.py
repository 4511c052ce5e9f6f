#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""CPU isolation through a real daemon: a function spinning on every worker it has (abuse_spin,
concurrency 2) beside a victim function (ok). The spinner's requests end in 504 at their
deadline; meanwhile the victim keeps answering. The gateway sits in the supervisor's
"active/gateway" group, every worker in a cpu cgroup of its own below "active/workers", with
its function's weight, and once busy the spinners move into the supervisor's idle "busy"
group (and "active" weighs the most v1 allows against it). With
`functions.cpu_isolation: false` the workers get no cpu cgroup. Timing assertions are loose (a shared, noisy machine): the figures are in
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
# "active" against "busy": the most cpu.shares v1 takes.
ACTIVE_SHARES = 262144

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


def top_of(d):
    """The supervisor's directory in the cpu hierarchy (relative to its mount)."""
    return cgroup_of(d.proc.pid)[:-len('/active/gateway')]


@tap.case('cpu: the gateway sits in its supervisor\'s "active/gateway" group, beside '
          '"active/workers", "busy" idle beside "active"')
def _():
    d = need_v1_cpu()
    if d is None:
        return
    sup = supervisor_pid(d.proc.pid)
    gw = cgroup_of(d.proc.pid)
    diag('gateway cpu cgroup %s, supervisor %s' % (gw, cgroup_of(sup)))
    check(gw.endswith('/fngate-%d/active/gateway' % sup), 'gateway in %r' % gw)
    top = top_of(d)
    eq(cpu_file(top, 'active/workers/cpu.idle'), 0, 'active/workers/cpu.idle')
    eq(cpu_file(top, 'active/cpu.idle'), 0, 'active/cpu.idle')
    eq(cpu_file(top, 'active/cpu.shares'), ACTIVE_SHARES, 'active/cpu.shares')
    eq(cpu_file(top, 'busy/cpu.idle'), 1, 'busy/cpu.idle')
    for pid in worker_pids(d.proc.pid, 'ok'):
        eq(cgroup_of(pid), '%s/active/workers/%d' % (top, pid), 'worker %d cpu cgroup' % pid)


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
    top = top_of(d)
    # Busy for 40 ms, a worker moves into "busy": allow a loaded machine 2 s to get there.
    while True:
        time.sleep(0.05)
        spinners = worker_pids(d.proc.pid, 'spin')
        where = {pid: cgroup_of(pid) for pid in spinners}
        if (len(spinners) == 2 and set(where.values()) == {top + '/busy'}) or \
                time.monotonic() - start > 2:
            break
    diag('spinner workers in %s after %.2f s' % (where, time.monotonic() - start))
    eq(len(spinners), 2, 'spinning workers')
    eq(sorted(set(where.values())), [top + '/busy'], 'the spinners\' cpu cgroups')
    # An idle cgroup weighs the least there is (the kernel shows 3).
    eq(cpu_file(top, 'busy/cpu.idle'), 1, '"busy" cpu.idle')
    eq(cpu_file(top, 'busy/cpu.shares'), 3, '"busy" cpu.shares')
    # Their own cgroups stay, empty, with their weight, for when they sleep again.
    for pid in spinners:
        eq(cpu_file(top, 'active/workers/%d/cpu.shares' % pid), FULL_SHARES,
           'spinner %d\'s own cgroup cpu.shares' % pid)
    victim = [pid for pid in worker_pids(d.proc.pid, 'ok')]
    check(victim, 'no victim worker')
    # Nothing keeps a victim worker busy: it stays in its own cgroup, with its function's share.
    eq(cgroup_of(victim[0]), '%s/active/workers/%d' % (top, victim[0]), 'the victim\'s cgroup')
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
    top = cpu_mount() + top_of(d)
    deadline = time.monotonic() + 3
    left = spinners
    while left and time.monotonic() < deadline:
        left = [p for p in spinners if os.path.exists('%s/active/workers/%d' % (top, p))]
        time.sleep(0.05)
    eq(left, [], 'cpu cgroups of the killed spinners still there')
    with open('%s/busy/cgroup.procs' % top) as f:
        eq(f.read().split(), [], 'processes left in "busy"')


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
