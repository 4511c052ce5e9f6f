# SPDX-License-Identifier: MIT
"""Tiny integration-test harness for fngate (Python 3 stdlib only).

- Daemon: start `fngate serve -c FILE` from a config text, learn its ports from
  the `listening` log lines, reload (SIGHUP), stop (SIGTERM, then SIGKILL).
- Conn: raw socket with a buffered reader, an HTTP/1.1 response parser
  (Content-Length, chunked, until-close) and a "did the peer close?" probe.
- Tap: TAP output; every case runs isolated, a failure never stops the rest.

The binary comes from $FNGATE_BIN (default: build/gateway/fngate of the repo).
Only 127.0.0.1 is used. Every socket operation is bounded by a timeout.
"""

import atexit
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get('FNGATE_BIN') or os.path.normpath(
    os.path.join(HERE, '..', '..', 'build', 'gateway', 'fngate'))
HOST = '127.0.0.1'
KEEP_TMP = bool(os.environ.get('FNGATE_IT_KEEP'))
# `meson test --setup valgrind-daemon` sets FNGATE_WRAPPER (e.g. "valgrind --error-exitcode=99 ...");
# the daemon then runs under it and start-up / response waits are stretched by SLOW.
WRAPPER = shlex.split(os.environ.get('FNGATE_WRAPPER', ''))
SLOW = 5.0 if WRAPPER else 1.0


# ---------------------------------------------------------------- failures ---

class Fail(AssertionError):
    """A failed expectation; the message is the TAP diagnostic."""


_tls = threading.local()


def notes():
    """This thread's per-case diagnostics (bytes sent / received), printed on failure."""
    if not hasattr(_tls, 'notes'):
        _tls.notes = []
    return _tls.notes


def note(msg):
    n = notes()
    n.append(msg)
    if len(n) > 60:
        del n[:-60]


def diags():
    """This thread's per-case measurements, printed as TAP diagnostics after the result line
    (pass or fail)."""
    if not hasattr(_tls, 'diags'):
        _tls.diags = []
    return _tls.diags


def diag(msg):
    diags().append(str(msg))


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail('%s: expected %r, got %r' % (what, want, got))


def short(b, n=600):
    r = repr(b)
    return r if len(r) <= n else r[:n] + '...(%d bytes)' % len(b)


# -------------------------------------------------------------------- TAP ---

class Tap:
    def __init__(self, budget=100.0, needs_workers=False):
        self.cases = []
        self.cleanups = []
        self.budget = budget * SLOW
        self.needs_workers = needs_workers

    def case(self, name):
        def deco(fn):
            self.cases.append((name.replace('#', 'No.'), fn))
            return fn
        return deco

    def add(self, name, fn):
        self.cases.append((name.replace('#', 'No.'), fn))

    def on_exit(self, fn):
        self.cleanups.append(fn)

    def run(self):
        if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
            print('Bail out! fngate binary not found or not executable: %s '
                  '(set FNGATE_BIN)' % BIN, flush=True)
            sys.exit(1)
        if self.needs_workers and any('valgrind' in w for w in WRAPPER):
            # Workers are forks of the daemon: under memcheck they run valgrind's own system
            # calls, which their seccomp filter (rightly) refuses. tests/unit/sandbox skips
            # the same way; the gateway side is checked by the other files under valgrind.
            print('1..0 # SKIP function workers cannot run under valgrind', flush=True)
            sys.exit(0)
        start = time.monotonic()
        failed = 0
        try:
            for i, (name, fn) in enumerate(self.cases, 1):
                del notes()[:]
                if time.monotonic() - start > self.budget:
                    failed += 1
                    print('not ok %d - %s' % (i, name))
                    print('# file time budget (%.0f s) exhausted before this case'
                          % self.budget, flush=True)
                    continue
                t0 = time.monotonic()
                del diags()[:]
                try:
                    fn()
                    print('ok %d - %s' % (i, name))
                    for line in diags():
                        print('# ' + line)
                    sys.stdout.flush()
                except Exception as e:  # noqa: BLE001 - report everything
                    failed += 1
                    print('not ok %d - %s' % (i, name))
                    if isinstance(e, Fail):
                        lines = str(e).splitlines() or ['(no message)']
                    else:
                        lines = traceback.format_exc().splitlines()
                    for line in lines:
                        print('# ' + line)
                    for line in diags():
                        print('# ' + line)
                    for n in notes():
                        for line in str(n).splitlines():
                            print('#   ' + line)
                    print('#   (case took %.2f s)' % (time.monotonic() - t0), flush=True)
        finally:
            for fn in reversed(self.cleanups):
                try:
                    fn()
                except Exception:  # noqa: BLE001
                    traceback.print_exc(file=sys.stderr)
        print('1..%d' % len(self.cases), flush=True)
        sys.exit(1 if failed else 0)


