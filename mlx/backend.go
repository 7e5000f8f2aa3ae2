package mlx

// #include "bridge.h"
import "C"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/impetus-llm/impetus/engine/ops"
)

// Options configure a Backend.
type Options struct {
	// DType is the type activations are computed in: "f32", "f16", "bf16",
	// "native" (the model's own float type: that of the first floating-point
	// weight loaded, as mlx-lm does) or ""/"auto": float32 when MLX runs on
	// the CPU (MLX's half-precision CPU kernels are slow and less exact),
	// native on a GPU. Weights are converted to this type once, at load;
	// quantized weights stay packed.
	DType string
}

// Backend implements ops.Backend on MLX. Ops record the step in Go; Logits
// and Sync hand it to the MLX thread, which builds MLX's lazy graph and
// evaluates it once. It runs one step at a time.
type Backend struct {
	l       *library
	dt      C.mlx_dtype // activation type; fixed by the first weight when native
	dtFixed bool

	// The current step.
	nodes  []func(g *graph) C.mlx_array
	vals   []C.mlx_array // node results while the step is being evaluated
	step   uint64        // incremented by Release: tensors of older steps are stale
	err    error         // first error of the step
	begin  time.Time     // first op of the step
	caches []*kvCache    // caches written by the step

	// Owned until Close.
	weights []C.mlx_array
	files   map[string]C.mlx_map_string_to_array // safetensors opened by mlx_load_safetensors
	freqs   map[*ops.RoPE]C.mlx_array
	closed  bool
	// converted: a weight was loaded in its stored type and converted; the
	// stored-type buffer sits in MLX's cache until cleared.
	converted bool

	stats StepStats
}

// StepStats splits the time of evaluated steps (Logits and Sync calls)
// between Go and MLX.
type StepStats struct {
	Steps int
	// Record is the time from a step's first op to its Logits/Sync call:
	// Go code (the model and this package recording ops).
	Record time.Duration
	// Build is the time spent building MLX's graph on the MLX thread (cgo
	// calls into mlx-c, which checks shapes and creates graph nodes), with
	// the hand-over to that thread.
	Build time.Duration
	// Eval is the time inside mlx_eval: MLX computing.
	Eval time.Duration
	// Copy is reading the logits back and checking them.
	Copy time.Duration
}

// New opens the MLX library (if needed) and returns a backend. The error of
// a missing or unusable library is a *LoadError saying how to fix it.
func New(o Options) (*Backend, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	b := &Backend{l: l, files: map[string]C.mlx_map_string_to_array{}, freqs: map[*ops.RoPE]C.mlx_array{}}
	switch strings.ToLower(o.DType) {
	case "", "auto":
		if !l.info.Device.GPU() {
			b.dt, b.dtFixed = C.MLX_FLOAT32, true
		}
	case "native":
	case "f32", "float32":
		b.dt, b.dtFixed = C.MLX_FLOAT32, true
	case "f16", "float16":
		b.dt, b.dtFixed = C.MLX_FLOAT16, true
	case "bf16", "bfloat16":
		b.dt, b.dtFixed = C.MLX_BFLOAT16, true
	default:
		return nil, fmt.Errorf("mlx: dtype %q is not one of auto, native, f32, f16, bf16", o.DType)
	}
	return b, nil
}

