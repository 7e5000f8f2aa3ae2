package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/testfs"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "sub", "dir", "impetus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsFromEmptyAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "impetus.db") // parents created
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v != LatestSchemaVersion() || v < 1 {
		t.Fatalf("schema version %d, want %d (>=1)", v, LatestSchemaVersion())
	}
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v, want wal", mode, err)
	}
	var fk int
	if err := s.db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d %v, want 1", fk, err)
	}
	var timeout int
	if err := s.db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout < 1000 {
		t.Fatalf("busy_timeout %d %v", timeout, err)
	}
	c, err := s.CreateConversation(context.Background(), NewConversation{Title: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Re-open twice: nothing re-applied, data kept.
	for i := 0; i < 2; i++ {
		s, err = Open(path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		v2, _ := s.SchemaVersion()
		var applied int
		if err := s.db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if v2 != v || applied != LatestSchemaVersion() {
			t.Fatalf("reopen %d: version %d applied rows %d, want %d/%d", i, v2, applied, v, LatestSchemaVersion())
		}
		got, err := s.GetConversation(context.Background(), c.ID)
		if err != nil || got.Title != "kept" {
			t.Fatalf("reopen %d: %+v %v", i, got, err)
		}
		if err := s.IntegrityCheck(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func TestMigrationsWellFormed(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "impetus.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`PRAGMA user_version = 999`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), path) {
		t.Fatalf("want a 'newer schema' error naming %s, got %v", path, err)
	}
}

func TestCorruptFileUntouched(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]byte{
		"garbage":      bytes.Repeat([]byte("this is not a database\n"), 400),
		"short":        []byte("SQLite"),
		"binary":       {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17},
		"bad-pages":    nil, // filled below: a valid header followed by garbage
		"header-only-": append(append([]byte{}, sqliteMagic...), bytes.Repeat([]byte{0xff}, 84)...),
	}
	page := append(append([]byte{}, sqliteMagic...), 0x10, 0x00, 1, 1, 0, 64, 32, 32)
	cases["bad-pages"] = append(page, bytes.Repeat([]byte{0xAB}, 8192)...)
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".db")
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, open := range []func(string) (*Store, error){Open, OpenReadOnly} {
				s, err := open(path)
				if err == nil {
					s.Close()
					t.Fatalf("Open accepted a corrupt file")
				}
				msg := err.Error()
				if !strings.Contains(msg, path) || strings.Contains(msg, "\n") {
					t.Fatalf("error must be one line naming %s: %q", path, msg)
				}
				if !strings.Contains(msg, "not an SQLite database") && !strings.Contains(msg, "corrupt") {
					t.Fatalf("error does not say what is wrong: %q", msg)
				}
				after, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(after, content) {
					t.Fatalf("corrupt file was modified")
				}
			}
		})
	}
}

