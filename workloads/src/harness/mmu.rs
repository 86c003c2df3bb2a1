//! Minimum mutator utilization (Cheng & Blelloch) and its monotone lower envelope, bounded
//! mutator utilization (Sachindran, Moss & Berger), computed exactly from a pause log.
//!
//! A pause log is a list of `(start_ns, duration_ns)` stop-the-world intervals
//! `[start, start + duration)` on a run `[0, run_ns)`; pauses may come unsorted and may
//! overlap (they are merged) and are clipped to the run. `MMU(w)` is the least fraction
//! of any window of length `w` inside the run that is not paused. The paused time in
//! `[t, t + w)` is piecewise linear in `t` with kinks only where a window edge meets a
//! pause edge, so its maximum is at one of those `t` (or at the ends of the run): each
//! window is evaluated exactly at those O(n) positions, each in O(log n) with prefix sums.

/// Sorts, clips to `[0, run_ns)` and merges a pause log into disjoint `[start, end)`
/// intervals in increasing order. Pauses that touch or overlap become one; empty ones
/// vanish.
pub fn merge_pauses(pauses: &[(u64, u64)], run_ns: u64) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = pauses
        .iter()
        .map(|&(start, duration)| {
            let end = start.saturating_add(duration).min(run_ns);
            (start.min(run_ns), end)
        })
        .filter(|&(start, end)| end > start)
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// A merged pause log with prefix sums of paused time.
struct PauseLog {
    /// Disjoint `[start, end)` intervals, increasing.
    spans: Vec<(u64, u64)>,
    /// `before[i]`: total length of `spans[..i]`.
    before: Vec<u64>,
    /// The run length.
    run_ns: u64,
}

impl PauseLog {
    fn new(pauses: &[(u64, u64)], run_ns: u64) -> PauseLog {
        let spans = merge_pauses(pauses, run_ns);
        let mut before = Vec::with_capacity(spans.len() + 1);
        let mut sum = 0u64;
        before.push(0);
        for &(start, end) in &spans {
            sum += end - start;
            before.push(sum);
        }
        PauseLog {
            spans,
            before,
            run_ns,
        }
    }

    /// Total paused time in the run.
    fn total(&self) -> u64 {
        self.before[self.spans.len()]
    }

    /// Paused time in `[0, x)`.
    fn paused_before(&self, x: u64) -> u64 {
        let started = self.spans.partition_point(|&(start, _)| start < x);
        let mut paused = self.before[started];
        if started > 0 {
            let (_, end) = self.spans[started - 1];
            paused -= end.saturating_sub(x);
        }
        paused
    }

    /// Paused time in `[t, t + w)`.
    fn paused_in(&self, t: u64, w: u64) -> u64 {
        self.paused_before(t + w) - self.paused_before(t)
    }

    /// Overall mutator utilization of the run.
    fn whole_run(&self) -> f64 {
        if self.run_ns == 0 {
            1.0
        } else {
            1.0 - self.total() as f64 / self.run_ns as f64
        }
    }

    /// The exact MMU for window `w`.
    fn mmu(&self, w: u64) -> f64 {
        if self.run_ns == 0 || w >= self.run_ns {
            return self.whole_run();
        }
        if w == 0 {
            // The limit as the window shrinks: zero inside any pause.
            return if self.spans.is_empty() { 1.0 } else { 0.0 };
        }
        let last = self.run_ns - w;
        let mut worst = self.paused_in(0, w).max(self.paused_in(last, w));
        for &(start, end) in &self.spans {
            for edge in [start, end] {
                // Windows starting or ending at the edge, kept inside the run.
                worst = worst.max(self.paused_in(edge.min(last), w));
                worst = worst.max(self.paused_in(edge.saturating_sub(w).min(last), w));
            }
            if worst == w {
                return 0.0;
            }
        }
        1.0 - worst as f64 / w as f64
    }
}

