#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the raw results of bench/functions.sh into the functions section of docs/BENCHMARKS.md.

    fnreport.py RESULTS_DIR                 print the section on stdout
    fnreport.py RESULTS_DIR --write DOC     also replace the functions section of DOC

The section sits between <!-- functions:begin --> and <!-- functions:end -->. Inside it, the
hand-written analysis between <!-- functions-analysis:begin --> and
<!-- functions-analysis:end --> is kept as it is when the section is rewritten: rerunning the
benchmark replaces the numbers, and the analysis must then be read again against them.

Exits non-zero (after printing) when a run is unusable: wrk errors in the rounds, a deploy or a
respawn that saw a non-200, too few samples.
"""
import csv
import math
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import (add_cpu, fmt_int, fmt_ms, fmt_pct, fmt_us, median, parse_wrk,  # noqa: E402
                    read_kv, response_block, section_main, sockerr_text)

BEGIN = "<!-- functions:begin -->"
END = "<!-- functions:end -->"
ABEGIN = "<!-- functions-analysis:begin -->"
AEND = "<!-- functions-analysis:end -->"
NOISY_PCT = 10


def pctl(vals, p):
    """Nearest-rank percentile (p in 0-100) of vals; None if empty."""
    v = sorted(x for x in vals if x is not None)
    if not v:
        return None
    k = max(1, math.ceil(p / 100 * len(v)))
    return v[k - 1]


def fmt_r(a, b):
    if a is None or not b:
        return "n/a"
    return "%.2f" % (a / b)


def fmt_f(v, nd=1):
    return "n/a" if v is None else ("%%.%df" % nd) % v


def read_configs(results):
    out = []
    with open(os.path.join(results, "configs.txt")) as f:
        for line in f:
            name, label, pin = line.rstrip("\n").split("|")
            out.append((name, label, pin == "1"))
    return out


def load_runs(results, conns, names, rounds):
    """{name: [run per round]} and the per-round list, parsed with report.py's parsers."""
    runs = {n: [] for n in names}
    errors = []
    for r in range(1, rounds + 1):
        for n in names:
            path = os.path.join(results, "wrk", "c%s" % conns, "%d-%s.txt" % (r, n))
            if not os.path.exists(path):
                runs[n].append(None)
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                w = parse_wrk(f.read())
            cpu = read_kv(path + ".cpu")
            add_cpu(w, cpu)
            try:
                w["busy"] = float(cpu["busy"]) * 100 / (float(cpu["elapsed"]) * int(cpu["ncpu"]))
            except (KeyError, ValueError, ZeroDivisionError):
                w["busy"] = None
            runs[n].append(w)
            errors += ["c%s round %d %s: %s" % (conns, r, n, e) for e in w["errors"]]
    return runs, errors


def used_rounds(runs, rounds):
    noisy = set()
    for n, rs in runs.items():
        for i, w in enumerate(rs):
            if w and w.get("other") is not None and w["other"] > NOISY_PCT:
                noisy.add(i + 1)
    clean = [r for r in range(1, rounds + 1) if r not in noisy]
    return (clean or list(range(1, rounds + 1))), sorted(noisy)


def med(runs, name, key, used):
    return median([runs[name][r - 1][key] for r in used if runs[name][r - 1]])


def paired(runs, a, b, used, key="rps"):
    v = sorted(runs[a][r - 1][key] / runs[b][r - 1][key] for r in used
               if runs[a][r - 1] and runs[b][r - 1] and runs[a][r - 1][key] and runs[b][r - 1][key])
    if not v:
        return "n/a"
    return "%.2f (%.2f-%.2f)" % (statistics.median(v), v[0], v[-1])


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def spawn_trace(path):
    """When each worker started {pid: t_ns} and its first fd-3 write after that (READY).

    A worker starts when the supervisor's spare receives its request (the spare's recvmsg
    returning a struct fng_sb_spawn: the hand-off), or, for a worker forked on demand, at the
    fork. A spare's own fd-3 writes before the hand-off (its cgroup.procs) do not count."""
    forks, handoffs, writes = {}, {}, {}
    if not os.path.exists(path):
        return None
    rx_fork = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+sched:sched_process_fork:.*child_pid=(\d+)")
    rx_write = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+syscalls:sys_enter_write:")
    rx_recv = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+syscalls:sys_exit_recvmsg:")
    with open(path, errors="replace") as f:
        for line in f:
            m = rx_fork.match(line)
            if m:
                forks[int(m.group(3))] = int(round(float(m.group(2)) * 1e9))
                continue
            m = rx_recv.match(line) or rx_write.match(line)
            if m:
                pid, t = int(m.group(1)), int(round(float(m.group(2)) * 1e9))
                if "recvmsg" in line:
                    handoffs.setdefault(pid, t)
                else:
                    writes.setdefault(pid, []).append(t)
    starts, ready = {}, {}
    for pid, tf in forks.items():
        t0 = handoffs.get(pid, tf)
        after = [t for t in writes.get(pid, []) if t >= t0]
        starts[pid] = t0
        if after:
            ready[pid] = min(after)
    return starts, ready


