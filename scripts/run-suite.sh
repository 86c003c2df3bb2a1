#!/usr/bin/env bash
# Runs every workload binary once at a standard size, writes results/suite.md and
# refreshes the suite table in results/README.md (between its suite markers).
#
#   scripts/run-suite.sh [--quick]
#
# Standard sizes (about 20 seconds of runs on 2 cores, after the build): gcbench and binary-trees at their
# defaults; lru --duration 2; finbench and cleanupbench --objects 1000000; finalizer-chain
# --length 1000; head-of-line at its defaults (Go's) and with the testbed's cleanup options
# (--cleanup-workers 2 --cleanup-eager-start --cleanup-batches adaptive); cycles and
# resurrection at their defaults; exit-flush with --flush explicit, finalizer and queued;
# barrier-ablation with each barrier (hybrid, go-hybrid, dijkstra, yuasa, none), --verify
# --duration 2 (and its default 100 driven rounds); intern with a serial cleanup runner and
# with Go 1.27's executor; fd-churn releasing by finalizer, cleanup and explicit close.
# --quick shrinks every size (a smoke test of the script, not a result).
#
# Each run writes its report to results/<workload>/<variant> (the previous one there is
# removed first) with --quiet. A run's non-zero exit status is noted in suite.md and
# makes the script's own status 1; the other runs go on. Builds the release binaries first;
# at the end rewrites results/index.html (the results-index binary).
set -uo pipefail
cd "$(dirname "$0")/.."

QUICK=0
case "${1:-}" in
  --quick) QUICK=1 ;;
  "") ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

cargo build --release -p workloads >&2 || exit 1

BIN=target/release
RUNS=results/.suite-runs.tsv
: > "$RUNS"
FAILED=0
START=$(date +%s)

# pick SIZE QUICKSIZE: the standard size, or the quick one with --quick.
pick() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# run WORKLOAD VARIANT ARGS...: one run into results/WORKLOAD/VARIANT.
run() {
  local workload=$1 variant=$2; shift 2
  local exe="$BIN/$workload"
  [ -x "$exe" ] || exe="$BIN/${workload//-/_}"
  local out="results/$workload/$variant"
  rm -rf "$out"
  local t0 t1 rc
  t0=$(date +%s.%N)
  "$exe" "$@" --quiet --out "$out" > /dev/null 2> "results/.suite-$workload-$variant.err"
  rc=$?
  t1=$(date +%s.%N)
  local secs
  secs=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
  printf '%s\t%s\t%s\t%s\t%s\n' "$workload" "$variant" "$rc" "$secs" "$*" >> "$RUNS"
  echo "$workload/$variant: exit $rc in ${secs}s" >&2
  [ "$rc" = 0 ] || FAILED=1
  rm -f "results/.suite-$workload-$variant.err"
}

run gcbench default
run binary-trees default $(pick "" "--depth 10")
run lru default --duration "$(pick 2 0.3)"
run finbench default --objects "$(pick 1000000 10000)"
run cleanupbench default --objects "$(pick 1000000 10000)"
run finalizer-chain default --length "$(pick 1000 50)"
run head-of-line default
run head-of-line testbed-2-workers --cleanup-workers 2 --cleanup-eager-start \
  --cleanup-batches adaptive
run cycles default
run resurrection default
run exit-flush explicit --flush explicit
run exit-flush finalizer --flush finalizer
run exit-flush queued --flush queued
for b in hybrid go-hybrid dijkstra yuasa none; do
  run barrier-ablation "$b" --barrier "$b" --verify --duration "$(pick 2 0.3)" \
    $(pick "" "--nodes 1000")
done
# The claims' configurations, as compare-go.sh runs them (shorter): a serial cleanup
# runner (GOMAXPROCS 4: one worker) against Go 1.27's executor (GOMAXPROCS 16: four).
INTERN=(--mutators 1 --rate 4000 --value-words 128 --cleanup-work-us 500 --duration "$(pick 5 0.5)")
run intern serial "${INTERN[@]}" --gomaxprocs 4
run intern executor "${INTERN[@]}" --gomaxprocs 16
for r in finalizer cleanup explicit; do
  run fd-churn "$r" --release "$r" --idle-ms "$(pick 1000 100)"
done

ELAPSED=$(( $(date +%s) - START ))
python3 - "$RUNS" "$ELAPSED" "$QUICK" <<'PY'
import json, os, sys

runs_file, elapsed, quick = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
WHAT = {
    "gcbench": "Boehm's GCBench: allocation throughput and pauses with long- and short-lived trees.",
    "binary-trees": "The Benchmarks Game's binary-trees on several mutators: allocation-heavy tree churn.",
    "lru": "A concurrent LRU cache driven at a fixed rate: tail latency without coordinated omission.",
    "finbench": "Finalizer throughput: objects with finalizers allocated, collected and finalized.",
    "cleanupbench": "Cleanup (AddCleanup) throughput: the same with cleanups instead of finalizers.",
    "finalizer-chain": "A chain of finalizable objects: one link finalized per cycle.",
    "head-of-line": "A slow cleanup blocking the others behind it (Go's defaults), and how the testbed's standby and more workers help.",
    "cycles": "Cyclic garbage with finalizers and cleanups: what is and is not collected.",
    "resurrection": "A finalizer that resurrects its object into a global.",
    "exit-flush": "Whether a buffered writer's data reaches the file at exit when only a finalizer would flush it.",
    "barrier-ablation": "Under each write barrier: driven rounds hide a pointer between a stepped cycle's scan and mark (`none` must lose it in every round, each real barrier in none), then concurrent mutators re-link a shared graph free-running (its loss rate per checked cycle).",
    "intern": "String interning with weak references at a fixed rate, cleanups that take 500 µs: the map grows under one serial cleanup runner and not under Go 1.27's executor (golang/go#71772, #71825).",
    "fd-churn": "File descriptors released by finalizer, cleanup or explicit close under churn, then an idle second: finalized memory comes back a cycle later, and nothing runs while nothing allocates.",
}

