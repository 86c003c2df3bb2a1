"""The reports of scripts/compare-go.sh: per workload README.md, stats.json and latency.svg
from its runs.jsonl, and the overview table in results/compare/README.md (and between the
compare markers of results/README.md), rebuilt from every workload's runs.jsonl.
Python 3 standard library only.
"""

import json
import math
import os
import platform

import compare_figures
import compare_stats
import compare_svg

MEASURE_NOTES = [
    "- wall s: the testbed from the heap's creation to the end of the workload; Go from the "
    "twin's start of measurement (after flag parsing) to the same point.",
    "- CPU s: user + system time of the whole process (its rusage from wait4), start-up and "
    "exit included, so both sides' runtimes' threads count.",
    "- pauses: the testbed's are exact (stop request to restart, nearest rank). Go's come from "
    "the runtime/metrics histogram `/sched/pauses/total/gc:seconds` (its change over the run) and "
    "are conservative: each percentile is the upper edge of the bucket holding the nearest-rank "
    "sample, so at most 25% above the true pause (Go's time buckets are a quarter of a power of "
    "two wide) and never below it.",
    "- heap peak: the testbed's is its heapLive (object slots in use plus the free slots of spans "
    "cached for allocation; less the second count that Go's accounting, which the testbed's "
    "follows, gives a reachable object with a finalizer) at its highest. Go's is the largest `/memory/classes/heap/objects:bytes` "
    "(live plus unswept dead objects) read every 1 ms by a sampler goroutine: a lower bound of the "
    "true peak, which can fall between samples.",
    "- GC cycles: the testbed's completed cycles; Go's `/gc/cycles/total:gc-cycles` over the run. "
    "Both count the forced `gc()` / `runtime.GC()` of finbench and cleanupbench.",
]
FIN_NOTE = (
    "- register ms: allocating the objects, registering each callback and storing it in the "
    "table that keeps the objects reachable; collect+run ms: from the forced collection's start "
    "until the last callback has run (the testbed's drain, Go's callbacks counting themselves "
    "down to a channel close)."
)
NOTES = {
    "finalizer-chain": "- gc() calls: the `gc()` / `runtime.GC()` calls, each followed by a drain, until every "
    "callback of the phase had run (Go's drain: yield until `/gc/{finalizers,cleanups}/executed` reach "
    "`.../queued`); wall ms: the phase, from building the chain to the last drain.",
    "head-of-line": "- quick latency: from the return of the one `gc()` / `runtime.GC()` (everything "
    "queued) to each quick callback's start, exact nearest rank. Both sides run their defaults, Go's: "
    "at most max(GOMAXPROCS/4, 1) cleanup workers, the first started with the first registration and "
    "more only inside a later one (so here, with every registration before the collection, one), each "
    "running a whole block of 20 cleanups in order; both slow cleanups only sleep. The row 'testbed "
    "with its standby on' is the testbed's cleanups repeated on a second heap with its standby (a "
    "thread that takes queued cleanups once no worker has come for work for 1 ms; Go has none) beside "
    "Go's default phase; the testbed's wall time includes that extra phase (another slow cleanup's "
    "sleep).",
    "cycles": "- semantics figures: observed by each side; Go sees an object freed through a cleanup "
    "(queued in the sweep that frees it), the testbed through `Heap::is_allocated`.",
    "resurrection": "- rounds: of one `gc()` / `runtime.GC()` then a drain; Go sees the object freed "
    "through its cleanup.",
    "exit-flush": "- bytes lost: written minus in the file when the process exits. With `--flush queued` "
    "(the default here since the load gate; the runs before it used `--flush finalizer`, where no cycle "
    "runs) a `gc()` / `runtime.GC()` has queued the writer's finalizer behind one that never returns, "
    "and the process exits (`std::process::exit`, `os.Exit`) with both pending: finalizers queued 2 "
    "and pending 2 on each side.",
    "intern": "- map size: sampled every --sample-every operations per mutator; after the drain: after "
    "two rounds of a full cycle and a drain. Go's cleanup goroutines: max(GOMAXPROCS/4, 1), the "
    "testbed's automatic worker count is the same.",
    "fd-churn": "- release delay: completed cycles at the release minus at the object's last use "
    "(Go: `/gc/cycles/total:gc-cycles`). Span MiB: bytes of the spans in use, Go's `heapInUse` (the "
    "testbed: `Heap::in_use_bytes`; Go: `/memory/classes/heap/objects:bytes` plus "
    "`.../heap/unused:bytes`), sampled every 10 ms, so objects a sweep revived for their finalizers "
    "count. End rounds: `gc()` / `runtime.GC()` then a drain, at least 3. Idle: one second without "
    "allocation after the churn. series.csv and series.svg: open descriptors over time, every run.",
    "intern-serial": "- a fixed rate (4,000 operations a second by the clock, one mutator), cleanups that "
    "wait 500 µs each; GOMAXPROCS 4 on both sides, so one cleanup worker (goroutine): the serial runner "
    "of Go before golang/go#71825. map growth: least-squares slope of the map's size sampled every 100 ms. Cleanups run a second: what "
    "the runners removed; a 500 µs wait lasts longer on Go (its timers are coarser), so Go's serial runner "
    "removes fewer and its map grows faster. "
    "series.csv and series.svg: the map's size over time, every run; serial-vs-executor.svg: these runs "
    "beside intern-executor's.",
    "intern-executor": "- as intern-serial, with GOMAXPROCS 16 on both sides: Go 1.27's executor with "
    "4 cleanup workers (goroutines), started lazily (S40).",
    "allocbench": "- ns per allocation: median of the runs, GOGC off; the testbed's `testbed_ns` (its "
    "scope API, `Scope::alloc`, the ported workloads' default) beside Go's `go_ns` (`new(T)` into a "
    "package-level variable). The testbed's handle-API and mimalloc columns have no Go counterpart "
    "and are not shown.",
    "rootsbench": "- pauses: the testbed's rows under its default barrier, `go-hybrid` (medians of its exact pauses; its "
    "termination pause includes its sweep). Go's from GODEBUG=gctrace=1 in a child process "
    "(sweep termination and mark termination, two significant digits); Go sweeps outside its "
    "pauses, so its termination without sweep is its termination pause.",
}
METHOD = (
    "Each pair is one run of each side, the testbed first in odd pairs and Go first in even "
    "ones. Before every run a load gate samples /proc/stat while nothing of ours runs and "
    "waits until other processes use at most {max_share:.0%} of the CPUs (at most {bound:g} s; "
    "past that the run is taken *under load*); a run during which others used more than "
    "{disturbed:.0%} (the machine's busy time less the run's own CPU time) is *disturbed* and "
    "rerun, at most {reruns} times. Ratios are testbed / Go of the same pair (above 1: the "
    "testbed took more); the interval is the sign-test interval for the median ratio "
    "(distribution-free, 95%; with 9 pairs the 2nd smallest to the 2nd largest ratio, coverage "
    "96.1%; below 6 pairs the full range, which covers less than 95%, and no target is judged)."
)


