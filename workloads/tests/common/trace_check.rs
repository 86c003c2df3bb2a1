//! Checks a report's `trace.json` as a trace viewer would read it.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Reads `dir/trace.json` and checks its structure against the summary `v`: a Chrome
/// trace-event object; every slice complete (`"ph":"X"`, a finite length ≥ 0); slices on
/// each track nest (a slice that starts inside another ends inside it); every track used
/// is named; one `pause` slice per pause the summary counts and one cycle slice per
/// cycle. Returns the track names by tid and the slices as `(tid, name)`.
pub fn check_trace(dir: &Path, v: &Value) -> (BTreeMap<u64, String>, Vec<(u64, String)>) {
    let text = std::fs::read_to_string(dir.join("trace.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).expect("trace.json is JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let mut names = BTreeMap::new();
    let mut tracks: BTreeMap<u64, Vec<(f64, f64, String)>> = BTreeMap::new();
    for e in events {
        match e["ph"].as_str().expect("every event has a phase") {
            "M" if e["name"] == "thread_name" => {
                let name = e["args"]["name"].as_str().unwrap().to_string();
                names.insert(e["tid"].as_u64().unwrap(), name);
            }
            "M" | "C" => {}
            "X" => {
                let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
                assert!(ts >= 0.0 && dur >= 0.0 && dur.is_finite(), "{e}");
                let name = e["name"].as_str().unwrap().to_string();
                tracks
                    .entry(e["tid"].as_u64().unwrap())
                    .or_default()
                    .push((ts, dur, name));
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    let mut slices = Vec::new();
    for (tid, list) in &mut tracks {
        assert!(names.contains_key(tid), "track {tid} is named");
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        // A stack of open slices' ends: each slice must end within the one it starts in.
        let mut open: Vec<f64> = Vec::new();
        for (ts, dur, name) in list.iter() {
            // Microsecond floats: a slice may start a rounding error before its
            // predecessor's end (1e-3 µs is one nanosecond).
            while open.last().is_some_and(|end| *ts >= *end - 1e-3) {
                open.pop();
            }
            let end = ts + dur;
            if let Some(outer) = open.last() {
                assert!(
                    end <= outer + 1e-3,
                    "track {tid}: {name} at {ts} overlaps its parent"
                );
            }
            open.push(end);
            slices.push((*tid, name.clone()));
        }
    }
    let count = |n: &str| slices.iter().filter(|(_, s)| s == n).count() as u64;
    assert_eq!(count("pause"), v["pause_ns"]["count"].as_u64().unwrap());
    let cycles = slices
        .iter()
        .filter(|(_, s)| s.starts_with("GC cycle "))
        .count();
    assert_eq!(cycles as u64, v["gc_cycles"].as_u64().unwrap());
    let tids: BTreeSet<_> = tracks.keys().collect();
    assert!(tids.iter().all(|t| names.contains_key(t)));
    assert_eq!(doc["otherData"]["dropped_events"], 0);
    (names, slices)
}
