package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/impetus-llm/impetus/engine"
)

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := decode(w, r, &req); err != nil {
		s.writeEngineError(w, err)
		return
	}
	ereq, err := s.chatToEngine(&req)
	if err != nil {
		s.writeEngineError(w, err)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s.serve(w, r, ereq, req.Stream, includeUsage, chatShape{logprobs: ereq.Logprobs})
}

// chatToEngine validates a chat request and converts it.
func (s *Server) chatToEngine(req *chatRequest) (engine.Request, error) {
	var out engine.Request
	if req.N != nil && *req.N != 1 {
		return out, &badRequest{"n", fmt.Sprintf("%d: impetus generates one choice per request (n must be 1)", *req.N)}
	}
	wantLogprobs := req.Logprobs != nil && *req.Logprobs
	top := 0
	if req.TopLogprobs != nil {
		if !wantLogprobs {
			return out, &badRequest{"top_logprobs", "needs \"logprobs\": true"}
		}
		if top = *req.TopLogprobs; top < 0 || top > 20 {
			return out, &badRequest{"top_logprobs", fmt.Sprintf("%d is out of range [0, 20]", top)}
		}
	}
	if req.ResponseFormat != nil && req.ResponseFormat.Type != "" && req.ResponseFormat.Type != "text" {
		return out, &badRequest{"response_format", fmt.Sprintf("type %q is not supported (only \"text\")", req.ResponseFormat.Type)}
	}
	if len(req.Messages) == 0 {
		return out, &badRequest{"messages", "at least one message is required"}
	}
	msgs := make([]engine.Message, 0, len(req.Messages))
	for i, raw := range req.Messages {
		m, err := chatMessageToEngine(raw)
		if err != nil {
			return out, &badRequest{fmt.Sprintf("messages[%d]", i), err.Error()}
		}
		msgs = append(msgs, m)
	}
	model, err := s.resolveModel(req.Model)
	if err != nil {
		return out, err
	}
	maxTok := req.MaxCompletionTokens
	param := "max_completion_tokens"
	if maxTok == nil {
		maxTok, param = req.MaxTokens, "max_tokens"
	}
	n, clamp, err := s.maxTokens(maxTok, param)
	if err != nil {
		return out, err
	}
	sp, stop, err := s.sampling(req.samplingFields)
	if err != nil {
		return out, err
	}
	for i, t := range req.Tools {
		if !json.Valid(t) || !bytes.HasPrefix(bytes.TrimSpace(t), []byte("{")) {
			return out, &badRequest{fmt.Sprintf("tools[%d]", i), "must be a JSON object"}
		}
	}
	return engine.Request{
		Model: model, Messages: msgs, MaxTokens: n, ClampMaxTokens: clamp, Sampling: sp, Stop: stop,
		Tools: req.Tools, TemplateVars: req.ChatTemplateKwargs, Logprobs: wantLogprobs, TopLogprobs: top,
	}, nil
}

