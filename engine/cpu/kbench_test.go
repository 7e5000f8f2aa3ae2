package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/impetus-llm/impetus/engine/ops"
)

// BenchmarkKernelCompute runs the quantized kernels on one thread over a
// weight block that stays in L2, so the figure is compute throughput
// (weights/s), not memory bandwidth.
func BenchmarkKernelCompute(b *testing.B) {
	for _, bits := range []int{4, 8} {
		r := rand.New(rand.NewPCG(1, 2))
		const out, in = 128, 896
		l := randQuantLinear(b, r, out, in, bits, 64, ops.BF16)
		ng := in / 64
		x := randF32(r, 4*in)
		xsum := make([]float32, 4*ng)
		xd := make([]float32, 4*in)
		for t := 0; t < 4; t++ {
			copy(xd[t*in:], x[t*in:(t+1)*in])
			prepActsF32(x[t*in:(t+1)*in], 64, bits == 4, xd[t*in:(t+1)*in], xsum[t*ng:(t+1)*ng])
		}
		xsT := make([]float32, 4*ng)
		for g := 0; g < ng; g++ {
			for t := 0; t < 4; t++ {
				xsT[g*4+t] = xsum[t*ng+g]
			}
		}
		y := make([]float32, out)
		b.Run(map[int]string{4: "q4", 8: "q8"}[bits]+"-rows", func(b *testing.B) {
			for b.Loop() {
				qfRows(l, 0, out, xd[:in], xsum[:ng], y)
			}
			b.ReportMetric(float64(out*in)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
		})
		b.Run(map[int]string{4: "q4", 8: "q8"}[bits]+"-4tok", func(b *testing.B) {
			var res [4]float32
			for b.Loop() {
				for o := 0; o < out; o++ {
					qf4(l, o, xd, in, xsum, ng, &res)
				}
			}
			b.ReportMetric(4*float64(out*in)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
		})
		b.Run(map[int]string{4: "q4", 8: "q8"}[bits]+"-2row4tok", func(b *testing.B) {
			var res [8]float32
			for b.Loop() {
				for o := 0; o < out; o += 2 {
					qf4x2(l, o, xd, in, xsT, &res)
				}
			}
			b.ReportMetric(4*float64(out*in)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
		})
	}
}

// BenchmarkPoolScaling runs an L2-resident quantized mat-vec through the
// worker pool with 1 and 2 threads: the ratio shows how well the pool
// parallelizes (on an otherwise idle machine).
func BenchmarkPoolScaling(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	const out, in = 512, 896
	l := randQuantLinear(b, r, out, in, 4, 64, ops.BF16)
	x := &tensor{rows: 1, cols: in, data: randF32(r, in)}
	y := &tensor{rows: 1, cols: out, data: make([]float32, out)}
	for _, th := range []int{1, 2} {
		b.Run(map[int]string{1: "1thread", 2: "2threads"}[th], func(b *testing.B) {
			be := NewBackend(th)
			defer be.Close()
			cpu0 := cpuTime()
			for b.Loop() {
				be.matmul(x, y, l)
				be.Release()
			}
			b.ReportMetric(float64(out*in)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
			b.ReportMetric(float64(out*in)*float64(b.N)/(cpuTime()-cpu0).Seconds()/1e9, "Gweights/cpu-s")
		})
	}
}
