package engine

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func testLogits() []float32 {
	// token i has logit log(weights[i]) so the softmax is weights/sum
	w := []float64{1, 2, 4, 8, 16, 32, 64, 128}
	l := make([]float32, len(w))
	for i, x := range w {
		l[i] = float32(math.Log(x))
	}
	return l
}

func drawMany(p Sampling, n int) []int {
	counts := make([]int, len(testLogits()))
	s := newSampler(p, 7, nil)
	for i := 0; i < n; i++ {
		tok, err := s.sample(testLogits())
		if err != nil {
			panic(err)
		}
		counts[tok]++
	}
	return counts
}

func TestGreedyIsArgmax(t *testing.T) {
	s := newSampler(Sampling{}, 1, nil)
	l := []float32{0.1, 3, 3, -1}
	if tok, _ := s.sample(l); tok != 1 {
		t.Fatalf("greedy picked %d", tok)
	}
}

func TestSeedRepeatable(t *testing.T) {
	p := Sampling{Temperature: 1.3, TopP: 0.95, TopK: 6}
	seq := func(seed uint64) []int32 {
		s := newSampler(p, seed, nil)
		var out []int32
		for i := 0; i < 200; i++ {
			tok, _ := s.sample(testLogits())
			out = append(out, tok)
		}
		return out
	}
	if !slices.Equal(seq(42), seq(42)) {
		t.Fatal("same seed gave different tokens")
	}
	if slices.Equal(seq(42), seq(43)) {
		t.Fatal("different seeds gave identical 200-token sequences")
	}
}

func TestTemperatureMatchesSoftmax(t *testing.T) {
	const n = 40000
	counts := drawMany(Sampling{Temperature: 1}, n)
	for i, c := range counts {
		want := float64(n) * math.Pow(2, float64(i)) / 255
		if math.Abs(float64(c)-want) > 5*math.Sqrt(want)+5 {
			t.Fatalf("token %d drawn %d times, expected about %.0f (counts %v)", i, c, want, counts)
		}
	}
}

func TestTopKTopPMinP(t *testing.T) {
	// top-k 2: only tokens 6 and 7
	counts := drawMany(Sampling{Temperature: 1, TopK: 2}, 3000)
	for i := 0; i < 6; i++ {
		if counts[i] != 0 {
			t.Fatalf("top-k 2 drew token %d: %v", i, counts)
		}
	}
	if counts[6] == 0 || counts[7] == 0 {
		t.Fatalf("top-k 2 never drew one of the two: %v", counts)
	}
	// top-p 0.7: p(7)=128/255≈0.50, p(6)≈0.25 → cumulative 0.75 ≥ 0.7: {6,7}
	counts = drawMany(Sampling{Temperature: 1, TopP: 0.7}, 3000)
	if slices.ContainsFunc(counts[:6], func(c int) bool { return c != 0 }) || counts[6] == 0 {
		t.Fatalf("top-p 0.7: %v", counts)
	}
	// top-p 0.4: only the top token
	counts = drawMany(Sampling{Temperature: 1, TopP: 0.4}, 500)
	if counts[7] != 500 {
		t.Fatalf("top-p 0.4: %v", counts)
	}
	// min-p 0.2: tokens with p ≥ 0.2·p(7): 128·0.2=25.6 → 32, 64, 128 (tokens 5..7)
	counts = drawMany(Sampling{Temperature: 1, MinP: 0.2}, 3000)
	if slices.ContainsFunc(counts[:5], func(c int) bool { return c != 0 }) || counts[5] == 0 {
		t.Fatalf("min-p 0.2: %v", counts)
	}
}

func TestTopPLargeVocabulary(t *testing.T) {
	// A flat vocabulary forces the incremental top-m widening past 64 and 512.
	n := 5000
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(i%10) * 0.001
	}
	s := newSampler(Sampling{Temperature: 1, TopP: 0.5}, 3, nil)
	seen := map[int32]bool{}
	for i := 0; i < 300; i++ {
		tok, err := s.sample(slices.Clone(l))
		if err != nil {
			t.Fatal(err)
		}
		seen[tok] = true
	}
	// roughly half the vocabulary (the higher logits) is eligible
	for tok := range seen {
		if tok%10 < 4 {
			t.Fatalf("token %d (logit rank low) drawn under top-p 0.5", tok)
		}
	}
	if len(seen) < 150 {
		t.Fatalf("only %d distinct tokens drawn", len(seen))
	}
}

func TestPenaltiesAndBias(t *testing.T) {
	// Repetition penalty pushes the seen top token below the next one.
	s := newSampler(Sampling{RepetitionPenalty: 10}, 1, []int32{7})
	if tok, _ := s.sample(testLogits()); tok != 6 {
		t.Fatalf("repetition penalty: got %d", tok)
	}
	// Frequency penalty counts occurrences; the window forgets old ones.
	s = newSampler(Sampling{FrequencyPenalty: 0.5, PenaltyWindow: 2}, 1, []int32{7, 7, 7, 1, 1})
	// window keeps [1, 1]: token 7 is not penalized
	if tok, _ := s.sample(testLogits()); tok != 7 {
		t.Fatalf("window: got %d", tok)
	}
	s = newSampler(Sampling{FrequencyPenalty: 0.5, PenaltyWindow: -1}, 1, []int32{7, 7})
	// log(128)-1 = 3.85 < log(64) = 4.16
	if tok, _ := s.sample(testLogits()); tok != 6 {
		t.Fatalf("frequency: got %d", tok)
	}
	s = newSampler(Sampling{PresencePenalty: 0.8}, 1, []int32{7, 6})
	// 7: 4.85-0.8=4.05, 6: 4.16-0.8=3.36, 5: 3.47 → 7 still
	if tok, _ := s.sample(testLogits()); tok != 7 {
		t.Fatalf("presence: got %d", tok)
	}
	s = newSampler(Sampling{LogitBias: map[int32]float32{2: 100}}, 1, nil)
	if tok, _ := s.sample(testLogits()); tok != 2 {
		t.Fatalf("bias: got %d", tok)
	}
}

func TestBadLogits(t *testing.T) {
	s := newSampler(Sampling{Temperature: 1}, 1, nil)
	l := testLogits()
	l[3] = float32(math.NaN())
	if _, err := s.sample(l); !errors.Is(err, ErrBadLogits) {
		t.Fatalf("NaN: %v", err)
	}
	l = testLogits()
	l[0] = float32(math.Inf(1))
	if _, err := s.sample(l); !errors.Is(err, ErrBadLogits) {
		t.Fatalf("+Inf: %v", err)
	}
	for i := range l {
		l[i] = float32(math.Inf(-1))
	}
	if _, err := s.sample(l); !errors.Is(err, ErrBadLogits) {
		t.Fatalf("all -Inf: %v", err)
	}
}

func TestValidateSampling(t *testing.T) {
	for _, p := range []Sampling{{Temperature: -1}, {TopK: -2}, {TopP: 1.5}, {MinP: -0.1}, {RepetitionPenalty: -1}, {PresencePenalty: math.Inf(1)}} {
		if err := validateSampling(p); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v accepted", p)
		}
	}
}

func BenchmarkSampleTopP(b *testing.B) {
	n := 151936
	l := make([]float32, n)
	for i := range l {
		l[i] = float32((i*7919)%1000) * 0.01
	}
	s := newSampler(Sampling{Temperature: 0.7, TopP: 0.9, TopK: 40}, 1, nil)
	buf := make([]float32, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, l)
		s.sample(buf)
	}
}
