//! A run's `trace.json`: its timeline in the Chrome trace-event format (the JSON object
//! form with `traceEvents`), which Perfetto's UI and `chrome://tracing` open. Track 1 holds
//! the GC cycles with their phases (sweep termination, mark, mark termination), track 2
//! every stop-the-world pause with its time-to-safepoint inside it, both drawn from the
//! heap's cycle and pause records, so they are there in every run; with `--trace` each
//! thread that recorded (`collector::Heap::trace`) has a track of its own after them
//! (mutators blocked, at a safepoint or in a handshake; mark workers by kind; the sweeper;
//! callback runners, a slice per batch). Counters: heap live and goal at each cycle's start
//! and end, the callback queues' lengths as the runners sampled them.
//!
//! Invariant: every slice is a complete event (`"ph":"X"`, begin and length together), so
//! none lacks its end; slices on one track nest (each thread's do by construction, a
//! cycle's phases are clipped to the cycle, a pause's time-to-safepoint to the pause);
//! every track used is named by a `thread_name` metadata event. Times are microseconds
//! since the heap was made, as the format wants.

use collector::{CycleRecord, PauseRecord, Trace};
use serde_json::{json, Value};

/// The track of the GC cycles and their phases.
pub const CYCLES_TID: u64 = 1;
/// The track of the stop-the-world pauses.
pub const PAUSES_TID: u64 = 2;
/// The first track of the threads that recorded (their own tids are added to it).
const THREADS_TID_BASE: u64 = 10;

/// Nanoseconds as the format's microseconds.
fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// A complete event on track `tid`.
fn slice(name: &str, cat: &str, tid: u64, start_ns: u64, dur_ns: u64, args: Value) -> Value {
    json!({
        "name": name, "cat": cat, "ph": "X", "pid": 1, "tid": tid,
        "ts": us(start_ns), "dur": us(dur_ns), "args": args,
    })
}

/// A `thread_name` metadata event naming track `tid`.
fn track_name(tid: u64, name: &str) -> Value {
    json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}})
}

/// A counter sample.
fn counter(name: &str, at_ns: u64, args: Value) -> Value {
    json!({"name": name, "ph": "C", "pid": 1, "tid": CYCLES_TID, "ts": us(at_ns), "args": args})
}

/// A cycle's slice and its phases, each clipped to the cycle (the phases' wall times are
/// measured separately from the cycle's bounds).
fn cycle_events(c: &CycleRecord, events: &mut Vec<Value>) {
    let end = c.end_ns.max(c.start_ns);
    let args = json!({
        "reason": format!("{:?}", c.reason),
        "heap_live_start_bytes": c.heap_live_start_bytes,
        "heap_live_end_bytes": c.heap_live_end_bytes,
        "heap_marked_bytes": c.heap_marked_bytes, "heap_goal_bytes": c.heap_goal_bytes,
        "trigger_bytes": c.trigger_bytes, "next_heap_goal_bytes": c.next_heap_goal_bytes,
        "mark_threads": c.mark_threads, "mark_workers": c.mark_workers,
        "running_mutators": c.running_mutators,
    });
    let name = format!("GC cycle {}", c.cycle);
    events.push(slice(
        &name,
        "gc",
        CYCLES_TID,
        c.start_ns,
        end - c.start_ns,
        args,
    ));
    let mut at = c.start_ns;
    for (phase, ns) in [
        ("sweep termination", c.clock_sweep_term_ns),
        ("mark", c.clock_mark_ns),
        ("mark termination", c.clock_mark_term_ns),
    ] {
        let dur = ns.min(end - at);
        events.push(slice(phase, "gc", CYCLES_TID, at, dur, json!({})));
        at += dur;
    }
    events.push(counter(
        "heap",
        c.start_ns,
        json!({"live": c.heap_live_start_bytes, "goal": c.heap_goal_bytes}),
    ));
    events.push(counter(
        "heap",
        end,
        json!({"live": c.heap_marked_bytes, "goal": c.next_heap_goal_bytes}),
    ));
}

