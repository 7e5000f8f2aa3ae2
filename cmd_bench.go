package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/adrg/xdg"
	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

func init() { registerCommand(newBenchCommand) }

type benchRun struct {
	PrefillTokensPerSec float64 `json:"prefill_tokens_per_sec"`
	DecodeTokensPerSec  float64 `json:"decode_tokens_per_sec"`
	TTFTMs              float64 `json:"ttft_ms"`
	PromptTokens        int     `json:"prompt_tokens"`
	GeneratedTokens     int     `json:"generated_tokens"`
}

type benchReport struct {
	Model        string     `json:"model"`
	Arch         string     `json:"arch"`
	Quantization string     `json:"quantization,omitempty"`
	WeightBytes  int64      `json:"weight_bytes"`
	Backend      string     `json:"backend"`
	Threads      int        `json:"threads"`
	PromptTokens int        `json:"prompt_tokens"`
	GenTokens    int        `json:"gen_tokens"`
	LoadMs       float64    `json:"load_ms"`
	Runs         []benchRun `json:"runs"`
	Median       benchRun   `json:"median"`
	PeakRSSBytes int64      `json:"peak_rss_bytes"`
	// DecodeWeightGBPerSec is weights read per token × median decode tok/s:
	// the memory bandwidth decoding uses (its ceiling is the machine's).
	DecodeWeightGBPerSec float64 `json:"decode_weight_gb_per_sec"`
}

