#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the raw results of bench/http.sh into the markdown section of docs/BENCHMARKS.md.

    report.py RESULTS_DIR                 print the section on stdout
    report.py RESULTS_DIR --write DOC     also replace the http section of DOC (created if missing)
    report.py --row LABEL WRK_OUTPUT      print one markdown table row for one wrk run (progress)

RESULTS_DIR holds meta.txt (key=value), wrk/ROUND-NAME.txt (wrk --latency output),
mem-NAME.txt (key=value) and response-NAME.txt (one raw HTTP response) for NAME in
fngate, nginx. Exits non-zero when a run is unusable (no requests/sec, non-2xx responses or
socket errors, idle connections closed by the server), after printing the report, so that
the numbers are never silently wrong.
"""
import os
import re
import statistics
import sys

BEGIN = "<!-- http:begin -->"
END = "<!-- http:end -->"
SERVERS = ("fngate", "nginx")

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError("bad wrk duration %r" % text)
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(text):
    """Returns dict rps, p50, p99 (ms), requests, non2xx, sockerr (dict), errors (list)."""
    r = {"non2xx": 0, "sockerr": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    r["rps"] = float(m.group(1)) if m else None
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.0+)?%%\s+(\S+)" % pct, text, re.M)
        r["p" + pct] = to_ms(m.group(1)) if m else None
    m = re.search(r"^\s+(\d+) requests in ([0-9.]+\w+)", text, re.M)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["sockerr"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    errors = []
    if r["rps"] is None or r["p50"] is None or r["p99"] is None or not r["requests"]:
        errors.append("unparsable wrk output")
    if r["non2xx"]:
        errors.append("%d non-2xx responses" % r["non2xx"])
    if any(r["sockerr"].values()):
        errors.append("socket errors %s" % r["sockerr"])
    r["errors"] = errors
    return r


NOISY_PCT = 10


def add_cpu(r, cpu):
    """Adds cpu_us (server CPU per request), other and steal (% of the machine) to a parsed run."""
    r["cpu_us"] = r["other"] = r["steal"] = None
    try:
        cap = float(cpu["elapsed"]) * int(cpu["ncpu"])
        server, wrk = float(cpu["server"]), float(cpu["wrk"])
        if r["requests"]:
            r["cpu_us"] = server * 1e6 / r["requests"]
        r["other"] = max(0.0, float(cpu["busy"]) - server - wrk) * 100 / cap
        r["steal"] = float(cpu["steal"]) * 100 / cap
    except (KeyError, ValueError, ZeroDivisionError):
        pass


def fmt_us(v):
    return "n/a" if v is None else "%.2f" % v


def fmt_pct(v):
    return "n/a" if v is None else "%.0f%%" % v


def read_kv(path):
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v
    return out


def fmt_ms(v):
    if v is None:
        return "n/a"
    return "%.3f" % v if v < 10 else "%.1f" % v


def fmt_int(v):
    return "n/a" if v is None else "{:,}".format(int(round(v)))


def ratio(a, b):
    if a is None or b in (None, 0):
        return "n/a"
    return "%.2f" % (a / b)


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def sockerr_text(r):
    s = r["sockerr"]
    total = sum(s.values())
    if not total:
        return "0"
    return "%d (c%d r%d w%d t%d)" % (total, s["connect"], s["read"], s["write"], s["timeout"])


def response_block(path):
    """Returns (header text without Date value, header bytes, body bytes) of a raw response."""
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        raw = f.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    shown = []
    for line in lines:
        if line.lower().startswith("date:"):
            line = "Date: (current date)"
        shown.append(line)
    return "\n".join(shown), len(head) + 4, len(body)


def read_run(results, rnd, name):
    """Round rnd's wrk run of name (RESULTS/wrk/RND-NAME.txt), parsed, with its CPU figures."""
    path = os.path.join(results, "wrk", "%d-%s.txt" % (rnd, name))
    with open(path, encoding="utf-8", errors="replace") as f:
        r = parse_wrk(f.read())
    add_cpu(r, read_kv(path + ".cpu"))
    return r