def run_parallel(fns, workers=8):
    """Run callables concurrently. Returns [(exception or None, notes)] in order;
    a non-Fail exception is wrapped into a Fail carrying its traceback."""
    results = [None] * len(fns)
    lock = threading.Lock()
    todo = list(range(len(fns)))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop(0)
            del notes()[:]
            exc = None
            try:
                fns[i]()
            except Fail as e:
                exc = e
            except Exception:  # noqa: BLE001
                exc = Fail(traceback.format_exc())
            results[i] = (exc, list(notes()))
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# ----------------------------------------------------------------- daemon ---

class Daemon:
    """One `fngate serve -c FILE` process. Use as a context manager.

    stderr_pace=(N, S) makes the daemon's stderr a slowly read pipe: at most N bytes are read
    every S seconds (set d.stderr_pace = None to read as fast as it comes again)."""

    def __init__(self, config, listeners=1, wait=True, stderr_pace=None):
        self.tmp = tempfile.mkdtemp(prefix='fngate-it-')
        self.config_path = os.path.join(self.tmp, 'fngate.yaml')
        self.access_log = os.path.join(self.tmp, 'access.log')
        self.write_config(config)
        self.logs = []          # list of (raw line str, dict or None)
        self.cond = threading.Condition()
        self.reader_done = False
        self.addrs = []
        self.rc = None
        self._stopped = False
        self.stderr_pace = stderr_pace
        self.stdout_path = os.path.join(self.tmp, 'stdout')
        self._stdout = open(self.stdout_path, 'wb')
        self.proc = subprocess.Popen(
            WRAPPER + [BIN, 'serve', '-c', self.config_path], cwd=self.tmp,
            stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=subprocess.PIPE)
        self._reader = threading.Thread(
            target=self._read_stderr if stderr_pace is None else self._read_stderr_paced,
            daemon=True)
        self._reader.start()
        self.ready_at = None
        if wait:
            try:
                self.wait_listening(listeners)
            except BaseException:
                self.stop()
                raise

    # -- config
    def fmt(self, text):
        return text.replace('@TMP@', self.tmp)

    def write_config(self, text, path=None):
        path = path or self.config_path
        tmp = path + '.new'
        with open(tmp, 'w') as f:
            f.write(self.fmt(text))
        os.replace(tmp, path)

    # -- stderr log
    def _add_stderr_line(self, raw):
        line = raw.decode('utf-8', 'replace').rstrip('\n')
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                obj = None
        except ValueError:
            obj = None
        with self.cond:
            self.logs.append((line, obj))
            self.cond.notify_all()

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b''):
            self._add_stderr_line(raw)
        with self.cond:
            self.reader_done = True
            self.cond.notify_all()

    def _read_stderr_paced(self):
        fd = self.proc.stderr.fileno()
        rest = b''
        while True:
            pace = self.stderr_pace
            d = os.read(fd, pace[0] if pace else 65536)
            if not d:
                break
            *lines, rest = (rest + d).split(b'\n')
            for raw in lines:
                self._add_stderr_line(raw + b'\n')
            if pace:
                time.sleep(pace[1])
        if rest:
            self._add_stderr_line(rest)
        with self.cond:
            self.reader_done = True
            self.cond.notify_all()

    def log_mark(self):
        with self.cond:
            return len(self.logs)

    def wait_log(self, pred, timeout=5.0, since=0):
        """First JSON log object (index >= since) satisfying pred, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.logs):
                    obj = self.logs[i][1]
                    i += 1
                    if obj is not None and pred(obj):
                        return obj
                if self.reader_done:
                    return None
                rem = deadline - time.monotonic()
                if rem <= 0:
                    return None
                self.cond.wait(rem)

    def stderr_text(self, since=0, limit=40):
        with self.cond:
            lines = [l for l, _ in self.logs[since:]]
        if len(lines) > limit:
            lines = ['...'] + lines[-limit:]
        return '\n'.join(lines)

    def wait_listening(self, n=1, timeout=10.0):
        timeout *= SLOW * 2
        got = []

        def pred(o):
            if o.get('msg') == 'listening':
                got.append(o)
            return len(got) >= n
        if self.wait_log(pred, timeout) is None:
            rc = self.proc.poll()
            raise Fail('daemon did not log %d "listening" line(s) within %.0f s '
                       '(exit code %r); stderr:\n%s' % (n, timeout, rc, self.stderr_text()))
        self.ready_at = time.monotonic()
        for o in got:
            addr = str(o.get('addr', ''))
            host, _, port = addr.rpartition(':')
            check(port.isdigit(), 'bad "addr" in listening line: %r' % o)
            self.addrs.append((host.strip('[]'), int(port)))

    @property
    def port(self):
        return self.addrs[0][1]

    # -- signals
    def alive(self):
        return self.proc.poll() is None

    def exit_code_soon(self, timeout=2.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        """Send sig, but not within 100 ms of the "listening" line: signals sent right after
        start-up are covered by a dedicated lifecycle case, other cases stay independent of it."""
        if self.ready_at is not None:
            wait = self.ready_at + 0.1 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        check(self.alive(), 'daemon is not running (exit code %r); stderr:\n%s'
              % (self.proc.poll(), self.stderr_text()))
        self.proc.send_signal(sig)

    def reload(self, config=None, timeout=5.0):
        """Rewrite the config (if given), SIGHUP, return the reload log object."""
        if config is not None:
            self.write_config(config)
        mark = self.log_mark()
        self.signal(signal.SIGHUP)
        obj = self.wait_log(lambda o: o.get('msg') in ('config reloaded', 'reload failed')
                            or o.get('level') == 'error', timeout, since=mark)
        if obj is None:
            rc = self.exit_code_soon(1.0) if self.reader_done else None
            if rc is not None:
                raise Fail('daemon exited (exit code %r) after SIGHUP instead of reloading; '
                           'stderr since:\n%s' % (rc, self.stderr_text(mark)))
            raise Fail('no reload log line within %.0f s after SIGHUP; stderr since:\n%s'
                       % (timeout, self.stderr_text(mark)))
        return obj

    def wait_exit(self, timeout):
        try:
            self.rc = self.proc.wait(timeout)
            return self.rc
        except subprocess.TimeoutExpired:
            return None

    @classmethod
    def maybe(cls, config, listeners=1):
        """A context manager giving a Daemon, or None if `fngate check` refuses the config."""
        tmp = tempfile.mkdtemp(prefix='fngate-it-maybe-')
        try:
            p = os.path.join(tmp, 'fngate.yaml')
            with open(p, 'w') as f:
                f.write(config.replace('@TMP@', tmp))
            rc = subprocess.run(WRAPPER + [BIN, 'check', p], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=30 * SLOW).returncode
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if rc != 0:
            note('fngate check refused the config (exit %d)' % rc)
            return _NoDaemon()
        return cls(config, listeners)

    def cleanup(self):
        if not KEEP_TMP:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def stop(self, timeout=15.0, cleanup=True):
        """SIGTERM, wait up to `timeout`, then SIGKILL. Idempotent. Returns rc.
        The temp dir is removed unless cleanup=False (then call cleanup())."""
        if self._stopped:
            if cleanup:
                self.cleanup()
            return self.rc
        self._stopped = True
        try:
            if self.proc.poll() is None:
                if self.ready_at is not None:   # see signal()
                    time.sleep(max(0.0, self.ready_at + 0.1 - time.monotonic()))
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.rc = self.proc.returncode
            self._reader.join(5)
            self.stderr_tail = self.stderr_text(limit=15)
            with self.cond:
                tool = [l for l, _ in self.logs if l.startswith('==') or 'Sanitizer' in l]
            if tool:   # valgrind / sanitizer report: show its start, that is where the story is
                self.stderr_tail = '\n'.join(tool[:25])
        finally:
            try:
                self.proc.stderr.close()
            except Exception:  # noqa: BLE001
                pass
            self._stdout.close()
            if cleanup:
                self.cleanup()
        return self.rc

    stderr_tail = ''

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        rc = self.stop()
        if exc_type is None and rc != 0:
            raise Fail('daemon exit code after SIGTERM was %r, expected 0; stderr tail:\n%s'
                       % (rc, self.stderr_tail))
        return False

    # -- access log
    def access_entries(self, path=None):
        path = path or self.access_log
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            return []
        out = []
        for raw in data.split(b'\n')[:-1]:   # last piece: '' or a partial line
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode('utf-8'))
            except ValueError:
                raise Fail('access log line is not JSON: %s' % short(raw))
            check(isinstance(obj, dict), 'access log line is not an object: %s' % short(raw))
            out.append(obj)
        return out

    def wait_access(self, pred, timeout=2.5, path=None):
        deadline = time.monotonic() + timeout
        while True:
            for e in self.access_entries(path):
                if pred(e):
                    return e
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def access_for(self, request_id, timeout=2.5):
        e = self.wait_access(lambda e: e.get('requestId') == request_id, timeout)
        if e is None:
            ents = self.access_entries()
            raise Fail('no access-log line with requestId %r within %.1f s (%d lines; last: %s)'
                       % (request_id, timeout, len(ents), ents[-1:] if ents else None))
        return e


class _NoDaemon:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class Shared:
    """A daemon shared by several cases, (re)started on demand."""

    def __init__(self, tap, config, listeners=1):
        self.config = config
        self.listeners = listeners
        self.d = None
        self.restarts = 0
        self.lock = threading.Lock()
        tap.on_exit(self.close)

    def get(self):
        with self.lock:
            return self._get()

    def _get(self):
        if self.d is not None and not self.d.alive():
            note('shared daemon had died (exit code %r); restarting. stderr tail:\n%s'
                 % (self.d.proc.poll(), self.d.stderr_text(limit=10)))
            self.d.stop()
            self.d = None
            self.restarts += 1
        if self.d is None:
            self.d = Daemon(self.config, self.listeners)
        return self.d

    def close(self):
        rc = None
        with self.lock:
            if self.d is not None:
                rc = self.d.stop()
                self.tail = self.d.stderr_tail
                self.d = None
        return rc

    def check_exit(self):
        """A case: stop the shared daemon; it must exit 0 on SIGTERM."""
        if self.d is None:
            raise Fail('shared daemon was not running')
        rc = self.close()
        eq(rc, 0, 'exit code of the shared daemon after SIGTERM; stderr tail:\n%s\n' % self.tail)


# ---------------------------------------------------------------- requests --

def req(method, path, host='gw.test', headers=(), body=None, version='HTTP/1.1'):
    """Build request bytes. Content-Length is added for a body unless the caller
    supplies Content-Length or Transfer-Encoding."""
    lines = ['%s %s %s' % (method, path, version)]
    if host is not None:
        lines.append('Host: ' + host)
    names = set()
    for h in headers:
        if isinstance(h, tuple):
            h = '%s: %s' % h
        lines.append(h)
        names.add(h.split(':', 1)[0].strip().lower())
    if body is not None and not names & {'content-length', 'transfer-encoding'}:
        lines.append('Content-Length: %d' % len(body))
    out = ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')
    if body is not None:
        out += body if isinstance(body, bytes) else body.encode()
    return out


def chunked(*parts, ext=''):
    out = b''
    for p in parts:
        p = p if isinstance(p, bytes) else p.encode()
        out += b'%x%s\r\n' % (len(p), ext.encode()) + p + b'\r\n'
    return out + b'0\r\n\r\n'


# ---------------------------------------------------------------- response --

IMF_FIXDATE = re.compile(r'^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d '
                         r'(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) '
                         r'\d{4} \d\d:\d\d:\d\d GMT$')
TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []       # [(name as sent, value)]
        self.body = b''
        self.raw = b''
        self.chunked = False
        self.trailers = []
        self.close_delimited = False

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def tokens(self, name):
        out = []
        for v in self.header_all(name):
            out += [t.strip().lower() for t in v.split(',') if t.strip()]
        return out

    def has_token(self, name, token):
        return token.lower() in self.tokens(name)

    @property
    def text(self):
        return self.body.decode('utf-8', 'replace')

    def json(self):
        try:
            return json.loads(self.body.decode('utf-8'))
        except ValueError:
            raise Fail('response body is not JSON: %s' % short(self.body))

    def __repr__(self):
        return '<Response %s %s>' % (self.status, short(self.raw, 300))


class Closed(Fail):
    """The peer closed (or reset) before a complete response arrived."""


class Timeout(Fail):
    pass


class Conn:
    def __init__(self, port, timeout=5.0, host=HOST):
        self.timeout = timeout * SLOW
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        self.eof = False
        self.reset = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        note('sent %s' % short(data, 400))
        self.sock.sendall(data)

    def try_send(self, data):
        """send, tolerating a peer that already closed. Returns False on EPIPE/RST."""
        try:
            self.send(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    # low-level reading
    def _fill(self, deadline):
        if self.eof:
            return False
        rem = deadline - time.monotonic()
        if rem <= 0:
            raise Timeout('timed out waiting for data; buffered so far: %s' % short(self.buf))
        self.sock.settimeout(rem)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout('timed out waiting for data; buffered so far: %s' % short(self.buf))
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _until(self, marker, deadline, what):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            if not self._fill(deadline):
                raise Closed('connection %s while reading %s; got %s'
                             % ('reset' if self.reset else 'closed', what, short(self.buf)))

    def _exact(self, n, deadline, what):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise Closed('connection %s while reading %s (%d of %d bytes)'
                             % ('reset' if self.reset else 'closed', what, len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method='GET', timeout=None):
        """Read one response (a 1xx interim response is returned as such)."""
        deadline = time.monotonic() + (timeout * SLOW if timeout else self.timeout)
        r = Response()
        head = self._until(b'\r\n\r\n', deadline, 'the response head')
        r.raw = head
        try:
            lines = head[:-4].decode('latin-1').split('\r\n')
            m = re.match(r'^HTTP/(\d)\.(\d) (\d{3})(?: (.*))?$', lines[0])
            check(m is not None, 'malformed status line %r' % lines[0])
            r.version = 'HTTP/%s.%s' % (m.group(1), m.group(2))
            r.status = int(m.group(3))
            r.reason = m.group(4) or ''
            for line in lines[1:]:
                name, sep, value = line.partition(':')
                check(sep and TOKEN.match(name), 'malformed response header line %r' % line)
                check('\r' not in value and '\n' not in value, 'bare CR/LF in response header %r' % line)
                r.headers.append((name, value.strip(' \t')))
        except Fail:
            note('received %s' % short(head))
            raise
        try:
            if 100 <= r.status < 200 or r.status in (204, 304) or method == 'HEAD':
                pass
            elif r.header('transfer-encoding') is not None:
                check(r.tokens('transfer-encoding') == ['chunked'],
                      'unexpected response Transfer-Encoding %r' % r.header_all('transfer-encoding'))
                check(r.header('content-length') is None,
                      'response has both Transfer-Encoding and Content-Length')
                r.chunked = True
                body = b''
                while True:
                    line = self._until(b'\r\n', deadline, 'a chunk-size line')
                    r.raw += line
                    m = re.match(rb'^([0-9A-Fa-f]+)(;[^\r\n]*)?\r\n$', line)
                    check(m is not None, 'malformed response chunk-size line %s' % short(line))
                    n = int(m.group(1), 16)
                    if n == 0:
                        break
                    data = self._exact(n + 2, deadline, 'chunk data')
                    r.raw += data
                    check(data.endswith(b'\r\n'), 'chunk data not followed by CRLF: %s' % short(data))
                    body += data[:-2]
                while True:
                    line = self._until(b'\r\n', deadline, 'the chunked trailer')
                    r.raw += line
                    if line == b'\r\n':
                        break
                    r.trailers.append(line[:-2].decode('latin-1'))
                r.body = body
            elif r.header('content-length') is not None:
                cls = r.header_all('content-length')
                check(len(cls) == 1 and cls[0].isdigit(),
                      'bad response Content-Length %r' % cls)
                r.body = self._exact(int(cls[0]), deadline, 'the response body')
                r.raw += r.body
            else:
                r.close_delimited = True
                while self._fill(deadline):
                    pass
                r.body, self.buf = self.buf, b''
                r.raw += r.body
        finally:
            note('received %s' % short(r.raw))
        return r

    def read_final(self, method='GET', timeout=None):
        """Read responses, skipping 1xx interim ones; returns (final, [interim...])."""
        interim = []
        while True:
            r = self.read_response(method, timeout)
            if r.status >= 200:
                return r, interim
            interim.append(r)

    def wait_closed(self, timeout=2.0):
        """Returns (state, extra): state 'closed' (FIN), 'reset' (RST) or 'open'
        (still open after timeout); extra are bytes received meanwhile."""
        extra, self.buf = self.buf, b''
        if self.eof:
            return ('reset' if self.reset else 'closed'), extra
        deadline = time.monotonic() + timeout
        while True:
            rem = deadline - time.monotonic()
            if rem <= 0:
                return 'open', extra
            self.sock.settimeout(rem)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return 'open', extra
            except ConnectionResetError:
                self.eof = self.reset = True
                return 'reset', extra
            if not d:
                self.eof = True
                return 'closed', extra
            extra += d

    def expect_closed(self, timeout=2.0, what='the server to close the connection'):
        state, extra = self.wait_closed(timeout)
        if extra:
            note('received after the response: %s' % short(extra))
        check(not extra, 'expected %s with nothing more on the wire, but got %d more bytes: %s'
              % (what, len(extra), short(extra)))
        check(state != 'open', 'expected %s within %.1f s, but it stayed open' % (what, timeout))

    def expect_open(self, wait=0.3):
        state, extra = self.wait_closed(wait)
        check(not extra, 'unexpected bytes on an idle connection: %s' % short(extra))
        check(state == 'open', 'connection was %s by the server; expected it to stay open' % state)


def free_port():
    """A loopback TCP port free a moment ago (for a peer the test starts itself)."""
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def exchange(port, data, method='GET', timeout=5.0):
    """One request on a fresh connection; returns the (final) response."""
    with Conn(port, timeout) as c:
        c.send(data)
        return c.read_response(method)


# ------------------------------------------------------------ assertions ---

def check_common(r, server='fngate'):
    d = r.header('date')
    check(d is not None, 'response has no Date header')
    check(IMF_FIXDATE.match(d), 'Date header not in IMF-fixdate form: %r' % d)
    if server is None:
        check(r.header('server') is None, 'Server header present: %r' % r.header('server'))
    else:
        eq(r.header('server'), server, 'Server header')
    rid = r.header('x-request-id')
    check(rid, 'response has no (or an empty) x-request-id header')
    eq(len(r.header_all('x-request-id')), 1, 'number of x-request-id headers')
    return rid


def check_status(r, status):
    if r.status != status:
        raise Fail('expected status %d, got %d; response: %s' % (status, r.status, short(r.raw)))


def check_json_error(r, status, close=None):
    check_status(r, status)
    ct = r.header('content-type') or ''
    check(ct.split(';')[0].strip().lower() == 'application/json',
          'error content-type is %r, expected application/json' % ct)
    obj = r.json()
    check(isinstance(obj, dict) and isinstance(obj.get('message'), str) and obj['message'],
          'error body has no "message" string: %s' % short(r.body))
    if close is True:
        check(r.has_token('connection', 'close'),
              'error response lacks "Connection: close" (Connection: %r)' % r.header_all('connection'))
    elif close is False:
        check(not r.has_token('connection', 'close'),
              'response unexpectedly has "Connection: close"')
    return obj


def curl(*args, input=None, timeout=15):
    p = subprocess.run(['curl', '-sS', '--max-time', '10', *args], input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    note('curl %s -> rc %d, stdout %s, stderr %s'
         % (' '.join(args), p.returncode, short(p.stdout, 300), short(p.stderr, 300)))
    return p


def run(args, timeout=15):
    p = subprocess.run(WRAPPER + [BIN] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    note('fngate %s -> rc %d\nstdout: %s\nstderr: %s'
         % (' '.join(args), p.returncode, short(p.stdout, 800), short(p.stderr, 800)))
    return p


# --------------------------------------------------------------- functions ---
# Helpers for the function-host tests (test_functions.py, test_deploy.py): a functions
# directory the daemon watches, handlers built the way a user builds them (cc + pkg-config
# against the build tree's uninstalled fngate.pc), the process tree under the gateway,
# canary listeners and h2load.

BUILD_ROOT = os.environ.get('FNGATE_BUILD_ROOT') or os.path.dirname(os.path.dirname(BIN))
SOURCE_ROOT = os.environ.get('FNGATE_SOURCE_ROOT') or os.path.normpath(os.path.join(HERE, '..', '..'))
TEST_FUNCTIONS = os.environ.get('FNGATE_TEST_FUNCTIONS') or os.path.join(BUILD_ROOT, 'tests', 'functions')


def fn_version(data):
    """The version fngate reports for a .so's content: the first 16 hex digits of its SHA-256
    (the name of its private copy)."""
    return hashlib.sha256(data).hexdigest()[:16]


def open_tmpdir(prefix, mode=0o755):
    """A temp dir workers (uid 65534) can read (or, with 0o777, write); removed when the test
    exits at the latest (unless KEEP_TMP), whether or not the test removes it itself."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, mode)
    if not KEEP_TMP:
        atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


