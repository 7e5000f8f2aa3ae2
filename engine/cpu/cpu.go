package cpu

import (
	"fmt"
	"math"
	"runtime"

	"github.com/impetus-llm/impetus/engine/ops"
)

// Backend implements ops.Backend on the CPU. It runs one step at a time.
type Backend struct {
	threads int
	pool    *pool
	arena   *arena
	scratch [][]float32 // one per worker
	qa      qact
	fa      fact
	intDot  bool  // integer kernels (int16 activations) instead of float ones
	err     error // first error of the current step
	useFast bool  // integer SIMD kernels enabled (tests switch them off)
	ropes   map[*ops.RoPE]*ropeTable
}

// New returns a CPU backend using threads worker threads (threads <= 0: one
// per CPU).
func New(threads int) ops.Backend { return NewBackend(threads) }

// NewBackend is New returning the concrete type (for benchmarks and tests).
func NewBackend(threads int) *Backend {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return &Backend{
		threads: threads,
		pool:    newPool(threads),
		arena:   newArena(),
		scratch: make([][]float32, threads),
		useFast: true,
		ropes:   map[*ops.RoPE]*ropeTable{},
	}
}

// Name implements ops.Backend.
func (b *Backend) Name() string { return "cpu" }

// Device implements ops.DeviceDescriber: the cores used and the kernels
// this processor runs.
func (b *Backend) Device() string {
	threads := "threads"
	if b.threads == 1 {
		threads = "thread"
	}
	return fmt.Sprintf("CPU, %d %s, %s", b.threads, threads, kernelFamily())
}

// Threads is the number of worker threads.
func (b *Backend) Threads() int { return b.threads }

// SetSIMD switches the integer SIMD kernels on or off (on by default where
// the CPU supports them); off means the portable dequantize-and-dot path.
func (b *Backend) SetSIMD(on bool) { b.useFast = on }

// SetIntegerDot selects the integer-dot quantized kernels (activations
// quantized to int16 per 64-block) instead of the float kernels. The float
// kernels are exact to float32 rounding and the default; see the package
// benchmarks for the speed of both.
func (b *Backend) SetIntegerDot(on bool) { b.intDot = on }

// Close implements ops.Backend.
func (b *Backend) Close() error {
	b.pool.close()
	return nil
}

func (b *Backend) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("cpu backend: "+format, args...)
	}
}

// ten unwraps an ops.Tensor of this backend.
func (b *Backend) ten(x ops.Tensor) *tensor {
	t, ok := x.(*tensor)
	if !ok || t == nil {
		b.fail("tensor %T does not belong to the cpu backend", x)
		return b.arena.tensor(1, 1)
	}
	return t
}

// LoadLinear implements ops.Backend.
func (b *Backend) LoadLinear(s ops.LinearSpec) (ops.Linear, error) {
	l, err := loadLinear(s)
	if err != nil {
		return nil, err
	}
	return l, nil
}

type vector struct{ w []float32 }

func (v *vector) Len() int { return len(v.w) }

// LoadVector implements ops.Backend.
func (b *Backend) LoadVector(r *ops.Raw, addOne bool) (ops.Vector, error) {
	if r == nil {
		return nil, fmt.Errorf("cpu backend: no vector tensor")
	}
	if len(r.Shape) != 1 {
		return nil, fmt.Errorf("%s: tensor %s has shape %v; want 1 dimension", r.File, r.Name, r.Shape)
	}
	if err := r.Check([]int{r.Shape[0]}, ops.F32, ops.F16, ops.BF16); err != nil {
		return nil, err
	}
	w, err := widen(r)
	if err != nil {
		return nil, err
	}
	for i, f := range w {
		if f != f || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("%s: tensor %s holds a non-finite value (%v at index %d): the file is corrupt", r.File, r.Name, f, i)
		}
	}
	if addOne {
		for i := range w {
			w[i]++
		}
	}
	return &vector{w: w}, nil
}

// Embed implements ops.Backend.
func (b *Backend) Embed(table ops.Linear, ids []int32) ops.Tensor {
	l, ok := table.(*linear)
	if !ok {
		b.fail("embedding table %T does not belong to the cpu backend", table)
		return b.arena.tensor(len(ids), 1)
	}
	y := b.arena.tensor(len(ids), l.in)
	if b.err != nil {
		return y
	}
	for i, id := range ids {
		if id < 0 || int(id) >= l.out {
			b.fail("token id %d out of range [0, %d)", id, l.out)
			return y
		}
		dst := y.row(i)
		src := l.rowF32(int(id), dst)
		if &src[0] != &dst[0] {
			copy(dst, src)
		}
	}
	return y
}

