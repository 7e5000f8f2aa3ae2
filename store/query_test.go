package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFTSQuerySanitizes(t *testing.T) {
	cases := map[string]string{
		"hello world":        `"hello" "world"`,
		`say "exact phrase"`: `"say" "exact phrase"`,
		`AND OR NOT`:         `"AND" "OR" "NOT"`,
		`foo-bar`:            `"foo-bar"`,
		`"unbalanced`:        `"unbalanced"`,
		`--- ??? ***`:        ``,
		`c++ (x) a:b ^y *`:   `"c++" "(x)" "a:b" "^y"`,
		`it's "a""b"`:        `"it's" "a" "b"`,
		``:                   ``,
	}
	for in, want := range cases {
		if got := FTSQuery(in, false); got != want {
			t.Errorf("FTSQuery(%q) = %q, want %q", in, got, want)
		}
	}
	if got := FTSQuery("foo ba", true); got != `"foo" "ba" *` {
		t.Errorf("prefix: %q", got)
	}
}

func TestSearchBodiesAndTitles(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	c1, _ := s.CreateConversation(ctx, NewConversation{Title: "Cooking with saffron"})
	c2, _ := s.CreateConversation(ctx, NewConversation{Title: "Go concurrency"})
	mustAppend(t, s, c1.ID, RoleUser, "How much saffron goes into a paella for four people?")
	a := mustAppend(t, s, c1.ID, RoleAssistant, "About half a gram of saffron threads, soaked in warm broth.")
	mustAppend(t, s, c2.ID, RoleUser, "Explain goroutines and channels. Café naïve résumé.")
	mustAppend(t, s, c2.ID, RoleAssistant, "A goroutine is a lightweight thread managed by the Go runtime.")

	hits, err := s.Search(ctx, "saffron", SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 3 {
		t.Fatalf("want 2 message hits + 1 title hit, got %+v", hits)
	}
	var titleHit, bodyHit bool
	for _, h := range hits {
		if h.ConversationID != c1.ID || h.ConversationTitle != "Cooking with saffron" {
			t.Fatalf("hit in wrong conversation: %+v", h)
		}
		if !strings.Contains(h.Snippet, "[saffron]") {
			t.Fatalf("snippet without highlight: %q", h.Snippet)
		}
		if h.MessageID == "" {
			titleHit = h.Snippet == "Cooking with [saffron]"
		} else {
			bodyHit = bodyHit || h.MessageID == a.ID && h.Role == RoleAssistant
		}
	}
	if !titleHit || !bodyHit {
		t.Fatalf("title hit %v body hit %v: %+v", titleHit, bodyHit, hits)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Rank < hits[i-1].Rank {
			t.Fatalf("not ordered by bm25: %+v", hits)
		}
	}

	// Diacritics folded, custom markers, phrase, prefix, punctuation never errors.
	hits, err = s.Search(ctx, "cafe", SearchOptions{HighlightStart: "<b>", HighlightEnd: "</b>"})
	if err != nil || len(hits) != 1 || !strings.Contains(hits[0].Snippet, "<b>Café</b>") {
		t.Fatalf("diacritics: %+v %v", hits, err)
	}
	hits, err = s.Search(ctx, `"lightweight thread"`, SearchOptions{})
	if err != nil || len(hits) != 1 || hits[0].ConversationID != c2.ID {
		t.Fatalf("phrase: %+v %v", hits, err)
	}
	hits, err = s.Search(ctx, `"thread lightweight"`, SearchOptions{})
	if err != nil || len(hits) != 0 {
		t.Fatalf("reversed phrase must not match: %+v %v", hits, err)
	}
	hits, err = s.Search(ctx, "gorout", SearchOptions{Prefix: true})
	if err != nil || len(hits) != 2 {
		t.Fatalf("prefix: %+v %v", hits, err)
	}
	for _, q := range []string{`NEAR(a b)`, `"`, `saffron"`, `*`, `a OR`, `(`, `col:val`, `^`, `-x`, `"" ""`, `'; DROP TABLE messages; --`} {
		if _, err := s.Search(ctx, q, SearchOptions{}); err != nil && !errors.Is(err, ErrEmptyQuery) {
			t.Fatalf("query %q: %v", q, err)
		}
	}
	if _, err := s.Search(ctx, "  ?! ", SearchOptions{}); !errors.Is(err, ErrEmptyQuery) {
		t.Fatalf("empty query: %v", err)
	}

	// Scope and archive filter.
	hits, _ = s.Search(ctx, "goroutine goroutines", SearchOptions{})
	if len(hits) != 0 {
		t.Fatalf("all words must match: %+v", hits)
	}
	hits, _ = s.Search(ctx, "saffron", SearchOptions{ConversationID: c2.ID})
	if len(hits) != 0 {
		t.Fatalf("scoped search leaked: %+v", hits)
	}
	s.SetArchived(ctx, c1.ID, true)
	if hits, _ = s.Search(ctx, "saffron", SearchOptions{}); len(hits) != 0 {
		t.Fatalf("archived shown by default: %+v", hits)
	}
	if hits, _ = s.Search(ctx, "saffron", SearchOptions{Archived: IncludeArchived}); len(hits) != 3 {
		t.Fatalf("IncludeArchived: %+v", hits)
	}

	// Triggers keep the index in sync with rename, edit (streaming) and delete.
	s.RenameConversation(ctx, c2.ID, "Rust ownership")
	if hits, _ = s.Search(ctx, "concurrency", SearchOptions{}); len(hits) != 0 {
		t.Fatalf("old title still indexed: %+v", hits)
	}
	if hits, _ = s.Search(ctx, "ownership", SearchOptions{}); len(hits) != 1 || hits[0].MessageID != "" {
		t.Fatalf("new title not indexed: %+v", hits)
	}
	s.DeleteConversation(ctx, c1.ID)
	if hits, _ = s.Search(ctx, "saffron", SearchOptions{Archived: IncludeArchived}); len(hits) != 0 {
		t.Fatalf("deleted conversation still found: %+v", hits)
	}
	ftsIntegrity(t, s)
}

func TestSearchPaging(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	c, _ := s.CreateConversation(ctx, NewConversation{Title: "many"})
	for i := 0; i < 25; i++ {
		mustAppend(t, s, c.ID, RoleUser, fmt.Sprintf("needle number %d %s", i, strings.Repeat("hay ", i)))
	}
	seen := map[string]bool{}
	for off := 0; off < 30; off += 10 {
		hits, err := s.Search(ctx, "needle", SearchOptions{Limit: 10, Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if seen[h.MessageID] {
				t.Fatalf("hit %s repeated across pages", h.MessageID)
			}
			seen[h.MessageID] = true
		}
	}
	if len(seen) != 25 {
		t.Fatalf("paged search returned %d distinct hits, want 25", len(seen))
	}
}

func mustAppend(t testing.TB, s *Store, conv string, role Role, content string) *Message {
	t.Helper()
	m, err := s.AppendMessage(context.Background(), NewMessage{ConversationID: conv, Role: role, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestListPagination(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const n = 23
	var ids []string
	for i := 0; i < n; i++ {
		c, err := s.CreateConversation(ctx, NewConversation{Title: fmt.Sprintf("c%02d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	// Distinct activity times: conversation i active at base+i ms.
	base := time.Now().UnixMilli() - 60_000
	for i, id := range ids {
		s.db.Exec(`UPDATE conversations SET updated_at = ? WHERE id = ?`, base+int64(i), id)
	}
	// Older activity, but pinned: listed first.
	s.SetPinned(ctx, ids[3], true)
	s.SetArchived(ctx, ids[5], true)
	// Same timestamp for two: the id breaks the tie deterministically.
	s.db.Exec(`UPDATE conversations SET updated_at = ? WHERE id IN (?, ?)`, base+100, ids[10], ids[11])
	// Activity moves a conversation to the top.
	mustAppend(t, s, ids[0], RoleUser, "new activity")

	var all []Conversation
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := s.ListConversations(ctx, ListOptions{Limit: 5, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != n-1 {
			t.Fatalf("total %d, want %d", page.Total, n-1)
		}
		all = append(all, page.Conversations...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		if pages > 10 {
			t.Fatal("cursor paging does not end")
		}
	}
	if len(all) != n-1 {
		t.Fatalf("listed %d, want %d (archived excluded)", len(all), n-1)
	}
	var got []string
	for _, c := range all {
		got = append(got, c.Title)
	}
	want := []string{"c03", "c00", "c11", "c10", "c22", "c21", "c20", "c19", "c18", "c17", "c16", "c15", "c14",
		"c13", "c12", "c09", "c08", "c07", "c06", "c04", "c02", "c01"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
	if all[1].MessageCount != 1 {
		t.Fatalf("message count %d", all[1].MessageCount)
	}

	// Offset paging gives the same order.
	var off []string
	for o := 0; o < n; o += 7 {
		page, err := s.ListConversations(ctx, ListOptions{Limit: 7, Offset: o})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Conversations {
			off = append(off, c.Title)
		}
	}
	if strings.Join(off, " ") != strings.Join(want, " ") {
		t.Fatalf("offset order %v", off)
	}

	arch, _ := s.ListConversations(ctx, ListOptions{Archived: OnlyArchived})
	if len(arch.Conversations) != 1 || arch.Conversations[0].ID != ids[5] {
		t.Fatalf("only archived: %+v", arch.Conversations)
	}
	every, _ := s.ListConversations(ctx, ListOptions{Archived: IncludeArchived, Limit: 100})
	if len(every.Conversations) != n || every.NextCursor != "" {
		t.Fatalf("include archived: %d", len(every.Conversations))
	}
	yes := true
	pinned, _ := s.ListConversations(ctx, ListOptions{Pinned: &yes})
	if len(pinned.Conversations) != 1 {
		t.Fatalf("pinned filter: %d", len(pinned.Conversations))
	}
	if _, err := s.ListConversations(ctx, ListOptions{Cursor: "!!garbage"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestBranching(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	c, _ := s.CreateConversation(ctx, NewConversation{Title: "branches"})
	u1 := mustAppend(t, s, c.ID, RoleUser, "q1")
	a1 := mustAppend(t, s, c.ID, RoleAssistant, "a1")
	u2 := mustAppend(t, s, c.ID, RoleUser, "q2")
	a2 := mustAppend(t, s, c.ID, RoleAssistant, "a2")
	// Regenerate the first answer: a sibling of a1.
	a1b, err := s.AppendMessage(ctx, NewMessage{ConversationID: c.ID, ParentID: u1.ID, Role: RoleAssistant, Content: "a1 take two"})
	if err != nil {
		t.Fatal(err)
	}
	u2b := mustAppend(t, s, c.ID, RoleUser, "q2 on branch b") // follows the new active leaf a1b

	path, err := s.ActivePath(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ids(path) != ids([]Message{*u1, *a1b, *u2b}) {
		t.Fatalf("active path %v", contents(path))
	}
	kids, _ := s.Children(ctx, c.ID, u1.ID)
	if ids(kids) != ids([]Message{*a1, *a1b}) {
		t.Fatalf("children of u1: %v", contents(kids))
	}
	sibs, idx, _ := s.Siblings(ctx, a1b.ID)
	if len(sibs) != 2 || idx != 1 {
		t.Fatalf("siblings %v index %d", contents(sibs), idx)
	}
	roots, _ := s.Children(ctx, c.ID, "")
	if len(roots) != 1 || roots[0].ID != u1.ID {
		t.Fatalf("roots %v", contents(roots))
	}

	// Switch back to the first branch: the active leaf is its newest leaf (a2).
	leaf, err := s.SetActiveLeaf(ctx, a1.ID)
	if err != nil || leaf != a2.ID {
		t.Fatalf("SetActiveLeaf -> %s %v, want %s", leaf, err, a2.ID)
	}
	path, _ = s.ActivePath(ctx, c.ID)
	if ids(path) != ids([]Message{*u1, *a1, *u2, *a2}) {
		t.Fatalf("after switch %v", contents(path))
	}
	// A streamed reply on this branch.
	w, err := s.Begin(ctx, c.ID, "", RoleAssistant, "m")
	if err != nil {
		t.Fatal(err)
	}
	w.Append("streamed")
	if err := w.Finish(Stats{}); err != nil {
		t.Fatal(err)
	}
	wm, _ := s.GetMessage(ctx, w.ID())
	if wm.ParentID != a2.ID || wm.Content != "streamed" || wm.FinishReason != "stop" {
		t.Fatalf("streamed message %+v", wm)
	}
	path, _ = s.PathTo(ctx, a2.ID)
	if len(path) != 4 {
		t.Fatalf("PathTo: %v", contents(path))
	}
	// A new root branch (edit the first question).
	r2, err := s.AppendMessage(ctx, NewMessage{ConversationID: c.ID, AsRoot: true, Role: RoleUser, Content: "q1 edited"})
	if err != nil || r2.ParentID != "" {
		t.Fatalf("root branch %+v %v", r2, err)
	}
	roots, _ = s.Children(ctx, c.ID, "")
	if len(roots) != 2 {
		t.Fatalf("roots after edit: %d", len(roots))
	}
	// Parent from another conversation is refused.
	other, _ := s.CreateConversation(ctx, NewConversation{})
	if _, err := s.AppendMessage(ctx, NewMessage{ConversationID: other.ID, ParentID: a1.ID, Role: RoleUser}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("cross-conversation parent: %v", err)
	}

	// Deleting a branch removes its subtree and moves the active leaf up.
	s.SetActiveLeaf(ctx, a2.ID)
	if err := s.DeleteMessage(ctx, u2.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetConversation(ctx, c.ID)
	if got.ActiveLeafID != a1.ID || got.MessageCount != 5 {
		t.Fatalf("after branch delete: leaf %s count %d", got.ActiveLeafID, got.MessageCount)
	}
	if hits, _ := s.Search(ctx, "streamed", SearchOptions{}); len(hits) != 0 {
		t.Fatalf("deleted subtree still searchable")
	}
}

func ids(ms []Message) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return strings.Join(out, ",")
}

func contents(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Content)
	}
	return out
}

func TestImportConversation(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tok := 7
	msgs := []Message{
		{ID: "M3", ParentID: "M1", Role: RoleAssistant, Content: "alt", CreatedAt: when.Add(3 * time.Second)},
		{ID: "M2", ParentID: "M1", Role: RoleAssistant, Content: "first", CreatedAt: when.Add(2 * time.Second), CompletionTokens: &tok, Status: StatusStopped},
		{ID: "M1", Role: RoleUser, Content: "hello", CreatedAt: when.Add(time.Second)},
	}
	id, err := s.ImportConversation(ctx, Conversation{ID: "C1", Title: "imported", CreatedAt: when, ActiveLeafID: "M2"}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.GetConversation(ctx, id)
	if c.Title != "imported" || !c.CreatedAt.Equal(when) || c.ActiveLeafID != "M2" || c.MessageCount != 3 {
		t.Fatalf("imported %+v", c)
	}
	m2, _ := s.GetMessage(ctx, "M2")
	if m2.Status != StatusStopped || *m2.CompletionTokens != 7 || m2.ParentID != "M1" {
		t.Fatalf("M2 %+v", m2)
	}
	if _, err := s.ImportConversation(ctx, Conversation{ID: "C1"}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate import: %v", err)
	}
	if _, err := s.ImportConversation(ctx, Conversation{}, []Message{{ID: "X", ParentID: "nope", Role: RoleUser}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("dangling parent: %v", err)
	}
	lin, err := s.ImportConversation(ctx, Conversation{Title: "jsonl"}, []Message{
		{Role: RoleSystem, Content: "sys"}, {Role: RoleUser, Content: "u"}, {Role: RoleAssistant, Content: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := s.ActivePath(ctx, lin)
	if strings.Join(contents(path), "|") != "sys|u|a" {
		t.Fatalf("linear import path %v", contents(path))
	}
	if hits, _ := s.Search(ctx, "alt", SearchOptions{}); len(hits) != 1 {
		t.Fatalf("imported message not searchable")
	}
}

func TestIDsSortable(t *testing.T) {
	prev := ""
	for i := 0; i < 10000; i++ {
		id := NewID()
		if len(id) != 26 || id <= prev {
			t.Fatalf("id %q after %q", id, prev)
		}
		prev = id
	}
	a := idGen.next(time.UnixMilli(1000))
	b := idGen.next(time.UnixMilli(2000))
	if !(a < b) {
		t.Fatalf("%s !< %s", a, b)
	}
}

// A query matching more than SearchWindow messages is ranked among its newest
// SearchWindow matches; a selective query still reaches old messages.
func TestSearchWindow(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	msgs := []Message{{Role: RoleUser, Content: "common common common common oldest-unique-word"}}
	for i := 0; i < SearchWindow+200; i++ {
		msgs = append(msgs, Message{Role: RoleAssistant, Content: fmt.Sprintf("common filler text number %d with more words to dilute", i)})
	}
	if _, err := s.ImportConversation(ctx, Conversation{Title: "window"}, msgs); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, "common", SearchOptions{Limit: 5})
	if err != nil || len(hits) != 5 {
		t.Fatalf("%+v %v", hits, err)
	}
	for _, h := range hits {
		if strings.Contains(h.Snippet, "oldest") {
			t.Fatalf("oldest match ranked although outside the window: %+v", h)
		}
	}
	hits, err = s.Search(ctx, "oldest-unique-word", SearchOptions{})
	if err != nil || len(hits) != 1 {
		t.Fatalf("selective query lost the old message: %+v %v", hits, err)
	}
}

func TestResolveIDs(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, id := range []string{"abc-lower-1", "abc-lower-2", "XYZ-upper"} {
		if _, err := s.ImportConversation(ctx, Conversation{ID: id, Title: id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for in, want := range map[string]string{"abc-lower-1": "abc-lower-1", "XYZ-upper": "XYZ-upper", "xyz-": "XYZ-upper", "XYZ-up": "XYZ-upper", "abc-lower-2": "abc-lower-2"} {
		got, err := s.ResolveConversationID(ctx, in)
		if err != nil || got != want {
			t.Errorf("resolve %q = %q %v, want %q", in, got, err, want)
		}
	}
	if _, err := s.ResolveConversationID(ctx, "abc-"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := s.ResolveConversationID(ctx, "ab"); !errors.Is(err, ErrNotFound) {
		t.Errorf("short prefix: %v", err)
	}
	if _, err := s.ResolveConversationID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	c, _ := s.CreateConversation(ctx, NewConversation{})
	if got, err := s.ResolveConversationID(ctx, strings.ToLower(c.ID[:12])); err != nil || got != c.ID {
		t.Errorf("lower-case prefix of a generated id: %q %v", got, err)
	}
}

// Archived conversations holding the best matches must not crowd out the
// unarchived ones (the ranking stage over-fetches until enough survive).
func TestSearchSkipsArchivedBestMatches(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var msgs []Message
	for i := 0; i < 60; i++ {
		msgs = append(msgs, Message{Role: RoleUser, Content: "zebra zebra zebra"})
	}
	if _, err := s.ImportConversation(ctx, Conversation{Title: "archived zoo", Archived: true}, msgs); err != nil {
		t.Fatal(err)
	}
	c, _ := s.CreateConversation(ctx, NewConversation{Title: "live"})
	for i := 0; i < 5; i++ {
		mustAppend(t, s, c.ID, RoleUser, fmt.Sprintf("a long message mentioning one zebra among many other words number %d", i))
	}
	hits, err := s.Search(ctx, "zebra", SearchOptions{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 5 {
		t.Fatalf("got %d hits, want the 5 unarchived: %+v", len(hits), hits)
	}
	for _, h := range hits {
		if h.ConversationID != c.ID {
			t.Fatalf("archived hit returned: %+v", h)
		}
	}
	hits, _ = s.Search(ctx, "zebra", SearchOptions{Limit: 100, Archived: OnlyArchived})
	if len(hits) != 60 {
		t.Fatalf("OnlyArchived: %d hits, want 60", len(hits))
	}
	hits, _ = s.Search(ctx, "zebra", SearchOptions{Limit: 3, Offset: 60, Archived: IncludeArchived})
	if len(hits) != 3 || hits[0].ConversationID != c.ID {
		t.Fatalf("paging past the archived hits: %+v", hits)
	}
}

// The FTS integrity check used by other tests does detect an index out of
// step with its table.
func TestFTSIntegrityCheckCanFail(t *testing.T) {
	s := openTemp(t)
	c, _ := s.CreateConversation(context.Background(), NewConversation{Title: "x"})
	mustAppend(t, s, c.ID, RoleUser, "real text")
	if _, err := s.db.Exec(`INSERT INTO messages_fts(rowid, content) VALUES (424242, 'ghost words')`); err != nil {
		t.Fatal(err)
	}
	_, err := s.db.Exec(`INSERT INTO messages_fts(messages_fts, rank) VALUES('integrity-check', 1)`)
	if err == nil {
		t.Fatal("integrity-check missed an index entry without a row")
	}
}
