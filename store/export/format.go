package export

import (
	"fmt"
	"io"
	"strings"
)

// Format names an export format. The values are also the file extensions
// and the values of `impetus export --format`.
type Format string

const (
	Markdown Format = "md"    // one Markdown document per conversation, YAML front matter
	JSON     Format = "json"  // full fidelity, versioned (SCHEMA.md); what Import reads back
	JSONL    Format = "jsonl" // fine-tuning lines {"messages":[{"role","content"},...]}
	HTML     Format = "html"  // standalone page, embedded CSS, rendered Markdown, escaped
)

var formats = []Format{Markdown, JSON, JSONL, HTML}

// Formats lists every supported format, in the order a UI should offer them.
func Formats() []Format { return append([]Format(nil), formats...) }

// Ext is the file name extension (with the dot) for files in format f.
func (f Format) Ext() string { return "." + string(f) }

// Description is a one-line, user-facing explanation of the format.
func (f Format) Description() string {
	switch f {
	case Markdown:
		return "Markdown with YAML front matter, one document per conversation"
	case JSON:
		return "impetus JSON: every field, branches and stats; re-importable"
	case JSONL:
		return "chat fine-tuning JSONL, one {\"messages\":[...]} line per conversation"
	case HTML:
		return "standalone HTML page with rendered Markdown, light and dark"
	}
	return ""
}

// ParseFormat accepts a format name (case-insensitive, a leading dot and the
// aliases "markdown" and "htm" allowed) and says which names exist when it
// does not know one.
func ParseFormat(s string) (Format, error) {
	n := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), ".")
	switch n {
	case "markdown":
		n = "md"
	case "htm":
		n = "html"
	}
	for _, f := range formats {
		if string(f) == n {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown export format %q: use one of %s", s, formatList())
}

func formatList() string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// Options tunes what is written. The zero value writes everything: every
// branch, every reply, system prompts in the formats that show metadata.
type Options struct {
	// ActiveBranchOnly keeps only the path from the root to the most recent
	// message. In JSONL, without it every root-to-leaf branch becomes its own
	// line (a separate training example); with it there is one line per
	// conversation. Markdown and HTML otherwise add the other branches after
	// the active one. JSON always keeps the whole tree (full fidelity).
	ActiveBranchOnly bool
	// IncludeSystem puts the conversation's system prompt first in each JSONL
	// line as a {"role":"system"} message. Other formats always show it.
	IncludeSystem bool
	// SkipIncomplete drops, in JSONL, replies that did not finish on their
	// own (see Message.Interrupted) together with everything after them on
	// their branch; a line left without an assistant reply is not written.
	SkipIncomplete bool
}

// Encoder writes conversations one at a time, so that a caller can stream a
// large export from the store without holding it all in memory. Close writes
// what the format needs at the end (the closing of a JSON document or an HTML
// page); the output is incomplete until it returns nil.
type Encoder interface {
	Encode(c *Conversation) error
	Close() error
}

// NewEncoder returns an encoder for format f writing to w.
func NewEncoder(w io.Writer, f Format, opts Options) (Encoder, error) {
	switch f {
	case Markdown:
		return &markdownEncoder{w: w, opts: opts}, nil
	case JSON:
		return &jsonEncoder{w: w}, nil
	case JSONL:
		return newJSONLEncoder(w, opts), nil
	case HTML:
		return newHTMLEncoder(w, opts)
	}
	return nil, fmt.Errorf("unknown export format %q: use one of %s", string(f), formatList())
}

// Write writes convs to w in format f. Several conversations in one stream
// are one JSON document, one JSONL stream, one HTML page with an article per
// conversation, or Markdown documents one after another.
func Write(w io.Writer, f Format, convs []Conversation, opts Options) error {
	enc, err := NewEncoder(w, f, opts)
	if err != nil {
		return err
	}
	for i := range convs {
		if err := enc.Encode(&convs[i]); err != nil {
			return err
		}
	}
	return enc.Close()
}

// normalized returns a copy of c with messages in creation order and times
// in UTC, so that output never depends on the order or zone the caller used.
func normalized(c *Conversation) *Conversation {
	n := *c
	n.CreatedAt = c.CreatedAt.UTC()
	n.UpdatedAt = c.UpdatedAt.UTC()
	n.Messages = make([]Message, len(c.Messages))
	copy(n.Messages, c.Messages)
	for i := range n.Messages {
		n.Messages[i].CreatedAt = n.Messages[i].CreatedAt.UTC()
	}
	sortMessages(n.Messages)
	return &n
}
