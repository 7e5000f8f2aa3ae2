package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"
)

// Tensor is one named tensor. Data aliases the file's read-only memory
// mapping: it is valid until the owning File (or Set) is closed and must
// never be written to (a write faults).
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
	File  string // path of the file holding it
}

// NumElements is the product of Shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// ToFloat32 decodes an F32, F16 or BF16 tensor into a new []float32 (little
// endian, as safetensors stores it). Other dtypes are an error naming the tensor.
func (t *Tensor) ToFloat32() ([]float32, error) {
	n := t.NumElements()
	out := make([]float32, n)
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = F16ToFloat32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.Data[2*i:])) << 16)
		}
	default:
		return nil, fmt.Errorf("%s: tensor %q has dtype %s, not a float type convertible to float32", t.File, t.Name, t.DType)
	}
	return out, nil
}

// F16ToFloat32 converts IEEE 754 half precision bits to float32, exactly
// (subnormals, infinities and NaN included).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf / NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// subnormal: normalise
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// File is one open safetensors file.
type File struct {
	path     string
	mapping  []byte
	hdr      *header
	byName   map[string]*Tensor
	closed   bool
	fileSize int64
}

// Open memory-maps path read-only and validates its whole header (lengths,
// JSON, dtypes, shapes, offsets within bounds and non-overlapping, byte
// counts matching shape×dtype). Errors name the file and the tensor.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close() // the mapping outlives the descriptor
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, shorter than the 8-byte header length (truncated?)", path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("%s: file of %d bytes is too large to map", path, size)
	}
	m, err := mapFile(fh, int(size))
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	h, err := parseHeader(path, m)
	if err != nil {
		_ = unmapFile(m)
		return nil, err
	}
	f := &File{path: path, mapping: m, hdr: h, fileSize: size, byName: make(map[string]*Tensor, len(h.tensors))}
	for _, t := range h.tensors {
		f.byName[t.Name] = t
	}
	return f, nil
}

// Path is the file's path as given to Open.
func (f *File) Path() string { return f.path }

// Size is the file's size in bytes.
func (f *File) Size() int64 { return f.fileSize }

// HeaderSize is the length of the JSON header in bytes.
func (f *File) HeaderSize() int64 { return f.hdr.size }

// Tensors returns the file's tensors in header order.
func (f *File) Tensors() []*Tensor { return f.hdr.tensors }

// Tensor looks a tensor up by name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	t, ok := f.byName[name]
	return t, ok
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.byName))
	for n := range f.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Metadata is the header's __metadata__ map (empty if absent).
func (f *File) Metadata() map[string]string { return f.hdr.metadata }

// Close unmaps the file. Every Tensor.Data of this file is invalid afterwards.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	for _, t := range f.hdr.tensors {
		t.Data = nil // fail loudly (nil slice) rather than fault on use after Close
	}
	if err := unmapFile(f.mapping); err != nil {
		return fmt.Errorf("%s: munmap: %w", f.path, err)
	}
	f.mapping = nil
	return nil
}
