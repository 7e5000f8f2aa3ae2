package model_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/engine/cpu"
	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/ops"
	"github.com/impetus-llm/impetus/engine/safetensors"
	"github.com/impetus-llm/impetus/engine/testmodel"
	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

// rewrite writes a tiny model, then rewrites its safetensors file through
// edit (which may drop or change tensors).
func rewrite(t *testing.T, spec testmodel.Spec, edit func(ts []safetensors.NewTensor) []safetensors.NewTensor) string {
	t.Helper()
	dir := t.TempDir()
	if err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.NewTensor
	for _, tn := range f.Tensors() {
		ts = append(ts, safetensors.NewTensor{Name: tn.Name, DType: tn.DType, Shape: tn.Shape, Data: append([]byte(nil), tn.Data...)})
	}
	f.Close()
	if err := safetensors.WriteFile(path, edit(ts), nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadErr(t *testing.T, dir string) error {
	t.Helper()
	d, err := modelfile.Open(dir)
	if err != nil {
		return err
	}
	be := cpu.New(1)
	defer be.Close()
	m, err := model.Load(d, be)
	if err == nil {
		m.Close()
	}
	return err
}

func TestLoadMissingTensor(t *testing.T) {
	dir := rewrite(t, testmodel.Tiny("qwen3", "f32", 4), func(ts []safetensors.NewTensor) []safetensors.NewTensor {
		var out []safetensors.NewTensor
		for _, x := range ts {
			if x.Name != "model.layers.1.self_attn.k_norm.weight" {
				out = append(out, x)
			}
		}
		return out
	})
	err := loadErr(t, dir)
	if err == nil || !strings.Contains(err.Error(), "model.layers.1.self_attn.k_norm.weight") || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("want an error naming the missing tensor, got %v", err)
	}
}

func TestLoadShapeMismatch(t *testing.T) {
	dir := rewrite(t, testmodel.Tiny("llama", "f32", 0), func(ts []safetensors.NewTensor) []safetensors.NewTensor {
		for i, x := range ts {
			if x.Name == "model.layers.0.mlp.up_proj.weight" {
				ts[i].Shape = []int{x.Shape[0] / 2, x.Shape[1] * 2}
			}
		}
		return ts
	})
	err := loadErr(t, dir)
	if err == nil || !strings.Contains(err.Error(), "model.layers.0.mlp.up_proj.weight") || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("want an error naming the tensor and file, got %v", err)
	}
}

func TestLoadNaNNorm(t *testing.T) {
	dir := rewrite(t, testmodel.Tiny("llama", "f32", 0), func(ts []safetensors.NewTensor) []safetensors.NewTensor {
		for _, x := range ts {
			if x.Name == "model.norm.weight" {
				binary.LittleEndian.PutUint32(x.Data[8:], math.Float32bits(float32(math.NaN())))
			}
		}
		return ts
	})
	err := loadErr(t, dir)
	if err == nil || !strings.Contains(err.Error(), "model.norm.weight") || !strings.Contains(err.Error(), "non-finite") {
		t.Fatalf("want an error naming the NaN tensor, got %v", err)
	}
}

// TestNaNWeightsGiveError: NaN in a big dense matrix (not scanned at load)
// must surface as a Forward error, never as logits to sample from.
func TestNaNWeightsGiveError(t *testing.T) {
	for _, bits := range []int{0, 4} {
		spec := testmodel.Tiny("qwen2", "f32", bits)
		dir := rewrite(t, spec, func(ts []safetensors.NewTensor) []safetensors.NewTensor {
			for _, x := range ts {
				if x.Name == "model.layers.0.self_attn.v_proj.weight" && bits == 0 {
					for i := 0; i+4 <= len(x.Data); i += 4 {
						binary.LittleEndian.PutUint32(x.Data[i:], math.Float32bits(float32(math.NaN())))
					}
				}
				// packed 4-bit words cannot hold a NaN: corrupt the
				// activations through an infinite additive bias instead
				if x.Name == "model.layers.0.self_attn.v_proj.bias" && bits == 4 {
					binary.LittleEndian.PutUint32(x.Data[0:], math.Float32bits(float32(math.Inf(1))))
				}
			}
			return ts
		})
		d, err := modelfile.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		be := cpu.New(2)
		m, err := model.Load(d, be)
		if err != nil {
			t.Fatal(err)
		}
		c := m.NewCache()
		logits, err := m.Forward(context.Background(), c, []int32{1, 2, 3})
		if err == nil || !errors.Is(err, ops.ErrNonFinite) {
			t.Errorf("bits=%d: want a non-finite logits error, got %v (%d logits)", bits, err, len(logits))
		}
		if c.Len() != 0 {
			t.Errorf("bits=%d: failed forward advanced the cache to %d", bits, c.Len())
		}
		c.Release()
		m.Close()
		be.Close()
	}
}

