#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hot deploy through a real daemon: a dropped .so goes live, a rebuilt one replaces it
(the answer and x-fngate-function-version change), a deleted one retires, broken ones (garbage,
wrong ABI, failing init, no handler) are refused while the previous version keeps serving, a
file written in two steps is picked up whole, manifests apply on redeploy, and three deploys
under h2load --rps lose no request. TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_TEST_FUNCTIONS, FNGATE_SOURCE_ROOT."""

import os
import re
import shutil
import subprocess
import threading
import time

from lib import (SLOW, SOURCE_ROOT, Daemon, Fail, FnDir, Tap, build_handler, check,
                 check_json_error, check_status, deploy_event, diag, eq, exchange, failed_log,
                 fn_config, fn_version, h2load, note, open_tmpdir, req, short, test_so,
                 wait_deployed)

tap = Tap(budget=150, needs_workers=True)
HELLO_C = os.path.join(SOURCE_ROOT, 'examples', 'hello', 'hello.c')
WORK = open_tmpdir('fngate-it-deploy-')
tap.on_exit(lambda: shutil.rmtree(WORK, ignore_errors=True))
_variants = {}
MANY = 32     # functions dropped at once: more spawn requests than the supervisor's socket holds
# The h2load case runs hello with more memory than functions.max allows by default.
GRANTS = 'hello: { max: { memory_mb: 1024 } }'


def hello_variant(greeting):
    """examples/hello built with another default greeting (the stage here has none): a new
    version with a different answer. Returns (path, version)."""
    if greeting not in _variants:
        with open(HELLO_C) as f:
            src = f.read()
        check('greeting ? greeting : "hello"' in src, 'examples/hello/hello.c changed shape')
        src = src.replace('greeting ? greeting : "hello"', 'greeting ? greeting : "%s"' % greeting)
        c = os.path.join(WORK, 'hello_%s.c' % greeting)
        so = os.path.join(WORK, 'hello_%s.so' % greeting)
        with open(c, 'w') as f:
            f.write(src)
        build_handler(c, so)
        with open(so, 'rb') as f:
            _variants[greeting] = (so, fn_version(f.read()))
    return _variants[greeting]


def padded(path, tag):
    """The bytes of a .so with a tag appended: same code, new content hash."""
    with open(path, 'rb') as f:
        return f.read() + b'\0fngate-it:' + tag.encode()


class Env:
    d = None
    fdir = None

    deaths = []

    @classmethod
    def get(cls):
        if cls.d is not None and not cls.d.alive():
            cls.reap()      # reported by the case it died in (see dcase); start afresh
        if cls.d is None:
            cls.fdir = FnDir()
            cls.d = Daemon(fn_config(cls.fdir.path, [
                ('GET /hello/{name}', 'hello'), ('ANY /x', 'x'), ('ANY /sleepy', 'sleepy')] +
                [('ANY /many%d' % i, 'many%d' % i) for i in range(MANY)], grants=GRANTS))
        return cls.d

    @classmethod
    def fresh(cls):
        """The daemon; if it is not running hello v1, restart it that way (cases that
        build on the previous one's state still run alone after a crash)."""
        d = cls.get()
        so, ver = hello_variant('v1')
        r = exchange(d.port, req('GET', '/s/hello/ada'))
        if r.status != 200:
            mark = d.log_mark()
            cls.fdir.install('hello', so)
            wait_deployed(d, ['hello'], mark)
        return d

    @classmethod
    def reap(cls):
        rc = cls.d.stop()
        cls.deaths.append('exit code %r; stderr:\n%s' % (rc, cls.d.stderr_tail))
        cls.d = None
        cls.fdir.cleanup()
        return cls.deaths[-1]

    @classmethod
    def close(cls):
        rc = None
        if cls.d is not None:
            rc = cls.d.stop()
            cls.tail = cls.d.stderr_tail
            cls.d = None
        if cls.fdir is not None:
            cls.fdir.cleanup()
        return rc


tap.on_exit(Env.close)


def hello(timeout=5.0):
    return exchange(Env.get().port, req('GET', '/s/hello/ada'), timeout=timeout)


def answer(r):
    check_status(r, 200)
    return r.json().get('message'), r.header('x-fngate-function-version')


def wait_answer(pred, timeout=3.0, path='/s/hello/ada'):
    """Poll until pred(response) holds; returns (response, seconds waited)."""
    t0 = time.monotonic()
    deadline = t0 + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = exchange(Env.get().port, req('GET', path))
        if pred(last):
            return last, time.monotonic() - t0
        time.sleep(0.005)
    raise Fail('no matching answer within %.1f s; last: %s' % (timeout, short(last.raw if last
                                                                              else b'')))


class Watch:
    """Calls hello in a loop (keep-alive) while a deploy happens: every answer must be a 200
    from a known version."""

    def __init__(self):
        self.stop_ev = threading.Event()
        self.seen = []      # (status, version, message)
        self.errors = []
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        from lib import Conn
        c = None
        while not self.stop_ev.is_set():
            try:
                if c is None:
                    c = Conn(Env.d.port, 5)
                c.sock.sendall(req('GET', '/s/hello/ada'))
                r = c.read_response(timeout=5)
                msg = None
                if r.status == 200:
                    msg = r.json().get('message')
                self.seen.append((r.status, r.header('x-fngate-function-version'), msg))
            except Exception as e:  # noqa: BLE001
                self.errors.append('%s: %s' % (type(e).__name__, str(e)[:200]))
                if c is not None:
                    c.close()
                c = None
            time.sleep(0.002)
        if c is not None:
            c.close()

    def stop(self):
        self.stop_ev.set()
        self.t.join(10)
        bad = [s for s in self.seen if s[0] != 200]
        eq(self.errors, [], 'connection errors while deploying')
        check(not bad, '%d non-200 answers while deploying, e.g. %r' % (len(bad), bad[:3]))
        check(len(self.seen) > 5, 'only %d requests made while deploying' % len(self.seen))
        return self.seen


def dcase(name):
    """A case that also fails if the daemon died while it ran (or just after: a retired
    version's workers exit a moment after a deploy)."""
    def deco(fn):
        def run():
            err = None
            try:
                fn()
            except Fail as e:
                err = e
            time.sleep(0.2)
            if Env.d is not None and not Env.d.alive():
                raise Fail('%sthe daemon died during this case: %s'
                           % ('%s\n' % err if err else '', Env.reap()))
            if err:
                raise err
        tap.add(name, run)
        return fn
    return deco


# ----------------------------------------------------------------- cases ---

@dcase('deploy: a dropped .so is served within 2 s, its content hash in x-fngate-function-version')
def _():
    d = Env.get()
    so, ver = hello_variant('v1')
    r = exchange(d.port, req('GET', '/s/hello/ada'))
    check_json_error(r, 503)
    mark = d.log_mark()
    t0 = time.monotonic()
    eq(Env.fdir.install('hello', so), ver, 'version of the file')
    r, waited = wait_answer(lambda r: r.status == 200, 2.0)
    eq(answer(r), ('v1, ada', ver), '(message, version)')
    diag('first 200 from a dropped .so after %.0f ms' % ((time.monotonic() - t0) * 1000))
    o = deploy_event(d, 'hello', mark, 1)
    eq((o or {}).get('msg'), 'function deployed', 'log line')
    eq(o.get('version'), ver, 'version in the log line')


@dcase('deploy: a rebuilt .so replaces it: answer and version change, no request fails')
def _():
    d = Env.fresh()
    _, v1 = hello_variant('v1')
    so2, v2 = hello_variant('v2')
    check(v1 != v2, 'the two builds have the same content')
    eq(answer(hello())[1], v1, 'version before')
    w = Watch()
    time.sleep(0.1)
    mark = d.log_mark()
    t0 = time.monotonic()
    Env.fdir.install('hello', so2)
    r, _ = wait_answer(lambda r: r.header('x-fngate-function-version') == v2, 2.0)
    diag('new version answering %.0f ms after the rename' % ((time.monotonic() - t0) * 1000))
    time.sleep(0.1)
    seen = w.stop()
    eq(answer(r), ('v2, ada', v2), '(message, version) after')
    o = deploy_event(d, 'hello', mark, 1)
    eq(((o or {}).get('msg'), o.get('version'), o.get('previous')),
       ('function updated', v2, v1), 'log line (msg, version, previous)')
    versions = {(s[1], s[2]) for s in seen}
    check(versions <= {(v1, 'v1, ada'), (v2, 'v2, ada')}, 'unexpected answers: %r' % versions)
    idx = [i for i, s in enumerate(seen) if s[1] == v2]
    check(idx and all(s[1] == v2 for s in seen[idx[0]:]),
          'the answer went back to the old version after the new one served')


@dcase('deploy: deleting the .so retires it: 503 "not deployed"; dropping it again serves again')
def _():
    d = Env.fresh()
    mark = d.log_mark()
    os.unlink(Env.fdir.so('hello'))
    r, _ = wait_answer(lambda r: r.status != 200, 2.0)
    obj = check_json_error(r, 503)
    eq(obj['message'], 'function hello is not deployed', 'message')
    check(d.wait_log(lambda o: o.get('msg') == 'function removed' and
                     o.get('function') == 'hello', 1, mark), 'no "function removed" log line')
    so, v = hello_variant('v2')
    Env.fdir.install('hello', so)
    r, _ = wait_answer(lambda r: r.status == 200, 2.0)
    eq(answer(r), ('v2, ada', v), 'answer after re-deploy')


def refused_keeps_old(data, cause_re, what):
    d = Env.fresh()
    msg0, v0 = answer(hello())
    mark = d.log_mark()
    w = Watch()
    with open(Env.fdir.so('hello') + '.part', 'wb') as f:
        f.write(data)
    os.chmod(Env.fdir.so('hello') + '.part', 0o644)
    os.replace(Env.fdir.so('hello') + '.part', Env.fdir.so('hello'))
    o = deploy_event(d, 'hello', mark, 5)
    time.sleep(0.2)
    seen = w.stop()
    check(o is not None, 'no deploy log line for %s; stderr:\n%s' % (what, d.stderr_text(mark)))
    eq(o.get('msg'), 'deploy failed', 'log line for %s' % what)
    check(re.search(cause_re, o.get('cause', '')), 'cause %r does not match %r'
          % (o.get('cause'), cause_re))
    eq(o.get('action'), 'keeping the running version', 'action')
    eq({s[1] for s in seen}, {v0}, 'versions answering meanwhile')
    eq(answer(hello()), (msg0, v0), 'answer after the refused deploy')
    diag('%s: deploy failed (%s), %s keeps serving' % (what, o.get('cause'), v0))
    # Put the running version's file back (same content hash: nothing to deploy), so later
    # rescans of the directory do not try the refused file again.
    for g, (so, ver) in _variants.items():
        if ver == v0:
            Env.fdir.install('hello', so)


@dcase('deploy: garbage bytes as hello.so -> "deploy failed" logged, the old version keeps serving')
def _():
    refused_keeps_old(os.urandom(4096) + b'not an ELF file', r'dlopen failed', 'garbage')


@dcase('deploy: abi_bad.so as hello.so -> refused ("abi mismatch"), the old version keeps serving')
def _():
    with open(test_so('abi_bad'), 'rb') as f:
        refused_keeps_old(f.read(), r'^abi mismatch$', 'abi_bad')


@dcase('deploy: init_fail.so as hello.so -> refused ("init failed"), the old version keeps serving')
def _():
    with open(test_so('init_fail'), 'rb') as f:
        refused_keeps_old(f.read(), r'^init failed$', 'init_fail')


@dcase('deploy: no_desc.so (no FNG_HANDLER) as hello.so -> refused, the old version keeps serving')
def _():
    with open(test_so('no_desc'), 'rb') as f:
        refused_keeps_old(f.read(), r'^dlopen failed$', 'no_desc')


@dcase('deploy: a new function that is garbage (x.so) -> "deploy failed", 503 not deployed')
def _():
    d = Env.get()
    mark = d.log_mark()
    Env.fdir.install('x', None, data=b'\x7fELF' + os.urandom(2000))
    o = deploy_event(d, 'x', mark, 5)
    check(o is not None and o.get('msg') == 'deploy failed', 'log line: %r; stderr:\n%s'
          % (o, d.stderr_text(mark)))
    check(o.get('cause'), 'no cause in %r' % o)
    obj = check_json_error(exchange(d.port, req('GET', '/s/x')), 503)
    eq(obj['message'], 'function x is not deployed', 'message')
    Env.fdir.remove('x')


@dcase('deploy: written in place in two steps (half, 20 ms pause, rest) -> the whole new version serves, no request fails')
def _():
    d = Env.fresh()
    so3, v3 = hello_variant('v3')
    check(answer(hello())[1] != v3, 'v3 already runs')
    with open(so3, 'rb') as f:
        data = f.read()
    mark = d.log_mark()
    w = Watch()
    time.sleep(0.05)
    with open(Env.fdir.so('hello'), 'wb') as f:   # like cp: truncate, then write
        f.write(data[:len(data) // 2])
        f.flush()
        time.sleep(0.02)
        f.write(data[len(data) // 2:])
    r, waited = wait_answer(lambda r: r.header('x-fngate-function-version') == v3, 3.0)
    time.sleep(0.1)
    seen = w.stop()
    eq(answer(r), ('v3, ada', v3), 'answer')
    diag('two-step write: new version after %.0f ms, %d requests in between, all 200'
         % (waited * 1000, len(seen)))
    half = fn_version(data[:len(data) // 2])
    tried = d.wait_log(lambda o: o.get('function') == 'hello' and o.get('version') == half,
                       0.05, mark)
    check(tried is None, 'the half-written file was picked up: %r' % tried)
    o = deploy_event(d, 'hello', mark, 0.05)
    eq((o or {}).get('version'), v3, 'the first deploy event after the write is the whole file')


@dcase('deploy: manifest timeout_ms applies on redeploy (300 ms, then 900 ms)')
def _():
    d = Env.get()

    def timed():
        mark = d.log_mark()
        t0 = time.monotonic()
        r = exchange(d.port, req('GET', '/s/sleepy'), timeout=10)
        ms = (time.monotonic() - t0) * 1000
        check_json_error(r, 504)
        o = failed_log(d, r.header('x-request-id'), mark)
        return ms, (o or {}).get('cause')

    mark = d.log_mark()
    Env.fdir.install('sleepy', None, 'timeout_ms: 300\n', data=padded(test_so('abuse_sleep'), '1'))
    wait_deployed(d, ['sleepy'], mark)
    ms1, c1 = timed()
    eq(c1, 'timeout after 300 ms', 'logged cause')
    check(295 <= ms1 < 300 + 350, '504 after %.0f ms with timeout_ms 300' % ms1)
    # A manifest change alone (the .so unchanged): reported, not required.
    Env.fdir.manifest('sleepy', 'timeout_ms: 900\n')
    time.sleep(0.3)
    ms_m, c_m = timed()
    diag('manifest changed alone (same .so): next 504 after %.0f ms (%s)' % (ms_m, c_m))
    mark = d.log_mark()
    Env.fdir.install('sleepy', None, data=padded(test_so('abuse_sleep'), '2'))
    wait_deployed(d, ['sleepy'], mark)
    ms2, c2 = timed()
    eq(c2, 'timeout after 900 ms', 'logged cause after redeploy')
    check(895 <= ms2 < 900 + 350, '504 after %.0f ms with timeout_ms 900' % ms2)
    diag('timeout_ms 300 -> 504 after %.0f ms; redeployed with 900 -> 504 after %.0f ms'
         % (ms1, ms2))


@dcase('deploy: a manifest change alone redeploys the same copy; fresh workers still load it')
def _():
    d = Env.get()
    mark = d.log_mark()
    Env.fdir.install('x', None, data=padded(test_so('ok'), 'manifest-only'))
    wait_deployed(d, ['x'], mark)
    check_status(exchange(d.port, req('GET', '/s/x')), 200)
    # Same .so, new manifest: every worker now serves one request, so each request after the
    # switch needs a worker that loads the private copy the two generations share.
    mark = d.log_mark()
    Env.fdir.manifest('x', 'max_invocations: 1\n')
    o = d.wait_log(lambda o: o.get('msg') == 'function updated' and o.get('function') == 'x',
                   3 * SLOW, mark)
    check(o is not None, 'no "function updated" after the manifest changed')
    eq(o.get('version'), o.get('previous'), 'version (same .so)')
    time.sleep(0.3)     # the old generation's worker has exited: its generation is freed
    statuses = [exchange(d.port, req('GET', '/s/x')).status for _ in range(6)]
    eq(statuses, [200] * 6, 'statuses of requests served by fresh workers')
    Env.fdir.remove('x')


@dcase('deploy: new functions.defaults on SIGHUP apply to a function without a manifest (timeout 300 ms, then 700 ms)')
def _():
    d = Env.get()

    def timed():
        t0 = time.monotonic()
        r = exchange(d.port, req('GET', '/s/sleepy'), timeout=10)
        check_json_error(r, 504)
        return (time.monotonic() - t0) * 1000

    routes = [('GET /hello/{name}', 'hello'), ('ANY /x', 'x'), ('ANY /sleepy', 'sleepy')] + \
        [('ANY /many%d' % i, 'many%d' % i) for i in range(MANY)]
    mark = d.log_mark()
    d.reload(fn_config(Env.fdir.path, routes, defaults='timeout_ms: 300', grants=GRANTS))
    Env.fdir.remove('sleepy')
    time.sleep(0.2)
    Env.fdir.install('sleepy', None, data=padded(test_so('abuse_sleep'), 'defaults'))
    wait_deployed(d, ['sleepy'], mark)
    ms1 = timed()
    check(295 <= ms1 < 300 + 350, '504 after %.0f ms with default timeout_ms 300' % ms1)
    mark = d.log_mark()
    d.reload(fn_config(Env.fdir.path, routes, defaults='timeout_ms: 700', grants=GRANTS))
    o = d.wait_log(lambda o: o.get('msg') == 'function updated' and o.get('function') == 'sleepy',
                   3 * SLOW, mark)
    check(o is not None, 'the new defaults did not redeploy the function')
    ms2 = timed()
    check(695 <= ms2 < 700 + 350, '504 after %.0f ms with default timeout_ms 700' % ms2)
    d.reload(fn_config(Env.fdir.path, routes, grants=GRANTS))
    Env.fdir.remove('sleepy')


@dcase('deploy: deleted and dropped again (same bytes) while its old worker still runs: the new copy outlives the old generation')
def _():
    d = Env.get()
    data = padded(test_so('slow'), 'same-bytes')
    manifest = 'max_invocations: 1\nenv: { FNG_TEST_SLEEP_MS: "400" }\n'
    mark = d.log_mark()
    Env.fdir.install('x', None, manifest, data=data)
    wait_deployed(d, ['x'], mark)
    got = []
    t = threading.Thread(target=lambda: got.append(exchange(d.port, req('GET', '/s/x'),
                                                            timeout=10)))
    t.start()
    time.sleep(0.1)
    os.unlink(Env.fdir.so('x'))
    wait_answer(lambda r: r.status == 503, 3.0, path='/s/x')
    mark = d.log_mark()
    Env.fdir.install('x', None, data=data)      # the same version, while the old one runs
    wait_deployed(d, ['x'], mark)
    t.join(10)
    eq([r.status for r in got], [200], 'the request in flight on the deleted version')
    time.sleep(0.3)     # the old worker has exited: its generation is freed
    # max_invocations 1: every request needs a fresh worker loading the new copy.
    eq([exchange(d.port, req('GET', '/s/x'), timeout=10).status for _ in range(3)], [200] * 3,
       'statuses from fresh workers')
    Env.fdir.remove('x')


@dcase('deploy: %d functions dropped at once are all deployed' % MANY)
def _():
    d = Env.get()
    mark = d.log_mark()
    for i in range(MANY):
        Env.fdir.install('many%d' % i, None, data=padded(test_so('ok'), 'many%d' % i))
    got = {}
    deadline = time.monotonic() + 3 * SLOW
    for i in range(MANY):
        o = deploy_event(d, 'many%d' % i, mark, max(0.01, deadline - time.monotonic()))
        got['many%d' % i] = o.get('msg') if o else None
    missing = sorted(n for n, m in got.items() if m != 'function deployed')
    errs = [l for l in d.stderr_text(mark, limit=400).splitlines()
            if 'cannot ask the supervisor' in l]
    statuses = {}
    for i in range(MANY):
        st = exchange(d.port, req('GET', '/s/many%d' % i)).status
        statuses[st] = statuses.get(st, 0) + 1
    diag('%d functions at once: %d deployed, answers %r' % (MANY, MANY - len(missing), statuses))
    for i in range(MANY):
        Env.fdir.remove('many%d' % i)
    if missing:
        raise Fail('%d of %d functions never deployed: %s\n%d "cannot ask the supervisor for a '
                   'worker" log lines, e.g.\n%s' % (len(missing), MANY, ', '.join(missing), len(errs),
                                                   '\n'.join(errs[:2])))
    eq(statuses, {200: MANY}, 'answers')


@dcase('deploy: three hot deploys under h2load --rps (60 % of the measured maximum): 0 non-2xx, 0 errors, version flips')
def _():
    d = Env.get()
    url = 'http://127.0.0.1:%d/s/hello/ada' % d.port
    variants = [hello_variant(g) for g in ('h1', 'h2', 'h3', 'h4')]
    mark = d.log_mark()
    # memory_mb: room for an ASan-instrumented worker over ~10^5 invocations.
    Env.fdir.install('hello', variants[0][0], 'memory_mb: 1024\n')
    wait_deployed(d, ['hello'], mark)
    mark0 = d.log_mark()
    clients = 8
    m, _ = h2load(['--h1', '-c', str(clients), '-D', '2', url], timeout=30)
    check(m.get('rps', 0) > 50, 'measured maximum only %r req/s' % m.get('rps'))
    total = int(m['rps'] * 0.6)
    per_client = max(1, total // clients)
    duration = 6
    p = subprocess.Popen(['h2load', '--h1', '-c', str(clients), '--rps', str(per_client),
                          '-D', str(duration), url], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    flips = []
    try:
        t0 = time.monotonic()
        for i, (so, ver) in enumerate(variants[1:], 1):
            time.sleep(max(0.0, t0 + 1.5 * i - time.monotonic()))
            mark = d.log_mark()
            Env.fdir.install('hello', so)
            wait_deployed(d, ['hello'], mark)
            r, waited = wait_answer(lambda r: r.header('x-fngate-function-version') == ver, 2.0)
            eq(answer(r), ('h%d, ada' % (i + 1), ver), 'answer after deploy %d' % i)
            flips.append('%s after %.0f ms' % (ver, waited * 1000))
        out, _ = p.communicate(timeout=duration + 20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    out = out.decode('utf-8', 'replace')
    note(out[-1500:])
    s = {}
    mm = re.search(r'requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, '
                   r'(\d+) failed, (\d+) errored, (\d+) timeout', out)
    sc = re.search(r'status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx', out)
    check(mm and sc, 'cannot parse the h2load summary:\n%s' % out[-1500:])
    done, succeeded, failed, errored, tmo = (int(mm.group(i)) for i in (3, 4, 5, 6, 7))
    n2xx = int(sc.group(1))
    non2xx = sum(int(sc.group(i)) for i in (2, 3, 4))
    diag('h2load: max %.0f req/s measured, ran at %d req/s (%d clients x %d) for %d s: '
         '%d done, %d 2xx, %d non-2xx, %d failed, %d errored, %d timeout; flips: %s'
         % (m['rps'], per_client * clients, clients, per_client, duration, done, n2xx, non2xx,
            failed, errored, tmo, ', '.join(flips)))
    check(done > 0, 'h2load did no request')
    with d.cond:
        bad = [l for l, o in d.logs[mark0:] if o and o.get('level') in ('warn', 'error')]
    check((non2xx, failed, errored, tmo) == (0, 0, 0, 0),
          '(non-2xx, failed, errored, timeout) = %r, expected all 0; warn/error log lines '
          'meanwhile:\n%s' % ((non2xx, failed, errored, tmo), '\n'.join(bad[:10])))
    eq(n2xx, done, '2xx = done')
    eq(len(set(v for _, v in variants)), 4, 'distinct versions')


@dcase('deploy: daemon exits 0 on SIGTERM')
def _():
    check(Env.d is not None, 'the daemon was not running at the end (it died %d time(s) in '
          'this file)' % len(Env.deaths))
    rc = Env.close()
    eq(rc, 0, 'exit code after SIGTERM; stderr tail:\n%s\n' % Env.tail)


if __name__ == '__main__':
    tap.run()
