package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

func f32bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func writeTestFile(t *testing.T, dir, name string, tensors []NewTensor, md map[string]string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := WriteFile(p, tensors, md); err != nil {
		t.Fatal(err)
	}
	return p
}

// rawFile writes an 8-byte length, the header text verbatim, then data.
func rawFile(t *testing.T, hdr string, data []byte) string {
	t.Helper()
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(len(hdr)))
	b = append(b, hdr...)
	b = append(b, data...)
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	bf := []byte{0x80, 0x3f, 0x00, 0xc0}              // bf16 1.0, -2.0
	f16 := []byte{0x00, 0x3c, 0x00, 0xb8, 0x01, 0x00} // 1.0, -0.5, smallest subnormal
	p := writeTestFile(t, dir, "model.safetensors", []NewTensor{
		{"a", F32, []int{2, 3}, f32bytes(1, 2, 3, 4, 5, 6)},
		{"b", BF16, []int{2}, bf},
		{"c", F16, []int{3}, f16},
		{"q", U32, []int{1, 1}, []byte{1, 2, 3, 4}},
		{"empty", F32, []int{0, 5}, nil},
		{"scalar", F32, []int{}, f32bytes(7)},
	}, map[string]string{"format": "mlx"})
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Metadata()["format"]; got != "mlx" {
		t.Errorf("metadata format = %q", got)
	}
	if len(f.Tensors()) != 6 {
		t.Fatalf("got %d tensors", len(f.Tensors()))
	}
	a, _ := f.Tensor("a")
	v, err := a.ToFloat32()
	if err != nil || v[5] != 6 || a.NumElements() != 6 || a.File != p {
		t.Errorf("a = %v %v %v", v, err, a)
	}
	b, _ := f.Tensor("b")
	if v, _ := b.ToFloat32(); v[0] != 1 || v[1] != -2 {
		t.Errorf("bf16 = %v", v)
	}
	c, _ := f.Tensor("c")
	if v, _ := c.ToFloat32(); v[0] != 1 || v[1] != -0.5 || v[2] != float32(math.Ldexp(1, -24)) {
		t.Errorf("f16 = %v", v)
	}
	q, _ := f.Tensor("q")
	if _, err := q.ToFloat32(); err == nil || !strings.Contains(err.Error(), `"q"`) {
		t.Errorf("ToFloat32 on U32: %v", err)
	}
	if cap(a.Data) != len(a.Data) {
		t.Errorf("Data capacity %d not capped to length %d", cap(a.Data), len(a.Data))
	}
	s, _ := f.Tensor("scalar")
	if s.NumElements() != 1 || len(s.Data) != 4 {
		t.Errorf("scalar %v", s)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if a.Data != nil {
		t.Error("Data still set after Close")
	}
}

