// Package store is impetus's conversation history: one SQLite file (WAL, foreign
// keys, busy timeout, FTS5) shared safely by several impetus processes (the TUI,
// `impetus run`, `impetus mcp`, `impetus serve`). The schema is private to this
// package; everything goes through the API below. Build with -tags sqlite_fts5.
//
// # Opening
//
//	s, err := store.Open(path)          // creates parent dirs + file, applies migrations
//	s, err := store.OpenReadOnly(path)  // existing file only; no create/migrate/write (doctor)
//	defer s.Close()
//	v, err := s.SchemaVersion()         // PRAGMA user_version; store.LatestSchemaVersion() is this build's
//	err = s.IntegrityCheck(ctx)         // PRAGMA integrity_check == "ok"
//	n, err := s.Counts(ctx)             // Conversations, Archived, Messages, Incomplete
//
// Errors are one line naming the file and what to do. A file that is not an
// SQLite database or is corrupt is reported and never written to. A directory
// or file that is not writable is reported before SQLite is asked. Migrations
// live in store/migrations/NNNN_name.sql (embedded) and run once each, even when
// several processes open a fresh file at the same moment.
//
// Ids are 26-character ULID-style strings (time-sortable, Crockford base32):
// store.NewID(). Every API that takes a conversation id also accepts a unique
// prefix of at least 4 characters (case-insensitive); ResolveConversationID and
// ResolveMessageID expand one explicitly. Errors wrap the sentinels ErrNotFound,
// ErrAmbiguous, ErrExists, ErrEmptyQuery, ErrInvalid, ErrWriterClosed (errors.Is).
//
// # Conversations
//
//	c, err := s.CreateConversation(ctx, store.NewConversation{Title, Model, SystemPrompt, Settings, Tags})
//	c, err := s.GetConversation(ctx, id)                 // *Conversation incl. MessageCount
//	page, err := s.ListConversations(ctx, store.ListOptions{Limit: 50, Cursor: page.NextCursor,
//	        Archived: store.ExcludeArchived /*zero value*/ | store.IncludeArchived | store.OnlyArchived,
//	        Offset: 0, Pinned: nil})                     // pinned first, then newest UpdatedAt
//	// page.Conversations, page.NextCursor ("" on the last page), page.Total (matching the filter)
//	err = s.RenameConversation(ctx, id, title)
//	err = s.UpdateConversation(ctx, id, store.ConversationUpdate{Title, Model, SystemPrompt *string;
//	        Settings json.RawMessage; Tags *[]string})   // nil fields unchanged
//	err = s.SetPinned(ctx, id, true); err = s.SetArchived(ctx, id, true)
//	err = s.DeleteConversation(ctx, id)                  // messages go with it
//
// Settings (conversation and message) are JSON objects the store does not
// interpret: the engine's sampling settings, marshalled by the caller. UpdatedAt
// is the last activity (messages, title/model/prompt/settings/tags edits).
//
// # Messages and branches
//
// Messages form a tree per conversation: ParentID "" is a root; regenerating a
// reply or editing a turn adds a sibling (same parent). Each conversation has an
// active leaf: the branch shown and continued. Appending with ParentID "" goes
// after the active leaf, and every new message becomes the active leaf.
//
//	m, err := s.AppendMessage(ctx, store.NewMessage{ConversationID: id, Role: store.RoleUser,
//	        Content: "hi", ParentID: "" /*after active leaf*/, AsRoot: false, Model, Settings, Meta,
//	        Status /*default complete*/, FinishReason, Error, Stats *store.Stats})
//	msgs, err := s.Messages(ctx, convID)       // every branch, oldest first
//	path, err := s.ActivePath(ctx, convID)     // root → active leaf: what to show / send to the model
//	path, err := s.PathTo(ctx, messageID)      // root → that message
//	kids, err := s.Children(ctx, convID, parentID) // parentID "" = roots
//	sibs, i, err := s.Siblings(ctx, messageID) // alternatives incl. itself, and its index ("2/3")
//	leaf, err := s.SetActiveLeaf(ctx, messageID) // switch branch: newest leaf under messageID
//	m, err := s.GetMessage(ctx, messageID); err = s.DeleteMessage(ctx, messageID) // with its replies
//
// Message.Status: StatusComplete, StatusIncomplete (streaming now, or left by a
// crash), StatusStopped (user stopped; text kept), StatusError (Error says why;
// text kept). Stats fields (PromptTokens, CompletionTokens, TTFTMs, TokensPerSec,
// PrefillTokensPerSec) are nil pointers when unknown.
//
// # Streaming a reply
//
//	w, err := s.Begin(ctx, convID, parentID /*"" = after active leaf*/, store.RoleAssistant, model)
//	// or s.BeginMessage(ctx, store.NewMessage{...Settings...}) for per-message sampling settings
//	for delta := range stream { w.Append(delta) } // buffers; a timer flushes every FlushInterval (100 ms)
//	err = w.Finish(store.Stats{PromptTokens, CompletionTokens, TTFTMs, TokensPerSec,
//	        PrefillTokensPerSec, FinishReason /*default "stop"*/})
//	// or on cancel/failure, keeping the text so far:
//	err = w.Abort("stopped")      // status stopped
//	err = w.Abort(err.Error())    // status error, Message.Error = reason
//	err = w.AbortWithStats(reason, stats) // same, keeping the figures measured so far
//	w.ID(), w.ConversationID(), w.Content(), w.Flush() // Flush: write the buffer now
//
// The row exists (status incomplete) from Begin; if the process dies, it stays
// incomplete with everything flushed up to then (at most ~FlushInterval lost).
// Writes use the Begin context without its cancellation, so Finish/Abort land
// even after the generation context was cancelled. Exactly one of Finish/Abort
// must be called (a second call returns ErrWriterClosed), and before
// Store.Close: a writer's timer goroutine runs until then.
//
// # Search
//
//	hits, err := s.Search(ctx, "user words", store.SearchOptions{Limit: 20, Offset: 0,
//	        ConversationID: "", Archived: store.ExcludeArchived, Prefix: false,
//	        HighlightStart: "[", HighlightEnd: "]", SnippetTokens: 16, Since, Until /* [since, until) */})
//	// hit: ConversationID, ConversationTitle, MessageID ("" for a title match), Role,
//	//      Snippet (matches wrapped in the highlight markers), Rank (bm25, lower = better), CreatedAt
//
// Each index is queried with ORDER BY rank (bm25), so FTS5 sorts matches from
// the index and the joins and snippet() run only for the rows returned.
// Queries are plain words: store.FTSQuery sanitizes them (quoted "phrases" kept,
// FTS5 operators and punctuation made literal), so no input is a syntax error; a
// query with no words returns ErrEmptyQuery. All words must match. A query that
// matches more than SearchWindow (2000) messages is ranked among its newest
// SearchWindow matches only, which bounds the cost of very common words.
//
// # Import
//
//	id, err := s.ImportConversation(ctx, conv store.Conversation, msgs []store.Message)
//
// inserts a conversation verbatim (ids, times, stats, statuses) in one
// transaction; messages without ids become a linear chain. An existing id is
// ErrExists.
package store
