package main

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The free list hands out the lowest free entry, as a Unix open takes the lowest free
// descriptor, under any order of pushes and pops.
func TestLowestPopsTheLeastFreeEntry(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h lowest
	var model []int
	for step := range 20000 {
		if len(model) > 0 && r.IntN(3) == 0 {
			got := h.pop()
			least := slices.Min(model)
			model = slices.DeleteFunc(model, func(v int) bool { return v == least })
			if got != least {
				t.Fatalf("step %d: popped %d, the least free entry is %d", step, got, least)
			}
			continue
		}
		fd := r.IntN(5000)
		if slices.Contains(model, fd) {
			continue // an entry is freed once before it is taken again
		}
		h.push(fd)
		model = append(model, fd)
	}
	if h.Len() != len(model) {
		t.Fatalf("%d entries held, %d expected", h.Len(), len(model))
	}
}

// Pushing and popping allocate nothing once the list has grown (container/heap's boxing
// of entries above 255 did).
func TestLowestAllocatesNothing(t *testing.T) {
	h := make(lowest, 0, 16)
	n := testing.AllocsPerRun(1000, func() {
		h.push(1000)
		h.push(700)
		if h.pop() != 700 || h.pop() != 1000 {
			t.Fatal("wrong order")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations a round", n)
	}
}
