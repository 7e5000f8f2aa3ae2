//go:build !amd64 || purego

package cpu

import "github.com/impetus-llm/impetus/engine/ops"

const haveIntDot = false

func quantSIMD() bool { return false }

// kernelFamily names the kernels in use, for people.
func kernelFamily() string { return "portable Go" }

func twoRowKernels() bool { return false }

func group32SIMD() bool { return false }

func dotF32(a, b []float32) float32 { return dotF32Go(a, b) }

func axpy(a float32, x, y []float32) { axpyGo(a, x, y) }

func qdot1(k fastKind, w []uint32, sc, bi []float32, xq []int16, xs, xsum []float32, nb, gb int) float32 {
	if k == fastQ4 {
		return q4dotGo(w, sc, bi, xq, xs, xsum, nb, gb)
	}
	return q8dotGo(w, sc, bi, xq, xs, xsum, nb, gb)
}

func qdot4(k fastKind, w []uint32, sc, bi []float32, xq []int16, xqStride int, meta []float32, metaStride, nb, gb int, out *[4]float32) {
	for t := 0; t < 4; t++ {
		m := meta[t*metaStride:]
		out[t] = qdot1(k, w, sc, bi, xq[t*xqStride:], m[:nb], m[nb:], nb, gb)
	}
}

func qf1(l *linear, o int, x, xsum []float32) float32 {
	nb, gb := l.in/64, l.group/64
	ng := nb / gb
	w := l.packed[o*l.wordsPerRow : (o+1)*l.wordsPerRow]
	sc, bi := l.scales[o*ng:(o+1)*ng], l.biases[o*ng:(o+1)*ng]
	if l.bits == 4 {
		return q4f32dotGo(w, sc, bi, x, xsum, nb, gb)
	}
	return q8f32dotGo(w, sc, bi, x, xsum, nb, gb)
}

func qfRows(l *linear, lo, hi int, x, xsum []float32, out []float32) {
	for o := lo; o < hi; o++ {
		out[o-lo] = qf1(l, o, x, xsum)
	}
}

func qf4(l *linear, o int, x []float32, xStride int, xsum []float32, sumStride int, out *[4]float32) {
	for t := 0; t < 4; t++ {
		out[t] = qf1(l, o, x[t*xStride:], xsum[t*sumStride:])
	}
}

// denseSIMD reports whether the dense kernels are SIMD (not here: the
// generic row-decode path is as good in pure Go).
func denseSIMD() bool { return false }

func denseDot1(l *linear, o int, x []float32) float32 { panic("unreachable: denseSIMD is false") }

func denseDot4(l *linear, o int, x []float32, xStride int, out *[4]float32) {
	panic("unreachable: denseSIMD is false")
}

func gateRows(act ops.Act, g, u, y []float32) { gateGo(act, g, u, y) }

func qf4x2(l *linear, o int, x []float32, xStride int, xsumT []float32, out *[8]float32) {
	ng := l.in / l.group
	xs := make([]float32, ng)
	for r := 0; r < 2; r++ {
		for t := 0; t < 4; t++ {
			for g := range xs {
				xs[g] = xsumT[g*4+t]
			}
			out[r*4+t] = qf1(l, o+r, x[t*xStride:], xs)
		}
	}
}
