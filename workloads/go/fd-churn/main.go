// Command fd-churn is the Go twin of the testbed's fd-churn: heap objects that own
// entries of a resource table (file descriptors, say), released by an explicit close, by
// a finalizer, or by a cleanup.
//
// The table is a slice of open flags behind a sync.Mutex, where an open takes the lowest
// free entry, as a Unix open takes the lowest free descriptor. --objects N times (default
// 100000) the program opens an entry, wraps it in a heap object (a pointer field, the
// descriptor and --payload-words data words: one allocation of the testbed's shape, its
// type made by reflect.StructOf), uses it, and drops it. --release says who releases the
// entry: explicit (closed before the object is dropped, as a defer f.Close()), finalizer
// (a runtime.SetFinalizer on the object, Go's os.File), or cleanup (a
// runtime.AddCleanup whose argument is the descriptor). A release delay is the
// /gc/cycles/total:gc-cycles count at the release minus the count at the object's last
// use (the testbed's completed cycles).
//
// At the end the run loops runtime.GC() then a drain (twin.Drain) until every entry is
// released (at most 10 rounds). Findings as the testbed's: release, objects, peak_open,
// released, leaked, double_releases, mean_release_delay_cycles,
// max_release_delay_cycles, heap_peak_bytes (summary.json's, the sampled
// /memory/classes/heap/objects:bytes peak) and final_rounds. A leaked or doubly released
// entry makes the exit status 1.
//
//	go run ./fd-churn [--objects 100000] [--release explicit|finalizer|cleanup] [--payload-words 64]
package main

import (
	"container/heap"
	"flag"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"testbed-twins/internal/twin"
)

// finalRounds is the runtime.GC() rounds the end may take before the remaining entries
// count as leaked.
const finalRounds = 10

// lowest is a min-heap of free entries.
type lowest []int

func (h lowest) Len() int           { return len(h) }
func (h lowest) Less(i, j int) bool { return h[i] < h[j] }
func (h lowest) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lowest) Push(x any)        { *h = append(*h, x.(int)) }
func (h *lowest) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// table is the resource table.
type table struct {
	mu                             sync.Mutex
	open                           []bool
	free                           lowest
	lastUse                        []uint64
	openNow, peakOpen, released    uint64
	doubleReleases, delaySum, dMax uint64
}

func (t *table) openEntry() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var fd int
	if t.free.Len() > 0 {
		fd = heap.Pop(&t.free).(int)
	} else {
		t.open = append(t.open, false)
		t.lastUse = append(t.lastUse, 0)
		fd = len(t.open) - 1
	}
	t.open[fd] = true
	t.openNow++
	t.peakOpen = max(t.peakOpen, t.openNow)
	return fd
}

// closeLocked closes fd at cycle count now.
func (t *table) closeLocked(fd int, now uint64) {
	if fd >= len(t.open) || !t.open[fd] {
		t.doubleReleases++
		return
	}
	t.open[fd] = false
	heap.Push(&t.free, fd)
	t.openNow--
	t.released++
	delay := now - min(now, t.lastUse[fd])
	t.delaySum += delay
	t.dMax = max(t.dMax, delay)
}

func (t *table) close(fd int, now uint64) {
	t.mu.Lock()
	t.closeLocked(fd, now)
	t.mu.Unlock()
}

func (t *table) releasedCount() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.released
}

// The object's layout: the pointer field, then the descriptor, then the payload.
const (
	fdOffset      = 8
	payloadOffset = 16
)

func word(p unsafe.Pointer, off uintptr) *uint64 { return (*uint64)(unsafe.Add(p, off)) }

