package cpu

import "math/bits"

// tensor is an activation: rows × cols float32, row-major.
type tensor struct {
	rows, cols int
	data       []float32
}

func (t *tensor) Dims() (int, int) { return t.rows, t.cols }

func (t *tensor) row(i int) []float32 { return t.data[i*t.cols : (i+1)*t.cols] }

// arena hands out the tensors of one step and takes them all back at
// Release. Buffers are kept in power-of-two size classes, so a decode step
// (same shapes every token) allocates nothing after the first.
type arena struct {
	free    map[int][][]float32
	used    [][]float32
	structs []*tensor
	nstruct int
}

func newArena() *arena { return &arena{free: map[int][][]float32{}} }

func sizeClass(n int) int {
	if n <= 64 {
		return 64
	}
	return 1 << bits.Len(uint(n-1))
}

func (a *arena) floats(n int) []float32 {
	c := sizeClass(n)
	var buf []float32
	if l := a.free[c]; len(l) > 0 {
		buf = l[len(l)-1]
		a.free[c] = l[:len(l)-1]
	} else {
		buf = make([]float32, c)
	}
	a.used = append(a.used, buf)
	return buf[:n]
}

func (a *arena) tensor(rows, cols int) *tensor {
	var t *tensor
	if a.nstruct < len(a.structs) {
		t = a.structs[a.nstruct]
	} else {
		t = &tensor{}
		a.structs = append(a.structs, t)
	}
	a.nstruct++
	t.rows, t.cols = rows, cols
	t.data = a.floats(rows * cols)
	return t
}

func (a *arena) reset() {
	for _, b := range a.used {
		c := cap(b)
		a.free[c] = append(a.free[c], b[:c])
	}
	a.used = a.used[:0]
	for i := 0; i < a.nstruct; i++ {
		a.structs[i].data = nil
	}
	a.nstruct = 0
}
