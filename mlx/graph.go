package mlx

// #include "bridge.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// graph wraps mlx-c calls made on the MLX thread. Every array it creates is
// recorded so one free() releases them all; arrays that must outlive the
// graph (weights, KV caches) are taken out with pin. The first failing call
// sets err; later calls then do nothing and return a null array, so a
// sequence of ops needs one error check at the end.
type graph struct {
	l    *library
	arrs []C.mlx_array
	err  error
	made int // arrays created (one mlx-c op call each)
}

func newGraph(l *library) *graph { return &graph{l: l} }

// cArray names the C array type for test files (which cannot use cgo).
type cArray = C.mlx_array

func isNull(a C.mlx_array) bool { return a.ctx == nil }

func null() C.mlx_array { return C.mlx_array{} }

// fail records err unless an earlier error is already recorded.
func (g *graph) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// result records the array produced by op (status rc).
func (g *graph) result(op string, rc C.int, r C.mlx_array) C.mlx_array {
	if err := check(rc, op); err != nil {
		g.fail(err)
		if !isNull(r) {
			C.mlx_array_free(r)
		}
		return null()
	}
	g.arrs = append(g.arrs, r)
	g.made++
	return r
}

// ok reports whether every input is usable and no error is pending.
func (g *graph) ok(in ...C.mlx_array) bool {
	if g.err != nil {
		return false
	}
	for _, a := range in {
		if isNull(a) {
			g.fail(fmt.Errorf("mlx: internal error: null array operand"))
			return false
		}
	}
	return true
}

// pin removes a from the graph's arrays so free() leaves it alive; the
// caller now owns it.
func (g *graph) pin(a C.mlx_array) C.mlx_array {
	for i := len(g.arrs) - 1; i >= 0; i-- {
		if g.arrs[i].ctx == a.ctx {
			g.arrs = append(g.arrs[:i], g.arrs[i+1:]...)
			break
		}
	}
	return a
}

// free releases every array the graph still owns.
func (g *graph) free() {
	for _, a := range g.arrs {
		C.mlx_array_free(a)
	}
	g.arrs = g.arrs[:0]
}

func cInts(v []int) []C.int {
	out := make([]C.int, len(v))
	for i, x := range v {
		out[i] = C.int(x)
	}
	return out
}

// shape returns a's dimensions.
func shape(a C.mlx_array) []int {
	n := int(C.mlx_array_ndim(a))
	if n == 0 {
		return []int{}
	}
	p := unsafe.Slice(C.mlx_array_shape(a), n)
	out := make([]int, n)
	for i, d := range p {
		out[i] = int(d)
	}
	return out
}

func dtypeOf(a C.mlx_array) C.mlx_dtype { return C.mlx_array_dtype(a) }

// fromData copies host data of the given shape and type into a new array.
func (g *graph) fromData(data unsafe.Pointer, shp []int, dt C.mlx_dtype) C.mlx_array {
	if !g.ok() {
		return null()
	}
	cs := cInts(shp)
	var sp *C.int
	if len(cs) > 0 {
		sp = &cs[0]
	}
	r := C.mlx_array_new_data(data, sp, C.int(len(cs)), dt)
	if isNull(r) {
		g.fail(&Error{Op: "mlx_array_new_data", Msg: takeError()})
		return null()
	}
	g.arrs = append(g.arrs, r)
	g.made++
	return r
}

// scalar is a 0-d array of value v and type dt (MLX promotes mixed types,
// so constants must carry the activations' type).
func (g *graph) scalar(v float32, dt C.mlx_dtype) C.mlx_array {
	if !g.ok() {
		return null()
	}
	r := C.mlx_array_new_float(C.float(v))
	if isNull(r) {
		g.fail(&Error{Op: "mlx_array_new_float", Msg: takeError()})
		return null()
	}
	g.arrs = append(g.arrs, r)
	g.made++
	if dt == C.MLX_FLOAT32 {
		return r
	}
	return g.astype(r, dt)
}

type binaryFn func(*C.mlx_array, C.mlx_array, C.mlx_array, C.mlx_stream) C.int

func (g *graph) binary(op string, f binaryFn, a, b C.mlx_array) C.mlx_array {
	if !g.ok(a, b) {
		return null()
	}
	var r C.mlx_array
	return g.result(op, f(&r, a, b, g.l.stream), r)
}

func (g *graph) add(a, b C.mlx_array) C.mlx_array {
	return g.binary("mlx_add", func(r *C.mlx_array, a, b C.mlx_array, s C.mlx_stream) C.int { return C.mlx_add(r, a, b, s) }, a, b)
}

