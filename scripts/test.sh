#!/usr/bin/env bash
# The one test command: the structure check, the comparison script's test, formatting,
# lints, the workspace's tests (release), the loom suite in its own target directory, and
# the differential test against Go in its quick mode (it installs Go from PyPI unless
# go1.27 is on PATH). Run from anywhere; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "structure: imports run one way, the shim, file and function sizes"
python3 scripts/check-structure.py

step "the comparison script's test (python3 scripts/test_compare.py)"
python3 scripts/test_compare.py

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace --release"
cargo test --workspace --release

step "the collector's tests with debug assertions (cargo test -p collector --profile checked)"
cargo test -p collector --profile checked

step "loom suite (LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-2})"
RUSTFLAGS="--cfg loom -C debug-assertions" CARGO_TARGET_DIR=target/loom \
  LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" \
  cargo test -p loom_tests --release -- --nocapture

step "differential test against Go (scripts/diff-go.sh, 500 programs)"
scripts/diff-go.sh --cases 500

step "all tests passed"
