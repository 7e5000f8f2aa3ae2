package mlx

// #include "bridge.h"
import "C"

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/impetus-llm/impetus/engine/ops"
)

// Greedy sampling on the device (ops.DeviceSampler): the step's logits
// never leave MLX; the token index is computed there, scheduled with
// mlx_async_eval, and fed to the next step's embedding as an array, so the
// engine can build step n+1 while MLX still computes step n.

// deviceToken is a scheduled greedy token: tok is the uint32 [1] index,
// sum the float32 sum of the logits it was chosen from (NaN or ±Inf when
// any logit is: the finiteness check that Logits does on the host).
type deviceToken struct {
	ops.DeviceTokenBase
	b        *Backend
	tok, sum C.mlx_array
	released bool
}

var _ ops.DeviceSampler = (*Backend)(nil)

// argmaxSteps counts ScheduleArgmax calls, so tests can tell that a
// generation really ran on the device-sampling path.
var argmaxSteps atomic.Int64

// token unwraps an ops.DeviceToken of this backend.
func (b *Backend) token(t ops.DeviceToken) (*deviceToken, error) {
	d, ok := t.(*deviceToken)
	switch {
	case !ok || d == nil:
		return nil, fmt.Errorf("mlx backend: device token %T does not belong to the mlx backend", t)
	case d.b != b:
		return nil, fmt.Errorf("mlx backend: device token of another backend")
	case d.released:
		return nil, fmt.Errorf("mlx backend: device token used after ReleaseToken")
	}
	return d, nil
}

// EmbedToken implements ops.DeviceSampler.
func (b *Backend) EmbedToken(table ops.Linear, t ops.DeviceToken) ops.Tensor {
	l, ok := table.(*linear)
	if !ok || l == nil {
		b.fail("embedding table %T does not belong to the mlx backend", table)
		return b.record(1, 1, 0, nil)
	}
	d, err := b.token(t)
	if err != nil {
		b.fail("%v", err)
		return b.record(1, l.in, 0, nil)
	}
	return b.record(1, l.in, 0, func(g *graph) C.mlx_array {
		// d.tok is owned by the token, not the graph: take() only
		// references it. Its value is an argmax over the lm_head rows,
		// which are the vocabulary, so it is always a valid row.
		idx := d.tok
		if l.bits == 0 {
			return g.take(l.w, idx, 0)
		}
		return g.dequantize(g.take(l.w, idx, 0), g.take(l.scales, idx, 0), g.take(l.biases, idx, 0), l.group, l.bits, b.dt)
	})
}

func (g *graph) argmax(a C.mlx_array, axis int) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_argmax_axis", C.mlx_argmax_axis(&r, a, C.int(axis), false, g.l.stream), r)
}

func (g *graph) sum(a C.mlx_array) C.mlx_array {
	if !g.ok(a) {
		return null()
	}
	var r C.mlx_array
	return g.result("mlx_sum", C.mlx_sum(&r, a, false, g.l.stream), r)
}

// ScheduleArgmax implements ops.DeviceSampler.
func (b *Backend) ScheduleArgmax(x ops.Tensor, softCap float32) (ops.DeviceToken, error) {
	xt := b.ten(x)
	if b.err == nil && xt.rows != 1 {
		return nil, fmt.Errorf("mlx backend: argmax of %d rows; want 1 (use LastRow)", xt.rows)
	}
	argmaxSteps.Add(1)
	d := &deviceToken{b: b}
	err := b.evaluateMode(xt, func(g *graph, y C.mlx_array) []C.mlx_array {
		if softCap > 0 {
			y = g.mul(g.tanh(g.mul(y, g.scalar(1/softCap, C.MLX_FLOAT32))), g.scalar(softCap, C.MLX_FLOAT32))
		}
		tok, sum := g.argmax(y, 1), g.sum(y)
		if g.err != nil {
			return nil
		}
		d.tok, d.sum = g.pin(tok), g.pin(sum)
		return []C.mlx_array{d.tok, d.sum}
	}, nil)
	if err != nil {
		b.l.release(d.tok, d.sum)
		return nil, err
	}
	return d, nil
}

// TokenValue implements ops.DeviceSampler. Reading an item waits for the
// scheduled computation.
func (b *Backend) TokenValue(t ops.DeviceToken) (int32, error) {
	d, err := b.token(t)
	if err != nil {
		return 0, err
	}
	var tok C.uint32_t
	var sum C.float
	var stepErr error
	t0 := time.Now()
	defer func() { b.stats.Wait += time.Since(t0) }()
	if err := b.run(func() {
		if stepErr = check(C.mlx_array_item_uint32(&tok, d.tok), "mlx_array_item_uint32"); stepErr != nil {
			return
		}
		stepErr = check(C.mlx_array_item_float32(&sum, d.sum), "mlx_array_item_float32")
	}); err != nil {
		return 0, err
	}
	if stepErr != nil {
		return 0, stepErr
	}
	if s := float64(sum); math.IsNaN(s) || math.IsInf(s, 0) {
		return 0, fmt.Errorf("mlx backend: the model produced a non-finite logit (their sum is %v): the weights are likely corrupt (NaN/Inf) or overflow: %w", s, ops.ErrNonFinite)
	}
	return int32(tok), nil
}

// ReleaseToken implements ops.DeviceSampler. The arrays are freed by the
// MLX thread's next task.
func (b *Backend) ReleaseToken(t ops.DeviceToken) {
	d, ok := t.(*deviceToken)
	if !ok || d == nil || d.released || d.b != b {
		return
	}
	d.released = true
	b.l.release(d.tok, d.sum)
	d.tok, d.sum = null(), null()
}
