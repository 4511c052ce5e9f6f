#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Report of bench/metrics.sh: `metricsreport.py RESULTS_DIR [--write docs/BENCHMARKS.md]`.

Per variant (a mock route and a function route, each on a daemon with metrics on and one with
`metrics.enabled: false`): the median over the rounds of req/s, p50 and p99 and the server's
CPU per request, and for the "on" variants the req/s ratio to the same route "off" within
each round (median, min-max) against the target, and what recording costs a request,
(1/rps_on - 1/rps_off)·1e6 µs with the medians. A hand-written block between the keep markers
survives a rewrite.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import (NOISY_PCT, fmt_int, fmt_ms, fmt_pct, fmt_us, median, medians_against,  # noqa: E402
                    notes_and_rounds, read_rounds, section_main)

BEGIN = "<!-- metrics:begin -->"
END = "<!-- metrics:end -->"
KEEP = ("<!-- metrics:notes:begin -->", "<!-- metrics:notes:end -->")
TARGET = 0.97
LABELS = {
    "mock_on": "**mock route, metrics on**",
    "mock_off": "mock route, `metrics.enabled: false`",
    "fn_on": "**function route, metrics on**",
    "fn_off": "function route, `metrics.enabled: false`",
}


def build(results):
    meta, variants, rounds, runs, errors = read_rounds(results)
    med, used = {}, {}
    for route in ("mock", "fn"):
        pair = [route + "_on", route + "_off"]
        m, u = medians_against(runs, rounds, pair, route + "_off")
        med.update(m)
        used.update(u)

    out = [BEGIN, "## Metrics: what recording a request's metrics costs", ""]
    out.append("Measured %s with `%s`: two %s daemons identical but for `metrics: { enabled: "
               "false }` on one, wrk `-t%s -c%s -d%ss --latency`, %d rounds with the order "
               "rotating, each variant after a %ss warm-up run; %s vCPU (%s), revision %s. "
               "Both routes answer the same %s-byte JSON body; the function route runs "
               "bench/cache_fn.c. A single non-2xx answer fails the run." % (
                   meta.get("date"), meta.get("command"), meta.get("buildtype"),
                   meta.get("threads"), meta.get("conns"), meta.get("duration"), rounds,
                   meta.get("warmup"), meta.get("nproc"), meta.get("cpu"), meta.get("git"),
                   meta.get("body_bytes")))
    out.append("")
    out.append("| variant | rounds | req/s | × off (min-max) | recording µs/req | p50 ms "
               "| p99 ms | server CPU µs/req | CPU × off | other load |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        m = med[v]
        off = med.get(v.replace("_on", "_off"), {}).get("rps")
        ratios = m["ratios"] if v.endswith("_on") else []
        mark = (" ✓" if median(ratios) >= TARGET else " ✗") if ratios else ""
        cost = "%+.2f" % ((1 / m["rps"] - 1 / off) * 1e6) \
            if v.endswith("_on") and m["rps"] and off else "—"
        cpu_off = med.get(v.replace("_on", "_off"), {}).get("cpu_us")
        cpu_x = "%.3f" % (m["cpu_us"] / cpu_off) \
            if v.endswith("_on") and m["cpu_us"] and cpu_off else "—"
        out.append("| %s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s |" % (
            LABELS.get(v, v), ",".join(map(str, used[v])), fmt_int(m["rps"]),
            "%.3f (%.3f-%.3f)" % (median(ratios), min(ratios), max(ratios)) if ratios
            else "—", mark, cost, fmt_ms(m["p50"]), fmt_ms(m["p99"]), fmt_us(m["cpu_us"]),
            cpu_x, fmt_pct(m["other"])))
    out.append("")
    out.append("Medians over the rounds listed: those in which neither the variant nor its "
               "\"off\" twin ran beside more than %d%% of other load (all rounds when none "
               "did). Target: each bold row ≥ %.2f× its route with metrics off (✓ met, ✗ not "
               "met, by the req/s ratio within each round). **Recording µs/req** is "
               "(1/req/s on − 1/req/s off)·10⁶ with the medians: negative when the difference "
               "is inside the noise. **CPU × off** is the gateway process's CPU time per request "
               "(user + system, from /proc over the run) with metrics on over off: on a "
               "machine whose other load moves req/s by tens of percent from run to run, "
               "the figure that still shows what recording costs." % (NOISY_PCT, TARGET))
    out.append("")
    notes_and_rounds(out, KEEP, END, runs, rounds, variants)
    return "\n".join(out) + "\n", errors


if __name__ == "__main__":
    sys.exit(section_main(sys.argv, "metricsreport.py", __doc__, build, (BEGIN, END), keep=KEEP))
