// Command rootsbench is the Go twin of the testbed's rootsbench: the cost of root
// scanning in the pauses. One goroutine holds N pointers (roots) to small pointer-free
// objects (8 bytes: Go's tiny allocator puts two in a 16-byte block, as the testbed's
// leaves) on its stack, in a recursion of frames of 64 pointers each, and --cycles
// runtime.GC() cycles run with GOGC off, for N = 1000, 10000, 100000, 1000000.
//
// Go has one barrier, the hybrid one as Go 1.27 implements it, so there is one row per N
// (barrier "go-hybrid", the name of the testbed's barrier that reproduces it).
// Go reports no per-pause figures to a program (the runtime/metrics pause histogram
// does not say which pause a sample was), so each N runs in a child process of this
// binary with GODEBUG=gctrace=1, and the twin reads the pauses from its trace lines:
// "A+B+C ms clock", A the stop-the-world sweep termination (the pause that starts the
// mark: start_pause_us) and C the mark termination (termination_pause_us); Go prints
// them with two significant digits. Go sweeps after the termination pause, never in it,
// so termination_sweep_us is 0 and termination_without_sweep_us is the termination
// pause. Medians over the cycles, in microseconds. With --json it prints the testbed's
// rows; like the testbed's rootsbench it takes only --cycles and --json.
//
//	go run ./rootsbench [--cycles 7] [--json]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// childEnv names the child's job, "ROOTS CYCLES".
const childEnv = "TESTBED_TWIN_ROOTSBENCH_CHILD"

type leaf struct{ x uint64 }

// frame is the roots one stack frame holds.
const frame = 64

// hold keeps n roots on the stack, frame by frame, and runs the cycles at the bottom.
//
//go:noinline
func hold(n, cycles int) int {
	var roots [frame]*leaf
	k := min(n, frame)
	for i := range k {
		roots[i] = &leaf{x: uint64(i)}
	}
	if n > frame {
		hold(n-frame, cycles)
	} else {
		for range cycles {
			runtime.GC()
		}
	}
	live := 0
	for _, r := range roots[:k] {
		if r != nil {
			live++
		}
	}
	return live
}

func child(job string) {
	var roots, cycles int
	if _, err := fmt.Sscan(job, &roots, &cycles); err != nil {
		fmt.Fprintf(os.Stderr, "rootsbench child: bad job %q\n", job)
		os.Exit(2)
	}
	debug.SetGCPercent(-1)
	hold(roots, cycles)
}

// clock matches a forced cycle's trace line and captures its wall-clock phases.
var clock = regexp.MustCompile(`^gc \d+ @\S+ \S+: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock.*\(forced\)`)

type row struct {
	Barrier                   string  `json:"barrier"`
	Roots                     int     `json:"roots"`
	StartPauseUs              float64 `json:"start_pause_us"`
	TerminationPauseUs        float64 `json:"termination_pause_us"`
	TerminationSweepUs        float64 `json:"termination_sweep_us"`
	TerminationWithoutSweepUs float64 `json:"termination_without_sweep_us"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func measure(self string, roots, cycles int) row {
	cmd := exec.Command(self)
	godebug := "gctrace=1"
	if g := os.Getenv("GODEBUG"); g != "" {
		godebug = g + ",gctrace=1"
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug, fmt.Sprintf("%s=%d %d", childEnv, roots, cycles))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "rootsbench: the child for %d roots failed: %v\n%s", roots, err, stderr.String())
		os.Exit(1)
	}
	var start, term []float64
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		m := clock.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		a, _ := strconv.ParseFloat(m[1], 64)
		c, _ := strconv.ParseFloat(m[3], 64)
		start, term = append(start, a*1e3), append(term, c*1e3)
	}
	// A trace line can be lost to the regexp (seen once in a hundred runs: 6 of 7); the
	// medians are over the lines found, and a shortfall is said on stderr.
	if len(start) == 0 {
		fmt.Fprintf(os.Stderr, "rootsbench: %d roots: no forced cycle in the trace, expected %d\n", roots, cycles)
		os.Exit(1)
	}
	if len(start) != cycles {
		fmt.Fprintf(os.Stderr, "rootsbench: %d roots: %d forced cycles in the trace, expected %d; medians over those\n", roots, len(start), cycles)
	}
	t := median(term)
	return row{Barrier: "go-hybrid", Roots: roots, StartPauseUs: median(start), TerminationPauseUs: t, TerminationWithoutSweepUs: t}
}

func main() {
	if job := os.Getenv(childEnv); job != "" {
		child(job)
		return
	}
	cycles := flag.Int("cycles", 7, "cycles per configuration; medians are reported (>= 1)")
	asJSON := flag.Bool("json", false, "print JSON instead of a table")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "error: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if *cycles < 1 {
		fmt.Fprintln(os.Stderr, "error: --cycles takes an integer of at least 1")
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rootsbench: cannot find this binary to run the children: %v\n", err)
		os.Exit(1)
	}
	var rows []row
	for _, roots := range []int{1000, 10000, 100000, 1000000} {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "\rgo-hybrid with %d roots        ", roots)
		}
		rows = append(rows, measure(self, roots, *cycles))
	}
	if *asJSON {
		text, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Println(string(text))
		return
	}
	fmt.Fprintln(os.Stderr)
	fmt.Printf("%-9s %9s %14s %18s %12s %20s\n", "barrier", "roots", "start µs", "termination µs", "sweep µs", "term. - sweep µs")
	for _, r := range rows {
		fmt.Printf("%-9s %9d %14.1f %18.1f %12.1f %20.1f\n", r.Barrier, r.Roots, r.StartPauseUs, r.TerminationPauseUs, r.TerminationSweepUs, r.TerminationWithoutSweepUs)
	}
	fmt.Printf("(medians over %d forced cycles per row, from gctrace; Go %s)\n", *cycles, runtime.Version())
}
