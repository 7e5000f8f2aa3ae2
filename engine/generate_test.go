package engine

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func userMsg(s string) []Message { return []Message{{Role: "user", Content: s}} }

func collect(t *testing.T, e *Engine, ctx context.Context, req Request) (*Result, []Event, error) {
	t.Helper()
	var evs []Event
	res, err := e.Generate(ctx, req, func(ev Event) { evs = append(evs, ev) })
	return res, evs, err
}

func deltas(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Kind == EventToken {
			b.WriteString(ev.Text)
		}
	}
	return b.String()
}

func TestGenerateStreamsUntilEOS(t *testing.T) {
	lm := &scriptLM{next: scripted("Hi there, héllo!")}
	e := newFakeEngine(t, lm, Options{})
	res, evs, err := collect(t, e, context.Background(), Request{Messages: userMsg("x")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Hi there, héllo!" || res.FinishReason != FinishStop {
		t.Fatalf("got %q %s", res.Text, res.FinishReason)
	}
	if got := deltas(evs); got != res.Text {
		t.Fatalf("deltas %q != text %q", got, res.Text)
	}
	if evs[0].Kind != EventStart || evs[len(evs)-1].Kind != EventDone || evs[len(evs)-1].Result != res {
		t.Fatalf("event order wrong: first %v last %v", evs[0].Kind, evs[len(evs)-1].Kind)
	}
	// é is two byte-tokens: the first must produce no text (no half UTF-8)
	for _, ev := range evs {
		if ev.Kind == EventToken && strings.ContainsRune(ev.Text, '\uFFFD') {
			t.Fatalf("partial UTF-8 emitted: %q", ev.Text)
		}
	}
	// tokens: reply bytes + EOS
	if n := len(res.Tokens); n != len("Hi there, héllo!")+1 || res.Tokens[n-1] != fakeEOS {
		t.Fatalf("tokens %v", res.Tokens)
	}
	if res.Usage.CompletionTokens != len(res.Tokens) || res.Usage.PromptTokens != len("user: x\nassistant:") {
		t.Fatalf("usage %+v", res.Usage)
	}
	if res.Timings.TTFT <= 0 || res.Timings.DecodeSteps != len(res.Tokens)-1 {
		t.Fatalf("timings %+v", res.Timings)
	}
}

func TestStopStringNeverEmitted(t *testing.T) {
	for _, tc := range []struct {
		reply, want, stop string
		stops             []string
	}{
		{"Hello, STOP world", "Hello, ", "STOP", []string{"STOP"}},
		{"abcabd done", "abcabd done", "", []string{"abx"}}, // prefixes held then released
		{"one\n\ntwo", "one", "\n\n", []string{"\n\n", "zz"}},
		{"xyST", "xyST", "", []string{"STOP"}}, // prefix at the very end is flushed
		{"aXYb", "a", "XY", []string{"XYb", "XY"}},
	} {
		lm := &scriptLM{next: scripted(tc.reply)}
		e := newFakeEngine(t, lm, Options{})
		res, evs, err := collect(t, e, context.Background(), Request{Messages: userMsg("q"), Stop: tc.stops})
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != tc.want || deltas(evs) != tc.want || res.StopString != tc.stop || res.FinishReason != FinishStop {
			t.Errorf("reply %q stops %q: text %q deltas %q stop %q finish %s", tc.reply, tc.stops, res.Text, deltas(evs), res.StopString, res.FinishReason)
		}
	}
}

func TestStopFilterHoldsPrefixes(t *testing.T) {
	f := newStopFilter([]string{"<end>"})
	var out string
	for _, piece := range []string{"a", "<", "e", "n", "x", "<en", "d>", "tail"} {
		emit, stop := f.push(piece)
		out += emit
		if stop != "" {
			break
		}
	}
	if out != "a<enx" {
		t.Fatalf("emitted %q", out)
	}
}

func TestMaxTokensAndContextLength(t *testing.T) {
	lm := &scriptLM{next: scripted(strings.Repeat("z", 200))}
	e := newFakeEngine(t, lm, Options{})
	res, err := e.Generate(context.Background(), Request{Messages: userMsg("q"), MaxTokens: 5}, nil)
	if err != nil || res.FinishReason != FinishLength || res.Text != "zzzzz" {
		t.Fatalf("max tokens: %v %+v", err, res)
	}
	// MaxTokens 0 = until the context (128) is full.
	res, err = e.Generate(context.Background(), Request{Messages: userMsg("q")}, nil)
	if err != nil || res.FinishReason != FinishLength || res.Usage.TotalTokens != 128 {
		t.Fatalf("fill context: %v %+v", err, res.Usage)
	}
	_, err = e.Generate(context.Background(), Request{Messages: userMsg("q"), MaxTokens: 120}, nil)
	var ce *ContextLengthError
	if !errors.As(err, &ce) || !errors.Is(err, ErrContextLength) || ce.ContextLength != 128 || ce.MaxTokens != 120 {
		t.Fatalf("want context error, got %v", err)
	}
	_, err = e.Generate(context.Background(), Request{Prompt: strings.Repeat("p", 200)}, nil)
	if !errors.As(err, &ce) || ce.PromptTokens != 201 || !strings.Contains(err.Error(), "shorten the prompt") {
		t.Fatalf("want prompt-too-long error, got %v", err)
	}
	_, err = e.Generate(context.Background(), Request{Messages: userMsg("q"), MaxTokens: -1}, nil)
	var re *RequestError
	if !errors.As(err, &re) || re.Field != "max_tokens" {
		t.Fatalf("want max_tokens error, got %v", err)
	}
	_, err = e.Generate(context.Background(), Request{Messages: userMsg("q"), Sampling: Sampling{TopP: 2}}, nil)
	if !errors.As(err, &re) || re.Field != "top_p" {
		t.Fatalf("want top_p error, got %v", err)
	}
	_, err = e.Generate(context.Background(), Request{}, nil)
	if !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("empty request: %v", err)
	}
}