/// The exact minimum mutator utilization of a run of `run_ns` with these pauses over
/// windows of `window_ns`: the least fraction of any `window_ns` inside the run left to the
/// mutator, in 0..=1. A window at least as long as the run gives the whole run's
/// utilization; a zero window gives 0 if anything was paused, else 1; a zero-length run
/// gives 1.
pub fn mmu(pauses: &[(u64, u64)], run_ns: u64, window_ns: u64) -> f64 {
    PauseLog::new(pauses, run_ns).mmu(window_ns)
}

/// [`mmu`] at each of `windows`, as `(window_ns, utilization)` in the order given.
pub fn mmu_curve(pauses: &[(u64, u64)], run_ns: u64, windows: &[u64]) -> Vec<(u64, f64)> {
    let log = PauseLog::new(pauses, run_ns);
    windows.iter().map(|&w| (w, log.mmu(w))).collect()
}

/// Bounded mutator utilization at each of `windows`, in the order given: `BMU(w)` is the
/// least [`mmu`] over the given windows at least `w` long and the whole run (whose
/// utilization is the MMU of every window longer than the run), so the curve never falls
/// as the window grows.
pub fn bmu_curve(pauses: &[(u64, u64)], run_ns: u64, windows: &[u64]) -> Vec<(u64, f64)> {
    let log = PauseLog::new(pauses, run_ns);
    let mut curve: Vec<(u64, f64)> = windows.iter().map(|&w| (w, log.mmu(w))).collect();
    let mut order: Vec<usize> = (0..curve.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(curve[i].0));
    let mut floor = log.whole_run();
    for i in order {
        floor = floor.min(curve[i].1);
        curve[i].1 = floor;
    }
    curve
}

/// Windows for an MMU curve of a run of `run_ns`: 100 µs, 200 µs, 500 µs, 1 ms, 2 ms, …
/// (three per decade) while shorter than the run, then the run length itself, whose MMU
/// is the run's overall utilization. Just `[run_ns]` for runs up to 100 µs; empty for a
/// zero-length run.
pub fn default_windows(run_ns: u64) -> Vec<u64> {
    let mut windows = Vec::new();
    if run_ns == 0 {
        return windows;
    }
    let mut decade = 100_000u64;
    'outer: loop {
        for factor in [1, 2, 5] {
            let w = decade.saturating_mul(factor);
            if w >= run_ns {
                break 'outer;
            }
            windows.push(w);
        }
        decade = decade.saturating_mul(10);
    }
    windows.push(run_ns);
    windows
}

