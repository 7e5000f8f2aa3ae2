package mlx

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/cpu"
	"github.com/impetus-llm/impetus/engine/ops"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// Pipelined greedy decoding (ops.DeviceSampler): through the engine, the
// MLX backend with device sampling must give exactly the tokens, text,
// finish reasons and cache reuse of the MLX backend driven through Logits
// (the "mlx-plain" backend below hides the capability) and of engine/cpu.

// plainBackend is the MLX backend without its optional capabilities, so
// the engine samples on the host.
type plainBackend struct{ ops.Backend }

var (
	registerOnce sync.Once
	// lastBackend is the MLX backend the latest test engine created, for
	// its step timings.
	lastBackend atomic.Pointer[Backend]
)

func registerTestBackends() {
	registerOnce.Do(func() {
		engine.RegisterBackend("mlx", func(int) (ops.Backend, error) {
			b, err := New(Options{})
			lastBackend.Store(b)
			return b, err
		}, -10)
		engine.RegisterBackend("mlx-plain", func(int) (ops.Backend, error) {
			b, err := New(Options{})
			if err != nil {
				return nil, err
			}
			lastBackend.Store(b)
			return plainBackend{b}, nil
		}, -10)
		engine.RegisterBackend("cpu2", func(int) (ops.Backend, error) { return cpu.New(2), nil }, -10)
	})
}

