package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// EncodeFloat32 stores v as little-endian F32, F16 or BF16 elements, the
// narrow types rounded to nearest even as PyTorch and MLX round.
func EncodeFloat32(v []float32, dt DType) ([]byte, error) {
	switch dt {
	case F32:
		b := make([]byte, 4*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		return b, nil
	case F16:
		b := make([]byte, 2*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint16(b[2*i:], Float32ToF16(f))
		}
		return b, nil
	case BF16:
		b := make([]byte, 2*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint16(b[2*i:], Float32ToBF16(f))
		}
		return b, nil
	}
	return nil, fmt.Errorf("cannot encode float32 values as %s", dt)
}

// Float32ToBF16 rounds to the nearest bfloat16 (ties to even); NaN stays NaN.
func Float32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40 // quiet NaN
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// Float32ToF16 rounds to the nearest IEEE half (ties to even), producing
// subnormals, infinities on overflow, and NaN for NaN.
func Float32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int(u>>23&0xff) - 127 + 15
	mant := u & 0x7fffff
	if u&0x7fffffff > 0x7f800000 {
		return sign | 0x7e00
	}
	if exp >= 31 {
		return sign | 0x7c00
	}
	if exp <= 0 {
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		r := mant >> shift
		rem, half := mant&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, up to infinity: still correct
	}
	return sign | uint16(r)
}
