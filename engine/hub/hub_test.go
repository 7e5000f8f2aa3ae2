package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testCommit = "0123456789abcdef0123456789abcdef01234567"

// fakeHub serves the hub's API shape for one repository: the revision listing
// with blobs=true and resolve/<rev>/<file> downloads honouring Range.
type fakeHub struct {
	repo        string
	files       map[string][]byte
	lfs         map[string]bool
	token       string
	cutFirst    string // this file's first download dies half way
	cutDone     atomic.Bool
	mu          sync.Mutex
	rangeHeader []string // Range headers seen for cutFirst
	downloads   atomic.Int32
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		http.Error(w, `{"error":"Access to model is restricted"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/api/models/"+h.repo+"/revision/main" {
		if r.URL.Query().Get("blobs") != "true" {
			http.Error(w, "want blobs=true", 400)
			return
		}
		type lfs struct {
			SHA256 string `json:"sha256"`
			Size   int    `json:"size"`
		}
		type sib struct {
			RFilename string `json:"rfilename"`
			BlobID    string `json:"blobId"`
			Size      int    `json:"size"`
			LFS       *lfs   `json:"lfs,omitempty"`
		}
		var sibs []sib
		for name, data := range h.files {
			s := sib{RFilename: name, Size: len(data), BlobID: gitBlobID(data)}
			if h.lfs[name] {
				sum := sha256.Sum256(data)
				s.LFS = &lfs{SHA256: hex.EncodeToString(sum[:]), Size: len(data)}
			}
			sibs = append(sibs, s)
		}
		json.NewEncoder(w).Encode(map[string]any{"id": h.repo, "sha": testCommit, "siblings": sibs})
		return
	}
	prefix := "/" + h.repo + "/resolve/" + testCommit + "/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, prefix)
	data, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.downloads.Add(1)
	if name == h.cutFirst {
		h.mu.Lock()
		h.rangeHeader = append(h.rangeHeader, r.Header.Get("Range"))
		h.mu.Unlock()
		if !h.cutDone.Swap(true) {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.WriteHeader(http.StatusOK)
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-file
		}
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func gitBlobID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

func newFakeHub(t *testing.T) (*fakeHub, *httptest.Server) {
	weights := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(weights)
	h := &fakeHub{
		repo: "mlx-community/Tiny-Model-4bit",
		files: map[string][]byte{
			"config.json":       []byte(`{"model_type":"llama"}`),
			"model.safetensors": weights,
			"sub/notes.txt":     []byte("nested file\n"),
		},
		lfs:      map[string]bool{"model.safetensors": true},
		cutFirst: "model.safetensors",
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func TestPullResumesAnInterruptedDownloadAndBuildsTheCacheLayout(t *testing.T) {
	h, srv := newFakeHub(t)
	cache := t.TempDir()
	var last Progress
	c := &Client{Endpoint: srv.URL, CacheDir: cache, Progress: func(p Progress) { last = p }}
	snap, err := c.Pull(context.Background(), h.repo, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "models--mlx-community--Tiny-Model-4bit", "snapshots", testCommit); snap != want {
		t.Fatalf("snapshot %s, want %s", snap, want)
	}
	for name, data := range h.files {
		got, err := os.ReadFile(filepath.Join(snap, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: contents differ (%v)", name, err)
		}
		target, err := os.Readlink(filepath.Join(snap, name))
		if err != nil || !strings.Contains(target, "blobs") {
			t.Fatalf("%s is not a link into blobs: %q %v", name, target, err)
		}
	}
	ref, _ := os.ReadFile(filepath.Join(cache, "models--mlx-community--Tiny-Model-4bit", "refs", "main"))
	if string(ref) != testCommit {
		t.Fatalf("refs/main = %q", ref)
	}
	if len(h.rangeHeader) != 2 || h.rangeHeader[0] != "" || h.rangeHeader[1] != fmt.Sprintf("bytes=%d-", (3<<20)/2) {
		t.Fatalf("want a fresh request then a resume from the half: %q", h.rangeHeader)
	}
	if last.Done != last.Total || last.FilesDone != 3 || last.FilesTotal != 3 {
		t.Fatalf("final progress %+v", last)
	}
	// A second pull finds every blob in place and downloads nothing.
	before := h.downloads.Load()
	if _, err := c.Pull(context.Background(), h.repo, "main", nil); err != nil {
		t.Fatal(err)
	}
	if h.downloads.Load() != before {
		t.Fatalf("second pull downloaded again")
	}
}

func TestPullResumesFromAnIncompleteFileLeftByAnEarlierRun(t *testing.T) {
	h, srv := newFakeHub(t)
	h.cutDone.Store(true) // no cut this time: the partial file is already on disk
	cache := t.TempDir()
	c := &Client{Endpoint: srv.URL, CacheDir: cache}
	data := h.files["model.safetensors"]
	sum := sha256.Sum256(data)
	blobs := filepath.Join(c.RepoDir(h.repo), "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, hex.EncodeToString(sum[:])+".incomplete"), data[:1000], 0o644)
	if _, err := c.Pull(context.Background(), h.repo, "main", nil); err != nil {
		t.Fatal(err)
	}
	if len(h.rangeHeader) != 1 || h.rangeHeader[0] != "bytes=1000-" {
		t.Fatalf("want one request resuming at 1000, got %q", h.rangeHeader)
	}
}

func TestPullRejectsACorruptDownload(t *testing.T) {
	h, srv := newFakeHub(t)
	h.cutDone.Store(true)
	// The listing promises the original bytes; the server sends other ones.
	orig := h.files["config.json"]
	good := gitBlobID(orig)
	srvCorrupt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/config.json") {
			w.Write(bytes.Repeat([]byte("x"), len(orig)))
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srvCorrupt.Close()
	_ = srv
	c := &Client{Endpoint: srvCorrupt.URL, CacheDir: t.TempDir()}
	_, err := c.Pull(context.Background(), h.repo, "main", nil)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("want a checksum error naming config.json, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.RepoDir(h.repo), "blobs", good)); err == nil {
		t.Fatal("a corrupt file was kept as a blob")
	}
	if _, err := os.Stat(filepath.Join(c.RepoDir(h.repo), "refs", "main")); err == nil {
		t.Fatal("refs/main written for a failed pull")
	}
}

func TestGatedRepoAsksForAToken(t *testing.T) {
	h, srv := newFakeHub(t)
	h.token = "hf_secret"
	c := &Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	_, err := c.Pull(context.Background(), h.repo, "main", nil)
	if err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("want advice to set HF_TOKEN, got %v", err)
	}
	c.Token = "hf_secret"
	if _, err := c.Pull(context.Background(), h.repo, "main", nil); err != nil {
		t.Fatalf("with the token: %v", err)
	}
}

func TestUnknownRepoAndBadRefs(t *testing.T) {
	_, srv := newFakeHub(t)
	c := &Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	if _, err := c.Pull(context.Background(), "nobody/nothing", "main", nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("want not found, got %v", err)
	}
	for _, ref := range []string{"", "noslash", "a/b/c", "../x/y", "org/na me"} {
		if _, _, err := ParseRef(ref); err == nil {
			t.Errorf("ParseRef(%q) accepted", ref)
		}
	}
	repo, rev, err := ParseRef("mlx-community/Qwen2.5-0.5B-Instruct-4bit@v1.0")
	if err != nil || repo != "mlx-community/Qwen2.5-0.5B-Instruct-4bit" || rev != "v1.0" {
		t.Fatalf("ParseRef: %q %q %v", repo, rev, err)
	}
}

func TestUnsafeFileNamesInListingAreRefused(t *testing.T) {
	for _, p := range []string{"../evil", "/etc/passwd", "a/../../b", "a\\b", ""} {
		if checkRepoPath(p) == nil {
			t.Errorf("%q accepted", p)
		}
	}
	if checkRepoPath("sub/dir/file.json") != nil {
		t.Error("a nested path was refused")
	}
}

func TestUnreachableEndpointSaysSo(t *testing.T) {
	c := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir()}
	_, err := c.Pull(context.Background(), "a/b", "main", nil)
	if err == nil || !strings.Contains(err.Error(), "HF_ENDPOINT") {
		t.Fatalf("got %v", err)
	}
}
