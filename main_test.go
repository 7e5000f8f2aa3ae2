package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runImpetus runs the CLI in-process with an isolated config and database.
func runImpetus(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("IMPETUS_CONFIG") == "" {
		t.Setenv("IMPETUS_CONFIG", filepath.Join(dir, "config.toml"))
	}
	if os.Getenv("IMPETUS_DB") == "" {
		t.Setenv("IMPETUS_DB", filepath.Join(dir, "impetus.db"))
	}
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestEverySubcommandHasHelp(t *testing.T) {
	for name := range plannedCommands {
		code, out, errOut := runImpetus(t, name, "--help")
		if code != 0 || !strings.Contains(out, name) {
			t.Errorf("%s --help: code %d, stdout %q, stderr %q", name, code, out, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runImpetus(t, "version")
	if code != 0 || !strings.HasPrefix(out, "impetus ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, _ := runImpetus(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "impetus") {
			t.Errorf("completion %s: code %d", shell, code)
		}
	}
}

func TestMalformedConfigFailsWithOneLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("model = \"m\"\ntheme = = 1\n"), 0o644)
	code, out, errOut := runImpetus(t, "--config", p, "version")
	if code == 0 || out != "" || !strings.Contains(errOut, p) || !strings.Contains(errOut, "line 2") {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestUnknownConfigKeyWarnsAndRuns(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("flavour = \"x\"\n"), 0o644)
	code, out, errOut := runImpetus(t, "--config", p, "version")
	if code != 0 || !strings.HasPrefix(out, "impetus ") || !strings.Contains(errOut, "flavour") {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestRootTakesTheChatFlags(t *testing.T) {
	root := newRootCommand(&app{})
	for _, name := range []string{"model", "backend"} {
		if root.Flags().Lookup(name) == nil {
			t.Errorf("`impetus --%s` is not accepted (the chat's flag)", name)
		}
	}
}
