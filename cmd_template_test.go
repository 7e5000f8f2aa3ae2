package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

func runTemplateCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("IMPETUS_CONFIG", filepath.Join(dir, "config.toml"))
	t.Setenv("IMPETUS_DB", filepath.Join(dir, "impetus.db"))
	var out, errb bytes.Buffer
	code := run(append([]string{"template"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestTemplateCommandReference renders every reference scenario of
// ../shared/testdata/chat_templates with `impetus template` on a directory
// holding only tokenizer_config.json, and compares the bytes.
func TestTemplateCommandReference(t *testing.T) {
	td := sharedtestdata.Dir(t)
	for _, name := range []string{"llama3", "qwen3", "gemma3"} {
		t.Run(name, func(t *testing.T) {
			only := t.TempDir()
			if err := os.Symlink(filepath.Join(td, "tokenizers", name, "tokenizer_config.json"), filepath.Join(only, "tokenizer_config.json")); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(td, "chat_templates", name+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<24)
			n := 0
			for sc.Scan() {
				var c struct {
					Name     string          `json:"name"`
					Vars     json.RawMessage `json:"vars"`
					Rendered string          `json:"rendered"`
				}
				if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
					t.Fatal(err)
				}
				code, out, stderr := runTemplateCmd(t, string(c.Vars), "-m", only)
				if code != 0 {
					t.Errorf("%s: exit %d: %s", c.Name, code, stderr)
					continue
				}
				if out != c.Rendered {
					t.Errorf("%s:\n got %q\nwant %q", c.Name, out, c.Rendered)
				}
				n++
			}
			if n == 0 {
				t.Fatal("no cases")
			}
		})
	}
}

func TestTemplateCommandErrors(t *testing.T) {
	td := sharedtestdata.Dir(t)
	gemma := filepath.Join(td, "tokenizers", "gemma3")
	// gemma3's template raises when roles do not alternate.
	code, out, stderr := runTemplateCmd(t, `{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`, "-m", gemma)
	if code == 0 || out != "" || !strings.Contains(stderr, "Conversation roles must alternate user/assistant/user/assistant/...") || !strings.Contains(stderr, "tokenizer_config.json") {
		t.Errorf("raising template: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	for _, c := range []struct{ stdin, want string }{
		{"", "expected a JSON object on stdin"},
		{"[1]", "expected a JSON object"},
		{`{"messages": "hi"}`, `"messages" must be a list`},
		{`{"add_generation_prompt": true}`, `"messages" is missing`},
		{`{"messages": [}`, "invalid JSON"},
	} {
		code, _, stderr := runTemplateCmd(t, c.stdin, "-m", gemma)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("stdin %q: exit %d, stderr %q, want %q", c.stdin, code, stderr, c.want)
		}
	}
	empty := t.TempDir()
	code, _, stderr = runTemplateCmd(t, `{"messages":[]}`, "-m", empty)
	if code == 0 || !strings.Contains(stderr, "no chat template") {
		t.Errorf("dir without template: exit %d, stderr %q", code, stderr)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "chat_template.jinja"), []byte("line one\n{% if x %}\n{{ y }"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runTemplateCmd(t, `{"messages":[]}`, "-m", bad)
	if code == 0 || !strings.Contains(stderr, "chat_template.jinja:") || !strings.Contains(stderr, "syntax error") {
		t.Errorf("bad template: exit %d, stderr %q", code, stderr)
	}
}

// TestTemplateCommandOrderAndExtras checks that tool key order survives and
// extra variables reach the template.
func TestTemplateCommandOrderAndExtras(t *testing.T) {
	td := sharedtestdata.Dir(t)
	qwen := filepath.Join(td, "tokenizers", "qwen3")
	in := `{"messages":[{"role":"user","content":"hi"}],"tools":[{"zeta":1,"alpha":{"y":[1,2.5],"x":"é"}}],"add_generation_prompt":true,"enable_thinking":false}`
	code, out, stderr := runTemplateCmd(t, in, "-m", qwen)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `{"zeta": 1, "alpha": {"y": [1, 2.5], "x": "é"}}`) {
		t.Errorf("tool not rendered in order: %q", out)
	}
	if !strings.HasSuffix(out, "<|im_start|>assistant\n<think>\n\n</think>\n\n") {
		t.Errorf("enable_thinking=false not applied: %q", out)
	}
}
