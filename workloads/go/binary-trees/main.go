// Command binary-trees is the Go twin of the testbed's binary-trees: a stretch tree of
// depth max+1 built, checked and dropped; a long-lived tree of depth max kept throughout;
// then for each depth 4, 6, ... <= max, 2^(max-depth+4) short-lived trees built
// bottom-up, checked and dropped, shared out among --mutators goroutines (default 2) as
// the testbed shares them among its mutator threads. Sized by --depth (16) and
// --iterations (1); --duration repeats rounds instead. Each short-lived tree (build and
// check) is one latency sample. Findings as the testbed's: stretch, long_lived, depths,
// rounds, checks_ok (false makes the exit status 1).
//
//	go run ./binary-trees [--depth 16] [--mutators 2] [--json] [--out DIR]
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

// share is what one goroutine did: per depth the trees it built and their summed
// checks, its rounds, and its latencies (ns).
type share struct {
	trees, checks []uint64
	rounds        uint64
	latency       []int64
}

func worker(index, threads uint64, max int, rounds uint64, deadline time.Time) *share {
	ds := depths(max)
	s := &share{trees: make([]uint64, len(ds)), checks: make([]uint64, len(ds))}
	var perRoundMine uint64
	for _, d := range ds {
		perRoundMine += treesPerRound(max, d)/threads + 1
	}
	if deadline.IsZero() {
		// Outside Go's heap, as the testbed's histograms are outside its heap.
		s.latency = twin.OffHeapSamples(int(perRoundMine * rounds))
	}
	for {
		for i, d := range ds {
			per := treesPerRound(max, d)
			mine := per / threads
			if index < per%threads {
				mine++
			}
			for range mine {
				start := time.Now()
				c := check(makeTree(d))
				s.latency = append(s.latency, int64(time.Since(start)))
				s.checks[i] += c
				s.trees[i]++
			}
		}
		s.rounds++
		more := s.rounds < rounds
		if !deadline.IsZero() {
			more = time.Now().Before(deadline)
		}
		if !more {
			return s
		}
	}
}

func main() {
	depth := flag.Int("depth", 16, "the long-lived tree's depth and the deepest short-lived trees (4..=24)")
	iterations := flag.Uint64("iterations", 1, "rounds over the depths (ignored with --duration)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "binary-trees", Mutators: 2})
	flag.Parse()
	c.Check()
	if *depth < 4 || *depth > 24 {
		twin.Usage("invalid value %d for --depth: expected 4..=24", *depth)
	}
	if *iterations < 1 {
		twin.Usage("invalid value 0 for --iterations: expected at least 1")
	}
	max, threads := *depth, uint64(c.Mutators)

	run := c.Start()
	var deadline time.Time
	if c.Duration > 0 {
		deadline = time.Now().Add(time.Duration(c.Duration * float64(time.Second)))
	}
	stretchCheck := check(makeTree(max + 1))
	longLived := makeTree(max)

	shares := make([]*share, threads)
	var wg sync.WaitGroup
	for i := range threads {
		wg.Go(func() { shares[i] = worker(i, threads, max, *iterations, deadline) })
	}
	wg.Wait()
	longLivedCheck := check(longLived)

	text := []string{fmt.Sprintf("stretch tree of depth %d\t check: %d", max+1, stretchCheck)}
	checksOK := stretchCheck == nodes(max+1) && longLivedCheck == nodes(max)
	var rows []map[string]any
	var latency []int64
	for i, d := range depths(max) {
		var trees, sum uint64
		for _, s := range shares {
			trees += s.trees[i]
			sum += s.checks[i]
		}
		expected := trees * nodes(d)
		checksOK = checksOK && sum == expected
		text = append(text, fmt.Sprintf("%d\t trees of depth %d\t check: %d", trees, d, sum))
		rows = append(rows, map[string]any{"depth": d, "trees": trees, "check": sum, "expected": expected, "ok": sum == expected})
	}
	text = append(text, fmt.Sprintf("long lived tree of depth %d\t check: %d", max, longLivedCheck))
	var rounds []uint64
	for _, s := range shares {
		latency = append(latency, s.latency...)
		rounds = append(rounds, s.rounds)
	}
	s := run.Finish(latency, twin.Registered{}, map[string]any{
		"stretch":    map[string]any{"depth": max + 1, "check": stretchCheck, "ok": stretchCheck == nodes(max+1)},
		"long_lived": map[string]any{"depth": max, "check": longLivedCheck, "ok": longLivedCheck == nodes(max)},
		"depths":     rows,
		"rounds":     rounds,
		"checks_ok":  checksOK,
	})
	if c.Text() {
		for _, l := range text {
			fmt.Println(l)
		}
		fmt.Printf("%.0f ms on %d goroutines; %d collections, pauses p50 %.2f ms, max %.2f ms (bucket upper edges); tree p99 %.2f ms; heap peak %.1f MiB\n",
			s.WallS*1e3, threads, s.GCCycles, float64(s.PauseNs.P50)/1e6, float64(s.PauseNs.Max)/1e6,
			float64(s.MutatorLatencyNs.P99)/1e6, float64(s.HeapPeakBytes)/(1<<20))
	}
	if !checksOK {
		fmt.Fprintln(os.Stderr, "binary-trees: failed: a tree check was wrong")
		os.Exit(1)
	}
}