// NewBackend is the engine's backend factory: New with default options.
// threads is ignored (MLX schedules its own work).
func NewBackend(threads int) (ops.Backend, error) {
	b, err := New(Options{})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Name implements ops.Backend.
func (b *Backend) Name() string { return "mlx" }

// Info describes the library and device the backend runs on.
func (b *Backend) Info() Info { return b.l.info }

// Stats returns the accumulated step timings.
func (b *Backend) Stats() StepStats { return b.stats }

// ResetStats zeroes the step timings.
func (b *Backend) ResetStats() { b.stats = StepStats{} }

// DType names the activation type ("float32", ...; "" until fixed).
func (b *Backend) DType() string {
	if !b.dtFixed {
		return ""
	}
	return dtypeName(b.dt)
}

func dtypeName(d C.mlx_dtype) string {
	switch d {
	case C.MLX_FLOAT32:
		return "float32"
	case C.MLX_FLOAT16:
		return "float16"
	case C.MLX_BFLOAT16:
		return "bfloat16"
	case C.MLX_UINT32:
		return "uint32"
	case C.MLX_INT32:
		return "int32"
	case C.MLX_BOOL:
		return "bool"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// run executes f on the MLX thread after freeing arrays released since the
// last call.
func (b *Backend) run(f func()) error {
	return b.l.exec.run(func() {
		b.l.flushFrees()
		f()
	})
}

func rawDType(d ops.DType) (C.mlx_dtype, bool) {
	switch d {
	case ops.F32:
		return C.MLX_FLOAT32, true
	case ops.F16:
		return C.MLX_FLOAT16, true
	case ops.BF16:
		return C.MLX_BFLOAT16, true
	case ops.U32:
		return C.MLX_UINT32, true
	case "I32":
		return C.MLX_INT32, true
	}
	return 0, false
}

func elemSize(d C.mlx_dtype) int {
	switch d {
	case C.MLX_FLOAT16, C.MLX_BFLOAT16:
		return 2
	case C.MLX_BOOL:
		return 1
	}
	return 4
}

// checkRaw validates a stored tensor's type, shape and byte length.
func checkRaw(r *ops.Raw, want []int, dtypes ...ops.DType) error {
	if r == nil {
		return errors.New("mlx: missing tensor")
	}
	ok := false
	for _, d := range dtypes {
		ok = ok || r.DType == d
	}
	if !ok {
		return fmt.Errorf("%s: tensor %s has dtype %s; want one of %v", r.File, r.Name, r.DType, dtypes)
	}
	if len(r.Shape) != len(want) {
		return fmt.Errorf("%s: tensor %s has shape %v; want %v", r.File, r.Name, r.Shape, want)
	}
	n := 1
	for i := range want {
		if r.Shape[i] != want[i] {
			return fmt.Errorf("%s: tensor %s has shape %v; want %v", r.File, r.Name, r.Shape, want)
		}
		n *= want[i]
	}
	dt, _ := rawDType(r.DType)
	if r.Data != nil && len(r.Data) != n*elemSize(dt) {
		return fmt.Errorf("%s: tensor %s holds %d bytes; shape %v of %s needs %d", r.File, r.Name, len(r.Data), want, r.DType, n*elemSize(dt))
	}
	return nil
}

// fixDType settles the native activation type on the first float weight.
func (b *Backend) fixDType(d C.mlx_dtype) {
	if !b.dtFixed && (d == C.MLX_FLOAT32 || d == C.MLX_FLOAT16 || d == C.MLX_BFLOAT16) {
		b.dt, b.dtFixed = d, true
	}
}

// loadRaw brings a stored tensor into MLX (MLX thread). A tensor that names
// its safetensors file is loaded with mlx_load_safetensors, MLX's own
// loader; otherwise (or if the file disagrees with r) its bytes are copied.
// Float tensors are converted to the activation type when toCompute is set.
func (b *Backend) loadRaw(g *graph, r *ops.Raw, toCompute bool) C.mlx_array {
	dt, ok := rawDType(r.DType)
	if !ok {
		g.fail(fmt.Errorf("%s: tensor %s has unsupported dtype %s", r.File, r.Name, r.DType))
		return null()
	}
	a := b.fromFile(g, r, dt)
	if isNull(a) && g.err == nil {
		if len(r.Data) == 0 {
			g.fail(fmt.Errorf("%s: tensor %s has no data", r.File, r.Name))
			return null()
		}
		a = g.fromData(unsafe.Pointer(&r.Data[0]), r.Shape, dt)
	}
	if toCompute && dt != C.MLX_UINT32 && dt != C.MLX_INT32 {
		b.fixDType(dt)
		if dt != b.dt {
			b.converted = true
		}
		a = g.astype(a, b.dt)
	}
	return a
}

// fromFile returns r from its file's mlx_load_safetensors map, or a null
// array when r has no file, the file cannot be loaded by MLX, or the stored
// tensor differs from r (the caller then copies r's bytes).
func (b *Backend) fromFile(g *graph, r *ops.Raw, dt C.mlx_dtype) C.mlx_array {
	if r.File == "" || r.Name == "" || g.err != nil {
		return null()
	}
	m, ok := b.files[r.File]
	if !ok {
		cf := C.CString(r.File)
		defer C.free(unsafe.Pointer(cf))
		m = C.mlx_map_string_to_array_new()
		meta := C.mlx_map_string_to_string_new()
		rc := C.mlx_load_safetensors(&m, &meta, cf, b.l.cpuStream)
		C.mlx_map_string_to_string_free(meta)
		if rc != 0 {
			takeError() // fall back to the bytes we were given
			C.mlx_map_string_to_array_free(m)
			m = C.mlx_map_string_to_array{}
		}
		b.files[r.File] = m
	}
	if m.ctx == nil {
		return null()
	}
	cn := C.CString(r.Name)
	defer C.free(unsafe.Pointer(cn))
	var a C.mlx_array
	if C.mlx_map_string_to_array_get(&a, m, cn) != 0 {
		takeError()
		return null()
	}
	if dtypeOf(a) != dt || !sameShape(shape(a), r.Shape) {
		C.mlx_array_free(a)
		return null()
	}
	g.arrs = append(g.arrs, a)
	return a
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// clearConverted returns the buffers of stored-type copies freed by a
// conversion to the system, so loading a model whose weights are converted
// peaks at one layer's extra copy, not the whole model's (MLX thread).
func (b *Backend) clearConverted() {
	if !b.converted {
		return
	}
	b.converted = false
	if err := check(C.mlx_clear_cache(), "mlx_clear_cache"); err != nil {
		b.l.logf("%v", err)
	}
}

// dropFiles frees the safetensors maps once loading is over, and returns
// the buffers that held stored-format copies during conversion (kept in
// MLX's allocator cache) to the system (MLX thread).
func (b *Backend) dropFiles() {
	if len(b.files) == 0 {
		return
	}
	defer func() {
		if err := check(C.mlx_clear_cache(), "mlx_clear_cache"); err != nil {
			b.l.logf("%v", err)
		}
	}()
	for k, m := range b.files {
		if m.ctx != nil {
			C.mlx_map_string_to_array_free(m)
		}
		delete(b.files, k)
	}
}

// pinAll evaluates arrs (so weights are read once, now) and keeps them
// until Close.
func (b *Backend) pinAll(g *graph, arrs ...*C.mlx_array) {
	var list []C.mlx_array
	for _, a := range arrs {
		if !isNull(*a) {
			list = append(list, *a)
		}
	}
	g.eval(list...)
	if g.err != nil {
		return
	}
	for _, a := range list {
		b.weights = append(b.weights, g.pin(a))
	}
}

// linear is a loaded linear layer or embedding table.
type linear struct {
	b                       *Backend
	name                    string
	out, in                 int
	w, scales, biases, bias C.mlx_array
	bits, group             int // 0 when dense
}

func (l *linear) Dims() (out, in int) { return l.out, l.in }

// LoadLinear implements ops.Backend.
func (b *Backend) LoadLinear(s ops.LinearSpec) (ops.Linear, error) {
	if b.closed {
		return nil, errors.New("mlx: backend is closed")
	}
	w := s.Weight
	if w == nil {
		return nil, errors.New("mlx: linear: no weight tensor")
	}
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("%s: tensor %s has shape %v; want 2 dimensions", w.File, w.Name, w.Shape)
	}
	l := &linear{b: b, name: w.Name, out: w.Shape[0]}
	if s.Quant == nil {
		l.in = w.Shape[1]
		if err := checkRaw(w, []int{l.out, l.in}, ops.F32, ops.F16, ops.BF16); err != nil {
			return nil, err
		}
	} else {
		q := *s.Quant
		switch q.Bits {
		case 2, 3, 4, 5, 6, 8:
		default:
			return nil, fmt.Errorf("%s: tensor %s: %d-bit quantization is not supported by MLX (2, 3, 4, 5, 6, 8 are)", w.File, w.Name, q.Bits)
		}
		switch q.GroupSize {
		case 32, 64, 128:
		default:
			return nil, fmt.Errorf("%s: tensor %s: group size %d is not supported by MLX (32, 64, 128 are)", w.File, w.Name, q.GroupSize)
		}
		if w.DType != ops.U32 {
			return nil, fmt.Errorf("%s: quantized tensor %s has dtype %s; want U32 (packed %d-bit)", w.File, w.Name, w.DType, q.Bits)
		}
		words := w.Shape[1]
		if words*32%q.Bits != 0 {
			return nil, fmt.Errorf("%s: tensor %s: %d words per row do not hold whole %d-bit values", w.File, w.Name, words, q.Bits)
		}
		l.in = words * 32 / q.Bits
		if l.in%q.GroupSize != 0 {
			return nil, fmt.Errorf("%s: tensor %s: input size %d is not a multiple of group size %d", w.File, w.Name, l.in, q.GroupSize)
		}
		if err := checkRaw(w, []int{l.out, words}, ops.U32); err != nil {
			return nil, err
		}
		for _, r := range []*ops.Raw{s.Scales, s.Biases} {
			if r == nil {
				return nil, fmt.Errorf("%s: quantized tensor %s has no .scales/.biases companion", w.File, w.Name)
			}
			if err := checkRaw(r, []int{l.out, l.in / q.GroupSize}, ops.F32, ops.F16, ops.BF16); err != nil {
				return nil, fmt.Errorf("%w (quantized %s: %d-bit, group %d)", err, w.Name, q.Bits, q.GroupSize)
			}
		}
		l.bits, l.group = q.Bits, q.GroupSize
	}
	if s.Bias != nil {
		if err := checkRaw(s.Bias, []int{l.out}, ops.F32, ops.F16, ops.BF16); err != nil {
			return nil, err
		}
	}
	var gerr error
	err := b.run(func() {
		g := newGraph(b.l)
		defer g.free()
		if l.bits == 0 {
			l.w = b.loadRaw(g, w, true)
		} else {
			l.w = b.loadRaw(g, w, false)
			l.scales = b.loadRaw(g, s.Scales, true)
			l.biases = b.loadRaw(g, s.Biases, true)
		}
		if s.Bias != nil {
			l.bias = b.loadRaw(g, s.Bias, true)
		}
		b.pinAll(g, &l.w, &l.scales, &l.biases, &l.bias)
		gerr = g.err
		g.free()
		b.clearConverted()
	})
	if err == nil {
		err = gerr
	}
	if err != nil {
		return nil, fmt.Errorf("mlx: loading %s: %w", w.Name, err)
	}
	return l, nil
}

// vector is a loaded 1-D weight.
type vector struct {
	n int
	a C.mlx_array
}

func (v *vector) Len() int { return v.n }

// LoadVector implements ops.Backend.
func (b *Backend) LoadVector(r *ops.Raw, addOne bool) (ops.Vector, error) {
	if b.closed {
		return nil, errors.New("mlx: backend is closed")
	}
	if r == nil {
		return nil, errors.New("mlx: no vector tensor")
	}
	if len(r.Shape) != 1 {
		return nil, fmt.Errorf("%s: tensor %s has shape %v; want 1 dimension", r.File, r.Name, r.Shape)
	}
	if err := checkRaw(r, []int{r.Shape[0]}, ops.F32, ops.F16, ops.BF16); err != nil {
		return nil, err
	}
	v := &vector{n: r.Shape[0]}
	var gerr error
	err := b.run(func() {
		g := newGraph(b.l)
		defer g.free()
		a := b.loadRaw(g, r, false)
		dt, _ := rawDType(r.DType)
		b.fixDType(dt)
		if addOne {
			// 1 + w in float32, then to the activation type: Gemma's
			// weights are stored as offsets from 1.
			a = g.add(g.astype(a, C.MLX_FLOAT32), g.scalar(1, C.MLX_FLOAT32))
		}
		v.a = g.astype(a, b.dt)
		b.pinAll(g, &v.a)
		gerr = g.err
	})
	if err == nil {
		err = gerr
	}
	if err != nil {
		return nil, fmt.Errorf("mlx: loading %s: %w", r.Name, err)
	}
	return v, nil
}

// Close implements ops.Backend: frees every weight. KV caches are freed by
// their own Release.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.l.release(b.weights...)
	b.weights = nil
	for _, f := range b.freqs {
		b.l.release(f)
	}
	b.freqs = nil
	return b.run(func() { b.dropFiles() })
}

// tensor is an activation of the current step: node id of the step's
// recording. Its value is 2-D [rows, cols] or, when heads > 0, the
// attention layout [1, heads, rows, cols/heads].
type tensor struct {
	step       uint64
	id         int
	rows, cols int
	heads      int
}

func (t *tensor) Dims() (rows, cols int) { return t.rows, t.cols }

// fail records the step's first error.
func (b *Backend) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("mlx backend: "+format, args...)
	}
}

