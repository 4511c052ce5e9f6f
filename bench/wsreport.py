#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the raw results of bench/ws.sh into the WebSocket section of docs/BENCHMARKS.md.

    wsreport.py RESULTS_DIR                 print the section
    wsreport.py RESULTS_DIR --write DOC     also replace the WebSocket section of DOC
    wsreport.py --row NAME FILE             one line about one ws_load run (progress)

The section sits between <!-- ws:begin --> and <!-- ws:end -->. Inside it, the hand-written
analysis between <!-- ws-analysis:begin --> and <!-- ws-analysis:end --> is kept as it is when
the section is rewritten.

RESULTS_DIR holds meta.txt (key=value) and runs/ROUND-NAME-TEST.json: ws_load's JSON line(s),
with .cpu (key=value: wall, server, busy, steal, ncpu, waited, rc) for echo and broadcast and
.mem (n, rss_/pd_ before/held/closed in KiB) for idle. NAME is fngate, fngate-admin (broadcast
published through the admin API), node or lws.
"""
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import median, read_kv, section_main  # noqa: E402

BEGIN = "<!-- ws:begin -->"
END = "<!-- ws:end -->"
ABEGIN = "<!-- ws-analysis:begin -->"
AEND = "<!-- ws-analysis:end -->"

LABEL = {
    "fngate": "fngate (handler)",
    "fngate-parallel": "fngate (handler, message_order: parallel)",
    "fngate-admin": "fngate (admin API)",
    "node": "node ws",
    "lws": "libwebsockets",
}
ORDER = ["fngate", "fngate-parallel", "fngate-admin", "node", "lws"]
OTHER_LOAD = 0.10  # a run with more than this share of the machine used by others, or stolen
                   # by the hypervisor, is flagged


def num(kv, k, default=0.0):
    try:
        return float(kv.get(k, default))
    except ValueError:
        return default


def read_json(path):
    """The results line of a ws_load output (not the idle 'ready' event)."""
    res = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        j = json.loads(line)
                    except ValueError:
                        continue
                    if "mode" in j:
                        res = j
    except OSError:
        pass
    return res


def load_run(path):
    j = read_json(path)
    if j is None:
        return None
    cpu = read_kv(path + ".cpu")
    r = {"json": j, "cpu": cpu}
    wall = num(cpu, "wall")
    ncpu = num(cpu, "ncpu", os.cpu_count() or 2)
    server = num(cpu, "server")
    client = float(j.get("client_cpu_s", 0))
    if wall > 0:
        r["other"] = max(0.0, (num(cpu, "busy") - server - client) / (wall * ncpu))
        r["steal"] = num(cpu, "steal") / (wall * ncpu)
    else:
        r["other"] = r["steal"] = None
    r["server_cpu"] = server
    if j["mode"] == "echo" and j.get("roundtrips_all"):
        # The server's CPU over the whole ws_load run (connect, warm-up and the tail included)
        # per round trip made in it.
        r["cpu_per_op"] = server / j["roundtrips_all"] * 1e6
    elif j["mode"] == "broadcast" and j.get("delivered"):
        r["cpu_per_op"] = server / j["delivered"] * 1e6
    else:
        r["cpu_per_op"] = None
    return r


def load(results):
    runs = {}  # (name, test) -> [(round, run)]
    for path in sorted(glob.glob(os.path.join(results, "runs", "*.json"))):
        m = re.match(r"(\d+)-(.+)-(idle|echo|broadcast)\.json$", os.path.basename(path))
        if not m:
            continue
        rnd, name, test = int(m.group(1)), m.group(2), m.group(3)
        if test == "idle":
            mem = read_kv(path + ".mem")
            j = read_json(path)
            n = num(mem, "n")
            if not mem or not n:
                continue
            r = {"json": j or {}, "mem": mem}
            r["rss_per"] = (num(mem, "rss_held") - num(mem, "rss_before")) * 1024 / n
            r["pd_per"] = (num(mem, "pd_held") - num(mem, "pd_before")) * 1024 / n
        else:
            r = load_run(path)
            if r is None:
                continue
        runs.setdefault((name, test), []).append((rnd, r))
    return runs


def contended(r):
    return any(r.get(k) is not None and r[k] > OTHER_LOAD for k in ("other", "steal"))


def clean(rs):
    """The runs that ran without much other load or steal, or all of them if none did."""
    ok = [r for _, r in rs if not contended(r)]
    return ok or [r for _, r in rs]


def fmt_int(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt(v, digits=2):
    return "-" if v is None else "{:,.{d}f}".format(v, d=digits)


def fmt_ms(us):
    return "-" if us is None else "%.2f" % (us / 1000)


def fmt_pct(v):
    return "-" if v is None else "%.0f%%" % (v * 100)


def ratio(a, b, digits=2):
    if a is None or b is None or not b:
        return "-"
    return "%.*f" % (digits, a / b)


def jget(r, *keys):
    v = r["json"]
    for k in keys:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def summary(runs, name, test, *keys):
    rs = runs.get((name, test), [])
    return median([jget(r, *keys) for r in clean(rs)])


def summary_of(runs, name, test, key):
    rs = runs.get((name, test), [])
    return median([r.get(key) for r in clean(rs)])


def row_line(name, path):
    r = load_run(path)
    if r is None:
        return "%s: %s: no result" % (name, os.path.basename(path))
    j = r["json"]
    if j["mode"] == "echo":
        what = "%s rt/s, p50 %s ms, p99 %s ms" % (
            fmt_int(j.get("rps")), fmt_ms(jget(r, "rtt", "p50_us")),
            fmt_ms(jget(r, "rtt", "p99_us")))
    else:
        what = "%s deliveries/s, publish->last p50 %s ms p99 %s ms, lost %s" % (
            fmt_int(j.get("deliveries_per_s")), fmt_ms(jget(r, "publish_to_last", "p50_us")),
            fmt_ms(jget(r, "publish_to_last", "p99_us")), j.get("lost"))
    return "| %s %s | %s | server CPU %s us/op | client CPU %s%% | other load %s | ok %s |" % (
        name, j["mode"], what, fmt(r["cpu_per_op"]), fmt(j.get("client_cpu_pct"), 0),
        fmt_pct(r["other"]), j.get("ok"))


def build(results):
    meta = read_kv(os.path.join(results, "meta.txt"))
    runs = load(results)
    errors = []
    names = [n for n in ORDER if any(k[0] == n for k in runs)]
    if not names:
        errors.append("no results in %s" % results)
    for (name, test), rs in sorted(runs.items()):
        for rnd, r in rs:
            j = r["json"]
            if test != "idle" and not j.get("ok"):
                errors.append("round %d %s %s: ws_load reported a failed run (see its JSON)"
                              % (rnd, name, test))
            if test == "idle" and j and not j.get("ok", True):
                errors.append("round %d %s idle: ws_load reported a failed run" % (rnd, name))
    out = []
    w = out.append
    rounds = int(num(meta, "rounds", 1))
    w(BEGIN)
    w("## WebSocket: fngate vs node ws and libwebsockets")
    w("")
    w("Measured %s with `%s`." % (meta.get("date", "?"), meta.get("command", "bench/ws.sh")))
    w("")
    w("- Machine: %s vCPU (`nproc`), %s, Linux %s. A shared VM with noisy neighbours: compare "
      "the ratios more than the absolute numbers." % (
          meta.get("nproc", "?"), meta.get("cpu", "?"), meta.get("kernel", "?")))
    if meta.get("pin") == "1":
        w("- Pinning: every server on CPU %s (fngate: the gateway, its supervisor and its "
          "workers together; node and the libwebsockets peer are single-threaded), the load "
          "generator on CPU %s (`taskset`), so that neither starves the other. One core per "
          "server." % (meta.get("pin_server"), meta.get("pin_client")))
    else:
        w("- No pinning: servers and load generator share both vCPUs.")
    w("- fngate: %s (git %s), build type `%s`; a WebSocket API with one stage `b`, its "
      "`$default` route invoking `bench/ws_bench_fn.c` (defaults: pool of 2 workers); "
      "access log off. *Handler*: every message, publish included, is an invocation in a "
      "sandboxed worker, which calls `fng_ws_publish()`; the gateway frames the topic message "
      "once and queues it on every subscriber. *Admin API*: the same publications as "
      "`POST /@topics/bench` on the admin listener, no worker involved." % (
          meta.get("fngate_bin", "?"), meta.get("git", "?"), meta.get("buildtype", "?")))
    w("- node %s with ws %s (`bench/ws_peer_node.js`: the envelope serialized once per publish, "
      "the same Buffer sent to every subscriber; no permessage-deflate). libwebsockets %s "
      "(`bench/ws_peer_lws.c`: lws' own broadcast pattern, a shared `lws_ring`, "
      "`lws_callback_on_writable_all_protocol()`, one write per WRITEABLE callback)." % (
          meta.get("node", "?"), meta.get("ws", "?"), meta.get("lws", "?")))
    w("- Load: `bench/ws_load.c`, engine `%s`, one thread. The three servers speak one "
      "protocol: `{\"action\":\"subscribe\",\"topic\":\"bench\"}` (answered "
      "`{\"subscribed\":\"bench\"}`), `{\"action\":\"publish\",\"topic\":\"bench\",\"data\":...}` "
      "(every subscriber gets `{\"topic\":\"bench\",\"seq\":N,\"data\":...}`), anything else "
      "echoed. The servers run one after the other, %d round%s, the order reversed every "
      "other round; medians below (runs flagged for other load or steal are left out when a "
      "clean one exists)." % (meta.get("engine", "raw"), rounds, "s" if rounds != 1 else ""))
    w("")

    # ---- broadcast ----
    subs, msgs, size, window = (meta.get("subs", "?"), meta.get("msgs", "?"),
                                meta.get("size", "?"), meta.get("window", "?"))
    w("### Broadcast: %s subscribers, %s messages of %s bytes, at most %s in flight" % (
        subs, msgs, size, window))
    w("")
    w("Deliveries/s: subscribers × messages over the time from the first publish to the last "
      "delivery. Latency: from writing a publish to its last subscriber receiving it, and to "
      "each delivery. Every subscriber must receive every message once: lost and duplicate "
      "deliveries are counted (all must be 0).")
    w("")
    bnames = [n for n in ORDER if (n, "broadcast") in runs]
    w("| | " + " | ".join(LABEL[n] for n in bnames) + " |")
    w("|---|" + "---:|" * len(bnames))
    rows = [
        ("deliveries/s", lambda n: fmt_int(summary(runs, n, "broadcast", "deliveries_per_s"))),
        ("publishes/s", lambda n: fmt_int(summary(runs, n, "broadcast", "publishes_per_s"))),
        ("publish → last delivery p50 (ms)",
         lambda n: fmt_ms(summary(runs, n, "broadcast", "publish_to_last", "p50_us"))),
        ("publish → last delivery p99 (ms)",
         lambda n: fmt_ms(summary(runs, n, "broadcast", "publish_to_last", "p99_us"))),
        ("publish → last delivery mean (ms)",
         lambda n: fmt_ms(summary(runs, n, "broadcast", "publish_to_last", "mean_us"))),
        ("publish → each delivery p50 (ms)",
         lambda n: fmt_ms(summary(runs, n, "broadcast", "publish_to_each", "p50_us"))),
        ("publish → each delivery p99 (ms)",
         lambda n: fmt_ms(summary(runs, n, "broadcast", "publish_to_each", "p99_us"))),
        ("server CPU per delivery (µs)",
         lambda n: fmt(summary_of(runs, n, "broadcast", "cpu_per_op"))),
        ("load generator CPU", lambda n: fmt(summary(runs, n, "broadcast", "client_cpu_pct"), 0)
         + "%"),
        ("lost / duplicate deliveries (all rounds)", lambda n: "%d / %d" % (
            sum(r["json"].get("lost", 0) for _, r in runs[(n, "broadcast")]),
            sum(r["json"].get("dups", 0) for _, r in runs[(n, "broadcast")]))),
    ]
    for label, f in rows:
        w("| %s | %s |" % (label, " | ".join(f(n) for n in bnames)))
    w("")
    dps = {n: summary(runs, n, "broadcast", "deliveries_per_s") for n in bnames}
    if "node" in dps or "lws" in dps:
        w("| ratio (deliveries/s) | fngate / node ws | fngate / libwebsockets |")
        w("|---|---:|---:|")
        for n in ("fngate", "fngate-parallel", "fngate-admin"):
            if n in dps:
                w("| %s | %s | %s |" % (LABEL[n], ratio(dps[n], dps.get("node")),
                                        ratio(dps[n], dps.get("lws"))))
        w("")

    # ---- echo ----
    enames = [n for n in ORDER if (n, "echo") in runs]
    if enames:
        w("### Echo: %s connections, %s-byte messages, %s s (after %s s of warm-up)" % (
            meta.get("echo_conns", "?"), meta.get("echo_size", "?"),
            meta.get("echo_seconds", "?"), meta.get("echo_warmup", "?")))
        w("")
        w("Each connection sends a message and waits for it to come back before the next. "
          "On fngate every message is an invocation of the handler in a worker (the "
          "function path); the peers answer in their event loop.")
        w("")
        has_ratio = "fngate" in enames and ("node" in enames or "lws" in enames)
        head = "| | " + " | ".join(LABEL[n] for n in enames)
        if has_ratio:
            head += " | fngate / node ws | fngate / libwebsockets"
        w(head + " |")
        w("|---|" + "---:|" * (len(enames) + (2 if has_ratio else 0)))
        erows = [
            ("round trips/s", lambda n: summary(runs, n, "echo", "rps"), fmt_int),
            ("p50 latency (ms)", lambda n: summary(runs, n, "echo", "rtt", "p50_us"), fmt_ms),
            ("p99 latency (ms)", lambda n: summary(runs, n, "echo", "rtt", "p99_us"), fmt_ms),
            ("server CPU per round trip (µs)", lambda n: summary_of(runs, n, "echo", "cpu_per_op"),
             fmt),
        ]
        for label, f, fm in erows:
            vals = {n: f(n) for n in enames}
            line = "| %s | %s" % (label, " | ".join(fm(vals[n]) for n in enames))
            if has_ratio:
                line += " | %s | %s" % (ratio(vals["fngate"], vals.get("node")),
                                        ratio(vals["fngate"], vals.get("lws")))
            w(line + " |")
        w("")
        if "fngate" in enames and "fngate-parallel" in enames:
            # What keeping a connection's messages in order (the default) costs the echo.
            a = summary(runs, "fngate", "echo", "rps")
            b = summary(runs, "fngate-parallel", "echo", "rps")
            if a and b:
                w("Message order: round trips/s in order (the default) / parallel: %s."
                  % ratio(a, b))
                w("")

    # ---- idle memory ----
    inames = [n for n in ORDER if (n, "idle") in runs]
    mem = {}
    if inames:
        w("### Memory per idle connection")
        w("")
        w("`ws_load idle` opens %s connections, makes one echo round trip on each and holds them "
          "open; the server's VmRSS and Private_Dirty (`/proc/PID/status`, `smaps_rollup`; "
          "fngate: the gateway process, which holds the connections) are read before and while "
          "they are held, on a freshly started server. Per connection = (held − before) / N: "
          "user space only, the kernel's socket buffers come on top for every server alike." %
          meta.get("idle_conns", "?"))
        w("")
        w("| server | N | VmRSS before (KiB) | VmRSS held (KiB) | VmRSS / conn (bytes) | "
          "Private_Dirty / conn (bytes) |")
        w("|---|---:|---:|---:|---:|---:|")
        for n in inames:
            rs = [r for _, r in runs[(n, "idle")]]
            mem[n] = median([r["rss_per"] for r in rs])
            w("| %s | %s | %s | %s | %s | %s |" % (
                LABEL[n], fmt_int(median([num(r["mem"], "n") for r in rs])),
                fmt_int(median([num(r["mem"], "rss_before") for r in rs])),
                fmt_int(median([num(r["mem"], "rss_held") for r in rs])),
                fmt_int(mem[n]), fmt_int(median([r["pd_per"] for r in rs]))))
        w("")

    # ---- targets ----
    if "fngate" in dps:
        w("### Targets")
        w("")
        w("| target | measured | met |")
        w("|---|---|---|")

        def target(label, key, want, what):
            best = None
            parts = []
            for n in ("fngate", "fngate-admin"):
                v = what(n)
                if v is not None:
                    parts.append("%s %s" % ("handler" if n == "fngate" else "admin API", key(v)))
                    best = v if best is None else max(best, v)
            if parts:
                met = "handler: %s, admin API: %s" % (
                    "yes" if what("fngate") is not None and what("fngate") >= want else "no",
                    "yes" if what("fngate-admin") is not None and what("fngate-admin") >= want
                    else "no" if "fngate-admin" in dps else "-")
                w("| %s | %s | %s |" % (label, ", ".join(parts), met))

        if dps.get("node"):
            target("broadcast deliveries/s ≥ 2× node ws", lambda v: "%.2f×" % v, 2.0,
                   lambda n: dps[n] / dps["node"] if dps.get(n) else None)
        if dps.get("lws"):
            target("broadcast deliveries/s ≥ 1× libwebsockets", lambda v: "%.2f×" % v, 1.0,
                   lambda n: dps[n] / dps["lws"] if dps.get(n) else None)
        target("broadcast ≥ 500k deliveries/s", lambda v: "{:,.0f}/s".format(v), 500000,
               lambda n: dps.get(n))
        if "fngate" in mem and mem["fngate"] is not None:
            w("| ≤ 1 KiB user space per idle connection | %s bytes | %s |" % (
                fmt_int(mem["fngate"]), "yes" if mem["fngate"] <= 1024 else "no"))
        w("")

    # ---- every run ----
    w("### Every run")
    w("")
    w("| round | server | test | result | p50 (ms) | p99 (ms) | server CPU (µs/op) | "
      "generator CPU | other load | steal |")
    w("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    allruns = []
    for (name, test), rs in runs.items():
        if test == "idle":
            continue
        for rnd, r in rs:
            allruns.append((rnd, ORDER.index(name) if name in ORDER else 9, test, name, r))
    for rnd, _, test, name, r in sorted(allruns, key=lambda x: (x[0], x[2], x[1])):
        j = r["json"]
        if test == "echo":
            res = "%s rt/s" % fmt_int(j.get("rps"))
            p50, p99 = jget(r, "rtt", "p50_us"), jget(r, "rtt", "p99_us")
        else:
            res = "%s deliveries/s" % fmt_int(j.get("deliveries_per_s"))
            p50, p99 = jget(r, "publish_to_last", "p50_us"), jget(r, "publish_to_last", "p99_us")
        flag = " ⚠" if contended(r) else ""
        w("| %d | %s | %s | %s | %s | %s | %s | %s%% | %s | %s%s |" % (
            rnd, LABEL.get(name, name), test, res, fmt_ms(p50), fmt_ms(p99), fmt(r["cpu_per_op"]),
            fmt(j.get("client_cpu_pct"), 0), fmt_pct(r.get("other")),
            fmt_pct(r.get("steal")), flag))
    w("")
    w("Server CPU: user+system time of the server's whole process tree (fngate: gateway, "
      "supervisor, workers, recycled workers included) over the ws_load run, per round trip or "
      "delivery. Generator CPU: ws_load's share of its core while it measured. Other load: "
      "what the rest of the machine used meanwhile (`/proc/stat` busy time minus server and "
      "ws_load), as a share of all vCPUs; steal: time the hypervisor gave to other guests, "
      "same scale. ⚠ marks runs where either was above %d%%: they are left out of the "
      "medians when the same server and test has a clean run." % (OTHER_LOAD * 100))
    w("")
    w(ABEGIN)
    w("### What limits it")
    w("")
    w("(Not written yet: read the figures above, then write the analysis here. This block is "
      "kept when the section is regenerated.)")
    w(AEND)
    w(END)
    return "\n".join(out) + "\n", errors


def main(argv):
    if len(argv) == 4 and argv[1] == "--row":
        print(row_line(argv[2], argv[3]))
        return 0
    return section_main(argv, "wsreport", __doc__, build, (BEGIN, END), keep=(ABEGIN, AEND))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
