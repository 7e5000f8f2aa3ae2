// Package modelfile reads one Hugging Face / MLX model directory:
// config.json (validated, with the per-architecture defaults Hugging Face
// transformers applies), generation_config.json, and its safetensors weights.
package modelfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ConfigFile and GenerationConfigFile are the file names inside a model directory.
const (
	ConfigFile           = "config.json"
	GenerationConfigFile = "generation_config.json"
)

// SupportedArchitectures are the config.json model_type values impetus can
// run. The engine's architecture code may append to it in an init function
// when it learns a new family; CheckArchitecture and Open consult it.
var SupportedArchitectures = []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3"}

// CheckArchitecture returns an error naming the supported model types when
// modelType is not one of SupportedArchitectures.
func CheckArchitecture(modelType string) error {
	if slices.Contains(SupportedArchitectures, modelType) {
		return nil
	}
	sup := slices.Clone(SupportedArchitectures)
	sort.Strings(sup)
	return fmt.Errorf("model_type %q is not supported (supported: %s)", modelType, strings.Join(sup, ", "))
}

// Quantization is MLX quantization of a linear or embedding layer.
type Quantization struct {
	GroupSize, Bits int
	Mode            string // "affine": w = scale·q + bias per group
}

// String is "4bit/g64" style.
func (q *Quantization) String() string {
	if q == nil {
		return ""
	}
	s := fmt.Sprintf("%dbit/g%d", q.Bits, q.GroupSize)
	if q.Mode != "" && q.Mode != "affine" {
		s += " " + q.Mode
	}
	return s
}

// RopeScaling is config.json's rope_scaling (key "type" or "rope_type").
// Fields that a type does not use stay zero; anything else is in Config.Raw.
type RopeScaling struct {
	Type                          string
	Factor                        float64
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositionEmbeddings int
}

// Config is a parsed, validated config.json.
type Config struct {
	ModelType     string
	Architectures []string

	HiddenSize, IntermediateSize, NumHiddenLayers, NumAttentionHeads, NumKeyValueHeads, HeadDim int

	VocabSize, MaxPositionEmbeddings int
	RMSNormEps, RopeTheta            float64
	RopeScaling                      *RopeScaling

	TieWordEmbeddings, AttentionBias bool
	SlidingWindow                    int    // 0: none
	HiddenAct                        string // hidden_act, or hidden_activation (gemma2/3)

	BOSTokenID  int   // -1 if absent
	EOSTokenIDs []int // eos_token_id may be an int or a list in JSON

	Quantization *Quantization // global MLX quantization, nil if dense
	// quantOverride holds mlx-lm's per-module entries inside the
	// quantization object: a module path → its own settings, nil = not quantized.
	quantOverride map[string]*Quantization

	Raw map[string]any // the whole file, numbers as json.Number
}

// QuantizationFor returns the quantization of the module at tensorPrefix
// (e.g. "model.layers.0.mlp.down_proj"; a trailing ".weight", ".scales" or
// ".biases" is ignored): its per-layer override if config.json has one
// (nil when the override is false), else the global setting (nil if dense).
func (c *Config) QuantizationFor(tensorPrefix string) *Quantization {
	if q, ok := c.quantOverride[tensorPrefix]; ok {
		return q
	}
	for _, suf := range []string{".weight", ".scales", ".biases"} {
		if p, ok := strings.CutSuffix(tensorPrefix, suf); ok {
			if q, ok := c.quantOverride[p]; ok {
				return q
			}
		}
	}
	return c.Quantization
}

// QuantizationOverrides returns a copy of the per-module overrides (nil
// value: that module is not quantized).
func (c *Config) QuantizationOverrides() map[string]*Quantization {
	out := make(map[string]*Quantization, len(c.quantOverride))
	for k, v := range c.quantOverride {
		out[k] = v
	}
	return out
}

