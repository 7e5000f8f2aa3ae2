package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/ops"
	"github.com/impetus-llm/impetus/engine/safetensors"
)

// prefillChunk bounds the tokens of one step so activations stay small and
// cancellation is checked between chunks.
const prefillChunk = 512

// variant holds what distinguishes the supported families; one decoder
// definition covers them all.
type variant struct {
	qkNorm       bool    // qwen3, gemma3: RMSNorm on each q/k head before RoPE
	gemma        bool    // scaled embeddings, (1+w) norms, GELU-tanh gating
	sandwich     bool    // gemma2/3: norms after attention and around the MLP
	attnSoftCap  float32 // gemma2
	finalSoftCap float32 // gemma2 (and gemma3 when set)
	queryScale   float32 // attention scale (1/sqrt(head_dim) unless query_pre_attn_scalar)
	fused        bool    // phi3: one qkv_proj and one gate_up_proj
}

type layer struct {
	inNorm, postAttnNorm, preFFNorm, postFFNorm ops.Vector
	qNorm, kNorm                                ops.Vector
	q, k, v, o, gate, up, down                  ops.Linear
	qkv, gateUp                                 ops.Linear // phi3
	window                                      int
	rope                                        *ops.RoPE
}

type decoder struct {
	mu      sync.Mutex
	b       ops.Backend
	cfg     *modelfile.Config
	set     *safetensors.Set
	info    Info
	v       variant
	act     ops.Act
	eps     float32
	embed   ops.Linear
	lmHead  ops.Linear
	norm    ops.Vector
	layers  []layer
	closed  bool
	kvSpec  ops.KVSpec
	scaleIn float32          // embedding multiplier (gemma: sqrt(hidden))
	cols    ops.ColumnSlicer // phi3's fused projections
	multi   ops.MultiLinear  // nil if the backend lacks it
}

func toRaw(t *safetensors.Tensor) *ops.Raw {
	if t == nil {
		return nil
	}
	return &ops.Raw{Name: t.Name, File: t.File, DType: ops.DType(t.DType), Shape: t.Shape, Data: t.Data}
}

func loadDecoder(d *modelfile.Dir, b ops.Backend) (m *decoder, err error) {
	c := d.Config
	switch c.ModelType {
	case "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3":
	default:
		return nil, fmt.Errorf("%s: model_type %q is not supported by the engine (supported: llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text, phi3)", d.Path, c.ModelType)
	}
	set, err := d.OpenWeights()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			set.Close()
		}
	}()
	m = &decoder{b: b, cfg: c, set: set, eps: float32(c.RMSNormEps), scaleIn: 1}
	m.multi, _ = b.(ops.MultiLinear)
	sum := c.Summarize(set)
	m.info = Info{Arch: c.ModelType, VocabSize: c.VocabSize, ContextLength: c.MaxPositionEmbeddings,
		NumLayers: c.NumHiddenLayers, Hidden: c.HiddenSize, Backend: b.Name(), WeightBytes: sum.WeightBytes,
		Quantization: sum.Quantization}
	if err := m.configure(); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Path, err)
	}
	if err := m.loadWeights(); err != nil {
		return nil, err
	}
	m.kvSpec = ops.KVSpec{Layers: c.NumHiddenLayers, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim, MaxLen: c.MaxPositionEmbeddings}
	return m, nil
}

