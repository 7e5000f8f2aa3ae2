package modelfile

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/impetus-llm/impetus/engine/safetensors"
)

// ExpectShape checks that tensor name exists in set with exactly shape.
// why says where the expectation comes from ("hidden_size") for the message.
func ExpectShape(set *safetensors.Set, name string, why string, shape ...int) error {
	t, ok := set.Tensor(name)
	if !ok {
		return fmt.Errorf("%s: tensor %q is missing", set.Dir(), name)
	}
	if !slices.Equal(t.Shape, shape) {
		return fmt.Errorf("%s: tensor %q has shape %v but config.json implies %v (%s)", t.File, name, t.Shape, shape, why)
	}
	return nil
}

// LinearInfo describes how a linear (or embedding) module is stored.
type LinearInfo struct {
	Weight         *safetensors.Tensor
	Scales, Biases *safetensors.Tensor // nil when dense
	Bias           *safetensors.Tensor // additive bias ("X.bias"), nil if absent
	Quant          *Quantization       // nil when dense
}

// ExpectLinear checks the module at prefix (e.g. "model.layers.0.mlp.up_proj")
// holds a [out, in] matrix: dense "prefix.weight" of a float dtype, or MLX
// quantized U32 "prefix.weight" [out, in·bits/32] with "prefix.scales" and
// "prefix.biases" [out, in/group]. As in mlx-lm, a module is quantized iff
// its .scales tensor exists; bits and group size come from QuantizationFor.
// An optional "prefix.bias" must be [out].
func (c *Config) ExpectLinear(set *safetensors.Set, prefix string, out, in int, why string) (*LinearInfo, error) {
	wName := prefix + ".weight"
	w, ok := set.Tensor(wName)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q is missing", set.Dir(), wName)
	}
	info := &LinearInfo{Weight: w}
	if b, ok := set.Tensor(prefix + ".bias"); ok {
		if err := ExpectShape(set, prefix+".bias", why, out); err != nil {
			return nil, err
		}
		info.Bias = b
	}
	scales, quantized := set.Tensor(prefix + ".scales")
	if !quantized {
		if !w.DType.IsFloat() {
			return nil, fmt.Errorf("%s: tensor %q has dtype %s without %s.scales: neither a float weight nor MLX-quantized", w.File, wName, w.DType, prefix)
		}
		if err := ExpectShape(set, wName, why, out, in); err != nil {
			return nil, err
		}
		return info, nil
	}
	q := c.QuantizationFor(prefix)
	if q == nil {
		return nil, fmt.Errorf("%s: tensor %q is quantized (has .scales) but config.json has no quantization for %s", w.File, wName, prefix)
	}
	if w.DType != safetensors.U32 {
		return nil, fmt.Errorf("%s: tensor %q is quantized but has dtype %s, want U32 (packed %d-bit)", w.File, wName, w.DType, q.Bits)
	}
	if in%q.GroupSize != 0 || (in*q.Bits)%32 != 0 {
		return nil, fmt.Errorf("%s: tensor %q: input size %d is not divisible by group_size %d (and %d-bit packing) from config.json", w.File, wName, in, q.GroupSize, q.Bits)
	}
	qwhy := fmt.Sprintf("%s; %d-bit, group %d", why, q.Bits, q.GroupSize)
	if err := ExpectShape(set, wName, qwhy, out, in*q.Bits/32); err != nil {
		return nil, err
	}
	if err := ExpectShape(set, prefix+".scales", qwhy, out, in/q.GroupSize); err != nil {
		return nil, err
	}
	if err := ExpectShape(set, prefix+".biases", qwhy, out, in/q.GroupSize); err != nil {
		return nil, err
	}
	biases, _ := set.Tensor(prefix + ".biases")
	if !scales.DType.IsFloat() || biases.DType != scales.DType {
		return nil, fmt.Errorf("%s: tensor %q / %q have dtypes %s / %s, want one float type", scales.File, prefix+".scales", prefix+".biases", scales.DType, biases.DType)
	}
	info.Scales, info.Biases, info.Quant = scales, biases, q
	return info, nil
}

// checkedLayouts are the model types whose tensor layout CheckWeights knows.
var checkedLayouts = []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3"}

