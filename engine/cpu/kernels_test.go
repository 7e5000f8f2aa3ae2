package cpu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/impetus-llm/impetus/engine/ops"
)

func randF32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func close32(a, b, tol float32) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	m := max(float32(math.Abs(float64(a))), float32(math.Abs(float64(b))), 1)
	return d <= tol*m
}

func TestDotAxpyMatchPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 15, 16, 17, 63, 64, 65, 130, 896, 4864} {
		a, b := randF32(r, n), randF32(r, n)
		if got, want := dotF32(a, b), dotF32Go(a, b); !close32(got, want, 1e-5) {
			t.Errorf("dot n=%d: simd %v, portable %v", n, got, want)
		}
		y1 := randF32(r, n)
		y2 := append([]float32(nil), y1...)
		axpy(0.37, a, y1)
		axpyGo(0.37, a, y2)
		for i := range y1 {
			if !close32(y1[i], y2[i], 1e-6) {
				t.Fatalf("axpy n=%d i=%d: simd %v, portable %v", n, i, y1[i], y2[i])
			}
		}
	}
}

// randQuantRow makes a random packed row of in elements (bits 4 or 8).
func randQuantRow(r *rand.Rand, in, bits, group int) (w []uint32, sc, bi []float32) {
	w = make([]uint32, in*bits/32)
	for i := range w {
		w[i] = r.Uint32()
	}
	sc = randF32(r, in/group)
	bi = randF32(r, in/group)
	return
}

// TestQuantKernelsMatchPortable checks the SIMD integer kernels (single row
// and four rows) against the portable Go kernels, and both against plain
// float dequantization.
func TestQuantKernelsMatchPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, bits := range []int{4, 8} {
		for _, group := range []int{64, 128} {
			for _, in := range []int{128, 896, 4864 - 4864%group} {
				kind := fastQ4
				goDot := q4dotGo
				if bits == 8 {
					kind, goDot = fastQ8, q8dotGo
				}
				w, sc, bi := randQuantRow(r, in, bits, group)
				nb, ng := in/64, in/group
				ms := nb + ng
				xq := make([]int16, 4*in)
				meta := make([]float32, 4*ms)
				xs := make([][]float32, 4)
				for tk := 0; tk < 4; tk++ {
					xs[tk] = randF32(r, in)
					m := meta[tk*ms : (tk+1)*ms]
					quantizeActs(xs[tk], group, bits == 4, xq[tk*in:(tk+1)*in], m[:nb], m[nb:])
				}
				deq := make([]float32, in)
				dequantRow(deq, w, sc, bi, bits, group)
				var four [4]float32
				qdot4(kind, w, sc, bi, xq, in, meta, ms, nb, group/64, &four)
				for tk := 0; tk < 4; tk++ {
					m := meta[tk*ms : (tk+1)*ms]
					want := goDot(w, sc, bi, xq[tk*in:(tk+1)*in], m[:nb], m[nb:], nb, group/64)
					got := qdot1(kind, w, sc, bi, xq[tk*in:(tk+1)*in], m[:nb], m[nb:], nb, group/64)
					exact := dotF32Go(deq, xs[tk])
					if !close32(got, want, 1e-4) || !close32(four[tk], want, 1e-4) {
						t.Errorf("bits=%d group=%d in=%d token %d: simd %v, simd4 %v, portable %v", bits, group, in, tk, got, four[tk], want)
					}
					// int16 activations: error well under 1e-3 of the magnitude.
					scale := float32(math.Sqrt(float64(dotF32Go(deq, deq) * dotF32Go(xs[tk], xs[tk]))))
					if d := float32(math.Abs(float64(want - exact))); d > 1e-4*scale {
						t.Errorf("bits=%d group=%d in=%d: integer %v vs float %v (|d|=%g, scale %g)", bits, group, in, want, exact, d, scale)
					}
				}
			}
		}
	}
}

// TestDequantStraddlingBits checks 3/5/6-bit unpacking (values crossing
// uint32 words) against a bit-by-bit reference.
func TestDequantAllBits(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range [][2]int{{2, 32}, {3, 32}, {4, 32}, {5, 32}, {6, 32}, {8, 32}, {3, 64}, {5, 128}, {6, 64}, {2, 64}} {
		bits, group := c[0], c[1]
		in := 256
		words := make([]uint32, in*bits/32)
		for i := range words {
			words[i] = r.Uint32()
		}
		sc, bi := randF32(r, in/group), randF32(r, in/group)
		got := make([]float32, in)
		dequantRow(got, words, sc, bi, bits, group)
		for i := 0; i < in; i++ {
			var q uint32
			for k := 0; k < bits; k++ {
				bit := i*bits + k
				q |= (words[bit/32] >> (bit % 32) & 1) << k
			}
			want := sc[i/group]*float32(q) + bi[i/group]
			if got[i] != want {
				t.Fatalf("bits=%d element %d: got %v want %v (q=%d)", bits, i, got[i], want, q)
			}
		}
	}
}

