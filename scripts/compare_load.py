"""The load gate of scripts/compare-go.sh: how much of the machine other processes use.

The machine's busy CPU time comes from /proc/stat (user, nice, system, irq, softirq and
steal jiffies of the `cpu` line; steal is time a hypervisor gave to other guests). Before a
run the gate samples it over a short window while this process sleeps, so everything busy
is another process's; it waits, window after window, until that share of all CPUs is at
most the threshold or a time bound passes (then the run is taken under load, and recorded
so). During a run the share of the others is the machine's busy time minus the run's own
CPU time (its rusage), over the run's wall time times the CPUs, the window stretched to at
least the gate's window so that one jiffy is not half of a short run.

COMPARE_PROC_STAT and COMPARE_PROC_LOADAVG replace /proc/stat and /proc/loadavg (the
comparison script's test fakes its load with them). Python 3 standard library only.
"""

import os
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ProcLoad:
    """The machine's busy CPU seconds and load average, from /proc (or the files named by
    COMPARE_PROC_STAT and COMPARE_PROC_LOADAVG)."""

    def __init__(self):
        self.stat_path = os.environ.get("COMPARE_PROC_STAT", "/proc/stat")
        self.loadavg_path = os.environ.get("COMPARE_PROC_LOADAVG", "/proc/loadavg")

    def busy(self):
        """(busy CPU seconds of all CPUs since boot, number of CPUs)."""
        busy, cpus = 0.0, 0
        with open(self.stat_path) as f:
            for line in f:
                fields = line.split()
                if not fields:
                    continue
                if fields[0] == "cpu":
                    v = [int(x) for x in fields[1:9]] + [0] * 8
                    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
                    busy = (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
                elif fields[0].startswith("cpu") and fields[0][3:].isdigit():
                    cpus += 1
        return busy, cpus or os.cpu_count() or 1

    def loadavg(self):
        """The 1-minute load average, or None."""
        try:
            with open(self.loadavg_path) as f:
                return float(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def other_share(load, before, seconds, own_cpu_s=0.0):
    """The share of all CPUs that others used since `before` (a busy() reading) over
    `seconds`, less own_cpu_s of this process's children."""
    busy, cpus = load.busy()
    if seconds <= 0:
        return 0.0
    return max(0.0, (busy - before[0] - own_cpu_s) / (seconds * cpus))


def window_share(load, window, clock=time.monotonic, sleep=time.sleep):
    """Others' share of the machine over one window of `window` seconds."""
    before, t0 = load.busy(), clock()
    sleep(window)
    return other_share(load, before, clock() - t0)


def wait_idle(load, max_share, window, bound, clock=time.monotonic, sleep=time.sleep):
    """Waits until others use at most max_share of the machine over a window, or until
    `bound` seconds have passed. Returns what the gate saw: other_share (the last window),
    loadavg, waited_s and under_load (the bound passed first)."""
    start = clock()
    while True:
        share = window_share(load, window, clock, sleep)
        waited = clock() - start
        if share <= max_share or waited >= bound:
            return {
                "other_share": round(share, 4),
                "loadavg": load.loadavg(),
                "waited_s": round(waited, 3),
                "under_load": share > max_share,
            }
