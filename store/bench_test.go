package store

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Benchmarks: `go test -tags sqlite_fts5 -run '^$' -bench . ./store/`.
// Fixtures (100k messages, 10k conversations) are built once per process in a
// temporary directory removed by TestMain.

var benchDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func benchPath(b *testing.B, name string) string {
	if benchDir == "" {
		d, err := os.MkdirTemp("", "impetus-store-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
	}
	return filepath.Join(benchDir, name)
}

// corpus makes message text with a Zipf word distribution over a synthetic
// vocabulary (like natural language: few very common words, a long tail).
type corpus struct {
	vocab []string
	zipf  *rand.Zipf
	rng   *rand.Rand
}

func newCorpus(seed int64) *corpus {
	rng := rand.New(rand.NewSource(seed))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "dor", "len", "mar", "tis", "gol"}
	seen := map[string]bool{}
	var vocab []string
	for len(vocab) < 20000 {
		var w strings.Builder
		for k := 2 + rng.Intn(3); k > 0; k-- {
			w.WriteString(syll[rng.Intn(len(syll))])
		}
		if !seen[w.String()] {
			seen[w.String()] = true
			vocab = append(vocab, w.String())
		}
	}
	return &corpus{vocab: vocab, zipf: rand.NewZipf(rng, 1.1, 2, uint64(len(vocab)-1)), rng: rng}
}

func (c *corpus) text(words int) string {
	var b strings.Builder
	for i := 0; i < words; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.vocab[c.zipf.Uint64()])
		if c.rng.Intn(12) == 0 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

var (
	searchOnce  sync.Once
	searchStore *Store
	searchErr   error
	listOnce    sync.Once
	listStore   *Store
	listErr     error
)

