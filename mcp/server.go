package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/session"
	"github.com/impetus-llm/impetus/store"
)

// ServerName is the name the server reports in initialize.
const ServerName = "impetus"

// Options wire the server to the engine and the history.
type Options struct {
	// Engine generates text. Required.
	Engine *engine.Engine
	// Store is the conversation history. Required.
	Store *store.Store
	// Models lists the models on this machine (list_models,
	// impetus://models); the second value holds warnings about broken
	// entries. nil lists none.
	Models func() ([]registry.Entry, []error)
	// DefaultModel is the model generate uses when the call names none (the
	// engine's Options.DefaultModel; shown in descriptions).
	DefaultModel string
	// Sampling holds the defaults for generate (the config's sampling
	// section); arguments override them.
	Sampling engine.Sampling
	// MaxTokens is the default completion cap when a call gives no
	// max_tokens (0: until the context is full). It is reduced to what the
	// context leaves; an explicit max_tokens is not.
	MaxTokens int
	// Logger receives diagnostics; nil discards them. Never stdout.
	Logger *slog.Logger
	// Version is reported in initialize.
	Version string
	// ProgressInterval is the least time between two progress notifications
	// of one generate call (text arriving faster is coalesced); 0 means 50ms.
	ProgressInterval time.Duration
}

// Server is the impetus MCP server. Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	log    *slog.Logger
	mcp    *server.MCPServer
	runner *session.Runner
	tools  map[string]*toolSpec
}

// New builds the server: tools, resources, prompts and instructions.
func New(opts Options) (*Server, error) {
	if opts.Engine == nil {
		return nil, errors.New("mcp: Options.Engine is required")
	}
	if opts.Store == nil {
		return nil, errors.New("mcp: Options.Store is required")
	}
	if opts.MaxTokens < 0 {
		return nil, fmt.Errorf("mcp: Options.MaxTokens %d must be >= 0", opts.MaxTokens)
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 50 * time.Millisecond
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts:   opts,
		log:    log,
		runner: &session.Runner{Engine: opts.Engine, Store: opts.Store},
		tools:  map[string]*toolSpec{},
	}
	s.mcp = server.NewMCPServer(ServerName, opts.Version,
		server.WithTitle("impetus"),
		server.WithDescription("Local LLM inference and conversation history"),
		server.WithInstructions(s.instructions()),
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		// Structured results are checked against the declared output schemas:
		// a mismatch becomes a tool error instead of a silently wrong result.
		server.WithOutputSchemaValidation(),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(idCompleter{s}),
		server.WithResourceCompletionProvider(idCompleter{s}),
		server.WithRecovery(),
		server.WithResourceRecovery(),
	)
	if err := s.addTools(); err != nil {
		return nil, err
	}
	s.addResources()
	s.addPrompts()
	return s, nil
}

// MCPServer is the underlying mcp-go server (for mcp-go's own transports
// and tests). Messages sent to it directly bypass the argument checks of
// HandleMessage.
func (s *Server) MCPServer() *server.MCPServer { return s.mcp }

// instructions tell an agent what impetus offers and how to use it well.
func (s *Server) instructions() string {
	model := s.opts.DefaultModel
	if model == "" {
		model = "none configured: pass `model` (see list_models)"
	}
	return strings.TrimSpace(`
impetus runs language models locally on this machine and keeps the user's chat history in a searchable database.

Tools:
- generate: run the local model on a prompt or a list of chat messages (optional system prompt, model, max_tokens, temperature, top_p, seed, stop). Returns the text with finish reason, token usage and timings. Send a progressToken to receive the text as it is generated (each progress notification's message is the new text, progress is the number of tokens so far; while the model loads, progress stays below 1 with no message). Pass save=true to record the exchange as a new conversation in the history, or conversation_id to continue a stored conversation (its earlier messages become the context).
- list_models: the models available locally (id to pass as model, architecture, size, quantization, context length) and which one is loaded.
- search_conversations: full-text search over past conversations (all words must match; "quoted phrases" allowed), optionally within a time range; returns snippets with conversation ids.
- list_conversations: conversations, most recent first, with cursor pagination.
- get_conversation: one conversation's messages with roles, models and timestamps.
- export_conversation: one conversation as Markdown, JSON, JSONL (fine-tuning format) or HTML.

Resources: impetus://conversations/{id} (a conversation as Markdown) and impetus://models (the model list as JSON).
Prompts: summarize_conversation and continue_conversation.

Default model: ` + model + `. The model loads on the first generate call (this can take a while for a large model) and stays loaded; concurrent calls wait their turn. Conversation ids may be shortened to a unique prefix of at least 4 characters.`)
}

// HandleMessage serves one JSON-RPC message (request or notification) and
// returns the response, nil for a notification. Tool arguments are checked
// against the tool's input schema first: a wrong type, a missing required or
// an unknown argument is answered with -32602 naming the field.
// Conversation ids in resources/read and prompts/get are resolved first too:
// an unknown one is -32002 (resource) or -32602 (prompt argument).
func (s *Server) HandleMessage(ctx context.Context, raw json.RawMessage) mcpgo.JSONRPCMessage {
	if resp := s.preflight(ctx, raw); resp != nil {
		return resp
	}
	return s.mcp.HandleMessage(ctx, raw)
}

// preflight answers a request whose parameters are invalid before mcp-go
// dispatches it; nil lets it through.
func (s *Server) preflight(ctx context.Context, raw json.RawMessage) mcpgo.JSONRPCMessage {
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(raw, &msg) != nil || len(msg.ID) == 0 || string(msg.ID) == "null" {
		return nil
	}
	var id any
	if json.Unmarshal(msg.ID, &id) != nil {
		return nil
	}
	var perr *paramError
	switch msg.Method {
	case string(mcpgo.MethodToolsCall):
		perr = s.checkToolCall(msg.Params)
	case string(mcpgo.MethodPromptsGet):
		perr = s.checkPromptGet(ctx, msg.Params)
	case string(mcpgo.MethodResourcesRead):
		perr = s.checkResourceRead(ctx, msg.Params)
	}
	if perr == nil {
		return nil
	}
	return perr.response(id)
}

// paramError is a request the server refuses before running it.
type paramError struct {
	code    int
	message string
	data    map[string]any
}

func (e *paramError) response(id any) mcpgo.JSONRPCMessage {
	return mcpgo.NewJSONRPCError(mcpgo.NewRequestId(id), e.code, e.message, e.data)
}

// invalidParams is a -32602 error; field names the offending parameter.
func invalidParams(field, format string, args ...any) *paramError {
	data := map[string]any{}
	if field != "" {
		data["field"] = field
	}
	return &paramError{code: mcpgo.INVALID_PARAMS, message: fmt.Sprintf(format, args...), data: data}
}