// RMSNorm implements ops.Backend.
func (b *Backend) RMSNorm(x ops.Tensor, w ops.Vector, eps float32) ops.Tensor {
	xt := b.ten(x)
	v, ok := w.(*vector)
	y := b.arena.tensor(xt.rows, xt.cols)
	if !ok {
		b.fail("norm weight %T does not belong to the cpu backend", w)
		return y
	}
	n := len(v.w)
	if n == 0 || xt.cols%n != 0 {
		b.fail("rmsnorm: width %d is not a multiple of the weight's %d", xt.cols, n)
		return y
	}
	if b.err != nil {
		return y
	}
	for i := 0; i+n <= len(xt.data); i += n {
		src, dst := xt.data[i:i+n], y.data[i:i+n]
		var ss float64
		for _, f := range src {
			ss += float64(f) * float64(f)
		}
		inv := float32(1 / math.Sqrt(ss/float64(n)+float64(eps)))
		for j, f := range src {
			dst[j] = f * inv * v.w[j]
		}
	}
	return y
}

// Linear implements ops.Backend.
func (b *Backend) Linear(x ops.Tensor, w ops.Linear) ops.Tensor {
	xt := b.ten(x)
	l, ok := w.(*linear)
	if !ok {
		b.fail("linear %T does not belong to the cpu backend", w)
		return b.arena.tensor(xt.rows, 1)
	}
	y := b.arena.tensor(xt.rows, l.out)
	if xt.cols != l.in {
		b.fail("linear %s: input width %d, weight expects %d", l.name, xt.cols, l.in)
		return y
	}
	if b.err != nil {
		return y
	}
	b.matmul(xt, y, l)
	return y
}

// LinearN implements ops.MultiLinear: linears whose inputs are prepared the
// same way run as one parallel section.
func (b *Backend) LinearN(x ops.Tensor, ws []ops.Linear, out []ops.Tensor) {
	xt := b.ten(x)
	ls := make([]*linear, len(ws))
	ys := make([]*tensor, len(ws))
	same := true
	for i, w := range ws {
		l, ok := w.(*linear)
		if !ok || xt.cols != l.in || b.err != nil {
			// let Linear report the problem
			for j := range ws {
				out[j] = b.Linear(x, ws[j])
			}
			return
		}
		ls[i] = l
		ys[i] = b.arena.tensor(xt.rows, l.out)
		out[i] = ys[i]
		same = same && b.actLayout(l) == b.actLayout(ls[0])
	}
	if !same {
		for i, l := range ls {
			b.matmul(xt, ys[i], l)
		}
		return
	}
	b.matmulN(xt, ys, ls)
}

type ropeTable struct {
	cos, sin []float32 // [pos][Dims/2]
	n        int
}

func (b *Backend) ropeTable(r *ops.RoPE, n int) *ropeTable {
	rt := b.ropes[r]
	if rt == nil {
		rt = &ropeTable{}
		b.ropes[r] = rt
	}
	if n <= rt.n {
		return rt
	}
	n = max(n, 2*rt.n, 256)
	half := r.Dims / 2
	cos := make([]float32, n*half)
	sin := make([]float32, n*half)
	for p := 0; p < n; p++ {
		for i := 0; i < half; i++ {
			s, c := math.Sincos(float64(p) * r.PosScale * r.InvFreq[i])
			cos[p*half+i], sin[p*half+i] = float32(c), float32(s)
		}
	}
	rt.cos, rt.sin, rt.n = cos, sin, n
	return rt
}

// RoPE implements ops.Backend.
func (b *Backend) RoPE(x ops.Tensor, pos int, r *ops.RoPE) ops.Tensor {
	xt := b.ten(x)
	y := b.arena.tensor(xt.rows, xt.cols)
	D := r.HeadDim
	if D <= 0 || xt.cols%D != 0 || r.Dims > D || len(r.InvFreq) != r.Dims/2 {
		b.fail("rope: width %d does not fit head_dim %d / rotary dims %d", xt.cols, D, r.Dims)
		return y
	}
	if b.err != nil {
		return y
	}
	half := r.Dims / 2
	rt := b.ropeTable(r, pos+xt.rows)
	copy(y.data, xt.data)
	for t := 0; t < xt.rows; t++ {
		cs := rt.cos[(pos+t)*half : (pos+t+1)*half]
		sn := rt.sin[(pos+t)*half : (pos+t+1)*half]
		row := y.row(t)
		for h := 0; h+D <= len(row); h += D {
			a := row[h : h+half]
			c := row[h+half : h+2*half]
			for i := range a {
				x1, x2 := a[i], c[i]
				a[i] = x1*cs[i] - x2*sn[i]
				c[i] = x2*cs[i] + x1*sn[i]
			}
		}
	}
	return y
}

