package mlx

// #include "bridge.h"
import "C"

import (
	"math"
	"unsafe"

	"github.com/impetus-llm/impetus/engine/ops"
)

// Embed implements ops.Backend.
func (b *Backend) Embed(table ops.Linear, ids []int32) ops.Tensor {
	l, ok := table.(*linear)
	if !ok || l == nil {
		b.fail("embedding table %T does not belong to the mlx backend", table)
		return b.record(len(ids), 1, 0, nil)
	}
	if len(ids) == 0 {
		b.fail("embed: no token ids")
	}
	for _, id := range ids {
		if id < 0 || int(id) >= l.out {
			b.fail("token id %d out of range [0, %d)", id, l.out)
			break
		}
	}
	idc := append([]int32(nil), ids...)
	return b.record(len(ids), l.in, 0, func(g *graph) C.mlx_array {
		idx := g.fromData(unsafe.Pointer(&idc[0]), []int{len(idc)}, C.MLX_INT32)
		if l.bits == 0 {
			return g.take(l.w, idx, 0)
		}
		// Gather the packed rows with their scales and biases, then
		// dequantize only those rows (mlx-lm's QuantizedEmbedding).
		return g.dequantize(g.take(l.w, idx, 0), g.take(l.scales, idx, 0), g.take(l.biases, idx, 0), l.group, l.bits, b.dt)
	})
}

// RMSNorm implements ops.Backend.
func (b *Backend) RMSNorm(x ops.Tensor, w ops.Vector, eps float32) ops.Tensor {
	xt := b.ten(x)
	v, ok := w.(*vector)
	if !ok || v == nil {
		b.fail("norm weight %T does not belong to the mlx backend", w)
		return b.record(xt.rows, xt.cols, 0, nil)
	}
	if v.n == 0 || xt.cols%v.n != 0 {
		b.fail("rmsnorm: width %d is not a multiple of the weight's %d", xt.cols, v.n)
	}
	return b.record(xt.rows, xt.cols, 0, func(g *graph) C.mlx_array {
		a := b.as2D(g, xt)
		if v.n == xt.cols {
			return g.rmsNorm(a, v.a, eps)
		}
		// Per-head norm: normalize each v.n-wide chunk.
		y := g.rmsNorm(g.reshape(a, xt.rows, xt.cols/v.n, v.n), v.a, eps)
		return g.reshape(y, xt.rows, xt.cols)
	})
}

// Linear implements ops.Backend.
func (b *Backend) Linear(x ops.Tensor, w ops.Linear) ops.Tensor {
	xt := b.ten(x)
	l, ok := w.(*linear)
	if !ok || l == nil {
		b.fail("linear %T does not belong to the mlx backend", w)
		return b.record(xt.rows, 1, 0, nil)
	}
	if xt.cols != l.in {
		b.fail("linear %s: input width %d, weight expects %d", l.name, xt.cols, l.in)
	}
	return b.record(xt.rows, l.out, 0, func(g *graph) C.mlx_array {
		a := b.as2D(g, xt)
		var y C.mlx_array
		if l.bits == 0 {
			y = g.matmul(a, g.transpose(l.w, 1, 0))
		} else {
			y = g.qmatmul(a, l.w, l.scales, l.biases, l.group, l.bits)
		}
		if !isNull(l.bias) {
			y = g.add(y, l.bias)
		}
		return y
	})
}

// ropeFreqs returns r's frequencies as MLX wants them: periods 1/InvFreq,
// float32, cached per RoPE (MLX thread).
func (b *Backend) ropeFreqs(g *graph, r *ops.RoPE) C.mlx_array {
	if f, ok := b.freqs[r]; ok {
		return f
	}
	p := make([]float32, len(r.InvFreq))
	for i, f := range r.InvFreq {
		p[i] = float32(1 / f)
	}
	a := g.fromData(unsafe.Pointer(&p[0]), []int{len(p)}, C.MLX_FLOAT32)
	g.eval(a)
	if g.err != nil {
		return null()
	}
	b.freqs[r] = g.pin(a)
	return a
}

