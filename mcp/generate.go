package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/session"
	"github.com/impetus-llm/impetus/store"
)

// generateArgs are generate's arguments.
type generateArgs struct {
	Prompt         *string          `json:"prompt"`
	Messages       []engine.Message `json:"messages"`
	System         string           `json:"system"`
	Raw            bool             `json:"raw"`
	Model          string           `json:"model"`
	MaxTokens      *int             `json:"max_tokens"`
	Temperature    *float64         `json:"temperature"`
	TopP           *float64         `json:"top_p"`
	Seed           *int64           `json:"seed"`
	Stop           []string         `json:"stop"`
	ConversationID string           `json:"conversation_id"`
	Save           bool             `json:"save"`
	Title          string           `json:"title"`
}

// checkGenerate enforces what the schema cannot say: exactly one of prompt
// and messages, and which options go together.
func checkGenerate(raw json.RawMessage) *paramError {
	var a generateArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return invalidParams("", "invalid arguments: %v", err)
	}
	switch {
	case a.Prompt != nil && a.Messages != nil:
		return invalidParams("messages", "give either prompt or messages, not both")
	case a.Prompt == nil && a.Messages == nil:
		return invalidParams("prompt", "prompt (a message) or messages (a chat) is required")
	case a.Raw && a.Prompt == nil:
		return invalidParams("raw", "raw applies to prompt, not to messages")
	case a.Raw && (a.Save || a.ConversationID != ""):
		return invalidParams("raw", "a raw completion cannot be saved in the history (a conversation is a chat); drop raw, save and conversation_id together")
	case a.Raw && a.System != "":
		return invalidParams("system", "system has no effect with raw (there is no chat template); put it in the prompt")
	case a.ConversationID != "" && a.System != "":
		return invalidParams("system", "a stored conversation keeps its own system prompt; leave system out when continuing one")
	case a.Title != "" && !a.Save && a.ConversationID == "":
		return invalidParams("title", "title names a new saved conversation: add save=true")
	case a.Title != "" && a.ConversationID != "":
		return invalidParams("title", "title only applies to a new conversation, not to conversation_id")
	}
	if a.Prompt != nil && strings.TrimSpace(*a.Prompt) == "" {
		return invalidParams("prompt", "prompt is empty")
	}
	if n := len(a.Messages); n > 0 && (a.Save || a.ConversationID != "") && a.Messages[n-1].Role != "user" {
		return invalidParams(fmt.Sprintf("messages[%d].role", n-1), "to save an exchange the last message must be the user's (the model's reply is added to it)")
	}
	return nil
}

// handleGenerate runs the model, streaming progress when asked to.
func (s *Server) handleGenerate(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	var a generateArgs
	if err := decodeArgs(req, &a); err != nil {
		return toolError("generate: %v", err), nil
	}
	sampling := s.opts.Sampling
	if a.Temperature != nil {
		sampling.Temperature = *a.Temperature
	}
	if a.TopP != nil {
		sampling.TopP = *a.TopP
	}
	if a.Seed != nil {
		sampling.Seed = engine.Seed(*a.Seed)
	}
	maxTokens, explicit := s.opts.MaxTokens, a.MaxTokens != nil
	if explicit {
		maxTokens = *a.MaxTokens
	}

	prog := s.newProgress(ctx, req, maxTokens)
	defer prog.finish()
	onEvent := func(ev engine.Event) {
		if ev.Kind == engine.EventToken {
			prog.add(ev.Text)
		}
	}

	start := time.Now()
	if prog != nil {
		// Loading a model can take long: load it first, reporting its
		// progress, so that clients that extend their timeout on progress
		// keep waiting. A failure here is reported by the generation below
		// (which, when saving, has stored the user's message first).
		target := a.Model
		if target == "" && a.ConversationID == "" {
			target = s.modelFor("")
		}
		if target != "" && !s.resident(target) {
			if _, err := s.opts.Engine.Load(ctx, target, prog.loading); err != nil {
				s.log.Debug("loading before generate", "model", target, "err", err)
			}
		}
	}
	var (
		res   *engine.Result
		reply *session.Reply
		err   error
	)
	if a.Save || a.ConversationID != "" {
		turn := session.Turn{
			ConversationID: a.ConversationID, Title: a.Title, System: a.System, Model: a.Model,
			MaxTokens: maxTokens, ClampMaxTokens: !explicit, Sampling: sampling, Stop: a.Stop,
		}
		if turn.ConversationID == "" {
			// Record the model a new conversation uses even though it may
			// not be loaded yet (a continued one keeps its own).
			turn.Model = s.modelFor(a.Model)
		}
		if a.Prompt != nil {
			turn.User = *a.Prompt
		} else {
			n := len(a.Messages)
			turn.Prior, turn.User = a.Messages[:n-1], a.Messages[n-1].Content
		}
		reply, err = s.runner.Run(ctx, turn, onEvent)
		if reply != nil {
			res = reply.Result
		}
	} else {
		r := engine.Request{Model: a.Model, System: a.System, MaxTokens: maxTokens, ClampMaxTokens: !explicit,
			Sampling: sampling, Stop: a.Stop}
		switch {
		case a.Raw:
			r.Prompt = *a.Prompt
		case a.Prompt != nil:
			r.Messages = []engine.Message{{Role: "user", Content: *a.Prompt}}
		default:
			r.Messages = a.Messages
		}
		res, err = s.opts.Engine.Generate(ctx, r, onEvent)
	}
	prog.finish()

	if res == nil {
		s.log.Info("generate failed", "model", a.Model, "err", err)
		msg := generationError(err, a.Model, s.opts.DefaultModel)
		if reply != nil && reply.ConversationID != "" {
			msg += fmt.Sprintf(" (the user message was saved in conversation %s)", reply.ConversationID)
		}
		return toolError("%s", msg), nil
	}
	out := generateResult(res)
	if reply != nil {
		out.ConversationID, out.MessageID = reply.ConversationID, reply.MessageID
	}
	s.log.Debug("generate", "model", res.Model, "finish", res.FinishReason, "tokens", res.Usage.CompletionTokens, "took", time.Since(start).Round(time.Millisecond))
	if err != nil || res.FinishReason == engine.FinishError {
		why := "the model failed"
		if err != nil {
			why = err.Error()
		}
		r := toolError("generation failed after %d tokens: %s", res.Usage.CompletionTokens, why)
		r.StructuredContent = out
		return r, nil
	}
	// The text block is the generated text itself: what an agent asked for.
	return &mcpgo.CallToolResult{
		Content:           []mcpgo.Content{mcpgo.NewTextContent(res.Text)},
		StructuredContent: out,
	}, nil
}

