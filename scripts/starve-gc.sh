#!/usr/bin/env bash
# scripts/starve-gc.sh — runs a command with the collector's own threads starved: the
# command pinned to one CPU (`taskset -c CPU`) and every collector thread it starts
# (named `gc-*`: gc-background, gc-sweeper, gc-mark-worker, gc-scavenger, gc-phase-N.I)
# moved to SCHED_IDLE (`chrt -i -p 0 TID`) as soon as it appears, so that on that CPU
# they run only when no mutator thread wants it. Marking is then, in effect, the mutators'
# own assists: the condition under which a pacing or parking bug that a busy GC thread
# hides shows itself (it is how the window fixed on branch `assist` was reproduced in a
# second, natively, instead of under valgrind; results/reliability.md).
#
# Usage: scripts/starve-gc.sh [--cpu N] [--runs R] [--poll S] -- COMMAND [ARGS...]
#        scripts/starve-gc.sh [--cpu N] [--runs R] [--poll S] --test BINARY NAME
#
#   --cpu N      the CPU to pin the command to (default 0).
#   --runs R     run it R times (default 1); prints each run's status, wall time and
#                idled threads, then how many passed. Exits 0 only if every run passed.
#   --poll S     seconds between two looks for new collector threads (default 0.01).
#   --test BINARY NAME   a collector test: builds `cargo test --release -p collector
#                --test BINARY` and runs the one test NAME (`--exact --nocapture
#                --test-threads 1`) under the conditions above.
#
# Example: scripts/starve-gc.sh --runs 5 --test pacing a_soft_memory_limit_runs_cycles_with_gogc_off
#
# What it does not do. A thread created by a SCHED_IDLE thread inherits SCHED_IDLE (the
# background GC thread's mark workers), but one created by a mutator thread (a `gc()`
# call's workers, the pause's phase threads) runs at normal priority until the next look,
# and one that ends before it is not idled at all: the summary counts the threads idled.
# The collector's threads are found by name in /proc/PID/task/*/comm of the command and
# its descendants (`pgrep -P`, looked up every 20th look; Linux only). SCHED_IDLE needs no privilege for one's own threads.
# Wall times on a shared machine are not measurements; pass counts and the test's own
# output are what to read.
set -euo pipefail

cpu=0
runs=1
poll=0.01
cmd=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu) cpu="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --poll) poll="$2"; shift 2 ;;
    --test)
      [[ $# -ge 3 ]] || { echo "starve-gc: --test needs BINARY NAME" >&2; exit 2; }
      bin="$2" name="$3"; shift 3
      cd "$(dirname "$0")/.."
      exe=$(nice -n 10 cargo test --release -p collector --test "$bin" --no-run \
              --message-format=json 2>/dev/null |
            python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])' | tail -n 1)
      [[ -n "$exe" ]] || { echo "starve-gc: no test binary '$bin'" >&2; exit 2; }
      cmd=("$exe" --exact "$name" --nocapture --test-threads 1)
      ;;
    --) shift; cmd=("$@"); break ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "starve-gc: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ ${#cmd[@]} -gt 0 ]] || { echo "starve-gc: no command (see --help)" >&2; exit 2; }
for tool in taskset chrt; do
  command -v "$tool" >/dev/null || { echo "starve-gc: needs $tool (util-linux)" >&2; exit 2; }
done

# The command's own output goes to this script's stdout (fd 3), not into `run_once`'s.
exec 3>&1

# The command's process and its descendants, one pid a line.
tree() {
  local p=$1
  echo "$p"
  local c
  for c in $(pgrep -P "$p" 2>/dev/null); do
    tree "$c"
  done
}

# Runs the command once; prints "status seconds idled names" (names: the idled
# threads' distinct names, comma-separated).
run_once() {
  local start end pid status idled=0
  declare -A seen=() names=()
  start=$(date +%s.%N)
  taskset -c "$cpu" "${cmd[@]}" >&3 &
  pid=$!
  local polls=0 procs="$pid"
  while kill -0 "$pid" 2>/dev/null; do
    local p t comm
    # Descendants (a fork per process) every 20th look; the threads at every look,
    # without a fork (`read`), so a look takes microseconds.
    if ((polls % 20 == 0)); then
      procs=$(tree "$pid")
    fi
    polls=$((polls + 1))
    for p in $procs; do
      for t in /proc/"$p"/task/*; do
        [[ -z ${seen[$t]:-} ]] || continue
        { read -r comm <"$t/comm"; } 2>/dev/null || continue
        if [[ $comm == gc-* ]]; then
          seen[$t]=1
          if chrt -i -p 0 "${t##*/}" 2>/dev/null; then
            idled=$((idled + 1))
            names[$comm]=1
          fi
        fi
      done
    done
    sleep "$poll"
  done
  status=0
  wait "$pid" || status=$?
  end=$(date +%s.%N)
  local list
  list=$(IFS=,; echo "${!names[*]}")
  echo "$status $(python3 -c "print(f'{$end - $start:.1f}')") $idled ${list:-none}"
}

passed=0
for ((i = 1; i <= runs; i++)); do
  read -r status secs idled names < <(run_once)
  echo "starve-gc: run $i/$runs: exit $status, ${secs} s, $idled collector thread(s) set to SCHED_IDLE ($names), pinned to CPU $cpu" >&2
  [[ $status -ne 0 ]] || passed=$((passed + 1))
done
echo "starve-gc: $passed of $runs run(s) passed: ${cmd[*]}" >&2
[[ $passed -eq $runs ]]