def flat(prefix, v, out):
    if isinstance(v, dict):
        if {"p50", "p99", "max"} <= set(v):
            out[prefix] = f"p50 {v['p50']/1e6:.3f} ms, p99 {v['p99']/1e6:.3f} ms, max {v['max']/1e6:.3f} ms"
            return
        for k, x in v.items():
            flat(f"{prefix}.{k}" if prefix else k, x, out)
    elif isinstance(v, list):
        if len(v) <= 4 and all(not isinstance(x, (dict, list)) for x in v):
            out[prefix] = ", ".join(map(str, v))
    else:
        out[prefix] = v

def fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")

rows = [l.rstrip("\n").split("\t") for l in open(runs_file) if l.strip()]
order = []
for r in rows:
    if r[0] not in order:
        order.append(r[0])
lines = ["# Suite results", "",
         f"Written by `scripts/run-suite.sh{' --quick' if quick else ''}` in {elapsed} s"
         + (" (quick sizes: a smoke test, not results)." if quick else "."),
         "Each section reads the `findings` of its runs' `summary.json`.", ""]
for w in order:
    runs = [r for r in rows if r[0] == w]
    lines += [f"## {w}", "", WHAT.get(w, ""), ""]
    data = {}
    for _, variant, rc, secs, args in runs:
        path = os.path.join("results", w, variant, "summary.json")
        try:
            s = json.load(open(path))
        except (OSError, ValueError):
            s = None
        f = {"exit": rc, "run s": secs}
        if s:
            f["gc_cycles"] = s.get("gc_cycles")
            p = s.get("pause_ns", {})
            f["pause p99 ms"] = round(p.get("p99", 0) / 1e6, 3)
            f["lost_objects"] = s.get("verify", {}).get("lost_objects")
            flat("", s.get("findings", {}), f)
        data[variant] = (f, args)
    keys = []
    for f, _ in data.values():
        for k in f:
            if k not in keys:
                keys.append(k)
    keys = keys[:24]
    variants = list(data)
    lines.append("| figure | " + " | ".join(f"`{v}`" for v in variants) + " |")
    lines.append("|---|" + "---|" * len(variants))
    lines.append("| flags | " + " | ".join(f"`{fmt(data[v][1])}`" if data[v][1] else "defaults" for v in variants) + " |")
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(fmt(data[v][0].get(k, "")) for v in variants) + " |")
    lines.append("")
    for v in variants:
        d = f"{w}/{v}"
        lines.append(f"- `{v}`: [summary.json]({d}/summary.json), [pauses.svg]({d}/pauses.svg), "
                     f"[latency.svg]({d}/latency.svg), [mmu.svg]({d}/mmu.svg), "
                     f"[gctrace.log]({d}/gctrace.log), [pauses.hgrm]({d}/pauses.hgrm), "
                     f"[latency.hgrm]({d}/latency.hgrm)")
    lines.append("")
open("results/suite.md", "w").write("\n".join(lines))
# The headline table also goes into results/README.md, between its suite markers, so the
# reference results' front page shows the latest run.
begin, end = "<!-- suite:begin -->", "<!-- suite:end -->"
readme = open("results/README.md").read()
table = ["| workload | variant | what it shows | exit | run s | cycles | pause p99 ms | lost objects |",
         "|---|---|---|---|---|---|---|---|"]
for w in order:
    for _, variant, rc, secs, args in [r for r in rows if r[0] == w]:
        try:
            s = json.load(open(os.path.join("results", w, variant, "summary.json")))
        except (OSError, ValueError):
            s = {}
        p99 = round(s.get("pause_ns", {}).get("p99", 0) / 1e6, 3) if s else ""
        lost = s.get("verify", {}).get("lost_objects", "") if s else ""
        table.append(f"| [{w}](suite.md#{w}) | `{variant}` | {fmt(WHAT.get(w, ''))} | {rc} | {secs} "
                     f"| {s.get('gc_cycles', '')} | {p99} | {lost} |")
section = "\n".join([begin, "", "Latest suite run (`scripts/run-suite.sh`); every figure of every "
                     "run, and links to its plots and files, are in [suite.md](suite.md).", "",
                     *table, "", end])
if begin in readme and end in readme:
    readme = readme[:readme.index(begin)] + section + readme[readme.index(end) + len(end):]
else:
    readme = readme.rstrip() + "\n\n" + section + "\n"
open("results/README.md", "w").write(readme)
print(f"results/suite.md written ({len(rows)} runs, {elapsed} s)", file=sys.stderr)
PY
rm -f "$RUNS"
"$BIN/results-index" --results results >&2 || FAILED=1
echo "suite finished in ${ELAPSED}s" >&2
exit "$FAILED"
