package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/session"
	"github.com/impetus-llm/impetus/store"
)

// convSettings are a conversation's sampling settings as stored in its
// Settings JSON (the same keys `impetus run` writes).
type convSettings struct {
	Temperature       float64 `json:"temperature"`
	TopP              float64 `json:"top_p,omitempty"`
	TopK              int     `json:"top_k,omitempty"`
	MinP              float64 `json:"min_p,omitempty"`
	RepetitionPenalty float64 `json:"repetition_penalty,omitempty"`
	MaxTokens         int     `json:"max_tokens,omitempty"`
	Seed              *int64  `json:"seed,omitempty"`
}

// defaultSettings are the configured defaults.
func (a *App) defaultSettings() convSettings {
	s := a.opts.Sampling
	return convSettings{Temperature: s.Temperature, TopP: s.TopP, TopK: s.TopK, MinP: s.MinP,
		RepetitionPenalty: s.RepetitionPenalty, MaxTokens: a.opts.MaxTokens, Seed: s.Seed}
}

// settings are the current conversation's settings over the defaults.
func (a *App) settings() convSettings {
	s := a.defaultSettings()
	switch {
	case a.conv != nil && len(a.conv.Settings) > 0:
		_ = json.Unmarshal(a.conv.Settings, &s) // unknown or bad keys keep the defaults
	case a.conv == nil && a.pendingSet != nil:
		s = *a.pendingSet
	}
	return s
}

func (s convSettings) sampling() engine.Sampling {
	return engine.Sampling{Temperature: s.Temperature, TopP: s.TopP, TopK: s.TopK, MinP: s.MinP,
		RepetitionPenalty: s.RepetitionPenalty, Seed: s.Seed}
}

// newConversation clears the transcript for a conversation that is stored
// with its first message.
func (a *App) newConversation() {
	if a.generating {
		a.flash("Wait for the reply or stop it ("+a.keys.KeyText(ActStop)+") first", true)
		return
	}
	a.convSeq++
	a.conv, a.all, a.path, a.notices = nil, nil, nil, nil
	a.pendingSet, a.pendingSys = nil, nil
	a.cancelEdit()
	a.transcript.SetEntries(nil)
	a.setTranscriptTitle()
	a.list.selectID("")
	a.status.ctxUsed = 0
}

// openConversation loads conversation id and shows its active branch.
// focusMsg, when set, selects that message.
func (a *App) openConversation(id string, focusMsg ...string) {
	if a.generating && (a.conv == nil || a.conv.ID != id) {
		a.flash("Wait for the reply or stop it ("+a.keys.KeyText(ActStop)+") first", true)
		if a.conv != nil {
			a.list.selectID(a.conv.ID)
		}
		return
	}
	a.convSeq++
	seq := a.convSeq
	want := ""
	if len(focusMsg) > 0 {
		want = focusMsg[0]
	}
	a.goDB(func(ctx context.Context) func() {
		conv, all, path, err := a.loadConv(ctx, id)
		return func() {
			if seq != a.convSeq {
				return
			}
			if err != nil {
				a.flash(err.Error(), true)
				return
			}
			if a.conv == nil || a.conv.ID != conv.ID {
				a.notices = nil
				a.cancelEdit()
				a.status.ctxUsed = 0
			}
			a.showConversation(conv, all, path)
			a.list.selectID(conv.ID)
			if want != "" {
				for i, e := range a.transcript.entries {
					if e.id == want {
						a.transcript.Select(i)
					}
				}
			}
			a.updateContextUsage()
		}
	})
}