// Gate implements ops.Backend.
func (b *Backend) Gate(act ops.Act, gate, up ops.Tensor) ops.Tensor {
	g, u := b.ten(gate), b.ten(up)
	y := b.arena.tensor(g.rows, g.cols)
	if g.rows != u.rows || g.cols != u.cols {
		b.fail("gate: shapes %dx%d and %dx%d differ", g.rows, g.cols, u.rows, u.cols)
		return y
	}
	if b.err != nil {
		return y
	}
	if act != ops.SiLU && act != ops.GELUTanh {
		b.fail("gate: unknown activation %v", act)
		return y
	}
	n := len(y.data)
	if n < 1<<15 {
		// a decode step's gate is a few microseconds: less than a fork-join
		gateRows(act, g.data, u.data, y.data)
		return y
	}
	b.pool.parallel(n, 1024, func(_, lo, hi int) {
		gateRows(act, g.data[lo:hi], u.data[lo:hi], y.data[lo:hi])
	})
	return y
}

func (b *Backend) binary(name string, x, z ops.Tensor, f func(a, c float32) float32) ops.Tensor {
	a, c := b.ten(x), b.ten(z)
	y := b.arena.tensor(a.rows, a.cols)
	if a.rows != c.rows || a.cols != c.cols {
		b.fail("%s: shapes %dx%d and %dx%d differ", name, a.rows, a.cols, c.rows, c.cols)
		return y
	}
	if b.err != nil {
		return y
	}
	for i := range y.data {
		y.data[i] = f(a.data[i], c.data[i])
	}
	return y
}

// Add implements ops.Backend.
func (b *Backend) Add(x, z ops.Tensor) ops.Tensor {
	return b.binary("add", x, z, func(a, c float32) float32 { return a + c })
}

// Mul implements ops.Backend.
func (b *Backend) Mul(x, z ops.Tensor) ops.Tensor {
	return b.binary("mul", x, z, func(a, c float32) float32 { return a * c })
}

// Scale implements ops.Backend.
func (b *Backend) Scale(x ops.Tensor, s float32) ops.Tensor {
	xt := b.ten(x)
	y := b.arena.tensor(xt.rows, xt.cols)
	for i, v := range xt.data {
		y.data[i] = v * s
	}
	return y
}

// LastRow implements ops.Backend.
func (b *Backend) LastRow(x ops.Tensor) ops.Tensor {
	xt := b.ten(x)
	if xt.rows <= 1 {
		return xt
	}
	return &tensor{rows: 1, cols: xt.cols, data: xt.row(xt.rows - 1)}
}

// Columns implements ops.Backend.
func (b *Backend) Columns(x ops.Tensor, from, to int) ops.Tensor {
	xt := b.ten(x)
	if from < 0 || to > xt.cols || from >= to {
		b.fail("columns [%d, %d) of a %d-wide tensor", from, to, xt.cols)
		return b.arena.tensor(xt.rows, max(1, to-from))
	}
	y := b.arena.tensor(xt.rows, to-from)
	for t := 0; t < xt.rows; t++ {
		copy(y.row(t), xt.data[t*xt.cols+from:t*xt.cols+to])
	}
	return y
}

// Logits implements ops.Backend.
func (b *Backend) Logits(x ops.Tensor) ([]float32, error) {
	xt := b.ten(x)
	if b.err != nil {
		return nil, b.err
	}
	if xt.rows != 1 {
		return nil, fmt.Errorf("cpu backend: logits of %d rows; want 1 (use LastRow)", xt.rows)
	}
	out := make([]float32, xt.cols)
	copy(out, xt.data)
	for i, v := range out {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return nil, fmt.Errorf("cpu backend: %w (%v at index %d): the weights are likely corrupt (NaN/Inf) or overflow", ops.ErrNonFinite, v, i)
		}
	}
	return out, nil
}

// Sync implements ops.Backend: the CPU backend is eager, so only the
// step's error remains to report.
func (b *Backend) Sync() error { return b.err }

// Release implements ops.Backend.
func (b *Backend) Release() {
	b.arena.reset()
	b.qa.src = nil
	b.fa.src = nil
	b.err = nil
}
