#!/usr/bin/env bash
# The write barrier's fast path (marking off) against no barrier, in instructions: runs
# `barrier-fastpath` under `valgrind --tool=callgrind` for each barrier at two store counts
# and takes the difference of the two runs' total instructions (Ir) over the difference of
# their store counts, so that everything else in the process (startup, the heap's
# threads, the allocations) cancels. The same for loads. Both APIs: handles
# (`Handle::set`/`get`) and scopes (`Scope::store`/`load` on `Gc` references). Also times
# each barrier natively (ns per store and per load, the median of interleaved runs).
# Writes results/barrier-fastpath/README.md.
#
# Usage: scripts/callgrind-barrier.sh [--check] [--runs R]
#   --check   exit 1 if go-hybrid's (the default barrier's) instructions per store
#             exceed 1.03 x none's (either API)
#   --runs R  native timing runs per barrier (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
runs=5
while [ $# -gt 0 ]; do
  case $1 in
    --check) check=1 ;;
    --runs)
      shift
      runs="${1:?--runs needs a number}"
      ;;
    -h | --help)
      sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "callgrind-barrier.sh: unknown argument: $1" >&2
      exit 2
      ;;
  esac
  shift
done
case $runs in '' | *[!0-9]* | 0)
  echo "callgrind-barrier.sh: --runs needs a positive integer" >&2
  exit 2
  ;;
esac
command -v valgrind > /dev/null || {
  echo "callgrind-barrier.sh: valgrind is not installed" >&2
  exit 1
}

# Store and load counts of the two callgrind runs (the per-operation figure is the slope).
S1=1000000
S2=3000000
L1=100000
L2=300000
# Native timing runs.
TIME_STORES=50000000
TIME_LOADS=5000000
barriers="go-hybrid hybrid dijkstra yuasa none"

cargo build --release -p workloads --bin barrier-fastpath >&2
bin=./target/release/barrier-fastpath
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Total Ir of one callgrind run of the binary with the given flags.
ir() {
  local out="$tmp/callgrind.out.$RANDOM.$RANDOM"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$@" > /dev/null 2> "$tmp/valgrind.log" || {
    cat "$tmp/valgrind.log" >&2
    echo "callgrind-barrier.sh: $bin $* failed under valgrind" >&2
    exit 1
  }
  # `totals:` (or `summary:`) holds the event counts; Ir is the first event.
  awk '/^(totals|summary):/ { print $2; found = 1; exit } END { if (!found) exit 1 }' "$out" || {
    echo "callgrind-barrier.sh: no totals in $out" >&2
    exit 1
  }
}

: > "$tmp/callgrind.tsv"
for b in $barriers; do
  printf 'callgrind: %s        \r' "$b" >&2
  for api in handle scope; do
    s1=$(ir --api $api --barrier "$b" --stores "$S1" --loads 0)
    s2=$(ir --api $api --barrier "$b" --stores "$S2" --loads 0)
    l1=$(ir --api $api --barrier "$b" --stores 0 --loads "$L1")
    l2=$(ir --api $api --barrier "$b" --stores 0 --loads "$L2")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$api" "$s1" "$s2" "$l1" "$l2" >> "$tmp/callgrind.tsv"
  done
done
: > "$tmp/native.jsonl"
for i in $(seq "$runs"); do
  for b in $barriers; do
    printf 'native run %s/%s: %s        \r' "$i" "$runs" "$b" >&2
    for api in handle scope; do
      "$bin" --api $api --barrier "$b" --stores "$TIME_STORES" --loads "$TIME_LOADS" --json >> "$tmp/native.jsonl"
    done
  done
done
echo >&2

mkdir -p results/barrier-fastpath
commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain -- collector workloads)" ]; then
  commit="$commit (with uncommitted changes in collector/ or workloads/)"
fi
status=0
python3 - "$tmp" "$S1" "$S2" "$L1" "$L2" "$runs" "$TIME_STORES" "$TIME_LOADS" "$commit" "$check" "$barriers" > "$tmp/README.md" <<'PY' || status=$?
import datetime, json, platform, statistics, subprocess, sys

tmp = sys.argv[1]
s1, s2, l1, l2, runs, tstores, tloads = map(int, sys.argv[2:9])
commit, check = sys.argv[9], sys.argv[10] == "1"
BARRIERS = sys.argv[11].split()
LIMIT = 1.03

rows = {}
for line in open(f"{tmp}/callgrind.tsv"):
    b, api, a, c, d, e = line.split()
    rows[(b, api)] = {
        "ir": (int(a), int(c), int(d), int(e)),
        "store": (int(c) - int(a)) / (s2 - s1),
        "load": (int(e) - int(d)) / (l2 - l1),
    }
native = {}
for line in open(f"{tmp}/native.jsonl"):
    v = json.loads(line)
    native.setdefault((v["barrier"], v["api"]), []).append(v)
for k, vs in native.items():
    rows[k]["ns_store"] = statistics.median(v["ns_per_store"] for v in vs)
    rows[k]["ns_load"] = statistics.median(v["ns_per_load"] for v in vs)

rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
cpu = platform.machine()
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass
valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
today = datetime.date.today().isoformat()

print("# The write barrier's fast path, marking off\n")
print(f"Made by `scripts/callgrind-barrier.sh` on {today} at commit {commit}: {cpu}, "
      f"{rustc}, {valgrind}.\n")
