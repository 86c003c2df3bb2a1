#!/usr/bin/env bash
# scripts/soak.sh — a bounded soak: binary-trees and lru with --verify, resident memory
# sampled over time and held against the pacer's goal.
#
# Usage: scripts/soak.sh [--minutes M] [--interval S] [--out DIR] [--only WORKLOAD]
#                        [--overhead-mib N] [--no-build]
#
#   --minutes M        total run time, split evenly between the two workloads, run one after
#                      the other (default 5; decimals allowed, e.g. 0.5; at most 1440).
#   --interval S       seconds between two samples of VmRSS (default 0.25).
#   --out DIR          the results (default results/soak/latest, git-ignored). Emptied first.
#   --only WORKLOAD    binary-trees or lru alone, for the whole time.
#   --overhead-mib N   the fixed part of the RSS allowance (default 64, see below).
#   --no-build         use target/release's binaries as they are.
#
# Each workload runs as `target/release/<workload> --verify --gctrace --duration SECS
# --quiet --out DIR/<workload>` with its default flags otherwise (binary-trees: depth 16,
# 2 mutators; lru: 2 mutators at 50,000 operations/s each, 10,000 entries of 32 words).
# While it runs, VmRSS and VmHWM are read from /proc/<pid>/status every --interval.
#
# The allowance. The pacer's goal bounds the GC heap; resident memory adds what the goal
# does not count. Measured on this testbed (2 cores, default flags, 1- and 2-minute runs):
#   - a tiny run (binary-trees --depth 4) peaks at 14 MiB: binary, libc, mimalloc's
#     first pages, the harness's histograms; lru starts at 18-24 MiB (its latency
#     histograms);
#   - the heap itself can pass the printed goal: a cycle overshoots it (Go's hard goal is
#     1.1x), spans awaiting the lazy sweep still hold garbage, the spans' side tables
#     (alloc, mark and checkmark bitmaps, metadata) add about 1/16, and gctrace rounds the
#     goal down to whole MiB;
#   - binary-trees runs each round on new mutator threads (about 1,300 threads in 40 s),
#     and mimalloc keeps the pages of exited threads that still hold live blocks (spans)
#     "abandoned" until reclaimed: RSS climbs from ~64 MiB to a plateau of ~90 MiB within
#     about 80 s while the goal stays at 6-17 MiB (highest 30 MiB, the stretch tree);
#     MIMALLOC_SHOW_STATS=1 shows 104 MiB committed at exit for a 23 MiB heap peak.
#     lru (threads started once) peaks at ~36 MiB with a 6 MiB goal.
# So the check is
#
#     peak RSS (VmHWM)  <=  1.5 x (G + 1) MiB  +  overhead (64 MiB)
#
# with G the highest goal in the run's gctrace: 1.5x for overshoot, unswept spans and side
# tables, 64 MiB for the process's fixed cost (~14-24 MiB) plus the allocator's retained
# pages (~50 MiB measured in binary-trees). A heap that escaped its goal, or memory that
# kept growing outside it (a leak), breaks it. RSS drift (the median of the last quarter
# of the samples against the second quarter's) is reported; over +20% prints a warning.
#
# Writes DIR/rss.csv (workload, t_s, rss_kib, hwm_kib, goal_mib: the goal of the latest
# cycle at that time), DIR/<workload>/ (the harness's report: summary.json, gctrace.log,
# ...), DIR/<workload>.stderr (the gctrace lines and any verification message),
# DIR/soak.json and DIR/README.md (the figures). Exits 1 if a workload fails (its exit
# status, or its own checks), verifies no cycle, loses an object, or its peak RSS exceeds
# the allowance; 2 on bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { printf 'soak.sh: %s\n' "$*" >&2; printf "Try 'scripts/soak.sh --help'.\n" >&2; exit 2; }

minutes=5 interval=0.25 out=results/soak/latest overhead_mib=64 build=1
workloads=(binary-trees lru)
num='^([0-9]+([.][0-9]*)?|[.][0-9]+)$'
while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --minutes)
      [[ ${2-} =~ $num ]] && awk -v m="$2" 'BEGIN { exit !(m > 0 && m <= 1440) }' ||
        die "--minutes needs a number of minutes in (0, 1440], not '${2-}'"
      minutes=$2; shift ;;
    --interval)
      [[ ${2-} =~ $num ]] && awk -v s="$2" 'BEGIN { exit !(s >= 0.01 && s <= 60) }' ||
        die "--interval needs seconds in [0.01, 60], not '${2-}'"
      interval=$2; shift ;;
    --out)
      [[ -n ${2-} ]] || die "--out needs a directory"
      out=$2; shift ;;
    --only)
      case ${2-} in
        binary-trees | lru) workloads=("$2") ;;
        *) die "--only takes binary-trees or lru, not '${2-}'" ;;
      esac
      shift ;;
    --overhead-mib)
      [[ ${2-} =~ ^[0-9]+$ ]] || die "--overhead-mib needs a whole number of MiB, not '${2-}'"
      overhead_mib=$2; shift ;;
    --no-build) build=0 ;;
    *) die "unknown argument '$1'" ;;
  esac
  shift
