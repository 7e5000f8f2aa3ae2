package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/impetus-llm/impetus/internal/testfs"
)

// exportCLI runs impetus against the database db with stdin.
func exportCLI(t *testing.T, db, stdin string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("IMPETUS_CONFIG", filepath.Join(filepath.Dir(db), "config.toml"))
	t.Setenv("IMPETUS_DB", db)
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const exportCLIJSONL = `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Sort a slice in Go?"},{"role":"assistant","content":"Use slices.Sort:\n\n` + "```go\\nslices.Sort(xs)\\n```" + `"}]}
{"messages":[{"role":"user","content":"Tabelle bitte 日本"},{"role":"assistant","content":"| a | b |\n|---|---|\n| 1 | 2 |"}]}
`

func TestExportImportCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	code, out, errOut := exportCLI(t, db, exportCLIJSONL, "import", "-")
	if code != 0 || out != "stdin: 2 imported, 0 already present\n" {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	code, out, _ = exportCLI(t, db, exportCLIJSONL, "import", "-")
	if code != 0 || out != "stdin: 0 imported, 2 already present\n" {
		t.Fatalf("second import: %d %q", code, out)
	}

	// JSONL to stdout, validated line by line.
	code, out, errOut = exportCLI(t, db, "", "export", "--all", "--format", "jsonl", "--system")
	if code != 0 || errOut != "" {
		t.Fatalf("export jsonl: %d %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var v struct {
			Messages []struct{ Role, Content string } `json:"messages"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || len(v.Messages) < 2 {
			t.Fatalf("bad line %q: %v", l, err)
		}
		if !strings.Contains(exportCLIJSONL, l) {
			t.Errorf("line not as imported: %s", l)
		}
	}

	// JSON to a file, inferred from the extension; import into an empty
	// database; export again: identical.
	first := filepath.Join(dir, "first.json")
	if code, _, errOut := exportCLI(t, db, "", "export", "--all", "-o", first); code != 0 {
		t.Fatalf("export json: %d %s", code, errOut)
	}
	db2 := filepath.Join(dir, "b.db")
	if code, out, errOut := exportCLI(t, db2, "", "import", first); code != 0 || !strings.Contains(out, "2 imported") {
		t.Fatalf("import json: %d %q %q", code, out, errOut)
	}
	code, second, _ := exportCLI(t, db2, "", "export", "--all", "--format", "json")
	if want, _ := os.ReadFile(first); code != 0 || second != string(want) {
		t.Fatalf("round trip through the CLI differs")
	}
	// No overwrite without --force.
	code, _, errOut = exportCLI(t, db, "", "export", "--all", "-o", first)
	if code == 0 || !strings.Contains(errOut, "already exists") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("overwrite: %d %q", code, errOut)
	}
	if code, _, errOut := exportCLI(t, db, "", "export", "--all", "-o", first, "--force"); code != 0 {
		t.Errorf("--force: %d %q", code, errOut)
	}

	// One conversation by id prefix, Markdown to stdout.
	var doc struct {
		Conversations []struct{ ID, Title string } `json:"conversations"`
	}
	data, _ := os.ReadFile(first)
	json.Unmarshal(data, &doc)
	id := doc.Conversations[0].ID
	code, out, _ = exportCLI(t, db, "", "export", id[:8])
	if code != 0 || !strings.HasPrefix(out, "---\ntitle: ") || !strings.Contains(out, "## User") {
		t.Errorf("markdown export: %d\n%s", code, out)
	}

	// HTML into a directory, one file per conversation, names from titles.
	site := filepath.Join(dir, "site") + "/"
	if code, _, errOut := exportCLI(t, db, "", "export", "--all", "-f", "html", "-o", site); code != 0 {
		t.Fatalf("html dir: %d %q", code, errOut)
	}
	entries, _ := os.ReadDir(site)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	found := false
	for _, n := range names {
		found = found || strings.HasPrefix(n, "sort-a-slice-in-go-") && strings.HasSuffix(n, ".html")
	}
	if len(names) != 2 || !found {
		t.Errorf("files %v, want two, one named sort-a-slice-in-go-ID.html", names)
	}

	// Selection by search.
	code, out, _ = exportCLI(t, db, "", "export", "--search", "Tabelle", "-f", "jsonl")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "Tabelle") {
		t.Errorf("--search: %d %q", code, out)
	}
}

func TestExportCommandErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	if code, _, errOut := exportCLI(t, db, exportCLIJSONL, "import", "-"); code != 0 {
		t.Fatal(errOut)
	}
	good := filepath.Join(dir, "good.json")
	if code, _, errOut := exportCLI(t, db, "", "export", "--all", "-o", good); code != 0 {
		t.Fatal(errOut)
	}
	data, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.json")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	newer := filepath.Join(dir, "newer.json")
	os.WriteFile(newer, bytes.Replace(data, []byte(`"impetus_export_version": 1`), []byte(`"impetus_export_version": 7`), 1), 0o644)

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "--all", "--format", "pdf"}, 2, `unknown export format "pdf": use one of md, json, jsonl, html`},
		{[]string{"export", "NOSUCHID"}, 1, `no conversation with id "NOSUCHID"`},
		{[]string{"export"}, 2, "say which conversations"},
		{[]string{"export", "--all", "--since", "someday"}, 2, `--since "someday"`},
		{[]string{"export", "--all", "-o", filepath.Join(dir, "missing", "out.json")}, 1, "does not exist"},
		{[]string{"export", "--search", "zzzzqqq"}, 1, "no conversations match"},
		{[]string{"import", truncated}, 1, "truncated.json: truncated JSON"},
		{[]string{"import", newer}, 1, "newer.json: impetus_export_version 7 is not supported"},
		{[]string{"import", filepath.Join(dir, "nope.json")}, 1, "nope.json: no such file"},
		{[]string{"import", good, truncated}, 1, "truncated.json"},
	} {
		code, out, errOut := exportCLI(t, db, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: code %d, stderr %q; want code %d and %q on one line", tc.args, code, errOut, tc.code, tc.want)
		}
		if out != "" {
			t.Errorf("%v: stdout %q on error", tc.args, out)
		}
	}
	// A failed import of several files imported nothing (all are read first).
	db2 := filepath.Join(dir, "empty.db")
	exportCLI(t, db2, "", "import", good, truncated)
	code, out, _ := exportCLI(t, db2, "", "export", "--all", "-f", "jsonl")
	if code == 0 || out != "" {
		t.Errorf("a rejected import left conversations behind: %q", out)
	}
	// An unwritable output path leaves nothing behind.
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o755)
	if !testfs.MakeUnwritable(t, ro) {
		t.Skip("cannot make a directory unwritable here (need chattr as root, or a non-root user)")
	}
	code, _, errOut := exportCLI(t, db, "", "export", "--all", "-o", filepath.Join(ro, "x.json"))
	if code != 1 || !(strings.Contains(errOut, "permission denied") || strings.Contains(errOut, "operation not permitted")) {
		t.Errorf("read-only dir: %d %q", code, errOut)
	}
	if entries, _ := os.ReadDir(ro); len(entries) != 0 {
		t.Errorf("a failed export left %d files behind", len(entries))
	}
}

func TestParseSince(t *testing.T) {
	now := exportMustTime(t, "2026-03-14T12:00:00Z")
	for in, want := range map[string]string{
		"2026-03-01T10:00:00Z": "2026-03-01T10:00:00Z",
		"36h":                  "2026-03-13T00:00:00Z",
		"7d":                   "2026-03-07T12:00:00Z",
		"2w":                   "2026-02-28T12:00:00Z",
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(exportMustTime(t, want)) {
			t.Errorf("parseSince(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if got, err := parseSince("2026-03-01", now); err != nil || got.Day() != 1 || got.Hour() != 0 {
		t.Errorf("date: %v %v", got, err)
	}
}

func exportMustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
