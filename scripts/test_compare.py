"""Tests of the comparison script (compare_go.py and its modules) on a fake pair of
commands with a known ratio: a fake `gcbench` for each side whose wall time is a fixed
figure times seeded noise (testbed 0.8 of Go's) and which spins a known CPU time. Checks
the interval holds the true ratio, the verdicts on targets either side of it, the
alternating order, the CPU time, and that a run the load gate sees disturbed (a fake
/proc/stat that the fake command itself makes busy) is rerun. Also the sign-test interval
and the gate on their own, and gctrace_rates.py's parsing (finding 13's experiment).
Python 3 standard library only; a few seconds.

Run: python3 scripts/test_compare.py (scripts/test.sh does).
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare_load  # noqa: E402
import compare_stats  # noqa: E402

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
TRUE_RATIO = 0.8
FAKE = textwrap.dedent('''\
    import json, os, random, sys, time
    side, state = sys.argv[1], os.environ["FAKE_STATE"]
    count_path = os.path.join(state, side + ".count")
    count = int(open(count_path).read()) + 1 if os.path.exists(count_path) else 1
    open(count_path, "w").write(str(count))
    with open(os.path.join(state, "order.log"), "a") as f:
        f.write(side + "\\n")
    if os.environ.get("FAKE_DISTURB") == f"{side}:{count}":
        # Another process takes the machine during this run: the fake /proc/stat's
        # user jiffies jump by 100 s.
        stat = os.environ["COMPARE_PROC_STAT"]
        fields = open(stat).read().split("\\n")[0].split()
        fields[1] = str(int(fields[1]) + 100 * os.sysconf("SC_CLK_TCK"))
        open(stat, "w").write(" ".join(fields) + "\\ncpu0 0 0 0 0\\ncpu1 0 0 0 0\\n")
    rng = random.Random(1000 * (side == "go") + count)
    wall = (FACTOR[side]) * 2.0 * rng.lognormvariate(0.0, 0.05)
    end = time.process_time() + SPIN[side]
    while time.process_time() < end:
        pass
    pauses = {"count": 1, "p50": 1000, "p90": 1000, "p99": 1000, "p999": 1000, "max": 1000}
    print(json.dumps({"workload": "gcbench", "wall_s": wall, "gc_cycles": 10, "pause_ns": pauses,
                      "heap_peak_bytes": 1 << 20, "mutator_latency_ns": pauses, "findings": {}}))
''')
TARGETS = """workload,figure,op,bound,claim
gcbench,wall_s,<=,1.0,above the true ratio: met
gcbench,wall_s,<=,0.5,below it: missed
gcbench,wall_s,>=,0.6,below it: met
gcbench,wall_s,>=,0.95,above it: missed
gcbench,wall_s,<=,0.8,the true ratio itself: unclear
"""
SPIN = {"testbed": 0.03, "go": 0.09}


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class FakeComparison(unittest.TestCase):
    """One run of compare_go.py on the fake pair, 9 pairs, pair 1's testbed run disturbed."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        d = cls.dir.name
        fake = os.path.join(d, "fake.py")
        write(fake, f"FACTOR = {{'testbed': {TRUE_RATIO}, 'go': 1.0}}\nSPIN = {SPIN!r}\n" + FAKE)
        for side in ("testbed", "go"):
            os.makedirs(os.path.join(d, side))
            write(os.path.join(d, side, "gcbench"),
                  f'#!/bin/sh\nexec "{sys.executable}" "{fake}" {side}\n', 0o755)
        os.makedirs(os.path.join(d, "state"))
        write(os.path.join(d, "stat"), "cpu 100 0 100 1000 0 0 0 0\ncpu0 0 0 0 0\ncpu1 0 0 0 0\n")
        write(os.path.join(d, "loadavg"), "0.25 0.50 0.75 1/100 1\n")
        write(os.path.join(d, "targets.csv"), TARGETS)
        env = dict(os.environ, FAKE_STATE=os.path.join(d, "state"), FAKE_DISTURB="testbed:1",
                   COMPARE_PROC_STAT=os.path.join(d, "stat"),
                   COMPARE_PROC_LOADAVG=os.path.join(d, "loadavg"))
        cmd = [sys.executable, os.path.join(SCRIPTS, "compare_go.py"), "--testbed-dir",
               os.path.join(d, "testbed"), "--go-dir", os.path.join(d, "go"), "--results",
               os.path.join(d, "results"), "--top-readme", "", "--targets",
               os.path.join(d, "targets.csv"), "--gate-window", "0.01", "gcbench"]
        cls.proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        out = os.path.join(d, "results", "gcbench")
        cls.runs = [json.loads(line) for line in read(os.path.join(out, "runs.jsonl")).splitlines()]
        cls.stats = json.loads(read(os.path.join(out, "stats.json")))
        cls.order = read(os.path.join(d, "state", "order.log")).split()

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def figure(self, key):
        return next(f for f in self.stats["figures"] if f["key"] == key)

    def test_runs_nine_pairs(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertEqual(sorted((r["pair"], r["side"]) for r in self.runs),
                         sorted((p, s) for p in range(1, 10) for s in ("testbed", "go")))

    def test_the_interval_holds_the_true_ratio(self):
        iv = self.figure("wall_s")["interval"]
        self.assertEqual(iv["n"], 9)
        self.assertTrue(iv["enough"])
        self.assertLessEqual(iv["lo"], TRUE_RATIO)
        self.assertGreaterEqual(iv["hi"], TRUE_RATIO)
        self.assertLess(iv["lo"], iv["hi"])

    def test_verdicts_on_either_side(self):
        got = {(t["op"], t["bound"]): t["verdict"] for t in self.figure("wall_s")["targets"]}
        self.assertEqual(got, {("<=", 1.0): "met", ("<=", 0.5): "missed", (">=", 0.6): "met",
                               (">=", 0.95): "missed", ("<=", 0.8): "unclear"})

    def test_order_alternates(self):
        # Pair 1 testbed first (its testbed run twice: disturbed, then rerun), pair 2 Go
        # first, and so on.
        expected = ["testbed", "testbed", "go"]
        for pair in range(2, 10):
            expected += ["go", "testbed"] if pair % 2 == 0 else ["testbed", "go"]
        self.assertEqual(self.order, expected)
        for r in self.runs:
            first = "testbed" if r["pair"] % 2 else "go"
            self.assertEqual(r["measure"]["order"], 1 if r["side"] == first else 2)

    def test_a_disturbed_run_is_rerun(self):
        for r in self.runs:
            m = r["measure"]
            rerun = (r["pair"], r["side"]) == (1, "testbed")
            self.assertEqual(m["attempts"], 2 if rerun else 1, (r["pair"], r["side"]))
            self.assertFalse(m["disturbed"])
            self.assertFalse(m["gate"]["under_load"])
            self.assertEqual(m["gate"]["loadavg"], 0.25)
        first = next(r for r in self.runs if (r["pair"], r["side"]) == (1, "testbed"))
        self.assertEqual(len(first["measure"]["earlier_other_shares"]), 1)
        self.assertGreater(first["measure"]["earlier_other_shares"][0], 0.25)

    def test_cpu_time_is_the_child_s(self):
        # A lower bound only (start-up adds to it): each fake spins its CPU time for sure.
        for r in self.runs:
            m = r["measure"]
            self.assertGreaterEqual(m["cpu_user_s"] + m["cpu_sys_s"], SPIN[r["side"]])
        self.assertEqual(self.figure("cpu_s")["interval"]["n"], 9)

    def test_the_readme_shows_verdicts_and_load(self):
        text = read(os.path.join(self.dir.name, "results", "gcbench", "README.md"))
        self.assertIn("**met**", text)
        self.assertIn("**missed**", text)
        self.assertIn("**unclear**", text)
        self.assertIn("0 under load, 0 disturbed, 1 reruns", text)
        overview = read(os.path.join(self.dir.name, "results", "README.md"))
        self.assertIn("wall s <= 0.50: **missed**", overview)


class ClaimRuns(unittest.TestCase):
    """A claim's run (compare_figures.VARIANTS) runs its binary with its flags on both sides,
    and runs whose findings carry a series get series.csv and series.svg."""

    def test_a_claim_s_run_is_its_binary_with_its_flags(self):
        import compare_figures
        import compare_go
        a = compare_go.parse(["--testbed-dir", "T", "--go-dir", "G", "intern-serial"])
        flags = compare_figures.variant_flags("intern-serial")
        self.assertEqual(flags[flags.index("--gomaxprocs") + 1], "4")
        for side, folder in (("testbed", "T"), ("go", "G")):
            cmd = compare_go.side_command(a, "intern-serial", side, flags, "/o")
            self.assertEqual(cmd[0], os.path.join(folder, "intern"))
            self.assertEqual(cmd[1:1 + len(flags)], flags)
        executor = compare_figures.variant_flags("intern-executor")
        self.assertEqual(executor[executor.index("--gomaxprocs") + 1], "16")
        self.assertEqual(compare_figures.binary("gcbench"), "gcbench")
        # A flag given on the command line replaces the variant's own (not given twice).
        extra = ["--duration", "3", "--json"]
        merged = compare_figures.variant_flags("intern-serial", extra) + extra
        self.assertEqual(merged.count("--duration"), 1)
        self.assertEqual(merged[merged.index("--duration") + 1], "3")
        self.assertEqual(merged[merged.index("--gomaxprocs") + 1], "4")

    def test_series_are_written_for_every_run(self):
        import compare_series
        rec = lambda side, pair, rows: {"side": side, "pair": pair, "summary": {"findings": {
            "series_columns": ["t_ms", "map_size"], "series": rows}}}
        records = [rec("testbed", 1, [[0, 1], [100, 5]]), rec("go", 1, [[0, 2], [100, 9], [200, 12]])]
        with tempfile.TemporaryDirectory() as d:
            self.assertTrue(compare_series.write_series(d, "intern-serial", records))
            lines = read(os.path.join(d, "series.csv")).splitlines()
            self.assertEqual(lines[0], "side,pair,t_ms,map_size")
            self.assertEqual(lines[1:], ["testbed,1,0,1", "testbed,1,100,5", "go,1,0,2", "go,1,100,9",
                                         "go,1,200,12"])
            self.assertEqual(read(os.path.join(d, "series.svg")).count("<polyline"), 2)
            for w, rows in (("intern-serial", [[0, 1], [100, 50]]), ("intern-executor", [[0, 1], [100, 2]])):
                os.makedirs(os.path.join(d, w))
                write(os.path.join(d, w, "runs.jsonl"), json.dumps(rec("go", 1, rows)) + "\n")
            [path] = compare_series.write_contrasts(d)
            self.assertEqual(path, os.path.join(d, "intern-serial", "serial-vs-executor.svg"))
            self.assertEqual(read(path).count("stroke-dasharray"), 1)
            self.assertFalse(compare_series.write_series(d, "gcbench", [{"side": "go", "pair": 1,
                                                                         "summary": {"findings": {}}}]))


class FakeLoad:
    """A load source whose busy seconds advance by the given steps, one per reading pair."""

    def __init__(self, busy_per_window, cpus=2):
        self.steps, self.cpus, self.busy_s, self.reads = list(busy_per_window), cpus, 0.0, 0

    def busy(self):
        if self.reads % 2 == 1 and self.steps:
            self.busy_s += self.steps.pop(0)
        self.reads += 1
        return self.busy_s, self.cpus

    def loadavg(self):
        return 1.5


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t

    def sleep(self, s):
        self.t += s


class Gate(unittest.TestCase):
    def test_waits_until_idle(self):
        clock = FakeClock()
        # Others use 1.5 and 1.0 CPU-seconds of two CPUs' 2 per 1 s window, then 0.1.
        got = compare_load.wait_idle(FakeLoad([1.5, 1.0, 0.1]), 0.1, 1.0, 30.0, clock.now, clock.sleep)
        self.assertEqual(got["other_share"], 0.05)
        self.assertFalse(got["under_load"])
        self.assertEqual(got["waited_s"], 3.0)

    def test_gives_up_at_the_bound_and_says_so(self):
        clock = FakeClock()
        got = compare_load.wait_idle(FakeLoad([1.0] * 100), 0.1, 1.0, 5.0, clock.now, clock.sleep)
        self.assertTrue(got["under_load"])
        self.assertEqual(got["other_share"], 0.5)
        self.assertEqual(got["waited_s"], 5.0)


class SignInterval(unittest.TestCase):
    def test_nine_pairs_drop_one_ratio_each_end(self):
        iv = compare_stats.sign_interval([9, 1, 8, 2, 7, 3, 6, 4, 5])
        self.assertEqual((iv["lo"], iv["median"], iv["hi"]), (2, 5, 8))
        self.assertAlmostEqual(iv["coverage"], 1 - 2 * 10 / 512)

    def test_five_pairs_are_too_few_to_judge(self):
        iv = compare_stats.sign_interval([0.1, 0.2, 0.3, 0.4, 0.5])
        self.assertFalse(iv["enough"])
        self.assertEqual(compare_stats.verdict(iv, "<=", 1.0), "unclear")

    def test_ratios_without_a_denominator_are_left_out(self):
        iv = compare_stats.sign_interval([None, 1.0, float("nan"), 2.0])
        self.assertEqual(iv["n"], 2)


class GctraceRates(unittest.TestCase):
    """scripts/gctrace_rates.py (finding 13's rates) on lines in both sides' formats."""

    def test_the_rate_over_all_marks_leaves_out_forced_and_instant_cycles(self):
        import gctrace_rates
        lines = [
            # The testbed's format (collector/src/gctrace.rs): 2 MB in a 2 ms mark.
            "gc 1 @0.010s 4%: 0.006+2.0+0.029 ms clock, 0.012+0.07/0/1.5+0.059 ms cpu, "
            "14->16->9 MB, 17 MB goal, 0 MB stacks, 0 MB globals, 2 P",
            # Go's: 1 MB in a 2 ms mark.
            "gc 2 @0.038s 10%: 0.050+2.0+0.048 ms clock, 0.10+0.039/0.34/2.0+0.096 ms cpu, "
            "14->15->8 MB, 16 MB goal, 0 MB stacks, 0 MB globals, 2 P",
            # Forced (runtime.GC) and an instant mark: left out.
            "gc 3 @0.050s 9%: 0.05+1.0+0.04 ms clock, 0.1+0/0/1+0.09 ms cpu, "
            "20->30->8 MB, 16 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)",
            "gc 4 @0.060s 9%: 0.05+0+0.04 ms clock, 0.1+0/0/0+0.09 ms cpu, "
            "15->18->8 MB, 16 MB goal, 0 MB stacks, 0 MB globals, 2 P",
            "not a gctrace line",
        ]
        self.assertEqual(gctrace_rates.marks(lines), [(2.0, 2, 16), (2.0, 1, 15)])

    def test_the_summary_gives_the_rates_the_median_mark_and_the_largest_heap(self):
        import gctrace_rates
        # Marks of 2, 3 and 10 ms: the median is 3, the mean would be 5.
        line = gctrace_rates.summary("x", [(2.0, 2, 16), (3.0, 3, 15), (10.0, 1, 20)])
        self.assertEqual(
            line,
            "x: 3 cycles, allocation during the marks 0.40 MB/ms over all (median of the "
            "cycles' 1.00), median mark 3 ms, largest heap at mark termination 20 MB")


if __name__ == "__main__":
    unittest.main()