// archDefaults are the values Hugging Face transformers' config classes
// use when config.json omits a field, per model_type.
type archDefaults struct {
	tie          bool
	attnBias     bool // attention bias implied by the architecture (qwen2)
	headDim      int  // 0: hidden_size / num_attention_heads
	maxPos       int
	rmsEps       float64
	ropeTheta    float64
	hiddenAct    string
	slidingField bool // sliding_window is meaningful (otherwise ignored)
	slidingDef   int  // sliding_window when config.json omits it
	slidingOff   bool // window applies only with use_sliding_window: true (qwen2/qwen3)
}

var defaultsByArch = map[string]archDefaults{
	"llama":       {tie: false, maxPos: 2048, rmsEps: 1e-6, ropeTheta: 10000, hiddenAct: "silu"},
	"mistral":     {tie: false, maxPos: 32768, rmsEps: 1e-6, ropeTheta: 10000, hiddenAct: "silu", slidingField: true, slidingDef: 4096},
	"qwen2":       {tie: false, attnBias: true, maxPos: 32768, rmsEps: 1e-6, ropeTheta: 10000, hiddenAct: "silu", slidingField: true, slidingOff: true},
	"qwen3":       {tie: false, headDim: 128, maxPos: 32768, rmsEps: 1e-6, ropeTheta: 10000, hiddenAct: "silu", slidingField: true, slidingOff: true},
	"gemma":       {tie: true, headDim: 256, maxPos: 8192, rmsEps: 1e-6, ropeTheta: 10000, hiddenAct: "gelu_pytorch_tanh"},
	"gemma2":      {tie: true, headDim: 256, maxPos: 8192, rmsEps: 1e-6, ropeTheta: 10000, hiddenAct: "gelu_pytorch_tanh", slidingField: true, slidingDef: 4096},
	"gemma3_text": {tie: true, headDim: 256, maxPos: 131072, rmsEps: 1e-6, ropeTheta: 1000000, hiddenAct: "gelu_pytorch_tanh", slidingField: true, slidingDef: 4096},
	"phi3":        {tie: false, maxPos: 4096, rmsEps: 1e-5, ropeTheta: 10000, hiddenAct: "silu", slidingField: true},
}

