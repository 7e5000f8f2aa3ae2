package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"
)

// runTokenize runs impetus in-process with the given stdin.
func runTokenize(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("IMPETUS_CONFIG", filepath.Join(dir, "config.toml"))
	t.Setenv("IMPETUS_DB", filepath.Join(dir, "impetus.db"))
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

type tokenizeCase struct {
	Text           string  `json:"text"`
	IDs            []int32 `json:"ids"`
	IDsWithSpecial []int32 `json:"ids_with_special"`
	Decoded        string  `json:"decoded"`
}

// TestTokenizeCommandCases runs every line of every cases.jsonl through
// `impetus tokenize`: TEXT as an argument and on stdin, --add-special, --decode.
func TestTokenizeCommandCases(t *testing.T) {
	for _, name := range []string{"llama2", "llama3", "qwen3", "gemma3"} {
		t.Run(name, func(t *testing.T) {
			dir := sharedtestdata.Dir(t, "tokenizers", name)
			// A directory holding only the tokenizer files is enough.
			only := t.TempDir()
			for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
				if err := os.Symlink(filepath.Join(dir, f), filepath.Join(only, f)); err != nil {
					t.Fatal(err)
				}
			}
			f, err := os.Open(filepath.Join(dir, "cases.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			n := 0
			for sc.Scan() {
				var c tokenizeCase
				if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
					t.Fatal(err)
				}
				n++
				check := func(what string, want []int32, stdin string, args ...string) {
					t.Helper()
					code, out, errOut := runTokenize(t, stdin, args...)
					if code != 0 {
						t.Fatalf("%s %q: exit %d: %s", what, c.Text, code, errOut)
					}
					if !strings.HasSuffix(out, "]\n") || strings.Count(out, "\n") != 1 {
						t.Errorf("%s %q: output is not one JSON array line: %q", what, c.Text, out)
					}
					var got []int32
					if err := json.Unmarshal([]byte(out), &got); err != nil {
						t.Fatalf("%s %q: %v in %q", what, c.Text, err, out)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s %q:\n got %v\nwant %v", what, c.Text, got, want)
					}
				}
				check("arg", c.IDs, "", "tokenize", "-m", only, "--", c.Text)
				check("stdin", c.IDs, c.Text, "tokenize", "-m", only)
				check("add-special", c.IDsWithSpecial, c.Text, "tokenize", "-m", only, "--add-special")
				idsJSON, _ := json.Marshal(c.IDs)
				code, out, errOut := runTokenize(t, "", "tokenize", "-m", only, "--decode", string(idsJSON))
				if code != 0 || out != c.Decoded {
					t.Errorf("decode %v: exit %d, got %q want %q (stderr %s)", c.IDs, code, out, c.Decoded, errOut)
				}
				code, out, _ = runTokenize(t, string(idsJSON)+"\n", "tokenize", "-m", only, "--decode")
				if code != 0 || out != c.Decoded {
					t.Errorf("decode from stdin %v: exit %d, got %q want %q", c.IDs, code, out, c.Decoded)
				}
			}
			if n == 0 {
				t.Fatal("no cases")
			}
		})
	}
}

func TestTokenizeCommandErrors(t *testing.T) {
	dir := sharedtestdata.Dir(t, "tokenizers", "llama2")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tokenize", "-m", dir, "--decode", "[1, 2"}, "JSON array"},
		{[]string{"tokenize", "-m", dir, "--decode", "[1, 1.5]"}, "element 1"},
		{[]string{"tokenize", "-m", dir, "--decode", "[32000]"}, "outside the vocabulary"},
		{[]string{"tokenize", "-m", dir, "--decode", "--add-special", "[1]"}, "--add-special"},
		{[]string{"tokenize", "-m", t.TempDir(), "x"}, "tokenizer.json"},
	} {
		code, out, errOut := runTokenize(t, "", tc.args...)
		if code == 0 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q (want it to mention %q)", tc.args, code, out, errOut, tc.want)
		}
	}
	// A broken tokenizer.json names the file and the field.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "tokenizer.json"), []byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}}`), 0o644)
	code, _, errOut := runTokenize(t, "", "tokenize", "-m", bad, "a")
	if code == 0 || !strings.Contains(errOut, filepath.Join(bad, "tokenizer.json")) || !strings.Contains(errOut, "model.merges[0]") {
		t.Errorf("bad tokenizer.json: exit %d, stderr %q", code, errOut)
	}
}
