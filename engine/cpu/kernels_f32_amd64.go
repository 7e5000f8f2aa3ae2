//go:build amd64 && !purego

// Declarations of the float kernels in kernels_f32_amd64.s (one per bit
// width, scale type and row count).

package cpu

import "unsafe"

//go:noescape
func q4dotf32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb int) float32

//go:noescape
func q4dot4f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8dotf32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb int) float32

//go:noescape
func q8dot4f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q4dotbf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb int) float32

//go:noescape
func q4dot4bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8dotbf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb int) float32

//go:noescape
func q8dot4bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q4dotf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb int) float32

//go:noescape
func q4dot4f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8dotf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb int) float32

//go:noescape
func q8dot4f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

type qf1Func func(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb int) float32
type qf4Func func(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

// floatKernels[bits==8][scale format] (formats: scaleF32, scaleBF16, scaleF16).
var floatKernels1 = [2][3]qf1Func{
	{q4dotf32, q4dotbf16, q4dotf16},
	{q8dotf32, q8dotbf16, q8dotf16},
}

var floatKernels4 = [2][3]qf4Func{
	{q4dot4f32, q4dot4bf16, q4dot4f16},
	{q8dot4f32, q8dot4bf16, q8dot4f16},
}
