// Package twin is what the Go twins of the testbed's workloads share: the command line
// (the testbed's shared flags that Go can honour), the run's measurements from
// runtime/metrics, and the summary.json schema of results/README.md.
//
// Knobs: GOGC, GOMAXPROCS and GOMEMLIMIT are read from the environment by the Go runtime
// as usual; --gogc, --gomaxprocs and --memory-limit, when given, override them through
// runtime/debug and runtime.GOMAXPROCS. The testbed-only flags (--barrier, --stw,
// --mark-workers, --heap-limit, --verify, --check-leaks, --gctrace) have no Go
// equivalent and are not accepted; --cleanup-workers takes only "auto" (Go's runtime
// sizes its cleanup goroutines itself).
package twin

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// Workload describes a twin to Parse: its name and the defaults and limits of the flags
// whose meaning depends on the workload.
type Workload struct {
	// Name is the workload's name, as in summary.json ("gcbench", "lru", ...).
	Name string
	// Mutators is the default --mutators (goroutines doing the work).
	Mutators int
	// MaxMutators is the most --mutators the workload can use; 0 means no limit.
	MaxMutators int
	// Duration is the default --duration in seconds; 0 means none.
	Duration float64
	// CleanupWorkers says whether the workload takes --cleanup-workers (auto only).
	CleanupWorkers bool
}

// Common holds the shared flags after Parse.
type Common struct {
	workload    Workload
	gogc        string
	gomaxprocs  int
	memoryLimit string
	cleanup     string
	own         map[string]any
	// Mutators is the number of goroutines doing the workload's work.
	Mutators int
	// Duration is --duration in seconds, 0 when not given and the workload has no
	// default.
	Duration float64
	// Seed seeds the workload's random numbers.
	Seed uint64
	// Out is the report directory, "" for none.
	Out string
	// JSON prints summary.json on stdout instead of the text report.
	JSON bool
	// Quiet prints no text report.
	Quiet bool
}

// Register adds the shared flags to fs (call it before fs.Parse, then Common.Check).
func Register(fs *flag.FlagSet, w Workload) *Common {
	c := &Common{workload: w}
	fs.StringVar(&c.gogc, "gogc", "", "GOGC: heap growth percent that triggers a cycle, or \"off\" (default: the GOGC environment variable, else 100)")
	fs.IntVar(&c.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS (default: the environment, else all cores)")
	fs.StringVar(&c.memoryLimit, "memory-limit", "", "GOMEMLIMIT in bytes, with an optional KiB/MiB/GiB suffix (default: the environment, else none)")
	fs.IntVar(&c.Mutators, "mutators", w.Mutators, "goroutines doing the work")
	fs.Float64Var(&c.Duration, "duration", w.Duration, "seconds to run (> 0) where the workload takes it")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the workload's random numbers")
	fs.StringVar(&c.Out, "out", "", "report directory for summary.json and latency.hgrm (default: none)")
	fs.BoolVar(&c.JSON, "json", false, "print summary.json on stdout instead of the text report")
	fs.BoolVar(&c.Quiet, "quiet", false, "no text report")
	if w.CleanupWorkers {
		fs.StringVar(&c.cleanup, "cleanup-workers", "auto", "cleanup goroutines: only \"auto\" (Go's runtime decides)")
	}
	return c
}

// Usage prints "error: <msg>" on stderr and exits with status 2, as the flag package
// does for a flag it cannot parse.
func Usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(2)
}

