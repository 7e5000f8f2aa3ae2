package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
)

// SearchWindow bounds how many matches of one query are ranked: when a query
// matches more rows than this, only the newest SearchWindow are ranked by bm25.
// Ranking reads every candidate's position list, so without a bound a very
// common word would cost time proportional to the whole history; rowids grow
// with insertion and FTS5 walks a doclist backwards cheaply, so "the newest
// SearchWindow matches" is found from the index alone. Selective queries (fewer
// matches than the window) are unaffected.
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
	if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Since.Before(opts.Until) {
		return nil, fmt.Errorf("%w: until (%s) must be after since (%s)", ErrInvalid, opts.Until.Format(time.RFC3339), opts.Since.Format(time.RFC3339))
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

	var convID string
	if opts.ConversationID != "" {
		full, err := s.ResolveConversationID(ctx, opts.ConversationID)
		if err != nil {
			return nil, err
		}
		convID = full
	}
	n := limit + opts.Offset
	marks := snippetMarks{start: hs, end: he, tokens: tokens}
	f := searchFilter{archived: opts.Archived, convID: convID, since: opts.Since, until: opts.Until}
	hits, err := s.searchMessages(ctx, match, n, f, marks)
	if err != nil {
		return nil, err
	}
	titles, err := s.searchTitles(ctx, match, n, f, marks)
	if err != nil {
		return nil, err
	}
	// Merge the best n of each index. bm25 of titles and of bodies are on
	// comparable scales (both lower-is-better), and titles are short, so a
	// title hit naturally ranks high.
	hits = append(hits, titles...)
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Rank != hits[j].Rank {
			return hits[i].Rank < hits[j].Rank
		}
		return hits[i].CreatedAt.After(hits[j].CreatedAt)
	})
	if opts.Offset >= len(hits) {
		return []SearchHit{}, nil
	}
	hits = hits[opts.Offset:]
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

type snippetMarks struct {
	start, end string
	tokens     int
}

// searchFilter narrows both searches the same way.
type searchFilter struct {
	archived     ArchiveFilter
	convID       string
	since, until time.Time
}

// sql returns the filter's extra WHERE terms and their arguments; convCol
// and timeCol are the columns holding the conversation id and the hit's time.
func (f searchFilter) sql(convCol, timeCol string) (string, []any) {
	var where string
	var args []any
	switch f.archived {
	case ExcludeArchived:
		where += " AND c.archived = 0"
	case OnlyArchived:
		where += " AND c.archived = 1"
	}
	if f.convID != "" {
		where += " AND " + convCol + " = ?"
		args = append(args, f.convID)
	}
	if !f.since.IsZero() {
		where += " AND " + timeCol + " >= ?"
		args = append(args, f.since.UnixMilli())
	}
	if !f.until.IsZero() {
		where += " AND " + timeCol + " < ?"
		args = append(args, f.until.UnixMilli())
	}
	return where, args
}

// windowClause restricts a MATCH to its SearchWindow newest rows (see
// SearchWindow); it takes the match expression and the window as parameters.
func windowClause(table string) string {
	return table + `.rowid >= coalesce((SELECT rowid FROM ` + table + ` WHERE ` + table + ` MATCH ?
		ORDER BY rowid DESC LIMIT 1 OFFSET ?), 0)`
}

// searchMessages returns the best n message hits in one query. ORDER BY
// messages_fts.rank lets FTS5 rank and sort the matches from the index alone
// and hand them over best first; the joins, the archive filter and snippet()
// then run only for rows consumed until LIMIT is reached (no temporary sort
// of every match joined to its message, which would read a table row per
// match). The window clause bounds how many matches get ranked.
func (s *Store) searchMessages(ctx context.Context, match string, n int, f searchFilter, marks snippetMarks) ([]SearchHit, error) {
	filter, fargs := f.sql("m.conversation_id", "m.created_at")
	args := append([]any{marks.start, marks.end, marks.tokens, match}, fargs...)
	args = append(args, match, SearchWindow, n)
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.title, m.id, m.role,
			snippet(messages_fts, 0, ?, ?, '…', ?), messages_fts.rank, m.created_at
		FROM messages_fts
		JOIN messages m ON m.seq = messages_fts.rowid
		JOIN conversations c ON c.id = m.conversation_id
		WHERE messages_fts MATCH ?`+filter+` AND `+windowClause("messages_fts")+`
		ORDER BY messages_fts.rank LIMIT ?`, args...)
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

// searchTitles returns the best n conversation-title hits, like searchMessages.
func (s *Store) searchTitles(ctx context.Context, match string, n int, f searchFilter, marks snippetMarks) ([]SearchHit, error) {
	filter, fargs := f.sql("c.id", "c.created_at")
	args := append([]any{marks.start, marks.end, match}, fargs...)
	args = append(args, match, SearchWindow, n)
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.title, highlight(conversations_fts, 0, ?, ?),
			conversations_fts.rank, c.created_at
		FROM conversations_fts
		JOIN conversations c ON c.seq = conversations_fts.rowid
		WHERE conversations_fts MATCH ?`+filter+` AND `+windowClause("conversations_fts")+`
		ORDER BY conversations_fts.rank LIMIT ?`, args...)
	if err != nil {
		return nil, s.describe("search", err)
	}
	defer rows.Close()
	hits := []SearchHit{}
	for rows.Next() {
		var h SearchHit
		var created int64
		if err := rows.Scan(&h.ConversationID, &h.ConversationTitle, &h.Snippet, &h.Rank, &created); err != nil {
			return nil, s.describe("search", err)
		}
		h.CreatedAt = msTime(created)
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, s.describe("search", err)
	}
	return hits, nil
}
