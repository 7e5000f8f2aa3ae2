package cpu

import (
	"math"

	"github.com/impetus-llm/impetus/engine/ops"
)

// This file holds the portable kernels. The SIMD versions (kernels_amd64.s)
// must compute the same thing; kernels_test.go compares them.

// fastKind selects an integer-dot kernel for a quantized linear: activations
// are quantized to int16 per 64-element block (error ~1e-5 of the block's
// max, so results stay within float tolerance) and multiplied with the
// unpacked weights by VPMADDWD/VPDPWSSD. The per-group scale and bias are
// applied per block: Σ(s·q+b)·x = s·Σq·x + b·Σx.
type fastKind int

const (
	fastNone fastKind = iota
	fastQ4            // 4-bit, group a multiple of 64
	fastQ8            // 8-bit, group a multiple of 64
)

func chooseFast(l *linear) fastKind {
	if !quantSIMD() || l.packed == nil || l.in%64 != 0 {
		return fastNone
	}
	if l.group%64 != 0 && !(l.group == 32 && group32SIMD()) {
		return fastNone
	}
	switch l.bits {
	case 4:
		return fastQ4
	case 8:
		return fastQ8
	}
	return fastNone
}

func dotF32Go(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyGo computes y += a·x.
func axpyGo(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// quantizeActs quantizes one activation row x (len in, a multiple of 64)
// for the integer kernels: xq int16 per 64-block with scale xs[block]
// (x ≈ xs·xq), and xsum[g] = Σx over each weight group. For 4-bit weights
// (deinterleave) each block stores its even elements first, then its odd
// ones, matching the low and high nibbles of the packed bytes.
func quantizeActs(x []float32, group int, deinterleave bool, xq []int16, xs, xsum []float32) {
	nb := len(x) / 64
	for b := 0; b < nb; b++ {
		blk := x[b*64 : b*64+64]
		var m float32
		for _, v := range blk {
			if v < 0 {
				v = -v
			}
			if v > m {
				m = v
			}
		}
		q := xq[b*64 : b*64+64]
		if m == 0 || m != m || m > math.MaxFloat32 {
			// zero block, or NaN/Inf (propagate it through the scale so the
			// result is NaN and the step reports it).
			xs[b] = m * 0
			if m == 0 {
				xs[b] = 0
			}
			for i := range q {
				q[i] = 0
			}
			continue
		}
		scale := m / 32767
		inv := 32767 / m
		xs[b] = scale
		if deinterleave {
			for i := 0; i < 32; i++ {
				q[i] = int16(roundHalfAway(blk[2*i] * inv))
				q[32+i] = int16(roundHalfAway(blk[2*i+1] * inv))
			}
		} else {
			for i, v := range blk {
				q[i] = int16(roundHalfAway(v * inv))
			}
		}
	}
	for g := range xsum {
		var s float32
		for _, v := range x[g*group : (g+1)*group] {
			s += v
		}
		xsum[g] = s
	}
}

func roundHalfAway(v float32) float32 {
	if v < 0 {
		r := float32(int32(v - 0.5))
		if r < -32767 {
			r = -32767
		}
		return r
	}
	r := float32(int32(v + 0.5))
	if r > 32767 {
		r = 32767
	}
	return r
}

// q4dotGo is the portable form of the 4-bit integer kernel: one weight row
// (nb 64-blocks, gb blocks per group) against one quantized activation row.
func q4dotGo(w []uint32, sc, bi []float32, xq []int16, xs, xsum []float32, nb, gb int) float32 {
	var acc, bacc float32
	for b := 0; b < nb; b++ {
		g := b / gb
		ws := w[b*8 : b*8+8]
		q := xq[b*64 : b*64+64]
		var isum int32
		for j, word := range ws {
			for k := 0; k < 4; k++ {
				byt := (word >> (8 * uint(k))) & 0xff
				idx := j*4 + k // byte index within block: elements 2idx, 2idx+1
				isum += int32(byt&15)*int32(q[idx]) + int32(byt>>4)*int32(q[32+idx])
			}
		}
		acc += float32(isum) * (sc[g] * xs[b])
	}
	for g := 0; g < nb/gb; g++ {
		bacc += bi[g] * xsum[g]
	}
	return acc + bacc
}

// q8dotGo is the portable form of the 8-bit integer kernel.
func q8dotGo(w []uint32, sc, bi []float32, xq []int16, xs, xsum []float32, nb, gb int) float32 {
	var acc, bacc float32
	for b := 0; b < nb; b++ {
		g := b / gb
		ws := w[b*16 : b*16+16]
		q := xq[b*64 : b*64+64]
		var isum int32
		for j, word := range ws {
			for k := 0; k < 4; k++ {
				isum += int32((word>>(8*uint(k)))&0xff) * int32(q[j*4+k])
			}
		}
		acc += float32(isum) * (sc[g] * xs[b])
	}
	for g := 0; g < nb/gb; g++ {
		bacc += bi[g] * xsum[g]
	}
	return acc + bacc
}

// prepActsF32 lays out one activation row for the float kernels: for 4-bit
// weights (deinterleave) each 64-block holds its even elements, then its odd
// ones (the low and high nibbles of the packed bytes); xsum[g] = Σx per
// weight group.
func prepActsF32(x []float32, group int, deinterleave bool, xd, xsum []float32) {
	if deinterleave {
		for b := 0; b+64 <= len(x); b += 64 {
			blk, d := x[b:b+64], xd[b:b+64]
			for i := 0; i < 32; i++ {
				d[i] = blk[2*i]
				d[32+i] = blk[2*i+1]
			}
		}
	}
	for g := range xsum {
		var s float32
		for _, v := range x[g*group : (g+1)*group] {
			s += v
		}
		xsum[g] = s
	}
}

// q4f32dotGo is the portable form of the 4-bit float kernel (x laid out by
// prepActsF32).
func q4f32dotGo(w []uint32, sc, bi []float32, x, xsum []float32, nb, gb int) float32 {
	var acc, bacc float32
	for g := 0; g < nb/gb; g++ {
		var gs float32
		for b := g * gb; b < (g+1)*gb; b++ {
			ws, xb := w[b*8:b*8+8], x[b*64:b*64+64]
			for j, word := range ws {
				for k := 0; k < 4; k++ {
					byt := (word >> (8 * uint(k))) & 0xff
					idx := j*4 + k
					gs += float32(byt&15)*xb[idx] + float32(byt>>4)*xb[32+idx]
				}
			}
		}
		acc += sc[g] * gs
		bacc += bi[g] * xsum[g]
	}
	return acc + bacc
}

// q8f32dotGo is the portable form of the 8-bit float kernel.
func q8f32dotGo(w []uint32, sc, bi []float32, x, xsum []float32, nb, gb int) float32 {
	var acc, bacc float32
	for g := 0; g < nb/gb; g++ {
		var gs float32
		for b := g * gb; b < (g+1)*gb; b++ {
			ws, xb := w[b*16:b*16+16], x[b*64:b*64+64]
			for j, word := range ws {
				for k := 0; k < 4; k++ {
					gs += float32((word>>(8*uint(k)))&0xff) * xb[j*4+k]
				}
			}
		}
		acc += sc[g] * gs
		bacc += bi[g] * xsum[g]
	}
	return acc + bacc
}

// gateGo is the portable gating: y = act(g)·u.
func gateGo(act ops.Act, g, u, y []float32) {
	switch act {
	case ops.SiLU:
		for i, v := range g {
			y[i] = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
		}
	case ops.GELUTanh:
		const c = 0.7978845608028654 // sqrt(2/pi)
		for i, v := range g {
			x := float64(v)
			y[i] = float32(0.5*x*(1+math.Tanh(c*(x+0.044715*x*x*x)))) * u[i]
		}
	}
}
