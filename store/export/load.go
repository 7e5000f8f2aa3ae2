package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/impetus-llm/impetus/store"
)

// FromStore converts a store conversation and its messages (all branches)
// into the export model.
func FromStore(c *store.Conversation, msgs []store.Message) Conversation {
	out := Conversation{
		ID: c.ID, Title: c.Title, Model: c.Model, SystemPrompt: c.SystemPrompt,
		Settings: c.Settings, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
		Pinned: c.Pinned, Archived: c.Archived, ActiveLeafID: c.ActiveLeafID,
		Messages: make([]Message, len(msgs)),
	}
	if len(c.Tags) > 0 {
		out.Tags = append([]string(nil), c.Tags...)
	}
	for i := range msgs {
		m := &msgs[i]
		out.Messages[i] = Message{
			ID: m.ID, ParentID: m.ParentID, Role: string(m.Role), Content: m.Content, Model: m.Model,
			CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
			PromptTokens: deref(m.PromptTokens), CompletionTokens: deref(m.CompletionTokens),
			TTFTMillis: deref(m.TTFTMs), TokensPerSec: deref(m.TokensPerSec), PrefillTPS: deref(m.PrefillTokensPerSec),
			FinishReason: m.FinishReason, Status: string(m.Status), Error: m.Error,
			Settings: m.Settings, Meta: m.Meta,
		}
	}
	return out
}

// toStore is FromStore's inverse, for ImportConversation.
func toStore(c *Conversation) (store.Conversation, []store.Message) {
	sc := store.Conversation{
		ID: c.ID, Title: c.Title, Model: c.Model, SystemPrompt: c.SystemPrompt,
		Settings: c.Settings, Tags: c.Tags, Pinned: c.Pinned, Archived: c.Archived,
		ActiveLeafID: c.ActiveLeafID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	msgs := make([]store.Message, len(c.Messages))
	for i := range c.Messages {
		m := &c.Messages[i]
		msgs[i] = store.Message{
			ID: m.ID, ConversationID: c.ID, ParentID: m.ParentID, Role: store.Role(m.Role),
			Content: m.Content, Model: m.Model, Status: store.Status(m.Status),
			FinishReason: m.FinishReason, Error: m.Error,
			PromptTokens: ptr(m.PromptTokens), CompletionTokens: ptr(m.CompletionTokens),
			TTFTMs: ptr(m.TTFTMillis), TokensPerSec: ptr(m.TokensPerSec), PrefillTokensPerSec: ptr(m.PrefillTPS),
			Settings: m.Settings, Meta: m.Meta, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		}
	}
	return sc, msgs
}

func deref[T int | float64](p *T) T {
	if p == nil {
		return 0
	}
	return *p
}

// ptr maps zero to nil: the store keeps unknown stats as NULL and the
// export omits zero ones, so the two agree.
func ptr[T int | float64](v T) *T {
	if v == 0 {
		return nil
	}
	return &v
}

// Load reads one conversation, all branches, from the store. id may be a
// unique prefix; an unknown id gives an error naming it.
func Load(ctx context.Context, st *store.Store, id string) (*Conversation, error) {
	c, err := st.GetConversation(ctx, id)
	if err != nil {
		return nil, notFound(id, err)
	}
	msgs, err := st.Messages(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	out := FromStore(c, msgs)
	return &out, nil
}

func notFound(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no conversation with id %q (see `impetus history list`)", id)
	}
	return err
}

// Selection says which conversations to export. IDs are taken as given
// (in order, each must exist); otherwise All, Search, Tag and Since select
// from the whole history, combined with AND. The zero value selects nothing.
type Selection struct {
	IDs    []string  // ids or unique id prefixes
	All    bool      // every conversation, archived ones too
	Search string    // full-text query over titles and messages
	Tag    string    // only conversations with this tag
	Since  time.Time // only conversations with activity (UpdatedAt) at or after this
}

// Empty reports whether the selection names nothing.
func (s Selection) Empty() bool {
	return len(s.IDs) == 0 && !s.All && s.Search == "" && s.Tag == "" && s.Since.IsZero()
}

// Select resolves a selection to full conversation ids: given IDs in the
// order given (duplicates dropped), otherwise in the history's list order
// (pinned first, newest activity first), or by search rank for Search.
func Select(ctx context.Context, st *store.Store, sel Selection) ([]string, error) {
	if sel.Empty() {
		return nil, errors.New("no conversations selected: give ids, --all, --search, --tag or --since")
	}
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	// Tag and Since are checked on the conversation rows; collect those.
	filter := func(c *store.Conversation) bool {
		if sel.Tag != "" && !slices.ContainsFunc(c.Tags, func(t string) bool { return strings.EqualFold(t, sel.Tag) }) {
			return false
		}
		return sel.Since.IsZero() || !c.UpdatedAt.Before(sel.Since)
	}
	switch {
	case len(sel.IDs) > 0:
		for _, id := range sel.IDs {
			c, err := st.GetConversation(ctx, id)
			if err != nil {
				return nil, notFound(id, err)
			}
			if filter(c) {
				add(c.ID)
			}
		}
		if sel.Search != "" {
			return searchWithin(ctx, st, sel.Search, ids)
		}
		return ids, nil
	case sel.Search != "":
		matched, err := searchIDs(ctx, st, sel.Search)
		if err != nil {
			return nil, err
		}
		if sel.Tag == "" && sel.Since.IsZero() {
			return matched, nil
		}
		for _, id := range matched {
			c, err := st.GetConversation(ctx, id)
			if err != nil {
				return nil, err
			}
			if filter(c) {
				add(c.ID)
			}
		}
		return ids, nil
	}
	cur := ""
	for {
		page, err := st.ListConversations(ctx, store.ListOptions{Limit: 1000, Cursor: cur, Archived: store.IncludeArchived})
		if err != nil {
			return nil, err
		}
		for i := range page.Conversations {
			if c := &page.Conversations[i]; filter(c) {
				add(c.ID)
			}
		}
		if page.NextCursor == "" {
			return ids, nil
		}
		cur = page.NextCursor
	}
}

// searchIDs returns the conversations with a message or title matching
// query, best match first.
func searchIDs(ctx context.Context, st *store.Store, query string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	const page = 1000
	for off := 0; ; off += page {
		hits, err := st.Search(ctx, query, store.SearchOptions{Limit: page, Offset: off, Archived: store.IncludeArchived, SnippetTokens: 1})
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", query, err)
		}
		for _, h := range hits {
			if !seen[h.ConversationID] {
				seen[h.ConversationID] = true
				ids = append(ids, h.ConversationID)
			}
		}
		if len(hits) < page {
			return ids, nil
		}
	}
}

// searchWithin keeps those of ids that match query, in the order of ids.
func searchWithin(ctx context.Context, st *store.Store, query string, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		hits, err := st.Search(ctx, query, store.SearchOptions{Limit: 1, ConversationID: id, Archived: store.IncludeArchived, SnippetTokens: 1})
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", query, err)
		}
		if len(hits) > 0 {
			out = append(out, id)
		}
	}
	return out, nil
}

// Render returns one conversation from the store in format f, for callers
// that want a string (the MCP export_conversation tool, the TUI's copy
// action). id may be a unique prefix.
func Render(ctx context.Context, st *store.Store, id string, f Format, opts Options) (string, error) {
	if _, err := NewEncoder(io.Discard, f, opts); err != nil {
		return "", err
	}
	c, err := Load(ctx, st, id)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := Write(&b, f, []Conversation{*c}, opts); err != nil {
		return "", err
	}
	return b.String(), nil
}
