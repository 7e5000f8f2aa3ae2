// Package testmodel writes small random-weight models in the exact on-disk
// layout of Hugging Face / mlx-lm model directories (config.json,
// model.safetensors with HF tensor names, MLX-quantized variants with
// .scales/.biases and "quantization" in config.json, and a real tokenizer),
// for tests across the project and for benchmarks at real model shapes.
// Output is deterministic for a given Spec (including its Seed).
package testmodel

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine/safetensors"
)

// Spec describes a model to write. Zero shape fields take Tiny's values.
type Spec struct {
	// Arch is the config.json model_type: llama, mistral, qwen2, qwen3,
	// gemma, gemma2, gemma3_text or phi3.
	Arch string
	// DType of dense weights and norms ("f32", "bf16", "f16"); for a
	// quantized model it is the dtype of scales, biases and norms.
	DType string
	// Bits > 0 writes MLX affine-quantized linears and embeddings with
	// GroupSize (default 64); 0 writes dense weights.
	Bits, GroupSize int

	Hidden, Layers, Heads, KVHeads, HeadDim, Intermediate, Vocab int
	MaxPositions                                                 int
	RopeTheta                                                    float64
	Llama3Rope                                                   bool // rope_scaling of type llama3
	SlidingWindow                                                int  // mistral/gemma2/gemma3: window (default: none / 4096)
	// Untied writes a separate lm_head (ignored for gemma, always tied).
	Untied bool
	Seed   uint64
	// TokenizerDir holds tokenizer.json and tokenizer_config.json to copy;
	// default ../shared/testdata/tokenizers/llama2 above the module root.
	TokenizerDir string
}

// Tiny returns the spec of a 2-layer model (hidden 64, 4 heads, 2 KV heads,
// head_dim 16, intermediate 128, vocab 32000 to match the llama2 tokenizer).
func Tiny(arch, dtype string, bits int) Spec {
	return Spec{Arch: arch, DType: dtype, Bits: bits, GroupSize: 64, Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2,
		HeadDim: 16, Intermediate: 128, Vocab: 32000, MaxPositions: 512, Seed: 1}
}

// Qwen05B is the Qwen2.5-0.5B shape (hidden 896, 24 layers, 14 heads, 2 KV
// heads, head_dim 64, intermediate 4864, vocab 151936, tied embeddings).
func Qwen05B(bits int) Spec {
	return Spec{Arch: "qwen2", DType: "bf16", Bits: bits, GroupSize: 64, Hidden: 896, Layers: 24, Heads: 14,
		KVHeads: 2, HeadDim: 64, Intermediate: 4864, Vocab: 151936, MaxPositions: 32768, RopeTheta: 1000000, Seed: 1}
}

// Archs are the architectures Write supports.
var Archs = []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3"}

func (s *Spec) defaults() error {
	t := Tiny(s.Arch, s.DType, s.Bits)
	for _, p := range []struct{ dst, def *int }{
		{&s.Hidden, &t.Hidden}, {&s.Layers, &t.Layers}, {&s.Heads, &t.Heads}, {&s.KVHeads, &t.KVHeads},
		{&s.HeadDim, &t.HeadDim}, {&s.Intermediate, &t.Intermediate}, {&s.Vocab, &t.Vocab},
		{&s.MaxPositions, &t.MaxPositions}, {&s.GroupSize, &t.GroupSize},
	} {
		if *p.dst == 0 {
			*p.dst = *p.def
		}
	}
	if s.DType == "" {
		s.DType = "f32"
	}
	if s.RopeTheta == 0 {
		s.RopeTheta = 10000
	}
	known := false
	for _, a := range Archs {
		known = known || a == s.Arch
	}
	if !known {
		return fmt.Errorf("testmodel: unknown arch %q (have %v)", s.Arch, Archs)
	}
	switch s.DType {
	case "f32", "bf16", "f16":
	default:
		return fmt.Errorf("testmodel: dtype %q (want f32, bf16, f16)", s.DType)
	}
	if s.Bits != 0 {
		switch s.Bits {
		case 2, 3, 4, 5, 6, 8:
		default:
			return fmt.Errorf("testmodel: %d bits (want 2, 3, 4, 5, 6, 8)", s.Bits)
		}
		for _, n := range []int{s.Hidden, s.Intermediate, s.Heads * s.HeadDim} {
			if n%s.GroupSize != 0 {
				return fmt.Errorf("testmodel: size %d is not a multiple of group size %d", n, s.GroupSize)
			}
		}
	}
	if s.Heads%s.KVHeads != 0 {
		return fmt.Errorf("testmodel: %d heads not a multiple of %d kv heads", s.Heads, s.KVHeads)
	}
	return nil
}

