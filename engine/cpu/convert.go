package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/impetus-llm/impetus/engine/ops"
)

// f16ToF32 converts IEEE half-precision bits to float32 exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f16Table maps every half-precision bit pattern to float32: a 256 KiB table
// that makes conversion a single load.
var f16Table = func() []float32 {
	t := make([]float32, 1<<16)
	for i := range t {
		t[i] = f16ToF32(uint16(i))
	}
	return t
}()

// asF32 views b as []float32 without copying when aligned, else copies.
func asF32(b []byte) []float32 {
	n := len(b) / 4
	if n == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func asU16(b []byte) []uint16 {
	n := len(b) / 2
	if n == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}

func asU32(b []byte) []uint32 {
	n := len(b) / 4
	if n == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

// toF32 decodes a float tensor (F32 view when possible) into float32s.
func toF32(r *ops.Raw) ([]float32, error) {
	switch r.DType {
	case ops.F32:
		return asF32(r.Data), nil
	case ops.F16:
		u := asU16(r.Data)
		out := make([]float32, len(u))
		for i, h := range u {
			out[i] = f16Table[h]
		}
		return out, nil
	case ops.BF16:
		u := asU16(r.Data)
		out := make([]float32, len(u))
		for i, h := range u {
			out[i] = bf16ToF32(h)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: tensor %s has dtype %s; want F32, F16 or BF16", r.File, r.Name, r.DType)
}
