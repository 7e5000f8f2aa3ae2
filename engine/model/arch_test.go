package model_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/engine/cpu"
	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/safetensors"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// ref64 is a deliberately plain float64 forward pass written from the
// Hugging Face model definitions, independent of engine/ops and engine/cpu:
// it recomputes the whole sequence each call, no cache, simple loops.
type ref64 struct {
	c   *modelfile.Config
	set *safetensors.Set
	t   *testing.T
}

func (r *ref64) floats(name string) []float64 {
	tn, ok := r.set.Tensor(name)
	if !ok {
		r.t.Fatalf("reference: tensor %s missing", name)
	}
	out := make([]float64, tn.NumElements())
	for i := range out {
		switch tn.DType {
		case safetensors.F32:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(tn.Data[4*i:])))
		case safetensors.BF16:
			out[i] = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(tn.Data[2*i:])) << 16))
		case safetensors.F16:
			out[i] = float64(safetensors.F16ToFloat32(binary.LittleEndian.Uint16(tn.Data[2*i:])))
		default:
			r.t.Fatalf("reference: %s has dtype %s", name, tn.DType)
		}
	}
	return out
}

// matrix returns prefix's weight as [out][in] float64, dequantizing MLX
// packing bit by bit.
func (r *ref64) matrix(prefix string, out, in int) [][]float64 {
	w := make([][]float64, out)
	if _, q := r.set.Tensor(prefix + ".scales"); q {
		qt := r.c.QuantizationFor(prefix)
		tn, _ := r.set.Tensor(prefix + ".weight")
		sc, bi := r.floats(prefix+".scales"), r.floats(prefix+".biases")
		words := tn.Data
		rowWords := in * qt.Bits / 32
		ng := in / qt.GroupSize
		for o := range w {
			w[o] = make([]float64, in)
			for i := 0; i < in; i++ {
				var q uint32
				for k := 0; k < qt.Bits; k++ {
					bit := i*qt.Bits + k
					word := binary.LittleEndian.Uint32(words[4*(o*rowWords+bit/32):])
					q |= (word >> (bit % 32) & 1) << k
				}
				g := o*ng + i/qt.GroupSize
				w[o][i] = sc[g]*float64(q) + bi[g]
			}
		}
		return w
	}
	f := r.floats(prefix + ".weight")
	for o := range w {
		w[o] = f[o*in : (o+1)*in]
	}
	return w
}

func (r *ref64) has(name string) bool { _, ok := r.set.Tensor(name); return ok }

func matvec(w [][]float64, x []float64, bias []float64) []float64 {
	y := make([]float64, len(w))
	for o, row := range w {
		for i, v := range row {
			y[o] += v * x[i]
		}
		if bias != nil {
			y[o] += bias[o]
		}
	}
	return y
}

func (r *ref64) rms(x, w []float64, gemma bool) []float64 {
	n := len(w)
	y := make([]float64, len(x))
	for s := 0; s < len(x); s += n {
		var ss float64
		for _, v := range x[s : s+n] {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(n)+r.c.RMSNormEps)
		for j := 0; j < n; j++ {
			sc := w[j]
			if gemma {
				sc = 1 + w[j]
			}
			y[s+j] = x[s+j] * inv * sc
		}
	}
	return y
}

func rope(x []float64, pos int, D int, theta float64) {
	half := D / 2
	for h := 0; h < len(x); h += D {
		for i := 0; i < half; i++ {
			ang := float64(pos) / math.Pow(theta, float64(2*i)/float64(D))
			c, s := math.Cos(ang), math.Sin(ang)
			a, b := x[h+i], x[h+i+half]
			x[h+i] = a*c - b*s
			x[h+i+half] = b*c + a*s
		}
	}
}

func (r *ref64) raw(key string) (float64, bool) {
	v, ok := r.c.Raw[key]
	if !ok || v == nil {
		return 0, false
	}
	f, err := v.(interface{ Float64() (float64, error) }).Float64()
	return f, err == nil
}

