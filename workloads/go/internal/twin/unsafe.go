package twin

import "unsafe"

// unsafeInt64s views b (8-byte aligned, as a mapping is) as int64s.
func unsafeInt64s(b []byte) []int64 {
	return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
}
