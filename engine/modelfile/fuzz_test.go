package modelfile

import "testing"

// FuzzParseConfig: arbitrary config.json content never panics, and an
// accepted config satisfies the invariants the engine relies on.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"model_type":"llama",` + baseCfg + `}`))
	f.Add([]byte(`{"model_type":"qwen2",` + baseCfg + `, "num_key_value_heads": 2, "eos_token_id": [1, 2], "quantization": {"group_size": 64, "bits": 4, "model.layers.0.mlp.up_proj": {"bits": 8}, "lm_head": false}}`))
	f.Add([]byte(`{"model_type":"llama",` + baseCfg + `, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}}`))
	f.Add([]byte(`{"model_type":"gemma3_text",` + baseCfg + `, "sliding_window": 512, "hidden_activation": "gelu_pytorch_tanh"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("config.json", data)
		if err != nil {
			return
		}
		if c.HiddenSize <= 0 || c.NumHiddenLayers <= 0 || c.NumKeyValueHeads <= 0 || c.HeadDim <= 0 || c.VocabSize <= 0 ||
			c.NumAttentionHeads%c.NumKeyValueHeads != 0 || c.RopeTheta <= 0 {
			t.Fatalf("accepted invalid config %+v", c)
		}
		if q := c.Quantization; q != nil && (q.Bits <= 0 || q.GroupSize <= 0) {
			t.Fatalf("accepted invalid quantization %+v", q)
		}
		_ = c.QuantizationFor("model.layers.0.mlp.up_proj.weight")
	})
}