// ten unwraps an ops.Tensor of this backend's current step.
func (b *Backend) ten(x ops.Tensor) *tensor {
	t, ok := x.(*tensor)
	switch {
	case !ok || t == nil:
		b.fail("tensor %T does not belong to the mlx backend", x)
		return &tensor{id: -1, rows: 1, cols: 1}
	case t.step != b.step:
		b.fail("tensor from an earlier step used after Release")
	}
	return t
}

// record appends a node to the step and returns its tensor.
func (b *Backend) record(rows, cols, heads int, f func(g *graph) C.mlx_array) *tensor {
	if b.closed {
		b.fail("backend is closed")
	}
	if len(b.nodes) == 0 {
		b.begin = time.Now()
	}
	if b.err != nil {
		return &tensor{step: b.step, id: -1, rows: rows, cols: cols, heads: heads}
	}
	b.nodes = append(b.nodes, f)
	return &tensor{step: b.step, id: len(b.nodes) - 1, rows: rows, cols: cols, heads: heads}
}

// val is t's array while the step is built (MLX thread).
func (b *Backend) val(g *graph, t *tensor) C.mlx_array {
	if t.id < 0 || t.id >= len(b.vals) || isNull(b.vals[t.id]) {
		g.fail(errors.New("mlx backend: tensor used after its step was evaluated (Logits/Sync end a step's graph)"))
		return null()
	}
	return b.vals[t.id]
}

