package twin

import (
	"runtime"
	"runtime/metrics"
	"sync"
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

// cycles is GCCycles' sample, kept so that a read allocates nothing: a fresh slice
// escapes to Go's heap (one 48-byte object a call), and a twin that reads the count once
// per churned object and once per finalizer would allocate 8-17 % more bytes than the
// testbed's program, whose Mutator::gc_cycles allocates nothing, and run more cycles.
// The lock lets finalizers, cleanups and the main goroutine read at once (metrics.Read
// serialises its callers anyway).
var cycles struct {
	sync.Mutex
	sample [1]metrics.Sample
}

// GCCycles is /gc/cycles/total:gc-cycles now: the completed cycles, as the testbed's
// Mutator::gc_cycles. It allocates nothing.
func GCCycles() uint64 {
	cycles.Lock()
	defer cycles.Unlock()
	cycles.sample[0].Name = mCycles
	metrics.Read(cycles.sample[:])
	return cycles.sample[0].Value.Uint64()
}

// CleanupGoroutines is the most cleanup goroutines Go's runtime starts,
// max(GOMAXPROCS/4, 1) (runtime.maxCleanupGs, SEMANTICS.md S40): the counterpart of the
// testbed's automatic --cleanup-workers. Go exposes no count of the ones it started.
func CleanupGoroutines() int { return max(runtime.GOMAXPROCS(0)/4, 1) }