def fmt(v):
    """A figure with about three significant digits; '–' for none."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if float(v).is_integer() and abs(v) >= 1:
        return str(int(v))
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 0.1 else f"{v:.3f}"


def by_side(runs):
    """{side: {pair: record}} of a workload's runs.jsonl records."""
    return {s: {r["pair"]: r for r in runs if r["side"] == s} for s in ("testbed", "go")}


def figure_stats(runs, workload, targets):
    """Per figure: values of both sides, per-pair ratios, the interval and the verdicts."""
    sides = by_side(runs)
    pairs = sorted(set(sides["testbed"]) & set(sides["go"]))
    if not pairs:
        return pairs, []
    out = []
    for key, label, get in compare_figures.figures(workload, sides["testbed"][pairs[0]]):
        tb = [get(sides["testbed"][p]) for p in pairs]
        go = [get(sides["go"][p]) for p in pairs]
        if None in tb or None in go:
            continue
        ratios = [a / b if b else None for a, b in zip(tb, go)]
        interval = compare_stats.sign_interval(ratios)
        verdicts = [
            dict(t, verdict=compare_stats.verdict(interval, t["op"], t["bound"]))
            for t in targets.get(workload, []) if t["figure"] == key
        ]
        out.append({"key": key, "label": label, "testbed": tb, "go": go, "ratios": ratios,
                    "interval": interval, "targets": verdicts})
    return pairs, out


def interval_text(iv):
    if iv["n"] == 0:
        return "–"
    if iv["enough"]:
        return f"{fmt(iv['lo'])}–{fmt(iv['hi'])}"
    return f"{fmt(iv['lo'])}–{fmt(iv['hi'])} ({iv['coverage']:.0%})"


def target_text(targets):
    return "; ".join(f"{t['op']} {fmt(t['bound'])}: **{t['verdict']}**" for t in targets) or "–"


def median_or_none(values):
    return compare_stats.median(values) if values else None