func newBenchCommand(a *app) *cobra.Command {
	var (
		model, backend, synthetic string
		promptTokens, genTokens   int
		runs, warmup, threads     int
		prefillChunk              int
		asJSON                    bool
	)
	cmd := &cobra.Command{
		Use:   "bench -m MODEL [flags]",
		Short: plannedCommands["bench"],
		Long: `Measure prefill speed (tokens/s over a prompt of --prompt-tokens), decode speed (tokens/s
while generating --gen-tokens), time to first token and peak memory, as the median over --runs
runs after --warmup unmeasured ones. The prompt is random token ids; end-of-sequence tokens do
not stop generation, so every run decodes exactly --gen-tokens tokens.

--synthetic NAME benchmarks a random-weight model of a known shape without downloading
anything (written once to the cache directory): ` + strings.Join(syntheticNames(), ", ") + `.`,
		Example: `  impetus bench -m mlx-community/Qwen2.5-0.5B-Instruct-4bit --threads 2
  impetus bench --synthetic qwen2.5-0.5b-q4 --prompt-tokens 128 --gen-tokens 64 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			usage := func(format string, args ...any) error {
				return &exitError{code: 2, err: fmt.Errorf(format, args...)}
			}
			switch {
			case promptTokens < 1:
				return usage("--prompt-tokens %d: must be at least 1", promptTokens)
			case genTokens < 1:
				return usage("--gen-tokens %d: must be at least 1", genTokens)
			case runs < 1:
				return usage("--runs %d: must be at least 1", runs)
			case warmup < 0:
				return usage("--warmup %d: must be 0 or more", warmup)
			case model != "" && synthetic != "":
				return usage("give -m MODEL or --synthetic NAME, not both")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if synthetic != "" {
				dir, err := syntheticModel(a, synthetic)
				if err != nil {
					return err
				}
				model = dir
			}
			if model == "" {
				model = a.cfg.Model
			}
			if model == "" {
				return usage("no model: pass -m MODEL, or --synthetic NAME (%s) for a random-weight model", strings.Join(syntheticNames(), ", "))
			}
			opts := engineOptions(a, backend, threads)
			opts.PromptCaches = -1 // every run prefills the whole prompt
			if prefillChunk < 0 {
				return usage("--prefill-chunk %d: must be 0 (the backend's default) or more", prefillChunk)
			}
			opts.PrefillChunk = prefillChunk
			eng, err := engine.New(opts)
			if err != nil {
				return usage("%v", err)
			}
			defer eng.Close()
			info, err := eng.Load(ctx, model, nil)
			if err != nil {
				return err
			}
			if promptTokens+genTokens > info.ContextLength {
				return usage("--prompt-tokens %d + --gen-tokens %d exceed the model's context of %d tokens", promptTokens, genTokens, info.ContextLength)
			}
			rep := benchReport{
				Model: info.Path, Arch: info.Arch, Quantization: info.Quantization, WeightBytes: info.WeightBytes,
				Backend: info.Backend, Threads: opts.Threads, PromptTokens: promptTokens, GenTokens: genTokens,
				LoadMs: ms(info.LoadTime),
			}
			if rep.Threads <= 0 {
				rep.Threads = runtime.NumCPU()
			}
			if !asJSON {
				q := info.Quantization
				if q == "" {
					q = "dense"
				}
				fmt.Fprintf(a.stdout, "model   %s\n        %s, %s, %d layers, hidden %d, vocab %d, %.1f MB of weights\n", info.Path, info.Arch, q, info.NumLayers, info.HiddenSize, info.VocabSize, float64(info.WeightBytes)/1e6)
				fmt.Fprintf(a.stdout, "backend %s, %d threads; loaded in %.0f ms\n", info.Backend, rep.Threads, rep.LoadMs)
				fmt.Fprintf(a.stdout, "prompt  %d tokens, generate %d tokens, %d runs after %d warmup\n", promptTokens, genTokens, runs, warmup)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < warmup+runs; i++ {
				prompt := make([]int32, promptTokens)
				for j := range prompt {
					// avoid the low ids where special tokens usually live
					prompt[j] = int32(min(info.VocabSize-1, 100+rng.IntN(max(1, info.VocabSize-100))))
				}
				res, err := eng.Generate(ctx, engine.Request{PromptTokens: prompt, MaxTokens: genTokens, IgnoreEOS: true}, nil)
				if err != nil {
					return err
				}
				if res.FinishReason == engine.FinishCancelled {
					return &exitError{code: 130, err: fmt.Errorf("interrupted")}
				}
				r := benchRun{
					PrefillTokensPerSec: res.Timings.PrefillTokensPerSec, DecodeTokensPerSec: res.Timings.DecodeTokensPerSec,
					TTFTMs: ms(res.Timings.TTFT), PromptTokens: res.Timings.PrefillTokens, GeneratedTokens: len(res.Tokens),
				}
				if i < warmup {
					continue
				}
				rep.Runs = append(rep.Runs, r)
				if !asJSON {
					fmt.Fprintf(a.stdout, "run %-3d prefill %8.1f tok/s   decode %7.1f tok/s   ttft %7.1f ms\n", i-warmup+1, r.PrefillTokensPerSec, r.DecodeTokensPerSec, r.TTFTMs)
				}
			}
			rep.Median = benchRun{
				PrefillTokensPerSec: median(rep.Runs, func(r benchRun) float64 { return r.PrefillTokensPerSec }),
				DecodeTokensPerSec:  median(rep.Runs, func(r benchRun) float64 { return r.DecodeTokensPerSec }),
				TTFTMs:              median(rep.Runs, func(r benchRun) float64 { return r.TTFTMs }),
				PromptTokens:        promptTokens, GeneratedTokens: genTokens,
			}
			rep.PeakRSSBytes = peakRSS()
			rep.DecodeWeightGBPerSec = float64(info.WeightBytes) * rep.Median.DecodeTokensPerSec / 1e9
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(a.stdout, "median  prefill %8.1f tok/s   decode %7.1f tok/s   ttft %7.1f ms\n", rep.Median.PrefillTokensPerSec, rep.Median.DecodeTokensPerSec, rep.Median.TTFTMs)
			fmt.Fprintf(a.stdout, "decode  reads %.1f MB of weights per token: %.2f GB/s\n", float64(info.WeightBytes)/1e6, rep.DecodeWeightGBPerSec)
			fmt.Fprintf(a.stdout, "peak RSS %.1f MB\n", float64(rep.PeakRSSBytes)/1e6)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&model, "model", "m", "", "model: directory, hub id (ORG/NAME) in the HF cache, or name in models_dir")
	f.StringVar(&synthetic, "synthetic", "", "benchmark a random-weight model of this shape instead ("+strings.Join(syntheticNames(), ", ")+")")
	f.IntVar(&promptTokens, "prompt-tokens", 128, "prompt length for the prefill measurement")
	f.IntVar(&genTokens, "gen-tokens", 64, "tokens to generate for the decode measurement")
	f.IntVar(&runs, "runs", 3, "measured runs (the median is reported)")
	f.IntVar(&warmup, "warmup", 1, "unmeasured runs first (page in the weights)")
	f.StringVar(&backend, "backend", "", "compute backend: auto, cpu or mlx (default from config)")
	f.IntVar(&threads, "threads", 0, "CPU threads (default from config; 0 = one per core)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&prefillChunk, "prefill-chunk", 0, "prompt tokens per forward pass (0: the backend's default)")
	return cmd
}

func median(runs []benchRun, f func(benchRun) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// peakRSS is the process's peak resident set size in bytes: VmHWM from
// /proc/self/status on Linux, else getrusage's maximum RSS.
func peakRSS() int64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				fields := strings.Fields(rest)
				if len(fields) >= 1 {
					if kb, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
						return kb * 1024
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		if runtime.GOOS == "darwin" {
			return ru.Maxrss // bytes on macOS
		}
		return ru.Maxrss * 1024 // kilobytes elsewhere
	}
	return 0
}

// syntheticSpecs are the random-weight models `bench --synthetic` can write.
var syntheticSpecs = map[string]func() testmodel.Spec{
	"qwen2.5-0.5b-q4":   func() testmodel.Spec { return testmodel.Qwen05B(4) },
	"qwen2.5-0.5b-q8":   func() testmodel.Spec { return testmodel.Qwen05B(8) },
	"qwen2.5-0.5b-bf16": func() testmodel.Spec { return testmodel.Qwen05B(0) },
	"tiny-llama":        func() testmodel.Spec { return testmodel.Tiny("llama", "f32", 0) },
	"tiny-qwen2-q4":     func() testmodel.Spec { return testmodel.Tiny("qwen2", "f32", 4) },
}

func syntheticNames() []string {
	names := make([]string, 0, len(syntheticSpecs))
	for n := range syntheticSpecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// syntheticModel returns the directory of the named random-weight model,
// writing it to $XDG_CACHE_HOME/impetus/synthetic/NAME the first time (the
// weights are deterministic, so the cache never goes stale).
func syntheticModel(a *app, name string) (string, error) {
	mk, ok := syntheticSpecs[name]
	if !ok {
		return "", &exitError{code: 2, err: fmt.Errorf("--synthetic %q: unknown; choose one of %s", name, strings.Join(syntheticNames(), ", "))}
	}
	dir := filepath.Join(xdg.CacheHome, "impetus", "synthetic", name)
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return dir, nil
	}
	spec := mk()
	if spec.TokenizerDir == "" {
		td, err := testmodel.DefaultTokenizerDir()
		if err != nil {
			return "", fmt.Errorf("--synthetic needs a tokenizer to copy: run impetus from its source tree (it uses ../shared/testdata/tokenizers/llama2): %w", err)
		}
		spec.TokenizerDir = td
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), name+".tmp-")
	if err != nil {
		return "", err
	}
	a.log.Info("writing synthetic model", "name", name, "dir", dir)
	if err := testmodel.Write(tmp, spec); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("writing synthetic model %s: %w", name, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(filepath.Join(dir, "model.safetensors")); serr == nil {
			return dir, nil // another process won the race
		}
		return "", err
	}
	return dir, nil
}
