// Command finbench is the Go twin of the testbed's finbench: --objects small objects (one
// pointer field, one word: 16 bytes, as the testbed's Shape::new("obj", 1, 1)) each get
// a finalizer (runtime.SetFinalizer) that counts itself; a table (a []*obj) keeps them
// reachable while they are registered, then is dropped, runtime.GC() runs once, and the
// program waits until every finalizer has run — the finalizers count themselves down and
// the last one closes a channel (no sleeping). Phases: register_ms (allocate, set the
// finalizer, store in the table), gc_ms (the runtime.GC call), drain_ms (from its return
// to the last finalizer), collect_run_ms (both), total_ms, finalizers_per_s (executed
// over collect_run). One latency sample is one batch of 1000 registrations. executed
// must equal --objects (exit status 1 otherwise).
//
//	go run ./finbench [--objects 1000000] [--json] [--out DIR]
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

// obj is the registered object: a pointer field (left nil) and a data word.
type obj struct {
	next *obj
	x    uint64
}

// batch is the registrations one latency sample times.
const batch = 1000

var (
	executed atomic.Uint64
	target   uint64
	done     = make(chan struct{})
)

// finalize counts one finalizer; the last one closes done.
func finalize(*obj) {
	if executed.Add(1) == target {
		close(done)
	}
}

func main() {
	objects := flag.Uint64("objects", 1000000, "objects to allocate, each with a finalizer (1..=100000000)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "finbench", Mutators: 1, MaxMutators: 1})
	flag.Parse()
	c.Check()
	n := *objects
	if n < 1 || n > 100000000 {
		twin.Usage("invalid value %d for --objects: expected 1..=100000000", n)
	}
	target = n
	latency := make([]int64, 0, (n+batch-1)/batch)

	run := c.Start()
	t0 := time.Now()
	table := make([]*obj, n)
	for i := uint64(0); i < n; i += batch {
		t := time.Now()
		for j := i; j < min(i+batch, n); j++ {
			o := &obj{x: j}
			runtime.SetFinalizer(o, finalize)
			table[j] = o
		}
		latency = append(latency, int64(time.Since(t)))
	}
	register := time.Since(t0)
	runtime.KeepAlive(table)
	table = nil
	t1 := time.Now()
	runtime.GC()
	gc := time.Since(t1)
	<-done
	collectRun := time.Since(t1)
	total := time.Since(t0)
	ran := executed.Load()

	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	s := run.Finish(latency, twin.Registered{Finalizers: n}, map[string]any{
		"objects": n, "executed": ran, "executed_ok": ran == n,
		"register_ms": ms(register), "gc_ms": ms(gc), "drain_ms": ms(collectRun - gc),
		"collect_run_ms": ms(collectRun), "total_ms": ms(total),
		"finalizers_per_s": float64(ran) / collectRun.Seconds(),
	})
	if c.Text() {
		fmt.Printf("finbench: %d objects with finalizers (Go %s)\n", n, runtime.Version())
		fmt.Printf("register     %8.1f ms (allocate, SetFinalizer, store)\n", ms(register))
		fmt.Printf("collect+run  %8.1f ms (runtime.GC %.1f ms, then finalizers %.1f ms)\n", ms(collectRun), ms(gc), ms(collectRun-gc))
		fmt.Printf("total        %8.1f ms; %.2f M finalizers/s over collect+run\n", ms(total), float64(ran)/collectRun.Seconds()/1e6)
		fmt.Printf("executed %d of %d; %d collections, pauses p50 %.2f ms, max %.2f ms (bucket upper edges); heap peak %.1f MiB\n",
			ran, n, s.GCCycles, float64(s.PauseNs.P50)/1e6, float64(s.PauseNs.Max)/1e6, float64(s.HeapPeakBytes)/(1<<20))
	}
	if ran != n {
		fmt.Fprintf(os.Stderr, "finbench: failed: %d of %d finalizers ran\n", ran, n)
		os.Exit(1)
	}
}
