package model_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine/cpu"
	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/modelfile"
)

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// TestReferenceModels checks the CPU backend against the independent
// float32 reference of ../shared/testdata/models: all logits at the last
// prompt position (relative L2 < 1e-4) and 32 greedy tokens, with the SIMD
// kernels on and off, on 1 and 2 threads.
func TestReferenceModels(t *testing.T) {
	td := sharedtestdata.Dir(t)
	names := []string{"tiny-llama-bf16", "tiny-llama3rope-f32", "tiny-qwen2-f32-q4", "tiny-qwen3-f16-q8"}
	for _, name := range names {
		for _, simd := range []bool{true, false} {
			for _, threads := range []int{1, 2} {
				t.Run(name, func(t *testing.T) {
					dir := filepath.Join(td, "models", name)
					ref := sharedtestdata.LoadReference(t, dir)
					want := ref.Logits
					d, err := modelfile.Open(dir)
					if err != nil {
						t.Fatal(err)
					}
					be := cpu.NewBackend(threads)
					be.SetSIMD(simd)
					defer be.Close()
					m, err := model.Load(d, be)
					if err != nil {
						t.Fatal(err)
					}
					defer m.Close()
					c := m.NewCache()
					defer c.Release()
					ctx := context.Background()
					logits, err := m.Forward(ctx, c, sharedtestdata.ReferencePrompt)
					if err != nil {
						t.Fatal(err)
					}
					if len(logits) != len(want) {
						t.Fatalf("%d logits, reference has %d", len(logits), len(want))
					}
					if e := sharedtestdata.RelL2(logits, want); e >= 1e-4 {
						t.Errorf("simd=%v threads=%d: logits relative L2 error %.3g >= 1e-4", simd, threads, e)
					} else if simd && threads == 2 {
						t.Logf("logits relative L2 error %.3g", e)
					}
					for i, tok := range ref.Greedy {
						got := argmax(logits)
						if got != tok {
							t.Fatalf("simd=%v threads=%d: greedy token %d = %d, reference %d", simd, threads, i, got, tok)
						}
						if logits, err = m.Forward(ctx, c, []int32{got}); err != nil {
							t.Fatal(err)
						}
					}
					if c.Len() != len(sharedtestdata.ReferencePrompt)+len(ref.Greedy) {
						t.Errorf("cache length %d", c.Len())
					}
				})
			}
		}
	}
}