// as2D is t's value as [rows, cols].
func (b *Backend) as2D(g *graph, t *tensor) C.mlx_array {
	a := b.val(g, t)
	if t.heads == 0 {
		return a
	}
	return g.reshape(g.transpose(a, 0, 2, 1, 3), t.rows, t.cols)
}

// asHeads is t's value as [1, heads, rows, cols/heads].
func (b *Backend) asHeads(g *graph, t *tensor, heads int) C.mlx_array {
	a := b.val(g, t)
	if t.heads == heads {
		return a
	}
	if t.heads != 0 {
		a = b.as2D(g, t)
	}
	return g.transpose(g.reshape(a, 1, t.rows, heads, t.cols/heads), 0, 2, 1, 3)
}

// Embed implements ops.Backend.
func (b *Backend) Embed(table ops.Linear, ids []int32) ops.Tensor {
	l, ok := table.(*linear)
	if !ok || l == nil {
		b.fail("embedding table %T does not belong to the mlx backend", table)
		return b.record(len(ids), 1, 0, nil)
	}
	if len(ids) == 0 {
		b.fail("embed: no token ids")
	}
	for _, id := range ids {
		if id < 0 || int(id) >= l.out {
			b.fail("token id %d out of range [0, %d)", id, l.out)
			break
		}
	}
	idc := append([]int32(nil), ids...)
	return b.record(len(ids), l.in, 0, func(g *graph) C.mlx_array {
		idx := g.fromData(unsafe.Pointer(&idc[0]), []int{len(idc)}, C.MLX_INT32)
		if l.bits == 0 {
			return g.take(l.w, idx, 0)
		}
		// Gather the packed rows with their scales and biases, then
		// dequantize only those rows (mlx-lm's QuantizedEmbedding).
		return g.dequantize(g.take(l.w, idx, 0), g.take(l.scales, idx, 0), g.take(l.biases, idx, 0), l.group, l.bits, b.dt)
	})
}

