//! The progress bar a run shows on stderr, drawn by `indicatif`. Mutators only bump a
//! counter; a thread of the bar's own copies it (or, for a timed run, the elapsed time)
//! into the bar ten times a second. The bar appears only once the run has lasted a second
//! and is erased when the run ends. It is off under `--quiet` and when stderr is not a
//! terminal, so logs and pipes never see it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The time between updates of the bar.
const PERIOD: Duration = Duration::from_millis(100);
/// How long a run goes before the bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// The bar's layout: label, 30 cells, percentage, elapsed time.
const TEMPLATE: &str = "{prefix} [{bar:30}] {percent:>3}% {elapsed}";

/// What "done" means for a run's progress.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    /// The run ends after this long.
    Time(Duration),
    /// The run ends when [`Progress::advance`] has counted this many units of work.
    Work(u64),
}

impl Goal {
    /// The bar's `(position, length)` after `done` units of work and `elapsed` time: the
    /// work, or the time in ms, capped at the length (at least 1).
    fn position(self, done: u64, elapsed: Duration) -> (u64, u64) {
        let (at, of) = match self {
            Goal::Time(total) => (elapsed.as_millis(), total.as_millis()),
            Goal::Work(total) => (u128::from(done), u128::from(total)),
        };
        let of = u64::try_from(of).unwrap_or(u64::MAX).max(1);
        (u64::try_from(at).unwrap_or(u64::MAX).min(of), of)
    }
}

/// The state the updating thread shares with the run.
struct Shared {
    done: AtomicU64,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A progress bar, shown while the value lives and erased by [`Progress::finish`] (or on
/// drop). Shareable across the run's threads.
pub struct Progress {
    shared: Arc<Shared>,
    updater: Mutex<Option<JoinHandle<()>>>,
}

impl Progress {
    /// Starts a bar labelled `label` toward `goal`, if `enabled` and stderr is a
    /// terminal; otherwise a bar that shows nothing (`advance` still counts).
    pub fn start(label: &str, goal: Goal, enabled: bool) -> Progress {
        let shared = Arc::new(Shared {
            done: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let updater = (enabled && std::io::stderr().is_terminal()).then(|| {
            let (shared, bar) = (shared.clone(), hidden_bar(label, goal));
            std::thread::spawn(move || update(&shared, &bar, goal))
        });
        Progress {
            shared,
            updater: Mutex::new(updater),
        }
    }

    /// A bar that never shows.
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

    /// Stops updating and erases the bar; later calls do nothing.
    pub fn finish(&self) {
        let updater = self
            .updater
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(updater) = updater {
            *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
            self.shared.wake.notify_all();
            let _ = updater.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// An indicatif bar toward `goal` labelled `label`, drawing nowhere until
/// [`update`] points it at stderr.
fn hidden_bar(label: &str, goal: Goal) -> ProgressBar {
    let style = ProgressStyle::with_template(TEMPLATE)
        .expect("the template is valid")
        .progress_chars("##-");
    let (_, length) = goal.position(0, Duration::ZERO);
    ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::hidden())
        .with_style(style)
        .with_prefix(label.to_string())
}

/// The updating thread: every [`PERIOD`] once [`SHOW_AFTER`] has passed, sets the bar's
/// position (the bar draws on stderr from then on), until told to stop; then erases it.
fn update(shared: &Shared, bar: &ProgressBar, goal: Goal) {
    let start = Instant::now();
    let mut shown = false;
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
        if !shown {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            shown = true;
        }
        let (position, _) = goal.position(shared.done.load(Ordering::Relaxed), elapsed);
        bar.set_position(position);
    }
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_is_the_fraction_done() {
        let s = Duration::from_secs(1);
        assert_eq!(Goal::Time(4 * s).position(99, s), (1000, 4000));
        assert_eq!(Goal::Work(10).position(5, 9 * s), (5, 10));
        assert_eq!(
            Goal::Work(10).position(50, s),
            (10, 10),
            "capped at the end"
        );
        assert_eq!(Goal::Work(0).position(0, s), (0, 1), "never an empty bar");
        assert_eq!(Goal::Time(s).position(0, 3 * s), (1000, 1000));
    }

    #[test]
    fn the_bar_counts_toward_its_goal() {
        let bar = hidden_bar("gcbench", Goal::Work(40));
        assert_eq!(bar.length(), Some(40));
        assert_eq!(bar.prefix(), "gcbench");
        bar.set_position(10);
        assert_eq!(bar.position(), 10);
        bar.finish_and_clear();
        assert!(bar.is_finished());
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
