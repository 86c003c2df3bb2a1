//go:build !unix

package twin

// OffHeapSamples returns an empty slice with room for n samples (on the heap: this
// platform has no anonymous mappings in the standard library).
func OffHeapSamples(n int) []int64 { return make([]int64, 0, n) }
