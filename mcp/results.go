package mcp

import (
	"time"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/store"
)

// The tools' structured results. Their JSON Schemas (the tools' output
// schemas) are generated from these types, so what a tool declares and what
// it returns cannot drift apart; the server also validates every result
// against its schema.

// GenerateResult is generate's structured result.
type GenerateResult struct {
	Text         string `json:"text" jsonschema:"the generated text, without end-of-sequence tokens or stop strings"`
	FinishReason string `json:"finish_reason" jsonschema:"why generation ended: stop (end of sequence or a stop string), length (max_tokens or the context filled), cancelled or error"`
	StopString   string `json:"stop_string,omitempty" jsonschema:"the stop string that ended the generation"`
	Model        string `json:"model" jsonschema:"the model directory that generated the text"`
	Usage        Usage  `json:"usage" jsonschema:"token counts"`
	Timings      Timing `json:"timings" jsonschema:"durations in milliseconds and speeds in tokens per second"`
	// Set when the exchange was saved.
	ConversationID string `json:"conversation_id,omitempty" jsonschema:"the conversation the exchange was saved in"`
	MessageID      string `json:"message_id,omitempty" jsonschema:"the saved reply's message id"`
}

// Usage counts tokens of one generation.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens" jsonschema:"tokens in the prompt"`
	CompletionTokens int `json:"completion_tokens" jsonschema:"tokens generated"`
	TotalTokens      int `json:"total_tokens" jsonschema:"prompt plus completion tokens"`
	CachedTokens     int `json:"cached_tokens" jsonschema:"prompt tokens reused from the prompt cache"`
}

