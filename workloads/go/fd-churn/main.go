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
// --idle-ms MS (default 0): after the churn the program allocates nothing for MS
// milliseconds (time.Sleep); no cycle starts without allocation, so the entries of
// objects dropped since the last cycle stay open under finalizer and cleanup. A sampler
// goroutine records [t_ms, open, gc_cycles, span_bytes] every --sample-ms (default 10)
// into a slice allocated before the run (span_bytes: /memory/classes/heap/objects:bytes
// plus /memory/classes/heap/unused:bytes, the bytes of the spans holding objects, read
// with metrics.Read into preallocated samples, so the sampler allocates nothing itself).
//
// At the end the run loops runtime.GC() then a drain (twin.Drain), at least 3 rounds and
// until every entry is released (at most 10), recording after each the open entries and
// span bytes (end_rounds). close_rounds is the first round after which none is open,
// reclaim_rounds the first whose span bytes are within the slack of the last round's
// (half the bytes of the objects whose entries were open when the end began, at least
// 64 KiB; the objects' size as reflect gives it, not their size class) (a
// finalized object's memory comes back one cycle after its finalizer ran, S43; a
// cleaned-up one's with the cycle that queues the cleanup, S44). Findings as the
// testbed's: release, objects, peak_open, released, leaked, double_releases,
// mean_release_delay_cycles, max_release_delay_cycles, heap_peak_bytes (summary.json's,
// the sampled /memory/classes/heap/objects:bytes peak), live_bytes_median and _max
// (/gc/heap/live:bytes at each cycle of the churn, read when the cycle count changes),
// span_bytes_peak, span_bytes_mean (over the churn's samples), final_rounds, end_rounds,
// close_rounds, reclaim_rounds, idle_ms, idle, phases, series_columns and series. A
// leaked or doubly released entry makes the exit status 1.
//
//	go run ./fd-churn [--objects 100000] [--release explicit|finalizer|cleanup] [--payload-words 64] [--idle-ms 0]
package main

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"testbed-twins/internal/twin"
)

// finalRounds is the runtime.GC() rounds the end may take before the remaining entries
// count as leaked.
const finalRounds = 10

// minRounds is the runtime.GC() rounds the end takes at least; reclaimSlack the least
// span bytes within which a round's count as the last round's (the slack is half the
// bytes of the objects whose entries were open when the end began, if more).
const (
	minRounds    = 3
	reclaimSlack = 64 * 1024
)

// spanReader reads the bytes of the spans holding objects without allocating.
type spanReader []metrics.Sample

