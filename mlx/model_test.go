package mlx

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine/cpu"
	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/ops"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// Model-level tests: the MLX backend against engine/cpu on every test
// architecture and dtype, and against the shared reference models.

var testPrompt = sharedtestdata.ReferencePrompt

func loadModel(t testing.TB, dir string, b ops.Backend) model.Model {
	t.Helper()
	d, err := modelfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(d, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// greedy runs the prompt then n-1 single-token steps, returning the prompt's
// logits and the n greedy tokens.
func greedy(t testing.TB, m model.Model, prompt []int32, n int) ([]float32, []int32) {
	t.Helper()
	c := m.NewCache()
	defer c.Release()
	ctx := context.Background()
	logits, err := m.Forward(ctx, c, prompt)
	if err != nil {
		t.Fatal(err)
	}
	first := logits
	var toks []int32
	for len(toks) < n {
		tok := argmax(logits)
		toks = append(toks, tok)
		if len(toks) == n {
			break
		}
		if logits, err = m.Forward(ctx, c, []int32{tok}); err != nil {
			t.Fatal(err)
		}
	}
	return first, toks
}

type modelCase struct {
	name  string
	dtype string
	bits  int
	group int
}

var modelCases = []modelCase{
	{"f32", "f32", 0, 0},
	{"bf16", "bf16", 0, 0},
	{"f16", "f16", 0, 0},
	{"q4g64-bf16", "bf16", 4, 64},
	{"q8g32-f16", "f16", 8, 32},
	{"q3g64-f32", "f32", 3, 64},
}

func TestModelsMatchCPU(t *testing.T) {
	needLib(t)
	sharedtestdata.Dir(t) // the tokenizer testmodel copies
	for _, arch := range testmodel.Archs {
		for _, mc := range modelCases {
			t.Run(arch+"/"+mc.name, func(t *testing.T) {
				spec := testmodel.Tiny(arch, mc.dtype, mc.bits)
				if mc.group > 0 {
					spec.GroupSize = mc.group
				}
				dir := t.TempDir()
				if err := testmodel.Write(dir, spec); err != nil {
					t.Fatal(err)
				}
				cb := cpu.New(2)
				defer cb.Close()
				mb, err := New(Options{DType: "f32"})
				if err != nil {
					t.Fatal(err)
				}
				defer mb.Close()
				want, wantToks := greedy(t, loadModel(t, dir, cb), testPrompt, 64)
				got, gotToks := greedy(t, loadModel(t, dir, mb), testPrompt, 64)
				tol := 1e-3
				if mc.dtype != "f32" || mc.bits > 0 {
					tol = 1e-2
				}
				if e := sharedtestdata.RelL2(got, want); e >= tol || math.IsNaN(e) {
					t.Fatalf("logits relative L2 error %.3g >= %g", e, tol)
				} else {
					t.Logf("logits relative L2 error %.2g", e)
				}
				for i := range wantToks {
					if gotToks[i] != wantToks[i] {
						t.Fatalf("greedy token %d: mlx %d, cpu %d\nmlx %v\ncpu %v", i, gotToks[i], wantToks[i], gotToks, wantToks)
					}
				}
			})
		}
	}
}

// The native-dtype path (what runs on a GPU: bf16/f16 activations, as
// mlx-lm computes) against the CPU backend's float32. Half-precision
// arithmetic itself costs up to ~3% relative L2 on these random-weight
// models in bfloat16 (0.2% in float16), so this checks for gross errors only;
// the exactness checks above compute in float32.
func TestModelsNativeDType(t *testing.T) {
	needLib(t)
	sharedtestdata.Dir(t)
	for _, mc := range []modelCase{{"bf16", "bf16", 0, 0}, {"q4g64-bf16", "bf16", 4, 64}, {"q8g64-f16", "f16", 8, 64}} {
		for _, arch := range []string{"llama", "qwen3", "gemma2"} {
			t.Run(arch+"/"+mc.name, func(t *testing.T) {
				spec := testmodel.Tiny(arch, mc.dtype, mc.bits)
				if mc.group > 0 {
					spec.GroupSize = mc.group
				}
				dir := t.TempDir()
				if err := testmodel.Write(dir, spec); err != nil {
					t.Fatal(err)
				}
				cb := cpu.New(2)
				defer cb.Close()
				mb, err := New(Options{DType: "native"})
				if err != nil {
					t.Fatal(err)
				}
				defer mb.Close()
				want, _ := greedy(t, loadModel(t, dir, cb), testPrompt, 1)
				got, _ := greedy(t, loadModel(t, dir, mb), testPrompt, 1)
				if mb.DType() == "float32" {
					t.Fatalf("native dtype of a %s model is %s", mc.dtype, mb.DType())
				}
				e := sharedtestdata.RelL2(got, want)
				t.Logf("%s activations: logits relative L2 error %.2g", mb.DType(), e)
				if e >= 5e-2 || math.IsNaN(e) {
					t.Fatalf("logits relative L2 error %.3g in %s", e, mb.DType())
				}
			})
		}
	}
}

// The shared reference models (checked against Apple MLX's own kernels).
func TestReferenceModels(t *testing.T) {
	needLib(t)
	td := sharedtestdata.Dir(t)
	for _, name := range []string{"tiny-llama-bf16", "tiny-llama3rope-f32", "tiny-qwen2-f32-q4", "tiny-qwen3-f16-q8"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(td, "models", name)
			ref := sharedtestdata.LoadReference(t, dir)
			want := ref.Logits
			b, err := New(Options{DType: "f32"})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			got, toks := greedy(t, loadModel(t, dir, b), testPrompt, len(ref.Greedy))
			if e := sharedtestdata.RelL2(got, want); e >= 1e-4 {
				t.Fatalf("logits relative L2 error %.3g vs the float32 reference", e)
			}
			if fmt.Sprint(toks) != fmt.Sprint(ref.Greedy) {
				t.Fatalf("greedy tokens\n got %v\nwant %v", toks, ref.Greedy)
			}
		})
	}
}

