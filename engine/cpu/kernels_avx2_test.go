//go:build amd64 && !purego

package cpu

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// withAVX2 runs f with the AVX-512 kernels switched off, so AVX-512
// machines test the AVX2 kernels too.
func withAVX2(t *testing.T, f func(t *testing.T)) {
	if !haveAVX2 {
		t.Skip("CPU has no AVX2+FMA+F16C")
	}
	saved := use512
	use512 = false
	defer func() { use512 = saved }()
	f(t)
}

func TestAVX2Kernels(t *testing.T) {
	withAVX2(t, func(t *testing.T) {
		t.Run("dot-axpy", TestDotAxpyMatchPortable)
		t.Run("quant", TestFloatQuantKernelsMatchPortable)
		t.Run("dense", TestDenseKernelsMatchPortable)
		t.Run("gate", TestGateMatchesPortable)
	})
}

// TestAVX2ModelMatchesPortable runs whole test models (4-bit, 8-bit, bf16)
// with the AVX2 kernels and with the portable path: logits must agree.
func TestAVX2ModelMatchesPortable(t *testing.T) {
	if _, err := testmodel.DefaultTokenizerDir(); err != nil {
		t.Skip(err)
	}
	withAVX2(t, func(t *testing.T) {
		for _, spec := range []testmodel.Spec{testmodel.Tiny("qwen2", "bf16", 4), testmodel.Tiny("llama", "f16", 8), testmodel.Tiny("qwen3", "bf16", 0)} {
			spec.Vocab = 1000
			dir := t.TempDir()
			if err := testmodel.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			d, err := modelfile.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			var logits [2][]float32
			for i, simd := range []bool{true, false} {
				be := NewBackend(2)
				be.SetSIMD(simd)
				m, err := model.Load(d, be)
				if err != nil {
					t.Fatal(err)
				}
				c := m.NewCache()
				if _, err := m.Forward(context.Background(), c, []int32{1, 5, 9, 200, 31, 7}); err != nil {
					t.Fatal(err)
				}
				if logits[i], err = m.Forward(context.Background(), c, []int32{42}); err != nil {
					t.Fatal(err)
				}
				c.Release()
				m.Close()
				be.Close()
			}
			var num, den float64
			for i := range logits[0] {
				d := float64(logits[0][i] - logits[1][i])
				num += d * d
				den += float64(logits[1][i]) * float64(logits[1][i])
			}
			if e := math.Sqrt(num / den); e > 1e-5 {
				t.Errorf("%s %s q%d: AVX2 vs portable logits relative L2 %g", spec.Arch, spec.DType, spec.Bits, e)
			}
		}
	})
}

// forceAVX2 switches the benchmark to the AVX2 kernels when
// IMPETUS_BENCH_AVX2=1 (to measure what AVX2-only CPUs get).
func forceAVX2(b *testing.B) {
	if os.Getenv("IMPETUS_BENCH_AVX2") != "1" {
		return
	}
	if !haveAVX2 {
		b.Skip("CPU has no AVX2")
	}
	saved := use512
	use512 = false
	b.Cleanup(func() { use512 = saved })
}

// TestIntegerDotModel runs a 4-bit and an 8-bit model with the integer
// (int16 activation) kernels: logits stay within 1e-3 of the float kernels.
func TestIntegerDotModel(t *testing.T) {
	if !haveIntDot {
		t.Skip("CPU has no AVX-512 VNNI")
	}
	if _, err := testmodel.DefaultTokenizerDir(); err != nil {
		t.Skip(err)
	}
	for _, bits := range []int{4, 8} {
		spec := testmodel.Tiny("qwen2", "bf16", bits)
		spec.Vocab = 1000
		dir := t.TempDir()
		if err := testmodel.Write(dir, spec); err != nil {
			t.Fatal(err)
		}
		d, err := modelfile.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		var logits [2][]float32
		for i, intDot := range []bool{false, true} {
			be := NewBackend(2)
			be.SetIntegerDot(intDot)
			m, err := model.Load(d, be)
			if err != nil {
				t.Fatal(err)
			}
			c := m.NewCache()
			if _, err := m.Forward(context.Background(), c, []int32{1, 5, 9, 200, 31, 7}); err != nil {
				t.Fatal(err)
			}
			if logits[i], err = m.Forward(context.Background(), c, []int32{42}); err != nil {
				t.Fatal(err)
			}
			c.Release()
			m.Close()
			be.Close()
		}
		var num, den float64
		for i := range logits[0] {
			d := float64(logits[0][i] - logits[1][i])
			num += d * d
			den += float64(logits[0][i]) * float64(logits[0][i])
		}
		if e := math.Sqrt(num / den); e > 1e-3 || e == 0 {
			t.Errorf("q%d: integer vs float kernels: logits relative L2 %g (want (0, 1e-3])", bits, e)
		}
	}
}
