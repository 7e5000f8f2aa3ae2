package store

import (
	"encoding/json"
	"errors"
	"time"
)

// Errors callers can test with errors.Is. The returned errors wrap these and add
// the id or value involved.
var (
	ErrNotFound     = errors.New("not found")
	ErrAmbiguous    = errors.New("ambiguous id prefix")
	ErrExists       = errors.New("already exists")
	ErrEmptyQuery   = errors.New("empty search query")
	ErrWriterClosed = errors.New("message writer already finished")
	ErrInvalid      = errors.New("invalid argument")
)

// Role is who wrote a message.
type Role string

const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Valid reports whether r is one of the four roles the schema accepts.
func (r Role) Valid() bool {
	switch r {
	case RoleSystem, RoleUser, RoleAssistant, RoleTool:
		return true
	}
	return false
}

// Status is where a message is in its life.
type Status string

const (
	// StatusComplete: written whole (user input) or finished streaming normally.
	StatusComplete Status = "complete"
	// StatusIncomplete: being streamed right now, or left half-written by a crash.
	StatusIncomplete Status = "incomplete"
	// StatusStopped: the user stopped generation; the content so far is kept.
	StatusStopped Status = "stopped"
	// StatusError: generation failed; Message.Error says why; content so far is kept.
	StatusError Status = "error"
)

// Conversation is one chat. Settings and Tags are free-form for the store:
// Settings is a JSON object (the sampling settings the engine uses), never nil
// when read back ("{}" at least).
type Conversation struct {
	ID           string          `json:"id"`
	Title        string          `json:"title"`
	Model        string          `json:"model"`
	SystemPrompt string          `json:"system_prompt"`
	Settings     json.RawMessage `json:"settings"`
	Tags         []string        `json:"tags"`
	Pinned       bool            `json:"pinned"`
	Archived     bool            `json:"archived"`
	// ActiveLeafID is the last message of the branch being shown; "" means the
	// newest message (or no messages yet).
	ActiveLeafID string    `json:"active_leaf_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// UpdatedAt is the last activity: a message added or streamed, or the title,
	// model, system prompt, settings or tags changed. Pinning and archiving do not
	// count as activity.
	UpdatedAt time.Time `json:"updated_at"`
	// MessageCount is filled by ListConversations and GetConversation.
	MessageCount int `json:"message_count"`
}

// Message is one turn. ParentID links branches: siblings share a parent; "" is a
// root message. The pointer stats are nil when unknown (user messages).
type Message struct {
	ID                  string          `json:"id"`
	ConversationID      string          `json:"conversation_id"`
	ParentID            string          `json:"parent_id,omitempty"`
	Role                Role            `json:"role"`
	Content             string          `json:"content"`
	Model               string          `json:"model,omitempty"`
	Status              Status          `json:"status"`
	FinishReason        string          `json:"finish_reason,omitempty"`
	Error               string          `json:"error,omitempty"`
	PromptTokens        *int            `json:"prompt_tokens,omitempty"`
	CompletionTokens    *int            `json:"completion_tokens,omitempty"`
	TTFTMs              *float64        `json:"ttft_ms,omitempty"`
	TokensPerSec        *float64        `json:"tokens_per_sec,omitempty"`
	PrefillTokensPerSec *float64        `json:"prefill_tokens_per_sec,omitempty"`
	Settings            json.RawMessage `json:"settings,omitempty"`
	// Meta is a JSON object for what does not fit the columns (tool calls, tool
	// name, attachments); "{}" when empty.
	Meta      json.RawMessage `json:"meta,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Complete reports whether the message finished normally.
func (m *Message) Complete() bool { return m.Status == StatusComplete }

// Stats are the figures a finished generation reports. Zero values are stored as
// unknown (NULL), except FinishReason which defaults to "stop" in Finish.
type Stats struct {
	PromptTokens        int     `json:"prompt_tokens,omitempty"`
	CompletionTokens    int     `json:"completion_tokens,omitempty"`
	TTFTMs              float64 `json:"ttft_ms,omitempty"`
	TokensPerSec        float64 `json:"tokens_per_sec,omitempty"`
	PrefillTokensPerSec float64 `json:"prefill_tokens_per_sec,omitempty"`
	FinishReason        string  `json:"finish_reason,omitempty"`
}

// NewConversation is what CreateConversation needs. Everything is optional.
type NewConversation struct {
	Title        string
	Model        string
	SystemPrompt string
	Settings     json.RawMessage // a JSON object; nil means {}
	Tags         []string
}

// ConversationUpdate changes the non-nil fields of a conversation.
type ConversationUpdate struct {
	Title        *string
	Model        *string
	SystemPrompt *string
	Settings     json.RawMessage // nil: unchanged; otherwise a JSON object
	Tags         *[]string
}

// NewMessage is what AppendMessage and BeginMessage need.
type NewMessage struct {
	ConversationID string
	// ParentID is the message this one answers or follows. "" means "after the
	// conversation's active leaf" (the usual append; a root if it has no messages).
	// Set AsRoot to start a new root-level branch instead.
	ParentID string
	AsRoot   bool
	Role     Role
	Content  string
	Model    string
	Settings json.RawMessage // JSON object or nil
	Meta     json.RawMessage // JSON object or nil
	// Status defaults to StatusComplete for AppendMessage; BeginMessage always
	// starts at StatusIncomplete.
	Status       Status
	FinishReason string
	Error        string
	Stats        *Stats
}

// ArchiveFilter selects conversations by their archived flag. The zero value
// hides archived conversations.
type ArchiveFilter int

const (
	ExcludeArchived ArchiveFilter = iota // only conversations not archived
	IncludeArchived                      // all conversations
	OnlyArchived                         // only archived conversations
)

// ListOptions pages the conversation list. Order: pinned first, then newest
// activity (UpdatedAt), then id, all descending. Use either Cursor (from the
// previous page's NextCursor; stable while conversations change) or Offset.
type ListOptions struct {
	Limit    int // default 50, at most 1000
	Offset   int
	Cursor   string
	Archived ArchiveFilter
	Pinned   *bool // nil: both; true: only pinned; false: only unpinned
}

// ConversationPage is one page of ListConversations. NextCursor is "" on the
// last page.
type ConversationPage struct {
	Conversations []Conversation `json:"conversations"`
	NextCursor    string         `json:"next_cursor,omitempty"`
	Total         int            `json:"total"`
}

// SearchOptions narrows and pages Search.
type SearchOptions struct {
	Limit          int    // default 20, at most 1000
	Offset         int    // for paging
	ConversationID string // only this conversation
	Archived       ArchiveFilter
	// Prefix matches the last word as a prefix (search as you type).
	Prefix bool
	// HighlightStart/End surround matched words in snippets; default "[" and "]".
	HighlightStart string
	HighlightEnd   string
	// SnippetTokens is the snippet length in tokens; default 16, 1..64.
	SnippetTokens int
	// Since and Until, when set, keep hits created in [Since, Until): messages
	// by their time, title matches by their conversation's creation.
	Since, Until time.Time
}

// SearchHit is one match. MessageID is "" when the conversation title matched.
type SearchHit struct {
	ConversationID    string    `json:"conversation_id"`
	ConversationTitle string    `json:"conversation_title"`
	MessageID         string    `json:"message_id,omitempty"`
	Role              Role      `json:"role,omitempty"`
	Snippet           string    `json:"snippet"`
	Rank              float64   `json:"rank"` // bm25: lower is better
	CreatedAt         time.Time `json:"created_at"`
}
