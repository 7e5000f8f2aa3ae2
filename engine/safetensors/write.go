package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// NewTensor is a tensor to write: Data holds the little-endian elements,
// exactly product(Shape)×DType.Size() bytes.
type NewTensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// WriteFile writes tensors (in the given order) and metadata as a
// safetensors file at path, via a temporary file renamed into place so a
// reader never sees a half-written file. The header is padded with spaces to
// a multiple of 8 bytes, as the reference writers do, so tensor data stays aligned.
func WriteFile(path string, tensors []NewTensor, metadata map[string]string) error {
	hdr, err := EncodeHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.safetensors")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	w := bufio.NewWriterSize(tmp, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	w.Write(lenBuf[:])
	w.Write(hdr)
	for _, t := range tensors {
		w.Write(t.Data)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// EncodeHeader returns the padded JSON header describing tensors laid out
// back to back in the given order. It checks each tensor's byte length.
func EncodeHeader(tensors []NewTensor, metadata map[string]string) ([]byte, error) {
	type entry struct {
		DType       DType   `json:"dtype"`
		Shape       []int   `json:"shape"`
		DataOffsets []int64 `json:"data_offsets"`
	}
	m := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		m[metadataKey] = metadata
	}
	var off int64
	for _, t := range tensors {
		if !t.DType.Known() {
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		if _, dup := m[t.Name]; dup || t.Name == metadataKey {
			return nil, fmt.Errorf("tensor %q: duplicate or reserved name", t.Name)
		}
		n := int64(t.DType.Size())
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= int64(d)
		}
		if n != int64(len(t.Data)) {
			return nil, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data has %d", t.Name, t.Shape, t.DType, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		m[t.Name] = entry{t.DType, shape, []int64{off, off + n}}
		off += n
	}
	js, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	return js, nil
}
