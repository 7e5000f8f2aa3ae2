package modelfile

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine/safetensors"
)

func TestSharedModels(t *testing.T) {
	root := sharedtestdata.Dir(t, "models")
	want := map[string]struct {
		arch, quant, dtype string
		bias               bool
		rope               string
	}{
		"tiny-llama-bf16":     {"llama", "", "BF16", false, ""},
		"tiny-llama3rope-f32": {"llama", "", "F32", false, "llama3"},
		"tiny-qwen2-f32-q4":   {"qwen2", "4bit/g32", "F32", true, ""},
		"tiny-qwen3-f16-q8":   {"qwen3", "8bit/g64", "F16", false, ""},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			d, err := Open(filepath.Join(root, name))
			if err != nil {
				t.Fatal(err)
			}
			c := d.Config
			if c.ModelType != w.arch || c.AttentionBias != w.bias || c.TieWordEmbeddings {
				t.Errorf("config %+v", c)
			}
			if c.HiddenSize != 64 || c.NumHiddenLayers != 2 || c.NumAttentionHeads != 4 || c.NumKeyValueHeads != 2 || c.HeadDim != 16 || c.IntermediateSize != 128 || c.VocabSize != 32000 {
				t.Errorf("dims %+v", c)
			}
			if c.BOSTokenID != 1 || len(c.EOSTokenIDs) != 1 || c.EOSTokenIDs[0] != 2 {
				t.Errorf("bos/eos %d %v", c.BOSTokenID, c.EOSTokenIDs)
			}
			if (c.RopeScaling == nil) != (w.rope == "") || (c.RopeScaling != nil && (c.RopeScaling.Type != w.rope || c.RopeScaling.Factor != 8 || c.RopeScaling.OriginalMaxPositionEmbeddings != 64)) {
				t.Errorf("rope %+v", c.RopeScaling)
			}
			set, err := d.OpenWeights()
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			if err := c.CheckWeights(set); err != nil {
				t.Errorf("CheckWeights: %v", err)
			}
			s := c.Summarize(set)
			if s.Quantization != w.quant || s.DType != w.dtype {
				t.Errorf("summary %+v", s)
			}
			// 2 untied 32000×64 matrices + 2 layers; norms and (qwen2) biases add a little.
			if s.Params < 4_170_000 || s.Params > 4_171_000 {
				t.Errorf("params %d", s.Params)
			}
		})
	}
}

func writeConfig(t *testing.T, dir, js string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
}

const baseCfg = `"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 100`

