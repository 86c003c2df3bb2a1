"""The figures scripts/compare-go.sh compares, per workload: (key, label, getter) with the
getter reading one run's record in runs.jsonl, and the notes saying how each side measures
them. The keys are what scripts/compare-targets.csv names. Python 3 standard library only.
"""

ROWS_KIND = ("allocbench", "rootsbench")

# The claims' runs: a compared workload that is one binary run with flags of its own on
# both sides (name -> (binary, flags)). intern: a fixed insertion rate (4,000 operations a
# second, one mutator, 1 KiB values, cleanups that wait 500 µs), under the serial runner
# (GOMAXPROCS 4: one cleanup worker or goroutine, as Go before golang/go#71825) and under
# Go 1.27's executor (GOMAXPROCS 16: four). fd-churn: the same churn released by each
# means, then one second without allocation.
INTERN_CLAIM = ["--mutators", "1", "--rate", "4000", "--value-words", "128", "--cleanup-work-us", "500",
                "--duration", "10"]
FD_IDLE = ["--idle-ms", "1000"]
VARIANTS = {
    "intern-serial": ("intern", INTERN_CLAIM + ["--gomaxprocs", "4"]),
    "intern-executor": ("intern", INTERN_CLAIM + ["--gomaxprocs", "16"]),
    "fd-churn-finalizer": ("fd-churn", ["--release", "finalizer"] + FD_IDLE),
    "fd-churn-cleanup": ("fd-churn", ["--release", "cleanup"] + FD_IDLE),
    "fd-churn-explicit": ("fd-churn", ["--release", "explicit"] + FD_IDLE),
}


def binary(workload):
    """The binary (testbed) and twin (Go) a compared workload runs."""
    return VARIANTS.get(workload, (workload, []))[0]


def variant_flags(workload, extra=()):
    """The flags a claim's run gives both sides ([] for a plain workload), less those that
    `extra` (flags given on the command line, added after these) names again: every
    variant flag is a `--name value` pair, and the testbed refuses a flag given twice."""
    flags = VARIANTS.get(workload, (workload, []))[1]
    named = {f for f in extra if f.startswith("--")}
    pairs = [flags[i:i + 2] for i in range(0, len(flags), 2)]
    return [x for pair in pairs if pair[0] not in named for x in pair]
HEADLINES = {
    "finalizer-chain": ["fin_calls", "fin_wall_ms"],
    "head-of-line": ["cl_p99_ms", "fin_p99_ms"],
    "cycles": ["matches"],
    "resurrection": ["matches"],
    "exit-flush": ["lost"],
    "intern": ["map_max"],
    "intern-serial": ["growth", "map_last"],
    "intern-executor": ["growth", "map_last"],
    "lru": ["op_p999_ms"],
    "fd-churn": ["peak_open", "mean_delay"],
    "fd-churn-finalizer": ["reclaim_rounds", "span_mean_mib", "idle_open_end"],
    "fd-churn-cleanup": ["reclaim_rounds", "span_mean_mib", "idle_open_end"],
    "fd-churn-explicit": ["reclaim_rounds", "span_mean_mib", "idle_open_end"],
    "allocbench": ["ns_node"],
    "rootsbench": ["term_most"],
}


def _s(get):
    """A getter of a run record from a getter of its summary.json."""
    return lambda rec: get(rec["summary"])


def _f(get):
    """A getter of a run record from a getter of its summary's findings."""
    return lambda rec: get(rec["summary"]["findings"])


def cpu_s(rec):
    """The run's user + system CPU seconds (None for runs recorded before CPU time was)."""
    m = rec.get("measure")
    return None if m is None else m["cpu_user_s"] + m["cpu_sys_s"]


def _standby_or_go(get):
    """A getter of head-of-line's phase with the testbed's standby on (`cleanup_with_standby`)
    on the testbed's side, and of Go's default cleanup phase on Go's: the row that sets the
    testbed's improvement beside Go. None where the testbed's run had no such phase (its
    flags had the standby on already, or it predates the phase)."""
    def getter(rec):
        f = rec["summary"]["findings"]
        phase = f["cleanup"] if rec["side"] == "go" else f.get("cleanup_with_standby")
        return None if phase is None else get(phase)
    return getter


