#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The limits of the machine: the gateway out of file descriptors, its access log on a full
file system. TAP output.

- Descriptors: fngate runs under a small RLIMIT_NOFILE (prlimit: a low soft limit it must raise
  to the hard one at start). Clients are opened until it has no descriptor left: every extra
  client is answered 503 or closed at once (none hangs), one "out of descriptors" line per
  interval counts them exactly, and once the held connections close new clients are served
  again without help.
- Full disk: the access log lives on a 64 KiB tmpfs that the test fills. Requests are still
  served; one "access log write failed" line per interval counts the lines lost, the file keeps
  only whole lines, and once space is freed lines are written again and the loss is totalled
  (every request is either in the file or counted). Skipped if tmpfs cannot be mounted here.
"""

import datetime
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import lib
from lib import Conn, Daemon, Tap, check, check_common, check_json_error, diag, eq, note, req

SOFT, HARD = 40, 80

CFG = '''
server:
  listen: ["127.0.0.1:0"]
  timeouts: { header_ms: 30000, keepalive_ms: 30000 }
access_log: { path: "%s" }
apis:
  demo:
    stages:
      dev: {}
    routes:
      "GET /hello":
        integration: { type: mock, body: "hello" }
'''

tap = Tap(budget=100)


def skip(name, why):
    """A TAP skip line (tap.add() would rewrite its '#')."""
    tap.cases.append((name + ' # SKIP ' + why.replace('#', 'No.'), lambda: None))


def log_time(o):
    """The daemon log line's time as seconds (its "time" is RFC 3339 UTC with ms)."""
    t = datetime.datetime.strptime(o['time'], '%Y-%m-%dT%H:%M:%S.%fZ')
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def lines_of(d, msg, since=0):
    with d.cond:
        return [o for _, o in d.logs[since:] if o is not None and o.get('msg') == msg]


def check_spaced(lines, what, interval=1.0):
    """Consecutive lines at least about an interval apart (loose: 10% slack)."""
    for a, b in zip(lines, lines[1:]):
        gap = log_time(b) - log_time(a)
        check(gap >= interval * 0.9, '%s: two lines %.3f s apart, expected one per %.0f s: '
              '%r, %r' % (what, gap, interval, a, b))


def hello(c, timeout=3.0):
    c.send(req('GET', '/dev/hello'))
    r = c.read_response(timeout=timeout)
    eq(r.status, 200, 'status')
    return r


def refused_client(port, timeout=3.0):
    """A client the gateway cannot take: 'refused' (503, JSON, close) or 'closed' (EOF/RST);
    it must not hang."""
    try:
        c = Conn(port, timeout)
    except ConnectionRefusedError:
        raise AssertionError('connection refused by the kernel: the listener is gone')
    with c:
        c.try_send(req('GET', '/dev/hello'))
        try:
            r = c.read_response(timeout=timeout)
        except lib.Closed:
            return 'closed'
        if r.status == 200:
            return 'served'
        check_json_error(r, 503, close=True)
        check_common(r)
        check('descriptor' in r.json()['message'], 'the 503 says why: %r' % r.json())
        c.expect_closed(2.0)
        return 'refused'