// ParseConfig parses and validates config.json content. file names the
// source in errors. The architecture is NOT checked against
// SupportedArchitectures (Open does that; listing tools may not want to).
func ParseConfig(file string, data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %v", file, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: must hold a JSON object", file)
	}
	f := fields{file: file, m: raw}
	c := &Config{Raw: raw, BOSTokenID: -1}
	var err error
	if c.ModelType, err = f.string("model_type", ""); err != nil {
		return nil, err
	}
	if c.ModelType == "" {
		return nil, fmt.Errorf("%s: model_type is missing (is this a transformers model directory?)", file)
	}
	if c.Architectures, err = f.strings("architectures"); err != nil {
		return nil, err
	}
	d, known := defaultsByArch[c.ModelType]
	if !known {
		// Unknown families still parse with llama-like defaults so that
		// listing works; running them is refused by CheckArchitecture.
		d = defaultsByArch["llama"]
	}

	type intField struct {
		dst      *int
		key      string
		def      int
		positive bool
	}
	for _, fl := range []intField{
		{&c.HiddenSize, "hidden_size", 0, true},
		{&c.IntermediateSize, "intermediate_size", 0, true},
		{&c.NumHiddenLayers, "num_hidden_layers", 0, true},
		{&c.NumAttentionHeads, "num_attention_heads", 0, true},
		{&c.VocabSize, "vocab_size", 0, true},
		{&c.MaxPositionEmbeddings, "max_position_embeddings", d.maxPos, true},
	} {
		v, err := f.int(fl.key, fl.def)
		if err != nil {
			return nil, err
		}
		if fl.positive && v <= 0 {
			if !f.present(fl.key) {
				return nil, fmt.Errorf("%s: %s is missing", file, fl.key)
			}
			return nil, fmt.Errorf("%s: %s must be > 0, got %d", file, fl.key, v)
		}
		*fl.dst = v
	}
	if c.NumKeyValueHeads, err = f.int("num_key_value_heads", c.NumAttentionHeads); err != nil {
		return nil, err
	}
	if c.NumKeyValueHeads <= 0 {
		return nil, fmt.Errorf("%s: num_key_value_heads must be > 0, got %d", file, c.NumKeyValueHeads)
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return nil, fmt.Errorf("%s: num_attention_heads (%d) must be a multiple of num_key_value_heads (%d)", file, c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	defHead := d.headDim
	if defHead == 0 {
		defHead = c.HiddenSize / c.NumAttentionHeads
	}
	if c.HeadDim, err = f.int("head_dim", defHead); err != nil {
		return nil, err
	}
	if c.HeadDim <= 0 {
		return nil, fmt.Errorf("%s: head_dim must be > 0, got %d (or hidden_size must be a multiple of num_attention_heads)", file, c.HeadDim)
	}
	if c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("%s: head_dim must be even for rotary embeddings, got %d", file, c.HeadDim)
	}

	if c.RMSNormEps, err = f.float("rms_norm_eps", d.rmsEps); err != nil {
		return nil, err
	}
	if c.RMSNormEps < 0 {
		return nil, fmt.Errorf("%s: rms_norm_eps must be >= 0, got %g", file, c.RMSNormEps)
	}
	if c.RopeTheta, err = f.float("rope_theta", d.ropeTheta); err != nil {
		return nil, err
	}
	if c.RopeTheta <= 0 {
		return nil, fmt.Errorf("%s: rope_theta must be > 0, got %g", file, c.RopeTheta)
	}
	if c.RopeScaling, err = parseRopeScaling(f); err != nil {
		return nil, err
	}

	if c.TieWordEmbeddings, err = f.bool("tie_word_embeddings", d.tie); err != nil {
		return nil, err
	}
	if c.AttentionBias, err = f.bool("attention_bias", d.attnBias); err != nil {
		return nil, err
	}
	if d.attnBias {
		c.AttentionBias = true // qwen2's q/k/v biases are part of the architecture, not a flag
	}
	if d.slidingField {
		// qwen2/qwen3 configs carry a window that is off unless
		// use_sliding_window is true; the others use it whenever set.
		use, err := f.bool("use_sliding_window", !d.slidingOff)
		if err != nil {
			return nil, err
		}
		w, err := f.int("sliding_window", 0)
		if !f.has("sliding_window") {
			w = d.slidingDef
		}
		if err != nil {
			return nil, err
		}
		if w < 0 {
			return nil, fmt.Errorf("%s: sliding_window must be >= 0, got %d", file, w)
		}
		if use {
			c.SlidingWindow = w
		}
	}
	act := "hidden_act"
	if f.present("hidden_activation") { // gemma2/gemma3 name
		act = "hidden_activation"
	}
	if c.HiddenAct, err = f.string(act, d.hiddenAct); err != nil {
		return nil, err
	}

	if c.BOSTokenID, err = f.int("bos_token_id", -1); err != nil {
		return nil, err
	}
	if c.EOSTokenIDs, err = f.ints("eos_token_id"); err != nil {
		return nil, err
	}
	if err := c.parseQuantization(f); err != nil {
		return nil, err
	}
	return c, nil
}

