// Command cycles is the Go twin of the testbed's cycles: which reference cycles Go
// reclaims when they carry finalizers or cleanups (SEMANTICS.md S46, and S28 for the
// self-pointer).
//
// It builds three unreachable structures and watches them over --rounds rounds of one
// runtime.GC() followed by a drain (twin.Drain: until the runtime's executed finalizers
// and cleanups catch up with the queued ones):
//   - a two-object cycle A <-> B, each with a finalizer: never collected, and no
//     finalizer runs;
//   - a two-object cycle C <-> D, each with only a cleanup: collected, both cleanups run
//     in the same round;
//   - a self-pointer E -> E with a finalizer: finalized in the first round.
//
// Go has no counterpart of the testbed's Heap::is_allocated, so "collected" is observed
// through a cleanup, which Go queues in the very sweep that frees its object (S34): C
// and D's own cleanups, and on A, B and E an extra observer cleanup that only records
// that its object was freed (so summary.json counts 5 registered cleanups, the
// testbed's 2). Findings as the testbed's: rounds, finalizer_cycle {collected,
// finalizers_run}, cleanup_cycle {collected, cleanups_run, in_cycles}, self_pointer
// {collected, finalizers_run, finalized_in_cycle}, matches_semantics; a mismatch makes
// the exit status 1.
//
//	go run ./cycles [--rounds 5] [--json] [--out DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"testbed-twins/internal/twin"
)

// node is a cycle member: the next member and a data word.
type node struct {
	next *node
	x    uint64
}

var (
	// round is the round being run (from 1), read by the callbacks.
	round        atomic.Uint64
	finCycleRuns atomic.Uint64
	cleanupRuns  atomic.Uint64
	// cleanupRounds: bit r-1 set when a C <-> D cleanup ran in round r (rounds above 64
	// share the top bit).
	cleanupRounds atomic.Uint64
	selfRuns      atomic.Uint64
	selfRound     atomic.Uint64
	// freed counts the observer cleanups of A, B (index 0) and E (index 1).
	freed [2]atomic.Uint64
)

func observeFreed(which int) { freed[which].Add(1) }

// build makes the three structures and drops every reference to them.
//
//go:noinline
func build() {
	a, b := &node{x: 1}, &node{x: 2}
	a.next, b.next = b, a
	for _, h := range []*node{a, b} {
		runtime.SetFinalizer(h, func(*node) { finCycleRuns.Add(1) })
		runtime.AddCleanup(h, observeFreed, 0)
	}
	c, d := &node{x: 3}, &node{x: 4}
	c.next, d.next = d, c
	for _, h := range []*node{c, d} {
		runtime.AddCleanup(h, func(struct{}) {
			cleanupRuns.Add(1)
			r := min(max(round.Load(), 1), 64)
			cleanupRounds.Or(1 << (r - 1))
		}, struct{}{})
	}
	e := &node{x: 5}
	e.next = e
	runtime.SetFinalizer(e, func(*node) {
		selfRuns.Add(1)
		selfRound.CompareAndSwap(0, round.Load())
	})
	runtime.AddCleanup(e, observeFreed, 1)
}

func main() {
	rounds := flag.Uint64("rounds", 5, "rounds of one runtime.GC() followed by draining the finalizer and cleanup queues (1..=1000)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "cycles", Mutators: 1, MaxMutators: 1})
	flag.Parse()
	c.Check()
	if *rounds < 1 || *rounds > 1000 {
		twin.Usage("invalid value %d for --rounds: expected 1..=1000", *rounds)
	}
	c.Set("rounds", *rounds)
	var latency []int64

	run := c.Start()
	build()
	for r := uint64(1); r <= *rounds; r++ {
		round.Store(r)
		t := time.Now()
		runtime.GC()
		if !twin.Drain(twin.DrainLimit) {
			fmt.Fprintln(os.Stderr, "cycles: the callback queues did not empty")
		}
		latency = append(latency, int64(time.Since(t)))
	}
	finCollected := freed[0].Load() == 2
	cleanupCollected := cleanupRuns.Load() == 2
	selfCollected := freed[1].Load() == 1
	finRuns, clRuns, selfRan, selfR := finCycleRuns.Load(), cleanupRuns.Load(), selfRuns.Load(), selfRound.Load()
	inCycles := uint64(0)
	for bits := cleanupRounds.Load(); bits != 0; bits &= bits - 1 {
		inCycles++
	}
	ok := !finCollected && finRuns == 0 && cleanupCollected && clRuns == 2 && inCycles == 1 &&
		selfRan == 1 && selfR == 1 && (*rounds < 2 || selfCollected)

	run.Finish(latency, twin.Registered{Finalizers: 3, Cleanups: 5}, map[string]any{
		"rounds":          *rounds,
		"finalizer_cycle": map[string]any{"collected": finCollected, "finalizers_run": finRuns},
		"cleanup_cycle":   map[string]any{"collected": cleanupCollected, "cleanups_run": clRuns, "in_cycles": inCycles},
		"self_pointer": map[string]any{
			"collected": selfCollected, "finalizers_run": selfRan, "finalized_in_cycle": selfR,
		},
		"matches_semantics": ok,
	})
	if c.Text() {
		fmt.Printf("cycles: %d rounds of runtime.GC + drain (Go %s)\n", *rounds, runtime.Version())
		fmt.Printf("A <-> B, finalizers:  collected %v, finalizers run %d\n", finCollected, finRuns)
		fmt.Printf("C <-> D, cleanups:    collected %v, cleanups run %d in %d cycle(s)\n", cleanupCollected, clRuns, inCycles)
		fmt.Printf("E -> E, finalizer:    collected %v, finalizer run %d (cycle %d)\n", selfCollected, selfRan, selfR)
		fmt.Printf("matches S46: %v\n", ok)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "cycles: failed: the observed behaviour differs from S46")
		os.Exit(1)
	}
}