// RMSNorm implements ops.Backend.
func (b *Backend) RMSNorm(x ops.Tensor, w ops.Vector, eps float32) ops.Tensor {
	xt := b.ten(x)
	v, ok := w.(*vector)
	if !ok || v == nil {
		b.fail("norm weight %T does not belong to the mlx backend", w)
		return b.record(xt.rows, xt.cols, 0, nil)
	}
	if v.n == 0 || xt.cols%v.n != 0 {
		b.fail("rmsnorm: width %d is not a multiple of the weight's %d", xt.cols, v.n)
	}
	return b.record(xt.rows, xt.cols, 0, func(g *graph) C.mlx_array {
		a := b.as2D(g, xt)
		if v.n == xt.cols {
			return g.rmsNorm(a, v.a, eps)
		}
		// Per-head norm: normalize each v.n-wide chunk.
		y := g.rmsNorm(g.reshape(a, xt.rows, xt.cols/v.n, v.n), v.a, eps)
		return g.reshape(y, xt.rows, xt.cols)
	})
}

// Linear implements ops.Backend.
func (b *Backend) Linear(x ops.Tensor, w ops.Linear) ops.Tensor {
	xt := b.ten(x)
	l, ok := w.(*linear)
	if !ok || l == nil {
		b.fail("linear %T does not belong to the mlx backend", w)
		return b.record(xt.rows, 1, 0, nil)
	}
	if xt.cols != l.in {
		b.fail("linear %s: input width %d, weight expects %d", l.name, xt.cols, l.in)
	}
	return b.record(xt.rows, l.out, 0, func(g *graph) C.mlx_array {
		a := b.as2D(g, xt)
		var y C.mlx_array
		if l.bits == 0 {
			y = g.matmul(a, g.transpose(l.w, 1, 0))
		} else {
			y = g.qmatmul(a, l.w, l.scales, l.biases, l.group, l.bits)
		}
		if !isNull(l.bias) {
			y = g.add(y, l.bias)
		}
		return y
	})
}

