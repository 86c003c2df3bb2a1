#!/usr/bin/env bash
# The experiment of results/pacer-go-fidelity.md finding 20: how Go's own GC cycle counts
# move with Go 1.27's Green Tea marking (GOEXPERIMENT=greenteagc, Go 1.27's default),
# which the testbed does not implement. It builds the workloads' Go twins twice,
# as compare-go.sh does (target/go-twins/) and with GOEXPERIMENT=nogreenteagc (Go's
# object-at-a-time mark, the one the testbed's marker follows) into
# target/go-twins-nogreentea/, builds the testbed's release workloads, then runs
# scripts/compare_go.py (load-gated alternating pairs, as compare-go.sh) of the testbed
# against each Go build in turn, and three gctrace runs of each of the three (not
# load-gated: the script prints the load average before them), parsed by
# scripts/gctrace_rates.py for the allocation rate during the marks and the cycles.
#
# Usage: scripts/experiment-greentea.sh [--pairs P] [WORKLOAD...]
#   --pairs P   pairs per Go build and workload (default 9)
#   WORKLOAD    gcbench (the default), binary-trees, lru, fd-churn-finalizer,
#               fd-churn-cleanup or fd-churn-explicit (compare-go.sh's flags for each)
# Writes target/experiment-greentea/{greentea,nogreentea}/ (compare_go.py's reports and
# README.md with the overview) and prints each overview and the gctrace rates. Nothing
# under results/ is written: finding 20 quotes a run. One run at a time (fixed paths),
# and not beside compare-go.sh or regenerate-results.sh: it rebuilds target/go-twins/,
# which they run. The two Go builds' pairs run one block after the other, not
# interleaved, so drift between the blocks is confounded with the build.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=9
WORKLOADS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) PAIRS=${2:?--pairs needs a number}; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "experiment-greentea.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) WORKLOADS+=("$1"); shift ;;
  esac
done
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(gcbench)
# shellcheck source=lib/gctrace-workloads.sh
. scripts/lib/gctrace-workloads.sh
check_gctrace_workloads experiment-greentea.sh "${WORKLOADS[@]}"
case "$PAIRS" in '' | *[!0-9]*) echo "experiment-greentea.sh: --pairs takes a number, got '$PAIRS'" >&2; exit 2 ;; esac
python3 scripts/compare_go.py --check-args --pairs "$PAIRS" "${WORKLOADS[@]}"

# shellcheck source=lib/find-go.sh
. scripts/lib/find-go.sh
find_go experiment-greentea.sh
base=$PWD/target/experiment-greentea
twins=$PWD/target/go-twins
nogreentea=$PWD/target/go-twins-nogreentea
mkdir -p "$twins" "$nogreentea"
(cd workloads/go && env -u GOEXPERIMENT "$go_bin" build -o "$twins/" ./...)
(cd workloads/go && GOEXPERIMENT=nogreenteagc "$go_bin" build -o "$nogreentea/" ./...)
# The builds are what they are named (scripts/lib/find-go.sh).
check_go_build experiment-greentea.sh "$twins/gcbench"
check_go_build experiment-greentea.sh "$nogreentea/gcbench" nogreenteagc
cargo build --release -q -p workloads

for build in greentea nogreentea; do
  if [ "$build" = greentea ]; then dir=$twins experiment=''; else dir=$nogreentea experiment=' GOEXPERIMENT=nogreenteagc'; fi
  out=$base/$build
  rm -rf "$out"
  mkdir -p "$out"
  echo "experiment-greentea.sh: Go$experiment, $PAIRS pairs: ${WORKLOADS[*]}" >&2
  python3 scripts/compare_go.py --pairs "$PAIRS" \
    --testbed-dir target/release --go-dir "$dir" --results "$out" --top-readme '' \
    --revision "$(git rev-parse --short HEAD)" --rustc "$(rustc --version)" \
    --go-version "$("$go_bin" version)$experiment" "${WORKLOADS[@]}" > /dev/null
  echo "## Go$experiment"
  sed -n '/^| workload/,/^$/p' "$out/README.md"
done

echo "gctrace runs (not load-gated), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for w in "${WORKLOADS[@]}"; do
  gctrace_binary_and_flags "$w"
  for run in 1 2 3; do
    target/release/"$bin" "${flags[@]}" --gctrace --quiet --out "$base/trace-testbed" 2>&1 > /dev/null |
      python3 scripts/gctrace_rates.py "testbed $w run $run"
    GODEBUG=gctrace=1 "$twins/$bin" "${flags[@]}" --quiet --out "$base/trace-go" 2>&1 > /dev/null |
      python3 scripts/gctrace_rates.py "Go (Green Tea) $w run $run"
    GODEBUG=gctrace=1 "$nogreentea/$bin" "${flags[@]}" --quiet --out "$base/trace-go" 2>&1 > /dev/null |
      python3 scripts/gctrace_rates.py "Go (nogreenteagc) $w run $run"
  done
done
