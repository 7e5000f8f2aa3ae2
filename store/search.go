package store

import (
	"context"
	"fmt"
	"strings"
	"unicode"
)

// SearchWindow bounds how many matches of one query are ranked: when a query
// matches more rows than this, only the newest SearchWindow are ranked by bm25.
const SearchWindow = 2000

// FTSQuery turns what a user typed into an FTS5 query that cannot be a syntax
// error: every word becomes a quoted string (so AND/OR/NOT/NEAR, '*', ':', '^',
// '-', parentheses and stray quotes are plain text), "double-quoted phrases" stay
// phrases, and words without a letter or digit are dropped because the
// tokenizer would drop them anyway. All terms must match. With prefix, the last
// term also matches as a prefix. An input with no searchable word gives "".
func FTSQuery(input string, prefix bool) string {
	var terms []string
	add := func(t string) {
		if !strings.ContainsFunc(t, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
			return
		}
		terms = append(terms, `"`+strings.ReplaceAll(t, `"`, `""`)+`"`)
	}
	rest := input
	for rest != "" {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			for _, w := range strings.Fields(rest) {
				add(w)
			}
			break
		}
		for _, w := range strings.Fields(rest[:i]) {
			add(w)
		}
		rest = rest[i+1:]
		j := strings.IndexByte(rest, '"')
		if j < 0 { // an unbalanced quote: treat the remainder as words
			for _, w := range strings.Fields(rest) {
				add(w)
			}
			break
		}
		add(strings.Join(strings.Fields(rest[:j]), " "))
		rest = rest[j+1:]
	}
	if len(terms) == 0 {
		return ""
	}
	if prefix && !strings.HasSuffix(strings.TrimRight(input, " \t\r\n"), `"`) {
		terms[len(terms)-1] += " *"
	}
	return strings.Join(terms, " ")
}

// Search finds messages whose content, and conversations whose title, match
// query (plain words; see FTSQuery), best match first by bm25. Snippets mark
// matches with opts.HighlightStart/End. An empty query returns ErrEmptyQuery.
func (s *Store) Search(ctx context.Context, query string, opts SearchOptions) ([]SearchHit, error) {
	match := FTSQuery(query, opts.Prefix)
	if match == "" {
		return nil, fmt.Errorf("%w: %q has no words to search for", ErrEmptyQuery, query)
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = 20
	}
	if limit > 1000 {
		limit = 1000
	}
	if opts.Offset < 0 {
		return nil, fmt.Errorf("%w: negative offset %d", ErrInvalid, opts.Offset)
	}
	hs, he := opts.HighlightStart, opts.HighlightEnd
	if hs == "" && he == "" {
		hs, he = "[", "]"
	}
	tokens := opts.SnippetTokens
	if tokens <= 0 {
		tokens = 16
	}
	if tokens > 64 {
		tokens = 64
	}

	var filter []string
	var filterArgs []any
	switch opts.Archived {
	case ExcludeArchived:
		filter = append(filter, "c.archived = 0")
	case OnlyArchived:
		filter = append(filter, "c.archived = 1")
	}
	if opts.ConversationID != "" {
		full, err := s.ResolveConversationID(ctx, opts.ConversationID)
		if err != nil {
			return nil, err
		}
		filter = append(filter, "c.id = ?")
		filterArgs = append(filterArgs, full)
	}
	and := ""
	if len(filter) > 0 {
		and = " AND " + strings.Join(filter, " AND ")
	}

	// Ranking cost grows with the number of matches (bm25 reads each match's
	// positions), so a query matching very many rows, typically one very common
	// word, is ranked among its SearchWindow newest matches only: rowids grow
	// with insertion, and FTS5 walks a doclist backwards cheaply. That keeps the
	// worst case bounded without changing results for selective queries.
	//
	// The best limit+offset of each index are merged: bm25 of titles and of
	// bodies are on comparable scales (both lower-is-better), and titles are
	// short, so a title hit naturally ranks high.
	n := limit + opts.Offset
	q := `SELECT conversation_id, title, message_id, role, snip, rank, created_at FROM (
		SELECT * FROM (
			SELECT c.id AS conversation_id, c.title AS title, m.id AS message_id, m.role AS role,
				snippet(messages_fts, 0, ?, ?, '…', ?) AS snip, bm25(messages_fts) AS rank, m.created_at AS created_at
			FROM messages_fts
			JOIN messages m ON m.seq = messages_fts.rowid
			JOIN conversations c ON c.id = m.conversation_id
			WHERE messages_fts MATCH ?` + and + `
			AND messages_fts.rowid >= coalesce((SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?
				ORDER BY rowid DESC LIMIT 1 OFFSET ?), 0)
			ORDER BY bm25(messages_fts) LIMIT ?)
		UNION ALL
		SELECT * FROM (
			SELECT c.id, c.title, '', '', highlight(conversations_fts, 0, ?, ?), bm25(conversations_fts), c.created_at
			FROM conversations_fts
			JOIN conversations c ON c.seq = conversations_fts.rowid
			WHERE conversations_fts MATCH ?` + and + `
			AND conversations_fts.rowid >= coalesce((SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ?
				ORDER BY rowid DESC LIMIT 1 OFFSET ?), 0)
			ORDER BY bm25(conversations_fts) LIMIT ?)
	) ORDER BY rank, created_at DESC LIMIT ? OFFSET ?`
	args := []any{hs, he, tokens, match}
	args = append(args, filterArgs...)
	args = append(args, match, SearchWindow, n, hs, he, match)
	args = append(args, filterArgs...)
	args = append(args, match, SearchWindow, n, limit, opts.Offset)

	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.describe("search", err)
	}
	defer rows.Close()
	hits := []SearchHit{}
	for rows.Next() {
		var h SearchHit
		var role string
		var created int64
		if err := rows.Scan(&h.ConversationID, &h.ConversationTitle, &h.MessageID, &role, &h.Snippet, &h.Rank, &created); err != nil {
			return nil, s.describe("search", err)
		}
		h.Role = Role(role)
		h.CreatedAt = msTime(created)
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, s.describe("search", err)
	}
	return hits, nil
}
