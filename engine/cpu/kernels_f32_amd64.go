//go:build amd64 && !purego

// Code generated for the float kernels of kernels_f32_amd64.s; the generator
// is not kept, edit both files together.

package cpu

import "unsafe"

//go:noescape
func q4rowsf32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q4dot4f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8rowsf32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q8dot4f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q4rowsbf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q4dot4bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8rowsbf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q8dot4bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q4rowsf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q4dot4f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8rowsf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q8dot4f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

type qrowsFunc func(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)
type qf4Func func(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

// floatKernels[bits==8][scale format] (formats: scaleF32, scaleBF16, scaleF16).
var floatKernelsRows = [2][3]qrowsFunc{
	{q4rowsf32, q4rowsbf16, q4rowsf16},
	{q8rowsf32, q8rowsbf16, q8rowsf16},
}

var floatKernels4 = [2][3]qf4Func{
	{q4dot4f32, q4dot4bf16, q4dot4f16},
	{q8dot4f32, q8dot4bf16, q8dot4f16},
}

//go:noescape
func q8dot4x2f32(w *uint32, sc, bi unsafe.Pointer, x, xsumT *float32, nb, gb, xStride, rowBytes, scRowBytes int, out *float32)

//go:noescape
func q8dot4x2bf16(w *uint32, sc, bi unsafe.Pointer, x, xsumT *float32, nb, gb, xStride, rowBytes, scRowBytes int, out *float32)

//go:noescape
func q8dot4x2f16(w *uint32, sc, bi unsafe.Pointer, x, xsumT *float32, nb, gb, xStride, rowBytes, scRowBytes int, out *float32)

//go:noescape
func q4dot4x2f32(w *uint32, sc, bi unsafe.Pointer, x, xsumT *float32, nb, gb, xStride, rowBytes, scRowBytes int, out *float32)

//go:noescape
func q4dot4x2bf16(w *uint32, sc, bi unsafe.Pointer, x, xsumT *float32, nb, gb, xStride, rowBytes, scRowBytes int, out *float32)

//go:noescape
func q4dot4x2f16(w *uint32, sc, bi unsafe.Pointer, x, xsumT *float32, nb, gb, xStride, rowBytes, scRowBytes int, out *float32)

type q4x2Func func(w *uint32, sc, bi unsafe.Pointer, x, xsumT *float32, nb, gb, xStride, rowBytes, scRowBytes int, out *float32)

var floatKernels4x2 = [2][3]q4x2Func{
	{q4dot4x2f32, q4dot4x2bf16, q4dot4x2f16},
	{q8dot4x2f32, q8dot4x2bf16, q8dot4x2f16},
}

//go:noescape
func q4rowsvf32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, gb, nrows int, out, scratch *float32)

//go:noescape
func q8rowsvf32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, gb, nrows int, out, scratch *float32)

//go:noescape
func q4rowsvbf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, gb, nrows int, out, scratch *float32)

//go:noescape
func q8rowsvbf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, gb, nrows int, out, scratch *float32)

//go:noescape
func q4rowsvf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, gb, nrows int, out, scratch *float32)

//go:noescape
func q8rowsvf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, gb, nrows int, out, scratch *float32)

type qrowsvFunc func(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, gb, nrows int, out, scratch *float32)

var floatKernelsRowsV = [2][3]qrowsvFunc{
	{q4rowsvf32, q4rowsvbf16, q4rowsvf16},
	{q8rowsvf32, q8rowsvbf16, q8rowsvf16},
}

//go:noescape
func q4rowsg32f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, nrows int, out, scratch *float32)

//go:noescape
func q8rowsg32f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, nrows int, out, scratch *float32)

//go:noescape
func q4rowsg32bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, nrows int, out, scratch *float32)

//go:noescape
func q8rowsg32bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, nrows int, out, scratch *float32)

//go:noescape
func q4rowsg32f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, nrows int, out, scratch *float32)

//go:noescape
func q8rowsg32f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, nrows int, out, scratch *float32)

type qrowsg32Func func(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, ng, nrows int, out, scratch *float32)

var floatKernelsRowsG32 = [2][3]qrowsg32Func{
	{q4rowsg32f32, q4rowsg32bf16, q4rowsg32f16},
	{q8rowsg32f32, q8rowsg32bf16, q8rowsg32f16},
}
