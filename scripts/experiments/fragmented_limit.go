// The Go side of collector/examples/fragmented_limit.rs (results/pacer-go-fidelity.md
// findings 22 and 23): run with GOGC=off GOMEMLIMIT=16MiB. A list keeps one node in 16 of the
// 16-byte nodes the loop allocates, until 8,000,000 are allocated and at least four
// cycles have run. Prints one line: "cycles C elapsed_s S heap_sys_bytes H limiter last
// on in cycle N" (N from runtime/metrics' /gc/limiter/last-enabled:gc-cycle: the last
// cycle in which Go's GC CPU limiter was on, 0 if never).
package main

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"time"
)

type node struct {
	next *node
	v    int
}

func main() {
	keep := &node{}
	tail := keep
	start := time.Now()
	var ms runtime.MemStats
	// ReadMemStats stops the world and flushes every allocation cache, which moves Go's
	// heapAlloc: it is read only once the allocation is done, as the testbed's side
	// reads its stats.
	cycles := func() uint32 {
		runtime.ReadMemStats(&ms)
		return ms.NumGC
	}
	for allocated := 0; allocated < 8_000_000 || cycles() < 4; allocated += 16000 {
		for i := 0; i < 16000; i++ {
			n := &node{}
			if i%16 == 0 {
				tail.next = n
				tail = n
			}
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms)
	limiter := []metrics.Sample{{Name: "/gc/limiter/last-enabled:gc-cycle"}}
	metrics.Read(limiter)
	fmt.Printf("cycles %d elapsed_s %.3f heap_sys_bytes %d limiter last on in cycle %d\n",
		ms.NumGC, elapsed.Seconds(), ms.HeapSys, limiter[0].Value.Uint64())
	runtime.KeepAlive(keep)
}
