#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Report of bench/cluster_limits.sh: `clusterreport.py RESULTS_DIR [--write docs/BENCHMARKS.md]`.

Per variant (a throttled route, and a throttled route behind a key whose plan has a quota; on
the local store, and on Redis with leases of 4 and of 1 token): the median over the rounds of
req/s, p50 and p99, the ratio to the local throttled route within each round (median,
min-max), the clustered decision's cost in µs per request against the same route on the local
store, (1/rps - 1/rps_local)·1e6 with the medians, and the round trips per request the
clustered daemon counted (trips.txt: its fngate_cluster_round_trips_total before and after
each recorded run). A hand-written block between the keep markers survives a rewrite.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import (NOISY_PCT, fmt_int, fmt_ms, fmt_pct, fmt_us, median, medians_against,  # noqa: E402
                    notes_and_rounds, read_rounds, section_main)

BEGIN = "<!-- cluster_limits:begin -->"
END = "<!-- cluster_limits:end -->"
KEEP = ("<!-- cluster_limits:notes:begin -->", "<!-- cluster_limits:notes:end -->")
LABELS = {
    "local_t": "throttle, local store",
    "cl4_t": "**throttle, Redis, lease 4 (the default)**",
    "cl1_t": "throttle, Redis, lease 1 (no token held beyond the requests waiting)",
    "local_tq": "throttle + key + quota, local (SQLite, batch 1000)",
    "cl4_tq": "**throttle + key + quota, Redis, lease 4, batch 1000**",
    "cl1_tq": "throttle + key + quota, Redis, lease 1, batch 1000",
}


def local_of(v):
    return "local_tq" if v.endswith("_tq") else "local_t"


def trips(results):
    """Per variant: (limits round trips, quotas round trips, Redis CPU seconds) over its
    recorded runs (trips.txt: VARIANT, then limits, quotas and Redis CPU before, then after)."""
    out = {}
    path = os.path.join(results, "trips.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                p = line.split()
                if len(p) == 7:
                    lt, qt, cpu = out.get(p[0], (0, 0, 0.0))
                    out[p[0]] = (lt + int(p[4]) - int(p[1]), qt + int(p[5]) - int(p[2]),
                                 cpu + float(p[6]) - float(p[3]))
    return out


def build(results):
    meta, variants, rounds, runs, errors = read_rounds(results)
    med, used = medians_against(runs, rounds, variants, "local_t")
    tr = trips(results)
    out = [BEGIN, "## Cluster limits: a clustered decision (limit + quota) vs the local store",
           ""]
    out.append("Measured %s with `%s`: %s build, one gateway per store (local; Redis %s on "
               "loopback with leases of 4 and of 1), mock routes, wrk `-t%s -c%s -d%ss "
               "--latency`, %d rounds with the order rotating, each variant after a %ss warm-up "
               "run; %s vCPU (%s), revision %s. The throttle is 1,000,000/s with a burst of "
               "1,000,000 and the quota 10^12 a month, so nothing is refused (a single non-2xx "
               "answer fails the run)." % (
                   meta.get("date"), meta.get("command"), meta.get("buildtype"),
                   meta.get("redis"), meta.get("threads"), meta.get("conns"),
                   meta.get("duration"), rounds, meta.get("warmup"), meta.get("nproc"),
                   meta.get("cpu"), meta.get("git")))
    out.append("")
    out.append("| variant | rounds | req/s | × local throttle (min-max) | p50 ms | p99 ms "
               "| server CPU µs/req | Redis CPU µs/req | clustered cost µs/req (req/s; CPU) "
               "| Redis round trips per request (limits + quotas) | other load |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        m = med[v]
        ratios = m["ratios"]
        base = med.get(local_of(v), {}).get("rps")
        cost = "—"
        per = rcpu = "—"
        rcpu_us = None
        if v in tr and m["rps"]:
            total = sum(runs[(r, v)]["rps"] for r in range(1, rounds + 1)
                        if (r, v) in runs and runs[(r, v)]["rps"]) * float(meta["duration"])
            if total:
                per = "%.3f + %.4f" % (tr[v][0] / total, tr[v][1] / total)
                rcpu_us = tr[v][2] / total * 1e6
                rcpu = "%.2f" % rcpu_us
        lb = med.get(local_of(v), {})
        if not v.startswith("local") and m["rps"] and base:
            cpu = "n/a"
            if m["cpu_us"] is not None and lb.get("cpu_us") is not None:
                cpu = "%+.2f" % (m["cpu_us"] - lb["cpu_us"] + (rcpu_us or 0))
            cost = "%+.2f; %s" % ((1 / m["rps"] - 1 / base) * 1e6, cpu)
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABELS.get(v, v), ",".join(map(str, used[v])), fmt_int(m["rps"]),
            "—" if v == "local_t" else
            "%.2f (%.2f-%.2f)" % (median(ratios), min(ratios), max(ratios)) if ratios else "n/a",
            fmt_ms(m["p50"]), fmt_ms(m["p99"]), fmt_us(m["cpu_us"]), rcpu, cost, per,
            fmt_pct(m["other"])))
    out.append("")
    out.append("Medians over the rounds listed: those in which neither the variant nor the "
               "local throttle ran beside more than %d%% of other load (all rounds when none "
               "did); the Redis server is other load to the gateway, so clustered runs carry its share. "
               "**Redis CPU µs/req**: the server's user + system CPU over the requests of the "
               "variant's recorded runs. **Clustered cost**: (1/req/s − 1/req/s of the same "
               "route on the local store)·10⁶ with the medians; then the CPU it adds, the "
               "gateway's CPU µs/req over the local one's plus Redis' (what a core pays per "
               "decision, less sensitive to the machine's other load). **Round trips per request** are the scripts the "
               "daemon sent over the requests wrk counted (its req/s × the run's seconds), "
               "summed over the recorded runs." % NOISY_PCT)
    out.append("")
    notes_and_rounds(out, KEEP, END, runs, rounds, variants)
    return "\n".join(out) + "\n", errors


if __name__ == "__main__":
    sys.exit(section_main(sys.argv, "clusterreport.py", __doc__, build, (BEGIN, END), keep=KEEP))
