package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

const msgColumns = `m.id, m.conversation_id, coalesce(m.parent_id, ''), m.role, m.content, m.model, m.status,
	m.finish_reason, m.error, m.prompt_tokens, m.completion_tokens, m.ttft_ms, m.tokens_per_sec,
	m.prefill_tokens_per_sec, m.settings, m.meta, m.created_at, m.updated_at`

func scanMessage(r rowScanner) (Message, error) {
	var m Message
	var role, status, settings, meta string
	var pt, ct sql.NullInt64
	var ttft, tps, ptps sql.NullFloat64
	var created, updated int64
	if err := r.Scan(&m.ID, &m.ConversationID, &m.ParentID, &role, &m.Content, &m.Model, &status,
		&m.FinishReason, &m.Error, &pt, &ct, &ttft, &tps, &ptps, &settings, &meta, &created, &updated); err != nil {
		return m, err
	}
	m.Role, m.Status = Role(role), Status(status)
	m.Settings, m.Meta = json.RawMessage(settings), json.RawMessage(meta)
	if pt.Valid {
		v := int(pt.Int64)
		m.PromptTokens = &v
	}
	if ct.Valid {
		v := int(ct.Int64)
		m.CompletionTokens = &v
	}
	if ttft.Valid {
		m.TTFTMs = &ttft.Float64
	}
	if tps.Valid {
		m.TokensPerSec = &tps.Float64
	}
	if ptps.Valid {
		m.PrefillTokensPerSec = &ptps.Float64
	}
	m.CreatedAt, m.UpdatedAt = msTime(created), msTime(updated)
	return m, nil
}

func (s *Store) queryMessages(ctx context.Context, q string, args ...any) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.describe("read", err)
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, s.describe("read", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.describe("read", err)
	}
	return out, nil
}

// nullIfZero stores zero stats as NULL ("unknown").
func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullFloat(v float64) any {
	if v == 0 {
		return nil
	}
	return v
}

// execer is what *sql.DB and *sql.Tx have in common.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// activeLeafExpr is the leaf a new message follows by default: the recorded active
// leaf, or the newest message.
const activeLeafExpr = `coalesce(c.active_leaf_id,
	(SELECT id FROM messages WHERE conversation_id = c.id ORDER BY created_at DESC, id DESC LIMIT 1), '')`

// insertMessage validates nm, inserts it and makes it the conversation's active
// leaf, inside tx. It returns the message as stored.
func (s *Store) insertMessage(ctx context.Context, tx execer, nm NewMessage, status Status) (*Message, error) {
	if !nm.Role.Valid() {
		return nil, fmt.Errorf("%w: role %q (want system, user, assistant or tool)", ErrInvalid, nm.Role)
	}
	switch status {
	case StatusComplete, StatusIncomplete, StatusStopped, StatusError:
	default:
		return nil, fmt.Errorf("%w: status %q", ErrInvalid, status)
	}
	settings, err := jsonObject("settings", nm.Settings)
	if err != nil {
		return nil, err
	}
	meta, err := jsonObject("meta", nm.Meta)
	if err != nil {
		return nil, err
	}
	var convID, leaf string
	err = tx.QueryRowContext(ctx, `SELECT c.id, `+activeLeafExpr+` FROM conversations c WHERE c.id = ?`,
		nm.ConversationID).Scan(&convID, &leaf)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("conversation %s: %w", nm.ConversationID, ErrNotFound)
	}
	if err != nil {
		return nil, s.describe("read", err)
	}
	var parent any
	switch {
	case nm.AsRoot:
		parent = nil
	case nm.ParentID != "":
		var pconv string
		err := tx.QueryRowContext(ctx, `SELECT conversation_id FROM messages WHERE id = ?`, nm.ParentID).Scan(&pconv)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("parent message %s: %w", nm.ParentID, ErrNotFound)
		}
		if err != nil {
			return nil, s.describe("read", err)
		}
		if pconv != convID {
			return nil, fmt.Errorf("%w: parent message %s belongs to conversation %s, not %s", ErrInvalid, nm.ParentID, pconv, convID)
		}
		parent = nm.ParentID
	case leaf != "":
		parent = leaf
	}
	st := Stats{}
	if nm.Stats != nil {
		st = *nm.Stats
	}
	finish := nm.FinishReason
	if finish == "" {
		finish = st.FinishReason
	}
	id, now := NewID(), nowMs()
	_, err = tx.ExecContext(ctx, `INSERT INTO messages (id, conversation_id, parent_id, role, content, model,
		status, finish_reason, error, prompt_tokens, completion_tokens, ttft_ms, tokens_per_sec,
		prefill_tokens_per_sec, settings, meta, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, convID, parent, string(nm.Role), nm.Content, nm.Model, string(status), finish, nm.Error,
		nullInt(st.PromptTokens), nullInt(st.CompletionTokens), nullFloat(st.TTFTMs), nullFloat(st.TokensPerSec),
		nullFloat(st.PrefillTokensPerSec), settings, meta, now, now)
	if err != nil {
		return nil, s.describe("write", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE conversations SET active_leaf_id = ?, updated_at = max(updated_at, ?) WHERE id = ?`,
		id, now, convID); err != nil {
		return nil, s.describe("write", err)
	}
	m := &Message{
		ID: id, ConversationID: convID, Role: nm.Role, Content: nm.Content, Model: nm.Model,
		Status: status, FinishReason: finish, Error: nm.Error,
		Settings: json.RawMessage(settings), Meta: json.RawMessage(meta),
		CreatedAt: msTime(now), UpdatedAt: msTime(now),
	}
	if p, ok := parent.(string); ok {
		m.ParentID = p
	}
	if st.PromptTokens != 0 {
		m.PromptTokens = &st.PromptTokens
	}
	if st.CompletionTokens != 0 {
		m.CompletionTokens = &st.CompletionTokens
	}
	if st.TTFTMs != 0 {
		m.TTFTMs = &st.TTFTMs
	}
	if st.TokensPerSec != 0 {
		m.TokensPerSec = &st.TokensPerSec
	}
	if st.PrefillTokensPerSec != 0 {
		m.PrefillTokensPerSec = &st.PrefillTokensPerSec
	}
	return m, nil
}

