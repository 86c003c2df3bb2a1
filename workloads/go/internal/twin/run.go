package twin

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"time"
)

// The runtime/metrics a run reads.
const (
	mPauses     = "/sched/pauses/total/gc:seconds"
	mStopping   = "/sched/pauses/stopping/gc:seconds"
	mCycles     = "/gc/cycles/total:gc-cycles"
	mFinQueued  = "/gc/finalizers/queued:finalizers"
	mFinRun     = "/gc/finalizers/executed:finalizers"
	mClnQueued  = "/gc/cleanups/queued:cleanups"
	mClnRun     = "/gc/cleanups/executed:cleanups"
	mHeapObject = "/memory/classes/heap/objects:bytes"
)

// SampleInterval is how often the heap sampler reads the heap's size.
const SampleInterval = time.Millisecond

// LatencyStats is summary.json's {count, p50, p90, p99, p999, max} in nanoseconds.
type LatencyStats struct {
	Count uint64 `json:"count"`
	P50   uint64 `json:"p50"`
	P90   uint64 `json:"p90"`
	P99   uint64 `json:"p99"`
	P999  uint64 `json:"p999"`
	Max   uint64 `json:"max"`
}

// CallbackCounts is summary.json's {registered, queued, executed, stopped}.
type CallbackCounts struct {
	Registered uint64 `json:"registered"`
	Queued     uint64 `json:"queued"`
	Executed   uint64 `json:"executed"`
	Stopped    uint64 `json:"stopped"`
}

// VerifyStats is summary.json's verify object; Go has no checkmark mode for programs,
// so it is always off.
type VerifyStats struct {
	Enabled       bool   `json:"enabled"`
	CyclesChecked uint64 `json:"cycles_checked"`
	LostObjects   uint64 `json:"lost_objects"`
}

// Summary is summary.json, in the field order of the testbed's.
type Summary struct {
	Workload          string         `json:"workload"`
	Config            map[string]any `json:"config"`
	WallS             float64        `json:"wall_s"`
	GCCycles          uint64         `json:"gc_cycles"`
	PauseNs           LatencyStats   `json:"pause_ns"`
	TtspNs            LatencyStats   `json:"ttsp_ns"`
	MutatorLatencyNs  LatencyStats   `json:"mutator_latency_ns"`
	HeapPeakBytes     uint64         `json:"heap_peak_bytes"`
	Finalizers        CallbackCounts `json:"finalizers"`
	Cleanups          CallbackCounts `json:"cleanups"`
	CallbackLatencyNs LatencyStats   `json:"callback_latency_ns"`
	Verify            VerifyStats    `json:"verify"`
	MMU               [][2]float64   `json:"mmu"`
	Findings          any            `json:"findings"`
}

// Registered is what the twin itself counted of its registrations: Go has no metric for
// SetFinalizer or AddCleanup calls.
type Registered struct {
	Finalizers uint64
	Cleanups   uint64
}

// Run measures one run of a twin from Start to Finish.
type Run struct {
	c       *Common
	start   time.Time
	before  []metrics.Sample
	sampler *heapSampler
}

func readAll() []metrics.Sample {
	s := []metrics.Sample{
		{Name: mPauses}, {Name: mStopping}, {Name: mCycles},
		{Name: mFinQueued}, {Name: mFinRun}, {Name: mClnQueued}, {Name: mClnRun},
	}
	metrics.Read(s)
	for _, x := range s {
		if x.Value.Kind() == metrics.KindBad {
			panic("runtime/metrics has no " + x.Name)
		}
	}
	return s
}

// Start takes the runtime's counters, starts the heap sampler and the clock.
func (c *Common) Start() *Run {
	r := &Run{c: c, before: readAll(), sampler: startHeapSampler(SampleInterval)}
	r.start = time.Now()
	return r
}

