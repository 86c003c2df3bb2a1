"""The runs of scripts/compare-go.sh (which builds both sides, then calls this): each
workload's testbed binary and its Go twin in P pairs (9 by default), the testbed first in odd
pairs and Go first in even ones, every run behind a load gate (compare_load), with its CPU
time (the child's rusage from wait4), rerun when others disturbed it; then the reports
(compare_report) with an interval and target verdicts for each ratio (compare_stats).

Usage: compare_go.py [options] [WORKLOAD...] [-- ARGS...]
  ARGS replace the per-workload flags given to both sides (see compare-go.sh); a claim's
  run (compare_figures.VARIANTS) keeps its own flags, less those ARGS give again, and
  takes ARGS after them.
Python 3 standard library only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import compare_figures
import compare_load
import compare_series
import compare_report
import compare_stats

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
ALL = compare_report.ORDER
DEFAULT_FLAGS = {"exit-flush": ["--flush", "queued"]}


def parse(argv):
    extra = None
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="scripts/compare-go.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD", help=f"default: all ({' '.join(ALL)})")
    p.add_argument("--pairs", type=int, default=9, help="pairs of runs per workload (default 9)")
    p.add_argument("--max-share", type=float, default=0.10,
                   help="the gate waits until others use at most this share of the CPUs (0.10)")
    p.add_argument("--gate-window", type=float, default=0.5, help="seconds of one gate sample (0.5)")
    p.add_argument("--gate-bound", type=float, default=30.0,
                   help="seconds the gate waits at most before a run is taken under load (30)")
    p.add_argument("--disturbed-share", type=float, default=0.25,
                   help="others' share during a run above which it is rerun (0.25)")
    p.add_argument("--reruns", type=int, default=2, help="reruns of a disturbed run at most (2)")
    p.add_argument("--testbed-dir", default="target/release", help="the testbed's binaries")
    p.add_argument("--go-dir", default="target/go-twins", help="the Go twins' binaries")
    p.add_argument("--results", default="results/compare", help="the reports' folder")
    p.add_argument("--top-readme", default="results/README.md",
                   help="a README whose compare markers get the overview table ('' for none)")
    p.add_argument("--targets", default=os.path.join(SCRIPTS, "compare-targets.csv"))
    p.add_argument("--revision", default="an unknown commit")
    p.add_argument("--rustc", default="rustc (unknown version)")
    p.add_argument("--go-version", default="go (unknown version)")
    p.add_argument("--check-args", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--overview-only", action="store_true",
                   help="run nothing; rebuild the overview table from the runs.jsonl files")
    a = p.parse_args(argv)
    a.extra = extra
    unknown = [w for w in a.workloads if w not in ALL]
    if unknown:
        p.error(f"unknown workload {unknown[0]!r} (expected: {' '.join(ALL)})")
    if a.pairs < 1 or a.reruns < 0 or a.gate_window <= 0:
        p.error("--pairs must be positive, --reruns not negative, --gate-window positive")
    a.workloads = a.workloads or ALL
    return a


def run_once(cmd, stdout_path, load, min_window):
    """Runs cmd with stdout into stdout_path; its exit, wall and CPU time, and others'
    share of the machine over the run (stretched to at least min_window seconds)."""
    before, t0 = load.busy(), time.monotonic()
    with open(stdout_path, "wb") as out:
        child = subprocess.Popen(cmd, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if wall < min_window:
        time.sleep(min_window - wall)
    cpu = usage.ru_utime + usage.ru_stime
    during = compare_load.other_share(load, before, time.monotonic() - t0, cpu)
    return {"exit": child.returncode, "wall_s": round(wall, 6), "cpu_user_s": round(usage.ru_utime, 6),
            "cpu_sys_s": round(usage.ru_stime, 6), "other_share_during": round(during, 4)}


def measured_run(a, load, cmd, stdout_path):
    """A run behind the load gate, rerun (at most a.reruns times) while others disturbed it."""
    earlier = []
    for attempt in range(a.reruns + 1):
        gate = compare_load.wait_idle(load, a.max_share, a.gate_window, a.gate_bound)
        run = run_once(cmd, stdout_path, load, a.gate_window)
        if run["exit"] != 0:
            sys.exit(f"compare-go.sh: {' '.join(cmd)} exited with {run['exit']}")
        run["gate"] = gate
        run["disturbed"] = run["other_share_during"] > a.disturbed_share
        if not run["disturbed"] or attempt == a.reruns:
            run["attempts"] = attempt + 1
            run["earlier_other_shares"] = earlier
            return run
        earlier.append(run["other_share_during"])


def side_command(a, workload, side, both, out_dir):
    binary = os.path.join(a.testbed_dir if side == "testbed" else a.go_dir, compare_figures.binary(workload))
    cmd = [binary, *both, "--json"]
    if workload not in compare_figures.ROWS_KIND:
        cmd += ["--quiet", "--out", out_dir]
    return cmd


def run_workload(a, load, workload, tmp):
    """Every pair of one workload; returns its run records."""
    both = a.extra if a.extra is not None else DEFAULT_FLAGS.get(workload, [])
    both = compare_figures.variant_flags(workload, both) + both
    kind = "rows" if workload in compare_figures.ROWS_KIND else "summary"
    records = []
    for pair in range(1, a.pairs + 1):
        order = ("testbed", "go") if pair % 2 else ("go", "testbed")
        for position, side in enumerate(order, 1):
            print(f"compare-go.sh: {workload} pair {pair}/{a.pairs}: {side}          ", end="\r",
                  file=sys.stderr, flush=True)
            out_dir = os.path.join(tmp, f"{side}-{pair}")
            stdout_path = os.path.join(tmp, "stdout.json")
            run = measured_run(a, load, side_command(a, workload, side, both, out_dir), stdout_path)
            run["order"] = position
            with open(stdout_path) as f:
                records.append({"side": side, "pair": pair, kind: json.load(f), "measure": run})
    print(file=sys.stderr)
    return both, records


def main(argv):
    a = parse(argv)
    if a.check_args:
        return 0
    targets = compare_stats.load_targets(a.targets)
    top = a.top_readme or None
    if a.overview_only:
        compare_report.write_overview(a.results, targets, top)
        return 0
    load = compare_load.ProcLoad()
    info = {"pairs": a.pairs, "revision": a.revision, "rustc": a.rustc, "go": a.go_version,
            "gate": {"max_share": a.max_share, "bound": a.gate_bound,
                     "disturbed": a.disturbed_share, "reruns": a.reruns}}
    for w in a.workloads:
        tmp = tempfile.mkdtemp(prefix=f"compare-{w}-")
        try:
            both, records = run_workload(a, load, w, tmp)
            out = os.path.join(a.results, w)
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "runs.jsonl"), "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)
            compare_report.write_workload(out, w, records, targets, dict(info, both=both), tmp)
            compare_series.write_series(out, w, records)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"compare-go.sh: {os.path.join(a.results, w, 'README.md')}", file=sys.stderr)
    for path in compare_series.write_contrasts(a.results):
        print(f"compare-go.sh: {path}", file=sys.stderr)
    compare_report.write_overview(a.results, targets, top)
    print(f"compare-go.sh: {os.path.join(a.results, 'README.md')}{', ' + top if top else ''}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
