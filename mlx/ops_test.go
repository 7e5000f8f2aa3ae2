package mlx

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/engine/ops"
)

// Op-level tests: each backend op against a float64 reference written here.

func newTestBackend(t *testing.T, dtype string) *Backend {
	t.Helper()
	needLib(t)
	b, err := New(Options{DType: dtype})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// readAll evaluates t and returns all its values (any number of rows).
func readAll(t *testing.T, b *Backend, x ops.Tensor) []float32 {
	t.Helper()
	var out []float32
	if err := b.evaluate(b.ten(x), func(a cArray) error { out = toHost(a); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func randVec(r *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = (r.Float64()*2 - 1) * scale
	}
	return v
}

func f32Raw(name string, shape []int, v []float64) *ops.Raw {
	data := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(f)))
	}
	return &ops.Raw{Name: name, DType: ops.F32, Shape: shape, Data: data}
}

// bf16Raw rounds v to bfloat16 (in place) and stores it.
func bf16Raw(name string, shape []int, v []float64) *ops.Raw {
	data := make([]byte, 2*len(v))
	for i, f := range v {
		bits := math.Float32bits(float32(f))
		bits += 0x7fff + (bits>>16)&1 // round to nearest even
		h := uint16(bits >> 16)
		binary.LittleEndian.PutUint16(data[2*i:], h)
		v[i] = float64(math.Float32frombits(uint32(h) << 16))
	}
	return &ops.Raw{Name: name, DType: ops.BF16, Shape: shape, Data: data}
}

// quantize packs w [out, in] MLX-affine style and returns the spec and the
// dequantized values (what the backend must compute with).
func quantize(name string, w []float64, out, in, bits, group int) (ops.LinearSpec, []float64) {
	words := in * bits / 32
	packed := make([]uint32, out*words)
	scales := make([]float64, out*in/group)
	biases := make([]float64, out*in/group)
	deq := make([]float64, len(w))
	maxq := float64(int(1)<<bits - 1)
	for o := 0; o < out; o++ {
		for gi := 0; gi < in/group; gi++ {
			lo, hi := math.Inf(1), math.Inf(-1)
			for i := gi * group; i < (gi+1)*group; i++ {
				lo, hi = math.Min(lo, w[o*in+i]), math.Max(hi, w[o*in+i])
			}
			s := float64(float32((hi - lo) / maxq))
			bias := float64(float32(lo))
			scales[o*in/group+gi], biases[o*in/group+gi] = s, bias
			for i := gi * group; i < (gi+1)*group; i++ {
				q := math.Round((w[o*in+i] - bias) / s)
				q = math.Max(0, math.Min(maxq, q))
				deq[o*in+i] = s*q + bias
				bit := i * bits // the row's bit stream, element 0 lowest
				for k := 0; k < bits; k++ {
					if uint64(q)>>k&1 != 0 {
						packed[o*words+(bit+k)/32] |= 1 << ((bit + k) % 32)
					}
				}
			}
		}
	}
	data := make([]byte, 4*len(packed))
	for i, p := range packed {
		binary.LittleEndian.PutUint32(data[4*i:], p)
	}
	return ops.LinearSpec{
		Weight: &ops.Raw{Name: name + ".weight", DType: ops.U32, Shape: []int{out, words}, Data: data},
		Scales: f32Raw(name+".scales", []int{out, in / group}, scales),
		Biases: f32Raw(name+".biases", []int{out, in / group}, biases),
		Quant:  &ops.Quant{Bits: bits, GroupSize: group},
	}, deq
}

// input loads x [rows, cols] into the backend as a step tensor (through an
// identity embedding-free path: a dense Linear by the identity matrix).
func input(t *testing.T, b *Backend, x []float64, rows, cols int) ops.Tensor {
	t.Helper()
	tbl, err := b.LoadLinear(ops.LinearSpec{Weight: f32Raw("input", []int{rows, cols}, x)})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(i)
	}
	return b.Embed(tbl, ids)
}

func relErr(got []float32, want []float64) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func expectClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if e := relErr(got, want); e > tol || math.IsNaN(e) {
		t.Fatalf("%s: relative L2 error %.3g > %.3g (got[:4]=%v want[:4]=%v)", what, e, tol, got[:min(4, len(got))], want[:min(4, len(want))])
	}
}