/// A pause's slice with its time-to-safepoint inside.
fn pause_events(p: &PauseRecord, events: &mut Vec<Value>) {
    let args = json!({"cycle": p.cycle, "ttsp_ns": p.ttsp_ns});
    events.push(slice(
        "pause",
        "stw",
        PAUSES_TID,
        p.start_ns,
        p.duration_ns,
        args,
    ));
    let ttsp = p.ttsp_ns.min(p.duration_ns);
    let args = json!({"cycle": p.cycle});
    events.push(slice(
        "time to safepoint",
        "stw",
        PAUSES_TID,
        p.start_ns,
        ttsp,
        args,
    ));
}

/// The whole `trace.json` of a run of `workload`.
pub fn trace_json(
    workload: &str,
    cycles: &[CycleRecord],
    pauses: &[PauseRecord],
    trace: &Trace,
) -> String {
    let mut events = vec![
        json!({"name": "process_name", "ph": "M", "pid": 1, "args": {"name": workload}}),
        track_name(CYCLES_TID, "GC cycles and phases"),
        track_name(PAUSES_TID, "stop-the-world pauses"),
    ];
    for c in cycles {
        cycle_events(c, &mut events);
    }
    for p in pauses {
        pause_events(p, &mut events);
    }
    for t in &trace.threads {
        let tid = THREADS_TID_BASE + t.tid;
        events.push(track_name(tid, &t.name));
        for s in &t.slices {
            events.push(slice(
                s.name,
                "thread",
                tid,
                s.start_ns,
                s.dur_ns,
                json!({}),
            ));
        }
    }
    for s in &trace.counters {
        events.push(counter(s.name, s.at_ns, json!({"value": s.value})));
    }
    let dropped: u64 =
        trace.threads.iter().map(|t| t.dropped).sum::<u64>() + trace.dropped_counters;
    let doc = json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "workload": workload,
            "per_thread_tracing": trace.enabled,
            "dropped_events": dropped,
            "pauses": pauses.len(),
            "cycles": cycles.len(),
        },
    });
    serde_json::to_string(&doc).expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::{ThreadTrace, TraceSlice};

    fn record(cycle: u64, start_ns: u64) -> CycleRecord {
        CycleRecord {
            cycle,
            start_ns,
            end_ns: start_ns + 1000,
            clock_sweep_term_ns: 100,
            clock_mark_ns: 800,
            clock_mark_term_ns: 300,
            ..CycleRecord::default()
        }
    }

    #[test]
    fn phases_are_clipped_to_their_cycle_and_tracks_are_named() {
        let cycles = [record(1, 5000)];
        let pauses = [PauseRecord {
            cycle: 1,
            start_ns: 5000,
            duration_ns: 100,
            ttsp_ns: 400,
        }];
        let trace = Trace {
            enabled: true,
            threads: vec![ThreadTrace {
                tid: 1,
                name: "gc-sweeper".into(),
                slices: vec![TraceSlice {
                    name: "sweep",
                    start_ns: 6000,
                    dur_ns: 50,
                }],
                dropped: 0,
            }],
            ..Trace::default()
        };
        let v: Value = serde_json::from_str(&trace_json("w", &cycles, &pauses, &trace)).unwrap();
        let events = v["traceEvents"].as_array().unwrap();
        let find = |name: &str| events.iter().find(|e| e["name"] == name).unwrap();
        // 100 + 800 fill 900 of the cycle's 1000 ns; mark termination gets the last 100.
        assert_eq!(find("mark termination")["dur"], 0.1);
        assert_eq!(find("mark termination")["ts"], 5.9);
        assert_eq!(
            find("time to safepoint")["dur"],
            0.1,
            "clipped to its pause"
        );
        let sweep = find("sweep");
        assert_eq!(sweep["tid"], THREADS_TID_BASE + 1);
        let named: Vec<_> = events
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert!(named.contains(&"gc-sweeper"));
        assert_eq!(v["otherData"]["pauses"], 1);
    }
}
