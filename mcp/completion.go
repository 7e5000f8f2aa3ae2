package mcp

import (
	"context"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/impetus-llm/impetus/store"
)

// completionScan is how many recent conversations a completion looks at.
const completionScan = 500

// idCompleter offers conversation ids for the {id} of the conversation
// resource template and the id argument of the prompts: ids starting with
// what was typed, or whose title contains it, most recent first.
type idCompleter struct{ s *Server }

func (c idCompleter) CompletePromptArgument(ctx context.Context, _ string, arg mcpgo.CompleteArgument, _ mcpgo.CompleteContext) (*mcpgo.Completion, error) {
	return c.complete(ctx, arg)
}

func (c idCompleter) CompleteResourceArgument(ctx context.Context, _ string, arg mcpgo.CompleteArgument, _ mcpgo.CompleteContext) (*mcpgo.Completion, error) {
	return c.complete(ctx, arg)
}

func (c idCompleter) complete(ctx context.Context, arg mcpgo.CompleteArgument) (*mcpgo.Completion, error) {
	out := &mcpgo.Completion{Values: []string{}}
	if arg.Name != "id" {
		return out, nil
	}
	typed := strings.ToLower(strings.TrimSpace(arg.Value))
	page, err := c.s.opts.Store.ListConversations(ctx, store.ListOptions{Limit: completionScan})
	if err != nil {
		return nil, err
	}
	for _, conv := range page.Conversations {
		if typed != "" && !strings.HasPrefix(strings.ToLower(conv.ID), typed) && !strings.Contains(strings.ToLower(conv.Title), typed) {
			continue
		}
		out.Total++
		if len(out.Values) < 100 { // the protocol's limit per answer
			out.Values = append(out.Values, conv.ID)
		}
	}
	out.HasMore = out.Total > len(out.Values) || page.NextCursor != ""
	return out, nil
}