// ropeFreqs returns r's frequencies as MLX wants them: periods 1/InvFreq,
// float32, cached per RoPE (MLX thread).
func (b *Backend) ropeFreqs(g *graph, r *ops.RoPE) C.mlx_array {
	if f, ok := b.freqs[r]; ok {
		return f
	}
	p := make([]float32, len(r.InvFreq))
	for i, f := range r.InvFreq {
		p[i] = float32(1 / f)
	}
	a := g.fromData(unsafe.Pointer(&p[0]), []int{len(p)}, C.MLX_FLOAT32)
	g.eval(a)
	if g.err != nil {
		return null()
	}
	b.freqs[r] = g.pin(a)
	return a
}

// RoPE implements ops.Backend. The result stays in the attention layout
// [1, heads, T, head_dim], which is what Attention consumes.
func (b *Backend) RoPE(x ops.Tensor, pos int, r *ops.RoPE) ops.Tensor {
	xt := b.ten(x)
	if r == nil || r.HeadDim <= 0 || xt.cols%r.HeadDim != 0 || r.Dims > r.HeadDim || len(r.InvFreq) != r.Dims/2 || r.Dims <= 0 {
		b.fail("rope: width %d does not fit rope %+v", xt.cols, r)
		return b.record(xt.rows, xt.cols, 0, nil)
	}
	heads := xt.cols / r.HeadDim
	scale := float32(r.PosScale)
	if r.PosScale == 0 {
		scale = 1
	}
	return b.record(xt.rows, xt.cols, heads, func(g *graph) C.mlx_array {
		return g.rope(b.asHeads(g, xt, heads), r.Dims, scale, pos, b.ropeFreqs(g, r))
	})
}

