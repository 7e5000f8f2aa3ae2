package mlx

// #include "bridge.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/impetus-llm/impetus/engine/ops"
)

// kvStep is the granularity of KV cache growth, in positions (as mlx-lm).
const kvStep = 256

// kvCache holds one sequence's keys and values per layer as MLX arrays
// [1, KVHeads, capacity, HeadDim], grown in steps of kvStep positions and
// written in place with slice updates. The arrays are pinned: they belong
// to the cache, not to a step, until Release.
type kvCache struct {
	b        *Backend
	spec     ops.KVSpec
	dt       C.mlx_dtype
	k, v     []C.mlx_array // per layer; null until first written
	cap      []int
	released bool
	inStep   uint64 // step (+1) that last listed the cache for evaluation
}

// NewKVCache implements ops.Backend. Storage is allocated as positions are
// written.
func (b *Backend) NewKVCache(s ops.KVSpec) (ops.KVCache, error) {
	if s.Layers <= 0 || s.KVHeads <= 0 || s.HeadDim <= 0 {
		return nil, fmt.Errorf("mlx backend: bad kv cache shape %+v", s)
	}
	c := &kvCache{b: b, spec: s, k: make([]C.mlx_array, s.Layers), v: make([]C.mlx_array, s.Layers), cap: make([]int, s.Layers)}
	if s.F16 {
		c.dt = C.MLX_FLOAT16
	}
	return c, nil
}

// Release implements ops.KVCache: the arrays are freed on the MLX thread
// by its next task.
func (c *kvCache) Release() {
	if c.released {
		return
	}
	c.released = true
	c.b.l.release(c.k...)
	c.b.l.release(c.v...)
	clear(c.k)
	clear(c.v)
}

// Bytes is the memory the cache's storage takes now.
func (c *kvCache) Bytes() int64 {
	var n int64
	for _, cp := range c.cap {
		n += 2 * int64(cp) * int64(c.spec.KVHeads*c.spec.HeadDim*elemSize(c.dt))
	}
	return n
}

// live lists the cache's current arrays (for evaluation with the step).
func (c *kvCache) live() []C.mlx_array {
	var out []C.mlx_array
	for i := range c.k {
		if !isNull(c.k[i]) {
			out = append(out, c.k[i], c.v[i])
		}
	}
	return out
}

// write stores kh, vh ([1, KVHeads, T, D]) at positions pos..pos+T-1 of
// layer and returns the cache arrays (MLX thread).
func (c *kvCache) write(g *graph, layer, pos int, kh, vh C.mlx_array) (C.mlx_array, C.mlx_array) {
	T := shape(kh)[2]
	end := pos + T
	H, D := c.spec.KVHeads, c.spec.HeadDim
	if c.cap[layer] < end {
		nc := (end + kvStep - 1) / kvStep * kvStep
		if c.spec.MaxLen > 0 && nc > c.spec.MaxLen {
			nc = max(end, c.spec.MaxLen)
		}
		for _, arr := range []*C.mlx_array{&c.k[layer], &c.v[layer]} {
			var grown C.mlx_array
			if isNull(*arr) {
				grown = g.zeros([]int{1, H, nc, D}, c.dt)
			} else {
				grown = g.concat(2, *arr, g.zeros([]int{1, H, nc - c.cap[layer], D}, c.dt))
			}
			if g.err != nil {
				return null(), null()
			}
			old := *arr
			*arr = g.pin(grown)
			if !isNull(old) {
				C.mlx_array_free(old)
			}
		}
		c.cap[layer] = nc
	}
	start, stop := []int{0, 0, pos, 0}, []int{1, H, end, D}
	for i, arr := range []*C.mlx_array{&c.k[layer], &c.v[layer]} {
		upd := kh
		if i == 1 {
			upd = vh
		}
		nu := g.sliceUpdate(*arr, g.astype(upd, c.dt), start, stop)
		if g.err != nil {
			return null(), null()
		}
		// The graph holds the old array until evaluation; our handle can go
		// now, which lets MLX update the buffer in place.
		old := *arr
		*arr = g.pin(nu)
		C.mlx_array_free(old)
	}
	return c.k[layer], c.v[layer]
}

