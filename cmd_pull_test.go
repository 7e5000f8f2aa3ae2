package main

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPullCommandPrintsTheSnapshot(t *testing.T) {
	const commit = "89abcdef0123456789abcdef0123456789abcdef"
	config := []byte(`{"model_type":"qwen2"}`)
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(config))
	h.Write(config)
	blobID := hex.EncodeToString(h.Sum(nil))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/models/org/tiny/revision/main":
			json.NewEncoder(w).Encode(map[string]any{"sha": commit, "siblings": []map[string]any{
				{"rfilename": "config.json", "size": len(config), "blobId": blobID},
				{"rfilename": "README.md", "size": 3, "blobId": "x"},
			}})
		case "/org/tiny/resolve/" + commit + "/config.json":
			w.Write(config)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HUB_CACHE", cache)
	code, out, errOut := runImpetus(t, "pull", "org/tiny", "--include", "*.json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	snap := filepath.Join(cache, "models--org--tiny", "snapshots", commit)
	if strings.TrimSpace(out) != snap {
		t.Fatalf("stdout %q, want %q", out, snap)
	}
	if got, _ := os.ReadFile(filepath.Join(snap, "config.json")); string(got) != string(config) {
		t.Fatalf("config.json = %q", got)
	}
	if _, err := os.Stat(filepath.Join(snap, "README.md")); err == nil {
		t.Fatal("--include did not filter README.md")
	}
	code, _, errOut = runImpetus(t, "pull", "org/missing")
	if code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("missing repo: code %d stderr %q", code, errOut)
	}
}