// No leak: 1,000 generated tokens leave MLX's active memory where it was,
// apart from the KV cache; releasing the cache returns it to the start.
func TestNoLeakOver1000Tokens(t *testing.T) {
	needLib(t)
	sharedtestdata.Dir(t)
	spec := testmodel.Tiny("qwen2", "bf16", 4)
	spec.MaxPositions = 2048
	dir := t.TempDir()
	if err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := loadModel(t, dir, b)
	before, err := MemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	c := m.NewCache()
	ctx := context.Background()
	logits, err := m.Forward(ctx, c, testPrompt)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	var mid Memory
	for i := 0; i < n; i++ {
		if logits, err = m.Forward(ctx, c, []int32{argmax(logits)}); err != nil {
			t.Fatal(err)
		}
		if i == 100 {
			mid, _ = MemoryStats()
		}
	}
	after, err := MemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	// The cache holds ceil((prompt+n)/256)·256 positions of K and V per
	// layer, in the activation type (float32 here, MLX on the CPU).
	positions := (len(testPrompt) + n + kvStep - 1) / kvStep * kvStep
	kvBytes := uint64(2 * spec.Layers * positions * spec.KVHeads * spec.HeadDim * elemSize(b.dt))
	const slack = 64 << 10
	t.Logf("active memory: before %d, after 100 tokens %d, after %d tokens %d (KV cache %d)", before.Active, mid.Active, n, after.Active, kvBytes)
	if after.Active > before.Active+kvBytes+slack {
		t.Fatalf("active memory grew by %d bytes over %d tokens; the KV cache accounts for %d", after.Active-before.Active, n, kvBytes)
	}
	c.Release()
	released, err := MemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	if released.Active > before.Active+slack {
		t.Fatalf("after releasing the cache active memory is %d, was %d before generating", released.Active, before.Active)
	}
}

// A prompt longer than the model's prefill chunk runs as several steps: the
// first ones end in Sync (scheduled asynchronously), the last in Logits.
func TestChunkedPrefillMatchesCPU(t *testing.T) {
	needLib(t)
	sharedtestdata.Dir(t)
	for _, arch := range []string{"qwen2", "gemma2", "mistral"} {
		t.Run(arch, func(t *testing.T) {
			spec := testmodel.Tiny(arch, "bf16", 4)
			spec.MaxPositions = 2048
			if arch != "qwen2" {
				spec.SlidingWindow = 300 // windows cut across chunks
			}
			dir := t.TempDir()
			if err := testmodel.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			prompt := make([]int32, 1300)
			for i := range prompt {
				prompt[i] = int32(1 + (i*7919)%31999)
			}
			cb := cpu.New(2)
			defer cb.Close()
			mb, err := New(Options{DType: "f32"})
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close()
			want, wantToks := greedy(t, loadModel(t, dir, cb), prompt, 8)
			got, gotToks := greedy(t, loadModel(t, dir, mb), prompt, 8)
			if e := sharedtestdata.RelL2(got, want); e >= 1e-3 {
				t.Fatalf("logits after a %d-token prompt: relative L2 error %.3g", len(prompt), e)
			}
			if fmt.Sprint(gotToks) != fmt.Sprint(wantToks) {
				t.Fatalf("greedy after a long prompt: mlx %v, cpu %v", gotToks, wantToks)
			}
		})
	}
}
