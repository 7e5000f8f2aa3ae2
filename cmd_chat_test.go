package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/impetus-llm/impetus/store"
)

// TestChatE2ETmux drives the real binary in tmux: the chat opens, loads the
// model, streams a reply to a typed prompt, quits with Ctrl-Q, and leaves the
// terminal as it found it (main screen back, canonical mode and echo on).
func TestChatE2ETmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs tmux")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (apt-get install tmux)")
	}
	model := runTestModel(t)
	bin := buildImpetus(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "impetus.db")
	env := map[string]string{
		"HOME":                dir,
		"XDG_CONFIG_HOME":     filepath.Join(dir, "config"),
		"XDG_DATA_HOME":       filepath.Join(dir, "data"),
		"XDG_STATE_HOME":      filepath.Join(dir, "state"),
		"XDG_CACHE_HOME":      filepath.Join(dir, "cache"),
		"HF_HOME":             filepath.Join(dir, "hf"),
		"IMPETUS_DB":          db,
		"IMPETUS_CONFIG":      filepath.Join(dir, "config.toml"),
		"IMPETUS_THREADS":     "2",
		"IMPETUS_TEMPERATURE": "0",
		"IMPETUS_MAX_TOKENS":  "12",
		"TERM":                "xterm-256color",
	}
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	for k, v := range env {
		fmt.Fprintf(&script, "export %s='%s'\n", k, v)
	}
	fmt.Fprintf(&script, "'%s' chat -m '%s'\necho \"EXIT=$?\"\nstty -a | tr ';' '\\n' | grep -Eo '(^| )-?(icanon|echo)( |$)' | tr -d ' ' | tr '\\n' ' '; echo STTY-DONE\nsleep 60\n", bin, model)
	runSh := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(runSh, []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := fmt.Sprintf("impetus-e2e-%d", os.Getpid())
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", "-s", "chat", runSh)
	t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })
	capture := func() string { return tmux("capture-pane", "-p", "-t", "chat") }
	waitFor := func(what string, cond func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var s string
		for time.Now().Before(deadline) {
			s = capture()
			if cond(s) {
				return s
			}
			if strings.Contains(s, "STTY-DONE") {
				break // impetus exited
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s; pane:\n%s", what, s)
		return s
	}
	waitFor("the model in the status bar", func(s string) bool {
		return strings.Contains(s, "tiny-llama · cpu") && strings.Contains(s, "Conversations")
	})
	tmux("send-keys", "-t", "chat", "-l", "Hello from tmux")
	tmux("send-keys", "-t", "chat", "Enter")
	s := waitFor("the reply", func(s string) bool {
		return strings.Contains(s, "Assistant") && strings.Contains(s, "tok/s") && !strings.Contains(s, "generating…")
	})
	t.Logf("pane with the reply:\n%s", s)

	// The database holds what the screen shows.
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	page, err := st.ListConversations(context.Background(), store.ListOptions{})
	if err != nil || len(page.Conversations) != 1 {
		t.Fatalf("conversations: %v %v", page, err)
	}
	path, err := st.ActivePath(context.Background(), page.Conversations[0].ID)
	st.Close()
	if err != nil || len(path) != 2 {
		t.Fatalf("active path: %d messages, %v", len(path), err)
	}
	if path[0].Content != "Hello from tmux" || path[1].Status != store.StatusComplete || path[1].Content == "" {
		t.Fatalf("stored turn: %+v", path)
	}
	if w := firstWord(path[1].Content); w != "" && !strings.Contains(s, w) {
		t.Fatalf("stored reply %q does not appear on screen:\n%s", path[1].Content, s)
	}

	tmux("send-keys", "-t", "chat", "C-q")
	s = waitFor("the shell after quitting", func(s string) bool { return strings.Contains(s, "STTY-DONE") })
	if !strings.Contains(s, "EXIT=0") {
		t.Fatalf("impetus did not exit 0:\n%s", s)
	}
	if strings.Contains(s, "Conversations") {
		t.Fatalf("the chat is still on the screen after quitting (alternate screen not left):\n%s", s)
	}
	if !strings.Contains(s, "icanon") || strings.Contains(s, "-icanon") || strings.Contains(s, "-echo ") {
		t.Fatalf("terminal modes not restored:\n%s", s)
	}
}

// firstWord is the first run of letters or digits of s of at least 3 bytes.
func firstWord(s string) string {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		if len(f) >= 3 {
			return f
		}
	}
	return ""
}

// Without a terminal the chat refuses to start, pointing at `impetus run`.
func TestChatNeedsATerminal(t *testing.T) {
	code, _, stderr := runIn(t, runEnv(t), "", "chat")
	if code != 2 || !strings.Contains(stderr, "needs a terminal") || !strings.Contains(stderr, "impetus run") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