// Check validates the shared flags, applies --gogc, --gomaxprocs and --memory-limit to
// the runtime, and creates --out; any problem is a usage error (exit status 2).
func (c *Common) Check() {
	if c.gogc != "" {
		pct, err := ParseGogc(c.gogc)
		if err != nil {
			Usage("invalid value %q for --gogc: %v", c.gogc, err)
		}
		debug.SetGCPercent(pct)
	}
	if c.gomaxprocs != 0 {
		if c.gomaxprocs < 1 || c.gomaxprocs > 1024 {
			Usage("invalid GOMAXPROCS %d: expected an integer in 1..=1024", c.gomaxprocs)
		}
		runtime.GOMAXPROCS(c.gomaxprocs)
	}
	if c.memoryLimit != "" {
		b, err := ParseBytes(c.memoryLimit)
		if err != nil {
			Usage("invalid value %q for --memory-limit: %v", c.memoryLimit, err)
		}
		debug.SetMemoryLimit(b)
	}
	if c.Mutators < 1 || c.Mutators > 1024 {
		Usage("invalid mutator count %d: expected an integer in 1..=1024", c.Mutators)
	}
	if max := c.workload.MaxMutators; max > 0 && c.Mutators > max {
		Usage("this workload runs at most %d mutator(s), not %d", max, c.Mutators)
	}
	if c.Duration < 0 || math.IsNaN(c.Duration) || math.IsInf(c.Duration, 0) {
		Usage("invalid duration %v: expected a number of seconds greater than 0", c.Duration)
	}
	if c.workload.CleanupWorkers && c.cleanup != "auto" {
		Usage("invalid value %q for --cleanup-workers: Go's runtime has no setting for it; only \"auto\"", c.cleanup)
	}
	if c.Out != "" {
		if err := os.MkdirAll(c.Out, 0o755); err != nil {
			Usage("cannot create --out %s: %v", c.Out, err)
		}
	}
}

// Set adds a workload's own flag to summary.json's config, as the testbed's harness
// does (e.g. "length" for finalizer-chain).
func (c *Common) Set(key string, value any) {
	if c.own == nil {
		c.own = map[string]any{}
	}
	c.own[key] = value
}

// Text says whether the twin prints its text report (neither --json nor --quiet).
func (c *Common) Text() bool { return !c.JSON && !c.Quiet }

// config is summary.json's config object: the testbed's shared keys, with the values in
// force in this Go process (the runtime's own for the settings Go does not expose).
func (c *Common) config() map[string]any {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	gogc := "off"
	if p := int64(s[0].Value.Uint64()); p >= 0 {
		gogc = strconv.FormatInt(p, 10)
	}
	var limit any
	if l := s[1].Value.Uint64(); l < math.MaxInt64 {
		limit = l
	}
	var duration any
	if c.Duration > 0 {
		duration = c.Duration
	}
	config := map[string]any{
		"gogc":            gogc,
		"barrier":         "go-hybrid",
		"stw":             false,
		"mutators":        c.Mutators,
		"mark_workers":    "auto",
		"cleanup_workers": "auto",
		"heap_limit":      nil,
		"memory_limit":    limit,
		"gomaxprocs":      runtime.GOMAXPROCS(0),
		"duration":        duration,
		"seed":            c.Seed,
		"verify":          false,
		"check_leaks":     false,
		"gctrace":         false,
		"out":             c.Out,
		"json":            c.JSON,
		"quiet":           c.Quiet,
		"runtime":         runtime.Version(),
	}
	for k, v := range c.own {
		config[k] = v
	}
	return config
}

// ParseGogc reads Go's GOGC spellings: a non-negative percentage, "off", or a negative
// number (also off, returned as -1).
func ParseGogc(s string) (int, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "off") {
		return -1, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > math.MaxUint32 {
		return 0, fmt.Errorf("expected a non-negative integer percentage or \"off\"")
	}
	if n < 0 {
		return -1, nil
	}
	return int(n), nil
}

// ParseBytes reads a positive size in bytes, plain or with a KiB, MiB or GiB suffix (any
// letter case; a fraction with a suffix is rounded down to whole bytes).
func ParseBytes(s string) (int64, error) {
	bad := fmt.Errorf("expected a positive number of bytes, optionally with a KiB, MiB or GiB suffix")
	t := strings.TrimSpace(s)
	split := strings.IndexFunc(t, func(r rune) bool { return r < 128 && ('a' <= r|0x20 && r|0x20 <= 'z') })
	if split < 0 {
		split = len(t)
	}
	number, suffix := strings.TrimSpace(t[:split]), strings.ToLower(t[split:])
	scale := map[string]float64{"": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[suffix]
	if scale == 0 {
		return 0, bad
	}
	if suffix == "" || !strings.Contains(number, ".") {
		n, err := strconv.ParseInt(number, 10, 64)
		if err != nil || n <= 0 || float64(n)*scale >= math.MaxInt64 {
			return 0, bad
		}
		return n * int64(scale), nil
	}
	v, err := strconv.ParseFloat(number, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || v*scale >= math.MaxInt64 || int64(v*scale) <= 0 {
		return 0, bad
	}
	return int64(v * scale), nil
}