// Attention implements ops.Backend: k and v are written into the cache at
// pos..pos+T-1, then q attends causally (within a.Window) over 0..pos+T-1
// with MLX's fused scaled_dot_product_attention (grouped-query natively).
func (b *Backend) Attention(q, k, v ops.Tensor, cache ops.KVCache, layer, pos int, a ops.Attn) ops.Tensor {
	qt, kt, vt := b.ten(q), b.ten(k), b.ten(v)
	T, D := qt.rows, a.HeadDim
	c, ok := cache.(*kvCache)
	switch {
	case !ok || c == nil || c.b != b:
		b.fail("attention: kv cache %T does not belong to this mlx backend", cache)
	case c.released:
		b.fail("attention: kv cache already released")
	default:
		if err := a.Check(c.spec, layer, pos, T, qt.cols, kt.rows, kt.cols, vt.rows, vt.cols); err != nil {
			b.fail("%v", err)
		}
	}
	if b.err == nil && c.inStep != b.step+1 {
		c.inStep = b.step + 1
		b.caches = append(b.caches, c)
	}
	return b.record(T, a.Heads*D, 0, func(g *graph) C.mlx_array {
		if isNull(c.k[layer]) && !c.dtSet() {
			c.dt = b.dt
		}
		qh := b.asHeads(g, qt, a.Heads)
		kc, vc := c.write(g, layer, pos, b.asHeads(g, kt, a.KVHeads), b.asHeads(g, vt, a.KVHeads))
		end := pos + T
		lo := 0
		if a.Window > 0 && pos-a.Window+1 > 0 {
			lo = pos - a.Window + 1 // the first query's oldest visible key
		}
		keys := g.slice(kc, []int{0, 0, lo, 0}, []int{1, a.KVHeads, end, D})
		vals := g.slice(vc, []int{0, 0, lo, 0}, []int{1, a.KVHeads, end, D})
		keys, vals = g.astype(keys, b.dt), g.astype(vals, b.dt)
		L := end - lo
		// A mask is needed when some query must skip keys in [lo, end):
		// later positions (causal, T > 1) or ones out of its window.
		windowed := a.Window > 0 && T > 1 && pos+T-1-a.Window+1 > lo
		var mask C.mlx_array
		if windowed || (a.SoftCap > 0 && T > 1) {
			m := make([]byte, T*L)
			for i := 0; i < T; i++ {
				p := pos + i
				for j := 0; j < L; j++ {
					kp := lo + j
					if kp <= p && (a.Window <= 0 || kp > p-a.Window) {
						m[i*L+j] = 1
					}
				}
			}
			mask = g.fromData(unsafe.Pointer(&m[0]), []int{T, L}, C.MLX_BOOL)
		}
		var o C.mlx_array
		if a.SoftCap > 0 {
			o = b.softcapAttention(g, qh, keys, vals, a, T, L, mask)
		} else {
			o = g.sdpa(qh, keys, vals, a.Scale, T > 1, mask)
		}
		// [1, H, T, D] → [T, H·D]
		return g.reshape(g.transpose(o, 0, 2, 1, 3), T, a.Heads*D)
	})
}

// dtSet reports whether the cache's element type was chosen (the zero
// value of mlx_dtype is MLX_BOOL, never a cache type).
func (c *kvCache) dtSet() bool { return c.dt != C.MLX_BOOL }

// softcapAttention is attention with Gemma 2's logit soft-capping, which the
// fused kernel lacks: scores = cap·tanh(q·kᵀ·scale / cap), in float32.
func (b *Backend) softcapAttention(g *graph, q, k, v C.mlx_array, a ops.Attn, T, L int, mask C.mlx_array) C.mlx_array {
	rep := a.Heads / a.KVHeads
	D := a.HeadDim
	f32 := C.mlx_dtype(C.MLX_FLOAT32)
	qg := g.reshape(g.astype(q, f32), 1, a.KVHeads, rep, T, D)
	kg := g.expandDims(g.astype(k, f32), 2) // [1, KVH, 1, L, D]
	vg := g.expandDims(g.astype(v, f32), 2)
	s := g.mul(g.matmul(qg, g.swapaxes(kg, -1, -2)), g.scalar(a.Scale/a.SoftCap, f32))
	s = g.mul(g.tanh(s), g.scalar(a.SoftCap, f32))
	if !isNull(mask) {
		s = g.where(mask, s, g.scalar(float32(-1e30), f32))
	}
	p := g.softmax(s, -1)
	o := g.matmul(p, vg) // [1, KVH, rep, T, D]
	return g.astype(g.reshape(o, 1, a.Heads, T, D), b.dt)
}
