package cpu

import (
	"fmt"
	"math"

	"github.com/impetus-llm/impetus/engine/ops"
)

// linear is a loaded linear layer or embedding table. Dense weights are
// views of the stored bytes (mmap); quantized weights stay packed, only their
// per-group scales and biases are widened to float32 at load so every kernel
// reads one format.
type linear struct {
	out, in int
	name    string

	dtype ops.DType // F32, F16, BF16, or U32 when quantized
	f32   []float32 // dense F32 [out*in]
	u16   []uint16  // dense F16/BF16 [out*in]

	bits, group    int
	wordsPerRow    int
	packed         []uint32  // [out*wordsPerRow]
	scales, biases []float32 // [out*in/group], widened (portable kernels)
	sfmt           int       // stored type of scales/biases: scaleF32, scaleBF16, scaleF16
	scRaw, biRaw   []byte    // scales/biases as stored (SIMD kernels read these)

	bias []float32 // additive bias [out], nil if none

	fast fastKind // which SIMD kernel applies, if any
}

func (l *linear) Dims() (int, int) { return l.out, l.in }

// weightBytes is what one full pass over the weight reads.
func (l *linear) weightBytes() int {
	switch l.dtype {
	case ops.F32:
		return 4 * len(l.f32)
	case ops.F16, ops.BF16:
		return 2 * len(l.u16)
	}
	return 4*len(l.packed) + len(l.scRaw) + len(l.biRaw)
}

func loadLinear(s ops.LinearSpec) (*linear, error) {
	w := s.Weight
	if w == nil {
		return nil, fmt.Errorf("linear: no weight tensor")
	}
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("%s: tensor %s has shape %v; want 2 dimensions", w.File, w.Name, w.Shape)
	}
	l := &linear{name: w.Name, out: w.Shape[0]}
	if s.Quant == nil {
		l.in = w.Shape[1]
		if err := w.Check([]int{l.out, l.in}, ops.F32, ops.F16, ops.BF16); err != nil {
			return nil, err
		}
		l.dtype = w.DType
		if w.DType == ops.F32 {
			l.f32 = asF32(w.Data)
		} else {
			l.u16 = asU16(w.Data)
		}
	} else {
		q := *s.Quant
		switch q.Bits {
		case 2, 3, 4, 5, 6, 8:
		default:
			return nil, fmt.Errorf("%s: tensor %s: %d-bit quantization is not supported (2, 3, 4, 5, 6, 8 are)", w.File, w.Name, q.Bits)
		}
		if q.GroupSize <= 0 || q.GroupSize%32 != 0 {
			return nil, fmt.Errorf("%s: tensor %s: group size %d is not a positive multiple of 32", w.File, w.Name, q.GroupSize)
		}
		if w.DType != ops.U32 {
			return nil, fmt.Errorf("%s: quantized tensor %s has dtype %s; want U32 (packed %d-bit)", w.File, w.Name, w.DType, q.Bits)
		}
		l.wordsPerRow = w.Shape[1]
		if l.wordsPerRow*32%q.Bits != 0 {
			return nil, fmt.Errorf("%s: tensor %s: %d words per row do not hold whole %d-bit values", w.File, w.Name, l.wordsPerRow, q.Bits)
		}
		l.in = l.wordsPerRow * 32 / q.Bits
		if l.in%q.GroupSize != 0 {
			return nil, fmt.Errorf("%s: tensor %s: input size %d is not a multiple of group size %d", w.File, w.Name, l.in, q.GroupSize)
		}
		if err := w.Check([]int{l.out, l.wordsPerRow}, ops.U32); err != nil {
			return nil, err
		}
		groups := l.in / q.GroupSize
		for _, r := range []*ops.Raw{s.Scales, s.Biases} {
			if r == nil {
				return nil, fmt.Errorf("%s: quantized tensor %s has no .scales/.biases companion", w.File, w.Name)
			}
			if err := r.Check([]int{l.out, groups}, ops.F32, ops.F16, ops.BF16); err != nil {
				return nil, fmt.Errorf("%w (quantized %s: %d-bit, group %d)", err, w.Name, q.Bits, q.GroupSize)
			}
		}
		var err error
		if l.scales, err = widen(s.Scales); err != nil {
			return nil, err
		}
		if l.biases, err = widen(s.Biases); err != nil {
			return nil, err
		}
		l.scRaw, l.biRaw = s.Scales.Data, s.Biases.Data
		if s.Scales.DType != s.Biases.DType {
			return nil, fmt.Errorf("%s: tensors %s and %s have different dtypes %s and %s", w.File, s.Scales.Name, s.Biases.Name, s.Scales.DType, s.Biases.DType)
		}
		switch s.Scales.DType {
		case ops.F32:
			l.sfmt = scaleF32
		case ops.BF16:
			l.sfmt = scaleBF16
		default:
			l.sfmt = scaleF16
		}
		for i, v := range l.scales {
			if v != v || math.IsInf(float64(v), 0) || l.biases[i] != l.biases[i] || math.IsInf(float64(l.biases[i]), 0) {
				return nil, fmt.Errorf("%s: quantized tensor %s has a non-finite scale or bias in group %d: the file is corrupt", w.File, w.Name, i)
			}
		}
		l.dtype = ops.U32
		l.bits, l.group = q.Bits, q.GroupSize
		l.packed = asU32(w.Data)
	}
	if s.Bias != nil {
		if err := s.Bias.Check([]int{l.out}, ops.F32, ops.F16, ops.BF16); err != nil {
			return nil, err
		}
		var err error
		if l.bias, err = widen(s.Bias); err != nil {
			return nil, err
		}
	}
	l.fast = chooseFast(l)
	return l, nil
}