done
command -v python3 >/dev/null || die "python3 is needed for the summary"

secs=$(awk -v m="$minutes" -v n="${#workloads[@]}" 'BEGIN { printf "%.1f", m * 60 / n }')
awk -v s="$secs" 'BEGIN { exit !(s >= 1) }' || die "--minutes $minutes leaves under 1 s per workload"

if ((build)); then
  printf '==> cargo build --release -p workloads --bin binary-trees --bin lru\n'
  cargo build --release -p workloads --bin binary-trees --bin lru
fi
for w in "${workloads[@]}"; do
  [[ -x target/release/$w ]] || die "target/release/$w is missing: run without --no-build"
done

rm -rf "$out"
mkdir -p "$out"
csv=$out/rss.csv.raw
: >"$csv"
declare -A status

for w in "${workloads[@]}"; do
  printf '==> %s: --verify --gctrace --duration %s (VmRSS every %ss)\n' "$w" "$secs" "$interval"
  t0=$EPOCHREALTIME
  "target/release/$w" --verify --gctrace --duration "$secs" --quiet --out "$out/$w" \
    >"$out/$w.stdout" 2>"$out/$w.stderr" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    # A zombie has no VmRSS line: nothing is written for it.
    if sample=$(awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { if (r != "") print r "," h }' \
      "/proc/$pid/status" 2>/dev/null) && [[ -n $sample ]]; then
      now=$EPOCHREALTIME
      printf '%s,%s,%s\n' "$w" "$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.3f", b - a }')" \
        "$sample" >>"$csv"
    fi
    sleep "$interval"
  done
  rc=0
  wait "$pid" || rc=$?
  status[$w]=$rc
  printf '    exit status %s, %s RSS samples\n' "$rc" "$(grep -c "^$w," "$csv" || true)"
done

rcs=""
for w in "${workloads[@]}"; do rcs+="$w=${status[$w]} "; done

python3 - "$out" "$overhead_mib" "$secs" "$interval" "$rcs" <<'EOF'
import json, os, re, sys, datetime

out, overhead_mib, secs, interval, rcs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
rcs = dict(kv.split("=") for kv in rcs.split())
FACTOR = 1.5
line_re = re.compile(r"^gc (\d+) @([\d.]+)s .*?(\d+)->(\d+)->(\d+) MB, (\d+) MB goal")

samples = {}
for line in open(os.path.join(out, "rss.csv.raw")):
    w, t, rss, hwm = line.strip().split(",")
    samples.setdefault(w, []).append((float(t), int(rss), int(hwm)))

results, failures, csv_rows = {}, [], []
for w, rc in rcs.items():
    rc = int(rc)
    trace = []
    for path in (os.path.join(out, w, "gctrace.log"), os.path.join(out, w + ".stderr")):
        if os.path.exists(path):
            trace = [m for m in (line_re.match(l) for l in open(path)) if m]
            if trace:
                break
    goals = [(float(m.group(2)), int(m.group(6))) for m in trace]
    heap_end = max((int(m.group(4)) for m in trace), default=0)
    try:
        summary = json.load(open(os.path.join(out, w, "summary.json")))
    except (OSError, ValueError):
        summary = None
    ver = (summary or {}).get("verify", {})
    s = samples.get(w, [])
    peak_rss = max((r for _, r, _ in s), default=0)
    peak_hwm = max((h for _, _, h in s), default=0)
    peak = max(peak_rss, peak_hwm)
    max_goal = max((g for _, g in goals), default=0)
    allowance_mib = FACTOR * (max_goal + 1) + overhead_mib
    # rss.csv: each sample with the goal of the latest cycle that had started by then.
    gi, cur = 0, ""
    for t, r, h in s:
        while gi < len(goals) and goals[gi][0] <= t:
            cur = goals[gi][1]
            gi += 1
        csv_rows.append(f"{w},{t:.3f},{r},{h},{cur}")
    # Drift: median RSS of the second quarter of the samples against the last quarter.
    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if xs else 0
    q = len(s) // 4
    early, late = median([r for _, r, _ in s[q:2 * q]]), median([r for _, r, _ in s[3 * q:]])
    findings = (summary or {}).get("findings", {})
    own_ok = findings.get("checks_ok", True) and findings.get("structure_ok", True) \
        and findings.get("corrupt_values", 0) == 0
    r = {
        "exit_status": rc,
        "duration_s": secs,
        "samples": len(s),
        "gc_cycles": (summary or {}).get("gc_cycles"),
        "cycles_checked": ver.get("cycles_checked", 0),
        "lost_objects": ver.get("lost_objects"),
        "workload_checks_ok": own_ok,
        "gctrace_lines": len(trace),
        "max_goal_mib": max_goal,
        "max_heap_end_mib": heap_end,
        "heap_peak_bytes": (summary or {}).get("heap_peak_bytes"),
        "peak_rss_kib": peak,
        "rss_second_quarter_median_kib": early,
        "rss_last_quarter_median_kib": late,
        "allowance_mib": allowance_mib,
        "rss_over_goal": round(peak / 1024 / (max_goal + 1), 2) if trace else None,
        "rss_over_allowance": round(peak / 1024 / allowance_mib, 2),
    }
    why = []
    if rc != 0:
        why.append(f"exit status {rc}")
    if summary is None:
        why.append("no summary.json")
    elif not ver.get("enabled"):
        why.append("verification was off")
    if r["cycles_checked"] == 0:
        why.append("no cycle verified")
    if r["lost_objects"] not in (0,):
        why.append(f"lost objects: {r['lost_objects']}")
    if not own_ok:
        why.append("the workload's own checks failed")
    if not trace:
        why.append("no gctrace line")
    if peak / 1024 > allowance_mib:
        why.append(f"peak RSS {peak / 1024:.1f} MiB over the allowance {allowance_mib:.1f} MiB")
    if early and late > 1.2 * early:
        r["warning"] = f"RSS still growing: median {early / 1024:.1f} MiB (second quarter) -> {late / 1024:.1f} MiB (last quarter)"
    r["ok"] = not why
    r["failures"] = why
    failures += [f"{w}: {x}" for x in why]
    results[w] = r

