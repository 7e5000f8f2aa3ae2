package modelfile

import "testing"

// Configs as published on the hub (abridged only where noted): they must
// parse, with the values the engine needs.
func TestPublishedConfigs(t *testing.T) {
	cases := []struct {
		name, js string
		check    func(c *Config) bool
	}{
		{"mlx-community/Llama-3.2-1B-Instruct-4bit", `{"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,"eos_token_id":[128001,128008,128009],"head_dim":64,"hidden_act":"silu","hidden_size":2048,"initializer_range":0.02,"intermediate_size":8192,"max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":16,"num_key_value_heads":8,"pretraining_tp":1,"quantization":{"group_size":64,"bits":4},"quantization_config":{"group_size":64,"bits":4},"rms_norm_eps":1e-05,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,"tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.45.0.dev0","use_cache":true,"vocab_size":128256}`,
			func(c *Config) bool {
				return c.HeadDim == 64 && c.TieWordEmbeddings && len(c.EOSTokenIDs) == 3 && c.RopeScaling.Type == "llama3" && c.RopeScaling.Factor == 32 &&
					c.RopeScaling.OriginalMaxPositionEmbeddings == 8192 && c.Quantization.String() == "4bit/g64" && c.RMSNormEps == 1e-5 && c.BOSTokenID == 128000
			}},
		{"mlx-community/Qwen2.5-0.5B-Instruct-4bit", `{"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151645,"hidden_act":"silu","hidden_size":896,"initializer_range":0.02,"intermediate_size":4864,"max_position_embeddings":32768,"max_window_layers":21,"model_type":"qwen2","num_attention_heads":14,"num_hidden_layers":24,"num_key_value_heads":2,"quantization":{"group_size":64,"bits":4},"rms_norm_eps":1e-06,"rope_theta":1000000.0,"sliding_window":32768,"tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.43.1","use_cache":true,"use_sliding_window":false,"vocab_size":151936}`,
			func(c *Config) bool {
				return c.HeadDim == 64 && c.AttentionBias && c.TieWordEmbeddings && c.SlidingWindow == 0 && c.RopeTheta == 1e6 && c.EOSTokenIDs[0] == 151645
			}},
		{"Qwen/Qwen3-0.6B", `{"architectures":["Qwen3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151645,"head_dim":128,"hidden_act":"silu","hidden_size":1024,"initializer_range":0.02,"intermediate_size":3072,"max_position_embeddings":40960,"max_window_layers":28,"model_type":"qwen3","num_attention_heads":16,"num_hidden_layers":28,"num_key_value_heads":8,"rms_norm_eps":1e-06,"rope_scaling":null,"rope_theta":1000000,"sliding_window":null,"tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.51.0","use_cache":true,"use_sliding_window":false,"vocab_size":151936}`,
			func(c *Config) bool {
				return c.HeadDim == 128 && !c.AttentionBias && c.RopeScaling == nil && c.SlidingWindow == 0 && c.MaxPositionEmbeddings == 40960 && c.Quantization == nil
			}},
		{"mlx-community/gemma-3-1b-it-4bit", `{"architectures":["Gemma3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"attn_logit_softcapping":null,"bos_token_id":2,"cache_implementation":"hybrid","eos_token_id":[1,106],"final_logit_softcapping":null,"head_dim":256,"hidden_activation":"gelu_pytorch_tanh","hidden_size":1152,"initializer_range":0.02,"intermediate_size":6912,"max_position_embeddings":32768,"model_type":"gemma3_text","num_attention_heads":4,"num_hidden_layers":26,"num_key_value_heads":1,"pad_token_id":0,"quantization":{"group_size":64,"bits":4},"query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_local_base_freq":10000,"rope_scaling":null,"rope_theta":1000000,"sliding_window":512,"sliding_window_pattern":6,"torch_dtype":"bfloat16","transformers_version":"4.50.0.dev0","use_cache":true,"vocab_size":262144}`,
			func(c *Config) bool {
				return c.HeadDim == 256 && c.TieWordEmbeddings && c.SlidingWindow == 512 && c.HiddenAct == "gelu_pytorch_tanh" && c.NumKeyValueHeads == 1 && len(c.EOSTokenIDs) == 2
			}},
		{"google/gemma-2-2b-it", `{"architectures":["Gemma2ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"attn_logit_softcapping":50.0,"bos_token_id":2,"cache_implementation":"hybrid","eos_token_id":[1,107],"final_logit_softcapping":30.0,"head_dim":256,"hidden_act":"gelu_pytorch_tanh","hidden_activation":"gelu_pytorch_tanh","hidden_size":2304,"initializer_range":0.02,"intermediate_size":9216,"max_position_embeddings":8192,"model_type":"gemma2","num_attention_heads":8,"num_hidden_layers":26,"num_key_value_heads":4,"pad_token_id":0,"query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_theta":10000.0,"sliding_window":4096,"torch_dtype":"float32","transformers_version":"4.42.4","use_cache":true,"vocab_size":256000}`,
			func(c *Config) bool { return c.TieWordEmbeddings && c.SlidingWindow == 4096 && c.HeadDim == 256 }},
		{"mistralai/Mistral-7B-Instruct-v0.3", `{"architectures":["MistralForCausalLM"],"attention_dropout":0.0,"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,"intermediate_size":14336,"max_position_embeddings":32768,"model_type":"mistral","num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,"rms_norm_eps":1e-05,"rope_theta":1000000.0,"sliding_window":null,"tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.42.0.dev0","use_cache":true,"vocab_size":32768}`,
			func(c *Config) bool { return c.HeadDim == 128 && c.SlidingWindow == 0 && !c.TieWordEmbeddings }},
		// long_factor/short_factor lists abridged to 3 of their 48 values.
		{"microsoft/Phi-3.5-mini-instruct", `{"architectures":["Phi3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":1,"embd_pdrop":0.0,"eos_token_id":32000,"hidden_act":"silu","hidden_size":3072,"initializer_range":0.02,"intermediate_size":8192,"max_position_embeddings":131072,"model_type":"phi3","num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":32,"original_max_position_embeddings":4096,"pad_token_id":32000,"resid_pdrop":0.0,"rms_norm_eps":1e-05,"rope_scaling":{"long_factor":[1.0800000429153442,1.1100000143051147,1.1399999856948853],"short_factor":[1.0,1.0199999809265137,1.0299999713897705],"type":"longrope"},"rope_theta":10000.0,"sliding_window":262144,"tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.43.3","use_cache":true,"vocab_size":32064}`,
			func(c *Config) bool {
				return c.RopeScaling.Type == "longrope" && c.SlidingWindow == 262144 && c.HeadDim == 96 && c.MaxPositionEmbeddings == 131072
			}},
		// mlx-lm mixed-precision recipe: per-module overrides inside "quantization".
		{"mixed 4/6-bit (mlx-lm --quant-predicate mixed_4_6)", `{"model_type":"qwen3","hidden_size":1024,"intermediate_size":3072,"num_hidden_layers":2,"num_attention_heads":16,"num_key_value_heads":8,"head_dim":128,"vocab_size":151936,
			"quantization":{"group_size":64,"bits":4,"mode":"affine","model.embed_tokens":{"group_size":64,"bits":6},"model.layers.0.self_attn.v_proj":{"group_size":64,"bits":6},"model.layers.0.mlp.down_proj":{"group_size":64,"bits":6},"model.layers.1.self_attn.q_proj":false}}`,
			func(c *Config) bool {
				return c.QuantizationFor("model.embed_tokens").Bits == 6 && c.QuantizationFor("model.layers.0.self_attn.v_proj").Bits == 6 &&
					c.QuantizationFor("model.layers.1.self_attn.v_proj").Bits == 4 && c.QuantizationFor("model.layers.1.self_attn.q_proj") == nil &&
					len(c.QuantizationOverrides()) == 4
			}},
	}
	for _, tc := range cases {
		c, err := ParseConfig("config.json", []byte(tc.js))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err := CheckArchitecture(c.ModelType); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.check(c) {
			t.Errorf("%s: unexpected values %+v (rope %+v, quant %v)", tc.name, c, c.RopeScaling, c.Quantization)
		}
	}
}
