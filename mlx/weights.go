package mlx

// #include "bridge.h"
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/impetus-llm/impetus/engine/ops"
)

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
		if err := w.Check([]int{l.out, l.in}, ops.F32, ops.F16, ops.BF16); err != nil {
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
		if err := w.Check([]int{l.out, words}, ops.U32); err != nil {
			return nil, err
		}
		for _, r := range []*ops.Raw{s.Scales, s.Biases} {
			if r == nil {
				return nil, fmt.Errorf("%s: quantized tensor %s has no .scales/.biases companion", w.File, w.Name)
			}
			if err := r.Check([]int{l.out, l.in / q.GroupSize}, ops.F32, ops.F16, ops.BF16); err != nil {
				return nil, fmt.Errorf("%w (quantized %s: %d-bit, group %d)", err, w.Name, q.Bits, q.GroupSize)
			}
		}
		l.bits, l.group = q.Bits, q.GroupSize
	}
	if s.Bias != nil {
		if err := s.Bias.Check([]int{l.out}, ops.F32, ops.F16, ops.BF16); err != nil {
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
	if err := r.Check([]int{r.Shape[0]}, ops.F32, ops.F16, ops.BF16); err != nil {
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