// CheckWeights verifies that every tensor the architecture needs is present
// with the shape config.json implies (dense or MLX-quantized), for the
// llama/mistral/qwen2/qwen3/gemma/gemma2/gemma3_text/phi3 families. The
// first mismatch is returned, naming the file and the tensor.
func (c *Config) CheckWeights(set *safetensors.Set) error {
	if err := CheckArchitecture(c.ModelType); err != nil {
		return err
	}
	if !slices.Contains(checkedLayouts, c.ModelType) {
		return nil // an architecture added later: its loader validates its own tensors
	}
	H, I, hd := c.HiddenSize, c.IntermediateSize, c.HeadDim
	nq, nkv := c.NumAttentionHeads*hd, c.NumKeyValueHeads*hd
	floatVec := func(name string, n int, why string) error {
		if err := ExpectShape(set, name, why, n); err != nil {
			return err
		}
		t, _ := set.Tensor(name)
		if !t.DType.IsFloat() {
			return fmt.Errorf("%s: tensor %q has dtype %s, want a float type", t.File, name, t.DType)
		}
		return nil
	}
	if _, err := c.ExpectLinear(set, "model.embed_tokens", c.VocabSize, H, "vocab_size × hidden_size"); err != nil {
		return err
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		if err := floatVec(p+"input_layernorm.weight", H, "hidden_size"); err != nil {
			return err
		}
		if err := floatVec(p+"post_attention_layernorm.weight", H, "hidden_size"); err != nil {
			return err
		}
		if c.ModelType == "phi3" {
			if _, err := c.ExpectLinear(set, p+"self_attn.qkv_proj", nq+2*nkv, H, "(num_attention_heads + 2·num_key_value_heads)·head_dim × hidden_size"); err != nil {
				return err
			}
			if _, err := c.ExpectLinear(set, p+"mlp.gate_up_proj", 2*I, H, "2·intermediate_size × hidden_size"); err != nil {
				return err
			}
		} else {
			for _, l := range []struct {
				name string
				out  int
				why  string
			}{
				{"q_proj", nq, "num_attention_heads·head_dim × hidden_size"},
				{"k_proj", nkv, "num_key_value_heads·head_dim × hidden_size"},
				{"v_proj", nkv, "num_key_value_heads·head_dim × hidden_size"},
			} {
				li, err := c.ExpectLinear(set, p+"self_attn."+l.name, l.out, H, l.why)
				if err != nil {
					return err
				}
				if c.AttentionBias && li.Bias == nil {
					return fmt.Errorf("%s: tensor %q is missing (config.json: attention bias is on for %s)", set.Dir(), p+"self_attn."+l.name+".bias", c.ModelType)
				}
			}
			for _, l := range []string{"gate_proj", "up_proj"} {
				if _, err := c.ExpectLinear(set, p+"mlp."+l, I, H, "intermediate_size × hidden_size"); err != nil {
					return err
				}
			}
		}
		if _, err := c.ExpectLinear(set, p+"self_attn.o_proj", H, nq, "hidden_size × num_attention_heads·head_dim"); err != nil {
			return err
		}
		if _, err := c.ExpectLinear(set, p+"mlp.down_proj", H, I, "hidden_size × intermediate_size"); err != nil {
			return err
		}
		switch c.ModelType {
		case "qwen3", "gemma3_text":
			for _, n := range []string{"q_norm", "k_norm"} {
				if err := floatVec(p+"self_attn."+n+".weight", hd, "head_dim"); err != nil {
					return err
				}
			}
		}
		switch c.ModelType {
		case "gemma2", "gemma3_text":
			for _, n := range []string{"pre_feedforward_layernorm", "post_feedforward_layernorm"} {
				if err := floatVec(p+n+".weight", H, "hidden_size"); err != nil {
					return err
				}
			}
		}
	}
	if err := floatVec("model.norm.weight", H, "hidden_size"); err != nil {
		return err
	}
	if _, ok := set.Tensor("lm_head.weight"); ok || !c.TieWordEmbeddings {
		if !ok {
			return fmt.Errorf("%s: tensor %q is missing (config.json: tie_word_embeddings is false)", set.Dir(), "lm_head.weight")
		}
		if _, err := c.ExpectLinear(set, "lm_head", c.VocabSize, H, "vocab_size × hidden_size"); err != nil {
			return err
		}
	}
	return nil
}

// Summary describes a model's weights for listings.
type Summary struct {
	Params       int64  // logical parameters (quantized weights counted unpacked; scales/biases not counted)
	WeightBytes  int64  // bytes of tensor data
	DType        string // dominant float dtype by bytes (of scales for quantized models), e.g. "BF16"
	Quantization string // "4bit/g64", "mixed 4/8bit g64", or "" when dense
}

// Summarize computes the Summary from the weight headers and config (for
// quantized modules, bits from QuantizationFor).
func (c *Config) Summarize(set *safetensors.Set) Summary {
	var s Summary
	floatBytes := map[safetensors.DType]int64{}
	bitsSeen := map[int]bool{}
	groupsSeen := map[int]bool{}
	for _, name := range set.Names() {
		t, _ := set.Tensor(name)
		n := int64(t.NumElements())
		s.WeightBytes += int64(len(t.Data))
		if t.DType.IsFloat() {
			floatBytes[t.DType] += int64(len(t.Data))
		}
		if prefix, ok := strings.CutSuffix(name, ".weight"); ok && t.DType == safetensors.U32 {
			if _, q := set.Tensor(prefix + ".scales"); q {
				qz := c.QuantizationFor(prefix)
				if qz != nil {
					bitsSeen[qz.Bits] = true
					groupsSeen[qz.GroupSize] = true
					s.Params += n * 32 / int64(qz.Bits)
					continue
				}
			}
		}
		if prefix, ok := cutAny(name, ".scales", ".biases"); ok {
			if w, ok := set.Tensor(prefix + ".weight"); ok && w.DType == safetensors.U32 {
				continue
			}
		}
		s.Params += n
	}
	var best safetensors.DType
	for dt, b := range floatBytes {
		if b > floatBytes[best] || (b == floatBytes[best] && dt < best) {
			best = dt
		}
	}
	s.DType = string(best)
	if len(bitsSeen) > 0 {
		bits, groups := sortedKeys(bitsSeen), sortedKeys(groupsSeen)
		if len(bits) == 1 && len(groups) == 1 {
			s.Quantization = fmt.Sprintf("%dbit/g%d", bits[0], groups[0])
		} else {
			s.Quantization = fmt.Sprintf("mixed %sbit g%s", joinInts(bits, "/"), joinInts(groups, "/"))
		}
	}
	return s
}

func cutAny(s string, suffixes ...string) (string, bool) {
	for _, suf := range suffixes {
		if p, ok := strings.CutSuffix(s, suf); ok {
			return p, true
		}
	}
	return s, false
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func joinInts(v []int, sep string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, sep)
}
