#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Cold-start and crash-respawn timings of the fngate function host, from outside.

    fndeploy.py cold PORT PATH FUNCDIR NAME METHOD OUT.csv VARIANT.so...
    fndeploy.py respawn PORT PATH COUNT OUT.csv

cold: for each VARIANT (a build of bench/fn_bench.c with its own BENCH_VERSION, so its own
content hash), puts it in FUNCDIR as NAME.so and polls GET PATH on one keep-alive connection
in a tight loop (one request in flight, the next sent as soon as the previous answer is read)
until a 200 carries x-fngate-function-version equal to the variant's hash (the first 16 hex
digits of the file's SHA-256, as the gateway computes it). METHOD says how the file arrives:

  rename  the variant was written long before (its mtime is old) and is renamed into place:
          an atomic `mv` from the same file system, what a deploy tool does
  cp      the variant's bytes are written into NAME.so in place (open, O_TRUNC, write): what
          `cp new.so functions/` or `cc -o functions/NAME.so` does; the file's mtime is new

One CSV row per deploy: total_us (deploy start to the first 200 from the new version),
loaded_us (deploy start to the .so's constructor in the new worker: x-bench-loaded-ns, same
CLOCK_REALTIME), polls, non200 (answers other than 200 seen meanwhile: a zero-downtime deploy
has none), t0_ns (CLOCK_REALTIME at the deploy start), t0_mono_ns and t1_mono_ns (the deploy
start and the first 200 on CLOCK_MONOTONIC, to match a `perf record -k CLOCK_MONOTONIC` trace),
version.
Between deploys it waits SETTLE seconds (env, default 0.3) for the old generation to retire.

respawn: COUNT times: GET PATH until 200 (worker pid from x-bench-pid), then GET PATH?crash=1
(the handler writes through NULL: SIGSEGV), which must answer 502, then GET PATH until a 200
comes from another pid. One CSV row per crash: crash_us (crash request sent to the 502),
total_us (crash request sent to the first 200 from the fresh worker), after502_us, polls,
non200 (non-200 answers after the 502), old_pid, new_pid, and t0/t502/t1 on CLOCK_MONOTONIC.
"""
import hashlib
import csv
import os
import shutil
import socket
import sys
import time


class Conn:
    """One keep-alive HTTP/1.1 connection; GET with Content-Length responses only."""

    def __init__(self, port):
        self.port = port
        self.s = None
        self.buf = b""

    def connect(self):
        self.s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def get(self, path):
        """Returns (status, headers dict with lower-case names, body)."""
        for attempt in (1, 2):
            if self.s is None:
                self.connect()
            try:
                self.s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode())
                return self._read()
            except (OSError, ConnectionError):
                self.s.close()
                self.s = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _read(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("server closed the connection")
            self.buf += d
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        clen = int(headers.get("content-length", "0"))
        while len(rest) < clen:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("server closed the connection mid-body")
            rest += d
        body, self.buf = rest[:clen], rest[clen:]
        if headers.get("connection", "").lower() == "close":
            self.s.close()
            self.s = None
        return status, headers, body


def fn_version(path):
    """fngate's version of a .so: the first 16 hex digits of its SHA-256."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def cold(port, path, funcdir, name, method, out, variants):
    settle = float(os.environ.get("SETTLE", "0.3"))
    dst = os.path.join(funcdir, name + ".so")
    c = Conn(port)
    rows = []
    for v in variants:
        version = fn_version(v)
        st, h, _ = c.get(path)
        if h.get("x-fngate-function-version") == version:
            sys.exit("cold: %s is already deployed" % v)
        polls = non200 = 0
        t0m = time.monotonic_ns()
        t0 = time.time_ns()
        if method == "rename":
            os.rename(v, dst)
        elif method == "cp":
            with open(v, "rb") as src, open(dst, "wb") as f:
                shutil.copyfileobj(src, f)
        else:
            sys.exit("cold: unknown method %s" % method)
        deadline = time.monotonic() + 10
        while True:
            st, h, _ = c.get(path)
            polls += 1
            if st != 200:
                non200 += 1
            elif h.get("x-fngate-function-version") == version:
                t1m = time.monotonic_ns()
                t1 = time.time_ns()
                break
            if time.monotonic() > deadline:
                sys.exit("cold: %s not live after 10 s (last status %d)" % (v, st))
        loaded = int(h.get("x-bench-loaded-ns", "0"))
        rows.append({"total_us": (t1 - t0) / 1000, "loaded_us": (loaded - t0) / 1000 if loaded else "",
                     "polls": polls, "non200": non200, "t0_ns": t0, "t0_mono_ns": t0m,
                     "t1_mono_ns": t1m, "version": version})
        print("cold %s %2d/%d: %8.1f ms to the first 200 (loaded after %.1f ms), %d polls, %d non-200"
              % (method, len(rows), len(variants), rows[-1]["total_us"] / 1000,
                 (loaded - t0) / 1e6 if loaded else -1, polls, non200), file=sys.stderr)
        time.sleep(settle)
    write_csv(out, rows)


def respawn(port, path, count, out):
    settle = float(os.environ.get("SETTLE", "0.3"))
    c = Conn(port)
    rows = []
    sep = "&" if "?" in path else "?"
    for i in range(count):
        for _ in range(1000):
            st, h, _ = c.get(path)
            if st == 200:
                break
            time.sleep(0.01)
        else:
            sys.exit("respawn: %s does not answer 200" % path)
        old = h.get("x-bench-pid")
        t0 = time.monotonic_ns()
        st, _, body = c.get(path + sep + "crash=1")
        t502 = time.monotonic_ns()
        if st != 502:
            sys.exit("respawn: the crash request answered %d, not 502: %r" % (st, body[:200]))
        polls = non200 = 0
        deadline = time.monotonic() + 10
        while True:
            st, h, _ = c.get(path)
            polls += 1
            if st != 200:
                non200 += 1
            elif h.get("x-bench-pid") != old:
                t1 = time.monotonic_ns()
                break
            if time.monotonic() > deadline:
                sys.exit("respawn: no answer from a fresh worker after 10 s")
        rows.append({"crash_us": (t502 - t0) / 1000, "total_us": (t1 - t0) / 1000,
                     "after502_us": (t1 - t502) / 1000, "polls": polls, "non200": non200,
                     "old_pid": old, "new_pid": h.get("x-bench-pid"), "t0_mono_ns": t0,
                     "t502_mono_ns": t502, "t1_mono_ns": t1})
        print("respawn %2d/%d: 502 after %.2f ms, fresh worker's 200 after %.2f ms, %d polls, %d non-200"
              % (i + 1, count, rows[-1]["crash_us"] / 1000, rows[-1]["total_us"] / 1000, polls, non200),
              file=sys.stderr)
        time.sleep(settle)
    write_csv(out, rows)


def write_csv(out, rows):
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def main(argv):
    if len(argv) >= 9 and argv[1] == "cold":
        cold(int(argv[2]), argv[3], argv[4], argv[5], argv[6], argv[7], argv[8:])
        return 0
    if len(argv) == 6 and argv[1] == "respawn":
        respawn(int(argv[2]), argv[3], int(argv[4]), argv[5])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
