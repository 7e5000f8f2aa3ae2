package cpu

// qact is one activation tensor quantized for the integer kernels, cached
// for the step so that q/k/v (and gate/up) quantize their shared input once.
type qact struct {
	src   *tensor
	deint bool
	group int
	xq    []int16   // rows × in
	meta  []float32 // rows × (nb + ng): [xs per 64-block | xsum per group]
}

func (b *Backend) quantizedActs(x *tensor, l *linear) *qact {
	deint := l.fast == fastQ4
	q := &b.qa
	if q.src == x && q.deint == deint && q.group == l.group {
		return q
	}
	T, in := x.rows, x.cols
	nb, ng := in/64, in/l.group
	ms := nb + ng
	if cap(q.xq) < T*in {
		q.xq = make([]int16, T*in)
	}
	if cap(q.meta) < T*ms {
		q.meta = make([]float32, T*ms)
	}
	q.xq, q.meta = q.xq[:T*in], q.meta[:T*ms]
	b.pool.parallel(T, 1, func(_, lo, hi int) {
		for t := lo; t < hi; t++ {
			m := q.meta[t*ms : (t+1)*ms]
			quantizeActs(x.row(t), l.group, deint, q.xq[t*in:(t+1)*in], m[:nb], m[nb:])
		}
	})
	q.src, q.deint, q.group = x, deint, l.group
	return q
}

// matmulIntBody is the row-range body for 4/8-bit weights with the integer kernels. Rows of
// the weight are split across workers; within a worker, tokens are processed
// four at a time against each weight row (kept in L1), in token chunks small
// enough that their quantized activations stay in L2.
func (b *Backend) matmulIntBody(x, y *tensor, l *linear) func(wk, lo, hi int) {
	q := b.quantizedActs(x, l)
	T, in, out := x.rows, l.in, l.out
	nb, ng := in/64, in/l.group
	gb := l.group / 64
	ms := nb + ng
	wpr := l.wordsPerRow
	chunk := (256 << 10) / (2 * in)
	chunk = max(4, chunk&^3)
	return func(_, lo, hi int) {
		var res [4]float32
		for t0 := 0; t0 < T; t0 += chunk {
			t1 := min(T, t0+chunk)
			for o := lo; o < hi; o++ {
				w := l.packed[o*wpr : (o+1)*wpr]
				sc := l.scales[o*ng : (o+1)*ng]
				bi := l.biases[o*ng : (o+1)*ng]
				var bias float32
				if l.bias != nil {
					bias = l.bias[o]
				}
				t := t0
				for ; t+4 <= t1; t += 4 {
					qdot4(l.fast, w, sc, bi, q.xq[t*in:], in, q.meta[t*ms:], ms, nb, gb, &res)
					y.data[t*out+o] = res[0] + bias
					y.data[(t+1)*out+o] = res[1] + bias
					y.data[(t+2)*out+o] = res[2] + bias
					y.data[(t+3)*out+o] = res[3] + bias
				}
				for ; t < t1; t++ {
					m := q.meta[t*ms : (t+1)*ms]
					y.data[t*out+o] = qdot1(l.fast, w, sc, bi, q.xq[t*in:(t+1)*in], m[:nb], m[nb:], nb, gb) + bias
				}
			}
		}
	}
}

// matmulFastBody is the row-range body for 4/8-bit weights with the SIMD
// kernels: float (exact) by default, integer when SetIntegerDot(true).
func (b *Backend) matmulFastBody(x, y *tensor, l *linear) func(wk, lo, hi int) {
	if b.intDot && haveIntDot && l.group%64 == 0 {
		return b.matmulIntBody(x, y, l)
	}
	return b.matmulFloatBody(x, y, l)
}

// fact is one activation tensor laid out for the float kernels, cached for
// the step like qact.
type fact struct {
	src   *tensor
	deint bool
	group int
	xd    []float32 // rows × in (x itself when no deinterleaving is needed)
	xsum  []float32 // rows × ng
	xsumT []float32 // per group of 4 rows: ng × 4 (the two-row kernel's layout)
	own   []float32
}