GENERIC = [
    ("wall_s", "wall s", _s(lambda s: s["wall_s"])),
    ("cpu_s", "CPU s (user+sys, whole process)", cpu_s),
    ("gc_cycles", "GC cycles", _s(lambda s: s["gc_cycles"])),
    ("pause_p50_ms", "pause p50 ms", _s(lambda s: s["pause_ns"]["p50"] / 1e6)),
    ("pause_p99_ms", "pause p99 ms", _s(lambda s: s["pause_ns"]["p99"] / 1e6)),
    ("pause_max_ms", "pause max ms", _s(lambda s: s["pause_ns"]["max"] / 1e6)),
    ("heap_peak_mib", "heap peak MiB", _s(lambda s: s["heap_peak_bytes"] / 2**20)),
]
OWN = {
    "finbench": [
        ("register_ms", "register ms", _f(lambda f: f["register_ms"])),
        ("collect_run_ms", "collect+run ms", _f(lambda f: f["collect_run_ms"])),
    ],
    "finalizer-chain": [
        ("fin_calls", "finalizers: gc() calls", _f(lambda f: f["finalizer"]["cycles"])),
        ("fin_wall_ms", "finalizers: wall ms", _f(lambda f: f["finalizer"]["wall_ms"])),
        ("fin_max_per_cycle", "finalizers: most per cycle", _f(lambda f: f["finalizer"]["max_per_cycle"])),
        ("cl_calls", "cleanups: gc() calls", _f(lambda f: f["cleanup"]["cycles"])),
        ("cl_wall_ms", "cleanups: wall ms", _f(lambda f: f["cleanup"]["wall_ms"])),
    ],
    "head-of-line": [
        ("cl_p99_ms", "quick cleanup p99 ms", _f(lambda f: f["cleanup"]["quick_latency_ns"]["p99"] / 1e6)),
        ("cl_p50_ms", "quick cleanup p50 ms", _f(lambda f: f["cleanup"]["quick_latency_ns"]["p50"] / 1e6)),
        ("fin_p99_ms", "quick finalizer p99 ms", _f(lambda f: f["finalizer"]["quick_latency_ns"]["p99"] / 1e6)),
        ("cl_during", "quick cleanups during the slow one", _f(lambda f: f["cleanup"]["quick_during_slow"])),
        ("cl_standby_p99_ms", "quick cleanup p99 ms, testbed with its standby on (Go: its default)",
         _standby_or_go(lambda p: p["quick_latency_ns"]["p99"] / 1e6)),
        ("workers", "cleanup workers (pool size)", _f(lambda f: f["cleanup_workers"])),
    ],
    "cycles": [
        ("matches", "matches S46 (1 yes)", _f(lambda f: int(f["matches_semantics"]))),
        ("ab_fin", "A<->B finalizers run", _f(lambda f: f["finalizer_cycle"]["finalizers_run"])),
        ("cd_rounds", "C<->D cleanups: rounds", _f(lambda f: f["cleanup_cycle"]["in_cycles"])),
        ("e_round", "E->E finalized in round", _f(lambda f: f["self_pointer"]["finalized_in_cycle"])),
    ],
    "resurrection": [
        ("matches", "matches S47/S48 (1 yes)", _f(lambda f: int(f["matches_semantics"]))),
        ("fin_round", "finalizer round", _f(lambda f: f["finalizer_round"])),
        ("weak_round", "weak cleared after round", _f(lambda f: f["weak_cleared_at_cycle"])),
        ("cl_round", "cleanup round", _f(lambda f: f["cleanup_round"])),
    ],
    "exit-flush": [
        ("lost", "bytes lost", _f(lambda f: f["bytes_lost"])),
        ("fin_ran", "finalizer ran (1 yes)", _f(lambda f: int(f["finalizer_ran"]))),
        ("fin_pending", "finalizers pending at exit", _f(lambda f: f.get("finalizers_pending"))),
    ],
    "intern": [
        ("map_max", "map size max", _f(lambda f: f["map_size"]["max"])),
        ("map_median", "map size median", _f(lambda f: f["map_size"]["median"])),
        ("map_final", "map size after the drain", _f(lambda f: f["map_size"]["final"])),
        ("ops", "operations", _f(lambda f: f["ops"])),
        ("hits", "hits", _f(lambda f: f["hits"])),
        ("growth", "map growth, entries a second (least squares over the series)",
         _f(lambda f: f.get("growth_per_s"))),
        ("map_last", "map size at the run's end (last sample)",
         _f(lambda f: f["series"][-1][1] if f.get("series") else None)),
        ("cleanups_run", "cleanups run", _f(lambda f: f["cleanups_run"])),
        ("cleanup_rate", "cleanups run a second during the run (series' last sample)",
         _f(lambda f: f["series"][-1][3] / (f["series"][-1][0] / 1e3) if f.get("series") and f["series"][-1][0]
            else None)),
    ],
    "lru": [
        ("op_p999_ms", "operation p99.9 ms", _s(lambda s: s["mutator_latency_ns"]["p999"] / 1e6)),
        ("op_p99_ms", "operation p99 ms", _s(lambda s: s["mutator_latency_ns"]["p99"] / 1e6)),
        ("op_max_ms", "operation max ms", _s(lambda s: s["mutator_latency_ns"]["max"] / 1e6)),
    ],
    "binary-trees": [
        ("ttsp_p99_ms", "time to safepoint p99 ms", _s(lambda s: s["ttsp_ns"]["p99"] / 1e6)),
    ],
    "fd-churn": [
        ("peak_open", "peak open", _f(lambda f: f["peak_open"])),
        ("mean_delay", "mean release delay (cycles)", _f(lambda f: f["mean_release_delay_cycles"])),
        ("max_delay", "max release delay (cycles)", _f(lambda f: f["max_release_delay_cycles"])),
        ("close_rounds", "end: gc() rounds until no descriptor is open", _f(lambda f: f.get("close_rounds"))),
        ("reclaim_rounds", "end: gc() rounds until the memory is back", _f(lambda f: f.get("reclaim_rounds"))),
        ("span_mean_mib", "span MiB in use, mean over the churn",
         _f(lambda f: None if f.get("span_bytes_mean") is None else f["span_bytes_mean"] / 2**20)),
        ("span_peak_mib", "span MiB in use, most sampled",
         _f(lambda f: None if f.get("span_bytes_peak") is None else f["span_bytes_peak"] / 2**20)),
        ("idle_open_end", "descriptors open at the idle's end", _f(lambda f: (f.get("idle") or {}).get("open_at_end"))),
        ("idle_cycles", "cycles completed during the idle",
         _f(lambda f: None if not f.get("idle") else f["idle"]["cycles_at_end"] - f["idle"]["cycles_at_start"])),
    ],
}
OWN["cleanupbench"] = OWN["finbench"]
OWN["binary-trees-rayon"] = OWN["binary-trees"]


