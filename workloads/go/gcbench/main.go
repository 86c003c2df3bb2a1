// Command gcbench is the Go twin of the testbed's gcbench: Boehm, Ellis and Kovac's
// GCBench with the same sizes (stretch tree depth 18, long-lived tree depth 16, an array
// of 500,000 float64, trees of depths 4 to 16 built top-down and bottom-up), each tree's
// construction one latency sample, and the same findings (trees, long_lived_nodes,
// array_ok, long_lived_ok; false makes the exit status 1).
//
//	go run ./gcbench [--gogc N|off] [--gomaxprocs N] [--json] [--out DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"testbed-twins/internal/twin"
)

// Node is GCBench's node: left, right; i, j (2 pointers and 2 words, as the testbed's).
type Node struct {
	left, right *Node
	i, j        int
}

const (
	stretchTreeDepth   = 18
	longLivedTreeDepth = 16
	arraySize          = 500000
	minTreeDepth       = 4
	maxTreeDepth       = 16
)

func treeSize(depth int) int64 { return 1<<(depth+1) - 1 }

func numIters(depth int) int64 { return 2 * treeSize(stretchTreeDepth) / treeSize(depth) }

// populate builds a tree top-down below node.
func populate(depth int, node *Node) {
	if depth <= 0 {
		return
	}
	node.left = &Node{}
	node.right = &Node{}
	populate(depth-1, node.left)
	populate(depth-1, node.right)
}

// makeTree builds a tree bottom-up.
func makeTree(depth int) *Node {
	if depth <= 0 {
		return &Node{}
	}
	return &Node{left: makeTree(depth - 1), right: makeTree(depth - 1)}
}

func countNodes(n *Node) int64 {
	if n == nil {
		return 0
	}
	return 1 + countNodes(n.left) + countNodes(n.right)
}

// sink keeps each temporary tree's root on the heap, as the testbed's handle does.
var sink *Node

func main() {
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "gcbench", Mutators: 1, MaxMutators: 1})
	flag.Parse()
	c.Check()

	var total int64
	for d := minTreeDepth; d <= maxTreeDepth; d += 2 {
		total += 2 * numIters(d)
	}
	// Samples outside Go's heap, as the testbed's histograms are outside its heap.
	latency := twin.OffHeapSamples(int(total))
	text := []string{"Garbage Collector Test",
		fmt.Sprintf(" Stretching memory with a binary tree of depth %d", stretchTreeDepth)}
	var trees []map[string]any

	run := c.Start()
	sink = makeTree(stretchTreeDepth)
	sink = nil

	text = append(text, fmt.Sprintf(" Creating a long-lived binary tree of depth %d", longLivedTreeDepth))
	longLived := &Node{}
	populate(longLivedTreeDepth, longLived)

	text = append(text, fmt.Sprintf(" Creating a long-lived array of %d doubles", arraySize))
	array := make([]float64, arraySize)
	for i := 1; i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}

	for d := minTreeDepth; d <= maxTreeDepth; d += 2 {
		iters := numIters(d)
		text = append(text, fmt.Sprintf("Creating %d trees of depth %d", iters, d))
		start := time.Now()
		for range iters {
			t := time.Now()
			temp := &Node{}
			sink = temp
			populate(d, temp)
			sink = nil
			latency = append(latency, int64(time.Since(t)))
		}
		topDown := time.Since(start)
		text = append(text, fmt.Sprintf("\tTop down construction took %d msec", topDown.Milliseconds()))
		start = time.Now()
		for range iters {
			t := time.Now()
			sink = makeTree(d)
			sink = nil
			latency = append(latency, int64(time.Since(t)))
		}
		bottomUp := time.Since(start)
		text = append(text, fmt.Sprintf("\tBottom up construction took %d msec", bottomUp.Milliseconds()))
		trees = append(trees, map[string]any{
			"depth": d, "count": iters,
			"top_down_ms":  float64(topDown.Nanoseconds()) / 1e6,
			"bottom_up_ms": float64(bottomUp.Nanoseconds()) / 1e6,
		})
	}
	nodes := countNodes(longLived)
	arrayOK := true
	for i := 1; i < arraySize/2; i++ {
		arrayOK = arrayOK && array[i] == 1.0/float64(i)
	}
	treeOK := nodes == treeSize(longLivedTreeDepth)
	s := run.Finish(latency, twin.Registered{}, map[string]any{
		"trees": trees, "long_lived_ok": treeOK && arrayOK,
		"long_lived_nodes": nodes, "array_ok": arrayOK,
	})
	if c.Text() {
		for _, l := range text {
			fmt.Println(l)
		}
		fmt.Printf("Completed in %.0f msec\n", s.WallS*1e3)
		fmt.Printf("Completed %d collections; pauses p50 %.2f ms, p99 %.2f ms, max %.2f ms (bucket upper edges); heap peak %.1f MiB\n",
			s.GCCycles, float64(s.PauseNs.P50)/1e6, float64(s.PauseNs.P99)/1e6,
			float64(s.PauseNs.Max)/1e6, float64(s.HeapPeakBytes)/(1<<20))
	}
	if !treeOK || !arrayOK {
		fmt.Fprintf(os.Stderr, "gcbench: failed: the long-lived tree has %d of %d nodes; array ok: %v\n",
			nodes, treeSize(longLivedTreeDepth), arrayOK)
		os.Exit(1)
	}
}
