package safetensors

import (
	"encoding/binary"
	"testing"
)

// FuzzHeader feeds arbitrary bytes to the header validator: it must never
// panic, and whatever it accepts must be self-consistent (every Data slice
// inside the buffer, of exactly shape×dtype bytes).
func FuzzHeader(f *testing.F) {
	seed := func(hdr string, data int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
		b = append(b, hdr...)
		return append(b, make([]byte, data)...)
	}
	good, _ := EncodeHeader([]NewTensor{
		{"a", F32, []int{2, 2}, make([]byte, 16)},
		{"b", BF16, []int{3}, make([]byte, 6)},
		{"q", U32, []int{1, 2}, make([]byte, 8)},
	}, map[string]string{"format": "pt"})
	f.Add(seed(string(good), 30))
	f.Add(seed(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(seed(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1))
	f.Add(seed(`{"__metadata__":{"k":"v"}}`, 0))
	f.Add(seed(`{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, buf []byte) {
		h, err := parseHeader("fuzz.safetensors", buf)
		if err != nil {
			return
		}
		for i, tn := range h.tensors {
			want := int64(tn.DType.Size())
			for _, d := range tn.Shape {
				want *= int64(d)
			}
			if int64(len(tn.Data)) != want || h.ends[i]-h.begins[i] != want {
				t.Fatalf("tensor %q: %d bytes, shape %v %s", tn.Name, len(tn.Data), tn.Shape, tn.DType)
			}
			if 8+h.size+h.ends[i] > int64(len(buf)) {
				t.Fatalf("tensor %q past end", tn.Name)
			}
		}
	})
}
