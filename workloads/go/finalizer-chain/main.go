// Command finalizer-chain is the Go twin of the testbed's finalizer-chain: finalizers run
// in dependency order, one link per cycle (SEMANTICS.md S45); cleanups have no order and
// a whole chain runs after one cycle (S42, S44).
//
// Phase 1 builds a chain of --length L links (each one's pointer field points at the
// next), each with a runtime.SetFinalizer, and drops every reference. It then loops
// runtime.GC() then a drain (twin.Drain: until the runtime's executed finalizers and
// cleanups catch up with the queued ones) until every finalizer has run. Each finalizer
// records /gc/cycles/total:gc-cycles when it runs (the testbed's Mutator::gc_cycles).
// Phase 2 does the same with runtime.AddCleanup on each link; a cleanup records the
// number of the runtime.GC() call that queued it. Expected: L calls and one finalizer
// per cycle; one call and all L cleanups in it.
//
// One operation of the latency samples is one runtime.GC() plus its drain. Findings as
// the testbed's: length, and per phase (finalizer, cleanup) {cycles, max_per_cycle,
// executed, wall_ms, ok}. A phase that has not finished after 2L + 10 calls gives up;
// a phase that is not as expected makes the exit status 1.
//
//	go run ./finalizer-chain [--length 1000] [--json] [--out DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"testbed-twins/internal/twin"
)

// link is a chain link: the next link and its index (a pointer field, so it is never a
// pointer-free tiny object).
type link struct {
	next *link
	i    uint64
}

// recorder is what a phase's callbacks append to: the cycle number each one ran after.
type recorder struct {
	mu     sync.Mutex
	cycles []uint64
}

func (r *recorder) add(c uint64) {
	r.mu.Lock()
	r.cycles = append(r.cycles, c)
	r.mu.Unlock()
}

func (r *recorder) len() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return uint64(len(r.cycles))
}

func (r *recorder) maxPerCycle() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	per := map[uint64]uint64{}
	var most uint64
	for _, c := range r.cycles {
		per[c]++
		most = max(most, per[c])
	}
	return most
}

// buildChain builds n links, calling register on each, and returns nothing: when it
// returns, no reference to the chain is left.
//
//go:noinline
func buildChain(n uint64, register func(*link)) {
	head := &link{i: 0}
	register(head)
	prev := head
	for i := uint64(1); i < n; i++ {
		l := &link{i: i}
		register(l)
		prev.next = l
		prev = l
	}
}

// phase is one phase's result.
type phase struct {
	cycles, maxPerCycle, executed uint64
	wallMs                        float64
	finished                      bool
}

func (p phase) json(ok bool) map[string]any {
	return map[string]any{
		"cycles": p.cycles, "max_per_cycle": p.maxPerCycle, "executed": p.executed,
		"wall_ms": p.wallMs, "ok": ok,
	}
}

// drive loops runtime.GC() then a drain until rec holds n entries or 2n+10 calls were
// made, each call and its drain one latency sample; beforeGC gets the call's number.
func drive(n uint64, rec *recorder, latency *[]int64, beforeGC func(uint64)) (uint64, bool) {
	limit := 2*n + 10
	var calls uint64
	for {
		if rec.len() >= n {
			return calls, true
		}
		if calls >= limit {
			return calls, false
		}
		calls++
		beforeGC(calls)
		t := time.Now()
		runtime.GC()
		if !twin.Drain(twin.DrainLimit) {
			fmt.Fprintln(os.Stderr, "finalizer-chain: the callback queues did not empty")
		}
		*latency = append(*latency, int64(time.Since(t)))
	}
}

func main() {
	length := flag.Uint64("length", 1000, "links in the chain, each with a finalizer (then, in the second phase, a cleanup) (1..=1000000)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "finalizer-chain", Mutators: 1, MaxMutators: 1})
	flag.Parse()
	c.Check()
	n := *length
	if n < 1 || n > 1000000 {
		twin.Usage("invalid value %d for --length: expected 1..=1000000", n)
	}
	c.Set("length", n)
	var latency []int64
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

	run := c.Start()
	// Phase 1: finalizers, each recording the cycle count it runs after.
	t0 := time.Now()
	fins := &recorder{}
	buildChain(n, func(l *link) {
		runtime.SetFinalizer(l, func(*link) { fins.add(twin.GCCycles()) })
	})
	calls, finished := drive(n, fins, &latency, func(uint64) {})
	fin := phase{cycles: calls, maxPerCycle: fins.maxPerCycle(), executed: fins.len(), wallMs: ms(time.Since(t0)), finished: finished}
	// The last finalized link is freed by the next cycle (two-cycle reclamation, S43).
	runtime.GC()

	// Phase 2: cleanups, each recording the number of the runtime.GC() call that queued it.
	t1 := time.Now()
	var callNo atomic.Uint64
	cls := &recorder{}
	buildChain(n, func(l *link) {
		runtime.AddCleanup(l, func(struct{}) { cls.add(callNo.Load()) }, struct{}{})
	})
	calls, finished = drive(n, cls, &latency, func(c uint64) { callNo.Store(c) })
	cl := phase{cycles: calls, maxPerCycle: cls.maxPerCycle(), executed: cls.len(), wallMs: ms(time.Since(t1)), finished: finished}

	finOK := fin.finished && fin.cycles == n && fin.maxPerCycle == 1
	clOK := cl.finished && cl.cycles == 1 && cl.executed == n
	run.Finish(latency, twin.Registered{Finalizers: n, Cleanups: n}, map[string]any{
		"length": n, "finalizer": fin.json(finOK), "cleanup": cl.json(clOK),
	})
	if c.Text() {
		fmt.Printf("finalizer-chain: a chain of %d links (Go %s)\n", n, runtime.Version())
		fmt.Printf("finalizers  %6d gc() calls, at most %d per cycle, %d of %d ran, %.1f ms (expected %d calls, 1 per cycle)\n",
			fin.cycles, fin.maxPerCycle, fin.executed, n, fin.wallMs, n)
		fmt.Printf("cleanups    %6d gc() calls, at most %d per cycle, %d of %d ran, %.1f ms (expected 1 call)\n",
			cl.cycles, cl.maxPerCycle, cl.executed, n, cl.wallMs)
	}
	status := 0
	for _, p := range []struct {
		name string
		p    phase
		ok   bool
	}{{"finalizer", fin, finOK}, {"cleanup", cl, clOK}} {
		if !p.p.finished {
			fmt.Fprintf(os.Stderr, "finalizer-chain: failed: %ss: %d of %d ran after %d gc() calls; gave up\n", p.name, p.p.executed, n, p.p.cycles)
		} else if !p.ok {
			fmt.Fprintf(os.Stderr, "finalizer-chain: failed: %ss took %d gc() calls, at most %d per cycle\n", p.name, p.p.cycles, p.p.maxPerCycle)
		}
		if !p.ok {
			status = 1
		}
	}
	os.Exit(status)
}