// chatMessageToEngine accepts OpenAI message objects: content as a string or
// as an array of text parts; tool calls and tool results pass through to the
// chat template as the raw object.
func chatMessageToEngine(raw json.RawMessage) (engine.Message, error) {
	var m struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCalls  json.RawMessage `json:"tool_calls"`
		ToolCallID string          `json:"tool_call_id"`
		Name       string          `json:"name"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return engine.Message{}, fmt.Errorf("must be an object with role and content")
	}
	switch m.Role {
	case "system", "user", "assistant", "tool":
	case "developer":
		m.Role = "system" // OpenAI's newer name for system instructions
	case "":
		return engine.Message{}, fmt.Errorf("missing role")
	default:
		return engine.Message{}, fmt.Errorf("role %q: want system, developer, user, assistant or tool", m.Role)
	}
	content, err := contentText(m.Content)
	if err != nil {
		return engine.Message{}, err
	}
	out := engine.Message{Role: m.Role, Content: content}
	if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" || m.ToolCallID != "" || m.Name != "" {
		// The template sees the whole message (tool_calls, tool_call_id, name)
		// with content as plain text.
		obj := map[string]json.RawMessage{}
		json.Unmarshal(raw, &obj)
		c, _ := json.Marshal(content)
		obj["content"] = c
		if m.Role != "" {
			r, _ := json.Marshal(m.Role)
			obj["role"] = r
		}
		out.Raw, _ = json.Marshal(obj)
	}
	return out, nil
}

// contentText flattens message content: a string, null, or text parts.
func contentText(raw json.RawMessage) (string, error) {
	trimmed := strings.TrimSpace(string(raw))
	if trimmed == "" || trimmed == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part of type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// shape renders engine output as one endpoint's JSON objects.
type shape interface {
	idPrefix() string
	full(id, model string, created int64, res *engine.Result) any
	// chunk is a streamed piece: text, the log-probabilities of the tokens
	// it completes (when asked for), and a finish reason on the last one.
	chunk(id, model string, created int64, text *string, lps []engine.TokenLogprob, first bool, finish *string) any
	usageChunk(id, model string, created int64, u usage) any
}

type chatShape struct{ logprobs bool }

func (chatShape) idPrefix() string { return "chatcmpl-" }

func (c chatShape) full(id, model string, created int64, res *engine.Result) any {
	choice := chatChoice{Message: chatMessage{Role: "assistant", Content: res.Text}, FinishReason: finishReason(res)}
	if c.logprobs {
		choice.Logprobs = chatLogprobsOf(res.Logprobs)
	}
	return chatCompletion{
		ID: id, Object: "chat.completion", Created: created, Model: model, SystemFingerprint: fingerprint,
		Choices: []chatChoice{choice}, Usage: usageOf(res),
	}
}

func (c chatShape) chunk(id, model string, created int64, text *string, lps []engine.TokenLogprob, first bool, finish *string) any {
	d := chatDelta{Content: text}
	if first {
		d.Role = "assistant"
	}
	choice := chunkChoice{Delta: d, FinishReason: finish}
	if c.logprobs && len(lps) > 0 {
		choice.Logprobs = chatLogprobsOf(lps)
	}
	return chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, SystemFingerprint: fingerprint,
		Choices: []chunkChoice{choice}}
}

func (chatShape) usageChunk(id, model string, created int64, u usage) any {
	return chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, SystemFingerprint: fingerprint,
		Choices: []chunkChoice{}, Usage: &u}
}

func finishReason(res *engine.Result) string {
	if res.FinishReason == engine.FinishLength {
		return "length"
	}
	return "stop"
}

func usageOf(res *engine.Result) usage {
	u := usage{PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens,
		TotalTokens: res.Usage.PromptTokens + res.Usage.CompletionTokens}
	if res.Usage.CachedTokens > 0 {
		u.PromptTokensDetails = &promptTokensDetails{CachedTokens: res.Usage.CachedTokens}
	}
	return u
}

// serve runs a request and writes it as one JSON object or as SSE chunks.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, req engine.Request, stream, includeUsage bool, sh shape) {
	id := newID(sh.idPrefix())
	created := time.Now().Unix()
	modelName := func() string {
		if info, ok := s.Engine.Loaded(); ok {
			return info.Ref
		}
		return req.Model
	}
	if !stream {
		res, err := s.generate(r.Context(), req, nil)
		if res == nil {
			s.writeEngineError(w, err)
			return
		}
		if err != nil || res.FinishReason == engine.FinishError {
			msg := "generation failed"
			if err != nil {
				msg = oneLine(err.Error())
			}
			writeError(w, http.StatusInternalServerError, "server_error", "", "generation_failed", msg)
			return
		}
		if res.FinishReason == engine.FinishCancelled {
			return // the client is gone
		}
		writeJSON(w, http.StatusOK, sh.full(id, modelName(), created, res))
		return
	}

	sse := newSSEWriter(w, s.writeTimeout())
	started := false
	// Log-probabilities of tokens whose text is still held back (a partial
	// character, a possible stop string) ride with the next text chunk.
	var pendingLps []engine.TokenLogprob
	res, err := s.generate(r.Context(), req, func(ev engine.Event) {
		if sse.failed() {
			return
		}
		switch ev.Kind {
		case engine.EventStart:
			started = true
			sse.start()
			empty := ""
			sse.send(sh.chunk(id, modelName(), created, &empty, nil, true, nil))
		case engine.EventToken:
			if ev.Logprob != nil {
				pendingLps = append(pendingLps, *ev.Logprob)
			}
			if ev.Text != "" {
				text := ev.Text
				sse.send(sh.chunk(id, modelName(), created, &text, pendingLps, false, nil))
				pendingLps = nil
			}
		}
	})
	if !started {
		if res == nil {
			s.writeEngineError(w, err)
		}
		return
	}
	if res == nil || sse.failed() || res.FinishReason == engine.FinishCancelled {
		return
	}
	if err != nil || res.FinishReason == engine.FinishError {
		msg := "generation failed"
		if err != nil {
			msg = oneLine(err.Error())
		}
		sse.send(map[string]apiError{"error": {Message: msg, Type: "server_error"}})
		sse.done()
		return
	}
	fr := finishReason(res)
	sse.send(sh.chunk(id, modelName(), created, nil, pendingLps, false, &fr))
	if includeUsage {
		sse.send(sh.usageChunk(id, modelName(), created, usageOf(res)))
	}
	sse.done()
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout > 0 {
		return s.WriteTimeout
	}
	return 30 * time.Second
}
