package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/impetus-llm/impetus/engine/ops"
)

// The pipelined greedy loop, without MLX: pipeLM is scriptLM with "device"
// tokens. A device token's value is known when it is made, but the test
// checks the engine's protocol: the next step is scheduled from a token
// before that token is read, every token is released, the cache ends at the
// kept tokens, and results equal the host-sampling loop's.

type fakeDeviceToken struct {
	ops.DeviceTokenBase
	val      int32
	err      error
	read     bool
	released bool
}

type pipeLM struct {
	*scriptLM
	mu   sync.Mutex
	live int // tokens not yet released
	// prefetched counts nextGreedy calls made from a token not yet read:
	// the pipelining itself.
	prefetched, steps int
	fail              error // returned by nextGreedy when set
}

func (m *pipeLM) greedyPipeline() greedyLM { return m }

func (m *pipeLM) newToken(logits []float32) *fakeDeviceToken {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live++
	t := &fakeDeviceToken{val: argmax(logits)}
	for _, v := range logits {
		if v != v {
			t.err = fmt.Errorf("fake device: %w", ops.ErrNonFinite)
		}
	}
	return t
}

func (m *pipeLM) forwardGreedy(ctx context.Context, c kvCache, tokens []int32) (ops.DeviceToken, error) {
	logits, err := m.forward(ctx, c, tokens)
	if err != nil {
		return nil, err
	}
	return m.newToken(logits), nil
}

func (m *pipeLM) nextGreedy(ctx context.Context, c kvCache, prev ops.DeviceToken) (ops.DeviceToken, error) {
	p := prev.(*fakeDeviceToken)
	if p.released {
		panic("nextGreedy from a released token")
	}
	m.mu.Lock()
	m.steps++
	if !p.read {
		m.prefetched++
	}
	fail := m.fail
	m.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return m.forwardGreedy(ctx, c, []int32{p.val})
}

func (m *pipeLM) tokenValue(t ops.DeviceToken) (int32, error) {
	p := t.(*fakeDeviceToken)
	if p.released {
		panic("tokenValue of a released token")
	}
	p.read = true
	return p.val, p.err
}

func (m *pipeLM) releaseToken(t ops.DeviceToken) {
	if t == nil {
		return
	}
	p := t.(*fakeDeviceToken)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !p.released {
		p.released = true
		m.live--
	}
}

func resultSummary(r *Result) string {
	return fmt.Sprintf("finish=%s stop=%q cached=%d prefill=%d steps=%d tokens=%v text=%q", r.FinishReason, r.StopString,
		r.Usage.CachedTokens, r.Timings.PrefillTokens, r.Timings.DecodeSteps, r.Tokens, r.Text)
}

func TestPipelinedGreedyEqualsHostLoop(t *testing.T) {
	reply := "The quick brown fox jumps over the lazy dog, twice."
	type turn struct {
		req      Request
		cancelAt int // cancel after this many tokens
	}
	cases := map[string][]turn{
		"eos":       {{req: Request{Messages: userMsg("q")}}},
		"stop":      {{req: Request{Messages: userMsg("q"), Stop: []string{"fox"}}}},
		"max1":      {{req: Request{Messages: userMsg("q"), MaxTokens: 1}}},
		"max2":      {{req: Request{Messages: userMsg("q"), MaxTokens: 2}}},
		"max9":      {{req: Request{Messages: userMsg("q"), MaxTokens: 9}}},
		"ignoreEOS": {{req: Request{Messages: userMsg("q"), MaxTokens: 70, IgnoreEOS: true}}},
		"two turns after max_tokens": {
			{req: Request{Messages: userMsg("q"), MaxTokens: 7, CacheKey: "k"}},
			{req: Request{Messages: append(userMsg("q"), Message{Role: "assistant", Content: "The qui"}, Message{Role: "user", Content: "more"}), CacheKey: "k"}},
		},
		"two turns after cancel": {
			{req: Request{Messages: userMsg("q"), CacheKey: "k"}, cancelAt: 5},
			{req: Request{Messages: append(userMsg("q"), Message{Role: "assistant", Content: "The q"}, Message{Role: "user", Content: "more"}), CacheKey: "k"}},
		},
		"raw prompt continued": {
			{req: Request{Prompt: "go:", MaxTokens: 4, CacheKey: "k"}},
			{req: Request{Prompt: "go:The quick", MaxTokens: 4, CacheKey: "k"}},
		},
	}
	for name, turns := range cases {
		t.Run(name, func(t *testing.T) {
			host := newFakeEngine(t, &scriptLM{next: scripted(reply)}, Options{})
			plm := &pipeLM{scriptLM: &scriptLM{next: scripted(reply)}}
			dev := newFakeEngine(t, plm, Options{})
			for i, tn := range turns {
				var out [2]*Result
				for j, e := range []*Engine{host, dev} {
					ctx, cancel := context.WithCancel(context.Background())
					n := 0
					r, err := e.Generate(ctx, tn.req, func(ev Event) {
						if ev.Kind == EventToken && ev.Token >= 0 {
							if n++; n == tn.cancelAt {
								cancel()
							}
						}
					})
					cancel()
					if err != nil {
						t.Fatal(err)
					}
					out[j] = r
				}
				if got, want := resultSummary(out[1]), resultSummary(out[0]); got != want {
					t.Fatalf("turn %d: pipelined\n %s\nhost loop\n %s", i, got, want)
				}
				if plm.live != 0 {
					t.Fatalf("turn %d: %d device tokens not released", i, plm.live)
				}
				t.Logf("turn %d: %s", i, resultSummary(out[1]))
			}
			if plm.steps > 0 && plm.prefetched != plm.steps {
				t.Fatalf("%d of %d steps were scheduled before their input token was read", plm.prefetched, plm.steps)
			}
		})
	}
}