def pkg_config(*pkgs):
    """`PKG_CONFIG_PATH=$BUILD_ROOT/meson-uninstalled pkg-config --cflags --libs PKGS`, as a shell
    fragment."""
    return '$(PKG_CONFIG_PATH=%s pkg-config --cflags --libs %s)' % (
        shlex.quote(os.path.join(BUILD_ROOT, 'meson-uninstalled')), ' '.join(pkgs))


def build_handler(src, out, pkgs=('fngate',), cflags='', cwd=None, timeout=60):
    """Compile a handler exactly as a user would:
    cc -shared -fPIC -o OUT SRC $(pkg-config --cflags --libs fngate ...). Returns the command."""
    cmd = 'cc -shared -fPIC %s -o %s %s %s' % (cflags, shlex.quote(out), shlex.quote(src),
                                               pkg_config(*pkgs))
    p = subprocess.run(['sh', '-c', cmd], cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    if p.returncode != 0:
        raise Fail('building a handler failed (exit %d): %s\n%s'
                   % (p.returncode, cmd, p.stdout.decode('utf-8', 'replace')[-2000:]))
    os.chmod(out, 0o644)
    return cmd


def test_so(name):
    """Path of a prebuilt test handler (tests/functions/NAME.so in the build tree)."""
    p = os.path.join(TEST_FUNCTIONS, name + '.so')
    check(os.path.isfile(p), 'test handler %s not found (set FNGATE_TEST_FUNCTIONS)' % p)
    return p


class FnDir:
    """A functions directory for `functions: { dir: ... }`. install() publishes a .so with a
    rename (the way a deploy tool would), so the watcher never sees a half-written file
    unless a test wants it to."""

    def __init__(self, prefix='fngate-it-fn-'):
        self.path = open_tmpdir(prefix)

    def so(self, name):
        return os.path.join(self.path, name + '.so')

    def manifest(self, name, text):
        p = os.path.join(self.path, name + '.yaml')
        with open(p + '.new', 'w') as f:
            f.write(text)
        os.chmod(p + '.new', 0o644)
        os.replace(p + '.new', p)

    def install(self, name, src, manifest=None, data=None):
        """Copy src (a path) or data (bytes) to NAME.so; manifest text (if given) first.
        Returns the version fngate will report."""
        if manifest is not None:
            self.manifest(name, manifest)
        if data is None:
            with open(src, 'rb') as f:
                data = f.read()
        tmp = os.path.join(self.path, '.%s.so.part' % name)
        with open(tmp, 'wb') as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.so(name))
        return fn_version(data)

    def remove(self, name):
        for ext in ('.so', '.yaml'):
            try:
                os.unlink(os.path.join(self.path, name + ext))
            except FileNotFoundError:
                pass

    def cleanup(self):
        if not KEEP_TMP:
            shutil.rmtree(self.path, ignore_errors=True)


