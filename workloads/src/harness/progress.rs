//! The progress bar a run draws on stderr: hand-written, redrawn by a thread of its own at
//! most ten times a second (mutators only bump a counter), shown only once the run has
//! lasted a second, and erased when the run ends. It is off under `--quiet` and when
//! stderr is not a terminal, so logs and pipes never see it.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bar cells.
const WIDTH: usize = 30;
/// The time between redraws.
const PERIOD: Duration = Duration::from_millis(100);
/// How long a run goes before the bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// What "done" means for a run's progress.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    /// The run ends after this long.
    Time(Duration),
    /// The run ends when [`Progress::advance`] has counted this many units of work.
    Work(u64),
}

/// The state the drawing thread shares with the run.
struct Shared {
    done: AtomicU64,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A progress bar, drawn while the value lives and erased by [`Progress::finish`] (or on
/// drop). Shareable across the run's threads.
pub struct Progress {
    shared: Arc<Shared>,
    drawer: Mutex<Option<JoinHandle<()>>>,
}

impl Progress {
    /// Starts a bar labelled `label` toward `goal`, if `enabled` and stderr is a
    /// terminal; otherwise a bar that draws nothing (`advance` still counts).
    pub fn start(label: &str, goal: Goal, enabled: bool) -> Progress {
        let shared = Arc::new(Shared {
            done: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let drawer = (enabled && std::io::stderr().is_terminal()).then(|| {
            let (shared, label) = (shared.clone(), label.to_string());
            std::thread::spawn(move || draw(&shared, &label, goal))
        });
        Progress {
            shared,
            drawer: Mutex::new(drawer),
        }
    }

    /// A bar that never draws.
    pub fn hidden() -> Progress {
        Progress::start("", Goal::Work(0), false)
    }

    /// Counts `units` more work done (for [`Goal::Work`]).
    pub fn advance(&self, units: u64) {
        self.shared.done.fetch_add(units, Ordering::Relaxed);
    }

    /// The work counted so far.
    pub fn done(&self) -> u64 {
        self.shared.done.load(Ordering::Relaxed)
    }

    /// Stops drawing and erases the bar; later calls do nothing.
    pub fn finish(&self) {
        let drawer = self.drawer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(drawer) = drawer {
            *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
            self.shared.wake.notify_all();
            let _ = drawer.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The drawing thread: redraws every [`PERIOD`] once [`SHOW_AFTER`] has passed, until
/// told to stop, then erases the line if it drew one.
fn draw(shared: &Shared, label: &str, goal: Goal) {
    let start = Instant::now();
    let mut drawn = false;
    let mut stop = shared.stop.lock().unwrap_or_else(|p| p.into_inner());
    while !*stop {
        stop = shared
            .wake
            .wait_timeout(stop, PERIOD)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        let elapsed = start.elapsed();
        if *stop || elapsed < SHOW_AFTER {
            continue;
        }
        let line = bar_line(label, goal, shared.done.load(Ordering::Relaxed), elapsed);
        let _ = write!(std::io::stderr().lock(), "\r{line}");
        drawn = true;
    }
    if drawn {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
    }
}

/// One rendering of the bar: label, cells, percentage and elapsed seconds.
fn bar_line(label: &str, goal: Goal, done: u64, elapsed: Duration) -> String {
    let fraction = match goal {
        Goal::Time(total) if !total.is_zero() => elapsed.as_secs_f64() / total.as_secs_f64(),
        Goal::Work(total) if total > 0 => done as f64 / total as f64,
        _ => 1.0,
    }
    .clamp(0.0, 1.0);
    let full = (fraction * WIDTH as f64).round() as usize;
    format!(
        "{label} [{}{}] {:3.0}% {:.1}s",
        "#".repeat(full),
        "-".repeat(WIDTH - full),
        fraction * 100.0,
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_the_fraction_done() {
        let s = Duration::from_secs(1);
        assert_eq!(
            bar_line("lru", Goal::Time(4 * s), 0, s),
            format!("lru [{}{}]  25% 1.0s", "#".repeat(8), "-".repeat(22))
        );
        let half = bar_line("trees", Goal::Work(10), 5, 2 * s);
        assert!(half.contains(" 50% 2.0s"), "{half}");
        let over = bar_line("x", Goal::Work(10), 50, s);
        assert!(over.contains(&"#".repeat(WIDTH)) && over.contains("100%"));
    }

    #[test]
    fn a_hidden_bar_counts_and_finishes() {
        let p = Progress::hidden();
        p.advance(3);
        p.advance(4);
        assert_eq!(p.done(), 7);
        p.finish();
        p.finish();
    }
}
