package export

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Read parses an impetus JSON export or a JSONL file in the chat
// fine-tuning format ({"messages":[{"role","content"},...]} per line) and
// returns its conversations, validated. name is used in error messages
// (the file name). The two are told apart by content, not by extension: a
// JSON export is one object with "impetus_export_version".
//
// Conversations read from JSONL get ids derived from their content (a hash
// of the messages), so reading the same line twice yields the same id; the
// importer relies on that not to duplicate conversations.
func Read(r io.Reader, name string) ([]Conversation, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a byte-order mark some editors add
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s: empty file: expected an impetus JSON export or JSONL", name)
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("%s: not an impetus JSON export or JSONL file (it does not start with a JSON object)", name)
	}
	// Look at the keys of the first object (or, for JSONL, the first line).
	first := trimmed
	if i := bytes.IndexByte(trimmed, '\n'); i >= 0 && json.Valid(bytes.TrimSpace(trimmed[:i])) {
		first = bytes.TrimSpace(trimmed[:i])
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(first, &keys); err != nil {
		return nil, jsonError(name, data, err)
	}
	if _, ok := keys[versionKey]; ok {
		return readDocument(data, name)
	}
	if _, ok := keys["messages"]; ok {
		return readJSONL(data, name)
	}
	if _, ok := keys["conversations"]; ok {
		return nil, fmt.Errorf("%s: no %q field: this is not an impetus export (or was edited); add \"%s\": %d if it follows SCHEMA.md version %d", name, versionKey, versionKey, Version, Version)
	}
	return nil, fmt.Errorf("%s: neither an impetus JSON export (no %q) nor JSONL in the messages format (no \"messages\")", name, versionKey)
}