class SharedDaemon:
    """One daemon over a functions directory of its own, shared by a test file's cases:
    started on first get() (config(functions dir) as its config, then setup(d, fdir) to deploy
    what it serves), stopped with its directory when the test exits. `listeners`: how many
    addresses the daemon is waited on (2 with an admin listener)."""

    def __init__(self, tap, config, setup=None, listeners=1):
        self.config, self.setup, self.listeners = config, setup, listeners
        self.d = self.fdir = None
        tap.on_exit(self.close)

    def get(self):
        if self.d is None:
            self.fdir = FnDir()
            self.d = Daemon(self.config(self.fdir.path), self.listeners)
            if self.setup:
                self.setup(self.d, self.fdir)
        check(self.d.alive(), 'daemon died: %s' % self.d.stderr_text())
        return self.d

    def close(self):
        if self.d is not None:
            self.d.stop()
            self.d = None
        if self.fdir is not None:
            self.fdir.cleanup()
            self.fdir = None


def fn_config(fn_dir, routes, stages='s: {}', defaults=None, access_log='off', grants=None):
    """A config serving each (route key, function name) on API `a`; stage(s), defaults and
    grants (functions.grants) as YAML flow."""
    lines = ['server: { listen: ["127.0.0.1:0"] }',
             'access_log: { path: "%s" }' % access_log,
             'functions:', '  dir: "%s"' % fn_dir]
    if defaults:
        lines.append('  defaults: { %s }' % defaults)
    if grants:
        lines.append('  grants: { %s }' % grants)
    lines += ['apis:', '  a:', '    stages: { %s }' % stages, '    routes:']
    for key, fn in routes:
        lines.append('      "%s":' % key)
        lines.append('        integration: { type: function, function: %s }' % fn)
    return '\n'.join(lines) + '\n'


