# Sourced by the experiments that pair compare_go.py with gctrace runs
# (experiment-mark-delay.sh, experiment-greentea.sh): the workloads whose gctrace runs
# they can make with compare-go.sh's flags, and the binary and flags of each.

# check_gctrace_workloads NAME WORKLOAD...: exits with status 2 unless every WORKLOAD is
# one the gctrace runs know.
check_gctrace_workloads() {
  local name=$1 w
  shift
  for w in "$@"; do
    case "$w" in
      gcbench | binary-trees | lru | fd-churn-finalizer | fd-churn-cleanup | fd-churn-explicit) ;;
      *) echo "$name: workload '$w' is not one of gcbench, binary-trees, lru, fd-churn-finalizer, fd-churn-cleanup, fd-churn-explicit" >&2; exit 2 ;;
    esac
  done
}

# gctrace_binary_and_flags WORKLOAD: sets `bin` and the array `flags` to the binary and
# the flags compare-go.sh runs WORKLOAD with (scripts/compare_figures.py); exits if the
# lookup fails.
gctrace_binary_and_flags() {
  local words
  bin=$(python3 -c "import sys; sys.path.insert(0, 'scripts'); import compare_figures as f; print(f.binary(sys.argv[1]))" "$1")
  words=$(python3 -c "import sys; sys.path.insert(0, 'scripts'); import compare_figures as f; print(' '.join(f.variant_flags(sys.argv[1])))" "$1")
  read -r -a flags <<< "$words"
}