func rawFloat(c *modelfile.Config, key string) (float64, bool) {
	v, ok := c.Raw[key]
	if !ok || v == nil {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case interface{ Float64() (float64, error) }:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func rawInt(c *modelfile.Config, key string, def int) int {
	if f, ok := rawFloat(c, key); ok {
		return int(f)
	}
	return def
}

// configure derives the variant, activation, RoPE per layer and windows.
func (m *decoder) configure() error {
	c := m.cfg
	v := variant{queryScale: float32(1 / math.Sqrt(float64(c.HeadDim)))}
	switch c.ModelType {
	case "qwen3":
		v.qkNorm = true
	case "gemma":
		v.gemma = true
	case "gemma2":
		v.gemma, v.sandwich = true, true
	case "gemma3_text":
		v.gemma, v.sandwich, v.qkNorm = true, true, true
	case "phi3":
		v.fused = true
		cs, ok := m.b.(ops.ColumnSlicer)
		if !ok {
			return fmt.Errorf("the %s backend cannot run phi3 models yet (it lacks the Columns op for fused projections); use --backend cpu", m.b.Name())
		}
		m.cols = cs
		if f, ok := rawFloat(c, "partial_rotary_factor"); ok && f != 1 {
			return fmt.Errorf("config.json: partial_rotary_factor %g is not supported (only full rotary embeddings)", f)
		}
	}
	if v.gemma {
		m.scaleIn = float32(math.Sqrt(float64(c.HiddenSize)))
		if s, ok := rawFloat(c, "query_pre_attn_scalar"); ok && s > 0 {
			v.queryScale = float32(1 / math.Sqrt(s))
		}
		if s, ok := rawFloat(c, "attn_logit_softcapping"); ok && s > 0 {
			v.attnSoftCap = float32(s)
		}
		if s, ok := rawFloat(c, "final_logit_softcapping"); ok && s > 0 {
			v.finalSoftCap = float32(s)
		}
	}
	m.v = v
	switch c.HiddenAct {
	case "silu", "swish":
		m.act = ops.SiLU
	case "gelu_pytorch_tanh", "gelu_tanh", "gelu":
		// Gemma checkpoints say "gelu" but were trained with the tanh
		// approximation; Hugging Face forces it too.
		m.act = ops.GELUTanh
	default:
		return fmt.Errorf("config.json: hidden_act %q is not supported (silu, gelu_pytorch_tanh)", c.HiddenAct)
	}
	var scaling *ops.RopeScaling
	if rs := c.RopeScaling; rs != nil {
		scaling = &ops.RopeScaling{Type: rs.Type, Factor: rs.Factor, LowFreqFactor: rs.LowFreqFactor,
			HighFreqFactor: rs.HighFreqFactor, OriginalMaxPositionEmbeddings: rs.OriginalMaxPositionEmbeddings}
	}
	global, err := ops.NewRoPE(c.HeadDim, c.RopeTheta, scaling)
	if err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	local := global
	if c.ModelType == "gemma3_text" {
		base, ok := rawFloat(c, "rope_local_base_freq")
		if !ok {
			base = 10000
		}
		if local, err = ops.NewRoPE(c.HeadDim, base, nil); err != nil {
			return fmt.Errorf("config.json: rope_local_base_freq: %w", err)
		}
	}
	layerTypes, _ := c.Raw["layer_types"].([]any)
	m.layers = make([]layer, c.NumHiddenLayers)
	for i := range m.layers {
		sliding := false
		switch {
		case len(layerTypes) == len(m.layers):
			s, _ := layerTypes[i].(string)
			sliding = s == "sliding_attention"
		case c.ModelType == "gemma2":
			sliding = i%2 == 0
		case c.ModelType == "gemma3_text":
			pattern := rawInt(c, "sliding_window_pattern", 6)
			sliding = pattern <= 0 || (i+1)%pattern != 0
		case c.ModelType == "qwen2" || c.ModelType == "qwen3":
			sliding = i >= rawInt(c, "max_window_layers", 0)
		default:
			sliding = true
		}
		L := &m.layers[i]
		L.rope = global
		if sliding {
			L.window = c.SlidingWindow
			L.rope = local
		}
	}
	return nil
}

func (m *decoder) linear(prefix string, out, in int, why string) (ops.Linear, error) {
	li, err := m.cfg.ExpectLinear(m.set, prefix, out, in, why)
	if err != nil {
		return nil, err
	}
	spec := ops.LinearSpec{Weight: toRaw(li.Weight), Scales: toRaw(li.Scales), Biases: toRaw(li.Biases), Bias: toRaw(li.Bias)}
	if li.Quant != nil {
		if li.Quant.Mode != "" && li.Quant.Mode != "affine" {
			return nil, fmt.Errorf("%s: tensor %q: quantization mode %q is not supported (affine is)", li.Weight.File, li.Weight.Name, li.Quant.Mode)
		}
		spec.Quant = &ops.Quant{Bits: li.Quant.Bits, GroupSize: li.Quant.GroupSize}
	}
	l, err := m.b.LoadLinear(spec)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", prefix, err)
	}
	return l, nil
}

func (m *decoder) vector(name string, n int, why string) (ops.Vector, error) {
	if err := modelfile.ExpectShape(m.set, name, why, n); err != nil {
		return nil, err
	}
	t, _ := m.set.Tensor(name)
	v, err := m.b.LoadVector(toRaw(t), m.v.gemma)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", name, err)
	}
	return v, nil
}

