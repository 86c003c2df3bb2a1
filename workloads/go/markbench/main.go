// Command markbench is the Go twin of the testbed's markbench: one goroutine holds a
// complete binary tree of GCBench's Node (2 pointers, 2 words) and forced cycles
// (runtime.GC) re-mark it, nothing else allocating. It prints, per cycle (means over
// the cycles, from runtime/metrics' mark CPU classes: assist + dedicated + fractional +
// idle), the mark's CPU time and ns of mark CPU per object; the wall column is
// runtime.GC's whole call (it sweeps too). GODEBUG=gctrace=1 gives each cycle's
// mark wall and CPU on stderr, the figures to set beside the testbed's.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

type node struct {
	left, right *node
	i, j        int
}

func tree(depth int) *node {
	n := &node{}
	if depth > 0 {
		n.left = tree(depth - 1)
		n.right = tree(depth - 1)
	}
	return n
}

var markClasses = []string{
	"/cpu/classes/gc/mark/assist:cpu-seconds",
	"/cpu/classes/gc/mark/dedicated:cpu-seconds",
	"/cpu/classes/gc/mark/idle:cpu-seconds",
}

func markCPU() float64 {
	samples := make([]metrics.Sample, len(markClasses))
	for i, name := range markClasses {
		samples[i].Name = name
	}
	metrics.Read(samples)
	total := 0.0
	for _, s := range samples {
		total += s.Value.Float64()
	}
	return total
}

func main() {
	depth := flag.Int("depth", 18, "depth of the tree (2^(depth+1) - 1 nodes)")
	cycles := flag.Int("cycles", 5, "forced cycles")
	gomaxprocs := flag.Int("gomaxprocs", 0, "GOMAXPROCS (default: the environment, else all cores)")
	asJSON := flag.Bool("json", false, "print JSON instead of a line")
	flag.Parse()
	if *gomaxprocs > 0 {
		runtime.GOMAXPROCS(*gomaxprocs)
	}
	if *depth < 1 || *depth > 24 || *cycles < 1 {
		fmt.Fprintln(os.Stderr, "markbench: --depth must be in 1..=24 and --cycles at least 1")
		os.Exit(2)
	}
	debug.SetGCPercent(-1)
	root := tree(*depth)
	runtime.GC()
	cpu0, t0 := markCPU(), time.Now()
	for i := 0; i < *cycles; i++ {
		runtime.GC()
	}
	wall := time.Since(t0).Seconds() / float64(*cycles)
	cpu := (markCPU() - cpu0) / float64(*cycles)
	runtime.KeepAlive(root)
	objects := (1 << (*depth + 1)) - 1
	report := map[string]any{
		"depth":                  *depth,
		"cycles":                 *cycles,
		"gomaxprocs":             runtime.GOMAXPROCS(0),
		"objects":                objects,
		"mark_cpu_us":            cpu * 1e6,
		"gc_call_wall_us":        wall * 1e6,
		"mark_cpu_ns_per_object": cpu * 1e9 / float64(objects),
	}
	if *asJSON {
		out, _ := json.MarshalIndent(report, "", "  ")
		fmt.Println(string(out))
		return
	}
	fmt.Printf("markbench (Go): depth %d (%d objects), %d cycles, GOMAXPROCS %d\n"+
		"mark CPU %.0f µs, runtime.GC wall %.0f µs, %.1f ns of mark CPU per object\n",
		*depth, objects, *cycles, runtime.GOMAXPROCS(0), cpu*1e6, wall*1e6, cpu*1e9/float64(objects))
}
