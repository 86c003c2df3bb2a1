// Command lru is the Go twin of the testbed's lru: a least-recently-used cache of hash
// chains (4096 buckets) and a doubly linked recency list, behind one mutex, driven by
// --mutators goroutines (default 2) for --duration seconds (default 2), each scheduling
// its operations at --rate per second and timing each from its intended start (no
// coordinated omission). An operation allocates a short-lived request object, then is a
// put (--writes percent; a new value object replaces the old) or a get that inserts the
// key on a miss; inserting past --capacity evicts the tail. Keys come from splitmix64
// over --keys keys, Zipf-like or uniform (--dist), from --seed, drawn exactly as the
// testbed draws them. Findings as the testbed's (corrupt values or a broken structure
// make the exit status 1; verified is false and lost_objects 0: Go has no checkmark mode
// for programs). Where each side keeps what: the cache (bucket array, entries, values,
// the short-lived requests) is in the collected heap on both; the latency samples are
// outside it on both (the testbed's histograms; here memory mapped by
// twin.OffHeapSamples), so that they do not grow the heap the collector paces by.
//
//	go run ./lru [--duration 2] [--rate 50000] [--json] [--out DIR]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"time"

	"testbed-twins/internal/twin"
)

const buckets = 4096

// entry is a cache entry: chain next, list prev, list next, value; key (4 pointers, 1
// word, as the testbed's entry shape; the value is a slice).
type entry struct {
	chain, prev, next *entry
	value             []uint64
	key               uint64
}

// request is the short-lived object each operation allocates (4 data words).
type request struct{ words [4]uint64 }

// cache is the structure the testbed hangs off a global.
type cache struct {
	mu         sync.Mutex
	buckets    *[buckets]*entry
	head, tail *entry
	len        uint64
	evictions  uint64
	capacity   uint64
	valueWords int
}

func bucketOf(key uint64) int { return int((key*0x9E3779B97F4A7C15)>>52) % buckets }

func checksum(key, version uint64) uint64 {
	return twin.NewSplitMix64(key ^ (version<<32 | version>>32)).Next()
}

func (c *cache) find(key uint64) *entry {
	for e := c.buckets[bucketOf(key)]; e != nil; e = e.chain {
		if e.key == key {
			return e
		}
	}
	return nil
}

func (c *cache) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
}

func (c *cache) pushFront(e *entry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	} else {
		c.tail = e
	}
	c.head = e
}

func (c *cache) touch(e *entry) {
	if c.head != e {
		c.unlink(e)
		c.pushFront(e)
	}
}

func (c *cache) newValue(key, version uint64) []uint64 {
	v := make([]uint64, c.valueWords)
	v[0], v[1], v[2] = key, version, checksum(key, version)
	return v
}

// get returns the value's version and whether key is cached; ok is false for a value
// that fails its checksum.
func (c *cache) get(key uint64) (version uint64, hit, ok bool) {
	e := c.find(key)
	if e == nil {
		return 0, false, true
	}
	c.touch(e)
	v := e.value
	if v == nil || v[0] != key || v[2] != checksum(key, v[1]) {
		return 0, true, false
	}
	return v[1], true, true
}

func (c *cache) put(key, version uint64) {
	value := c.newValue(key, version)
	if e := c.find(key); e != nil {
		e.value = value
		c.touch(e)
		return
	}
	b := bucketOf(key)
	e := &entry{key: key, value: value, chain: c.buckets[b]}
	c.buckets[b] = e
	c.pushFront(e)
	c.len++
	if c.len > c.capacity {
		c.evict()
	}
}

func (c *cache) evict() {
	tail := c.tail
	c.unlink(tail)
	b := bucketOf(tail.key)
	var prev *entry
	for e := c.buckets[b]; e != nil; prev, e = e, e.chain {
		if e == tail {
			if prev != nil {
				prev.chain = e.chain
			} else {
				c.buckets[b] = e.chain
			}
			break
		}
	}
	c.len--
	c.evictions++
}

// consistent checks that the list and the chains agree, as the testbed's check.
func (c *cache) consistent() bool {
	var n uint64
	var prev *entry
	for e := c.head; e != nil; prev, e = e, e.next {
		linked := e.prev == prev
		found := c.find(e.key) == e
		v := e.value
		sound := v != nil && v[0] == e.key && v[2] == checksum(e.key, v[1])
		if !(linked && found && sound) || n > c.len {
			return false
		}
		n++
	}
	var chained uint64
	for b := range buckets {
		for e := c.buckets[b]; e != nil; e = e.chain {
			chained++
		}
	}
	return c.tail == prev && n == c.len && chained == n
}

type tally struct{ ops, gets, hits, puts, missed, corrupt uint64 }

// waitUntil sleeps until shortly before t, then yields until t, as the testbed's
// workers do.
func waitUntil(t time.Time) {
	for {
		left := time.Until(t)
		if left <= 0 {
			return
		}
		if left > 300*time.Microsecond {
			time.Sleep(left - 200*time.Microsecond)
		} else {
			runtime.Gosched()
		}
	}
}

func drawKey(r *twin.SplitMix64, keys uint64, uniform bool) uint64 {
	if uniform {
		return r.Below(keys)
	}
	return min(uint64(math.Pow(float64(keys)+1, r.Unit())-1), keys-1)
}

// worker is goroutine index's operations, due every 1/rate s from t0 (staggered across
// goroutines) until t0+duration, giving up on those still due at twice the duration.
type worker struct {
	req     *request // the live request: it escapes to the heap, as in the testbed
	latency []int64
	tally   tally
}

type params struct {
	rate, keys, seed uint64
	writes           uint64
	uniform          bool
	mutators         uint64
}

