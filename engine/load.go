package engine

import (
	"context"
	"errors"
)

// loadModel resolves ref and loads it with the configured backend.
// Wired to registry/modelfile/tokenizer/chattmpl/model as those land.
func (e *Engine) loadModel(ctx context.Context, ref string, progress func(LoadProgress)) (*loaded, error) {
	return nil, errors.New("engine: model loading is not wired in this build yet")
}
