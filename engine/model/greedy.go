package model

import (
	"context"
	"fmt"

	"github.com/impetus-llm/impetus/engine/ops"
)

// GreedyPipeline is an optional Model capability, offered when the
// backend samples on the device (ops.DeviceSampler): greedy decoding whose
// tokens stay on the device until read, so a caller can build and schedule
// step n+1 from step n's token before reading step n's value (mlx-lm's
// generate_step). Call DeviceGreedy to learn whether a loaded model has it.
//
// Each Forward/Next call appends its input to the cache at once (Len grows
// when the call returns, although the computation may still run); the
// returned token is the greedy choice after that input. Tokens are owned by
// the caller and must be released.
type GreedyPipeline interface {
	// DeviceGreedy reports whether the pipeline is usable (the backend
	// implements ops.DeviceSampler).
	DeviceGreedy() bool
	// ForwardGreedy is Forward (same checks, chunked prefill) returning the
	// greedy next token on the device instead of the logits.
	ForwardGreedy(ctx context.Context, c Cache, tokens []int32) (ops.DeviceToken, error)
	// NextGreedy appends the token prev holds (not yet read) at Len and
	// returns the greedy token after it.
	NextGreedy(ctx context.Context, c Cache, prev ops.DeviceToken) (ops.DeviceToken, error)
	// TokenValue waits for t and returns it; an error wrapping
	// ops.ErrNonFinite means its logits held a NaN or infinity.
	TokenValue(t ops.DeviceToken) (int32, error)
	// ReleaseToken frees t; nil is a no-op.
	ReleaseToken(t ops.DeviceToken)
}

var _ GreedyPipeline = (*decoder)(nil)

func (m *decoder) sampler() ops.DeviceSampler {
	ds, _ := m.b.(ops.DeviceSampler)
	return ds
}

// DeviceGreedy implements GreedyPipeline.
func (m *decoder) DeviceGreedy() bool { return m.sampler() != nil }

// begin checks a greedy step appending n tokens to cc and returns the
// cache, allocating its storage. m.mu is held.
func (m *decoder) begin(ctx context.Context, cc Cache, n int, op string) (*cache, ops.DeviceSampler, error) {
	ds := m.sampler()
	if ds == nil {
		return nil, nil, fmt.Errorf("%s: the %s backend cannot sample on the device", op, m.b.Name())
	}
	c, ok := cc.(*cache)
	if !ok || c == nil || c.owner != m {
		return nil, nil, fmt.Errorf("%s: cache was not created by this model", op)
	}
	if m.closed {
		return nil, nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if c.n+n > m.info.ContextLength {
		return nil, nil, fmt.Errorf("%s: %d cached + %d new tokens exceed the model's context length %d", op, c.n, n, m.info.ContextLength)
	}
	if c.kv == nil {
		kv, err := m.b.NewKVCache(m.kvSpec)
		if err != nil {
			return nil, nil, err
		}
		c.kv = kv
	}
	return c, ds, nil
}

// ForwardGreedy implements GreedyPipeline.
func (m *decoder) ForwardGreedy(ctx context.Context, cc Cache, tokens []int32) (ops.DeviceToken, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("forward: no tokens")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ds, err := m.begin(ctx, cc, len(tokens), "forward")
	if err != nil {
		return nil, err
	}
	for _, id := range tokens {
		if id < 0 || int(id) >= m.info.VocabSize {
			return nil, fmt.Errorf("forward: token id %d is outside the vocabulary [0, %d)", id, m.info.VocabSize)
		}
	}
	pos := c.n
	for len(tokens) > prefillChunk {
		if _, err := m.step(c.kv, pos, tokens[:prefillChunk], false); err != nil {
			return nil, err
		}
		pos += prefillChunk
		tokens = tokens[prefillChunk:]
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	t, err := m.greedyStep(ds, c.kv, pos, m.b.Embed(m.embed, tokens))
	if err != nil {
		return nil, err
	}
	c.n = pos + len(tokens)
	return t, nil
}

// NextGreedy implements GreedyPipeline.
func (m *decoder) NextGreedy(ctx context.Context, cc Cache, prev ops.DeviceToken) (ops.DeviceToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ds, err := m.begin(ctx, cc, 1, "decode")
	if err != nil {
		return nil, err
	}
	t, err := m.greedyStep(ds, c.kv, c.n, ds.EmbedToken(m.embed, prev))
	if err != nil {
		return nil, err
	}
	c.n++
	return t, nil
}

// greedyStep runs the embedded x through the network and schedules its
// greedy next token.
func (m *decoder) greedyStep(ds ops.DeviceSampler, kv ops.KVCache, pos int, x ops.Tensor) (ops.DeviceToken, error) {
	defer m.b.Release()
	x = m.layersFrom(x, kv, pos)
	return ds.ScheduleArgmax(m.head(x), m.v.finalSoftCap)
}

// TokenValue implements GreedyPipeline.
func (m *decoder) TokenValue(t ops.DeviceToken) (int32, error) {
	ds := m.sampler()
	if ds == nil {
		return 0, fmt.Errorf("token value: the %s backend cannot sample on the device", m.b.Name())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return ds.TokenValue(t)
}

// ReleaseToken implements GreedyPipeline.
func (m *decoder) ReleaseToken(t ops.DeviceToken) {
	if ds := m.sampler(); ds != nil && t != nil {
		ds.ReleaseToken(t)
	}
}
