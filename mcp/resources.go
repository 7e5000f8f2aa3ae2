package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/impetus-llm/impetus/store/export"
)

// Resource URIs.
const (
	ModelsURI               = "impetus://models"
	ConversationURIPrefix   = "impetus://conversations/"
	conversationURITemplate = ConversationURIPrefix + "{id}"
)

func (s *Server) addResources() {
	s.mcp.AddResource(mcpgo.NewResource(ModelsURI, "models",
		mcpgo.WithResourceDescription("The language models available on this machine and which one is loaded (the list_models result as JSON)."),
		mcpgo.WithMIMEType("application/json"),
	), func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
		b, err := json.MarshalIndent(s.modelList(), "", "  ")
		if err != nil {
			return nil, err
		}
		return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: ModelsURI, MIMEType: "application/json", Text: string(b)}}, nil
	})
	s.mcp.AddResourceTemplate(mcpgo.NewResourceTemplate(conversationURITemplate, "conversation",
		mcpgo.WithTemplateTitle("Conversation"),
		mcpgo.WithTemplateDescription("A saved conversation as Markdown: front matter with title, model and dates, then every message under its role; other branches follow the active one. {id} is a conversation id (see list_conversations) or a unique prefix."),
		mcpgo.WithTemplateMIMEType("text/markdown"),
	), func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
		id, err := conversationIDFromURI(req.Params.URI)
		if err != nil {
			return nil, err
		}
		_, md, err := s.exportConversation(ctx, id, export.Markdown)
		if err != nil {
			return nil, err
		}
		return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: req.Params.URI, MIMEType: "text/markdown", Text: md}}, nil
	})
}

// conversationIDFromURI takes the id out of impetus://conversations/{id}.
func conversationIDFromURI(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, ConversationURIPrefix)
	if !ok {
		return "", fmt.Errorf("resource %q is not a conversation (want %s)", uri, conversationURITemplate)
	}
	id, err := url.PathUnescape(rest)
	if err != nil || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("resource %q: want %s with a conversation id", uri, conversationURITemplate)
	}
	return id, nil
}

// checkResourceRead answers a read of an unknown conversation with -32002
// (resource not found) before it reaches the handler, whose errors mcp-go
// would report as internal errors.
func (s *Server) checkResourceRead(ctx context.Context, params json.RawMessage) *paramError {
	var p struct {
		URI string `json:"uri"`
	}
	if json.Unmarshal(params, &p) != nil || !strings.HasPrefix(p.URI, ConversationURIPrefix) {
		return nil
	}
	id, err := conversationIDFromURI(p.URI)
	if err == nil {
		_, err = s.opts.Store.ResolveConversationID(ctx, id)
		if err != nil {
			err = fmt.Errorf("%s", notFound(id, err))
		}
	}
	if err == nil {
		return nil
	}
	return &paramError{code: mcpgo.RESOURCE_NOT_FOUND, message: err.Error(), data: map[string]any{"uri": p.URI}}
}