func TestDefaults(t *testing.T) {
	for _, c := range []struct {
		arch                 string
		tie, bias            bool
		headDim, maxPos, win int
	}{
		{"llama", false, false, 16, 2048, 0},
		{"mistral", false, false, 16, 32768, 4096},
		{"qwen2", false, true, 16, 32768, 0},
		{"qwen3", false, false, 128, 32768, 0},
		{"gemma", true, false, 256, 8192, 0},
		{"gemma2", true, false, 256, 8192, 4096},
		{"gemma3_text", true, false, 256, 131072, 4096},
		{"phi3", false, false, 16, 4096, 0},
	} {
		cfg, err := ParseConfig("config.json", []byte(`{"model_type":"`+c.arch+`",`+baseCfg+`}`))
		if err != nil {
			t.Fatalf("%s: %v", c.arch, err)
		}
		if cfg.TieWordEmbeddings != c.tie || cfg.AttentionBias != c.bias || cfg.HeadDim != c.headDim || cfg.MaxPositionEmbeddings != c.maxPos || cfg.SlidingWindow != c.win || cfg.NumKeyValueHeads != 4 {
			t.Errorf("%s: %+v", c.arch, cfg)
		}
		if cfg.BOSTokenID != -1 || cfg.EOSTokenIDs != nil || cfg.Quantization != nil {
			t.Errorf("%s: bos %d eos %v", c.arch, cfg.BOSTokenID, cfg.EOSTokenIDs)
		}
	}
	// explicit values win; eos as list; qwen2 bias stays on even if false is written
	cfg, err := ParseConfig("config.json", []byte(`{"model_type":"qwen2",`+baseCfg+`, "tie_word_embeddings": true, "attention_bias": false,
		"eos_token_id": [151645, 151643], "use_sliding_window": true, "sliding_window": 512, "hidden_act": "gelu"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TieWordEmbeddings || !cfg.AttentionBias || len(cfg.EOSTokenIDs) != 2 || cfg.EOSTokenIDs[1] != 151643 || cfg.SlidingWindow != 512 || cfg.HiddenAct != "gelu" {
		t.Errorf("%+v", cfg)
	}
	cfg, err = ParseConfig("config.json", []byte(`{"model_type":"gemma2",`+baseCfg+`, "hidden_activation": "gelu_pytorch_tanh", "hidden_act": "gelu", "sliding_window": null}`))
	if err != nil || cfg.HiddenAct != "gelu_pytorch_tanh" || cfg.SlidingWindow != 0 {
		t.Errorf("%v %+v", err, cfg)
	}
	cfg, err = ParseConfig("config.json", []byte(`{"model_type":"llama",`+baseCfg+`, "rope_scaling": {"type": "llama3", "factor": 32.0, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}}`))
	if err != nil || cfg.RopeScaling == nil || cfg.RopeScaling.Factor != 32 || cfg.RopeScaling.HighFreqFactor != 4 {
		t.Errorf("rope: %v %+v", err, cfg.RopeScaling)
	}
}

func TestQuantizationOverrides(t *testing.T) {
	cfg, err := ParseConfig("config.json", []byte(`{"model_type":"llama",`+baseCfg+`,
		"quantization": {"group_size": 64, "bits": 4, "mode": "affine",
			"model.layers.0.mlp.down_proj": {"group_size": 32, "bits": 8},
			"lm_head": {"bits": 6},
			"model.embed_tokens": false}}`))
	if err != nil {
		t.Fatal(err)
	}
	if q := cfg.QuantizationFor("model.layers.0.self_attn.q_proj"); q == nil || q.Bits != 4 || q.GroupSize != 64 || q.Mode != "affine" {
		t.Errorf("global %+v", q)
	}
	if q := cfg.QuantizationFor("model.layers.0.mlp.down_proj"); q == nil || q.Bits != 8 || q.GroupSize != 32 {
		t.Errorf("override %+v", q)
	}
	if q := cfg.QuantizationFor("model.layers.0.mlp.down_proj.weight"); q == nil || q.Bits != 8 {
		t.Errorf("override via .weight %+v", q)
	}
	if q := cfg.QuantizationFor("lm_head"); q == nil || q.Bits != 6 || q.GroupSize != 64 {
		t.Errorf("partial override inherits group size: %+v", q)
	}
	if q := cfg.QuantizationFor("model.embed_tokens"); q != nil {
		t.Errorf("false override %+v", q)
	}
	// quantization_config alone (as mlx-lm also writes it)
	cfg, err = ParseConfig("config.json", []byte(`{"model_type":"llama",`+baseCfg+`, "quantization_config": {"group_size": 128, "bits": 3}}`))
	if err != nil || cfg.Quantization.String() != "3bit/g128" {
		t.Errorf("%v %v", err, cfg.Quantization)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ js, want string }{
		{`{"model_type":"llama", "hidden_size": 0, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 100}`, "config.json: hidden_size must be > 0"},
		{`{"model_type":"llama", "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 100}`, "config.json: hidden_size is missing"},
		{`{"model_type":"llama", "hidden_size": "big", "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 100}`, `config.json: hidden_size must be an integer, got the string "big"`},
		{`{"model_type":"llama",` + baseCfg + `, "num_key_value_heads": 3}`, "num_attention_heads (4) must be a multiple of num_key_value_heads (3)"},
		{`{"model_type":"llama",` + baseCfg + `, "eos_token_id": "x"}`, "config.json: eos_token_id must be an integer or a list"},
		{`{"model_type":"llama",` + baseCfg + `, "eos_token_id": [1, "x"]}`, "config.json: eos_token_id[1] must be an integer"},
		{`{"model_type":"llama",` + baseCfg + `, "rope_scaling": {"rope_type": "llama3", "factor": 8}}`, "config.json: rope_scaling for llama3 needs"},
		{`{"model_type":"llama",` + baseCfg + `, "rope_scaling": {"factor": 8}}`, "rope_scaling.rope_type (or type) is missing"},
		{`{"model_type":"llama",` + baseCfg + `, "quantization": {"group_size": 64, "bits": 7}}`, "config.json: quantization.bits must be one of"},
		{`{"model_type":"llama",` + baseCfg + `, "quantization": {"group_size": 64, "bits": 4, "mode": "mxfp4"}}`, `quantization.mode "mxfp4" is not supported`},
		{`{"model_type":"llama",` + baseCfg + `, "quantization": {"group_size": 64, "bits": 4, "model.layers.0.mlp.up_proj": {"bits": 9}}}`, "quantization.model.layers.0.mlp.up_proj.bits must be one of"},
		{`{"model_type":"llama",` + baseCfg + `, "quantization_config": {"quant_method": "gptq", "bits": 4}}`, `quant_method the string "gptq" is not supported`},
		{`{"model_type":"llama",` + baseCfg + `, "rms_norm_eps": "tiny"}`, "config.json: rms_norm_eps must be a number"},
		{`{` + baseCfg + `}`, "config.json: model_type is missing"},
		{`{"model_type":`, "config.json: invalid JSON"},
	} {
		_, err := ParseConfig("config.json", []byte(c.js))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseConfig(%s)\n err = %v\n want %q", c.js, err, c.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte("{}"), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "no config.json") || !strings.Contains(err.Error(), dir) {
		t.Errorf("no config: %v", err)
	}
	writeConfig(t, dir, `{"model_type":"bert",`+baseCfg+`}`)
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) || !strings.Contains(err.Error(), `model_type "bert" is not supported (supported: gemma, gemma2, gemma3_text, llama, mistral, phi3, qwen2, qwen3)`) {
		t.Errorf("unknown arch: %v", err)
	}
	if d, err := OpenUnchecked(dir); err != nil || d.Config.ModelType != "bert" {
		t.Errorf("OpenUnchecked: %v", err)
	}
	writeConfig(t, dir, `{"model_type":"llama",`+baseCfg+`}`)
	os.WriteFile(filepath.Join(dir, GenerationConfigFile), []byte(`{"eos_token_id": [128001, 128009], "temperature": 0.6, "top_p": 0.9, "top_k": 50, "do_sample": true, "bos_token_id": 128000}`), 0o644)
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := d.Generation
	if g == nil || len(g.EOSTokenIDs) != 2 || *g.Temperature != 0.6 || *g.TopP != 0.9 || *g.TopK != 50 || !*g.DoSample || *g.BOSTokenID != 128000 || g.RepetitionPenalty != nil {
		t.Errorf("generation %+v", g)
	}
	if ids := d.EOSTokenIDs(); len(ids) != 2 || ids[0] != 128001 {
		t.Errorf("eos %v", ids)
	}
	os.WriteFile(filepath.Join(dir, GenerationConfigFile), []byte(`{"top_k": "many"}`), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "generation_config.json: top_k must be an integer") {
		t.Errorf("bad generation config: %v", err)
	}
}

// tinyModel writes a dense float32 llama with 1 layer; shapes may be overridden.
func tinyModel(t *testing.T, dir string, override map[string][]int, quant bool) {
	t.Helper()
	const H, I, V, hd, nh, nkv = 64, 128, 100, 16, 4, 2
	shapes := map[string][]int{
		"model.embed_tokens.weight":                      {V, H},
		"model.norm.weight":                              {H},
		"lm_head.weight":                                 {V, H},
		"model.layers.0.input_layernorm.weight":          {H},
		"model.layers.0.post_attention_layernorm.weight": {H},
		"model.layers.0.self_attn.q_proj.weight":         {nh * hd, H},
		"model.layers.0.self_attn.k_proj.weight":         {nkv * hd, H},
		"model.layers.0.self_attn.v_proj.weight":         {nkv * hd, H},
		"model.layers.0.self_attn.o_proj.weight":         {H, nh * hd},
		"model.layers.0.mlp.gate_proj.weight":            {I, H},
		"model.layers.0.mlp.up_proj.weight":              {I, H},
		"model.layers.0.mlp.down_proj.weight":            {H, I},
	}
	for k, v := range override {
		shapes[k] = v
	}
	var ts []safetensors.NewTensor
	for name, sh := range shapes {
		dt := safetensors.F32
		if quant && strings.Contains(name, "proj") {
			// 4-bit, group 32: weight [out, in/8] U32, scales/biases [out, in/32]
			out, in := sh[0], sh[1]
			prefix := strings.TrimSuffix(name, ".weight")
			ts = append(ts,
				safetensors.NewTensor{Name: name, DType: safetensors.U32, Shape: []int{out, in / 8}, Data: make([]byte, out*in/8*4)},
				safetensors.NewTensor{Name: prefix + ".scales", DType: safetensors.F16, Shape: []int{out, in / 32}, Data: make([]byte, out*in/32*2)},
				safetensors.NewTensor{Name: prefix + ".biases", DType: safetensors.F16, Shape: []int{out, in / 32}, Data: make([]byte, out*in/32*2)})
			continue
		}
		n := 1
		for _, d := range sh {
			n *= d
		}
		data := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(0.5))
		}
		ts = append(ts, safetensors.NewTensor{Name: name, DType: dt, Shape: sh, Data: data})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	q := ""
	if quant {
		q = `, "quantization": {"group_size": 32, "bits": 4}`
	}
	writeConfig(t, dir, `{"model_type":"llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100`+q+`}`)
}

func TestCheckWeights(t *testing.T) {
	for _, quant := range []bool{false, true} {
		dir := t.TempDir()
		tinyModel(t, dir, nil, quant)
		d, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		set, err := d.OpenWeights()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Config.CheckWeights(set); err != nil {
			t.Errorf("quant=%v: %v", quant, err)
		}
		s := d.Config.Summarize(set)
		if want := int64(2*100*64 + 3*64 + 2*64*64 + 2*32*64 + 3*128*64); s.Params != want {
			t.Errorf("quant=%v: params %d want %d", quant, s.Params, want)
		}
		if quant && (s.Quantization != "4bit/g32" || s.DType != "F32") {
			t.Errorf("summary %+v", s)
		}
		set.Close()
	}

	dir := t.TempDir()
	tinyModel(t, dir, map[string][]int{"model.layers.0.mlp.down_proj.weight": {64, 96}}, false)
	d, _ := Open(dir)
	set, err := d.OpenWeights()
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	err = d.Config.CheckWeights(set)
	if err == nil || !strings.Contains(err.Error(), `tensor "model.layers.0.mlp.down_proj.weight" has shape [64 96] but config.json implies [64 128] (hidden_size × intermediate_size)`) ||
		!strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("shape mismatch: %v", err)
	}
}
