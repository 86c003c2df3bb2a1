"""Two command lines compared as compare-go.sh compares the testbed with Go: P alternating
pairs (9 by default; A first in odd pairs, B first in even ones), each run behind the load
gate and rerun when others disturbed it (compare_load), wall and CPU time per run, and for
the ratio B/A of each the median of the per-pair ratios with its 95% sign-test interval
(compare_stats). For before/after measurements of one change (tracing off against a build
without its sites, tracing on against off). Prints one JSON object; python3 standard
library only.

Usage: python3 scripts/ab_pairs.py [--pairs P] [--label-a A] [--label-b B] \\
           --a 'CMD ARGS…' --b 'CMD ARGS…'
"""

import argparse
import json
import shlex
import sys
import tempfile

import compare_go
import compare_load
import compare_stats


def main(argv):
    p = argparse.ArgumentParser(prog="scripts/ab_pairs.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--a", required=True, help="the first command line (shell words)")
    p.add_argument("--b", required=True, help="the second command line")
    p.add_argument("--label-a", default="a")
    p.add_argument("--label-b", default="b")
    p.add_argument("--pairs", type=int, default=9)
    p.add_argument("--max-share", type=float, default=0.10)
    p.add_argument("--gate-window", type=float, default=0.5)
    p.add_argument("--gate-bound", type=float, default=30.0)
    p.add_argument("--disturbed-share", type=float, default=0.25)
    p.add_argument("--reruns", type=int, default=2)
    a = p.parse_args(argv)
    if a.pairs < 1:
        p.error("--pairs must be positive")
    cmds = {"a": shlex.split(a.a), "b": shlex.split(a.b)}
    load = compare_load.ProcLoad()
    runs = {"a": [], "b": []}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(1, a.pairs + 1):
            for side in ("a", "b") if pair % 2 else ("b", "a"):
                print(f"ab_pairs: pair {pair}/{a.pairs}: {side}   ", end="\r", file=sys.stderr, flush=True)
                run = compare_go.measured_run(a, load, cmds[side], f"{tmp}/stdout")
                runs[side].append(run)
    print(file=sys.stderr)
    out = {"a": {"label": a.label_a, "cmd": a.a}, "b": {"label": a.label_b, "cmd": a.b}, "pairs": a.pairs}
    for figure, get in (("wall_s", lambda r: r["wall_s"]),
                        ("cpu_s", lambda r: r["cpu_user_s"] + r["cpu_sys_s"])):
        xa = [get(r) for r in runs["a"]]
        xb = [get(r) for r in runs["b"]]
        ratios = [vb / va if va > 0 else None for va, vb in zip(xa, xb)]
        out[figure] = {
            "median_a": compare_stats.median(xa),
            "median_b": compare_stats.median(xb),
            "ratio_b_over_a": compare_stats.sign_interval(ratios),
        }
    out["load"] = {
        "under_load": sum(r["gate"]["under_load"] for s in runs.values() for r in s),
        "disturbed": sum(r["disturbed"] for s in runs.values() for r in s),
        "max_other_share_during": max(r["other_share_during"] for s in runs.values() for r in s),
    }
    out["runs"] = runs
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
