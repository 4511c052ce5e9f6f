#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Report of bench/tls.sh: `tlsreport.py RESULTS_DIR [--write docs/BENCHMARKS.md]`.

Keep-alive: per workload (wrk with each server's default cipher; h2load with ChaCha20-Poly1305
or AES-128-GCM forced from the client, small body and 16 KiB), fngate and nginx side by side:
the median over the rounds of req/s, latency (wrk: p50/p99; h2load: mean time per request) and
server CPU per request, and the fngate/nginx req/s ratio within each round (median, min-max).
Handshakes (hs/ROUND-SERVER-new|reuse.txt, openssl s_time): connections per second of the
run and server CPU per connection. Memory (mem-SERVER.txt): VmRSS and Private_Dirty growth per
idle TLS connection. negotiated-SERVER-VERSION.txt: what an `openssl s_client` gets by default.
A hand-written block between the notes markers survives a rewrite.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import (NOISY_PCT, add_cpu, fmt_int, fmt_ms, fmt_pct, fmt_us, median,  # noqa: E402
                    read_kv, read_run, section_main)

BEGIN = "<!-- tls:begin -->"
END = "<!-- tls:end -->"
KEEP = ("<!-- tls:notes:begin -->", "<!-- tls:notes:end -->")
TARGET = 0.8
SERVERS = ("fngate", "nginx")
WORKLOADS = [
    ("", "`hello\\n`, each server's default cipher (wrk)"),
    ("chacha", "`hello\\n`, TLS_CHACHA20_POLY1305_SHA256 forced (h2load)"),
    ("aes128", "`hello\\n`, TLS_AES_128_GCM_SHA256 forced (h2load)"),
    ("chacha-16k", "16 KiB body, TLS_CHACHA20_POLY1305_SHA256 forced (h2load)"),
    ("aes128-16k", "16 KiB body, TLS_AES_128_GCM_SHA256 forced (h2load)"),
]


