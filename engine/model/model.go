// Package model holds the architectures impetus runs, each written once
// against the backend ops of engine/ops: the Llama family (Llama 2/3/3.x,
// Mistral, TinyLlama, SmolLM), Qwen2 (q/k/v bias), Qwen3 (q/k RMSNorm),
// Gemma (gemma, gemma2, gemma3_text) and Phi-3 (fused projections). A loaded Model runs forward steps on a
// per-sequence Cache and returns the logits of the last token.
package model

import (
	"context"

	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/ops"
)

// Info describes a loaded model.
type Info struct {
	Arch          string // config.json model_type
	VocabSize     int
	ContextLength int // max_position_embeddings
	NumLayers     int
	Hidden        int
	Backend       string // backend name, e.g. "cpu"
	WeightBytes   int64  // bytes of stored weights
	Quantization  string // "4bit/g64", or "" when dense
}

// Model is a loaded model. Forward calls are serialized internally.
type Model interface {
	Info() Info
	// NewCache returns an empty KV cache for one sequence.
	NewCache() Cache
	// Forward appends tokens at positions cache.Len()... (batched prefill
	// when len > 1) and returns the logits of the LAST token: a fresh
	// []float32 of VocabSize that the caller owns. On error (including a
	// cancelled ctx and non-finite logits) the cache keeps its old length.
	Forward(ctx context.Context, c Cache, tokens []int32) ([]float32, error)
	Close() error
}

// Cache is the KV cache of one sequence.
type Cache interface {
	Len() int
	// Truncate keeps the first n positions (n >= Len() is a no-op).
	Truncate(n int)
	// Release frees the cache's memory.
	Release()
}

// Load builds the model in d on backend b, validating every tensor the
// architecture needs against config.json. Errors name the missing or
// mis-shaped tensor and its file.
func Load(d *modelfile.Dir, b ops.Backend) (Model, error) {
	return loadDecoder(d, b)
}