func TestReadOnlyDir(t *testing.T) {
	root := t.TempDir()
	fresh := filepath.Join(root, "fresh")
	os.Mkdir(fresh, 0o755)
	existing := filepath.Join(root, "existing")
	os.Mkdir(existing, 0o755)
	s, err := Open(filepath.Join(existing, "impetus.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // a clean close checkpoints and removes -wal/-shm
	if !testfs.MakeUnwritable(t, fresh) || !testfs.MakeUnwritable(t, existing) {
		t.Skip("cannot make a directory unwritable here (need chattr as root, or a non-root user)")
	}
	for _, path := range []string{
		filepath.Join(fresh, "impetus.db"),
		filepath.Join(fresh, "deeper", "impetus.db"),
		filepath.Join(existing, "impetus.db"),
	} {
		_, err := Open(path)
		if err == nil {
			t.Fatalf("Open(%s) in a read-only dir succeeded", path)
		}
		msg := err.Error()
		if !strings.Contains(msg, path) || strings.Contains(msg, "\n") ||
			!(strings.Contains(msg, "not writable") || strings.Contains(msg, "cannot create directory")) {
			t.Fatalf("unclear error: %q", msg)
		}
	}
}

func TestCRUD(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	c, err := s.CreateConversation(ctx, NewConversation{Title: "First", Model: "qwen3", SystemPrompt: "be brief",
		Settings: json.RawMessage(`{"temperature":0.7}`), Tags: []string{"a", "b", "a", " "}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ID) != 26 || c.Title != "First" || c.Model != "qwen3" || c.SystemPrompt != "be brief" ||
		string(c.Settings) != `{"temperature":0.7}` || strings.Join(c.Tags, ",") != "a,b" || c.Pinned || c.Archived {
		t.Fatalf("created %+v", c)
	}
	if _, err := s.CreateConversation(ctx, NewConversation{Settings: json.RawMessage(`[1]`)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("non-object settings: %v", err)
	}
	u, err := s.AppendMessage(ctx, NewMessage{ConversationID: c.ID, Role: RoleUser, Content: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	pt := 12
	a, err := s.AppendMessage(ctx, NewMessage{ConversationID: c.ID[:8], Role: RoleAssistant, Content: "hi there",
		Model: "qwen3", Stats: &Stats{PromptTokens: pt, CompletionTokens: 3, TTFTMs: 41.5, TokensPerSec: 30, FinishReason: "stop"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.ParentID != u.ID || u.ParentID != "" || a.Status != StatusComplete || *a.PromptTokens != 12 ||
		*a.TTFTMs != 41.5 || a.FinishReason != "stop" || a.PrefillTokensPerSec != nil {
		t.Fatalf("assistant message %+v", a)
	}
	// What AppendMessage returns is what a read gives back.
	for _, m := range []*Message{u, a} {
		back, err := s.GetMessage(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		j1, _ := json.Marshal(m)
		j2, _ := json.Marshal(back)
		if string(j1) != string(j2) {
			t.Fatalf("returned message differs from stored:\n%s\n%s", j1, j2)
		}
	}
	if _, err := s.AppendMessage(ctx, NewMessage{ConversationID: c.ID, Role: "robot"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad role: %v", err)
	}
	if _, err := s.AppendMessage(ctx, NewMessage{ConversationID: "ZZZZZZZZ", Role: RoleUser}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing conversation: %v", err)
	}

	if err := s.RenameConversation(ctx, c.ID, "Renamed"); err != nil {
		t.Fatal(err)
	}
	model, prompt := "llama", "be verbose"
	tags := []string{"x"}
	if err := s.UpdateConversation(ctx, c.ID, ConversationUpdate{Model: &model, SystemPrompt: &prompt, Tags: &tags,
		Settings: json.RawMessage(`{"top_p":0.9}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPinned(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetArchived(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetConversation(ctx, strings.ToLower(c.ID[:6]))
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Renamed" || got.Model != "llama" || got.SystemPrompt != "be verbose" || !got.Pinned || !got.Archived ||
		got.MessageCount != 2 || string(got.Settings) != `{"top_p":0.9}` || got.Tags[0] != "x" || got.ActiveLeafID != a.ID {
		t.Fatalf("after updates %+v", got)
	}
	msgs, err := s.Messages(ctx, c.ID)
	if err != nil || len(msgs) != 2 || msgs[0].Content != "hello" || msgs[1].Content != "hi there" {
		t.Fatalf("messages %+v %v", msgs, err)
	}

	if err := s.DeleteConversation(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetConversation(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	var left int
	s.db.QueryRow(`SELECT count(*) FROM messages`).Scan(&left)
	if left != 0 {
		t.Fatalf("%d messages survived their conversation", left)
	}
	if err := s.DeleteConversation(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("double delete: %v", err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadPaths(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("directory as database: %v", err)
	}
	file := filepath.Join(dir, "plain")
	os.WriteFile(file, nil, 0o644)
	if _, err := Open(filepath.Join(file, "impetus.db")); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("parent is a file: %v", err)
	}
	missing := filepath.Join(dir, "missing", "impetus.db")
	if _, err := OpenReadOnly(missing); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("read-only open of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Fatal("OpenReadOnly created a directory")
	}
	if _, err := Open(""); err == nil {
		t.Fatal("empty path accepted")
	}
	// An empty file is a valid empty database.
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	s, err := Open(empty)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// A database damaged inside (valid header, garbage pages) is reported by
// IntegrityCheck and by the queries that touch the damage, naming the file.
func TestDamagedPagesReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "impetus.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, _ := s.CreateConversation(ctx, NewConversation{Title: "t"})
	for i := 0; i < 200; i++ {
		mustAppend(t, s, c.ID, RoleUser, strings.Repeat("some text to fill pages ", 20))
	}
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 40*4096 {
		t.Fatalf("database unexpectedly small: %d bytes", len(data))
	}
	// Damage pages in the second half (table and index b-trees; the schema
	// pages at the start stay readable so the file still opens).
	pages := len(data) / 4096
	for i := pages / 2 * 4096; i < (pages-1)*4096; i++ {
		data[i] = 0xA5
	}
	os.WriteFile(path, data, 0o644)

	s, err = Open(path)
	if err != nil {
		// Acceptable too: reported at open, one line, naming the file.
		if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("unclear error: %q", err)
		}
		t.Logf("reported at open: %v", err)
		return
	}
	defer s.Close()
	err = s.IntegrityCheck(ctx)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("integrity check on damaged pages: %v", err)
	}
	t.Logf("integrity check: %.200s", err)
	_, err = s.Messages(ctx, c.ID)
	if err != nil && !strings.Contains(err.Error(), path) {
		t.Fatalf("query error does not name the file: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(data) {
		t.Fatal("a damaged database was modified")
	}
}

// Paths with URI-special characters open the file they name, not another one.
func TestOpenPathWithSpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my dir #1")
	path := filepath.Join(dir, "history?x=1&mode=ro%20.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateConversation(context.Background(), NewConversation{Title: "ok"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("database not at %q: %v", path, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "history?x=1&mode=ro%20.db") {
			t.Fatalf("stray file %q next to the database", e.Name())
		}
	}
}