// AppendMessage adds a whole message (typically the user's turn) and makes it the
// conversation's active leaf. nm.ConversationID may be a unique id prefix.
func (s *Store) AppendMessage(ctx context.Context, nm NewMessage) (*Message, error) {
	full, err := s.ResolveConversationID(ctx, nm.ConversationID)
	if err != nil {
		return nil, err
	}
	nm.ConversationID = full
	status := nm.Status
	if status == "" {
		status = StatusComplete
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.describe("write", err)
	}
	defer tx.Rollback()
	m, err := s.insertMessage(ctx, tx, nm, status)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, s.describe("write", err)
	}
	return m, nil
}

// GetMessage returns one message or an error wrapping ErrNotFound.
func (s *Store) GetMessage(ctx context.Context, id string) (*Message, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+msgColumns+` FROM messages m WHERE m.id = ?`, id)
	m, err := scanMessage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, s.describe("read", err)
	}
	return &m, nil
}

// Messages returns every message of a conversation, all branches, oldest first.
func (s *Store) Messages(ctx context.Context, convID string) ([]Message, error) {
	full, err := s.ResolveConversationID(ctx, convID)
	if err != nil {
		return nil, err
	}
	return s.queryMessages(ctx, `SELECT `+msgColumns+` FROM messages m
		WHERE m.conversation_id = ? ORDER BY m.created_at, m.id`, full)
}

// ActivePath returns the branch being shown: the messages from the root to the
// conversation's active leaf (the newest message when none was chosen), oldest
// first. A conversation without messages gives an empty slice.
func (s *Store) ActivePath(ctx context.Context, convID string) ([]Message, error) {
	full, err := s.ResolveConversationID(ctx, convID)
	if err != nil {
		return nil, err
	}
	var leaf string
	if err := s.db.QueryRowContext(ctx, `SELECT `+activeLeafExpr+` FROM conversations c WHERE c.id = ?`, full).Scan(&leaf); err != nil {
		return nil, s.describe("read", err)
	}
	if leaf == "" {
		return []Message{}, nil
	}
	return s.PathTo(ctx, leaf)
}

// PathTo returns the messages from the root down to messageID, oldest first.
func (s *Store) PathTo(ctx context.Context, messageID string) ([]Message, error) {
	path, err := s.queryMessages(ctx, `WITH RECURSIVE path(id, parent_id, depth) AS (
			SELECT id, parent_id, 0 FROM messages WHERE id = ?
			UNION ALL
			SELECT p.id, p.parent_id, path.depth + 1 FROM messages p JOIN path ON p.id = path.parent_id
		)
		SELECT `+msgColumns+` FROM path JOIN messages m ON m.id = path.id ORDER BY path.depth DESC`, messageID)
	if err != nil {
		return nil, err
	}
	if len(path) == 0 {
		return nil, fmt.Errorf("message %s: %w", messageID, ErrNotFound)
	}
	return path, nil
}

