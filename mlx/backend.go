package mlx

// #include "bridge.h"
import "C"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/impetus-llm/impetus/engine/ops"
)

// Options configure a Backend.
type Options struct {
	// DType is the type activations are computed in: "f32", "f16", "bf16",
	// "native" (the model's own float type: that of the first floating-point
	// weight loaded, as mlx-lm does) or ""/"auto": float32 when MLX runs on
	// the CPU (MLX's half-precision CPU kernels are slow and less exact),
	// native on a GPU. Weights are converted to this type once, at load;
	// quantized weights stay packed.
	DType string
}

// Backend implements ops.Backend on MLX. Ops record the step in Go; Logits
// and Sync hand it to the MLX thread, which builds MLX's lazy graph and
// evaluates it once. It runs one step at a time.
type Backend struct {
	l       *library
	dt      C.mlx_dtype // activation type; fixed by the first weight when native
	dtFixed bool

	// The current step.
	nodes  []func(g *graph) C.mlx_array
	vals   []C.mlx_array // node results while the step is being evaluated
	step   uint64        // incremented by Release: tensors of older steps are stale
	err    error         // first error of the step
	begin  time.Time     // first op of the step
	caches []*kvCache    // caches written by the step

	// Owned until Close.
	weights []C.mlx_array
	files   map[string]C.mlx_map_string_to_array // safetensors opened by mlx_load_safetensors
	freqs   map[*ops.RoPE]C.mlx_array
	closed  bool
	// converted: a weight was loaded in its stored type and converted; the
	// stored-type buffer sits in MLX's cache until cleared.
	converted bool

	stats StepStats
}

// StepStats splits the time of evaluated steps (Logits and Sync calls)
// between Go and MLX.
type StepStats struct {
	Steps int
	// Record is the time from a step's first op to its Logits/Sync call:
	// Go code (the model and this package recording ops).
	Record time.Duration
	// Build is the time spent building MLX's graph on the MLX thread (cgo
	// calls into mlx-c, which checks shapes and creates graph nodes), with
	// the hand-over to that thread.
	Build time.Duration
	// Eval is the time inside mlx_eval: MLX computing.
	Eval time.Duration
	// Copy is reading the logits back and checking them.
	Copy time.Duration
	// Wait is the time TokenValue spent blocked until a scheduled step's
	// token was computed (pipelined decoding: Go has nothing else to do).
	Wait time.Duration
	// Ops counts the MLX ops created while building the steps (each one
	// cgo call into mlx-c).
	Ops int
}

// New opens the MLX library (if needed) and returns a backend. The error of
// a missing or unusable library is a *LoadError saying how to fix it.
func New(o Options) (*Backend, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	b := &Backend{l: l, files: map[string]C.mlx_map_string_to_array{}, freqs: map[*ops.RoPE]C.mlx_array{}}
	switch strings.ToLower(o.DType) {
	case "", "auto":
		if !l.info.Device.GPU() {
			b.dt, b.dtFixed = C.MLX_FLOAT32, true
		}
	case "native":
	case "f32", "float32":
		b.dt, b.dtFixed = C.MLX_FLOAT32, true
	case "f16", "float16":
		b.dt, b.dtFixed = C.MLX_FLOAT16, true
	case "bf16", "bfloat16":
		b.dt, b.dtFixed = C.MLX_BFLOAT16, true
	default:
		return nil, fmt.Errorf("mlx: dtype %q is not one of auto, native, f32, f16, bf16", o.DType)
	}
	return b, nil
}