// Timing of one generation.
type Timing struct {
	QueueMs             float64 `json:"queue_ms" jsonschema:"waiting for the model, including loading it"`
	TTFTMs              float64 `json:"ttft_ms" jsonschema:"time to the first token after leaving the queue"`
	PrefillMs           float64 `json:"prefill_ms" jsonschema:"processing the prompt"`
	PrefillTokensPerSec float64 `json:"prefill_tokens_per_sec" jsonschema:"prompt processing speed"`
	DecodeMs            float64 `json:"decode_ms" jsonschema:"generating after the first token"`
	DecodeTokensPerSec  float64 `json:"decode_tokens_per_sec" jsonschema:"generation speed"`
	TotalMs             float64 `json:"total_ms" jsonschema:"from leaving the queue to the end"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func generateResult(res *engine.Result) GenerateResult {
	t := res.Timings
	return GenerateResult{
		Text: res.Text, FinishReason: string(res.FinishReason), StopString: res.StopString, Model: res.Model,
		Usage: Usage{PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens,
			TotalTokens: res.Usage.TotalTokens, CachedTokens: res.Usage.CachedTokens},
		Timings: Timing{QueueMs: ms(t.Queue), TTFTMs: ms(t.TTFT), PrefillMs: ms(t.Prefill),
			PrefillTokensPerSec: t.PrefillTokensPerSec, DecodeMs: ms(t.Decode),
			DecodeTokensPerSec: t.DecodeTokensPerSec, TotalMs: ms(t.Total)},
	}
}

// ModelList is list_models' structured result.
type ModelList struct {
	Models       []Model  `json:"models" jsonschema:"models found on this machine"`
	Loaded       string   `json:"loaded,omitempty" jsonschema:"directory of the model in memory now"`
	DefaultModel string   `json:"default_model,omitempty" jsonschema:"the model generate uses when given none"`
	Warnings     []string `json:"warnings,omitempty" jsonschema:"model directories that were skipped and why"`
}

// Model is one local model.
type Model struct {
	ID            string `json:"id" jsonschema:"what to pass as generate's model"`
	Source        string `json:"source" jsonschema:"hf-cache or models-dir"`
	Path          string `json:"path" jsonschema:"the model directory"`
	Architecture  string `json:"architecture" jsonschema:"config.json model_type"`
	Params        int64  `json:"params" jsonschema:"number of parameters"`
	Quantization  string `json:"quantization,omitempty" jsonschema:"e.g. 4bit/g64; empty when not quantized"`
	DType         string `json:"dtype" jsonschema:"dominant weight data type"`
	SizeBytes     int64  `json:"size_bytes" jsonschema:"size on disk"`
	ContextLength int    `json:"context_length" jsonschema:"longest prompt plus completion in tokens"`
	Loaded        bool   `json:"loaded" jsonschema:"in memory now"`
}

// ConversationList is list_conversations' structured result.
type ConversationList struct {
	Conversations []Conversation `json:"conversations" jsonschema:"this page"`
	NextCursor    string         `json:"next_cursor,omitempty" jsonschema:"pass as cursor for the next page; absent on the last page"`
	Total         int            `json:"total" jsonschema:"conversations matching in all pages"`
}

// Conversation summarizes one conversation.
type Conversation struct {
	ID           string   `json:"id" jsonschema:"conversation id"`
	Title        string   `json:"title" jsonschema:"title"`
	Model        string   `json:"model,omitempty" jsonschema:"model the conversation uses"`
	SystemPrompt string   `json:"system_prompt,omitempty" jsonschema:"system prompt"`
	MessageCount int      `json:"message_count" jsonschema:"messages in all branches"`
	Pinned       bool     `json:"pinned" jsonschema:"pinned by the user"`
	Archived     bool     `json:"archived" jsonschema:"archived by the user"`
	Tags         []string `json:"tags,omitempty" jsonschema:"tags"`
	CreatedAt    string   `json:"created_at" jsonschema:"RFC 3339"`
	UpdatedAt    string   `json:"updated_at" jsonschema:"last activity, RFC 3339"`
}

func conversation(c *store.Conversation) Conversation {
	return Conversation{ID: c.ID, Title: c.Title, Model: c.Model, SystemPrompt: c.SystemPrompt,
		MessageCount: c.MessageCount, Pinned: c.Pinned, Archived: c.Archived, Tags: c.Tags,
		CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt)}
}

// ConversationDetail is get_conversation's structured result.
type ConversationDetail struct {
	Conversation Conversation `json:"conversation" jsonschema:"the conversation"`
	Branch       string       `json:"branch" jsonschema:"active (the branch the user sees) or all"`
	Messages     []Message    `json:"messages" jsonschema:"oldest first"`
}

// Message is one stored message.
type Message struct {
	ID               string   `json:"id" jsonschema:"message id"`
	ParentID         string   `json:"parent_id,omitempty" jsonschema:"the message this one follows; absent for the first"`
	Role             string   `json:"role" jsonschema:"system, user, assistant or tool"`
	Content          string   `json:"content" jsonschema:"the text"`
	Model            string   `json:"model,omitempty" jsonschema:"model that wrote a reply"`
	Status           string   `json:"status" jsonschema:"complete, incomplete (streaming or interrupted), stopped or error"`
	FinishReason     string   `json:"finish_reason,omitempty" jsonschema:"why a reply ended"`
	Error            string   `json:"error,omitempty" jsonschema:"why a reply failed"`
	PromptTokens     *int     `json:"prompt_tokens,omitempty" jsonschema:"prompt tokens of a reply"`
	CompletionTokens *int     `json:"completion_tokens,omitempty" jsonschema:"tokens of a reply"`
	TokensPerSec     *float64 `json:"tokens_per_sec,omitempty" jsonschema:"generation speed of a reply"`
	CreatedAt        string   `json:"created_at" jsonschema:"RFC 3339"`
}

func messages(ms []store.Message) []Message {
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		out = append(out, Message{ID: m.ID, ParentID: m.ParentID, Role: string(m.Role), Content: m.Content,
			Model: m.Model, Status: string(m.Status), FinishReason: m.FinishReason, Error: m.Error,
			PromptTokens: m.PromptTokens, CompletionTokens: m.CompletionTokens, TokensPerSec: m.TokensPerSec,
			CreatedAt: rfc3339(m.CreatedAt)})
	}
	return out
}

// SearchResult is search_conversations' structured result.
type SearchResult struct {
	Query string `json:"query" jsonschema:"the query as given"`
	Hits  []Hit  `json:"hits" jsonschema:"best matches first"`
}

// Hit is one search match.
type Hit struct {
	ConversationID    string `json:"conversation_id" jsonschema:"conversation id"`
	ConversationTitle string `json:"conversation_title" jsonschema:"conversation title"`
	MessageID         string `json:"message_id,omitempty" jsonschema:"matching message; absent when the title matched"`
	Role              string `json:"role,omitempty" jsonschema:"role of the matching message"`
	Snippet           string `json:"snippet" jsonschema:"text around the match, matched words in [brackets]"`
	CreatedAt         string `json:"created_at" jsonschema:"when the message was written, RFC 3339"`
}

// ExportResult is export_conversation's structured result.
type ExportResult struct {
	ConversationID string `json:"conversation_id" jsonschema:"conversation id"`
	Title          string `json:"title" jsonschema:"conversation title"`
	Format         string `json:"format" jsonschema:"md, json, jsonl or html"`
	MIMEType       string `json:"mime_type" jsonschema:"media type of content"`
	Content        string `json:"content" jsonschema:"the exported document"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
