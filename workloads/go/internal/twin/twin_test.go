package twin

import (
	"bytes"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestBucketStatsAreUpperEdges(t *testing.T) {
	buckets := []float64{math.Inf(-1), 0, 1e-6, 2e-6, 4e-6, math.Inf(1)}
	counts := []uint64{0, 0, 90, 9, 1}
	s := bucketStats(buckets, counts, 100)
	want := LatencyStats{Count: 100, P50: 2000, P90: 2000, P99: 4000, P999: 4000, Max: 4000}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	if (bucketStats(buckets, make([]uint64, 5), 0) != LatencyStats{}) {
		t.Fatal("no samples, all zero")
	}
}

func TestSampleStatsNearestRank(t *testing.T) {
	var xs []int64
	for i := int64(1000); i >= 1; i-- {
		xs = append(xs, i)
	}
	s := SampleStats(xs)
	want := LatencyStats{Count: 1000, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	d := PercentileDistribution(xs)
	if !bytes.Contains(d, []byte("1.000 1.000000000000       1000\n")) {
		t.Fatalf("last row is the max at 100%%:\n%s", d)
	}
}

func TestSplitMixMatchesTheTestbed(t *testing.T) {
	// The reference value for seed 0 (Vigna's splitmix64.c), as the testbed's test.
	if got := NewSplitMix64(0).Next(); got != 0xE220A8397B1DCDAF {
		t.Fatalf("%x", got)
	}
	r := NewSplitMix64(1)
	for range 1000 {
		if r.Below(10) >= 10 || r.Unit() >= 1 {
			t.Fatal("out of range")
		}
	}
}

func TestParsers(t *testing.T) {
	for s, want := range map[string]int{"100": 100, "off": -1, "OFF": -1, "-5": -1, "0": 0} {
		if got, err := ParseGogc(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	if _, err := ParseGogc("fast"); err == nil {
		t.Error("fast")
	}
	for s, want := range map[string]int64{"4096": 4096, "4KiB": 4096, "2 mib": 2 << 20, "0.5KiB": 512} {
		if got, err := ParseBytes(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"", "0", "-1", "1.5", "1KB", "MiB", "x"} {
		if _, err := ParseBytes(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestDrainWaitsForQueuedCallbacks(t *testing.T) {
	var ran atomic.Uint64
	func() {
		for range 100 {
			x := &struct {
				p *int
				v uint64
			}{}
			runtime.SetFinalizer(x, func(any) { ran.Add(1) })
		}
	}()
	runtime.GC()
	if !Drain(10 * time.Second) {
		t.Fatal("the queues did not empty")
	}
	if ran.Load() != 100 {
		t.Fatalf("%d of 100 finalizers had run when Drain returned", ran.Load())
	}
}

// GCCycles reads the count without allocating, as the testbed's Mutator::gc_cycles: the
// twins call it once per churned object and in finalizers, and an allocation there would
// be bytes the testbed's program does not allocate.
func TestGCCyclesAllocatesNothing(t *testing.T) {
	before := GCCycles()
	runtime.GC()
	if after := GCCycles(); after <= before {
		t.Fatalf("cycles %d after runtime.GC(), %d before", after, before)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = GCCycles() }); n != 0 {
		t.Fatalf("GCCycles allocates %v objects a call", n)
	}
}

func TestOffHeapSamplesAppend(t *testing.T) {
	s := OffHeapSamples(1000)
	if len(s) != 0 || cap(s) < 1000 {
		t.Fatalf("len %d cap %d", len(s), cap(s))
	}
	for i := range 1500 { // past the room: moves onto the heap
		s = append(s, int64(i))
	}
	if s[999] != 999 || s[1499] != 1499 {
		t.Fatal("samples lost")
	}
}

func TestConfigCarriesOwnFlags(t *testing.T) {
	c := &Common{workload: Workload{Name: "x", Mutators: 1}, Mutators: 1}
	c.Set("length", uint64(7))
	if got := c.config()["length"]; got != uint64(7) {
		t.Fatalf("config length = %v", got)
	}
}