// logits returns the logits at each of the last n positions of tokens.
func (r *ref64) logits(tokens []int32, n int) [][]float64 {
	c := r.c
	H, I, D := c.HiddenSize, c.IntermediateSize, c.HeadDim
	nh, nkv := c.NumAttentionHeads, c.NumKeyValueHeads
	gemma := strings.HasPrefix(c.ModelType, "gemma")
	sandwich := c.ModelType == "gemma2" || c.ModelType == "gemma3_text"
	qkNorm := c.ModelType == "qwen3" || c.ModelType == "gemma3_text"
	T := len(tokens)
	emb := r.matrix("model.embed_tokens", c.VocabSize, H)
	x := make([][]float64, T)
	for t, id := range tokens {
		x[t] = append([]float64(nil), emb[id]...)
		if gemma {
			for i := range x[t] {
				x[t][i] *= math.Sqrt(float64(H))
			}
		}
	}
	scale := 1 / math.Sqrt(float64(D))
	if s, ok := r.raw("query_pre_attn_scalar"); ok {
		scale = 1 / math.Sqrt(s)
	}
	softcap, _ := r.raw("attn_logit_softcapping")
	theta := c.RopeTheta
	if c.ModelType == "gemma3_text" {
		theta = 10000 // rope_local_base_freq: every layer of a 2-layer gemma3 is local
	}
	act := func(v float64) float64 {
		if gemma {
			return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		}
		return v / (1 + math.Exp(-v))
	}
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		vec := func(n string) []float64 { return r.floats(p + n) }
		var bq, bk, bv []float64
		if r.has(p + "self_attn.q_proj.bias") {
			bq, bk, bv = vec("self_attn.q_proj.bias"), vec("self_attn.k_proj.bias"), vec("self_attn.v_proj.bias")
		}
		var Wq, Wk, Wv, Wg, Wu [][]float64
		if c.ModelType == "phi3" {
			qkv := r.matrix(p+"self_attn.qkv_proj", (nh+2*nkv)*D, H)
			Wq, Wk, Wv = qkv[:nh*D], qkv[nh*D:(nh+nkv)*D], qkv[(nh+nkv)*D:]
			gu := r.matrix(p+"mlp.gate_up_proj", 2*I, H)
			Wg, Wu = gu[:I], gu[I:]
		} else {
			Wq, Wk, Wv = r.matrix(p+"self_attn.q_proj", nh*D, H), r.matrix(p+"self_attn.k_proj", nkv*D, H), r.matrix(p+"self_attn.v_proj", nkv*D, H)
			Wg, Wu = r.matrix(p+"mlp.gate_proj", I, H), r.matrix(p+"mlp.up_proj", I, H)
		}
		Wo := r.matrix(p+"self_attn.o_proj", H, nh*D)
		Wd := r.matrix(p+"mlp.down_proj", H, I)
		qs, ks, vs := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for t := range x {
			h := r.rms(x[t], vec("input_layernorm.weight"), gemma)
			qs[t], ks[t], vs[t] = matvec(Wq, h, bq), matvec(Wk, h, bk), matvec(Wv, h, bv)
			if qkNorm {
				qs[t] = r.rms(qs[t], vec("self_attn.q_norm.weight"), gemma)
				ks[t] = r.rms(ks[t], vec("self_attn.k_norm.weight"), gemma)
			}
			rope(qs[t], t, D, theta)
			rope(ks[t], t, D, theta)
		}
		for t := range x {
			att := make([]float64, nh*D)
			for h := 0; h < nh; h++ {
				kh := h / (nh / nkv)
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := 0; j <= t; j++ {
					var s float64
					for d := 0; d < D; d++ {
						s += qs[t][h*D+d] * ks[j][kh*D+d]
					}
					s *= scale
					if softcap > 0 {
						s = softcap * math.Tanh(s/softcap)
					}
					sc[j] = s
					mx = math.Max(mx, s)
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for d := 0; d < D; d++ {
						att[h*D+d] += sc[j] / sum * vs[j][kh*D+d]
					}
				}
			}
			o := matvec(Wo, att, nil)
			if sandwich {
				o = r.rms(o, vec("post_attention_layernorm.weight"), gemma)
			}
			for i := range o {
				x[t][i] += o[i]
			}
			var h []float64
			if sandwich {
				h = r.rms(x[t], vec("pre_feedforward_layernorm.weight"), gemma)
			} else {
				h = r.rms(x[t], vec("post_attention_layernorm.weight"), gemma)
			}
			g, u := matvec(Wg, h, nil), matvec(Wu, h, nil)
			for i := range g {
				g[i] = act(g[i]) * u[i]
			}
			f := matvec(Wd, g, nil)
			if sandwich {
				f = r.rms(f, vec("post_feedforward_layernorm.weight"), gemma)
			}
			for i := range f {
				x[t][i] += f[i]
			}
		}
	}
	head := "lm_head"
	if !r.has("lm_head.weight") {
		head = "model.embed_tokens"
	}
	W := r.matrix(head, c.VocabSize, H)
	fc, _ := r.raw("final_logit_softcapping")
	var out [][]float64
	for t := T - n; t < T; t++ {
		logits := matvec(W, r.rms(x[t], r.floats("model.norm.weight"), gemma), nil)
		if fc > 0 {
			for i, v := range logits {
				logits[i] = fc * math.Tanh(v/fc)
			}
		}
		out = append(out, logits)
	}
	return out
}

