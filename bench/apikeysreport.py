#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Report of bench/apikeys.sh: `apikeysreport.py RESULTS_DIR [--write docs/BENCHMARKS.md]`.

Per variant (bare, a key alone, key + plan throttle + per-IP throttle without a quota and with
one at batch 1000, 100 and 1): the median over the rounds of req/s, p50 and p99, the ratio to
bare req/s within each round (median, min-max) and, for the quota variants, the quota store's
transactions per second (store-DAEMON.txt: what the daemon logged at exit, over the seconds
of load in loaded-DAEMON.txt), requests per transaction and the persistence cost in µs per
request, (1/rps - 1/rps_nq)·1e6 with the medians. A hand-written block between the keep
markers survives a rewrite.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import (NOISY_PCT, fmt_int, fmt_ms, fmt_pct, fmt_us, median, medians_against,  # noqa: E402
                    notes_and_rounds, read_kv, read_rounds, section_main)

BEGIN = "<!-- apikeys:begin -->"
END = "<!-- apikeys:end -->"
KEEP = ("<!-- apikeys:notes:begin -->", "<!-- apikeys:notes:end -->")
TARGET = 0.9
HEADLINE = "q1000"
NOQUOTA = "nq"
LABELS = {
    "bare": "bare (the key's header sent, ignored)",
    "key": "API key (plan without throttle or quota)",
    "nq": "key + plan throttle + per-IP throttle, no quota",
    "q1000": "**key + plan throttle + per-IP throttle + quota (batch 1000, the default)**",
    "q100": "key + plan throttle + per-IP throttle + quota, batch 100",
    "q1": "key + plan throttle + per-IP throttle + quota, batch 1",
}
DAEMON = {"q100": "b100", "q1": "b1"}


def daemon_of(v):
    return DAEMON.get(v, "main")


def loaded(results, v):
    """The seconds wrk loaded variant v (loaded-DAEMON.txt: "VARIANT SECONDS" a run), warm-up
    included."""
    secs = 0.0
    path = os.path.join(results, "loaded-%s.txt" % daemon_of(v))
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] == v:
                    secs += float(parts[1])
    return secs


def build(results):
    meta, variants, rounds, runs, errors = read_rounds(results)
    med, used = medians_against(runs, rounds, variants, "bare")

    store = {}
    for v in variants:
        if not v.startswith("q"):
            continue
        d = daemon_of(v)
        kv = read_kv(os.path.join(results, "store-%s.txt" % d))
        secs = loaded(results, v)
        if "transactions" not in kv:
            errors.append("%s: no \"quota store written\" line in daemon %s's log" % (v, d))
            continue
        tx, rows = int(kv["transactions"]), int(kv["rows"])
        store[v] = {"tx": tx, "rows": rows, "secs": secs,
                    "txs": tx / secs if secs else None}

    out = [BEGIN, "## API keys: a route behind a key, a usage plan and a per-IP throttle vs "
           "the same route bare", ""]
    out.append("Measured %s with `%s`: %s daemons (%s), mock routes, wrk `-t%s -c%s -d%ss "
               "--latency`, %d rounds with the order rotating, each variant after a %ss warm-up "
               "run; %s vCPU (%s), revision %s; state_dir on %s. Every request, the bare "
               "route's too, carries the same `x-api-key` header (a %s-byte key); every "
               "throttle is 1,000,000/s with a burst of 1,000,000 and the quota 10^12 a month, "
               "so nothing is refused (a single non-2xx answer fails the run)." % (
                   meta.get("date"), meta.get("command"), len(meta.get("daemons", "").split()),
                   meta.get("buildtype"), meta.get("threads"), meta.get("conns"),
                   meta.get("duration"), rounds, meta.get("warmup"), meta.get("nproc"),
                   meta.get("cpu"), meta.get("git"), meta.get("fs"), meta.get("key_len")))
    out.append("")
    out.append("| variant | rounds | req/s | × bare (min-max) | p50 ms | p99 ms "
               "| server CPU µs/req | quota writes/s | requests per write "
               "| persistence µs/req | other load |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    nq = med.get(NOQUOTA, {}).get("rps")
    for v in variants:
        m = med[v]
        ratios = m["ratios"]
        mark = ""
        if v != "bare" and ratios:
            mark = " ✓" if median(ratios) >= TARGET else " ✗"
        wps = rpw = cost = "—"
        if v in store:
            s = store[v]
            wps = "%.1f" % s["txs"] if s["txs"] is not None else "n/a"
            rpw = "%.1f" % (m["rps"] / s["txs"]) if s["txs"] and m["rps"] else "n/a"
            cost = "%+.2f" % ((1 / m["rps"] - 1 / nq) * 1e6) if m["rps"] and nq else "n/a"
        out.append("| %s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABELS.get(v, v), ",".join(map(str, used[v])), fmt_int(m["rps"]),
            "—" if v == "bare" else
            "%.2f (%.2f-%.2f)" % (median(ratios), min(ratios), max(ratios)) if ratios else "n/a",
            mark, fmt_ms(m["p50"]), fmt_ms(m["p99"]), fmt_us(m["cpu_us"]), wps, rpw, cost,
            fmt_pct(m["other"])))
    out.append("")
    out.append("Medians over the rounds listed: those in which neither the variant nor bare "
               "ran beside more than %d%% of other load (all rounds when none did). Target: the "
               "headline row (bold) ≥ %.1f× bare req/s (✓ met, ✗ not met, by the "
               "req/s ratio within each round). **Quota writes/s**: the SQLite transactions (WAL, "
               "`synchronous=FULL`: each one fsync'd) the daemon counted and logged at exit "
               "(`quota store written`), over the seconds wrk loaded the variant, warm-up "
               "included; each quota variant is the only one of its daemon that touches a "
               "quota counter, so they are all its own: reservations (with the exact counts "
               "riding along), the exact counts of the one-second flush and the one at the "
               "stop. **Requests per write** is "
               "req/s over writes/s. "
               "**Persistence µs/req** is (1/req/s − 1/req/s of the same variant without the "
               "quota)·10⁶ with the medians: what recording the quota adds to a request, "
               "reading it needs no disk (the counter is in memory)." % (NOISY_PCT, TARGET))
    out.append("")
    rows = ["| daemon | its variants | transactions | rows "
            "| seconds of load of the quota variant |",
            "|---|---|---|---|---|"]
    for v in variants:
        if v in store:
            s = store[v]
            mates = [x for x in variants if daemon_of(x) == daemon_of(v)]
            rows.append("| %s | %s | %d | %d | %.1f |" % (
                daemon_of(v), ", ".join(mates), s["tx"], s["rows"], s["secs"]))
    out.extend(rows)
    out.append("")
    notes_and_rounds(out, KEEP, END, runs, rounds, variants)
    return "\n".join(out) + "\n", errors


if __name__ == "__main__":
    sys.exit(section_main(sys.argv, "apikeysreport.py", __doc__, build, (BEGIN, END), keep=KEEP))
