#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile contents of the directories the gateway reads (issue 9): the functions directory and
a static root are writable by people less trusted than the operator who runs fngate as root.
Links (to a root-only file, to a directory, dangling, to a FIFO), FIFOs, device nodes, hard
links, files of other users or writable by everyone, files swapped during scans, oversized and
sparse files, repeated scans of unchanged and failing files, and a run directory left behind by
a killed gateway. Each case asserts the refusal (a log line naming the file and the reason),
that the side effect did not happen (no copy of the secret, nothing of it in the log or in a
response, no blocked scan, a constant number of copies) and that the gateway keeps serving.
TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_TEST_FUNCTIONS."""

import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time

from lib import (SLOW, Daemon, FnDir, Tap, check, check_status, deploy_event, eq, exchange,
                 fn_version, note, open_tmpdir, req, test_so, wait_deployed)

tap = Tap(budget=150, needs_workers=True)
WORK = open_tmpdir('fngate-it-hostile-')
tap.on_exit(lambda: shutil.rmtree(WORK, ignore_errors=True))

# A file only root may read, with a marker that must never leave it.
SECRET_DIR = os.path.join(WORK, 'secret')
os.mkdir(SECRET_DIR, 0o700)
SECRET = os.path.join(SECRET_DIR, 'shadow')
MARKER = 'root-only-marker-%d-%d' % (os.getpid(), int(time.time()))
with open(SECRET, 'w') as f:
    f.write(MARKER + ':$6$salt$hash:19000:0:99999:7:::\n')
os.chmod(SECRET, 0o600)
SECRET_BYTES = open(SECRET, 'rb').read()
SECRET_VERSION = fn_version(SECRET_BYTES)

OK_SO = test_so('ok')
MAX_SO = 8 << 20


def config(fdir, run_dir, static_root):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        'functions:',
        '  dir: "%s"' % fdir,
        '  run_dir: "%s"' % run_dir,
        '  max_so_bytes: %d' % MAX_SO,
        'apis:',
        '  a:',
        '    stages: { s: {} }',
        '    routes:',
        '      "GET /mock": { integration: { type: mock, status: 200, body: "mock" } }',
        '      "ANY /fn/{name}": { integration: { type: function, function: ok } }',
        '      "GET /static/{path+}":',
        '        integration: { type: static, root: "%s" }' % static_root,
    ] + ['      "ANY /f/%s": { integration: { type: function, function: %s } }' % (n, n)
         for n in ('good', 'swap', 'late', 'fifo2', 'dev2', 'other', 'leaky', 'hl')]) + '\n'


class Env:
    d = None

    @classmethod
    def get(cls):
        if cls.d is None or not cls.d.alive():
            cls.close()
            cls.fdir = FnDir('fngate-it-hostile-fn-')
            cls.run_dir = os.path.join(open_tmpdir('fngate-it-hostile-run-'), 'run')
            cls.static = open_tmpdir('fngate-it-hostile-static-')
            with open(os.path.join(cls.static, 'index.html'), 'w') as f:
                f.write('<p>hello</p>\n')
            cls.fdir.install('ok', OK_SO)
            cls.d = Daemon(config(cls.fdir.path, cls.run_dir, cls.static))
            wait_deployed(cls.d, ['ok'], 0)
        return cls.d

    @classmethod
    def close(cls):
        if cls.d is not None:
            cls.d.stop()
            cls.d = None
            cls.fdir.cleanup()


tap.on_exit(Env.close)


def serving(d):
    """The gateway still answers: a mock route and a function."""
    check_status(exchange(d.port, req('GET', '/s/mock')), 200)
    check_status(exchange(d.port, req('GET', '/s/fn/x')), 200)


def gw_dirs(run_dir):
    return sorted(e for e in os.listdir(run_dir) if e.startswith('gw-'))


def copies(run_dir):
    """Every file in every gateway directory under run_dir: {path: bytes}."""
    out = {}
    for g in gw_dirs(run_dir):
        base = os.path.join(run_dir, g)
        for e in os.listdir(base):
            p = os.path.join(base, e)
            with open(p, 'rb') as f:
                out[p] = f.read()
    return out


def no_secret_anywhere(d):
    """The secret is in no copy, no log line."""
    for p, data in copies(Env.run_dir).items():
        check(MARKER.encode() not in data, 'the secret was copied to %s' % p)
    for raw, _ in list(d.logs):
        check(MARKER not in raw, 'the secret appears in the log: %r' % raw[:200])


def refused(d, name, since, words, timeout=5.0):
    """A `deploy failed` line for name whose cause contains words (and no secret)."""
    o = deploy_event(d, name, since, timeout)
    check(o is not None and o.get('msg') == 'deploy failed',
          'function %s: expected "deploy failed", got %r' % (name, o))
    cause = o.get('cause', '')
    check(words in cause, 'function %s: cause %r does not say %r' % (name, cause, words))
    check(MARKER not in cause, 'the cause quotes the secret')
    return o


def swapping(path, make_good, stop):
    """Until stop is set: rename, over path, a fresh good file (make_good(tmp)) and a link to
    the secret, in turn, as fast as it goes."""
    i = 0
    while not stop.is_set():
        tmp = os.path.join(os.path.dirname(path), '.swap-%d' % (i % 2))
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if i % 2:
            os.symlink(SECRET, tmp)
        else:
            make_good(tmp)
        os.replace(tmp, path)
        i += 1
        time.sleep(0.002)


def drop(name, make, fix=None):
    """Create functions/NAME.so with make(path) after removing what was there; fix(path), if
    given, runs before the file is renamed into place (so the scan never sees it unfixed)."""
    p = Env.fdir.so(name)
    tmp = os.path.join(Env.fdir.path, '.%s.part' % name)
    for old in (p, tmp, os.path.join(Env.fdir.path, name + '.yaml')):
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass
    make(tmp)
    if fix:
        fix(tmp)
    os.replace(tmp, p)
    return p


@tap.case('run directory: RUN_DIR 0711, the gateway\'s directory root:65534 0710, copies '
          'root:65534 0640 named by SHA-256')
def _():
    d = Env.get()
    st = os.stat(Env.run_dir)
    eq(stat.S_IMODE(st.st_mode), 0o711, 'mode of run_dir')
    dirs = gw_dirs(Env.run_dir)
    eq(len(dirs), 1, 'gateway directories')
    g = os.path.join(Env.run_dir, dirs[0])
    st = os.stat(g)
    eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o710, 0, 65534), 'its mode and owner')
    with open(OK_SO, 'rb') as f:
        import hashlib
        h = hashlib.sha256(f.read()).hexdigest()
    p = os.path.join(g, h + '.so')
    check(os.path.exists(p), 'the copy of ok.so is %s' % p)
    st = os.stat(p)
    eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o640, 0, 65534), 'copy mode/owner')
    serving(d)


@tap.case('a symbolic link NAME.so to a root-only file is refused, never copied, never logged')
def _():
    d = Env.get()
    mark = d.log_mark()
    drop('leaky', lambda p: os.symlink(SECRET, p))
    refused(d, 'leaky', mark, 'leaky.so refused: a symbolic link')
    no_secret_anywhere(d)
    check_status(exchange(d.port, req('GET', '/s/f/leaky')), 503)
    serving(d)


@tap.case('a symbolic link NAME.yaml to a root-only file: the manifest is refused, its target '
          'never read')
def _():
    d = Env.get()
    mark = d.log_mark()
    os.symlink(SECRET, os.path.join(Env.fdir.path, 'other.yaml'))
    Env.fdir.install('other', OK_SO)
    refused(d, 'other', mark, 'manifest other.yaml refused: a symbolic link')
    no_secret_anywhere(d)
    # Replaced by a real manifest, it deploys.
    mark = d.log_mark()
    os.unlink(os.path.join(Env.fdir.path, 'other.yaml'))
    Env.fdir.manifest('other', 'timeout_ms: 2000\n')
    wait_deployed(d, ['other'], mark)
    check_status(exchange(d.port, req('GET', '/s/f/other')), 200)


@tap.case('links to a directory, dangling and to a FIFO are refused as links')
def _():
    d = Env.get()
    fifo = os.path.join(WORK, 'a-fifo')
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    for name, target in (('todir', '/etc'), ('dangling', '/nonexistent/x.so'),
                         ('tofifo', fifo)):
        mark = d.log_mark()
        drop(name, lambda p, t=target: os.symlink(t, p))
        refused(d, name, mark, '%s.so refused: a symbolic link' % name)
    serving(d)


@tap.case('a FIFO as NAME.so and as NAME.yaml does not block the scan: later deploys work and '
          'SIGTERM is not held up')
def _():
    d = Env.get()
    mark = d.log_mark()
    drop('fifo', os.mkfifo)
    refused(d, 'fifo', mark, 'fifo.so refused: a FIFO')
    mark = d.log_mark()
    os.mkfifo(os.path.join(Env.fdir.path, 'fifo2.yaml'))
    Env.fdir.install('fifo2', OK_SO)
    refused(d, 'fifo2', mark, 'manifest fifo2.yaml refused: a FIFO')
    # The scan thread is free: a new function deploys at once.
    mark = d.log_mark()
    Env.fdir.install('late', OK_SO)
    wait_deployed(d, ['late'], mark, timeout=3.0)
    check_status(exchange(d.port, req('GET', '/s/f/late')), 200)
    serving(d)


@tap.case('device nodes as NAME.so and NAME.yaml are refused without being opened')
def _():
    d = Env.get()
    mark = d.log_mark()
    drop('dev', lambda p: os.mknod(p, 0o644 | stat.S_IFCHR, os.makedev(1, 5)))  # /dev/zero
    refused(d, 'dev', mark, 'dev.so refused: a character device')
    mark = d.log_mark()
    os.mknod(os.path.join(Env.fdir.path, 'dev2.yaml'), 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    Env.fdir.install('dev2', OK_SO)
    refused(d, 'dev2', mark, 'manifest dev2.yaml refused: a character device')
    serving(d)


@tap.case('a hard link to a root-only file, a file of another user and a world-writable file '
          'are refused')
def _():
    d = Env.get()
    mark = d.log_mark()
    try:
        drop('hl', lambda p: os.link(SECRET, p))
    except OSError as e:
        note('hard link not possible here (%s): that part is skipped' % e)
    else:
        refused(d, 'hl', mark, 'hl.so refused: has another hard link')
        no_secret_anywhere(d)
        os.unlink(Env.fdir.so('hl'))
    mark = d.log_mark()
    drop('stranger', lambda p: shutil.copyfile(OK_SO, p), lambda p: os.chown(p, 12345, 12345))
    refused(d, 'stranger', mark, 'stranger.so refused: owned by a user who is neither root')
    mark = d.log_mark()
    drop('open', lambda p: shutil.copyfile(OK_SO, p), lambda p: os.chmod(p, 0o666))
    refused(d, 'open', mark, 'open.so refused: writable by everyone')
    serving(d)


@tap.case('oversized and sparse files are refused before anything is copied')
def _():
    d = Env.get()
    for name, size in (('big', MAX_SO + 1), ('sparse', 1 << 30)):
        mark = d.log_mark()

        def make(p, size=size):
            with open(p, 'wb') as f:
                f.truncate(size)
                f.seek(0)
                f.write(b'\x7fELF')
        drop(name, make)
        refused(d, name, mark, '%s.so refused: larger than the configured maximum' % name)
    total = sum(len(b) for b in copies(Env.run_dir).values())
    check(total < MAX_SO, 'the copies hold %d bytes: an oversized file was copied' % total)
    serving(d)


@tap.case('repeated scans (20 SIGHUPs) of unchanged, refused and failing files: the number of '
          'copies stays the same, each failure is logged once')
def _():
    d = Env.get()
    mark = d.log_mark()
    version = Env.fdir.install('initfail', test_so('init_fail'))
    refused(d, 'initfail', mark, 'init failed', timeout=5.0)
    # The failed version's copy goes with its worker.
    deadline = time.monotonic() + 3 * SLOW
    while any(os.path.basename(p).startswith(version) for p in copies(Env.run_dir)):
        check(time.monotonic() < deadline, 'the copy of a version that failed stays')
        time.sleep(0.02)
    before = sorted(copies(Env.run_dir))
    mark = d.log_mark()
    for _ in range(20):
        d.reload()
    after = sorted(copies(Env.run_dir))
    eq(after, before, 'copies after 20 reloads')
    lines = [o for _, o in d.logs[mark:] if o and o.get('msg') == 'deploy failed']
    eq(lines, [], 'deploy failures logged again for unchanged files')
    serving(d)


@tap.case('a file swapped between a good .so and a link to a root-only file during scans: '
          'the secret is never copied, logged or served')
def _():
    d = Env.get()
    stop = threading.Event()
    t = threading.Thread(target=swapping, args=(
        Env.fdir.so('swap'), lambda p: shutil.copyfile(OK_SO, p), stop), daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            d.proc.send_signal(signal.SIGHUP)
            r = exchange(d.port, req('GET', '/s/f/swap'))
            check(MARKER.encode() not in r.body, 'the secret was served')
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(5)
    no_secret_anywhere(d)
    serving(d)


@tap.case('static root: links (to a root-only file, to a directory), a FIFO and a device are '
          'left out with a warning; the rest is served and a reload is not blocked')
def _():
    d = Env.get()
    root = Env.static
    os.symlink(SECRET, os.path.join(root, 'leak.txt'))
    os.symlink(SECRET_DIR, os.path.join(root, 'secretdir'))
    os.mkfifo(os.path.join(root, 'pipe.txt'))
    os.mknod(os.path.join(root, 'zero.bin'), 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    mark = d.log_mark()
    t0 = time.monotonic()
    d.reload()
    check(time.monotonic() - t0 < 5 * SLOW, 'the reload took too long')
    for name, why in (('leak.txt', 'a symbolic link'), ('secretdir', 'a symbolic link'),
                      ('pipe.txt', 'a FIFO'), ('zero.bin', 'a character device')):
        o = d.wait_log(lambda o, n=name: o.get('msg') == 'config warning' and
                       n in o.get('warning', ''), 2.0 * SLOW, mark)
        check(o is not None, 'no warning about %s' % name)
        check(why in o['warning'], 'warning %r does not say %r' % (o['warning'], why))
        r = exchange(d.port, req('GET', '/s/static/' + name))
        check_status(r, 404)
        check(MARKER.encode() not in r.body, 'the secret was served')
    check_status(exchange(d.port, req('GET', '/s/static/index.html')), 200)
    no_secret_anywhere(d)
    for name in ('leak.txt', 'secretdir', 'pipe.txt', 'zero.bin'):
        os.unlink(os.path.join(root, name))


@tap.case('static root: a file swapped with a link to a root-only file during reloads is never '
          'served as the secret')
def _():
    d = Env.get()
    root = Env.static

    def public(p):
        with open(p, 'w') as f:
            f.write('public\n')
    stop = threading.Event()
    t = threading.Thread(target=swapping, args=(os.path.join(root, 'page.txt'), public, stop),
                         daemon=True)
    t.start()
    try:
        for _ in range(15):
            d.reload()
            r = exchange(d.port, req('GET', '/s/static/page.txt'))
            check(r.status in (200, 404), 'status %d' % r.status)
            check(MARKER.encode() not in r.body, 'the secret was served')
    finally:
        stop.set()
        t.join(5)
    no_secret_anywhere(d)


@tap.case('a run directory left by a gateway killed with SIGKILL is removed by the next one; '
          'a live gateway\'s is kept')
def _():
    run_dir = os.path.join(open_tmpdir('fngate-it-hostile-kill-'), 'run')
    fdir = FnDir('fngate-it-hostile-fn2-')
    static = open_tmpdir('fngate-it-hostile-static2-')
    try:
        fdir.install('ok', OK_SO)
        first = Daemon(config(fdir.path, run_dir, static))
        wait_deployed(first, ['ok'], 0)
        old = gw_dirs(run_dir)
        eq(len(old), 1, 'directories of the first gateway')
        # A directory named like that of a process that is gone, and one of a live process.
        os.mkdir(os.path.join(run_dir, 'gw-999999999-1'))
        with open('/proc/%d/stat' % os.getpid()) as f:
            me = f.read().rsplit(')', 1)[1].split()[19]
        live = 'gw-%d-%s' % (os.getpid(), me)
        os.mkdir(os.path.join(run_dir, live))
        first.proc.kill()
        first.proc.wait(10)
        first.stop()
        check(os.path.isdir(os.path.join(run_dir, old[0])), 'SIGKILL left the directory')
        second = Daemon(config(fdir.path, run_dir, static))
        try:
            wait_deployed(second, ['ok'], 0)
            now = gw_dirs(run_dir)
            check(old[0] not in now, 'the dead gateway\'s directory is still there: %r' % now)
            check('gw-999999999-1' not in now, 'the stale directory is still there')
            check(live in now, 'a live process\'s directory was removed')
            eq(len(now), 2, 'directories: the live one and the new gateway\'s (%r)' % now)
        finally:
            second.stop()
        check(live in gw_dirs(run_dir) and len(gw_dirs(run_dir)) == 1,
              'a stopped gateway removes its own directory: %r' % gw_dirs(run_dir))
    finally:
        fdir.cleanup()
        shutil.rmtree(os.path.dirname(run_dir), ignore_errors=True)
        shutil.rmtree(static, ignore_errors=True)


def named_config(jwks, cert, key, token):
    return '\n'.join([
        'server:',
        '  listen: ["127.0.0.1:0"]',
        '  tls:',
        '    listen: ["127.0.0.1:0"]',
        '    certificates: [{ cert: "%s", key: "%s" }]' % (cert, key),
        'admin: { listen: "127.0.0.1:0", token_file: "%s" }' % token,
        'apis:',
        '  a:',
        '    authorizers:',
        '      j: { type: jwt, issuer: "https://i/", audience: [a], algorithms: [ES256],',
        '           jwks: { file: "%s" } }' % jwks,
        '    stages: { s: {} }',
        '    routes:',
        '      "GET /mock": { integration: { type: mock, status: 200, body: "mock" } }',
        '']) + '\n'


@tap.case('files the configuration names (JWKS, certificate, key, admin token) in a directory '
          'others can write: links, FIFOs, devices, hard links, other owners and oversized '
          'files refused with the reason, never quoted; an operator\'s link is followed')
def _():
    base = os.path.join(WORK, 'named')
    real = os.path.join(base, 'real')           # the operator's: root, 0755
    pub = os.path.join(base, 'pub')             # writable by everyone (sticky, as /tmp)
    os.makedirs(real)
    os.makedirs(pub)
    os.chmod(pub, 0o1777)
    r = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=t',
                        '-keyout', os.path.join(real, 'key.pem'),
                        '-out', os.path.join(real, 'cert.pem')], capture_output=True)
    eq(r.returncode, 0, 'openssl: %r' % r.stderr[-300:])
    with open(os.path.join(real, 'jwks.json'), 'w') as f:
        f.write('{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k", '
                '"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", '
                '"y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}\n')
    with open(os.path.join(real, 'token'), 'w') as f:
        f.write('t' * 32 + '\n')
    good = {n: os.path.join(real, f) for n, f in
            (('jwks', 'jwks.json'), ('cert', 'cert.pem'), ('key', 'key.pem'),
             ('token', 'token'))}

    def fngate_check(**over):
        paths = dict(good, **over)
        p = os.path.join(base, 'c.yaml')
        with open(p, 'w') as f:
            f.write(named_config(paths['jwks'], paths['cert'], paths['key'], paths['token']))
        t0 = time.monotonic()
        r = subprocess.run([os.environ['FNGATE_BIN'], 'check', p], capture_output=True,
                           text=True, timeout=30)
        return r, time.monotonic() - t0

    r, _t = fngate_check()
    eq(r.returncode, 0, 'the operator\'s own files: %r' % (r.stdout + r.stderr)[-400:])
    # certbot's layout: live/ holds links into archive/, both the operator's.
    live = os.path.join(base, 'live')
    os.makedirs(live)
    for n in ('cert.pem', 'key.pem'):
        os.symlink('../real/' + n, os.path.join(live, n))
    r, _t = fngate_check(cert=os.path.join(live, 'cert.pem'), key=os.path.join(live, 'key.pem'))
    eq(r.returncode, 0, 'links in a directory only root can write: %r' % (r.stdout + r.stderr))

    def hostile(name, make):
        p = os.path.join(pub, name)
        make(p)
        return p
    big = os.path.join(pub, 'big')
    with open(big, 'wb') as f:
        f.truncate(32 << 20)
    other = hostile('other.pem', lambda p: shutil.copy(good['cert'], p))
    os.chown(other, 65534, 65534)
    hard = os.path.join(pub, 'hard')
    hard_ok = True
    try:
        shutil.copy(good['token'], os.path.join(real, 'token2'))
        os.link(os.path.join(real, 'token2'), hard)
    except OSError:
        hard_ok = False
    cases = [
        ('jwks', hostile('jwks.json', lambda p: os.symlink(SECRET, p)),
         'a symbolic link in a directory others can write'),
        ('cert', hostile('cert.pem', lambda p: os.symlink(SECRET, p)),
         'a symbolic link in a directory others can write'),
        ('key', hostile('key.pem', os.mkfifo), 'a FIFO'),
        ('token', hostile('token', os.mkfifo), 'a FIFO'),
        ('jwks', hostile('dangling', lambda p: os.symlink('/nonexistent/x', p)),
         'a symbolic link'),
        ('key', '/dev/zero', 'a character device'),
        ('jwks', big, 'larger than'),
        ('cert', other, 'owned by a user'),
        ('cert', hostile('dir', os.mkdir), 'a directory'),
    ]
    if hard_ok:
        cases.append(('token', hard, 'hard link'))
    for key, path, why in cases:
        r, took = fngate_check(**{key: path})
        out = r.stdout + r.stderr
        check(r.returncode == 1 and why in out, '%s %s: rc %d, %r' % (key, path, r.returncode,
                                                                        out[-300:]))
        check(MARKER not in out, 'the refusal quotes the secret')
        check(took < 10 * SLOW, '%s %s: check took %.1f s' % (key, path, took))
    # A daemon refuses them the same way at start, and a reload to them keeps it serving.
    p = os.path.join(base, 'serve.yaml')
    with open(p, 'w') as f:
        f.write(named_config(good['jwks'], good['cert'], good['key'], good['token']))
    d = Daemon(open(p).read(), listeners=3)
    try:
        mark = d.log_mark()
        bad = named_config(good['jwks'], os.path.join(pub, 'cert.pem'),
                           os.path.join(pub, 'key.pem'), good['token'])
        o = d.reload(bad)
        check(o.get('msg') == 'reload failed' and 'symbolic link' in json.dumps(o),
              'the reload is not refused with the reason: %s' % d.stderr_text(mark))
        check(MARKER not in d.stderr_text(0, 400), 'the log quotes the secret')
        check_status(exchange(d.port, req('GET', '/s/mock')), 200)
    finally:
        d.stop()


@tap.case('a gateway with functions from a hostile directory still stops at once on SIGTERM')
def _():
    d = Env.get()
    t0 = time.monotonic()
    rc = d.stop()
    eq(rc, 0, 'exit code')
    check(time.monotonic() - t0 < 5 * SLOW, 'stopping took %.1f s' % (time.monotonic() - t0))
    Env.d = None
    Env.fdir.cleanup()


tap.run()