func newEngine(t testing.TB, backend, dir string) *engine.Engine {
	t.Helper()
	registerTestBackends()
	e, err := engine.New(engine.Options{Backend: backend, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.Load(context.Background(), dir, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func generate(t testing.TB, e *engine.Engine, req engine.Request, onEvent func(engine.Event)) *engine.Result {
	t.Helper()
	return generateCtx(t, context.Background(), e, req, onEvent)
}

func generateCtx(t testing.TB, ctx context.Context, e *engine.Engine, req engine.Request, onEvent func(engine.Event)) *engine.Result {
	t.Helper()
	if onEvent == nil {
		onEvent = func(engine.Event) {}
	}
	res, err := e.Generate(ctx, req, onEvent)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// summary is what must agree between the decoding paths.
func summary(r *engine.Result) string {
	return fmt.Sprintf("finish=%s stop=%q cached=%d steps=%d tokens=%v text=%q", r.FinishReason, r.StopString,
		r.Usage.CachedTokens, r.Timings.DecodeSteps, r.Tokens, r.Text)
}

// pipeCase is a shared reference model (trained-like weights whose greedy
// tokens vary, so a wrong cache position shows) or a generated one.
type pipeCase struct {
	shared      string
	arch, dtype string
	bits        int
}

var pipeCases = []pipeCase{
	{shared: "tiny-llama-bf16"}, {shared: "tiny-qwen2-f32-q4"}, {shared: "tiny-qwen3-f16-q8"},
	{arch: "gemma2", dtype: "f32"}, // final logit soft-capping on the device
}

func (pc pipeCase) String() string {
	if pc.shared != "" {
		return pc.shared
	}
	return fmt.Sprintf("%s-%s-q%d", pc.arch, pc.dtype, pc.bits)
}

func writeTiny(t testing.TB, pc pipeCase) string {
	t.Helper()
	if pc.shared != "" {
		return filepath.Join(sharedtestdata.Dir(t), "models", pc.shared)
	}
	spec := testmodel.Tiny(pc.arch, pc.dtype, pc.bits)
	spec.MaxPositions = 2048
	dir := t.TempDir()
	if err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPipelinedGreedyMatches(t *testing.T) {
	needLib(t)
	sharedtestdata.Dir(t)
	for _, pc := range pipeCases {
		t.Run(pc.String(), func(t *testing.T) {
			dir := writeTiny(t, pc)
			engines := map[string]*engine.Engine{}
			for _, name := range []string{"mlx", "mlx-plain", "cpu2"} {
				engines[name] = newEngine(t, name, dir)
			}
			run := func(name string, ctx context.Context, req engine.Request, onEvent func(engine.Event)) *engine.Result {
				before := argmaxSteps.Load()
				r := generateCtx(t, ctx, engines[name], req, onEvent)
				steps := argmaxSteps.Load() - before
				if name == "mlx" && len(r.Tokens) > 2 && steps == 0 {
					t.Fatalf("the mlx engine did not decode on the device")
				}
				if name != "mlx" && steps != 0 {
					t.Fatalf("%s decoded on the device", name)
				}
				return r
			}
			// Every path, compared with the reference "mlx-plain".
			check := func(what string, req engine.Request, cancelAt int) map[string]*engine.Result {
				out := map[string]*engine.Result{}
				for _, name := range []string{"mlx-plain", "mlx", "cpu2"} {
					ctx, cancel := context.WithCancel(context.Background())
					n := 0
					r := run(name, ctx, req, func(ev engine.Event) {
						if ev.Kind == engine.EventToken && ev.Token >= 0 {
							if n++; n == cancelAt {
								cancel()
							}
						}
					})
					cancel()
					out[name] = r
					if got, want := summary(r), summary(out["mlx-plain"]); got != want {
						t.Fatalf("%s: %s differs from mlx-plain:\n got %s\nwant %s", what, name, got, want)
					}
				}
				return out
			}
			base := engine.Request{PromptTokens: testPrompt, MaxTokens: 64, IgnoreEOS: true}
			full := check("64 greedy tokens", base, 0)["mlx"]
			if len(full.Tokens) != 64 || full.FinishReason != engine.FinishLength {
				t.Fatalf("64 tokens: got %d, finish %s", len(full.Tokens), full.FinishReason)
			}
			t.Logf("64 tokens identical on mlx (pipelined), mlx (host sampling) and cpu: %v", full.Tokens[:12])

			// EOS honoured (the tokenizer's eos is id 2; random weights
			// rarely pick it, so this mostly checks nothing breaks).
			eos := base
			eos.IgnoreEOS = false
			check("eos", eos, 0)

			// A stop string taken from the middle of the text.
			runes := []rune(full.Text)
			if len(runes) > 40 {
				stop := base
				stop.Stop = []string{string(runes[len(runes)/2 : len(runes)/2+3])}
				r := check("stop string", stop, 0)["mlx"]
				if r.FinishReason != engine.FinishStop || r.StopString == "" {
					t.Fatalf("stop %q: finish %s", stop.Stop[0], r.FinishReason)
				}
			}

			// max_tokens of 1 and 2: no speculative step past the end.
			for _, n := range []int{1, 2, 7} {
				mt := base
				mt.MaxTokens = n
				check(fmt.Sprintf("max_tokens %d", n), mt, 0)
			}

			// Cancellation mid-generation, then a second turn on the kept
			// cache: it must reuse the same prefix and give the tokens of a
			// fresh run.
			for _, cancelAt := range []int{1, 5, 20} {
				key := fmt.Sprintf("conv-%d", cancelAt)
				c := base
				c.CacheKey = key
				first := check(fmt.Sprintf("cancel at %d", cancelAt), c, cancelAt)["mlx"]
				if first.FinishReason != engine.FinishCancelled || len(first.Tokens) != cancelAt {
					t.Fatalf("cancel at %d: finish %s after %d tokens", cancelAt, first.FinishReason, len(first.Tokens))
				}
				second := append(append(append([]int32(nil), testPrompt...), first.Tokens...), 450, 4996)
				turn := engine.Request{PromptTokens: second, MaxTokens: 16, IgnoreEOS: true, CacheKey: key}
				got := check(fmt.Sprintf("second turn after cancel at %d", cancelAt), turn, 0)["mlx"]
				if want := len(testPrompt) + cancelAt - 1; got.Usage.CachedTokens != want {
					t.Fatalf("second turn reused %d cached tokens; want %d", got.Usage.CachedTokens, want)
				}
				fresh := turn
				fresh.CacheKey = ""
				f := run("mlx", context.Background(), fresh, nil)
				if fmt.Sprint(f.Tokens) != fmt.Sprint(got.Tokens) {
					t.Fatalf("second turn on the kept cache %v, fresh %v", got.Tokens, f.Tokens)
				}
			}

			// Same after a finished (max_tokens) turn: the speculative step
			// past the end must not be counted in the cache.
			c := base
			c.CacheKey, c.MaxTokens = "finished", 10
			first := check("turn 1", c, 0)["mlx"]
			second := append(append(append([]int32(nil), testPrompt...), first.Tokens...), 13)
			turn := engine.Request{PromptTokens: second, MaxTokens: 16, IgnoreEOS: true, CacheKey: "finished"}
			got := check("turn 2", turn, 0)["mlx"]
			fresh := turn
			fresh.CacheKey = ""
			if f := run("mlx", context.Background(), fresh, nil); fmt.Sprint(f.Tokens) != fmt.Sprint(got.Tokens) {
				t.Fatalf("second turn on the kept cache %v, fresh %v", got.Tokens, f.Tokens)
			}
		})
	}
}

// Device tokens and the discarded speculative steps are freed: 1,000
// pipelined tokens leave active memory flat apart from the KV cache.
func TestPipelinedNoLeakOver1000Tokens(t *testing.T) {
	needLib(t)
	sharedtestdata.Dir(t)
	pc := pipeCase{arch: "qwen2", dtype: "bf16", bits: 4}
	dir := writeTiny(t, pc)
	spec := testmodel.Tiny(pc.arch, pc.dtype, pc.bits)
	e := newEngine(t, "mlx", dir)
	before, err := MemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	steps := argmaxSteps.Load()
	r := generate(t, e, engine.Request{PromptTokens: testPrompt, MaxTokens: n, IgnoreEOS: true, CacheKey: "leak"}, nil)
	if len(r.Tokens) != n || argmaxSteps.Load()-steps < n-1 {
		t.Fatalf("got %d tokens, %d device steps", len(r.Tokens), argmaxSteps.Load()-steps)
	}
	after, err := MemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	positions := (len(testPrompt) + n + kvStep - 1) / kvStep * kvStep
	kvBytes := uint64(2 * spec.Layers * positions * spec.KVHeads * spec.HeadDim * 4) // float32 on the CPU
	const slack = 64 << 10
	t.Logf("active memory: before %d, after %d pipelined tokens %d (KV cache %d)", before.Active, n, after.Active, kvBytes)
	if after.Active > before.Active+kvBytes+slack {
		t.Fatalf("active memory grew by %d bytes over %d tokens; the KV cache accounts for %d", after.Active-before.Active, n, kvBytes)
	}
	e.ForgetCache("leak")
	released, err := MemoryStats()
	if err != nil {
		t.Fatal(err)
	}
	if released.Active > before.Active+slack {
		t.Fatalf("after forgetting the cache active memory is %d, was %d before generating", released.Active, before.Active)
	}
}

// BenchmarkDecodePipelined decodes greedily through the engine on the
// 0.5B-shaped 4-bit model, pipelined (device argmax, mlx_async_eval) and
// not (logits to the host each step), in the same run. Per step it reports
// the time Go works (everything but waiting for MLX: recording the model's
// ops, building MLX's graph, sampling and detokenizing in the engine) and
// the share of the step that is: unpipelined, MLX idles during all of it;
// pipelined, MLX computes step n+1 meanwhile. Run with -benchtime=Nx (N
// tokens per sub-benchmark): MLX's CPU backend is slow off Apple silicon.
func BenchmarkDecodePipelined(b *testing.B) {
	needLib(b)
	sharedtestdata.Dir(b)
	// narrow: the 0.5B depth (24 layers, 14/2 heads) at tiny widths, where
	// MLX's compute is small next to the per-step Go work, as it is on a GPU.
	narrow := testmodel.Qwen05B(4)
	narrow.Hidden, narrow.Intermediate, narrow.HeadDim, narrow.Vocab = 448, 512, 32, 32000
	narrowDir := b.TempDir()
	if err := testmodel.Write(narrowDir, narrow); err != nil {
		b.Fatal(err)
	}
	dirs := map[string]string{"qwen05b-q4": benchModel(b, 4), "narrow24": narrowDir}
	for _, c := range []string{"qwen05b-q4/unpipelined", "qwen05b-q4/pipelined", "narrow24/unpipelined", "narrow24/pipelined"} {
		shape, name, _ := strings.Cut(c, "/")
		dir := dirs[shape]
		b.Run(c, func(b *testing.B) {
			backend := map[string]string{"unpipelined": "mlx-plain", "pipelined": "mlx"}[name]
			e := newEngine(b, backend, dir)
			mb := lastBackend.Load()
			req := engine.Request{PromptTokens: testPrompt, MaxTokens: 3, IgnoreEOS: true}
			generate(b, e, req, nil) // warm-up: first-use kernel setup
			req.MaxTokens = b.N + 1
			var first, last time.Time
			onEvent := func(ev engine.Event) {
				if ev.Kind == engine.EventToken {
					if first.IsZero() {
						first = time.Now()
						mb.ResetStats()
					}
					last = time.Now()
				}
			}
			b.ResetTimer()
			r := generate(b, e, req, onEvent)
			b.StopTimer()
			if len(r.Tokens) != b.N+1 {
				b.Fatalf("%d tokens", len(r.Tokens))
			}
			// Decode steps only: from the first token (prefill's) to the last.
			total, steps := last.Sub(first), b.N
			s := mb.Stats()
			// Time in MLX calls that wait for computation: mlx_eval and
			// reading logits (unpipelined); reading a token, and
			// mlx_async_eval itself, which on MLX's CPU backend blocks
			// until most of the step's graph has run (it bounds the tasks
			// in flight), so there pipelining overlaps little.
			wait := s.Eval + s.Copy + s.Wait
			goTime := total - wait
			b.ReportMetric(float64(steps)/total.Seconds(), "tok/s")
			b.ReportMetric(float64(goTime.Microseconds())/float64(steps), "go-us/step")
			b.ReportMetric(float64((s.Record+s.Build).Microseconds())/float64(steps), "record+build-us/step")
			b.ReportMetric(100*float64(goTime)/float64(total), "%go")
			b.ReportMetric(float64(s.Eval.Microseconds())/float64(steps), "eval-call-us/step")
			b.ReportMetric(float64(s.Wait.Microseconds())/float64(steps), "wait-us/step")
		})
	}
}