func main() {
	objects := flag.Uint64("objects", 100000, "objects opened, used and dropped, one after the other (1..=100000000)")
	release := flag.String("release", "explicit", "how each object's entry is released: explicit, finalizer or cleanup")
	payload := flag.Uint64("payload-words", 64, "data words of each object besides its descriptor (0..=4096)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "fd-churn", Mutators: 1, MaxMutators: 1})
	flag.Parse()
	c.Check()
	if *objects < 1 || *objects > 100000000 {
		twin.Usage("invalid value %d for --objects: expected 1..=100000000", *objects)
	}
	if *release != "explicit" && *release != "finalizer" && *release != "cleanup" {
		twin.Usage("invalid value %q for --release: expected explicit, finalizer or cleanup", *release)
	}
	if *payload > 4096 {
		twin.Usage("invalid value %d for --payload-words: expected 0..=4096", *payload)
	}
	c.Set("objects", *objects)
	c.Set("release", *release)
	c.Set("payload_words", *payload)
	// The testbed's shape: one reference slot, the descriptor and the payload words.
	fileType := reflect.StructOf([]reflect.StructField{
		{Name: "Next", Type: reflect.TypeFor[*byte]()},
		{Name: "Fd", Type: reflect.TypeFor[uint64]()},
		{Name: "Payload", Type: reflect.ArrayOf(int(*payload), reflect.TypeFor[uint64]())},
	})
	tab := &table{}
	latency := make([]int64, 0, *objects)
	finalize := func(obj any) {
		fd := int(*word(reflect.ValueOf(obj).UnsafePointer(), fdOffset))
		tab.close(fd, twin.GCCycles())
	}
	cleanup := func(fd int) { tab.close(fd, twin.GCCycles()) }

	run := c.Start()
	for i := uint64(0); i < *objects; i++ {
		t := time.Now()
		fd := tab.openEntry()
		obj := reflect.New(fileType).Interface()
		p := reflect.ValueOf(obj).UnsafePointer()
		*word(p, fdOffset) = uint64(fd)
		switch *release {
		case "finalizer":
			runtime.SetFinalizer(obj, finalize)
		case "cleanup":
			runtime.AddCleanup((*byte)(p), cleanup, fd)
		}
		// Use it: read the descriptor and touch the payload.
		used := int(*word(p, fdOffset))
		if *payload > 0 {
			*word(p, payloadOffset) = i
		}
		now := twin.GCCycles()
		tab.mu.Lock()
		tab.lastUse[used] = now
		if *release == "explicit" {
			tab.closeLocked(used, now)
		}
		tab.mu.Unlock()
		runtime.KeepAlive(obj) // the last use
		latency = append(latency, int64(time.Since(t)))
	}
	rounds := 0
	for tab.releasedCount() < *objects && rounds < finalRounds {
		rounds++
		runtime.GC()
		if !twin.Drain(twin.DrainLimit) {
			fmt.Fprintln(os.Stderr, "fd-churn: the callback queues did not empty")
		}
	}
	tab.mu.Lock()
	leaked, peak, released, doubles, maxDelay := tab.openNow, tab.peakOpen, tab.released, tab.doubleReleases, tab.dMax
	meanDelay := 0.0
	if released > 0 {
		meanDelay = float64(tab.delaySum) / float64(released)
	}
	tab.mu.Unlock()
	reg := twin.Registered{}
	switch *release {
	case "finalizer":
		reg.Finalizers = *objects
	case "cleanup":
		reg.Cleanups = *objects
	}
	s := run.Finish(latency, reg, func(s *twin.Summary) any {
		return map[string]any{
			"release": *release, "objects": *objects, "peak_open": peak, "released": released,
			"leaked": leaked, "double_releases": doubles, "mean_release_delay_cycles": meanDelay,
			"max_release_delay_cycles": maxDelay, "heap_peak_bytes": s.HeapPeakBytes, "final_rounds": rounds,
		}
	})
	if c.Text() {
		fmt.Printf("fd-churn: %d objects released by %s: peak %d open, %d released, %d leaked (Go %s)\n",
			*objects, *release, peak, released, leaked, runtime.Version())
		fmt.Printf("release delay: mean %.2f cycles, max %d; heap peak %d bytes (sampled); %d final gc() rounds\n",
			meanDelay, maxDelay, s.HeapPeakBytes, rounds)
	}
	if leaked > 0 || doubles > 0 || released != *objects {
		fmt.Fprintf(os.Stderr, "fd-churn: failed: %d of %d entries leaked, %d released twice\n", leaked, *objects, doubles)
		os.Exit(1)
	}
}
