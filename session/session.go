// Package session runs conversation turns: the engine generates and the store
// keeps every message as it happens. `impetus run`, the TUI, the MCP server and
// the OpenAI API's --save mode all record history through it, so a turn is
// saved the same way everywhere:
//
//   - the user's message is written before the model runs (nothing typed is lost);
//   - the reply row exists from the moment generation starts and is streamed
//     into the store (store.Writer flushes every ~100 ms) marked incomplete;
//   - it ends complete with its stats, stopped (cancelled, text kept) or error.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/store"
)

// Runner runs turns of stored conversations on an engine.
type Runner struct {
	Engine *engine.Engine
	Store  *store.Store
}

// Turn is one exchange to run and record.
type Turn struct {
	// ConversationID continues a conversation (a unique id prefix works too);
	// "" starts a new one with Title, Model and System.
	ConversationID string
	Title          string // new conversation's title; "" derives it from the first user message
	System         string // new conversation's system prompt
	// Model is the model reference; "" means the conversation's model, then
	// the engine's resident or default model.
	Model string
	// Prior messages are appended before User, e.g. a whole conversation an
	// API client sent. Usually empty.
	Prior []engine.Message
	// CacheByPrefix keeps this turn's KV cache in the engine's shared pool,
	// matched by token prefix, instead of under the conversation's id: for
	// stateless clients that resend the whole history to a new conversation
	// each time, whose id would never be used again.
	CacheByPrefix bool
	// User is the new user message. When it and Prior are empty, the turn
	// regenerates: a new reply (a sibling branch) to the user message at
	// ParentID, or at the end of the active branch.
	User string
	// ParentID places the new message under this one instead of after the
	// active branch's last message: editing an earlier user turn (a new
	// branch) or regenerating an earlier reply.
	ParentID string
	// EditOf is a user message this turn rewrites: User becomes its sibling
	// (a new branch from the same point, the old branch kept) and the reply
	// answers the new text.
	EditOf string

	MaxTokens int
	// ClampMaxTokens lowers MaxTokens to what the context leaves instead of
	// failing: for configured defaults, not for limits a user asked for.
	ClampMaxTokens bool
	Sampling       engine.Sampling
	Stop           []string
	Tools          []json.RawMessage
	TemplateVars   map[string]any
}

// Reply is what a turn produced and where it is stored.
type Reply struct {
	ConversationID string
	UserMessageID  string // "" when the turn regenerated
	MessageID      string // the assistant message; "" when generation never started
	Result         *engine.Result
}

// Run records t's user message, generates the reply and streams it into the
// store, calling onEvent (may be nil) with every engine event. Errors before
// generation starts (invalid request, context overflow, model not found) leave
// the user's message stored and no reply row.
func (r *Runner) Run(ctx context.Context, t Turn, onEvent func(engine.Event)) (*Reply, error) {
	conv, err := r.conversation(ctx, t)
	if err != nil {
		return nil, err
	}
	reply := &Reply{ConversationID: conv.ID}
	parent, err := r.appendInputs(ctx, conv.ID, t, reply)
	if err != nil {
		return reply, err
	}
	path, err := r.Store.PathTo(ctx, parent)
	if err != nil {
		return reply, err
	}
	model := firstNonEmpty(t.Model, conv.Model)
	settings, _ := json.Marshal(t.Sampling)
	req := engine.Request{
		Model:          model,
		Messages:       EngineMessages(path),
		System:         conv.SystemPrompt,
		Tools:          t.Tools,
		TemplateVars:   t.TemplateVars,
		MaxTokens:      t.MaxTokens,
		ClampMaxTokens: t.ClampMaxTokens,
		Sampling:       t.Sampling,
		Stop:           t.Stop,
	}
	if !t.CacheByPrefix {
		req.CacheKey = conv.ID
	}
	var (
		w        *store.Writer
		beginErr error
	)
	res, genErr := r.Engine.Generate(ctx, req, func(ev engine.Event) {
		switch ev.Kind {
		case engine.EventStart:
			w, beginErr = r.Store.BeginMessage(ctx, store.NewMessage{
				ConversationID: conv.ID, ParentID: parent, Role: store.RoleAssistant,
				Model: r.modelName(model), Settings: settings,
			})
		case engine.EventToken:
			if w != nil && ev.Text != "" {
				w.Append(ev.Text)
			}
		}
		if onEvent != nil {
			onEvent(ev)
		}
	})
	reply.Result = res
	if w == nil {
		if genErr == nil && beginErr != nil {
			genErr = beginErr
		}
		return reply, genErr
	}
	reply.MessageID = w.ID()
	if err := finishWriter(w, res, genErr); err != nil && genErr == nil {
		genErr = err
	}
	if beginErr != nil && genErr == nil {
		genErr = beginErr
	}
	return reply, genErr
}