// Stored types of quantization scales and biases.
const (
	scaleF32 = iota
	scaleBF16
	scaleF16
)

// widen returns a float32 copy (never a view: the caller may keep it past
// the file's lifetime and the copy is small).
func widen(r *ops.Raw) ([]float32, error) {
	f, err := toF32(r)
	if err != nil {
		return nil, err
	}
	if r.DType == ops.F32 {
		f = append([]float32(nil), f...)
	}
	return f, nil
}

// rowF32 returns row o of the weight as float32: a view for F32, else
// decoded into dst (len >= in).
func (l *linear) rowF32(o int, dst []float32) []float32 {
	in := l.in
	switch l.dtype {
	case ops.F32:
		return l.f32[o*in : (o+1)*in]
	case ops.F16:
		src := l.u16[o*in : (o+1)*in]
		dst = dst[:in]
		for i, h := range src {
			dst[i] = f16Table[h]
		}
		return dst
	case ops.BF16:
		bf16RowToF32(dst[:in], l.u16[o*in:(o+1)*in])
		return dst[:in]
	}
	groups := in / l.group
	dequantRow(dst[:in], l.packed[o*l.wordsPerRow:(o+1)*l.wordsPerRow],
		l.scales[o*groups:(o+1)*groups], l.biases[o*groups:(o+1)*groups], l.bits, l.group)
	return dst[:in]
}

func bf16RowToF32(dst []float32, src []uint16) {
	for i, h := range src {
		dst[i] = bf16ToF32(h)
	}
}

// dequantRow expands one packed row: dst[i] = scale[g]·q[i] + bias[g].
func dequantRow(dst []float32, words []uint32, scales, biases []float32, bits, group int) {
	switch bits {
	case 4:
		wordsPerGroup := group / 8
		for g := range scales {
			s, b := scales[g], biases[g]
			ws := words[g*wordsPerGroup : (g+1)*wordsPerGroup]
			d := dst[g*group : (g+1)*group]
			for i, w := range ws {
				e := d[i*8 : i*8+8 : i*8+8]
				e[0] = s*float32(w&15) + b
				e[1] = s*float32(w>>4&15) + b
				e[2] = s*float32(w>>8&15) + b
				e[3] = s*float32(w>>12&15) + b
				e[4] = s*float32(w>>16&15) + b
				e[5] = s*float32(w>>20&15) + b
				e[6] = s*float32(w>>24&15) + b
				e[7] = s*float32(w>>28) + b
			}
		}
	case 8:
		wordsPerGroup := group / 4
		for g := range scales {
			s, b := scales[g], biases[g]
			ws := words[g*wordsPerGroup : (g+1)*wordsPerGroup]
			d := dst[g*group : (g+1)*group]
			for i, w := range ws {
				e := d[i*4 : i*4+4 : i*4+4]
				e[0] = s*float32(w&255) + b
				e[1] = s*float32(w>>8&255) + b
				e[2] = s*float32(w>>16&255) + b
				e[3] = s*float32(w>>24) + b
			}
		}
	case 2:
		per := 32 / bits
		mask := uint32(1)<<bits - 1
		wordsPerGroup := group / per
		for g := range scales {
			s, b := scales[g], biases[g]
			ws := words[g*wordsPerGroup : (g+1)*wordsPerGroup]
			d := dst[g*group : (g+1)*group]
			for i, w := range ws {
				for k := 0; k < per; k++ {
					d[i*per+k] = s*float32((w>>(uint(k)*uint(bits)))&mask) + b
				}
			}
		}
	default: // 3, 5, 6: values straddle words; 32 values fill exactly bits words
		mask := uint64(1)<<bits - 1
		for c := 0; c < len(dst)/32; c++ {
			ws := words[c*bits : (c+1)*bits]
			g := c * 32 / group // groups are multiples of 32: a chunk has one group
			s, b := scales[g], biases[g]
			d := dst[c*32 : (c+1)*32]
			var acc uint64
			var have uint
			wi := 0
			for i := range d {
				if have < uint(bits) {
					acc |= uint64(ws[wi]) << have
					wi++
					have += 32
				}
				d[i] = s*float32(acc&mask) + b
				acc >>= uint(bits)
				have -= uint(bits)
			}
		}
	}
}