// loadConv reads a conversation, all its messages and its active branch.
func (a *App) loadConv(ctx context.Context, id string) (*store.Conversation, []store.Message, []store.Message, error) {
	conv, err := a.st.GetConversation(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	all, err := a.st.Messages(ctx, conv.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	path, err := a.st.ActivePath(ctx, conv.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	return conv, all, path, nil
}

// showConversation renders conv's active branch (and the notices of this
// session) into the transcript.
func (a *App) showConversation(conv *store.Conversation, all, path []store.Message) {
	a.conv, a.all, a.path = conv, all, path
	// Sibling groups by parent, in creation order.
	groups := map[string][]string{}
	for _, m := range all {
		groups[m.ParentID] = append(groups[m.ParentID], m.ID)
	}
	sel := ""
	if e := a.transcript.SelectedEntry(); e != nil {
		sel = e.id
	}
	keepScroll := !a.transcript.follow && a.transcript.Streaming() == nil
	top := a.transcript.top
	var es []*entry
	if conv.SystemPrompt != "" {
		es = append(es, &entry{role: store.RoleSystem, content: conv.SystemPrompt, dirty: true, id: ""})
	}
	for _, m := range path {
		e := &entry{id: m.ID, role: m.Role, content: m.Content, status: m.Status, errText: m.Error,
			model: m.Model, dirty: true}
		if m.Role == store.RoleAssistant {
			e.stats = statsText(&m)
		}
		sibs := groups[m.ParentID]
		e.sibCount = len(sibs)
		for i, s := range sibs {
			if s == m.ID {
				e.sibIndex = i
			}
		}
		es = append(es, e)
	}
	es = append(es, a.notices...)
	a.transcript.SetEntries(es)
	if sel != "" {
		for i, e := range es {
			if e.id == sel {
				a.transcript.selected = i
			}
		}
	}
	if keepScroll {
		a.transcript.top, a.transcript.follow = top, false
	}
	a.setTranscriptTitle()
}

// statsText is a reply's figures for its header.
func statsText(m *store.Message) string {
	var parts []string
	if m.TTFTMs != nil {
		parts = append(parts, fmt.Sprintf("TTFT %s", fmtMs(*m.TTFTMs)))
	}
	if m.TokensPerSec != nil && *m.TokensPerSec > 0 {
		parts = append(parts, fmt.Sprintf("%.0f tok/s", *m.TokensPerSec))
	}
	if m.CompletionTokens != nil {
		parts = append(parts, fmt.Sprintf("%d tok", *m.CompletionTokens))
	}
	return strings.Join(parts, " · ")
}

func fmtMs(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.1f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// reload re-reads the current conversation (after a turn, a branch switch).
func (a *App) reload(then func()) {
	if a.conv == nil {
		return
	}
	id := a.conv.ID
	a.convSeq++
	seq := a.convSeq
	a.goDB(func(ctx context.Context) func() {
		conv, all, path, err := a.loadConv(ctx, id)
		return func() {
			if seq != a.convSeq {
				return
			}
			if err != nil {
				a.flash(err.Error(), true)
				return
			}
			a.showConversation(conv, all, path)
			if then != nil {
				then()
			}
		}
	})
}

// loadModel makes ref the resident model, showing progress in the status bar.
func (a *App) loadModel(ref string) {
	a.modelRef = ref
	a.modelErr = nil
	a.mu.Lock()
	a.loadingModel, a.loadStage, a.loadFrac, a.loadDirty = true, "resolve", 0, true
	a.mu.Unlock()
	a.showWelcome()
	go func() {
		defer a.recoverGoroutine()
		info, err := a.eng.Load(a.ctx, ref, func(p engine.LoadProgress) {
			a.mu.Lock()
			a.loadStage, a.loadFrac, a.loadDirty = p.Stage, p.Fraction, true
			a.mu.Unlock()
		})
		a.mu.Lock()
		a.loadingModel, a.loadDirty = false, true
		a.mu.Unlock()
		if a.stopped.Load() {
			return
		}
		a.tv.QueueUpdateDraw(func() {
			if ref != a.modelRef {
				return // another model was picked meanwhile
			}
			if err != nil {
				a.modelErr = err
				a.modelInfo = nil
				a.showWelcome()
				a.notice(fmt.Sprintf("Could not load the model %s: %v\n\n%s", ref, err, a.noModelText()), true)
				return
			}
			a.modelInfo = &info
			a.showWelcome()
			a.flash(fmt.Sprintf("Model %s loaded in %s (%s)", shortModel(ref), info.LoadTime.Round(time.Millisecond), info.Backend), false)
			a.updateContextUsage()
		})
	}()
}

// send runs the text in the input as the next user turn (or as the edit of a
// previous message).
func (a *App) send() {
	text := a.input.GetText()
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return
	}
	if trimmed == ":q" || trimmed == ":quit" {
		a.Stop()
		return
	}
	if a.generating {
		a.flash("A reply is being generated: wait, or stop it with "+a.keys.KeyText(ActStop), true)
		return
	}
	if a.modelRef == "" || a.modelErr != nil {
		a.notice(a.noModelText(), true)
		return
	}
	turn := session.Turn{User: text, EditOf: a.editing}
	a.input.SetText("", false)
	// Show the message at once; the store's copy replaces it when the turn ends.
	if a.editing != "" {
		// The edited branch starts at the edited message: drop what follows.
		for i, e := range a.transcript.entries {
			if e.id == a.editing {
				a.transcript.entries = a.transcript.entries[:i]
				break
			}
		}
	}
	a.cancelEdit()
	a.transcript.Append(&entry{role: store.RoleUser, content: text, dirty: true})
	a.startTurn(turn)
}

// regenerate asks for a new reply to the selected (or last) reply's message.
func (a *App) regenerate() {
	if a.generating || a.conv == nil {
		return
	}
	if a.modelRef == "" || a.modelErr != nil {
		a.notice(a.noModelText(), true)
		return
	}
	turn := session.Turn{}
	e := a.transcript.SelectedEntry()
	if e != nil && e.id != "" && (e.role == store.RoleAssistant || e.role == store.RoleUser) {
		turn.ParentID = e.id
		// Drop what the new reply replaces from the view.
		for i, x := range a.transcript.entries {
			if x == e {
				cut := i
				if e.role == store.RoleUser {
					cut = i + 1
				}
				a.transcript.entries = a.transcript.entries[:cut]
				break
			}
		}
	} else {
		// The last reply: drop it from the view.
		es := a.transcript.entries
		for len(es) > 0 && (es[len(es)-1].notice || es[len(es)-1].role == store.RoleAssistant) {
			es = es[:len(es)-1]
		}
		a.transcript.entries = es
	}
	a.transcript.selected = -1
	a.startTurn(turn)
}

// startTurn runs a turn in a goroutine and streams it into the transcript.
func (a *App) startTurn(turn session.Turn) {
	set := a.settings()
	turn.Sampling = set.sampling()
	turn.MaxTokens = set.MaxTokens
	// A chat reply may use whatever room the context has left.
	turn.ClampMaxTokens = true
	turn.Model = a.modelRef
	conv := a.conv
	var newConv *store.NewConversation
	if conv == nil {
		sys := ""
		if a.pendingSys != nil {
			sys = *a.pendingSys
		}
		settings, _ := json.Marshal(set)
		newConv = &store.NewConversation{Title: session.TitleFrom(turn.User), Model: a.modelRef, SystemPrompt: sys, Settings: settings}
	} else {
		turn.ConversationID = conv.ID
	}
	// Earlier notices (errors, hints) are stale once a new turn starts.
	kept := a.transcript.entries[:0]
	for _, e := range a.transcript.entries {
		if !e.notice {
			kept = append(kept, e)
		}
	}
	a.transcript.entries, a.notices = kept, nil
	stream := &entry{role: store.RoleAssistant, streaming: true, model: a.modelRef, dirty: true}
	a.transcript.Append(stream)
	a.transcript.ScrollToBottom()
	ctx, cancel := context.WithCancel(a.ctx)
	a.generating, a.genCancel = true, cancel
	a.genFlag.Store(true)
	a.setInputTitle()
	a.mu.Lock()
	a.streamText.Reset()
	a.streamDirty, a.streamToks = false, 0
	a.streamStart, a.firstTok = time.Now(), time.Time{}
	a.prefill = 0
	a.mu.Unlock()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		defer a.recoverGoroutine()
		defer cancel()
		if newConv != nil {
			c, err := a.st.CreateConversation(ctx, *newConv)
			if err != nil {
				a.queue(func() { a.endTurn(nil, fmt.Errorf("could not create the conversation: %w", err)) })
				return
			}
			turn.ConversationID = c.ID
			a.queue(func() {
				a.conv = c
				a.pendingSet, a.pendingSys = nil, nil
				a.setTranscriptTitle()
				a.list.loadFirst()
			})
		}
		reply, err := a.runner.Run(ctx, turn, a.onEvent)
		a.queue(func() { a.endTurn(reply, err) })
	}()
}

// queue runs f on the UI goroutine and redraws, unless the app has stopped.
func (a *App) queue(f func()) {
	if !a.stopped.Load() {
		a.tv.QueueUpdateDraw(f)
	}
}

// onEvent receives engine events on the generation goroutine; it only
// records them: the ticker draws.
func (a *App) onEvent(ev engine.Event) {
	switch ev.Kind {
	case engine.EventStart:
		a.mu.Lock()
		a.streamStart = time.Now()
		a.status.setPrompt(ev.PromptTokens)
		a.mu.Unlock()
	case engine.EventPrefill:
		a.mu.Lock()
		if ev.PrefillTotal > 0 {
			a.prefill = float64(ev.PrefillDone) / float64(ev.PrefillTotal)
		}
		a.mu.Unlock()
	case engine.EventToken:
		a.mu.Lock()
		if a.firstTok.IsZero() {
			a.firstTok = time.Now()
		}
		a.streamToks++
		if ev.Text != "" {
			a.streamText.WriteString(ev.Text)
			a.streamDirty = true
		}
		a.mu.Unlock()
		if a.testTokenHook != nil {
			a.testTokenHook()
		}
	}
}

// pullStream moves the text received so far into the transcript (UI goroutine).
func (a *App) pullStream() {
	a.mu.Lock()
	if !a.streamDirty {
		a.mu.Unlock()
		return
	}
	s := a.streamText.String()
	a.streamDirty = false
	a.mu.Unlock()
	a.transcript.SetStreamText(s)
}

// endTurn shows the stored result of a turn.
func (a *App) endTurn(reply *session.Reply, err error) {
	a.pullStream()
	a.generating, a.genCancel = false, nil
	a.genFlag.Store(false)
	a.setInputTitle()
	if s := a.transcript.Streaming(); s != nil {
		s.streaming = false
		s.dirty = true
	}
	if reply != nil && reply.Result != nil {
		r := reply.Result
		a.status.setResult(r)
	}
	showErr := func() {
		if err != nil && (reply == nil || reply.MessageID == "") {
			msg := "Could not generate a reply: " + err.Error()
			if errors.Is(err, engine.ErrNoModel) {
				msg += "\n\n" + a.noModelText()
			} else if reply != nil && reply.UserMessageID != "" {
				msg += "\nYour message is saved: " + a.keys.KeyText(ActRegenerate) + " asks again (" + a.keys.KeyText(ActSettings) + ": settings, " + a.keys.KeyText(ActModel) + ": model)."
			}
			a.notice(msg, true)
		}
	}
	if reply != nil && reply.ConversationID != "" {
		if a.conv == nil || a.conv.ID != reply.ConversationID {
			a.openConversation(reply.ConversationID)
		} else {
			a.reload(showErr)
		}
		a.list.loadFirst()
		return
	}
	// Nothing stored (the conversation could not be created).
	if s := a.transcript.Streaming(); s != nil {
		s.streaming = false
	}
	showErr()
}

// stopGeneration cancels the running reply; the session stores it as stopped.
func (a *App) stopGeneration() bool {
	if !a.generating || a.genCancel == nil {
		return false
	}
	a.genCancel()
	a.flash("Stopped — the reply so far is kept", false)
	return true
}

// startEdit puts a message of the user's into the input; sending it makes a
// new branch from the same point.
func (a *App) startEdit() {
	if a.generating {
		return
	}
	e := a.transcript.SelectedEntry()
	if e == nil || e.role != store.RoleUser || e.id == "" {
		e = nil
		for i := len(a.transcript.entries) - 1; i >= 0; i-- {
			if x := a.transcript.entries[i]; x.role == store.RoleUser && x.id != "" && !x.notice {
				e = x
				a.transcript.Select(i)
				break
			}
		}
	}
	if e == nil {
		a.flash("Nothing to edit: select a message of yours ("+a.keys.KeyText(ActPrevMessage)+")", true)
		return
	}
	a.editing = e.id
	a.input.SetText(e.content, true)
	a.setInputTitle()
	a.tv.SetFocus(a.input)
}

func (a *App) cancelEdit() {
	if a.editing != "" {
		a.editing = ""
		a.input.SetText("", false)
	}
	a.setInputTitle()
}

// switchBranch shows the previous (-1) or next (+1) sibling of the selected
// message (or of the last message that has siblings).
func (a *App) switchBranch(dir int) {
	if a.generating || a.conv == nil {
		return
	}
	idx := a.transcript.selected
	if idx < 0 || a.transcript.entries[idx].sibCount < 2 {
		idx = -1
		for i := len(a.transcript.entries) - 1; i >= 0; i-- {
			if a.transcript.entries[i].sibCount > 1 {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		a.flash("No other branches here: regenerate ("+a.keys.KeyText(ActRegenerate)+") or edit ("+a.keys.KeyText(ActEdit)+") to make one", false)
		return
	}
	e := a.transcript.entries[idx]
	var parent string
	for _, m := range a.all {
		if m.ID == e.id {
			parent = m.ParentID
		}
	}
	var sibs []string
	for _, m := range a.all {
		if m.ParentID == parent {
			sibs = append(sibs, m.ID)
		}
	}
	n := (e.sibIndex + dir + len(sibs)) % len(sibs)
	target := sibs[n]
	a.transcript.selected = idx
	a.goDB(func(ctx context.Context) func() {
		_, err := a.st.SetActiveLeaf(ctx, target)
		return func() {
			if err != nil {
				a.flash("Switching branch: "+err.Error(), true)
				return
			}
			a.reload(func() {
				for i, x := range a.transcript.entries {
					if x.id == target {
						a.transcript.selected = i
					}
				}
				a.updateContextUsage()
			})
		}
	})
}

// updateContextUsage counts the tokens of the active branch as the model
// sees it (only when a model is resident: counting must not load one).
func (a *App) updateContextUsage() {
	if a.modelInfo == nil || a.conv == nil {
		return
	}
	req := engine.Request{Messages: session.EngineMessages(a.path), System: a.conv.SystemPrompt}
	if len(req.Messages) == 0 {
		a.status.ctxUsed = 0
		return
	}
	seq := a.convSeq
	a.goDB(func(ctx context.Context) func() {
		p, err := a.eng.Tokenize(ctx, req)
		return func() {
			if seq == a.convSeq && (err == nil || errors.Is(err, engine.ErrContextLength)) {
				a.status.ctxUsed = len(p.Tokens)
			}
		}
	})
}