// NewBackend is the engine's backend factory: New with default options.
// threads is ignored (MLX schedules its own work).
func NewBackend(threads int) (ops.Backend, error) {
	b, err := New(Options{})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Name implements ops.Backend.
func (b *Backend) Name() string { return "mlx" }

// Device implements ops.DeviceDescriber.
func (b *Backend) Device() string {
	i := b.l.info
	if i.DeviceName != "" {
		return fmt.Sprintf("%s (%s), MLX %s", i.Device, i.DeviceName, i.Version)
	}
	return fmt.Sprintf("%s, MLX %s", i.Device, i.Version)
}

// Info describes the library and device the backend runs on.
func (b *Backend) Info() Info { return b.l.info }

// Stats returns the accumulated step timings.
func (b *Backend) Stats() StepStats { return b.stats }

// ResetStats zeroes the step timings.
func (b *Backend) ResetStats() { b.stats = StepStats{} }

// DType names the activation type ("float32", ...; "" until fixed).
func (b *Backend) DType() string {
	if !b.dtFixed {
		return ""
	}
	return dtypeName(b.dt)
}

func dtypeName(d C.mlx_dtype) string {
	switch d {
	case C.MLX_FLOAT32:
		return "float32"
	case C.MLX_FLOAT16:
		return "float16"
	case C.MLX_BFLOAT16:
		return "bfloat16"
	case C.MLX_UINT32:
		return "uint32"
	case C.MLX_INT32:
		return "int32"
	case C.MLX_BOOL:
		return "bool"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// run executes f on the MLX thread after freeing arrays released since the
// last call.
func (b *Backend) run(f func()) error {
	return b.l.exec.run(func() {
		b.l.flushFrees()
		f()
	})
}

func (l *linear) Dims() (out, in int) { return l.out, l.in }

func (v *vector) Len() int { return v.n }

// Close implements ops.Backend: frees every weight. KV caches are freed by
// their own Release.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.l.release(b.weights...)
	b.weights = nil
	for _, f := range b.freqs {
		b.l.release(f)
	}
	b.freqs = nil
	return b.run(func() { b.dropFiles() })
}

// tensor is an activation of the current step: node id of the step's
// recording. Its value is 2-D [rows, cols] or, when heads > 0, the
// attention layout [1, heads, rows, cols/heads].
type tensor struct {
	step       uint64
	id         int
	rows, cols int
	heads      int
}

func (t *tensor) Dims() (rows, cols int) { return t.rows, t.cols }

// fail records the step's first error.
func (b *Backend) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("mlx backend: "+format, args...)
	}
}

// ten unwraps an ops.Tensor of this backend's current step.
func (b *Backend) ten(x ops.Tensor) *tensor {
	t, ok := x.(*tensor)
	switch {
	case !ok || t == nil:
		b.fail("tensor %T does not belong to the mlx backend", x)
		return &tensor{id: -1, rows: 1, cols: 1}
	case t.step != b.step:
		b.fail("tensor from an earlier step used after Release")
	}
	return t
}

// record appends a node to the step and returns its tensor.
func (b *Backend) record(rows, cols, heads int, f func(g *graph) C.mlx_array) *tensor {
	if b.closed {
		b.fail("backend is closed")
	}
	if len(b.nodes) == 0 {
		b.begin = time.Now()
	}
	if b.err != nil {
		return &tensor{step: b.step, id: -1, rows: rows, cols: cols, heads: heads}
	}
	b.nodes = append(b.nodes, f)
	return &tensor{step: b.step, id: len(b.nodes) - 1, rows: rows, cols: cols, heads: heads}
}

// val is t's array while the step is built (MLX thread).
func (b *Backend) val(g *graph, t *tensor) C.mlx_array {
	if t.id < 0 || t.id >= len(b.vals) || isNull(b.vals[t.id]) {
		g.fail(errors.New("mlx backend: tensor used after its step was evaluated (Logits/Sync end a step's graph)"))
		return null()
	}
	return b.vals[t.id]
}

// as2D is t's value as [rows, cols].
func (b *Backend) as2D(g *graph, t *tensor) C.mlx_array {
	a := b.val(g, t)
	if t.heads == 0 {
		return a
	}
	return g.reshape(g.transpose(a, 0, 2, 1, 3), t.rows, t.cols)
}

// asHeads is t's value as [1, heads, rows, cols/heads].
func (b *Backend) asHeads(g *graph, t *tensor, heads int) C.mlx_array {
	a := b.val(g, t)
	if t.heads == heads {
		return a
	}
	if t.heads != 0 {
		a = b.as2D(g, t)
	}
	return g.transpose(g.reshape(a, 1, t.rows, heads, t.cols/heads), 0, 2, 1, 3)
}

// evaluate builds the recorded step on the MLX thread, evaluates out (may
// be null) together with every KV cache the step wrote, and hands the
// evaluated out to read. All of the step's arrays are then freed: a step's
// tensors cannot be used after Logits or Sync.
func (b *Backend) evaluate(out *tensor, read func(a C.mlx_array) error) error {
	return b.evaluateMode(out, nil, read)
}