func (m *decoder) loadWeights() error {
	c := m.cfg
	H, I, hd := c.HiddenSize, c.IntermediateSize, c.HeadDim
	nq, nkv := c.NumAttentionHeads*hd, c.NumKeyValueHeads*hd
	var err error
	if m.embed, err = m.linear("model.embed_tokens", c.VocabSize, H, "vocab_size × hidden_size"); err != nil {
		return err
	}
	for i := range m.layers {
		L := &m.layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		type linearStep struct {
			dst    *ops.Linear
			name   string
			out, n int
			why    string
		}
		steps := []linearStep{
			{&L.o, "self_attn.o_proj", H, nq, "hidden_size × num_attention_heads·head_dim"},
			{&L.down, "mlp.down_proj", H, I, "hidden_size × intermediate_size"},
		}
		if m.v.fused {
			steps = append(steps,
				linearStep{&L.qkv, "self_attn.qkv_proj", nq + 2*nkv, H, "(num_attention_heads + 2·num_key_value_heads)·head_dim × hidden_size"},
				linearStep{&L.gateUp, "mlp.gate_up_proj", 2 * I, H, "2·intermediate_size × hidden_size"})
		} else {
			steps = append(steps,
				linearStep{&L.q, "self_attn.q_proj", nq, H, "num_attention_heads·head_dim × hidden_size"},
				linearStep{&L.k, "self_attn.k_proj", nkv, H, "num_key_value_heads·head_dim × hidden_size"},
				linearStep{&L.v, "self_attn.v_proj", nkv, H, "num_key_value_heads·head_dim × hidden_size"},
				linearStep{&L.gate, "mlp.gate_proj", I, H, "intermediate_size × hidden_size"},
				linearStep{&L.up, "mlp.up_proj", I, H, "intermediate_size × hidden_size"})
		}
		for _, s := range steps {
			if *s.dst, err = m.linear(p+s.name, s.out, s.n, s.why); err != nil {
				return err
			}
		}
		if c.AttentionBias && !m.v.fused {
			for _, n := range []string{"q_proj", "k_proj", "v_proj"} {
				if _, ok := m.set.Tensor(p + "self_attn." + n + ".bias"); !ok {
					return fmt.Errorf("%s: tensor %q is missing (config.json: %s has attention biases)", m.set.Dir(), p+"self_attn."+n+".bias", c.ModelType)
				}
			}
		}
		vecs := []struct {
			dst  *ops.Vector
			name string
			n    int
			why  string
		}{
			{&L.inNorm, "input_layernorm.weight", H, "hidden_size"},
			{&L.postAttnNorm, "post_attention_layernorm.weight", H, "hidden_size"},
		}
		if m.v.qkNorm {
			vecs = append(vecs,
				struct {
					dst  *ops.Vector
					name string
					n    int
					why  string
				}{&L.qNorm, "self_attn.q_norm.weight", hd, "head_dim"},
				struct {
					dst  *ops.Vector
					name string
					n    int
					why  string
				}{&L.kNorm, "self_attn.k_norm.weight", hd, "head_dim"})
		}
		if m.v.sandwich {
			vecs = append(vecs,
				struct {
					dst  *ops.Vector
					name string
					n    int
					why  string
				}{&L.preFFNorm, "pre_feedforward_layernorm.weight", H, "hidden_size"},
				struct {
					dst  *ops.Vector
					name string
					n    int
					why  string
				}{&L.postFFNorm, "post_feedforward_layernorm.weight", H, "hidden_size"})
		}
		for _, s := range vecs {
			if *s.dst, err = m.vector(p+s.name, s.n, s.why); err != nil {
				return err
			}
		}
	}
	if m.norm, err = m.vector("model.norm.weight", H, "hidden_size"); err != nil {
		return err
	}
	if _, ok := m.set.Tensor("lm_head.weight"); ok || !c.TieWordEmbeddings {
		if !ok {
			return fmt.Errorf("%s: tensor %q is missing (config.json: tie_word_embeddings is false)", m.set.Dir(), "lm_head.weight")
		}
		if m.lmHead, err = m.linear("lm_head", c.VocabSize, H, "vocab_size × hidden_size"); err != nil {
			return err
		}
	} else {
		m.lmHead = m.embed
	}
	return nil
}

func (m *decoder) Info() Info { return m.info }

// cache is the model's Cache: a backend KV cache plus the sequence length.
type cache struct {
	owner *decoder
	kv    ops.KVCache
	n     int
}

func (c *cache) Len() int { return c.n }

func (c *cache) Truncate(n int) {
	if n < 0 {
		n = 0
	}
	if n < c.n {
		c.n = n
	}
}

func (c *cache) Release() {
	c.owner.mu.Lock()
	defer c.owner.mu.Unlock()
	if c.kv != nil {
		c.kv.Release()
		c.kv = nil
	}
	c.n = 0
}

func (m *decoder) NewCache() Cache { return &cache{owner: m} }

// ErrClosed is returned by Forward on a closed model.
var ErrClosed = errors.New("model is closed")