func TestForwardErrors(t *testing.T) {
	dir := t.TempDir()
	spec := testmodel.Tiny("llama", "f32", 0)
	spec.MaxPositions = 16
	if err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	d, err := modelfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(1)
	defer be.Close()
	m, err := model.Load(d, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.NewCache()
	defer c.Release()
	ctx := context.Background()
	if _, err := m.Forward(ctx, c, make([]int32, 17)); err == nil || !strings.Contains(err.Error(), "context length") {
		t.Errorf("prompt longer than the context: got %v", err)
	}
	if _, err := m.Forward(ctx, c, []int32{5, 32000}); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("token outside the vocabulary: got %v", err)
	}
	if _, err := m.Forward(ctx, c, nil); err == nil {
		t.Error("no tokens: want an error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Forward(cancelled, c, []int32{1}); err == nil {
		t.Error("cancelled context: want an error")
	}
	if _, err := m.Forward(ctx, c, make([]int32, 16)); err != nil {
		t.Fatalf("full context: %v", err)
	}
	if _, err := m.Forward(ctx, c, []int32{1}); err == nil || !strings.Contains(err.Error(), "context length") {
		t.Errorf("beyond the context: got %v", err)
	}
	// Truncate and continue: same logits as a fresh cache.
	c.Truncate(3)
	a, err := m.Forward(ctx, c, []int32{7, 8})
	if err != nil {
		t.Fatal(err)
	}
	c2 := m.NewCache()
	defer c2.Release()
	b, err := m.Forward(ctx, c2, []int32{0, 0, 0, 7, 8})
	if err != nil {
		t.Fatal(err)
	}
	if e := sharedtestdata.RelL2(a, b); e > 1e-6 {
		t.Errorf("truncate+continue differs from a fresh prefill: rel L2 %g", e)
	}
	other := m.NewCache()
	defer other.Release()
	m2, err := model.Load(d, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := m2.Forward(ctx, other, []int32{1}); err == nil {
		t.Error("cache of another model: want an error")
	}
}

// cancelAfter is a context whose Err turns to Canceled after n calls.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	c.n--
	if c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestCancelMidPrefill: a long prompt is prefilled in chunks with the
// context checked between them; cancelling leaves the cache unchanged and a
// retry gives the same logits as a fresh cache.
func TestCancelMidPrefill(t *testing.T) {
	dir := t.TempDir()
	spec := testmodel.Tiny("llama", "f32", 0)
	spec.MaxPositions = 1024
	spec.Vocab = 600
	if err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	d, err := modelfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(2)
	defer be.Close()
	m, err := model.Load(d, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prompt := make([]int32, 700)
	for i := range prompt {
		prompt[i] = int32(i*7) % 600
	}
	c := m.NewCache()
	defer c.Release()
	if _, err := m.Forward(&cancelAfter{Context: context.Background(), n: 1}, c, prompt); err == nil {
		t.Fatal("cancelled prefill: want an error")
	}
	if c.Len() != 0 {
		t.Fatalf("cancelled prefill left Len %d", c.Len())
	}
	a, err := m.Forward(context.Background(), c, prompt)
	if err != nil {
		t.Fatal(err)
	}
	c2 := m.NewCache()
	defer c2.Release()
	b, err := m.Forward(context.Background(), c2, prompt)
	if err != nil {
		t.Fatal(err)
	}
	if e := sharedtestdata.RelL2(a, b); e != 0 {
		t.Errorf("retry after cancel differs from a fresh cache: %g", e)
	}
}

// TestPrefillMatchesDecode uses real layer widths (Qwen2.5-0.5B's hidden
// 896, intermediate 4864, head_dim 64): the batched prefill kernels (row
// tiles, four-token and two-row kernels) must give the same last-token
// logits as feeding the tokens one by one through the decode kernels.
func TestPrefillMatchesDecode(t *testing.T) {
	for _, bits := range []int{0, 4, 8} {
		spec := testmodel.Qwen05B(bits)
		spec.Layers, spec.Vocab, spec.MaxPositions = 2, 2048, 512
		dir := t.TempDir()
		if err := testmodel.Write(dir, spec); err != nil {
			t.Fatal(err)
		}
		d, err := modelfile.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		be := cpu.New(2)
		m, err := model.Load(d, be)
		if err != nil {
			t.Fatal(err)
		}
		prompt := make([]int32, 37)
		for i := range prompt {
			prompt[i] = int32(i*131+3) % 2048
		}
		ctx := context.Background()
		c1 := m.NewCache()
		batched, err := m.Forward(ctx, c1, prompt)
		if err != nil {
			t.Fatal(err)
		}
		c2 := m.NewCache()
		var single []float32
		for _, tok := range prompt {
			if single, err = m.Forward(ctx, c2, []int32{tok}); err != nil {
				t.Fatal(err)
			}
		}
		if e := sharedtestdata.RelL2(batched, single); e > 1e-5 {
			t.Errorf("bits=%d: prefill vs token-by-token logits relative L2 %g", bits, e)
		}
		c1.Release()
		c2.Release()
		m.Close()
		be.Close()
	}
}