// Finish stops the clock and the sampler and reduces the counters' change over the run
// to a Summary; latency holds the workload's operation latencies in ns (it is sorted in
// place). With --out it writes summary.json and latency.hgrm there; with --json it prints
// the summary on stdout. findings may be a func(*Summary) any, called with the summary
// to build the findings from its figures (heap_peak_bytes, say).
func (r *Run) Finish(latency []int64, reg Registered, findings any) *Summary {
	wall := time.Since(r.start)
	peak := r.sampler.stop()
	after := readAll()
	u := func(i int) uint64 { return after[i].Value.Uint64() - r.before[i].Value.Uint64() }
	s := &Summary{
		Workload:         r.c.workload.Name,
		Config:           r.c.config(),
		WallS:            wall.Seconds(),
		GCCycles:         u(2),
		PauseNs:          histogramStats(r.before[0].Value.Float64Histogram(), after[0].Value.Float64Histogram()),
		TtspNs:           histogramStats(r.before[1].Value.Float64Histogram(), after[1].Value.Float64Histogram()),
		MutatorLatencyNs: SampleStats(latency),
		HeapPeakBytes:    peak,
		Finalizers:       CallbackCounts{Registered: reg.Finalizers, Queued: u(3), Executed: u(4)},
		Cleanups:         CallbackCounts{Registered: reg.Cleanups, Queued: u(5), Executed: u(6)},
		MMU:              [][2]float64{},
		Findings:         findings,
	}
	if f, ok := findings.(func(*Summary) any); ok {
		s.Findings = f(s)
	}
	text, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err)
	}
	if r.c.Out != "" {
		writeFile(r.c.Out, "latency.hgrm", PercentileDistribution(latency))
		writeFile(r.c.Out, "summary.json", append(text, '\n'))
	}
	if r.c.JSON {
		fmt.Println(string(text))
	}
	return s
}

// writeFile writes name in dir through a temporary name and a rename; a failure is
// reported and exits with status 2, as the testbed's harness does.
func writeFile(dir, name string, data []byte) {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "cannot write %s: %v\n", path, err)
		os.Exit(2)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		fmt.Fprintf(os.Stderr, "cannot write %s: %v\n", path, err)
		os.Exit(2)
	}
}

// histogramStats reduces the samples a runtime/metrics time histogram gained between
// before and after (cumulative histograms, so the difference is the run's) to
// LatencyStats, conservatively: each percentile is the nearest-rank sample's bucket, and
// reported as that bucket's upper edge (Go's time buckets are a quarter of a power of two
// wide, so a figure is at most 25% above the true sample and never below it); max is the
// upper edge of the highest non-empty bucket. A sample in the last, unbounded bucket is
// reported as that bucket's lower edge.
func histogramStats(before, after *metrics.Float64Histogram) LatencyStats {
	counts := make([]uint64, len(after.Counts))
	var n uint64
	for i := range counts {
		counts[i] = after.Counts[i] - before.Counts[i]
		n += counts[i]
	}
	return bucketStats(after.Buckets, counts, n)
}

func bucketStats(buckets []float64, counts []uint64, n uint64) LatencyStats {
	if n == 0 {
		return LatencyStats{}
	}
	edge := func(i int) uint64 {
		hi := buckets[i+1]
		if math.IsInf(hi, 1) {
			hi = buckets[i]
		}
		if hi <= 0 {
			return 0
		}
		return uint64(math.Ceil(hi * 1e9))
	}
	at := func(q float64) uint64 {
		rank := nearestRank(q, int(n))
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= uint64(rank) {
				return edge(i)
			}
		}
		return edge(len(counts) - 1)
	}
	var max uint64
	for i := len(counts) - 1; i >= 0; i-- {
		if counts[i] > 0 {
			max = edge(i)
			break
		}
	}
	return LatencyStats{Count: n, P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999), Max: max}
}

// nearestRank is the 1-based rank of quantile q among n samples, ceil(q*n) clamped to
// 1..n (the testbed's LatencyStats::from_values rule).
func nearestRank(q float64, n int) int {
	r := int(math.Ceil(q*float64(n) - 1e-9))
	if r < 1 {
		r = 1
	}
	if r > n {
		r = n
	}
	return r
}

// heapSampler reads /memory/classes/heap/objects:bytes (live and not-yet-swept dead
// objects: Go's closest figure to the testbed's heapLive) on a ticker and keeps the
// largest value seen.
type heapSampler struct {
	quit chan struct{}
	done chan uint64
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{quit: make(chan struct{}), done: make(chan uint64)}
	go func() {
		s := []metrics.Sample{{Name: mHeapObject}}
		var peak uint64
		read := func() {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak {
				peak = v
			}
		}
		read()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				read()
			case <-h.quit:
				read()
				h.done <- peak
				return
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.quit)
	return <-h.done
}