func parseRopeScaling(f fields) (*RopeScaling, error) {
	o, err := f.object("rope_scaling")
	if err != nil || o == nil {
		return nil, err
	}
	rf := fields{file: f.file, prefix: "rope_scaling.", m: o}
	r := &RopeScaling{}
	key := "rope_type"
	if !rf.present(key) {
		key = "type"
	}
	if r.Type, err = rf.string(key, ""); err != nil {
		return nil, err
	}
	if r.Type == "" {
		return nil, fmt.Errorf("%s: rope_scaling.rope_type (or type) is missing", f.file)
	}
	if r.Factor, err = rf.float("factor", 0); err != nil {
		return nil, err
	}
	if r.LowFreqFactor, err = rf.float("low_freq_factor", 0); err != nil {
		return nil, err
	}
	if r.HighFreqFactor, err = rf.float("high_freq_factor", 0); err != nil {
		return nil, err
	}
	if r.OriginalMaxPositionEmbeddings, err = rf.int("original_max_position_embeddings", 0); err != nil {
		return nil, err
	}
	switch r.Type {
	case "default":
		return nil, nil // same as no scaling
	case "llama3":
		if r.Factor <= 0 {
			return nil, fmt.Errorf("%s: rope_scaling.factor must be > 0 for rope_type llama3", f.file)
		}
		if r.LowFreqFactor <= 0 || r.HighFreqFactor <= r.LowFreqFactor {
			return nil, fmt.Errorf("%s: rope_scaling for llama3 needs 0 < low_freq_factor < high_freq_factor, got %g and %g", f.file, r.LowFreqFactor, r.HighFreqFactor)
		}
		if r.OriginalMaxPositionEmbeddings <= 0 {
			return nil, fmt.Errorf("%s: rope_scaling.original_max_position_embeddings must be > 0 for rope_type llama3", f.file)
		}
	case "linear", "dynamic", "yarn":
		if r.Factor <= 0 {
			return nil, fmt.Errorf("%s: rope_scaling.factor must be > 0 for rope_type %s", f.file, r.Type)
		}
	}
	return r, nil
}

// parseQuantization reads MLX quantization: "quantization", or
// "quantization_config" as mlx-lm also writes it. Keys other than
// group_size/bits/mode are per-module overrides: {group_size,bits} or false.
func (c *Config) parseQuantization(f fields) error {
	key := "quantization"
	o, err := f.object(key)
	if err != nil {
		return err
	}
	if o == nil {
		key = "quantization_config"
		if o, err = f.object(key); err != nil || o == nil {
			return err
		}
		if qm, ok := o["quant_method"]; ok {
			return fmt.Errorf("%s: quantization_config.quant_method %v is not supported (impetus reads MLX affine quantization and float weights; convert the model with `impetus convert`)", f.file, describe(qm))
		}
	}
	qf := fields{file: f.file, prefix: key + ".", m: o}
	g, err := parseQuantEntry(qf, 0, 0, "")
	if err != nil {
		return err
	}
	c.Quantization = g
	for k, v := range o {
		switch k {
		case "group_size", "bits", "mode":
			continue
		}
		switch x := v.(type) {
		case bool:
			if c.quantOverride == nil {
				c.quantOverride = map[string]*Quantization{}
			}
			if x {
				c.quantOverride[k] = g
			} else {
				c.quantOverride[k] = nil
			}
		case map[string]any:
			q, err := parseQuantEntry(fields{file: f.file, prefix: key + "." + k + ".", m: x}, g.GroupSize, g.Bits, g.Mode)
			if err != nil {
				return err
			}
			if c.quantOverride == nil {
				c.quantOverride = map[string]*Quantization{}
			}
			c.quantOverride[k] = q
		default:
			// Other scalar keys (e.g. "quant_method" written by newer
			// tools) are not module paths; ignore them.
		}
	}
	return nil
}

var validBits = []int{2, 3, 4, 5, 6, 8}

func parseQuantEntry(f fields, defGroup, defBits int, defMode string) (*Quantization, error) {
	q := &Quantization{}
	var err error
	if q.GroupSize, err = f.int("group_size", defGroup); err != nil {
		return nil, err
	}
	if q.Bits, err = f.int("bits", defBits); err != nil {
		return nil, err
	}
	if q.Mode, err = f.string("mode", defMode); err != nil {
		return nil, err
	}
	if q.Mode == "" {
		q.Mode = "affine"
	}
	if q.Mode != "affine" {
		return nil, f.errf("mode", "%q is not supported (supported: affine)", q.Mode)
	}
	if q.GroupSize <= 0 {
		return nil, f.errf("group_size", "must be > 0, got %d", q.GroupSize)
	}
	if !slices.Contains(validBits, q.Bits) {
		return nil, f.errf("bits", "must be one of 2, 3, 4, 5, 6, 8, got %d", q.Bits)
	}
	return q, nil
}