def build(results):
    meta = read_kv(os.path.join(results, "meta.txt"))
    rounds = int(meta.get("rounds", "0"))
    errors = []
    runs = {s: [] for s in SERVERS}
    per_round = []
    for i in range(1, rounds + 1):
        for s in SERVERS:
            r = read_run(results, i, s)
            runs[s].append(r)
            per_round.append((i, s, r))
            errors += ["round %d %s: %s" % (i, s, e) for e in r["errors"]]

    noisy = [(i, s, r["other"]) for i, s, r in per_round
             if r["other"] is not None and r["other"] > NOISY_PCT]
    # A round counts for the medians when both of its runs ran without other load; when no
    # round did, all of them count (and the report says so).
    noisy_rounds = {i for i, _, _ in noisy}
    clean = [i for i in range(1, rounds + 1) if i not in noisy_rounds]
    used = clean or list(range(1, rounds + 1))
    med = {s: {k: median([runs[s][i - 1][k] for i in used]) for k in ("rps", "p50", "p99", "cpu_us")}
           for s in SERVERS}
    spread = {}
    for s in SERVERS:
        v = [runs[s][i - 1]["rps"] for i in used if runs[s][i - 1]["rps"]]
        spread[s] = (min(v), max(v)) if v else (None, None)

    out = []
    w = out.append
    w(BEGIN)
    w("## HTTP: fngate vs nginx")
    w("")
    w("Measured %s with `%s`." % (meta.get("date", "?"), meta.get("command", "bench/http.sh")))
    w("")
    w("- Machine: %s vCPU (`nproc`), %s, Linux %s. A shared VM with noisy neighbours: expect "
      "run-to-run variation of 10-25%%; compare the ratio more than the absolute numbers."
      % (meta.get("nproc", "?"), meta.get("cpu", "?"), meta.get("kernel", "?")))
    w("- Client and servers on the same machine over loopback (127.0.0.1): wrk (1 thread) and "
      "the server under test share the %s vCPUs." % meta.get("nproc", "?"))
    w("- fngate: %s (git %s), build type `%s`; one mock route `GET /hello` on API `bench`, stage "
      "`prod`, access log off." % (meta.get("fngate_bin", "?"), meta.get("git", "?"),
                                    meta.get("buildtype", "?")))
    w("- nginx %s: `worker_processes 1`, `access_log off`, `keepalive_requests 1000000`, "
      "`keepalive_timeout 300s`, `location / { return 200 \"hello\\n\"; }`." % meta.get("nginx", "?"))
    w("- wrk %s: `wrk -t%s -c%s -d%ss --latency http://127.0.0.1:PORT/prod/hello`, %s rounds, "
      "fngate and nginx alternating (the order flips every round), each after a %ss warm-up run."
      % (meta.get("wrk", "?"), meta.get("threads", "?"), meta.get("conns", "?"),
         meta.get("duration", "?"), rounds, meta.get("warmup", "?")))
    if meta.get("standin"):
        w("- **VALIDATION RUN: the \"fngate\" column is a second nginx instance (%s), not fngate.**"
          % meta["standin"])
    w("")
    if not noisy:
        w("### Throughput and latency (median of %d rounds)" % rounds)
    elif clean:
        w("### Throughput and latency (median of the %d clean round%s out of %d: %s)"
          % (len(clean), "" if len(clean) == 1 else "s", rounds, ", ".join(map(str, clean))))
    else:
        w("### Throughput and latency (median of %d rounds, none of them clean)" % rounds)
    w("")
    w("| | fngate | nginx | fngate / nginx |")
    w("|---|---:|---:|---:|")
    w("| requests/s | %s | %s | %s |" % (fmt_int(med["fngate"]["rps"]), fmt_int(med["nginx"]["rps"]),
                                       ratio(med["fngate"]["rps"], med["nginx"]["rps"])))
    for k in ("p50", "p99"):
        w("| %s latency (ms) | %s | %s | %s |" % (k, fmt_ms(med["fngate"][k]), fmt_ms(med["nginx"][k]),
                                                ratio(med["fngate"][k], med["nginx"][k])))
    w("| server CPU per request (µs) | %s | %s | %s |" % (
        fmt_us(med["fngate"]["cpu_us"]), fmt_us(med["nginx"]["cpu_us"]),
        ratio(med["fngate"]["cpu_us"], med["nginx"]["cpu_us"])))
    w("| requests/s min-max | %s-%s | %s-%s | |" % (
        fmt_int(spread["fngate"][0]), fmt_int(spread["fngate"][1]),
        fmt_int(spread["nginx"][0]), fmt_int(spread["nginx"][1])))
    paired = sorted(runs["fngate"][i - 1]["rps"] / runs["nginx"][i - 1]["rps"] for i in used
                    if runs["fngate"][i - 1]["rps"] and runs["nginx"][i - 1]["rps"])
    if paired:
        w("| requests/s ratio within a round: median (min-max) | | | %.2f (%.2f-%.2f) |"
          % (statistics.median(paired), paired[0], paired[-1]))
    w("")
    w("Higher is better for requests/s, lower for latency and CPU. Server CPU per request is the "
      "server process's user+system time (all its threads; the nginx worker) divided by the "
      "requests wrk completed: it depends much less on the neighbours than requests/s does.")
    w("")
    if noisy:
        w("**Other load**: in %d of %d runs, processes other than wrk and the server under test "
          "used more than %d%% of the machine (%s); such runs' requests/s and latency are "
          "depressed. %s"
          % (len(noisy), len(per_round), NOISY_PCT,
             ", ".join("round %d %s %.0f%%" % x for x in noisy),
             "Their rounds are left out of the medians above." if clean else
             "No round ran clean, so the medians above include them: **read these numbers with "
             "care and rerun on a quieter machine**."))
        w("")
    w("### Every round")
    w("")
    w("| round | server | requests/s | p50 (ms) | p99 (ms) | requests | non-2xx | socket errors "
      "| server CPU (µs/req) | other load | steal |")
    w("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for i, s, r in per_round:
        w("| %d | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s |" % (
            i, s, fmt_int(r["rps"]), fmt_ms(r["p50"]), fmt_ms(r["p99"]), fmt_int(r["requests"]),
            r["non2xx"], sockerr_text(r), fmt_us(r["cpu_us"]), fmt_pct(r["other"]),
            fmt_pct(r["steal"])))
    w("")
    w("Other load: CPU time the whole machine spent (`/proc/stat`, idle and iowait excluded) minus "
      "what wrk and the server used, as a share of all %s vCPUs over the run. Steal: time the "
      "hypervisor reports it gave to other guests, same scale; some hypervisors never report "
      "it, so contention on the host can stay invisible to both columns. It shows as server CPU "
      "per request rising for both servers at once, which is why each round runs them back to "
      "back and the within-round ratio is given above." % meta.get("nproc", "?"))
    w("")

    mem = {s: read_kv(os.path.join(results, "mem-%s.txt" % s)) for s in SERVERS}
    if all(mem[s] for s in SERVERS):
        w("### Memory per idle keep-alive connection")
        w("")
        n = mem["fngate"].get("n", "?")
        w("`bench/idleconns` opens %s connections, sends one `GET /prod/hello` keep-alive request on "
          "each, reads the response and keeps them all open and idle; the server's memory is read "
          "from `/proc/PID/status` (VmRSS) and `/proc/PID/smaps_rollup` (Private_Dirty) before and "
          "while they are held (for nginx: the worker process). Per connection = (held - before) / "
          "N. Kernel socket memory is not part of either number." % n)
        w("")
        w("| server | N held | VmRSS before (KiB) | VmRSS held (KiB) | VmRSS after close (KiB) "
          "| VmRSS / conn (bytes) | Private_Dirty / conn (bytes) |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for s in SERVERS:
            m = mem[s]
            try:
                nn = int(m["n"])
                rss_pc = (int(m["rss_held"]) - int(m["rss_before"])) * 1024 / nn
                pd_pc = (int(m["pd_held"]) - int(m["pd_before"])) * 1024 / nn
            except (KeyError, ValueError, ZeroDivisionError):
                rss_pc = pd_pc = None
            open_ = m.get("held_open", "?")
            if open_ != m.get("n"):
                errors.append("%s: only %s of %s idle connections still open at the end (closed %s)"
                              % (s, open_, m.get("n"), m.get("held_closed", "?")))
            w("| %s | %s | %s | %s | %s | %s | %s |" % (
                s, open_, fmt_int(float(m.get("rss_before", "nan"))),
                fmt_int(float(m.get("rss_held", "nan"))), fmt_int(float(m.get("rss_closed", "nan"))),
                fmt_int(rss_pc), fmt_int(pd_pc)))
        w("")

    blocks = {s: response_block(os.path.join(results, "response-%s.txt" % s)) for s in SERVERS}
    if all(blocks.values()):
        w("### The responses compared")
        w("")
        d = blocks["fngate"][1] - blocks["nginx"][1]
        w("Both answer `200` with the 6-byte body `hello\\n`; they differ only in headers "
          "(fngate's header block is %d bytes %s than nginx's, %+.0f%% bytes per response on "
          "the wire):" % (abs(d), "longer" if d >= 0 else "shorter",
                          d * 100 / (blocks["nginx"][1] + blocks["nginx"][2])))
        w("")
        for s in SERVERS:
            text, hb, bb = blocks[s]
            w("%s (%d header bytes + %d body bytes):" % (s, hb, bb))
            w("")
            w("```")
            w(text)
            w("```")
            w("")
    w(END)
    return "\n".join(out) + "\n", errors




def read_rounds(results):
    """A per-round run's results: (meta, variants, rounds, runs[(round, variant)], errors)."""
    meta = read_kv(os.path.join(results, "meta.txt"))
    variants = meta.get("variants", "").split()
    rounds = int(meta.get("rounds", "0"))
    runs = {}
    errors = []
    for r in range(1, rounds + 1):
        for v in variants:
            w = read_run(results, r, v)
            for e in w["errors"]:
                errors.append("round %d %s: %s" % (r, v, e))
            runs[(r, v)] = w
    return meta, variants, rounds, runs, errors


def clean_rounds(runs, rounds, v, base):
    """The rounds in which neither v's run nor base's ran beside other load (all when none)."""
    def clean(w):
        return w["other"] is not None and w["other"] < NOISY_PCT
    use = [r for r in range(1, rounds + 1) if clean(runs[(r, v)]) and clean(runs[(r, base)])]
    return use or list(range(1, rounds + 1))


def medians_against(runs, rounds, variants, base):
    """Per variant: the medians over its clean rounds and its per-round req/s ratios to base;
    returns (med, used)."""
    med, used = {}, {}
    for v in variants:
        used[v] = use = clean_rounds(runs, rounds, v, base)
        med[v] = {k: median([runs[(r, v)][k] for r in use])
                  for k in ("rps", "p50", "p99", "cpu_us", "other")}
        med[v]["ratios"] = [runs[(r, v)]["rps"] / runs[(r, base)]["rps"] for r in use
                            if runs[(r, v)]["rps"] and runs[(r, base)]["rps"]]
    return med, used

def notes_and_rounds(out, keep, end, runs, rounds, variants):
    """Appends the hand-written notes' markers (kept across rewrites), the "Every round"
    table of runs[(round, variant)] and the end marker: the tail of a per-round section."""
    out.append(keep[0])
    out.append("(what limits it: written by hand after a run)")
    out.append(keep[1])
    out.append("")
    out.append("### Every round")
    out.append("")
    out.append("| round | variant | req/s | p50 ms | p99 ms | CPU µs/req | other load |")
    out.append("|---|---|---|---|---|---|---|")
    for r in range(1, rounds + 1):
        for v in variants:
            w = runs[(r, v)]
            out.append("| %d | %s | %s | %s | %s | %s | %s |" % (
                r, v, fmt_int(w["rps"]), fmt_ms(w["p50"]), fmt_ms(w["p99"]),
                fmt_us(w["cpu_us"]), fmt_pct(w["other"])))
    out.append(end)

def header(meta_path):
    return (
        "# Benchmarks\n\n"
        "Reproducible measurements of fngate against a reference server. Every section is "
        "generated by a script under `bench/`, which states the exact command, the date and the "
        "machine; rerun it rather than editing the numbers by hand.\n\n"
    )


def write_section(doc, section, begin, end, keep=None, new_doc=""):
    """Replaces what stands between the markers begin and end in doc by section (which carries
    them), or appends section. keep: (begin, end) markers of a hand-written block inside the
    old section that replaces its placeholder in the new one. new_doc: the text of a doc that
    does not exist yet. Written through a temporary file."""
    text = new_doc
    if os.path.exists(doc):
        with open(doc, encoding="utf-8") as f:
            text = f.read()
    b, e = text.find(begin), text.find(end)
    if b >= 0 and e > b:
        old = text[b:e]
        if keep:
            ab, ae = old.find(keep[0]), old.find(keep[1])
            nb, ne = section.find(keep[0]), section.find(keep[1])
            if ab >= 0 and ae > ab and nb >= 0 and ne > nb:
                section = section[:nb] + old[ab:ae] + section[ne:]
        text = text[:b] + section.rstrip("\n") + text[e + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    if not text.endswith("\n"):
        text += "\n"
    tmp = doc + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, doc)


def section_main(argv, name, doc, build, markers, keep=None, new_doc=""):
    """main() of a report script, `NAME RESULTS_DIR [--write DOC]`: prints the section that
    build(RESULTS_DIR) makes and, with --write, replaces it in DOC (between markers, keeping
    the keep block), unless build found errors (then exit status 1, DOC untouched)."""
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--write"):
        print(doc, file=sys.stderr)
        return 2
    section, errors = build(argv[1])
    sys.stdout.write(section)
    if errors:
        for e in errors:
            print("%s: %s" % (name, e), file=sys.stderr)
        if len(argv) == 4:
            print("%s: not writing %s because of the errors above" % (name, argv[3]),
                  file=sys.stderr)
        return 1
    if len(argv) == 4:
        write_section(argv[3], section, markers[0], markers[1], keep=keep, new_doc=new_doc)
        print("%s: wrote %s" % (name, argv[3]), file=sys.stderr)
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "--row":
        with open(argv[3], encoding="utf-8", errors="replace") as f:
            r = parse_wrk(f.read())
        add_cpu(r, read_kv(argv[3] + ".cpu"))
        print("| %s | %s req/s | p50 %s ms | p99 %s ms | non-2xx %d | socket errors %s "
              "| %s µs CPU/req | other load %s |%s" % (
                  argv[2], fmt_int(r["rps"]), fmt_ms(r["p50"]), fmt_ms(r["p99"]), r["non2xx"],
                  sockerr_text(r), fmt_us(r["cpu_us"]), fmt_pct(r["other"]),
                  " " + "; ".join(r["errors"]) if r["errors"] else ""))
        return 0
    return section_main(argv, "report", __doc__, build, (BEGIN, END), new_doc=header(None))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
