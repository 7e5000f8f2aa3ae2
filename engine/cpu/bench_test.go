package cpu

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/ops"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// benchThreads is the thread count of the speed benchmarks (the anchor
// figures are on 2 threads); IMPETUS_BENCH_THREADS overrides it.
func benchThreads() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("IMPETUS_BENCH_THREADS"), &n); err == nil && n > 0 {
		return n
	}
	return 2
}

// readBandwidth measures the machine's read bandwidth (bytes/s) now, with
// the same worker pool: threads workers summing disjoint parts of a 512 MiB
// buffer (far beyond the last-level cache) with the SIMD dot kernel; best
// of three passes. Benchmarks call it right after their timed loop so the
// share of the ceiling compares figures taken under the same machine load.
func readBandwidth(threads int) float64 {
	bwMu.Lock()
	defer bwMu.Unlock()
	if bwBuf == nil {
		bwBuf = make([]float32, 128<<20)
		for i := range bwBuf {
			bwBuf[i] = 1
		}
	}
	p := newPool(threads)
	defer p.close()
	best := 0.0
	for rep := 0; rep < 3; rep++ {
		start := time.Now()
		p.parallel(len(bwBuf), 1<<16, func(_, lo, hi int) {
			dotF32(bwBuf[lo:hi], bwBuf[lo:hi])
		})
		// dotF32(a, a) reads one stream of 4 bytes per element
		best = max(best, float64(4*len(bwBuf))/time.Since(start).Seconds())
	}
	return best
}

var (
	bwMu  sync.Mutex
	bwBuf []float32
)

// BenchmarkMemoryBandwidth is the reference the kernel and decode figures
// are measured against.
func BenchmarkMemoryBandwidth(b *testing.B) {
	buf := make([]float32, 128<<20)
	for i := range buf {
		buf[i] = 1 // touch every page: untouched pages all map the one zero page
	}
	p := newPool(benchThreads())
	defer p.close()
	b.SetBytes(int64(4 * len(buf)))
	b.ResetTimer()
	for b.Loop() {
		p.parallel(len(buf), 1<<16, func(_, lo, hi int) { dotF32(buf[lo:hi], buf[lo:hi]) })
	}
}

// BenchmarkQuantMatVec runs one decode-shaped matrix-vector product
// (4864×896, MLX g64) over a set of distinct matrices larger than the L3
// cache, so the figure (B/s of weights) compares with memory bandwidth.
func BenchmarkQuantMatVec(b *testing.B) {
	for _, bits := range []int{4, 8} {
		for _, mode := range []string{"float", "int16", "portable"} {
			b.Run(fmt.Sprintf("q%d-%s", bits, mode), func(b *testing.B) {
				be := NewBackend(benchThreads())
				defer be.Close()
				be.SetSIMD(mode != "portable")
				be.SetIntegerDot(mode == "int16")
				const out, in = 4864, 896
				r := rand.New(rand.NewPCG(1, 1))
				var ls []*linear
				total := 0
				for total < 96<<20 {
					l := randQuantLinear(b, r, out, in, bits, 64, ops.BF16)
					ls = append(ls, l)
					total += l.weightBytes()
				}
				x := &tensor{rows: 1, cols: in, data: randF32(r, in)}
				y := &tensor{rows: 1, cols: out, data: make([]float32, out)}
				b.SetBytes(int64(ls[0].weightBytes()))
				i := 0
				cpu0 := cpuTime()
				for b.Loop() {
					be.matmul(x, y, ls[i%len(ls)])
					be.Release()
					i++
				}
				b.ReportMetric(float64(ls[0].weightBytes())*float64(b.N)/(cpuTime()-cpu0).Seconds()/1e9, "GB/cpu-s")
				bw := readBandwidth(benchThreads())
				gbs := float64(ls[0].weightBytes()) * float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(gbs/1e9, "GB/s")
				b.ReportMetric(100*gbs/bw, "%bandwidth")
			})
		}
	}
}

// cpuTime is the process's user+system CPU time: on a shared machine,
// tokens per CPU-second show what the code costs independent of how much of
// the machine it got.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	benchModelMu   sync.Mutex
	benchModelDirs = map[int]string{}
)

// benchModel writes the Qwen2.5-0.5B-shaped random model once per run.
func benchModel(b *testing.B, bits int) string {
	benchModelMu.Lock()
	defer benchModelMu.Unlock()
	if d, ok := benchModelDirs[bits]; ok {
		return d
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("impetus-bench-q%d-", bits))
	if err != nil {
		b.Fatal(err)
	}
	if err := testmodel.Write(dir, testmodel.Qwen05B(bits)); err != nil {
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	benchModelDirs[bits] = dir
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range benchModelDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func loadBench(b *testing.B, bits int, intDot bool) (model.Model, *Backend) {
	forceAVX2(b)
	dir := benchModel(b, bits)
	d, err := modelfile.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	be := NewBackend(benchThreads())
	be.SetIntegerDot(intDot)
	m, err := model.Load(d, be)
	if err != nil {
		b.Fatal(err)
	}
	return m, be
}

// BenchmarkDecode: tokens/s generating one token at a time after a short
// prompt, on the 0.5B shape at 4 and 8 bits, 2 threads. Also reports the
// weight bytes read per second and its share of the measured bandwidth.
func BenchmarkDecode(b *testing.B) {
	for _, bits := range []int{4, 8} {
		for _, intDot := range []bool{false, true} {
			name := fmt.Sprintf("q%d", bits)
			if intDot {
				name += "-int16"
			}
			b.Run(name, func(b *testing.B) {
				m, be := loadBench(b, bits, intDot)
				defer be.Close()
				defer m.Close()
				ctx := context.Background()
				c := m.NewCache()
				defer c.Release()
				prompt := make([]int32, 16)
				for i := range prompt {
					prompt[i] = int32(i*997) % 151936
				}
				if _, err := m.Forward(ctx, c, prompt); err != nil {
					b.Fatal(err)
				}
				tok := []int32{42}
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if c.Len() >= 256 {
						c.Truncate(16)
					}
					logits, err := m.Forward(ctx, c, tok)
					if err != nil {
						b.Fatal(err)
					}
					tok[0] = int32(i*31+7) % int32(len(logits))
				}
				tps := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(tps, "tok/s")
				b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "tok/cpu-s")
				bytes := float64(m.Info().WeightBytes)
				bw := readBandwidth(benchThreads())
				b.ReportMetric(bytes*tps/1e9, "GB/s")
				b.ReportMetric(100*bytes*tps/bw, "%bandwidth")
				b.ReportMetric(bw/1e9, "GB/s-ceiling")
			})
		}
	}
}

// BenchmarkPrefill: tokens/s processing a 128-token prompt in one call.
func BenchmarkPrefill(b *testing.B) {
	for _, bits := range []int{4, 8} {
		for _, intDot := range []bool{false, true} {
			name := fmt.Sprintf("q%d", bits)
			if intDot {
				name += "-int16"
			}
			b.Run(name, func(b *testing.B) {
				m, be := loadBench(b, bits, intDot)
				defer be.Close()
				defer m.Close()
				ctx := context.Background()
				prompt := make([]int32, 128)
				for i := range prompt {
					prompt[i] = int32(i*7919) % 151936
				}
				c := m.NewCache()
				defer c.Release()
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					c.Truncate(0)
					if _, err := m.Forward(ctx, c, prompt); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tok/s")
				b.ReportMetric(float64(b.N*len(prompt))/(cpuTime()-cpu0).Seconds(), "tok/cpu-s")
			})
		}
	}
}
