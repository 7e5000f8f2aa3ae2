package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/internal/sharedtestdata"

	"github.com/impetus-llm/impetus/engine/registry"
)

func TestModelsCommand(t *testing.T) {
	shared := sharedtestdata.Dir(t, "models")
	models := t.TempDir()
	// The shared models, linked into a models dir, plus one broken entry.
	for _, name := range []string{"tiny-llama-bf16", "tiny-qwen2-f32-q4"} {
		if err := os.Symlink(filepath.Join(shared, name), filepath.Join(models, name)); err != nil {
			t.Fatal(err)
		}
	}
	broken := filepath.Join(models, "broken")
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, "config.json"), []byte(`{"model_type": "llama", "hidden_size": -1}`), 0o644)
	tokOnly := filepath.Join(models, "tok-only")
	os.MkdirAll(tokOnly, 0o755)
	os.WriteFile(filepath.Join(tokOnly, "tokenizer.json"), []byte(`{}`), 0o644)

	t.Setenv("IMPETUS_MODELS_DIR", models)
	t.Setenv("HF_HUB_CACHE", filepath.Join(t.TempDir(), "empty-cache"))

	code, out, errOut := runImpetus(t, "models")
	if code != 0 {
		t.Fatalf("models: exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("table:\n%s", out)
	}
	for _, want := range []string{"tiny-llama-bf16", "llama", "4M", "BF16", "4096"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if !strings.Contains(lines[2], "tiny-qwen2-f32-q4") || !strings.Contains(lines[2], "4bit/g32") {
		t.Errorf("row %q", lines[2])
	}
	if !strings.Contains(errOut, "warning: skipping broken:") || !strings.Contains(errOut, "hidden_size must be > 0") || strings.Contains(errOut, "tok-only") {
		t.Errorf("stderr: %s", errOut)
	}

	code, out, _ = runImpetus(t, "models", "--json")
	if code != 0 {
		t.Fatalf("models --json: exit %d", code)
	}
	var entries []registry.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(entries) != 2 || entries[1].Quantization != "4bit/g32" || entries[0].DType != "BF16" || entries[0].ContextLength != 4096 || entries[0].Params < 4_000_000 || entries[0].SizeBytes < 8_000_000 {
		t.Errorf("entries %+v", entries)
	}

	// Nothing anywhere: an empty JSON array, and a hint on stderr for the table.
	t.Setenv("IMPETUS_MODELS_DIR", filepath.Join(t.TempDir(), "none"))
	code, out, _ = runImpetus(t, "models", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty json: %d %q", code, out)
	}
	code, out, errOut = runImpetus(t, "models")
	if code != 0 || out != "" || !strings.Contains(errOut, "impetus pull") {
		t.Errorf("empty table: %d %q %q", code, out, errOut)
	}
}
