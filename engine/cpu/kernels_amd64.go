//go:build amd64 && !purego

package cpu

import (
	"unsafe"

	"github.com/impetus-llm/impetus/engine/ops"

	"golang.org/x/sys/cpu"
)

// CPU features, detected once. use512 and useAVX2 select the kernel family
// at each call; tests switch use512 off to run the AVX2 kernels on AVX-512
// machines too.
var (
	have512    = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL
	haveAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
	haveIntDot = have512 && cpu.X86.HasAVX512VNNI
	use512     = have512
	useAVX2    = haveAVX2
)

// kernelFamily names the SIMD kernels in use, for people.
func kernelFamily() string {
	switch {
	case use512:
		return "AVX-512"
	case useAVX2:
		return "AVX2"
	}
	return "portable Go"
}

// quantSIMD reports whether SIMD float kernels for 4/8-bit weights exist.
func quantSIMD() bool { return have512 || haveAVX2 }

// denseSIMD reports whether the dense SIMD kernels below apply.
func denseSIMD() bool { return use512 || useAVX2 }

// group32SIMD reports whether the group-32 decode kernels exist (AVX-512).
func group32SIMD() bool { return have512 }

// twoRowKernels reports whether the two-row prefill kernels apply.
func twoRowKernels() bool { return use512 }

//go:noescape
func dotF32AVX512(a, b *float32, n int) float32

//go:noescape
func axpyF32AVX512(a float32, x, y *float32, n int)

//go:noescape
func q4dotAVX512(w *uint32, sc, bi *float32, xq *int16, xs, xsum *float32, nb, gb int) float32

//go:noescape
func q8dotAVX512(w *uint32, sc, bi *float32, xq *int16, xs, xsum *float32, nb, gb int) float32

//go:noescape
func q4dot4AVX512(w *uint32, sc, bi *float32, xq *int16, xs, xsum *float32, nb, gb, xqStride, metaStride int, out *float32)

//go:noescape
func q8dot4AVX512(w *uint32, sc, bi *float32, xq *int16, xs, xsum *float32, nb, gb, xqStride, metaStride int, out *float32)