func TestPipelineOnlyForPlainGreedy(t *testing.T) {
	for _, req := range []Request{
		{Messages: userMsg("q"), Sampling: Sampling{Temperature: 0.7, Seed: Seed(1)}},
		{Messages: userMsg("q"), Sampling: Sampling{RepetitionPenalty: 1.2}},
		{Messages: userMsg("q"), Sampling: Sampling{LogitBias: map[int32]float32{'x': 1}}},
		{Messages: userMsg("q"), Logprobs: true},
	} {
		plm := &pipeLM{scriptLM: &scriptLM{next: scripted("hello")}}
		e := newFakeEngine(t, plm, Options{})
		if _, err := e.Generate(context.Background(), req, nil); err != nil {
			t.Fatal(err)
		}
		if plm.steps != 0 || len(plm.forwardCalls()) < 5 {
			t.Fatalf("sampling %+v logprobs %v ran on the device (%d steps)", req.Sampling, req.Logprobs, plm.steps)
		}
	}
	plm := &pipeLM{scriptLM: &scriptLM{next: scripted("hello")}}
	e := newFakeEngine(t, plm, Options{})
	if _, err := e.Generate(context.Background(), Request{Messages: userMsg("q")}, nil); err != nil {
		t.Fatal(err)
	}
	if plm.steps == 0 {
		t.Fatal("plain greedy did not use the device pipeline")
	}
}

func TestPipelineErrors(t *testing.T) {
	// A failing step: an error naming the decode step, tokens released,
	// the cache dropped.
	plm := &pipeLM{scriptLM: &scriptLM{next: scripted("hello world")}, fail: errors.New("device lost")}
	e := newFakeEngine(t, plm, Options{})
	res, err := e.Generate(context.Background(), Request{Messages: userMsg("q"), CacheKey: "k"}, nil)
	if err == nil || !strings.Contains(err.Error(), "device lost") || res.FinishReason != FinishError {
		t.Fatalf("got %v, %+v", err, res)
	}
	if plm.live != 0 {
		t.Fatalf("%d device tokens not released", plm.live)
	}
	// Non-finite logits found on the device are ErrBadLogits.
	plm = &pipeLM{scriptLM: &scriptLM{next: scripted("hello world")}}
	e = newFakeEngine(t, plm, Options{})
	var once sync.Once
	_, err = e.Generate(context.Background(), Request{Messages: userMsg("q")}, func(ev Event) {
		if ev.Kind == EventToken {
			once.Do(func() {
				plm.scriptLM.mu.Lock()
				plm.scriptLM.nan = true
				plm.scriptLM.mu.Unlock()
			})
		}
	})
	if !errors.Is(err, ErrBadLogits) {
		t.Fatalf("NaN logits on the device: got %v, want ErrBadLogits", err)
	}
	if plm.live != 0 {
		t.Fatalf("%d device tokens not released", plm.live)
	}
}