def deploy_event(d, name, since, timeout=5.0):
    """The deploy outcome logged for function `name` after log mark `since`:
    a `function deployed` / `function updated` / `deploy failed` object, or None."""
    return d.wait_log(lambda o: o.get('function') == name and o.get('msg') in (
        'function deployed', 'function updated', 'deploy failed'), timeout * SLOW, since)


def wait_deployed(d, names, since, timeout=5.0):
    """Every function in names was deployed or updated after `since` (Fail otherwise)."""
    for n in names:
        o = deploy_event(d, n, since, timeout)
        if o is None or o.get('msg') == 'deploy failed':
            raise Fail('function %s: expected "function deployed", got %r; stderr since:\n%s'
                       % (n, o, d.stderr_text(since)))


def install_batches(d, fdir, items, batch=6, timeout=5.0):
    """Install (name, src, manifest) items a few at a time, waiting for each batch to be
    live: a burst of many spawn requests at once overflows the supervisor's control socket
    (see test_deploy.py, 'many functions dropped at once')."""
    versions = {}
    for i in range(0, len(items), batch):
        mark = d.log_mark()
        for name, src, manifest in items[i:i + batch]:
            versions[name] = fdir.install(name, src, manifest)
        wait_deployed(d, [n for n, _, _ in items[i:i + batch]], mark, timeout)
    return versions