func refLinear(x []float64, rows, in int, w []float64, out int, bias []float64) []float64 {
	y := make([]float64, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			var s float64
			for i := 0; i < in; i++ {
				s += x[r*in+i] * w[o*in+i]
			}
			if bias != nil {
				s += bias[o]
			}
			y[r*out+o] = s
		}
	}
	return y
}

func TestOpsLinear(t *testing.T) {
	b := newTestBackend(t, "f32")
	r := rand.New(rand.NewPCG(1, 2))
	const rows, in, out = 3, 128, 96
	x := randVec(r, rows*in, 1)
	w := randVec(r, out*in, 0.2)
	bias := randVec(r, out, 0.5)

	dense, err := b.LoadLinear(ops.LinearSpec{Weight: f32Raw("d.weight", []int{out, in}, w), Bias: f32Raw("d.bias", []int{out}, bias)})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, b, b.Linear(input(t, b, x, rows, in), dense))
	expectClose(t, "dense f32 + bias", got, refLinear(x, rows, in, w, out, bias), 1e-5)
	b.Release()

	wb := append([]float64(nil), w...)
	bf, err := b.LoadLinear(ops.LinearSpec{Weight: bf16Raw("bf.weight", []int{out, in}, wb)})
	if err != nil {
		t.Fatal(err)
	}
	got = readAll(t, b, b.Linear(input(t, b, x, rows, in), bf))
	expectClose(t, "dense bf16", got, refLinear(x, rows, in, wb, out, nil), 1e-5)
	b.Release()

	for _, q := range []struct{ bits, group int }{{4, 32}, {4, 64}, {8, 64}, {3, 64}, {6, 128}, {2, 32}, {5, 32}} {
		spec, deq := quantize("q", w, out, in, q.bits, q.group)
		spec.Bias = f32Raw("q.bias", []int{out}, bias)
		l, err := b.LoadLinear(spec)
		if err != nil {
			t.Fatalf("%d-bit g%d: %v", q.bits, q.group, err)
		}
		if o, i := l.Dims(); o != out || i != in {
			t.Fatalf("dims %d,%d", o, i)
		}
		got := readAll(t, b, b.Linear(input(t, b, x, rows, in), l))
		expectClose(t, "quantized matmul", got, refLinear(x, rows, in, deq, out, bias), 1e-5)
		b.Release()

		// The same table as an embedding: dequantize + take.
		ids := []int32{5, 0, 95, 5}
		emb := readAll(t, b, b.Embed(l, ids))
		var want []float64
		for _, id := range ids {
			want = append(want, deq[int(id)*in:(int(id)+1)*in]...)
		}
		expectClose(t, "quantized embedding", emb, want, 1e-6)
		b.Release()
	}
}

