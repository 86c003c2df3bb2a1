package twin

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// Drain waits until every finalizer and cleanup that the runtime has queued so far has
// returned: Go's counterpart of the testbed's drain_finalizers and drain_cleanups. Go has
// no such call; the twin compares /gc/{finalizers,cleanups}/executed with .../queued
// (the runtime counts a callback as queued when the sweep queues it, so after
// runtime.GC(), which finishes the sweep, the queued counts cover that cycle; it counts
// executed callbacks per block, after the block's last one returns) and yields
// (runtime.Gosched) between reads, never sleeping. It gives up after limit and reports
// whether the queues emptied.
func Drain(limit time.Duration) bool {
	s := []metrics.Sample{{Name: mFinQueued}, {Name: mFinRun}, {Name: mClnQueued}, {Name: mClnRun}}
	deadline := time.Now().Add(limit)
	for {
		metrics.Read(s)
		if s[1].Value.Uint64() >= s[0].Value.Uint64() && s[3].Value.Uint64() >= s[2].Value.Uint64() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
}

// DrainLimit is how long a twin's Drain waits before it reports a stuck queue.
const DrainLimit = 60 * time.Second

// GCCycles is /gc/cycles/total:gc-cycles now: the completed cycles, as the testbed's
// Mutator::gc_cycles.
func GCCycles() uint64 {
	s := []metrics.Sample{{Name: mCycles}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// CleanupGoroutines is the most cleanup goroutines Go's runtime starts,
// max(GOMAXPROCS/4, 1) (runtime.maxCleanupGs, SEMANTICS.md S40): the counterpart of the
// testbed's automatic --cleanup-workers. Go exposes no count of the ones it started.
func CleanupGoroutines() int { return max(runtime.GOMAXPROCS(0)/4, 1) }