func (g *graph) mul(a, b C.mlx_array) C.mlx_array {
	return g.binary("mlx_multiply", func(r *C.mlx_array, a, b C.mlx_array, s C.mlx_stream) C.int { return C.mlx_multiply(r, a, b, s) }, a, b)
}

func (g *graph) matmul(a, b C.mlx_array) C.mlx_array {
	return g.binary("mlx_matmul", func(r *C.mlx_array, a, b C.mlx_array, s C.mlx_stream) C.int { return C.mlx_matmul(r, a, b, s) }, a, b)
}

func (g *graph) sigmoid(a C.mlx_array) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_sigmoid", C.mlx_sigmoid(&r, a, g.l.stream), r)
}

func (g *graph) tanh(a C.mlx_array) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_tanh", C.mlx_tanh(&r, a, g.l.stream), r)
}

func (g *graph) softmax(a C.mlx_array, axis int) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_softmax_axis", C.mlx_softmax_axis(&r, a, C.int(axis), true, g.l.stream), r)
}

func (g *graph) where(c, x, y C.mlx_array) C.mlx_array {
	if !g.ok(c, x, y) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_where", C.mlx_where(&r, c, x, y, g.l.stream), r)
}

func (g *graph) astype(a C.mlx_array, dt C.mlx_dtype) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	if dtypeOf(a) == dt {
		return a
	}
	var r C.mlx_array
	return g.result("mlx_astype", C.mlx_astype(&r, a, dt, g.l.stream), r)
}

func (g *graph) contiguous(a C.mlx_array) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_contiguous", C.mlx_contiguous(&r, a, false, g.l.stream), r)
}

func (g *graph) reshape(a C.mlx_array, shp ...int) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	cs := cInts(shp)
	var r C.mlx_array
	return g.result("mlx_reshape", C.mlx_reshape(&r, a, &cs[0], C.size_t(len(cs)), g.l.stream), r)
}

func (g *graph) transpose(a C.mlx_array, axes ...int) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	cs := cInts(axes)
	var r C.mlx_array
	return g.result("mlx_transpose_axes", C.mlx_transpose_axes(&r, a, &cs[0], C.size_t(len(cs)), g.l.stream), r)
}

func (g *graph) swapaxes(a C.mlx_array, a1, a2 int) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_swapaxes", C.mlx_swapaxes(&r, a, C.int(a1), C.int(a2), g.l.stream), r)
}

func (g *graph) expandDims(a C.mlx_array, axis int) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_expand_dims", C.mlx_expand_dims(&r, a, C.int(axis), g.l.stream), r)
}

func ones(n int) []C.int {
	s := make([]C.int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// slice takes a[start:stop] on every axis (stride 1).
func (g *graph) slice(a C.mlx_array, start, stop []int) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	cs, ce, st := cInts(start), cInts(stop), ones(len(start))
	n := C.size_t(len(cs))
	var r C.mlx_array
	return g.result("mlx_slice", C.mlx_slice(&r, a, &cs[0], n, &ce[0], n, &st[0], n, g.l.stream), r)
}

// sliceUpdate returns src with src[start:stop] replaced by upd.
func (g *graph) sliceUpdate(src, upd C.mlx_array, start, stop []int) C.mlx_array {
	if !g.ok(src, upd) {
		return null()
	}
	cs, ce, st := cInts(start), cInts(stop), ones(len(start))
	n := C.size_t(len(cs))
	var r C.mlx_array
	return g.result("mlx_slice_update", C.mlx_slice_update(&r, src, upd, &cs[0], n, &ce[0], n, &st[0], n, g.l.stream), r)
}

func (g *graph) concat(axis int, arrs ...C.mlx_array) C.mlx_array {
	if !g.ok(arrs...) {
		return null()
	}
	v := C.mlx_vector_array_new()
	defer C.mlx_vector_array_free(v)
	for _, a := range arrs {
		if err := check(C.mlx_vector_array_append_value(v, a), "mlx_vector_array_append_value"); err != nil {
			g.fail(err)
			return null()
		}
	}
	var r C.mlx_array
	return g.result("mlx_concatenate_axis", C.mlx_concatenate_axis(&r, v, C.int(axis), g.l.stream), r)
}

func (g *graph) zeros(shp []int, dt C.mlx_dtype) C.mlx_array {
	if !g.ok() {
		return null()
	}
	cs := cInts(shp)
	var r C.mlx_array
	return g.result("mlx_zeros", C.mlx_zeros(&r, &cs[0], C.size_t(len(cs)), dt, g.l.stream), r)
}

func (g *graph) take(a, idx C.mlx_array, axis int) C.mlx_array {
	if !g.ok(a, idx) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_take_axis", C.mlx_take_axis(&r, a, idx, C.int(axis), g.l.stream), r)
}

var cAffine = C.CString("affine") // the MLX quantization mode; never freed

func optInt(v int) C.mlx_optional_int { return C.mlx_optional_int{value: C.int(v), has_value: true} }

// qmatmul computes x·Wᵀ for an MLX affine-quantized W.
func (g *graph) qmatmul(x, w, scales, biases C.mlx_array, group, bits int) C.mlx_array {
	if !g.ok(x, w, scales, biases) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_quantized_matmul", C.mlx_quantized_matmul(&r, x, w, scales, biases, true,
		optInt(group), optInt(bits), cAffine, g.l.stream), r)
}