// fixture100k: 1,000 conversations × 100 messages (40–120 words each).
func fixture100k(b *testing.B) *Store {
	searchOnce.Do(func() {
		start := time.Now()
		s, err := Open(benchPath(b, "search.db"))
		if err != nil {
			searchErr = err
			return
		}
		c := newCorpus(1)
		ctx := context.Background()
		base := time.Now().Add(-1000 * time.Hour)
		for i := 0; i < 1000; i++ {
			msgs := make([]Message, 100)
			for j := range msgs {
				role := RoleUser
				if j%2 == 1 {
					role = RoleAssistant
				}
				msgs[j] = Message{Role: role, Content: c.text(40 + c.rng.Intn(80)), CreatedAt: base.Add(time.Duration(i*100+j) * time.Second)}
			}
			if _, err := s.ImportConversation(ctx, Conversation{Title: c.text(5), CreatedAt: base.Add(time.Duration(i*100) * time.Second)}, msgs); err != nil {
				searchErr = err
				return
			}
		}
		searchStore = s
		fmt.Fprintf(os.Stderr, "fixture: 100k messages in %v\n", time.Since(start).Round(time.Millisecond))
	})
	if searchErr != nil {
		b.Fatal(searchErr)
	}
	return searchStore
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / 1e6 }
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.95), "p95-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// BenchmarkInsert100kMessages appends 100,000 messages one AppendMessage call
// (one transaction, FTS trigger included) at a time, 100 per conversation.
func BenchmarkInsert100kMessages(b *testing.B) {
	ctx := context.Background()
	c := newCorpus(2)
	texts := make([]string, 1000)
	for i := range texts {
		texts[i] = c.text(40 + c.rng.Intn(80))
	}
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		path := benchPath(b, fmt.Sprintf("insert-%d.db", it))
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var conv string
		for i := 0; i < 100_000; i++ {
			if i%100 == 0 {
				cv, err := s.CreateConversation(ctx, NewConversation{Title: texts[i%1000][:20]})
				if err != nil {
					b.Fatal(err)
				}
				conv = cv.ID
			}
			role := RoleUser
			if i%2 == 1 {
				role = RoleAssistant
			}
			if _, err := s.AppendMessage(ctx, NewMessage{ConversationID: conv, Role: role, Content: texts[i%1000]}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.Close()
		os.Remove(path)
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100_000), "µs/msg")
	b.ReportMetric(float64(b.N*100_000)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkImport100kMessages is the bulk path (ImportConversation, one
// transaction per 100-message conversation) for comparison.
func BenchmarkImport100kMessages(b *testing.B) {
	ctx := context.Background()
	c := newCorpus(3)
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		path := benchPath(b, fmt.Sprintf("import-%d.db", it))
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		convs := make([][]Message, 1000)
		for i := range convs {
			convs[i] = make([]Message, 100)
			for j := range convs[i] {
				convs[i][j] = Message{Role: RoleUser, Content: c.text(40 + c.rng.Intn(80))}
			}
		}
		b.StartTimer()
		for _, msgs := range convs {
			if _, err := s.ImportConversation(ctx, Conversation{Title: "bulk"}, msgs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.Close()
		os.Remove(path)
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*100_000)/b.Elapsed().Seconds(), "msgs/s")
}

type benchQuery struct {
	text   string
	prefix bool
}

// benchQueries mixes one word of mid frequency, two words, a phrase and a prefix.
func benchQueries() []benchQuery {
	c := newCorpus(1) // same vocabulary as the fixture
	rng := rand.New(rand.NewSource(9))
	type q = benchQuery
	var queries []q
	for i := 0; i < 200; i++ {
		w1 := c.vocab[20+rng.Intn(2000)]
		w2 := c.vocab[20+rng.Intn(2000)]
		switch i % 4 {
		case 0:
			queries = append(queries, q{w1, false})
		case 1:
			queries = append(queries, q{w1 + " " + w2, false})
		case 2:
			queries = append(queries, q{`"` + c.vocab[rng.Intn(50)] + " " + w1 + `"`, false})
		case 3:
			queries = append(queries, q{w1[:len(w1)-1], true})
		}
	}
	return queries
}

// BenchmarkSearch100k: Search (bm25 ranking, snippets, title index merged) over
// 100,000 messages, per-query latency percentiles. BenchmarkSearch100kNaive is
// the reference: the textbook single FTS5 query on the same data.
func BenchmarkSearch100k(b *testing.B) {
	s := fixture100k(b)
	ctx := context.Background()
	queries := benchQueries()
	durations := make([]time.Duration, 0, b.N)
	hits := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		qq := queries[i%len(queries)]
		t0 := time.Now()
		h, err := s.Search(ctx, qq.text, SearchOptions{Limit: 20, Prefix: qq.prefix})
		durations = append(durations, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		hits += len(h)
	}
	b.StopTimer()
	reportPercentiles(b, durations)
	b.ReportMetric(float64(hits)/float64(b.N), "hits/query")
}

// BenchmarkSearch100kNaive is the reference for BenchmarkSearch100k: the
// textbook FTS5 query (MATCH joined to message and conversation, ORDER BY rank,
// snippet, top 20) without Search's ranking window and title index.
func BenchmarkSearch100kNaive(b *testing.B) {
	s := fixture100k(b)
	ctx := context.Background()
	queries := benchQueries()
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		qq := queries[i%len(queries)]
		t0 := time.Now()
		rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.title, m.id, m.role,
				snippet(messages_fts, 0, '[', ']', '…', 16), messages_fts.rank
			FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid
			JOIN conversations c ON c.id = m.conversation_id
			WHERE messages_fts MATCH ? AND c.archived = 0 ORDER BY messages_fts.rank LIMIT 20`, FTSQuery(qq.text, qq.prefix))
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		durations = append(durations, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

// BenchmarkSearch100kCommonWord is the worst case: one of the 10 most frequent
// words (in most of the 100k messages). Search ranks only the newest
// SearchWindow matches; BenchmarkSearch100kCommonWordNaive ranks them all.
func BenchmarkSearch100kCommonWord(b *testing.B) {
	s := fixture100k(b)
	ctx := context.Background()
	c := newCorpus(1)
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := s.Search(ctx, c.vocab[i%10], SearchOptions{Limit: 20}); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

// fixture10kConversations: 10,000 conversations with 4 messages each, varied
// activity times, 1% pinned, 10% archived.
func fixture10kConversations(b *testing.B) *Store {
	listOnce.Do(func() {
		s, err := Open(benchPath(b, "list.db"))
		if err != nil {
			listErr = err
			return
		}
		ctx := context.Background()
		rng := rand.New(rand.NewSource(4))
		base := time.Now().Add(-10000 * time.Hour)
		for i := 0; i < 10000; i++ {
			at := base.Add(time.Duration(rng.Intn(10000*3600)) * time.Second)
			msgs := []Message{{Role: RoleUser, Content: "q"}, {Role: RoleAssistant, Content: "a"}, {Role: RoleUser, Content: "q2"}, {Role: RoleAssistant, Content: "a2"}}
			if _, err := s.ImportConversation(ctx, Conversation{Title: fmt.Sprintf("conversation %d", i), CreatedAt: at, UpdatedAt: at,
				Pinned: i%100 == 0, Archived: i%10 == 5}, msgs); err != nil {
				listErr = err
				return
			}
		}
		listStore = s
	})
	if listErr != nil {
		b.Fatal(listErr)
	}
	return listStore
}

// BenchmarkListConversations10k: the first page (50) of the default list.
func BenchmarkListConversations10k(b *testing.B) {
	s := fixture10kConversations(b)
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p, err := s.ListConversations(ctx, ListOptions{Limit: 50})
		durations = append(durations, time.Since(t0))
		if err != nil || len(p.Conversations) != 50 {
			b.Fatalf("%v %d", err, len(p.Conversations))
		}
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

// BenchmarkListConversations10kAllPages walks every page of 50 with cursors
// (9,000 unarchived conversations, 180 pages) per iteration; percentiles are
// per page.
func BenchmarkListConversations10kAllPages(b *testing.B) {
	s := fixture10kConversations(b)
	ctx := context.Background()
	var durations []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cur, n := "", 0
		for {
			t0 := time.Now()
			p, err := s.ListConversations(ctx, ListOptions{Limit: 50, Cursor: cur})
			durations = append(durations, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			n += len(p.Conversations)
			if p.NextCursor == "" {
				break
			}
			cur = p.NextCursor
		}
		if n != 9000 {
			b.Fatalf("walked %d conversations, want 9000", n)
		}
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

func BenchmarkSearch100kCommonWordNaive(b *testing.B) {
	s := fixture100k(b)
	ctx := context.Background()
	c := newCorpus(1)
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.title, m.id, m.role,
				snippet(messages_fts, 0, '[', ']', '…', 16), messages_fts.rank
			FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid
			JOIN conversations c ON c.id = m.conversation_id
			WHERE messages_fts MATCH ? AND c.archived = 0 ORDER BY messages_fts.rank LIMIT 20`, FTSQuery(c.vocab[i%10], false))
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		durations = append(durations, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

// BenchmarkAppendMessage: one AppendMessage (a user turn: its own immediate
// transaction, FTS trigger, active-leaf update) per op.
func BenchmarkAppendMessage(b *testing.B) {
	s, err := Open(benchPath(b, fmt.Sprintf("append-%d.db", b.N)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := newCorpus(5)
	texts := make([]string, 512)
	for i := range texts {
		texts[i] = c.text(40 + c.rng.Intn(80))
	}
	conv, _ := s.CreateConversation(ctx, NewConversation{Title: "bench"})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%100 == 99 {
			conv, _ = s.CreateConversation(ctx, NewConversation{Title: "bench"})
		}
		if _, err := s.AppendMessage(ctx, NewMessage{ConversationID: conv.ID, Role: RoleUser, Content: texts[i%512]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterFlush: one streaming flush (the growing reply rewritten and
// reindexed) per op, for a reply of about 2 KB.
func BenchmarkWriterFlush(b *testing.B) {
	s, err := Open(benchPath(b, fmt.Sprintf("flush-%d.db", b.N)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := newCorpus(6)
	conv, _ := s.CreateConversation(ctx, NewConversation{Title: "bench"})
	w, err := s.Begin(ctx, conv.ID, "", RoleAssistant, "m")
	if err != nil {
		b.Fatal(err)
	}
	w.Append(c.text(300))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Append(" " + c.vocab[i%1000])
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		if i%50 == 49 { // keep the reply around 2 KB: start a new one
			w.Finish(Stats{})
			w, _ = s.Begin(ctx, conv.ID, "", RoleAssistant, "m")
			w.Append(c.text(300))
		}
	}
	b.StopTimer()
	w.Finish(Stats{})
}
