#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Report of bench/authz.sh: `authzreport.py RESULTS_DIR [--write docs/BENCHMARKS.md]`.

Per variant (bare, JWT RS256/ES256 with the verification cache on and off, a function
authorizer whose answer is cached): the median over
the rounds of req/s, p50 and p99, the ratio to bare req/s within each round (median, min-max)
and the latency added to bare's. A hand-written "what limits it" block between the keep
markers survives a rewrite.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import (NOISY_PCT, clean_rounds, fmt_int, fmt_ms, fmt_pct, fmt_us, median,  # noqa: E402
                    notes_and_rounds, read_rounds, section_main)

BEGIN = "<!-- authz:begin -->"
END = "<!-- authz:end -->"
KEEP = ("<!-- authz:notes:begin -->", "<!-- authz:notes:end -->")
TARGET = 0.9
LABELS = {
    "bare-rs256": "bare, with the RS256 token's header",
    "bare-es256": "bare, with the ES256 token's header",
    "rs256-cache": "JWT RS256, cache on",
    "es256-cache": "JWT ES256, cache on",
    "rs256-nocache": "JWT RS256, cache off",
    "es256-nocache": "JWT ES256, cache off",
    "bare-fn": "bare, with the function authorizer's header",
    "fn-cache": "function authorizer (token), answer cached",
}


def build(results):
    meta, variants, rounds, runs, errors = read_rounds(results)
    out = [BEGIN, "## Authorizers: the same route bare, behind the JWT authorizer and behind a "
           "cached function authorizer", ""]
    out.append("Measured %s with `%s`: one daemon (%s), one mock route per variant, wrk "
               "`-t%s -c%s -d%ss --latency`, %d rounds with the order rotating, each variant "
               "after a warm-up run; %s vCPU (%s), revision %s. Tokens of %s (RS256) and %s "
               "(ES256) bytes, signed by the demo keys of examples/jwt." % (
                   meta.get("date"), meta.get("command"), meta.get("buildtype"),
                   meta.get("threads"), meta.get("conns"), meta.get("duration"), rounds,
                   meta.get("nproc"), meta.get("cpu"), meta.get("git"),
                   meta.get("token_rs256"), meta.get("token_es256")))
    out.append("")
    used = {}
    out.append("| variant | rounds | req/s | × its bare (min-max) | p50 ms | p99 ms | added p50 | added p99 "
               "| server CPU µs/req | × its bare by CPU | other load |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        base = "bare-" + v.split("-")[0] if not v.startswith("bare") else v
        used[v] = use = clean_rounds(runs, rounds, v, base)
        bare = {k: median([runs[(r, base)][k] for r in use]) for k in ("rps", "p50", "p99")}
        rs = [runs[(r, v)] for r in use]
        ratios = [runs[(r, v)]["rps"] / runs[(r, base)]["rps"] for r in use
                  if runs[(r, v)]["rps"] and runs[(r, base)]["rps"]]
        p50, p99 = median([w["p50"] for w in rs]), median([w["p99"] for w in rs])
        cpu = median([w["cpu_us"] for w in rs])
        base_cpu = median([runs[(r, base)]["cpu_us"] for r in use])
        mark = ""
        if v != base and ratios:
            mark = " ✓" if median(ratios) >= TARGET else " ✗"
        out.append("| %s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABELS.get(v, v), ",".join(map(str, use)), fmt_int(median([w["rps"] for w in rs])),
            "%.2f (%.2f-%.2f)" % (median(ratios), min(ratios), max(ratios)) if ratios else "n/a",
            mark, fmt_ms(p50), fmt_ms(p99),
            "—" if v == base else "%+.3f ms" % (p50 - bare["p50"]),
            "—" if v == base else "%+.3f ms" % (p99 - bare["p99"]),
            fmt_us(cpu), "%.2f" % (base_cpu / cpu) if cpu and base_cpu else "n/a",
            fmt_pct(median([w["other"] for w in rs]))))
    out.append("")
    out.append("Medians over the rounds listed: those in which neither the variant nor its bare "
               "ran beside more than %d%% of other load (all rounds when none did). " % NOISY_PCT +
               "Target: ≥ %.1f× bare req/s (✓ met, ✗ not met, by the req/s ratio). \"× its bare "
               "by CPU\" is bare's server CPU per request over the variant's: the throughput "
               "ratio one saturated core would give, and much less disturbed than req/s when "
               "other work shares the machine (\"other load\")." % TARGET)
    out.append("")
    notes_and_rounds(out, KEEP, END, runs, rounds, variants)
    return "\n".join(out) + "\n", errors


if __name__ == "__main__":
    sys.exit(section_main(sys.argv, "authzreport.py", __doc__, build, (BEGIN, END), keep=KEEP))
