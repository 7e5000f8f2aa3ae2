package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header. Real headers are a few hundred KB
// even for thousand-tensor shards; the Rust reference implementation uses
// the same 100 MB limit. A larger value is certainly a corrupt or hostile file.
const MaxHeaderSize = 100 << 20

const metadataKey = "__metadata__"

// header is the validated content of a safetensors header.
type header struct {
	size     int64 // N: JSON bytes after the 8-byte length prefix
	tensors  []*Tensor
	begins   []int64 // data_offsets begin of tensors[i] (relative to data section)
	ends     []int64
	metadata map[string]string
}

type rawTensor struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseHeader validates the header of a whole safetensors file held in buf
// (the mapping) and returns tensors whose Data slices alias buf. Nothing
// past the header is read. name is used in every error message.
func parseHeader(name string, buf []byte) (*header, error) {
	fileLen := int64(len(buf))
	if fileLen < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, shorter than the 8-byte header length (truncated?)", name, fileLen)
	}
	n := binary.LittleEndian.Uint64(buf[:8])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%s: header length %d exceeds the %d-byte limit (corrupt or not a safetensors file)", name, n, MaxHeaderSize)
	}
	if int64(n) > fileLen-8 {
		return nil, fmt.Errorf("%s: header length %d runs past the end of the %d-byte file (truncated?)", name, n, fileLen)
	}
	if n < 2 {
		return nil, fmt.Errorf("%s: header length %d is too small for a JSON object", name, n)
	}
	js := buf[8 : 8+n]
	if js[0] != '{' {
		return nil, fmt.Errorf("%s: header does not start with '{' (not a safetensors file?)", name)
	}
	if !utf8.Valid(js) {
		return nil, fmt.Errorf("%s: header is not valid UTF-8", name)
	}
	dataLen := fileLen - 8 - int64(n)

	h := &header{size: int64(n)}
	dec := json.NewDecoder(bytes.NewReader(js))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, fmt.Errorf("%s: header JSON: %v", name, err)
	}
	seen := map[string]bool{}
	type entry struct {
		t          *Tensor
		begin, end int64
	}
	var entries []entry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: header JSON: %v", name, err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%s: header JSON: expected a key, got %v", name, tok)
		}
		if seen[key] {
			return nil, fmt.Errorf("%s: header lists %q twice", name, key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: header JSON at %q: %v", name, key, err)
		}
		if key == metadataKey {
			md := map[string]string{}
			if err := json.Unmarshal(raw, &md); err != nil {
				return nil, fmt.Errorf("%s: __metadata__ must be an object of string values: %v", name, err)
			}
			h.metadata = md
			continue
		}
		t, begin, end, err := parseTensor(name, key, raw, dataLen)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{t, begin, end})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, fmt.Errorf("%s: header JSON: %v", name, err)
	}
	// Only whitespace (writers pad the header to 8 bytes with spaces) may follow.
	if rest := bytes.TrimSpace(js[dec.InputOffset():]); len(rest) != 0 {
		return nil, fmt.Errorf("%s: header has %d bytes of trailing garbage after the JSON object", name, len(rest))
	}
	if _, err := dec.Token(); err != io.EOF && err != nil {
		return nil, fmt.Errorf("%s: header JSON: %v", name, err)
	}

	// Offsets must not overlap: sort by begin and compare neighbours.
	// Zero-length tensors occupy no bytes and may sit anywhere in bounds.
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ea, eb := entries[order[a]], entries[order[b]]
		if ea.begin != eb.begin {
			return ea.begin < eb.begin
		}
		return ea.end < eb.end
	})
	var prev *entry
	for _, i := range order {
		e := &entries[i]
		if e.begin == e.end {
			continue
		}
		if prev != nil && e.begin < prev.end {
			return nil, fmt.Errorf("%s: tensor %q data [%d,%d) overlaps tensor %q [%d,%d)", name, e.t.Name, e.begin, e.end, prev.t.Name, prev.begin, prev.end)
		}
		prev = e
	}

	dataStart := 8 + int64(n)
	h.tensors = make([]*Tensor, len(entries))
	h.begins = make([]int64, len(entries))
	h.ends = make([]int64, len(entries))
	for i, e := range entries {
		lo, hi := dataStart+e.begin, dataStart+e.end
		e.t.Data = buf[lo:hi:hi] // capacity capped: an append can never write into the next tensor
		h.tensors[i], h.begins[i], h.ends[i] = e.t, e.begin, e.end
	}
	if h.metadata == nil {
		h.metadata = map[string]string{}
	}
	return h, nil
}

func parseTensor(file, name string, raw json.RawMessage, dataLen int64) (*Tensor, int64, int64, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: tensor %q: %s", file, name, fmt.Sprintf(format, args...))
	}
	var rt rawTensor
	if err := json.Unmarshal(raw, &rt); err != nil {
		return nil, 0, 0, bad("invalid entry: %v", err)
	}
	if rt.DType == nil {
		return nil, 0, 0, bad("missing dtype")
	}
	if rt.Shape == nil {
		return nil, 0, 0, bad("missing shape")
	}
	if rt.DataOffsets == nil {
		return nil, 0, 0, bad("missing data_offsets")
	}
	dt := DType(*rt.DType)
	if !dt.Known() {
		return nil, 0, 0, bad("unknown dtype %q", *rt.DType)
	}
	shape := make([]int, len(*rt.Shape))
	numel := int64(1)
	for i, d := range *rt.Shape {
		if d < 0 {
			return nil, 0, 0, bad("negative dimension %d in shape %v", d, *rt.Shape)
		}
		if d > math.MaxInt {
			return nil, 0, 0, bad("dimension %d too large", d)
		}
		if d != 0 && numel > math.MaxInt64/d {
			return nil, 0, 0, bad("shape %v overflows", *rt.Shape)
		}
		numel *= d
		shape[i] = int(d)
	}
	size := int64(dt.Size())
	if numel > math.MaxInt64/size {
		return nil, 0, 0, bad("shape %v × %s overflows", *rt.Shape, dt)
	}
	nbytes := numel * size
	offs := *rt.DataOffsets
	if len(offs) != 2 {
		return nil, 0, 0, bad("data_offsets must be [begin, end], got %d values", len(offs))
	}
	begin, end := offs[0], offs[1]
	if begin < 0 || end < begin {
		return nil, 0, 0, bad("invalid data_offsets [%d, %d]", begin, end)
	}
	if end > dataLen {
		return nil, 0, 0, bad("data_offsets [%d, %d] run past the %d-byte data section (file truncated?)", begin, end, dataLen)
	}
	if end-begin != nbytes {
		return nil, 0, 0, bad("data_offsets [%d, %d] hold %d bytes but shape %v of %s needs %d", begin, end, end-begin, *rt.Shape, dt, nbytes)
	}
	return &Tensor{Name: name, DType: dt, Shape: shape, File: file}, begin, end, nil
}
