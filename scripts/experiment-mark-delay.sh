#!/usr/bin/env bash
# The experiment of results/pacer-go-fidelity.md finding 13: does the testbed's pacer run
# Go's number of cycles once its mutator allocates during the mark as slowly as Go's does?
# It builds a copy of HEAD with scripts/experiments/mark-delay.patch applied (every
# allocation made while marking runs an empty loop of MARK_DELAY_LOOPS iterations; not a
# Go behaviour, and never part of the collector), in a git worktree under
# target/experiment-mark-delay/, builds the workloads' Go twins, then runs
# scripts/compare_go.py (load-gated alternating pairs, as compare-go.sh) once for each
# delay (0 is the control: the patched build with an empty loop), then three runs a side
# with each side's gctrace (the testbed's --gctrace, Go's GODEBUG=gctrace=1), parsed by
# scripts/gctrace_rates.py for the allocation rate during the marks. Those gctrace runs
# are not load-gated: the script prints the load average before them.
#
# Usage: scripts/experiment-mark-delay.sh [--pairs P] [--loops "0 80"] [WORKLOAD...]
#   --pairs P      pairs per delay and workload (default 9)
#   --loops "N…"   the delays, in loop iterations (default "0 80")
#   WORKLOAD       gcbench (the default), binary-trees, lru, fd-churn-finalizer,
#                  fd-churn-cleanup or fd-churn-explicit (compare-go.sh's flags for each)
# Writes target/experiment-mark-delay/loops-<N>/ (compare_go.py's reports, README.md with
# the overview) and prints, for each delay, the overview and the mark-phase allocation
# rates. Nothing under results/ is written: finding 13 quotes a run. One run at a time
# (the worktree and the output folders are fixed paths).
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=9
LOOPS="0 80"
WORKLOADS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) PAIRS=${2:?--pairs needs a number}; shift 2 ;;
    --loops) LOOPS=${2:?--loops needs a list of numbers}; shift 2 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) echo "experiment-mark-delay.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) WORKLOADS+=("$1"); shift ;;
  esac
done
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(gcbench)
# shellcheck source=lib/gctrace-workloads.sh
. scripts/lib/gctrace-workloads.sh
check_gctrace_workloads experiment-mark-delay.sh "${WORKLOADS[@]}"
for n in $PAIRS $LOOPS; do
  case "$n" in '' | *[!0-9]*) echo "experiment-mark-delay.sh: --pairs and --loops take numbers, got '$n'" >&2; exit 2 ;; esac
done
python3 scripts/compare_go.py --check-args --pairs "$PAIRS" "${WORKLOADS[@]}"

# shellcheck source=lib/find-go.sh
. scripts/lib/find-go.sh
find_go experiment-mark-delay.sh
twins=$PWD/target/go-twins
mkdir -p "$twins"
(cd workloads/go && "$go_bin" build -o "$twins/" ./...)

base=$PWD/target/experiment-mark-delay
tree=$base/src
rm -rf "$tree"
git worktree prune
git worktree add --quiet --detach "$tree" HEAD
trap 'git worktree remove --force "$tree" 2> /dev/null || true' EXIT
if ! git -C "$tree" apply "$PWD/scripts/experiments/mark-delay.patch"; then
  echo "experiment-mark-delay.sh: the patch no longer applies to HEAD's collector; refresh scripts/experiments/mark-delay.patch" >&2
  exit 1
fi
(cd "$tree" && CARGO_TARGET_DIR="$base/target" cargo build --release -q -p workloads)

for loops in $LOOPS; do
  out=$base/loops-$loops
  rm -rf "$out"
  mkdir -p "$out"
  echo "experiment-mark-delay.sh: MARK_DELAY_LOOPS=$loops, $PAIRS pairs: ${WORKLOADS[*]}" >&2
  MARK_DELAY_LOOPS=$loops python3 scripts/compare_go.py --pairs "$PAIRS" \
    --testbed-dir "$base/target/release" --go-dir "$twins" --results "$out" --top-readme '' \
    --revision "$(git rev-parse --short HEAD) with scripts/experiments/mark-delay.patch, MARK_DELAY_LOOPS=$loops" \
    --rustc "$(rustc --version)" --go-version "$("$go_bin" version)" "${WORKLOADS[@]}" > /dev/null
  echo "## MARK_DELAY_LOOPS=$loops"
  sed -n '/^| workload/,/^$/p' "$out/README.md"
  echo "gctrace runs (not load-gated), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  for w in "${WORKLOADS[@]}"; do
    gctrace_binary_and_flags "$w"
    for run in 1 2 3; do
      MARK_DELAY_LOOPS=$loops "$base/target/release/$bin" "${flags[@]}" --gctrace --quiet --out "$out/trace-testbed" 2>&1 > /dev/null |
        python3 scripts/gctrace_rates.py "testbed $w run $run"
      GODEBUG=gctrace=1 "$twins/$bin" "${flags[@]}" --quiet --out "$out/trace-go" 2>&1 > /dev/null |
        python3 scripts/gctrace_rates.py "Go $w run $run"
    done
  done
done
