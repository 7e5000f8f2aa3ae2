package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Version is the value of "impetus_export_version" this package writes and
// the only one it reads. Bump it on any change that an older reader would
// misread, and document the change in SCHEMA.md.
const Version = 1

// versionKey is the field that identifies an impetus JSON export.
const versionKey = "impetus_export_version"

// jsonEncoder writes one JSON document:
//
//	{
//	  "impetus_export_version": 1,
//	  "conversations": [ {...}, {...} ]
//	}
//
// It frames the document by hand so conversations can be streamed one at a
// time; each is marshalled with encoding/json, so the output is valid JSON
// whatever the content.
type jsonEncoder struct {
	w       io.Writer
	n       int
	started bool
	buf     bytes.Buffer
}

func (e *jsonEncoder) header() error {
	if e.started {
		return nil
	}
	e.started = true
	_, err := fmt.Fprintf(e.w, "{\n  %q: %d,\n  \"conversations\": [", versionKey, Version)
	return err
}

func (e *jsonEncoder) Encode(c *Conversation) error {
	if err := e.header(); err != nil {
		return err
	}
	e.buf.Reset()
	if e.n > 0 {
		e.buf.WriteString(",")
	}
	e.buf.WriteString("\n    ")
	enc := json.NewEncoder(&e.buf)
	enc.SetEscapeHTML(false) // keep <, > and & readable; they are valid in JSON strings
	enc.SetIndent("    ", "  ")
	if err := enc.Encode(jsonConversation(normalized(c))); err != nil {
		return fmt.Errorf("conversation %s: %w", c.ID, err)
	}
	e.buf.Truncate(e.buf.Len() - 1) // the encoder's trailing newline
	e.n++
	_, err := e.w.Write(e.buf.Bytes())
	return err
}

func (e *jsonEncoder) Close() error {
	if err := e.header(); err != nil {
		return err
	}
	end := "\n  ]\n}\n"
	if e.n == 0 {
		end = "]\n}\n"
	}
	_, err := io.WriteString(e.w, end)
	return err
}

// jsonConversation fixes the things encoding/json would otherwise write
// differently for equal conversations: a nil message list (null instead of
// []) and settings that are not compact.
func jsonConversation(c *Conversation) *Conversation {
	if c.Messages == nil {
		c.Messages = []Message{}
	}
	c.Settings = compactJSON(c.Settings)
	for i := range c.Messages {
		c.Messages[i].Settings = compactJSON(c.Messages[i].Settings)
		c.Messages[i].Meta = compactJSON(c.Messages[i].Meta)
		if c.Messages[i].Status == StatusComplete {
			c.Messages[i].Status = "" // the default; omitted
		}
	}
	return c
}

// compactJSON compacts raw JSON. Empty values ("null", "{}") become nil,
// so they are omitted and an empty object and a missing one export alike
// (the store reads both back as "{}"). Invalid JSON, which the store never
// holds, becomes a JSON string so the export stays valid.
func compactJSON(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		s, _ := json.Marshal(string(raw))
		return s
	}
	if b.String() == "{}" {
		return nil
	}
	return b.Bytes()
}

// document is the top level of a JSON export, as read back.
type document struct {
	Version       *int           `json:"impetus_export_version"`
	Conversations []Conversation `json:"conversations"`
}