func (b *Backend) floatActs(x *tensor, l *linear) *fact {
	deint := l.fast == fastQ4
	f := &b.fa
	if f.src == x && f.deint == deint && f.group == l.group {
		return f
	}
	T, in := x.rows, x.cols
	ng := in / l.group
	if cap(f.xsum) < T*ng {
		f.xsum = make([]float32, T*ng)
	}
	f.xsum = f.xsum[:T*ng]
	if deint {
		if cap(f.own) < T*in {
			f.own = make([]float32, T*in)
		}
		f.xd = f.own[:T*in]
	} else {
		f.xd = x.data
	}
	for t := 0; t < T; t++ {
		prepActsF32(x.row(t), l.group, deint, f.xd[t*in:(t+1)*in], f.xsum[t*ng:(t+1)*ng])
	}
	T4 := T &^ 3
	if cap(f.xsumT) < T4*ng {
		f.xsumT = make([]float32, T4*ng)
	}
	f.xsumT = f.xsumT[:T4*ng]
	for q := 0; q < T4/4; q++ {
		dst := f.xsumT[q*4*ng : (q+1)*4*ng]
		for t := 0; t < 4; t++ {
			src := f.xsum[(4*q+t)*ng : (4*q+t+1)*ng]
			for g, v := range src {
				dst[g*4+t] = v
			}
		}
	}
	f.src, f.deint, f.group = x, deint, l.group
	return f
}

// matmulFloatBody: rows of the weight are split across workers. Prefill works on
// tiles of weight rows that fit in L2: each group of four tokens (whose
// activations stay in L1) runs over the whole tile, so weights are read from
// memory once per step and activations never leave the inner caches.
func (b *Backend) matmulFloatBody(x, y *tensor, l *linear) func(wk, lo, hi int) {
	f := b.floatActs(x, l)
	T, in, out := x.rows, l.in, l.out
	ng := in / l.group
	rt := rowTile(4 * l.wordsPerRow)
	T4 := T &^ 3
	if l.group%64 != 0 {
		T4 = 0 // group-32 weights: only the one-token kernels exist
	}
	return func(_, lo, hi int) {
		var res [4]float32
		var res2 [8]float32
		for r0 := lo; r0 < hi; r0 += rt {
			r1 := min(hi, r0+rt)
			for t := 0; t < T4; t += 4 {
				xd, xs := f.xd[t*in:], f.xsum[t*ng:]
				xsT := f.xsumT[t*ng : (t+4)*ng]
				o := r0
				for ; twoRowKernels() && o+2 <= r1; o += 2 {
					qf4x2(l, o, xd, in, xsT, &res2)
					for j := 0; j < 4; j++ {
						y.data[(t+j)*out+o] = res2[j]
						y.data[(t+j)*out+o+1] = res2[4+j]
					}
				}
				for ; o < r1; o++ {
					qf4(l, o, xd, in, xs, ng, &res)
					y.data[t*out+o] = res[0]
					y.data[(t+1)*out+o] = res[1]
					y.data[(t+2)*out+o] = res[2]
					y.data[(t+3)*out+o] = res[3]
				}
			}
			for t := T4; t < T; t++ {
				qfRows(l, r0, r1, f.xd[t*in:(t+1)*in], f.xsum[t*ng:(t+1)*ng], y.data[t*out+r0:t*out+r1])
			}
		}
		if l.bias != nil {
			for t := 0; t < T; t++ {
				row := y.data[t*out : (t+1)*out]
				for o := lo; o < hi; o++ {
					row[o] += l.bias[o]
				}
			}
		}
	}
}

// rowTile is how many weight rows of rowBytes make a tile of about 128 KiB
// (well inside L2), a multiple of 16.
func rowTile(rowBytes int) int {
	return max(16, ((128<<10)/max(rowBytes, 1))&^15)
}
