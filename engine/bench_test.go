package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine/cpu"
	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// The engine's own cost per token (sampling, detokenizing, stop strings,
// events, scheduling) is measured side by side with a bare loop of
// model.Forward + argmax on the same model and thread count. The difference
// is the engine's overhead.

const benchGen = 64

func benchPrompt(n int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(100 + (i*7919)%20000)
	}
	return p
}

func benchEngine(b *testing.B, dir string, promptLen int) {
	e := newRealEngine(b, dir, Options{Threads: 2, PromptCaches: -1})
	req := Request{PromptTokens: benchPrompt(promptLen), MaxTokens: benchGen, IgnoreEOS: true, Stop: []string{"\n\n\n"}}
	var decode, prefill float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := e.Generate(context.Background(), req, func(Event) {})
		if err != nil {
			b.Fatal(err)
		}
		decode += res.Timings.DecodeTokensPerSec
		prefill += res.Timings.PrefillTokensPerSec
	}
	b.ReportMetric(decode/float64(b.N), "decode_tok/s")
	b.ReportMetric(prefill/float64(b.N), "prefill_tok/s")
}

func benchBare(b *testing.B, dir string, promptLen int) {
	md, err := modelfile.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	be := cpu.New(2)
	defer be.Close()
	m, err := model.Load(md, be)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	prompt := benchPrompt(promptLen)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := m.NewCache()
		logits, err := m.Forward(ctx, c, prompt)
		if err != nil {
			b.Fatal(err)
		}
		for j := 1; j < benchGen; j++ {
			if logits, err = m.Forward(ctx, c, []int32{argmax(logits)}); err != nil {
				b.Fatal(err)
			}
		}
		c.Release()
	}
}

func BenchmarkTinyEngineGenerate(b *testing.B) { benchEngine(b, tinyModel(b), 16) }
func BenchmarkTinyBareForward(b *testing.B)    { benchBare(b, tinyModel(b), 16) }

// qwenDir writes the Qwen2.5-0.5B-shaped 4-bit model once (kept in the temp
// dir between runs: it is deterministic).
func qwenDir(b *testing.B) string {
	sharedtestdata.Dir(b)
	dir := filepath.Join(os.TempDir(), "impetus-bench-qwen2.5-0.5b-q4")
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return dir
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "impetus-bench-qwen-")
	if err != nil {
		b.Fatal(err)
	}
	if err := testmodel.Write(tmp, testmodel.Qwen05B(4)); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	return dir
}

func BenchmarkQwen05BEngineGenerate(b *testing.B) { benchEngine(b, qwenDir(b), 128) }
func BenchmarkQwen05BBareForward(b *testing.B)    { benchBare(b, qwenDir(b), 128) }

// BenchmarkQwen05BPrefillChunk measures prefill speed and allocation of a
// 512-token prompt by chunk size (Options.PrefillChunk): the CPU backend
// keeps a step's temporaries until the step ends, so memory grows with the
// chunk while speed saturates early.
func BenchmarkQwen05BPrefillChunk(b *testing.B) {
	dir := qwenDir(b)
	for _, chunk := range []int{32, 64, 128, 256, 512} {
		b.Run(fmt.Sprint(chunk), func(b *testing.B) {
			e := newRealEngine(b, dir, Options{Threads: 2, PromptCaches: -1, PrefillChunk: chunk})
			req := Request{PromptTokens: benchPrompt(512), MaxTokens: 1, IgnoreEOS: true}
			var tps float64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := e.Generate(context.Background(), req, nil)
				if err != nil {
					b.Fatal(err)
				}
				tps += res.Timings.PrefillTokensPerSec
			}
			b.ReportMetric(tps/float64(b.N), "prefill_tok/s")
		})
	}
}