def parse_h2load(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    r = {"rps": None, "requests": None, "mean": None, "p50": None, "p99": None, "errors": []}
    m = re.search(r"finished in [0-9.]+s, ([0-9.]+) req/s", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored", text)
    if m:
        r["requests"] = int(m.group(1))
        if int(m.group(2)) or int(m.group(3)):
            r["errors"].append("failed or errored requests")
    m = re.search(r"time for request:\s+\S+\s+\S+\s+([0-9.]+)(us|ms|s)", text)
    if m:
        r["mean"] = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    m = re.search(r"^Cipher: (\S+)", text, re.M)
    r["cipher"] = m.group(1) if m else None
    if r["rps"] is None or not r["requests"]:
        r["errors"].append("unparsable h2load output")
    add_cpu(r, read_kv(path + ".cpu"))
    return r


def parse_stime(path, seconds):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    r = {"conns": None, "rate": None, "errors": []}
    m = re.search(r"^(\d+) connections in [0-9.]+s;", text, re.M)
    if m:
        r["conns"] = int(m.group(1))
        r["rate"] = r["conns"] / seconds
    else:
        r["errors"].append("unparsable s_time output")
    cpu = read_kv(path + ".cpu")
    try:
        r["cpu_us"] = float(cpu["server"]) * 1e6 / r["conns"]
        cap = float(cpu["elapsed"]) * int(cpu["ncpu"])
        r["other"] = max(0.0, float(cpu["busy"]) - float(cpu["server"]) -
                         float(cpu["wrk"])) * 100 / cap
    except (KeyError, ValueError, TypeError, ZeroDivisionError):
        r["cpu_us"] = r["other"] = None
    return r


def negotiated(results, server, version):
    path = os.path.join(results, "negotiated-%s-%s.txt" % (server, version))
    if not os.path.exists(path):
        return "n/a"
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    c = re.search(r"Cipher is (\S+)", text)
    k = re.search(r"Server Temp Key: ([^\n]+)", text)
    return "%s, %s" % (c.group(1) if c else "?", k.group(1).replace(",", "") if k else "?")


def ratio_text(rs):
    rs = [x for x in rs if x is not None]
    if not rs:
        return "n/a", None
    m = median(rs)
    return ("%.2f (%.2f-%.2f)" % (m, min(rs), max(rs)) if len(rs) > 1 else "%.2f" % m), m


def build(results):
    meta = read_kv(os.path.join(results, "meta.txt"))
    rounds = int(meta.get("rounds", "0"))
    hs_seconds = float(meta.get("hs_seconds", "5"))
    errors = []
    runs = {}
    for r in range(1, rounds + 1):
        for wl, _ in WORKLOADS:
            for s in SERVERS:
                v = s + ("-" + wl if wl else "")
                if wl:
                    w = parse_h2load(os.path.join(results, "wrk", "%d-%s.txt" % (r, v)))
                else:
                    w = read_run(results, r, v)
                    w["mean"] = None
                errors += ["round %d %s: %s" % (r, v, e) for e in w["errors"]]
                runs[(r, v)] = w
    hs = {}
    for r in range(1, rounds + 1):
        for s in SERVERS:
            for kind in ("new", "reuse"):
                h = parse_stime(os.path.join(results, "hs", "%d-%s-%s.txt" % (r, s, kind)),
                                hs_seconds)
                errors += ["round %d %s-%s: %s" % (r, s, kind, e) for e in h["errors"]]
                hs[(r, s, kind)] = h

    out = [BEGIN, "## TLS: fngate (wolfSSL) vs nginx (OpenSSL)", ""]
    out.append(
        "Measured %s with `%s`: fngate %s (revision %s, libwolfssl %s) and nginx %s (%s), "
        "side by side in one run on %s vCPU (%s, AES-NI: %s), client and servers on loopback. "
        "Both serve the same self-signed EC P-256 certificate (ECDSA), TLS 1.2 and 1.3, session "
        "tickets on (nginx also `ssl_session_cache shared:SSL:10m`), one worker each "
        "(fngate's loop thread; `worker_processes 1`), no access log; fngate answers mock "
        "routes, nginx `return 200` (the 16 KiB body: a file, `open_file_cache`). %d rounds, "
        "the order of the runs rotating each round; medians over the rounds." % (
            meta.get("date"), meta.get("command"), meta.get("buildtype"), meta.get("git"),
            meta.get("wolfssl"), meta.get("nginx"), meta.get("openssl"), meta.get("nproc"),
            meta.get("cpu"), meta.get("aes_ni"), rounds))
    out.append("")
    out.append("What an OpenSSL client (`openssl s_client`, wrk) gets by default:")
    out.append("")
    out.append("| server | TLS 1.3 | TLS 1.2 |")
    out.append("|---|---|---|")
    for s in SERVERS:
        out.append("| %s | %s | %s |" % (s, negotiated(results, s, "tls1_3"),
                                         negotiated(results, s, "tls1_2")))
    out.append("")
    out.append("fngate's order puts ChaCha20-Poly1305 first; nginx (`ssl_prefer_server_ciphers "
               "off`, its default) follows the client, whose OpenSSL asks for AES-256-GCM "
               "first. X25519 in both: the client's first key share.")
    out.append("")
    out.append("### Keep-alive requests over TLS")
    out.append("")
    out.append("wrk `-t%s -c%s -d%ss --latency`, h2load `--h1 -t%s -c%s -D %s "
               "--tls13-ciphers=SUITE`, each after a %ss warm-up (wrk). Latency: wrk's p50/p99, "
               "h2load's mean time per request." % (
                   meta.get("threads"), meta.get("conns"), meta.get("duration"),
                   meta.get("threads"), meta.get("conns"), meta.get("duration"),
                   meta.get("warmup")))
    out.append("")
    out.append("| workload | fngate req/s | nginx req/s | fngate / nginx (min-max) "
               "| fngate p50 / p99 / mean ms | nginx p50 / p99 / mean ms "
               "| server CPU µs/req fngate / nginx |")
    out.append("|---|---|---|---|---|---|---|")
    for wl, label in WORKLOADS:
        vf, vn = "fngate" + ("-" + wl if wl else ""), "nginx" + ("-" + wl if wl else "")
        med = {}
        for v in (vf, vn):
            med[v] = {k: median([runs[(r, v)][k] for r in range(1, rounds + 1)])
                      for k in ("rps", "p50", "p99", "mean", "cpu_us")}
        rt, rm = ratio_text([runs[(r, vf)]["rps"] / runs[(r, vn)]["rps"]
                             for r in range(1, rounds + 1)
                             if runs[(r, vf)]["rps"] and runs[(r, vn)]["rps"]])
        mark = ""
        if not wl and rm is not None:
            mark = " ✓" if rm >= TARGET else " ✗"

        def lat(m):
            if m["mean"] is not None:
                return "— / — / %s" % fmt_ms(m["mean"])
            return "%s / %s / —" % (fmt_ms(m["p50"]), fmt_ms(m["p99"]))
        out.append("| %s | %s | %s | %s%s | %s | %s | %s / %s |" % (
            label, fmt_int(med[vf]["rps"]), fmt_int(med[vn]["rps"]), rt, mark, lat(med[vf]),
            lat(med[vn]), fmt_us(med[vf]["cpu_us"]), fmt_us(med[vn]["cpu_us"])))
    out.append("")
    out.append("Target: fngate ≥ %.1f× nginx req/s on the default-cipher row (✓ met, ✗ not "
               "met, by the ratio within each round). Server CPU per request: the server "
               "process's CPU time (fngate: all its threads; the nginx worker) over the "
               "requests completed." % TARGET)
    out.append("")
    out.append("### Handshakes")
    out.append("")
    out.append("`openssl s_time -connect 127.0.0.1:PORT -new|-reuse -time %s -www /prod/hello`: "
               "one client, connections one after the other, each a TLS 1.3 handshake (X25519, "
               "ECDSA P-256) and one HTTP/1.0 request; `-new` a full handshake each time, "
               "`-reuse` the first session resumed (a PSK ticket). Connections per second of "
               "the run, and the server's CPU per connection (the client takes much of the "
               "time: this is a latency-bound rate from one client, the CPU column is the "
               "server's cost)." % meta.get("hs_seconds"))
    out.append("")
    out.append("| handshake | fngate conn/s | nginx conn/s | fngate / nginx (min-max) "
               "| server CPU µs/conn fngate | nginx | fngate / nginx CPU |")
    out.append("|---|---|---|---|---|---|---|")
    for kind, label in (("new", "full (`-new`)"), ("reuse", "resumed (`-reuse`)")):
        m = {s: {k: median([hs[(r, s, kind)][k] for r in range(1, rounds + 1)])
                 for k in ("rate", "cpu_us")} for s in SERVERS}
        rt, _ = ratio_text([hs[(r, "fngate", kind)]["rate"] / hs[(r, "nginx", kind)]["rate"]
                            for r in range(1, rounds + 1)
                            if hs[(r, "fngate", kind)]["rate"] and hs[(r, "nginx", kind)]["rate"]])
        cr = ("%.2f" % (m["fngate"]["cpu_us"] / m["nginx"]["cpu_us"])
              if m["fngate"]["cpu_us"] and m["nginx"]["cpu_us"] else "n/a")
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt_int(m["fngate"]["rate"]), fmt_int(m["nginx"]["rate"]), rt,
            fmt_int(m["fngate"]["cpu_us"]), fmt_int(m["nginx"]["cpu_us"]), cr))
    out.append("")

    mem = {s: read_kv(os.path.join(results, "mem-%s.txt" % s)) for s in SERVERS}
    if all(mem.values()):
        out.append("### Memory per idle TLS connection")
        out.append("")
        out.append("bench/tlsidle.py opens %s connections (each a full handshake, the client's "
                   "default cipher), sends one keep-alive `GET /prod/hello` on each, reads the "
                   "answer and holds them idle; the server's VmRSS and Private_Dirty "
                   "(`/proc/PID/smaps_rollup`) before and while they are held (nginx: the "
                   "worker). Kernel socket memory is in neither." % mem["fngate"].get("n"))
        out.append("")
        out.append("| server | cipher | held open | VmRSS before → held KiB "
                   "| VmRSS / conn bytes | Private_Dirty / conn bytes |")
        out.append("|---|---|---|---|---|---|")
        for s in SERVERS:
            m = mem[s]
            try:
                n = int(m["n"])
                rss = (int(m["rss_held"]) - int(m["rss_before"])) * 1024 / n
                pd = (int(m["pd_held"]) - int(m["pd_before"])) * 1024 / n
            except (KeyError, ValueError, ZeroDivisionError):
                rss = pd = None
            if m.get("held_open") != m.get("n"):
                errors.append("%s: %s of %s idle connections held" % (
                    s, m.get("held_open"), m.get("n")))
            out.append("| %s | %s | %s | %s → %s | %s | %s |" % (
                s, m.get("cipher", "?"), m.get("held_open", "?"), m.get("rss_before"),
                m.get("rss_held"), fmt_int(rss), fmt_int(pd)))
        out.append("")

    out.append(KEEP[0])
    out.append("(what limits it: written by hand after a run)")
    out.append(KEEP[1])
    out.append("")
    out.append("### Every round")
    out.append("")
    out.append("| round | run | req/s or conn/s | p50 ms | p99 ms | mean ms | server CPU µs "
               "| other load |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in range(1, rounds + 1):
        for wl, _ in WORKLOADS:
            for s in SERVERS:
                v = s + ("-" + wl if wl else "")
                w = runs[(r, v)]
                out.append("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
                    r, v, fmt_int(w["rps"]), fmt_ms(w["p50"]), fmt_ms(w["p99"]),
                    fmt_ms(w["mean"]), fmt_us(w["cpu_us"]), fmt_pct(w["other"])))
        for s in SERVERS:
            for kind in ("new", "reuse"):
                h = hs[(r, s, kind)]
                out.append("| %d | %s s_time -%s | %s | | | | %s | %s |" % (
                    r, s, kind, fmt_int(h["rate"]), fmt_int(h["cpu_us"]),
                    fmt_pct(h["other"])))
    out.append("")
    out.append("Other load: CPU the machine spent beside the client and the server, as a share "
               "of all vCPUs (over %d%%: a noisy run)." % NOISY_PCT)
    out.append(END)
    return "\n".join(out) + "\n", errors


if __name__ == "__main__":
    sys.exit(section_main(sys.argv, "tlsreport.py", __doc__, build, (BEGIN, END), keep=KEEP))