// Gate implements ops.Backend.
func (b *Backend) Gate(act ops.Act, gate, up ops.Tensor) ops.Tensor {
	gt, ut := b.ten(gate), b.ten(up)
	if gt.rows != ut.rows || gt.cols != ut.cols {
		b.fail("gate: shapes %dx%d and %dx%d differ", gt.rows, gt.cols, ut.rows, ut.cols)
	}
	if act != ops.SiLU && act != ops.GELUTanh {
		b.fail("gate: activation %v is not supported", act)
	}
	return b.record(gt.rows, gt.cols, 0, func(g *graph) C.mlx_array {
		x, u := b.as2D(g, gt), b.as2D(g, ut)
		switch act {
		case ops.SiLU:
			return g.mul(g.mul(x, g.sigmoid(x)), u)
		default:
			// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
			c := func(v float64) C.mlx_array { return g.scalar(float32(v), b.dt) }
			inner := g.mul(c(math.Sqrt(2/math.Pi)), g.add(x, g.mul(c(0.044715), g.mul(x, g.mul(x, x)))))
			gelu := g.mul(g.mul(c(0.5), x), g.add(c(1), g.tanh(inner)))
			return g.mul(gelu, u)
		}
	})
}

func (b *Backend) binary(op string, a, c ops.Tensor, f func(g *graph, x, y C.mlx_array) C.mlx_array) ops.Tensor {
	at, ct := b.ten(a), b.ten(c)
	if at.rows != ct.rows || at.cols != ct.cols {
		b.fail("%s: shapes %dx%d and %dx%d differ", op, at.rows, at.cols, ct.rows, ct.cols)
	}
	return b.record(at.rows, at.cols, 0, func(g *graph) C.mlx_array {
		return f(g, b.as2D(g, at), b.as2D(g, ct))
	})
}

// Add implements ops.Backend.
func (b *Backend) Add(a, c ops.Tensor) ops.Tensor {
	return b.binary("add", a, c, func(g *graph, x, y C.mlx_array) C.mlx_array { return g.add(x, y) })
}

// Mul implements ops.Backend.
func (b *Backend) Mul(a, c ops.Tensor) ops.Tensor {
	return b.binary("mul", a, c, func(g *graph, x, y C.mlx_array) C.mlx_array { return g.mul(x, y) })
}

// Scale implements ops.Backend.
func (b *Backend) Scale(x ops.Tensor, s float32) ops.Tensor {
	xt := b.ten(x)
	return b.record(xt.rows, xt.cols, 0, func(g *graph) C.mlx_array {
		return g.mul(b.as2D(g, xt), g.scalar(s, b.dt))
	})
}

// LastRow implements ops.Backend.
func (b *Backend) LastRow(x ops.Tensor) ops.Tensor {
	xt := b.ten(x)
	if xt.rows < 1 {
		b.fail("last row of an empty tensor")
	}
	return b.record(1, xt.cols, 0, func(g *graph) C.mlx_array {
		if xt.rows == 1 {
			return b.as2D(g, xt)
		}
		return g.slice(b.as2D(g, xt), []int{xt.rows - 1, 0}, []int{xt.rows, xt.cols})
	})
}

