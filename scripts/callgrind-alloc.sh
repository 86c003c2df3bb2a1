#!/usr/bin/env bash
# The allocation fast path in instructions: runs `allocbench --only LOOP` under
# `valgrind --tool=callgrind`, collecting only inside the loop's own function
# (`--toggle-collect`), for the scope API, the handle API and mimalloc's `alloc_zeroed`
# (plus a Vec push) in the same process, for each of allocbench's three shapes. Prints
# instructions per allocation, span refills included: in fresh spans (one run of N
# allocations) and in reused ones (the second run of two, a full collection between:
# Ir(2 runs) - Ir(1 run), over N), as a Markdown table.
#
# Usage: scripts/callgrind-alloc.sh [--objects N]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."

n=1000000
while [ $# -gt 0 ]; do
  case $1 in
    --objects)
      shift
      n="${1:?--objects needs a number}"
      ;;
    -h | --help)
      sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "callgrind-alloc.sh: unknown argument: $1" >&2
      exit 2
      ;;
  esac
  shift
done
case $n in '' | *[!0-9]* | 0)
  echo "callgrind-alloc.sh: --objects needs a positive integer" >&2
  exit 2
  ;;
esac
command -v valgrind > /dev/null || {
  echo "callgrind-alloc.sh: valgrind is not installed" >&2
  exit 1
}

cargo build --release -p workloads --bin allocbench >&2
bin=./target/release/allocbench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Instructions collected in LOOP's function over RUNS runs of shape SHAPE.
ir() {
  local loop=$1 shape=$2 runs=$3 out="$tmp/callgrind.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect="*allocbench::${loop}_loop*" \
    "$bin" --only "$loop" --shape "$shape" --runs "$runs" --objects "$n" > /dev/null 2> "$tmp/valgrind.log" || {
    cat "$tmp/valgrind.log" >&2
    echo "callgrind-alloc.sh: $bin --only $loop failed under valgrind" >&2
    exit 1
  }
  awk '/^(totals|summary):/ { print $2; found = 1; exit } END { if (!found) exit 1 }' "$out"
}

echo "Callgrind instructions per allocation, $n allocations a run, at $(git rev-parse --short HEAD)."
echo
echo "| shape | spans | scope | handle | mimalloc | scope / mimalloc |"
echo "|---|---|---:|---:|---:|---:|"
names=("16 B, 1 ref" "32 B, 2 refs (GCBench Node)" "64 B, noscan")
for shape in 0 1 2; do
  declare -A one two
  for loop in scope handle mimalloc; do
    printf 'callgrind: shape %s, %s        \r' "$shape" "$loop" >&2
    one[$loop]=$(ir "$loop" "$shape" 1)
    two[$loop]=$(ir "$loop" "$shape" 2)
  done
  for spans in fresh reused; do
    row="| ${names[$shape]} | $spans"
    for loop in scope handle mimalloc; do
      if [ "$spans" = fresh ]; then v=${one[$loop]}; else v=$((two[$loop] - one[$loop])); fi
      row="$row | $(awk -v v="$v" -v n="$n" 'BEGIN { printf "%.1f", v / n }')"
      [ "$loop" = scope ] && s=$v
      [ "$loop" = mimalloc ] && m=$v
    done
    echo "$row | $(awk -v s="$s" -v m="$m" 'BEGIN { printf "%.2f", s / m }') |"
  done
done
echo >&2
