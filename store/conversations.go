package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const convColumns = `c.id, c.title, c.model, c.system_prompt, c.settings, c.tags, c.pinned, c.archived,
	coalesce(c.active_leaf_id, ''), c.created_at, c.updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanConversation(r rowScanner, extra ...any) (Conversation, error) {
	var c Conversation
	var settings, tags string
	var created, updated int64
	dest := append([]any{&c.ID, &c.Title, &c.Model, &c.SystemPrompt, &settings, &tags, &c.Pinned, &c.Archived,
		&c.ActiveLeafID, &created, &updated}, extra...)
	if err := r.Scan(dest...); err != nil {
		return c, err
	}
	c.Settings = json.RawMessage(settings)
	if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil || c.Tags == nil {
		c.Tags = []string{}
	}
	c.CreatedAt, c.UpdatedAt = msTime(created), msTime(updated)
	return c, nil
}

// jsonObject validates an optional JSON object argument; nil/empty becomes "{}".
func jsonObject(field string, raw json.RawMessage) (string, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return "{}", nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return "", fmt.Errorf("%w: %s must be a JSON object, got %.40q", ErrInvalid, field, string(raw))
	}
	return string(raw), nil
}

func tagsJSON(tags []string) string {
	clean := []string{}
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t != "" && !seen[t] {
			seen[t] = true
			clean = append(clean, t)
		}
	}
	b, _ := json.Marshal(clean)
	return string(b)
}

// CreateConversation adds an empty conversation and returns it.
func (s *Store) CreateConversation(ctx context.Context, nc NewConversation) (*Conversation, error) {
	settings, err := jsonObject("settings", nc.Settings)
	if err != nil {
		return nil, err
	}
	id, now := NewID(), nowMs()
	_, err = s.db.ExecContext(ctx, `INSERT INTO conversations
		(id, title, model, system_prompt, settings, tags, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id, nc.Title, nc.Model, nc.SystemPrompt, settings, tagsJSON(nc.Tags), now, now)
	if err != nil {
		return nil, s.describe("write", err)
	}
	return s.GetConversation(ctx, id)
}

// GetConversation returns one conversation (with MessageCount) or an error
// wrapping ErrNotFound. id may be a unique prefix of at least 4 characters.
func (s *Store) GetConversation(ctx context.Context, id string) (*Conversation, error) {
	full, err := s.ResolveConversationID(ctx, id)
	if err != nil {
		return nil, err
	}
	row := s.db.QueryRowContext(ctx, `SELECT `+convColumns+`,
		(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
		FROM conversations c WHERE c.id = ?`, full)
	var count int
	c, err := scanConversation(row, &count)
	c.MessageCount = count
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("conversation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, s.describe("read", err)
	}
	return &c, nil
}

// ResolveConversationID expands a conversation id or a unique prefix of it (at
// least 4 characters, case-insensitive) to the full id.
func (s *Store) ResolveConversationID(ctx context.Context, idOrPrefix string) (string, error) {
	return s.resolve(ctx, "conversations", "conversation", idOrPrefix)
}

// ResolveMessageID is ResolveConversationID for messages.
func (s *Store) ResolveMessageID(ctx context.Context, idOrPrefix string) (string, error) {
	return s.resolve(ctx, "messages", "message", idOrPrefix)
}

func (s *Store) resolve(ctx context.Context, table, what, idOrPrefix string) (string, error) {
	raw := strings.TrimSpace(idOrPrefix)
	if raw == "" {
		return "", fmt.Errorf("%w: empty %s id", ErrInvalid, what)
	}
	// Exact first, as given (imported ids need not be ours), then upper-cased
	// (ours are upper-case base32 and people type them in lower case).
	candidates := []string{raw}
	if up := strings.ToUpper(raw); up != raw {
		candidates = append(candidates, up)
	}
	for _, id := range candidates {
		var full string
		err := s.db.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE id = ?`, id).Scan(&full)
		if err == nil {
			return full, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", s.describe("read", err)
		}
	}
	if len(raw) < 4 {
		return "", fmt.Errorf("%s %s: %w", what, idOrPrefix, ErrNotFound)
	}
	// A prefix: a range scan on the unique index.
	found := map[string]bool{}
	for _, id := range candidates {
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM `+table+` WHERE id >= ? AND id < ? ORDER BY id LIMIT 2`,
			id, id+"\U0010FFFF")
		if err != nil {
			return "", s.describe("read", err)
		}
		for rows.Next() {
			var f string
			if err := rows.Scan(&f); err != nil {
				rows.Close()
				return "", s.describe("read", err)
			}
			found[f] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", s.describe("read", err)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%s %s: %w", what, idOrPrefix, ErrNotFound)
	case 1:
		for f := range found {
			return f, nil
		}
	}
	return "", fmt.Errorf("%s id prefix %s matches several %ss: %w; give more characters", what, idOrPrefix, what, ErrAmbiguous)
}

