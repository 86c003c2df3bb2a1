// Command cleanupbench is the Go twin of the testbed's cleanupbench: as finbench, with
// runtime.AddCleanup(obj, f, i) instead of a finalizer (the argument is the object's
// index, a uint64), each cleanup adding its argument to a sum, counting itself, and then
// busy-spinning --work-us microseconds on the clock (the workload's simulated work;
// default 0). Go's runtime sizes its cleanup goroutines itself: --cleanup-workers takes
// only "auto". Phases and checks as finbench's (cleanups_per_s instead of
// finalizers_per_s; args_ok: the arguments' sum is 0+1+...+(n-1)).
//
//	go run ./cleanupbench [--objects 1000000] [--work-us 0] [--json] [--out DIR]
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
	argSum   atomic.Uint64
	target   uint64
	work     time.Duration
	done     = make(chan struct{})
)

// cleanup records its argument, spins for the work, and counts itself; the last one
// closes done.
func cleanup(arg uint64) {
	argSum.Add(arg)
	if work > 0 {
		for start := time.Now(); time.Since(start) < work; {
		}
	}
	if executed.Add(1) == target {
		close(done)
	}
}

func main() {
	objects := flag.Uint64("objects", 1000000, "objects to allocate, each with a cleanup (1..=100000000)")
	workUs := flag.Uint64("work-us", 0, "microseconds each cleanup busy-spins (0..=1000000)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "cleanupbench", Mutators: 1, MaxMutators: 1, CleanupWorkers: true})
	flag.Parse()
	c.Check()
	n := *objects
	if n < 1 || n > 100000000 {
		twin.Usage("invalid value %d for --objects: expected 1..=100000000", n)
	}
	if *workUs > 1000000 {
		twin.Usage("invalid value %d for --work-us: expected 0..=1000000", *workUs)
	}
	target, work = n, time.Duration(*workUs)*time.Microsecond
	latency := make([]int64, 0, (n+batch-1)/batch)

	run := c.Start()
	t0 := time.Now()
	table := make([]*obj, n)
	for i := uint64(0); i < n; i += batch {
		t := time.Now()
		for j := i; j < min(i+batch, n); j++ {
			o := &obj{x: j}
			runtime.AddCleanup(o, cleanup, j)
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
	argsOK := argSum.Load() == n*(n-1)/2

	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	s := run.Finish(latency, twin.Registered{Cleanups: n}, map[string]any{
		"objects": n, "work_us": *workUs, "executed": ran, "executed_ok": ran == n, "args_ok": argsOK,
		"register_ms": ms(register), "gc_ms": ms(gc), "drain_ms": ms(collectRun - gc),
		"collect_run_ms": ms(collectRun), "total_ms": ms(total),
		"cleanups_per_s": float64(ran) / collectRun.Seconds(),
	})
	if c.Text() {
		fmt.Printf("cleanupbench: %d objects with cleanups, %d µs of work each (Go %s)\n", n, *workUs, runtime.Version())
		fmt.Printf("register     %8.1f ms (allocate, AddCleanup, store)\n", ms(register))
		fmt.Printf("collect+run  %8.1f ms (runtime.GC %.1f ms, then cleanups %.1f ms)\n", ms(collectRun), ms(gc), ms(collectRun-gc))
		fmt.Printf("total        %8.1f ms; %.2f M cleanups/s over collect+run\n", ms(total), float64(ran)/collectRun.Seconds()/1e6)
		fmt.Printf("executed %d of %d (arguments ok: %v); %d collections, pauses p50 %.2f ms, max %.2f ms (bucket upper edges); heap peak %.1f MiB\n",
			ran, n, argsOK, s.GCCycles, float64(s.PauseNs.P50)/1e6, float64(s.PauseNs.Max)/1e6, float64(s.HeapPeakBytes)/(1<<20))
	}
	if ran != n || !argsOK {
		fmt.Fprintf(os.Stderr, "cleanupbench: failed: %d of %d cleanups ran, arguments ok: %v\n", ran, n, argsOK)
		os.Exit(1)
	}
}