def failed_log(d, request_id, since=0, timeout=2.0):
    """The `function failed` / `function timed out` log object for a request id."""
    return d.wait_log(lambda o: o.get('requestId') == request_id and o.get('msg') in (
        'function failed', 'function timed out'), timeout * SLOW, since)


# -- the process tree: gateway -> fngate-super -> workers

def proc_stat(pid):
    """(comm, ppid) of a process, or None."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            s = f.read().decode('latin-1')
    except OSError:
        return None
    l, r = s.index('('), s.rindex(')')
    return s[l + 1:r], int(s[r + 2:].split()[1])


def children(pid):
    out = []
    for e in os.listdir('/proc'):
        if e.isdigit():
            st = proc_stat(int(e))
            if st and st[1] == pid:
                out.append(int(e))
    return sorted(out)


def supervisor_pid(gateway_pid):
    for c in children(gateway_pid):
        st = proc_stat(c)
        if st and st[0] == 'fngate-super':
            return c
    return None


def tls_request(port, context, host, path, sni=None, timeout=5.0):
    """One HTTP/1.1 GET over TLS on a fresh connection (Connection: close), SNI sni or host:
    (the whole answer as bytes, the TLS version, the cipher, the ALPN protocol)."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=sni or host) as s:
            s.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n'
                       % (path, host)).encode())
            out = b''
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
            return out, s.version(), s.cipher()[0], s.selected_alpn_protocol()