func TestOpsNormRopeGate(t *testing.T) {
	b := newTestBackend(t, "f32")
	r := rand.New(rand.NewPCG(3, 4))
	const rows, heads, D = 4, 3, 16
	cols := heads * D
	x := randVec(r, rows*cols, 2)
	wFull := randVec(r, cols, 1)
	wHead := randVec(r, D, 1)
	const eps = 1e-5
	refRMS := func(w []float64) []float64 {
		n := len(w)
		y := make([]float64, len(x))
		for i := 0; i < len(x); i += n {
			var ss float64
			for _, v := range x[i : i+n] {
				ss += v * v
			}
			inv := 1 / math.Sqrt(ss/float64(n)+eps)
			for j := 0; j < n; j++ {
				y[i+j] = x[i+j] * inv * w[j]
			}
		}
		return y
	}
	for _, w := range [][]float64{wFull, wHead} {
		v, err := b.LoadVector(f32Raw("norm", []int{len(w)}, w), false)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, b, b.RMSNorm(input(t, b, x, rows, cols), v, eps))
		expectClose(t, "rmsnorm", got, refRMS(w), 1e-5)
		b.Release()
	}
	// Gemma's (1 + w) scale.
	v1, err := b.LoadVector(f32Raw("norm1", []int{cols}, wFull), true)
	if err != nil {
		t.Fatal(err)
	}
	w1 := make([]float64, cols)
	for i := range w1 {
		w1[i] = 1 + wFull[i]
	}
	expectClose(t, "rmsnorm 1+w", readAll(t, b, b.RMSNorm(input(t, b, x, rows, cols), v1, eps)), refRMS(w1), 1e-5)
	b.Release()

	for _, sc := range []*ops.RopeScaling{nil, {Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64}, {Type: "linear", Factor: 2}} {
		rp, err := ops.NewRoPE(D, 10000, sc)
		if err != nil {
			t.Fatal(err)
		}
		const pos = 37
		want := append([]float64(nil), x...)
		half := D / 2
		for t := 0; t < rows; t++ {
			for h := 0; h < heads; h++ {
				base := t*cols + h*D
				for i := 0; i < half; i++ {
					ang := float64(pos+t) * rp.PosScale * rp.InvFreq[i]
					s, c := math.Sincos(ang)
					a, bb := x[base+i], x[base+i+half]
					want[base+i] = a*c - bb*s
					want[base+i+half] = bb*c + a*s
				}
			}
		}
		got := readAll(t, b, b.RoPE(input(t, b, x, rows, cols), pos, rp))
		expectClose(t, "rope", got, want, 1e-5)
		b.Release()
	}

	g := randVec(r, rows*cols, 3)
	u := randVec(r, rows*cols, 1)
	for _, act := range []ops.Act{ops.SiLU, ops.GELUTanh} {
		want := make([]float64, len(g))
		for i, v := range g {
			if act == ops.SiLU {
				want[i] = v / (1 + math.Exp(-v)) * u[i]
			} else {
				want[i] = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))) * u[i]
			}
		}
		got := readAll(t, b, b.Gate(act, input(t, b, g, rows, cols), input(t, b, u, rows, cols)))
		expectClose(t, act.String(), got, want, 1e-5)
		b.Release()
	}

	// Add, Mul, Scale, LastRow.
	xa, xb := input(t, b, g, rows, cols), input(t, b, u, rows, cols)
	got := readAll(t, b, b.LastRow(b.Scale(b.Add(b.Mul(xa, xb), xa), 0.5)))
	want := make([]float64, cols)
	for j := range want {
		i := (rows-1)*cols + j
		want[j] = 0.5 * (g[i]*u[i] + g[i])
	}
	expectClose(t, "add/mul/scale/lastrow", got, want, 1e-6)
	b.Release()
}

// refAttention: causal attention of rows at pos.. over keys 0..pos+T-1.
func refAttention(q, keys, vals []float64, T, pos, H, KVH, D int, a ops.Attn) []float64 {
	out := make([]float64, T*H*D)
	for t := 0; t < T; t++ {
		p := pos + t
		for h := 0; h < H; h++ {
			kh := h / (H / KVH)
			var sc []float64
			var idx []int
			for j := 0; j <= p; j++ {
				if a.Window > 0 && j <= p-a.Window {
					continue
				}
				var s float64
				for d := 0; d < D; d++ {
					s += q[t*H*D+h*D+d] * keys[j*KVH*D+kh*D+d]
				}
				s *= float64(a.Scale)
				if a.SoftCap > 0 {
					s = float64(a.SoftCap) * math.Tanh(s/float64(a.SoftCap))
				}
				sc = append(sc, s)
				idx = append(idx, j)
			}
			mx := math.Inf(-1)
			for _, s := range sc {
				mx = math.Max(mx, s)
			}
			var sum float64
			for i := range sc {
				sc[i] = math.Exp(sc[i] - mx)
				sum += sc[i]
			}
			for i, j := range idx {
				for d := 0; d < D; d++ {
					out[t*H*D+h*D+d] += sc[i] / sum * vals[j*KVH*D+kh*D+d]
				}
			}
		}
	}
	return out
}

