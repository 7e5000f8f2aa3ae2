package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
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
	hits, err := s.searchMessages(ctx, match, n, convID, opts.Archived, marks)
	if err != nil {
		return nil, err
	}
	titles, err := s.searchTitles(ctx, match, n, convID, opts.Archived, marks)
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

// windowClause restricts a MATCH to its SearchWindow newest rows (see
// SearchWindow); it takes the match expression and the window as parameters.
func windowClause(table string) string {
	return table + `.rowid >= coalesce((SELECT rowid FROM ` + table + ` WHERE ` + table + ` MATCH ?
		ORDER BY rowid DESC LIMIT 1 OFFSET ?), 0)`
}

func archiveAllows(f ArchiveFilter, archived bool) bool {
	switch f {
	case ExcludeArchived:
		return !archived
	case OnlyArchived:
		return archived
	}
	return true
}

// searchMessages returns the best n message hits. It ranks in two stages:
// first rowids and bm25 from the FTS index alone, then the details (joins,
// snippets) for those rows only. Joining every match to the messages table
// would read a row per match, which costs far more than ranking; filtering by
// the archive flag after the first stage may drop rows, so the first stage
// fetches more until n survive or the matches run out.
func (s *Store) searchMessages(ctx context.Context, match string, n int, convID string, archived ArchiveFilter, marks snippetMarks) ([]SearchHit, error) {
	scope, scopeArgs := "", []any{}
	if convID != "" {
		scope = ` AND messages_fts.rowid IN (SELECT seq FROM messages WHERE conversation_id = ?)`
		scopeArgs = append(scopeArgs, convID)
	}
	k := n + 10
	for {
		args := append([]any{match}, scopeArgs...)
		args = append(args, match, SearchWindow, k)
		rows, err := s.db.QueryContext(ctx, `SELECT rowid, bm25(messages_fts) FROM messages_fts
			WHERE messages_fts MATCH ?`+scope+` AND `+windowClause("messages_fts")+`
			ORDER BY bm25(messages_fts) LIMIT ?`, args...)
		if err != nil {
			return nil, s.describe("search", err)
		}
		var order []int64
		rank := map[int64]float64{}
		for rows.Next() {
			var id int64
			var r float64
			if err := rows.Scan(&id, &r); err != nil {
				rows.Close()
				return nil, s.describe("search", err)
			}
			order = append(order, id)
			rank[id] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.describe("search", err)
		}
		if len(order) == 0 {
			return []SearchHit{}, nil
		}

		details, err := s.messageHitDetails(ctx, match, order, marks)
		if err != nil {
			return nil, err
		}
		hits := make([]SearchHit, 0, n)
		for _, id := range order {
			d, ok := details[id]
			if !ok || !archiveAllows(archived, d.archived) {
				continue
			}
			d.hit.Rank = rank[id]
			hits = append(hits, d.hit)
			if len(hits) == n {
				break
			}
		}
		if len(hits) == n || len(order) < k || k >= SearchWindow {
			return hits, nil
		}
		k *= 4
	}
}

type hitDetail struct {
	hit      SearchHit
	archived bool
}

func (s *Store) messageHitDetails(ctx context.Context, match string, rowids []int64, marks snippetMarks) (map[int64]hitDetail, error) {
	out := make(map[int64]hitDetail, len(rowids))
	// SQLite limits bound parameters per statement; 500 is far below it.
	for start := 0; start < len(rowids); start += 500 {
		chunk := rowids[start:min(start+500, len(rowids))]
		args := []any{marks.start, marks.end, marks.tokens, match}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT messages_fts.rowid, c.id, c.title, c.archived, m.id, m.role,
				snippet(messages_fts, 0, ?, ?, '…', ?), m.created_at
			FROM messages_fts
			JOIN messages m ON m.seq = messages_fts.rowid
			JOIN conversations c ON c.id = m.conversation_id
			WHERE messages_fts MATCH ? AND messages_fts.rowid IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, s.describe("search", err)
		}
		for rows.Next() {
			var id, created int64
			var d hitDetail
			var role string
			if err := rows.Scan(&id, &d.hit.ConversationID, &d.hit.ConversationTitle, &d.archived, &d.hit.MessageID,
				&role, &d.hit.Snippet, &created); err != nil {
				rows.Close()
				return nil, s.describe("search", err)
			}
			d.hit.Role = Role(role)
			d.hit.CreatedAt = msTime(created)
			out[id] = d
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.describe("search", err)
		}
	}
	return out, nil
}

// searchTitles returns the best n conversation-title hits. Conversations rows
// are small, so one joined query is cheap.
func (s *Store) searchTitles(ctx context.Context, match string, n int, convID string, archived ArchiveFilter, marks snippetMarks) ([]SearchHit, error) {
	var filter string
	args := []any{marks.start, marks.end, match}
	switch archived {
	case ExcludeArchived:
		filter += " AND c.archived = 0"
	case OnlyArchived:
		filter += " AND c.archived = 1"
	}
	if convID != "" {
		filter += " AND c.id = ?"
		args = append(args, convID)
	}
	args = append(args, match, SearchWindow, n)
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.title, highlight(conversations_fts, 0, ?, ?),
			bm25(conversations_fts), c.created_at
		FROM conversations_fts
		JOIN conversations c ON c.seq = conversations_fts.rowid
		WHERE conversations_fts MATCH ?`+filter+` AND `+windowClause("conversations_fts")+`
		ORDER BY bm25(conversations_fts) LIMIT ?`, args...)
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
