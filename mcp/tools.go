package mcp

import (
	"encoding/json"
	"fmt"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/impetus-llm/impetus/store/export"
)

// JSON Schema helpers for the hand-written input schemas: exact types,
// ranges and descriptions, and no unknown arguments.
type schema = map[string]any

func object(props schema, required ...string) schema {
	s := schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func str(desc string) schema { return schema{"type": "string", "description": desc} }
func boolean(desc string) schema {
	return schema{"type": "boolean", "description": desc}
}
func integer(desc string, min, max int64) schema {
	s := schema{"type": "integer", "description": desc, "minimum": min}
	if max > 0 {
		s["maximum"] = max
	}
	return s
}
func number(desc string, min, max float64) schema {
	return schema{"type": "number", "description": desc, "minimum": min, "maximum": max}
}
func enum(desc string, values ...string) schema {
	return schema{"type": "string", "description": desc, "enum": values}
}

func boolPtr(b bool) *bool { return &b }

// historyAnnotations mark a tool that only reads the local history.
var historyAnnotations = mcpgo.ToolAnnotation{
	ReadOnlyHint: boolPtr(true), DestructiveHint: boolPtr(false),
	IdempotentHint: boolPtr(true), OpenWorldHint: boolPtr(false),
}

// addTool registers a tool with its input schema (checked by
// HandleMessage), its output schema (generated from the result type) and
// its handler.
func (s *Server) addTool(tool mcpgo.Tool, input schema, check func(json.RawMessage) *paramError, handler server.ToolHandlerFunc) error {
	raw, err := json.Marshal(input)
	if err != nil {
		return err
	}
	tool.InputSchema = mcpgo.ToolInputSchema{} // mcp-go sends one of the two
	tool.RawInputSchema = raw
	sch, props, err := compileInputSchema(tool.Name, raw)
	if err != nil {
		return err
	}
	if tool.OutputSchema.Type == "" {
		return fmt.Errorf("tool %s has no output schema", tool.Name)
	}
	s.tools[tool.Name] = &toolSpec{name: tool.Name, schema: sch, props: props, check: check}
	s.mcp.AddTool(tool, handler)
	return nil
}

func (s *Server) addTools() error {
	defaultModel := s.opts.DefaultModel
	if defaultModel == "" {
		defaultModel = "none is configured, so pass model"
	}
	message := object(schema{
		"role":    enum("who wrote it", "system", "user", "assistant"),
		"content": str("the message text"),
	}, "role", "content")
	err := s.addTool(mcpgo.NewTool("generate",
		mcpgo.WithToolTitle("Generate text with the local model"),
		mcpgo.WithDescription("Run the local language model. Give either prompt (one user message, or raw completion text with raw=true) or messages (a chat). "+
			"Returns the generated text, why it stopped, token usage and timings. With a progressToken, progress notifications carry the new text as message and the number of generated tokens as progress (while the model loads, progress rises below 1 with no message). "+
			"save=true records the exchange as a new conversation in the history; conversation_id continues a stored conversation (it is saved too). Default model: "+defaultModel+"."),
		outputSchema[GenerateResult](),
		mcpgo.WithToolAnnotation(mcpgo.ToolAnnotation{ReadOnlyHint: boolPtr(false), DestructiveHint: boolPtr(false), IdempotentHint: boolPtr(false), OpenWorldHint: boolPtr(false)}),
	), object(schema{
		"prompt":   str("the user's message (or, with raw=true, plain text to complete)"),
		"messages": schema{"type": "array", "description": "chat messages, oldest first; the model answers the last one", "items": message, "minItems": 1},
		"system":   str("system prompt for this call (or for the new conversation when saving)"),
		"raw":      boolean("send prompt as plain completion text without the chat template"),
		"model":    str("model to use: an id from list_models, a hub id such as mlx-community/Qwen2.5-0.5B-Instruct-4bit, or a model directory; default: the configured model"),
		"max_tokens": integer("most tokens to generate (default: the configured max_tokens, reduced to what the context leaves)", 1,
			1<<20),
		"temperature":     number("sampling temperature; 0 is greedy and deterministic", 0, 2),
		"top_p":           number("nucleus sampling: keep the most likely tokens up to this total probability; 1 disables", 0, 1),
		"seed":            schema{"type": "integer", "description": "random seed: the same seed and input give the same text"},
		"stop":            schema{"type": "array", "description": "strings that end the generation (never included in the text)", "items": schema{"type": "string", "minLength": 1}, "maxItems": 16},
		"conversation_id": str("continue this stored conversation (id or unique prefix): its messages are the context and the new exchange is saved in it"),
		"save":            boolean("record the exchange in the history as a new conversation"),
		"title":           str("title of the new conversation when saving (default: from the first message)"),
	}), checkGenerate, s.handleGenerate)
	if err != nil {
		return err
	}

	err = s.addTool(mcpgo.NewTool("list_models",
		mcpgo.WithToolTitle("List local models"),
		mcpgo.WithDescription("List the language models available on this machine (the models directory and the Hugging Face cache) with architecture, size, quantization and context length, and say which one is loaded and which is the default. Pass an id as generate's model."),
		outputSchema[ModelList](),
		mcpgo.WithToolAnnotation(historyAnnotations),
	), object(schema{}), nil, s.handleListModels)
	if err != nil {
		return err
	}

	err = s.addTool(mcpgo.NewTool("search_conversations",
		mcpgo.WithToolTitle("Search conversation history"),
		mcpgo.WithDescription("Full-text search over the saved conversations (message texts and titles). All words must match; \"quoted phrases\" match exactly. Returns the best matches with a snippet (matches in [brackets]), the conversation id and title, the message id and role, and when it was written. Use get_conversation to read a hit's conversation."),
		outputSchema[SearchResult](),
		mcpgo.WithToolAnnotation(historyAnnotations),
	), object(schema{
		"query": schema{"type": "string", "description": "words to find", "minLength": 1},
		"limit": integer("most hits to return (default 10)", 1, 100),
		"since": str("only messages written at or after this time: RFC 3339 (2025-01-31T12:00:00Z) or a date (2025-01-31)"),
		"until": str("only messages written before this time: RFC 3339 or a date (a date means the end of that day)"),
	}, "query"), checkTimeRange, s.handleSearch)
	if err != nil {
		return err
	}

	err = s.addTool(mcpgo.NewTool("list_conversations",
		mcpgo.WithToolTitle("List conversations"),
		mcpgo.WithDescription("List saved conversations: pinned first, then most recent activity first. Each has its id, title, model, message count and times. When next_cursor is set, pass it as cursor to get the next page."),
		outputSchema[ConversationList](),
		mcpgo.WithToolAnnotation(historyAnnotations),
	), object(schema{
		"limit":            integer("conversations per page (default 20)", 1, 200),
		"cursor":           str("next_cursor of the previous page"),
		"include_archived": boolean("list archived conversations too"),
	}), nil, s.handleListConversations)
	if err != nil {
		return err
	}

	err = s.addTool(mcpgo.NewTool("get_conversation",
		mcpgo.WithToolTitle("Read a conversation"),
		mcpgo.WithDescription("Get one saved conversation: its title, model and system prompt, and its messages with roles, models, timestamps and status. By default the active branch (what the user sees); all_branches=true returns every message with parent ids (edits and regenerated replies branch the conversation)."),
		outputSchema[ConversationDetail](),
		mcpgo.WithToolAnnotation(historyAnnotations),
	), object(schema{
		"id":           schema{"type": "string", "description": "conversation id or a unique prefix of at least 4 characters", "minLength": 1},
		"all_branches": boolean("return every branch, not only the active one"),
	}, "id"), nil, s.handleGetConversation)
	if err != nil {
		return err
	}

	formats := make([]string, 0, 4)
	var descs []string
	for _, f := range export.Formats() {
		formats = append(formats, string(f))
		descs = append(descs, string(f)+": "+f.Description())
	}
	return s.addTool(mcpgo.NewTool("export_conversation",
		mcpgo.WithToolTitle("Export a conversation"),
		mcpgo.WithDescription("Export one saved conversation as a document. Formats: "+strings.Join(descs, "; ")+"."),
		outputSchema[ExportResult](),
		mcpgo.WithToolAnnotation(historyAnnotations),
	), object(schema{
		"id":     schema{"type": "string", "description": "conversation id or a unique prefix of at least 4 characters", "minLength": 1},
		"format": enum("document format (default md)", formats...),
	}, "id"), nil, s.handleExport)
}

// outputSchema declares a tool's output schema generated from T, with each
// property of one JSON type: the generator writes ["null","array"] for Go
// slices and pointers, which some clients cannot map, and these results
// never hold null (empty lists are [], unknown numbers are left out).
func outputSchema[T any]() mcpgo.ToolOption {
	generate := mcpgo.WithOutputSchema[T]()
	return func(t *mcpgo.Tool) {
		generate(t)
		for _, p := range t.OutputSchema.Properties {
			singleType(p)
		}
	}
}

func singleType(node any) {
	m, ok := node.(map[string]any)
	if !ok {
		return
	}
	if types, ok := m["type"].([]any); ok {
		var rest []any
		for _, ty := range types {
			if ty != "null" {
				rest = append(rest, ty)
			}
		}
		if len(rest) == 1 {
			m["type"] = rest[0]
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for _, p := range props {
			singleType(p)
		}
	}
	singleType(m["items"])
}

// structured returns a result with structured content and, for clients
// that read only text, the same as JSON in a text block.
func structured(v any) *mcpgo.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		return mcpgo.NewToolResultError("encoding the result: " + err.Error())
	}
	return &mcpgo.CallToolResult{
		Content:           []mcpgo.Content{mcpgo.NewTextContent(string(b))},
		StructuredContent: v,
	}
}

// toolError is a tool result that reports a failure to the caller (the
// model can read it and react), as opposed to a protocol error.
func toolError(format string, args ...any) *mcpgo.CallToolResult {
	return mcpgo.NewToolResultError(fmt.Sprintf(format, args...))
}

// decodeArgs decodes a call's (already validated) arguments.
func decodeArgs(req mcpgo.CallToolRequest, v any) error {
	raw := req.Params.RawArguments
	if len(raw) == 0 {
		b, err := json.Marshal(req.Params.Arguments)
		if err != nil {
			return err
		}
		raw = b
	}
	if string(raw) == "null" {
		return nil
	}
	return json.Unmarshal(raw, v)
}