func TestOpsAttention(t *testing.T) {
	const H, KVH, D = 4, 2, 16
	for _, a := range []ops.Attn{
		{Heads: H, KVHeads: KVH, HeadDim: D, Scale: 0.25},
		{Heads: H, KVHeads: KVH, HeadDim: D, Scale: 0.25, Window: 5},
		{Heads: H, KVHeads: KVH, HeadDim: D, Scale: 0.25, SoftCap: 2},
		{Heads: H, KVHeads: KVH, HeadDim: D, Scale: 0.25, SoftCap: 2, Window: 3},
	} {
		b := newTestBackend(t, "f32")
		r := rand.New(rand.NewPCG(5, 6))
		kv, err := b.NewKVCache(ops.KVSpec{Layers: 2, KVHeads: KVH, HeadDim: D, MaxLen: 1024})
		if err != nil {
			t.Fatal(err)
		}
		var allK, allV []float64
		pos := 0
		// Prefill 7, then 3 more, then single tokens across the 256
		// boundary of the cache's growth.
		for _, T := range []int{7, 3} {
			q := randVec(r, T*H*D, 1)
			k := randVec(r, T*KVH*D, 1)
			v := randVec(r, T*KVH*D, 1)
			allK, allV = append(allK, k...), append(allV, v...)
			got := readAll(t, b, b.Attention(input(t, b, q, T, H*D), input(t, b, k, T, KVH*D), input(t, b, v, T, KVH*D), kv, 1, pos, a))
			expectClose(t, "attention "+attnName(a), got, refAttention(q, allK, allV, T, pos, H, KVH, D, a), 1e-5)
			b.Release()
			pos += T
		}
		for pos < 262 {
			q := randVec(r, H*D, 1)
			k := randVec(r, KVH*D, 1)
			v := randVec(r, KVH*D, 1)
			allK, allV = append(allK, k...), append(allV, v...)
			o := b.Attention(input(t, b, q, 1, H*D), input(t, b, k, 1, KVH*D), input(t, b, v, 1, KVH*D), kv, 1, pos, a)
			if pos%50 == 0 || pos > 250 {
				got := readAll(t, b, o)
				expectClose(t, "decode attention "+attnName(a), got, refAttention(q, allK, allV, 1, pos, H, KVH, D, a), 1e-5)
			} else if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			b.Release()
			pos++
		}
		if c := kv.(*kvCache); c.cap[1] != 512 || c.cap[0] != 0 {
			t.Fatalf("cache capacity %v after %d positions; want [0 512] (steps of 256)", c.cap, pos)
		}
		kv.Release()
	}
}

func attnName(a ops.Attn) string {
	var s []string
	if a.Window > 0 {
		s = append(s, "window")
	}
	if a.SoftCap > 0 {
		s = append(s, "softcap")
	}
	return strings.Join(s, "+")
}

func TestOpsErrors(t *testing.T) {
	b := newTestBackend(t, "f32")
	l, err := b.LoadLinear(ops.LinearSpec{Weight: f32Raw("w", []int{8, 16}, make([]float64, 128))})
	if err != nil {
		t.Fatal(err)
	}
	x := input(t, b, make([]float64, 2*8), 2, 8)
	y := b.Linear(x, l) // 8 columns into a 16-wide weight
	if _, err := b.Logits(b.LastRow(y)); err == nil || !strings.Contains(err.Error(), "input width 8") {
		t.Fatalf("width mismatch: got %v", err)
	}
	b.Release()

	// A tensor of a released step.
	x = input(t, b, make([]float64, 16), 1, 16)
	b.Release()
	if _, err := b.Logits(b.Linear(x, l)); err == nil || !strings.Contains(err.Error(), "earlier step") {
		t.Fatalf("stale tensor: got %v", err)
	}
	b.Release()

	// The backend still works.
	x = input(t, b, make([]float64, 16), 1, 16)
	if got, err := b.Logits(b.Linear(x, l)); err != nil || len(got) != 8 {
		t.Fatalf("after errors: %v %v", got, err)
	}
	b.Release()

	// Bad weights are load errors naming the tensor.
	if _, err := b.LoadLinear(ops.LinearSpec{Weight: f32Raw("bad.weight", []int{8, 16}, make([]float64, 100))}); err == nil || !strings.Contains(err.Error(), "bad.weight") {
		t.Fatalf("short data: %v", err)
	}
	spec, _ := quantize("q", make([]float64, 8*64), 8, 64, 4, 64)
	spec.Quant.GroupSize = 48
	if _, err := b.LoadLinear(spec); err == nil || !strings.Contains(err.Error(), "group size 48") {
		t.Fatalf("bad group: %v", err)
	}
}
