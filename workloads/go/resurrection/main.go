// Command resurrection is the Go twin of the testbed's resurrection: a finalizer that
// stores its object into a global, with a cleanup and a weak pointer on the same object
// (SEMANTICS.md S47, S48).
//
// One object X (a pointer field and a data word) gets a runtime.SetFinalizer that stores
// X into a package-level variable, a runtime.AddCleanup, and a weak.Make pointer. X is
// dropped and --rounds rounds run of one runtime.GC() then a drain (twin.Drain: until
// the runtime's executed finalizers and cleanups catch up with the queued ones); then
// the variable is cleared (the resurrected reference dropped) and --rounds more rounds
// run. Rounds are numbered from 1 across both phases; the callbacks and the weak
// pointer's state record the round they were seen in.
//
// Findings as the testbed's (finalizer_runs, finalizer_round, resurrected,
// resurrection_dropped_after_round, weak_cleared_at_cycle, weak_gone_in_finalizer,
// weak_stays_cleared, cleanup_runs, cleanup_round, cleanup_ran_after_finalizer,
// second_death_runs_finalizer, collected, matches_semantics). Go has no counterpart of
// the testbed's Heap::is_allocated: collected is whether X's cleanup ran, which Go
// queues in the sweep that frees X (S34). A mismatch makes the exit status 1.
//
//	go run ./resurrection [--rounds 3] [--json] [--out DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"weak"

	"testbed-twins/internal/twin"
)

// obj is the resurrected object: a pointer field and a data word.
type obj struct {
	next *obj
	x    uint64
}

var (
	// sink is the global the finalizer stores X into.
	sink         *obj
	round        atomic.Uint64
	finRuns      atomic.Uint64
	finRound     atomic.Uint64
	cleanupRuns  atomic.Uint64
	cleanupRound atomic.Uint64
	weakGoneInFn atomic.Bool
)

func first(cell *atomic.Uint64) { cell.CompareAndSwap(0, round.Load()) }

// build makes X with its finalizer, cleanup and weak pointer, and drops X.
//
//go:noinline
func build() weak.Pointer[obj] {
	x := &obj{x: 42}
	w := weak.Make(x)
	runtime.SetFinalizer(x, func(p *obj) {
		finRuns.Add(1)
		first(&finRound)
		weakGoneInFn.Store(w.Value() == nil)
		sink = p
	})
	runtime.AddCleanup(x, func(struct{}) {
		cleanupRuns.Add(1)
		first(&cleanupRound)
	}, struct{}{})
	return w
}

func main() {
	rounds := flag.Uint64("rounds", 3, "rounds of runtime.GC() + drain before the resurrected reference is dropped, and again after (2..=1000)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "resurrection", Mutators: 1, MaxMutators: 1})
	flag.Parse()
	c.Check()
	if *rounds < 2 || *rounds > 1000 {
		twin.Usage("invalid value %d for --rounds: expected 2..=1000", *rounds)
	}
	c.Set("rounds", *rounds)
	var latency []int64

	run := c.Start()
	w := build()
	var weakClearedAt, r uint64
	weakStays := true
	step := func() {
		r++
		round.Store(r)
		t := time.Now()
		runtime.GC()
		if !twin.Drain(twin.DrainLimit) {
			fmt.Fprintln(os.Stderr, "resurrection: the callback queues did not empty")
		}
		latency = append(latency, int64(time.Since(t)))
		gone := w.Value() == nil
		if gone && weakClearedAt == 0 {
			weakClearedAt = r
		} else if !gone && weakClearedAt > 0 {
			weakStays = false
		}
	}
	for range *rounds {
		step()
	}
	resurrected := sink != nil
	sink = nil
	for range *rounds {
		step()
	}

	fr, fRound := finRuns.Load(), finRound.Load()
	cr, cRound := cleanupRuns.Load(), cleanupRound.Load()
	goneInFin := weakGoneInFn.Load()
	cleanupAfter := cr == 1 && cRound > fRound && fRound > 0
	secondDeath := fr > 1
	collected := cr == 1
	ok := fr == 1 && fRound == 1 && resurrected && weakClearedAt == 1 && goneInFin && weakStays &&
		cleanupAfter && cRound > *rounds && !secondDeath && collected

	run.Finish(latency, twin.Registered{Finalizers: 1, Cleanups: 1}, map[string]any{
		"rounds":                           *rounds,
		"finalizer_runs":                   fr,
		"finalizer_round":                  fRound,
		"resurrected":                      resurrected,
		"resurrection_dropped_after_round": *rounds,
		"weak_cleared_at_cycle":            weakClearedAt,
		"weak_gone_in_finalizer":           goneInFin,
		"weak_stays_cleared":               weakStays,
		"cleanup_runs":                     cr,
		"cleanup_round":                    cRound,
		"cleanup_ran_after_finalizer":      cleanupAfter,
		"second_death_runs_finalizer":      secondDeath,
		"collected":                        collected,
		"matches_semantics":                ok,
	})
	if c.Text() {
		fmt.Printf("resurrection: %d rounds resurrected, %d after (Go %s)\n", *rounds, *rounds, runtime.Version())
		fmt.Printf("finalizer ran %d time(s), first in round %d\n", fr, fRound)
		fmt.Printf("weak pointer gone after round %d (in the finalizer: %v), stays gone: %v\n", weakClearedAt, goneInFin, weakStays)
		fmt.Printf("cleanup ran %d time(s), in round %d\n", cr, cRound)
		fmt.Printf("object collected (its cleanup ran): %v; matches S47/S48: %v\n", collected, ok)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "resurrection: failed: the observed behaviour differs from S47/S48")
		os.Exit(1)
	}
}
