//go:build amd64 && !purego

package cpu

import "unsafe"

// Declarations of the AVX2 kernels in kernels_avx2_amd64.s.

//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func axpyF32AVX2(a float32, x, y *float32, n int)

//go:noescape
func q4rows2f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q4dot4avx2f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8rows2f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q8dot4avx2f32(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q4rows2bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q4dot4avx2bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8rows2bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q8dot4avx2bf16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q4rows2f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q4dot4avx2f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func q8rows2f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

//go:noescape
func q8dot4avx2f16(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, xStride, sumStride int, out *float32)

//go:noescape
func dotbf16AVX2(w *uint16, x *float32, n int) float32

//go:noescape
func dotbf164AVX2(w *uint16, x *float32, n, xStride int, out *float32)

//go:noescape
func dotf16AVX2(w *uint16, x *float32, n int) float32

//go:noescape
func dotf164AVX2(w *uint16, x *float32, n, xStride int, out *float32)

//go:noescape
func dotf324AVX2(w *float32, x *float32, n, xStride int, out *float32)

type qrows2Func func(w *uint32, sc, bi unsafe.Pointer, x, xsum *float32, nb, gb, nrows int, out *float32)

var avx2KernelsRows = [2][3]qrows2Func{
	{q4rows2f32, q4rows2bf16, q4rows2f16},
	{q8rows2f32, q8rows2bf16, q8rows2f16},
}

var avx2Kernels4 = [2][3]qf4Func{
	{q4dot4avx2f32, q4dot4avx2bf16, q4dot4avx2f16},
	{q8dot4avx2f32, q8dot4avx2bf16, q8dot4avx2f16},
}