def descriptors():
    d = None
    held = []
    saved = lib.WRAPPER
    lib.WRAPPER = ['prlimit', '--nofile=%d:%d' % (SOFT, HARD), '--'] + saved
    try:
        d = Daemon(CFG % '@TMP@/access.log')
    finally:
        lib.WRAPPER = saved
    try:
        o = d.wait_log(lambda o: o.get('msg') == 'open files limit', 2.0)
        check(o is not None, 'no "open files limit" line at start:\n' + d.stderr_text())
        eq(o.get('limit'), str(HARD), 'the limit raised to the hard limit')
        eq(o.get('raisedFrom'), str(SOFT), 'the soft limit it was raised from')
        with open('/proc/%d/limits' % d.proc.pid) as f:
            row = [l for l in f if l.startswith('Max open files')][0].split()
        eq(row[3:5], [str(HARD), str(HARD)], 'the gateway\'s open files limit (soft, hard)')

        # Hold connections until the gateway has no descriptor left.
        outcomes = {'served': 0, 'refused': 0, 'closed': 0}
        for i in range(HARD + 20):
            c = Conn(d.port, 3.0)
            c.try_send(req('GET', '/dev/hello'))
            try:
                r = c.read_response(timeout=3.0)
            except lib.Closed:
                outcomes['closed'] += 1
                c.close()
                continue
            if r.status == 200:
                held.append(c)
                outcomes['served'] += 1
                continue
            check_json_error(r, 503, close=True)
            outcomes['refused'] += 1
            c.close()
        diag('while filling: %r (limit %d)' % (outcomes, HARD))
        check(outcomes['served'] < HARD, 'more connections served than the limit allows: %r'
              % outcomes)
        check(outcomes['refused'] + outcomes['closed'] >= 20,
              'at least the 20 clients past the limit are refused: %r' % outcomes)
        check(outcomes['refused'] > 0, 'no client was told 503: %r' % outcomes)

        # Keep refusing for 2.5 s: the log says so once per interval, with exact counts.
        t_end = time.monotonic() + 2.5
        while time.monotonic() < t_end:
            out = refused_client(d.port)
            check(out != 'served', 'a client was served while every descriptor is held')
            outcomes[out] += 1
            time.sleep(0.05)
        refused = outcomes['refused'] + outcomes['closed']
        deadline = time.monotonic() + 3.0
        while True:
            lines = lines_of(d, 'out of descriptors')
            total = sum(int(o.get('refused', '0')) for o in lines)
            if total >= refused or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        diag('%d "out of descriptors" lines: %r' % (len(lines), [o.get('refused') for o in lines]))
        check(lines, 'no "out of descriptors" line; stderr:\n' + d.stderr_text())
        for o in lines:
            eq(o.get('level'), 'warn', 'level')
            eq(o.get('limit'), str(HARD), 'the limit in the line')
            check('too many open files' in o.get('error', '').lower(), 'the error: %r' % o)
        eq(total, refused, 'connections refused, as counted in the log lines')
        check(len(lines) >= 2, 'refusals over 2.5 s are reported in more than one line')
        check_spaced(lines, '"out of descriptors"')

        # Free the descriptors: new clients are served again, without help.
        mark = d.log_mark()
        for c in held:
            c.close()
        held = []
        deadline = time.monotonic() + 5.0
        while True:
            out = refused_client(d.port)
            if out == 'served' or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        eq(out, 'served', 'a new client once the connections are closed')
        for _ in range(5):
            with Conn(d.port, 3.0) as c:
                hello(c)
        o = d.wait_log(lambda o: o.get('msg') == 'connections accepted again', 3.0, since=0)
        check(o is not None, 'no "connections accepted again" line:\n' + d.stderr_text(mark))
        eq(o.get('refused'), str(refused), 'the episode\'s total in the recovery line')
    finally:
        for c in held:
            c.close()
        rc = d.stop()
    eq(rc, 0, 'exit code after SIGTERM')


if any('valgrind' in w for w in lib.WRAPPER):
    # Valgrind keeps descriptors of its own above the client's limit and does not let the
    # client raise it: the figures this case checks are its, not fngate's.
    skip('out of descriptors', 'valgrind virtualises RLIMIT_NOFILE')
else:
    tap.add('out of descriptors: raised at start, extra clients refused at once, '
            'one log line per interval, recovery', descriptors)

# ---------------------------------------------------------------- full disk ---


def try_mount():
    """A 64 KiB tmpfs at a new directory; (path, None) or (None, why not)."""
    mnt = tempfile.mkdtemp(prefix='fngate-it-tmpfs-')
    try:
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        os.rmdir(mnt)
        return None, str(e)
    if p.returncode != 0:
        os.rmdir(mnt)
        return None, 'mount -t tmpfs refused: ' + p.stdout.decode(errors='replace').strip()
    return mnt, None