// rowTail decodes elements [from, from+len(dst)) of dense row o.
func (l *linear) rowTail(o, from int, dst []float32) []float32 {
	base := o*l.in + from
	for i := range dst {
		switch l.dtype {
		case ops.F32:
			dst[i] = l.f32[base+i]
		case ops.BF16:
			dst[i] = bf16ToF32(l.u16[base+i])
		default:
			dst[i] = f16Table[l.u16[base+i]]
		}
	}
	return dst
}

// matmul computes y = x·Wᵀ (+bias) for x [T, in] into y [T, out].
func (b *Backend) matmul(x, y *tensor, l *linear) {
	b.pool.parallel(l.out, 16, b.matmulBody(x, y, l))
}

// matmulBody prepares y = x·Wᵀ (+bias) and returns the function computing
// output rows [lo, hi) (the unit of parallel work).
func (b *Backend) matmulBody(x, y *tensor, l *linear) func(wk, lo, hi int) {
	T := x.rows
	if l.fast != fastNone && b.useFast {
		return b.matmulFastBody(x, y, l)
	}
	if denseSIMD() && b.useFast && l.dtype != ops.U32 {
		return b.matmulDenseBody(x, y, l)
	}
	return func(wk, lo, hi int) {
		scratch := b.scratch[wk]
		if cap(scratch) < l.in {
			scratch = make([]float32, l.in)
			b.scratch[wk] = scratch
		}
		for o := lo; o < hi; o++ {
			row := l.rowF32(o, scratch[:l.in])
			var bias float32
			if l.bias != nil {
				bias = l.bias[o]
			}
			for t := 0; t < T; t++ {
				y.data[t*l.out+o] = dotF32(row, x.data[t*l.in:(t+1)*l.in]) + bias
			}
		}
	}
}

// actLayout identifies how a linear wants its input prepared; linears with
// one layout can share one prepared input and one parallel section.
func (b *Backend) actLayout(l *linear) [3]int {
	if l.fast == fastNone || !b.useFast {
		return [3]int{}
	}
	return [3]int{int(l.fast), l.group, 1}
}

// matmulN computes several linears of one input in one parallel section
// (q/k/v, gate/up): fewer fork-joins per token.
func (b *Backend) matmulN(x *tensor, ys []*tensor, ls []*linear) {
	bodies := make([]func(wk, lo, hi int), len(ls))
	starts := make([]int, len(ls)+1)
	for i, l := range ls {
		bodies[i] = b.matmulBody(x, ys[i], l)
		starts[i+1] = starts[i] + (l.out+15)&^15
	}
	b.pool.parallel(starts[len(ls)], 16, func(wk, lo, hi int) {
		for i, l := range ls {
			a, z := max(lo, starts[i]), min(hi, starts[i+1])
			if a < z {
				bodies[i](wk, a-starts[i], min(z-starts[i], l.out))
			}
		}
	})
}

// matmulDenseBody is the row-range body for F32/F16/BF16 weights with the
// SIMD kernels: each weight row is read once per four tokens.
func (b *Backend) matmulDenseBody(x, y *tensor, l *linear) func(wk, lo, hi int) {
	T, in, out := x.rows, l.in, l.out
	chunk := max(4, ((512<<10)/(4*in))&^3)
	return func(_, lo, hi int) {
		var res [4]float32
		for t0 := 0; t0 < T; t0 += chunk {
			t1 := min(T, t0+chunk)
			for o := lo; o < hi; o++ {
				var bias float32
				if l.bias != nil {
					bias = l.bias[o]
				}
				t := t0
				for ; t+4 <= t1; t += 4 {
					denseDot4(l, o, x.data[t*in:], in, &res)
					y.data[t*out+o] = res[0] + bias
					y.data[(t+1)*out+o] = res[1] + bias
					y.data[(t+2)*out+o] = res[2] + bias
					y.data[(t+3)*out+o] = res[3] + bias
				}
				for ; t < t1; t++ {
					y.data[t*out+o] = denseDot1(l, o, x.data[t*in:(t+1)*in]) + bias
				}
			}
		}
	}
}