func dotF32(a, b []float32) float32 {
	n := len(a)
	var s float32
	m := 0
	switch {
	case use512 && n >= 16:
		b = b[:n]
		m = n &^ 15
		s = dotF32AVX512(&a[0], &b[0], m)
	case useAVX2 && n >= 8:
		b = b[:n]
		m = n &^ 7
		s = dotF32AVX2(&a[0], &b[0], m)
	default:
		return dotF32Go(a, b)
	}
	for i := m; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

func axpy(a float32, x, y []float32) {
	n := len(x)
	m := 0
	switch {
	case use512 && n >= 16:
		y = y[:n]
		m = n &^ 15
		axpyF32AVX512(a, &x[0], &y[0], m)
	case useAVX2 && n >= 8:
		y = y[:n]
		m = n &^ 7
		axpyF32AVX2(a, &x[0], &y[0], m)
	default:
		axpyGo(a, x, y)
		return
	}
	for i := m; i < n; i++ {
		y[i] += a * x[i]
	}
}

// qdot1 runs the single-row integer kernel. Callers guarantee the slices
// hold nb blocks (haveIntDot is checked before the integer path is taken).
func qdot1(k fastKind, w []uint32, sc, bi []float32, xq []int16, xs, xsum []float32, nb, gb int) float32 {
	if k == fastQ4 {
		return q4dotAVX512(&w[0], &sc[0], &bi[0], &xq[0], &xs[0], &xsum[0], nb, gb)
	}
	return q8dotAVX512(&w[0], &sc[0], &bi[0], &xq[0], &xs[0], &xsum[0], nb, gb)
}

// qdot4 runs the four-row kernel: xq holds 4 rows of xqStride int16s,
// meta 4 rows of metaStride float32s ([xs | xsum]).
func qdot4(k fastKind, w []uint32, sc, bi []float32, xq []int16, xqStride int, meta []float32, metaStride, nb, gb int, out *[4]float32) {
	_ = xq[3*xqStride+nb*64-1]
	_ = meta[3*metaStride+nb+nb/gb-1]
	xs := &meta[0]
	xsum := (*float32)(unsafe.Add(unsafe.Pointer(xs), 4*nb))
	if k == fastQ4 {
		q4dot4AVX512(&w[0], &sc[0], &bi[0], &xq[0], xs, xsum, nb, gb, 2*xqStride, 4*metaStride, &out[0])
		return
	}
	q8dot4AVX512(&w[0], &sc[0], &bi[0], &xq[0], xs, xsum, nb, gb, 2*xqStride, 4*metaStride, &out[0])
}

// qfRows runs the float kernel on rows [lo, hi) of l against one
// activation row, writing out[0:hi-lo] (without the additive bias).
func qfRows(l *linear, lo, hi int, x, xsum []float32, out []float32) {
	if hi <= lo {
		return
	}
	nb, gb := l.in/64, l.group/64
	ng := l.in / l.group
	_ = x[nb*64-1]
	_ = xsum[ng-1]
	_ = out[hi-lo-1]
	_ = l.packed[hi*l.wordsPerRow-1]
	esz := 2
	if l.sfmt == scaleF32 {
		esz = 4
	}
	_ = l.scRaw[hi*ng*esz-1]
	_ = l.biRaw[hi*ng*esz-1]
	sc := unsafe.Pointer(&l.scRaw[lo*ng*esz])
	bi := unsafe.Pointer(&l.biRaw[lo*ng*esz])
	k := 0
	if l.bits == 8 {
		k = 1
	}
	if l.group == 32 {
		var scratch [16]float32
		floatKernelsRowsG32[k][l.sfmt](&l.packed[lo*l.wordsPerRow], sc, bi, &x[0], &xsum[0], ng, hi-lo, &out[0], &scratch[0])
		return
	}
	if !use512 {
		avx2KernelsRows[k][l.sfmt](&l.packed[lo*l.wordsPerRow], sc, bi, &x[0], &xsum[0], nb, gb, hi-lo, &out[0])
		return
	}
	var scratch [16]float32
	floatKernelsRowsV[k][l.sfmt](&l.packed[lo*l.wordsPerRow], sc, bi, &x[0], &xsum[0], ng, gb, hi-lo, &out[0], &scratch[0])
}

// qf1 runs the float kernel on row o of l.
func qf1(l *linear, o int, x, xsum []float32) float32 {
	var r [1]float32
	qfRows(l, o, o+1, x, xsum, r[:])
	return r[0]
}

// qf4 runs the four-row float kernel on row o of l: x holds 4 rows xStride
// floats apart, xsum 4 rows sumStride floats apart.
func qf4(l *linear, o int, x []float32, xStride int, xsum []float32, sumStride int, out *[4]float32) {
	nb, gb := l.in/64, l.group/64
	ng := nb / gb
	_ = x[3*xStride+nb*64-1]
	_ = xsum[3*sumStride+ng-1]
	esz := 2
	if l.sfmt == scaleF32 {
		esz = 4
	}
	sc := unsafe.Pointer(&l.scRaw[o*ng*esz])
	bi := unsafe.Pointer(&l.biRaw[o*ng*esz])
	k := 0
	if l.bits == 8 {
		k = 1
	}
	if !use512 {
		avx2Kernels4[k][l.sfmt](&l.packed[o*l.wordsPerRow], sc, bi, &x[0], &xsum[0], nb, gb, 4*xStride, 4*sumStride, &out[0])
		return
	}
	floatKernels4[k][l.sfmt](&l.packed[o*l.wordsPerRow], sc, bi, &x[0], &xsum[0], nb, gb, 4*xStride, 4*sumStride, &out[0])
}

//go:noescape
func dotbf16(w *uint16, x *float32, n int) float32

//go:noescape
func dotf16(w *uint16, x *float32, n int) float32

//go:noescape
func dotbf164(w *uint16, x *float32, n, xStride int, out *float32)

//go:noescape
func dotf164(w *uint16, x *float32, n, xStride int, out *float32)

//go:noescape
func dotf324(w *float32, x *float32, n, xStride int, out *float32)

// denseDot1 is row o of a dense F32/F16/BF16 linear dotted with x.
func denseDot1(l *linear, o int, x []float32) float32 {
	in := l.in
	x = x[:in]
	if l.dtype == ops.F32 {
		return dotF32(l.f32[o*in:(o+1)*in], x)
	}
	w := l.u16[o*in : (o+1)*in]
	var s float32
	m := 0
	switch {
	case use512 && in >= 16:
		m = in &^ 15
		if l.dtype == ops.BF16 {
			s = dotbf16(&w[0], &x[0], m)
		} else {
			s = dotf16(&w[0], &x[0], m)
		}
	case useAVX2 && in >= 8:
		m = in &^ 7
		if l.dtype == ops.BF16 {
			s = dotbf16AVX2(&w[0], &x[0], m)
		} else {
			s = dotf16AVX2(&w[0], &x[0], m)
		}
	}
	for i := m; i < in; i++ {
		if l.dtype == ops.BF16 {
			s += bf16ToF32(w[i]) * x[i]
		} else {
			s += f16Table[w[i]] * x[i]
		}
	}
	return s
}

// denseDot4 is row o against four activation rows xStride floats apart.
func denseDot4(l *linear, o int, x []float32, xStride int, out *[4]float32) {
	in := l.in
	_ = x[3*xStride+in-1]
	m := 0
	switch {
	case use512:
		m = in &^ 15
	case useAVX2:
		m = in &^ 7
	}
	*out = [4]float32{}
	if m > 0 {
		switch {
		case use512 && l.dtype == ops.F32:
			dotf324(&l.f32[o*in], &x[0], m, 4*xStride, &out[0])
		case use512 && l.dtype == ops.BF16:
			dotbf164(&l.u16[o*in], &x[0], m, 4*xStride, &out[0])
		case use512:
			dotf164(&l.u16[o*in], &x[0], m, 4*xStride, &out[0])
		case l.dtype == ops.F32:
			dotf324AVX2(&l.f32[o*in], &x[0], m, 4*xStride, &out[0])
		case l.dtype == ops.BF16:
			dotbf164AVX2(&l.u16[o*in], &x[0], m, 4*xStride, &out[0])
		default:
			dotf164AVX2(&l.u16[o*in], &x[0], m, 4*xStride, &out[0])
		}
	}
	if m < in {
		var row [16]float32
		r := l.rowTail(o, m, row[:in-m])
		for t := 0; t < 4; t++ {
			out[t] += dotF32Go(r, x[t*xStride+m:t*xStride+in])
		}
	}
}

//go:noescape
func gateAVX512(gp, up, yp *float32, n int, gelu bool)

// gateRows computes y = act(g)·u; the SIMD kernel handles multiples of 16.
func gateRows(act ops.Act, g, u, y []float32) {
	n := len(g)
	m := 0
	if use512 && n >= 16 {
		m = n &^ 15
		gateAVX512(&g[0], &u[0], &y[0], m, act == ops.GELUTanh)
	}
	gateGo(act, g[m:], u[m:], y[m:])
}

// qf4x2 runs the two-row, four-token float kernel on rows o and o+1 of l:
// x holds 4 rows xStride floats apart, xsumT the group sums as [ng][4].
// out[r*4+t] receives row o+r, token t.
func qf4x2(l *linear, o int, x []float32, xStride int, xsumT []float32, out *[8]float32) {
	nb, gb := l.in/64, l.group/64
	ng := nb / gb
	_ = x[3*xStride+nb*64-1]
	_ = xsumT[4*ng-1]
	_ = l.packed[(o+2)*l.wordsPerRow-1]
	esz := 2
	if l.sfmt == scaleF32 {
		esz = 4
	}
	_ = l.scRaw[(o+2)*ng*esz-1]
	_ = l.biRaw[(o+2)*ng*esz-1]
	sc := unsafe.Pointer(&l.scRaw[o*ng*esz])
	bi := unsafe.Pointer(&l.biRaw[o*ng*esz])
	k := 0
	if l.bits == 8 {
		k = 1
	}
	floatKernels4x2[k][l.sfmt](&l.packed[o*l.wordsPerRow], sc, bi, &x[0], &xsumT[0], nb, gb, 4*xStride, 4*l.wordsPerRow, ng*esz, &out[0])
}
