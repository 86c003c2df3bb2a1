#!/usr/bin/env bash
# The experiment of results/pacer-go-fidelity.md findings 22 and 23: a heap with GOGC off and a
# 16 MiB soft memory limit whose kept objects fragment every span, on the testbed
# (collector/examples/fragmented_limit.rs) and on Go 1.27
# (scripts/experiments/fragmented_limit.go, GOGC=off GOMEMLIMIT=16MiB), RUNS runs of each,
# alternating, each under a time limit. Prints two lines a run and side: the cycles, the
# seconds the allocation loop took (a run past the limit prints "timed out"), and, for
# the testbed, how many times Go's GC CPU limiter turned on (Go reports only the last
# cycle it was on in: `limiter last on in cycle`); then, from each side's gctrace
# (scripts/gctrace_rates.py), the allocation during the marks, the median mark and the
# largest heap at mark termination, a like-for-like peak.
#
# Usage: scripts/experiment-fragmented-limit.sh [--runs N] [--timeout SECS] [--mark-workers N]
#   --runs N           runs of each side (default 5)
#   --timeout SECS     the limit on one run (default 120)
#   --mark-workers N   the testbed's mark workers (default: Go's 25 % rule, as Go)
# Not load-gated: it prints the commit, Go's version and the load average first. Nothing
# under results/ is written. The testbed of another commit is run by building the example
# there (finding 22's "before" row: af29f7f with the example copied in).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=5
TIMEOUT=120
WORKERS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
    --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
    --mark-workers) WORKERS=(--mark-workers "${2:?--mark-workers needs a count}"); shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "experiment-fragmented-limit.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$RUNS" "$TIMEOUT"; do
  case "$n" in '' | *[!0-9]* | 0) echo "experiment-fragmented-limit.sh: expected a positive number, got '$n'" >&2; exit 2 ;; esac
done
# shellcheck source=lib/find-go.sh
. scripts/lib/find-go.sh
find_go experiment-fragmented-limit.sh
cargo build --release --quiet -p collector --example fragmented_limit
testbed=${CARGO_TARGET_DIR:-target}/release/examples/fragmented_limit
mkdir -p target/experiment-fragmented-limit
go_out=target/experiment-fragmented-limit/fragmented_limit
(unset GOEXPERIMENT; cd scripts/experiments && "$go_bin" build -o "../../$go_out" fragmented_limit.go)
check_go_build experiment-fragmented-limit.sh "$go_out"
echo "testbed at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- collector || echo ' (collector/ modified)'); $("$go_bin" version)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
run() {
  local side=$1
  shift
  local out status=0 trace=target/experiment-fragmented-limit/gctrace.txt
  out=$(timeout "$TIMEOUT" "$@" 2>"$trace") || status=$?
  case $status in
    0) echo "$side: $out"; python3 scripts/gctrace_rates.py "$side" <"$trace" ;;
    124) echo "$side: timed out after ${TIMEOUT} s" ;;
    *) echo "$side: failed with status $status"; tail -n 5 "$trace" ;;
  esac
}
for i in $(seq 1 "$RUNS"); do
  echo "run $i"
  run testbed "$testbed" --gctrace ${WORKERS[@]+"${WORKERS[@]}"}
  run go env GOGC=off GOMEMLIMIT=16MiB GODEBUG=gctrace=1 "$go_out"
done