func (w *worker) run(c *cache, p params, index uint64, t0 time.Time, duration time.Duration) {
	rng := twin.NewSplitMix64(p.seed ^ (index+1)*0xD1B54A32D192ED03)
	interval := 1e9 / float64(p.rate)
	offset := interval * float64(index) / float64(p.mutators)
	total := uint64(max(math.Ceil((float64(duration.Nanoseconds())-offset)/interval), 0))
	w.latency = twin.OffHeapSamples(int(total))
	giveUp := t0.Add(2 * duration)
	for i := range total {
		due := t0.Add(time.Duration(offset + float64(i)*interval))
		waitUntil(due)
		if !time.Now().Before(giveUp) {
			w.tally.missed = total - i
			break
		}
		key := drawKey(rng, p.keys, p.uniform)
		version := index<<48 | i
		w.req = &request{}
		w.req.words[0] = key
		c.mu.Lock()
		if rng.Below(100) < p.writes {
			w.tally.puts++
			c.put(key, version)
		} else {
			w.tally.gets++
			_, hit, ok := c.get(key)
			switch {
			case !ok:
				w.tally.corrupt++
			case hit:
				w.tally.hits++
			default:
				c.put(key, version)
			}
		}
		c.mu.Unlock()
		w.req = nil
		w.latency = append(w.latency, int64(time.Since(due)))
		w.tally.ops++
	}
}

func main() {
	rate := flag.Uint64("rate", 50000, "operations per second per goroutine (1..=10000000)")
	capacity := flag.Uint64("capacity", 10000, "entries the cache holds before it evicts")
	keys := flag.Uint64("keys", 100000, "distinct keys")
	dist := flag.String("dist", "zipf", "key distribution: zipf or uniform")
	writes := flag.Uint64("writes", 10, "percent of operations that are puts")
	valueWords := flag.Int("value-words", 32, "data words of each value object (3..=4096)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "lru", Mutators: 2, Duration: 2})
	flag.Parse()
	c.Check()
	switch {
	case *rate < 1 || *rate > 10000000:
		twin.Usage("invalid value %d for --rate", *rate)
	case *capacity < 1 || *capacity > 100000000:
		twin.Usage("invalid value %d for --capacity", *capacity)
	case *keys < 1:
		twin.Usage("invalid value 0 for --keys")
	case *dist != "zipf" && *dist != "uniform":
		twin.Usage("invalid value %q for --dist: expected zipf or uniform", *dist)
	case *writes > 100:
		twin.Usage("invalid value %d for --writes", *writes)
	case *valueWords < 3 || *valueWords > 4096:
		twin.Usage("invalid value %d for --value-words", *valueWords)
	case c.Duration <= 0:
		twin.Usage("invalid duration: expected a number of seconds greater than 0")
	}
	duration := time.Duration(c.Duration * float64(time.Second))
	p := params{rate: *rate, keys: *keys, seed: c.Seed, writes: *writes, uniform: *dist == "uniform", mutators: uint64(c.Mutators)}

	run := c.Start()
	cache := &cache{buckets: new([buckets]*entry), capacity: *capacity, valueWords: *valueWords}
	for key := range min(*capacity, *keys) {
		cache.put(key, 0)
	}
	t0 := time.Now()
	workers := make([]*worker, c.Mutators)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{}
		wg.Go(func() { workers[i].run(cache, p, uint64(i), t0, duration) })
	}
	wg.Wait()
	cache.mu.Lock()
	structureOK := cache.consistent()
	entries, evictions := cache.len, cache.evictions
	cache.mu.Unlock()

	var t tally
	n := 0
	for _, w := range workers {
		n += len(w.latency)
	}
	latency := twin.OffHeapSamples(n)
	for _, w := range workers {
		latency = append(latency, w.latency...)
		t.ops += w.tally.ops
		t.gets += w.tally.gets
		t.hits += w.tally.hits
		t.puts += w.tally.puts
		t.missed += w.tally.missed
		t.corrupt += w.tally.corrupt
	}
	hitRate := float64(t.hits) / float64(max(t.gets, 1))
	s := run.Finish(latency, twin.Registered{}, map[string]any{
		"ops": t.ops, "gets": t.gets, "puts": t.puts, "hits": t.hits, "misses": t.gets - t.hits,
		"hit_rate": hitRate, "evictions": evictions, "entries": entries, "ops_missed": t.missed,
		"corrupt_values": t.corrupt, "structure_ok": structureOK, "verified": false, "lost_objects": 0,
	})
	runtime.KeepAlive(cache)
	if c.Text() {
		us := func(ns uint64) float64 { return float64(ns) / 1e3 }
		l := s.MutatorLatencyNs
		fmt.Printf("%d ops in %.2f s on %d goroutines at %d ops/s each (%d missed); hit rate %.1f%%, %d evictions\n",
			t.ops, s.WallS, c.Mutators, *rate, t.missed, hitRate*100, evictions)
		fmt.Printf("latency from intended start: p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs, max %.1f µs\n",
			us(l.P50), us(l.P99), us(l.P999), us(l.Max))
		fmt.Printf("%d collections, pauses p50 %.1f µs, max %.1f µs (bucket upper edges); heap peak %.1f MiB\n",
			s.GCCycles, us(s.PauseNs.P50), us(s.PauseNs.Max), float64(s.HeapPeakBytes)/(1<<20))
	}
	if t.corrupt > 0 || !structureOK {
		fmt.Fprintf(os.Stderr, "lru: failed: %d corrupt values, structure consistent: %v\n", t.corrupt, structureOK)
		os.Exit(1)
	}
}
