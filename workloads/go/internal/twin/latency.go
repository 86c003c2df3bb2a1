package twin

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// SampleStats reduces raw latency samples (ns) to exact nearest-rank LatencyStats; it
// sorts samples in place.
func SampleStats(samples []int64) LatencyStats {
	n := len(samples)
	if n == 0 {
		return LatencyStats{}
	}
	slices.Sort(samples)
	at := func(q float64) uint64 { return uint64(max(samples[nearestRank(q, n)-1], 0)) }
	return LatencyStats{
		Count: uint64(n), P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max: uint64(max(samples[n-1], 0)),
	}
}

// PercentileDistribution writes samples (ns; sorted in place) as an HdrHistogram
// percentile distribution in microseconds, the layout of the testbed's latency.hgrm:
// rows at Java's percentile ticks (5 per half distance to 100%), each the exact
// nearest-rank sample, then the footer.
func PercentileDistribution(samples []int64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")
	n := len(samples)
	slices.Sort(samples)
	var mean, sq float64
	for _, v := range samples {
		mean += float64(v)
	}
	if n > 0 {
		mean /= float64(n)
		for _, v := range samples {
			sq += (float64(v) - mean) * (float64(v) - mean)
		}
		q := 0.0
		for {
			rank := nearestRank(q, n)
			us := float64(samples[rank-1]) / 1e3
			if rank >= n {
				fmt.Fprintf(&b, "%12.3f %2.12f %10d\n", float64(samples[n-1])/1e3, 1.0, n)
				break
			}
			fmt.Fprintf(&b, "%12.3f %2.12f %10d %14.2f\n", us, q, rank, 1/(1-q))
			ticks := 5 * math.Pow(2, math.Floor(math.Log2(1/(1-q)))+1)
			q += 1 / ticks
		}
	}
	std := 0.0
	var top int64
	if n > 0 {
		std = math.Sqrt(sq / float64(n))
		top = samples[n-1]
	}
	fmt.Fprintf(&b, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean/1e3, std/1e3)
	fmt.Fprintf(&b, "#[Max     = %12.3f, Total count    = %12d]\n", float64(top)/1e3, n)
	fmt.Fprintf(&b, "#[Buckets = %12d, SubBuckets     = %12d]\n", 0, 0)
	return b.Bytes()
}

// SplitMix64 is the seeded generator the testbed's workloads use (Steele, Lea and
// Flood), so that a twin draws the same numbers from the same --seed.
type SplitMix64 struct{ state uint64 }

// NewSplitMix64 seeds a generator.
func NewSplitMix64(seed uint64) *SplitMix64 { return &SplitMix64{seed} }

// Next returns the next 64 random bits.
func (s *SplitMix64) Next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Unit is uniform in [0, 1).
func (s *SplitMix64) Unit() float64 { return float64(s.Next()>>11) / float64(uint64(1)<<53) }

// Below is uniform in 0..n (n > 0), by multiply-shift.
func (s *SplitMix64) Below(n uint64) uint64 {
	hi, _ := bits.Mul64(s.Next(), n)
	return hi
}