// ListConversations returns one page of conversations: pinned first, then newest
// activity first.
func (s *Store) ListConversations(ctx context.Context, opts ListOptions) (*ConversationPage, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 1000 {
		limit = 1000
	}
	if opts.Offset < 0 {
		return nil, fmt.Errorf("%w: negative offset %d", ErrInvalid, opts.Offset)
	}
	var where []string
	var args []any
	switch opts.Archived {
	case ExcludeArchived:
		where = append(where, "c.archived = 0")
	case OnlyArchived:
		where = append(where, "c.archived = 1")
	}
	if opts.Pinned != nil {
		where = append(where, "c.pinned = ?")
		args = append(args, boolInt(*opts.Pinned))
	}
	filterWhere := strings.Join(where, " AND ")
	filterArgs := append([]any(nil), args...)

	if opts.Cursor != "" {
		cur, err := decodeCursor(opts.Cursor)
		if err != nil {
			return nil, err
		}
		// Row-value comparison in the order's direction: strictly after the cursor.
		where = append(where, "(c.pinned, c.updated_at, c.id) < (?, ?, ?)")
		args = append(args, cur.pinned, cur.updated, cur.id)
	}
	q := `SELECT ` + convColumns + `,
		(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
		FROM conversations c`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?`
	args = append(args, limit+1, opts.Offset)

	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.describe("read", err)
	}
	defer rows.Close()
	page := &ConversationPage{Conversations: []Conversation{}}
	for rows.Next() {
		var count int
		c, err := scanConversation(rows, &count)
		if err != nil {
			return nil, s.describe("read", err)
		}
		c.MessageCount = count
		page.Conversations = append(page.Conversations, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.describe("read", err)
	}
	if len(page.Conversations) > limit {
		page.Conversations = page.Conversations[:limit]
		last := page.Conversations[limit-1]
		page.NextCursor = encodeCursor(cursor{pinned: boolInt(last.Pinned), updated: last.UpdatedAt.UnixMilli(), id: last.ID})
	}
	countQ := `SELECT count(*) FROM conversations c`
	if filterWhere != "" {
		countQ += " WHERE " + filterWhere
	}
	if err := s.db.QueryRowContext(ctx, countQ, filterArgs...).Scan(&page.Total); err != nil {
		return nil, s.describe("read", err)
	}
	return page, nil
}

type cursor struct {
	pinned  int
	updated int64
	id      string
}

func encodeCursor(c cursor) string {
	raw := fmt.Sprintf("%d|%d|%s", c.pinned, c.updated, c.id)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (cursor, error) {
	bad := fmt.Errorf("%w: malformed list cursor %.30q (use the next_cursor of a previous page)", ErrInvalid, s)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 {
		return cursor{}, bad
	}
	var c cursor
	if c.pinned, err = strconv.Atoi(parts[0]); err != nil {
		return cursor{}, bad
	}
	if c.updated, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
		return cursor{}, bad
	}
	c.id = parts[2]
	return c, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RenameConversation sets the title.
func (s *Store) RenameConversation(ctx context.Context, id, title string) error {
	return s.UpdateConversation(ctx, id, ConversationUpdate{Title: &title})
}

// UpdateConversation changes the fields set in u and bumps UpdatedAt.
func (s *Store) UpdateConversation(ctx context.Context, id string, u ConversationUpdate) error {
	full, err := s.ResolveConversationID(ctx, id)
	if err != nil {
		return err
	}
	var sets []string
	var args []any
	if u.Title != nil {
		sets, args = append(sets, "title = ?"), append(args, *u.Title)
	}
	if u.Model != nil {
		sets, args = append(sets, "model = ?"), append(args, *u.Model)
	}
	if u.SystemPrompt != nil {
		sets, args = append(sets, "system_prompt = ?"), append(args, *u.SystemPrompt)
	}
	if u.Settings != nil {
		settings, err := jsonObject("settings", u.Settings)
		if err != nil {
			return err
		}
		sets, args = append(sets, "settings = ?"), append(args, settings)
	}
	if u.Tags != nil {
		sets, args = append(sets, "tags = ?"), append(args, tagsJSON(*u.Tags))
	}
	if len(sets) == 0 {
		return nil
	}
	sets, args = append(sets, "updated_at = max(updated_at, ?)"), append(args, nowMs())
	args = append(args, full)
	return s.execOne(ctx, "conversation", id, `UPDATE conversations SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
}

// SetPinned pins or unpins a conversation (pinned ones list first).
func (s *Store) SetPinned(ctx context.Context, id string, pinned bool) error {
	full, err := s.ResolveConversationID(ctx, id)
	if err != nil {
		return err
	}
	return s.execOne(ctx, "conversation", id, `UPDATE conversations SET pinned = ? WHERE id = ?`, boolInt(pinned), full)
}

// SetArchived archives or restores a conversation (archived ones are hidden from
// the default list and search).
func (s *Store) SetArchived(ctx context.Context, id string, archived bool) error {
	full, err := s.ResolveConversationID(ctx, id)
	if err != nil {
		return err
	}
	return s.execOne(ctx, "conversation", id, `UPDATE conversations SET archived = ? WHERE id = ?`, boolInt(archived), full)
}

// DeleteConversation removes a conversation and all its messages.
func (s *Store) DeleteConversation(ctx context.Context, id string) error {
	full, err := s.ResolveConversationID(ctx, id)
	if err != nil {
		return err
	}
	return s.execOne(ctx, "conversation", id, `DELETE FROM conversations WHERE id = ?`, full)
}

// execOne runs a statement that must touch exactly one row.
func (s *Store) execOne(ctx context.Context, what, id, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return s.describe("write", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return nil
}

// Counts are totals over the whole database (for `impetus doctor`).
type Counts struct {
	Conversations int `json:"conversations"`
	Archived      int `json:"archived"`
	Messages      int `json:"messages"`
	// Incomplete messages are streaming right now or were cut off by a crash.
	Incomplete int `json:"incomplete"`
}

// Counts returns database totals. It scans the messages table once.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM conversations),
		(SELECT count(*) FROM conversations WHERE archived = 1),
		(SELECT count(*) FROM messages),
		(SELECT count(*) FROM messages WHERE status = 'incomplete')`).Scan(&c.Conversations, &c.Archived, &c.Messages, &c.Incomplete)
	if err != nil {
		return c, s.describe("read", err)
	}
	return c, nil
}
