//! The run's timeline (`HeapConfig::trace`): what each thread of the heap was doing and
//! when — a mutator blocked, stopped at a safepoint or assisting, a mark worker marking,
//! the sweeper sweeping, a callback runner running a batch — recorded as slices into a
//! buffer per thread, plus counters sampled over time (queue lengths). The GC phases and
//! the pauses are not recorded here: the cycle and pause records already hold them, and
//! a report draws them from there ([`crate::Heap::trace`] hands out both).
//!
//! Invariant: with tracing off, a site costs one load of a flag that never changes and a
//! branch, and records nothing. With it on, a thread writes only its own buffer (its
//! mutex is contended only by a reader taking a snapshot), each slice is recorded once,
//! when it ends, so every slice has its end, and a thread's slices nest (a slice that
//! starts inside another ends inside it), since they are scopes. Beyond
//! [`MAX_SLICES_PER_THREAD`] a thread's slices are counted, not kept.

use crate::sync::unmodelled::{lock, thread, Arc, AtomicU64, Mutex, Ordering::Relaxed};
use std::cell::RefCell;
use std::time::Instant;

/// A thread keeps at most this many slices (about 24 MiB); later ones are counted in
/// [`ThreadTrace::dropped`].
pub const MAX_SLICES_PER_THREAD: usize = 1 << 20;

/// At most this many counter samples are kept; later ones are counted.
pub const MAX_COUNTER_SAMPLES: usize = 1 << 20;

/// One thing a thread did, from `start_ns` for `dur_ns` (nanoseconds since the heap was
/// made).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSlice {
    /// What the thread did ("blocked", "safepoint wait", "assist", …).
    pub name: &'static str,
    /// Nanoseconds from heap creation to the slice's start.
    pub start_ns: u64,
    /// The slice's length in nanoseconds.
    pub dur_ns: u64,
}

/// One thread's slices, ordered by start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadTrace {
    /// A number for the thread, unique within the heap, in the order threads first
    /// recorded.
    pub tid: u64,
    /// The thread's name (its `std::thread` name, or `thread <tid>`).
    pub name: String,
    /// The slices kept, ordered by start (an enclosing slice before what it encloses).
    pub slices: Vec<TraceSlice>,
    /// Slices recorded past [`MAX_SLICES_PER_THREAD`] and not kept.
    pub dropped: u64,
}

/// A counter's value at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterSample {
    /// What is counted ("finalizers queued", "cleanups queued").
    pub name: &'static str,
    /// Nanoseconds from heap creation to the sample.
    pub at_ns: u64,
    /// The value.
    pub value: u64,
}

/// A snapshot of a heap's timeline (see [`crate::Heap::trace`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Whether tracing was on (`HeapConfig::trace`); off, everything is empty.
    pub enabled: bool,
    /// One entry per thread that recorded, in `tid` order.
    pub threads: Vec<ThreadTrace>,
    /// Counter samples in the order taken.
    pub counters: Vec<CounterSample>,
    /// Counter samples past [`MAX_COUNTER_SAMPLES`] and not kept.
    pub dropped_counters: u64,
}

/// One thread's buffer.
struct Track {
    tid: u64,
    name: String,
    slices: Mutex<(Vec<TraceSlice>, u64)>,
}

/// A heap's recorder.
pub(crate) struct Tracer {
    on: bool,
    id: u64,
    start: Instant,
    next_tid: AtomicU64,
    tracks: Mutex<Vec<Arc<Track>>>,
    counters: Mutex<(Vec<CounterSample>, u64)>,
}

/// Numbers tracers, so a thread's buffers of different heaps stay apart.
static NEXT_TRACER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's buffers, one per tracer it recorded into.
    static TRACKS: RefCell<Vec<(u64, Arc<Track>)>> = const { RefCell::new(Vec::new()) };
}

/// A slice in progress: recorded when dropped.
pub(crate) struct SliceGuard<'a> {
    tracer: &'a Tracer,
    track: Arc<Track>,
    name: &'static str,
    start: Instant,
}

impl SliceGuard<'_> {
    /// Ends the slice without recording it (it turned out to be nothing worth showing).
    pub(crate) fn discard(mut self) {
        self.name = "";
    }
}