def breakdown(rows, trace, t0key, t1key):
    """Per row: (t0 -> worker start, start -> READY, READY -> t1) in ms, from the trace."""
    if not trace:
        return []
    forks, ready = trace
    out = []
    for row in rows:
        t0, t1 = int(row[t0key]), int(row[t1key])
        cands = sorted((t, pid) for pid, t in forks.items() if t0 <= t <= t1 and pid in ready)
        if not cands:
            continue
        tf, pid = cands[0]
        tr = ready[pid]
        out.append(((tf - t0) / 1e6, (tr - tf) / 1e6, (t1 - tr) / 1e6))
    return out


def perfstat(path):
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            p = line.strip().split(",")
            if len(p) >= 3 and p[0].replace(".", "").isdigit():
                out[p[2]] = float(p[0])
    return out


def ctx(path):
    """{pid: (vol, nonvol)} before and after, and the worker lists."""
    if not os.path.exists(path):
        return None
    before, after, cur, meta = {}, {}, None, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("workers"):
                k, _, v = line.partition("=")
                meta[k] = v.split()
            elif line in ("before", "after"):
                cur = before if line == "before" else after
            elif line and cur is not None:
                pid, v, n = line.split()
                cur[pid] = (int(v), int(n))
    return before, after, meta


def wrk_requests(path):
    if not os.path.exists(path):
        return None
    with open(path, errors="replace") as f:
        m = re.search(r"^\s+(\d+) requests in", f.read(), re.M)
    return int(m.group(1)) if m else None


def strace_counts(path):
    out = {}
    if not os.path.exists(path):
        return out
    rx = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$")
    with open(path) as f:
        for line in f:
            m = rx.match(line)
            if m and m.group(2) != "total":
                out[m.group(2)] = int(m.group(1))
    return out


def perf_dso(path):
    """[(pct, comm, dso)] from perf report --sort comm,dso."""
    rows = []
    if not os.path.exists(path):
        return rows
    rx = re.compile(r"^\s+([\d.]+)%\s+(\S+(?: \S+)*?)\s{2,}(\S+)\s*$")
    with open(path, errors="replace") as f:
        for line in f:
            m = rx.match(line)
            if m:
                rows.append((float(m.group(1)), m.group(2).strip(), m.group(3)))
    return rows


def perf_comm(path):
    """[(pct, comm)] from perf report --sort comm."""
    rows = []
    if not os.path.exists(path):
        return rows
    rx = re.compile(r"^\s+([\d.]+)%\s+(\S.*?)\s*$")
    with open(path, errors="replace") as f:
        for line in f:
            m = rx.match(line)
            if m:
                rows.append((float(m.group(1)), m.group(2)))
    return rows


def ipcbatch(path):
    """{(cpus, variant, k): (ns, parent switches, child switches)}."""
    out = {}
    if not os.path.exists(path):
        return out
    rx = re.compile(r"cpus=(\S+) (\w+) k=(\d+) ns_per_invocation=(\d+) "
                    r"parent_switches_per_invocation=([\d.]+) child_switches_per_invocation=([\d.]+)")
    with open(path) as f:
        for line in f:
            m = rx.search(line)
            if m:
                out[(m.group(1), m.group(2), int(m.group(3)))] = (
                    int(m.group(4)), float(m.group(5)), float(m.group(6)))
    return out


def perf_sym(path, n):
    rows = []
    if not os.path.exists(path):
        return rows
    rx = re.compile(r"^\s+([\d.]+)%\s+(\S+(?: \S+)*?)\s{2,}\[(.)\]\s+(.+?)\s*$")
    with open(path, errors="replace") as f:
        for line in f:
            m = rx.match(line)
            if m:
                rows.append((float(m.group(1)), m.group(2).strip(), m.group(3), m.group(4)))
    return rows[:n]