// Children returns the messages whose parent is parentID, oldest first; with
// parentID "" it returns the root messages of conversation convID.
func (s *Store) Children(ctx context.Context, convID, parentID string) ([]Message, error) {
	if parentID == "" {
		full, err := s.ResolveConversationID(ctx, convID)
		if err != nil {
			return nil, err
		}
		return s.queryMessages(ctx, `SELECT `+msgColumns+` FROM messages m
			WHERE m.conversation_id = ? AND m.parent_id IS NULL ORDER BY m.created_at, m.id`, full)
	}
	return s.queryMessages(ctx, `SELECT `+msgColumns+` FROM messages m
		WHERE m.parent_id = ? ORDER BY m.created_at, m.id`, parentID)
}

// Siblings returns the alternatives for a message (itself included: the children
// of its parent, or the roots), oldest first, and its index among them — what a
// UI shows as "2/3".
func (s *Store) Siblings(ctx context.Context, messageID string) ([]Message, int, error) {
	m, err := s.GetMessage(ctx, messageID)
	if err != nil {
		return nil, 0, err
	}
	sib, err := s.Children(ctx, m.ConversationID, m.ParentID)
	if err != nil {
		return nil, 0, err
	}
	for i := range sib {
		if sib[i].ID == m.ID {
			return sib, i, nil
		}
	}
	return sib, 0, nil
}

// SetActiveLeaf switches the conversation of messageID to the branch through it:
// the active leaf becomes the newest message in messageID's subtree (messageID
// itself when it has no replies). It returns the chosen leaf id.
func (s *Store) SetActiveLeaf(ctx context.Context, messageID string) (string, error) {
	m, err := s.GetMessage(ctx, messageID)
	if err != nil {
		return "", err
	}
	var leaf string
	err = s.db.QueryRowContext(ctx, `WITH RECURSIVE sub(id) AS (
			SELECT ?
			UNION ALL
			SELECT c.id FROM messages c JOIN sub ON c.parent_id = sub.id
		)
		SELECT m.id FROM sub JOIN messages m ON m.id = sub.id
		ORDER BY m.created_at DESC, m.id DESC LIMIT 1`, m.ID).Scan(&leaf)
	if err != nil {
		return "", s.describe("read", err)
	}
	// A leaf of the subtree: the newest message has no newer descendants, but
	// it may still have replies older than itself only in pathological imports;
	// follow the newest child until a real leaf.
	for {
		var child string
		err := s.db.QueryRowContext(ctx, `SELECT id FROM messages WHERE parent_id = ? ORDER BY created_at DESC, id DESC LIMIT 1`, leaf).Scan(&child)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return "", s.describe("read", err)
		}
		leaf = child
	}
	if err := s.execOne(ctx, "conversation", m.ConversationID,
		`UPDATE conversations SET active_leaf_id = ? WHERE id = ?`, leaf, m.ConversationID); err != nil {
		return "", err
	}
	return leaf, nil
}

// DeleteMessage removes a message and every reply below it. When the active leaf
// was among them, the conversation's active leaf becomes the deleted message's
// parent.
func (s *Store) DeleteMessage(ctx context.Context, messageID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.describe("write", err)
	}
	defer tx.Rollback()
	var convID string
	var parent sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT conversation_id, parent_id FROM messages WHERE id = ?`, messageID).Scan(&convID, &parent)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("message %s: %w", messageID, ErrNotFound)
	}
	if err != nil {
		return s.describe("read", err)
	}
	var leafWasActive bool
	err = tx.QueryRowContext(ctx, `WITH RECURSIVE sub(id) AS (
			SELECT ? UNION ALL SELECT c.id FROM messages c JOIN sub ON c.parent_id = sub.id)
		SELECT EXISTS (SELECT 1 FROM conversations WHERE id = ? AND active_leaf_id IN (SELECT id FROM sub))`,
		messageID, convID).Scan(&leafWasActive)
	if err != nil {
		return s.describe("read", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id = ?`, messageID); err != nil {
		return s.describe("write", err)
	}
	if leafWasActive {
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET active_leaf_id = ? WHERE id = ?`, parent, convID); err != nil {
			return s.describe("write", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.describe("write", err)
	}
	return nil
}
