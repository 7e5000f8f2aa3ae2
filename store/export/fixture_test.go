package export

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// fixture is the fixed conversation of the golden tests: code, Unicode,
// a Markdown table, HTML that must stay inert, and a branch (a regenerated
// reply, m3 and m3b share the parent m2... and a follow-up on the first).
func fixture() Conversation {
	return Conversation{
		ID:           "01JQ0FIXTURE0000000000000A",
		Title:        "Sorting in Go — ünïcödé 日本語 🚀",
		Model:        "qwen3-4b-4bit",
		SystemPrompt: "You are a concise assistant.\nAnswer in Markdown.\n",
		Settings:     json.RawMessage(`{"temperature": 0.7, "top_p": 0.9, "seed": 42}`),
		CreatedAt:    at(0),
		UpdatedAt:    at(120),
		Pinned:       true,
		Tags:         []string{"go", "demo"},
		Messages: []Message{
			{ID: "m1", Role: "user", Content: "How do I sort a slice of structs in Go?\nShow a table of the options too.", CreatedAt: at(1)},
			{ID: "m2", ParentID: "m1", Role: "assistant", Model: "qwen3-4b-4bit", CreatedAt: at(2),
				Content:      "Use `sort.Slice` or `slices.SortFunc`:\n\n```go\nslices.SortFunc(people, func(a, b Person) int {\n\treturn cmp.Compare(a.Age, b.Age) // by age\n})\n```\n\n| Function | Stable | Since |\n|---|:---:|---:|\n| `sort.Slice` | no | 1.8 |\n| `sort.SliceStable` | yes | 1.8 |\n| `slices.SortFunc` | no | 1.21 |\n\nÜnïcödé works: 日本語, emoji 🚀, math ∑ x².",
				PromptTokens: 31, CompletionTokens: 96, TTFTMillis: 212.5, PrefillTPS: 410.2, TokensPerSec: 38.75, FinishReason: "stop",
				Settings: json.RawMessage(`{"temperature":0.7}`), Status: StatusComplete, UpdatedAt: at(3),
				Meta: json.RawMessage(`{"note":"meta survives"}`)},
			{ID: "m3", ParentID: "m2", Role: "user", Content: "Is <script>alert(1)</script> safe? And \"><img src=x onerror=alert(2)>", CreatedAt: at(3)},
			{ID: "m4", ParentID: "m3", Role: "assistant", Model: "qwen3-4b-4bit", CreatedAt: at(4),
				Content:          "Never paste untrusted HTML: <script>alert(3)</script>\n\n<div onclick=\"x()\">raw block</div>\n\n[click](javascript:alert(4))",
				CompletionTokens: 40, TTFTMillis: 90, TokensPerSec: 40.1, FinishReason: "stop"},
			// A regenerated reply to m3, stopped by the user: the branch.
			{ID: "m4b", ParentID: "m3", Role: "assistant", Model: "qwen3-4b-4bit", CreatedAt: at(5),
				Content: "Let me think about that:\n\n```python\nprint(\"half a", Status: StatusStopped, FinishReason: "cancelled", CompletionTokens: 7},
			{ID: "m5", ParentID: "m4b", Role: "user", Content: "Go on.", CreatedAt: at(6)},
			{ID: "m6", ParentID: "m5", Role: "assistant", Model: "qwen3-4b-4bit", Content: "…and that is all. ✓", CreatedAt: at(7), UpdatedAt: at(9), Status: StatusIncomplete},
		},
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -tags sqlite_fts5 ./store/export/ -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (run with -update if the change is intended)\n--- got ---\n%s", path, got)
	}
}