func relL264(got []float32, want []float64) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	return math.Sqrt(num / den)
}

// TestArchitecturesMatchFloat64Reference runs every architecture × {f32,
// bf16, f16, 4-bit, 8-bit} test model through the CPU backend (prefill, then
// cached decode steps) and compares every step's logits with ref64.
func TestArchitecturesMatchFloat64Reference(t *testing.T) {
	type variant struct {
		dtype string
		bits  int
		group int
	}
	variants := []variant{{"f32", 0, 0}, {"bf16", 0, 0}, {"f16", 0, 0}, {"bf16", 4, 64}, {"f16", 8, 64}, {"f32", 4, 32}, {"bf16", 3, 32}, {"f32", 6, 64}}
	for _, arch := range testmodel.Archs {
		for _, v := range variants {
			name := fmt.Sprintf("%s-%s-q%d", arch, v.dtype, v.bits)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				spec := testmodel.Tiny(arch, v.dtype, v.bits)
				spec.Vocab = 512 // keep the float64 reference quick; the tokenizer is irrelevant here
				if v.group > 0 {
					spec.GroupSize = v.group
				}
				spec.Untied = arch == "llama" || arch == "qwen3"
				dir := t.TempDir()
				if err := testmodel.Write(dir, spec); err != nil {
					t.Fatal(err)
				}
				d, err := modelfile.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				set, err := d.OpenWeights()
				if err != nil {
					t.Fatal(err)
				}
				defer set.Close()
				ref := &ref64{c: d.Config, set: set, t: t}
				be := cpu.New(2)
				defer be.Close()
				m, err := model.Load(d, be)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				c := m.NewCache()
				defer c.Release()
				prompt := []int32{1, 17, 300, 42, 5, 99, 411}
				next := []int32{7, 138, 269}
				all := append(append([]int32(nil), prompt...), next...)
				want := ref.logits(all, len(next)+1)
				got, err := m.Forward(context.Background(), c, prompt)
				for step := 0; ; step++ {
					if err != nil {
						t.Fatal(err)
					}
					if e := relL264(got, want[step]); e >= 1e-4 || math.IsNaN(e) {
						t.Fatalf("step %d: logits relative L2 error %.3g >= 1e-4", step, e)
					}
					if step == len(next) {
						break
					}
					got, err = m.Forward(context.Background(), c, next[step:step+1])
				}
			})
		}
	}
}