/// A curve as the `[[window_s, utilization], …]` pairs of `summary.json`.
pub fn utilization_points(curve: &[(u64, f64)]) -> Vec<[f64; 2]> {
    curve.iter().map(|&(w, u)| [w as f64 / 1e9, u]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn one_pause() {
        let log = [(40 * MS, 10 * MS)];
        let run = 100 * MS;
        assert!(close(mmu(&log, run, 5 * MS), 0.0));
        assert!(close(mmu(&log, run, 10 * MS), 0.0));
        assert!(close(mmu(&log, run, 20 * MS), 0.5));
        assert!(close(mmu(&log, run, 40 * MS), 0.75));
        assert!(close(mmu(&log, run, 100 * MS), 0.9));
        assert!(close(mmu(&log, run, 1000 * MS), 0.9));
        // A pause at the very start still costs a whole window.
        assert!(close(mmu(&[(0, 10 * MS)], run, 20 * MS), 0.5));
        assert!(close(mmu(&[(90 * MS, 10 * MS)], run, 20 * MS), 0.5));
    }

    #[test]
    fn two_close_pauses() {
        // [10, 15) and [17, 22) ms.
        let log = [(17 * MS, 5 * MS), (10 * MS, 5 * MS)];
        let run = 100 * MS;
        assert!(close(mmu(&log, run, 5 * MS), 0.0));
        assert!(close(mmu(&log, run, 6 * MS), 1.0 / 6.0));
        assert!(close(mmu(&log, run, 7 * MS), 2.0 / 7.0));
        assert!(close(mmu(&log, run, 12 * MS), 2.0 / 12.0));
        assert!(close(mmu(&log, run, 20 * MS), 0.5));
        assert!(close(mmu(&log, run, 100 * MS), 0.9));
    }

    #[test]
    fn overlaps_merge_and_edges_clip() {
        let log = [(10, 10), (15, 10), (24, 1), (30, 0), (95, 50)];
        assert_eq!(merge_pauses(&log, 100), [(10, 25), (95, 100)]);
        // Same as one 15 ns pause and one 5 ns pause at the end.
        assert!(close(mmu(&log, 100, 15), 0.0));
        assert!(close(mmu(&log, 100, 30), 0.5));
        assert!(close(mmu(&log, 100, 100), 0.8));
        assert_eq!(merge_pauses(&[(200, 5)], 100), []);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(close(mmu(&[], 100 * MS, 10 * MS), 1.0));
        assert!(close(mmu(&[], 0, 10 * MS), 1.0));
        assert!(close(mmu(&[(5, 5)], 100, 0), 0.0));
        assert!(close(mmu(&[], 100, 0), 1.0));
        assert!(close(mmu(&[(0, u64::MAX)], u64::MAX, u64::MAX / 2), 0.0));
        assert!(bmu_curve(&[], 100, &[]).is_empty());
    }

    #[test]
    fn curves_and_windows() {
        let log = [(40 * MS, 10 * MS), (70 * MS, 2 * MS)];
        let run = 100 * MS;
        let windows = default_windows(run);
        assert_eq!(windows.first(), Some(&(100_000)));
        assert_eq!(windows.last(), Some(&run));
        assert!(windows.windows(2).all(|p| p[0] < p[1]));
        // Three per decade: 100 µs to 50 ms is 9 windows, plus the run.
        assert_eq!(windows.len(), 10);
        assert_eq!(default_windows(50_000), [50_000]);
        assert!(default_windows(0).is_empty());

        let curve = mmu_curve(&log, run, &windows);
        let bmu = bmu_curve(&log, run, &windows);
        for (&(w, m), &(bw, b)) in curve.iter().zip(&bmu) {
            assert_eq!(w, bw);
            assert!(b <= m + 1e-15);
            // The x-intercept is the longest pause.
            assert_eq!(m == 0.0, w <= 10 * MS, "window {w}");
        }
        assert!(bmu.windows(2).all(|p| p[0].1 <= p[1].1));
        assert!(close(bmu.last().unwrap().1, 0.88));
        let points = utilization_points(&curve);
        assert_eq!(points.last().unwrap(), &[0.1, curve.last().unwrap().1]);
    }

    /// A small deterministic generator (xorshift) for the cross-check.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn matches_brute_force_on_random_logs() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let run = 1 + rng.below(40);
            let log: Vec<(u64, u64)> = (0..rng.below(6))
                .map(|_| (rng.below(run + 5), rng.below(10)))
                .collect();
            // One flag per nanosecond of the run.
            let mut paused = vec![false; run as usize];
            for &(start, d) in &log {
                for t in start..(start + d).min(run) {
                    paused[t as usize] = true;
                }
            }
            let windows: Vec<u64> = (0..=run + 3).collect();
            let brute: Vec<f64> = windows
                .iter()
                .map(|&w| {
                    let all = paused.iter().filter(|&&p| p).count() as f64;
                    match w {
                        0 => f64::from(u8::from(all == 0.0)),
                        w if w >= run => 1.0 - all / run as f64,
                        w => (0..=(run - w) as usize)
                            .map(|t| {
                                let window = &paused[t..t + w as usize];
                                1.0 - window.iter().filter(|&&p| p).count() as f64 / w as f64
                            })
                            .fold(1.0, f64::min),
                    }
                })
                .collect();
            let exact = mmu_curve(&log, run, &windows);
            let bmu = bmu_curve(&log, run, &windows);
            for (i, &w) in windows.iter().enumerate() {
                assert!(close(exact[i].1, brute[i]), "{log:?} run {run} w {w}");
                let envelope = brute[i..].iter().copied().fold(1.0, f64::min);
                assert!(close(bmu[i].1, envelope), "{log:?} run {run} w {w}");
            }
        }
    }
}
