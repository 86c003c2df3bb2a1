// Command head-of-line is the Go twin of the testbed's head-of-line: one slow callback
// queued ahead of many quick ones. Go runs finalizers one after another on one goroutine
// (SEMANTICS.md S38), so every quick finalizer waits for the slow one; cleanups run on at
// most max(GOMAXPROCS/4, 1) goroutines, each running a whole block of about 20 cleanups
// in order (S40, S41), so on fewer than 8 cores they wait for it too.
//
// Phase A (finalizers): object 0, then --quick more, each get a runtime.SetFinalizer. The
// first callback to start plays the slow one: it sleeps --slow-ms ms (the simulated slow
// work); every other one is quick and notes when it started. A table keeps the objects
// reachable while they are registered; then it is dropped, one runtime.GC() runs (which
// returns when the sweep has queued every callback), and the twin waits on a channel
// that the last callback to finish closes. A quick callback's latency is from the moment
// runtime.GC() returned to its start (0 if it started before). Phase B: the same with
// runtime.AddCleanup.
//
// The slow cleanup never waits for the quick ones (the testbed waits only under its own
// options, adaptive batches with its standby or eagerly started workers): in Go the
// quick cleanups of the slow one's block can only run after it returns, so such a wait
// would never end. The testbed's extra phase with its standby on (cleanup_with_standby)
// has no counterpart here. --cleanup-workers takes
// only "auto"; the findings' cleanup_workers is the pool's size, max(GOMAXPROCS/4, 1)
// (Go does not report how many it started).
//
// One operation of the latency samples is one quick callback's latency (both phases).
// Findings as the testbed's: quick, slow_ms, cleanup_workers, and per phase
// (finalizer, cleanup) quick_latency_ns, slow_ran, slow_object, quick_after_slow_done,
// quick_before_slow_done, quick_during_slow, wall_ms. A missing callback, or a quick
// finalizer that started before the slow one finished, makes the exit status 1.
//
//	go run ./head-of-line [--quick 10000] [--slow-ms 200] [--json] [--out DIR]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"testbed-twins/internal/twin"
)

// obj is a registered object: a pointer field (left nil) and its index.
type obj struct {
	next *obj
	x    uint64
}

// shared is what one phase's callbacks record.
type shared struct {
	epoch time.Time
	// queuedNs is when runtime.GC() returned, in ns since epoch (MaxUint64 until then).
	queuedNs atomic.Uint64
	// startedNs per callback: when it started as a quick one, in ns since epoch plus 1
	// (0: has not run, or it was the slow one).
	startedNs   []atomic.Uint64
	slowStarted atomic.Bool
	// slowIndex is the callback that took the slow role (MaxUint64 until one did).
	slowIndex                   atomic.Uint64
	slowDone                    atomic.Bool
	afterSlowDone, beforeSlowDn atomic.Uint64
	duringSlow                  atomic.Uint64
	// finished counts callbacks that returned; the last one closes done.
	finished atomic.Uint64
	done     chan struct{}
	slow     time.Duration
}

func newShared(quick uint64, slowMs uint64) *shared {
	s := &shared{epoch: time.Now(), startedNs: make([]atomic.Uint64, quick+1), done: make(chan struct{}), slow: time.Duration(slowMs) * time.Millisecond}
	s.queuedNs.Store(math.MaxUint64)
	s.slowIndex.Store(math.MaxUint64)
	return s
}

func (s *shared) nowNs() uint64 { return uint64(time.Since(s.epoch).Nanoseconds()) }

// run is callback i: the first to start plays the slow one, every other one a quick one.
func (s *shared) run(i uint64) {
	if s.slowIndex.CompareAndSwap(math.MaxUint64, i) {
		s.slowStarted.Store(true)
		time.Sleep(s.slow) // the slow callback's simulated work
		s.slowDone.Store(true)
	} else {
		s.startedNs[i].Store(s.nowNs() + 1)
		if s.slowDone.Load() {
			s.afterSlowDone.Add(1)
		} else {
			s.beforeSlowDn.Add(1)
			if s.slowStarted.Load() {
				s.duringSlow.Add(1)
			}
		}
	}
	if s.finished.Add(1) == uint64(len(s.startedNs)) {
		close(s.done)
	}
}

// latencies are the quick callbacks' (that ran) from queued to started.
func (s *shared) latencies() []int64 {
	queued := s.queuedNs.Load()
	var out []int64
	for i := range s.startedNs {
		if st := s.startedNs[i].Load(); st > 0 {
			out = append(out, int64(max(st-1, queued)-queued))
		}
	}
	return out
}