def _row_getter(match, field):
    """A getter of a run record's row that `match` picks, its `field` (a list of fields
    tried in turn)."""
    def get(rec):
        row = next(r for r in rec["rows"] if match(r))
        return next(row[f] for f in field if f in row)
    return get


def _alloc_figures(first):
    figures = []
    for i, row in enumerate(first["rows"]):
        shape = row["shape"]
        key = "ns_node" if shape.startswith("4 words") else f"ns_{i}"
        get = _row_getter(lambda r, shape=shape: r["shape"] == shape, ["testbed_ns", "go_ns"])
        figures.append((key, f"ns per allocation: {shape}", get))
    return figures


# rootsbench's rows under the default barrier: `go-hybrid` since d447510, `hybrid` in runs
# stored before it (the Go twin names its one barrier the same way as the testbed).
HYBRID_NAMES = ("go-hybrid", "hybrid")


def _roots_figures(first):
    counts = [r["roots"] for r in first["rows"] if r["barrier"] in HYBRID_NAMES]
    figures = []
    for n in counts:
        pick = lambda r, n=n: r["barrier"] in HYBRID_NAMES and r["roots"] == n
        term = "term_most" if n == max(counts) else f"term_{n}"
        figures += [
            (f"start_{n}", f"start pause µs, {n} roots", _row_getter(pick, ["start_pause_us"])),
            (term, f"termination pause µs, {n} roots", _row_getter(pick, ["termination_pause_us"])),
            (f"term_ns_{n}", f"termination without sweep µs, {n} roots",
             _row_getter(pick, ["termination_without_sweep_us"])),
        ]
    return figures


def figures(workload, first):
    """The figures of a workload, given one of its testbed run records."""
    cpu = [GENERIC[1]]
    if workload == "allocbench":
        return _alloc_figures(first) + cpu
    if workload == "rootsbench":
        return _roots_figures(first) + cpu
    return OWN.get(binary(workload), []) + GENERIC
