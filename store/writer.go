package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// FlushInterval is how often a Writer persists appended text. A crash loses at
// most this much (plus one write's latency) of a streaming reply; the promise to
// users is "nothing older than 200 ms", so the tick is half that.
const FlushInterval = 100 * time.Millisecond

// Writer persists an assistant reply while it streams. The message row exists
// from Begin on with status incomplete; appended text reaches the database on a
// timer (FlushInterval) independent of how often Append is called; Finish or
// Abort writes the rest and the final status. A process that dies before Finish
// leaves the message incomplete with the text flushed so far.
//
// Append, Flush, Finish and Abort may be called from different goroutines.
type Writer struct {
	s    *Store
	id   string
	conv string
	ctx  context.Context // not cancelled by the caller: the final write must land

	mu       sync.Mutex
	buf      strings.Builder
	flushed  int   // bytes of buf already in the database
	flushErr error // last flush failure, reported by Append/Finish
	done     bool

	stop    chan struct{}
	stopped chan struct{}
}

// Begin starts a streaming message in conversation convID after parentID ("" =
// after the active leaf) and makes it the active leaf. Role is usually
// RoleAssistant. The caller must end it with Finish or Abort.
func (s *Store) Begin(ctx context.Context, convID, parentID string, role Role, model string) (*Writer, error) {
	return s.BeginMessage(ctx, NewMessage{ConversationID: convID, ParentID: parentID, Role: role, Model: model})
}

// BeginMessage is Begin with every NewMessage field (settings, meta, initial
// content, AsRoot). Status, FinishReason, Error and Stats are ignored.
func (s *Store) BeginMessage(ctx context.Context, nm NewMessage) (*Writer, error) {
	full, err := s.ResolveConversationID(ctx, nm.ConversationID)
	if err != nil {
		return nil, err
	}
	nm.ConversationID = full
	nm.FinishReason, nm.Error, nm.Stats = "", "", nil
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.describe("write", err)
	}
	defer tx.Rollback()
	m, err := s.insertMessage(ctx, tx, nm, StatusIncomplete)
	if err != nil {
		return nil, err
	}
	id := m.ID
	if err := tx.Commit(); err != nil {
		return nil, s.describe("write", err)
	}
	w := &Writer{
		s: s, id: id, conv: full,
		ctx:     context.WithoutCancel(ctx),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	w.buf.WriteString(nm.Content)
	w.flushed = len(nm.Content)
	go w.loop()
	return w, nil
}

// ID is the message being written.
func (w *Writer) ID() string { return w.id }

// ConversationID is the conversation the message belongs to.
func (w *Writer) ConversationID() string { return w.conv }

// Append adds text to the message. It only buffers; the text reaches the
// database within FlushInterval. It returns the last flush error, if any (the
// text stays buffered and is retried).
func (w *Writer) Append(delta string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return ErrWriterClosed
	}
	w.buf.WriteString(delta)
	return w.flushErr
}

// Content returns the text so far.
func (w *Writer) Content() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *Writer) loop() {
	defer close(w.stopped)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Flush()
		}
	}
}

// Flush writes the buffered text now.
func (w *Writer) Flush() error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return nil
	}
	if w.buf.Len() == w.flushed {
		err := w.flushErr
		w.mu.Unlock()
		return err
	}
	content := w.buf.String()
	w.mu.Unlock()

	// Only the growing content is written; the FTS trigger reindexes it.
	_, err := w.s.db.ExecContext(w.ctx, `UPDATE messages SET content = ?, updated_at = ? WHERE id = ? AND status = 'incomplete'`,
		content, nowMs(), w.id)

	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.flushErr = w.s.describe("write", err)
		return w.flushErr
	}
	w.flushErr = nil
	if len(content) > w.flushed {
		w.flushed = len(content)
	}
	return nil
}

// Finish writes the whole text, the stats and status complete. FinishReason
// defaults to "stop".
func (w *Writer) Finish(st Stats) error {
	if st.FinishReason == "" {
		st.FinishReason = "stop"
	}
	return w.end(StatusComplete, st, "")
}

// Abort ends the message keeping the text so far. reason "stopped" (or "",
// "cancelled", "canceled") means the user stopped it: status stopped. Any other
// reason is an error message: status error with Error = reason.
func (w *Writer) Abort(reason string) error {
	switch strings.ToLower(strings.TrimSpace(reason)) {
	case "", "stopped", "stop", "cancelled", "canceled", "context canceled":
		return w.end(StatusStopped, Stats{FinishReason: "stopped"}, "")
	}
	return w.end(StatusError, Stats{FinishReason: "error"}, reason)
}

// AbortWithStats is Abort that also records the figures measured so far.
func (w *Writer) AbortWithStats(reason string, st Stats) error {
	switch strings.ToLower(strings.TrimSpace(reason)) {
	case "", "stopped", "stop", "cancelled", "canceled", "context canceled":
		st.FinishReason = "stopped"
		return w.end(StatusStopped, st, "")
	}
	st.FinishReason = "error"
	return w.end(StatusError, st, reason)
}

func (w *Writer) end(status Status, st Stats, errText string) error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return ErrWriterClosed
	}
	w.done = true
	content := w.buf.String()
	w.mu.Unlock()
	close(w.stop)
	<-w.stopped

	tx, err := w.s.db.BeginTx(w.ctx, nil)
	if err != nil {
		return w.s.describe("write", err)
	}
	defer tx.Rollback()
	now := nowMs()
	res, err := tx.ExecContext(w.ctx, `UPDATE messages SET content = ?, status = ?, finish_reason = ?, error = ?,
		prompt_tokens = coalesce(?, prompt_tokens), completion_tokens = coalesce(?, completion_tokens),
		ttft_ms = coalesce(?, ttft_ms), tokens_per_sec = coalesce(?, tokens_per_sec),
		prefill_tokens_per_sec = coalesce(?, prefill_tokens_per_sec), updated_at = ?
		WHERE id = ?`,
		content, string(status), st.FinishReason, errText,
		nullInt(st.PromptTokens), nullInt(st.CompletionTokens), nullFloat(st.TTFTMs), nullFloat(st.TokensPerSec),
		nullFloat(st.PrefillTokensPerSec), now, w.id)
	if err != nil {
		return w.s.describe("write", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("message %s was deleted while streaming: %w", w.id, ErrNotFound)
	}
	if _, err := tx.ExecContext(w.ctx, `UPDATE conversations SET updated_at = max(updated_at, ?) WHERE id = ?`, now, w.conv); err != nil {
		return w.s.describe("write", err)
	}
	if err := tx.Commit(); err != nil {
		return w.s.describe("write", err)
	}
	return nil
}
