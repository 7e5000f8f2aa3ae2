package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/impetus-llm/impetus/engine/ops"
)

// lm is what generation needs from a loaded model (model.Model).
type lm interface {
	newCache() (kvCache, error)
	// forward appends tokens to c and returns the last token's logits.
	forward(ctx context.Context, c kvCache, tokens []int32) ([]float32, error)
	close() error
}

// codec is what generation needs from a tokenizer.
type codec interface {
	encode(text string, addSpecial bool) []int32
	// decode is the text of ids, special tokens included (logprobs).
	decode(ids []int32) string
	newStream() streamDecoder
}

// streamDecoder turns token ids into text, whole UTF-8 characters only,
// skipping special tokens.
type streamDecoder interface {
	Add(id int32) string
	Flush() string
}

// renderer applies a chat template.
type renderer interface {
	render(msgs []Message, tools []json.RawMessage, vars map[string]any) (string, error)
}

// loaded is the resident model with everything generation needs.
type loaded struct {
	info ModelInfo
	lm   lm
	tok  codec
	tmpl renderer // nil: the model has no chat template
	eos  map[int32]bool
}

func (m *loaded) close() error { return m.lm.close() }

// prompt renders and tokenizes a request.
func (m *loaded) prompt(req Request) (Prompt, error) {
	switch {
	case len(req.PromptTokens) > 0:
		for i, t := range req.PromptTokens {
			if t < 0 || int(t) >= m.info.VocabSize {
				return Prompt{}, &RequestError{Field: "prompt", Message: fmt.Sprintf("token %d at index %d is outside the vocabulary (0..%d)", t, i, m.info.VocabSize-1)}
			}
		}
		return Prompt{Tokens: append([]int32(nil), req.PromptTokens...)}, nil
	case req.Prompt != "":
		return Prompt{Text: req.Prompt, Tokens: m.tok.encode(req.Prompt, true)}, nil
	}
	if nt, ok := m.tmpl.(*noTemplate); ok || m.tmpl == nil {
		why := "tokenizer_config.json has no chat_template and there is no chat_template.jinja"
		if ok && nt.err != nil {
			why = nt.err.Error()
		}
		return Prompt{}, &RequestError{Field: "messages", Message: fmt.Sprintf("model %s cannot render chat messages: %s; send a raw prompt instead (impetus run --raw)", m.info.Path, why)}
	}
	msgs := req.Messages
	if req.System != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
		msgs = append([]Message{{Role: "system", Content: req.System}}, msgs...)
	}
	text, err := m.tmpl.render(msgs, req.Tools, req.TemplateVars)
	if err != nil {
		return Prompt{}, fmt.Errorf("chat template of %s: %w", m.info.Path, err)
	}
	return Prompt{Text: text, Tokens: m.tok.encode(text, false)}, nil
}

// fit checks that a prompt of n tokens and req.MaxTokens fit the context
// and returns the completion budget.
func (m *loaded) fit(req Request, n int) (int, error) {
	nctx := m.info.ContextLength
	if n == 0 {
		return 0, &RequestError{Field: "prompt", Message: "the prompt encodes to zero tokens"}
	}
	if n >= nctx {
		return 0, &ContextLengthError{PromptTokens: n, ContextLength: nctx}
	}
	room := nctx - n
	switch {
	case req.MaxTokens == 0:
		return room, nil
	case req.MaxTokens > room && req.ClampMaxTokens:
		return room, nil
	case req.MaxTokens > room:
		return 0, &ContextLengthError{PromptTokens: n, MaxTokens: req.MaxTokens, ContextLength: nctx}
	}
	return req.MaxTokens, nil
}

// prefillChunk is the number of prompt tokens per forward pass. The CPU
// backend keeps every temporary of a step until the step ends, so its memory
// grows with the chunk (about 3 MB per token for a Qwen2.5-0.5B shape: ~200
// MB at 64) while its speed is no better beyond that: 512-token prompts
// prefilled at 79-81 tok/s with 64-token chunks, 72-79 with 128
// (BenchmarkQwen05BPrefillChunk, 2 threads). GPU backends want bigger steps.
func (e *Engine) prefillChunk(m *loaded) int {
	if e.opts.PrefillChunk > 0 {
		return e.opts.PrefillChunk
	}
	if m.info.Backend == "cpu" {
		return 64
	}
	return 512
}