print("Target: barrier fast path, marking off, vs none (callgrind instructions, testbed "
      f"only): ≤ {LIMIT}.\n")
print("| barrier | API | instructions / store | ratio to none | instructions / load | ratio to none "
      "| ns / store | ns / load |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for api in ("handle", "scope"):
    none = rows[("none", api)]
    for b in BARRIERS:
        r = rows[(b, api)]
        print(f"| {b} | {api} | {r['store']:.3f} | {r['store'] / none['store']:.3f} | {r['load']:.3f} "
              f"| {r['load'] / none['load']:.3f} | {r['ns_store']:.2f} | {r['ns_load']:.2f} |")
print()
print("## How it was measured\n")
print("`barrier-fastpath --barrier B --stores N --loads M` allocates three objects once, then "
      "makes N reference stores (`Handle::set` of slot 0 of one object, alternating between "
      "the two others) and M reference loads (`Handle::get`, alternating between slots 0 "
      "and 1; each load creates a handle, a root, and drops it), allocating nothing in the "
      "loops. Automatic collection is off (`gogc: off`), so marking is off throughout: the "
      "binary fails if the heap's cycle count changed during the loops. Every store takes "
      "the fast path; the barriers differ only in the slow path, which is not taken.\n")
print("`--api scope` runs the same counts inside one `Mutator::scope` on `Gc` references "
      "(`Scope::store`, `Scope::load`). A `Gc` is a value a compiled program keeps in "
      "registers, so the holder is not hidden behind `black_box` (which would add a round "
      "trip through memory per operation): the stores are made two an iteration (a, then b: "
      "the value still alternates), so the slot's bounds check on the loop-invariant holder "
      "is hoisted, as a compiler hoists Go's nil check; each load chases the reference the "
      "previous one returned (holder → a → b → holder through slot 0), so no load is "
      "hoisted or skipped, and every load runs the whole translation and stale check.\n")
print(f"Instructions: the process's total `Ir` from callgrind (the `totals:` line of its "
      f"output file) at two counts, per store (Ir(N={s2:,}) − Ir(N={s1:,})) / {s2 - s1:,} "
      f"with no loads, per load (Ir(M={l2:,}) − Ir(M={l1:,})) / {l2 - l1:,} with no stores, "
      "so that startup, the heap's threads and the allocations cancel. The loop's own "
      "instructions (counter, parity, the call) are included and the same under every "
      "barrier.\n")
print(f"Time: the median of {runs} native runs per barrier, barriers interleaved run by run, "
      f"{tstores:,} stores and {tloads:,} loads a run. The machine may be shared: the "
      "nanoseconds are indicative, the instruction counts are exact.\n")
print("Raw totals (Ir):\n")
print("| barrier | API | stores " + f"{s1:,} | stores {s2:,} | loads {l1:,} | loads {l2:,} |")
print("|---|---|---:|---:|---:|---:|")
for api in ("handle", "scope"):
    for b in BARRIERS:
        print(f"| {b} | {api} | " + " | ".join(f"{x:,}" for x in rows[(b, api)]["ir"]) + " |")

failed = False
for api in ("handle", "scope"):
    ratio = rows[("go-hybrid", api)]["store"] / rows[("none", api)]["store"]
    verdict = "meets" if ratio <= LIMIT else "MISSES"
    failed |= ratio > LIMIT
    print(f"\n{api}: go-hybrid / none = {ratio:.3f} per store: {verdict} the target (≤ {LIMIT}).")
    sys.stderr.write(f"{api}: go-hybrid / none = {ratio:.3f} instructions per store ({verdict} ≤ {LIMIT})\n")
# The scope API's own targets (issue 20): a load ≤ 12 instructions, a store with marking
# off ≤ 10, loop included.
sc = rows[("go-hybrid", "scope")]
for what, got, limit in (("store", sc["store"], 10), ("load", sc["load"], 12)):
    verdict = "meets" if got <= limit else "MISSES"
    print(f"scope {what} (go-hybrid): {got:.1f} instructions: {verdict} the target (≤ {limit}).")
print("\nWhere a scope load's instructions go (`Scope::load`, see `collector/src/mutator/scope.rs`; "
      "listed instruction by instruction, before and after, in [scope-load.md](scope-load.md)): "
      "the slot's bounds check; the load and its null test; the span key (the reference's top "
      "bits) through the span table's flat index (its length, a compare, the entry: no null "
      "test, a word naming no span finds the table's empty span); the slot (the reference's "
      "low half); the slot's metadata word (its bounds check, which rejects the empty span "
      "too, and the load); the stale check (the metadata word's sign bit: an allocated "
      "object that is not a tiny block); the object's byte offset (the span's element size "
      "in bytes times the slot); the object's bytes against the span's storage (memory "
      "safety under a race with the sweeper reusing the span); the address; the loop. The "
      "metadata word "
      "is the `Gc`'s layout as read. A heap word holds a span index and a slot, not an "
      "address, so the translation Go does not need (its pointers are addresses, and its "
      "layouts are static types) is most of the cost; scope-load.md sketches what "
      "addresses would take.")
if check and failed:
    sys.exit(1)
PY
cp "$tmp/README.md" results/barrier-fastpath/README.md
cat results/barrier-fastpath/README.md
exit $status