func TestNaNLogitsAreAnError(t *testing.T) {
	lm := &scriptLM{next: scripted("abc"), nan: true}
	e := newFakeEngine(t, lm, Options{})
	res, err := e.Generate(context.Background(), Request{Messages: userMsg("q")}, nil)
	if !errors.Is(err, ErrBadLogits) || res == nil || res.FinishReason != FinishError || res.Text != "" {
		t.Fatalf("want ErrBadLogits with finish error, got %v %+v", err, res)
	}
}

func TestPromptCacheSecondTurnPrefillsOnlyNewTokens(t *testing.T) {
	lm := &scriptLM{next: scripted("ok")}
	e := newFakeEngine(t, lm, Options{})
	msgs := userMsg("first question")
	res1, err := e.Generate(context.Background(), Request{Messages: msgs, CacheKey: "conv1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	turn1 := "user: first question\nassistant:"
	if res1.Timings.PrefillTokens != len(turn1) || res1.Usage.CachedTokens != 0 {
		t.Fatalf("turn 1 prefill %d cached %d", res1.Timings.PrefillTokens, res1.Usage.CachedTokens)
	}
	msgs = append(msgs, Message{Role: "assistant", Content: res1.Text}, Message{Role: "user", Content: "next"})
	res2, err := e.Generate(context.Background(), Request{Messages: msgs, CacheKey: "conv1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The cache holds turn 1's prompt and "ok"; turn 2 re-renders the reply
	// as "assistant: ok\n...", so the common prefix is turn 1's prompt.
	prompt2 := "user: first question\nassistant: ok\nuser: next\nassistant:"
	wantCached := len(turn1)
	if res2.Usage.CachedTokens != wantCached || res2.Timings.PrefillTokens != len(prompt2)-wantCached || res2.Usage.PromptTokens != len(prompt2) {
		t.Fatalf("turn 2: cached %d prefill %d, want cached %d prefill %d", res2.Usage.CachedTokens, res2.Timings.PrefillTokens, wantCached, len(prompt2)-wantCached)
	}
	calls := lm.forwardCalls()
	// The last prefill call of turn 2 covers only the new tokens.
	if got := calls[len(calls)-len(res2.Tokens)]; got != len(prompt2)-wantCached {
		t.Fatalf("turn 2 prefill forward took %d tokens, want %d (calls %v)", got, len(prompt2)-wantCached, calls)
	}
	// A different key does not see conv1's cache.
	res3, err := e.Generate(context.Background(), Request{Messages: msgs, CacheKey: "conv2"}, nil)
	if err != nil || res3.Usage.CachedTokens != 0 {
		t.Fatalf("other key reused a cache: %v %+v", err, res3.Usage)
	}
	// The same prompt again: everything but the last token is reused.
	res4, err := e.Generate(context.Background(), Request{Messages: msgs, CacheKey: "conv2"}, nil)
	if err != nil || res4.Timings.PrefillTokens != 1 || res4.Text != res3.Text {
		t.Fatalf("identical prompt: %v prefill %d text %q vs %q", err, res4.Timings.PrefillTokens, res4.Text, res3.Text)
	}
}

func TestCancelWhileRunningStopsWithinOneToken(t *testing.T) {
	gate := make(chan struct{})
	lm := &scriptLM{next: scripted(strings.Repeat("y", 100))}
	e := newFakeEngine(t, lm, Options{})
	lm.gate = gate
	ctx, cancel := context.WithCancel(context.Background())
	tokens := 0
	done := make(chan struct{})
	var res *Result
	var err error
	go func() {
		defer close(done)
		res, err = e.Generate(ctx, Request{Messages: userMsg("q")}, func(ev Event) {
			if ev.Kind == EventToken {
				tokens++
				if tokens == 3 {
					cancel()
				}
			}
		})
	}()
	// let prefill and a few decode steps through, then stop feeding
	for i := 0; i < 3; i++ {
		gate <- struct{}{}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("generation did not stop after cancel")
	}
	if err != nil || res.FinishReason != FinishCancelled || len(res.Tokens) != 3 || res.Text != "yyy" {
		t.Fatalf("got err %v res %+v", err, res)
	}
}

func TestCancelWhileForwardBlocked(t *testing.T) {
	gate := make(chan struct{})
	lm := &scriptLM{next: scripted("abc")}
	e := newFakeEngine(t, lm, Options{})
	lm.gate = gate
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Result)
	go func() {
		res, _ := e.Generate(ctx, Request{Messages: userMsg("q"), CacheKey: "k"}, nil)
		done <- res
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	res := <-done
	if res == nil || res.FinishReason != FinishCancelled {
		t.Fatalf("got %+v", res)
	}
	// The half-done cache was dropped; the next turn starts clean.
	lm.gate = nil
	res, err := e.Generate(context.Background(), Request{Messages: userMsg("q"), CacheKey: "k"}, nil)
	if err != nil || res.Text != "abc" || res.Usage.CachedTokens != 0 {
		t.Fatalf("after cancel: %v %+v", err, res)
	}
}

func TestSchedulerFIFOAndCancelWhileQueued(t *testing.T) {
	gate := make(chan struct{})
	lm := &scriptLM{next: scripted("ab")}
	e := newFakeEngine(t, lm, Options{MaxQueue: 3})
	lm.gate = gate

	var mu sync.Mutex
	var order []string
	results := map[string]string{}
	var wg sync.WaitGroup
	start := func(name string, ctx context.Context) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.Generate(ctx, Request{Messages: userMsg(name)}, func(ev Event) {
				if ev.Kind == EventStart {
					mu.Lock()
					order = append(order, name+":start")
					mu.Unlock()
				}
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				order = append(order, name+":err:"+err.Error())
			case res.FinishReason == FinishCancelled:
				order = append(order, name+":cancelled")
			default:
				results[name] = res.Text
			}
		}()
		// wait until it is running or queued, so arrival order is fixed
		want := int(name[0] - 'A')
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			e.slot.mu.Lock()
			busy := e.slot.busy
			e.slot.mu.Unlock()
			if busy && e.Queued() == want {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("%s never queued", name)
	}
	ctxC, cancelC := context.WithCancel(context.Background())
	start("A", context.Background())
	// A holds the slot from acquiring it, but reports its start a moment
	// later: wait for that, so it cannot race C's cancellation below.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		started := len(order) > 0
		mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A never started")
		}
	}
	start("B", context.Background())
	start("C", ctxC)
	start("D", context.Background())
	if q := e.Queued(); q != 3 {
		t.Fatalf("queued %d, want 3", q)
	}
	// A full queue is a distinguishable error.
	if _, err := e.Generate(context.Background(), Request{Messages: userMsg("E")}, nil); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("want ErrQueueFull, got %v", err)
	}
	// Cancelling C while queued frees its place at once.
	cancelC()
	deadline := time.Now().Add(2 * time.Second)
	for e.Queued() != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if q := e.Queued(); q != 2 {
		t.Fatalf("queued %d after cancel, want 2", q)
	}
	close(gate) // let everything run
	wg.Wait()
	// A started before C was cancelled; B and D started in arrival order.
	want := []string{"A:start", "C:cancelled", "B:start", "D:start"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v", order, want)
	}
	for _, n := range []string{"A", "B", "D"} {
		if results[n] != "ab" {
			t.Fatalf("%s got %q", n, results[n])
		}
	}
}

func TestConcurrentGenerationsAreSerialized(t *testing.T) {
	var active, maxActive int
	var mu sync.Mutex
	lm := &scriptLM{next: scripted("hello")}
	e := newFakeEngine(t, lm, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := e.Generate(context.Background(), Request{Messages: userMsg("q"), Sampling: Sampling{Temperature: 0.5, Seed: Seed(int64(i))}, CacheKey: []string{"a", "b", ""}[i%3]}, func(ev Event) {
				mu.Lock()
				switch ev.Kind {
				case EventStart:
					active++
					maxActive = max(maxActive, active)
				case EventDone:
					active--
				}
				mu.Unlock()
			})
			if err == nil && res.Text != "hello" {
				err = errors.New("wrong text " + res.Text)
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if maxActive != 1 {
		t.Fatalf("%d generations ran at once", maxActive)
	}
}

func TestNoModel(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Generate(context.Background(), Request{Prompt: "x"}, nil); !errors.Is(err, ErrNoModel) {
		t.Fatalf("want ErrNoModel, got %v", err)
	}
	if _, err := New(Options{Backend: "nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown backend: %v", err)
	}
}

func TestCloseFailsQueuedAndWaitsForRunning(t *testing.T) {
	gate := make(chan struct{})
	lm := &scriptLM{next: scripted("ab")}
	e := newFakeEngine(t, lm, Options{})
	lm.gate = gate
	running := make(chan *Result)
	go func() {
		res, _ := e.Generate(context.Background(), Request{Messages: userMsg("A")}, nil)
		running <- res
	}()
	for e.Queued() != 0 || !slotBusy(e) {
		time.Sleep(time.Millisecond)
	}
	queued := make(chan error)
	go func() {
		_, err := e.Generate(context.Background(), Request{Messages: userMsg("B")}, nil)
		queued <- err
	}()
	for e.Queued() != 1 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error)
	go func() { closed <- e.Close() }()
	if err := <-queued; !errors.Is(err, ErrClosed) {
		t.Fatalf("queued request: %v", err)
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a generation was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(gate)
	if res := <-running; res == nil || res.Text != "ab" {
		t.Fatalf("running request: %+v", res)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if !lm.isClosed() {
		t.Fatal("model not closed")
	}
	if _, err := e.Generate(context.Background(), Request{Messages: userMsg("C")}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func slotBusy(e *Engine) bool {
	e.slot.mu.Lock()
	defer e.slot.mu.Unlock()
	return e.slot.busy
}

func TestLogprobs(t *testing.T) {
	lm := &scriptLM{next: scripted("ab")}
	e := newFakeEngine(t, lm, Options{})
	var evLps []*TokenLogprob
	res, err := e.Generate(context.Background(), Request{Messages: userMsg("q"), Logprobs: true, TopLogprobs: 3}, func(ev Event) {
		if ev.Kind == EventToken {
			evLps = append(evLps, ev.Logprob)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Logprobs) != len(res.Tokens) || len(evLps) != len(res.Tokens) {
		t.Fatalf("%d logprobs for %d tokens (%d events)", len(res.Logprobs), len(res.Tokens), len(evLps))
	}
	// The scripted logits: 10 for the chosen token, (i%7)/10 for the rest.
	var sum float64
	for i := 0; i < fakeVocab; i++ {
		sum += math.Exp(float64(float32(i%7) * 0.1))
	}
	first := res.Logprobs[0]
	want := 10 - math.Log(sum-math.Exp(float64(float32('a'%7)*0.1))+math.Exp(10))
	if first.Token != 'a' || first.Text != "a" || math.Abs(float64(first.Logprob)-want) > 1e-4 {
		t.Fatalf("logprob %+v, want %.6f", first, want)
	}
	if len(first.Top) != 3 || first.Top[0].Token != 'a' || first.Top[1].Logprob > first.Top[0].Logprob || first.Top[2].Logprob > first.Top[1].Logprob {
		t.Fatalf("top %+v", first.Top)
	}
	if evLps[0] == nil || evLps[0].Logprob != res.Logprobs[0].Logprob {
		t.Fatal("event and result logprobs differ")
	}
	if _, err := e.Generate(context.Background(), Request{Messages: userMsg("q"), TopLogprobs: 2}, nil); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("top_logprobs without logprobs: %v", err)
	}
}

func TestChunkedPrefillProgressAndAnonymousCache(t *testing.T) {
	lm := &scriptLM{next: scripted("ok")}
	e := newFakeEngine(t, lm, Options{PrefillChunk: 8})
	var progress []int
	prompt := "a long prompt of thirty-one b" // BOS + 29 bytes + ":" = 31 tokens
	res, err := e.Generate(context.Background(), Request{Prompt: prompt + ":"}, func(ev Event) {
		if ev.Kind == EventPrefill {
			progress = append(progress, ev.PrefillDone)
			if ev.PrefillTotal != 31 {
				t.Errorf("total %d", ev.PrefillTotal)
			}
		}
	})
	if err != nil || res.Text != "ok" {
		t.Fatalf("%v %+v", err, res)
	}
	if !slices.Equal(progress, []int{8, 16, 24, 31}) {
		t.Fatalf("prefill progress %v", progress)
	}
	if calls := lm.forwardCalls(); !slices.Equal(calls[:4], []int{8, 8, 8, 7}) {
		t.Fatalf("forward calls %v", calls)
	}
	// Without a cache key, a request extending the previous one reuses it.
	res, err = e.Generate(context.Background(), Request{Prompt: prompt + ":ok and more:"}, nil)
	if err != nil || res.Usage.CachedTokens != 33 {
		t.Fatalf("anonymous reuse: %v cached %d", err, res.Usage.CachedTokens)
	}
}