// generate runs one request on m. The caller holds the slot.
func (e *Engine) generate(ctx context.Context, m *loaded, req Request, queue time.Duration, onEvent func(Event)) (*Result, error) {
	start := time.Now()
	p, err := m.prompt(req)
	if err != nil {
		return nil, err
	}
	prompt := p.Tokens
	maxTokens, err := m.fit(req, len(prompt))
	if err != nil {
		return nil, err
	}

	res := &Result{Model: m.info.Path}
	res.Timings.Queue = queue
	res.Usage.PromptTokens = len(prompt)
	finish := func() *Result {
		res.Usage.CompletionTokens = len(res.Tokens)
		res.Usage.TotalTokens = res.Usage.PromptTokens + res.Usage.CompletionTokens
		t := &res.Timings
		t.Total = time.Since(start)
		if t.Prefill > 0 {
			t.PrefillTokensPerSec = float64(t.PrefillTokens) / t.Prefill.Seconds()
		}
		if t.Decode > 0 && t.DecodeSteps > 0 {
			t.DecodeTokensPerSec = float64(t.DecodeSteps) / t.Decode.Seconds()
		}
		return res
	}

	// Continue from a kept KV cache: keep the longest common prefix, and
	// always re-run at least the last prompt token to get its logits.
	entry := e.caches.take(req.CacheKey, prompt)
	if entry != nil {
		reuse := min(commonPrefix(entry.tokens, prompt), len(prompt)-1, entry.c.Len())
		entry.c.Truncate(reuse)
		entry.tokens = entry.tokens[:reuse]
	} else {
		c, err := m.lm.newCache()
		if err != nil {
			return nil, fmt.Errorf("allocating the KV cache: %w", err)
		}
		entry = &cacheEntry{c: c}
	}
	entry.key = req.CacheKey
	cached := len(entry.tokens)
	res.Usage.CachedTokens = cached
	// keep returns the entry to the pool if its contents are trustworthy.
	keep := func(ok bool) {
		if ok && entry.c.Len() >= len(entry.tokens) {
			entry.c.Truncate(len(entry.tokens))
			e.caches.put(entry)
		} else {
			entry.c.Release()
		}
	}
	onEvent(Event{Kind: EventStart, PromptTokens: len(prompt), CachedTokens: cached})

	// Prefill in chunks.
	var logits []float32
	pstart := time.Now()
	todo := prompt[cached:]
	chunk := e.prefillChunk(m)
	res.Timings.PrefillTokens = len(todo)
	for len(todo) > 0 {
		n := min(len(todo), chunk)
		if err := ctx.Err(); err != nil {
			res.Timings.Prefill = time.Since(pstart)
			res.FinishReason = FinishCancelled
			keep(true)
			return finish(), nil
		}
		logits, err = m.lm.forward(ctx, entry.c, todo[:n])
		if err != nil {
			res.Timings.Prefill = time.Since(pstart)
			keep(false)
			if ctx.Err() != nil {
				res.FinishReason = FinishCancelled
				return finish(), nil
			}
			res.FinishReason = FinishError
			return finish(), fmt.Errorf("prefill: %w", modelError(err))
		}
		entry.tokens = append(entry.tokens, todo[:n]...)
		todo = todo[n:]
		if res.Timings.PrefillTokens > chunk {
			onEvent(Event{Kind: EventPrefill, PrefillDone: res.Timings.PrefillTokens - len(todo), PrefillTotal: res.Timings.PrefillTokens})
		}
	}
	res.Timings.Prefill = time.Since(pstart)

	var seed uint64
	if req.Sampling.Seed != nil {
		seed = uint64(*req.Sampling.Seed)
	} else {
		seed = randomSeed()
	}
	smp := newSampler(req.Sampling, seed, prompt)
	dec := m.tok.newStream()
	stop := newStopFilter(req.Stop)
	var text strings.Builder
	var raw []float32 // the model's logits before sampling, for logprobs
	var lp *TokenLogprob
	emit := func(tok int32, s string) {
		text.WriteString(s)
		onEvent(Event{Kind: EventToken, Token: tok, Text: s, Logprob: lp})
	}
	var firstAt time.Time
	stepFailed := func(err error) (*Result, error) {
		keep(false)
		res.Text = text.String()
		if ctx.Err() != nil {
			res.FinishReason = FinishCancelled
			return finish(), nil
		}
		res.FinishReason = FinishError
		return finish(), fmt.Errorf("decode step %d: %w", len(res.Tokens), modelError(err))
	}
	// gp, when set, decodes greedily on the device, pipelined: cur is the
	// scheduled step whose token is read next, nxt the step after it,
	// scheduled from cur's token before that token is read. The first
	// token comes from the prefill's host logits as usual.
	gp := pipelineFor(m, req, smp)
	var cur, nxt ops.DeviceToken
	if gp != nil {
		defer func() {
			gp.releaseToken(cur)
			gp.releaseToken(nxt)
		}()
	}
	for {
		var tok int32
		if cur != nil {
			// cur's token is not the last allowed one: compute the next
			// step while Go handles this one. If it turns out to end the
			// generation, that step is discarded (keep truncates the
			// cache to the tokens kept).
			if len(res.Tokens)+1 < maxTokens {
				if nxt, err = gp.nextGreedy(ctx, entry.c, cur); err != nil {
					nxt = nil
					if ctx.Err() == nil {
						return stepFailed(err)
					}
					// Cancelled: still deliver cur's token; the check
					// below ends the loop.
				}
			}
			tok, err = gp.tokenValue(cur)
			gp.releaseToken(cur)
			cur = nil
			if err != nil {
				return stepFailed(err)
			}
		} else {
			if req.Logprobs {
				raw = append(raw[:0], logits...)
			}
			if tok, err = smp.sample(logits); err != nil {
				keep(true)
				res.Text = text.String()
				res.FinishReason = FinishError
				return finish(), err
			}
		}
		now := time.Now()
		if firstAt.IsZero() {
			firstAt = now
			res.Timings.TTFT = now.Sub(start)
		} else {
			res.Timings.Decode = now.Sub(firstAt)
		}
		prev := int32(-1) // the generated text starts here: no token before it
		if len(res.Tokens) > 0 {
			prev = res.Tokens[len(res.Tokens)-1]
		}
		res.Tokens = append(res.Tokens, tok)
		smp.accept(tok)
		if req.Logprobs {
			lp = tokenLogprob(raw, prev, tok, req.TopLogprobs, m.tok)
			res.Logprobs = append(res.Logprobs, *lp)
		}
		if m.eos[tok] && !req.IgnoreEOS {
			emit(tok, "")
			res.FinishReason = FinishStop
			break
		}
		out, hit := stop.push(dec.Add(tok))
		emit(tok, out)
		if hit != "" {
			res.FinishReason = FinishStop
			res.StopString = hit
			break
		}
		if len(res.Tokens) >= maxTokens {
			res.FinishReason = FinishLength
			break
		}
		if ctx.Err() != nil {
			res.FinishReason = FinishCancelled
			break
		}
		res.Timings.DecodeSteps++
		if gp != nil {
			if nxt != nil {
				// tok is already in the cache: nxt was computed from it.
				cur, nxt = nxt, nil
			} else if cur, err = gp.forwardGreedy(ctx, entry.c, []int32{tok}); err != nil {
				cur = nil
				return stepFailed(err)
			}
			entry.tokens = append(entry.tokens, tok)
			continue
		}
		if logits, err = m.lm.forward(ctx, entry.c, []int32{tok}); err != nil {
			return stepFailed(err)
		}
		entry.tokens = append(entry.tokens, tok)
	}
	if res.FinishReason != FinishStop || res.StopString == "" {
		// Text withheld for a possible stop string (or a trailing partial
		// character) was not part of one after all.
		tail, hit := stop.push(dec.Flush())
		if hit != "" {
			res.StopString = hit
			res.FinishReason = FinishStop
		} else {
			tail += stop.flush()
		}
		if tail != "" {
			lp = nil
			emit(-1, tail)
		}
	}
	keep(true)
	res.Text = text.String()
	return finish(), nil
}