// dequantize expands an MLX affine-quantized matrix to dt.
func (g *graph) dequantize(w, scales, biases C.mlx_array, group, bits int, dt C.mlx_dtype) C.mlx_array {
	if !g.ok(w, scales, biases) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_dequantize", C.mlx_dequantize(&r, w, scales, biases, optInt(group), optInt(bits), cAffine,
		null(), C.mlx_optional_dtype{value: dt, has_value: true}, g.l.stream), r)
}

func (g *graph) rmsNorm(x, w C.mlx_array, eps float32) C.mlx_array {
	if !g.ok(x, w) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_fast_rms_norm", C.mlx_fast_rms_norm(&r, x, w, C.float(eps), g.l.stream), r)
}

// rope rotates the last axis of x ([B, H, T, D]) in the rotate-half layout;
// freqs holds per-pair periods (1/inverse frequency), scale multiplies
// positions, offset is the position of row 0.
func (g *graph) rope(x C.mlx_array, dims int, scale float32, offset int, freqs C.mlx_array) C.mlx_array {
	if !g.ok(x, freqs) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_fast_rope", C.mlx_fast_rope(&r, x, C.int(dims), false, C.mlx_optional_float{}, C.float(scale),
		C.int(offset), freqs, g.l.stream), r)
}

var (
	cMaskNone   = C.CString("")
	cMaskCausal = C.CString("causal")
	cMaskArray  = C.CString("array")
)

// sdpa is MLX's fused attention over q [B,H,T,D], k/v [B,KVH,L,D]. mask is
// a null array (no mask or causal) or a boolean [T, L] (true = attend).
func (g *graph) sdpa(q, k, v C.mlx_array, scale float32, causal bool, mask C.mlx_array) C.mlx_array {
	if !g.ok(q, k, v) {
		return null()
	}
	mode := cMaskNone
	switch {
	case !isNull(mask):
		mode = cMaskArray
	case causal:
		mode = cMaskCausal
	}
	var r C.mlx_array
	return g.result("mlx_fast_scaled_dot_product_attention", C.mlx_fast_scaled_dot_product_attention(&r, q, k, v,
		C.float(scale), mode, mask, null(), g.l.stream), r)
}

// eval computes arrs (and everything they depend on).
func (g *graph) eval(arrs ...C.mlx_array) { g.evalMode(false, arrs...) }

// asyncEval schedules arrs and returns at once; a later eval (or use)
// waits for them.
func (g *graph) asyncEval(arrs ...C.mlx_array) { g.evalMode(true, arrs...) }

func (g *graph) evalMode(async bool, arrs ...C.mlx_array) {
	if !g.ok(arrs...) {
		return
	}
	v := C.mlx_vector_array_new()
	defer C.mlx_vector_array_free(v)
	for _, a := range arrs {
		if err := check(C.mlx_vector_array_append_value(v, a), "mlx_vector_array_append_value"); err != nil {
			g.fail(err)
			return
		}
	}
	if async {
		if err := check(C.mlx_async_eval(v), "mlx_async_eval"); err != nil {
			g.fail(err)
		}
		return
	}
	if err := check(C.mlx_eval(v), "mlx_eval"); err != nil {
		g.fail(err)
	}
}

// toHost copies an evaluated row-contiguous float32 array into a new slice.
func toHost(a C.mlx_array) []float32 {
	n := int(C.mlx_array_size(a))
	out := make([]float32, n)
	if n > 0 {
		copy(out, unsafe.Slice((*float32)(unsafe.Pointer(C.mlx_array_data_float32(a))), n))
	}
	return out
}

// flushFrees frees arrays released from other goroutines. MLX thread only.
func (l *library) flushFrees() {
	l.freeMu.Lock()
	p := l.pending
	l.pending = nil
	l.freeMu.Unlock()
	for _, a := range p {
		C.mlx_array_free(a)
	}
}

// release queues arrays to be freed on the MLX thread by its next task.
func (l *library) release(arrs ...C.mlx_array) {
	l.freeMu.Lock()
	for _, a := range arrs {
		if !isNull(a) {
			l.pending = append(l.pending, a)
		}
	}
	l.freeMu.Unlock()
}
