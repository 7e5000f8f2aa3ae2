package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/impetus-llm/impetus/engine/testmodel"
	"github.com/impetus-llm/impetus/store"
)

// runTestChatTemplate is a Llama-2 style template for the llama2 tokenizer
// the test models carry (it ships without one).
const runTestChatTemplate = `{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}<<SYS>>{{ m['content'] }}<</SYS>>{% elif m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}`

// runTestModel writes a tiny random llama (real llama2 tokenizer) with a
// chat template, or skips when the shared test data is absent.
func runTestModel(t *testing.T) string {
	t.Helper()
	if _, err := testmodel.DefaultTokenizerDir(); err != nil {
		t.Skipf("shared test data absent: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "tiny-llama")
	if err := testmodel.Write(dir, testmodel.Tiny("llama", "f32", 0)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(runTestChatTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runIn runs the CLI in-process with stdin and an isolated config and DB.
func runIn(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func runEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"IMPETUS_CONFIG":  filepath.Join(dir, "config.toml"),
		"IMPETUS_DB":      filepath.Join(dir, "impetus.db"),
		"IMPETUS_THREADS": "2",
	}
}

func TestRunStdoutIsOnlyTheText(t *testing.T) {
	model := runTestModel(t)
	env := runEnv(t)
	code, out, errOut := runIn(t, env, "", "run", "-m", model, "--raw", "--temperature", "0", "--max-tokens", "12", "--no-save", "Once upon a time")
	if code != 0 {
		t.Fatalf("code %d stderr %s", code, errOut)
	}
	code, js, errOut := runIn(t, env, "", "run", "-m", model, "--raw", "--temperature", "0", "--max-tokens", "12", "--no-save", "--format", "json", "Once upon a time")
	if code != 0 {
		t.Fatalf("json: code %d stderr %s", code, errOut)
	}
	var o runOutput
	if err := json.Unmarshal([]byte(js), &o); err != nil {
		t.Fatalf("--format json output does not parse: %v\n%s", err, js)
	}
	if out != o.Text {
		t.Fatalf("streamed stdout %q differs from the JSON text %q", out, o.Text)
	}
	if len(o.Tokens) != o.Usage.CompletionTokens || o.Usage.CompletionTokens == 0 || o.FinishReason == "" || o.Timings.TTFTMs <= 0 {
		t.Fatalf("json fields: %+v", o)
	}
	if strings.Count(js, "\n") != 1 {
		t.Fatalf("json output is not one line/object: %q", js)
	}
	// stdin as the prompt gives the same greedy text; --stats goes to stderr
	code, out2, errOut := runIn(t, env, "Once upon a time\n", "run", "-m", model, "--raw", "--temperature", "0", "--max-tokens", "12", "--no-save", "--stats")
	if code != 0 || out2 != out {
		t.Fatalf("stdin prompt: code %d %q vs %q", code, out2, out)
	}
	if !strings.Contains(errOut, "12 generated, length") {
		t.Fatalf("--stats: stderr %q", errOut)
	}
}

func TestRunSavesAndContinues(t *testing.T) {
	model := runTestModel(t)
	env := runEnv(t)
	code, js, errOut := runIn(t, env, "", "run", "-m", model, "--temperature", "0", "--max-tokens", "8", "--format", "json", "--system", "Be brief.", "What is the capital of France?")
	if code != 0 {
		t.Fatalf("code %d stderr %s", code, errOut)
	}
	var o1 runOutput
	if err := json.Unmarshal([]byte(js), &o1); err != nil {
		t.Fatal(err)
	}
	if o1.ConversationID == "" || o1.MessageID == "" {
		t.Fatalf("not saved: %+v", o1)
	}
	code, js, errOut = runIn(t, env, "", "run", "--continue", o1.ConversationID[:8], "--temperature", "0", "--max-tokens", "8", "--format", "json", "And of Italy?")
	if code != 0 {
		t.Fatalf("continue: code %d stderr %s", code, errOut)
	}
	var o2 runOutput
	if err := json.Unmarshal([]byte(js), &o2); err != nil {
		t.Fatal(err)
	}
	if o2.ConversationID != o1.ConversationID || o2.Usage.PromptTokens <= o1.Usage.PromptTokens+o1.Usage.CompletionTokens-1 {
		t.Fatalf("continue did not use the history: %+v vs %+v", o2.Usage, o1.Usage)
	}
	st, err := store.Open(env["IMPETUS_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conv, err := st.GetConversation(context.Background(), o1.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	path, err := st.ActivePath(context.Background(), o1.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	if conv.SystemPrompt != "Be brief." || conv.Model != model || len(path) != 4 {
		t.Fatalf("conversation %+v, %d messages", conv, len(path))
	}
	want := []struct {
		role    store.Role
		content string
	}{{store.RoleUser, "What is the capital of France?"}, {store.RoleAssistant, o1.Text}, {store.RoleUser, "And of Italy?"}, {store.RoleAssistant, o2.Text}}
	for i, w := range want {
		m := path[i]
		if m.Role != w.role || m.Content != w.content || m.Status != store.StatusComplete {
			t.Fatalf("message %d: %s %q %s, want %s %q", i, m.Role, m.Content, m.Status, w.role, w.content)
		}
	}
	if path[1].CompletionTokens == nil || *path[1].CompletionTokens != o1.Usage.CompletionTokens || path[1].FinishReason != o1.FinishReason {
		t.Fatalf("stats not saved: %+v", path[1])
	}
}

func TestRunBadInput(t *testing.T) {
	model := runTestModel(t)
	env := runEnv(t)
	for _, tc := range []struct {
		name  string
		code  int
		args  []string
		stdin string
		want  string
	}{
		{"max tokens 0", 2, []string{"-m", model, "--max-tokens", "0", "hi"}, "", "--max-tokens 0"},
		{"prompt too long", 1, []string{"-m", model, "--raw", "--no-save", strings.Repeat("hello world ", 300)}, "", "context length exceeded"},
		{"max tokens beyond context", 1, []string{"-m", model, "--raw", "--no-save", "--max-tokens", "5000", "hi"}, "", "context"},
		{"missing model", 1, []string{"-m", filepath.Join(t.TempDir(), "nope"), "hi"}, "", "nope"},
		{"no prompt", 2, []string{"-m", model}, "", "prompt"},
		{"bad format", 2, []string{"-m", model, "--format", "xml", "hi"}, "", "--format"},
		{"bad temperature", 1, []string{"-m", model, "--no-save", "--temperature", "-1", "hi"}, "", "temperature"},
		{"unknown conversation", 1, []string{"-m", model, "--continue", "ZZZZZZZZ", "hi"}, "", "ZZZZZZZZ"},
	} {
		code, out, errOut := runIn(t, env, tc.stdin, append([]string{"run"}, tc.args...)...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: code %d (want %d), stdout %q, stderr %q (want %q)", tc.name, code, tc.code, out, errOut, tc.want)
		}
	}
	// Nothing half-done was saved by the failures.
	st, err := store.Open(env["IMPETUS_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListConversations(context.Background(), store.ListOptions{Limit: 10})
	if err != nil || page.Total != 0 {
		t.Fatalf("failed runs left %d conversations (%v)", page.Total, err)
	}
}

func TestBenchJSON(t *testing.T) {
	model := runTestModel(t)
	code, out, errOut := runIn(t, runEnv(t), "", "bench", "-m", model, "--prompt-tokens", "16", "--gen-tokens", "8", "--runs", "3", "--warmup", "0", "--json")
	if code != 0 {
		t.Fatalf("code %d stderr %s", code, errOut)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench --json does not parse: %v\n%s", err, out)
	}
	if len(rep.Runs) != 3 || rep.Median.DecodeTokensPerSec <= 0 || rep.Median.PrefillTokensPerSec <= 0 || rep.PeakRSSBytes <= 0 || rep.Arch != "llama" {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Runs {
		if r.GeneratedTokens != 8 || r.PromptTokens != 16 {
			t.Fatalf("run %+v: EOS must not stop a bench, and the whole prompt is prefilled each run", r)
		}
	}
	code, _, errOut = runIn(t, runEnv(t), "", "bench", "-m", model, "--gen-tokens", "0")
	if code != 2 || !strings.Contains(errOut, "--gen-tokens") {
		t.Fatalf("bad flag: %d %s", code, errOut)
	}
	code, _, errOut = runIn(t, runEnv(t), "", "bench", "--synthetic", "nope")
	if code != 2 || !strings.Contains(errOut, "qwen2.5-0.5b-q4") {
		t.Fatalf("unknown synthetic: %d %s", code, errOut)
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildImpetus builds the real binary once per test process.
func buildImpetus(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "impetus-run-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "impetus")
		cmd := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binPath)
	}
	return binPath
}

// TestRunBinaryEndToEnd runs the built binary with a pipe for stdin: stdout
// holds only the generated text, and --format json one parseable object.
func TestRunBinaryEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	model := runTestModel(t)
	bin := buildImpetus(t)
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })
	env := append(os.Environ(), "IMPETUS_CONFIG="+filepath.Join(t.TempDir(), "c.toml"), "IMPETUS_DB="+filepath.Join(t.TempDir(), "h.db"), "IMPETUS_THREADS=2")
	exe := func(stdin string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	js, errOut, err := exe("Tell me a story", "run", "-m", model, "-v", "--temperature", "0", "--max-tokens", "10", "--format", "json")
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	var o runOutput
	if err := json.Unmarshal([]byte(js), &o); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%q", err, js)
	}
	text, errOut, err := exe("Tell me a story", "run", "-m", model, "-v", "--temperature", "0", "--max-tokens", "10")
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	if text != o.Text {
		t.Fatalf("stdout %q is not exactly the generated text %q (stderr %s)", text, o.Text, errOut)
	}
	if !strings.Contains(errOut, "level=DEBUG") {
		t.Fatalf("verbose logs should be on stderr, got %q", errOut)
	}
	_, errOut, err = exe("", "run", "-m", model, "--max-tokens", "0", "hi")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(errOut, "--max-tokens") {
		t.Fatalf("--max-tokens 0: %v %s", err, errOut)
	}
}