func readDocument(data []byte, name string) ([]Conversation, error) {
	// Check the version before decoding the rest, so that a newer file
	// gets "unsupported version", not a confusing field error.
	var head struct {
		Version json.RawMessage `json:"impetus_export_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonError(name, data, err)
	}
	var v int
	if err := json.Unmarshal(head.Version, &v); err != nil {
		return nil, fmt.Errorf("%s: %s is %s, expected the number %d", name, versionKey, head.Version, Version)
	}
	if v != Version {
		hint := "it was written by a newer impetus; upgrade impetus to import it"
		if v < Version {
			hint = "it is older than any version impetus writes"
		}
		return nil, fmt.Errorf("%s: %s %d is not supported (this impetus reads version %d): %s", name, versionKey, v, Version, hint)
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(name, data, err)
	}
	if doc.Conversations == nil {
		return nil, fmt.Errorf("%s: missing \"conversations\" array", name)
	}
	for i := range doc.Conversations {
		if err := validate(&doc.Conversations[i]); err != nil {
			return nil, fmt.Errorf("%s: conversations[%d]: %w", name, i, err)
		}
	}
	return doc.Conversations, nil
}

// validate checks what the importer and the tree functions rely on: ids
// present and unique, parents that exist, known timestamps.
func validate(c *Conversation) error {
	if strings.TrimSpace(c.ID) == "" {
		return errors.New(`missing "id"`)
	}
	if c.CreatedAt.IsZero() {
		return fmt.Errorf(`conversation %s: missing "created_at"`, c.ID)
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	if len(c.Settings) > 0 && !json.Valid(c.Settings) {
		return fmt.Errorf(`conversation %s: "settings" is not valid JSON`, c.ID)
	}
	ids := make(map[string]bool, len(c.Messages))
	for j := range c.Messages {
		m := &c.Messages[j]
		if strings.TrimSpace(m.ID) == "" {
			return fmt.Errorf(`conversation %s: messages[%d]: missing "id"`, c.ID, j)
		}
		if ids[m.ID] {
			return fmt.Errorf(`conversation %s: messages[%d]: duplicate id %q`, c.ID, j, m.ID)
		}
		ids[m.ID] = true
		if m.Role == "" {
			return fmt.Errorf(`conversation %s: messages[%d] (%s): missing "role"`, c.ID, j, m.ID)
		}
		if m.CreatedAt.IsZero() {
			return fmt.Errorf(`conversation %s: messages[%d] (%s): missing "created_at"`, c.ID, j, m.ID)
		}
	}
	for j := range c.Messages {
		m := &c.Messages[j]
		if m.ParentID != "" && !ids[m.ParentID] {
			return fmt.Errorf(`conversation %s: messages[%d] (%s): "parent_id" %q is not a message of this conversation`, c.ID, j, m.ID, m.ParentID)
		}
	}
	if !sortMessages(c.Messages) {
		return fmt.Errorf(`conversation %s: "parent_id" links form a cycle`, c.ID)
	}
	return nil
}

// readJSONL reads fine-tuning lines. Each line becomes one linear
// conversation; a leading system message becomes its system prompt.
func readJSONL(data []byte, name string) ([]Conversation, error) {
	var out []Conversation
	// Imported lines carry no dates; give them the import time, one
	// millisecond (the store's resolution) apart per message to keep their
	// order.
	now := time.Now().UTC().Truncate(time.Millisecond)
	br := bufio.NewReader(bytes.NewReader(data))
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			c, perr := parseJSONLLine(bytes.TrimSpace(line), now)
			if perr != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, lineNo, perr)
			}
			out = append(out, c)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
	}
	return out, nil
}

func parseJSONLLine(line []byte, now time.Time) (Conversation, error) {
	var l struct {
		Messages []struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(line, &l); err != nil {
		var se *json.SyntaxError
		if strings.Contains(err.Error(), "unexpected end of JSON input") {
			return Conversation{}, errors.New("truncated JSON line")
		}
		if errors.As(err, &se) {
			return Conversation{}, fmt.Errorf("invalid JSON at column %d: %v", se.Offset, err)
		}
		return Conversation{}, fmt.Errorf("not a {\"messages\":[{\"role\",\"content\"}]} line: %v", err)
	}
	if len(l.Messages) == 0 {
		return Conversation{}, errors.New(`"messages" is missing or empty`)
	}
	h := sha256.New()
	var c Conversation
	for i, m := range l.Messages {
		if m.Role == nil || *m.Role == "" {
			return Conversation{}, fmt.Errorf(`messages[%d]: missing "role"`, i)
		}
		if m.Content == nil {
			return Conversation{}, fmt.Errorf(`messages[%d]: missing "content" (must be a string)`, i)
		}
		// Length-prefixed so that no two different message lists hash alike.
		fmt.Fprintf(h, "%d:%s%d:%s", len(*m.Role), *m.Role, len(*m.Content), *m.Content)
	}
	sum := h.Sum(nil)
	c.ID = hashID(sum, -1)
	c.CreatedAt, c.UpdatedAt = now, now
	msgs := l.Messages
	if *msgs[0].Role == "system" {
		c.SystemPrompt = *msgs[0].Content
		msgs = msgs[1:]
	}
	parent := ""
	for i, m := range msgs {
		id := hashID(sum, i)
		c.Messages = append(c.Messages, Message{
			ID: id, ParentID: parent, Role: *m.Role, Content: *m.Content,
			CreatedAt: now.Add(time.Duration(i) * time.Millisecond),
		})
		parent = id
		if c.Title == "" && *m.Role == "user" {
			c.Title = excerpt(*m.Content, 60)
		}
	}
	if c.Title == "" {
		c.Title = "Imported conversation"
	}
	return c, nil
}

// jsonError turns a decoding error into one line naming the position.
func jsonError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input"):
		return fmt.Errorf("%s: truncated JSON (the file ends in the middle of a value; was the export interrupted?)", name)
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return fmt.Errorf("%s:%d:%d: invalid JSON: %v", name, line, col, err)
	case errors.As(err, &te):
		line, col := position(data, te.Offset)
		return fmt.Errorf("%s:%d:%d: field %q: expected %s, found a JSON %s", name, line, col, te.Field, te.Type, te.Value)
	}
	return fmt.Errorf("%s: %v", name, err)
}

func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// hashID derives a stable id, shaped like the store's (26 characters of
// Crockford base32, upper case), from a content hash: the conversation's
// with n < 0, its n-th message's otherwise. The same JSONL line always gets
// the same ids, which is what makes re-importing it a no-op.
func hashID(sum []byte, n int) string {
	b := sum
	if n >= 0 {
		h := sha256.New()
		h.Write(sum)
		binary.Write(h, binary.BigEndian, int64(n))
		b = h.Sum(nil)
	}
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var out [26]byte
	// 26 digits × 5 bits = 130 bits, taken from the first 17 bytes.
	var acc uint64
	bits := 0
	j := 0
	for i := 0; i < 26; i++ {
		for bits < 5 {
			acc = acc<<8 | uint64(b[j])
			j++
			bits += 8
		}
		bits -= 5
		out[i] = crockford[(acc>>uint(bits))&31]
	}
	return string(out[:])
}
