#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The sandbox supervisor dies and is replaced (gateway/host/super.c): killed with SIGKILL
under load, every request is answered within its deadline and service comes back; the
replacement is a fresh image of the binary holding none of what the gateway loaded (a canary
from the configuration is looked for in its memory, and found in the gateway's); the dead
one's workers are reaped, none is left behind; a supervisor that keeps dying is replaced after
a back-off, during which requests get 503 at once; a deploy whose pre-flight was under way is
carried out by the next supervisor. TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS (tests/functions in the build tree)."""

import os
import re
import secrets
import signal
import subprocess
import threading
import time

from lib import (BIN, SharedDaemon, SLOW, Tap, check, check_json_error, children, diag, eq, holds,
                 exchange, install_batches, proc_stat, req, supervisor_pid, test_so,
                 wait_deployed, worker_pids)

tap = Tap(budget=150, needs_workers=True)
CANARY = 'fngate-canary-' + secrets.token_hex(12)
TIMEOUT_MS = 3000


def _config(fn_dir):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"], default_api: a }',
        'access_log: { path: "off" }',
        'functions: { dir: "%s" }' % fn_dir,
        'apis:',
        '  a:',
        # A value only the gateway's configuration holds: no supervisor may have it.
        '    stages: { s: { variables: { secret: "%s" } } }' % CANARY,
        '    routes:',
        '      "ANY /ok": { integration: { type: function, function: ok } }',
        '      "ANY /late": { integration: { type: function, function: late } }',
    ]) + '\n'


def _setup(d, fdir):
    install_batches(d, fdir, [
        ('ok', test_so('ok'), 'concurrency: 2\ntimeout_ms: %d\n' % TIMEOUT_MS),
    ])


ENV = SharedDaemon(tap, _config, _setup)


def call(port, path='/s/ok', timeout=10.0):
    t0 = time.monotonic()
    r = exchange(port, req('GET', path), timeout=timeout)
    return r, (time.monotonic() - t0) * 1000


def kill_supervisor(d):
    """SIGKILLs the gateway's supervisor; returns its pid and its workers' pids."""
    sup = supervisor_pid(d.proc.pid)
    check(sup, 'no supervisor under the gateway')
    workers = children(sup)
    os.kill(sup, signal.SIGKILL)
    return sup, workers


def wait_new_supervisor(d, old, timeout=5.0):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        sup = supervisor_pid(d.proc.pid)
        if sup and sup != old:
            return sup
        time.sleep(0.02)
    return None


def wait_served(d, timeout=5.0):
    """Calls /s/ok until a 200 comes; the time it took (Fail after timeout)."""
    t0 = time.monotonic()
    seen = []
    while time.monotonic() - t0 < timeout * SLOW:
        r, _ = call(d.port)
        seen.append(r.status)
        if r.status == 200:
            return time.monotonic() - t0
        time.sleep(0.05)
    check(False, 'not served again within %.0f s: %s' % (timeout * SLOW, seen[-10:]))


def gone(pids, timeout=3.0):
    """The pids of pids that still exist (zombies included) after up to timeout."""
    deadline = time.monotonic() + timeout * SLOW
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if os.path.exists('/proc/%d' % p)]
        time.sleep(0.02)
    return left


@tap.case('supervisor killed (SIGKILL) under load: every request answered within its '
          'deadline, service restored, the dead one and its workers reaped')
def _():
    d = ENV.get()
    r, _ = call(d.port)
    eq(r.status, 200, 'served before')
    results = []
    lock = threading.Lock()
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                r, ms = call(d.port, timeout=(TIMEOUT_MS / 1000 + 5) * SLOW)
                one = (time.monotonic(), r.status, ms, r.body[:200])
            except Exception as e:  # noqa: BLE001
                one = (time.monotonic(), None, 0, repr(e).encode())
            with lock:
                results.append(one)
    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    mark = d.log_mark()
    old, old_workers = kill_supervisor(d)
    killed_at = time.monotonic()
    new = wait_new_supervisor(d, old)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(20 * SLOW)
    check(new, 'no new supervisor under the gateway')
    bad = [x for x in results if x[1] not in (200, 502, 503)]
    eq(bad[:5], [], 'requests not answered 200, 502 or 503 (first 5)')
    slow = [x for x in results if x[2] > TIMEOUT_MS + 1000 * SLOW]
    eq(slow[:5], [], 'requests answered after their deadline (first 5)')
    for _, status, _, body in results:
        if status == 502:
            # The running invocation died with its worker; the cause is what the gateway
            # saw first: the supervisor's death, or the worker's socket closing under a write.
            check(re.match(rb'\{"message":"function ok failed \((its sandbox supervisor died|'
                           rb'write failed: broken pipe|worker exited)\)"\}', body),
                  '502 without the cause: %r' % body)
        elif status == 503:
            check(b'no sandbox supervisor' in body, '503 without the cause: %r' % body)
    after = [x for x in results if x[0] > killed_at + 0.5]
    check(after and all(x[1] == 200 for x in after[-20:]),
          'not served again after the kill: %s' % [x[1] for x in after[-20:]])
    counts = {}
    for x in results:
        counts[x[1]] = counts.get(x[1], 0) + 1
    diag('%d requests: %s; new supervisor %d' % (len(results), counts, new))
    died = d.wait_log(lambda o: o.get('msg', '').startswith('sandbox supervisor died'),
                      2 * SLOW, mark)
    check(died, 'no "sandbox supervisor died" line: %s' % d.stderr_text(mark))
    eq((died.get('pid'), died.get('status')), (str(old), 'killed by SIGKILL'), 'logged death')
    check(d.wait_log(lambda o: o.get('msg') == 'sandbox supervisor replaced' and
                     o.get('pid') == str(new), 2 * SLOW, mark), 'no "replaced" line')
    # Reaped: neither the dead supervisor nor any of its children (its workers and spare,
    # reparented to the gateway) is left, not even as a zombie.
    eq(gone([old] + old_workers), [], 'processes of the dead supervisor still there')
    eq(proc_stat(new)[1], d.proc.pid, 'the new supervisor\'s parent')
    check(worker_pids(d.proc.pid, 'ok'), 'no worker of ok under the new supervisor')


@tap.case('the replacement is a fresh image of the binary: none of the gateway\'s '
          'configuration is in its memory')
def _():
    d = ENV.get()
    old, _ = kill_supervisor(d)
    new = wait_new_supervisor(d, old)
    check(new, 'no new supervisor')
    wait_served(d)
    with open('/proc/%d/cmdline' % new, 'rb') as f:
        argv = f.read().split(b'\0')
    eq(argv[1:3], [b'__supervisor', str(d.proc.pid).encode()], 'its command line')
    eq(os.stat('/proc/%d/exe' % new).st_ino, os.stat('/proc/%d/exe' % d.proc.pid).st_ino,
       'the same binary as the gateway')
    needle = CANARY.encode()
    # The control: the gateway holds the configuration value (its stage variables).
    check(holds(d.proc.pid, needle), 'the canary is not found in the gateway\'s memory: the '
          'scan would find nothing anywhere')
    check(not holds(new, needle), 'the new supervisor holds a value of the gateway\'s '
          'configuration: it is not a fresh image')


@tap.case('a supervisor that keeps dying: replaced after a back-off; meanwhile requests get '
          '503 "cannot start: no sandbox supervisor" at once; then served again')
def _():
    d = ENV.get()
    wait_served(d)
    mark = d.log_mark()
    # Each death soon after the previous start doubles the wait before the next one.
    last = None
    for i in range(4):
        sup = wait_new_supervisor(d, last, timeout=5.0) if last else supervisor_pid(d.proc.pid)
        check(sup, 'no supervisor to kill (round %d)' % i)
        os.kill(sup, signal.SIGKILL)
        last = sup
        time.sleep(0.05)
    deaths = []
    d.wait_log(lambda o: o.get('msg', '').startswith('sandbox supervisor died') and
               deaths.append(o.get('restartInMs')) and False, 0.5, mark)
    diag('restart delays logged: %s' % deaths)
    delays = [int(x) for x in deaths]
    check(len(delays) == 4 and delays[-1] >= 400 and
          all(b == min(2 * a, 10000) or (a == 0 and b == 100) for a, b in zip(delays, delays[1:])),
          'back-off: %s' % deaths)
    r, ms = call(d.port)
    obj = check_json_error(r, 503)
    check(re.match(r'^function ok cannot start: no sandbox supervisor \(it died \d+ times in '
                   r'a row; the next starts in \d+ ms\)$', obj['message']), obj['message'])
    check(ms < 500 * SLOW, '503 after %.0f ms: not at once' % ms)
    took = wait_served(d, timeout=5.0)
    diag('served again %.2f s later' % took)


@tap.case('a deploy whose pre-flight was under way when the supervisor died is carried out '
          'by the next one')
def _():
    d = ENV.get()
    wait_served(d)
    mark = d.log_mark()
    ENV.fdir.install('late', test_so('slow'), 'env: { FNG_TEST_INIT_SLEEP_MS: "600", '
                     'FNG_TEST_SLEEP_MS: "0" }\n')
    time.sleep(0.3)  # its pre-flight worker is in its init hook
    eq(worker_pids(d.proc.pid, 'late') != [], True, 'a pre-flight worker of late')
    os.kill(supervisor_pid(d.proc.pid), signal.SIGKILL)
    wait_deployed(d, ['late'], mark, timeout=10.0)
    r, _ = call(d.port, '/s/late')
    eq((r.status, r.body), (200, b'slept'), 'late serves')


@tap.case('`fngate __supervisor` run by hand (not by a gateway) refuses, exit 2')
def _():
    for args in ([], ['1'], [str(os.getpid())], ['x']):
        p = subprocess.run([BIN, '__supervisor'] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30 * SLOW)
        eq(p.returncode, 2, 'exit code for %s' % args)
        check(b'started by the gateway itself' in p.stderr, 'stderr: %r' % p.stderr)


@tap.case('daemon exits 0 on SIGTERM, leaving no process behind')
def _():
    check(ENV.d is not None, 'the daemon was not started')
    sup = supervisor_pid(ENV.d.proc.pid)
    workers = children(sup) if sup else []
    rc = ENV.d.stop()
    ENV.d = None
    eq(rc, 0, 'exit code')
    eq(gone([sup] + workers if sup else workers), [], 'processes left')


tap.run()