// conversation finds or creates the conversation of t.
func (r *Runner) conversation(ctx context.Context, t Turn) (*store.Conversation, error) {
	if t.ConversationID != "" {
		return r.Store.GetConversation(ctx, t.ConversationID)
	}
	title := t.Title
	if title == "" {
		title = TitleFrom(t.User)
		if title == "" {
			for _, m := range t.Prior {
				if m.Role == "user" {
					title = TitleFrom(m.Content)
					break
				}
			}
		}
	}
	return r.Store.CreateConversation(ctx, store.NewConversation{
		Title: title, Model: r.modelName(t.Model), SystemPrompt: t.System,
	})
}

// appendInputs stores Prior and User and returns the message the reply answers.
func (r *Runner) appendInputs(ctx context.Context, convID string, t Turn, reply *Reply) (string, error) {
	parent := t.ParentID
	asRoot := false
	if t.EditOf != "" {
		old, err := r.Store.GetMessage(ctx, t.EditOf)
		if err != nil {
			return "", err
		}
		if old.Role != store.RoleUser || old.ConversationID != convID {
			return "", fmt.Errorf("message %s is not a user message of this conversation: only your own messages can be edited", t.EditOf)
		}
		if t.User == "" {
			return "", errors.New("editing a message needs its new text")
		}
		parent, asRoot = old.ParentID, old.ParentID == ""
	}
	appended := false
	for _, m := range t.Prior {
		role := store.Role(m.Role)
		if !role.Valid() {
			return "", fmt.Errorf("message role %q: want system, user, assistant or tool", m.Role)
		}
		msg, err := r.Store.AppendMessage(ctx, store.NewMessage{
			ConversationID: convID, ParentID: parent, Role: role, Content: m.Content,
		})
		if err != nil {
			return "", err
		}
		parent, appended = msg.ID, true
	}
	if t.User != "" {
		msg, err := r.Store.AppendMessage(ctx, store.NewMessage{
			ConversationID: convID, ParentID: parent, AsRoot: asRoot, Role: store.RoleUser, Content: t.User,
		})
		if err != nil {
			return "", err
		}
		reply.UserMessageID = msg.ID
		return msg.ID, nil
	}
	if appended {
		return parent, nil
	}
	// Regenerate: answer the user message at ParentID or at the end of the
	// active branch; a reply there becomes a sibling of the old one.
	var at *store.Message
	if parent != "" {
		m, err := r.Store.GetMessage(ctx, parent)
		if err != nil {
			return "", err
		}
		at = m
	} else {
		path, err := r.Store.ActivePath(ctx, convID)
		if err != nil {
			return "", err
		}
		if len(path) == 0 {
			return "", errors.New("nothing to reply to: the conversation has no messages; send a message first")
		}
		at = &path[len(path)-1]
	}
	if at.Role == store.RoleAssistant {
		if at.ParentID == "" {
			return "", errors.New("cannot regenerate a reply that answers nothing")
		}
		return at.ParentID, nil
	}
	return at.ID, nil
}

// modelName is what the store records as a message's model: the reference the
// user gave, else the resident model's.
func (r *Runner) modelName(ref string) string {
	if ref != "" {
		return ref
	}
	if info, ok := r.Engine.Loaded(); ok {
		return info.Ref
	}
	return ""
}

// finishWriter ends a streamed reply according to how generation ended.
func finishWriter(w *store.Writer, res *engine.Result, genErr error) error {
	if res == nil {
		reason := "generation failed"
		if genErr != nil {
			reason = genErr.Error()
		}
		return w.Abort(reason)
	}
	st := Stats(res)
	switch {
	case res.FinishReason == engine.FinishCancelled:
		return w.AbortWithStats("stopped", st)
	case res.FinishReason == engine.FinishError || genErr != nil:
		reason := "generation failed"
		if genErr != nil {
			reason = genErr.Error()
		}
		return w.AbortWithStats(reason, st)
	}
	return w.Finish(st)
}

// Stats converts an engine result into the figures the store keeps.
func Stats(res *engine.Result) store.Stats {
	return store.Stats{
		PromptTokens:        res.Usage.PromptTokens,
		CompletionTokens:    res.Usage.CompletionTokens,
		TTFTMs:              float64(res.Timings.TTFT.Microseconds()) / 1000,
		TokensPerSec:        res.Timings.DecodeTokensPerSec,
		PrefillTokensPerSec: res.Timings.PrefillTokensPerSec,
		FinishReason:        string(res.FinishReason),
	}
}

// EngineMessages turns a stored branch into the model's context. System
// messages stay in place; failed replies with no text are left out.
func EngineMessages(path []store.Message) []engine.Message {
	out := make([]engine.Message, 0, len(path))
	for _, m := range path {
		if m.Role == store.RoleAssistant && m.Content == "" && m.Status != store.StatusComplete {
			continue
		}
		out = append(out, engine.Message{Role: string(m.Role), Content: m.Content})
	}
	return out
}

// TitleFrom makes a conversation title from its first user message: the first
// line, at most 60 characters, cut at a word boundary.
func TitleFrom(text string) string {
	text = strings.TrimSpace(text)
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = strings.TrimSpace(text[:i])
	}
	const max = 60
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	runes := []rune(text)[:max]
	cut := string(runes)
	if i := strings.LastIndexByte(cut, ' '); i > max/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:-") + "…"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
