//go:build unix

package twin

import "syscall"

// OffHeapSamples returns an empty slice with room for n latency samples in memory
// mapped outside Go's heap (pages are touched only as samples are appended), so that a
// workload recording millions of samples does not grow the heap its collector paces by
// (the testbed records into histograms outside its heap). Appending past n moves the
// samples onto the heap. It falls back to make when the mapping fails.
func OffHeapSamples(n int) []int64 {
	if n <= 0 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, n*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|mapNoReserve)
	if err != nil {
		return make([]int64, 0, n)
	}
	return unsafeInt64s(b)[:0]
}
