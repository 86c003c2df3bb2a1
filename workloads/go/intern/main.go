// Command intern is the Go twin of the testbed's intern: a canonicalizing map in the
// manner of Go's unique package, whose stale entries are removed by cleanups
// (golang/go#71825).
//
// The map is a map[uint64]weak.Pointer[value] behind a sync.Mutex. intern(key) returns
// the live value if the map's weak pointer still has one, or a new one, inserted with a
// runtime.AddCleanup(value, f, key) that removes key from the map when its weak pointer
// is nil (and not when a newer value took the key). --mutators goroutines (default 2)
// run for --duration seconds (default 2), interning short-lived values at full speed:
// keys come from a shared growing counter, so most values die at once (each goroutine
// keeps only its last 8 values); one operation in four re-interns a recent key instead.
// Every --sample-every operations a goroutine samples the map's size. At the end every
// value is dropped and two rounds of runtime.GC() then a drain (twin.Drain) run.
//
// As the testbed's: --rate R paces the goroutines by the clock (R operations a second in
// all; each goroutine's i-th operation sleeps until its due time), --value-words the
// value's data words (default 2; more make it one allocation of a reflect.StructOf type
// whose first fields are value's, the testbed's shape), --cleanup-work-us W makes each
// cleanup sleep W microseconds before it removes its key (not after the run's time is
// up: the drain would take the backlog times the wait), and a sampler goroutine
// records [t_ms, map_size, inserted, cleanups_run] every --sample-ms (default 100) into
// a slice allocated before the run (series; growth_per_s is the least-squares slope of
// the map's size). The serial runner of Go before golang/go#71825 is Go 1.27's own
// executor below GOMAXPROCS 8 (one cleanup goroutine, S40): --gomaxprocs 4; its
// executor with 4 goroutines: --gomaxprocs 16.
//
// Go's runtime sizes its cleanup goroutines itself: --cleanup-workers takes only "auto",
// and the findings' cleanup_workers is the pool's size, max(GOMAXPROCS/4, 1). The
// latency samples are kept in memory mapped outside the Go heap (twin.OffHeapSamples),
// as the testbed keeps its histograms outside its heap, so that they do not slow the
// pacing that decides how far the map grows. Findings as the testbed's: cleanup_workers,
// ops, inserted, hits, cleanups_run, map_size {max, median, samples, before_drain,
// final}, rate, value_words, cleanup_work_us, growth_per_s, series_columns, series.
//
//	go run ./intern [--duration 2] [--mutators 2] [--sample-every 1000] [--rate 0] [--value-words 2] [--cleanup-work-us 0] [--json]
package main

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"testbed-twins/internal/twin"
)

// value is an interned value: a pointer field (never a pointer-free tiny object), its
// key and a payload word.
type value struct {
	next    *value
	key     uint64
	payload uint64
}

// keep is the values each goroutine keeps alive (its most recent ones).
const keep = 8

var (
	mu       sync.Mutex
	interned = map[uint64]weak.Pointer[value]{}
	cleanups atomic.Uint64
	nextKey  atomic.Uint64
	inserts  atomic.Uint64
	// bigValue is the type of a value of more than 2 data words (nil: value itself).
	bigValue reflect.Type
	// work is what each cleanup sleeps before it removes its key (nanoseconds); zeroed
	// when the run ends, so that the drain does not take the backlog times the wait.
	work atomic.Int64
)

// newValue allocates a value (of bigValue's size when set).
func newValue() *value {
	if bigValue == nil {
		return &value{}
	}
	return (*value)(reflect.New(bigValue).UnsafePointer())
}

// remove is a value's cleanup: it drops key if its weak pointer is nil.
func remove(key uint64) {
	if w := work.Load(); w > 0 {
		time.Sleep(time.Duration(w))
	}
	mu.Lock()
	if w, ok := interned[key]; ok && w.Value() == nil {
		delete(interned, key)
	}
	mu.Unlock()
	cleanups.Add(1)
}