with open(os.path.join(out, "rss.csv"), "w") as f:
    f.write("workload,t_s,rss_kib,hwm_kib,goal_mib\n")
    f.write("\n".join(csv_rows) + ("\n" if csv_rows else ""))
os.remove(os.path.join(out, "rss.csv.raw"))

doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "allowance": f"peak RSS <= {FACTOR} x (max goal + 1) MiB + {overhead_mib} MiB",
    "interval_s": float(interval),
    "workloads": results,
    "ok": not failures,
    "failures": failures,
}
json.dump(doc, open(os.path.join(out, "soak.json"), "w"), indent=2)

mib = lambda k: f"{k / 1024:.1f}"
lines = [
    "# Soak run",
    "",
    f"{doc['date']}, `scripts/soak.sh`: each workload with `--verify --gctrace --duration {secs:g}`,"
    f" VmRSS sampled every {interval} s. Allowance: {doc['allowance']}.",
    "",
    "| workload | exit | GC cycles | cycles checked | lost objects | own checks | highest goal (MiB)"
    " | peak RSS (MiB) | RSS / goal | allowance (MiB) | RSS drift (MiB, Q2 median → Q4 median) | verdict |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]
for w, r in results.items():
    lines.append(
        f"| {w} | {r['exit_status']} | {r['gc_cycles']} | {r['cycles_checked']} | {r['lost_objects']}"
        f" | {'ok' if r['workload_checks_ok'] else 'FAILED'} | {r['max_goal_mib']} | {mib(r['peak_rss_kib'])}"
        f" | {r['rss_over_goal']} | {r['allowance_mib']:.1f}"
        f" | {mib(r['rss_second_quarter_median_kib'])} → {mib(r['rss_last_quarter_median_kib'])}"
        f" | {'ok' if r['ok'] else 'FAIL: ' + '; '.join(r['failures'])} |"
    )
lines += [
    "",
    "RSS / goal is peak RSS over (highest goal + 1) MiB: gctrace rounds goals down to whole MiB.",
    "Files: `rss.csv` (samples with the goal of the latest cycle), `<workload>/` (the harness's",
    "report), `<workload>.stderr` (gctrace lines, verification messages), `soak.json`.",
    "",
    *[f"Warning: {w}: {r['warning']}.\n" for w, r in results.items() if r.get("warning")],
    "Verdict: " + ("**ok**" if not failures else "**FAILED**: " + "; ".join(failures)),
]
open(os.path.join(out, "README.md"), "w").write("\n".join(lines) + "\n")
for w, r in results.items():
    print(f"{w:13} exit {r['exit_status']}, {r['gc_cycles']} cycles, {r['cycles_checked']} checked,"
          f" {r['lost_objects']} lost; goal <= {r['max_goal_mib']} MiB, peak RSS {mib(r['peak_rss_kib'])} MiB"
          f" (x{r['rss_over_goal']} of goal+1), allowance {r['allowance_mib']:.1f} MiB:"
          f" {'ok' if r['ok'] else 'FAIL'}")
    if r.get("warning"):
        print(f"  warning: {w}: {r['warning']}")
print(f"results in {out}/ (README.md, soak.json, rss.csv)")
sys.exit(0 if not failures else 1)
EOF