func newSpanReader() spanReader {
	return spanReader{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
}

// read returns span bytes, completed cycles and the last cycle's live bytes.
func (r spanReader) read() (uint64, uint64, uint64) {
	metrics.Read(r)
	return r[0].Value.Uint64() + r[1].Value.Uint64(), r[2].Value.Uint64(), r[3].Value.Uint64()
}

// sampler records [t_ms, open, gc_cycles, span_bytes] every period until stop is set,
// four int64s a sample into series (memory mapped outside Go's heap: twin.OffHeapSamples).
func sampler(tab *table, t0 time.Time, every time.Duration, stop *atomic.Bool, series *[]int64, done chan<- struct{}) {
	r := newSpanReader()
	for {
		tab.mu.Lock()
		open := tab.openNow
		tab.mu.Unlock()
		spans, cycles, _ := r.read()
		*series = append(*series, time.Since(t0).Milliseconds(), int64(open), int64(cycles), int64(spans))
		if stop.Load() {
			close(done)
			return
		}
		time.Sleep(every)
	}
}

// firstRound is the 1-based round after which done first holds, or 0.
func firstRound(rounds [][2]uint64, done func([2]uint64) bool) int {
	for i, r := range rounds {
		if done(r) {
			return i + 1
		}
	}
	return 0
}

// lowest is a min-heap of free entries. It is written out for ints rather than run
// through container/heap, whose Push and Pop take and return `any`: boxing an entry
// above 255 allocates, bytes the testbed's table (a Rust BinaryHeap) does not allocate.
type lowest []int

func (h lowest) Len() int { return len(h) }

// push adds fd, moving it up past every larger parent.
func (h *lowest) push(fd int) {
	*h = append(*h, fd)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent] <= s[i] {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

// pop removes and returns the least entry, moving the last one down from the root.
func (h *lowest) pop() int {
	s := *h
	least, n := s[0], len(s)-1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		child := 2*i + 1
		if child >= n {
			break
		}
		if child+1 < n && s[child+1] < s[child] {
			child++
		}
		if s[i] <= s[child] {
			break
		}
		s[i], s[child] = s[child], s[i]
		i = child
	}
	*h = s
	return least
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
		fd = t.free.pop()
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
	t.free.push(fd)
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

func (t *table) openCount() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.openNow
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
	idleMs := flag.Uint64("idle-ms", 0, "milliseconds the program allocates nothing after the churn (0..=600000)")
	sampleMs := flag.Uint64("sample-ms", 10, "milliseconds between two samples of the open entries (1..=10000)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "fd-churn", Mutators: 1, MaxMutators: 1})
	flag.Parse()
	c.Check()
	if *objects < 1 || *objects > 100000000 {
		twin.Usage("invalid value %d for --objects: expected 1..=100000000", *objects)
	}
	if *release != "explicit" && *release != "finalizer" && *release != "cleanup" {
		twin.Usage("invalid value %q for --release: expected explicit, finalizer or cleanup", *release)
	}
	if *idleMs > 600000 {
		twin.Usage("invalid value %d for --idle-ms: expected 0..=600000", *idleMs)
	}
	if *sampleMs < 1 || *sampleMs > 10000 {
		twin.Usage("invalid value %d for --sample-ms: expected 1..=10000", *sampleMs)
	}
	if *payload > 4096 {
		twin.Usage("invalid value %d for --payload-words: expected 0..=4096", *payload)
	}
	c.Set("objects", *objects)
	c.Set("release", *release)
	c.Set("payload_words", *payload)
	c.Set("idle_ms", *idleMs)
	c.Set("sample_ms", *sampleMs)
	// The testbed's shape: one reference slot, the descriptor and the payload words.
	fileType := reflect.StructOf([]reflect.StructField{
		{Name: "Next", Type: reflect.TypeFor[*byte]()},
		{Name: "Fd", Type: reflect.TypeFor[uint64]()},
		{Name: "Payload", Type: reflect.ArrayOf(int(*payload), reflect.TypeFor[uint64]())},
	})
	tab := &table{}
	latency := twin.OffHeapSamples(int(*objects)) // off Go's heap, as the testbed's histograms are off its heap
	finalize := func(obj any) {
		fd := int(*word(reflect.ValueOf(obj).UnsafePointer(), fdOffset))
		tab.close(fd, twin.GCCycles())
	}
	cleanup := func(fd int) { tab.close(fd, twin.GCCycles()) }

	run := c.Start()
	t0 := time.Now()
	var stop atomic.Bool
	// The samples stay off Go's heap during the run (the testbed's series is outside its
	// heap); they become rows for the report once the run is over.
	flat := twin.OffHeapSamples(4 * int(1<<16 + *idleMs / *sampleMs))
	sampled := make(chan struct{})
	go sampler(tab, t0, time.Duration(*sampleMs)*time.Millisecond, &stop, &flat, sampled)
	reader := newSpanReader()
	live := make([]uint64, 0, 1<<12)
	lastCycles := twin.GCCycles()
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
		if now != lastCycles {
			_, _, l := reader.read()
			live = append(live, l)
			lastCycles = now
		}
		tab.mu.Lock()
		tab.lastUse[used] = now
		if *release == "explicit" {
			tab.closeLocked(used, now)
		}
		tab.mu.Unlock()
		runtime.KeepAlive(obj) // the last use
		latency = append(latency, int64(time.Since(t)))
	}
	churnEnd := uint64(time.Since(t0).Milliseconds())
	time.Sleep(time.Duration(*idleMs) * time.Millisecond)
	idleEnd := uint64(time.Since(t0).Milliseconds())
	openAtEnd := tab.openCount()
	var rounds [][2]uint64
	for len(rounds) < minRounds || (tab.releasedCount() < *objects && len(rounds) < finalRounds) {
		runtime.GC()
		if !twin.Drain(twin.DrainLimit) {
			fmt.Fprintln(os.Stderr, "fd-churn: the callback queues did not empty")
		}
		spans, _, _ := reader.read()
		tab.mu.Lock()
		rounds = append(rounds, [2]uint64{tab.openNow, spans})
		tab.mu.Unlock()
	}
	stop.Store(true)
	<-sampled
	last := rounds[len(rounds)-1][1]
	closeRounds := firstRound(rounds, func(r [2]uint64) bool { return r[0] == 0 })
	slack := max(reclaimSlack, openAtEnd*uint64(fileType.Size())/2)
	reclaimRounds := firstRound(rounds, func(r [2]uint64) bool { return r[1] <= last+slack })
	tab.mu.Lock()
	leaked, peak, released, doubles, maxDelay := tab.openNow, tab.peakOpen, tab.released, tab.doubleReleases, tab.dMax
	meanDelay := 0.0
	if released > 0 {
		meanDelay = float64(tab.delaySum) / float64(released)
	}
	tab.mu.Unlock()
	slices.Sort(live)
	liveMedian, liveMax := uint64(0), uint64(0)
	if len(live) > 0 {
		liveMedian, liveMax = live[len(live)/2], live[len(live)-1]
	}
	var spanPeak, spanSum, spanN uint64
	var idle any
	var idleRows [][4]uint64
	series := make([][4]uint64, len(flat)/4)
	for i := range series {
		for j := range 4 {
			series[i][j] = uint64(flat[4*i+j])
		}
	}
	for _, row := range series {
		spanPeak = max(spanPeak, row[3])
		if row[0] <= churnEnd {
			spanSum += row[3]
			spanN++
		}
		if *idleMs > 0 && row[0] >= churnEnd && row[0] <= idleEnd {
			idleRows = append(idleRows, row)
		}
	}
	if len(idleRows) > 0 {
		a, b := idleRows[0], idleRows[len(idleRows)-1]
		idle = map[string]any{"samples": len(idleRows), "open_at_start": a[1], "open_at_end": b[1],
			"cycles_at_start": a[2], "cycles_at_end": b[2]}
	}
	endRounds := make([]map[string]any, len(rounds))
	for i, r := range rounds {
		endRounds[i] = map[string]any{"open": r[0], "span_bytes": r[1]}
	}
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
			"max_release_delay_cycles": maxDelay, "heap_peak_bytes": s.HeapPeakBytes, "final_rounds": len(rounds),
			"live_bytes_median": liveMedian, "live_bytes_max": liveMax, "span_bytes_peak": spanPeak,
			"span_bytes_mean": spanSum / max(spanN, 1), "end_rounds": endRounds, "close_rounds": closeRounds,
			"reclaim_rounds": reclaimRounds, "idle_ms": *idleMs, "idle": idle,
			"phases":         map[string]any{"churn_end_ms": churnEnd, "idle_end_ms": idleEnd},
			"series_columns": []string{"t_ms", "open", "gc_cycles", "span_bytes"}, "series": series,
		}
	})
	if c.Text() {
		fmt.Printf("fd-churn: %d objects released by %s: peak %d open, %d released, %d leaked (Go %s)\n",
			*objects, *release, peak, released, leaked, runtime.Version())
		fmt.Printf("release delay: mean %.2f cycles, max %d; heap peak %d bytes (sampled); %d final gc() rounds\n",
			meanDelay, maxDelay, s.HeapPeakBytes, len(rounds))
		fmt.Printf("end: descriptors closed after round %d, memory reclaimed after round %d; span bytes peak %d\n",
			closeRounds, reclaimRounds, spanPeak)
	}
	if leaked > 0 || doubles > 0 || released != *objects {
		fmt.Fprintf(os.Stderr, "fd-churn: failed: %d of %d entries leaked, %d released twice\n", leaked, *objects, doubles)
		os.Exit(1)
	}
}
