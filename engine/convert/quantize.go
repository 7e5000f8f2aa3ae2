package convert

import (
	"fmt"
	"math"
)

// QuantizeAffine quantizes a row-major [rows, cols] matrix the way MLX's
// affine quantization does (mlx.core.quantize, mode "affine"): each group of
// groupSize consecutive values in a row gets a scale and a bias with
// w ≈ scale·q + bias, q in [0, 2^bits-1]. As in MLX, the scale is chosen so
// that the larger-magnitude end of the group is represented exactly, and a
// group's values are packed into uint32 words as a little-endian bit stream
// (element 0 in the low bits; 3-, 5- and 6-bit values may straddle words).
//
// It returns packed [rows, cols·bits/32] words and [rows, cols/groupSize]
// scales and biases in float32; the caller stores them in the model's dtype.
func QuantizeAffine(w []float32, rows, cols, groupSize, bits int) (packed []uint32, scales, biases []float32, err error) {
	if err := CheckQuantization(bits, groupSize); err != nil {
		return nil, nil, nil, err
	}
	switch {
	case cols%groupSize != 0:
		return nil, nil, nil, fmt.Errorf("%d columns are not a multiple of the group size %d", cols, groupSize)
	case len(w) != rows*cols:
		return nil, nil, nil, fmt.Errorf("%d values for a %d×%d matrix", len(w), rows, cols)
	}
	groups := rows * cols / groupSize
	packed = make([]uint32, rows*cols*bits/32)
	scales = make([]float32, groups)
	biases = make([]float32, groups)
	nBins := float32(int(1)<<bits - 1)
	const eps = 1e-7
	var bitPos uint64 // position in the packed bit stream
	for g := 0; g < groups; g++ {
		vals := w[g*groupSize : (g+1)*groupSize]
		wMin, wMax := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, v := range vals {
			wMin = min(wMin, v)
			wMax = max(wMax, v)
		}
		// MLX: anchor the scale on the end with the larger magnitude so it is exact.
		negEdge := abs32(wMin) > abs32(wMax)
		scale := max((wMax-wMin)/nBins, eps)
		edge := wMax
		if negEdge {
			edge = wMin
		} else {
			scale = -scale
		}
		q0 := float32(math.RoundToEven(float64(edge / scale)))
		bias := float32(0)
		if q0 != 0 {
			scale = edge / q0
			bias = edge
		}
		scales[g], biases[g] = scale, bias
		for _, v := range vals {
			q := float32(math.RoundToEven(float64((v - bias) / scale)))
			q = min(max(q, 0), nBins)
			putBits(packed, bitPos, uint32(q), bits)
			bitPos += uint64(bits)
		}
	}
	return packed, scales, biases, nil
}

// CheckQuantization accepts the bit widths and group sizes MLX implements.
func CheckQuantization(bits, groupSize int) error {
	switch {
	case bits < 2 || bits > 8 || bits == 7:
		return fmt.Errorf("bits %d: MLX supports 2, 3, 4, 5, 6 and 8", bits)
	case groupSize != 32 && groupSize != 64 && groupSize != 128:
		return fmt.Errorf("group size %d: MLX supports 32, 64 and 128", groupSize)
	}
	return nil
}

// putBits writes the low `bits` bits of v at bit position pos of the stream.
func putBits(words []uint32, pos uint64, v uint32, bits int) {
	word, off := pos/32, uint(pos%32)
	words[word] |= v << off
	if int(off)+bits > 32 {
		words[word+1] |= v >> (32 - off)
	}
}

// DequantizeAffine is the inverse: w = scale·q + bias, for checks and tests.
func DequantizeAffine(packed []uint32, scales, biases []float32, rows, cols, groupSize, bits int) []float32 {
	out := make([]float32, rows*cols)
	mask := uint32(1)<<bits - 1
	for i := range out {
		pos := uint64(i) * uint64(bits)
		word, off := pos/32, uint(pos%32)
		q := packed[word] >> off
		if int(off)+bits > 32 {
			q |= packed[word+1] << (32 - off)
		}
		g := i / groupSize
		out[i] = scales[g]*float32(q&mask) + biases[g]
	}
	return out
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }
