package safetensors

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkOpen measures Open (mmap + full header validation) of a file
// shaped like one shard of a 7B model: 300 tensors, header ~30 KB. Data
// pages are never touched, so this is the per-shard cost of loading.
func BenchmarkOpen(b *testing.B) {
	var ts []NewTensor
	for i := 0; i < 300; i++ {
		ts = append(ts, NewTensor{Name: fmt.Sprintf("model.layers.%d.self_attn.q_proj.weight", i), DType: BF16, Shape: []int{64, 64}, Data: make([]byte, 64*64*2)})
	}
	p := filepath.Join(b.TempDir(), "model.safetensors")
	if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
