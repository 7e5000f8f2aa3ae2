package export

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/testfs"
)

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ title, id, want string }{
		{"Sorting in Go — ünïcödé 日本語 🚀", "01ABC", "sorting-in-go-ünïcödé-日本語-01ABC.md"},
		{"../../etc/passwd", "01ABC", "etc-passwd-01ABC.md"},
		{"", "01ABC", "conversation-01ABC.md"},
		{"🚀🚀", "01/AB\\C", "conversation-01ABC.md"},
		{"CON", "X", "con-X.md"},
		{strings.Repeat("long title ", 20), "X", "long-title-long-title-long-title-long-title-long-title-long-X.md"},
	} {
		got := FileName(tc.title, tc.id, Markdown)
		if got != tc.want {
			t.Errorf("FileName(%q) = %q, want %q", tc.title, got, tc.want)
		}
		if strings.ContainsAny(got, `/\:*?"<>|`) || strings.HasPrefix(got, ".") {
			t.Errorf("FileName(%q) = %q is not safe", tc.title, got)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	if err := WriteFileAtomic(path, false, write("one")); err != nil {
		t.Fatal(err)
	}
	// No overwrite without force, and the file is untouched.
	err := WriteFileAtomic(path, false, write("two"))
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwrite without force: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("file changed to %q", b)
	}
	if err := WriteFileAtomic(path, true, write("three")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "three" {
		t.Fatalf("force: file is %q", b)
	}
	// A failure half-way leaves neither the target nor a temp file.
	failed := filepath.Join(dir, "failed.json")
	boom := errors.New("boom")
	err = WriteFileAtomic(failed, false, func(w io.Writer) error {
		io.WriteString(w, `{"half":`)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	// Nor does a failure replace an existing file under force.
	if err := WriteFileAtomic(path, true, func(w io.Writer) error { io.WriteString(w, "x"); return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "three" {
		t.Fatalf("failed forced write changed the file to %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "out.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only out.json", names)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}

	if err := WriteFileAtomic(filepath.Join(dir, "no", "such", "x.json"), false, write("")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing directory: %v", err)
	}
	notDir := filepath.Join(dir, "out.json", "x.json") // the parent is a file
	if err := WriteFileAtomic(notDir, false, write("")); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("file as directory: %v", err)
	}
	if err := WriteFileAtomic(dir, true, write("")); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory as target: %v", err)
	}
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o755)
	if !testfs.MakeUnwritable(t, ro) {
		t.Skip("cannot make a directory unwritable here (need chattr as root, or a non-root user)")
	}
	if err := WriteFileAtomic(filepath.Join(ro, "x.json"), false, write("")); err == nil || !unwritable(err) {
		t.Errorf("read-only directory: %v", err)
	}
}

func TestExportDir(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if _, err := Import(ctx, st, []Conversation{fixture()}); err != nil {
		t.Fatal(err)
	}
	live := liveConversation(t, st)
	ids, err := Select(ctx, st, Selection{All: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	var calls int
	paths, err := ExportDir(ctx, st, ids, dir, HTML, Options{}, false, func(done, total int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 || calls != 2 {
		t.Fatalf("paths %v, progress calls %d", paths, calls)
	}
	want := filepath.Join(dir, "live-"+live+".html")
	if paths[0] != want && paths[1] != want {
		t.Errorf("paths %v, want one to be %s", paths, want)
	}
	before, _ := os.ReadFile(want)
	os.WriteFile(paths[0], []byte("mine"), 0o644)
	if _, err := ExportDir(ctx, st, ids, dir, HTML, Options{}, false, nil); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second export without force: %v", err)
	}
	if b, _ := os.ReadFile(paths[0]); string(b) != "mine" {
		t.Fatal("refused export changed a file")
	}
	if _, err := ExportDir(ctx, st, ids, dir, HTML, Options{}, true, nil); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(want); string(after) != string(before) {
		t.Error("forced export differs from the first")
	}
	if _, err := ExportDir(ctx, st, []string{"NOSUCHID"}, dir, HTML, Options{}, false, nil); err == nil || !strings.Contains(err.Error(), "NOSUCHID") {
		t.Errorf("unknown id: %v", err)
	}
}

// An export that fails half-way (here: a conversation deleted after it was
// selected) leaves no file under the target name, and no temp file.
func TestExportFileFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if _, err := Import(ctx, st, []Conversation{fixture()}); err != nil {
		t.Fatal(err)
	}
	live := liveConversation(t, st)
	ids := []string{fixture().ID, live}
	if err := st.DeleteConversation(ctx, live); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range Formats() {
		path := filepath.Join(dir, "out"+f.Ext())
		err := ExportFile(ctx, st, ids, path, f, Options{}, false, nil)
		if err == nil || !strings.Contains(err.Error(), live) {
			t.Errorf("%s: error %v, want one naming %s", f, err, live)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed exports left %d files behind", len(entries))
	}
}

// unwritable recognises the error of writing into a read-only directory:
// "permission denied" from its mode, "operation not permitted" from chattr +i.
func unwritable(err error) bool {
	return strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "operation not permitted")
}