// generationError explains a generation that never started.
func generationError(err error, model, defaultModel string) string {
	if err == nil {
		return "generation failed for an unknown reason"
	}
	switch {
	case errors.Is(err, engine.ErrNoModel):
		return "no model to generate with: pass model (see list_models), or start the server with -m MODEL or set `model` in config.toml"
	case errors.Is(err, engine.ErrQueueFull):
		return "the model is busy with too many requests; try again later"
	case errors.Is(err, store.ErrNotFound):
		return err.Error() + " (list_conversations shows the ids)"
	}
	var cle *engine.ContextLengthError
	var rerr *engine.RequestError
	if errors.As(err, &cle) || errors.As(err, &rerr) {
		return err.Error()
	}
	if model == "" {
		model = defaultModel
	}
	if model != "" {
		return fmt.Sprintf("cannot generate with model %s: %v (list_models shows the models on this machine)", model, err)
	}
	return err.Error()
}

// modelFor is the model a call naming ref uses, as the engine picks it:
// ref, else the resident model, else the default.
func (s *Server) modelFor(ref string) string {
	if ref != "" {
		return ref
	}
	if info, ok := s.opts.Engine.Loaded(); ok {
		return info.Ref
	}
	return s.opts.DefaultModel
}

// resident reports whether ref is the model in memory.
func (s *Server) resident(ref string) bool {
	info, ok := s.opts.Engine.Loaded()
	return ok && (info.Ref == ref || info.Path == ref)
}

// progress streams a generation's text as progress notifications when the
// client sent a progressToken: message is the text since the previous
// notification, progress the number of tokens so far, total max_tokens when
// known. Notifications are at least Options.ProgressInterval apart; text in
// between is coalesced, never dropped, so the messages concatenated are the
// whole text. Sending never blocks the model: a notification the transport
// cannot take yet waits for the next token or the final flush.
type progress struct {
	s     *Server
	ctx   context.Context
	token mcpgo.ProgressToken
	total int

	mu       sync.Mutex
	load     float64 // last loading progress sent, in [0, 1)
	pending  strings.Builder
	tokens   int
	sent     int // tokens reported so far
	lastSend time.Time
	done     bool
}

func (s *Server) newProgress(ctx context.Context, req mcpgo.CallToolRequest, total int) *progress {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	return &progress{s: s, ctx: ctx, token: req.Params.Meta.ProgressToken, total: total}
}

// loading reports model loading as progress from 0 to 0.99 with no message
// (tokens then count from 1, so progress keeps increasing).
func (p *progress) loading(lp engine.LoadProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := lp.Fraction * 0.99
	if p.done || p.tokens > 0 || v <= p.load {
		return
	}
	err := p.s.mcp.SendNotificationToClient(p.ctx, string(mcpgo.MethodNotificationProgress),
		map[string]any{"progressToken": p.token, "progress": v})
	if err == nil {
		p.load = v
	}
}

// add records one generated token and its text.
func (p *progress) add(text string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.tokens++
	p.pending.WriteString(text)
	if time.Since(p.lastSend) >= p.s.opts.ProgressInterval {
		p.sendLocked()
	}
}

// sendLocked sends what is pending; false when the transport is full.
func (p *progress) sendLocked() bool {
	if p.tokens <= p.sent {
		return true
	}
	params := map[string]any{"progressToken": p.token, "progress": p.tokens}
	if p.total > 0 && p.tokens <= p.total {
		params["total"] = p.total
	}
	if p.pending.Len() > 0 {
		params["message"] = p.pending.String()
	}
	err := p.s.mcp.SendNotificationToClient(p.ctx, string(mcpgo.MethodNotificationProgress), params)
	if errors.Is(err, server.ErrNotificationChannelBlocked) {
		return false
	}
	if err != nil {
		p.s.log.Debug("progress notification not sent", "err", err)
	}
	p.sent = p.tokens
	p.pending.Reset()
	p.lastSend = time.Now()
	return true
}

// finish sends what is left, waiting briefly for a full transport, so the
// last notification precedes the result. Safe to call twice.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	deadline := time.Now().Add(2 * time.Second)
	for !p.sendLocked() && time.Now().Before(deadline) && p.ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
}