// evaluate builds the recorded step on the MLX thread, evaluates out (may
// be null) together with every KV cache the step wrote, and hands the
// evaluated out to read. All of the step's arrays are then freed: a step's
// tensors cannot be used after Logits or Sync.
func (b *Backend) evaluate(out *tensor, read func(a C.mlx_array) error) error {
	if b.err != nil {
		return b.err
	}
	if b.closed {
		return errors.New("mlx: backend is closed")
	}
	t0 := time.Now()
	if !b.begin.IsZero() {
		b.stats.Record += t0.Sub(b.begin)
		b.begin = time.Time{}
	}
	var stepErr error
	var tEval, tCopy time.Time
	err := b.run(func() {
		b.dropFiles() // loading is over once a step runs
		g := newGraph(b.l)
		defer g.free()
		b.vals = make([]C.mlx_array, len(b.nodes))
		for i, f := range b.nodes {
			if f == nil {
				g.fail(errors.New("mlx backend: internal error: placeholder tensor evaluated"))
				break
			}
			b.vals[i] = f(g)
			if g.err != nil {
				break
			}
		}
		var y C.mlx_array
		if out != nil && g.err == nil {
			// Logits travel as float32, row-major.
			y = g.pin(g.contiguous(g.astype(b.as2D(g, out), C.MLX_FLOAT32)))
			defer func() {
				if !isNull(y) {
					C.mlx_array_free(y)
				}
			}()
		}
		// Drop every handle but the output's and the caches' before
		// evaluating, so MLX can free each intermediate as soon as its
		// consumers have run (the graph keeps what it still needs).
		for i := range b.vals {
			b.vals[i] = null()
		}
		g.free()
		list := []C.mlx_array{}
		if !isNull(y) {
			list = append(list, y)
		}
		for _, c := range b.caches {
			list = append(list, c.live()...)
		}
		tEval = time.Now()
		if out == nil {
			// Sync (a prefill chunk without logits): schedule it and
			// return, so the next chunk's graph is built while MLX
			// computes this one; the next eval waits for it.
			g.asyncEval(list...)
		} else {
			g.eval(list...)
		}
		tCopy = time.Now()
		if g.err == nil && read != nil {
			stepErr = read(y)
		}
		stepErr = errors.Join(g.err, stepErr)
	})
	t3 := time.Now()
	b.nodes = b.nodes[:0]
	b.caches = b.caches[:0]
	b.stats.Steps++
	if !tEval.IsZero() {
		b.stats.Build += tEval.Sub(t0)
		b.stats.Eval += tCopy.Sub(tEval)
		b.stats.Copy += t3.Sub(tCopy)
	}
	if err == nil {
		err = stepErr
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	return err
}

// Logits implements ops.Backend.
func (b *Backend) Logits(x ops.Tensor) ([]float32, error) {
	xt := b.ten(x)
	if b.err == nil && xt.rows != 1 {
		return nil, fmt.Errorf("mlx backend: logits of %d rows; want 1 (use LastRow)", xt.rows)
	}
	var out []float32
	err := b.evaluate(xt, func(a C.mlx_array) error {
		out = toHost(a)
		for i, v := range out {
			if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
				return fmt.Errorf("mlx backend: the model produced a non-finite logit (%v at index %d): the weights are likely corrupt (NaN/Inf) or overflow", v, i)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sync implements ops.Backend: the step is built (graph errors are
// returned here) and scheduled with mlx_async_eval; the next Logits waits
// for it.
func (b *Backend) Sync() error {
	return b.evaluate(nil, nil)
}

// Release implements ops.Backend. The step's arrays were freed when it was
// evaluated; a step that never was is dropped unbuilt.
func (b *Backend) Release() {
	b.nodes = b.nodes[:0]
	b.caches = b.caches[:0]
	b.vals = nil
	b.err = nil
	b.begin = time.Time{}
	b.step++
}
