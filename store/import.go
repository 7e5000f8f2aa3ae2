package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ImportConversation inserts a whole conversation as given, in one transaction
// (for `impetus import`). Ids, timestamps, statuses and stats are kept.
//
//   - conv.ID "" gets a new id; an id that exists already fails with ErrExists.
//   - Messages with IDs: ParentIDs refer to other messages of msgs ("" = root);
//     parents may come in any order. Messages without IDs (all of them): a linear
//     chain in slice order.
//   - Zero CreatedAt/UpdatedAt become now; a zero message Status is complete.
//   - conv.ActiveLeafID is kept when it names one of msgs, else the newest message.
//
// It returns the conversation id.
func (s *Store) ImportConversation(ctx context.Context, conv Conversation, msgs []Message) (string, error) {
	settings, err := jsonObject("settings", conv.Settings)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if conv.ID == "" {
		conv.ID = NewID()
	}
	if conv.CreatedAt.IsZero() {
		conv.CreatedAt = now
	}
	if conv.UpdatedAt.IsZero() {
		conv.UpdatedAt = conv.CreatedAt
	}

	linear := true
	for _, m := range msgs {
		if m.ID != "" || m.ParentID != "" {
			linear = false
		}
	}
	ordered := make([]Message, len(msgs))
	copy(ordered, msgs)
	if linear {
		prev := ""
		for i := range ordered {
			ordered[i].ID = NewID()
			ordered[i].ParentID = prev
			prev = ordered[i].ID
		}
	} else {
		ordered, err = parentsFirst(ordered)
		if err != nil {
			return "", err
		}
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", s.describe("write", err)
	}
	defer tx.Rollback()
	var exists int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE id = ?`, conv.ID).Scan(&exists)
	if err == nil {
		return "", fmt.Errorf("conversation %s: %w", conv.ID, ErrExists)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", s.describe("read", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO conversations
		(id, title, model, system_prompt, settings, tags, pinned, archived, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		conv.ID, conv.Title, conv.Model, conv.SystemPrompt, settings, tagsJSON(conv.Tags),
		boolInt(conv.Pinned), boolInt(conv.Archived), conv.CreatedAt.UnixMilli(), conv.UpdatedAt.UnixMilli()); err != nil {
		return "", s.describe("write", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO messages (id, conversation_id, parent_id, role, content, model,
		status, finish_reason, error, prompt_tokens, completion_tokens, ttft_ms, tokens_per_sec,
		prefill_tokens_per_sec, settings, meta, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return "", s.describe("write", err)
	}
	defer stmt.Close()
	active, newest := "", ""
	var newestAt int64 = -1
	for i, m := range ordered {
		if !m.Role.Valid() {
			return "", fmt.Errorf("%w: message %d: role %q (want system, user, assistant or tool)", ErrInvalid, i+1, m.Role)
		}
		status := m.Status
		if status == "" {
			status = StatusComplete
		}
		ms, err := jsonObject("settings", m.Settings)
		if err != nil {
			return "", fmt.Errorf("message %d: %w", i+1, err)
		}
		meta, err := jsonObject("meta", m.Meta)
		if err != nil {
			return "", fmt.Errorf("message %d: %w", i+1, err)
		}
		created := m.CreatedAt
		if created.IsZero() {
			created = conv.CreatedAt
		}
		updated := m.UpdatedAt
		if updated.IsZero() {
			updated = created
		}
		var parent any
		if m.ParentID != "" {
			parent = m.ParentID
		}
		if _, err := stmt.ExecContext(ctx, m.ID, conv.ID, parent, string(m.Role), m.Content, m.Model,
			string(status), m.FinishReason, m.Error, ptrInt(m.PromptTokens), ptrInt(m.CompletionTokens),
			ptrFloat(m.TTFTMs), ptrFloat(m.TokensPerSec), ptrFloat(m.PrefillTokensPerSec), ms, meta,
			created.UnixMilli(), updated.UnixMilli()); err != nil {
			var existing string
			if tx.QueryRowContext(ctx, `SELECT conversation_id FROM messages WHERE id = ?`, m.ID).Scan(&existing) == nil {
				return "", fmt.Errorf("message %s (in conversation %s): %w", m.ID, existing, ErrExists)
			}
			return "", s.describe("write", err)
		}
		if m.ID == conv.ActiveLeafID {
			active = m.ID
		}
		if created.UnixMilli() >= newestAt {
			newest, newestAt = m.ID, created.UnixMilli()
		}
	}
	if active == "" {
		active = newest
	}
	if active != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET active_leaf_id = ? WHERE id = ?`, active, conv.ID); err != nil {
			return "", s.describe("write", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return "", s.describe("write", err)
	}
	return conv.ID, nil
}

// parentsFirst orders messages so every parent precedes its children, checking
// that ids are present, unique, and parents exist among msgs.
func parentsFirst(msgs []Message) ([]Message, error) {
	byID := make(map[string]int, len(msgs))
	for i, m := range msgs {
		if m.ID == "" {
			return nil, fmt.Errorf("%w: message %d has no id while others do (give all messages ids, or none)", ErrInvalid, i+1)
		}
		if _, dup := byID[m.ID]; dup {
			return nil, fmt.Errorf("%w: message id %s appears twice", ErrInvalid, m.ID)
		}
		byID[m.ID] = i
	}
	for i, m := range msgs {
		if m.ParentID != "" {
			if _, ok := byID[m.ParentID]; !ok {
				return nil, fmt.Errorf("%w: message %d (%s) has parent %s which is not in the conversation", ErrInvalid, i+1, m.ID, m.ParentID)
			}
		}
	}
	out := make([]Message, 0, len(msgs))
	state := make([]uint8, len(msgs)) // 0 new, 1 visiting, 2 placed
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("%w: message %s is its own ancestor", ErrInvalid, msgs[i].ID)
		}
		state[i] = 1
		if p := msgs[i].ParentID; p != "" {
			if err := visit(byID[p]); err != nil {
				return err
			}
		}
		state[i] = 2
		out = append(out, msgs[i])
		return nil
	}
	for i := range msgs {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func ptrInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func ptrFloat(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
