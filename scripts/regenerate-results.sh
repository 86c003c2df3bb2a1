#!/usr/bin/env bash
# Regenerates every committed figure under results/ that a script makes, in one go, and
# records when, at which commit and on what machine in results/REGENERATED.md:
#   1. scripts/compare-go.sh --pairs P   the testbed beside Go (results/compare/)
#   2. scripts/run-suite.sh              every workload once (results/<workload>/, suite.md)
#   3. scripts/bench-collector.sh        the collector core (results/collector/)
#   4. scripts/callgrind-barrier.sh      the barrier fast path (results/barrier-fastpath/)
#   5. the results-index binary          results/index.html and compare-ratios.svg
# The documents that record one experiment (reliability.md, rayon-phases.md,
# tracing-overhead.md, mark-speed.md, alloc-fastpath.md) are histories, not regenerated
# here; each says how it was made (alloc-fastpath.md: scripts/callgrind-alloc.sh;
# pacer-go-fidelity.md finding 13: scripts/experiment-mark-delay.sh; finding 20:
# scripts/experiment-greentea.sh).
#
# Usage: scripts/regenerate-results.sh [--pairs P] [--allow-dirty]
#   --pairs P      pairs per workload for compare-go.sh (default 9)
#   --allow-dirty  run on a tree with uncommitted changes (the record says so)
# Timing figures are only worth committing from a quiet machine: compare-go.sh gates each
# run on the load and records it; the other steps do not, so the record keeps the load
# average before and after each step. A step's failure is recorded and the others go on;
# the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

PAIRS=9
DIRTY_OK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) PAIRS=${2:?--pairs needs a number}; shift 2 ;;
    --allow-dirty) DIRTY_OK=1; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "regenerate-results.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$PAIRS" in '' | *[!0-9]*) echo "regenerate-results.sh: --pairs takes a positive number" >&2; exit 2 ;; esac

DIRTY=$(git status --porcelain --untracked-files=no | grep -v ' results/' || true)
if [ -n "$DIRTY" ] && [ "$DIRTY_OK" = 0 ]; then
  echo "regenerate-results.sh: the tree has uncommitted changes outside results/; commit them or pass --allow-dirty:" >&2
  echo "$DIRTY" >&2
  exit 2
fi

RECORD=results/REGENERATED.md
LOG=$(mktemp)
FAILED=0
load() { cut -d' ' -f1-3 /proc/loadavg; }

# step NAME COMMAND...: runs one generator, timing it and noting the load around it.
step() {
  local name=$1; shift
  local before t0 rc
  before=$(load)
  t0=$(date +%s)
  echo "regenerate-results.sh: $name ..." >&2
  "$@"
  rc=$?
  printf '| %s | `%s` | %s | %s s | %s | %s |\n' "$name" "$*" "$rc" "$(( $(date +%s) - t0 ))" \
    "$before" "$(load)" >> "$LOG"
  [ "$rc" = 0 ] || FAILED=1
}

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
HEAD0=$(git rev-parse --short HEAD)
step compare scripts/compare-go.sh --pairs "$PAIRS"
step suite scripts/run-suite.sh
step collector scripts/bench-collector.sh
step barrier-fastpath scripts/callgrind-barrier.sh
step index cargo run --release -q -p workloads --bin results-index

{
  echo "# When the committed figures were last regenerated"
  echo
  echo "By \`scripts/regenerate-results.sh --pairs $PAIRS\`, from $START to $(date -u +%Y-%m-%dT%H:%M:%SZ),"
  echo "at commit \`$HEAD0\`$( [ -n "$DIRTY" ] && echo ' with uncommitted changes')"
  # Each step builds the working tree as it is when the step starts.
  HEAD1=$(git rev-parse --short HEAD)
  [ "$HEAD1" != "$HEAD0" ] && echo "(HEAD moved to \`$HEAD1\` during the run: a step that started after the move built that tree)"
  echo "on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))."
  echo "Load averages (1, 5, 15 min) are before and after each step; compare-go.sh records"
  echo "each run's own load in results/compare/."
  echo
  echo "| step | command | exit | time | load before | load after |"
  echo "|---|---|---|---|---|---|"
  cat "$LOG"
} > "$RECORD"
rm -f "$LOG"
echo "regenerate-results.sh: wrote $RECORD" >&2
exit "$FAILED"
