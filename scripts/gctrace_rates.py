"""Reads gctrace lines (Go's GODEBUG=gctrace=1 format, which the testbed's --gctrace
prints too) on stdin and prints one line: the label given as the argument, the number of
cycles, the median and mean of each cycle's allocation rate during its mark (heap at mark
termination less heap at the mark's start, in MB, over the concurrent mark's wall time,
in ms: the "A->B->C MB" and "x+y+z ms clock" fields), and the largest heap at mark
termination. The MB fields are whole numbers, so a cycle's rate is coarse; the median
over dozens of cycles is what scripts/experiment-mark-delay.sh compares.

Usage: ... 2>&1 | python3 scripts/gctrace_rates.py LABEL    (standard library only)
"""

import re
import statistics
import sys

LINE = re.compile(
    r"gc \d+ @[\d.]+s \d+%: [\d.]+\+([\d.]+)\+[\d.]+ ms clock.*?, (\d+)->(\d+)->\d+ MB, \d+ MB goal"
)


def rates(lines):
    """(rate MB/ms, heap at mark termination MB) of each cycle with a mark of some length."""
    out = []
    for line in lines:
        m = LINE.match(line)
        if m and float(m.group(1)) > 0:
            mark_ms, start, end = float(m.group(1)), int(m.group(2)), int(m.group(3))
            out.append(((end - start) / mark_ms, end))
    return out


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: gctrace_rates.py LABEL (gctrace lines on stdin)")
    cycles = rates(sys.stdin)
    if not cycles:
        sys.exit(f"gctrace_rates.py: {argv[1]}: no gctrace line on stdin")
    r = [c[0] for c in cycles]
    print(f"{argv[1]}: {len(cycles)} cycles, mark-phase allocation {statistics.median(r):.2f} MB/ms "
          f"(median; mean {statistics.mean(r):.2f}), largest heap at mark termination "
          f"{max(c[1] for c in cycles)} MB")


if __name__ == "__main__":
    main(sys.argv)