def readable_memory(pid, limit=1 << 30):
    """Yields the bytes of pid's private writable mappings (smaller than limit each)."""
    with open('/proc/%d/maps' % pid) as f:
        maps = f.read().splitlines()
    with open('/proc/%d/mem' % pid, 'rb', 0) as mem:
        for line in maps:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            if not parts[1].startswith('rw') or hi - lo > limit:
                continue
            for at in range(lo, hi, 1 << 22):
                try:
                    mem.seek(at)
                    yield mem.read(min(1 << 22, hi - at))
                except (OSError, ValueError, OverflowError):
                    break


def holds(pid, needle):
    """Whether pid's private writable memory holds needle (bytes)."""
    tail = b''
    for chunk in readable_memory(pid):
        if needle in tail + chunk:
            return True
        tail = chunk[-len(needle):]
    return False


def worker_pids(gateway_pid, function=None):
    """Worker pids (children of the supervisor), optionally of one function (comm fn:NAME)."""
    sup = supervisor_pid(gateway_pid)
    if sup is None:
        return []
    out = []
    for c in children(sup):
        st = proc_stat(c)
        if st and (function is None or st[0] == ('fn:' + function)[:15]):
            out.append(c)
    return out


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


# -- canaries: listeners a sandboxed probe must never reach