def unmount(mnt):
    subprocess.run(['umount', '-l', mnt], timeout=10)
    shutil.rmtree(mnt, ignore_errors=True)


def fill(path):
    """Writes path until the file system has no byte left."""
    with open(path, 'wb', buffering=0) as f:
        for size in (65536, 4096, 256, 1):
            while True:
                try:
                    f.write(b'x' * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break


def access_lines(path):
    """Every line of the access log; each must be a whole JSON object."""
    with open(path, 'rb') as f:
        data = f.read()
    check(not data or data.endswith(b'\n'), 'the access log ends in a partial line: %r'
          % data[-200:])
    out = []
    for raw in data.split(b'\n')[:-1]:
        try:
            out.append(json.loads(raw))
        except ValueError:
            raise AssertionError('a broken line in the access log: %r' % raw[:300])
    return out


def full_disk():
    mnt, why = try_mount()
    check(mnt is not None, why)
    try:
        full_disk_on(mnt)
    finally:
        unmount(mnt)


def full_disk_on(mnt):
    log = os.path.join(mnt, 'access.log')
    filler = os.path.join(mnt, 'filler')
    with Daemon(CFG % log) as d:
        with Conn(d.port, 3.0) as c:
            rid = check_common(hello(c))
        check(d.wait_access(lambda e: e.get('requestId') == rid, 3.0, path=log),
              'the access log works before the disk fills')
        fill(filler)
        ids = []
        mark = d.log_mark()
        # 2.5 s of requests: the lost lines are reported more than once, once per interval.
        with Conn(d.port, 3.0) as c:
            t_end = time.monotonic() + 2.5
            while time.monotonic() < t_end:
                ids.append(check_common(hello(c)))
                time.sleep(0.01)
        o = d.wait_log(lambda o: o.get('msg') == 'access log write failed', 3.0, since=mark)
        check(o is not None, 'no "access log write failed" line:\n' + d.stderr_text(mark))
        eq(o.get('level'), 'error', 'level')
        check('no space' in o.get('error', '').lower(), 'the error: %r' % o)
        eq(o.get('path'), log, 'the path in the line')

        os.unlink(filler)
        with Conn(d.port, 3.0) as c:
            after = [check_common(hello(c)) for _ in range(20)]
        o = d.wait_log(lambda o: o.get('msg') == 'access log written again', 3.0, since=mark)
        check(o is not None, 'no "access log written again" line:\n' + d.stderr_text(mark))
        failed = lines_of(d, 'access log write failed', mark)
        diag('%d requests while full; "write failed" lines: %r; total %r'
             % (len(ids), [x.get('dropped') for x in failed], o.get('dropped')))
        reported = sum(int(x.get('dropped', '0')) for x in failed)
        eq(o.get('dropped'), str(reported), 'the total in the recovery line')
        check(len(failed) >= 2, 'a loss over 2.5 s is reported in more than one line')
        check_spaced(failed, '"access log write failed"')

        deadline = time.monotonic() + 3.0
        while True:
            got = {e.get('requestId') for e in access_lines(log)}
            if all(r in got for r in after) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        eq([r for r in after if r not in got], [], 'lines written after space was freed')
        missing = [r for r in ids if r not in got]
        note('missing %d of %d' % (len(missing), len(ids)))
        check(missing, 'no line was lost although the disk was full')
        eq(len(missing), reported, 'lines missing from the file vs lines reported lost')


# Probed once here to decide whether the case can run; the case mounts its own.
_MNT, WHY = try_mount()
if _MNT is None:
    skip('access log on a full file system', WHY)
else:
    unmount(_MNT)
    tap.add('access log on a full file system: serving goes on, the loss is logged once per '
            'interval and counted, whole lines only, recovery', full_disk)

if __name__ == '__main__':
    # meson's timeout sends SIGTERM: unwind, so that the case unmounts its tmpfs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tap.run()