// tokenLogprob is the log-probability of tok under the model's distribution
// (raw logits: before temperature, penalties and truncation), with the top
// most likely alternatives. Texts are what each token adds after the
// previously generated token prev (-1 for the first), so that the chosen
// tokens' texts join into the generated text, as its decoding does (a
// SentencePiece token decoded alone would lose its leading space).
func tokenLogprob(raw []float32, prev, tok int32, top int, tk codec) *TokenLogprob {
	text := func(id int32) string { return tk.decode([]int32{id}) }
	if prev >= 0 {
		prevText := tk.decode([]int32{prev})
		text = func(id int32) string {
			if t, ok := strings.CutPrefix(tk.decode([]int32{prev, id}), prevText); ok {
				return t
			}
			return tk.decode([]int32{id})
		}
	}
	maxL := raw[argmax(raw)]
	var sum float64
	for _, v := range raw {
		sum += math.Exp(float64(v - maxL))
	}
	lse := float64(maxL) + math.Log(sum)
	lp := &TokenLogprob{Token: tok, Text: text(tok), Logprob: float32(float64(raw[tok]) - lse)}
	if top > 0 {
		ids := make([]int32, len(raw))
		for i := range ids {
			ids[i] = int32(i)
		}
		top = min(top, len(ids))
		selectTop(ids, raw, top)
		sortDesc(ids[:top], raw)
		for _, id := range ids[:top] {
			lp.Top = append(lp.Top, TokenLogprob{Token: id, Text: text(id), Logprob: float32(float64(raw[id]) - lse)})
		}
	}
	return lp
}

// modelError makes a backend's non-finite-logits error match ErrBadLogits
// too, so callers test one sentinel wherever the NaN was caught.
func modelError(err error) error {
	if errors.Is(err, ops.ErrNonFinite) && !errors.Is(err, ErrBadLogits) {
		return fmt.Errorf("%w: %w", ErrBadLogits, err)
	}
	return err
}
