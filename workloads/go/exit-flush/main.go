// Command exit-flush is the Go twin of the testbed's exit-flush: a buffered writer
// flushed by a finalizer loses its data at exit (SEMANTICS.md S54).
//
// The writer is a heap object (a pointer field, left nil, and the count of buffered
// bytes, Go's bufio.Writer); the "file" is a byte slice allocated before the run with
// room for every byte, so that writing to it allocates nothing. The program writes
// --bytes bytes in chunks of 1000; a write that would overflow --buffer bytes flushes
// the buffer to the file first. The writer's finalizer flushes what is buffered. At the
// end the buffer is flushed explicitly (--flush explicit) or left to the finalizer
// (--flush finalizer); then the program drops the writer and takes the file's length at
// that moment, the moment main would return (the report after it does not count: a Go
// program ends when main returns, without collecting or waiting for finalizers).
//
// --flush queued: a cycle does queue the writer's finalizer, and the process exits
// before it runs. First a blocker object's finalizer is queued by runtime.GC and starts;
// it never returns (select {}), so Go's one finalizer goroutine is held. Then the program
// writes, drops the writer and calls runtime.GC, which queues the writer's finalizer
// behind the blocker's; it takes the file's length and the finalizer metrics, writes its
// report and calls os.Exit(0).
//
// Findings as the testbed's: flush, bytes_written, bytes_flushed, bytes_lost,
// finalizer_ran, finalizers_queued and finalizers_pending (/gc/finalizers/queued and
// queued minus /gc/finalizers/executed at exit). Losing bytes in the explicit mode makes
// the exit status 1, and so does the queued mode when its cycle did not queue the
// writer's finalizer.
//
//	go run ./exit-flush [--flush explicit|finalizer|queued] [--bytes 1MiB] [--buffer 4096] [--json]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"testbed-twins/internal/twin"
)

// writer is the buffered writer: a pointer field and the buffered count.
type writer struct {
	next *writer
	n    uint64
}

// chunk is the bytes per write call.
const chunk = 1000

var (
	fileMu      sync.Mutex
	file        []byte
	finalizerOK atomic.Bool
)

// flush moves the writer's buffered bytes into the file.
func flush(w *writer) {
	fileMu.Lock()
	n := len(file)
	file = file[:n+int(w.n)]
	for i := n; i < len(file); i++ {
		file[i] = 'x'
	}
	fileMu.Unlock()
	w.n = 0
}

// holdFinalizerGoroutine queues a finalizer that never returns and waits until it has
// started: from then on Go's finalizer goroutine runs no other finalizer.
func holdFinalizerGoroutine() {
	started := make(chan struct{})
	queueBlocker(started)
	runtime.GC()
	<-started
}

// queueBlocker allocates the blocker and drops it.
//
//go:noinline
func queueBlocker(started chan struct{}) {
	b := &writer{}
	runtime.SetFinalizer(b, func(*writer) {
		close(started)
		select {}
	})
}

// finalizerCounts reads /gc/finalizers/queued and /gc/finalizers/executed.
func finalizerCounts() (queued, executed uint64) {
	s := []metrics.Sample{{Name: "/gc/finalizers/queued:finalizers"}, {Name: "/gc/finalizers/executed:finalizers"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func fileLen() uint64 {
	fileMu.Lock()
	defer fileMu.Unlock()
	return uint64(len(file))
}

// write writes total bytes through a new writer and drops it (flushing it first when
// explicit), returning the per-chunk latencies.
//
//go:noinline
func write(total, capacity uint64, explicit bool, latency []int64) []int64 {
	w := &writer{}
	runtime.SetFinalizer(w, func(w *writer) {
		finalizerOK.Store(true)
		flush(w)
	})
	for written := uint64(0); written < total; {
		n := min(chunk, total-written)
		t := time.Now()
		if w.n+n > capacity {
			flush(w)
		}
		w.n += n
		latency = append(latency, int64(time.Since(t)))
		written += n
	}
	if explicit {
		flush(w)
	}
	return latency
}

func main() {
	mode := flag.String("flush", "explicit", "who flushes the last buffer: explicit (the program), finalizer (the writer's finalizer, never queued) or queued (queued by a cycle just before the process exits)")
	bytesFlag := flag.String("bytes", "1MiB", "bytes to write (suffixes KiB, MiB, GiB)")
	bufferFlag := flag.String("buffer", "4096", "the writer's buffer size in bytes (suffixes KiB, MiB, GiB; at least one 1000-byte write)")
	c := twin.Register(flag.CommandLine, twin.Workload{Name: "exit-flush", Mutators: 1, MaxMutators: 1})
	flag.Parse()
	c.Check()
	if *mode != "explicit" && *mode != "finalizer" && *mode != "queued" {
		twin.Usage("invalid value %q for --flush: expected explicit, finalizer or queued", *mode)
	}
	total, err := twin.ParseBytes(*bytesFlag)
	if err != nil {
		twin.Usage("invalid value %q for --bytes: %v", *bytesFlag, err)
	}
	capacity, err := twin.ParseBytes(*bufferFlag)
	if err != nil {
		twin.Usage("invalid value %q for --buffer: %v", *bufferFlag, err)
	}
	if capacity < chunk {
		twin.Usage("invalid value %q for --buffer: the buffer must hold at least one %d-byte write, not %d bytes", *bufferFlag, chunk, capacity)
	}
	c.Set("flush", *mode)
	c.Set("bytes", total)
	c.Set("buffer", capacity)
	file = make([]byte, 0, total)
	latency := make([]int64, 0, (total+chunk-1)/chunk)

	queuedMode := *mode == "queued"
	run := c.Start()
	registered := uint64(1)
	if queuedMode {
		holdFinalizerGoroutine()
		registered++
	}
	latency = write(uint64(total), uint64(capacity), *mode == "explicit", latency)
	if queuedMode {
		// The writer is dead: this cycle queues its finalizer behind the blocker's.
		runtime.GC()
	}
	// main returns here (the queued mode: os.Exit below): no further cycle, no waiting
	// for finalizers (S54).
	flushed, ran := fileLen(), finalizerOK.Load()
	queued, executed := finalizerCounts()
	written := uint64(total)
	lost := written - flushed

	run.Finish(latency, twin.Registered{Finalizers: registered}, map[string]any{
		"flush": *mode, "bytes_written": written, "bytes_flushed": flushed, "bytes_lost": lost, "finalizer_ran": ran,
		"finalizers_queued": queued, "finalizers_pending": queued - executed,
	})
	if c.Text() {
		fmt.Printf("exit-flush: %d bytes written through a %d-byte buffer, last flush: %s (Go %s)\n", written, capacity, *mode, runtime.Version())
		fmt.Printf("flushed %d, lost %d; finalizer ran: %v\n", flushed, lost, ran)
	}
	if *mode == "explicit" && lost > 0 {
		fmt.Fprintf(os.Stderr, "exit-flush: failed: %d bytes lost despite the explicit flush\n", lost)
		os.Exit(1)
	}
	if queuedMode && (queued < 2 || ran) {
		fmt.Fprintf(os.Stderr, "exit-flush: failed: the writer's finalizer was not left queued at exit (%d finalizers queued, writer's ran: %v)\n", queued, ran)
		os.Exit(1)
	}
	if queuedMode {
		os.Exit(0)
	}
}
