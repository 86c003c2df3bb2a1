"""Reads gctrace lines (Go's GODEBUG=gctrace=1 format, which the testbed's --gctrace
prints too) on stdin and prints one line: the label given as the argument, the number of
cycles, the allocation during the marks (heap at mark termination less heap at the mark's
start, the "A->B->C MB" fields, over the concurrent mark's wall time, the middle of the
"x+y+z ms clock" fields) as a rate over all cycles together (their megabytes over their
milliseconds) and as the median of the cycles' own rates, the median mark's length, and
the largest heap at mark termination. Forced cycles (runtime.GC, "(forced)") are left
out. The MB fields are whole megabytes, so one cycle's rate is coarse (1 MB over a 1.5 ms
mark reads 0.67 MB/ms, 0 or 2 MB read 0 or 1.33); the rate over all cycles averages the
rounding out.

Usage: ... 2>&1 | python3 scripts/gctrace_rates.py LABEL    (standard library only)
"""

import re
import statistics
import sys

LINE = re.compile(
    r"gc \d+ @[\d.]+s \d+%: [\d.]+\+([\d.]+)\+[\d.]+ ms clock.*?, (\d+)->(\d+)->\d+ MB, \d+ MB goal"
)


def marks(lines):
    """(mark ms, MB allocated during the mark, heap at mark termination MB) of each
    unforced cycle whose mark took some time."""
    out = []
    for line in lines:
        m = LINE.match(line)
        if m and not line.rstrip().endswith("(forced)") and float(m.group(1)) > 0:
            mark_ms, start, end = float(m.group(1)), int(m.group(2)), int(m.group(3))
            out.append((mark_ms, end - start, end))
    return out


def summary(label, cycles):
    """The line printed for `cycles` (as `marks` returns them)."""
    overall = sum(c[1] for c in cycles) / sum(c[0] for c in cycles)
    median = statistics.median(c[1] / c[0] for c in cycles)
    mark_ms = statistics.median(c[0] for c in cycles)
    return (f"{label}: {len(cycles)} cycles, allocation during the marks {overall:.2f} MB/ms "
            f"over all (median of the cycles' {median:.2f}), median mark {mark_ms:.3g} ms, "
            f"largest heap at mark termination {max(c[2] for c in cycles)} MB")


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: gctrace_rates.py LABEL (gctrace lines on stdin)")
    cycles = marks(sys.stdin)
    if not cycles:
        sys.exit(f"gctrace_rates.py: {argv[1]}: no gctrace line on stdin")
    print(summary(argv[1], cycles))


if __name__ == "__main__":
    main(sys.argv)
