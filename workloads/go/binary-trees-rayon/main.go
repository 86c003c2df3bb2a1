// Command binary-trees-rayon is the Go twin of the testbed's binary-trees-rayon, the
// Benchmarks Game's binary-trees with its depths in parallel: a stretch tree of depth
// max+1 built, checked and dropped; a long-lived tree of depth max kept throughout; then
// one goroutine per depth 4, 6, ... <= max (as the Benchmarks Game's Go programs do), each
// building 2^(max-depth+4) short-lived trees bottom-up, checking and dropping each, with
// at most --mutators (default 2) of them at work at once: the counterpart of the
// testbed's rayon pool of --mutators mutator threads (with --mutators >= GOMAXPROCS it is
// the Benchmarks Game's unbounded shape). Sized by --depth (16) and --iterations (1);
// --duration repeats rounds instead. Each short-lived tree (build and check) is one
// latency sample. Findings as the testbed's: stretch, long_lived, depths, rounds,
// pool_threads, checks_ok (false makes the exit status 1).
//
//	go run ./binary-trees-rayon [--depth 16] [--mutators 2] [--json] [--out DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"testbed-twins/internal/twin"
)

// TreeNode has a left and a right child (2 pointers, as the testbed's shape).
type TreeNode struct{ left, right *TreeNode }

const minDepth = 4

func nodes(depth int) uint64 { return 1<<(depth+1) - 1 }

func depths(max int) []int {
	var ds []int
	for d := minDepth; d <= max; d += 2 {
		ds = append(ds, d)
	}
	return ds
}

func treesPerRound(max, depth int) uint64 { return 1 << (max - depth + minDepth) }

func makeTree(depth int) *TreeNode {
	if depth <= 0 {
		return &TreeNode{}
	}
	return &TreeNode{left: makeTree(depth - 1), right: makeTree(depth - 1)}
}

func check(n *TreeNode) uint64 {
	if n == nil {
		return 0
	}
	return 1 + check(n.left) + check(n.right)
}

// depthResult is one depth's task in one round: its summed checks and latencies (ns).
type depthResult struct {
	check   uint64
	latency []int64
}

func depthTask(max, d int) depthResult {
	n := treesPerRound(max, d)
	r := depthResult{latency: make([]int64, 0, n)}
	for range n {
		start := time.Now()
		r.check += check(makeTree(d))
		r.latency = append(r.latency, int64(time.Since(start)))
	}
	return r
}

// rounds runs the depths in parallel, one goroutine each with at most `workers` at work,
// round after round; returns per depth the trees and summed checks, the rounds, and the
// latencies.
func rounds(max, workers int, iterations uint64, deadline time.Time) ([]uint64, []uint64, uint64, []int64) {
	ds := depths(max)
	trees, checks := make([]uint64, len(ds)), make([]uint64, len(ds))
	var latency []int64
	var done uint64
	slots := make(chan struct{}, workers)
	for {
		results := make([]depthResult, len(ds))
		var wg sync.WaitGroup
		for i, d := range ds {
			wg.Go(func() {
				slots <- struct{}{}
				results[i] = depthTask(max, d)
				<-slots
			})
		}
		wg.Wait()
		for i, r := range results {
			checks[i] += r.check
			trees[i] += treesPerRound(max, ds[i])
			latency = append(latency, r.latency...)
		}
		done++
		more := done < iterations
		if !deadline.IsZero() {
			more = time.Now().Before(deadline)
		}
		if !more {
			return trees, checks, done, latency
		}
	}
}

func main() {
	depth := flag.Int("depth", 16, "the long-lived tree's depth and the deepest short-lived trees (4..=24)")
	iterations := flag.Uint64("iterations", 1, "rounds over the depths (ignored with --duration)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "binary-trees-rayon", Mutators: 2})
	flag.Parse()
	c.Check()
	if *depth < 4 || *depth > 24 {
		twin.Usage("invalid value %d for --depth: expected 4..=24", *depth)
	}
	if *iterations < 1 {
		twin.Usage("invalid value 0 for --iterations: expected at least 1")
	}
	max := *depth

	run := c.Start()
	var deadline time.Time
	if c.Duration > 0 {
		deadline = time.Now().Add(time.Duration(c.Duration * float64(time.Second)))
	}
	stretchCheck := check(makeTree(max + 1))
	longLived := makeTree(max)
	trees, checks, done, latency := rounds(max, c.Mutators, *iterations, deadline)
	longLivedCheck := check(longLived)

	text := []string{fmt.Sprintf("stretch tree of depth %d\t check: %d", max+1, stretchCheck)}
	checksOK := stretchCheck == nodes(max+1) && longLivedCheck == nodes(max)
	var rows []map[string]any
	for i, d := range depths(max) {
		expected := trees[i] * nodes(d)
		checksOK = checksOK && checks[i] == expected
		text = append(text, fmt.Sprintf("%d\t trees of depth %d\t check: %d", trees[i], d, checks[i]))
		rows = append(rows, map[string]any{"depth": d, "trees": trees[i], "check": checks[i], "expected": expected, "ok": checks[i] == expected})
	}
	text = append(text, fmt.Sprintf("long lived tree of depth %d\t check: %d", max, longLivedCheck))
	s := run.Finish(latency, twin.Registered{}, map[string]any{
		"stretch":      map[string]any{"depth": max + 1, "check": stretchCheck, "ok": stretchCheck == nodes(max+1)},
		"long_lived":   map[string]any{"depth": max, "check": longLivedCheck, "ok": longLivedCheck == nodes(max)},
		"depths":       rows,
		"rounds":       []uint64{done},
		"pool_threads": c.Mutators,
		"checks_ok":    checksOK,
	})
	if c.Text() {
		for _, l := range text {
			fmt.Println(l)
		}
		fmt.Printf("%.0f ms with %d depth goroutines at work at once; %d collections, pauses p50 %.2f ms, max %.2f ms (bucket upper edges); tree p99 %.2f ms; heap peak %.1f MiB\n",
			s.WallS*1e3, c.Mutators, s.GCCycles, float64(s.PauseNs.P50)/1e6, float64(s.PauseNs.Max)/1e6,
			float64(s.MutatorLatencyNs.P99)/1e6, float64(s.HeapPeakBytes)/(1<<20))
	}
	if !checksOK {
		fmt.Fprintln(os.Stderr, "binary-trees-rayon: failed: a tree check was wrong")
		os.Exit(1)
	}
}
