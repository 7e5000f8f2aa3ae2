package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsComeFromEmbeddedFile(t *testing.T) {
	cfg, warns, err := Load(filepath.Join(t.TempDir(), "absent.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Fatalf("warnings for a missing file: %v", warns)
	}
	if cfg.Backend != "auto" || cfg.Sampling.TopP != 0.95 || cfg.Sampling.MaxTokens != 2048 || cfg.Theme != "dark" {
		t.Fatalf("defaults not loaded: %+v", cfg)
	}
	if !strings.HasSuffix(cfg.ModelsDir, filepath.Join("impetus", "models")) {
		t.Fatalf("models dir %q", cfg.ModelsDir)
	}
}

func TestFileOverridesDefaultsAndEnvOverridesFile(t *testing.T) {
	p := writeConfig(t, "model = \"/m/a\"\nbackend = \"cpu\"\n[sampling]\ntemperature = 0.2\ntop_k = 40\n")
	t.Setenv("IMPETUS_MODEL", "/m/b")
	t.Setenv("IMPETUS_TOP_K", "7")
	cfg, _, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "/m/b" || cfg.Backend != "cpu" || cfg.Sampling.Temperature != 0.2 || cfg.Sampling.TopK != 7 {
		t.Fatalf("precedence wrong: %+v", cfg)
	}
}

func TestUnknownKeyIsAWarning(t *testing.T) {
	p := writeConfig(t, "colour = \"blue\"\n[keys]\nquit = \"Ctrl-Q\"\n")
	cfg, warns, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `"colour"`) || !strings.Contains(warns[0], p) {
		t.Fatalf("want one warning naming colour and the file, got %v", warns)
	}
	if cfg.Keys["quit"] != "Ctrl-Q" {
		t.Fatalf("keys table lost: %v", cfg.Keys)
	}
}

func TestMalformedConfigNamesFileLineAndKey(t *testing.T) {
	p := writeConfig(t, "model = \"x\"\n\n[sampling]\ntemperature = = 3\n")
	_, _, err := Load(p)
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{p, "line 4"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Fatalf("error is not one line: %q", msg)
	}
}

func TestTypeMismatchAndBadValues(t *testing.T) {
	cases := map[string]string{
		"[sampling]\ntop_p = 2.0":         "sampling.top_p",
		"backend = \"gpu\"":               "backend",
		"[sampling]\ntemperature = -1.0":  "sampling.temperature",
		"[sampling]\ntop_k = \"ten\"\n\n": "top_k",
	}
	for text, want := range cases {
		_, _, err := Load(writeConfig(t, text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want error naming %q, got %v", text, want, err)
		}
	}
}

func TestBadEnvValueNamesVariable(t *testing.T) {
	t.Setenv("IMPETUS_THREADS", "many")
	_, _, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if err == nil || !strings.Contains(err.Error(), "IMPETUS_THREADS") {
		t.Fatalf("want error naming IMPETUS_THREADS, got %v", err)
	}
}
