// Command allocbench is the Go twin of the testbed's allocbench: nanoseconds per small
// allocation with no collection running (GOGC off, each new object dropped at once by
// overwriting a package-level variable), for the testbed's three shapes: 2 words with 1
// pointer, 4 words with 2 pointers (GCBench's Node) and 8 pointer-free words. Each figure
// is the median of --runs runs of --objects allocations; a runtime.GC() between runs
// starts each from an empty heap, outside the timed region.
//
// With --json it prints the testbed's rows (shape, bytes) with go_ns, Go's figure, in
// place of testbed_ns, mimalloc_ns and ratio: Go has no malloc of its own to set beside
// it (scripts/compare-go.sh sets go_ns beside the testbed's testbed_ns). Like the
// testbed's allocbench it takes only --objects, --runs and --json.
//
//	go run ./allocbench [--objects 2000000] [--runs 7] [--json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"time"
	"unsafe"
)

type twoWords struct {
	ref  *twoWords
	data uint64
}

type node struct {
	left, right *node
	i, j        int64
}

type noscan [8]uint64

// sink is where each allocation goes, so that it escapes to the heap and is dropped by
// the next one.
var sink unsafe.Pointer

//go:noinline
func allocate[T any](n uint64) time.Duration {
	t := time.Now()
	for range n {
		sink = unsafe.Pointer(new(T))
	}
	return time.Since(t)
}

type row struct {
	Shape string  `json:"shape"`
	Bytes uintptr `json:"bytes"`
	GoNs  float64 `json:"go_ns"`
}

func measure[T any](name string, objects, runs uint64) row {
	var ns []float64
	for range runs {
		ns = append(ns, float64(allocate[T](objects).Nanoseconds())/float64(objects))
		sink = nil
		runtime.GC()
	}
	slices.Sort(ns)
	m := ns[len(ns)/2]
	if len(ns)%2 == 0 {
		m = (ns[len(ns)/2-1] + ns[len(ns)/2]) / 2
	}
	var zero T
	return row{Shape: name, Bytes: unsafe.Sizeof(zero), GoNs: m}
}

func main() {
	objects := flag.Uint64("objects", 2000000, "allocations per timed run (>= 1)")
	runs := flag.Uint64("runs", 7, "timed runs per figure; the median is reported (>= 1)")
	asJSON := flag.Bool("json", false, "print JSON instead of a table")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "error: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if *objects < 1 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "error: --objects and --runs take an integer of at least 1")
		os.Exit(2)
	}
	debug.SetGCPercent(-1)
	runtime.GC()
	rows := []row{
		measure[twoWords]("2 words, 1 ref", *objects, *runs),
		measure[node]("4 words, 2 refs (GCBench Node)", *objects, *runs),
		measure[noscan]("8 words, noscan", *objects, *runs),
	}
	if *asJSON {
		text, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Println(string(text))
		return
	}
	fmt.Printf("%-34s %6s %12s\n", "shape", "bytes", "Go ns")
	for _, r := range rows {
		fmt.Printf("%-34s %6d %12.2f\n", r.Shape, r.Bytes, r.GoNs)
	}
	fmt.Printf("(median of %d runs of %d allocations, GOGC off; Go %s)\n", *runs, *objects, runtime.Version())
}