def build(results):
    meta = read_kv(os.path.join(results, "meta.txt"))
    rounds = int(meta.get("rounds", "0"))
    conns = meta.get("conns", "64")
    configs = read_configs(results)
    label = {n: l for n, l, _ in configs}
    pinned = {n: p for n, _, p in configs}
    names = [n for n, _, _ in configs if n != "fcgika"]
    errors = []
    out = []
    w = out.append

    runs, e = load_runs(results, conns, names, rounds)
    errors += e
    used, noisy = used_rounds(runs, rounds)
    lat_names = [n for n in names if os.path.exists(os.path.join(results, "wrk", "c1", "1-%s.txt" % n))]
    lruns, e = load_runs(results, "1", lat_names, rounds)
    errors += e
    lused, lnoisy = used_rounds(lruns, rounds)

    w(BEGIN)
    w("## Functions: the function host vs nginx and nginx + FastCGI")
    w("")
    w("Measured %s with `%s`." % (meta.get("date", "?"), meta.get("command", "bench/functions.sh")))
    w("")
    w("- Machine: %s vCPU (`nproc`), %s, Linux %s, cgroups %s. A shared VM: compare ratios within "
      "a round more than absolute numbers." % (meta.get("nproc", "?"), meta.get("cpu", "?"),
                                                meta.get("kernel", "?"), meta.get("cgroups", "?")))
    note = meta.get("fngate_note", "")
    w("- fngate: %s (%s %s), build type `%s`%s. Sandbox as logged at start: %s."
      % (meta.get("fngate_bin", "?"),
         "a binary given by FNGATE; the repository was at git" if meta.get("fngate_override") == "1"
         else "git", meta.get("git", "?"), meta.get("buildtype", "?"),
         "; **" + note + "**" if note else "", meta.get("sandbox", "?")))
    w("- Function `hello` = examples/hello/hello.c built as a user builds it (`cc -shared -fPIC -O2 "
      "... $(pkg-config --cflags --libs fngate)` against the build tree's uninstalled fngate.pc); "
      "`GET /prod/hello/world` answers `{\"message\":\"hello, world\",\"stage\":\"prod\"}\\n` (42 "
      "bytes). Pool size from a manifest: `concurrency: 2` (the default) or `concurrency: 1`, "
      "`min_warm: 1`, `max_invocations: 100000` (default: each worker is recycled every 100k "
      "invocations, included in the figures), `pipeline: 4` (the default: a busy worker holds up "
      "to 4 invocations, docs/protocol.md). The mock route answers the same body from a template.")
    w("- nginx %s, one worker, `access_log off`, keep-alive to the client; `return 200` with the same "
      "body (`default_type application/json`)." % meta.get("nginx", "?"))
    w("- nginx + FastCGI: bench/fcgi_hello.c, a libfcgi `FCGI_Accept()` loop (fcgi_stdio) that "
      "formats the same JSON from `REQUEST_URI` (name percent-decoded and JSON-escaped, stage from "
      "the first segment) with a Content-Length; spawn-fcgi %s, 2 processes (`-F 2`, uid nobody) on "
      "a UNIX socket; nginx `fastcgi_pass unix:...` with a new upstream connection per request "
      "(nginx's default; upstream keep-alive is measured apart below)." % meta.get("spawnfcgi", "?"))
    w("- wrk %s: `wrk -t1 -c%s -d%ss --latency`, %d rounds, every configuration in each round, the "
      "order reversed every other round, each after a %ss warm-up; wrk runs on the same machine. "
      "Pinned configurations: the server side (fngate with its supervisor and workers; nginx; nginx "
      "and the FastCGI processes) under `taskset -c %s`, wrk under `taskset -c %s`."
      % (meta.get("wrk", "?"), conns, meta.get("duration", "?"), rounds, meta.get("warmup", "?"),
         meta.get("pin_server", "0"), meta.get("pin_client", "1")))
    w("")

    # ---- throughput ----
    base = {False: ("nginx", "fcgi"), True: ("nginx-pin", "fcgi-pin")}
    w("### 1. Throughput at %s connections (median of %s)" % (
        conns, "%d rounds" % len(used) if not noisy else
        "the clean rounds %s of %d" % (", ".join(map(str, used)), rounds)))
    w("")
    w("| configuration | requests/s | p50 (ms) | p99 (ms) | server CPU per request (µs) "
      "| machine busy | × nginx return 200 | × nginx + FastCGI |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    medv = {}
    for n in names:
        medv[n] = {k: med(runs, n, k, used) for k in ("rps", "p50", "p99", "cpu_us", "busy")}
    for n in names:
        b_ng, b_fc = base[pinned[n]]
        m = medv[n]
        w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label[n], fmt_int(m["rps"]), fmt_ms(m["p50"]), fmt_ms(m["p99"]), fmt_us(m["cpu_us"]),
            fmt_pct(m["busy"]), fmt_r(m["rps"], medv.get(b_ng, {}).get("rps")),
            fmt_r(m["rps"], medv.get(b_fc, {}).get("rps"))))
    w("")
    w("Server CPU per request: user+system time of the server's whole process tree (fngate: "
      "gateway, supervisor and workers, including workers reaped during the run; nginx: master "
      "and worker; FastCGI: also the two fcgi_hello processes) divided by the requests wrk "
      "completed. Machine busy: all CPU time spent on both vCPUs during the run (wrk included), "
      "from `/proc/stat`.")
    w("")
    w("Within-round ratios, median (min-max) over the rounds used:")
    w("")
    w("| ratio | unpinned | pinned |")
    w("|---|---:|---:|")
    have_pin = "fn2-pin" in names
    for a, b, text in (("fn2", "nginx", "function (pool 2) / nginx return 200"),
                       ("fn1", "nginx", "function (pool 1) / nginx return 200"),
                       ("fn2", "fcgi", "function (pool 2) / nginx + FastCGI"),
                       ("fn1", "fcgi", "function (pool 1) / nginx + FastCGI"),
                       ("fn1", "fn2", "pool 1 / pool 2"),
                       ("fn2", "mock", "function (pool 2) / mock route"),
                       ("fcgi", "nginx", "nginx + FastCGI / nginx return 200")):
        w("| %s | %s | %s |" % (text, paired(runs, a, b, used),
                                paired(runs, a + "-pin", b + "-pin", used) if have_pin else "n/a"))
    w("")
    best = max(("fn2", "fn1"), key=lambda n: medv[n]["rps"] or 0)
    r_ng = (medv[best]["rps"] or 0) / (medv["nginx"]["rps"] or 1)
    r_fc = (medv[best]["rps"] or 0) / (medv["fcgi"]["rps"] or 1)
    w("**Targets (issue 3)**, unpinned, best pool size (%s): %.2f× nginx `return 200` (target ≥ 0.7: "
      "**%s**), %.2f× nginx + FastCGI (target ≥ 1.5: **%s**)." % (
          "pool 2" if best == "fn2" else "pool 1", r_ng, "met" if r_ng >= 0.7 else "not met",
          r_fc, "met" if r_fc >= 1.5 else "not met"))
    w("")
    if noisy:
        w("Rounds %s ran next to other load (more than %d%% of the machine used by other "
          "processes in at least one run) and are left out of the medians%s." % (
              ", ".join(map(str, noisy)), NOISY_PCT, "" if len(used) < rounds else
              " — none ran clean, so all are used: read with care"))
        w("")

    ka = os.path.join(results, "fcgika.txt")
    if os.path.exists(ka):
        with open(ka, errors="replace") as f:
            r = parse_wrk(f.read())
        add_cpu(r, read_kv(ka + ".cpu"))
        w("nginx + FastCGI **with upstream keep-alive** (`upstream { server unix:...; keepalive 2; }`, "
          "`fastcgi_keep_conn on`), one %ss run at the end: %s requests/s, p50 %s ms, p99 %s ms, "
          "socket errors %s. libfcgi serves one connection at a time per process and waits for the "
          "next request on a kept connection, while nginx opens more upstream connections than "
          "there are processes: requests sent on a connection no process has accepted wait until "
          "a kept one is closed (wrk counts a timeout after 2 s). That is why the comparison uses "
          "nginx's default, a new connection per request." % (
              meta.get("duration", "?"), fmt_int(r["rps"]), fmt_ms(r["p50"]), fmt_ms(r["p99"]),
              sockerr_text(r)))
        w("")

    # ---- latency at one connection ----
    w("### 2. Added latency at one connection (`wrk -t1 -c1`, median of %s)" % (
        "%d rounds" % len(lused) if not lnoisy else "the clean rounds %s" % ", ".join(map(str, lused))))
    w("")
    w("| configuration | requests/s | p50 (ms) | p99 (ms) | server CPU per request (µs) |")
    w("|---|---:|---:|---:|---:|")
    lmed = {n: {k: med(lruns, n, k, lused) for k in ("rps", "p50", "p99", "cpu_us")} for n in lat_names}
    for n in lat_names:
        m = lmed[n]
        w("| %s | %s | %s | %s | %s |" % (label[n], fmt_int(m["rps"]), fmt_ms(m["p50"]),
                                          fmt_ms(m["p99"]), fmt_us(m["cpu_us"])))
    w("")
    for a, b, text in (("fn2", "mock", "unpinned"), ("fn2-pin", "mock-pin", "pinned")):
        if a in lmed and b in lmed and lmed[a]["p50"] is not None and lmed[b]["p50"] is not None:
            w("- Function invocation cost, %s (function route − mock route): p50 **%.0f µs**, "
              "p99 **%.0f µs**; CPU %.1f µs per request." % (
                  text, (lmed[a]["p50"] - lmed[b]["p50"]) * 1000,
                  (lmed[a]["p99"] - lmed[b]["p99"]) * 1000,
                  (lmed[a]["cpu_us"] or 0) - (lmed[b]["cpu_us"] or 0)))
    w("")

    # ---- cold start ----
    trace = spawn_trace(os.path.join(results, "spawn-trace.txt"))
    w("### 3. Cold start: a new .so version dropped into the watched directory")
    w("")
    w("`bench/fndeploy.py cold`: each deploy is a different build of bench/fn_bench.c (its own "
      "`-DBENCH_VERSION`, so its own content hash). The driver polls `GET /prod/cold/world` on one "
      "keep-alive connection in a tight loop (one request in flight) until a 200 carries "
      "`x-fngate-function-version` equal to the new file's hash (SHA-256); the old version answers "
      "meanwhile. Two ways to drop the file: **rename** — written minutes before, `rename(2)`d "
      "over `cold.so` (a deploy tool's atomic `mv`); **cp** — its bytes written into `cold.so` in "
      "place (what `cp` or `cc -o functions/cold.so` does: a fresh mtime). 0.3 s between deploys.")
    w("")
    w("| method | deploys | first 200 from the new version: p50 (ms) | p99 (ms) | min-max (ms) "
      "| new worker's dlopen: p50 (ms) | non-200 answers during the deploys |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    cold = {}
    for method in ("rename", "cp"):
        rows = read_csv(os.path.join(results, "cold-%s.csv" % method))
        cold[method] = rows
        if not rows:
            continue
        tot = [float(r["total_us"]) / 1000 for r in rows]
        ld = [float(r["loaded_us"]) / 1000 for r in rows if r["loaded_us"]]
        bad = sum(int(r["non200"]) for r in rows)
        if bad:
            errors.append("cold %s: %d non-200 answers during deploys" % (method, bad))
        w("| %s | %d | %s | %s | %s-%s | %s | %d |" % (
            method, len(rows), fmt_f(pctl(tot, 50)), fmt_f(pctl(tot, 99)), fmt_f(min(tot)),
            fmt_f(max(tot)), fmt_f(pctl(ld, 50)), bad))
    nrows = read_csv(os.path.join(results, "nocg-cold-rename.csv"))
    if nrows:
        tot = [float(r["total_us"]) / 1000 for r in nrows]
        ld = [float(r["loaded_us"]) / 1000 for r in nrows if r["loaded_us"]]
        bad = sum(int(r["non200"]) for r in nrows)
        w("| rename, gateway without cgroups (diagnosis) | %d | %s | %s | %s-%s | %s | %d |" % (
            len(nrows), fmt_f(pctl(tot, 50)), fmt_f(pctl(tot, 99)), fmt_f(min(tot)),
            fmt_f(max(tot)), fmt_f(pctl(ld, 50)), bad))
    w("")
    w("p99 is the nearest-rank percentile: with %s samples it is the largest one. Target (issue 3): "
      "p50 ≤ 2 ms, p99 ≤ 10 ms." % meta.get("deploys", "?"))
    w("")
    if trace:
        w("Where a deploy's time goes. The gateway's log does not show it (no line when a worker "
          "is spawned; `function updated` at READY, to the millisecond), so it comes from a "
          "`perf record -k CLOCK_MONOTONIC` trace: a worker *starts* when the supervisor's spare "
          "receives the spawn request (its `recvmsg` returns; `sched:sched_process_fork` for a "
          "worker forked on demand), and is READY at its first write on its socketpair; matched "
          "to the driver's clock (median / p99 in ms):")
        w("")
        w("| method | file dropped → worker starts | start → READY (worker set-up, dlopen, init) "
          "| READY → first 200 seen |")
        w("|---|---:|---:|---:|")
        ntrace = spawn_trace(os.path.join(results, "spawn-trace-nocg.txt"))
        for method, rows_, tr in (("rename", cold.get("rename", []), trace), ("cp", cold.get("cp", []), trace),
                                  ("rename, without cgroups", nrows, ntrace)):
            b = breakdown(rows_, tr, "t0_mono_ns", "t1_mono_ns") if tr else []
            if b:
                w("| %s (%d matched) | %s / %s | %s / %s | %s / %s |" % (
                    method, len(b), fmt_f(pctl([x[0] for x in b], 50), 2), fmt_f(pctl([x[0] for x in b], 99), 2),
                    fmt_f(pctl([x[1] for x in b], 50), 2), fmt_f(pctl([x[1] for x in b], 99), 2),
                    fmt_f(pctl([x[2] for x in b], 50), 2), fmt_f(pctl([x[2] for x in b], 99), 2)))
        w("")
        if nrows:
            sb = ""
            sp = os.path.join(results, "nocg-sandbox.txt")
            if os.path.exists(sp):
                with open(sp) as f:
                    sb = f.read().strip()
            w("*Without cgroups* is a diagnosis, not a configuration to run: a third fngate started "
              "in a private mount namespace whose `/sys/fs/cgroup` is an empty tmpfs, so that the "
              "sandbox finds no cgroups and keeps its other layers (it logged: %s)." % (sb or "?"))
            w("")

    # ---- respawn ----
    rows = read_csv(os.path.join(results, "respawn.csv"))
    w("### 4. Worker respawn after a crash")
    w("")
    if rows:
        tot = [float(r["total_us"]) / 1000 for r in rows]
        c502 = [float(r["crash_us"]) / 1000 for r in rows]
        bad = sum(int(r["non200"]) for r in rows)
        if bad:
            errors.append("respawn: %d non-200 answers after the 502" % bad)
        w("`bench/fndeploy.py respawn`: `GET /prod/crashy/world?crash=1` makes bench/fn_bench.c "
          "write through NULL (SIGSEGV) in the function's only worker (default manifest: pool 2, "
          "`min_warm: 1`, and a sequential client keeps one worker); the driver then sends "
          "`GET /prod/crashy/world` until a 200 comes from another pid (`x-bench-pid`). %d crashes."
          % len(rows))
        w("")
        w("| | p50 (ms) | p99 (ms) | min-max (ms) |")
        w("|---|---:|---:|---:|")
        w("| crash request sent → its 502 | %s | %s | %s-%s |" % (
            fmt_f(pctl(c502, 50), 2), fmt_f(pctl(c502, 99), 2), fmt_f(min(c502), 2), fmt_f(max(c502), 2)))
        w("| crash request sent → first 200 from a fresh worker | %s | %s | %s-%s |" % (
            fmt_f(pctl(tot, 50), 2), fmt_f(pctl(tot, 99), 2), fmt_f(min(tot), 2), fmt_f(max(tot), 2)))
        b = breakdown(rows, trace, "t0_mono_ns", "t1_mono_ns") if trace else []
        if b:
            for i, text in enumerate(("crash request sent → the new worker starts",
                                      "start → READY (worker set-up, dlopen, init)",
                                      "READY → first 200 seen")):
                v = [x[i] for x in b]
                w("| %s (trace, %d matched) | %s | %s | %s-%s |" % (
                    text, len(b), fmt_f(pctl(v, 50), 2), fmt_f(pctl(v, 99), 2), fmt_f(min(v), 2),
                    fmt_f(max(v), 2)))
        nr = read_csv(os.path.join(results, "nocg-respawn.csv"))
        if nr:
            v = [float(r["total_us"]) / 1000 for r in nr]
            w("| crash request sent → first 200 from a fresh worker, gateway without cgroups "
              "(diagnosis, %d crashes) | %s | %s | %s-%s |" % (
                  len(nr), fmt_f(pctl(v, 50), 2), fmt_f(pctl(v, 99), 2), fmt_f(min(v), 2), fmt_f(max(v), 2)))
            ntr = spawn_trace(os.path.join(results, "spawn-trace-nocg.txt"))
            b = breakdown(nr, ntr, "t0_mono_ns", "t1_mono_ns") if ntr else []
            if b:
                v = [x[1] for x in b]
                w("| start → READY, without cgroups (trace, %d matched) | %s | %s | %s-%s |" % (
                    len(b), fmt_f(pctl(v, 50), 2), fmt_f(pctl(v, 99), 2), fmt_f(min(v), 2), fmt_f(max(v), 2)))
        w("")
        w("Non-200 answers after the 502 (requests wait in the queue for the new worker): %d. "
          "Target (issue 3): p99 ≤ 20 ms." % bad)
        w("")
    if trace:
        forks, ready = trace
        s2r = [(ready[p] - forks[p]) / 1e6 for p in forks if p in ready]
        if s2r:
            w("Start-to-READY over every worker started during sections 3 and 4 "
              "(%d): p50 %s ms, p99 %s ms, min %s ms, max %s ms." % (
                  len(s2r), fmt_f(pctl(s2r, 50), 2), fmt_f(pctl(s2r, 99), 2), fmt_f(min(s2r), 2),
                  fmt_f(max(s2r), 2)))
            w("")

    # ---- where the time goes ----
    prof = os.path.join(results, "prof")
    if os.path.isdir(prof) and os.listdir(prof):
        w("### 5. Where the time goes")
        w("")
        w("Counts over one %ss `wrk -c%s` run each, on functions `hellop`/`hellop1` (hello with "
          "`max_invocations: 2000000000`, so that the worker pids stay the same for the whole run). "
          "System calls: `perf stat -e raw_syscalls:sys_enter -p PID`; context switches: "
          "`voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of `/proc/PID/status` before "
          "and after; per request = delta / requests completed. perf stat's tracepoints slow the "
          "run down a little: the requests/s here are not the headline figures."
          % (meta.get("duration", "?"), conns))
        w("")
        w("| run | requests/s | gateway syscalls/req | worker syscalls/req | gateway switches/req "
          "(voluntary + involuntary) | worker switches/req (voluntary + involuntary) |")
        w("|---|---:|---:|---:|---:|---:|")
        for n, text in (("pfn2", "function, pool 2"), ("pfn1", "function, pool 1"),
                        ("mock", "mock route"), ("pfn2-pin", "function, pool 2, pinned"),
                        ("pfn1-pin", "function, pool 1, pinned")):
            wp = os.path.join(prof, "wrk-%s.txt" % n)
            if not os.path.exists(wp):
                continue
            with open(wp, errors="replace") as f:
                r = parse_wrk(f.read())
            req = r["requests"] or 0
            gs = perfstat(os.path.join(prof, "perfstat-%s-gateway.txt" % n))
            ws = perfstat(os.path.join(prof, "perfstat-%s-workers.txt" % n))
            c = ctx(os.path.join(prof, "ctx-%s.txt" % n))
            gsw = wsw = "n/a"
            if c and req:
                before, after, m = c
                pids = list(before)
                gw = pids[0]
                if gw in after:
                    gsw = "%.2f + %.2f" % ((after[gw][0] - before[gw][0]) / req,
                                           (after[gw][1] - before[gw][1]) / req)
                wk = [p for p in pids[1:] if p in after]
                if wk:
                    if set(m.get("workers", [])) != set(m.get("workers_after", [])):
                        errors.append("profile %s: the workers changed during the run" % n)
                    wsw = "%.2f + %.2f" % (sum(after[p][0] - before[p][0] for p in wk) / req,
                                           sum(after[p][1] - before[p][1] for p in wk) / req)
            sysg = gs.get("raw_syscalls:sys_enter")
            sysw = ws.get("raw_syscalls:sys_enter")
            w("| %s | %s | %s | %s | %s | %s |" % (
                text, fmt_int(r["rps"]), fmt_f(sysg / req if sysg and req else None, 2),
                fmt_f(sysw / req if sysw and req else None, 2) if n != "mock" else "-", gsw,
                wsw if n != "mock" else "-"))
        w("")
        sg = strace_counts(os.path.join(prof, "strace-pfn2-gateway.txt"))
        sw = strace_counts(os.path.join(prof, "strace-pfn2-workers.txt"))
        sm = strace_counts(os.path.join(prof, "strace-mock-gateway.txt"))
        rq = wrk_requests(os.path.join(prof, "strace-pfn2-wrk.txt"))
        rqm = wrk_requests(os.path.join(prof, "strace-mock-wrk.txt"))
        if sg and rq:
            w("Which system calls, per request (`strace -c -f` on the gateway, `strace -c` on the "
              "pool-2 workers, during a 5 s `wrk -c%s`; strace slows everything down many times, "
              "so only the counts per request mean something):" % conns)
            w("")
            w("| syscall | gateway, function route | workers, function route | gateway, mock route |")
            w("|---|---:|---:|---:|")
            keys = sorted(set(sg) | set(sw) | set(sm), key=lambda k: -(sg.get(k, 0) + sw.get(k, 0) + sm.get(k, 0)))
            for k in keys:
                a = sg.get(k, 0) / rq
                b = sw.get(k, 0) / rq
                c_ = sm.get(k, 0) / rqm if rqm else 0
                if max(a, b, c_) < 0.01:
                    continue
                w("| %s | %.2f | %.2f | %.2f |" % (k, a, b, c_))
            w("")
        for n, text in (("pfn2", "function, pool 2, unpinned"), ("pfn1", "function, pool 1, unpinned"),
                        ("pfn2-pin", "function, pool 2, pinned (servers on CPU %s, wrk on CPU %s)"
                         % (meta.get("pin_server", "0"), meta.get("pin_client", "1")))):
            dso = perf_dso(os.path.join(prof, "perf-%s-dso.txt" % n))
            if not dso:
                continue
            rq = wrk_requests(os.path.join(prof, "perf-%s-wrk.txt" % n))
            w("`perf record -a -g` (cpu-clock; this VM has no hardware counters), 5 s of an 8 s "
              "`wrk -c%s`, %s — share of all samples on both vCPUs:" % (conns, text))
            w("")
            agg = {}
            for pct, comm, d in dso:
                key = "fn:* (workers)" if comm.startswith("fn:") else comm
                a = agg.setdefault(key, [0.0, 0.0])
                a[0 if d == "[kernel.kallsyms]" else 1] += pct
            w("| process | kernel | user space | total |")
            w("|---|---:|---:|---:|")
            ours = 0.0
            for comm, (k, u) in sorted(agg.items(), key=lambda x: -sum(x[1])):
                ours += k + u
                if k + u < 0.3:
                    continue
                w("| %s | %.1f%% | %.1f%% | %.1f%% |" % (comm, k, u, k + u))
            idle = sum(p for p, c in perf_comm(os.path.join(prof, "perf-%s-all.txt" % n)) if c == "swapper")
            w("| idle (swapper) | | | %.1f%% |" % idle)
            w("| everything else on the machine | | | %.1f%% |" % max(0.0, 100 - ours - idle))
            w("")
            syms = perf_sym(os.path.join(prof, "perf-%s-sym.txt" % n), 12)
            if syms:
                w("Top symbols: " + "; ".join("%s %s `%s` %.1f%%" % (c, "[k]" if t == "k" else "[u]", s, p)
                                             for p, c, t, s in syms) + ".")
                w("")
        wake = []
        for n, text in (("pfn2", "function, pool 2"), ("pfn1", "function, pool 1"),
                        ("pfn2-pin", "function, pool 2, pinned")):
            pth = os.path.join(prof, "wake-%s.txt" % n)
            if not os.path.exists(pth):
                continue
            cnt = {}
            with open(pth) as f:
                for line in f:
                    p = line.split()
                    if len(p) == 3 and p[1].isdigit():
                        cnt[p[0]] = (int(p[1]), int(p[2]))
            wake.append((text, cnt))
        if wake:
            w("On which vCPU they are woken (`perf record -e sched:sched_wakeup -a`, 2 s of a 5 s "
              "`wrk -c%s`; a wake-up is cross-CPU when the waker runs on the other vCPU than the "
              "one the wakee is queued on, which costs an inter-processor interrupt — a VM exit "
              "here):" % conns)
            w("")
            w("| run | worker wake-ups | on the other vCPU | gateway wake-ups | on the other vCPU "
              "| wrk wake-ups | on the other vCPU |")
            w("|---|---:|---:|---:|---:|---:|---:|")
            for text, cnt in wake:
                cells = []
                for who in ("workers", "gateway", "wrk"):
                    n_, x_ = cnt.get(who, (0, 0))
                    cells += [fmt_int(n_), "%.0f%%" % (x_ * 100 / n_) if n_ else "n/a"]
                w("| %s | %s |" % (text, " | ".join(cells)))
            w("")
        ib = ipcbatch(os.path.join(prof, "ipcbatch.txt"))
        if ib:
            w("The IPC model, bench/ipcbatch.c: a parent (\"gateway\") and a forked child "
              "(\"worker\") exchange frames of hello's sizes (509-byte INVOKE, 125-byte RESULT); "
              "the parent writes K INVOKEs in one write and reads until the K RESULTs are back, "
              "the child reads what is there with one read. *runtime*: a SOCK_STREAM socketpair "
              "and one write per RESULT, as fngate does today; *batched*: one write for all the "
              "RESULTs of a read; *poll*: batched, the child waits in poll(POLLIN) before reading; "
              "*pipes*: batched, over two pipes instead of the socketpair. Microseconds per "
              "invocation, wall clock (context switches per invocation, parent + child):")
            w("")
            w("| variant | K (invocations per wake-up) | same vCPU | other vCPU | not pinned |")
            w("|---|---:|---:|---:|---:|")
            for var in ("runtime", "batched", "poll", "pipes"):
                for k in sorted({key[2] for key in ib if key[1] == var}):
                    cells = []
                    for cpus in ("0,0", "0,1", "-1,-1"):
                        v = ib.get((cpus, var, k))
                        cells.append("%.1f (%.2f)" % (v[0] / 1000, v[1] + v[2]) if v else "n/a")
                    w("| %s | %d | %s |" % (var, k, " | ".join(cells)))
            w("")
    w("### Every round")
    w("")
    w("| connections | round | configuration | requests/s | p50 (ms) | p99 (ms) | non-2xx "
      "| socket errors | server CPU (µs/req) | other load |")
    w("|---:|---:|---|---:|---:|---:|---:|---|---:|---:|")
    for cn, rr, nn in ((conns, runs, names), ("1", lruns, lat_names)):
        for i in range(rounds):
            for n in nn:
                r = rr[n][i]
                if not r:
                    continue
                w("| %s | %d | %s | %s | %s | %s | %d | %s | %s | %s |" % (
                    cn, i + 1, n, fmt_int(r["rps"]), fmt_ms(r["p50"]), fmt_ms(r["p99"]), r["non2xx"],
                    sockerr_text(r), fmt_us(r["cpu_us"]), fmt_pct(r["other"])))
    w("")
    w("Configuration names: " + "; ".join("`%s` %s" % (n, label[n]) for n in names) + ". Other load: "
      "CPU time the machine spent outside wrk and the server's process tree, as a share of both "
      "vCPUs (bench/runwrk.py).")
    w("")
    blocks = {n: response_block(os.path.join(results, "responses", "%s.txt" % n))
              for n in ("fn2", "mock", "nginx", "fcgi")}
    if all(blocks.values()):
        w("### The responses compared")
        w("")
        w("Same 42-byte body everywhere; the headers differ:")
        w("")
        for n in ("fn2", "mock", "nginx", "fcgi"):
            text, hb, bb = blocks[n]
            w("%s (%d header bytes + %d body bytes):" % (label[n], hb, bb))
            w("")
            w("```")
            w(text)
            w("```")
            w("")
    w(ABEGIN)
    w("### What limits it")
    w("")
    w("(Not written yet: read the figures above and the profile, then write the analysis here. "
      "This block is kept when the section is regenerated.)")
    w(AEND)
    w(END)
    return "\n".join(out) + "\n", errors


def main(argv):
    return section_main(argv, "fnreport", __doc__, build, (BEGIN, END), keep=(ABEGIN, AEND))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
