package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/impetus-llm/impetus/engine"
)

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := decode(w, r, &req); err != nil {
		s.writeEngineError(w, err)
		return
	}
	ereq, err := s.completionToEngine(&req)
	if err != nil {
		s.writeEngineError(w, err)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	sh := textShape{echo: req.Echo, prompt: ereq.Prompt, logprobs: ereq.Logprobs, offset: new(int)}
	if req.Echo {
		*sh.offset = len(ereq.Prompt)
	}
	s.serve(w, r, ereq, req.Stream, includeUsage, sh)
}

func (s *Server) completionToEngine(req *completionRequest) (engine.Request, error) {
	var out engine.Request
	switch {
	case req.N != nil && *req.N != 1:
		return out, &badRequest{"n", fmt.Sprintf("%d: impetus generates one choice per request (n must be 1)", *req.N)}
	case req.BestOf != nil && *req.BestOf != 1:
		return out, &badRequest{"best_of", "only best_of=1 is supported"}
	case req.Logprobs != nil && (*req.Logprobs < 0 || *req.Logprobs > 20):
		return out, &badRequest{"logprobs", fmt.Sprintf("%d is out of range [0, 20]", *req.Logprobs)}
	case req.Suffix != nil && *req.Suffix != "":
		return out, &badRequest{"suffix", "suffix (fill-in-the-middle) is not supported"}
	}
	prompt, tokens, err := promptOf(req.Prompt)
	if err != nil {
		return out, err
	}
	model, err := s.resolveModel(req.Model)
	if err != nil {
		return out, err
	}
	n, clamp, err := s.maxTokens(req.MaxTokens, "max_tokens")
	if err != nil {
		return out, err
	}
	sp, stop, err := s.sampling(req.samplingFields)
	if err != nil {
		return out, err
	}
	r := engine.Request{Model: model, Prompt: prompt, PromptTokens: tokens, MaxTokens: n, ClampMaxTokens: clamp, Sampling: sp, Stop: stop}
	if req.Logprobs != nil {
		r.Logprobs, r.TopLogprobs = true, *req.Logprobs
	}
	return r, nil
}

// promptOf accepts a string, a one-element array of strings, or token ids.
func promptOf(raw json.RawMessage) (string, []int32, error) {
	if strings.TrimSpace(string(raw)) == "" || string(raw) == "null" {
		return "", nil, &badRequest{"prompt", "a prompt is required"}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return "", nil, &badRequest{"prompt", "the prompt is empty"}
		}
		return s, nil, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		if len(list) != 1 || list[0] == "" {
			return "", nil, &badRequest{"prompt", "give one non-empty prompt (batches are not supported)"}
		}
		return list[0], nil, nil
	}
	var ids []int32
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return "", ids, nil
	}
	return "", nil, &badRequest{"prompt", "must be a string, an array of one string, or an array of token ids"}
}

type textShape struct {
	echo     bool
	prompt   string
	logprobs bool
	// offset is where the next streamed token's text starts in the
	// completion (text_offset counts from the start of the whole text).
	offset *int
}

func (textShape) idPrefix() string { return "cmpl-" }

func (t textShape) full(id, model string, created int64, res *engine.Result) any {
	text := res.Text
	if t.echo {
		text = t.prompt + text
	}
	fr := finishReason(res)
	u := usageOf(res)
	choice := textChoice{Text: text, FinishReason: &fr}
	if t.logprobs {
		choice.Logprobs = textLogprobsOf(res.Logprobs, len(text)-len(res.Text))
	}
	return textCompletion{ID: id, Object: "text_completion", Created: created, Model: model, SystemFingerprint: fingerprint,
		Choices: []textChoice{choice}, Usage: &u}
}

func (t textShape) chunk(id, model string, created int64, text *string, lps []engine.TokenLogprob, first bool, finish *string) any {
	s := ""
	if text != nil {
		s = *text
	}
	if first && t.echo {
		s = t.prompt + s
	}
	choice := textChoice{Text: s, FinishReason: finish}
	if t.logprobs && len(lps) > 0 {
		lp := textLogprobsOf(lps, *t.offset)
		for _, p := range lps {
			*t.offset += len(p.Text)
		}
		choice.Logprobs = lp
	}
	return textCompletion{ID: id, Object: "text_completion", Created: created, Model: model, SystemFingerprint: fingerprint,
		Choices: []textChoice{choice}}
}

func (textShape) usageChunk(id, model string, created int64, u usage) any {
	return textCompletion{ID: id, Object: "text_completion", Created: created, Model: model, SystemFingerprint: fingerprint,
		Choices: []textChoice{}, Usage: &u}
}