// RoPE implements ops.Backend. The result stays in the attention layout
// [1, heads, T, head_dim], which is what Attention consumes.
func (b *Backend) RoPE(x ops.Tensor, pos int, r *ops.RoPE) ops.Tensor {
	xt := b.ten(x)
	if r == nil || r.HeadDim <= 0 || xt.cols%r.HeadDim != 0 || r.Dims > r.HeadDim || len(r.InvFreq) != r.Dims/2 || r.Dims <= 0 {
		b.fail("rope: width %d does not fit rope %+v", xt.cols, r)
		return b.record(xt.rows, xt.cols, 0, nil)
	}
	heads := xt.cols / r.HeadDim
	scale := float32(r.PosScale)
	if r.PosScale == 0 {
		scale = 1
	}
	return b.record(xt.rows, xt.cols, heads, func(g *graph) C.mlx_array {
		return g.rope(b.asHeads(g, xt, heads), r.Dims, scale, pos, b.ropeFreqs(g, r))
	})
}

// Gate implements ops.Backend.
func (b *Backend) Gate(act ops.Act, gate, up ops.Tensor) ops.Tensor {
	gt, ut := b.ten(gate), b.ten(up)
	if gt.rows != ut.rows || gt.cols != ut.cols {
		b.fail("gate: shapes %dx%d and %dx%d differ", gt.rows, gt.cols, ut.rows, ut.cols)
	}
	if act != ops.SiLU && act != ops.GELUTanh {
		b.fail("gate: activation %v is not supported", act)
	}
	return b.record(gt.rows, gt.cols, 0, func(g *graph) C.mlx_array {
		x, u := b.as2D(g, gt), b.as2D(g, ut)
		switch act {
		case ops.SiLU:
			return g.mul(g.mul(x, g.sigmoid(x)), u)
		default:
			// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
			c := func(v float64) C.mlx_array { return g.scalar(float32(v), b.dt) }
			inner := g.mul(c(math.Sqrt(2/math.Pi)), g.add(x, g.mul(c(0.044715), g.mul(x, g.mul(x, x)))))
			gelu := g.mul(g.mul(c(0.5), x), g.add(c(1), g.tanh(inner)))
			return g.mul(gelu, u)
		}
	})
}

func (b *Backend) binary(op string, a, c ops.Tensor, f func(g *graph, x, y C.mlx_array) C.mlx_array) ops.Tensor {
	at, ct := b.ten(a), b.ten(c)
	if at.rows != ct.rows || at.cols != ct.cols {
		b.fail("%s: shapes %dx%d and %dx%d differ", op, at.rows, at.cols, ct.rows, ct.cols)
	}
	return b.record(at.rows, at.cols, 0, func(g *graph) C.mlx_array {
		return f(g, b.as2D(g, at), b.as2D(g, ct))
	})
}

// Add implements ops.Backend.
func (b *Backend) Add(a, c ops.Tensor) ops.Tensor {
	return b.binary("add", a, c, func(g *graph, x, y C.mlx_array) C.mlx_array { return g.add(x, y) })
}

// Mul implements ops.Backend.
func (b *Backend) Mul(a, c ops.Tensor) ops.Tensor {
	return b.binary("mul", a, c, func(g *graph, x, y C.mlx_array) C.mlx_array { return g.mul(x, y) })
}

// Scale implements ops.Backend.
func (b *Backend) Scale(x ops.Tensor, s float32) ops.Tensor {
	xt := b.ten(x)
	return b.record(xt.rows, xt.cols, 0, func(g *graph) C.mlx_array {
		return g.mul(b.as2D(g, xt), g.scalar(s, b.dt))
	})
}

// LastRow implements ops.Backend.
func (b *Backend) LastRow(x ops.Tensor) ops.Tensor {
	xt := b.ten(x)
	if xt.rows < 1 {
		b.fail("last row of an empty tensor")
	}
	return b.record(1, xt.cols, 0, func(g *graph) C.mlx_array {
		if xt.rows == 1 {
			return b.as2D(g, xt)
		}
		return g.slice(b.as2D(g, xt), []int{xt.rows - 1, 0}, []int{xt.rows, xt.cols})
	})
}

var _ ops.ColumnSlicer = (*Backend)(nil)

// Columns implements ops.ColumnSlicer (Phi-3's fused qkv_proj and
// gate_up_proj): a slice of the last axis, which MLX keeps as a view.
func (b *Backend) Columns(x ops.Tensor, from, to int) ops.Tensor {
	xt := b.ten(x)
	if from < 0 || to > xt.cols || from >= to {
		b.fail("columns [%d, %d) of a %d-wide tensor", from, to, xt.cols)
		return b.record(xt.rows, max(to-from, 1), 0, nil)
	}
	return b.record(xt.rows, to-from, 0, func(g *graph) C.mlx_array {
		return g.slice(b.as2D(g, xt), []int{0, from}, []int{xt.rows, to})
	})
}