// intern is unique.Make: the canonical value for key, and whether it was there already.
func intern(key uint64) (*value, bool) {
	mu.Lock()
	if w, ok := interned[key]; ok {
		if v := w.Value(); v != nil {
			mu.Unlock()
			return v, true
		}
	}
	v := newValue()
	v.key, v.payload = key, key*0x9E3779B97F4A7C15
	interned[key] = weak.Make(v)
	mu.Unlock()
	inserts.Add(1)
	runtime.AddCleanup(v, remove, key)
	return v, false
}

func mapLen() uint64 {
	mu.Lock()
	defer mu.Unlock()
	return uint64(len(interned))
}

// tally is one goroutine's count.
type tally struct {
	ops, inserted, hits uint64
	samples             []uint64
	latency             []int64
}

func worker(seed, index, sampleEvery uint64, until time.Time, latencyRoom int, period time.Duration) *tally {
	rng := twin.NewSplitMix64(seed ^ index*0xA24BAED4963EE407)
	t := &tally{latency: twin.OffHeapSamples(latencyRoom)}
	var kept [keep]*value
	begin := time.Now()
	for time.Now().Before(until) {
		for range 64 {
			if period > 0 {
				// This goroutine's share of --rate: its n-th operation is due n periods in.
				due := begin.Add(time.Duration(float64(period) * float64(t.ops)))
				if due.After(until) {
					break
				}
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
			}
			start := time.Now()
			var key uint64
			if rng.Below(4) == 0 {
				key = nextKey.Load()
				key -= min(key, rng.Below(64))
			} else {
				key = nextKey.Add(1) - 1
			}
			v, hit := intern(key)
			if v.key != key {
				panic("the canonical value holds its key")
			}
			kept[t.ops%keep] = v
			t.latency = append(t.latency, int64(time.Since(start)))
			t.ops++
			if hit {
				t.hits++
			} else {
				t.inserted++
			}
			if t.ops%sampleEvery == 0 {
				t.samples = append(t.samples, mapLen())
			}
		}
	}
	return t
}

// sample records [t_ms, map_size, inserted, cleanups_run] every period until until.
func sample(t0, until time.Time, every time.Duration, series *[][4]uint64, done chan<- struct{}) {
	for {
		*series = append(*series, [4]uint64{uint64(time.Since(t0).Milliseconds()), mapLen(), inserts.Load(), cleanups.Load()})
		left := time.Until(until)
		if left <= 0 {
			close(done)
			return
		}
		time.Sleep(min(every, left))
	}
}