impl Drop for SliceGuard<'_> {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return; // discarded
        }
        let end = Instant::now();
        let slice = TraceSlice {
            name: self.name,
            start_ns: self.tracer.since_start(self.start),
            dur_ns: self
                .tracer
                .since_start(end)
                .saturating_sub(self.tracer.since_start(self.start)),
        };
        let mut g = lock(&self.track.slices);
        if g.0.len() < MAX_SLICES_PER_THREAD {
            g.0.push(slice);
        } else {
            g.1 += 1;
        }
    }
}

impl Tracer {
    pub(crate) fn new(on: bool, start: Instant) -> Tracer {
        Tracer {
            on,
            id: NEXT_TRACER.fetch_add(1, Relaxed),
            start,
            next_tid: AtomicU64::new(1),
            tracks: Mutex::new(Vec::new()),
            counters: Mutex::new((Vec::new(), 0)),
        }
    }

    /// Starts a slice on this thread's track, recorded when the guard drops; `None` (and
    /// nothing recorded) when tracing is off.
    #[inline]
    pub(crate) fn slice(&self, name: &'static str) -> Option<SliceGuard<'_>> {
        if !self.on {
            return None;
        }
        Some(SliceGuard {
            tracer: self,
            track: self.track()?,
            name,
            start: Instant::now(),
        })
    }

    /// Samples a counter (nothing when tracing is off).
    #[inline]
    pub(crate) fn counter(&self, name: &'static str, value: u64) {
        if !self.on {
            return;
        }
        let sample = CounterSample {
            name,
            at_ns: self.since_start(Instant::now()),
            value,
        };
        let mut g = lock(&self.counters);
        if g.0.len() < MAX_COUNTER_SAMPLES {
            g.0.push(sample);
        } else {
            g.1 += 1;
        }
    }

    fn since_start(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.start);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// This thread's buffer, made (or taken over) on the thread's first slice and kept
    /// from then on, so a thread's slices all go to one track that no other live thread
    /// writes. `None` for a thread in its thread-local destruction (nothing recorded).
    fn track(&self) -> Option<Arc<Track>> {
        TRACKS
            .try_with(|tracks| {
                let mut tracks = tracks.try_borrow_mut().ok()?;
                // Buffers of heaps that are gone are let go here.
                tracks.retain(|(_, t)| Arc::strong_count(t) > 1);
                if let Some((_, t)) = tracks.iter().find(|(id, _)| *id == self.id) {
                    return Some(t.clone());
                }
                let t = self.new_track();
                tracks.push((self.id, t.clone()));
                Some(t)
            })
            .ok()
            .flatten()
    }

    /// Gives up the calling thread's track (it records no more into this tracer, or
    /// starts a fresh track if it does): a short-lived thread calls it last, so that its
    /// successor of the same name takes the track over for certain, where the thread's
    /// exit would let go of it only once its thread-locals are destroyed, which may be
    /// after a join has returned.
    pub(crate) fn leave_thread(&self) {
        if !self.on {
            return;
        }
        let _ = TRACKS.try_with(|tracks| {
            if let Ok(mut tracks) = tracks.try_borrow_mut() {
                tracks.retain(|(id, _)| *id != self.id);
            }
        });
    }

    /// A track for the calling thread: one of an exited thread of the same name if there
    /// is one (mark workers are new threads every cycle; they share their
    /// predecessors' tracks, a track per worker slot), else a new one.
    fn new_track(&self) -> Arc<Track> {
        let name = thread::current().name().map(str::to_string);
        let mut tracks = lock(&self.tracks);
        if let Some(name) = &name {
            // Held by the tracer alone: its thread has exited (its thread-local list, and
            // with it every slice it had open, is gone).
            let free = tracks
                .iter()
                .find(|t| t.name == *name && Arc::strong_count(t) == 1);
            if let Some(t) = free {
                return t.clone();
            }
        }
        let tid = self.next_tid.fetch_add(1, Relaxed);
        let track = Arc::new(Track {
            tid,
            name: name.unwrap_or_else(|| format!("thread {tid}")),
            slices: Mutex::new((Vec::new(), 0)),
        });
        tracks.push(track.clone());
        track
    }

    /// What has been recorded so far.
    pub(crate) fn snapshot(&self) -> Trace {
        let tracks: Vec<Arc<Track>> = lock(&self.tracks).clone();
        let mut threads: Vec<ThreadTrace> = tracks
            .iter()
            .map(|t| {
                let (mut slices, dropped) = lock(&t.slices).clone();
                // Ends were recorded in order; starts order the track, an enclosing slice
                // (earlier start, or the same start and longer) first.
                slices.sort_by_key(|s| (s.start_ns, std::cmp::Reverse(s.dur_ns)));
                ThreadTrace {
                    tid: t.tid,
                    name: t.name.clone(),
                    slices,
                    dropped,
                }
            })
            .collect();
        threads.sort_by_key(|t| t.tid);
        let (counters, dropped_counters) = lock(&self.counters).clone();
        Trace {
            enabled: self.on,
            threads,
            counters,
            dropped_counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_records_nothing() {
        let t = Tracer::new(false, Instant::now());
        drop(t.slice("blocked"));
        t.counter("finalizers queued", 3);
        assert_eq!(t.snapshot(), Trace::default());
    }

    #[test]
    fn slices_nest_per_thread_and_threads_get_their_own_tracks() {
        let t = Tracer::new(true, Instant::now());
        {
            let _outer = t.slice("outer");
            drop(t.slice("inner"));
        }
        thread::scope(|s| {
            thread::Builder::new()
                .name("other".into())
                .spawn_scoped(s, || drop(t.slice("elsewhere")))
                .unwrap();
        });
        let trace = t.snapshot();
        assert!(trace.enabled);
        assert_eq!(trace.threads.len(), 2);
        let main = &trace.threads[0];
        let names: Vec<_> = main.slices.iter().map(|s| s.name).collect();
        assert_eq!(names, ["outer", "inner"]);
        let (o, i) = (main.slices[0], main.slices[1]);
        assert!(o.start_ns <= i.start_ns && i.start_ns + i.dur_ns <= o.start_ns + o.dur_ns);
        assert_eq!(trace.threads[1].name, "other");
        assert_eq!(trace.threads[1].slices[0].name, "elsewhere");
    }

    #[test]
    fn a_thread_takes_over_the_track_of_an_exited_namesake_only() {
        let t = Tracer::new(true, Instant::now());
        let run = |n: usize| {
            // `n` live namesakes at once: each needs a track of its own.
            let barrier = crate::sync::unmodelled::Barrier::new(n);
            thread::scope(|s| {
                for _ in 0..n {
                    thread::Builder::new()
                        .name("gc-mark-worker".into())
                        .spawn_scoped(s, || {
                            let slice = t.slice("mark");
                            barrier.wait();
                            drop(slice);
                            t.leave_thread();
                        })
                        .unwrap();
                }
            })
        };
        run(2);
        run(1);
        run(2);
        let trace = t.snapshot();
        assert_eq!(trace.threads.len(), 2, "two live at most, so two tracks");
        let slices: usize = trace.threads.iter().map(|t| t.slices.len()).sum();
        assert_eq!(slices, 5);
    }

    #[test]
    fn a_discarded_slice_is_not_recorded_and_lets_its_track_go() {
        let t = Tracer::new(true, Instant::now());
        drop(t.slice("kept"));
        t.slice("dropped").unwrap().discard();
        let trace = t.snapshot();
        let names: Vec<_> = trace.threads[0].slices.iter().map(|s| s.name).collect();
        assert_eq!(names, ["kept"]);
        // The tracer's list and this thread's hold the track, nothing else (a forgotten
        // guard used to keep a count of its own forever).
        let track = lock(&t.tracks)[0].clone();
        assert_eq!(
            Arc::strong_count(&track),
            3,
            "tracer, thread, and this test's clone"
        );
    }

    #[test]
    fn counters_are_sampled_in_order() {
        let t = Tracer::new(true, Instant::now());
        t.counter("cleanups queued", 2);
        t.counter("cleanups queued", 0);
        let c = t.snapshot().counters;
        assert_eq!(c.iter().map(|s| s.value).collect::<Vec<_>>(), [2, 0]);
        assert!(c[0].at_ns <= c[1].at_ns);
    }
}