func (s *Spec) gemma() bool {
	return s.Arch == "gemma" || s.Arch == "gemma2" || s.Arch == "gemma3_text"
}

func (s *Spec) tied() bool { return s.gemma() || !s.Untied }

func (s *Spec) torchDType() string {
	return map[string]string{"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[s.DType]
}

func (s *Spec) stDType() safetensors.DType {
	return map[string]safetensors.DType{"f32": safetensors.F32, "bf16": safetensors.BF16, "f16": safetensors.F16}[s.DType]
}

// Config returns config.json's content for s, as Hugging Face / mlx-lm
// write it.
func (s Spec) Config() (map[string]any, error) {
	if err := s.defaults(); err != nil {
		return nil, err
	}
	arch := map[string]string{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
		"qwen3": "Qwen3ForCausalLM", "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM", "gemma3_text": "Gemma3ForCausalLM",
		"phi3": "Phi3ForCausalLM"}[s.Arch]
	c := map[string]any{
		"architectures":           []string{arch},
		"model_type":              s.Arch,
		"hidden_size":             s.Hidden,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KVHeads,
		"head_dim":                s.HeadDim,
		"intermediate_size":       s.Intermediate,
		"vocab_size":              s.Vocab,
		"rms_norm_eps":            1e-6,
		"rope_theta":              s.RopeTheta,
		"max_position_embeddings": s.MaxPositions,
		"tie_word_embeddings":     s.tied(),
		"torch_dtype":             s.torchDType(),
		"bos_token_id":            1,
		"eos_token_id":            2,
		"rope_scaling":            nil,
		"attention_dropout":       0.0,
		"initializer_range":       0.02,
		"use_cache":               true,
	}
	switch s.Arch {
	case "llama", "mistral", "qwen3", "phi3":
		c["hidden_act"] = "silu"
		c["attention_bias"] = false
	case "qwen2":
		c["hidden_act"] = "silu"
	default:
		c["hidden_activation"] = "gelu_pytorch_tanh"
		c["hidden_act"] = "gelu_pytorch_tanh"
		c["attention_bias"] = false
	}
	switch s.Arch {
	case "mistral":
		c["sliding_window"] = nilIfZero(s.SlidingWindow)
	case "qwen2", "qwen3":
		c["use_sliding_window"] = false
		c["sliding_window"] = nil
		c["max_window_layers"] = s.Layers
	case "gemma2":
		c["query_pre_attn_scalar"] = s.HeadDim
		c["attn_logit_softcapping"] = 50.0
		c["final_logit_softcapping"] = 30.0
		c["sliding_window"] = orDefault(s.SlidingWindow, 4096)
	case "gemma3_text":
		c["query_pre_attn_scalar"] = s.HeadDim
		c["sliding_window"] = orDefault(s.SlidingWindow, 4096)
		c["sliding_window_pattern"] = 6
		c["rope_local_base_freq"] = 10000.0
		c["final_logit_softcapping"] = nil
		c["attn_logit_softcapping"] = nil
	}
	if s.Llama3Rope {
		c["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": max(8, s.MaxPositions/4)}
	}
	if s.Bits > 0 {
		q := map[string]any{"group_size": s.GroupSize, "bits": s.Bits}
		c["quantization"] = q
		c["quantization_config"] = q
	}
	return c, nil
}

func nilIfZero(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func orDefault(n, d int) int {
	if n == 0 {
		return d
	}
	return n
}

// Write writes the model directory dir (created if needed).
func Write(dir string, spec Spec) error {
	cfg, err := spec.Config()
	if err != nil {
		return err
	}
	if err := spec.defaults(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	gen := `{"bos_token_id": 1, "eos_token_id": 2, "do_sample": false}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(gen), 0o644); err != nil {
		return err
	}
	if err := copyTokenizer(dir, spec.TokenizerDir); err != nil {
		return err
	}
	tensors := spec.tensors()
	sort.Slice(tensors, func(i, j int) bool { return tensors[i].Name < tensors[j].Name })
	meta := map[string]string{"format": "pt"}
	if spec.Bits > 0 {
		meta["format"] = "mlx"
	}
	return safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), tensors, meta)
}

func copyTokenizer(dir, from string) error {
	if from == "" {
		var err error
		if from, err = DefaultTokenizerDir(); err != nil {
			return err
		}
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			return fmt.Errorf("testmodel: tokenizer: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// DefaultTokenizerDir finds ../shared/testdata/tokenizers/llama2 above the
// directory holding go.mod (searched upwards from the working directory).
func DefaultTokenizerDir() (string, error) {
	td, err := sharedtestdata.Find()
	if err != nil {
		return "", fmt.Errorf("testmodel: %w (set Spec.TokenizerDir)", err)
	}
	td = filepath.Join(td, "tokenizers", "llama2")
	if _, err := os.Stat(filepath.Join(td, "tokenizer.json")); err != nil {
		return "", fmt.Errorf("testmodel: tokenizer not found at %s (set Spec.TokenizerDir): %w", td, err)
	}
	return td, nil
}

// gen draws the weights.
type gen struct {
	s   *Spec
	rng *rand.Rand
}

func (s *Spec) tensors() []safetensors.NewTensor {
	g := &gen{s: s, rng: rand.New(rand.NewPCG(s.Seed, 0x5eed))}
	var out []safetensors.NewTensor
	H, I, D := s.Hidden, s.Intermediate, s.HeadDim
	nq, nkv := s.Heads*D, s.KVHeads*D
	std := float32(0.02)
	if s.Hidden <= 256 {
		// tiny models: larger weights so that logits are not all ~equal and
		// greedy decoding is well defined.
		std = float32(1 / math.Sqrt(float64(H)))
	}
	out = append(out, g.linear("model.embed_tokens", s.Vocab, H, 1, false)...)
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		bias := s.Arch == "qwen2"
		if s.Arch == "phi3" {
			out = append(out, g.linear(p+"self_attn.qkv_proj", nq+2*nkv, H, std, false)...)
			out = append(out, g.linear(p+"mlp.gate_up_proj", 2*I, H, std, false)...)
		} else {
			out = append(out, g.linear(p+"self_attn.q_proj", nq, H, std, bias)...)
			out = append(out, g.linear(p+"self_attn.k_proj", nkv, H, std, bias)...)
			out = append(out, g.linear(p+"self_attn.v_proj", nkv, H, std, bias)...)
			out = append(out, g.linear(p+"mlp.gate_proj", I, H, std, false)...)
			out = append(out, g.linear(p+"mlp.up_proj", I, H, std, false)...)
		}
		out = append(out, g.linear(p+"self_attn.o_proj", H, nq, std, false)...)
		out = append(out, g.linear(p+"mlp.down_proj", H, I, std, false)...)
		out = append(out, g.norm(p+"input_layernorm.weight", H), g.norm(p+"post_attention_layernorm.weight", H))
		if s.Arch == "qwen3" || s.Arch == "gemma3_text" {
			out = append(out, g.norm(p+"self_attn.q_norm.weight", D), g.norm(p+"self_attn.k_norm.weight", D))
		}
		if s.Arch == "gemma2" || s.Arch == "gemma3_text" {
			out = append(out, g.norm(p+"pre_feedforward_layernorm.weight", H), g.norm(p+"post_feedforward_layernorm.weight", H))
		}
	}
	out = append(out, g.norm("model.norm.weight", H))
	if !s.tied() {
		out = append(out, g.linear("lm_head", s.Vocab, H, std, false)...)
	}
	return out
}

// norm is a norm scale: around 1 (around 0 for Gemma, which scales by 1+w).
func (g *gen) norm(name string, n int) safetensors.NewTensor {
	v := make([]float32, n)
	for i := range v {
		v[i] = 0.1 * float32(g.rng.NormFloat64())
		if !g.s.gemma() {
			v[i]++
		}
	}
	return safetensors.NewTensor{Name: name, DType: g.s.stDType(), Shape: []int{n}, Data: encode(v, g.s.stDType())}
}

// linear writes prefix.weight [out, in] (dense or MLX-quantized) and, with
// bias, prefix.bias [out].
func (g *gen) linear(prefix string, out, in int, std float32, bias bool) []safetensors.NewTensor {
	s := g.s
	var ts []safetensors.NewTensor
	if s.Bits == 0 {
		w := make([]float32, out*in)
		for i := range w {
			w[i] = std * float32(g.rng.NormFloat64())
		}
		ts = append(ts, safetensors.NewTensor{Name: prefix + ".weight", DType: s.stDType(), Shape: []int{out, in}, Data: encode(w, s.stDType())})
	} else {
		ts = append(ts, g.quantized(prefix, out, in, std)...)
	}
	if bias {
		b := make([]float32, out)
		for i := range b {
			b[i] = std * float32(g.rng.NormFloat64())
		}
		ts = append(ts, safetensors.NewTensor{Name: prefix + ".bias", DType: s.stDType(), Shape: []int{out}, Data: encode(b, s.stDType())})
	}
	return ts
}

// quantized draws packed values directly (uniform over the 2^bits levels)
// with per-group scales and biases centring them: w = s·q + b has about the
// requested standard deviation. This is exactly the MLX storage format;
// drawing q directly keeps writing a 0.5B model fast.
func (g *gen) quantized(prefix string, out, in int, std float32) []safetensors.NewTensor {
	s := g.s
	bits, group := s.Bits, s.GroupSize
	words := make([]byte, out*in*bits/32*4)
	for i := 0; i+8 <= len(words); i += 8 {
		binary.LittleEndian.PutUint64(words[i:], g.rng.Uint64())
	}
	if len(words)%8 != 0 {
		binary.LittleEndian.PutUint32(words[len(words)-4:], g.rng.Uint32())
	}
	levels := float32(int(1)<<bits - 1)
	ng := out * in / group
	sc := make([]float32, ng)
	bi := make([]float32, ng)
	a := std * float32(math.Sqrt(3))
	for i := range sc {
		half := a * (0.75 + 0.5*g.rng.Float32())
		sc[i] = 2 * half / levels
		bi[i] = -half + 0.1*std*float32(g.rng.NormFloat64())
	}
	dt := s.stDType()
	return []safetensors.NewTensor{
		{Name: prefix + ".weight", DType: safetensors.U32, Shape: []int{out, in * bits / 32}, Data: words},
		{Name: prefix + ".scales", DType: dt, Shape: []int{out, in / group}, Data: encode(sc, dt)},
		{Name: prefix + ".biases", DType: dt, Shape: []int{out, in / group}, Data: encode(bi, dt)},
	}
}

// encode stores v in dt (F32, BF16 or F16), rounding to nearest even.
func encode(v []float32, dt safetensors.DType) []byte {
	b, err := safetensors.EncodeFloat32(v, dt)
	if err != nil {
		panic("testmodel: " + err.Error()) // Spec.stDType only yields float types
	}
	return b
}