type phase struct {
	s         *shared
	latencies []int64
	wallMs    float64
}

func (p phase) json() map[string]any {
	l := append([]int64(nil), p.latencies...)
	return map[string]any{
		"quick_latency_ns":       twin.SampleStats(l),
		"slow_ran":               p.s.slowDone.Load(),
		"slow_object":            p.s.slowIndex.Load(),
		"quick_after_slow_done":  p.s.afterSlowDone.Load(),
		"quick_before_slow_done": p.s.beforeSlowDn.Load(),
		"quick_during_slow":      p.s.duringSlow.Load(),
		"wall_ms":                p.wallMs,
	}
}

// register allocates object 0, then the quick ones, registering each, in a table that
// is dropped when it returns.
//
//go:noinline
func register(n int, reg func(*obj, uint64)) {
	table := make([]*obj, n)
	for i := range table {
		o := &obj{x: uint64(i)}
		reg(o, uint64(i))
		table[i] = o
	}
	runtime.KeepAlive(table)
}

func runPhase(s *shared, reg func(*obj, uint64), latency *[]int64) phase {
	t0 := time.Now()
	register(len(s.startedNs), reg)
	runtime.GC()
	s.queuedNs.Store(s.nowNs())
	<-s.done
	l := s.latencies()
	for _, v := range l {
		*latency = append(*latency, max(v, 1))
	}
	return phase{s: s, latencies: l, wallMs: float64(time.Since(t0).Nanoseconds()) / 1e6}
}

func main() {
	quick := flag.Uint64("quick", 10000, "quick callbacks queued behind the slow one (1..=10000000)")
	slowMs := flag.Uint64("slow-ms", 200, "milliseconds the slow callback sleeps (0..=600000)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "head-of-line", Mutators: 1, MaxMutators: 1, CleanupWorkers: true})
	flag.Parse()
	c.Check()
	if *quick < 1 || *quick > 10000000 {
		twin.Usage("invalid value %d for --quick: expected 1..=10000000", *quick)
	}
	if *slowMs > 600000 {
		twin.Usage("invalid value %d for --slow-ms: expected 0..=600000", *slowMs)
	}
	c.Set("quick", *quick)
	c.Set("slow_ms", *slowMs)
	workers := twin.CleanupGoroutines()
	var latency []int64

	run := c.Start()
	fs := newShared(*quick, *slowMs)
	fin := runPhase(fs, func(o *obj, i uint64) {
		runtime.SetFinalizer(o, func(*obj) { fs.run(i) })
	}, &latency)
	// The finalized objects are freed by the next cycle (two-cycle reclamation, S43).
	runtime.GC()
	cs := newShared(*quick, *slowMs)
	cl := runPhase(cs, func(o *obj, i uint64) {
		runtime.AddCleanup(o, cs.run, i)
	}, &latency)

	run.Finish(latency, twin.Registered{Finalizers: *quick + 1, Cleanups: *quick + 1}, map[string]any{
		"quick": *quick, "slow_ms": *slowMs, "cleanup_workers": workers,
		"finalizer": fin.json(), "cleanup": cl.json(),
	})
	if c.Text() {
		fmt.Printf("head-of-line: %d quick callbacks behind one of %d ms (Go %s)\n", *quick, *slowMs, runtime.Version())
		for _, p := range []struct {
			name string
			p    phase
		}{{"finalizers", fin}, {"cleanups  ", cl}} {
			l := twin.SampleStats(append([]int64(nil), p.p.latencies...))
			fmt.Printf("%s quick latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d started after the slow one finished\n",
				p.name, float64(l.P50)/1e6, float64(l.P99)/1e6, float64(l.Max)/1e6, p.p.s.afterSlowDone.Load())
		}
		fmt.Printf("cleanup goroutines: at most %d\n", workers)
	}
	status := 0
	for _, p := range []struct {
		name string
		p    phase
	}{{"finalizer", fin}, {"cleanup", cl}} {
		if ran := uint64(len(p.p.latencies)); ran != *quick || !p.p.s.slowDone.Load() {
			fmt.Fprintf(os.Stderr, "head-of-line: failed: %d of %d quick %ss ran\n", ran, *quick, p.name)
			status = 1
		}
	}
	if early := fs.beforeSlowDn.Load(); early > 0 {
		fmt.Fprintf(os.Stderr, "head-of-line: failed: %d quick finalizers started before the slow one finished\n", early)
		status = 1
	}
	os.Exit(status)
}
