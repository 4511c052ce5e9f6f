#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Report of bench/ws_cluster.sh: `ws_clusterreport.py RESULTS_DIR [--write docs/BENCHMARKS.md]`.

RESULTS_DIR holds meta.txt (key=value) and runs/ROUND-VARIANT.json (ws_load broadcast's JSON
line; VARIANT single, local or cross). Per variant: the medians over the rounds of
deliveries/s and publish-to-last-delivery latency, the ratio to single, lost and duplicate
deliveries. A hand-written "what limits it" block between the keep markers survives a rewrite.
"""
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt_int, fmt_ms, median, read_kv, section_main  # noqa: E402

BEGIN = "<!-- wscluster:begin -->"
END = "<!-- wscluster:end -->"
KEEP = ("<!-- wscluster:notes:begin -->", "<!-- wscluster:notes:end -->")
LABELS = {
    "single": "one node (no cluster)",
    "local": "cluster node, subscribers and publisher on it",
    "cross": "two nodes: publisher on A, subscribers on B",
}
ORDER = ["single", "local", "cross"]


def last_json(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [ln for ln in f if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def ms(j, k, q):
    v = (j or {}).get(k, {}).get(q)
    return v / 1000.0 if v is not None else None


def build(results):
    meta = read_kv(os.path.join(results, "meta.txt"))
    runs, errors = {}, []
    for path in sorted(glob.glob(os.path.join(results, "runs", "*.json"))):
        m = re.match(r"(\d+)-(\w+)\.json$", os.path.basename(path))
        if not m:
            continue
        j = last_json(path)
        if not j:
            errors.append("%s: no result" % os.path.basename(path))
            continue
        runs.setdefault(m.group(2), []).append((int(m.group(1)), j))
    out = [BEGIN, "## WebSocket across nodes: fan-out through Redis vs one node (issue 17)", ""]
    out.append("Measured %s with `%s`: %s; fngate %s; %s. Load: %s (ws_load broadcast, raw "
               "engine; the publisher is the admin API's `POST /@topics/bench`, one request "
               "at a time). No pinning: Redis, the gateways and the load generator share the "
               "machine. Medians over the rounds." % (
                   meta.get("date", "?"), meta.get("command", "?"), meta.get("machine", "?"),
                   meta.get("fngate", "?"), meta.get("redis", "?"), meta.get("load", "?")))
    out.append("")
    out.append("| | deliveries/s | vs one node | publish → last delivery p50 (ms) | p99 (ms) "
               "| publish → each delivery p50 (ms) | lost / duplicate |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    base = median([j.get("deliveries_per_s") for _, j in runs.get("single", [])])
    for v in ORDER:
        rs = runs.get(v, [])
        if not rs:
            continue
        dps = median([j.get("deliveries_per_s") for _, j in rs])
        out.append("| %s | %s | %s | %s | %s | %s | %d / %d |" % (
            LABELS[v], fmt_int(dps), "%.2f" % (dps / base) if dps and base else "n/a",
            fmt_ms(median([ms(j, "publish_to_last", "p50_us") for _, j in rs])),
            fmt_ms(median([ms(j, "publish_to_last", "p99_us") for _, j in rs])),
            fmt_ms(median([ms(j, "publish_to_each", "p50_us") for _, j in rs])),
            sum(j.get("lost", 0) for _, j in rs), sum(j.get("dups", 0) for _, j in rs)))
    out.append("")
    out.append(KEEP[0])
    out.append("(what limits it: written by hand after a run)")
    out.append(KEEP[1])
    out.append("")
    out.append("### Every round")
    out.append("")
    out.append("| round | variant | deliveries/s | last delivery p50 ms | lost / dup |")
    out.append("|---|---|---:|---:|---:|")
    for v in ORDER:
        for r, j in sorted(runs.get(v, [])):
            out.append("| %d | %s | %s | %s | %d / %d |" % (
                r, v, fmt_int(j.get("deliveries_per_s")),
                fmt_ms(ms(j, "publish_to_last", "p50_us")), j.get("lost", 0), j.get("dups", 0)))
    out.append(END)
    return "\n".join(out) + "\n", errors


if __name__ == "__main__":
    sys.exit(section_main(sys.argv, "ws_clusterreport.py", __doc__, build, (BEGIN, END),
                          keep=KEEP))
