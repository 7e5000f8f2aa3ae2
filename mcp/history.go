package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/store/export"
)

// modelList is list_models' result (also the impetus://models resource).
func (s *Server) modelList() ModelList {
	out := ModelList{Models: []Model{}, DefaultModel: s.opts.DefaultModel}
	info, loaded := s.opts.Engine.Loaded()
	if loaded {
		out.Loaded = info.Path
	}
	if s.opts.Models == nil {
		return out
	}
	entries, warnings := s.opts.Models()
	for _, e := range entries {
		out.Models = append(out.Models, Model{ID: e.ID, Source: e.Source, Path: e.Path, Architecture: e.Architecture,
			Params: e.Params, Quantization: e.Quantization, DType: e.DType, SizeBytes: e.SizeBytes,
			ContextLength: e.ContextLength, Loaded: loaded && e.Path == info.Path})
	}
	for _, w := range warnings {
		out.Warnings = append(out.Warnings, w.Error())
	}
	return out
}

func (s *Server) handleListModels(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	return structured(s.modelList()), nil
}

type searchArgs struct {
	Query string `json:"query"`
	Limit int    `json:"limit"`
	Since string `json:"since"`
	Until string `json:"until"`
}

// parseTime reads RFC 3339 or a bare date; endOfDay moves a bare date to
// the start of the next day (for an exclusive "until").
func parseTime(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2025-01-31T12:00:00Z) or a date (2025-01-31)", s)
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

func checkTimeRange(raw json.RawMessage) *paramError {
	var a searchArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return invalidParams("", "invalid arguments: %v", err)
	}
	var since, until time.Time
	var err error
	if a.Since != "" {
		if since, err = parseTime(a.Since, false); err != nil {
			return invalidParams("since", "since: %v", err)
		}
	}
	if a.Until != "" {
		if until, err = parseTime(a.Until, true); err != nil {
			return invalidParams("until", "until: %v", err)
		}
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return invalidParams("until", "until (%s) must be after since (%s)", a.Until, a.Since)
	}
	return nil
}

func (s *Server) handleSearch(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	var a searchArgs
	if err := decodeArgs(req, &a); err != nil {
		return toolError("search_conversations: %v", err), nil
	}
	if a.Limit == 0 {
		a.Limit = 10
	}
	var since, until time.Time
	if a.Since != "" {
		since, _ = parseTime(a.Since, false)
	}
	if a.Until != "" {
		until, _ = parseTime(a.Until, true)
	}
	out := SearchResult{Query: a.Query, Hits: []Hit{}}
	hits, err := s.opts.Store.Search(ctx, a.Query, store.SearchOptions{Limit: a.Limit, Since: since, Until: until})
	if errors.Is(err, store.ErrEmptyQuery) {
		return toolError("search_conversations: the query %q has no words to search for", a.Query), nil
	}
	if err != nil {
		return toolError("search_conversations: %v", err), nil
	}
	for _, h := range hits {
		out.Hits = append(out.Hits, Hit{ConversationID: h.ConversationID, ConversationTitle: h.ConversationTitle,
			MessageID: h.MessageID, Role: string(h.Role), Snippet: h.Snippet, CreatedAt: rfc3339(h.CreatedAt)})
	}
	return structured(out), nil
}

type listArgs struct {
	Limit           int    `json:"limit"`
	Cursor          string `json:"cursor"`
	IncludeArchived bool   `json:"include_archived"`
}

func (s *Server) handleListConversations(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	var a listArgs
	if err := decodeArgs(req, &a); err != nil {
		return toolError("list_conversations: %v", err), nil
	}
	if a.Limit == 0 {
		a.Limit = 20
	}
	opts := store.ListOptions{Limit: a.Limit, Cursor: a.Cursor}
	if a.IncludeArchived {
		opts.Archived = store.IncludeArchived
	}
	page, err := s.opts.Store.ListConversations(ctx, opts)
	if err != nil {
		if a.Cursor != "" && errors.Is(err, store.ErrInvalid) {
			return toolError("list_conversations: cursor %q is not a next_cursor this server returned; start again without cursor", a.Cursor), nil
		}
		return toolError("list_conversations: %v", err), nil
	}
	out := ConversationList{Conversations: []Conversation{}, NextCursor: page.NextCursor, Total: page.Total}
	for i := range page.Conversations {
		out.Conversations = append(out.Conversations, conversation(&page.Conversations[i]))
	}
	return structured(out), nil
}

type getArgs struct {
	ID          string `json:"id"`
	AllBranches bool   `json:"all_branches"`
}

// notFound words an unknown or ambiguous conversation id.
func notFound(id string, err error) string {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Sprintf("no conversation with id %q (list_conversations or search_conversations show the ids)", id)
	case errors.Is(err, store.ErrAmbiguous):
		return fmt.Sprintf("conversation id prefix %q matches several conversations: give more characters", id)
	}
	return err.Error()
}

func (s *Server) handleGetConversation(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	var a getArgs
	if err := decodeArgs(req, &a); err != nil {
		return toolError("get_conversation: %v", err), nil
	}
	c, err := s.opts.Store.GetConversation(ctx, a.ID)
	if err != nil {
		return toolError("get_conversation: %s", notFound(a.ID, err)), nil
	}
	var msgs []store.Message
	branch := "active"
	if a.AllBranches {
		branch = "all"
		msgs, err = s.opts.Store.Messages(ctx, c.ID)
	} else {
		msgs, err = s.opts.Store.ActivePath(ctx, c.ID)
	}
	if err != nil {
		return toolError("get_conversation: %v", err), nil
	}
	return structured(ConversationDetail{Conversation: conversation(c), Branch: branch, Messages: messages(msgs)}), nil
}

type exportArgs struct {
	ID     string `json:"id"`
	Format string `json:"format"`
}

// mimeTypes of the export formats.
var mimeTypes = map[export.Format]string{
	export.Markdown: "text/markdown",
	export.JSON:     "application/json",
	export.JSONL:    "application/jsonl",
	export.HTML:     "text/html",
}

// exportConversation renders one conversation in format f.
func (s *Server) exportConversation(ctx context.Context, id string, f export.Format) (*store.Conversation, string, error) {
	c, err := s.opts.Store.GetConversation(ctx, id)
	if err != nil {
		return nil, "", errors.New(notFound(id, err))
	}
	var buf bytes.Buffer
	if err := export.Export(ctx, s.opts.Store, []string{c.ID}, &buf, f, export.Options{}, nil); err != nil {
		return nil, "", err
	}
	return c, buf.String(), nil
}

func (s *Server) handleExport(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	var a exportArgs
	if err := decodeArgs(req, &a); err != nil {
		return toolError("export_conversation: %v", err), nil
	}
	f := export.Markdown
	if a.Format != "" {
		var err error
		if f, err = export.ParseFormat(a.Format); err != nil {
			return toolError("export_conversation: %v", err), nil
		}
	}
	c, content, err := s.exportConversation(ctx, a.ID, f)
	if err != nil {
		return toolError("export_conversation: %v", err), nil
	}
	out := ExportResult{ConversationID: c.ID, Title: c.Title, Format: string(f), MIMEType: mimeTypes[f], Content: content}
	// The text block is the document itself.
	return &mcpgo.CallToolResult{
		Content:           []mcpgo.Content{mcpgo.NewTextContent(content)},
		StructuredContent: out,
	}, nil
}