// TestFloatQuantKernelsMatchPortable checks the float SIMD kernels (one and
// four rows) against the portable kernels and plain dequantization.
func TestFloatQuantKernelsMatchPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sdt := range []ops.DType{ops.F32, ops.BF16, ops.F16} {
		for _, bits := range []int{4, 8} {
			for _, group := range []int{32, 64, 128, 256} {
				for _, in := range []int{256, 896, 4864 - 4864%group} {
					if in%group != 0 || (group == 32 && !group32SIMD()) {
						continue
					}
					const out = 3
					l := randQuantLinear(t, r, out, in, bits, group, sdt)
					nb, ng := in/64, in/group
					goDot := q4f32dotGo
					if bits == 8 {
						goDot = q8f32dotGo
					}
					xd := make([]float32, 4*in)
					xsum := make([]float32, 4*ng)
					xs := make([][]float32, 4)
					for tk := range xs {
						xs[tk] = randF32(r, in)
						dst := xd[tk*in : (tk+1)*in]
						copy(dst, xs[tk])
						prepActsF32(xs[tk], group, bits == 4, dst, xsum[tk*ng:(tk+1)*ng])
					}
					deq := make([]float32, in)
					rows := make([]float32, out)
					qfRows(l, 0, out, xd[:in], xsum[:ng], rows)
					for o := 0; o < out; o++ {
						if one := qf1(l, o, xd[:in], xsum[:ng]); rows[o] != one {
							t.Errorf("%s bits=%d group=%d in=%d: rows kernel row %d = %v, single row %v", sdt, bits, group, in, o, rows[o], one)
						}
						l.rowF32(o, deq)
						var four [4]float32
						multi := group%64 == 0 // the multi-token kernels need whole 64-blocks per group
						if multi {
							qf4(l, o, xd, in, xsum, ng, &four)
						}
						var two [8]float32
						hasTwo := multi && o+1 < out
						if hasTwo {
							xsT := make([]float32, 4*ng)
							for g := 0; g < ng; g++ {
								for tk := 0; tk < 4; tk++ {
									xsT[g*4+tk] = xsum[tk*ng+g]
								}
							}
							qf4x2(l, o, xd, in, xsT, &two)
							deq1 := make([]float32, in)
							l.rowF32(o+1, deq1)
							for tk := range xs {
								x, s := xd[tk*in:(tk+1)*in], xsum[tk*ng:(tk+1)*ng]
								want := goDot(l.packed[(o+1)*l.wordsPerRow:(o+2)*l.wordsPerRow], l.scales[(o+1)*ng:(o+2)*ng], l.biases[(o+1)*ng:(o+2)*ng], x, s, nb, group/64)
								var mag float64
								for i := range deq1 {
									mag += math.Abs(float64(deq1[i] * xs[tk][i]))
								}
								if math.Abs(float64(two[4+tk]-want)) > 1e-5*mag {
									t.Errorf("%s bits=%d group=%d in=%d row %d token %d: two-row kernel %v, portable %v", sdt, bits, group, in, o+1, tk, two[4+tk], want)
								}
							}
						}
						for tk := range xs {
							x, s := xd[tk*in:(tk+1)*in], xsum[tk*ng:(tk+1)*ng]
							exact := dotF32Go(deq, xs[tk])
							want := exact // group 32: no portable integer-layout kernel
							if multi {
								want = goDot(l.packed[o*l.wordsPerRow:(o+1)*l.wordsPerRow], l.scales[o*ng:(o+1)*ng], l.biases[o*ng:(o+1)*ng], x, s, nb, group/64)
							}
							got := qf1(l, o, x, s)
							// tolerance relative to the sum of |terms| (cancellation)
							var mag float32
							for i := range deq {
								mag += float32(math.Abs(float64(deq[i] * xs[tk][i])))
							}
							tol := func(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-5*float64(mag) }
							if hasTwo && !tol(two[tk], want) {
								t.Errorf("%s bits=%d group=%d in=%d row %d token %d: two-row kernel %v, portable %v", sdt, bits, group, in, o, tk, two[tk], want)
							}
							if !tol(got, want) || (multi && !tol(four[tk], want)) || !tol(want, exact) {
								t.Errorf("%s bits=%d group=%d in=%d row %d token %d: simd %v, simd4 %v, portable %v, dequantized %v", sdt, bits, group, in, o, tk, got, four[tk], want, exact)
							}
						}
					}
				}
			}
		}
	}
}

