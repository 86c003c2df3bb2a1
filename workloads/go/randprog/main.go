// Command randprog runs the testbed's random programs (collector/tests/random) on real Go
// objects, for the differential test against Go (issue 23, scripts/diff-go.sh). It reads
// programs from stdin and writes one trace per program to stdout.
//
// Input, one operation per line (registers r, weak registers w, cleanup tokens t, global
// slots g, object slots s; -1 stands for nil):
//
//	program SEED
//	alloc R | store R S V | load R R S | copy R R | drop R | keep R
//	sglobal G V | lglobal R G | setfin R | clearfin R | cleanup R T | stop T
//	weak R W | upgrade R W | gc
//	end
//
// Output, per program: "program SEED", one line per collection and "end". A line is
//
//	gc|final fin IDS cleanup IDS freed IDS weaknil IDS
//
// (IDS: sorted, comma-separated, "-" when none): the objects whose finalizer started,
// the cleanup registrations that ran, the objects freed, and the weak handles (by
// creation number) that first read nil, during that collection. "gc" lines are the
// program's own runtime.GC operations; "final" lines come after the program has ended
// (its registers cleared, the global slots kept), one per collection until one changes
// nothing. Every object carries a probe cleanup: it running is how "freed" is observed.
//
// Reachability is exact: every object is reached only through the global tables below
// (never a live local across runtime.GC), objects have pointer fields (never tiny-packed),
// GOGC is off, and a collection is runtime.GC() followed by a wait, read from
// runtime/metrics, until every queued finalizer and cleanup has executed. The queued
// counts are complete when runtime.GC returns: it sweeps until nothing is left and waits
// for isSweepDone (mgc.go: GC), and the sweep counts each finalizer as it queues it
// (mfinal.go: queuefinalizer, finqueued++) and each cleanup as it enqueues it into its
// P's block (mcleanup.go: enqueue, pp.cleanupsQueued++), before the last sweeper's flush
// hands partial blocks to the cleanup goroutines; executed is counted after each block
// has run, so executed == queued means every callback has returned.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"weak"
)

// node is a program object: three reference slots, its id and its program's number.
type node struct {
	f      [3]*node
	id     int
	prog   int
	hasFin bool
}

// tag names a registration of one program.
type tag struct{ prog, id int }

// The program's roots: registers and the global slots (heap-only reachability).
var (
	regs    [6]*node
	globals [4]*node
	weaks   [3]*weak.Pointer[node]
	tokens  [3]*runtime.Cleanup
	made    []weak.Pointer[node] // every weak handle, by creation number
	wasNil  []bool
)

// The current program's counters and the events of the collection in progress.
var (
	mu                    sync.Mutex
	prog                  int
	nextObj, nextCleanup  int
	fins, cleanups, freed []int
)

func finalizer(n *node) {
	mu.Lock()
	if n.prog == prog {
		fins = append(fins, n.id)
	}
	mu.Unlock()
}

func cleanupRan(t tag) {
	mu.Lock()
	if t.prog == prog {
		cleanups = append(cleanups, t.id)
	}
	mu.Unlock()
}

func probeRan(t tag) {
	mu.Lock()
	if t.prog == prog {
		freed = append(freed, t.id)
	}
	mu.Unlock()
}

var samples = []metrics.Sample{
	{Name: "/gc/finalizers/queued:finalizers"},
	{Name: "/gc/finalizers/executed:finalizers"},
	{Name: "/gc/cleanups/queued:cleanups"},
	{Name: "/gc/cleanups/executed:cleanups"},
}

// collect runs one cycle and waits until what it queued has executed.
//
//go:noinline
func collect() {
	runtime.GC()
	for {
		metrics.Read(samples)
		if samples[0].Value.Uint64() == samples[1].Value.Uint64() &&
			samples[2].Value.Uint64() == samples[3].Value.Uint64() {
			return
		}
		runtime.Gosched()
	}
}

// newlyNil returns the weak handles that read nil now and did not before.
//
//go:noinline
func newlyNil() []int {
	var out []int
	for i := range made {
		if !wasNil[i] && made[i].Value() == nil {
			wasNil[i] = true
			out = append(out, i)
		}
	}
	return out
}

