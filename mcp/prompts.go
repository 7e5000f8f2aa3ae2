package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/store/export"
)

// promptArgs are each prompt's argument names, required ones first.
var promptArgs = map[string]struct{ required, optional []string }{
	"summarize_conversation": {required: []string{"id"}, optional: []string{"focus"}},
	"continue_conversation":  {required: []string{"id"}, optional: []string{"message"}},
}

func (s *Server) addPrompts() {
	s.mcp.AddPrompt(mcpgo.NewPrompt("summarize_conversation",
		mcpgo.WithPromptTitle("Summarize a conversation"),
		mcpgo.WithPromptDescription("Ask for a summary of a saved conversation: its full text (Markdown) with instructions to summarize it."),
		mcpgo.WithArgument("id", mcpgo.RequiredArgument(), mcpgo.ArgumentDescription("conversation id or unique prefix (see list_conversations)")),
		mcpgo.WithArgument("focus", mcpgo.ArgumentDescription("what the summary should concentrate on, e.g. decisions made or open questions")),
	), s.summarizePrompt)
	s.mcp.AddPrompt(mcpgo.NewPrompt("continue_conversation",
		mcpgo.WithPromptTitle("Continue a conversation"),
		mcpgo.WithPromptDescription("Load a saved conversation's active branch as the message history, so the client's model picks it up where it ended; optionally add the next user message."),
		mcpgo.WithArgument("id", mcpgo.RequiredArgument(), mcpgo.ArgumentDescription("conversation id or unique prefix (see list_conversations)")),
		mcpgo.WithArgument("message", mcpgo.ArgumentDescription("the next user message to add after the history")),
	), s.continuePrompt)
}

// checkPromptGet answers a prompts/get with a missing, unknown or mistyped
// argument, or an unknown conversation, with -32602 naming the argument.
func (s *Server) checkPromptGet(ctx context.Context, params json.RawMessage) *paramError {
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return invalidParams("", "invalid prompts/get params: %v", err)
	}
	spec, ok := promptArgs[p.Name]
	if !ok {
		return nil // mcp-go answers unknown prompts
	}
	args := map[string]any{}
	if len(p.Arguments) > 0 && string(p.Arguments) != "null" {
		if err := json.Unmarshal(p.Arguments, &args); err != nil {
			return invalidParams("arguments", "prompt %s: arguments must be an object of strings", p.Name)
		}
	}
	known := append(append([]string(nil), spec.required...), spec.optional...)
	names := make([]string, 0, len(args))
	for k := range args {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !contains(known, k) {
			return invalidParams(k, "prompt %s: %s is not an argument of this prompt (arguments: %s)", p.Name, k, strings.Join(known, ", "))
		}
		if _, ok := args[k].(string); !ok {
			return invalidParams(k, "prompt %s: argument %s must be a string", p.Name, k)
		}
	}
	for _, k := range spec.required {
		if v, _ := args[k].(string); strings.TrimSpace(v) == "" {
			return invalidParams(k, "prompt %s: argument %s is required", p.Name, k)
		}
	}
	id := args["id"].(string)
	if _, err := s.opts.Store.ResolveConversationID(ctx, id); err != nil {
		return invalidParams("id", "prompt %s: %s", p.Name, notFound(id, err))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Server) summarizePrompt(ctx context.Context, req mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
	id := req.Params.Arguments["id"]
	c, md, err := s.exportConversation(ctx, id, export.Markdown)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("Summarize the conversation below")
	if focus := strings.TrimSpace(req.Params.Arguments["focus"]); focus != "" {
		fmt.Fprintf(&b, ", concentrating on %s", focus)
	}
	b.WriteString(". Keep what was asked, what was answered or decided, and what remains open; leave out pleasantries. It is a Markdown transcript: a front matter block, then each message under its role heading.\n\n")
	b.WriteString(md)
	return mcpgo.NewGetPromptResult(fmt.Sprintf("Summarize %q", c.Title), []mcpgo.PromptMessage{
		mcpgo.NewPromptMessage(mcpgo.RoleUser, mcpgo.NewTextContent(b.String())),
	}), nil
}

func (s *Server) continuePrompt(ctx context.Context, req mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
	id := req.Params.Arguments["id"]
	c, err := s.opts.Store.GetConversation(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s", notFound(id, err))
	}
	path, err := s.opts.Store.ActivePath(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	// MCP prompt messages are user or assistant: a system prompt is stated
	// in a first user message, as is any stored system or tool message.
	var out []mcpgo.PromptMessage
	if c.SystemPrompt != "" {
		out = append(out, mcpgo.NewPromptMessage(mcpgo.RoleUser,
			mcpgo.NewTextContent("Instructions for this conversation (its system prompt):\n\n"+c.SystemPrompt)))
	}
	for _, m := range path {
		if m.Content == "" {
			continue
		}
		switch m.Role {
		case store.RoleAssistant:
			out = append(out, mcpgo.NewPromptMessage(mcpgo.RoleAssistant, mcpgo.NewTextContent(m.Content)))
		case store.RoleUser:
			out = append(out, mcpgo.NewPromptMessage(mcpgo.RoleUser, mcpgo.NewTextContent(m.Content)))
		default:
			out = append(out, mcpgo.NewPromptMessage(mcpgo.RoleUser,
				mcpgo.NewTextContent(fmt.Sprintf("(%s message) %s", m.Role, m.Content))))
		}
	}
	if msg := req.Params.Arguments["message"]; strings.TrimSpace(msg) != "" {
		out = append(out, mcpgo.NewPromptMessage(mcpgo.RoleUser, mcpgo.NewTextContent(msg)))
	}
	return mcpgo.NewGetPromptResult(fmt.Sprintf("Continue %q (%d messages)", c.Title, len(path)), out), nil
}
