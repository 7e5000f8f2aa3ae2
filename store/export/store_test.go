package export

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/store"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "impetus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// exportAll writes every conversation of st as one JSON document.
func exportAll(t *testing.T, st *store.Store) []byte {
	t.Helper()
	ctx := context.Background()
	ids, err := Select(ctx, st, Selection{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var convs []Conversation
	for _, id := range ids {
		c, err := Load(ctx, st, id)
		if err != nil {
			t.Fatal(err)
		}
		convs = append(convs, *c)
	}
	var b bytes.Buffer
	if err := Write(&b, JSON, convs, Options{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// liveConversation records a conversation the way the TUI does: through
// the store's ordinary API, with a streamed reply, a regenerated one (a
// branch) and a stopped one.
func liveConversation(t *testing.T, st *store.Store) string {
	t.Helper()
	ctx := context.Background()
	c, err := st.CreateConversation(ctx, store.NewConversation{Title: "Live 🚀", Model: "tiny", SystemPrompt: "Be brief.",
		Settings: []byte(`{"temperature":0.2}`), Tags: []string{"work"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.AppendMessage(ctx, store.NewMessage{ConversationID: c.ID, Role: store.RoleUser, Content: "Table please:\n\n| a | b |\n|---|---|\n| 1 | 2 |"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.Begin(ctx, c.ID, u.ID, store.RoleAssistant, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	w.Append("```go\nfmt.Println(\"日本\")\n```")
	if err := w.Finish(store.Stats{PromptTokens: 12, CompletionTokens: 9, TTFTMs: 33.5, TokensPerSec: 71.25, FinishReason: "stop"}); err != nil {
		t.Fatal(err)
	}
	w2, err := st.Begin(ctx, c.ID, u.ID, store.RoleAssistant, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	w2.Append("An alternative that was stopp")
	if err := w2.Abort("cancelled"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPinned(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// TestRoundTrip: export json → import into an empty DB → export json
// again gives identical bytes; importing the same export again adds
// nothing.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openStore(t)
	if _, err := Import(ctx, src, []Conversation{fixture()}); err != nil {
		t.Fatal(err)
	}
	liveConversation(t, src)
	first := exportAll(t, src)
	if !bytes.Contains(first, []byte("Live 🚀")) || !bytes.Contains(first, []byte("ünïcödé")) || !bytes.Contains(first, []byte(`"status": "stopped"`)) {
		t.Fatalf("export misses content:\n%s", first)
	}

	path := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(path, first, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := openStore(t)
	res, err := ImportFile(ctx, dst, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Imported) != 2 || len(res.Skipped) != 0 {
		t.Fatalf("first import: %+v", res)
	}
	second := exportAll(t, dst)
	if !bytes.Equal(first, second) {
		t.Fatalf("export after import differs:\n--- first ---\n%s\n--- second ---\n%s", first, second)
	}

	res, err = ImportFile(ctx, dst, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Imported) != 0 || len(res.Skipped) != 2 {
		t.Fatalf("second import: %+v, want everything skipped", res)
	}
	page, err := dst.ListConversations(ctx, store.ListOptions{Archived: store.IncludeArchived})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 {
		t.Fatalf("%d conversations after importing twice, want 2", page.Total)
	}
	if third := exportAll(t, dst); !bytes.Equal(first, third) {
		t.Fatal("export after the second import differs")
	}
}

// The fixture's fields survive the store: everything the JSON golden shows
// comes back, ids upper-cased as the store keeps them.
func TestImportKeepsFields(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if _, err := Import(ctx, st, []Conversation{fixture()}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(ctx, st, fixture().ID)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	f := fixture()
	upperIDs(&f)
	f.ActiveLeafID = "M6" // the store records the newest message as active
	for i := range f.Messages {
		if f.Messages[i].UpdatedAt.IsZero() {
			f.Messages[i].UpdatedAt = f.Messages[i].CreatedAt
		}
	}
	if err := Write(&want, JSON, []Conversation{f}, Options{}); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := Write(&got, JSON, []Conversation{*c}, Options{}); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("stored conversation differs from the fixture:\n--- got ---\n%s\n--- want ---\n%s", got.String(), want.String())
	}
}

func TestImportJSONLIdempotent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var b bytes.Buffer
	if err := Write(&b, JSONL, []Conversation{fixture()}, Options{IncludeSystem: true}); err != nil {
		t.Fatal(err)
	}
	data := b.String() + "\n" + `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}` + "\n"
	for round, want := range []int{3, 0} {
		res, err := ImportReader(ctx, st, strings.NewReader(data), "train.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Imported) != want || len(res.Imported)+len(res.Skipped) != 3 {
			t.Fatalf("round %d: %+v, want %d imported", round, res, want)
		}
	}
	ids, err := Select(ctx, st, Selection{All: true})
	if err != nil || len(ids) != 3 {
		t.Fatalf("Select all: %v %v", ids, err)
	}
	// The lines come back out as the same JSONL.
	var out bytes.Buffer
	for _, id := range ids {
		c, err := Load(ctx, st, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.SystemPrompt == "" && strings.Contains(c.Messages[0].Content, "sort a slice") {
			t.Errorf("leading system message not taken as the system prompt")
		}
		_ = Write(&out, JSONL, []Conversation{*c}, Options{IncludeSystem: true})
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if !strings.Contains(out.String(), line) {
			t.Errorf("line not reproduced after import:\n%s", line)
		}
	}
}

func TestSelect(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if _, err := Import(ctx, st, []Conversation{fixture()}); err != nil {
		t.Fatal(err)
	}
	live := liveConversation(t, st)
	fix := fixture().ID
	for _, tc := range []struct {
		name string
		sel  Selection
		want []string
	}{
		{"search body", Selection{Search: "SliceStable"}, []string{fix}},
		{"search title", Selection{Search: "live"}, []string{live}},
		{"tag", Selection{Tag: "WORK"}, []string{live}},
		{"since", Selection{Since: t0.Add(24 * 3600e9)}, []string{live}},
		{"ids", Selection{IDs: []string{live, fix[:8], live}}, []string{live, fix}},
		{"ids and search", Selection{IDs: []string{live, fix}, Search: "Println"}, []string{live}},
		{"search no match", Selection{Search: "zebra"}, nil},
	} {
		got, err := Select(ctx, st, tc.sel)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := Select(ctx, st, Selection{IDs: []string{"NOPE0000"}}); err == nil || !strings.Contains(err.Error(), `"NOPE0000"`) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := Select(ctx, st, Selection{}); err == nil {
		t.Error("empty selection accepted")
	}
}

// TestExportLarge goes through Export's bulk path (rows fetched by page,
// loaders running ahead) and checks it against one-by-one loading.
func TestExportLarge(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	convs := benchConversations(230)
	for i := range convs {
		convs[i].Messages = convs[i].Messages[:2]
	}
	if _, err := Import(ctx, st, convs); err != nil {
		t.Fatal(err)
	}
	ids, err := Select(ctx, st, Selection{All: true})
	if err != nil || len(ids) != 230 {
		t.Fatalf("%d ids, %v", len(ids), err)
	}
	var bulk, single bytes.Buffer
	var last int
	if err := Export(ctx, st, ids, &bulk, JSON, Options{}, func(done, total int) { last = done }); err != nil {
		t.Fatal(err)
	}
	if last != 230 {
		t.Errorf("progress ended at %d", last)
	}
	var each []Conversation
	for _, id := range ids {
		c, err := Load(ctx, st, id)
		if err != nil {
			t.Fatal(err)
		}
		each = append(each, *c)
	}
	if err := Write(&single, JSON, each, Options{}); err != nil {
		t.Fatal(err)
	}
	if bulk.String() != single.String() {
		t.Fatal("bulk export differs from loading one by one")
	}
	// An unknown id among many fails the export with its name.
	err = Export(ctx, st, append(ids, "NOSUCHCONVERSATION"), io.Discard, JSONL, Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "NOSUCHCONVERSATION") {
		t.Errorf("unknown id: %v", err)
	}
}

func TestRender(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	id := liveConversation(t, st)
	s, err := Render(ctx, st, id[:10], Markdown, Options{})
	if err != nil || !strings.Contains(s, "title: \"Live 🚀\"") || !strings.Contains(s, "fmt.Println") {
		t.Fatalf("Render: %v\n%s", err, s)
	}
	if _, err := Render(ctx, st, id, Format("doc"), Options{}); err == nil {
		t.Error("unknown format accepted")
	}
	if _, err := Render(ctx, st, "NOPE1234", JSON, Options{}); err == nil || !strings.Contains(err.Error(), "NOPE1234") {
		t.Errorf("unknown id: %v", err)
	}
}
