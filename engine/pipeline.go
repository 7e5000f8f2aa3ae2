package engine

import (
	"context"
	"errors"

	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/ops"
)

// greedyLM is implemented by an lm whose backend picks greedy tokens on the
// device (model.GreedyPipeline over ops.DeviceSampler): the decode loop then
// runs pipelined, as mlx-lm's generate_step does — step n+1 is built and
// scheduled from step n's device token before step n's token is read, so
// the device computes while Go samples, detokenizes and checks stop
// strings.
type greedyLM interface {
	// forwardGreedy appends tokens to c and schedules the greedy token
	// after them.
	forwardGreedy(ctx context.Context, c kvCache, tokens []int32) (ops.DeviceToken, error)
	// nextGreedy appends prev's (unread) token and schedules the next.
	nextGreedy(ctx context.Context, c kvCache, prev ops.DeviceToken) (ops.DeviceToken, error)
	// tokenValue waits for t's value.
	tokenValue(t ops.DeviceToken) (int32, error)
	// releaseToken frees t (nil: no-op).
	releaseToken(t ops.DeviceToken)
}

// greedyPipeline returns a's device-greedy pipeline, or nil when its model
// or backend lacks one.
func (a *modelLM) greedyPipeline() greedyLM {
	if gp, ok := a.m.(model.GreedyPipeline); ok && gp.DeviceGreedy() {
		return &modelGreedy{gp: gp}
	}
	return nil
}

type modelGreedy struct{ gp model.GreedyPipeline }

var errForeignCache = errors.New("engine: KV cache of another model")

func (g *modelGreedy) forwardGreedy(ctx context.Context, c kvCache, tokens []int32) (ops.DeviceToken, error) {
	mc, ok := c.(model.Cache)
	if !ok {
		return nil, errForeignCache
	}
	return g.gp.ForwardGreedy(ctx, mc, tokens)
}

func (g *modelGreedy) nextGreedy(ctx context.Context, c kvCache, prev ops.DeviceToken) (ops.DeviceToken, error) {
	mc, ok := c.(model.Cache)
	if !ok {
		return nil, errForeignCache
	}
	return g.gp.NextGreedy(ctx, mc, prev)
}

func (g *modelGreedy) tokenValue(t ops.DeviceToken) (int32, error) { return g.gp.TokenValue(t) }

func (g *modelGreedy) releaseToken(t ops.DeviceToken) {
	if t != nil {
		g.gp.ReleaseToken(t)
	}
}

// pipelineFor returns the greedy pipeline to decode req with, or nil to use
// the host sampler: only plain greedy decoding (temperature 0, no
// penalties, no logit bias, no logprobs) is done on the device, where it
// picks exactly the token the host sampler would.
func pipelineFor(m *loaded, req Request, smp *sampler) greedyLM {
	s := req.Sampling
	if s.Temperature > 0 || smp.penalties() || len(s.LogitBias) > 0 || req.Logprobs {
		return nil
	}
	type pipelined interface{ greedyPipeline() greedyLM }
	if p, ok := m.lm.(pipelined); ok {
		if g := p.greedyPipeline(); g != nil {
			return g
		}
	}
	return nil
}