// randQuantLinear builds a quantized linear through the real loader, with
// scales and biases stored as sdt.
func randQuantLinear(t testing.TB, r *rand.Rand, out, in, bits, group int, sdt ops.DType) *linear {
	words := make([]byte, out*in*bits/8)
	for i := range words {
		words[i] = byte(r.Uint32())
	}
	enc := func(v []float32) []byte {
		var b []byte
		for _, f := range v {
			switch sdt {
			case ops.F32:
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
			case ops.BF16:
				b = binary.LittleEndian.AppendUint16(b, uint16(math.Float32bits(f)>>16))
			default:
				b = binary.LittleEndian.AppendUint16(b, f32ToF16Test(f))
			}
		}
		return b
	}
	ng := out * in / group
	sc, bi := make([]float32, ng), make([]float32, ng)
	for i := range sc {
		sc[i] = 0.01 + 0.02*r.Float32()
		bi[i] = -0.1 + 0.05*float32(r.NormFloat64())
	}
	spec := ops.LinearSpec{
		Weight: &ops.Raw{Name: "w", DType: ops.U32, Shape: []int{out, in * bits / 32}, Data: words},
		Scales: &ops.Raw{Name: "s", DType: sdt, Shape: []int{out, in / group}, Data: enc(sc)},
		Biases: &ops.Raw{Name: "b", DType: sdt, Shape: []int{out, in / group}, Data: enc(bi)},
		Quant:  &ops.Quant{Bits: bits, GroupSize: group},
	}
	l, err := loadLinear(spec)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// f32ToF16Test converts values in the normal half range (truncating).
func f32ToF16Test(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int((u>>23)&0xff) - 127 + 15
	if exp <= 0 {
		return sign
	}
	return sign | uint16(exp)<<10 | uint16((u>>13)&0x3ff)
}

// TestDenseKernelsMatchPortable checks the dense F32/BF16/F16 SIMD kernels
// (one and four rows, widths with and without a tail) against decoding the
// row and a plain dot product.
func TestDenseKernelsMatchPortable(t *testing.T) {
	if !denseSIMD() {
		t.Skip("no dense SIMD kernels on this platform")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, dt := range []ops.DType{ops.F32, ops.BF16, ops.F16} {
		for _, in := range []int{16, 37, 64, 100, 896} {
			const out = 3
			var data []byte
			for i := 0; i < out*in; i++ {
				f := float32(r.NormFloat64())
				switch dt {
				case ops.F32:
					data = binary.LittleEndian.AppendUint32(data, math.Float32bits(f))
				case ops.BF16:
					data = binary.LittleEndian.AppendUint16(data, uint16(math.Float32bits(f)>>16))
				default:
					data = binary.LittleEndian.AppendUint16(data, f32ToF16Test(f))
				}
			}
			l, err := loadLinear(ops.LinearSpec{Weight: &ops.Raw{Name: "w", DType: dt, Shape: []int{out, in}, Data: data}})
			if err != nil {
				t.Fatal(err)
			}
			x := randF32(r, 4*in)
			row := make([]float32, in)
			for o := 0; o < out; o++ {
				w := l.rowF32(o, row)
				var four [4]float32
				denseDot4(l, o, x, in, &four)
				for tk := 0; tk < 4; tk++ {
					want := dotF32Go(w, x[tk*in:(tk+1)*in])
					got := denseDot1(l, o, x[tk*in:(tk+1)*in])
					if !close32(got, want, 1e-5) || !close32(four[tk], want, 1e-5) {
						t.Errorf("%s in=%d row %d token %d: simd %v, simd4 %v, portable %v", dt, in, o, tk, got, four[tk], want)
					}
				}
			}
		}
	}
}

// TestGateMatchesPortable checks the SIMD SiLU/GELU gating against the
// float64-based portable version, including extreme inputs.
func TestGateMatchesPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	n := 1000
	g := randF32(r, n)
	for i := range g {
		g[i] *= 6
	}
	copy(g, []float32{0, -0, 1e-30, -1e-30, 88, -88, 100, -100, 1e4, -1e4, 3.4e38, -3.4e38})
	u := randF32(r, n)
	for _, act := range []ops.Act{ops.SiLU, ops.GELUTanh} {
		got, want := make([]float32, n), make([]float32, n)
		gateRows(act, g, u, got)
		gateGo(act, g, u, want)
		for i := range got {
			d := math.Abs(float64(got[i] - want[i]))
			if d > 2e-6*math.Abs(float64(want[i]))+1e-7*math.Abs(float64(g[i]*u[i])) || got[i] != got[i] {
				t.Errorf("%v(%g)·%g: simd %g, portable %g", act, g[i], u[i], got[i], want[i])
			}
		}
	}
}