func ids(v []int) string {
	if len(v) == 0 {
		return "-"
	}
	v = slices.Clone(v)
	slices.Sort(v)
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// cycle collects once and writes its line; it reports whether anything happened.
func cycle(w *bufio.Writer, kind string) bool {
	collect()
	nils := newlyNil()
	mu.Lock()
	fmt.Fprintf(w, "%s fin %s cleanup %s freed %s weaknil %s\n",
		kind, ids(fins), ids(cleanups), ids(freed), ids(nils))
	busy := len(fins)+len(cleanups)+len(freed)+len(nils) > 0
	fins, cleanups, freed = nil, nil, nil
	mu.Unlock()
	return busy
}

func reg(i int) *node {
	if i < 0 {
		return nil
	}
	return regs[i]
}

// apply runs one operation (its arguments already parsed).
func apply(w *bufio.Writer, op string, a []int) error {
	switch op {
	case "alloc":
		n := &node{id: nextObj, prog: prog}
		nextObj++
		runtime.AddCleanup(n, probeRan, tag{prog, n.id})
		regs[a[0]] = n
	case "store":
		if n := regs[a[0]]; n != nil {
			n.f[a[1]] = reg(a[2])
		}
	case "load":
		if n := regs[a[1]]; n != nil {
			regs[a[0]] = n.f[a[2]]
		}
	case "copy":
		regs[a[0]] = regs[a[1]]
	case "drop":
		regs[a[0]] = nil
	case "keep":
		runtime.KeepAlive(regs[a[0]])
	case "sglobal":
		globals[a[0]] = reg(a[1])
	case "lglobal":
		regs[a[0]] = globals[a[1]]
	case "setfin":
		if n := regs[a[0]]; n != nil && !n.hasFin {
			n.hasFin = true
			runtime.SetFinalizer(n, finalizer)
		}
	case "clearfin":
		if n := regs[a[0]]; n != nil && n.hasFin {
			n.hasFin = false
			runtime.SetFinalizer(n, nil)
		}
	case "cleanup":
		if n := regs[a[0]]; n != nil {
			c := runtime.AddCleanup(n, cleanupRan, tag{prog, nextCleanup})
			nextCleanup++
			tokens[a[1]] = &c
		}
	case "stop":
		if c := tokens[a[0]]; c != nil {
			c.Stop()
		}
	case "weak":
		if n := regs[a[0]]; n != nil {
			p := weak.Make(n)
			made = append(made, p)
			wasNil = append(wasNil, false)
			weaks[a[1]] = &p
		}
	case "upgrade":
		if p := weaks[a[1]]; p != nil {
			regs[a[0]] = p.Value()
		}
	case "gc":
		cycle(w, "gc")
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	return nil
}

// reset clears every root and counter for program number p.
func reset(p int) {
	mu.Lock()
	prog = p
	nextObj, nextCleanup = 0, 0
	fins, cleanups, freed = nil, nil, nil
	mu.Unlock()
	regs, globals = [6]*node{}, [4]*node{}
	weaks, tokens = [3]*weak.Pointer[node]{}, [3]*runtime.Cleanup{}
	made, wasNil = nil, nil
}

// finish ends a program: its registers go, then collections run to a fixed point.
func finish(w *bufio.Writer) {
	regs = [6]*node{}
	for i := 0; i < 64 && cycle(w, "final"); i++ {
	}
	fmt.Fprintln(w, "end")
}

func run() error {
	debug.SetGCPercent(-1)
	in := bufio.NewScanner(os.Stdin)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	programs := 0
	for line := 1; in.Scan(); line++ {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		args := make([]int, len(fields)-1)
		for i, f := range fields[1:] {
			v, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("line %d: %v", line, err)
			}
			args[i] = v
		}
		switch fields[0] {
		case "program":
			programs++
			reset(programs)
			fmt.Fprintf(w, "program %s\n", fields[1])
		case "end":
			finish(w)
		default:
			if err := apply(w, fields[0], args); err != nil {
				return fmt.Errorf("line %d: %v", line, err)
			}
		}
	}
	return in.Err()
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "randprog:", err)
		os.Exit(2)
	}
}
