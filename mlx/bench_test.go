package mlx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine/cpu"
	"github.com/impetus-llm/impetus/engine/ops"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// benchModel writes (once, kept in the temp dir across runs) a random model
// of the Qwen2.5-0.5B shape.
func benchModel(b *testing.B, bits int) string {
	b.Helper()
	sharedtestdata.Dir(b)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("impetus-mlx-bench-qwen05b-q%d", bits))
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := testmodel.Write(tmp, testmodel.Qwen05B(bits)); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkDecode measures single-token decode steps on the 0.5B-shaped
// model (4-bit and bf16), MLX and the pure-Go CPU backend side by side.
// For MLX it reports how each step splits between Go (recording the
// model's ops), building MLX's graph (cgo + MLX's C++ graph construction)
// and MLX computing (mlx_eval). Run with -benchtime=Nx: MLX's CPU backend
// is slow off Apple silicon.
func BenchmarkDecode(b *testing.B) {
	for _, m := range []struct {
		name string
		bits int
	}{{"q4", 4}, {"bf16", 0}} {
		for _, backend := range []string{"mlx", "cpu"} {
			b.Run(m.name+"/"+backend, func(b *testing.B) {
				var be ops.Backend
				var mb *Backend
				if backend == "mlx" {
					needLib(b)
					var err error
					if mb, err = New(Options{}); err != nil {
						b.Fatal(err)
					}
					be = mb
				} else {
					be = cpu.New(0)
				}
				defer be.Close()
				dir := benchModel(b, m.bits)
				model := loadModel(b, dir, be)
				c := model.NewCache()
				defer c.Release()
				ctx := context.Background()
				logits, err := model.Forward(ctx, c, testPrompt)
				if err != nil {
					b.Fatal(err)
				}
				// One warm-up step (first-use kernel setup).
				if logits, err = model.Forward(ctx, c, []int32{argmax(logits)}); err != nil {
					b.Fatal(err)
				}
				if mb != nil {
					mb.ResetStats()
				}
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if logits, err = model.Forward(ctx, c, []int32{argmax(logits)}); err != nil {
						b.Fatal(err)
					}
				}
				total := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/total.Seconds(), "tok/s")
				if mb != nil {
					s := mb.Stats()
					pct := func(d time.Duration) float64 { return 100 * float64(d) / float64(total) }
					b.ReportMetric(pct(s.Record), "%go-record")
					b.ReportMetric(pct(s.Build), "%graph-build")
					b.ReportMetric(pct(s.Eval), "%mlx-eval")
					b.ReportMetric(pct(total-s.Eval), "%outside-eval")
				}
			})
		}
	}
}

// BenchmarkStepOverhead runs decode steps of a model with the Qwen2.5-0.5B
// depth (24 layers, 14/2 heads) but tiny widths, so MLX's compute is
// negligible and the time is the per-step cost of driving MLX from Go:
// recording ops, building the graph through cgo, evaluation bookkeeping.
func BenchmarkStepOverhead(b *testing.B) {
	needLib(b)
	sharedtestdata.Dir(b)
	spec := testmodel.Qwen05B(4)
	spec.Hidden, spec.Intermediate, spec.HeadDim, spec.Vocab = 448, 512, 32, 32000
	dir := b.TempDir()
	if err := testmodel.Write(dir, spec); err != nil {
		b.Fatal(err)
	}
	mb, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer mb.Close()
	m := loadModel(b, dir, mb)
	c := m.NewCache()
	defer c.Release()
	ctx := context.Background()
	logits, err := m.Forward(ctx, c, testPrompt)
	if err != nil {
		b.Fatal(err)
	}
	mb.ResetStats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if logits, err = m.Forward(ctx, c, []int32{argmax(logits)}); err != nil {
			b.Fatal(err)
		}
		if c.Len() > 4000 {
			c.Truncate(len(testPrompt))
		}
	}
	b.StopTimer()
	s := mb.Stats()
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(s.Steps) }
	b.ReportMetric(per(s.Record), "us-record/step")
	b.ReportMetric(per(s.Build), "us-build/step")
	b.ReportMetric(per(s.Eval), "us-eval/step")
	b.ReportMetric(per(s.Copy), "us-copy/step")
	b.ReportMetric(float64(s.Ops)/float64(s.Steps), "mlx-ops/step")
}