class Canary:
    """A TCP listener on 127.0.0.1:0, a UNIX listener (path in a world-writable dir, socket
    0777 so only the sandbox stands in the way) and an abstract UNIX listener. Each counts
    accepted connections on a thread."""

    def __init__(self, tmpdir):
        self.accepted = []
        self.socks = []
        self.lock = threading.Lock()
        self.closing = False
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind((HOST, 0))
        t.listen(16)
        self.port = t.getsockname()[1]
        self.unix_path = os.path.join(tmpdir, 'canary.sock')
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        u.listen(16)
        self.abstract = 'fngate-it-canary-%d-%d' % (os.getpid(), id(self) & 0xffff)
        a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        a.bind('\0' + self.abstract)
        a.listen(16)
        for what, s in (('tcp', t), ('unix', u), ('abstract', a)):
            s.settimeout(0.2)
            self.socks.append(s)
            threading.Thread(target=self._accept, args=(what, s), daemon=True).start()

    def _accept(self, what, s):
        while not self.closing:
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted.append(what)
            c.close()

    def count(self):
        with self.lock:
            return list(self.accepted)

    def close(self):
        self.closing = True
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


# -- h2load

def h2load(args, timeout):
    """Run h2load; returns (summary dict, output text). The summary has the counters of its
    `requests:` and `status codes:` lines and `rps` from `finished in`."""
    p = subprocess.run(['h2load'] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode('utf-8', 'replace')
    note('h2load %s -> rc %d\n%s' % (' '.join(args), p.returncode, out[-1500:]))
    s = {'rc': p.returncode}
    m = re.search(r'finished in [\d.]+\w*, ([\d.]+) req/s', out)
    if m:
        s['rps'] = float(m.group(1))
    m = re.search(r'requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, '
                  r'(\d+) failed, (\d+) errored, (\d+) timeout', out)
    if m:
        for k, v in zip(('total', 'started', 'done', 'succeeded', 'failed', 'errored',
                         'timeout'), m.groups()):
            s[k] = int(v)
    m = re.search(r'status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx', out)
    if m:
        for k, v in zip(('2xx', '3xx', '4xx', '5xx'), m.groups()):
            s[k] = int(v)
    check('done' in s and '2xx' in s, 'cannot parse the h2load summary:\n%s' % out[-1500:])
    return s, out


# ---------------------------------------------------------------- browser ---
# test_browser.py and test_dashboard.py drive Debian's chromium through playwright-core
# (tests/ws/*.js); their browser cases are skipped, with the reason, where either is missing.

def browser_missing(ws_dir, chromium):
    """Why the browser cases cannot run here, or None."""
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        return 'chromium is not installed (%s; .ci/deps.sh installs it)' % chromium
    if shutil.which('node') is None:
        return 'node is not installed'
    p = subprocess.run(['node', '-e', 'require.resolve("playwright-core")'], cwd=ws_dir,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
    if p.returncode != 0:
        return 'playwright-core is not installed in %s (npm ci there)' % ws_dir
    return None


def browser_case(tap, missing, name, fn):
    """Adds a case, or (missing: why not) the same case as a TAP skip."""
    if missing:
        # TAP's skip directive; appended as is (Tap.add would turn '#' into 'No.').
        tap.cases.append((name + ' # SKIP ' + missing, lambda: None))
    else:
        tap.add(name, fn)