def figure_rows(stats):
    rows = ["| figure | testbed median | testbed min–max | Go median | Go min–max | ratio per pair "
            "| median ratio | 95% interval | target: verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for f in stats:
        tb, go, iv = f["testbed"], f["go"], f["interval"]
        rows.append(
            f"| {f['label']} | {fmt(median_or_none(tb))} | {fmt(min(tb))}–{fmt(max(tb))} | "
            f"{fmt(median_or_none(go))} | {fmt(min(go))}–{fmt(max(go))} | "
            f"{', '.join(fmt(r) for r in f['ratios'])} | {fmt(iv['median'])} | "
            f"{interval_text(iv)} | {target_text(f['targets'])} |"
        )
    return rows


def share(v):
    return "–" if v is None else f"{v:.0%}"


def run_rows(runs):
    """The table of every run: order, CPU time, load before and during, reruns."""
    rows = ["| pair | side | order | exit | process wall s | CPU user s | CPU sys s | load avg | "
            "others before | gate wait s | others during | attempts | flags |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r["pair"], r.get("measure", {}).get("order", 0))):
        m = r.get("measure")
        if m is None:
            rows.append(f"| {r['pair']} | {r['side']} | – | – | – | – | – | – | – | – | – | – | not recorded |")
            continue
        g = m["gate"]
        flags = ", ".join(f for f, on in (("under load", g["under_load"]), ("disturbed", m["disturbed"])) if on)
        rows.append(
            f"| {r['pair']} | {r['side']} | {m['order']} | {m['exit']} | {fmt(m['wall_s'])} | "
            f"{fmt(m['cpu_user_s'])} | {fmt(m['cpu_sys_s'])} | {fmt(g['loadavg'])} | "
            f"{share(g['other_share'])} | {fmt(g['waited_s'])} | {share(m['other_share_during'])} | "
            f"{m['attempts']} | {flags or '–'} |"
        )
    return rows


def load_summary(runs):
    """One line on the load the runs saw, or None when none was recorded."""
    ms = [r["measure"] for r in runs if "measure" in r]
    if not ms:
        return None
    before = max(m["gate"]["other_share"] for m in ms)
    during = max(m["other_share_during"] for m in ms)
    under = sum(m["gate"]["under_load"] for m in ms)
    disturbed = sum(m["disturbed"] for m in ms)
    reruns = sum(m["attempts"] - 1 for m in ms)
    return (f"others ≤ {share(before)} before, ≤ {share(during)} during; {under} under load, "
            f"{disturbed} disturbed, {reruns} reruns")


def notes_lines(workload):
    if workload in compare_figures.ROWS_KIND:
        return ["", "How each side measures:", "", NOTES[workload], MEASURE_NOTES[1], ""]
    lines = ["", "How each side measures:", ""] + MEASURE_NOTES
    if workload in ("finbench", "cleanupbench"):
        lines.append(FIN_NOTE)
    note = NOTES.get(workload) or NOTES.get(compare_figures.binary(workload))
    if note:
        lines.append(note)
    return lines + ["", "latency.svg: each side's operation latency (`mutator_latency_ns`; for finbench and "
                    "cleanupbench one operation is a batch of 1000 registrations) by percentile, from the "
                    "`latency.hgrm` of that side's median-wall-time run.", ""]


def workload_readme(workload, runs, stats, pairs, info):
    """The text of results/compare/<workload>/README.md."""
    head = (
        f"Made by `scripts/compare-go.sh --pairs {info['pairs']} {workload}` (flags on both sides: "
        f"`{' '.join(info['both']) or 'none'}`) on {platform.machine()}, {os.cpu_count()} cores; the "
        f"testbed at {info['revision']}; {info['rustc']}; {info['go']}. Testbed and Go twin "
        f"(`workloads/go/{compare_figures.binary(workload)}`) with the same sizes and both sides' defaults (GOGC 100, "
        "GOMAXPROCS all cores, the testbed concurrent with Go 1.27's hybrid barrier, `go-hybrid`). "
        + METHOD.format(**info["gate"])
    )
    load = load_summary(runs)
    lines = [f"# {workload}: the testbed beside Go", "", head, "",
             f"Pairs: {len(pairs)}. Load: {load or 'not recorded (runs taken before the load gate)'}.", ""]
    lines += figure_rows(stats) + notes_lines(workload) + ["Every run:", ""] + run_rows(runs) + [""]
    return "\n".join(lines)


def median_run(runs, side):
    recs = sorted((r["summary"]["wall_s"], r["pair"]) for r in runs if r["side"] == side)
    return recs[(len(recs) - 1) // 2][1]


def latency_svg(workload, runs, run_dir):
    series = []
    for side, name, color in (("testbed", "testbed", "#1f77b4"), ("go", "Go", "#d62728")):
        p = median_run(runs, side)
        pts = compare_svg.parse_hgrm(os.path.join(run_dir, f"{side}-{p}", "latency.hgrm"))
        series.append((f"{name} (pair {p})", color, pts))
    return compare_svg.svg(series, f"{workload}: operation latency by percentile")


def write_workload(out, workload, runs, targets, info, run_dir=None):
    """Writes README.md and stats.json (and latency.svg when run_dir holds the runs' reports)
    into out, from the runs' records."""
    pairs, stats = figure_stats(runs, workload, targets)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(workload_readme(workload, runs, stats, pairs, info))
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump({"workload": workload, "pairs": len(pairs), "load": load_summary(runs),
                   "figures": stats}, f, indent=1)
        f.write("\n")
    if run_dir is not None and workload not in compare_figures.ROWS_KIND:
        with open(os.path.join(out, "latency.svg"), "w") as f:
            f.write(latency_svg(workload, runs, run_dir))


ORDER = ["gcbench", "finbench", "cleanupbench", "binary-trees", "binary-trees-rayon", "lru", "finalizer-chain",
         "head-of-line", "cycles", "resurrection", "exit-flush", "intern-serial", "intern-executor",
         "fd-churn-finalizer", "fd-churn-cleanup", "fd-churn-explicit", "allocbench", "rootsbench"]
COLUMNS = ["wall_s", "cpu_s", "gc_cycles", "pause_p99_ms", "heap_peak_mib", "register_ms", "collect_run_ms"]
HEADER = ("| workload | pairs | load | wall s | CPU s | GC cycles | pause p99 ms | heap peak MiB | "
          "register ms | collect+run ms | headline | targets |")
OVERVIEW_INTRO = """# The testbed beside Go

Made by `scripts/compare-go.sh` (rerun it to refresh a workload's row; each row is rebuilt
from that workload's `runs.jsonl`). Each cell is testbed median / Go median (median of the
per-pair testbed/Go ratios; its 95% sign-test interval, or with fewer than 6 pairs the range
of the ratios). A target bounds the median ratio (`scripts/compare-targets.csv`): met when
the whole interval meets it, missed when the whole interval misses it, unclear otherwise or
with fewer than 6 pairs. Load: the most that other processes used of the CPUs before and
during a run, and how many runs were taken under load, disturbed, rerun ("not recorded":
measured before the load gate, testbed first in every pair). Go's pauses are bucket upper
edges and its heap peak is sampled every 1 ms (see each workload's README for how both
sides measure and for every run).

"""


def cell(stat):
    if stat is None:
        return "–"
    iv = stat["interval"]
    rng = f"{fmt(iv['lo'])}–{fmt(iv['hi'])}" if iv["n"] else "–"
    return (f"{fmt(compare_stats.median(stat['testbed']))} / {fmt(compare_stats.median(stat['go']))} "
            f"({fmt(iv['median'])}; {rng})")


def overview_row(workload, runs, targets):
    pairs, stats = figure_stats(runs, workload, targets)
    by_key = {s["key"]: s for s in stats}
    heads = [f"{by_key[k]['label']}: {cell(by_key[k])}" for k in compare_figures.HEADLINES.get(workload, [])
             if k in by_key]
    verdicts = [f"{s['label']} {t['op']} {fmt(t['bound'])}: **{t['verdict']}**"
                for s in stats for t in s["targets"]]
    cells = [f"[{workload}]({workload}/README.md)", str(len(pairs)), load_summary(runs) or "not recorded"]
    cells += [cell(by_key.get(k)) for k in COLUMNS]
    cells += ["; ".join(heads) or "–", "; ".join(verdicts) or "–"]
    return "| " + " | ".join(cells) + " |"


def write_overview(root, targets, top_readme=None):
    """Rebuilds root/README.md's table from every workload's runs.jsonl, and the same table
    between the compare markers of top_readme (links made relative to its folder)."""
    rows = []
    for w in ORDER + sorted(set(os.listdir(root)) - set(ORDER)):
        path = os.path.join(root, w, "runs.jsonl")
        if os.path.exists(path):
            rows.append(overview_row(w, [json.loads(l) for l in open(path)], targets))
    table = HEADER + "\n" + "|---" * HEADER.count(" | ") + "|---|\n" + "\n".join(rows) + "\n"
    with open(os.path.join(root, "README.md"), "w") as f:
        f.write(OVERVIEW_INTRO + table)
    if not top_readme or not os.path.exists(top_readme):
        return
    body = open(top_readme).read()
    begin, end = "<!-- compare:begin -->", "<!-- compare:end -->"
    if begin in body and end in body:
        prefix = os.path.relpath(os.path.abspath(root), os.path.dirname(os.path.abspath(top_readme))) + "/"
        linked = table.replace("](", "](" + prefix)
        head, rest = body.split(begin, 1)
        with open(top_readme, "w") as f:
            f.write(head + begin + "\n\n" + linked + "\n" + end + rest.split(end, 1)[1])