func TestF16Conversion(t *testing.T) {
	cases := map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0400: float32(math.Ldexp(1, -14)), 0x03ff: float32(math.Ldexp(1023, -24)), 0x8000: float32(math.Copysign(0, -1))}
	for h, want := range cases {
		if got := F16ToFloat32(h); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Errorf("F16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
	if !math.IsInf(float64(F16ToFloat32(0x7c00)), 1) || !math.IsNaN(float64(F16ToFloat32(0x7e00))) {
		t.Error("inf/nan")
	}
}

func TestBadHeaders(t *testing.T) {
	data8 := make([]byte, 8)
	cases := []struct {
		name, hdr string
		data      []byte
		want      string
	}{
		{"not json", "{nope", data8, "header JSON"},
		{"unknown dtype", `{"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}`, data8, `tensor "w": unknown dtype "F7"`},
		{"negative dim", `{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, data8, `tensor "w": negative dimension`},
		{"size mismatch", `{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, data8, `tensor "w": data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12`},
		{"past end", `{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, data8, `tensor "w": data_offsets [0, 16] run past the 8-byte data section`},
		{"reversed", `{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, data8, `invalid data_offsets`},
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, data8, `overlaps`},
		{"overflow", `{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, data8, `overflows`},
		{"overflow bytes", `{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, data8, `overflows`},
		{"float dim", `{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, data8, `tensor "w": invalid entry`},
		{"missing offsets", `{"w":{"dtype":"F32","shape":[2]}}`, data8, `tensor "w": missing data_offsets`},
		{"three offsets", `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, data8, `must be [begin, end]`},
		{"bad metadata", `{"__metadata__":{"n":1}}`, nil, `__metadata__ must be an object of string values`},
		{"duplicate", `{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, data8, `lists "w" twice`},
		{"trailing", `{} xx`, nil, `trailing garbage`},
		{"not object", `[1]    `, nil, `does not start with '{'`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := rawFile(t, c.hdr, c.data)
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q\n does not name the file and contain %q", err, c.want)
			}
		})
	}
}

func TestHeaderLengthChecks(t *testing.T) {
	dir := t.TempDir()
	write := func(b []byte) string {
		p := filepath.Join(dir, "f.safetensors")
		os.WriteFile(p, b, 0o644)
		return p
	}
	huge := binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1)
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"short":     {[]byte{1, 2, 3}, "shorter than the 8-byte header length"},
		"too large": {append(huge, "{}"...), "exceeds the"},
		"past eof":  {append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "runs past the end"},
	} {
		_, err := Open(write(c.b))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

func TestTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	p := writeTestFile(t, dir, "model.safetensors", []NewTensor{
		{"a", F32, []int{4}, f32bytes(1, 2, 3, 4)},
		{"b", F32, []int{4}, f32bytes(1, 2, 3, 4)},
	}, nil)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)-3], 0o644)
	_, err := Open(p)
	if err == nil || !strings.Contains(err.Error(), `tensor "b"`) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v", err)
	}
}

func TestOpenDirSingleAndGlob(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, dir, "weights-a.safetensors", []NewTensor{{"x", F32, []int{1}, f32bytes(1)}}, nil)
	writeTestFile(t, dir, "weights-b.safetensors", []NewTensor{{"y", F32, []int{1}, f32bytes(2)}}, nil)
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Names(), ","); got != "x,y" {
		t.Errorf("names %s", got)
	}
	s.Close()

	// model.safetensors wins over other files.
	writeTestFile(t, dir, "model.safetensors", []NewTensor{{"z", F32, []int{1}, f32bytes(3)}}, nil)
	s, err = OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Names(), ","); got != "z" {
		t.Errorf("names %s", got)
	}
	s.Close()

	// duplicate names across globbed files are an error naming both.
	dup := t.TempDir()
	writeTestFile(t, dup, "a.safetensors", []NewTensor{{"x", F32, []int{1}, f32bytes(1)}}, nil)
	writeTestFile(t, dup, "b.safetensors", []NewTensor{{"x", F32, []int{1}, f32bytes(1)}}, nil)
	if _, err := OpenDir(dup); err == nil || !strings.Contains(err.Error(), "a.safetensors") || !strings.Contains(err.Error(), "b.safetensors") {
		t.Errorf("dup err = %v", err)
	}
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no weights found") {
		t.Errorf("empty dir err = %v", err)
	}
}

func writeIndex(t *testing.T, dir string, wm map[string]string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 8}, "weight_map": wm})
	if err := os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDirSharded(t *testing.T) {
	dir := t.TempDir()
	s1 := "model-00001-of-00002.safetensors"
	s2 := "model-00002-of-00002.safetensors"
	writeTestFile(t, dir, s1, []NewTensor{{"a", F32, []int{1}, f32bytes(1)}}, nil)
	writeTestFile(t, dir, s2, []NewTensor{{"b", F32, []int{2}, f32bytes(2, 3)}}, nil)
	writeIndex(t, dir, map[string]string{"a": s1, "b": s2})
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := s.Tensor("b")
	if !ok || filepath.Base(b.File) != s2 || len(s.Files()) != 2 {
		t.Fatalf("b = %v %v", b, ok)
	}
	if v, _ := b.ToFloat32(); v[1] != 3 {
		t.Errorf("b = %v", v)
	}
	s.Close()

	// name in index, absent from its shard
	writeIndex(t, dir, map[string]string{"a": s1, "b": s2, "c": s2})
	_, err = OpenDir(dir)
	if err == nil || !strings.Contains(err.Error(), `"c"`) || !strings.Contains(err.Error(), s2) || !strings.Contains(err.Error(), IndexFile) {
		t.Errorf("missing err = %v", err)
	}
	// name in index pointing at the wrong shard
	writeIndex(t, dir, map[string]string{"a": s2, "b": s2})
	_, err = OpenDir(dir)
	if err == nil || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), s2) {
		t.Errorf("wrong shard err = %v", err)
	}
	// shard escaping the directory
	writeIndex(t, dir, map[string]string{"a": "../x.safetensors"})
	if _, err = OpenDir(dir); err == nil || !strings.Contains(err.Error(), "not a file inside") {
		t.Errorf("escape err = %v", err)
	}
	// missing shard file
	writeIndex(t, dir, map[string]string{"a": "nope.safetensors"})
	if _, err = OpenDir(dir); err == nil || !strings.Contains(err.Error(), "nope.safetensors") {
		t.Errorf("missing shard err = %v", err)
	}
}

func TestSharedTestModels(t *testing.T) {
	root := sharedtestdata.Dir(t, "models")
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		s, err := OpenDir(filepath.Join(root, e.Name()))
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		if _, ok := s.Tensor("model.embed_tokens.weight"); !ok {
			t.Errorf("%s: no embed_tokens", e.Name())
		}
		s.Close()
		n++
	}
	if n == 0 {
		t.Fatal("no models in", root)
	}
}