// evaluateMode is evaluate; when outputs is set, the step's out (as
// float32 [1, n]) is handed to it on the MLX thread instead, the arrays it
// returns are evaluated asynchronously with the caches (the caller owns
// them: outputs must pin them), and read is not called.
func (b *Backend) evaluateMode(out *tensor, outputs func(g *graph, y C.mlx_array) []C.mlx_array, read func(a C.mlx_array) error) error {
	if b.err != nil {
		return b.err
	}
	if b.closed {
		return errors.New("mlx: backend is closed")
	}
	t0 := time.Now()
	if !b.begin.IsZero() {
		b.stats.Record += t0.Sub(b.begin)
		b.begin = time.Time{}
	}
	var stepErr error
	var tEval, tCopy time.Time
	err := b.run(func() {
		b.dropFiles() // loading is over once a step runs
		g := newGraph(b.l)
		defer g.free()
		b.vals = make([]C.mlx_array, len(b.nodes))
		for i, f := range b.nodes {
			if f == nil {
				g.fail(errors.New("mlx backend: internal error: placeholder tensor evaluated"))
				break
			}
			b.vals[i] = f(g)
			if g.err != nil {
				break
			}
		}
		var y C.mlx_array
		var extra []C.mlx_array // outputs' arrays, owned by the caller
		if outputs != nil && out != nil && g.err == nil {
			extra = outputs(g, g.astype(b.as2D(g, out), C.MLX_FLOAT32))
		} else if out != nil && g.err == nil {
			// Logits travel as float32, row-major.
			y = g.pin(g.contiguous(g.astype(b.as2D(g, out), C.MLX_FLOAT32)))
			defer func() {
				if !isNull(y) {
					C.mlx_array_free(y)
				}
			}()
		}
		// Drop every handle but the output's and the caches' before
		// evaluating, so MLX can free each intermediate as soon as its
		// consumers have run (the graph keeps what it still needs).
		for i := range b.vals {
			b.vals[i] = null()
		}
		g.free()
		b.stats.Ops += g.made
		list := []C.mlx_array{}
		if !isNull(y) {
			list = append(list, y)
		}
		if g.err == nil {
			list = append(list, extra...)
		}
		for _, c := range b.caches {
			list = append(list, c.live()...)
		}
		tEval = time.Now()
		if out == nil || outputs != nil {
			// Sync (a prefill chunk without logits): schedule it and
			// return, so the next chunk's graph is built while MLX
			// computes this one; the next eval waits for it.
			g.asyncEval(list...)
		} else {
			g.eval(list...)
		}
		tCopy = time.Now()
		if g.err == nil && read != nil {
			stepErr = read(y)
		}
		stepErr = errors.Join(g.err, stepErr)
	})
	t3 := time.Now()
	b.nodes = b.nodes[:0]
	b.caches = b.caches[:0]
	b.stats.Steps++
	if !tEval.IsZero() {
		b.stats.Build += tEval.Sub(t0)
		b.stats.Eval += tCopy.Sub(tEval)
		b.stats.Copy += t3.Sub(tCopy)
	}
	if err == nil {
		err = stepErr
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	return err
}

// Logits implements ops.Backend.
func (b *Backend) Logits(x ops.Tensor) ([]float32, error) {
	xt := b.ten(x)
	if b.err == nil && xt.rows != 1 {
		return nil, fmt.Errorf("mlx backend: logits of %d rows; want 1 (use LastRow)", xt.rows)
	}
	var out []float32
	err := b.evaluate(xt, func(a C.mlx_array) error {
		out = toHost(a)
		for i, v := range out {
			if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
				return fmt.Errorf("mlx backend: the model produced a non-finite logit (%v at index %d): the weights are likely corrupt (NaN/Inf) or overflow", v, i)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sync implements ops.Backend: the step is built (graph errors are
// returned here) and scheduled with mlx_async_eval; the next Logits waits
// for it.
func (b *Backend) Sync() error {
	return b.evaluate(nil, nil)
}

// Release implements ops.Backend. The step's arrays were freed when it was
// evaluated; a step that never was is dropped unbuilt.
func (b *Backend) Release() {
	b.nodes = b.nodes[:0]
	b.caches = b.caches[:0]
	b.vals = nil
	b.err = nil
	b.begin = time.Time{}
	b.step++
}
