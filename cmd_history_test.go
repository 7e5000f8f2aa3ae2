package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/store"
)

// seedHistory creates a database with two conversations and returns its path
// and the conversations' ids.
func seedHistory(t *testing.T) (db, saffron, goconv string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "impetus.db")
	s, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c1, _ := s.CreateConversation(ctx, store.NewConversation{Title: "Cooking with saffron", Model: "tiny"})
	s.AppendMessage(ctx, store.NewMessage{ConversationID: c1.ID, Role: store.RoleUser, Content: "How much saffron for paella?"})
	w, _ := s.Begin(ctx, c1.ID, "", store.RoleAssistant, "tiny")
	w.Append("Half a gram of saffron threads.")
	w.Finish(store.Stats{PromptTokens: 9, CompletionTokens: 7, TTFTMs: 31, TokensPerSec: 42.5})
	c2, _ := s.CreateConversation(ctx, store.NewConversation{Title: "Go concurrency"})
	s.AppendMessage(ctx, store.NewMessage{ConversationID: c2.ID, Role: store.RoleUser, Content: "What is a goroutine?"})
	return db, c1.ID, c2.ID
}

func TestHistoryCommands(t *testing.T) {
	db, saffron, goconv := seedHistory(t)
	t.Setenv("IMPETUS_DB", db)

	code, out, errOut := runImpetus(t, "history", "list")
	if code != 0 || !strings.Contains(out, saffron) || !strings.Contains(out, "Go concurrency") {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}
	// Newest activity first.
	if strings.Index(out, goconv) > strings.Index(out, saffron) {
		t.Fatalf("list order:\n%s", out)
	}

	code, out, _ = runImpetus(t, "history", "list", "--json", "--limit", "1")
	var page store.ConversationPage
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Conversations) != 1 || page.NextCursor == "" || page.Total != 2 {
		t.Fatalf("list --json: %d %s", code, out)
	}
	code, out, _ = runImpetus(t, "history", "list", "--json", "--limit", "1", "--cursor", page.NextCursor)
	var page2 store.ConversationPage
	if code != 0 || json.Unmarshal([]byte(out), &page2) != nil || len(page2.Conversations) != 1 || page2.Conversations[0].ID == page.Conversations[0].ID {
		t.Fatalf("list page 2: %d %s", code, out)
	}

	code, out, _ = runImpetus(t, "history", "show", saffron[:10])
	if code != 0 || !strings.Contains(out, "# Cooking with saffron") || !strings.Contains(out, "## user") ||
		!strings.Contains(out, "Half a gram of saffron threads.") || !strings.Contains(out, "42.5 tok/s") {
		t.Fatalf("show: %d\n%s", code, out)
	}
	// A regenerated reply shows as a branch.
	s, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := s.ActivePath(context.Background(), saffron)
	s.AppendMessage(context.Background(), store.NewMessage{ConversationID: saffron, ParentID: path[0].ID,
		Role: store.RoleAssistant, Content: "Regenerated: a pinch of saffron."})
	s.Close()
	code, out, _ = runImpetus(t, "history", "show", saffron)
	if code != 0 || !strings.Contains(out, "branch 2/2") || !strings.Contains(out, "Regenerated") || strings.Contains(out, "Half a gram") {
		t.Fatalf("show after regenerate: %d\n%s", code, out)
	}
	code, out, _ = runImpetus(t, "history", "show", "--all", saffron)
	if code != 0 || !strings.Contains(out, "Regenerated") || !strings.Contains(out, "Half a gram") || !strings.Contains(out, "parent "+path[0].ID) {
		t.Fatalf("show --all: %d\n%s", code, out)
	}
	code, out, _ = runImpetus(t, "history", "show", "--json", saffron)
	var shown struct {
		Conversation store.Conversation `json:"conversation"`
		Messages     []store.Message    `json:"messages"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil || len(shown.Messages) != 2 || shown.Messages[1].Role != store.RoleAssistant ||
		shown.Conversation.MessageCount != 3 {
		t.Fatalf("show --json: %d %s", code, out)
	}

	code, out, _ = runImpetus(t, "history", "search", "saffron")
	if code != 0 || !strings.Contains(out, "[saffron]") || !strings.Contains(out, "title:") {
		t.Fatalf("search: %d\n%s", code, out)
	}
	code, out, _ = runImpetus(t, "history", "search", "--json", "goroutine")
	var found struct {
		Query string            `json:"query"`
		Hits  []store.SearchHit `json:"hits"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &found) != nil || len(found.Hits) != 1 || found.Hits[0].ConversationID != goconv {
		t.Fatalf("search --json: %d %s", code, out)
	}
	// Punctuation is never a syntax error; no words is a usage error.
	if code, _, errOut := runImpetus(t, "history", "search", `c++ AND (NOT "`); code != 0 {
		t.Fatalf("punctuation query: %d %s", code, errOut)
	}
	if code, _, errOut := runImpetus(t, "history", "search", "?!"); code != 2 || !strings.Contains(errOut, "no words") {
		t.Fatalf("empty query: %d %s", code, errOut)
	}

	code, out, _ = runImpetus(t, "history", "rename", "--json", goconv, "Goroutines", "explained")
	var renamed store.Conversation
	if code != 0 || json.Unmarshal([]byte(out), &renamed) != nil || renamed.Title != "Goroutines explained" {
		t.Fatalf("rename: %d %s", code, out)
	}
	code, _, _ = runImpetus(t, "history", "archive", goconv)
	if code != 0 {
		t.Fatal("archive failed")
	}
	_, out, _ = runImpetus(t, "history", "list")
	if strings.Contains(out, goconv) {
		t.Fatalf("archived conversation listed by default:\n%s", out)
	}
	_, out, _ = runImpetus(t, "history", "list", "--archived")
	if !strings.Contains(out, goconv) || !strings.Contains(out, "archived") {
		t.Fatalf("--archived:\n%s", out)
	}

	// rm: a bad id deletes nothing.
	code, _, errOut = runImpetus(t, "history", "rm", saffron, "ZZZZZZZZZZ")
	if code == 0 || !strings.Contains(errOut, "ZZZZZZZZZZ") || !strings.Contains(errOut, "not found") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("rm with a bad id: %d %q", code, errOut)
	}
	code, out, _ = runImpetus(t, "history", "rm", "--json", saffron)
	var rm struct {
		Deleted []string `json:"deleted"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rm) != nil || len(rm.Deleted) != 1 || rm.Deleted[0] != saffron {
		t.Fatalf("rm: %d %s", code, out)
	}
	if code, _, errOut := runImpetus(t, "history", "show", saffron); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("show after rm: %d %s", code, errOut)
	}
}

func TestHistoryBadDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "impetus.db")
	garbage := []byte("definitely not sqlite\n")
	os.WriteFile(db, garbage, 0o644)
	t.Setenv("IMPETUS_DB", db)
	for _, args := range [][]string{{"history", "list"}, {"history", "search", "x"}, {"history", "rm", "ABCDEF"}} {
		code, out, errOut := runImpetus(t, args...)
		if code != 1 || out != "" || !strings.Contains(errOut, db) || strings.Count(errOut, "\n") != 1 {
			t.Fatalf("%v: code %d stdout %q stderr %q", args, code, out, errOut)
		}
	}
	if after, _ := os.ReadFile(db); string(after) != string(garbage) {
		t.Fatal("corrupt database was modified")
	}
	code, out, errOut := runImpetus(t, "doctor")
	if code != 1 || !strings.Contains(out, "ERROR") || !strings.Contains(errOut, db) {
		t.Fatalf("doctor on a corrupt db: %d %q %q", code, out, errOut)
	}
}

func TestHistoryUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"history", "list", "--limit", "0"},
		{"history", "show"},
		{"history", "rename", "ABCD"},
		{"history", "list", "--cursor", "nonsense!"},
	} {
		code, _, errOut := runImpetus(t, args...)
		if code == 0 || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: code %d stderr %q", args, code, errOut)
		}
	}
}

func TestDoctor(t *testing.T) {
	db, _, _ := seedHistory(t)
	t.Setenv("IMPETUS_DB", db)
	code, out, errOut := runImpetus(t, "doctor", "--json")
	var r doctorReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("doctor --json: %d %q %q", code, out, errOut)
	}
	if r.Database.Path != db || !r.Database.Exists || r.Database.SchemaVersion != store.LatestSchemaVersion() ||
		r.Database.Conversations != 2 || r.Database.Messages != 3 || r.Database.Incomplete != 0 || r.Go == "" || r.Config.Path == "" || len(r.Backends) == 0 ||
		r.Backends[0].Name != "cpu" || !r.Backends[0].Available || r.ModelsDir.Path == "" || r.HFCache.Path == "" {
		t.Fatalf("doctor report %+v", r)
	}
	before, _ := os.ReadFile(db)
	code, out, _ = runImpetus(t, "doctor", "--check", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Database.Integrity != "ok" {
		t.Fatalf("doctor --check: %d %s", code, out)
	}
	code, out, _ = runImpetus(t, "doctor")
	if code != 0 || !strings.Contains(out, db) || !strings.Contains(out, "schema v") || !strings.Contains(out, "cpu") {
		t.Fatalf("doctor: %d\n%s", code, out)
	}
	if after, _ := os.ReadFile(db); string(after) != string(before) {
		t.Fatal("doctor modified the database")
	}
	// A database not created yet is not a problem, and doctor does not create it.
	missing := filepath.Join(t.TempDir(), "none", "impetus.db")
	t.Setenv("IMPETUS_DB", missing)
	code, out, _ = runImpetus(t, "doctor")
	if code != 0 || !strings.Contains(out, "not created yet") {
		t.Fatalf("doctor without a db: %d\n%s", code, out)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("doctor created the database")
	}
}