func (m *decoder) Forward(ctx context.Context, cc Cache, tokens []int32) ([]float32, error) {
	c, ok := cc.(*cache)
	if !ok || c == nil || c.owner != m {
		return nil, fmt.Errorf("forward: cache was not created by this model")
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("forward: no tokens")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.n+len(tokens) > m.info.ContextLength {
		return nil, fmt.Errorf("forward: %d cached + %d new tokens exceed the model's context length %d", c.n, len(tokens), m.info.ContextLength)
	}
	for _, id := range tokens {
		if id < 0 || int(id) >= m.info.VocabSize {
			return nil, fmt.Errorf("forward: token id %d is outside the vocabulary [0, %d)", id, m.info.VocabSize)
		}
	}
	if c.kv == nil {
		kv, err := m.b.NewKVCache(m.kvSpec)
		if err != nil {
			return nil, err
		}
		c.kv = kv
	}
	pos := c.n
	for len(tokens) > 0 {
		n := min(len(tokens), prefillChunk)
		chunk := tokens[:n]
		tokens = tokens[n:]
		last := len(tokens) == 0
		logits, err := m.step(c.kv, pos, chunk, last)
		if err != nil {
			return nil, err
		}
		pos += n
		if last {
			c.n = pos
			return logits, nil
		}
		if err := ctx.Err(); err != nil {
			// Positions written so far lie beyond Len and are simply
			// overwritten by the next Forward.
			return nil, err
		}
	}
	return nil, nil // unreachable
}

// step runs one chunk through the network; with wantLogits it returns the
// last position's logits.
func (m *decoder) step(kv ops.KVCache, pos int, tokens []int32, wantLogits bool) ([]float32, error) {
	b := m.b
	defer b.Release()
	x := m.layersFrom(b.Embed(m.embed, tokens), kv, pos)
	if !wantLogits {
		return nil, b.Sync()
	}
	logits, err := b.Logits(m.head(x))
	if err != nil {
		return nil, err
	}
	if cap := m.v.finalSoftCap; cap > 0 {
		for i, v := range logits {
			logits[i] = cap * float32(math.Tanh(float64(v/cap)))
		}
	}
	return logits, nil
}

// head is the final norm and lm_head of the last row of x: [1, vocab].
func (m *decoder) head(x ops.Tensor) ops.Tensor {
	b := m.b
	return b.Linear(b.RMSNorm(b.LastRow(x), m.norm, m.eps), m.lmHead)
}

// layersFrom runs the embedded tokens x (positions pos...) through every
// layer, writing their keys and values into kv, and returns the hidden
// states before the final norm.
func (m *decoder) layersFrom(x ops.Tensor, kv ops.KVCache, pos int) ops.Tensor {
	b := m.b
	c := m.cfg
	attn := ops.Attn{Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim,
		Scale: m.v.queryScale, SoftCap: m.v.attnSoftCap}
	if m.scaleIn != 1 {
		x = b.Scale(x, m.scaleIn)
	}
	for i := range m.layers {
		L := &m.layers[i]
		h := b.RMSNorm(x, L.inNorm, m.eps)
		var q, k, v ops.Tensor
		if m.v.fused {
			qkv := b.Linear(h, L.qkv)
			nq, nkv := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
			q, k, v = m.cols.Columns(qkv, 0, nq), m.cols.Columns(qkv, nq, nq+nkv), m.cols.Columns(qkv, nq+nkv, nq+2*nkv)
		} else if m.multi != nil {
			var qkv [3]ops.Tensor
			m.multi.LinearN(h, []ops.Linear{L.q, L.k, L.v}, qkv[:])
			q, k, v = qkv[0], qkv[1], qkv[2]
		} else {
			q, k, v = b.Linear(h, L.q), b.Linear(h, L.k), b.Linear(h, L.v)
		}
		if m.v.qkNorm {
			q = b.RMSNorm(q, L.qNorm, m.eps)
			k = b.RMSNorm(k, L.kNorm, m.eps)
		}
		q = b.RoPE(q, pos, L.rope)
		k = b.RoPE(k, pos, L.rope)
		a := attn
		a.Window = L.window
		o := b.Linear(b.Attention(q, k, v, kv, i, pos, a), L.o)
		if m.v.sandwich {
			o = b.RMSNorm(o, L.postAttnNorm, m.eps)
			x = b.Add(x, o)
			h = b.RMSNorm(x, L.preFFNorm, m.eps)
		} else {
			x = b.Add(x, o)
			h = b.RMSNorm(x, L.postAttnNorm, m.eps)
		}
		var gate, up ops.Tensor
		if m.v.fused {
			gu := b.Linear(h, L.gateUp)
			I := c.IntermediateSize
			gate, up = m.cols.Columns(gu, 0, I), m.cols.Columns(gu, I, 2*I)
		} else if m.multi != nil {
			var gu [2]ops.Tensor
			m.multi.LinearN(h, []ops.Linear{L.gate, L.up}, gu[:])
			gate, up = gu[0], gu[1]
		} else {
			gate, up = b.Linear(h, L.gate), b.Linear(h, L.up)
		}
		f := b.Linear(b.Gate(m.act, gate, up), L.down)
		if m.v.sandwich {
			f = b.RMSNorm(f, L.postFFNorm, m.eps)
		}
		x = b.Add(x, f)
	}
	return x
}

func (m *decoder) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.set.Close()
}
