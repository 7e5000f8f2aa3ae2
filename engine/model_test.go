package engine

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine/safetensors"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// These tests run the engine on real model directories: the shared
// reference models (independent float32 implementation) and random-weight
// models written by engine/testmodel with the real llama2 tokenizer.

// chatTemplate is a Llama-2 style template for the llama2 tokenizer (which
// ships without one).
const chatTemplate = `{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}<<SYS>>{{ m['content'] }}<</SYS>>{% elif m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}`

var (
	tinyOnce sync.Once
	tinyDir  string
	tinyErr  error
)

// tinyModel writes (once per test binary) a 2-layer random llama with the
// llama2 tokenizer and a chat template.
func tinyModel(t testing.TB) string {
	t.Helper()
	sharedtestdata.Dir(t)
	tinyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "impetus-engine-tiny-")
		if err != nil {
			tinyErr = err
			return
		}
		tinyDir = dir
		spec := testmodel.Tiny("llama", "f32", 0)
		if tinyErr = testmodel.Write(dir, spec); tinyErr != nil {
			return
		}
		tinyErr = os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(chatTemplate), 0o644)
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyDir != "" {
		os.RemoveAll(tinyDir)
	}
	os.Exit(code)
}

func newRealEngine(t testing.TB, ref string, opts Options) *Engine {
	t.Helper()
	if opts.Threads == 0 {
		opts.Threads = 2
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.Load(context.Background(), ref, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestReferenceModelsGreedy(t *testing.T) {
	td := sharedtestdata.Dir(t)
	for _, name := range []string{"tiny-llama-bf16", "tiny-qwen2-f32-q4", "tiny-qwen3-f16-q8", "tiny-llama3rope-f32"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(td, "models", name)
			ref := sharedtestdata.LoadReference(t, dir)
			e := newRealEngine(t, dir, Options{})
			prompt := sharedtestdata.ReferencePrompt
			res, err := e.Generate(context.Background(), Request{PromptTokens: prompt, MaxTokens: len(ref.Greedy), IgnoreEOS: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Tokens, ref.Greedy) {
				t.Fatalf("greedy tokens differ from the reference:\n got %v\nwant %v", res.Tokens, ref.Greedy)
			}
			if res.FinishReason != FinishLength || res.Usage.PromptTokens != len(prompt) {
				t.Fatalf("finish %s usage %+v", res.FinishReason, res.Usage)
			}
		})
	}
}

func TestRealChatAndPromptCache(t *testing.T) {
	dir := tinyModel(t)
	e := newRealEngine(t, dir, Options{})
	info, _ := e.Loaded()
	if !info.ChatTemplate || info.Arch != "llama" || !slices.Contains(info.EOSTokenIDs, 2) {
		t.Fatalf("info %+v", info)
	}
	msgs := []Message{{Role: "user", Content: "What is the capital of France?"}}
	var deltas strings.Builder
	res1, err := e.Generate(context.Background(), Request{Messages: msgs, System: "Be brief.", MaxTokens: 12, CacheKey: "c"}, func(ev Event) {
		deltas.WriteString(ev.Text)
	})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := e.Tokenize(context.Background(), Request{Messages: msgs, System: "Be brief."})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p1.Text, "<s><<SYS>>Be brief.<</SYS>>[INST] What is") || p1.Tokens[0] != 1 {
		t.Fatalf("rendered %q tokens %v", p1.Text, p1.Tokens[:3])
	}
	if deltas.String() != res1.Text || res1.Usage.PromptTokens != len(p1.Tokens) || res1.Timings.PrefillTokens != len(p1.Tokens) {
		t.Fatalf("turn 1: deltas %q text %q usage %+v prefill %d", deltas.String(), res1.Text, res1.Usage, res1.Timings.PrefillTokens)
	}

	// Turn 2 continues the conversation: only the tokens after the longest
	// common prefix with turn 1's cache are prefilled.
	msgs = append(msgs, Message{Role: "assistant", Content: res1.Text}, Message{Role: "user", Content: "And of Italy?"})
	req2 := Request{Messages: msgs, System: "Be brief.", MaxTokens: 12, CacheKey: "c"}
	p2, err := e.Tokenize(context.Background(), req2)
	if err != nil {
		t.Fatal(err)
	}
	cacheToks := append(slices.Clone(p1.Tokens), res1.Tokens...)
	if res1.FinishReason == FinishStop || res1.FinishReason == FinishLength {
		// the last sampled token was never fed back to the model
		cacheToks = cacheToks[:len(cacheToks)-1]
	}
	want := commonPrefix(cacheToks, p2.Tokens)
	if want < len(p1.Tokens) {
		t.Fatalf("test premise: turn 2 shares only %d tokens with turn 1's %d", want, len(p1.Tokens))
	}
	res2, err := e.Generate(context.Background(), req2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Usage.CachedTokens != want || res2.Timings.PrefillTokens != len(p2.Tokens)-want {
		t.Fatalf("turn 2 prefilled %d tokens (cached %d), want %d (cached %d)", res2.Timings.PrefillTokens, res2.Usage.CachedTokens, len(p2.Tokens)-want, want)
	}
	// The cached continuation computes the same as a fresh prefill.
	fresh, err := e.Generate(context.Background(), Request{Messages: msgs, System: "Be brief.", MaxTokens: 12, CacheKey: "other"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Usage.CachedTokens != 0 || !slices.Equal(fresh.Tokens, res2.Tokens) {
		t.Fatalf("cached turn gave %v, fresh prefill %v (cached %d)", res2.Tokens, fresh.Tokens, fresh.Usage.CachedTokens)
	}
}

func TestRealSeedAndStop(t *testing.T) {
	dir := tinyModel(t)
	e := newRealEngine(t, dir, Options{})
	req := Request{Prompt: "Once upon a time", MaxTokens: 24, Sampling: Sampling{Temperature: 1.5, TopP: 0.98, Seed: Seed(11)}}
	a, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Tokens, b.Tokens) || a.Text != b.Text {
		t.Fatalf("same seed, different output: %v vs %v", a.Tokens, b.Tokens)
	}
	req.Sampling.Seed = Seed(12)
	c, _ := e.Generate(context.Background(), req, nil)
	if slices.Equal(a.Tokens, c.Tokens) {
		t.Fatalf("different seeds gave the same 24 tokens")
	}
	// Stop on a piece of the seeded text: the output ends right before it.
	if len(a.Text) > 6 {
		stopAt := a.Text[len(a.Text)/2:][:3]
		req.Sampling.Seed = Seed(11)
		req.Stop = []string{stopAt}
		s, err := e.Generate(context.Background(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(a.Text, stopAt)
		if s.Text != a.Text[:i] || s.StopString != stopAt || s.FinishReason != FinishStop {
			t.Fatalf("stop %q: got %q (%s), want %q", stopAt, s.Text, s.FinishReason, a.Text[:i])
		}
	}
}

func TestRealCancelAndConcurrency(t *testing.T) {
	dir := tinyModel(t)
	e := newRealEngine(t, dir, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err := e.Generate(ctx, Request{Prompt: "Hello", MaxTokens: 200, IgnoreEOS: true}, func(ev Event) {
		if ev.Kind == EventToken {
			if n++; n == 5 {
				cancel()
			}
		}
	})
	if err != nil || res.FinishReason != FinishCancelled || len(res.Tokens) != 5 {
		t.Fatalf("cancel: %v %s %d tokens", err, res.FinishReason, len(res.Tokens))
	}
	// Concurrent greedy requests give the same text as one alone.
	alone, err := e.Generate(context.Background(), Request{Prompt: "The sky is", MaxTokens: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.Generate(context.Background(), Request{Prompt: "The sky is", MaxTokens: 16}, nil)
			if err != nil || r.Text != alone.Text {
				t.Errorf("concurrent: %v %q vs %q", err, r.Text, alone.Text)
			}
		}()
	}
	wg.Wait()
}

func TestRealContextLength(t *testing.T) {
	dir := tinyModel(t) // max_position_embeddings 512
	e := newRealEngine(t, dir, Options{})
	_, err := e.Generate(context.Background(), Request{Prompt: strings.Repeat("hello world ", 400), MaxTokens: 10}, nil)
	var ce *ContextLengthError
	if !errors.As(err, &ce) || ce.ContextLength != 512 {
		t.Fatalf("want context length error, got %v", err)
	}
	_, err = e.Generate(context.Background(), Request{Prompt: "hi", MaxTokens: 600}, nil)
	if !errors.As(err, &ce) || ce.MaxTokens != 600 {
		t.Fatalf("want max_tokens context error, got %v", err)
	}
	res, err := e.Generate(context.Background(), Request{Prompt: "hi", MaxTokens: 600, ClampMaxTokens: true, IgnoreEOS: true}, nil)
	if err != nil || res.Usage.TotalTokens != 512 || res.FinishReason != FinishLength {
		t.Fatalf("clamped: %v %+v", err, res)
	}
}

// rewriteWeights copies the tiny model to a new dir, passing every tensor
// through edit (return false to drop it).
func rewriteWeights(t *testing.T, edit func(name string, dt safetensors.DType, data []byte) bool) string {
	t.Helper()
	src := tinyModel(t)
	dst := t.TempDir()
	for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sf, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	var out []safetensors.NewTensor
	for _, ten := range sf.Tensors() {
		data := slices.Clone(ten.Data)
		if !edit(ten.Name, ten.DType, data) {
			continue
		}
		out = append(out, safetensors.NewTensor{Name: ten.Name, DType: ten.DType, Shape: ten.Shape, Data: data})
	}
	if err := safetensors.WriteFile(filepath.Join(dst, "model.safetensors"), out, nil); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestMissingTensorIsALoadError(t *testing.T) {
	dir := rewriteWeights(t, func(name string, _ safetensors.DType, _ []byte) bool {
		return name != "model.layers.1.mlp.down_proj.weight"
	})
	e, err := New(Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.Load(context.Background(), dir, nil)
	if err == nil || !strings.Contains(err.Error(), "model.layers.1.mlp.down_proj.weight") {
		t.Fatalf("want an error naming the missing tensor, got %v", err)
	}
	if _, ok := e.Loaded(); ok {
		t.Fatal("a model failed to load but is resident")
	}
}

// fillF32 sets every float32 of data to v.
func fillF32(data []byte, v float32) {
	bits := math.Float32bits(v)
	for i := 0; i+4 <= len(data); i += 4 {
		data[i], data[i+1], data[i+2], data[i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
}

func TestNaNWeightsAreAnError(t *testing.T) {
	// Stored NaN: refused when the weights are loaded, naming the tensor.
	dir := rewriteWeights(t, func(name string, dt safetensors.DType, data []byte) bool {
		if name == "model.layers.0.input_layernorm.weight" && dt == "F32" {
			fillF32(data, float32(math.NaN()))
		}
		return true
	})
	e, err := New(Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Load(context.Background(), dir, nil); err == nil || !strings.Contains(err.Error(), "input_layernorm") {
		// A backend that accepts stored NaN must still fail at generation.
		if err != nil {
			t.Fatalf("load error does not name the tensor: %v", err)
		}
		res, gerr := e.Generate(context.Background(), Request{Prompt: "Hello", MaxTokens: 8}, nil)
		if gerr == nil || res == nil || res.FinishReason != FinishError || res.Text != "" {
			t.Fatalf("stored NaN: %v %+v", gerr, res)
		}
	}

	// Finite weights that overflow to Inf/NaN in the forward pass: the
	// generation fails with an error and no text, never garbage.
	dir = rewriteWeights(t, func(name string, dt safetensors.DType, data []byte) bool {
		if strings.HasSuffix(name, "layernorm.weight") && dt == "F32" {
			fillF32(data, 3e38)
		}
		return true
	})
	e2 := newRealEngine(t, dir, Options{})
	var text strings.Builder
	res, err := e2.Generate(context.Background(), Request{Prompt: "Hello", MaxTokens: 8}, func(ev Event) { text.WriteString(ev.Text) })
	if err == nil {
		t.Fatalf("overflowing weights generated %q without an error", res.Text)
	}
	if res == nil || res.FinishReason != FinishError || text.Len() != 0 || len(res.Tokens) != 0 {
		t.Fatalf("want finish error with no text, got %+v (streamed %q)", res, text.String())
	}
	t.Logf("overflow error: %v", err)
	if !errors.Is(err, ErrBadLogits) {
		t.Errorf("a backend-detected NaN does not match ErrBadLogits: %v", err)
	}
	if msg := strings.ToLower(err.Error()); !strings.Contains(msg, "nan") && !strings.Contains(msg, "inf") && !strings.Contains(msg, "finite") {
		t.Fatalf("error does not say what went wrong: %v", err)
	}
}

func TestRealLoadProgressAndSwap(t *testing.T) {
	td := sharedtestdata.Dir(t)
	dir := tinyModel(t)
	e, err := New(Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var stages []string
	if _, err := e.Load(context.Background(), dir, func(p LoadProgress) { stages = append(stages, p.Stage) }); err != nil {
		t.Fatal(err)
	}
	if stages[0] != "resolve" || stages[len(stages)-1] != "ready" {
		t.Fatalf("stages %v", stages)
	}
	if info, _ := e.Loaded(); info.Backend != "cpu" || !strings.HasPrefix(info.Device, "CPU, 1 thread, ") {
		t.Fatalf("backend %q on device %q", info.Backend, info.Device)
	}
	// A request naming another model swaps it in.
	other := filepath.Join(td, "models", "tiny-qwen2-f32-q4")
	res, err := e.Generate(context.Background(), Request{Model: other, PromptTokens: []int32{1, 450}, MaxTokens: 2}, nil)
	if err != nil || res.Model != other {
		t.Fatalf("swap: %v %+v", err, res)
	}
	if info, _ := e.Loaded(); info.Arch != "qwen2" {
		t.Fatalf("resident %+v", info)
	}
	// Not found: the registry's error names where it looked.
	_, err = e.Load(context.Background(), filepath.Join(t.TempDir(), "nope"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing model: %v", err)
	}
	_ = time.Second
}

// TestQwenTokenizerSpecialsStop uses the real Qwen3 tokenizer and chat
// template: <|im_end|> (a tokenizer special, not in config.json) ends a
// generation, and template variables reach the template.
func TestQwenTokenizerSpecialsStop(t *testing.T) {
	td := sharedtestdata.Dir(t)
	dir := t.TempDir()
	spec := testmodel.Tiny("qwen3", "f32", 0)
	spec.Vocab = 151936
	spec.TokenizerDir = filepath.Join(td, "tokenizers", "qwen3")
	if err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	e := newRealEngine(t, dir, Options{})
	info, _ := e.Loaded()
	if !slices.Contains(info.EOSTokenIDs, 151645) || !info.ChatTemplate {
		t.Fatalf("EOS ids %v (want <|im_end|> 151645), chat template %v", info.EOSTokenIDs, info.ChatTemplate)
	}
	req := Request{Messages: []Message{{Role: "user", Content: "Hi"}}, TemplateVars: map[string]any{"enable_thinking": false}}
	p, err := e.Tokenize(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"; p.Text != want {
		t.Fatalf("rendered %q, want %q", p.Text, want)
	}
	if p.Tokens[0] != 151644 {
		t.Fatalf("<|im_start|> is not one token: %v", p.Tokens[:4])
	}
	req.MaxTokens = 20
	req.Sampling.LogitBias = map[int32]float32{151645: 1e4}
	res, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != FinishStop || res.Text != "" || !slices.Equal(res.Tokens, []int32{151645}) {
		t.Fatalf("want an immediate stop on <|im_end|>, got %s %q %v", res.FinishReason, res.Text, res.Tokens)
	}
}

func TestBadReferenceKeepsResidentModel(t *testing.T) {
	dir := tinyModel(t)
	e := newRealEngine(t, dir, Options{})
	_, err := e.Generate(context.Background(), Request{Model: filepath.Join(t.TempDir(), "missing"), Prompt: "hi", MaxTokens: 2}, nil)
	if err == nil {
		t.Fatal("a missing model generated")
	}
	if info, ok := e.Loaded(); !ok || info.Path != dir {
		t.Fatalf("the resident model was unloaded by a bad reference: %+v %v", info, ok)
	}
	// The same directory under another spelling is not reloaded.
	res, err := e.Generate(context.Background(), Request{Model: dir + "/", Prompt: "hi", MaxTokens: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := e.Loaded(); info.LoadTime == 0 || res.Model != dir {
		t.Fatalf("info %+v result model %q", info, res.Model)
	}
}