// growthPerS is the least-squares slope of the map's size over the series, a second.
func growthPerS(series [][4]uint64) float64 {
	n := float64(len(series))
	if n < 2 {
		return 0
	}
	var mx, my float64
	for _, s := range series {
		mx += float64(s[0]) / 1e3 / n
		my += float64(s[1]) / n
	}
	var sxy, sxx float64
	for _, s := range series {
		dx := float64(s[0])/1e3 - mx
		sxy += dx * (float64(s[1]) - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

func main() {
	sampleEvery := flag.Uint64("sample-every", 1000, "operations between two samples of the map's size, per goroutine (1..=1000000000)")
	rate := flag.Uint64("rate", 0, "operations a second in all, paced by the clock (0: as fast as possible; 0..=10000000)")
	valueWords := flag.Uint64("value-words", 2, "data words of each value (2..=4096)")
	workUs := flag.Uint64("cleanup-work-us", 0, "microseconds each cleanup waits before it removes its key (0..=1000000)")
	sampleMs := flag.Uint64("sample-ms", 100, "milliseconds between two samples of the series (1..=60000)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "intern", Mutators: 2, Duration: 2, CleanupWorkers: true})
	flag.Parse()
	c.Check()
	if *sampleEvery < 1 || *sampleEvery > 1000000000 {
		twin.Usage("invalid value %d for --sample-every: expected 1..=1000000000", *sampleEvery)
	}
	if c.Duration <= 0 {
		twin.Usage("invalid duration %v: expected a number of seconds greater than 0", c.Duration)
	}
	if *rate > 10000000 {
		twin.Usage("invalid value %d for --rate: expected 0..=10000000", *rate)
	}
	if *valueWords < 2 || *valueWords > 4096 {
		twin.Usage("invalid value %d for --value-words: expected 2..=4096", *valueWords)
	}
	if *workUs > 1000000 {
		twin.Usage("invalid value %d for --cleanup-work-us: expected 0..=1000000", *workUs)
	}
	if *sampleMs < 1 || *sampleMs > 60000 {
		twin.Usage("invalid value %d for --sample-ms: expected 1..=60000", *sampleMs)
	}
	c.Set("sample_every", *sampleEvery)
	c.Set("rate", *rate)
	c.Set("value_words", *valueWords)
	c.Set("cleanup_work_us", *workUs)
	c.Set("sample_ms", *sampleMs)
	if *valueWords > 2 {
		bigValue = reflect.StructOf([]reflect.StructField{
			{Name: "Next", Type: reflect.TypeFor[*value]()},
			{Name: "Key", Type: reflect.TypeFor[uint64]()},
			{Name: "Payload", Type: reflect.TypeFor[uint64]()},
			{Name: "Pad", Type: reflect.ArrayOf(int(*valueWords-2), reflect.TypeFor[uint64]())},
		})
	}
	work.Store(int64(time.Duration(*workUs) * time.Microsecond))
	var period time.Duration
	if *rate > 0 {
		period = time.Duration(float64(c.Mutators) / float64(*rate) * float64(time.Second))
	}
	workers := twin.CleanupGoroutines()
	duration := time.Duration(c.Duration * float64(time.Second))
	// Room for 20 M operations per goroutine per second: more than any machine reaches.
	room := int(min(c.Duration*20e6, 1<<28)) + 1024

	series := make([][4]uint64, 0, int(c.Duration*1000)/int(*sampleMs)+16)
	sampled := make(chan struct{})
	run := c.Start()
	t0 := time.Now()
	until := t0.Add(duration)
	go sample(t0, until, time.Duration(*sampleMs)*time.Millisecond, &series, sampled)
	tallies := make([]*tally, c.Mutators)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() { tallies[i] = worker(c.Seed, uint64(i), *sampleEvery, until, room, period) })
	}
	wg.Wait()
	<-sampled
	growth := growthPerS(series)
	work.Store(0)
	var ops, inserted, hits uint64
	var samples []uint64
	n := 0
	for _, t := range tallies {
		ops, inserted, hits = ops+t.ops, inserted+t.inserted, hits+t.hits
		samples = append(samples, t.samples...)
		n += len(t.latency)
	}
	latency := twin.OffHeapSamples(n)
	for i, t := range tallies {
		latency = append(latency, t.latency...)
		tallies[i] = nil
	}
	beforeDrain := mapLen()
	// Every value is gone: two rounds (a value allocated during the last mark survives
	// its cycle) of a full cycle and a drain run every dead value's cleanup.
	for range 2 {
		runtime.GC()
		if !twin.Drain(twin.DrainLimit) {
			fmt.Fprintln(os.Stderr, "intern: the callback queues did not empty")
		}
	}
	final := mapLen()
	ran := cleanups.Load()
	slices.Sort(samples)
	maxSize, median := beforeDrain, beforeDrain
	if len(samples) > 0 {
		maxSize, median = samples[len(samples)-1], samples[len(samples)/2]
	}
	run.Finish(latency, twin.Registered{Cleanups: inserted}, map[string]any{
		"cleanup_workers": workers, "ops": ops, "inserted": inserted, "hits": hits, "cleanups_run": ran,
		"rate": *rate, "value_words": *valueWords, "cleanup_work_us": *workUs, "growth_per_s": growth,
		"series_columns": []string{"t_ms", "map_size", "inserted", "cleanups_run"}, "series": series,
		"map_size": map[string]any{
			"max": maxSize, "median": median, "samples": len(samples), "before_drain": beforeDrain, "final": final,
		},
	})
	if c.Text() {
		fmt.Printf("intern: %d ops, %d inserted, %d hits, at most %d cleanup goroutine(s) (Go %s)\n", ops, inserted, hits, workers, runtime.Version())
		fmt.Printf("map size: max %d, median %d over %d samples; %d at the end, %d after the drain; %d cleanups ran\n",
			maxSize, median, len(samples), beforeDrain, final, ran)
		fmt.Printf("map growth: %.0f entries a second (least squares over the series)\n", growth)
	}
}
