package cpu

import (
	"fmt"
	"math"

	"github.com/impetus-llm/impetus/engine/ops"
)

// kvCache stores keys and values in float32, per layer and KV head, each a
// contiguous [positions × head_dim] run so attention reads it linearly.
type kvCache struct {
	spec ops.KVSpec
	cap  int
	k, v [][]float32 // [layer*KVHeads + head]
}

func (c *kvCache) Release() { c.k, c.v, c.cap = nil, nil, 0 }

// Bytes is the memory the cache holds now.
func (c *kvCache) Bytes() int { return 2 * 4 * c.cap * c.spec.HeadDim * len(c.k) }

func (c *kvCache) ensure(n int) {
	if n <= c.cap {
		return
	}
	nc := max(n, 2*c.cap, 256)
	if c.spec.MaxLen > 0 {
		nc = min(nc, c.spec.MaxLen)
	}
	D := c.spec.HeadDim
	for i := range c.k {
		k := make([]float32, nc*D)
		copy(k, c.k[i])
		c.k[i] = k
		v := make([]float32, nc*D)
		copy(v, c.v[i])
		c.v[i] = v
	}
	c.cap = nc
}

// NewKVCache implements ops.Backend.
func (b *Backend) NewKVCache(s ops.KVSpec) (ops.KVCache, error) {
	if s.Layers <= 0 || s.KVHeads <= 0 || s.HeadDim <= 0 {
		return nil, fmt.Errorf("cpu backend: bad kv cache shape %+v", s)
	}
	if s.F16 {
		return nil, fmt.Errorf("cpu backend: float16 kv cache is not supported yet; use float32")
	}
	n := s.Layers * s.KVHeads
	return &kvCache{spec: s, k: make([][]float32, n), v: make([][]float32, n)}, nil
}

// Attention implements ops.Backend.
func (b *Backend) Attention(q, k, v ops.Tensor, cache ops.KVCache, layer, pos int, a ops.Attn) ops.Tensor {
	qt, kt, vt := b.ten(q), b.ten(k), b.ten(v)
	T, D := qt.rows, a.HeadDim
	y := b.arena.tensor(T, a.Heads*D)
	c, ok := cache.(*kvCache)
	switch {
	case !ok || c == nil:
		b.fail("attention: kv cache %T does not belong to the cpu backend", cache)
	case c.k == nil:
		b.fail("attention: kv cache already released")
	default:
		if err := a.Check(c.spec, layer, pos, T, qt.cols, kt.rows, kt.cols, vt.rows, vt.cols); err != nil {
			b.fail("%v", err)
		}
	}
	if b.err != nil {
		return y
	}
	c.ensure(pos + T)
	base := layer * a.KVHeads
	for h := 0; h < a.KVHeads; h++ {
		kc, vc := c.k[base+h], c.v[base+h]
		for t := 0; t < T; t++ {
			copy(kc[(pos+t)*D:(pos+t+1)*D], kt.data[t*kt.cols+h*D:t*kt.cols+(h+1)*D])
			copy(vc[(pos+t)*D:(pos+t+1)*D], vt.data[t*vt.cols+h*D:t*vt.cols+(h+1)*D])
		}
	}
	group := a.Heads / a.KVHeads
	need := pos + T
	body := func(wk, lo, hi int) {
		scores := b.scratch[wk]
		if cap(scores) < need {
			scores = make([]float32, need)
			b.scratch[wk] = scores
		}
		for i := lo; i < hi; i++ {
			h, t := i%a.Heads, i/a.Heads
			p := pos + t
			start := 0
			if a.Window > 0 && p-a.Window+1 > 0 {
				start = p - a.Window + 1
			}
			kc, vc := c.k[base+h/group], c.v[base+h/group]
			qv := qt.data[t*qt.cols+h*D : t*qt.cols+(h+1)*D]
			sc := scores[:p+1-start]
			mx := float32(math.Inf(-1))
			for j := range sc {
				s := dotF32(qv, kc[(start+j)*D:(start+j+1)*D]) * a.Scale
				if a.SoftCap > 0 {
					s = a.SoftCap * float32(math.Tanh(float64(s/a.SoftCap)))
				}
				sc[j] = s
				mx = max(mx, s)
			}
			var sum float32
			for j, s := range sc {
				e := float32(math.Exp(float64(s - mx)))
				sc[j] = e
				sum += e
			}
			out := y.data[t*y.cols+h*D : t*y.cols+(h+1)*D]
			clear(out)
			inv := 1 / sum
			for j, e := range sc {
				axpy(e*inv, vc[(start+j)*D:(start+j+1)*D], out)
			}
		}
	}
	if work := a.Heads * T * need * D; work < 1<<16 {
		body(0, 0, a.Heads*T) // short context: cheaper than a fork-join
	} else {
		b.pool.parallel(a.Heads*T, 1, body)
	}
	return y
}
