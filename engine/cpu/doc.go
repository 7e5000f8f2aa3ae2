// Package cpu is the pure-Go compute backend of impetus (ops.Backend): the
// default wherever MLX is absent.
//
// Weights stay in their stored form: dense F32/F16/BF16 tensors and MLX
// affine-quantized tensors (2–8 bit, packed in uint32 words, element 0 in the
// low bits; scales and biases per group in F32/F16/BF16) are read straight
// from the memory-mapped safetensors files. Activations are float32.
//
// # Kernels
//
// The hot loops are Go assembly (kernels_*_amd64.s) selected at run time
// from the CPU's features (golang.org/x/sys/cpu), each with a portable Go
// equivalent that the tests compare it against:
//
//   - AVX-512 (F, BW, DQ, VL): quantized 4/8-bit linears (groups of 32 or a
//     multiple of 64) for decode (many weight rows against one token: scales
//     converted 16 groups at a time, 4-bit nibbles mapped to scaled floats by
//     a VPERMPS table) and prefill (weights widened once and used for four
//     tokens, two rows at a time); dense BF16/F16/F32 dot products; SiLU and
//     GELU gating; attention dot/axpy.
//   - AVX2+FMA+F16C: the same float kernels 8 lanes wide, for x86 CPUs
//     without AVX-512 (group sizes that are multiples of 64).
//   - Everything else (other bit widths such as 3/5/6, other CPUs, the
//     purego build tag): dequantize a row to float32, then dot.
//
// The float kernels compute Σ(s·q+b)·x = s·Σq·x + b·Σx exactly to float32
// rounding, which keeps logits within 1e-4 of a float32 reference. An
// integer variant (SetIntegerDot: activations quantized to int16 per
// 64-block, VPMADDWD/VPDPWSSD) is kept for comparison; it is not faster on
// the machines measured and its error is about 1e-4, so it is off by default.
//
// # Parallelism
//
// A persistent pool of worker goroutines (New(threads)) runs each matmul,
// attention and gating section; work is split into small chunks claimed from
// an atomic counter, so a worker the OS has descheduled delays nothing.
// Prefill (several tokens per step) tiles weight rows to stay in L2 and
// reads each weight once per step, which makes it several times faster per
// token than decode; decode is bound by memory bandwidth and, per core, by
// the unpacking of the quantized weights.
//
// # Benchmarks
//
//	go test -tags sqlite_fts5 -run '^$' -bench 'Decode|Prefill|MemoryBandwidth|QuantMatVec|KernelCompute' ./engine/cpu
//
// BenchmarkDecode and BenchmarkPrefill run a random Qwen2.5-0.5B-shaped model
// (written once per run by engine/testmodel) at 4 and 8 bits and report
// tok/s, tok/cpu-s (tokens per CPU-second: what the code costs regardless of
// how much of a shared machine it got), weight bytes read per second and the
// share of the read bandwidth measured right after. IMPETUS_BENCH_THREADS
// sets the thread count (default 2), IMPETUS_BENCH_AVX2=1 forces the AVX2
// kernels.
package cpu
